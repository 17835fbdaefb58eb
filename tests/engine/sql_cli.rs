//! `stackwatch sql` on a history collected from the real engine: queries
//! answer in every format, and nothing that writes gets through.

use std::path::Path;
use std::process::Output;

use crate::common::*;

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

/// An empty history, made by the library (no engine needed).
fn empty_history() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.db");
    drop(stackwatch::store::open_for_write(&db, std::time::Duration::from_secs(1)).unwrap());
    (dir, db)
}

#[test]
fn pragma_reads_answer_and_pragma_writes_are_refused() {
    let (_dir, db) = empty_history();
    let out = sql(&db, &["PRAGMA journal_mode"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "journal_mode\n------------\nwal\n(1 row)\n");
    let out = sql(&db, &["PRAGMA journal_mode = DELETE"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("would write"));
    let mode: String = open(&db).query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn a_runaway_query_stops_at_its_timeout_with_one_line() {
    let (_dir, db) = empty_history();
    let forever = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r";
    // Killed on drop: without a time limit the query would never end.
    let mut child = KillOnDrop(
        bin()
            .args(["sql", "--db", db.to_str().unwrap(), "--timeout", "1s", forever])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let status =
        wait_for("the query to be stopped", std::time::Duration::from_secs(30), || child.0.try_wait().unwrap());
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.0.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("stopped after 1s (--timeout)"), "{err}");
}

#[test]
fn a_huge_table_streams_in_bounded_memory() {
    if !tool_available("prlimit", &["--version"], "util-linux") {
        return;
    }
    let (_dir, db) = empty_history();
    // 200,000 rows with a 1000-character cell: holding them all to align
    // the columns takes about 300 MB (the value and its shown form).
    let rows = 200_000;
    let query = format!(
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r LIMIT {rows}) \
         SELECT n, printf('%.1000c', 'y') AS t FROM r"
    );
    // 100 MB of heap: ample for a table that streams.
    let out = std::process::Command::new("prlimit")
        .arg("--data=100000000")
        .arg(env!("CARGO_BIN_EXE_stackwatch"))
        .args(["sql", "--db", db.to_str().unwrap(), &query])
        .output()
        .unwrap();
    assert!(out.status.success(), "{:?}: {}", out.status, String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().last(), Some(format!("({rows} rows)").as_str()));
    assert_eq!(text.lines().count(), rows + 3);
}
