//! A running container's counters read from its cgroup files.
//!
//! Why: the stats endpoint answers a one-shot request only at the daemon's
//! next one-second collection tick, so each call waits up to a second and a
//! pass over many containers waits for several ticks. The same numbers are
//! in the cgroup files, readable in microseconds when the collector runs on
//! the host. When they are not visible (the collector in a container, a
//! private cgroup namespace) the caller falls back to the endpoint.
//!
//! The values are the ones the endpoint reports, so history does not jump
//! when the method changes: CPU in nanoseconds, memory usage minus inactive
//! page cache, block I/O read/write bytes, network bytes of every interface
//! but `lo`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::model::snapshot::Stats;

const ROOT: &str = "/sys/fs/cgroup";

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

fn read_i64(path: &Path) -> Option<i64> {
    read(path)?.trim().parse().ok()
}

/// `key value` lines (memory.stat, cpu.stat).
fn keyed(text: &str, key: &str) -> Option<i64> {
    text.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Counters of the container whose init process is `pid`; `None` when the
/// cgroup files are not readable here.
pub fn stats(pid: i64, container_id: &str, host_memory: Option<i64>) -> Option<Stats> {
    stats_under(Path::new(ROOT), Path::new("/proc"), pid, container_id, host_memory)
}

fn stats_under(root: &Path, proc: &Path, pid: i64, container_id: &str, host_memory: Option<i64>) -> Option<Stats> {
    if pid <= 0 || container_id.is_empty() {
        return None;
    }
    let cgroups = read(&proc.join(pid.to_string()).join("cgroup"))?;
    // The process must be in this container's cgroup (the id is in every
    // driver's path), or the PID is someone else's.
    if !cgroups.contains(container_id) {
        return None;
    }
    // controller → path ("" for the v2 unified hierarchy).
    let mut paths: HashMap<String, String> = HashMap::new();
    for line in cgroups.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        for c in controllers.split(',') {
            paths.insert(c.to_string(), path.to_string());
        }
    }
    let mut s = if paths.contains_key("memory") { v1(root, &paths)? } else { v2(root, paths.get("")?)? };
    s.mem_limit_bytes = memory_limit(s.mem_limit_bytes, host_memory);
    if let Some((rx, tx)) = read(&proc.join(pid.to_string()).join("net/dev")).and_then(|t| net_dev(&t)) {
        s.net_rx_bytes = Some(rx);
        s.net_tx_bytes = Some(tx);
    }
    Some(s)
}

fn v1(root: &Path, paths: &HashMap<String, String>) -> Option<Stats> {
    let dir = |controller: &str| -> Option<PathBuf> {
        let rel = paths.get(controller)?.trim_start_matches('/');
        // Some systems mount cpu and cpuacct together.
        [controller, "cpu,cpuacct", "cpuacct,cpu"].iter().map(|m| root.join(m).join(rel)).find(|p| p.is_dir())
    };
    let mem = dir("memory")?;
    let usage = read_i64(&mem.join("memory.usage_in_bytes"))?;
    let stat = read(&mem.join("memory.stat")).unwrap_or_default();
    let inactive = keyed(&stat, "total_inactive_file").unwrap_or(0);
    let cpu = dir("cpuacct").and_then(|d| read_i64(&d.join("cpuacct.usage")))?;
    let (rd, wr) = dir("blkio")
        .and_then(|d| {
            let recursive = read(&d.join("blkio.io_service_bytes_recursive")).filter(|t| t.lines().count() > 1);
            recursive.or_else(|| read(&d.join("blkio.throttle.io_service_bytes_recursive")))
        })
        .map(|t| blkio_v1(&t))
        .unwrap_or((None, None));
    Some(Stats {
        cpu_ns: Some(cpu),
        mem_bytes: Some((usage - inactive).max(0)),
        mem_limit_bytes: read_i64(&mem.join("memory.limit_in_bytes")),
        net_rx_bytes: None,
        net_tx_bytes: None,
        blkio_read_bytes: rd,
        blkio_write_bytes: wr,
        pids: dir("pids").and_then(|d| read_i64(&d.join("pids.current"))),
    })
}

fn v2(root: &Path, path: &str) -> Option<Stats> {
    let dir = root.join(path.trim_start_matches('/'));
    let cpu_usec = keyed(&read(&dir.join("cpu.stat"))?, "usage_usec")?;
    let usage = read_i64(&dir.join("memory.current"))?;
    let inactive = read(&dir.join("memory.stat")).and_then(|t| keyed(&t, "inactive_file")).unwrap_or(0);
    let limit = read(&dir.join("memory.max")).and_then(|t| match t.trim() {
        "max" => Some(i64::MAX),
        v => v.parse().ok(),
    });
    let (rd, wr) = read(&dir.join("io.stat")).map(|t| io_v2(&t)).unwrap_or((None, None));
    Some(Stats {
        cpu_ns: Some(cpu_usec * 1000),
        mem_bytes: Some((usage - inactive).max(0)),
        mem_limit_bytes: limit,
        net_rx_bytes: None,
        net_tx_bytes: None,
        blkio_read_bytes: rd,
        blkio_write_bytes: wr,
        pids: read_i64(&dir.join("pids.current")),
    })
}

/// `8:0 Read 4096` lines; `Total` lines are ignored.
fn blkio_v1(text: &str) -> (Option<i64>, Option<i64>) {
    let (mut rd, mut wr) = (0i64, 0i64);
    for l in text.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if let [_, op, v] = f[..] {
            let v: i64 = v.parse().unwrap_or(0);
            match op {
                "Read" => rd += v,
                "Write" => wr += v,
                _ => {}
            }
        }
    }
    (Some(rd), Some(wr))
}

/// `8:0 rbytes=4096 wbytes=8192 rios=1 ...` lines.
fn io_v2(text: &str) -> (Option<i64>, Option<i64>) {
    let (mut rd, mut wr) = (0i64, 0i64);
    for field in text.split_whitespace() {
        if let Some(v) = field.strip_prefix("rbytes=") {
            rd += v.parse::<i64>().unwrap_or(0);
        } else if let Some(v) = field.strip_prefix("wbytes=") {
            wr += v.parse::<i64>().unwrap_or(0);
        }
    }
    (Some(rd), Some(wr))
}

/// Received and sent bytes of every interface but loopback.
fn net_dev(text: &str) -> Option<(i64, i64)> {
    let (mut rx, mut tx) = (0i64, 0i64);
    for line in text.lines().skip(2) {
        let (name, rest) = line.split_once(':')?;
        if name.trim() == "lo" {
            continue;
        }
        let f: Vec<i64> = rest.split_whitespace().filter_map(|v| v.parse().ok()).collect();
        rx += f.first().copied().unwrap_or(0);
        tx += f.get(8).copied().unwrap_or(0);
    }
    Some((rx, tx))
}

/// Total memory of the host, as the endpoint reports for unlimited containers.
pub fn host_memory() -> Option<i64> {
    meminfo_total(&read(Path::new("/proc/meminfo"))?)
}

/// `MemTotal:       24684084 kB` in bytes.
fn meminfo_total(text: &str) -> Option<i64> {
    let line = text.lines().find_map(|l| l.strip_prefix("MemTotal:"))?;
    let kib: i64 = line.split_whitespace().next()?.parse().ok()?;
    kib.checked_mul(1024).filter(|b| *b > 0)
}

/// Smallest "limit" that can only mean "no limit": cgroup v1 writes
/// 9223372036854771712 (the page counter's maximum), v2 writes `max`
/// (read as `i64::MAX`). No machine has 2^62 bytes of memory.
const NO_LIMIT: i64 = 1 << 62;

/// A container's memory limit as recorded: its own limit, or the host's
/// memory when it has none or one above the host's (what `docker stats`
/// shows, and what the stats endpoint reports), or `None` (NULL, unknown)
/// when it has none and the host's memory is not known. Never cgroup's
/// "no limit" number.
pub fn memory_limit(limit: Option<i64>, host_memory: Option<i64>) -> Option<i64> {
    let limit = limit.filter(|l| *l > 0)?;
    match host_memory.filter(|h| *h > 0) {
        Some(host) if limit > host => Some(host),
        None if limit >= NO_LIMIT => None,
        _ => Some(limit),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    const NET: &str = "Inter-|   Receive |  Transmit\n face |bytes packets errs drop fifo frame compressed multicast|bytes\n    lo: 999 1 0 0 0 0 0 0 999 1 0 0 0 0 0 0\n  eth0: 200 2 0 0 0 0 0 0 300 3 0 0 0 0 0 0\n";

    #[test]
    fn cgroup_v1_files_give_the_endpoints_numbers() {
        let t = tempfile::tempdir().unwrap();
        let (root, proc) = (t.path().join("cg"), t.path().join("proc"));
        write(
            &proc,
            "42/cgroup",
            "4:memory:/docker/abc\n2:cpuacct:/docker/abc\n8:pids:/docker/abc\n7:blkio:/docker/abc\n0::/docker/abc\n",
        );
        write(&proc, "42/net/dev", NET);
        write(&root, "memory/docker/abc/memory.usage_in_bytes", "10000000\n");
        write(&root, "memory/docker/abc/memory.stat", "cache 5\ntotal_inactive_file 2000000\n");
        write(&root, "memory/docker/abc/memory.limit_in_bytes", "9223372036854771712\n");
        write(&root, "cpuacct/docker/abc/cpuacct.usage", "30944228\n");
        write(&root, "pids/docker/abc/pids.current", "3\n");
        write(
            &root,
            "blkio/docker/abc/blkio.throttle.io_service_bytes_recursive",
            "8:0 Read 4096\n8:0 Write 8192\n8:0 Total 12288\nTotal 12288\n",
        );
        assert_eq!(stats_under(&root, &proc, 42, "other", None), None, "a PID outside the container is not read");
        let s = stats_under(&root, &proc, 42, "abc", Some(1_000_000_000)).unwrap();
        assert_eq!(s.cpu_ns, Some(30_944_228));
        assert_eq!(s.mem_bytes, Some(8_000_000));
        assert_eq!(s.mem_limit_bytes, Some(1_000_000_000), "unlimited reads as the host's memory");
        assert_eq!((s.blkio_read_bytes, s.blkio_write_bytes), (Some(4096), Some(8192)));
        assert_eq!((s.net_rx_bytes, s.net_tx_bytes), (Some(200), Some(300)), "loopback left out");
        assert_eq!(s.pids, Some(3));
    }

    #[test]
    fn cgroup_v2_files_give_the_endpoints_numbers() {
        let t = tempfile::tempdir().unwrap();
        let (root, proc) = (t.path().join("cg"), t.path().join("proc"));
        write(&proc, "7/cgroup", "0::/system.slice/docker-abc.scope\n");
        write(&root, "system.slice/docker-abc.scope/cpu.stat", "usage_usec 1500\nuser_usec 1000\n");
        write(&root, "system.slice/docker-abc.scope/memory.current", "5000\n");
        write(&root, "system.slice/docker-abc.scope/memory.stat", "anon 1\ninactive_file 1000\n");
        write(&root, "system.slice/docker-abc.scope/memory.max", "64000000\n");
        write(
            &root,
            "system.slice/docker-abc.scope/io.stat",
            "8:0 rbytes=10 wbytes=20 rios=1 wios=2\n8:16 rbytes=1 wbytes=2\n",
        );
        let s = stats_under(&root, &proc, 7, "abc", Some(1 << 40)).unwrap();
        assert_eq!((s.cpu_ns, s.mem_bytes, s.mem_limit_bytes), (Some(1_500_000), Some(4000), Some(64_000_000)));
        assert_eq!((s.blkio_read_bytes, s.blkio_write_bytes), (Some(11), Some(22)));
        assert_eq!(s.net_rx_bytes, None, "no net/dev visible: unknown, not 0");
    }

    #[test]
    fn no_limit_is_the_hosts_memory_or_unknown() {
        let meminfo = "MemTotal:       24684084 kB\nMemFree:        22210864 kB\n";
        assert_eq!(meminfo_total(meminfo), Some(24_684_084 * 1024));
        let host = meminfo_total(meminfo);
        assert_eq!(memory_limit(Some(9_223_372_036_854_771_712), host), host, "cgroup v1 'no limit'");
        assert_eq!(memory_limit(Some(i64::MAX), host), host, "cgroup v2 'max'");
        assert_eq!(memory_limit(Some(9_223_372_036_854_771_712), None), None, "host unknown: NULL, not 2^63");
        assert_eq!(memory_limit(Some(64_000_000), host), Some(64_000_000));
        assert_eq!(memory_limit(Some(64_000_000), None), Some(64_000_000));
        assert_eq!(memory_limit(None, host), None);
    }

    #[test]
    fn invisible_cgroups_mean_fall_back() {
        let t = tempfile::tempdir().unwrap();
        assert_eq!(stats_under(t.path(), t.path(), 42, "abc", None), None);
        assert_eq!(stats_under(t.path(), t.path(), 0, "abc", None), None);
    }
}
