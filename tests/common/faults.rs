//! The fault tests' shared checks: is every pass whole, and a collect
//! stopped at a fault pause (`STACKWATCH_FAULT_PAUSE`).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::{bin, open};

/// Passes in `db` (0 when there is no file yet), after checking that each
/// one is whole: SQLite's integrity check passes, every pass row has exactly
/// the container, volume and image samples its own counts say it wrote, and
/// no row outlives its pass.
pub fn whole_passes(db: &Path) -> i64 {
    if !db.exists() {
        return 0;
    }
    let c = open(db);
    let ok: String = c.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(ok, "ok");
    let broken: Vec<(i64, i64, i64, i64, i64, i64, i64)> = c
        .prepare(
            "SELECT p.id, p.containers, (SELECT count(*) FROM container_samples
                     WHERE sample_key BETWEEN p.id << 32 AND (p.id << 32) + 4294967295),
                    p.volumes, (SELECT count(*) FROM volume_history WHERE pass_id = p.id),
                    p.images, (SELECT count(*) FROM image_history WHERE pass_id = p.id)
             FROM passes p",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)))
        .unwrap()
        .map(Result::unwrap)
        .filter(|(_, c, cs, v, vs, i, is)| c != cs || v != vs || i != is)
        .collect();
    assert!(broken.is_empty(), "half-written passes: {broken:?}");
    let orphans: i64 = c
        .query_row(
            "SELECT (SELECT count(*) FROM stack_samples WHERE pass_id NOT IN (SELECT id FROM passes))
                  + (SELECT count(*) FROM container_samples WHERE pass_id NOT IN (SELECT id FROM passes))
                  + (SELECT count(*) FROM container_states WHERE pass_id NOT IN (SELECT id FROM passes))
                  + (SELECT count(*) FROM volume_states WHERE pass_id NOT IN (SELECT id FROM passes))
                  + (SELECT count(*) FROM volume_sizes WHERE pass_id NOT IN (SELECT id FROM passes))
                  + (SELECT count(*) FROM image_states WHERE pass_id NOT IN (SELECT id FROM passes))
                  + (SELECT count(*) FROM image_stacks WHERE pass_id NOT IN (SELECT id FROM passes))",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(orphans, 0, "samples without their pass");
    c.query_row("SELECT count(*) FROM passes", [], |r| r.get(0)).unwrap()
}

/// A collect (with `args` added) that pauses at `stage`, started and waited
/// for until it says so; its stderr lines follow on the receiver.
pub fn paused_collect(db: &Path, args: &[&str], stage: &str, ms: u64) -> (Child, mpsc::Receiver<String>) {
    let mut child = bin()
        .args(["collect", "--db", db.to_str().unwrap()])
        .args(args)
        .env("STACKWATCH_FAULT_PAUSE", format!("{stage}:{ms}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let marker = format!("fault: paused at {stage}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) if l.contains(&marker) => break,
            Ok(_) => {}
            Err(e) => panic!("collect never reached {stage}: {e}"),
        }
    }
    (child, rx)
}
