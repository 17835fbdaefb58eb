//! The dashboard in a real headless browser (Debian's `chromium`) against
//! a live `stackwatch serve` over a history collected from the engine:
//! our own compose stack, collected, 8 MB written into its volume, then
//! collected again. The DOM the browser built is checked (one series per
//! stack shown, our stack's growth), screenshots of the host and stack
//! pages are checked not to be blank, and a stack named like a `<script>`
//! stays text. Other people's stacks share the engine: only our own
//! objects are asserted on.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

/// If this ran as a script it would mark the document; as text it is inert.
const HOSTILE_STACK: &str = "<script>document.documentElement.setAttribute('data-pwned','yes')</script>";
const GROWTH: i64 = 8_000_000;

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

    // The hostile name is text: escaped where it shows, no script element
    // from it (the page has none of its own), and it never ran.
    assert!(dom.contains("&lt;script&gt;document.documentElement"), "the hostile name is not shown as text");
    assert_eq!(dom.matches("<script").count(), 0, "a script element made it into the page");
    let html_tag = slice(&dom, "<html", ">");
    assert!(!html_tag.contains("pwned"), "the hostile script ran: {html_tag}");

    // The stack page: disk by part (three series) and memory, from the link.
    let stack = chromium(&["--dump-dom", &format!("http://{addr}/stack/compose/{project}?window=1h")]);
    assert_eq!(stack.matches("<g class=\"series\"").count(), 4, "three parts and memory");
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
