//! `stackwatch sql`.

use std::io::Write;

use anyhow::{Context, Result};

use crate::cli::{Global, SqlArgs};
use crate::{sql, store};

pub fn run(global: &Global, args: &SqlArgs) -> Result<()> {
    let super::Session { config, db } = super::Session::open(global)?;
    let st = store::open_read_only(&db, config.database.busy_timeout)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let timeout = Some(args.timeout).filter(|t| !t.is_zero());
    let result =
        sql::run(st.user_sql_connection(), &args.query, args.format, timeout, &mut out).and_then(|_| Ok(out.flush()?));
    match result {
        // A closed pipe (`| head`) is not an error worth a message.
        Err(e) if e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(is_broken_pipe)) => Ok(()),
        r => r.with_context(|| format!("stackwatch sql on {}", db.display())),
    }
}

fn is_broken_pipe(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::BrokenPipe
}
