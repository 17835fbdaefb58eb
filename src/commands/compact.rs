//! `stackwatch compact`.

use anyhow::Result;

use crate::cli::{CompactArgs, Global};
use crate::model::units;
use crate::store::{self, lock};
use crate::time::now_unix;

pub fn run(global: &Global, args: &CompactArgs) -> Result<()> {
    let super::Session { config, db } = super::Session::open(global)?;
    if !db.exists() {
        anyhow::bail!("no history database at {}; nothing to compact", db.display());
    }
    // A refused database gets no lock file beside it.
    store::check_file(&db)?;
    store::precheck(&db)?;
    // Not while a collect writes.
    let _lock = lock::acquire(&db, config.database.lock_wait)?;
    let size = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len() as i64).unwrap_or(0);
    // Before opening: opening may upgrade the schema, which can grow the file.
    let before = size(&db);
    let mut st = store::open_for_write(&db, config.database.busy_timeout)?;
    let c = &config.collect;
    let done = st.compact(now_unix(), c.keep_raw, c.keep_hourly).map_err(|e| store::sql_error(e, &db, "compact"))?;
    if args.vacuum {
        st.vacuum().map_err(|e| store::sql_error(e, &db, "vacuum"))?;
    }
    if !global.quiet {
        println!(
            "removed {} passes and {} forgotten objects; {} is {} (was {})",
            done.passes_removed,
            done.identities_removed,
            db.display(),
            units::bytes(size(&db)),
            units::bytes(before)
        );
        if !args.vacuum && size(&db) > before {
            println!(
                "the file grew (a schema upgrade rewrote tables); `stackwatch compact --vacuum` gives the space back"
            );
        }
    }
    Ok(())
}
