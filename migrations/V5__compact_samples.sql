-- stackwatch history schema, version 5: a year of history that stays small.
--
-- Until V4 every pass wrote a full row per container and per volume, and
-- most of each row repeated the previous one: a container's image, image ID,
-- log driver and name, its state and restart count, a volume's carried-
-- forward size and mount list. A synthetic year (200 containers, 200
-- volumes) came to 463 MB. From V5:
--
-- * `containers` holds what never changes for a container (image, image ID,
--   log driver); `container_spans` the first and last pass that saw it,
--   apart from the identity row so that the write every pass stays small.
-- * `container_samples` keeps one row per container per pass, but only what
--   moves every pass: counters, memory, log and writable-layer sizes.
-- * `container_states` gets a row only when the container's state changed
--   (name, state, health, restart count, exit code, OOM flag, start time,
--   memory limit, how its writable layer is measured).
-- * `volume_spans` holds the first and last pass that saw a volume;
--   `volume_states` gets a row only when a volume appeared, disappeared
--   (`present` = 0) or its use changed; `volume_stacks` rows belong to a
--   `volume_states` row (same volume and pass) and list every stack the
--   volume belonged to from then on.
-- * `volume_sizes` gets a row per measurement (sizes are measured every
--   `size_interval`, not every pass).
--
-- A change table's row holds from its pass until the object's next row, so
-- "the state at pass P" is the object's row with the greatest pass_id <= P
-- (one index seek). Retention keeps that true: a row at a thinned pass moves
-- to the next surviving pass unless a newer row supersedes it first. The
-- views below read exactly as before, one row per object per pass.

DROP VIEW latest_containers;
DROP VIEW container_history;
DROP VIEW latest_volumes;
DROP VIEW volume_history;

-- Containers -----------------------------------------------------------------

ALTER TABLE containers ADD COLUMN image TEXT;
ALTER TABLE containers ADD COLUMN image_id TEXT;
ALTER TABLE containers ADD COLUMN log_driver TEXT;

ALTER TABLE container_samples RENAME TO container_samples_v4;

UPDATE containers SET
    image = (SELECT o.image FROM container_samples_v4 o WHERE o.container_ref = containers.id
             ORDER BY o.pass_id DESC LIMIT 1),
    image_id = (SELECT o.image_id FROM container_samples_v4 o WHERE o.container_ref = containers.id
                ORDER BY o.pass_id DESC LIMIT 1),
    log_driver = (SELECT o.log_driver FROM container_samples_v4 o WHERE o.container_ref = containers.id
                  ORDER BY o.pass_id DESC LIMIT 1);

-- Retention forgets an object once no surviving pass of its host lies
-- within its span.
CREATE TABLE container_spans (
    container_ref INTEGER PRIMARY KEY REFERENCES containers(id),
    host_id       INTEGER NOT NULL REFERENCES hosts(id),
    first_pass    INTEGER NOT NULL,
    last_pass     INTEGER NOT NULL
);
INSERT INTO container_spans (container_ref, host_id, first_pass, last_pass)
SELECT o.container_ref, c.host_id, MIN(o.pass_id), MAX(o.pass_id)
FROM container_samples_v4 o JOIN containers c ON c.id = o.container_ref GROUP BY o.container_ref;

-- No (container, pass) index: a report reads whole passes (the primary key),
-- and per-container questions go to container_states.
CREATE TABLE container_samples (
    pass_id           INTEGER NOT NULL REFERENCES passes(id),
    container_ref     INTEGER NOT NULL REFERENCES containers(id),
    cpu_ns            INTEGER,
    mem_bytes         INTEGER,
    net_rx_bytes      INTEGER,
    net_tx_bytes      INTEGER,
    blkio_read_bytes  INTEGER,
    blkio_write_bytes INTEGER,
    pids              INTEGER,
    log_bytes         INTEGER,
    rw_bytes          INTEGER,
    rw_measured_at    INTEGER,
    PRIMARY KEY (pass_id, container_ref)
) WITHOUT ROWID;

INSERT INTO container_samples
SELECT pass_id, container_ref, cpu_ns, mem_bytes, net_rx_bytes, net_tx_bytes, blkio_read_bytes,
       blkio_write_bytes, pids, log_bytes, rw_bytes, rw_measured_at
FROM container_samples_v4 ORDER BY pass_id, container_ref;

CREATE TABLE container_states (
    container_ref   INTEGER NOT NULL REFERENCES containers(id),
    pass_id         INTEGER NOT NULL REFERENCES passes(id),
    name            TEXT NOT NULL,
    state           TEXT NOT NULL,
    health          TEXT,
    restart_count   INTEGER,
    exit_code       INTEGER,
    oom_killed      INTEGER,
    started_at      INTEGER,
    mem_limit_bytes INTEGER,
    rw_method       TEXT,
    PRIMARY KEY (container_ref, pass_id)
) WITHOUT ROWID;

INSERT INTO container_states
SELECT container_ref, pass_id, name, state, health, restart_count, exit_code, oom_killed, started_at,
       mem_limit_bytes, rw_method
FROM (SELECT *, lag(k) OVER (PARTITION BY container_ref ORDER BY pass_id) AS prev
      FROM (SELECT *, json_array(name, state, health, restart_count, exit_code, oom_killed, started_at,
                                 mem_limit_bytes, rw_method) AS k
            FROM container_samples_v4))
WHERE prev IS NULL OR prev <> k;

DROP TABLE container_samples_v4;

-- Volumes --------------------------------------------------------------------

-- A volume is in a pass when the pass lies within its span and its state
-- then says present.
CREATE TABLE volume_spans (
    volume_ref INTEGER PRIMARY KEY REFERENCES volumes(id),
    host_id    INTEGER NOT NULL REFERENCES hosts(id),
    first_pass INTEGER NOT NULL,
    last_pass  INTEGER NOT NULL
);
INSERT INTO volume_spans (volume_ref, host_id, first_pass, last_pass)
SELECT o.volume_ref, v.host_id, MIN(o.pass_id), MAX(o.pass_id)
FROM volume_samples o JOIN volumes v ON v.id = o.volume_ref GROUP BY o.volume_ref;

CREATE TABLE volume_states (
    volume_ref INTEGER NOT NULL REFERENCES volumes(id),
    pass_id    INTEGER NOT NULL REFERENCES passes(id),
    present    INTEGER NOT NULL,
    in_use     INTEGER NOT NULL,
    mounted_by TEXT NOT NULL,
    PRIMARY KEY (volume_ref, pass_id)
) WITHOUT ROWID;

CREATE TABLE volume_sizes (
    volume_ref  INTEGER NOT NULL REFERENCES volumes(id),
    pass_id     INTEGER NOT NULL REFERENCES passes(id),
    size_bytes  INTEGER,
    method      TEXT,
    measured_at INTEGER,
    PRIMARY KEY (volume_ref, pass_id)
) WITHOUT ROWID;

-- Each old sample with the previous sample of the same volume and the
-- previous pass of its host: when those differ, the volume was missing in
-- between and gets a `present` = 0 row at the first pass it missed.
CREATE TEMP TABLE v4_pass_order (
    id INTEGER PRIMARY KEY, host_id INTEGER NOT NULL, prev INTEGER, next INTEGER);
INSERT INTO temp.v4_pass_order
SELECT id, host_id, lag(id) OVER w, lead(id) OVER w FROM passes WINDOW w AS (PARTITION BY host_id ORDER BY id);

CREATE TEMP TABLE v4_links (
    pass_id INTEGER NOT NULL, volume_ref INTEGER NOT NULL, links TEXT NOT NULL,
    PRIMARY KEY (pass_id, volume_ref)) WITHOUT ROWID;
INSERT INTO temp.v4_links
SELECT pass_id, volume_ref, json_group_array(json_array(stack_id, via)) FROM volume_stacks
GROUP BY pass_id, volume_ref;

CREATE TEMP TABLE v4_volumes AS
SELECT o.volume_ref, o.pass_id, o.in_use, o.mounted_by, o.size_bytes, o.size_method, o.size_measured_at,
       COALESCE(l.links, '[]') AS links,
       lag(o.pass_id) OVER (PARTITION BY o.volume_ref ORDER BY o.pass_id) AS prev_sample,
       po.prev AS prev_pass
FROM volume_samples o
JOIN temp.v4_pass_order po ON po.id = o.pass_id
LEFT JOIN temp.v4_links l ON l.pass_id = o.pass_id AND l.volume_ref = o.volume_ref;

INSERT INTO volume_states (volume_ref, pass_id, present, in_use, mounted_by)
SELECT t.volume_ref, po.next, 0, 0, '[]'
FROM temp.v4_volumes t JOIN temp.v4_pass_order po ON po.id = t.prev_sample
WHERE t.prev_sample <> t.prev_pass;

-- And one at the first pass after its last sample, when its host went on.
INSERT INTO volume_states (volume_ref, pass_id, present, in_use, mounted_by)
SELECT sp.volume_ref, po.next, 0, 0, '[]'
FROM volume_spans sp JOIN temp.v4_pass_order po ON po.id = sp.last_pass
WHERE po.next IS NOT NULL;

INSERT INTO volume_states (volume_ref, pass_id, present, in_use, mounted_by)
SELECT volume_ref, pass_id, 1, in_use, mounted_by
FROM (SELECT *, lag(k) OVER (PARTITION BY volume_ref ORDER BY pass_id) AS prev
      FROM (SELECT *, json_array(in_use, mounted_by, links) AS k FROM temp.v4_volumes))
WHERE prev IS NULL OR prev <> k OR prev_sample <> prev_pass;

INSERT INTO volume_sizes (volume_ref, pass_id, size_bytes, method, measured_at)
SELECT volume_ref, pass_id, size_bytes, size_method, size_measured_at
FROM (SELECT *, lag(k) OVER (PARTITION BY volume_ref ORDER BY pass_id) AS prev
      FROM (SELECT *, json_array(size_bytes, size_method, size_measured_at) AS k FROM temp.v4_volumes))
WHERE prev IS NULL OR prev <> k;

ALTER TABLE volume_stacks RENAME TO volume_stacks_v4;
DROP INDEX volume_stacks_by_stack;

CREATE TABLE volume_stacks (
    volume_ref INTEGER NOT NULL REFERENCES volumes(id),
    pass_id    INTEGER NOT NULL REFERENCES passes(id),
    stack_id   INTEGER NOT NULL REFERENCES stacks(id),
    via        TEXT NOT NULL CHECK (via IN ('label', 'mount')),
    PRIMARY KEY (volume_ref, pass_id, stack_id)
) WITHOUT ROWID;

INSERT INTO volume_stacks (volume_ref, pass_id, stack_id, via)
SELECT l.volume_ref, l.pass_id, l.stack_id, l.via
FROM volume_stacks_v4 l JOIN volume_states s ON s.volume_ref = l.volume_ref AND s.pass_id = l.pass_id;

DROP TABLE volume_stacks_v4;
DROP TABLE volume_samples;
DROP TABLE temp.v4_volumes;
DROP TABLE temp.v4_links;
DROP TABLE temp.v4_pass_order;

-- Views: the same columns as V4, read through the change tables. ----------------

CREATE VIEW latest_containers AS
SELECT h.host AS host,
       s.name AS stack,
       c.service,
       st.name AS container,
       c.image,
       st.state,
       st.health,
       st.restart_count,
       cs.mem_bytes,
       cs.rw_bytes,
       cs.log_bytes,
       strftime('%Y-%m-%dT%H:%M:%SZ', p.started_at, 'unixepoch') AS sampled_at,
       s.kind AS stack_kind,
       st.exit_code,
       st.oom_killed,
       strftime('%Y-%m-%dT%H:%M:%SZ', st.started_at, 'unixepoch') AS started_at,
       cs.cpu_ns,
       st.mem_limit_bytes,
       cs.net_rx_bytes,
       cs.net_tx_bytes,
       cs.blkio_read_bytes,
       cs.blkio_write_bytes,
       cs.pids,
       c.log_driver,
       c.container_id,
       st.rw_method,
       strftime('%Y-%m-%dT%H:%M:%SZ', cs.rw_measured_at, 'unixepoch') AS rw_measured_at,
       h.engine_id
FROM latest_passes p
JOIN host_names h ON h.host_id = p.host_id
JOIN container_samples cs ON cs.pass_id = p.id
JOIN containers c ON c.id = cs.container_ref
JOIN stacks s ON s.id = c.stack_id
JOIN container_states st ON st.container_ref = cs.container_ref
 AND st.pass_id = (SELECT MAX(x.pass_id) FROM container_states x
                   WHERE x.container_ref = cs.container_ref AND x.pass_id <= cs.pass_id);

CREATE VIEW container_history AS
SELECT h.host AS host,
       s.name AS stack,
       c.service,
       st.name AS container,
       strftime('%Y-%m-%dT%H:%M:%SZ', p.started_at, 'unixepoch') AS sampled_at,
       st.state,
       st.health,
       st.restart_count,
       cs.cpu_ns,
       cs.mem_bytes,
       cs.rw_bytes,
       cs.log_bytes,
       p.id AS pass_id,
       c.container_id,
       p.started_at AS sampled_unix,
       h.engine_id
FROM container_samples cs
JOIN passes p ON p.id = cs.pass_id
JOIN containers c ON c.id = cs.container_ref
JOIN stacks s ON s.id = c.stack_id
JOIN host_names h ON h.host_id = p.host_id
JOIN container_states st ON st.container_ref = cs.container_ref
 AND st.pass_id = (SELECT MAX(x.pass_id) FROM container_states x
                   WHERE x.container_ref = cs.container_ref AND x.pass_id <= cs.pass_id);

CREATE VIEW latest_volumes AS
SELECT h.host AS host,
       s.name AS stack,
       v.name AS volume,
       sz.size_bytes,
       st.in_use,
       strftime('%Y-%m-%dT%H:%M:%SZ', p.started_at, 'unixepoch') AS sampled_at,
       s.kind AS stack_kind,
       vst.via AS stack_via,
       v.driver,
       st.mounted_by,
       sz.method AS size_method,
       strftime('%Y-%m-%dT%H:%M:%SZ', sz.measured_at, 'unixepoch') AS size_measured_at,
       h.engine_id
FROM latest_passes p
JOIN host_names h ON h.host_id = p.host_id
JOIN volume_spans sp ON sp.host_id = p.host_id AND sp.last_pass = p.id
JOIN volumes v ON v.id = sp.volume_ref
JOIN volume_states st ON st.volume_ref = v.id
 AND st.pass_id = (SELECT MAX(x.pass_id) FROM volume_states x WHERE x.volume_ref = v.id AND x.pass_id <= p.id)
LEFT JOIN volume_sizes sz ON sz.volume_ref = v.id
 AND sz.pass_id = (SELECT MAX(x.pass_id) FROM volume_sizes x WHERE x.volume_ref = v.id AND x.pass_id <= p.id)
LEFT JOIN volume_stacks vst ON vst.volume_ref = v.id AND vst.pass_id = st.pass_id
LEFT JOIN stacks s ON s.id = vst.stack_id
WHERE st.present = 1;

CREATE VIEW volume_history AS
SELECT h.host AS host,
       v.name AS volume,
       strftime('%Y-%m-%dT%H:%M:%SZ', p.started_at, 'unixepoch') AS sampled_at,
       sz.size_bytes,
       st.in_use,
       p.id AS pass_id,
       p.started_at AS sampled_unix,
       h.engine_id
FROM volume_spans sp
JOIN volumes v ON v.id = sp.volume_ref
JOIN passes p ON p.host_id = sp.host_id AND p.id BETWEEN sp.first_pass AND sp.last_pass
JOIN host_names h ON h.host_id = p.host_id
JOIN volume_states st ON st.volume_ref = v.id
 AND st.pass_id = (SELECT MAX(x.pass_id) FROM volume_states x WHERE x.volume_ref = v.id AND x.pass_id <= p.id)
LEFT JOIN volume_sizes sz ON sz.volume_ref = v.id
 AND sz.pass_id = (SELECT MAX(x.pass_id) FROM volume_sizes x WHERE x.volume_ref = v.id AND x.pass_id <= p.id)
WHERE st.present = 1;
