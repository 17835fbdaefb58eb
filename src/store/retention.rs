//! Retention: thinning old passes so a year of history stays small.
//!
//! Past `keep_raw` only the last pass of each hour survives, past
//! `keep_hourly` the last of each day. A thinned pass keeps all its rows,
//! so every view and window query works on old history unchanged and picks
//! "the newest pass at or before" a time at whatever resolution is left:
//! the finest that covers it. Sizes and counters are point-in-time or
//! cumulative, so surviving samples are exact; only detail between them
//! goes, except memory's peak, which the surviving sample keeps.
//!
//! Change tables (container_states, volume_states with their volume_stacks,
//! volume_sizes, image_states with their image_stacks) hold a row from its
//! pass until the object's next row. A row at a thinned pass still describes
//! the next surviving pass unless a newer row comes first, so it moves
//! there; a superseded one goes.

use std::time::Duration;

use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::Store;

/// How often a collect compacts, at most.
const EVERY: i64 = 3600;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Compaction {
    /// Passes deleted (their samples with them).
    pub passes_removed: i64,
    /// Identity rows (containers, volumes, images, stacks) no sample refers to any more.
    pub identities_removed: i64,
}

const LAST_COMPACTED: &str = "SELECT value FROM meta WHERE key = 'last_compacted_at'";
const SET_LAST_COMPACTED: &str = "INSERT INTO meta (key, value) VALUES ('last_compacted_at', ?1)
     ON CONFLICT (key) DO UPDATE SET value = excluded.value";

// One thinning step: among passes before a cutoff at the resolutions in
// temp.levels, keep the newest per host and bucket, mark it, doom the rest.
const KEEP_NEWEST: &str = "INSERT INTO temp.keep SELECT MAX(id) FROM passes
     WHERE started_at < ?1 AND resolution IN (SELECT value FROM temp.levels) GROUP BY host_id, started_at / ?2";
const DOOM_OTHERS: &str = "INSERT OR IGNORE INTO temp.doomed SELECT id FROM passes
     WHERE started_at < ?1 AND resolution IN (SELECT value FROM temp.levels) AND id NOT IN (SELECT id FROM temp.keep)";
/// Passes that change resolution now: their samples are rewritten.
const REWRITE_NEWLY_KEPT: &str = "INSERT OR IGNORE INTO temp.rewrite
     SELECT id FROM passes WHERE id IN (SELECT id FROM temp.keep) AND resolution <> ?1";
const MARK_KEPT: &str = "UPDATE passes SET resolution = ?1 WHERE id IN (SELECT id FROM temp.keep) AND resolution <> ?1";

/// For each doomed pass, the next pass of its host that survives: the
/// running minimum of surviving ids, walking each host's passes newest first.
const NEXT_KEPT: &str = "
    DELETE FROM temp.next_kept;
    INSERT INTO temp.next_kept (doomed, kept)
    SELECT id, kept FROM (
        SELECT id, doomed, MIN(CASE WHEN doomed THEN NULL ELSE id END)
                   OVER (PARTITION BY host_id ORDER BY id DESC ROWS UNBOUNDED PRECEDING) AS kept
        FROM (SELECT id, host_id, id IN (SELECT id FROM temp.doomed) AS doomed FROM passes))
    WHERE doomed AND kept IS NOT NULL;";

/// A pass's container samples, as a range of their keys (V6).
macro_rules! samples_of {
    ($pass:expr) => {
        concat!("cs.sample_key BETWEEN ", $pass, " << 32 AND (", $pass, " << 32) + 4294967295")
    };
}

const SAMPLE_COLUMNS: &str = "sample_key, cpu_ns, mem_bytes, net_rx_bytes, net_tx_bytes, blkio_read_bytes,
     blkio_write_bytes, pids, log_bytes, rw_bytes, rw_measured_at, mem_peak_bytes";

/// Rewrites the container samples of the passes that survive this round
/// (`temp.rewrite`) after the others are gone. Deleting 11 of every 12
/// passes around a survivor leaves its samples on part-filled pages; written
/// again into the emptied range they fill whole pages. On the way each takes
/// the peak memory of the thinned passes it stands for: memory is a gauge,
/// and the last pass of an hour says nothing of the hour's peak, which is
/// what an OOM post-mortem months later asks for.
fn repack_samples() -> String {
    format!(
        "DELETE FROM temp.kept_samples;
         INSERT INTO temp.kept_samples SELECT {SAMPLE_COLUMNS}
           FROM temp.rewrite r JOIN container_samples cs ON {range_r};
         UPDATE temp.kept_samples AS k SET mem_peak_bytes = m.peak
           FROM (SELECT nk.kept, cs.container_ref, MAX(COALESCE(cs.mem_peak_bytes, cs.mem_bytes)) AS peak
                   FROM temp.next_kept nk JOIN container_samples cs ON {range_doomed}
                  GROUP BY nk.kept, cs.container_ref) AS m
          WHERE k.sample_key = (m.kept << 32) + m.container_ref
            AND m.peak > COALESCE(k.mem_peak_bytes, k.mem_bytes, -1);
         DELETE FROM container_samples WHERE sample_key IN
           (SELECT cs.sample_key FROM temp.doomed d JOIN container_samples cs ON {range_d});
         DELETE FROM container_samples WHERE sample_key IN (SELECT sample_key FROM temp.kept_samples);
         INSERT INTO container_samples ({SAMPLE_COLUMNS})
           SELECT {SAMPLE_COLUMNS} FROM temp.kept_samples ORDER BY sample_key;",
        range_r = samples_of!("r.id"),
        range_doomed = samples_of!("nk.doomed"),
        range_d = samples_of!("d.id"),
    )
}

/// The change tables and the object each row is about.
const CHANGE_TABLES: [(&str, &str); 4] = [
    ("container_states", "container_ref"),
    ("volume_states", "volume_ref"),
    ("volume_sizes", "volume_ref"),
    ("image_states", "image_ref"),
];

/// Link tables whose rows belong to a change table's row (same object and
/// pass): (links, states, object).
const LINK_TABLES: [(&str, &str, &str); 2] =
    [("volume_stacks", "volume_states", "volume_ref"), ("image_stacks", "image_states", "image_ref")];

/// Carries change rows over thinned passes: superseded rows go (a newer row
/// of the same object at or before the next surviving pass), the others
/// move to that pass. Link rows follow their state row, so theirs go first
/// while the states still sit at the thinned passes.
fn carry_changes() -> String {
    let mut sql = String::new();
    for (table, object) in CHANGE_TABLES {
        sql += &format!(
            "DELETE FROM {table} WHERE pass_id IN (SELECT doomed FROM temp.next_kept)
               AND EXISTS (SELECT 1 FROM {table} n WHERE n.{object} = {table}.{object}
                              AND n.pass_id > {table}.pass_id
                              AND n.pass_id <= (SELECT kept FROM temp.next_kept WHERE doomed = {table}.pass_id));\n"
        );
    }
    for (links, states, object) in LINK_TABLES {
        sql += &format!(
            "DELETE FROM {links} WHERE pass_id IN (SELECT doomed FROM temp.next_kept)
               AND NOT EXISTS (SELECT 1 FROM {states} s
                                WHERE s.{object} = {links}.{object} AND s.pass_id = {links}.pass_id);\n"
        );
    }
    for table in CHANGE_TABLES.iter().map(|t| t.0).chain(LINK_TABLES.iter().map(|t| t.0)) {
        sql += &format!(
            "UPDATE {table} SET pass_id = (SELECT kept FROM temp.next_kept WHERE doomed = {table}.pass_id)
              WHERE pass_id IN (SELECT doomed FROM temp.next_kept);\n"
        );
    }
    sql
}

const DELETE_DOOMED: &str = "
    DELETE FROM stack_samples WHERE pass_id IN (SELECT id FROM temp.doomed);
    DELETE FROM pass_errors WHERE pass_id IN (SELECT id FROM temp.doomed);
    DELETE FROM filesystem_samples WHERE pass_id IN (SELECT id FROM temp.doomed);
    DELETE FROM passes WHERE id IN (SELECT id FROM temp.doomed);";

/// Containers and volumes with no surviving pass of their host within their
/// span have no samples left; their change rows go with them. (A span's
/// first and last pass may be gone; BETWEEN compares ids.)
const FORGOTTEN: &str = "
    DELETE FROM temp.forgotten;
    INSERT INTO temp.forgotten (kind, id)
    SELECT 'container', c.id FROM containers c LEFT JOIN container_spans sp ON sp.container_ref = c.id
     WHERE NOT EXISTS (SELECT 1 FROM passes p
                        WHERE p.id BETWEEN sp.first_pass AND sp.last_pass AND p.host_id = sp.host_id)
    UNION ALL
    SELECT 'volume', v.id FROM volumes v LEFT JOIN volume_spans sp ON sp.volume_ref = v.id
     WHERE NOT EXISTS (SELECT 1 FROM passes p
                        WHERE p.id BETWEEN sp.first_pass AND sp.last_pass AND p.host_id = sp.host_id)
    UNION ALL
    SELECT 'image', i.id FROM images i LEFT JOIN image_spans sp ON sp.image_ref = i.id
     WHERE NOT EXISTS (SELECT 1 FROM passes p
                        WHERE p.id BETWEEN sp.first_pass AND sp.last_pass AND p.host_id = sp.host_id);
    DELETE FROM container_states WHERE container_ref IN (SELECT id FROM temp.forgotten WHERE kind = 'container');
    DELETE FROM container_spans WHERE container_ref IN (SELECT id FROM temp.forgotten WHERE kind = 'container');
    DELETE FROM volume_states WHERE volume_ref IN (SELECT id FROM temp.forgotten WHERE kind = 'volume');
    DELETE FROM volume_stacks WHERE volume_ref IN (SELECT id FROM temp.forgotten WHERE kind = 'volume');
    DELETE FROM volume_sizes WHERE volume_ref IN (SELECT id FROM temp.forgotten WHERE kind = 'volume');
    DELETE FROM volume_spans WHERE volume_ref IN (SELECT id FROM temp.forgotten WHERE kind = 'volume');
    DELETE FROM image_states WHERE image_ref IN (SELECT id FROM temp.forgotten WHERE kind = 'image');
    DELETE FROM image_stacks WHERE image_ref IN (SELECT id FROM temp.forgotten WHERE kind = 'image');
    DELETE FROM image_spans WHERE image_ref IN (SELECT id FROM temp.forgotten WHERE kind = 'image');";

/// Identity rows nothing refers to any more, counted.
const FORGET_IDENTITIES: [&str; 4] = [
    "DELETE FROM containers WHERE id IN (SELECT id FROM temp.forgotten WHERE kind = 'container')",
    "DELETE FROM volumes WHERE id IN (SELECT id FROM temp.forgotten WHERE kind = 'volume')",
    "DELETE FROM images WHERE id IN (SELECT id FROM temp.forgotten WHERE kind = 'image')",
    "DELETE FROM stacks WHERE NOT EXISTS (SELECT 1 FROM stack_samples WHERE stack_id = stacks.id)
        AND NOT EXISTS (SELECT 1 FROM containers WHERE stack_id = stacks.id)
        AND id NOT IN (SELECT stack_id FROM volume_stacks)
        AND id NOT IN (SELECT stack_id FROM image_stacks)",
];
impl Store {
    /// Compacts when the last compaction is an hour old (or `force`).
    pub fn maybe_compact(
        &mut self,
        now: i64,
        keep_raw: Duration,
        keep_hourly: Duration,
        force: bool,
    ) -> rusqlite::Result<Option<Compaction>> {
        let last: Option<String> = self.conn.query_row(LAST_COMPACTED, [], |r| r.get(0)).optional()?;
        let last = last.and_then(|v| v.parse::<i64>().ok()).unwrap_or(i64::MIN);
        if !force && now.saturating_sub(last) < EVERY {
            return Ok(None);
        }
        self.compact(now, keep_raw, keep_hourly).map(Some)
    }

    pub fn compact(&mut self, now: i64, keep_raw: Duration, keep_hourly: Duration) -> rusqlite::Result<Compaction> {
        let raw_cutoff = now - keep_raw.as_secs() as i64;
        let hourly_cutoff = now - keep_hourly.as_secs().max(keep_raw.as_secs()) as i64;
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(
            "CREATE TEMP TABLE IF NOT EXISTS keep (id INTEGER PRIMARY KEY);
             CREATE TEMP TABLE IF NOT EXISTS doomed (id INTEGER PRIMARY KEY);
             CREATE TEMP TABLE IF NOT EXISTS levels (value TEXT PRIMARY KEY);
             CREATE TEMP TABLE IF NOT EXISTS next_kept (doomed INTEGER PRIMARY KEY, kept INTEGER NOT NULL);
             CREATE TEMP TABLE IF NOT EXISTS forgotten (kind TEXT NOT NULL, id INTEGER NOT NULL, PRIMARY KEY (kind, id));
             CREATE TEMP TABLE IF NOT EXISTS rewrite (id INTEGER PRIMARY KEY);
             CREATE TEMP TABLE IF NOT EXISTS kept_samples (sample_key INTEGER PRIMARY KEY, cpu_ns, mem_bytes,
                 net_rx_bytes, net_tx_bytes, blkio_read_bytes, blkio_write_bytes, pids, log_bytes, rw_bytes,
                 rw_measured_at, mem_peak_bytes);
             DELETE FROM temp.doomed;
             DELETE FROM temp.rewrite;",
        )?;
        for (cutoff, bucket, levels, to) in [
            (raw_cutoff, 3600, &["raw", "hour"][..], "hour"),
            (hourly_cutoff, 86_400, &["raw", "hour", "day"][..], "day"),
        ] {
            tx.execute("DELETE FROM temp.levels", [])?;
            for l in levels {
                tx.execute("INSERT INTO temp.levels (value) VALUES (?1)", [l])?;
            }
            tx.execute("DELETE FROM temp.keep", [])?;
            tx.execute(KEEP_NEWEST, params![cutoff, bucket])?;
            tx.execute(DOOM_OTHERS, params![cutoff])?;
            tx.execute(REWRITE_NEWLY_KEPT, params![to])?;
            tx.execute(MARK_KEPT, params![to])?;
        }
        let passes_removed: i64 = tx.query_row("SELECT count(*) FROM temp.doomed", [], |r| r.get(0))?;
        if passes_removed > 0 {
            tx.execute_batch(NEXT_KEPT)?;
            // A pass kept for its hour in the first step may go in the second.
            tx.execute_batch(
                "INSERT OR IGNORE INTO temp.rewrite SELECT kept FROM temp.next_kept;
                 DELETE FROM temp.rewrite WHERE id IN (SELECT id FROM temp.doomed);",
            )?;
            tx.execute_batch(&repack_samples())?;
            tx.execute_batch(&carry_changes())?;
            tx.execute_batch(DELETE_DOOMED)?;
        }
        // Events and gaps are small, but a pass every minute on a busy box
        // adds thousands a day: kept as long as hourly passes, the detail that
        // explains them.
        tx.execute("DELETE FROM event_rows WHERE at_ns < ?1 * 1000000000", [hourly_cutoff])?;
        tx.execute("DELETE FROM event_gap_rows WHERE to_ns < ?1 * 1000000000", [hourly_cutoff])?;
        tx.execute_batch(FORGOTTEN)?;
        let mut identities_removed = 0;
        for q in FORGET_IDENTITIES {
            identities_removed += tx.execute(q, [])? as i64;
        }
        tx.execute(SET_LAST_COMPACTED, params![now.to_string()])?;
        tx.commit()?;
        Ok(Compaction { passes_removed, identities_removed })
    }
}
