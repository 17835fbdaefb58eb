-- stackwatch history schema, version 6: images and stack paths stored when
-- they change, like containers and volumes since V5.
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
-- And a rollup is now an aggregate for memory, the one gauge that matters
-- in old history: `container_samples.mem_peak_bytes` is the highest memory
-- of the passes a thinned-to sample stands for (NULL at raw passes, where
-- it is `mem_bytes` itself). `container_history` gains it as a column.

DROP VIEW latest_stacks;
DROP VIEW latest_images;
DROP VIEW container_history;

ALTER TABLE container_samples ADD COLUMN mem_peak_bytes INTEGER;

-- Stacks ---------------------------------------------------------------------

ALTER TABLE stacks ADD COLUMN working_dir TEXT;
ALTER TABLE stacks ADD COLUMN config_files TEXT;

UPDATE stacks SET
    working_dir = (SELECT ss.working_dir FROM stack_samples ss WHERE ss.stack_id = stacks.id
                   ORDER BY ss.pass_id DESC LIMIT 1),
    config_files = (SELECT ss.config_files FROM stack_samples ss WHERE ss.stack_id = stacks.id
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
JOIN host_names h ON h.host_id = p.host_id
JOIN image_spans sp ON sp.host_id = p.host_id AND sp.last_pass = p.id
JOIN images i ON i.id = sp.image_ref
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
JOIN images i ON i.id = sp.image_ref
JOIN passes p ON p.host_id = sp.host_id AND p.id BETWEEN sp.first_pass AND sp.last_pass
JOIN host_names h ON h.host_id = p.host_id
JOIN image_states st ON st.image_ref = i.id
 AND st.pass_id = (SELECT MAX(x.pass_id) FROM image_states x WHERE x.image_ref = i.id AND x.pass_id <= p.id)
WHERE st.present = 1;

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
FROM container_samples cs
JOIN passes p ON p.id = cs.pass_id
JOIN containers c ON c.id = cs.container_ref
JOIN stacks s ON s.id = c.stack_id
JOIN host_names h ON h.host_id = p.host_id
JOIN container_states st ON st.container_ref = cs.container_ref
 AND st.pass_id = (SELECT MAX(x.pass_id) FROM container_states x
                   WHERE x.container_ref = cs.container_ref AND x.pass_id <= cs.pass_id);
