-- The public views of the stackwatch history database, each defined once.
--
-- These views are the contract for people and tools reading the history
-- (README "The history database" runs its examples against them, and
-- src/mcp/views.rs lists their columns). The tables under them are not.
--
-- How this file is applied (src/store/mod.rs):
-- * Migrations V1 to V8 created and recreated views themselves; their text
--   cannot change (refinery checksums it), so they stay as they are and run
--   first. Every migration after V8 changes tables only: before one runs,
--   all views are dropped, so rebuilding a table never trips on a view.
-- * After migrating, the views are dropped and created from this file when
--   `PRAGMA user_version` does not hold this file's checksum, and the
--   checksum is stored there, in the same transaction.
-- * Read-only opens never write: with another checksum stored they refuse
--   with one line saying to run `stackwatch collect` once.
--
-- So changing a view means editing it here, nowhere else. Views are
-- created in this order; a view may only use views above it.

-- The newest pass of each engine (a helper for the latest_* views).
CREATE VIEW latest_passes AS
SELECT p.* FROM passes p
JOIN (SELECT host_id, MAX(id) AS id FROM passes GROUP BY host_id) newest ON newest.id = p.id;

-- The name each engine is shown under: its hostname, or hostname plus a
-- short engine id when two engines share a hostname. Only engines with
-- passes count towards a collision: a host row that a prune created for an
-- engine never collected must not rename another.
CREATE VIEW host_names AS
SELECT CASE WHEN sum(EXISTS (SELECT 1 FROM passes p WHERE p.host_id = hosts.id))
                     OVER (PARTITION BY hostname) > 1
             AND EXISTS (SELECT 1 FROM passes p WHERE p.host_id = hosts.id)
            THEN hostname || '@' || substr(engine_id, 1, 14)
            ELSE hostname END AS host,
       hostname,
       engine_id,
       id AS host_id
FROM hosts;

-- One row per stack per pass: its disk, memory and sizes not yet known.
CREATE VIEW stack_disk_history AS
SELECT h.host AS host,
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
       p.started_at AS sampled_unix,
       h.engine_id
FROM stack_samples ss
JOIN passes p ON p.id = ss.pass_id
JOIN stacks s ON s.id = ss.stack_id
JOIN host_names h ON h.host_id = p.host_id;

-- One row per object `stackwatch prune --apply` removed, with its run's label.
CREATE VIEW prune_log AS
SELECT h.host AS host,
       strftime('%Y-%m-%dT%H:%M:%SZ', r.removed_at, 'unixepoch') AS removed_at,
       r.object_kind AS kind,
       r.name,
       r.stack,
       r.size_bytes,
       r.reason,
       r.object_id,
       pr.label,
       pr.id AS prune_id,
       r.removed_at AS removed_unix,
       h.engine_id
FROM prune_removals r
JOIN prune_runs pr ON pr.id = r.run_id
JOIN host_names h ON h.host_id = pr.host_id;

-- Each stack as the newest pass of its engine saw it.
CREATE VIEW latest_stacks AS
SELECT h.host AS host,
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
       s.working_dir,
       s.config_files,
       h.engine_id
FROM latest_passes p
JOIN host_names h ON h.host_id = p.host_id
JOIN stack_samples ss ON ss.pass_id = p.id
JOIN stacks s ON s.id = ss.stack_id;

-- Each image as the newest pass of its engine saw it, with the stacks using it.
CREATE VIEW latest_images AS
SELECT h.host AS host,
       i.image_id,
       st.tags,
       st.size_bytes,
       st.containers,
       st.managed,
       (SELECT json_group_array(s.name) FROM image_stacks ist JOIN stacks s ON s.id = ist.stack_id
         WHERE ist.image_ref = st.image_ref AND ist.pass_id = st.pass_id) AS stacks,
       strftime('%Y-%m-%dT%H:%M:%SZ', p.started_at, 'unixepoch') AS sampled_at,
       h.engine_id
FROM latest_passes p
CROSS JOIN image_spans sp ON sp.host_id = p.host_id AND sp.last_pass = p.id
CROSS JOIN images i ON i.id = sp.image_ref
JOIN host_names h ON h.host_id = p.host_id
JOIN image_states st ON st.image_ref = i.id
 AND st.pass_id = (SELECT MAX(x.pass_id) FROM image_states x WHERE x.image_ref = i.id AND x.pass_id <= p.id)
WHERE st.present = 1;

-- An image's history, one row per pass it was in, like volume_history.
CREATE VIEW image_history AS
SELECT h.host AS host,
       i.image_id,
       strftime('%Y-%m-%dT%H:%M:%SZ', p.started_at, 'unixepoch') AS sampled_at,
       st.tags,
       st.size_bytes,
       st.containers,
       st.managed,
       (SELECT json_group_array(s.name) FROM image_stacks ist JOIN stacks s ON s.id = ist.stack_id
         WHERE ist.image_ref = st.image_ref AND ist.pass_id = st.pass_id) AS stacks,
       p.id AS pass_id,
       p.started_at AS sampled_unix,
       h.engine_id
FROM image_spans sp
CROSS JOIN images i ON i.id = sp.image_ref
CROSS JOIN passes p ON p.host_id = sp.host_id AND p.id BETWEEN sp.first_pass AND sp.last_pass
JOIN host_names h ON h.host_id = p.host_id
JOIN image_states st ON st.image_ref = i.id
 AND st.pass_id = (SELECT MAX(x.pass_id) FROM image_states x WHERE x.image_ref = i.id AND x.pass_id <= p.id)
WHERE st.present = 1;

-- Each container as the newest pass of its engine saw it. A pass's samples
-- are read as a key range. CROSS JOIN fixes the order passes, samples,
-- containers, stacks: the planner (which has no statistics) would otherwise
-- start from a stack or a container and try every pass for each, or walk
-- every sample looking for its pass, turning a time range into a scan of
-- the whole history.
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
CROSS JOIN container_samples cs ON cs.sample_key BETWEEN p.id << 32 AND (p.id << 32) + 4294967295
CROSS JOIN containers c ON c.id = cs.container_ref
CROSS JOIN stacks s ON s.id = c.stack_id
JOIN host_names h ON h.host_id = p.host_id
JOIN container_states st ON st.container_ref = cs.container_ref
 AND st.pass_id = (SELECT MAX(x.pass_id) FROM container_states x
                   WHERE x.container_ref = cs.container_ref AND x.pass_id <= cs.pass_id);

-- One row per container per pass. Rollups thinned before schema 6 have no
-- recorded peak and show their own mem_bytes as mem_peak_bytes.
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
       h.engine_id,
       COALESCE(cs.mem_peak_bytes, cs.mem_bytes) AS mem_peak_bytes
FROM passes p
CROSS JOIN container_samples cs ON cs.sample_key BETWEEN p.id << 32 AND (p.id << 32) + 4294967295
CROSS JOIN containers c ON c.id = cs.container_ref
CROSS JOIN stacks s ON s.id = c.stack_id
JOIN host_names h ON h.host_id = p.host_id
JOIN container_states st ON st.container_ref = cs.container_ref
 AND st.pass_id = (SELECT MAX(x.pass_id) FROM container_states x
                   WHERE x.container_ref = cs.container_ref AND x.pass_id <= cs.pass_id);

-- Each volume and bind mount as the newest pass of its engine saw it.
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
       strftime('%Y-%m-%dT%H:%M:%SZ', MIN(COALESCE(sz.checked_at, sz.measured_at), p.started_at + (p.duration_ms + 999) / 1000), 'unixepoch')
           AS size_measured_at,
       h.engine_id,
       v.kind,
       st.read_only,
       sz.unsized_reason
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

-- One row per volume or bind mount per pass.
CREATE VIEW volume_history AS
SELECT h.host AS host,
       v.name AS volume,
       strftime('%Y-%m-%dT%H:%M:%SZ', p.started_at, 'unixepoch') AS sampled_at,
       sz.size_bytes,
       st.in_use,
       p.id AS pass_id,
       p.started_at AS sampled_unix,
       h.engine_id,
       v.kind,
       st.read_only,
       sz.unsized_reason,
       strftime('%Y-%m-%dT%H:%M:%SZ', MIN(COALESCE(sz.checked_at, sz.measured_at), p.started_at + (p.duration_ms + 999) / 1000), 'unixepoch')
           AS size_measured_at
FROM volume_spans sp
JOIN volumes v ON v.id = sp.volume_ref
JOIN passes p ON p.host_id = sp.host_id AND p.id BETWEEN sp.first_pass AND sp.last_pass
JOIN host_names h ON h.host_id = p.host_id
JOIN volume_states st ON st.volume_ref = v.id
 AND st.pass_id = (SELECT MAX(x.pass_id) FROM volume_states x WHERE x.volume_ref = v.id AND x.pass_id <= p.id)
LEFT JOIN volume_sizes sz ON sz.volume_ref = v.id
 AND sz.pass_id = (SELECT MAX(x.pass_id) FROM volume_sizes x WHERE x.volume_ref = v.id AND x.pass_id <= p.id)
WHERE st.present = 1;

-- One row per pass: when, how long, the engine, its filesystem and counts.
CREATE VIEW pass_log AS
SELECT p.id AS pass_id,
       h.host AS host,
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
       p.stats_method,
       p.images_bytes,
       p.build_cache_bytes,
       strftime('%Y-%m-%dT%H:%M:%SZ', p.docker_totals_at, 'unixepoch') AS docker_totals_measured_at
FROM passes p JOIN host_names h ON h.host_id = p.host_id;

-- One row per filesystem per pass: the Docker root's, each bind source's
-- and `/`, as `df` would show them.
CREATE VIEW filesystem_history AS
SELECT h.host AS host,
       f.mount_point,
       strftime('%Y-%m-%dT%H:%M:%SZ', p.started_at, 'unixepoch') AS sampled_at,
       fs.total_bytes,
       fs.used_bytes,
       fs.free_bytes,
       fs.docker_root,
       f.device,
       p.id AS pass_id,
       p.started_at AS sampled_unix,
       h.engine_id
FROM filesystem_samples fs
JOIN passes p ON p.id = fs.pass_id
JOIN filesystems f ON f.id = fs.fs_ref
JOIN host_names h ON h.host_id = p.host_id;

-- One row per container event. Times as ISO 8601 with milliseconds; `at_ns`
-- keeps the engine's precision.
CREATE VIEW container_events AS
SELECT h.host AS host,
       e.stack,
       e.service,
       e.name AS container,
       strftime('%Y-%m-%dT%H:%M:%fZ', e.at_ns / 1000000000.0, 'unixepoch') AS at,
       e.action,
       e.exit_code,
       e.signal,
       e.oom,
       e.source,
       e.health,
       e.stack_kind,
       e.container_id,
       e.at_ns,
       h.engine_id
FROM event_rows e JOIN host_names h ON h.host_id = e.host_id;

-- Intervals whose container events may be missing, and why (`reason`).
CREATE VIEW event_gaps AS
SELECT h.host AS host,
       strftime('%Y-%m-%dT%H:%M:%fZ', g.from_ns / 1000000000.0, 'unixepoch') AS missing_from,
       strftime('%Y-%m-%dT%H:%M:%fZ', g.to_ns / 1000000000.0, 'unixepoch') AS missing_until,
       g.reason,
       strftime('%Y-%m-%dT%H:%M:%SZ', g.noted_at, 'unixepoch') AS noted_at,
       g.from_ns,
       g.to_ns,
       h.engine_id
FROM event_gap_rows g JOIN host_names h ON h.host_id = g.host_id;
