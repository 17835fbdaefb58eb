//! What happened between passes, from the engine's events: OOM kills under
//! `restart: always`, a job that came and went, and the engine's bounded
//! event log overflowing between two passes.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;

/// (action, exit_code, oom) of a container's stored events, oldest first.
fn events_of(db: &Path, container: &str) -> Vec<(String, Option<i64>, i64)> {
    let conn = open(db);
    let mut st = conn
        .prepare("SELECT action, exit_code, oom FROM container_events WHERE container = ?1 ORDER BY at_ns, action")
        .unwrap();
    st.query_map([container], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().map(Result::unwrap).collect()
}

fn pass_start(db: &Path) -> i64 {
    open(db).query_row("SELECT MAX(sampled_unix) FROM pass_log", [], |r| r.get(0)).unwrap()
}

#[test]
fn a_job_that_ran_failed_and_was_removed_between_two_passes_is_recorded_with_its_exit_code() {
    if !engine_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.db");
    collect(&db);

    let mut clean = Cleanup::default();
    let job = unique("job");
    clean.container(&job);
    let status = Command::new("docker")
        .args(["run", "--name", &job, "--network", "none", "--label", "com.docker.compose.project=harbjob"])
        .args(["--label", "com.docker.compose.service=migrate", image(), "sh", "-c", "exit 3"])
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(3));
    docker(&["rm", &job]);
    collect(&db);

    let events = events_of(&db, &job);
    let actions: Vec<&str> = events.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(actions, ["start", "die", "destroy"], "{events:?}");
    assert_eq!(events[1].1, Some(3), "the die event carries the exit code");
    let (stack, service, source): (String, String, String) = open(&db)
        .query_row(
            "SELECT stack, service, source FROM container_events WHERE container = ?1 AND action = 'die'",
            [&job],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((stack.as_str(), service.as_str(), source.as_str()), ("harbjob", "migrate", "collect"));
    let seen: i64 = open(&db)
        .query_row("SELECT count(*) FROM latest_containers WHERE container = ?1", [&job], |r| r.get(0))
        .unwrap();
    assert_eq!(seen, 0, "no pass saw the container itself");

    // The next pass reads the same events again (it looks back to the start
    // of the previous one): each is stored once.
    collect(&db);
    assert_eq!(events_of(&db, &job), events);
}

#[test]
fn more_events_between_two_passes_than_the_engine_keeps_are_recorded_as_a_gap() {
    if !engine_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.db");
    collect(&db);
    let since = pass_start(&db);

    // Each healthcheck is three events (exec_create, exec_start, exec_die):
    // a fast one fills the engine's list of a few hundred in seconds.
    let mut clean = Cleanup::default();
    let busy = unique("busy");
    clean.container(&busy);
    docker(&[
        "run",
        "-d",
        "--name",
        &busy,
        "--network",
        "none",
        "--health-cmd",
        "true",
        "--health-interval",
        "50ms",
        image(),
        "sleep",
        "3600",
    ]);
    let oldest = || -> i64 {
        let until = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let out = docker(&["events", "--since", "1", "--until", &until.to_string(), "--format", "{{.TimeNano}}"]);
        out.lines().next().and_then(|l| l.trim().parse().ok()).unwrap_or(0)
    };
    let oldest =
        wait_for("the engine's event list to drop the events of the first pass", Duration::from_secs(90), || {
            let o = oldest();
            (o > since * 1_000_000_000).then_some(o)
        });
    collect(&db);

    let (from, to, reason): (i64, i64, String) = open(&db)
        .query_row("SELECT from_ns, to_ns, reason FROM event_gaps", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap();
    assert_eq!(reason, "overflow");
    assert_eq!(from, since * 1_000_000_000, "missing from the previous pass");
    assert!(to >= oldest, "up to the oldest event the engine still held: {to} vs {oldest}");
}
