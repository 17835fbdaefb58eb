//! `stackwatch sql`: one ad-hoc, read-only query against the history, for
//! boxes without the `sqlite3` shell.
//!
//! Writes are refused twice over: the connection is opened read-only (and
//! `query_only`), and the statement itself must be one SQLite calls
//! read-only and that returns rows. Both checks are needed: `readonly()`
//! alone would let `ATTACH` or a `PRAGMA` with side effects through on a
//! writable handle, and a read-only handle alone would turn a mistaken
//! `DELETE` into a confusing "attempt to write a readonly database".

use std::io::Write;

use anyhow::{Context, Result, bail};
use rusqlite::Connection;
use rusqlite::types::ValueRef;

use crate::inert;

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

/// Runs `sql` (exactly one read-only statement that returns rows) and
/// writes its result to `out` in `format`.
pub fn run(conn: &Connection, sql: &str, format: SqlFormat, out: &mut impl Write) -> Result<usize> {
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
    if !stmt.readonly() {
        bail!(
            "refusing a statement that would write; `stackwatch sql` only reads (SELECT, WITH, EXPLAIN, PRAGMA reads)"
        );
    }
    if stmt.column_count() == 0 {
        bail!(
            "the SQL returns no rows (empty, a comment, or a statement like ATTACH/BEGIN); `stackwatch sql` runs one query"
        );
    }
    let columns: Vec<String> = stmt.column_names().into_iter().map(String::from).collect();
    let mut rows = stmt.query([]).context("cannot run the query")?;
    let mut next = || -> Result<Option<Vec<Cell>>> {
        match rows.next().context("the query failed")? {
            Some(r) => Ok(Some((0..columns.len()).map(|i| Cell::from_ref(r.get_ref_unwrap(i))).collect())),
            None => Ok(None),
        }
    };
    let mut count = 0;
    match format {
        SqlFormat::Table => {
            let mut all = Vec::new();
            while let Some(r) = next()? {
                all.push(r);
            }
            count = all.len();
            write_table(out, &columns, &all)?;
        }
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
                    obj.push_str(&serde_json::to_string(name)?);
                    obj.push_str(": ");
                    obj.push_str(&serde_json::to_string(&cell.json())?);
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
/// characters, at most 500 characters a cell): names come from other
/// people's stacks and this goes to a terminal.
pub fn write_table(out: &mut impl Write, columns: &[String], rows: &[Vec<Cell>]) -> Result<()> {
    let shown: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| c.text().map(|t| inert::line(&t, 500)).unwrap_or_else(|| "NULL".into())).collect())
        .collect();
    let heads: Vec<String> = columns.iter().map(|c| inert::line(c, 500)).collect();
    let mut widths: Vec<usize> = heads.iter().map(|h| h.chars().count()).collect();
    for r in &shown {
        for (w, v) in widths.iter_mut().zip(r) {
            *w = (*w).max(v.chars().count());
        }
    }
    let numeric: Vec<bool> = (0..columns.len())
        .map(|i| {
            let mut any = false;
            for r in rows {
                match r[i] {
                    Cell::Int(_) | Cell::Real(_) => any = true,
                    Cell::Null => {}
                    _ => return false,
                }
            }
            any
        })
        .collect();
    let line = |cells: &[String]| -> String {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let pad = widths[i].saturating_sub(v.chars().count());
                if numeric[i] { format!("{}{v}", " ".repeat(pad)) } else { format!("{v}{}", " ".repeat(pad)) }
            })
            .collect();
        parts.join("  ").trim_end().to_string()
    };
    writeln!(out, "{}", line(&heads))?;
    writeln!(out, "{}", widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().join("  "))?;
    for r in &shown {
        writeln!(out, "{}", line(r))?;
    }
    writeln!(out, "({} row{})", rows.len(), if rows.len() == 1 { "" } else { "s" })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        drop(crate::store::open_for_write(&path, std::time::Duration::from_secs(1)).unwrap());
        let st = crate::store::open_read_only(&path, std::time::Duration::from_secs(1)).unwrap();
        (dir, st.conn)
    }

    fn run_text(conn: &Connection, sql: &str, f: SqlFormat) -> Result<String> {
        let mut out = Vec::new();
        run(conn, sql, f, &mut out)?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn formats_table_csv_and_json() {
        let (_d, c) = db();
        let sql = "SELECT 1 AS n, 'a,\"b\"' AS t, NULL AS u, 2.5 AS r UNION ALL SELECT 100, 'x', 'y', NULL;";
        assert_eq!(
            run_text(&c, sql, SqlFormat::Table).unwrap(),
            "  n  t      u        r\n---  -----  ----  ----\n  1  a,\"b\"  NULL   2.5\n100  x      y     NULL\n(2 rows)\n"
        );
        assert_eq!(run_text(&c, sql, SqlFormat::Csv).unwrap(), "n,t,u,r\n1,\"a,\"\"b\"\"\",,2.5\n100,x,y,\n");
        let json: serde_json::Value = serde_json::from_str(&run_text(&c, sql, SqlFormat::Json).unwrap()).unwrap();
        assert_eq!(
            json,
            serde_json::json!([{"n": 1, "t": "a,\"b\"", "u": null, "r": 2.5}, {"n": 100, "t": "x", "u": "y", "r": null}])
        );
        assert_eq!(run_text(&c, "SELECT 1 WHERE 0", SqlFormat::Json).unwrap(), "[]\n");
    }

    #[test]
    fn control_characters_never_reach_the_terminal_table() {
        let (_d, c) = db();
        let out = run_text(&c, "SELECT 'evil' || char(10) || char(27) || '[31m' AS name", SqlFormat::Table).unwrap();
        assert!(out.contains("evil??[31m") && !out.contains('\x1b'), "{out}");
    }

    #[test]
    fn writes_multiple_statements_and_non_queries_are_refused() {
        let (_d, c) = db();
        for (sql, expect) in [
            ("DELETE FROM passes", "would write"),
            ("CREATE TABLE x (a)", "would write"),
            ("PRAGMA journal_mode = DELETE", "would write"),
            ("SELECT 1; DELETE FROM passes", "more than one statement"),
            ("SELECT 1; SELECT 2", "more than one statement"),
            ("ATTACH ':memory:' AS m", "returns no rows"),
            ("  -- nothing\n", "returns no rows"),
            ("SELEC 1", "does not compile"),
        ] {
            let err = run_text(&c, sql, SqlFormat::Table).unwrap_err().to_string();
            assert!(err.contains(expect), "{sql}: {err}");
        }
        // A trailing semicolon, comments and blank lines are one statement.
        assert!(run_text(&c, "-- count\nSELECT count(*) FROM passes;\n\n", SqlFormat::Csv).unwrap().ends_with("\n0\n"));
    }
}
