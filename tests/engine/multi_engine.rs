//! Several engines, one history: a second real `dockerd` on this machine
//! (its own socket, data root, exec root and trust key), collected together
//! with the first. Both report the same hostname; the history, the views,
//! the report and the metrics must still keep them apart.
//!
//! The second daemon runs in a network namespace of its own (`unshare
//! --net`): `--bridge=none` alone is not enough, because a daemon started
//! with it *deletes* any `docker0` interface it sees, and that one belongs
//! to the first engine. Its containers run with `--network none`.

use std::process::{Command, Stdio};

use crate::common::*;

/// A second Docker engine (its own socket, data root, exec root and trust
/// key, so its own engine ID), stopped (and its mounts and files removed)
/// on drop, also when the test fails.
fn second_engine() -> PrivateEngine {
    PrivateEngine::builder("second", "sw2e").own_engine_id().start()
}

fn first_host() -> String {
    std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty()).unwrap_or_else(|| "unix:///var/run/docker.sock".into())
}

#[test]
fn two_engines_on_one_machine_land_in_one_history_apart() {
    if !engine_available() {
        return;
    }
    let img = image();
    // Starting it asserts that the first engine's docker0 is still there.
    let second = second_engine();
    // The test image, without a registry: saved from one engine, loaded into the other.
    second.load(img);

    // The same stack name on both engines, and one stack only on each.
    let shared = unique("shared");
    let only1 = unique("one");
    let only2 = unique("two");
    let mut clean = Cleanup::default();
    let c1 = unique("c1");
    let c1b = unique("c1b");
    clean.container(&c1);
    clean.container(&c1b);
    for (name, project) in [(&c1, &shared), (&c1b, &only1)] {
        docker(&[
            "run",
            "-d",
            "--name",
            name,
            "--label",
            &format!("com.docker.compose.project={project}"),
            "--label",
            "com.docker.compose.service=svc",
            img,
            "sleep",
            "3600",
        ]);
    }
    let c2 = unique("c2");
    let c2b = unique("c2b");
    for (name, project) in [(&c2, &shared), (&c2b, &only2)] {
        second.docker(&[
            "run",
            "-d",
            "--network",
            "none",
            "--name",
            name,
            "--label",
            &format!("com.docker.compose.project={project}"),
            "--label",
            "com.docker.compose.service=svc",
            img,
            "sleep",
            "3600",
        ]);
    }
    let id1 = docker(&["info", "--format", "{{.ID}}"]);
    let id2 = second.id();
    assert_ne!(id1, id2, "the second engine must have its own ID:\n{}", second.log());

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.db");
    let first = first_host();
    let out = bin()
        .args(["collect", "--db", db.to_str().unwrap(), "--docker-host", &first, "--docker-host", &second.host()])
        .output()
        .unwrap();
    assert!(out.status.success(), "collect failed: {}", String::from_utf8_lossy(&out.stderr));

    // One pass per engine, told apart although the hostname is the same.
    let conn = open(&db);
    let passes: Vec<(String, String)> = conn
        .prepare("SELECT host, engine_id FROM pass_log ORDER BY engine_id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(passes.len(), 2, "{passes:?}");
    let host_of = |id: &str| passes.iter().find(|(_, e)| e == id).map(|(h, _)| h.clone()).unwrap();
    let (h1, h2) = (host_of(&id1), host_of(&id2));
    assert_ne!(h1, h2);
    let hostnames: Vec<String> = conn
        .prepare("SELECT DISTINCT hostname FROM host_names")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(hostnames.len(), 1, "both engines run on this machine: {hostnames:?}");
    assert!(h1.starts_with(&format!("{}@", hostnames[0])), "{h1}");

    // Every row sits under the engine it came from.
    let stacks_of = |host: &str| -> Vec<(String, i64)> {
        conn.prepare(
            "SELECT stack, containers FROM latest_stacks WHERE host = ?1 AND stack IN (?2, ?3, ?4) ORDER BY stack",
        )
        .unwrap()
        .query_map([host, shared.as_str(), only1.as_str(), only2.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
    };
    let mut expect1 = vec![(shared.clone(), 1), (only1.clone(), 1)];
    expect1.sort();
    let mut expect2 = vec![(shared.clone(), 1), (only2.clone(), 1)];
    expect2.sort();
    assert_eq!(stacks_of(&h1), expect1);
    assert_eq!(stacks_of(&h2), expect2);
    let container_host: Vec<(String, String, String)> = conn
        .prepare("SELECT container, host, engine_id FROM latest_containers WHERE stack = ?1 ORDER BY container")
        .unwrap()
        .query_map([&shared], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(container_host, vec![(c1.clone(), h1.clone(), id1.clone()), (c2.clone(), h2.clone(), id2.clone())]);
    // The second engine's root is a local directory, so its disk is seen too.
    let root2: Option<String> =
        conn.query_row("SELECT docker_root FROM pass_log WHERE engine_id = ?1", [&id2], |r| r.get(0)).unwrap();
    assert_eq!(root2.as_deref(), Some(format!("{}/data", second.dir().display()).as_str()));

    // The report has a section per engine, headed by the distinct name.
    let out = bin()
        .args(["report", "--db", db.to_str().unwrap(), "--format", "json", "--no-vault"])
        .env_remove("FACTORY_ROOT")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rep: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let hosts = rep["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 2);
    for (h, id, only) in [(&h1, &id1, &only1), (&h2, &id2, &only2)] {
        let section = hosts.iter().find(|x| x["engine_id"] == id.as_str()).unwrap();
        assert_eq!(section["host"], h.as_str());
        let names: Vec<&str> =
            section["stacks"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
        assert!(names.contains(&shared.as_str()) && names.contains(&only.as_str()), "{names:?}");
    }
    let md =
        bin().args(["report", "--db", db.to_str().unwrap(), "--no-vault"]).env_remove("FACTORY_ROOT").output().unwrap();
    let md = String::from_utf8_lossy(&md.stdout);
    assert!(md.contains(&format!("### Host `{h1}`")) && md.contains(&format!("### Host `{h2}`")), "{md}");

    // The metrics carry the shared stack once per engine; a duplicate series
    // would make this fail in promtool.
    let out = bin().args(["metrics", "--db", db.to_str().unwrap()]).env_remove("FACTORY_ROOT").output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    for h in [&h1, &h2] {
        let series = format!("stackwatch_stack_containers{{host=\"{h}\",stack=\"{shared}\",kind=\"compose\"");
        assert!(text.lines().any(|l| l.starts_with(&series) && l.ends_with(" 1")), "{series} missing");
    }
    if tool_available("promtool", &["--version"], "prometheus") {
        let mut child = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), text.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "promtool: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // An engine that does not answer: the others are still recorded, the
    // run fails naming it.
    let out = bin()
        .args(["collect", "--db", db.to_str().unwrap(), "--docker-host", &first])
        .args(["--docker-host", "unix:///nonexistent/docker.sock", "--docker-host", &second.host()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("/nonexistent/docker.sock") && err.contains("could not read 1 of 3 engines"), "{err}");
    let passes: i64 = open(&db).query_row("SELECT count(*) FROM passes", [], |r| r.get(0)).unwrap();
    assert_eq!(passes, 4);

    drop(second);
}
