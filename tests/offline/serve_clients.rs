//! `stackwatch serve` while hostile clients are connected: hundreds of
//! sockets that send nothing, and clients that ask for a multi-megabyte
//! scrape and never read it. A normal `/healthz` and `/metrics` must still
//! answer at once, and the server must not hold a copy of the scrape per
//! client. No engine needed: the history is written through the library,
//! and every socket is on 127.0.0.1.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::*;
use stackwatch::model::snapshot::*;

/// One pass of `n` running containers with long names: a big scrape.
fn big_history(db: &Path, n: usize) {
    let containers: Vec<ContainerSample> = (0..n)
        .map(|i| {
            let name = format!("tenant-{:04}-{}", i, "x".repeat(80));
            let labels = std::collections::BTreeMap::from([(
                "com.docker.compose.project".to_string(),
                format!("project-{:03}-{}", i / 10, "y".repeat(60)),
            )]);
            let (stack, service) = stackwatch::model::stack::identify(&name, &labels);
            ContainerSample {
                id: format!("{i:064x}"),
                name,
                stack: Some(stack),
                service,
                labels,
                image: "app:latest".into(),
                state: "running".into(),
                restart_count: Some(0),
                exit_code: Some(0),
                oom_killed: Some(false),
                rw_bytes: Some(1),
                log_bytes: Some(1),
                stats: Some(Stats {
                    cpu_ns: Some(1),
                    mem_bytes: Some(1),
                    mem_limit_bytes: Some(1),
                    net_rx_bytes: Some(1),
                    net_tx_bytes: Some(1),
                    blkio_read_bytes: Some(1),
                    blkio_write_bytes: Some(1),
                    pids: Some(1),
                }),
                ..Default::default()
            }
        })
        .collect();
    let mut volumes = Vec::new();
    let mut images = Vec::new();
    let stacks = stackwatch::collect::aggregate::attribute(&containers, &mut volumes, &mut images);
    let snap = Snapshot {
        started_at: stackwatch::time::now_unix(),
        duration_ms: 100,
        host: HostInfo {
            engine_id: "ENGINE-SERVE".into(),
            hostname: "busy-box".into(),
            engine_version: "20.10.24".into(),
            api_version: "1.41".into(),
            ..Default::default()
        },
        containers,
        stacks,
        ..Default::default()
    };
    let mut st = stackwatch::store::open_for_write(db, Duration::from_secs(5)).unwrap();
    st.insert_pass(&snap).unwrap();
}

/// A request that waits for its whole answer; the status and body length.
fn get(addr: &str, path: &str) -> (u16, usize) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("not a response: {} bytes: {:?}", raw.len(), &text[..text.len().min(300)]));
    (head.split(' ').nth(1).unwrap().parse().unwrap(), body.len())
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn serve(db: &Path, listen: &str) -> (KillOnDrop, String, String) {
    let mut child = bin()
        .args(["serve", "--listen", listen, "--db", db.to_str().unwrap()])
        .args(["--projects", db.parent().unwrap().to_str().unwrap()])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut said = String::new();
    while !said.contains("serving http://") {
        assert!(err.read_line(&mut said).unwrap() > 0, "serve exited: {said}");
    }
    let addr = said.split("serving http://").nth(1).and_then(|r| r.split('/').next()).unwrap().to_string();
    std::thread::spawn(move || {
        for l in err.lines().map_while(Result::ok) {
            eprintln!("serve: {l}");
        }
    });
    (KillOnDrop(child), addr, said)
}

#[test]
fn idle_and_never_reading_clients_do_not_hold_up_a_normal_scrape() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.db");
    big_history(&db, 1500);
    let (server, addr, said) = serve(&db, "127.0.0.1:0");
    assert!(!said.contains("warning"), "loopback needs no warning: {said}");
    let (status, size) = get(&addr, "/metrics");
    assert_eq!(status, 200);
    assert!(size > 2_000_000, "a scrape of a few MB: {size}");

    // 200 sockets that never send a byte, then 80 scrapes nobody reads.
    let idle: Vec<TcpStream> = (0..200).map(|_| TcpStream::connect(&addr).unwrap()).collect();
    let mut stuck = Vec::new();
    for _ in 0..80 {
        let mut s = TcpStream::connect(&addr).unwrap();
        write!(s, "GET /metrics HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
        stuck.push(s);
    }
    std::thread::sleep(Duration::from_secs(1));

    for path in ["/healthz", "/metrics", "/healthz"] {
        let started = Instant::now();
        let (status, _) = get(&addr, path);
        assert_eq!(status, 200, "{path}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{path} took {:?} beside hostile clients",
            started.elapsed()
        );
    }
    // One copy of the scrape, shared, not one per client that holds one.
    let rss = rss_kib(server.0.id());
    assert!(rss < 150 * 1024, "serve holds {rss} KiB with 80 unread {size}-byte scrapes");
    drop((idle, stuck));
}

#[test]
fn a_non_loopback_listen_address_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.db");
    big_history(&db, 1);
    let (_server, _addr, said) = serve(&db, "0.0.0.0:0");
    assert!(said.contains("warning: listening on 0.0.0.0:0 (not loopback)"), "{said}");
}
