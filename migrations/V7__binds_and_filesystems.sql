-- stackwatch history schema, version 7: bind mounts as sized objects beside
-- volumes, sizes fresh every pass without a row per pass, the filesystems
-- that hold what is measured, and Docker's image and build-cache totals.
--
-- * A bind mount is a row of `volumes` with kind = 'bind', named by its host
--   path (a volume name never starts with `/`), so every view, report and
--   metric that shows volumes shows binds too. `volume_states.read_only`
--   says whether every container mounts it read-only (NULL for volumes).
-- * `volume_sizes` gets a row only when a size, its method or the reason it
--   is not measured (`unsized_reason`) changes. A re-measurement that finds
--   the same size moves `checked_at` forward in place. A size then held
--   from its first measurement to its last check, so the views date it at
--   each pass as the last check, or the end of that pass if the check came
--   later (it held before and after).
-- * `size_state` remembers what each walk cost (`walk_ms`, `walk_files`):
--   a cheap object is measured every pass. It also keeps Docker's totals
--   (kind 'docker_totals'), which older engines only give with a full
--   `system df`.
-- * `filesystems` and `filesystem_samples`: `statvfs` of the Docker root's
--   filesystem, each bind source's and `/`, one row per filesystem per pass.
-- * `passes` gets Docker's image-layer and build-cache bytes.

ALTER TABLE volumes ADD COLUMN kind TEXT NOT NULL DEFAULT 'volume';
ALTER TABLE volume_states ADD COLUMN read_only INTEGER;
ALTER TABLE volume_sizes ADD COLUMN unsized_reason TEXT;
ALTER TABLE volume_sizes ADD COLUMN checked_at INTEGER;

ALTER TABLE size_state RENAME TO size_state_v6;
CREATE TABLE size_state (
    host_id      INTEGER NOT NULL REFERENCES hosts(id),
    kind         TEXT NOT NULL CHECK (kind IN ('volume', 'writable_layer', 'docker_totals')),
    object       TEXT NOT NULL,
    size_bytes   INTEGER,
    method       TEXT,
    measured_at  INTEGER,
    attempted_at INTEGER NOT NULL,
    walk_ms      INTEGER,
    walk_files   INTEGER,
    PRIMARY KEY (host_id, kind, object)
) WITHOUT ROWID;
INSERT INTO size_state (host_id, kind, object, size_bytes, method, measured_at, attempted_at)
SELECT host_id, kind, object, size_bytes, method, measured_at, attempted_at FROM size_state_v6;
DROP TABLE size_state_v6;

ALTER TABLE passes ADD COLUMN images_bytes INTEGER;
ALTER TABLE passes ADD COLUMN build_cache_bytes INTEGER;
ALTER TABLE passes ADD COLUMN docker_totals_at INTEGER;

CREATE TABLE filesystems (
    id          INTEGER PRIMARY KEY,
    host_id     INTEGER NOT NULL REFERENCES hosts(id),
    device      INTEGER NOT NULL,
    mount_point TEXT NOT NULL,
    UNIQUE (host_id, device, mount_point)
);

CREATE TABLE filesystem_samples (
    pass_id     INTEGER NOT NULL REFERENCES passes(id),
    fs_ref      INTEGER NOT NULL REFERENCES filesystems(id),
    total_bytes INTEGER NOT NULL,
    used_bytes  INTEGER NOT NULL,
    free_bytes  INTEGER NOT NULL,
    docker_root INTEGER NOT NULL,
    PRIMARY KEY (pass_id, fs_ref)
) WITHOUT ROWID;

-- Views: V5's columns, then kind, read_only, unsized_reason (and in
-- volume_history, size_measured_at).
DROP VIEW latest_volumes;
DROP VIEW volume_history;
DROP VIEW pass_log;

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
