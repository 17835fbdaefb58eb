//! The dashboard in a real headless browser (Debian's `chromium`) against
//! a live `stackwatch serve` over a history collected from the engine:
//! our own compose stack, collected, 8 MB written into its volume, then
//! collected again, and once more after its container burned some CPU; the
//! first pass is then moved 15 minutes back with 1 GB less used on each
//! filesystem (a synthetic edge, so the disk grows over a span the report
//! projects from). The DOM the browser built is checked (one series per
//! stack shown, our stack's growth, each filesystem's "not attributed"
//! bytes, capacity and fill projection against the database and the
//! report, our container's CPU), screenshots of the host and stack pages
//! are checked not to be blank, and a stack named like a `<script>` stays
//! text. Other people's stacks share the engine: only our own objects are
//! asserted on, and the disk-wide numbers are computed from the database.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

/// If this ran as a script it would mark the document; as text it is inert.
const HOSTILE_STACK: &str = "<script>document.documentElement.setAttribute('data-pwned','yes')</script>";
const GROWTH: i64 = 8_000_000;
/// Used bytes taken off every filesystem of the first pass, moved this far
/// back: the disk grew over a span long enough to project.
const SYNTHETIC_GROWTH: i64 = 1_000_000_000;
const SYNTHETIC_SPAN: i64 = 900;

fn serve(db: &Path) -> (KillOnDrop, String) {
    let mut child = bin()
        .args(["serve", "--db", db.to_str().unwrap(), "--listen", "127.0.0.1:0"])
        .env_remove("FACTORY_ROOT")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stderr.take().unwrap()).read_line(&mut line).unwrap();
    let guard = KillOnDrop(child);
    let addr = line.split("http://").nth(1).and_then(|r| r.split('/').next()).unwrap_or_else(|| panic!("{line}"));
    (guard, addr.to_string())
}

/// Runs headless chromium with `args`, a fresh profile, and a time limit;
/// returns its stdout.
fn chromium(args: &[&str]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut out, &mut s).unwrap();
        s
    });
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "chromium {args:?} failed: {status}");
            break;
        }
        if started.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            panic!("chromium {args:?} did not finish in 90 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    reader.join().unwrap()
}

fn screenshot(url: &str, file: &Path) -> Vec<u8> {
    chromium(&[&format!("--screenshot={}", file.display()), "--window-size=1280,2000", url]);
    std::fs::read(file).unwrap()
}

/// Width and height from a PNG's IHDR chunk.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    assert_eq!(&png[12..16], b"IHDR");
    let be = |b: &[u8]| u32::from_be_bytes(b.try_into().unwrap());
    (be(&png[16..20]), be(&png[20..24]))
}

/// The text of the first element of `html` whose opening tag contains
/// `marker`, up to the next `end`.
fn slice<'a>(html: &'a str, marker: &str, end: &str) -> &'a str {
    let at = html.find(marker).unwrap_or_else(|| panic!("no {marker} in the page"));
    let rest = &html[at..];
    &rest[..rest.find(end).unwrap_or(rest.len())]
}

fn attr(tag: &str, name: &str) -> String {
    let key = format!("{name}=\"");
    let at = tag.find(&key).unwrap_or_else(|| panic!("no {name} in {tag}")) + key.len();
    tag[at..at + tag[at..].find('"').unwrap()].to_string()
}

/// Each filesystem of the newest pass, by mount point: (used, free, holds
/// the Docker root).
fn newest_filesystems(db: &Path) -> BTreeMap<String, (i64, i64, bool)> {
    let conn = open(db);
    let mut stmt = conn
        .prepare(
            "SELECT mount_point, used_bytes, free_bytes, docker_root FROM filesystem_history
             WHERE pass_id = (SELECT MAX(pass_id) FROM filesystem_history)",
        )
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?, r.get(3)?))))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

/// What the stacks hold on each filesystem in the newest pass, from the
/// public views: a stack's disk is on the Docker root's filesystem but for
/// its bind mounts, each on the filesystem with the longest mount point
/// that holds its path.
fn stack_bytes_by_filesystem(db: &Path, filesystems: &BTreeMap<String, (i64, i64, bool)>) -> BTreeMap<String, i64> {
    let conn = open(db);
    let root = filesystems.iter().find(|(_, f)| f.2).map(|(m, _)| m.clone()).expect("a Docker root filesystem");
    let home =
        |path: &str| filesystems.keys().filter(|m| Path::new(path).starts_with(m)).max_by_key(|m| m.len()).cloned();
    let mut off_root: BTreeMap<(String, String), i64> = BTreeMap::new();
    let mut held: BTreeMap<String, i64> = BTreeMap::new();
    let mut stmt = conn
        .prepare(
            "SELECT stack_kind, stack, volume, size_bytes FROM latest_volumes
             WHERE kind = 'bind' AND stack IS NOT NULL AND size_bytes IS NOT NULL",
        )
        .unwrap();
    let binds: Vec<(String, String, String, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    for (kind, stack, path, size) in binds {
        match home(&path) {
            Some(fs) if fs != root => {
                *off_root.entry((kind, stack)).or_default() += size;
                *held.entry(fs).or_default() += size;
            }
            _ => {}
        }
    }
    let mut stmt =
        conn.prepare("SELECT kind, stack, disk_bytes FROM latest_stacks WHERE disk_bytes IS NOT NULL").unwrap();
    let stacks: Vec<(String, String, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    for (kind, stack, disk) in stacks {
        let elsewhere = off_root.get(&(kind, stack)).copied().unwrap_or(0);
        *held.entry(root.clone()).or_default() += (disk - elsewhere).max(0);
    }
    held
}

/// The `<div class="filesystem">` blocks of a host section, by mount point.
fn filesystem_blocks(host: &str) -> BTreeMap<String, &str> {
    host.split("<div class=\"filesystem\"")
        .skip(1)
        .map(|block| {
            let block = &block[..block.find("</div>").unwrap_or(block.len())];
            (attr(block, "data-mount-point"), block)
        })
        .collect()
}

#[test]
fn the_dashboard_in_a_real_browser_shows_our_stack_growing_and_hostile_names_as_text() {
    if !engine_available() || !tool_available("chromium", &["--version"], "chromium") {
        return;
    }
    let img = image();
    let project = unique("dash");
    let dir = tempfile::tempdir().unwrap();
    let mut clean = Cleanup::default();
    compose_up(
        &mut clean,
        dir.path(),
        &project,
        &format!(
            r#"version: "2.4"
services:
  app:
    image: {img}
    command: ["sleep", "3600"]
    volumes: ["data:/data"]
volumes:
  data: {{}}
"#
        ),
    );
    let app = compose_container(&project, "app");
    let hostile = unique("dash-hostile");
    clean.container(&hostile);
    docker(&[
        "run",
        "-d",
        "--name",
        &hostile,
        "--label",
        &format!("com.docker.compose.project={HOSTILE_STACK}"),
        "--label",
        "com.docker.compose.service=svc",
        img,
        "sleep",
        "3600",
    ]);

    let db = dir.path().join("history.db");
    collect_with(&db, &["--sizes"]);
    std::thread::sleep(Duration::from_millis(1100));
    docker(&[
        "exec",
        &app,
        "dd",
        "if=/dev/urandom",
        "of=/data/blob",
        "bs=1000000",
        &format!("count={}", GROWTH / 1_000_000),
    ]);
    // A restart between the passes: a mark on the stack page's time axis.
    docker(&["restart", "-t", "1", &app]);
    collect_with(&db, &["--sizes"]);
    // CPU for the stack page's rate: a shell loop inside our container.
    docker(&["exec", &app, "sh", "-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done"]);
    collect_with(&db, &["--sizes"]);
    {
        // The synthetic edge: the first pass 15 minutes back, 1 GB less
        // used on every filesystem; the second a minute back, so the last
        // two passes fall in different points of the hour's chart.
        let w = rusqlite::Connection::open(&db).unwrap();
        let first: i64 = w.query_row("SELECT MIN(id) FROM passes", [], |r| r.get(0)).unwrap();
        let second: i64 = w.query_row("SELECT MIN(id) FROM passes WHERE id > ?1", [first], |r| r.get(0)).unwrap();
        w.execute("UPDATE passes SET started_at = started_at - ?2 WHERE id = ?1", [first, SYNTHETIC_SPAN]).unwrap();
        w.execute("UPDATE passes SET started_at = started_at - 60 WHERE id = ?1", [second]).unwrap();
        w.execute(
            "UPDATE passes SET fs_used_bytes = fs_used_bytes - ?2, fs_free_bytes = fs_free_bytes + ?2 WHERE id = ?1",
            [first, SYNTHETIC_GROWTH],
        )
        .unwrap();
        w.execute(
            "UPDATE filesystem_samples SET used_bytes = used_bytes - ?2, free_bytes = free_bytes + ?2 WHERE pass_id = ?1",
            [first, SYNTHETIC_GROWTH],
        )
        .unwrap();
    }

    let (_server, addr) = serve(&db);
    // Every stack on the shared engine drawn (top=100), so ours is a series.
    let url = format!("http://{addr}/?window=1h&top=100");
    let dom = chromium(&["--dump-dom", &url]);
    let host = slice(&dom, "<section class=\"host\"", "</section>");

    // One series per stack shown in the legend, and ours among them.
    let series = host.matches("<g class=\"series\"").count();
    let shown = host.matches("class=\"legend-item\"").count();
    assert!(series > 0 && series == shown, "{series} series for {shown} stacks shown");
    assert!(host.contains(&format!("data-series=\"{project}\"")), "our stack is not a series");

    // Our stack grew by what we wrote (du counts whole blocks: a little more).
    let row = slice(host, &format!("<tr class=\"stack\" data-stack=\"{project}\""), ">");
    let growth: i64 = attr(row, "data-growth-bytes").parse().unwrap();
    assert!((GROWTH..GROWTH + 200_000).contains(&growth), "growth {growth} for {GROWTH} written: {row}");
    let disk: i64 = attr(row, "data-disk-bytes").parse().unwrap();
    // The value axis holds the data it draws.
    let chart = slice(host, "<svg class=\"chart\"", ">");
    let ymax: i64 = attr(chart, "data-ymax").parse().unwrap();
    assert!(ymax >= disk, "axis top {ymax} below our stack's {disk}");
    let growers = slice(host, "<ul class=\"growers\">", "</ul>");
    assert!(growers.contains(&project), "our stack is not among the growers: {growers}");

    // A chart per filesystem of the newest pass. On each, "not attributed"
    // is the used bytes less what the stacks hold there, as the database
    // has them; the capacity line is used + free.
    let filesystems = newest_filesystems(&db);
    let held = stack_bytes_by_filesystem(&db, &filesystems);
    let blocks = filesystem_blocks(host);
    assert_eq!(blocks.keys().collect::<Vec<_>>(), filesystems.keys().collect::<Vec<_>>(), "a chart per filesystem");
    for (mount, &(used, free, _)) in &filesystems {
        let block = blocks[mount];
        let expected = (used - held.get(mount).copied().unwrap_or(0)).max(0);
        match block.find("data-series=\"not attributed\"") {
            Some(at) => {
                let shown: i64 = attr(&block[at..], "data-last").parse().unwrap();
                assert_eq!(shown, expected, "not attributed on {mount}: used {used}, stacks {:?}", held.get(mount));
            }
            None => assert_eq!(expected, 0, "no \"not attributed\" series on {mount}"),
        }
        let capacity = slice(block, "<path class=\"refline\"", ">");
        assert_eq!(attr(capacity, "data-last").parse::<i64>().unwrap(), used + free, "capacity of {mount}");
    }
    // The Docker root's holds our stack, and is drawn first.
    let (root, &(used, free, _)) = filesystems.iter().find(|(_, f)| f.2).unwrap();
    let root_at = host.find(&format!("data-mount-point=\"{root}\"")).unwrap();
    assert!(
        host.find("data-docker-root=\"false\"").is_none_or(|other| root_at < other),
        "the Docker root's chart first"
    );
    assert!(
        blocks[root.as_str()].contains(&format!("data-series=\"{project}\"")),
        "our stack is not on the Docker root's chart"
    );
    // The disk grew over the window: the projection runs from the newest
    // point at the report's own rate (its fill_seconds), to full or to the
    // chart's end.
    let json = bin()
        .args(["report", "--db", db.to_str().unwrap(), "--format", "json", "--window", "1h", "--no-knowledge"])
        .env_remove("FACTORY_ROOT")
        .output()
        .unwrap();
    assert!(json.status.success(), "{}", String::from_utf8_lossy(&json.stderr));
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let fs = json["hosts"][0]["filesystems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["mount_point"] == root.as_str())
        .unwrap()
        .clone();
    let fill = fs["fill_seconds"].as_i64().unwrap_or_else(|| panic!("the report projects no fill: {fs}"));
    let chart = slice(blocks[root.as_str()], "<svg class=\"chart\"", ">");
    let t1: i64 = attr(chart, "data-t1").parse().unwrap();
    let projection = slice(blocks[root.as_str()], "<path class=\"projection\"", ">");
    let num = |name: &str| attr(projection, name).parse::<i64>().unwrap();
    let newest: i64 = open(&db).query_row("SELECT MAX(started_at) FROM passes", [], |r| r.get(0)).unwrap();
    assert_eq!((num("data-from-t"), num("data-from-v")), (newest, used), "the projection starts at the newest point");
    let ahead = 3600 / 4;
    let expected_end = if fill <= ahead {
        (newest + fill, used + free)
    } else {
        (newest + ahead, used + (free as f64 * ahead as f64 / fill as f64).round() as i64)
    };
    assert_eq!((num("data-to-t"), num("data-to-v")), expected_end, "the report's fill in {fill} s");
    assert_eq!(t1, num("data-to-t"), "the time axis runs to the projection's end");

    // The hostile name is text: escaped where it shows, no script element
    // from it (the page has none of its own), and it never ran.
    assert!(dom.contains("&lt;script&gt;document.documentElement"), "the hostile name is not shown as text");
    assert_eq!(dom.matches("<script").count(), 0, "a script element made it into the page");
    let html_tag = slice(&dom, "<html", ">");
    assert!(!html_tag.contains("pwned"), "the hostile script ran: {html_tag}");

    // The stack page: disk by part (three series) and memory, from the link.
    let stack = chromium(&["--dump-dom", &format!("http://{addr}/stack/compose/{project}?window=1h")]);
    assert_eq!(stack.matches("<g class=\"series\"").count(), 5, "three parts, memory and our container's CPU");
    // CPU: a rate in thousandths of a core, over the shell loop's pass.
    let cpu = slice(&stack, "data-unit=\"millicores\"", "</svg>");
    let series = slice(cpu, &format!("<g class=\"series\" data-series=\"{app}\""), ">");
    let rate: i64 = attr(series, "data-last").parse().unwrap_or_else(|_| panic!("no CPU rate: {series}"));
    assert!(rate > 0, "our container's CPU over the loop: {rate} millicores");
    assert!(cpu.contains(" cores</text>"), "the CPU axis reads in cores");
    assert!(stack.contains("class=\"owner\""), "no owner line");
    let restart = slice(&stack, "<line class=\"event\"", "</line>");
    assert!(restart.contains(&format!("{app}: die")), "the restart is not on the time axis: {restart}");

    // The volume page, from the stack page's link: its growth and who mounts it.
    let volume = format!("{project}_data");
    assert!(stack.contains(&format!("href=\"/volume/{volume}\"")), "the stack page does not link its volume");
    let vol = chromium(&["--dump-dom", &format!("http://{addr}/volume/{volume}?window=1h")]);
    let grew: i64 = attr(slice(&vol, "<p class=\"growth\"", ">"), "data-growth-bytes").parse().unwrap();
    assert!((GROWTH..GROWTH + 200_000).contains(&grew), "volume growth {grew} for {GROWTH} written");
    let mounted = slice(&vol, "<ul class=\"mounted-by\">", "</ul>");
    assert!(mounted.contains(&project) && mounted.contains(&app), "mounted by: {mounted}");

    // The one-file export: the same page, no links to pages it lacks, no
    // script, nothing fetched.
    let out = bin()
        .args(["report", "--db", db.to_str().unwrap(), "--format", "html", "--window", "1h", "--no-knowledge"])
        .env_remove("FACTORY_ROOT")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let file = String::from_utf8(out.stdout).unwrap();
    assert!(file.contains(&format!("data-stack=\"{project}\"")) && file.contains("<svg"), "no stack row or chart");
    assert!(!file.contains("<script") && !file.contains("src=") && !file.contains("href=\"/"), "not self-contained");

    // A screenshot with the charts is far from blank: compared with a blank
    // page shot the same way (PNG compresses a blank page to almost nothing).
    let shots = tempfile::tempdir().unwrap();
    let page = screenshot(&url, &shots.path().join("host.png"));
    let blank = screenshot("about:blank", &shots.path().join("blank.png"));
    assert_eq!(png_size(&page), (1280, 2000));
    assert!(page.len() > 3 * blank.len(), "screenshot looks blank: {} bytes, a blank page {}", page.len(), blank.len());
    let stack_shot =
        screenshot(&format!("http://{addr}/stack/compose/{project}?window=1h"), &shots.path().join("stack.png"));
    assert_eq!(png_size(&stack_shot), (1280, 2000));
    assert!(stack_shot.len() > 3 * blank.len(), "stack page screenshot looks blank: {} bytes", stack_shot.len());
    // The README's picture is made here, on real data, when asked for.
    if let Ok(to) = std::env::var("STACKWATCH_DASHBOARD_PNG") {
        std::fs::copy(shots.path().join("host.png"), to).unwrap();
    }
}
