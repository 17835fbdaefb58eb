//! `stackwatch sql`: one ad-hoc, read-only query against the history, for
//! boxes without the `sqlite3` shell.
//!
//! Writes are refused twice over: the connection is opened read-only (and
//! `query_only`), and the statement itself must be one SQLite calls
//! read-only and that returns rows. Both checks are needed: `readonly()`
//! alone would let `ATTACH` or a `PRAGMA` with side effects through on a
//! writable handle, and a read-only handle alone would turn a mistaken
//! `DELETE` into a confusing "attempt to write a readonly database".
//!
//! It is bounded too: a query runs for at most a time limit (an open read
//! keeps the write-ahead log from being checkpointed), the table format
//! holds only its first rows in memory to align columns and streams the
//! rest, and each table cell is cut to a bounded length before it is
//! formatted (a blob is never hex-encoded whole for it).

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use rusqlite::Connection;
use rusqlite::types::ValueRef;

use crate::untrusted;

/// Longest table cell, in characters; longer ones end in `…`.
pub const MAX_CELL: usize = 500;
/// Rows the table format reads before it prints: their widths align the
/// columns, and later rows follow streamed in the same columns.
pub const TABLE_ALIGN_ROWS: usize = 1000;
/// `--timeout` when none is given.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// PRAGMAs that only report a value when given no argument. SQLite calls
/// them writes (the same name with `= value` sets it), so `readonly()`
/// refuses them; bare, on this read-only, query-only connection, they read.
const READ_PRAGMAS: [&str; 20] = [
    "application_id",
    "auto_vacuum",
    "cache_size",
    "data_version",
    "encoding",
    "foreign_keys",
    "freelist_count",
    "journal_mode",
    "journal_size_limit",
    "locking_mode",
    "max_page_count",
    "mmap_size",
    "page_count",
    "page_size",
    "query_only",
    "schema_version",
    "secure_delete",
    "synchronous",
    "user_version",
    "wal_autocheckpoint",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SqlFormat {
    /// Aligned columns for people; NULL is shown as `NULL`.
    Table,
    /// RFC 4180 with a header row; NULL is an empty field.
    Csv,
    /// An array of objects, one per row, keys in column order; NULL is null.
    Json,
}

/// One value, as SQLite returned it.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl Cell {
    fn from_ref(v: ValueRef<'_>) -> Cell {
        match v {
            ValueRef::Null => Cell::Null,
            ValueRef::Integer(i) => Cell::Int(i),
            ValueRef::Real(f) => Cell::Real(f),
            ValueRef::Text(t) => Cell::Text(String::from_utf8_lossy(t).into_owned()),
            ValueRef::Blob(b) => Cell::Blob(b.to_vec()),
        }
    }

    /// A table cell: one inert line of at most [`MAX_CELL`] characters, made
    /// from the value without copying more of it than is shown.
    fn shown(v: ValueRef<'_>) -> String {
        match v {
            ValueRef::Null => "NULL".into(),
            ValueRef::Integer(i) => i.to_string(),
            ValueRef::Real(f) => f.to_string(),
            ValueRef::Text(t) => {
                // A character is at most 4 bytes: this much holds MAX_CELL + 1 of them.
                let head = &t[..t.len().min(4 * (MAX_CELL + 1))];
                untrusted::line(&String::from_utf8_lossy(head), MAX_CELL)
            }
            ValueRef::Blob(b) => {
                // "x'" + 2 hex digits a byte: enough bytes to fill a cell.
                let head = &b[..b.len().min(MAX_CELL / 2)];
                let hex: String = head.iter().map(|x| format!("{x:02x}")).collect();
                untrusted::line(&format!("x'{hex}{}", if head.len() < b.len() { "…" } else { "'" }), MAX_CELL)
            }
        }
    }

    /// Text for table and CSV output; `None` for NULL.
    fn text(&self) -> Option<String> {
        match self {
            Cell::Null => None,
            Cell::Int(i) => Some(i.to_string()),
            Cell::Real(f) => Some(f.to_string()),
            Cell::Text(t) => Some(t.clone()),
            Cell::Blob(b) => Some(format!("x'{}'", b.iter().map(|x| format!("{x:02x}")).collect::<String>())),
        }
    }

    fn json(&self) -> serde_json::Value {
        match self {
            Cell::Null => serde_json::Value::Null,
            Cell::Int(i) => (*i).into(),
            Cell::Real(f) => serde_json::Number::from_f64(*f).map(Into::into).unwrap_or(serde_json::Value::Null),
            other => other.text().unwrap_or_default().into(),
        }
    }
}

/// `PRAGMA [schema.]name` with no argument, for a name in [`READ_PRAGMAS`].
fn is_pragma_read(sql: &str) -> bool {
    // Comments were allowed around the statement; a read has no `=` or `(`.
    let code: String = sql
        .lines()
        .map(|l| l.split("--").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join(" ")
        .trim()
        .trim_end_matches(';')
        .trim()
        .to_ascii_lowercase();
    let mut words = code.split_whitespace();
    let (Some("pragma"), Some(target), None) = (words.next(), words.next(), words.next()) else {
        return false;
    };
    let name = target.rsplit('.').next().unwrap_or(target);
    READ_PRAGMAS.contains(&name) && !target.contains(['=', '(', '/', '\'', '"'])
}

/// Runs `sql` (exactly one read-only statement that returns rows) and
/// writes its result to `out` in `format`, stopping it after `timeout`
/// (`None`: no limit).
pub fn run(
    conn: &Connection,
    sql: &str,
    format: SqlFormat,
    timeout: Option<Duration>,
    out: &mut impl Write,
) -> Result<usize> {
    // Belt and braces on top of the read-only open: SQLite itself refuses
    // any write on this connection from here on.
    conn.pragma_update(None, "query_only", true).context("cannot make the connection query-only")?;
    let mut stmt = match conn.prepare(sql) {
        Ok(s) => s,
        Err(rusqlite::Error::MultipleStatement) => {
            bail!("the SQL holds more than one statement; `stackwatch sql` runs exactly one (run each separately)")
        }
        Err(e) => bail!("the SQL does not compile: {e}"),
    };
    if !stmt.readonly() && !is_pragma_read(sql) {
        bail!(
            "refusing a statement that would write; `stackwatch sql` only reads (SELECT, WITH, EXPLAIN, PRAGMA reads \
             such as `PRAGMA journal_mode`)"
        );
    }
    if stmt.column_count() == 0 {
        bail!(
            "the SQL returns no rows (empty, a comment, or a statement like ATTACH/BEGIN); `stackwatch sql` runs one query"
        );
    }
    let columns: Vec<String> = stmt.column_names().into_iter().map(String::from).collect();
    // A watchdog interrupts the query at the deadline unless it ended first
    // (dropping the sender wakes it early).
    let timed_out = Arc::new(AtomicBool::new(false));
    let (done, wait) = std::sync::mpsc::channel::<()>();
    let watchdog = timeout.map(|limit| {
        let (handle, flag) = (conn.get_interrupt_handle(), timed_out.clone());
        std::thread::spawn(move || {
            if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = wait.recv_timeout(limit) {
                flag.store(true, Ordering::Relaxed);
                handle.interrupt();
            }
        })
    });
    let result = run_statement(&mut stmt, &columns, format, out);
    drop(done);
    if let Some(w) = watchdog {
        let _ = w.join();
    }
    if result.is_err() && timed_out.load(Ordering::Relaxed) {
        let limit = crate::time::format_duration(timeout.unwrap_or_default());
        bail!(
            "the query was stopped after {limit} (--timeout); narrow it (a time range on sampled_unix, a LIMIT), \
             or allow longer with --timeout (0 for no limit)"
        );
    }
    result
}

fn run_statement(
    stmt: &mut rusqlite::Statement<'_>,
    columns: &[String],
    format: SqlFormat,
    out: &mut impl Write,
) -> Result<usize> {
    let mut rows = stmt.query([]).context("cannot run the query")?;
    let mut count = 0;
    if format == SqlFormat::Table {
        let mut table = Table::new(columns);
        while let Some(r) = rows.next().context("the query failed")? {
            let cells: Vec<(String, Option<bool>)> = (0..columns.len())
                .map(|i| {
                    let v = r.get_ref_unwrap(i);
                    let numeric = match v {
                        ValueRef::Null => None,
                        ValueRef::Integer(_) | ValueRef::Real(_) => Some(true),
                        _ => Some(false),
                    };
                    (Cell::shown(v), numeric)
                })
                .collect();
            table.push(out, cells)?;
            count += 1;
        }
        table.finish(out)?;
        return Ok(count);
    }
    let mut next = || -> Result<Option<Vec<Cell>>> {
        match rows.next().context("the query failed")? {
            Some(r) => Ok(Some((0..columns.len()).map(|i| Cell::from_ref(r.get_ref_unwrap(i))).collect())),
            None => Ok(None),
        }
    };
    match format {
        SqlFormat::Table => unreachable!("handled above"),
        SqlFormat::Csv => {
            writeln!(out, "{}", columns.iter().map(|c| csv_field(c)).collect::<Vec<_>>().join(","))?;
            while let Some(r) = next()? {
                let fields: Vec<String> =
                    r.iter().map(|c| c.text().map(|t| csv_field(&t)).unwrap_or_default()).collect();
                writeln!(out, "{}", fields.join(","))?;
                count += 1;
            }
        }
        SqlFormat::Json => {
            write!(out, "[")?;
            while let Some(r) = next()? {
                let mut obj = String::from("{");
                for (i, (name, cell)) in columns.iter().zip(&r).enumerate() {
                    if i > 0 {
                        obj.push_str(", ");
                    }
                    obj.push_str(&untrusted::json_escaped(&serde_json::to_string(name)?));
                    obj.push_str(": ");
                    obj.push_str(&untrusted::json_escaped(&serde_json::to_string(&cell.json())?));
                }
                obj.push('}');
                write!(out, "{}\n  {obj}", if count == 0 { "" } else { "," })?;
                count += 1;
            }
            writeln!(out, "{}]", if count == 0 { "" } else { "\n" })?;
        }
    }
    Ok(count)
}

/// Quotes a CSV field when it holds a comma, quote or line break.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

/// Aligned columns; numbers right-aligned. Text is made inert (no control
/// characters, at most [`MAX_CELL`] characters a cell): names come from
/// other people's stacks and this goes to a terminal. The first
/// [`TABLE_ALIGN_ROWS`] rows set the widths and are printed together; the
/// rest stream in the same columns (a longer cell widens only its line).
struct Table {
    heads: Vec<String>,
    widths: Vec<usize>,
    /// Per column: some value is a number and none is text or a blob.
    numeric: Vec<Option<bool>>,
    held: Vec<Vec<String>>,
    streaming: bool,
    rows: usize,
}

impl Table {
    fn new(columns: &[String]) -> Table {
        let heads: Vec<String> = columns.iter().map(|c| untrusted::line(c, MAX_CELL)).collect();
        let widths = heads.iter().map(|h| h.chars().count()).collect();
        Table { widths, numeric: vec![None; heads.len()], heads, held: Vec::new(), streaming: false, rows: 0 }
    }

    /// One row: each cell shown, and whether it is a number (`None`: NULL).
    fn push(&mut self, out: &mut impl Write, cells: Vec<(String, Option<bool>)>) -> Result<()> {
        self.rows += 1;
        if self.streaming {
            let shown: Vec<String> = cells.into_iter().map(|(v, _)| v).collect();
            return Ok(writeln!(out, "{}", self.line(&shown))?);
        }
        for (i, (v, is_number)) in cells.iter().enumerate() {
            self.widths[i] = self.widths[i].max(v.chars().count());
            // NULL says nothing about the column's kind; one text makes it text.
            match is_number {
                Some(true) => _ = self.numeric[i].get_or_insert(true),
                Some(false) => self.numeric[i] = Some(false),
                None => {}
            }
        }
        self.held.push(cells.into_iter().map(|(v, _)| v).collect());
        if self.held.len() >= TABLE_ALIGN_ROWS {
            self.flush_held(out)?;
        }
        Ok(())
    }

    fn flush_held(&mut self, out: &mut impl Write) -> Result<()> {
        writeln!(out, "{}", self.line(&self.heads))?;
        writeln!(out, "{}", self.widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().join("  "))?;
        for r in std::mem::take(&mut self.held) {
            writeln!(out, "{}", self.line(&r))?;
        }
        self.streaming = true;
        Ok(())
    }

    fn finish(mut self, out: &mut impl Write) -> Result<()> {
        if !self.streaming {
            self.flush_held(out)?;
        }
        writeln!(out, "({} row{})", self.rows, if self.rows == 1 { "" } else { "s" })?;
        Ok(())
    }

    fn line(&self, cells: &[String]) -> String {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let pad = self.widths[i].saturating_sub(v.chars().count());
                if self.numeric[i] == Some(true) {
                    format!("{}{v}", " ".repeat(pad))
                } else {
                    format!("{v}{}", " ".repeat(pad))
                }
            })
            .collect();
        parts.join("  ").trim_end().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> (tempfile::TempDir, crate::store::Store) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        drop(crate::store::open_for_write(&path, std::time::Duration::from_secs(1)).unwrap());
        let st = crate::store::open_read_only(&path, std::time::Duration::from_secs(1)).unwrap();
        (dir, st)
    }

    fn run_text(conn: &Connection, sql: &str, f: SqlFormat) -> Result<String> {
        let mut out = Vec::new();
        run(conn, sql, f, Some(DEFAULT_TIMEOUT), &mut out)?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn formats_table_csv_and_json() {
        let (_d, st) = db();
        let c = st.user_sql_connection();
        let sql = "SELECT 1 AS n, 'a,\"b\"' AS t, NULL AS u, 2.5 AS r UNION ALL SELECT 100, 'x', 'y', NULL;";
        assert_eq!(
            run_text(c, sql, SqlFormat::Table).unwrap(),
            "  n  t      u        r\n---  -----  ----  ----\n  1  a,\"b\"  NULL   2.5\n100  x      y     NULL\n(2 rows)\n"
        );
        assert_eq!(run_text(c, sql, SqlFormat::Csv).unwrap(), "n,t,u,r\n1,\"a,\"\"b\"\"\",,2.5\n100,x,y,\n");
        let json: serde_json::Value = serde_json::from_str(&run_text(c, sql, SqlFormat::Json).unwrap()).unwrap();
        assert_eq!(
            json,
            serde_json::json!([{"n": 1, "t": "a,\"b\"", "u": null, "r": 2.5}, {"n": 100, "t": "x", "u": "y", "r": null}])
        );
        assert_eq!(run_text(c, "SELECT 1 WHERE 0", SqlFormat::Json).unwrap(), "[]\n");
    }

    #[test]
    fn control_characters_never_reach_the_terminal_table() {
        let (_d, st) = db();
        let c = st.user_sql_connection();
        let out = run_text(c, "SELECT 'evil' || char(10) || char(27) || '[31m' AS name", SqlFormat::Table).unwrap();
        assert!(out.contains("evil??[31m") && !out.contains('\x1b'), "{out}");
    }

    #[test]
    fn writes_multiple_statements_and_non_queries_are_refused() {
        let (_d, st) = db();
        let c = st.user_sql_connection();
        for (sql, expect) in [
            ("DELETE FROM passes", "would write"),
            ("CREATE TABLE x (a)", "would write"),
            ("PRAGMA journal_mode = DELETE", "would write"),
            ("PRAGMA main.journal_mode = 'DELETE'", "would write"),
            ("PRAGMA journal_mode(DELETE)", "would write"),
            ("PRAGMA wal_checkpoint", "would write"),
            ("PRAGMA optimize", "would write"),
            ("SELECT 1; DELETE FROM passes", "more than one statement"),
            ("SELECT 1; SELECT 2", "more than one statement"),
            ("ATTACH ':memory:' AS m", "returns no rows"),
            ("  -- nothing\n", "returns no rows"),
            ("SELEC 1", "does not compile"),
        ] {
            let err = run_text(c, sql, SqlFormat::Table).unwrap_err().to_string();
            assert!(err.contains(expect), "{sql}: {err}");
        }
        // A trailing semicolon, comments and blank lines are one statement.
        assert!(run_text(c, "-- count\nSELECT count(*) FROM passes;\n\n", SqlFormat::Csv).unwrap().ends_with("\n0\n"));
    }

    #[test]
    fn pragma_reads_are_allowed() {
        let (_d, st) = db();
        let c = st.user_sql_connection();
        assert_eq!(run_text(c, "PRAGMA journal_mode", SqlFormat::Csv).unwrap(), "journal_mode\nwal\n");
        assert_eq!(run_text(c, "pragma main.page_size;", SqlFormat::Csv).unwrap(), "page_size\n4096\n");
        let id = run_text(c, "-- ours?\nPRAGMA application_id", SqlFormat::Csv).unwrap();
        assert_eq!(id, format!("application_id\n{}\n", crate::store::APPLICATION_ID));
        assert!(run_text(c, "PRAGMA table_info(passes)", SqlFormat::Csv).unwrap().contains("started_at"));
    }

    #[test]
    fn a_runaway_query_is_stopped_at_the_time_limit() {
        let (_d, st) = db();
        let c = st.user_sql_connection();
        let forever = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r";
        let started = std::time::Instant::now();
        let err = run(c, forever, SqlFormat::Csv, Some(Duration::from_millis(300)), &mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("stopped after 300ms (--timeout)"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
        // The connection answers the next query normally.
        assert_eq!(run_text(c, "SELECT 1 AS one", SqlFormat::Csv).unwrap(), "one\n1\n");
    }

    /// Accepts `limit` bytes, then fails like a closed pipe.
    struct Closing {
        written: usize,
        limit: usize,
    }

    impl Write for Closing {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.written >= self.limit {
                return Err(std::io::ErrorKind::BrokenPipe.into());
            }
            self.written += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_table_streams_after_its_first_rows_and_bounds_each_cell() {
        let (_d, st) = db();
        let c = st.user_sql_connection();
        // Endless rows: only a table that prints as it reads ever writes.
        let endless = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT n, 'x' AS t FROM r";
        let mut out = Closing { written: 0, limit: 100_000 };
        let err = run(c, endless, SqlFormat::Table, Some(Duration::from_secs(20)), &mut out).unwrap_err();
        assert!(format!("{err:#}").contains("roken pipe"), "stopped by the reader, not the clock: {err:#}");

        // Widths come from the first rows; later rows keep the columns.
        let many = format!(
            "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r LIMIT {}) SELECT n, 'v' || n AS t FROM r",
            TABLE_ALIGN_ROWS + 5
        );
        let text = run_text(c, &many, SqlFormat::Table).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "   n  t", "{}", lines[0]);
        assert_eq!(lines[2], "   1  v1");
        assert_eq!(lines[TABLE_ALIGN_ROWS + 2], "1001  v1001", "a streamed row, wider than the first ones");
        assert_eq!(*lines.last().unwrap(), format!("({} rows)", TABLE_ALIGN_ROWS + 5));

        // A 100 kB blob and text: one bounded cell each.
        let text =
            run_text(c, "SELECT zeroblob(100000) AS b, printf('%.100000c', 'y') AS t", SqlFormat::Table).unwrap();
        let row = text.lines().nth(2).unwrap();
        assert!(row.chars().count() <= 2 * MAX_CELL + 2, "{}", row.chars().count());
        assert!(row.starts_with("x'0000") && row.contains("…  yyy") && row.ends_with('…'), "{row}");
    }
}
