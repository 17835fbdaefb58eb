-- Version 2: sizes measured at their own cadence, and retention.
--
-- Sizes are the expensive part of a pass, so they are measured every
-- [collect] size_interval under a time budget, not every pass. size_state
-- keeps the last measurement of each volume and writable layer; every pass
-- records the size it carries forward together with when it was measured,
-- so a reader can tell a fresh size from an old one.

CREATE TABLE size_state (
    host_id      INTEGER NOT NULL REFERENCES hosts(id),
    kind         TEXT NOT NULL CHECK (kind IN ('volume', 'writable_layer')),
    object       TEXT NOT NULL,
    size_bytes   INTEGER,
    method       TEXT,
    measured_at  INTEGER,
    attempted_at INTEGER NOT NULL,
    PRIMARY KEY (host_id, kind, object)
) WITHOUT ROWID;

ALTER TABLE volume_samples ADD COLUMN size_measured_at INTEGER;
ALTER TABLE container_samples ADD COLUMN rw_measured_at INTEGER;
ALTER TABLE container_samples ADD COLUMN rw_method TEXT;

-- Retention thins old passes instead of averaging them: past the raw period
-- only the last pass of each hour survives, past the hourly period the last
-- of each day. Sizes and counters are cumulative or point-in-time, so the
-- surviving passes are exact and every view and window query keeps working
-- on them unchanged. `resolution` says what a pass stands for.
ALTER TABLE passes ADD COLUMN resolution TEXT NOT NULL DEFAULT 'raw';

-- Running containers' counters are read from cgroup files when the host's
-- are visible (no wait for the daemon's one-second stats tick), else from
-- the stats endpoint: 'cgroup', 'endpoint' or 'mixed'.
ALTER TABLE passes ADD COLUMN stats_method TEXT;

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

-- Views gain size ages (appended columns only; the contract prefix stays).
DROP VIEW latest_volumes;
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
       vs.size_method,
       strftime('%Y-%m-%dT%H:%M:%SZ', vs.size_measured_at, 'unixepoch') AS size_measured_at
FROM latest_passes p
JOIN hosts h ON h.id = p.host_id
JOIN volume_samples vs ON vs.pass_id = p.id
JOIN volumes v ON v.id = vs.volume_ref
LEFT JOIN volume_stacks vst ON vst.pass_id = vs.pass_id AND vst.volume_ref = vs.volume_ref
LEFT JOIN stacks s ON s.id = vst.stack_id;

DROP VIEW latest_containers;
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
       c.container_id,
       cs.rw_method,
       strftime('%Y-%m-%dT%H:%M:%SZ', cs.rw_measured_at, 'unixepoch') AS rw_measured_at
FROM latest_passes p
JOIN hosts h ON h.id = p.host_id
JOIN container_samples cs ON cs.pass_id = p.id
JOIN containers c ON c.id = cs.container_ref
JOIN stacks s ON s.id = c.stack_id;

DROP VIEW pass_log;
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
       p.started_at AS sampled_unix,
       p.resolution,
       p.stats_method
FROM passes p JOIN hosts h ON h.id = p.host_id;
