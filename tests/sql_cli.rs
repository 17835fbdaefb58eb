//! `stackwatch sql` on a history collected from the real engine: queries
//! answer in every format, and nothing that writes gets through.

mod common;

use std::path::Path;
use std::process::Output;

use common::*;

fn sql(db: &Path, args: &[&str]) -> Output {
    bin().args(["sql", "--db", db.to_str().unwrap()]).args(args).output().unwrap()
}

#[test]
fn sql_answers_queries_and_refuses_writes_leaving_the_database_untouched() {
    if !engine_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.db");
    collect(&db);
    collect(&db);

    let out = sql(&db, &["--format", "json", "SELECT pass_id, host, engine_id FROM pass_log ORDER BY pass_id"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["pass_id"], 1);
    assert!(rows[1]["engine_id"].as_str().is_some_and(|e| !e.is_empty()));

    let out = sql(&db, &["SELECT count(*) AS passes FROM pass_log"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "passes\n------\n     2\n(1 row)\n");

    // Checkpoint the WAL so the main file holds everything, then compare
    // every byte of it (and the absence of new files) after the refusals.
    drop(rusqlite::Connection::open(&db).unwrap().query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())));
    let before = std::fs::read(&db).unwrap();
    for (statement, expect) in [
        ("DELETE FROM passes", "refusing a statement that would write"),
        ("DROP VIEW latest_stacks", "refusing a statement that would write"),
        ("UPDATE hosts SET hostname = 'x'", "refusing a statement that would write"),
        ("SELECT 1; DELETE FROM passes", "more than one statement"),
        ("ATTACH '/tmp/other.db' AS o", "returns no rows"),
        ("SELECT nope FROM nowhere", "does not compile"),
    ] {
        let out = sql(&db, &[statement]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{statement}: {err}");
        assert!(err.contains(expect) && err.lines().count() == 1, "{statement}: {err}");
        assert!(out.stdout.is_empty(), "{statement}");
    }
    assert_eq!(std::fs::read(&db).unwrap(), before, "the database changed");
    let count: i64 = open(&db).query_row("SELECT count(*) FROM passes", [], |r| r.get(0)).unwrap();
    assert_eq!(count, 2);
}
