//! The README's example queries run as written, both in the `sqlite3`
//! shell and through `stackwatch sql`, against a history collected from the
//! real engine.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::common::*;

fn sql_blocks(readme: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in readme.lines() {
        match (&mut current, line.trim()) {
            (None, "```sql") => current = Some(String::new()),
            (Some(_), "```") => blocks.push(current.take().unwrap()),
            (Some(b), _) => {
                b.push_str(line);
                b.push('\n');
            }
            _ => {}
        }
    }
    blocks
}

#[test]
fn readme_example_queries_run_in_the_sqlite3_shell_and_through_stackwatch_sql() {
    if !engine_available() {
        return;
    }
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let blocks = sql_blocks(&readme);
    assert!(blocks.len() >= 5, "README lost its example queries: {}", blocks.len());

    // A host path for the bind-mount query, outliving the container.
    let bind_src = tempfile::tempdir().unwrap();
    let mut clean = Cleanup::default();
    let solo = unique("readme");
    clean.container(&solo);
    let vol = unique("readmevol");
    clean.volume(&vol);
    let bind = format!("{}:/srv", bind_src.path().display());
    docker(&["run", "-d", "--name", &solo, "-v", &format!("{vol}:/data"), "-v", &bind, image(), "sleep", "3600"]);
    // Something for the "restarting" query to find.
    let looper = unique("readmeloop");
    clean.container(&looper);
    docker(&["run", "-d", "--restart", "always", "--name", &looper, image(), "sh", "-c", "exit 1"]);
    wait_for("a restart", std::time::Duration::from_secs(30), || {
        (inspect(&looper, "{{.RestartCount}}") != "0").then_some(())
    });
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.db");
    collect(&db);
    // Something for the container_events query: a job that ran, failed and
    // was removed between two passes.
    let job = unique("readmejob");
    clean.container(&job);
    let status = Command::new("docker")
        .args(["run", "--name", &job, "--network", "none", image(), "sh", "-c", "exit 3"])
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(3), "the job exits 3");
    docker(&["rm", &job]);
    collect(&db);
    // Something for the prune_log query: a stopped container carrying a
    // label of this test's own, pruned under that label.
    let label = format!("{}.managed=true", unique("readmelabel"));
    let stopped = unique("readmestopped");
    clean.container(&stopped);
    docker(&["run", "--name", &stopped, "--network", "none", "--label", &label, image(), "true"]);
    let cfg = dir.path().join("prune.toml");
    std::fs::write(&cfg, format!("[labels]\nmanaged = \"{label}\"\n")).unwrap();
    let out = bin()
        .args(["prune", "--apply", "--db", db.to_str().unwrap(), "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    for block in &blocks {
        let mut child = Command::new("sqlite3")
            .args(["-bail", "-header", db.to_str().unwrap()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("sqlite3 shell (apt-get install sqlite3)");
        child.stdin.take().unwrap().write_all(block.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && stderr.is_empty(), "query failed:\n{block}\n{stderr}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.lines().count() >= 2, "query returned no rows:\n{block}\n{stdout}");

        // The same text, as written, through `stackwatch sql` (one
        // statement per block is what lets it run there unchanged).
        let out = bin().args(["sql", "--db", db.to_str().unwrap(), "--format", "csv", block]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && stderr.is_empty(), "stackwatch sql failed:\n{block}\n{stderr}");
        let csv = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            csv.lines().count(),
            stdout.lines().count(),
            "stackwatch sql and sqlite3 disagree on the row count:\n{block}\n{csv}\n{stdout}"
        );
    }
}
