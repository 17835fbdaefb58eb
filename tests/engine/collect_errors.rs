//! Bad input gets one clear line, a non-zero exit, and loses nothing.

use crate::common::*;

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[test]
fn unreachable_engine_names_the_socket_and_leaves_no_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.db");
    let out = bin()
        .args(["collect", "--db", db.to_str().unwrap(), "--docker-host", "unix:///nonexistent/docker.sock"])
        .output()
        .unwrap();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("/nonexistent/docker.sock") && err.contains("is dockerd running"), "{err}");
    assert!(!db.exists(), "the database must not be created when the engine is unreachable");
}

#[test]
fn refused_tcp_engine_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.db");
    // Port 1 on loopback: nothing listens there.
    let out =
        bin().args(["collect", "--db", db.to_str().unwrap(), "--docker-host", "tcp://127.0.0.1:1"]).output().unwrap();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("tcp://127.0.0.1:1") && err.contains("connection refused"), "{err}");
    assert!(!db.exists());
}

#[test]
fn denied_socket_explains_the_docker_group() {
    if !engine_available() {
        return;
    }
    if !rustix::process::geteuid().is_root() {
        // As a user outside the docker group the plain run would show the
        // same, but we cannot know which we are; root can drop to nobody.
        skipping("needs root to run as an unprivileged user");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let db = dir.path().join("history.db");
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", env!("CARGO_BIN_EXE_stackwatch")])
        .args(["collect", "--db", db.to_str().unwrap(), "--docker-host", "unix:///var/run/docker.sock"])
        .output()
        .unwrap();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("permission denied") && err.contains("docker` group"), "{err}");
    assert!(err.contains("/var/run/docker.sock"), "{err}");
    assert!(!db.exists());
}

#[test]
fn a_file_that_is_not_a_database_is_refused_byte_for_byte_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("notes.txt");
    let text = b"my precious notes\n".repeat(500);
    std::fs::write(&db, &text).unwrap();
    let out = bin()
        .args(["collect", "--db", db.to_str().unwrap(), "--docker-host", "unix:///nonexistent.sock"])
        .output()
        .unwrap();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("is not a SQLite database"), "refused before the engine is asked: {err}");
    assert_eq!(std::fs::read(&db).unwrap(), text);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.contains("-wal") || n.contains("-shm") || n.contains("-journal"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_foreign_sqlite_database_is_refused_untouched() {
    if !engine_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch("CREATE TABLE users(name); INSERT INTO users VALUES ('ada');").unwrap();
    }
    let before = std::fs::read(&db).unwrap();
    let out = bin().args(["collect", "--db", db.to_str().unwrap()]).output().unwrap();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("stackwatch did not create"), "{err}");
    assert_eq!(std::fs::read(&db).unwrap(), before);
}

#[test]
fn an_unwritable_database_directory_is_a_clear_error() {
    {
        // A path under a regular file is unwritable for everyone, root included.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("plain-file");
        std::fs::write(&file, "x").unwrap();
        let db = file.join("history.db");
        let out = bin()
            .args(["collect", "--db", db.to_str().unwrap(), "--docker-host", "unix:///nonexistent.sock"])
            .output()
            .unwrap();
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(1));
        assert!(err.contains("cannot") && err.contains("plain-file"), "{err}");
        assert_eq!(std::fs::read(&file).unwrap(), b"x");
    }
}

#[test]
fn bad_config_names_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("stackwatch.toml");
    std::fs::write(&cfg, "[docker]\nconcurrency = 4\ntimout = \"5s\"\n").unwrap();
    let out = bin()
        .args(["collect", "--config", cfg.to_str().unwrap(), "--db", dir.path().join("h.db").to_str().unwrap()])
        .output()
        .unwrap();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("stackwatch.toml line 3") && err.contains("docker.timout"), "{err}");
    assert!(!dir.path().join("h.db").exists());
}

#[test]
fn a_busy_timeout_sqlite_cannot_take_is_one_line_in_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    drop(stackwatch::store::open_for_write(&db, std::time::Duration::from_secs(1)).unwrap());
    let cfg = dir.path().join("stackwatch.toml");
    // 25 days: over the 2^31 - 1 milliseconds SQLite's busy timeout holds.
    std::fs::write(&cfg, "[database]\nbusy_timeout = \"25d\"\n").unwrap();
    let before = std::fs::read(&db).unwrap();
    for cmd in [&["collect"][..], &["report", "--no-vault"], &["doctor"], &["sql", "SELECT 1"], &["metrics"]] {
        let out = bin()
            .args(cmd)
            .args(["--config", cfg.to_str().unwrap(), "--db", db.to_str().unwrap()])
            .args(if cmd[0] == "collect" || cmd[0] == "doctor" {
                &["--docker-host", "unix:///nonexistent.sock"][..]
            } else {
                &[][..]
            })
            .output()
            .unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr_of(&out));
        assert_eq!(out.status.code(), Some(1), "{cmd:?}: {text}");
        assert!(!text.contains("panicked"), "{cmd:?}: {text}");
        assert!(text.contains("key `database.busy_timeout`: must be at most 24d"), "{cmd:?}: {text}");
        if cmd[0] != "doctor" {
            assert_eq!(stderr_of(&out).trim().lines().count(), 1, "{cmd:?}: {text}");
        }
    }
    assert_eq!(std::fs::read(&db).unwrap(), before, "the history is untouched");
}

/// The names in `dir`, sorted.
fn listing(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().to_string()).collect();
    names.sort();
    names
}

#[test]
fn a_refused_database_gets_no_lock_file_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let foreign = dir.path().join("app.db");
    {
        let c = rusqlite::Connection::open(&foreign).unwrap();
        c.execute_batch("PRAGMA journal_mode = DELETE; CREATE TABLE users(name); INSERT INTO users VALUES ('ada');")
            .unwrap();
    }
    let newer = dir.path().join("newer.db");
    drop(stackwatch::store::open_for_write(&newer, std::time::Duration::from_secs(1)).unwrap());
    {
        let c = rusqlite::Connection::open(&newer).unwrap();
        c.execute_batch(
            "INSERT INTO refinery_schema_history (version, name, applied_on, checksum) VALUES (999, 'future', '', '0');
             PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode = DELETE;",
        )
        .unwrap();
    }
    let files = listing(dir.path());
    for (db, why) in [(&foreign, "stackwatch did not create"), (&newer, "newer than this stackwatch")] {
        let before = std::fs::read(db).unwrap();
        for cmd in [&["collect", "--docker-host", "unix:///nonexistent.sock"][..], &["compact"]] {
            let out = bin().args(cmd).args(["--db", db.to_str().unwrap()]).output().unwrap();
            let err = stderr_of(&out);
            assert_eq!(out.status.code(), Some(1), "{cmd:?}: {err}");
            assert!(err.contains(why), "{cmd:?} refuses {} first: {err}", db.display());
            assert_eq!(listing(dir.path()), files, "{cmd:?} on {}: nothing left beside it", db.display());
            assert_eq!(&std::fs::read(db).unwrap(), &before);
        }
    }
}
