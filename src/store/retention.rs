//! Retention: thinning old passes so a year of history stays small.
//!
//! Past `keep_raw` only the last pass of each hour survives, past
//! `keep_hourly` the last of each day. A thinned pass keeps all its rows,
//! so every view and window query works on old history unchanged and picks
//! "the newest pass at or before" a time at whatever resolution is left:
//! the finest that covers it. Sizes and counters are point-in-time or
//! cumulative, so surviving samples are exact; only detail between them goes.

use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

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
const MARK_KEPT: &str = "UPDATE passes SET resolution = ?1 WHERE id IN (SELECT id FROM temp.keep) AND resolution <> ?1";

const DELETE_DOOMED: &str = "
    DELETE FROM container_samples WHERE pass_id IN (SELECT id FROM temp.doomed);
    DELETE FROM volume_samples WHERE pass_id IN (SELECT id FROM temp.doomed);
    DELETE FROM volume_stacks WHERE pass_id IN (SELECT id FROM temp.doomed);
    DELETE FROM stack_samples WHERE pass_id IN (SELECT id FROM temp.doomed);
    DELETE FROM image_samples WHERE pass_id IN (SELECT id FROM temp.doomed);
    DELETE FROM image_stacks WHERE pass_id IN (SELECT id FROM temp.doomed);
    DELETE FROM pass_errors WHERE pass_id IN (SELECT id FROM temp.doomed);
    DELETE FROM passes WHERE id IN (SELECT id FROM temp.doomed);";

/// Identity rows that no remaining sample mentions. Each NOT EXISTS is a
/// lookup in the sample table's (object, pass) index.
const FORGET_IDENTITIES: [&str; 4] = [
    "DELETE FROM containers WHERE NOT EXISTS (SELECT 1 FROM container_samples WHERE container_ref = containers.id)",
    "DELETE FROM volumes WHERE NOT EXISTS (SELECT 1 FROM volume_samples WHERE volume_ref = volumes.id)",
    "DELETE FROM images WHERE NOT EXISTS (SELECT 1 FROM image_samples WHERE image_ref = images.id)",
    "DELETE FROM stacks WHERE NOT EXISTS (SELECT 1 FROM stack_samples WHERE stack_id = stacks.id)
        AND NOT EXISTS (SELECT 1 FROM containers WHERE stack_id = stacks.id)",
];

/// Compacts when the last compaction is an hour old (or `force`).
pub fn maybe_compact(
    conn: &mut Connection,
    now: i64,
    keep_raw: Duration,
    keep_hourly: Duration,
    force: bool,
) -> rusqlite::Result<Option<Compaction>> {
    let last: Option<String> = conn.query_row(LAST_COMPACTED, [], |r| r.get(0)).optional()?;
    let last = last.and_then(|v| v.parse::<i64>().ok()).unwrap_or(i64::MIN);
    if !force && now.saturating_sub(last) < EVERY {
        return Ok(None);
    }
    compact(conn, now, keep_raw, keep_hourly).map(Some)
}

pub fn compact(
    conn: &mut Connection,
    now: i64,
    keep_raw: Duration,
    keep_hourly: Duration,
) -> rusqlite::Result<Compaction> {
    let raw_cutoff = now - keep_raw.as_secs() as i64;
    let hourly_cutoff = now - keep_hourly.as_secs().max(keep_raw.as_secs()) as i64;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS keep (id INTEGER PRIMARY KEY);
         CREATE TEMP TABLE IF NOT EXISTS doomed (id INTEGER PRIMARY KEY);
         CREATE TEMP TABLE IF NOT EXISTS levels (value TEXT PRIMARY KEY);
         DELETE FROM temp.doomed;",
    )?;
    for (cutoff, bucket, levels, to) in
        [(raw_cutoff, 3600, &["raw", "hour"][..], "hour"), (hourly_cutoff, 86_400, &["raw", "hour", "day"][..], "day")]
    {
        tx.execute("DELETE FROM temp.levels", [])?;
        for l in levels {
            tx.execute("INSERT INTO temp.levels (value) VALUES (?1)", [l])?;
        }
        tx.execute("DELETE FROM temp.keep", [])?;
        tx.execute(KEEP_NEWEST, params![cutoff, bucket])?;
        tx.execute(DOOM_OTHERS, params![cutoff])?;
        tx.execute(MARK_KEPT, params![to])?;
    }
    let passes_removed: i64 = tx.query_row("SELECT count(*) FROM temp.doomed", [], |r| r.get(0))?;
    tx.execute_batch(DELETE_DOOMED)?;
    let mut identities_removed = 0;
    for q in FORGET_IDENTITIES {
        identities_removed += tx.execute(q, [])? as i64;
    }
    tx.execute(SET_LAST_COMPACTED, params![now.to_string()])?;
    tx.commit()?;
    Ok(Compaction { passes_removed, identities_removed })
}
