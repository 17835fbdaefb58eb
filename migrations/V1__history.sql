-- stackwatch history schema, version 1.
--
-- Layout: small identity tables (hosts, stacks, containers, volumes, images)
-- hold what never changes for an object; *_samples tables hold one row per
-- object per pass. Every sample table is keyed (pass_id, object) and has a
-- second index (object, pass_id) so that both "everything in one pass" and
-- "this object's samples between two passes" are index range scans.
--
-- Timestamps are INTEGER seconds since the Unix epoch, UTC. Sizes and
-- counters are INTEGER bytes / nanoseconds. NULL always means "the collector
-- could not see this", never zero. The public views at the end of the file
-- turn times into ISO-8601 text; they are the stable interface for ad-hoc SQL.

-- 'STWC': marks the file as a stackwatch database (see store::open).
PRAGMA application_id = 1398036291;

CREATE TABLE hosts (
    id         INTEGER PRIMARY KEY,
    engine_id  TEXT NOT NULL UNIQUE,
    hostname   TEXT NOT NULL
);

CREATE TABLE passes (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    host_id            INTEGER NOT NULL REFERENCES hosts(id),
    started_at         INTEGER NOT NULL,
    duration_ms        INTEGER NOT NULL,
    engine_version     TEXT NOT NULL,
    api_version        TEXT NOT NULL,
    hostname           TEXT NOT NULL,
    docker_root        TEXT,
    fs_total_bytes     INTEGER,
    fs_used_bytes      INTEGER,
    fs_free_bytes      INTEGER,
    containers         INTEGER NOT NULL,
    volumes            INTEGER NOT NULL,
    images             INTEGER NOT NULL,
    error_count        INTEGER NOT NULL,
    stackwatch_version TEXT NOT NULL
);
CREATE INDEX passes_by_host_time ON passes(host_id, started_at);

CREATE TABLE pass_errors (
    pass_id     INTEGER NOT NULL REFERENCES passes(id),
    object_kind TEXT NOT NULL,
    object_name TEXT NOT NULL,
    message     TEXT NOT NULL
);
CREATE INDEX pass_errors_by_pass ON pass_errors(pass_id);

CREATE TABLE stacks (
    id       INTEGER PRIMARY KEY,
    host_id  INTEGER NOT NULL REFERENCES hosts(id),
    kind     TEXT NOT NULL CHECK (kind IN ('compose', 'swarm', 'nomad', 'standalone')),
    name     TEXT NOT NULL,
    UNIQUE (host_id, kind, name)
);
CREATE INDEX stacks_by_name ON stacks(name);

-- Per-stack totals are computed once at collect time (collect::aggregate) so
-- that a year of stack_disk_history is a plain range scan, not a join over
-- every container and volume sample.
CREATE TABLE stack_samples (
    pass_id       INTEGER NOT NULL REFERENCES passes(id),
    stack_id      INTEGER NOT NULL REFERENCES stacks(id),
    containers    INTEGER NOT NULL,
    running       INTEGER NOT NULL,
    rw_bytes      INTEGER,
    log_bytes     INTEGER,
    volume_bytes  INTEGER,
    disk_bytes    INTEGER,
    mem_bytes     INTEGER,
    unknown_sizes INTEGER NOT NULL,
    working_dir   TEXT,
    config_files  TEXT,
    PRIMARY KEY (pass_id, stack_id)
) WITHOUT ROWID;
CREATE INDEX stack_samples_by_stack ON stack_samples(stack_id, pass_id);

CREATE TABLE containers (
    id           INTEGER PRIMARY KEY,
    host_id      INTEGER NOT NULL REFERENCES hosts(id),
    container_id TEXT NOT NULL,
    stack_id     INTEGER NOT NULL REFERENCES stacks(id),
    service      TEXT,
    created_at   INTEGER,
    labels       TEXT NOT NULL,
    UNIQUE (host_id, container_id)
);
CREATE INDEX containers_by_stack ON containers(stack_id);

CREATE TABLE container_samples (
    pass_id           INTEGER NOT NULL REFERENCES passes(id),
    container_ref     INTEGER NOT NULL REFERENCES containers(id),
    name              TEXT NOT NULL,
    image             TEXT NOT NULL,
    image_id          TEXT,
    state             TEXT NOT NULL,
    health            TEXT,
    restart_count     INTEGER,
    exit_code         INTEGER,
    oom_killed        INTEGER,
    started_at        INTEGER,
    cpu_ns            INTEGER,
    mem_bytes         INTEGER,
    mem_limit_bytes   INTEGER,
    net_rx_bytes      INTEGER,
    net_tx_bytes      INTEGER,
    blkio_read_bytes  INTEGER,
    blkio_write_bytes INTEGER,
    pids              INTEGER,
    rw_bytes          INTEGER,
    log_bytes         INTEGER,
    log_driver        TEXT,
    PRIMARY KEY (pass_id, container_ref)
) WITHOUT ROWID;
CREATE INDEX container_samples_by_container ON container_samples(container_ref, pass_id);

CREATE TABLE volumes (
    id         INTEGER PRIMARY KEY,
    host_id    INTEGER NOT NULL REFERENCES hosts(id),
    name       TEXT NOT NULL,
    driver     TEXT NOT NULL,
    created_at INTEGER,
    labels     TEXT NOT NULL,
    UNIQUE (host_id, name)
);
CREATE INDEX volumes_by_name ON volumes(name);

CREATE TABLE volume_samples (
    pass_id     INTEGER NOT NULL REFERENCES passes(id),
    volume_ref  INTEGER NOT NULL REFERENCES volumes(id),
    size_bytes  INTEGER,
    size_method TEXT,
    in_use      INTEGER NOT NULL,
    mounted_by  TEXT NOT NULL,
    PRIMARY KEY (pass_id, volume_ref)
) WITHOUT ROWID;
CREATE INDEX volume_samples_by_volume ON volume_samples(volume_ref, pass_id);

-- A volume belongs to the stack named by its compose label, else to every
-- stack whose containers mount it ('via' says which).
CREATE TABLE volume_stacks (
    pass_id    INTEGER NOT NULL REFERENCES passes(id),
    volume_ref INTEGER NOT NULL REFERENCES volumes(id),
    stack_id   INTEGER NOT NULL REFERENCES stacks(id),
    via        TEXT NOT NULL CHECK (via IN ('label', 'mount')),
    PRIMARY KEY (pass_id, volume_ref, stack_id)
) WITHOUT ROWID;
CREATE INDEX volume_stacks_by_stack ON volume_stacks(stack_id, pass_id);

CREATE TABLE images (
    id         INTEGER PRIMARY KEY,
    host_id    INTEGER NOT NULL REFERENCES hosts(id),
    image_id   TEXT NOT NULL,
    created_at INTEGER,
    labels     TEXT NOT NULL,
    UNIQUE (host_id, image_id)
);

CREATE TABLE image_samples (
    pass_id    INTEGER NOT NULL REFERENCES passes(id),
    image_ref  INTEGER NOT NULL REFERENCES images(id),
    tags       TEXT NOT NULL,
    size_bytes INTEGER,
    containers INTEGER NOT NULL,
    managed    INTEGER NOT NULL,
    PRIMARY KEY (pass_id, image_ref)
) WITHOUT ROWID;
CREATE INDEX image_samples_by_image ON image_samples(image_ref, pass_id);

CREATE TABLE image_stacks (
    pass_id   INTEGER NOT NULL REFERENCES passes(id),
    image_ref INTEGER NOT NULL REFERENCES images(id),
    stack_id  INTEGER NOT NULL REFERENCES stacks(id),
    PRIMARY KEY (pass_id, image_ref, stack_id)
) WITHOUT ROWID;
CREATE INDEX image_stacks_by_image ON image_stacks(image_ref, stack_id);

-- ---------------------------------------------------------------------------
-- Public views. Names and columns are a contract (README "The history
-- database"); new columns are only ever appended.
-- ---------------------------------------------------------------------------

CREATE VIEW pass_log AS
SELECT p.id AS pass_id,
       h.hostname AS host,
       strftime('%Y-%m-%dT%H:%M:%SZ', p.started_at, 'unixepoch') AS sampled_at,
       p.duration_ms,
       p.engine_version,
       p.api_version,
       h.engine_id,
       p.docker_root,
       p.fs_total_bytes,
       p.fs_used_bytes,
       p.fs_free_bytes,
       p.containers,
       p.volumes,
       p.images,
       p.error_count,
       p.started_at AS sampled_unix
FROM passes p JOIN hosts h ON h.id = p.host_id;

CREATE VIEW latest_passes AS
SELECT p.* FROM passes p
JOIN (SELECT host_id, MAX(id) AS id FROM passes GROUP BY host_id) newest ON newest.id = p.id;

CREATE VIEW latest_containers AS
SELECT h.hostname AS host,
       s.name AS stack,
       c.service,
       cs.name AS container,
       cs.image,
       cs.state,
       cs.health,
       cs.restart_count,
       cs.mem_bytes,
       cs.rw_bytes,
       cs.log_bytes,
       strftime('%Y-%m-%dT%H:%M:%SZ', p.started_at, 'unixepoch') AS sampled_at,
       s.kind AS stack_kind,
       cs.exit_code,
       cs.oom_killed,
       strftime('%Y-%m-%dT%H:%M:%SZ', cs.started_at, 'unixepoch') AS started_at,
       cs.cpu_ns,
       cs.mem_limit_bytes,
       cs.net_rx_bytes,
       cs.net_tx_bytes,
       cs.blkio_read_bytes,
       cs.blkio_write_bytes,
       cs.pids,
       cs.log_driver,
       c.container_id
FROM latest_passes p
JOIN hosts h ON h.id = p.host_id
JOIN container_samples cs ON cs.pass_id = p.id
JOIN containers c ON c.id = cs.container_ref
JOIN stacks s ON s.id = c.stack_id;

CREATE VIEW latest_volumes AS
SELECT h.hostname AS host,
       s.name AS stack,
       v.name AS volume,
       vs.size_bytes,
       vs.in_use,
       strftime('%Y-%m-%dT%H:%M:%SZ', p.started_at, 'unixepoch') AS sampled_at,
       s.kind AS stack_kind,
       vst.via AS stack_via,
       v.driver,
       vs.mounted_by,
       vs.size_method
FROM latest_passes p
JOIN hosts h ON h.id = p.host_id
JOIN volume_samples vs ON vs.pass_id = p.id
JOIN volumes v ON v.id = vs.volume_ref
LEFT JOIN volume_stacks vst ON vst.pass_id = vs.pass_id AND vst.volume_ref = vs.volume_ref
LEFT JOIN stacks s ON s.id = vst.stack_id;

CREATE VIEW latest_stacks AS
SELECT h.hostname AS host,
       s.name AS stack,
       s.kind,
       ss.containers,
       ss.running,
       ss.disk_bytes,
       ss.mem_bytes,
       strftime('%Y-%m-%dT%H:%M:%SZ', p.started_at, 'unixepoch') AS sampled_at,
       ss.rw_bytes,
       ss.log_bytes,
       ss.volume_bytes,
       ss.unknown_sizes,
       ss.working_dir,
       ss.config_files
FROM latest_passes p
JOIN hosts h ON h.id = p.host_id
JOIN stack_samples ss ON ss.pass_id = p.id
JOIN stacks s ON s.id = ss.stack_id;

CREATE VIEW latest_images AS
SELECT h.hostname AS host,
       i.image_id,
       ims.tags,
       ims.size_bytes,
       ims.containers,
       ims.managed,
       (SELECT json_group_array(s.name) FROM image_stacks ist JOIN stacks s ON s.id = ist.stack_id
         WHERE ist.pass_id = ims.pass_id AND ist.image_ref = ims.image_ref) AS stacks,
       strftime('%Y-%m-%dT%H:%M:%SZ', p.started_at, 'unixepoch') AS sampled_at
FROM latest_passes p
JOIN hosts h ON h.id = p.host_id
JOIN image_samples ims ON ims.pass_id = p.id
JOIN images i ON i.id = ims.image_ref;

CREATE VIEW stack_disk_history AS
SELECT h.hostname AS host,
       s.name AS stack,
       strftime('%Y-%m-%dT%H:%M:%SZ', p.started_at, 'unixepoch') AS sampled_at,
       ss.disk_bytes,
       s.kind,
       ss.rw_bytes,
       ss.log_bytes,
       ss.volume_bytes,
       ss.mem_bytes,
       p.id AS pass_id,
       ss.unknown_sizes,
       p.started_at AS sampled_unix
FROM stack_samples ss
JOIN passes p ON p.id = ss.pass_id
JOIN stacks s ON s.id = ss.stack_id
JOIN hosts h ON h.id = p.host_id;

CREATE VIEW container_history AS
SELECT h.hostname AS host,
       s.name AS stack,
       c.service,
       cs.name AS container,
       strftime('%Y-%m-%dT%H:%M:%SZ', p.started_at, 'unixepoch') AS sampled_at,
       cs.state,
       cs.health,
       cs.restart_count,
       cs.cpu_ns,
       cs.mem_bytes,
       cs.rw_bytes,
       cs.log_bytes,
       p.id AS pass_id,
       c.container_id,
       p.started_at AS sampled_unix
FROM container_samples cs
JOIN passes p ON p.id = cs.pass_id
JOIN containers c ON c.id = cs.container_ref
JOIN stacks s ON s.id = c.stack_id
JOIN hosts h ON h.id = p.host_id;

CREATE VIEW volume_history AS
SELECT h.hostname AS host,
       v.name AS volume,
       strftime('%Y-%m-%dT%H:%M:%SZ', p.started_at, 'unixepoch') AS sampled_at,
       vs.size_bytes,
       vs.in_use,
       p.id AS pass_id,
       p.started_at AS sampled_unix
FROM volume_samples vs
JOIN passes p ON p.id = vs.pass_id
JOIN volumes v ON v.id = vs.volume_ref
JOIN hosts h ON h.id = p.host_id;
