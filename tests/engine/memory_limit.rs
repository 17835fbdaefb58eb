//! A container without a memory limit is recorded with the host's memory
//! as its limit (what `docker stats` shows), never as cgroup's "no limit"
//! number (9223372036854771712 on cgroup v1), whether its counters come
//! from the cgroup files or from the stats endpoint.

use crate::common::*;

#[test]
fn an_unlimited_container_is_recorded_with_the_hosts_memory() {
    if !engine_available() {
        return;
    }
    let u = unique("memlim");
    let mut clean = Cleanup::default();
    let free = format!("{u}-free");
    let capped = format!("{u}-capped");
    for (name, extra) in [(&free, &[][..]), (&capped, &["--memory", "64m"][..])] {
        clean.container(name);
        let mut args = vec!["run", "-d", "--network", "none", "--name", name];
        args.extend(extra);
        args.extend([image(), "sleep", "600"]);
        docker(&args);
    }
    let host: i64 = docker(&["info", "--format", "{{.MemTotal}}"]).parse().unwrap();
    assert!(host > 0 && host < 1 << 50, "the engine's MemTotal: {host}");

    let work = tempfile::tempdir().unwrap();
    let endpoint = work.path().join("endpoint.toml");
    std::fs::write(&endpoint, "[collect]\ncgroup_stats = false\n").unwrap();
    for (how, config) in [("default (cgroup files when visible)", None), ("stats endpoint", Some(&endpoint))] {
        let db = work.path().join(format!("{}.db", config.is_some()));
        let mut args = vec![];
        if let Some(c) = config {
            args.extend(["--config", c.to_str().unwrap()]);
        }
        collect_with(&db, &args);
        let limit = |name: &str| -> Option<i64> {
            open(&db)
                .query_row("SELECT mem_limit_bytes FROM latest_containers WHERE container = ?1", [name], |r| r.get(0))
                .unwrap()
        };
        assert_eq!(limit(&free), Some(host), "{how}: no limit reads as the host's memory");
        assert_eq!(limit(&capped), Some(64 * 1024 * 1024), "{how}: its own limit");
    }
}
