-- stackwatch history schema, version 4: several engines, one history.
--
-- Two engines can report the same hostname (two daemons on one machine, or
-- cloned VMs), and `host` was the hostname alone, so their rows were
-- indistinguishable in every view. `host` is now the hostname when it is
-- unique in this history, else `hostname@<first 14 characters of the engine
-- ID>`; every per-object view also gains `engine_id` as its last column
-- (columns are only ever appended). A one-engine history reads as before.

-- Only engines with passes count towards a collision: a host row that a
-- prune created for an engine never collected must not rename another.
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

DROP VIEW pass_log;
DROP VIEW latest_containers;
DROP VIEW latest_volumes;
DROP VIEW latest_stacks;
DROP VIEW latest_images;
DROP VIEW stack_disk_history;
DROP VIEW container_history;
DROP VIEW volume_history;

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
       p.stats_method
FROM passes p JOIN host_names h ON h.host_id = p.host_id;

CREATE VIEW latest_containers AS
SELECT h.host AS host,
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
       strftime('%Y-%m-%dT%H:%M:%SZ', cs.rw_measured_at, 'unixepoch') AS rw_measured_at,
       h.engine_id
FROM latest_passes p
JOIN host_names h ON h.host_id = p.host_id
JOIN container_samples cs ON cs.pass_id = p.id
JOIN containers c ON c.id = cs.container_ref
JOIN stacks s ON s.id = c.stack_id;

CREATE VIEW latest_volumes AS
SELECT h.host AS host,
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
       strftime('%Y-%m-%dT%H:%M:%SZ', vs.size_measured_at, 'unixepoch') AS size_measured_at,
       h.engine_id
FROM latest_passes p
JOIN host_names h ON h.host_id = p.host_id
JOIN volume_samples vs ON vs.pass_id = p.id
JOIN volumes v ON v.id = vs.volume_ref
LEFT JOIN volume_stacks vst ON vst.pass_id = vs.pass_id AND vst.volume_ref = vs.volume_ref
LEFT JOIN stacks s ON s.id = vst.stack_id;

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
       ss.working_dir,
       ss.config_files,
       h.engine_id
FROM latest_passes p
JOIN host_names h ON h.host_id = p.host_id
JOIN stack_samples ss ON ss.pass_id = p.id
JOIN stacks s ON s.id = ss.stack_id;

CREATE VIEW latest_images AS
SELECT h.host AS host,
       i.image_id,
       ims.tags,
       ims.size_bytes,
       ims.containers,
       ims.managed,
       (SELECT json_group_array(s.name) FROM image_stacks ist JOIN stacks s ON s.id = ist.stack_id
         WHERE ist.pass_id = ims.pass_id AND ist.image_ref = ims.image_ref) AS stacks,
       strftime('%Y-%m-%dT%H:%M:%SZ', p.started_at, 'unixepoch') AS sampled_at,
       h.engine_id
FROM latest_passes p
JOIN host_names h ON h.host_id = p.host_id
JOIN image_samples ims ON ims.pass_id = p.id
JOIN images i ON i.id = ims.image_ref;

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

CREATE VIEW container_history AS
SELECT h.host AS host,
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
       p.started_at AS sampled_unix,
       h.engine_id
FROM container_samples cs
JOIN passes p ON p.id = cs.pass_id
JOIN containers c ON c.id = cs.container_ref
JOIN stacks s ON s.id = c.stack_id
JOIN host_names h ON h.host_id = p.host_id;

CREATE VIEW volume_history AS
SELECT h.host AS host,
       v.name AS volume,
       strftime('%Y-%m-%dT%H:%M:%SZ', p.started_at, 'unixepoch') AS sampled_at,
       vs.size_bytes,
       vs.in_use,
       p.id AS pass_id,
       p.started_at AS sampled_unix,
       h.engine_id
FROM volume_samples vs
JOIN passes p ON p.id = vs.pass_id
JOIN volumes v ON v.id = vs.volume_ref
JOIN host_names h ON h.host_id = p.host_id;

-- prune_log (V3) names hosts the same way.
DROP VIEW prune_log;
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
