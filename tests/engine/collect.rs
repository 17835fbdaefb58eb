//! `stackwatch collect` against a real engine: real compose stacks, real
//! volumes, real restart loops and healthchecks.

use std::time::Duration;

use crate::common::*;
use rusqlite::OptionalExtension;

const KIB: i64 = 1024;
/// Slack for filesystem overhead (directory entries, block rounding).
const SLACK: i64 = 64 * KIB;

fn volume_size(db: &std::path::Path, volume: &str) -> Option<i64> {
    open(db).query_row("SELECT size_bytes FROM latest_volumes WHERE volume = ?1", [volume], |r| r.get(0)).unwrap()
}

#[test]
fn compose_volume_size_is_measured_and_its_growth_between_passes_is_seen() {
    if !engine_available() {
        return;
    }
    let img = image();
    let project = unique("vol");
    let dir = tempfile::tempdir().unwrap();
    let mut clean = Cleanup::default();
    compose_up(
        &mut clean,
        dir.path(),
        &project,
        &format!(
            r#"version: "2.4"
services:
  writer:
    image: {img}
    command: ["sh", "-c", "dd if=/dev/urandom of=/data/first bs=1024 count=2048 && touch /data/done && sleep 3600"]
    volumes: ["chain:/data"]
volumes:
  chain: {{}}
"#
        ),
    );
    let container = compose_container(&project, "writer");
    let volume = format!("{project}_chain");
    wait_for("the first 2 MiB", Duration::from_secs(30), || {
        docker(&["exec", &container, "sh", "-c", "test -f /data/done && echo y || echo n"]).eq("y").then_some(())
    });
    let db_dir = tempfile::tempdir().unwrap();
    let db = db_dir.path().join("history.db");
    collect(&db);

    let first = volume_size(&db, &volume).expect("volume size known");
    assert!((2048 * KIB..=2048 * KIB + SLACK).contains(&first), "first size {first}");
    let (stack, in_use, via): (String, bool, String) = open(&db)
        .query_row("SELECT stack, in_use, stack_via FROM latest_volumes WHERE volume = ?1", [&volume], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    assert_eq!((stack.as_str(), in_use, via.as_str()), (project.as_str(), true, "label"));

    let (method, measured): (String, String) = open(&db)
        .query_row("SELECT size_method, size_measured_at FROM latest_volumes WHERE volume = ?1", [&volume], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(method, "walk", "as root on the host the collector walks the volume itself");

    docker(&["exec", &container, "dd", "if=/dev/urandom", "of=/data/second", "bs=1024", "count=1024"]);
    // When walks count as expensive, a pass within the 30-minute size
    // cadence carries the size forward, with the time it was measured...
    std::thread::sleep(Duration::from_millis(1100));
    let cfg = db_dir.path().join("expensive.toml");
    std::fs::write(&cfg, "[collect]\ncheap_walk_time = \"0s\"\n").unwrap();
    collect_with(&db, &["--config", cfg.to_str().unwrap()]);
    let (carried, measured_again): (i64, String) = open(&db)
        .query_row("SELECT size_bytes, size_measured_at FROM latest_volumes WHERE volume = ?1", [&volume], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!((carried, measured_again.as_str()), (first, measured.as_str()));
    // ...and by default a volume this small is cheap to walk, so every pass
    // measures it afresh.
    collect(&db);
    let second = volume_size(&db, &volume).expect("volume size known");
    let grown = second - first;
    assert!((1024 * KIB..=1024 * KIB + SLACK).contains(&grown), "grew by {grown}");

    // The history keeps both samples, one per pass, and the stack's disk
    // total includes the volume.
    let conn = open(&db);
    let history: Vec<i64> = conn
        .prepare("SELECT disk_bytes FROM stack_disk_history WHERE stack = ?1 ORDER BY pass_id")
        .unwrap()
        .query_map([&project], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(history.len(), 3, "{history:?}");
    assert!(history[0] >= first && history[2] >= second, "{history:?}");
    assert!(history[2] - history[0] >= 1024 * KIB, "{history:?}");
    let (kind, containers, running): (String, i64, i64) = conn
        .query_row("SELECT kind, containers, running FROM latest_stacks WHERE stack = ?1", [&project], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    assert_eq!((kind.as_str(), containers, running), ("compose", 1, 1));
    let (service, name): (String, String) = conn
        .query_row("SELECT service, container FROM latest_containers WHERE stack = ?1", [&project], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(
        (service.as_str(), name.as_str()),
        ("writer", container.as_str()),
        "the name compose gave it (v1 `_`, v2 `-`)"
    );
}

#[test]
fn restart_loop_shows_a_rising_restart_count_and_failing_healthcheck_shows_unhealthy() {
    if !engine_available() {
        return;
    }
    let img = image();
    let project = unique("sym");
    let dir = tempfile::tempdir().unwrap();
    let mut clean = Cleanup::default();
    compose_up(
        &mut clean,
        dir.path(),
        &project,
        &format!(
            r#"version: "2.4"
services:
  looper:
    image: {img}
    command: ["sh", "-c", "echo crashing; exit 3"]
    restart: always
  sick:
    image: {img}
    command: ["sleep", "3600"]
    healthcheck:
      test: ["CMD", "false"]
      interval: 1s
      timeout: 1s
      retries: 1
"#
        ),
    );
    let looper = compose_container(&project, "looper");
    let sick = compose_container(&project, "sick");
    wait_for("the healthcheck to fail", Duration::from_secs(60), || {
        (inspect(&sick, "{{.State.Health.Status}}") == "unhealthy").then_some(())
    });
    let db_dir = tempfile::tempdir().unwrap();
    let db = db_dir.path().join("history.db");
    collect(&db);
    let restarts = |db: &std::path::Path| -> i64 {
        open(db)
            .query_row("SELECT restart_count FROM latest_containers WHERE container = ?1", [&looper], |r| r.get(0))
            .unwrap()
    };
    let first = restarts(&db);
    wait_for("the looper to restart again", Duration::from_secs(60), || {
        (inspect(&looper, "{{.RestartCount}}").parse::<i64>().unwrap() > first).then_some(())
    });
    collect(&db);
    let second = restarts(&db);
    assert!(second > first, "restart count {first} -> {second}");

    let (health, state): (Option<String>, String) = open(&db)
        .query_row("SELECT health, state FROM latest_containers WHERE container = ?1", [&sick], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(health.as_deref(), Some("unhealthy"));
    assert_eq!(state, "running");
    let looper_health: Option<String> = open(&db)
        .query_row("SELECT health FROM latest_containers WHERE container = ?1", [&looper], |r| r.get(0))
        .unwrap();
    assert_eq!(looper_health, None, "no healthcheck is NULL, not a status");
}

#[test]
fn standalone_and_v2_named_containers_map_to_the_right_stacks_with_their_counters() {
    if !engine_available() {
        return;
    }
    let img = image();
    let mut clean = Cleanup::default();
    let solo = unique("solo");
    clean.container(&solo);
    docker(&["run", "-d", "--name", &solo, img, "sh", "-c", "echo hello-from-solo; sleep 3600"]);
    let project = unique("vtwo");
    let v2 = format!("{project}-web-1");
    clean.container(&v2);
    docker(&[
        "run",
        "-d",
        "--name",
        &v2,
        "--label",
        &format!("com.docker.compose.project={project}"),
        "--label",
        "com.docker.compose.service=web",
        "--label",
        "com.docker.compose.container-number=1",
        "--memory",
        "64m",
        img,
        "sleep",
        "3600",
    ]);
    let dead = unique("dead");
    clean.container(&dead);
    docker(&["run", "-d", "--name", &dead, img, "sh", "-c", "exit 7"]);
    wait_for("the dead container to exit", Duration::from_secs(20), || {
        (inspect(&dead, "{{.State.Status}}") == "exited").then_some(())
    });
    wait_for("solo to log", Duration::from_secs(20), || {
        docker(&["logs", &solo]).contains("hello-from-solo").then_some(())
    });

    let db_dir = tempfile::tempdir().unwrap();
    let db = db_dir.path().join("history.db");
    collect(&db);
    let conn = open(&db);

    let (kind, containers, running, disk): (String, i64, i64, Option<i64>) = conn
        .query_row("SELECT kind, containers, running, disk_bytes FROM latest_stacks WHERE stack = ?1", [&solo], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .unwrap();
    assert_eq!((kind.as_str(), containers, running), ("standalone", 1, 1));
    assert!(disk.is_some_and(|d| d > 0), "log bytes count towards disk: {disk:?}");
    let (log, mem, cpu): (Option<i64>, Option<i64>, Option<i64>) = conn
        .query_row("SELECT log_bytes, mem_bytes, cpu_ns FROM latest_containers WHERE container = ?1", [&solo], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    assert!(log.is_some_and(|b| b > 0), "json-file log measured: {log:?}");
    assert!(mem.is_some_and(|b| b > 0), "memory of a running container: {mem:?}");
    assert!(cpu.is_some(), "cumulative CPU counter recorded");

    let (stack, kind, service, limit): (String, String, String, Option<i64>) = conn
        .query_row(
            "SELECT stack, stack_kind, service, mem_limit_bytes FROM latest_containers WHERE container = ?1",
            [&v2],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    assert_eq!((stack.as_str(), kind.as_str(), service.as_str()), (project.as_str(), "compose", "web"));
    assert_eq!(limit, Some(64 * 1024 * 1024));

    let (state, exit_code, mem, started): (String, i64, Option<i64>, Option<String>) = conn
        .query_row(
            "SELECT state, exit_code, mem_bytes, started_at FROM latest_containers WHERE container = ?1",
            [&dead],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    assert_eq!((state.as_str(), exit_code), ("exited", 7));
    assert_eq!(mem, None, "a stopped container's stats are unknown, not 0");
    assert!(started.is_some_and(|s| s.ends_with('Z') && s.len() == 20), "ISO-8601 UTC start time");

    // The image the containers run is recorded with the stacks using it.
    let stacks: String = conn
        .query_row("SELECT stacks FROM latest_images WHERE tags LIKE ?1", [format!("%{IMAGE}%")], |r| r.get(0))
        .unwrap();
    assert!(stacks.contains(&solo) && stacks.contains(&project), "{stacks}");

    // The pass itself: engine identity, versions, and the Docker root's filesystem.
    let (engine_id, api, fs_total, errors): (String, String, Option<i64>, i64) = conn
        .query_row("SELECT engine_id, api_version, fs_total_bytes, error_count FROM pass_log", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .unwrap();
    assert!(!engine_id.is_empty());
    let engine_api = docker(&["version", "--format", "{{.Server.APIVersion}}"]);
    assert_eq!(api, engine_api, "negotiated down to the engine's API (bollard speaks a newer one)");
    assert!(fs_total.is_some_and(|t| t > 0), "docker root visible as root: {fs_total:?}");
    assert_eq!(errors, 0);
}

#[test]
fn a_volume_nobody_mounts_is_unused_and_unattributed() {
    if !engine_available() {
        return;
    }
    let mut clean = Cleanup::default();
    let vol = unique("orphan");
    clean.volume(&vol);
    docker(&["volume", "create", &vol]);
    let db_dir = tempfile::tempdir().unwrap();
    let db = db_dir.path().join("history.db");
    collect(&db);
    let row: Option<(Option<String>, bool, Option<i64>)> = open(&db)
        .query_row("SELECT stack, in_use, size_bytes FROM latest_volumes WHERE volume = ?1", [&vol], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()
        .unwrap();
    let (stack, in_use, size) = row.expect("volume recorded");
    assert_eq!((stack, in_use), (None, false));
    // An empty volume holds one directory block: allocated bytes, as du counts.
    assert!(size.is_some_and(|s| (0..=8192).contains(&s)), "{size:?}");
}

#[test]
fn overlapping_collects_never_double_a_pass_or_corrupt_the_history() {
    if !engine_available() {
        return;
    }
    let db_dir = tempfile::tempdir().unwrap();
    let db = db_dir.path().join("history.db");
    collect(&db);

    // Another run holds the lock: this one waits lock_wait, then steps aside.
    let cfg = db_dir.path().join("stackwatch.toml");
    std::fs::write(&cfg, "[database]\nlock_wait = \"1s\"\n").unwrap();
    let holder = stackwatch::store::lock::acquire(&db, Duration::ZERO).unwrap();
    let out =
        bin().args(["collect", "--db", db.to_str().unwrap(), "--config", cfg.to_str().unwrap()]).output().unwrap();
    drop(holder);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(75), "{stderr}");
    assert!(stderr.contains("this pass was skipped") && stderr.trim().lines().count() == 1, "{stderr}");

    // Two at once with the default wait: both land, one after the other.
    let spawn =
        || bin().args(["collect", "--db", db.to_str().unwrap()]).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let (a, b) = (spawn(), spawn());
    for run in [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()] {
        assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    }
    let conn = open(&db);
    let passes: i64 = conn.query_row("SELECT count(*) FROM passes", [], |r| r.get(0)).unwrap();
    assert_eq!(passes, 3);
    let ok: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(ok, "ok");
}

#[test]
fn a_container_oom_killed_and_restarted_between_passes_is_recorded_as_oom_killed() {
    // Engine 20.10 keeps `OOMKilled` set after the restart; newer engines
    // (26.1 here) clear it when the container starts again, so by the next pass
    // inspect shows a healthy-looking running container. The kill must
    // still reach the history.
    if !engine_available() {
        return;
    }
    let img = image();
    let db_dir = tempfile::tempdir().unwrap();
    let db = db_dir.path().join("history.db");
    // A pass before the container exists: the next one looks back to it.
    collect(&db);

    let mut clean = Cleanup::default();
    let hog = unique("oom");
    clean.container(&hog);
    docker(&[
        "run",
        "-d",
        "--name",
        &hog,
        "--restart",
        "always",
        "--memory",
        "16m",
        "--memory-swap",
        "16m",
        img,
        "sh",
        "-c",
        // Runs 8 s, then dd's 64 MiB buffer goes over the limit.
        "sleep 8; dd if=/dev/zero of=/dev/null bs=64M count=1",
    ]);
    wait_for("an OOM kill and the restart after it", Duration::from_secs(60), || {
        let restarts: i64 = inspect(&hog, "{{.RestartCount}}").parse().unwrap();
        (restarts >= 1 && inspect(&hog, "{{.State.Status}}") == "running").then_some(())
    });
    collect(&db);
    let (state, oom): (String, Option<bool>) = open(&db)
        .query_row("SELECT state, oom_killed FROM latest_containers WHERE container = ?1", [&hog], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(state, "running");
    assert_eq!(oom, Some(true), "killed for memory since the previous pass, though running again");
}

#[test]
fn the_stats_endpoint_and_the_cgroup_files_give_the_same_counters() {
    // Two ways to one set of counters: the stats endpoint, whose shape
    // varies with the engine (API 1.41 and 1.45, cgroup v1 and v2), and the
    // cgroup files read directly. History must not jump when the method
    // changes, so both are checked on every engine the suite runs on.
    if !engine_available() {
        return;
    }
    let img = image();
    let mut clean = Cleanup::default();
    let name = unique("stats");
    clean.container(&name);
    docker(&["run", "-d", "--name", &name, "--memory", "64m", img, "sleep", "3600"]);
    let dir = tempfile::tempdir().unwrap();
    let endpoint_cfg = dir.path().join("endpoint.toml");
    std::fs::write(&endpoint_cfg, "[collect]\ncgroup_stats = false\n").unwrap();
    type Counters = (Option<i64>, Option<i64>, Option<i64>, Option<i64>, Option<i64>);
    let read = |db: &std::path::Path| -> (String, Counters) {
        let conn = open(db);
        let method: String = conn.query_row("SELECT stats_method FROM pass_log", [], |r| r.get(0)).unwrap();
        let counters = conn
            .query_row(
                "SELECT mem_bytes, mem_limit_bytes, cpu_ns, pids, net_rx_bytes FROM latest_containers
                 WHERE container = ?1",
                [&name],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .unwrap();
        (method, counters)
    };
    let via_endpoint = dir.path().join("endpoint.db");
    collect_with(&via_endpoint, &["--config", endpoint_cfg.to_str().unwrap()]);
    let via_cgroup = dir.path().join("cgroup.db");
    collect(&via_cgroup);

    let (method, (mem_e, limit_e, cpu_e, pids_e, net_e)) = read(&via_endpoint);
    assert_eq!(method, "endpoint");
    let (method, (mem_c, limit_c, cpu_c, pids_c, net_c)) = read(&via_cgroup);
    assert!(method == "cgroup" || method == "mixed", "as root on the host the cgroup files are read: {method}");
    assert_eq!((limit_e, limit_c), (Some(64 << 20), Some(64 << 20)), "the limit, both ways");
    assert_eq!((pids_e, pids_c), (Some(1), Some(1)), "one sleep, both ways");
    let (mem_e, mem_c) = (mem_e.unwrap(), mem_c.unwrap());
    assert!(mem_e > 0 && mem_c > 0 && (mem_e - mem_c).abs() < 4 << 20, "memory {mem_e} vs {mem_c}");
    assert!(cpu_e.is_some_and(|c| c > 0) && cpu_c.is_some_and(|c| c > 0), "cpu {cpu_e:?} vs {cpu_c:?}");
    assert!(net_e.is_some() && net_c.is_some(), "network counters both ways: {net_e:?} vs {net_c:?}");
}
