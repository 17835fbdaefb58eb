-- stackwatch history schema, version 6: images and stack paths stored when
-- they change, like containers and volumes since V5; container samples in a
-- layout that stays dense; memory peaks kept through retention.
--
-- Until V6 every pass wrote a row per image (tags, size, containers using
-- it) and a row per image and stack, and each stack's totals carried its
-- compose working directory and config file paths. All of it repeats from
-- pass to pass: on the synthetic year (20 images, 20 stacks) the image rows
-- alone came to 8.5 MB, and real compose paths would add some 60 bytes per
-- stack per pass. From V6:
--
-- * `stacks` holds a stack's working directory and config files as last
--   seen (the per-pass copies go from `stack_samples`);
-- * `image_spans` holds the first and last pass that saw an image;
-- * `image_states` gets a row only when an image appeared, disappeared
--   (`present` = 0) or its tags, size, container count or stacks changed;
--   `image_stacks` rows belong to an `image_states` row (same image and
--   pass) and list every stack using the image from then on.
--
-- As in V5, the state at pass P is the image's row with the greatest
-- pass_id <= P, and retention carries rows at thinned passes forward.
--
-- And container samples get a layout that stays dense:
--
-- * `container_samples` is a rowid table keyed by `sample_key` =
--   pass_id * 2^32 + container_ref, so a pass's samples are one rowid range
--   and `pass_id` and `container_ref` are generated from the key (no bytes
--   stored). A rowid table fills its pages as it appends; the WITHOUT ROWID
--   table it replaces split them and left some 12% free, and retention,
--   which deletes 11 of every 12 passes around each survivor, left the
--   survivors on part-filled pages: a synthetic year's file was 1.3 times
--   its size after VACUUM. Retention now also rewrites the survivors'
--   samples after deleting the rest, which packs them (measured on a
--   simulation of the pattern: 4.5% free, from 22%).
-- * A rollup is now an aggregate for memory, the one gauge old history
--   still needs: `mem_peak_bytes` is the highest memory of the passes a
--   thinned-to sample stands for (NULL at raw passes, where it is
--   `mem_bytes` itself). `container_history` gains it as a column.

DROP VIEW latest_stacks;
DROP VIEW latest_images;
DROP VIEW latest_containers;
DROP VIEW container_history;

-- Container samples ----------------------------------------------------------

ALTER TABLE container_samples RENAME TO container_samples_v5;

CREATE TABLE container_samples (
    sample_key        INTEGER PRIMARY KEY,
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
    mem_peak_bytes    INTEGER,
    pass_id           INTEGER GENERATED ALWAYS AS (sample_key >> 32) VIRTUAL,
    container_ref     INTEGER GENERATED ALWAYS AS (sample_key & 4294967295) VIRTUAL
);

INSERT INTO container_samples (sample_key, cpu_ns, mem_bytes, net_rx_bytes, net_tx_bytes, blkio_read_bytes,
                               blkio_write_bytes, pids, log_bytes, rw_bytes, rw_measured_at)
SELECT (pass_id << 32) + container_ref, cpu_ns, mem_bytes, net_rx_bytes, net_tx_bytes, blkio_read_bytes,
       blkio_write_bytes, pids, log_bytes, rw_bytes, rw_measured_at
FROM container_samples_v5 ORDER BY pass_id, container_ref;

DROP TABLE container_samples_v5;

-- Stacks ---------------------------------------------------------------------

ALTER TABLE stacks ADD COLUMN working_dir TEXT;
ALTER TABLE stacks ADD COLUMN config_files TEXT;

-- The newest known value: a pass that saw only a stack's volumes (after
-- `compose down`) recorded none.
UPDATE stacks SET
    working_dir = (SELECT ss.working_dir FROM stack_samples ss
                   WHERE ss.stack_id = stacks.id AND ss.working_dir IS NOT NULL
                   ORDER BY ss.pass_id DESC LIMIT 1),
    config_files = (SELECT ss.config_files FROM stack_samples ss
                    WHERE ss.stack_id = stacks.id AND ss.config_files IS NOT NULL
                    ORDER BY ss.pass_id DESC LIMIT 1);

ALTER TABLE stack_samples DROP COLUMN working_dir;
ALTER TABLE stack_samples DROP COLUMN config_files;

-- Images ---------------------------------------------------------------------

CREATE TABLE image_spans (
    image_ref  INTEGER PRIMARY KEY REFERENCES images(id),
    host_id    INTEGER NOT NULL REFERENCES hosts(id),
    first_pass INTEGER NOT NULL,
    last_pass  INTEGER NOT NULL
);
INSERT INTO image_spans (image_ref, host_id, first_pass, last_pass)
SELECT o.image_ref, i.host_id, MIN(o.pass_id), MAX(o.pass_id)
FROM image_samples o JOIN images i ON i.id = o.image_ref GROUP BY o.image_ref;

CREATE TABLE image_states (
    image_ref  INTEGER NOT NULL REFERENCES images(id),
    pass_id    INTEGER NOT NULL REFERENCES passes(id),
    present    INTEGER NOT NULL,
    tags       TEXT NOT NULL,
    size_bytes INTEGER,
    containers INTEGER NOT NULL,
    managed    INTEGER NOT NULL,
    PRIMARY KEY (image_ref, pass_id)
) WITHOUT ROWID;

-- Each old sample with the previous sample of the same image and the
-- previous pass of its host, as V5 did for volumes: when those differ the
-- image was missing in between and gets a `present` = 0 row at the first
-- pass it missed.
CREATE TEMP TABLE v5_pass_order (
    id INTEGER PRIMARY KEY, host_id INTEGER NOT NULL, prev INTEGER, next INTEGER);
INSERT INTO temp.v5_pass_order
SELECT id, host_id, lag(id) OVER w, lead(id) OVER w FROM passes WINDOW w AS (PARTITION BY host_id ORDER BY id);

CREATE TEMP TABLE v5_links (
    pass_id INTEGER NOT NULL, image_ref INTEGER NOT NULL, links TEXT NOT NULL,
    PRIMARY KEY (pass_id, image_ref)) WITHOUT ROWID;
INSERT INTO temp.v5_links
SELECT pass_id, image_ref, json_group_array(stack_id)
FROM (SELECT * FROM image_stacks ORDER BY pass_id, image_ref, stack_id)
GROUP BY pass_id, image_ref;

CREATE TEMP TABLE v5_images AS
SELECT o.image_ref, o.pass_id, o.tags, o.size_bytes, o.containers, o.managed,
       COALESCE(l.links, '[]') AS links,
       lag(o.pass_id) OVER (PARTITION BY o.image_ref ORDER BY o.pass_id) AS prev_sample,
       po.prev AS prev_pass
FROM image_samples o
JOIN temp.v5_pass_order po ON po.id = o.pass_id
LEFT JOIN temp.v5_links l ON l.pass_id = o.pass_id AND l.image_ref = o.image_ref;

INSERT INTO image_states (image_ref, pass_id, present, tags, size_bytes, containers, managed)
SELECT t.image_ref, po.next, 0, '[]', NULL, 0, 0
FROM temp.v5_images t JOIN temp.v5_pass_order po ON po.id = t.prev_sample
WHERE t.prev_sample <> t.prev_pass;

-- And one at the first pass after its last sample, when its host went on.
INSERT INTO image_states (image_ref, pass_id, present, tags, size_bytes, containers, managed)
SELECT sp.image_ref, po.next, 0, '[]', NULL, 0, 0
FROM image_spans sp JOIN temp.v5_pass_order po ON po.id = sp.last_pass
WHERE po.next IS NOT NULL;

INSERT INTO image_states (image_ref, pass_id, present, tags, size_bytes, containers, managed)
SELECT image_ref, pass_id, 1, tags, size_bytes, containers, managed
FROM (SELECT *, lag(k) OVER (PARTITION BY image_ref ORDER BY pass_id) AS prev
      FROM (SELECT *, json_array(tags, size_bytes, containers, managed, links) AS k FROM temp.v5_images))
WHERE prev IS NULL OR prev <> k OR prev_sample <> prev_pass;

ALTER TABLE image_stacks RENAME TO image_stacks_v5;
DROP INDEX image_stacks_by_image;

CREATE TABLE image_stacks (
    image_ref INTEGER NOT NULL REFERENCES images(id),
    pass_id   INTEGER NOT NULL REFERENCES passes(id),
    stack_id  INTEGER NOT NULL REFERENCES stacks(id),
    PRIMARY KEY (image_ref, pass_id, stack_id)
) WITHOUT ROWID;

INSERT INTO image_stacks (image_ref, pass_id, stack_id)
SELECT l.image_ref, l.pass_id, l.stack_id
FROM image_stacks_v5 l JOIN image_states s ON s.image_ref = l.image_ref AND s.pass_id = l.pass_id;

DROP TABLE image_stacks_v5;
DROP TABLE image_samples;
DROP TABLE temp.v5_images;
DROP TABLE temp.v5_links;
DROP TABLE temp.v5_pass_order;

-- Views: the same columns as V5. ------------------------------------------------

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

-- New: an image's history, one row per pass it was in, like volume_history.
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

-- V5's, reading a pass's samples as a key range. CROSS JOIN fixes the order
-- passes, samples, containers, stacks: the planner (which has no
-- statistics) would otherwise start from a stack or a container and try
-- every pass for each, or walk every sample looking for its pass, turning a
-- time range into a scan of the whole history.
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

-- V5's, with mem_peak_bytes appended. Rollups thinned before V6 have no
-- recorded peak and show their own mem_bytes.
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
