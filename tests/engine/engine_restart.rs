//! The engine restarting in the middle of a pass: the pass completes or
//! fails cleanly, never half-written.
//!
//! The shared engine other tests use must never be restarted, so this test
//! starts a private `dockerd` of its own (own socket, data root, exec root,
//! pid file and managed containerd in a temporary directory; no bridge, no
//! iptables, the `vfs` driver) in a network namespace of its own, and stops
//! it in a Drop guard. It needs root, `dockerd` and `unshare`; without them
//! it skips locally and fails under CI.

use crate::common::*;

/// A private engine with the `vfs` driver; stopped (and its files
/// removed) on drop. None (a skip) where one cannot be started.
fn private_engine() -> Option<PrivateEngine> {
    PrivateEngine::possible(&[])
        .then(|| PrivateEngine::builder("private", "swtdockerd").arg("--storage-driver=vfs").start())
}

#[test]
fn the_engine_restarting_mid_pass_leaves_a_whole_pass_or_none() {
    if !engine_available() {
        return;
    }
    let Some(mut engine) = private_engine() else { return };
    let host = engine.host();
    // Something to sample: the busybox image, created containers and volumes
    // (nothing needs to run, so no network or cgroup set-up is involved).
    engine.load(image());
    for i in 0..3 {
        engine.docker(&["volume", "create", &format!("vol{i}")]);
        engine.docker(&[
            "create",
            "--name",
            &format!("c{i}"),
            "--network",
            "none",
            "-v",
            &format!("vol{i}:/d"),
            image(),
            "true",
        ]);
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.db");
    let out = bin().args(["collect", "--db", db.to_str().unwrap(), "--docker-host", &host]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(whole_passes(&db), 1);
    let sampled: i64 = open(&db).query_row("SELECT containers FROM passes", [], |r| r.get(0)).unwrap();
    assert_eq!(sampled, 3);

    // 1. The engine goes away mid-pass and is still down when the pass
    //    resumes: the pass fails cleanly, one line, nothing recorded.
    let (mut child, rx) = paused_collect(&db, &["--docker-host", &host], "engine", 1500);
    engine.stop();
    let status = child.wait().unwrap();
    let err = rx.into_iter().filter(|l| !l.contains("fault:")).collect::<Vec<_>>().join("\n");
    assert_eq!(status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains(&host), "names the engine: {err}");
    assert_eq!(whole_passes(&db), 1);

    // 2. The engine restarts mid-pass and is back before the pass resumes:
    //    the pass either completes, whole, or fails cleanly (a connection
    //    the restart cut), never half-written.
    engine.launch();
    let (mut child, rx) = paused_collect(&db, &["--docker-host", &host], "engine", 8000);
    engine.stop();
    engine.launch();
    let status = child.wait().unwrap();
    let err = rx.into_iter().filter(|l| !l.contains("fault:")).collect::<Vec<_>>().join("\n");
    let passes = whole_passes(&db);
    eprintln!("engine restarted mid-pass: the pass {}", if status.success() { "completed" } else { "failed cleanly" });
    if status.success() {
        assert_eq!(passes, 2, "{err}");
        let last: i64 =
            open(&db).query_row("SELECT containers FROM passes ORDER BY id DESC LIMIT 1", [], |r| r.get(0)).unwrap();
        assert_eq!(last, 3, "the containers survived the restart and were all sampled: {err}");
    } else {
        assert_eq!(status.code(), Some(1), "{err}");
        assert!(err.lines().filter(|l| l.contains("error:")).count() == 1, "{err}");
        assert_eq!(passes, 1, "{err}");
    }
    // And the engine is usable again.
    let out = bin().args(["collect", "--db", db.to_str().unwrap(), "--docker-host", &host]).output().unwrap();
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stderr), engine.log_tail(10));
    assert_eq!(whole_passes(&db), passes + 1);
}
