//! stackwatch benchmarks, each against the alternative measured in the same
//! run (README "Benchmarks"). Not a test: timings on shared machines are
//! noisy, so this prints medians and ratios and leaves judgement to people.
//!
//!   cargo run --release --example bench -- collect [--containers 50,200] [--runs 5]
//!   cargo run --release --example bench -- sizing [--files 100000,1000000] [--runs 3]
//!   cargo run --release --example bench -- history [--days 365] [--containers 200] [--keep-raw 14d]
//!                                                  [--keep-hourly 90d] [--keep FILE] [--troubled]
//!   cargo run --release --example bench -- section [--stacks 10,50,200] [--show N]
//!   cargo run --release --example bench -- pages --db FILE [--runs 5]
//!   cargo run --release --example bench -- read --db FILE [--runs 21]
//!
//! `collect` and `sizing` need root and a local Docker engine; they create
//! containers and volumes named `swbench-*` and remove them afterwards.
//! `pages` times the dashboard's pages over a history `history --keep`
//! wrote, `read` the report's read model and a metrics scrape over one.
//! `history --troubled` also gives the box stored events (health that
//! flaps, restarts, a one-off job per stack every hour), containers
//! unhealthy at the newest pass and an image per stack left unused.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use stackwatch::collect::aggregate;
use stackwatch::config::Config;
use stackwatch::history::owners::Projects;
use stackwatch::model::snapshot::*;
use stackwatch::store;

const IMAGE: &str = "stackwatch-test-busybox:1";

#[path = "../tests/support/generated_box.rs"]
mod generated_box;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opt = |name: &str, default: &str| -> String {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
            .unwrap_or_else(|| default.to_string())
    };
    let list = |s: String| -> Vec<usize> { s.split(',').filter_map(|x| x.trim().parse().ok()).collect() };
    if let [mode, cmd, report] = &args[..]
        && mode == MEASURER
    {
        return run_measured(cmd, Path::new(report));
    }
    machine();
    match args.first().map(String::as_str) {
        Some("collect") => bench_collect(&list(opt("--containers", "50,200")), list(opt("--runs", "5"))[0]),
        Some("sizing") => bench_sizing(&list(opt("--files", "100000,1000000")), list(opt("--runs", "3"))[0]),
        Some("history") => {
            let duration = |name, default| {
                stackwatch::time::parse_duration(&opt(name, default))
                    .unwrap_or_else(|e| panic!("{name}: a duration such as 14d ({e})"))
            };
            bench_history(
                list(opt("--days", "365"))[0],
                list(opt("--containers", "200"))[0],
                (duration("--keep-raw", "14d"), duration("--keep-hourly", "90d")),
                opt("--keep", ""),
                args.iter().any(|a| a == "--troubled"),
            )
        }
        Some("section") => bench_section(&list(opt("--stacks", "10,50,200")), list(opt("--show", "0"))[0]),
        Some("pages") => bench_pages(Path::new(&opt("--db", "")), list(opt("--runs", "5"))[0]),
        Some("read") => bench_read(Path::new(&opt("--db", "")), list(opt("--runs", "21"))[0]),
        _ => {
            eprintln!("usage: bench collect|sizing|history|section|pages|read [options] (see the file's header)");
            std::process::exit(2);
        }
    }
}

fn machine() {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().next().map(|l| l.split_whitespace().nth(1).unwrap_or("0").parse::<u64>().unwrap_or(0)))
        .unwrap_or(0);
    let engine = sh_out("docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})' 2>/dev/null");
    println!(
        "machine: {} cores, {:.1} GiB RAM, {cpu}; kernel {}; docker engine {}",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        mem as f64 / 1024.0 / 1024.0,
        sh_out("uname -r"),
        if engine.is_empty() { "none".into() } else { engine }
    );
}

fn sh(cmd: &str) {
    let st = Command::new("sh").args(["-c", cmd]).status().expect("sh");
    assert!(st.success(), "failed: {cmd}");
}

fn sh_out(cmd: &str) -> String {
    Command::new("sh")
        .args(["-c", cmd])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// What one measured command cost.
#[derive(Clone, Copy, Default)]
struct Cost {
    wall: Duration,
    /// User + system CPU of the command and all its children.
    cpu: Duration,
    /// Largest resident set of the command or any child, KiB.
    max_rss_kib: i64,
    /// CPU the Docker daemon (dockerd + containerd) spent meanwhile.
    daemon_cpu: Duration,
}

fn daemon_ticks() -> u64 {
    let mut total = 0;
    for name in ["dockerd", "containerd"] {
        for pid in sh_out(&format!("pidof {name}")).split_whitespace() {
            if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
                // Fields after the ")" : state is 3rd, utime 14th, stime 15th overall.
                let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
                let f: Vec<&str> = rest.split_whitespace().collect();
                total += f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
                total += f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            }
        }
    }
    total
}

fn ticks_to_duration(t: u64) -> Duration {
    let hz = rustix::param::clock_ticks_per_second().max(1);
    Duration::from_micros(t * 1_000_000 / hz)
}

/// The argument that makes this binary a measurer (see `run_measured`).
const MEASURER: &str = "--measure-one";

/// Runs `cmd` under `sh -c` in a fresh copy of this binary, which reports
/// the wall time and the resource usage of its only child (the command and
/// every process it reaped). A process of its own, because the usage of
/// children accumulates: the largest resident set would otherwise be the
/// largest of every command run so far.
fn measure(cmd: &str) -> Cost {
    let d0 = daemon_ticks();
    let report = tempfile::NamedTempFile::new().expect("report file");
    let exe = std::env::current_exe().expect("own path");
    let st = Command::new(exe).args([MEASURER, cmd, report.path().to_str().unwrap()]).status().expect("measurer");
    assert!(st.success(), "command failed: {cmd}");
    let text = std::fs::read_to_string(report.path()).expect("report");
    let n: Vec<u64> = text.split_whitespace().map(|v| v.parse().expect("a number")).collect();
    let [wall_us, cpu_us, max_rss_kib] = n[..] else { panic!("bad report {text:?}") };
    Cost {
        wall: Duration::from_micros(wall_us),
        cpu: Duration::from_micros(cpu_us),
        max_rss_kib: max_rss_kib as i64,
        daemon_cpu: ticks_to_duration(daemon_ticks().saturating_sub(d0)),
    }
}

/// The measurer: runs `cmd`, then writes "wall_µs cpu_µs max_rss_KiB" of it
/// to `report`.
fn run_measured(cmd: &str, report: &Path) {
    use nix::sys::resource::{UsageWho, getrusage};
    let start = Instant::now();
    let st = Command::new("sh").args(["-c", cmd]).status().expect("sh");
    let wall = start.elapsed();
    if !st.success() {
        std::process::exit(1);
    }
    let ru = getrusage(UsageWho::RUSAGE_CHILDREN).expect("getrusage");
    let us = |t: nix::sys::time::TimeVal| t.tv_sec() as u64 * 1_000_000 + t.tv_usec() as u64;
    let cpu = us(ru.user_time()) + us(ru.system_time());
    std::fs::write(report, format!("{} {cpu} {}", wall.as_micros(), ru.max_rss())).expect("write report");
}

fn median(mut v: Vec<Cost>) -> Cost {
    let mid = v.len() / 2;
    let pick = |v: &mut Vec<Cost>, f: fn(&Cost) -> Duration| {
        v.sort_by_key(f);
        f(&v[mid])
    };
    let wall = pick(&mut v, |c| c.wall);
    let cpu = pick(&mut v, |c| c.cpu);
    let daemon_cpu = pick(&mut v, |c| c.daemon_cpu);
    v.sort_by_key(|c| c.max_rss_kib);
    Cost { wall, cpu, daemon_cpu, max_rss_kib: v[mid].max_rss_kib }
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn ratio(a: Duration, b: Duration) -> String {
    if b.is_zero() { "n/a".into() } else { format!("{:.1}x", a.as_secs_f64() / b.as_secs_f64()) }
}

fn stackwatch_bin() -> PathBuf {
    // The example sits in target/<profile>/examples/; the binary one level up.
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().join("stackwatch")
}

fn ensure_image() {
    if sh_out(&format!("docker image inspect -f ok {IMAGE} 2>/dev/null")) == "ok" {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy("/bin/busybox", dir.path().join("busybox")).expect("busybox-static");
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n",
    )
    .unwrap();
    sh(&format!("docker build -q -t {IMAGE} {} >/dev/null", dir.path().display()));
}

/// Host directories the benchmark containers bind-mount.
const BIND_ROOT: &str = "/tmp/swbench-binds";

fn cleanup() {
    sh("docker ps -aq --filter label=swbench=1 | xargs -r docker rm -f -v >/dev/null 2>&1; \
        docker volume ls -q --filter label=swbench=1 | xargs -r docker volume rm -f >/dev/null 2>&1; true");
    let _ = std::fs::remove_dir_all(BIND_ROOT);
}

/// N running containers in N/10 compose-labelled stacks (5..20), one volume
/// each, and every other one a bind mount of a host directory of its own.
fn populate(n: usize) {
    ensure_image();
    let stacks = (n / 10).clamp(5, 20);
    // A few `docker run`s at a time: creation is not what is measured.
    let mut script = String::new();
    for i in 0..n {
        let s = i % stacks;
        let bind = if i % 2 == 0 {
            let dir = format!("{BIND_ROOT}/{i}");
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(format!("{dir}/state"), vec![7u8; 100_000]).unwrap();
            format!("-v {dir}:/srv/state")
        } else {
            String::new()
        };
        script.push_str(&format!(
            "docker volume create --label swbench=1 --label com.docker.compose.project=swbench{s} swbench{s}_data{i} >/dev/null && \
             docker run -d --label swbench=1 --label com.docker.compose.project=swbench{s} \
             --label com.docker.compose.service=svc{i} --name swbench{s}-svc{i}-1 -v swbench{s}_data{i}:/data {bind} \
             {IMAGE} sh -c 'head -c 100000 /dev/urandom > /data/blob; echo started; sleep 86400' >/dev/null &\n"
        ));
        if i % 8 == 7 {
            script.push_str("wait\n");
        }
    }
    script.push_str("wait\n");
    sh(&script);
    let running = sh_out("docker ps -q --filter label=swbench=1 | wc -l").parse::<usize>().unwrap_or(0);
    assert_eq!(running, n, "only {running} of {n} benchmark containers are running; see the errors above");
}

fn bench_collect(sizes: &[usize], runs: usize) {
    let sw = stackwatch_bin();
    assert!(sw.exists(), "build first: cargo build --release");
    let cli = "docker stats --no-stream --format '{{json .}}' >/dev/null && \
               for id in $(docker ps -aq); do docker inspect \"$id\" >/dev/null; done && \
               docker system df -v >/dev/null";
    println!("\n## collect pass vs the docker-CLI way (median of {runs} runs each)\n");
    println!("| containers | method | wall | client CPU | peak RSS | daemon CPU |");
    println!("|---|---|---|---|---|---|");
    for &n in sizes {
        cleanup();
        populate(n);
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("bench.db");
        let steady = format!("{} collect --quiet --db {}", sw.display(), db.display());
        let full = format!("{steady} --sizes");
        let endpoint_cfg = dir.path().join("endpoint.toml");
        std::fs::write(&endpoint_cfg, "[collect]\ncgroup_stats = false\n").unwrap();
        let endpoint = format!("{steady} --config {}", endpoint_cfg.display());
        let interval_cfg = dir.path().join("interval.toml");
        std::fs::write(&interval_cfg, "[collect]\ncheap_walk_time = \"0s\"\n").unwrap();
        let interval = format!("{steady} --config {}", interval_cfg.display());
        let no_events_cfg = dir.path().join("no-events.toml");
        std::fs::write(&no_events_cfg, "[collect]\nevents = false\n").unwrap();
        let no_events = format!("{steady} --config {}", no_events_cfg.display());
        // First pass measures every size (and creates the database).
        measure(&full);
        let (mut a, mut b, mut c, mut e, mut i) = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut x = Vec::new();
        for _ in 0..runs {
            a.push(measure(&steady));
            x.push(measure(&no_events));
            i.push(measure(&interval));
            b.push(measure(&full));
            e.push(measure(&endpoint));
            c.push(measure(cli));
        }
        let (a, b, c, e, i, x) = (median(a), median(b), median(c), median(e), median(i), median(x));
        for (name, m) in [
            ("stackwatch collect (default: cheap sizes fresh every pass)", a),
            ("stackwatch collect, events not read (`[collect] events = false`)", x),
            ("stackwatch collect, sizes carried until size_interval", i),
            ("stackwatch collect --sizes", b),
            ("stackwatch collect, counters from the stats endpoint", e),
            ("docker CLI", c),
        ] {
            println!(
                "| {n} | {name} | {} | {} | {:.1} MiB | {} |",
                ms(m.wall),
                ms(m.cpu),
                m.max_rss_kib as f64 / 1024.0,
                ms(m.daemon_cpu)
            );
        }
        println!(
            "| {n} | ratio CLI / stackwatch --sizes | {} | {} | | {} |",
            ratio(c.wall, b.wall),
            ratio(c.cpu, b.cpu),
            ratio(c.daemon_cpu, b.daemon_cpu)
        );
        println!(
            "| {n} | ratio CLI / stackwatch steady | {} | {} | | {} |",
            ratio(c.wall, a.wall),
            ratio(c.cpu, a.cpu),
            ratio(c.daemon_cpu, a.daemon_cpu)
        );
    }
    cleanup();
    println!("\ngoals: >= 3x less wall time, >= 10x less client CPU, peak RSS < 20 MiB");
}

fn bench_sizing(counts: &[usize], runs: usize) {
    ensure_image();
    println!("\n## volume sizing: walker vs `docker system df -v` vs `du -s` (median of {runs})\n");
    println!("| files | cache | stackwatch walker | docker system df -v | du -s -x | walker vs df | walker vs du |");
    println!("|---|---|---|---|---|---|---|");
    let threads = stackwatch::disk::default_threads();
    let cold_ok = std::fs::write("/proc/sys/vm/drop_caches", "3").is_ok();
    for &n in counts {
        cleanup();
        let name = format!("swbenchsize{n}");
        sh(&format!("docker volume create --label swbench=1 {name} >/dev/null"));
        let mp = sh_out(&format!("docker volume inspect -f '{{{{.Mountpoint}}}}' {name}"));
        fill(Path::new(&mp), n);
        let walker = |p: &Path| {
            let start = Instant::now();
            let u = stackwatch::disk::usage(p, threads, Instant::now() + Duration::from_secs(3600)).unwrap();
            (start.elapsed(), u)
        };
        for cache in if cold_ok { &["cold", "warm"][..] } else { &["warm"][..] } {
            let drop = || {
                if *cache == "cold" {
                    sh("sync");
                    let _ = std::fs::write("/proc/sys/vm/drop_caches", "3");
                }
            };
            let (mut w, mut d, mut u) = (Vec::new(), Vec::new(), Vec::new());
            let mut bytes = 0;
            for _ in 0..runs {
                drop();
                let (t, usage) = walker(Path::new(&mp));
                bytes = usage.bytes;
                w.push(Cost { wall: t, ..Default::default() });
                drop();
                d.push(measure("docker system df -v >/dev/null"));
                drop();
                u.push(measure(&format!("du -s -x {mp} >/dev/null")));
            }
            let (w, d, u) = (median(w), median(d), median(u));
            println!(
                "| {n} | {cache} | {} | {} | {} | {} faster | {} faster |",
                ms(w.wall),
                ms(d.wall),
                ms(u.wall),
                ratio(d.wall, w.wall),
                ratio(u.wall, w.wall)
            );
            let _ = bytes;
        }
        sh(&format!("docker volume rm -f {name} >/dev/null"));
    }
    if !cold_ok {
        println!("\n(cold-cache runs skipped: /proc/sys/vm/drop_caches is not writable here)");
    }
    println!("\nwalker threads: {threads}; goal: faster than both");
}

/// `n` one-byte files in directories of 1000.
fn fill(root: &Path, n: usize) {
    for i in 0..n {
        let dir = root.join(format!("d{}", i / 1000));
        if i % 1000 == 0 {
            std::fs::create_dir_all(&dir).unwrap();
        }
        std::fs::write(dir.join(format!("f{i}")), b"x").unwrap();
    }
}

/// One pass of the synthetic box at `at`; `troubled` adds what the
/// report's and the metrics' event, health and unused-image paths read
/// (see the file's header).
fn synthetic(at: i64, start: i64, containers: usize, troubled: bool) -> Snapshot {
    let stacks = 20;
    // Troubled: the first day runs an older image per stack, which stays
    // on the box unused after the upgrade.
    let upgraded = !troubled || at >= start + 86_400;
    // Troubled: every fourth container has a healthcheck; every twentieth
    // is unhealthy from noon to midnight each day.
    let hour_of_day = at.rem_euclid(86_400) / 3600;
    let health = |i: usize| match i % 20 {
        _ if !troubled || !i.is_multiple_of(4) => None,
        0 if hour_of_day >= 12 => Some("unhealthy".to_string()),
        _ => Some("healthy".to_string()),
    };
    let age = (at - start) as f64 / 86_400.0;
    // Every size is cheap to walk, so every pass measures it afresh, as
    // `collect` does by default on a box like this. Most of them hold still;
    // some grow every pass, as a database or a log directory does, and some
    // in steps a few times a day.
    let measured_at = at;
    let measured_age = age;
    let stepped_age = (at - at % 21_600 - start).max(0) as f64 / 86_400.0;
    let mut cs = Vec::with_capacity(containers);
    let mut vols = Vec::with_capacity(containers);
    for i in 0..containers {
        let s = i % stacks;
        let key = StackKey { kind: StackKind::Compose, name: format!("stack{s}") };
        cs.push(ContainerSample {
            id: format!("{i:064x}"),
            name: format!("stack{s}-svc{i}-1"),
            stack: Some(key),
            service: Some(format!("svc{i}")),
            image: if upgraded { format!("img{s}:latest") } else { format!("img{s}:previous") },
            image_id: Some(if upgraded { format!("sha256:{s:064x}") } else { format!("sha256:old{s:061x}") }),
            state: "running".into(),
            health: health(i),
            restart_count: Some((age / 30.0) as i64),
            exit_code: Some(0),
            oom_killed: Some(false),
            started_at: Some(start),
            stats: Some(Stats {
                cpu_ns: Some((at - start) * 1_000_000 * (i as i64 % 7 + 1)),
                // Moving within the hour, so rollups record a peak.
                mem_bytes: Some(
                    50_000_000 + (i as i64 * 1_000_003) % 40_000_000 + ((at / 300) * 7919 + i as i64) % 13 * 1_000_000,
                ),
                mem_limit_bytes: Some(1 << 30),
                net_rx_bytes: Some((at - start) * 1000),
                net_tx_bytes: Some((at - start) * 500),
                blkio_read_bytes: Some((at - start) * 100),
                blkio_write_bytes: Some((at - start) * 300),
                pids: Some(5),
            }),
            rw_bytes: Some(10_000_000 + (measured_age * 1000.0) as i64),
            rw_method: Some("walk"),
            rw_measured_at: Some(measured_at),
            log_bytes: Some((age * 100_000.0) as i64),
            log_driver: Some("json-file".into()),
            mounts: if i % 2 == 0 {
                vec![format!("stack{s}_data{i}"), format!("/srv/stack{s}/state{i}")]
            } else {
                vec![format!("stack{s}_data{i}")]
            },
            binds: if i % 2 == 0 {
                vec![BindMount { source: format!("/srv/stack{s}/state{i}"), read_only: false }]
            } else {
                Vec::new()
            },
            // What compose puts on every container: the stack's paths end
            // up in its totals, so they cost what they would on a real box.
            labels: BTreeMap::from([
                ("com.docker.compose.project".to_string(), format!("stack{s}")),
                ("com.docker.compose.project.working_dir".to_string(), format!("/srv/compose/stack{s}")),
                (
                    "com.docker.compose.project.config_files".to_string(),
                    format!(
                        "/srv/compose/stack{s}/docker-compose.yml,/srv/compose/stack{s}/docker-compose.override.yml"
                    ),
                ),
                ("com.docker.compose.service".to_string(), format!("svc{i}")),
                ("com.docker.compose.container-number".to_string(), "1".to_string()),
                ("com.docker.compose.oneoff".to_string(), "False".to_string()),
                ("com.docker.compose.version".to_string(), "2.26.1".to_string()),
                ("com.docker.compose.config-hash".to_string(), format!("{:064x}", i * 7919)),
            ]),
            ..Default::default()
        });
        vols.push(VolumeSample {
            name: format!("stack{s}_data{i}"),
            driver: "local".into(),
            labels: BTreeMap::from([("com.docker.compose.project".to_string(), format!("stack{s}"))]),
            size_bytes: Some(
                1_000_000_000
                    + match i % 10 {
                        0 => (measured_age * 50_000_000.0) as i64,
                        1 | 2 => (stepped_age * 20_000_000.0) as i64,
                        _ => 0,
                    },
            ),
            size_method: Some("walk"),
            size_measured_at: Some(measured_at),
            ..Default::default()
        });
        if i % 2 == 0 {
            vols.push(VolumeSample {
                kind: MountKind::Bind,
                name: format!("/srv/stack{s}/state{i}"),
                driver: "bind".into(),
                mountpoint: format!("/srv/stack{s}/state{i}"),
                read_only: Some(false),
                size_bytes: Some(200_000_000 + if i % 20 == 0 { (measured_age * 20_000_000.0) as i64 } else { 0 }),
                size_method: Some("walk"),
                size_measured_at: Some(measured_at),
                ..Default::default()
            });
        }
    }
    let mut images: Vec<ImageSample> = (0..stacks)
        .map(|s| ImageSample {
            id: format!("sha256:{s:064x}"),
            tags: vec![format!("img{s}:latest")],
            size_bytes: Some(200_000_000),
            ..Default::default()
        })
        .collect();
    if troubled {
        images.extend((0..stacks).map(|s| ImageSample {
            id: format!("sha256:old{s:061x}"),
            tags: vec![format!("img{s}:previous")],
            size_bytes: Some(180_000_000),
            ..Default::default()
        }));
    }
    let events = if troubled { synthetic_events(at, start, containers, stacks) } else { Vec::new() };
    let st = aggregate::attribute(&cs, &mut vols, &mut images);
    let used = 300_000_000_000 + (age * 1_500_000_000.0) as i64;
    let fs = FsUsage { total_bytes: 1_000_000_000_000, used_bytes: used, free_bytes: 1_000_000_000_000 - used };
    Snapshot {
        started_at: at,
        duration_ms: 300,
        host: HostInfo {
            engine_id: "BENCH".into(),
            hostname: "bench-box".into(),
            engine_version: "27.0.0".into(),
            api_version: "1.46".into(),
            docker_root: Some("/var/lib/docker".into()),
            fs: Some(fs),
            root_visible: true,
        },
        containers: cs,
        volumes: vols,
        images,
        stacks: st,
        // The Docker root, the binds and `/` on one filesystem, as on most
        // boxes: one row per pass.
        filesystems: vec![Filesystem { device: 2049, mount_point: "/".into(), usage: fs, docker_root: true }],
        docker_totals: DockerTotals {
            images_bytes: Some(4_000_000_000),
            build_cache_bytes: Some(1_000_000_000 + (age * 5_000_000.0) as i64),
            measured_at: Some(at),
        },
        events,
        ..Default::default()
    }
}

/// The events a troubled box's pass at `at` stores (those of the five
/// minutes before it), on the hour: every fourth container's health turns
/// unhealthy for 50 s (every twentieth instead turns unhealthy at noon and
/// healthy at midnight, as its state says), every tenth container dies with
/// exit 1 and is restarted, and each stack runs a one-off job that starts,
/// exits (with 1 every third hour) and is removed between two passes.
fn synthetic_events(at: i64, start: i64, containers: usize, stacks: usize) -> Vec<ContainerEvent> {
    const S: i64 = 1_000_000_000;
    if at % 3600 != 0 || at == start {
        return Vec::new();
    }
    let hour_of_day = at.rem_euclid(86_400) / 3600;
    let event = |i: usize, at_s: i64, action: &str| {
        let s = i % stacks;
        ContainerEvent {
            at_ns: at_s * S,
            container_id: format!("{i:064x}"),
            name: format!("stack{s}-svc{i}-1"),
            stack: Some(StackKey { kind: StackKind::Compose, name: format!("stack{s}") }),
            service: Some(format!("svc{i}")),
            action: action.into(),
            ..Default::default()
        }
    };
    let mut out = Vec::new();
    for i in 0..containers {
        if i.is_multiple_of(20) {
            if hour_of_day == 12 || hour_of_day == 0 {
                let health = if hour_of_day == 12 { "unhealthy" } else { "healthy" };
                out.push(ContainerEvent { health: Some(health.into()), ..event(i, at - 250, "health_status") });
            }
        } else if i.is_multiple_of(4) {
            out.push(ContainerEvent { health: Some("unhealthy".into()), ..event(i, at - 250, "health_status") });
            out.push(ContainerEvent { health: Some("healthy".into()), ..event(i, at - 200, "health_status") });
        }
        if i % 10 == 1 {
            out.push(ContainerEvent { exit_code: Some(1), ..event(i, at - 150, "die") });
            out.push(event(i, at - 149, "start"));
        }
    }
    for s in 0..stacks {
        let job = |at_s: i64, action: &str| ContainerEvent {
            at_ns: at_s * S,
            container_id: format!("job{s:02}{at:054x}"),
            name: format!("stack{s}-job-run-{at:x}"),
            stack: Some(StackKey { kind: StackKind::Compose, name: format!("stack{s}") }),
            service: Some("job".into()),
            action: action.into(),
            ..Default::default()
        };
        let exit = if hour_of_day % 3 == 0 { 1 } else { 0 };
        out.push(job(at - 120, "start"));
        out.push(ContainerEvent { exit_code: Some(exit), ..job(at - 100, "die") });
        out.push(job(at - 99, "destroy"));
    }
    out
}

/// `keep`: also copy the generated database there, for a closer look.
fn bench_history(
    days: usize,
    containers: usize,
    (keep_raw, keep_hourly): (Duration, Duration),
    keep: String,
    troubled: bool,
) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("year.db");
    let mut st = store::open_for_write(&path, Duration::from_secs(30)).unwrap();
    let mut config = Config::default();
    config.collect.keep_raw = keep_raw;
    config.collect.keep_hourly = keep_hourly;
    let step = 300;
    let start = 1_764_000_000 - 1_764_000_000 % 86_400;
    let passes = days as i64 * 86_400 / step;
    println!(
        "\n## history: {days} days of 5-minute passes over {containers} containers, {containers} volumes and {} bind mounts, every size measured every pass, keep_raw {}, keep_hourly {}{}\n",
        containers.div_ceil(2),
        stackwatch::time::format_duration(keep_raw),
        stackwatch::time::format_duration(keep_hourly),
        if troubled { "; troubled (events, unhealthy containers, unused images)" } else { "" }
    );
    let t = Instant::now();
    for i in 0..passes {
        let at = start + i * step;
        st.insert_pass(&synthetic(at, start, containers, troubled)).unwrap();
        // As collect does: retention at most once an hour.
        st.maybe_compact(at, config.collect.keep_raw, config.collect.keep_hourly, false).unwrap();
        if i % 10_000 == 0 && i > 0 {
            eprintln!("  {i}/{passes} passes written ({:.0}s)", t.elapsed().as_secs_f64());
        }
    }
    let end = start + (passes - 1) * step;
    st.compact(end, config.collect.keep_raw, config.collect.keep_hourly).unwrap();
    st.user_sql_connection().execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").unwrap();
    let generated = t.elapsed();
    let size = std::fs::metadata(&path).unwrap().len();
    // Where the bytes are, largest first: what bounds the size. Before
    // VACUUM that includes the free space inside pages that retention and
    // out-of-order inserts leave.
    let by_table = |conn: &rusqlite::Connection| -> BTreeMap<String, (f64, i64)> {
        conn.prepare(
            // Interior cells of index b-trees (and WITHOUT ROWID tables) are
            // entries too; those of rowid tables only point.
            "SELECT name, SUM(pgsize) / 1e6,
                    SUM(CASE WHEN pagetype = 'leaf' OR name IN (SELECT name FROM sqlite_schema
                              WHERE type = 'index' OR sql LIKE '%WITHOUT ROWID%') THEN ncell ELSE 0 END)
             FROM dbstat GROUP BY name",
        )
        .and_then(|mut q| q.query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))?.collect())
        .unwrap_or_default()
    };
    let before = by_table(st.user_sql_connection());
    let free_pages: i64 = st.user_sql_connection().query_row("PRAGMA freelist_count", [], |r| r.get(0)).unwrap();
    st.user_sql_connection().execute_batch("VACUUM;").unwrap();
    let vacuumed = std::fs::metadata(&path).unwrap().len();
    let after = by_table(st.user_sql_connection());
    let kept: i64 = st.user_sql_connection().query_row("SELECT count(*) FROM passes", [], |r| r.get(0)).unwrap();
    drop(st);
    println!("generated {passes} passes in {:.0}s; {kept} passes kept after retention", generated.as_secs_f64());
    println!("database: {:.1} MB (after VACUUM: {:.1} MB); goal < 100 MB", size as f64 / 1e6, vacuumed as f64 / 1e6);
    println!("free pages before VACUUM: {free_pages}");
    let mut tables: Vec<(&String, f64, f64, i64)> =
        after.iter().map(|(name, &(mb, rows))| (name, before.get(name).map_or(0.0, |b| b.0), mb, rows)).collect();
    tables.sort_by(|a, b| b.1.total_cmp(&a.1));
    println!("\n| table or index | MB in the file | MB after VACUUM | rows | bytes per row after VACUUM |");
    println!("|---|---|---|---|---|");
    for (name, file_mb, mb, rows) in tables.into_iter().take(8) {
        println!("| {name} | {file_mb:.1} | {mb:.1} | {rows} | {:.0} |", mb * 1e6 / rows.max(1) as f64);
    }
    println!("\n| window | report time (median of 5, library call) | `stackwatch report` CLI (median of 5) |");
    println!("|---|---|---|");
    let sw = stackwatch_bin();
    for window in ["1h", "24h", "7d"] {
        let span = stackwatch::time::Window::parse(window).unwrap();
        let mut lib = Vec::new();
        for _ in 0..5 {
            let s = store::open_read_only(&path, Duration::from_secs(5)).unwrap();
            let t = Instant::now();
            let r = stackwatch::history::build(
                &s.reader().unwrap(),
                &stackwatch::history::Request {
                    window: span.clone(),
                    now: end,
                    config: &config,
                    projects: &Projects::default(),
                    vault: false,
                },
            )
            .unwrap();
            lib.push(Cost { wall: t.elapsed(), ..Default::default() });
            assert!(!r.hosts[0].growth.stacks.is_empty());
        }
        let cli = if sw.exists() {
            let runs: Vec<Cost> = (0..5)
                .map(|_| {
                    measure(&format!(
                        "{} report --db {} --window {window} --no-vault >/dev/null",
                        sw.display(),
                        path.display()
                    ))
                })
                .collect();
            ms(median(runs).wall)
        } else {
            "(build the binary)".into()
        };
        println!("| {window} | {} | {cli} |", ms(median(lib).wall));
    }
    println!("\ngoal: every report under 200 ms");
    if !keep.is_empty() {
        std::fs::copy(&path, &keep).unwrap();
    }
}

/// The size of the section a prompt receives: budgeted markdown (the
/// default), `--full` markdown and JSON, on the generated box of
/// tests/support/generated_box.rs. `show`: also print the budgeted section
/// for that many stacks.
fn bench_section(sizes: &[usize], show: usize) {
    use stackwatch::section::render::Renderer;
    println!("| stacks | findings | default markdown | lines | --full markdown | lines | JSON | build + render |");
    println!("|---|---|---|---|---|---|---|---|");
    for &n in sizes {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("box.db");
        let mut st = store::open_for_write(&path, Duration::from_secs(30)).unwrap();
        for s in generated_box::passes(n) {
            st.insert_pass(&s).unwrap();
        }
        drop(st);
        let st = store::open_read_only(&path, Duration::from_secs(30)).unwrap();
        let config = Config::default();
        let started = Instant::now();
        let report = stackwatch::history::build(
            &st.reader().unwrap(),
            &stackwatch::history::Request {
                window: stackwatch::time::Window { seconds: generated_box::DAY, text: "24h".into() },
                now: generated_box::T0 + generated_box::DAY,
                config: &config,
                projects: &Projects::default(),
                vault: true,
            },
        )
        .unwrap();
        let renderer = Renderer::new(None).unwrap();
        let md = renderer.section(&report, config.report.top, Some(config.report.budget_bytes)).unwrap();
        let took = started.elapsed();
        let full = renderer.section(&report, config.report.top, None).unwrap();
        let json = serde_json::to_string_pretty(&report).unwrap();
        println!(
            "| {n} | {} | {} B | {} | {} B | {} | {} B | {} |",
            report.hosts[0].findings.len(),
            md.len(),
            md.lines().count(),
            full.len(),
            full.lines().count(),
            json.len(),
            ms(took)
        );
        if n == show {
            println!("\n{md}");
        }
    }
}

/// Median time to render each dashboard page, per window, over an existing
/// history: the host page, the largest stack's page and its first
/// volume's page, read as `serve` reads them (a fresh read-only open).
fn bench_pages(db: &Path, runs: usize) {
    use stackwatch::dashboard::{self, View};
    let config = Config::default();
    let projects = Projects::default();
    let st = store::open_read_only(db, Duration::from_secs(30)).unwrap();
    let (kind, stack): (String, String) = st
        .user_sql_connection()
        .query_row(
            "SELECT s.kind, s.name FROM stack_samples ss JOIN stacks s ON s.id = ss.stack_id
             WHERE ss.pass_id = (SELECT MAX(id) FROM passes) ORDER BY ss.disk_bytes DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let volume: String =
        st.user_sql_connection().query_row("SELECT name FROM volumes ORDER BY id LIMIT 1", [], |r| r.get(0)).unwrap();
    let now: i64 = st.user_sql_connection().query_row("SELECT MAX(started_at) FROM passes", [], |r| r.get(0)).unwrap();
    let history = st.reader().unwrap();
    println!("\n## pages over {} ({} runs each, median)\n", db.display(), runs);
    println!("| window | host page | stack page | volume page |\n|---|---|---|---|");
    for (w, _) in dashboard::WINDOWS {
        let view = View::parse(Some(&format!("window={w}"))).unwrap();
        let time = |f: &dyn Fn() -> usize| {
            let mut ms: Vec<f64> = (0..runs.max(1))
                .map(|_| {
                    let t = Instant::now();
                    assert!(f() > 0);
                    t.elapsed().as_secs_f64() * 1000.0
                })
                .collect();
            ms.sort_by(f64::total_cmp);
            ms[ms.len() / 2]
        };
        let host =
            time(&|| dashboard::host_page(&history, &config, &projects, &view, now, true).unwrap().unwrap().len());
        let stack_ms = time(&|| {
            dashboard::stack_page(&history, &config, &projects, &view, &kind, &stack, now).unwrap().unwrap().len()
        });
        let volume_ms = time(&|| dashboard::volume_page(&history, &view, &volume).unwrap().unwrap().len());
        println!("| {w} | {host:.0} ms | {stack_ms:.0} ms | {volume_ms:.0} ms |");
    }
}

/// Median time of the report's read model (`history::build`, per window)
/// and of a metrics scrape (`metrics::build`) over an existing history,
/// each run on a fresh read-only open (not timed), as `report` and `serve`
/// read it. These machines are shared, so beside the wall time's median
/// and spread it prints the median CPU time of the thread (user + system),
/// which other work on the cores disturbs less.
fn bench_read(db: &Path, runs: usize) {
    use nix::sys::resource::{UsageWho, getrusage};
    let cpu_ms = || {
        let ru = getrusage(UsageWho::RUSAGE_THREAD).expect("getrusage");
        let ms = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 * 1000.0 + t.tv_usec() as f64 / 1000.0;
        ms(ru.user_time()) + ms(ru.system_time())
    };
    let config = Config::default();
    let projects = Projects::default();
    let now: i64 = store::open_read_only(db, Duration::from_secs(30))
        .unwrap()
        .user_sql_connection()
        .query_row("SELECT MAX(started_at) FROM passes", [], |r| r.get(0))
        .unwrap();
    let time = |f: &dyn Fn(&store::read::Reader<'_>) -> usize| {
        let (mut wall, mut cpu): (Vec<f64>, Vec<f64>) = (0..runs.max(1))
            .map(|_| {
                let st = store::open_read_only(db, Duration::from_secs(30)).unwrap();
                let reader = st.reader().unwrap();
                let (t, c) = (Instant::now(), cpu_ms());
                assert!(f(&reader) > 0);
                (t.elapsed().as_secs_f64() * 1000.0, cpu_ms() - c)
            })
            .unzip();
        wall.sort_by(f64::total_cmp);
        cpu.sort_by(f64::total_cmp);
        let mid = wall.len() / 2;
        format!("{:.2} ms | {:.2}-{:.2} ms | {:.2} ms", wall[mid], wall[0], wall[wall.len() - 1], cpu[mid])
    };
    println!("\n## read model over {} ({} runs each)\n", db.display(), runs.max(1));
    println!("| what | wall, median | wall, fastest-slowest | thread CPU, median |\n|---|---|---|---|");
    for window in ["1h", "24h", "7d"] {
        let span = stackwatch::time::Window::parse(window).unwrap();
        let took = time(&|reader| {
            let r = stackwatch::history::build(
                reader,
                &stackwatch::history::Request {
                    window: span.clone(),
                    now,
                    config: &config,
                    projects: &projects,
                    vault: false,
                },
            )
            .unwrap();
            r.hosts.iter().map(|h| h.findings.len() + h.stacks.len()).sum()
        });
        println!("| report, {window} window (`history::build`) | {took} |");
    }
    let took = time(&|reader| stackwatch::metrics::build(reader, &config, &projects).unwrap().len());
    println!("| metrics scrape (`metrics::build`) | {took} |");
}
