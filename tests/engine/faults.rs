//! Faults that lose nothing, each one a test: signals mid-pass, a long
//! reader and a stuck writer while collect writes, a full disk, a database
//! from a newer stackwatch, a truncated database.
//!
//! "Nothing half-written" is checked the same way everywhere: SQLite's
//! integrity check passes, and every pass row has exactly the container,
//! volume and image samples its own counts say it wrote.

use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::*;
use rustix::process::Signal;

fn config(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("stackwatch.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn signal(child: &Child, sig: Signal) {
    rustix::process::kill_process(rustix::process::Pid::from_child(child), sig).unwrap();
}

fn rest(rx: mpsc::Receiver<String>) -> String {
    rx.into_iter().collect::<Vec<_>>().join("\n")
}

#[test]
fn a_signal_while_the_pass_is_written_leaves_no_partial_pass_and_says_so() {
    if !engine_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.db");
    collect(&db);
    for (sig, name) in [(Signal::TERM, "SIGTERM"), (Signal::INT, "SIGINT")] {
        let (mut child, rx) = paused_collect(&db, &[], "write", 1500);
        signal(&child, sig);
        let status = child.wait().unwrap();
        let err = rest(rx);
        assert_eq!(status.code(), Some(128 + sig.as_raw()), "{name}: {err}");
        assert_eq!(err.lines().count(), 1, "{name}: one line: {err}");
        assert!(err.contains(&format!("interrupted by {name}")) && err.contains("rolled back"), "{err}");
        assert_eq!(whole_passes(&db), 1, "{name}: the interrupted pass left nothing");
    }
    // A hard kill cannot be handled, and still leaves nothing half-written.
    let (mut child, rx) = paused_collect(&db, &[], "write", 5000);
    signal(&child, Signal::KILL);
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&child.wait().unwrap()), Some(Signal::KILL.as_raw()));
    drop(rx);
    assert_eq!(whole_passes(&db), 1);
    // And the next pass lands as usual.
    collect(&db);
    assert_eq!(whole_passes(&db), 2);
}

#[test]
fn a_signal_while_reading_the_engine_stops_at_once_and_creates_nothing() {
    if !engine_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.db");
    let (mut child, rx) = paused_collect(&db, &[], "engine", 20_000);
    let t = Instant::now();
    signal(&child, Signal::TERM);
    let status = child.wait().unwrap();
    let err = rest(rx);
    assert!(t.elapsed() < Duration::from_secs(5), "stopped promptly: {:?}", t.elapsed());
    assert_eq!(status.code(), Some(143), "{err}");
    assert!(err.contains("interrupted by SIGTERM") && err.contains("nothing was recorded"), "{err}");
    assert!(!db.exists(), "no database was created");
}

#[test]
fn a_long_read_does_not_keep_the_pass_from_landing() {
    if !engine_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.db");
    collect(&db);
    // An ad-hoc query holding a read transaction open, as a sqlite3 shell
    // in the middle of a long SELECT would.
    let reader = rusqlite::Connection::open(&db).unwrap();
    reader.execute_batch("BEGIN").unwrap();
    let seen: i64 = reader.query_row("SELECT count(*) FROM container_history", [], |r| r.get(0)).unwrap();
    let passes = |c: &rusqlite::Connection| c.query_row("SELECT count(*) FROM passes", [], |r| r.get::<_, i64>(0));
    assert_eq!(passes(&reader).unwrap(), 1);

    let cfg = config(dir.path(), "[database]\nbusy_timeout = \"5s\"\n");
    let t = Instant::now();
    let out =
        bin().args(["collect", "--db", db.to_str().unwrap(), "--config", cfg.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(t.elapsed() < Duration::from_secs(5), "within the busy timeout: {:?}", t.elapsed());
    // The reader's snapshot is undisturbed; once it ends it sees the new pass.
    assert_eq!(passes(&reader).unwrap(), 1);
    let again: i64 = reader.query_row("SELECT count(*) FROM container_history", [], |r| r.get(0)).unwrap();
    assert_eq!(again, seen);
    reader.execute_batch("COMMIT").unwrap();
    assert_eq!(passes(&reader).unwrap(), 2);
    assert_eq!(whole_passes(&db), 2);
}

#[test]
fn a_writer_holding_the_database_is_waited_for_then_reported_clearly() {
    if !engine_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.db");
    collect(&db);

    // Held for a second, well inside the busy timeout: the pass waits and lands.
    let path = db.clone();
    let holder = std::thread::spawn(move || {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch("BEGIN IMMEDIATE").unwrap();
        std::thread::sleep(Duration::from_millis(1000));
        c.execute_batch("COMMIT").unwrap();
    });
    std::thread::sleep(Duration::from_millis(200));
    let cfg = config(dir.path(), "[database]\nbusy_timeout = \"20s\"\n");
    let out =
        bin().args(["collect", "--db", db.to_str().unwrap(), "--config", cfg.to_str().unwrap()]).output().unwrap();
    holder.join().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(whole_passes(&db), 2);

    // Held past the busy timeout: one clear line, nothing written.
    let blocker = rusqlite::Connection::open(&db).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let cfg = config(dir.path(), "[database]\nbusy_timeout = \"1s\"\n");
    let out =
        bin().args(["collect", "--db", db.to_str().unwrap(), "--config", cfg.to_str().unwrap()]).output().unwrap();
    blocker.execute_batch("ROLLBACK").unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("locked") && err.contains("busy_timeout"), "{err}");
    assert_eq!(whole_passes(&db), 2);
}

/// A small tmpfs mounted for one test, unmounted on drop.
struct Mount {
    dir: tempfile::TempDir,
}

impl Mount {
    fn tmpfs(size: &str) -> Option<Mount> {
        if !rustix::process::geteuid().is_root() {
            if std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false") {
                panic!("CI is set but this test needs root to mount a small filesystem");
            }
            skipping("mounting a small filesystem needs root (set CI=true to make this a failure)");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs", dir.path().to_str().unwrap()])
            .output()
            .unwrap();
        assert!(out.status.success(), "mount tmpfs: {}", String::from_utf8_lossy(&out.stderr));
        Some(Mount { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills the filesystem, leaving about `leave` bytes.
    fn fill(&self, leave: u64) -> PathBuf {
        let filler = self.path().join("filler");
        let mut f = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 4096];
        loop {
            if available_bytes(self.path()) <= leave + 4096 {
                break;
            }
            if std::io::Write::write_all(&mut f, &chunk).is_err() {
                break;
            }
        }
        let _ = f.sync_all();
        filler
    }
}

/// Bytes an unprivileged writer can still use on the filesystem holding `p`.
fn available_bytes(p: &Path) -> u64 {
    let st = rustix::fs::statvfs(p).unwrap();
    st.f_bavail * st.f_frsize
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(self.dir.path()).output();
    }
}

#[test]
fn a_full_disk_is_one_clear_line_and_every_earlier_pass_stays_readable() {
    if !engine_available() {
        return;
    }
    let Some(fs) = Mount::tmpfs("2m") else { return };
    let db = fs.path().join("history.db");
    collect(&db);
    collect(&db);
    let projects = tempfile::tempdir().unwrap();

    // Nearly full (a little room, so the write itself may run out), then full.
    let mut failed = 0;
    let mut expected = 2;
    for leave in [40_000, 0] {
        let filler = fs.fill(leave);
        let out = bin().args(["collect", "--db", db.to_str().unwrap()]).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        if out.status.success() {
            expected += 1; // it fit after all
        } else {
            failed += 1;
            assert_eq!(out.status.code(), Some(1), "{err}");
            assert_eq!(err.trim().lines().count(), 1, "{err}");
            assert!(err.contains("is full") && err.contains("free space there"), "names the fix: {err}");
            assert!(err.contains(fs.path().to_str().unwrap()), "names the place: {err}");
        }
        // Readable while the disk is still full: the report (and so the views).
        let report = bin()
            .args(["report", "--db", db.to_str().unwrap(), "--no-vault", "--projects"])
            .arg(projects.path())
            .output()
            .unwrap();
        assert!(report.status.success(), "{}", String::from_utf8_lossy(&report.stderr));
        assert!(String::from_utf8_lossy(&report.stdout).contains("## Sibling Stacks"));
        std::fs::remove_file(filler).unwrap();
        assert_eq!(whole_passes(&db), expected, "leaving {leave} bytes: {err}");
    }
    assert!(failed >= 1, "a full filesystem must make the pass fail");
    // Space again: the next pass lands.
    collect(&db);
}

#[test]
fn a_database_from_a_newer_stackwatch_is_refused_untouched() {
    if !engine_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.db");
    collect(&db);
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute(
            "INSERT INTO refinery_schema_history (version, name, applied_on, checksum) VALUES (99, 'future', '', '0')",
            [],
        )
        .unwrap();
    }
    let before = std::fs::read(&db).unwrap();
    for args in [&["collect"][..], &["report", "--no-vault"][..], &["prune", "--apply"][..]] {
        let out = bin().args(args).args(["--db", db.to_str().unwrap()]).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        if args[0] == "prune" && out.status.success() {
            // Nothing labelled on the engine: prune refuses before the database.
            continue;
        }
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        if args[0] != "prune" {
            assert!(err.contains("schema version 99") && err.contains("upgrade stackwatch"), "{args:?}: {err}");
        }
        assert_eq!(std::fs::read(&db).unwrap(), before, "{args:?} changed the file");
        for side in ["-wal", "-shm"] {
            assert!(!Path::new(&format!("{}{side}", db.display())).exists(), "{args:?} left {side}");
        }
    }
}

#[test]
fn a_truncated_database_is_refused_untouched() {
    if !engine_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.db");
    collect(&db);
    let full = std::fs::read(&db).unwrap();
    let cut = &full[..full.len() / 2];
    std::fs::write(&db, cut).unwrap();
    for args in [&["collect"][..], &["report", "--no-vault"][..]] {
        let out = bin().args(args).args(["--db", db.to_str().unwrap()]).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains("truncated") && err.contains("left untouched"), "{err}");
        assert_eq!(std::fs::read(&db).unwrap(), cut);
    }
}
