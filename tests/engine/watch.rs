//! `stackwatch watch` beside `collect` on the real engine: every event is
//! stored once, whoever saw it first, and SIGTERM loses nothing received.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStderr, Command, Stdio};
use std::time::Duration;

use crate::common::*;

/// (action, source) of a container's stored events, oldest first.
fn events_of(db: &Path, container: &str) -> Vec<(String, String)> {
    let conn = open(db);
    let mut st = conn
        .prepare("SELECT action, source FROM container_events WHERE container = ?1 ORDER BY at_ns, action")
        .unwrap();
    st.query_map([container], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
}

/// Runs a container to exit `code`, then removes it.
fn job(clean: &mut Cleanup, name: &str, code: i32) {
    clean.container(name);
    let status = Command::new("docker")
        .args(["run", "--name", name, "--network", "none", image(), "sh", "-c", &format!("exit {code}")])
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(code));
    docker(&["rm", name]);
}

/// A watcher on `db`, once it says it is watching.
fn start(db: &Path, args: &[&str]) -> (Child, BufReader<ChildStderr>) {
    let mut watcher =
        bin().args(["watch", "--db", db.to_str().unwrap()]).args(args).stderr(Stdio::piped()).spawn().unwrap();
    let mut stderr = BufReader::new(watcher.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert!(line.contains("watching the events of"), "{line}");
    (watcher, stderr)
}

/// SIGTERM to a watcher: it exits 0; its remaining output goes to `rest`.
fn stop(mut watcher: Child, stderr: &mut BufReader<ChildStderr>, rest: &mut String) {
    let killed = Command::new("kill").args(["-TERM", &watcher.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let status = watcher.wait().unwrap();
    rest.clear();
    std::io::Read::read_to_string(stderr, rest).unwrap();
    assert!(status.success(), "watch exits 0 on SIGTERM: {status:?} {rest}");
}

#[test]
fn watch_beside_collect_stores_each_event_once_and_sigterm_loses_nothing() {
    if !engine_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.db");
    collect(&db);

    let (watcher, mut stderr) = start(&db, &[]);

    let mut clean = Cleanup::default();
    let first = unique("watchjob");
    job(&mut clean, &first, 3);
    // The watcher writes within a second; the pass after it reads the
    // same events from the engine and must add none.
    wait_for("the watcher to store the job's events", Duration::from_secs(10), || {
        (events_of(&db, &first).len() == 3).then_some(())
    });
    collect(&db);
    let seen = events_of(&db, &first);
    let want: Vec<(String, String)> =
        ["start", "die", "destroy"].iter().map(|a| (a.to_string(), "watch".to_string())).collect();
    assert_eq!(seen, want, "stored once each, by the watcher that saw them first");

    // SIGTERM: the watcher writes what it has and exits 0.
    let mut rest = String::new();
    stop(watcher, &mut stderr, &mut rest);

    // Events still in a watcher's batch when SIGTERM arrives are written:
    // a watcher that writes once a minute, stopped a moment after the job.
    let (watcher, mut stderr) = start(&db, &["--flush-every", "60s"]);
    let second = unique("watchjob");
    job(&mut clean, &second, 4);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(events_of(&db, &second).len(), 0, "nothing written before the minute is up");
    stop(watcher, &mut stderr, &mut rest);
    assert!(rest.contains("events stored"), "{rest}");
    let seen: Vec<String> = events_of(&db, &second).into_iter().map(|e| e.0).collect();
    assert_eq!(seen, ["start", "die", "destroy"], "nothing received is lost");
    let code: i64 = open(&db)
        .query_row("SELECT exit_code FROM container_events WHERE container = ?1 AND action = 'die'", [&second], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(code, 4);
}

#[test]
fn watch_across_an_engine_restart_reconnects_and_records_the_gap() {
    // The shared engine must never be restarted: a private one of this
    // test's own (see tests/engine_restart.rs).
    if !engine_available() {
        return;
    }
    let Some(mut engine) = PrivateEngine::possible(&[])
        .then(|| PrivateEngine::builder("private", "swtwatchd").arg("--storage-driver=vfs").start())
    else {
        return;
    };
    let host = engine.host();
    engine.load(image());
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.db");
    let out = bin().args(["collect", "--db", db.to_str().unwrap(), "--docker-host", &host]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let (watcher, mut stderr) = start(&db, &["--docker-host", &host]);
    // Created and removed (nothing needs to run): a destroy event.
    let removed = |engine: &PrivateEngine, name: &str| {
        engine.docker(&["create", "--name", name, "--network", "none", image(), "true"]);
        engine.docker(&["rm", name]);
        wait_for("the watcher to store the destroy event", Duration::from_secs(30), || {
            events_of(&db, name).contains(&("destroy".to_string(), "watch".to_string())).then_some(())
        });
    };
    removed(&engine, "before");
    engine.stop();
    engine.launch();
    removed(&engine, "after");
    let mut rest = String::new();
    stop(watcher, &mut stderr, &mut rest);
    assert!(rest.contains("lost the event stream"), "{rest}");

    // The watcher's first read may note the fresh engine's list starting
    // after the pass; the reconnect is what this test is about.
    let (from, to): (i64, i64) = open(&db)
        .query_row("SELECT from_ns, to_ns FROM event_gaps WHERE reason = 'reconnect'", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    let before: i64 =
        open(&db).query_row("SELECT at_ns FROM container_events WHERE container = 'before'", [], |r| r.get(0)).unwrap();
    let after: i64 =
        open(&db).query_row("SELECT at_ns FROM container_events WHERE container = 'after'", [], |r| r.get(0)).unwrap();
    assert!(before <= from && from < to && to <= after, "the gap lies between: {before} {from} {to} {after}");
}
