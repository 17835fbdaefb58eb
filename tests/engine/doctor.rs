//! `stackwatch doctor` on the real engine: every check passes on a good
//! set-up, and each broken piece is one FAIL line with its fix and a
//! non-zero exit.

use std::path::Path;
use std::process::Output;

use crate::common::*;

fn lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
}

fn line<'a>(lines: &'a [String], check: &str) -> &'a str {
    lines
        .iter()
        .find(|l| l[6..].starts_with(&format!("{check}: ")))
        .unwrap_or_else(|| panic!("no {check} line: {lines:#?}"))
}

/// A complete, healthy set-up in `dir`.
fn setup(dir: &Path) -> Vec<String> {
    let projects = dir.join("projects");
    std::fs::create_dir(&projects).unwrap();
    std::fs::write(projects.join("harb.toml"), "name = \"harb\"\n[siblings]\nstacks = [\"harb\"]\n").unwrap();
    std::fs::write(dir.join("stackwatch.toml"), "[docker]\nconcurrency = 4\n").unwrap();
    std::fs::create_dir_all(dir.join("ops/knowledge")).unwrap();
    let s = |p: &str| dir.join(p).to_str().unwrap().to_string();
    vec![
        "doctor".into(),
        "--db".into(),
        s("state/history.db"),
        "--config".into(),
        s("stackwatch.toml"),
        "--projects".into(),
        s("projects"),
        "--knowledge".into(),
        s("ops/knowledge/sibling-stacks.md"),
        "--vault".into(),
        s("ops/vault/pending"),
    ]
}

#[test]
fn a_healthy_setup_passes_every_check() {
    if !engine_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let args = setup(dir.path());
    let out = bin().args(&args).output().unwrap();
    let l = lines(&out);
    assert!(out.status.success(), "{l:#?}\n{}", String::from_utf8_lossy(&out.stderr));
    for check in ["config", "socket", "engine", "docker root", "database", "projects", "knowledge", "vault"] {
        assert!(line(&l, check).starts_with("ok  "), "{check}: {l:#?}");
    }
    assert!(line(&l, "engine").contains("API 1.") && line(&l, "engine").contains("Docker"), "{l:#?}");
    assert!(line(&l, "docker root").contains("sizing method: walk"), "as root on the host sizes are walked: {l:#?}");
    assert!(line(&l, "database").contains("can be created"), "{l:#?}");
    assert!(line(&l, "projects").contains("1 project files valid"), "{l:#?}");
    assert!(l.last().unwrap().starts_with("all 8 checks passed"), "{l:#?}");
    assert!(!dir.path().join("state").exists(), "doctor only looks: {l:#?}");

    // With history: the schema version and the passes.
    let db = dir.path().join("state/history.db");
    collect(&db);
    let out = bin().args(&args).output().unwrap();
    let l = lines(&out);
    assert!(out.status.success(), "{l:#?}");
    let schema = format!("schema {0} of {0}", stackwatch::store::schema_version());
    assert!(line(&l, "database").contains(&schema) && line(&l, "database").contains("1 passes"), "{l:#?}");
}

#[test]
fn each_broken_piece_is_a_fail_line_with_its_fix() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = setup(dir.path());
    // Unreachable engine, a database path under a regular file, a project
    // file with a typo in stackwatch's section, a config with a bad value,
    // a knowledge file in a directory that is a file.
    std::fs::write(dir.path().join("plain-file"), "x").unwrap();
    std::fs::write(dir.path().join("projects/kiln.toml"), "[siblings]\nstack = [\"kiln\"]\n").unwrap();
    std::fs::write(dir.path().join("stackwatch.toml"), "[docker]\nconcurrency = 0\n").unwrap();
    let s = |p: &str| dir.path().join(p).to_str().unwrap().to_string();
    args[2] = s("plain-file/history.db");
    args[8] = s("plain-file/sibling-stacks.md");
    args.extend(["--docker-host".into(), "unix:///nonexistent/docker.sock".into()]);
    let out = bin().args(&args).output().unwrap();
    let l = lines(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{l:#?}\n{err}");
    assert!(err.contains("checks failed"), "{err}");
    let fail = |check: &str, needles: &[&str]| {
        let text = line(&l, check);
        assert!(text.starts_with("FAIL"), "{check}: {text}");
        for n in needles {
            assert!(text.contains(n), "{check} should mention {n:?}: {text}");
        }
    };
    fail("config", &["line 2", "docker.concurrency", "between 1 and 256"]);
    fail("socket", &["/nonexistent/docker.sock", "start dockerd"]);
    fail("engine", &["/nonexistent/docker.sock", "is dockerd running"]);
    fail("database", &["plain-file", "irectory", "--db"]);
    fail("projects", &["kiln.toml", "line 2", "siblings.stack", "unknown field"]);
    fail("knowledge", &["plain-file", "not a directory", "--knowledge"]);
    assert!(line(&l, "vault").starts_with("ok"), "the vault itself is fine: {l:#?}");
    assert_eq!(std::fs::read(dir.path().join("plain-file")).unwrap(), b"x");
}

#[test]
fn an_unprivileged_user_is_told_about_the_socket_and_the_database() {
    if !engine_available() {
        return;
    }
    if !rustix::process::geteuid().is_root() {
        skipping("needs root to run as an unprivileged user");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut args = setup(dir.path());
    // Readable by everyone, writable by root only: the database cannot be created there.
    for p in [dir.path(), &dir.path().join("projects")] {
        std::fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    std::fs::set_permissions(dir.path().join("stackwatch.toml"), std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .unwrap();
    args.truncate(7); // db, config, projects
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", env!("CARGO_BIN_EXE_stackwatch")])
        .args(&args)
        .env_remove("OPS_REPO_ROOT")
        .env_remove("OPS_VAULT_ROOT")
        .env_remove("OPS_KNOWLEDGE_ROOT")
        .output()
        .unwrap();
    let l = lines(&out);
    assert_eq!(out.status.code(), Some(1), "{l:#?}");
    let socket = line(&l, "socket");
    assert!(
        socket.starts_with("FAIL") && socket.contains("not usable by this user") && socket.contains("usermod"),
        "{socket}"
    );
    let engine = line(&l, "engine");
    assert!(engine.starts_with("FAIL") && engine.contains("docker` group"), "{engine}");
    let db = line(&l, "database");
    assert!(db.starts_with("FAIL") && db.contains("not writable by this user") && db.contains("--db"), "{db}");
    assert!(line(&l, "config").starts_with("ok"), "{l:#?}");
}
