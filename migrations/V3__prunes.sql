-- stackwatch history schema, version 3: what `stackwatch prune` removed.
--
-- (Version 2 is taken by the retention work; the two are independent: this
-- file only adds tables and a view.)
--
-- Every removal is one row, written right after the engine confirmed it, so
-- a prune that is interrupted still accounts for what it did remove. The
-- report uses these rows to explain a drop in the disk curve ("pruned 3.1 GB
-- of factory images"). Times are Unix seconds, sizes integer bytes, NULL a
-- size that could not be measured.

-- One `stackwatch prune --apply` run.
CREATE TABLE prune_runs (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    host_id            INTEGER NOT NULL REFERENCES hosts(id),
    started_at         INTEGER NOT NULL,
    -- The managed label the run was scoped to, `key=value`.
    label              TEXT NOT NULL,
    -- 1 when volumes were included (--volumes).
    volumes            INTEGER NOT NULL,
    stackwatch_version TEXT NOT NULL
);
CREATE INDEX prune_runs_by_host_time ON prune_runs(host_id, started_at);

CREATE TABLE prune_removals (
    run_id      INTEGER NOT NULL REFERENCES prune_runs(id),
    removed_at  INTEGER NOT NULL,
    object_kind TEXT NOT NULL CHECK (object_kind IN ('container', 'image', 'volume')),
    -- Container or image id, or volume name.
    object_id   TEXT NOT NULL,
    -- Container name, first image tag (or the short id of a dangling image), volume name.
    name        TEXT NOT NULL,
    stack       TEXT,
    -- exited, created, dead, dangling, unused.
    reason      TEXT NOT NULL,
    -- Writable layer of a container, bytes unique to an image, size of a volume.
    size_bytes  INTEGER
);
CREATE INDEX prune_removals_by_run ON prune_removals(run_id);
CREATE INDEX prune_removals_by_time ON prune_removals(removed_at);

-- Public view (README "The history database"): one row per removed object.
CREATE VIEW prune_log AS
SELECT h.hostname AS host,
       strftime('%Y-%m-%dT%H:%M:%SZ', r.removed_at, 'unixepoch') AS removed_at,
       r.object_kind AS kind,
       r.name,
       r.stack,
       r.size_bytes,
       r.reason,
       r.object_id,
       pr.label,
       pr.id AS prune_id,
       r.removed_at AS removed_unix
FROM prune_removals r
JOIN prune_runs pr ON pr.id = r.run_id
JOIN hosts h ON h.id = pr.host_id;
