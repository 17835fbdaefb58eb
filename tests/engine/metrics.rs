//! `stackwatch metrics` and `stackwatch serve` on a history collected from
//! the real engine: the output passes `promtool check metrics` (and the
//! OpenMetrics parser of the Prometheus Python client), hostile names stay
//! inside their label values, unknown values are absent, and the server
//! answers over HTTP on loopback.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::*;

const KIB: i64 = 1024;

/// A compose project name no sane person would pick: a quote, a backslash
/// and a line that would be a metric of its own if it were not escaped.
const HOSTILE_STACK: &str = "evil\"\\stack\nfake_metric 1";
const HOSTILE_OWNER: &str = "mallory \"the\" \\ owner\n# HELP x";

fn metrics(db: &Path, args: &[&str]) -> String {
    let out =
        bin().args(["metrics", "--db", db.to_str().unwrap()]).args(args).env_remove("FACTORY_ROOT").output().unwrap();
    assert!(out.status.success(), "metrics failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn pipe_into(program: &str, args: &[&str], input: &str) -> std::process::Output {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// The sample lines (not comments) of one container, by its name label.
fn lines_of<'a>(text: &'a str, label: &str) -> Vec<&'a str> {
    text.lines().filter(|l| !l.starts_with('#') && l.contains(label)).collect()
}

fn value_of(text: &str, metric: &str, label: &str) -> Option<i64> {
    lines_of(text, label)
        .into_iter()
        .find(|l| l.starts_with(&format!("{metric}{{")))
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
}

#[test]
fn metrics_of_a_real_pass_pass_promtool_and_keep_hostile_names_inside_labels() {
    if !engine_available() {
        return;
    }
    let promtool = tool_available("promtool", &["--version"], "prometheus");
    // Debian's own interpreter: that is where python3-prometheus-client
    // installs, whatever `python3` on PATH is (pyenv, a venv).
    let openmetrics_parser = tool_available(
        "/usr/bin/python3",
        &["-c", "import prometheus_client.openmetrics.parser"],
        "python3-prometheus-client",
    );
    let img = image();
    let project = unique("met");
    let dir = tempfile::tempdir().unwrap();
    let mut clean = Cleanup::default();
    compose_up(
        &mut clean,
        dir.path(),
        &project,
        &format!(
            r#"version: "2.4"
services:
  web:
    image: {img}
    command: ["sh", "-c", "dd if=/dev/urandom of=/data/blob bs=1024 count=1024 && touch /data/done && sleep 3600"]
    volumes: ["data:/data"]
    healthcheck:
      test: ["CMD", "true"]
      interval: 1s
  once:
    image: {img}
    command: ["true"]
volumes:
  data: {{}}
"#
        ),
    );
    let web = compose_container(&project, "web");
    let once = compose_container(&project, "once");
    let hostile = unique("hostile");
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
        "--label",
        &format!("com.disinto.owner={HOSTILE_OWNER}"),
        img,
        "sleep",
        "3600",
    ]);
    wait_for("web healthy and the volume written", Duration::from_secs(30), || {
        (inspect(&web, "{{.State.Health.Status}}") == "healthy"
            && docker(&["exec", &web, "sh", "-c", "test -f /data/done && echo y || echo n"]) == "y")
            .then_some(())
    });
    wait_for("the one-shot service to exit", Duration::from_secs(30), || {
        (inspect(&once, "{{.State.Status}}") == "exited").then_some(())
    });
    let db_dir = tempfile::tempdir().unwrap();
    let db = db_dir.path().join("history.db");
    collect(&db);

    let projects = tempfile::tempdir().unwrap();
    std::fs::write(
        projects.path().join("met.toml"),
        format!("name = \"met\"\n[siblings]\nstacks = [\"{project}\"]\nowner = \"team-x\"\n"),
    )
    .unwrap();
    let text = metrics(&db, &["--projects", projects.path().to_str().unwrap()]);

    // 1. Valid exposition, by Prometheus' own linter.
    if promtool {
        let out = pipe_into("promtool", &["check", "metrics"], &text);
        assert!(
            out.status.success(),
            "promtool check metrics failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // 2. Every line is a comment or one sample of ours: the hostile name
    //    could not start a line of its own.
    for line in text.lines() {
        assert!(
            line.starts_with("# HELP stackwatch_")
                || line.starts_with("# TYPE stackwatch_")
                || line.starts_with("stackwatch_"),
            "stray line: {line:?}"
        );
    }
    // Quotes and backslashes escaped, the line feed made inert (`?`), and a
    // hash of the original name so it stays its own series.
    assert!(text.contains(r#"stack="evil\"\\stack?fake_metric 1~"#), "escaped stack label missing:\n{text}");
    assert!(text.contains(r#"owner="mallory \"the\" \\ owner?# HELP x~"#), "escaped owner label missing");

    // 3. A healthy running container: state and health state sets, counters,
    //    owner from the project TOML, no container ID anywhere.
    let web_label = format!("container=\"{web}\"");
    let web_lines = lines_of(&text, &web_label);
    for expect in [
        "stackwatch_container_state=\"running\"} 1",
        "stackwatch_container_state=\"exited\"} 0",
        "stackwatch_container_health=\"healthy\"} 1",
        "stackwatch_container_health=\"unhealthy\"} 0",
    ] {
        assert!(web_lines.iter().any(|l| l.ends_with(expect)), "{expect} missing for {web}:\n{web_lines:#?}");
    }
    assert!(web_lines.iter().all(|l| l.contains("owner=\"team-x\"") && l.contains("managed=\"false\"")));
    assert!(web_lines.iter().all(|l| l.contains(&format!("stack=\"{project}\",kind=\"compose\",service=\"web\""))));
    for counter in ["stackwatch_container_cpu_seconds_total", "stackwatch_container_block_write_bytes_total"] {
        assert!(web_lines.iter().any(|l| l.starts_with(counter)), "{counter} missing for {web}");
    }
    assert!(value_of(&text, "stackwatch_container_memory_bytes", &web_label).unwrap() > 0);
    let id = inspect(&web, "{{.Id}}");
    assert!(!text.contains(&id[..12]), "a container ID leaked into the labels");

    // 4. An exited container: its state, but no stats at all (unknown, not 0)
    //    and no health (it has no healthcheck).
    let once_lines = lines_of(&text, &format!("container=\"{once}\""));
    assert!(once_lines.iter().any(|l| l.ends_with("stackwatch_container_state=\"exited\"} 1")), "{once_lines:#?}");
    for absent in
        ["stackwatch_container_cpu_seconds_total", "stackwatch_container_memory_bytes", "stackwatch_container_health"]
    {
        assert!(!once_lines.iter().any(|l| l.starts_with(absent)), "{absent} exported for a stopped container");
    }
    assert_eq!(value_of(&text, "stackwatch_container_exit_code", &format!("container=\"{once}\"")), Some(0));

    // 5. The volume's measured size, and the stack's totals.
    let size = value_of(&text, "stackwatch_volume_size_bytes", &format!("volume=\"{project}_data\"")).unwrap();
    assert!((1024 * KIB..=1024 * KIB + 64 * KIB).contains(&size), "volume size {size}");
    let stack_label = format!("stack=\"{project}\",kind=\"compose\",owner=\"team-x\"");
    assert_eq!(value_of(&text, "stackwatch_stack_containers", &stack_label), Some(2));
    assert_eq!(value_of(&text, "stackwatch_stack_running_containers", &stack_label), Some(1));
    assert!(value_of(&text, "stackwatch_stack_disk_bytes", &stack_label).unwrap() >= size);

    // 6. --output writes the same text atomically, leaving no temporary file.
    let out_dir = tempfile::tempdir().unwrap();
    let file = out_dir.path().join("stackwatch.prom");
    metrics(&db, &["--projects", projects.path().to_str().unwrap(), "--output", file.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
    assert_eq!(std::fs::read_dir(out_dir.path()).unwrap().count(), 1);

    // 7. OpenMetrics: state sets, units, _created, # EOF, by a strict parser.
    let om = metrics(&db, &["--openmetrics", "--projects", projects.path().to_str().unwrap()]);
    assert!(om.ends_with("# EOF\n"));
    assert!(om.contains("# TYPE stackwatch_container_health stateset\n"));
    assert!(om.contains(
        "# TYPE stackwatch_container_cpu_seconds counter\n# UNIT stackwatch_container_cpu_seconds seconds\n"
    ));
    assert!(lines_of(&om, &web_label).iter().any(|l| l.starts_with("stackwatch_container_cpu_seconds_created{")));
    if openmetrics_parser {
        let check = "import sys\nfrom prometheus_client.openmetrics.parser import text_string_to_metric_families as p\n\
                     fams = list(p(sys.stdin.read()))\nprint(len(fams))\n";
        let out = pipe_into("/usr/bin/python3", &["-c", check], &om);
        assert!(
            out.status.success(),
            "OpenMetrics parser refused the output:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// One HTTP/1.1 request on loopback; (status, headers, body).
fn http(addr: &str, method: &str, path: &str, accept: Option<&str>) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let accept = accept.map(|a| format!("Accept: {a}\r\n")).unwrap_or_default();
    write!(s, "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{accept}Connection: close\r\n\r\n").unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("a complete HTTP response");
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_lowercase(), body.to_string())
}

/// Starts `stackwatch serve` on a free loopback port; returns the guard and
/// the address it printed.
fn serve(db: &Path, extra: &[&str]) -> (KillOnDrop, String) {
    let mut child = bin()
        .args(["serve", "--listen", "127.0.0.1:0", "--db", db.to_str().unwrap()])
        .args(extra)
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

#[test]
fn serve_answers_metrics_and_healthz_over_loopback_from_the_database() {
    if !engine_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.db");
    collect(&db);
    let expected = metrics(&db, &[]);

    let (mut server, addr) = serve(&db, &[]);
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    let (status, head, body) = http(&addr, "GET", "/metrics", None);
    assert_eq!(status, 200);
    assert!(head.contains("content-type: text/plain; version=0.0.4"), "{head}");
    assert_eq!(body, expected, "a scrape serves exactly what `stackwatch metrics` prints");

    let (status, head, body) =
        http(&addr, "GET", "/metrics", Some("application/openmetrics-text;version=1.0.0,text/plain;q=0.5"));
    assert_eq!(status, 200);
    assert!(head.contains("content-type: application/openmetrics-text; version=1.0.0"), "{head}");
    assert!(body.ends_with("# EOF\n"));

    let (status, _, body) = http(&addr, "GET", "/healthz", None);
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("ok\n") && body.contains("newest pass"), "{body}");
    let (status, head, _) = http(&addr, "POST", "/metrics", None);
    assert_eq!(status, 405);
    assert!(head.contains("allow: get, head"), "{head}");
    assert_eq!(http(&addr, "GET", "/nothing", None).0, 404);

    // Scrapes read the database, not the engine: a new pass shows up at the
    // next scrape without a restart.
    let stamp = |text: &str| -> i64 {
        let line = text.lines().find(|l| l.starts_with("stackwatch_last_pass_timestamp_seconds{")).unwrap();
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    std::thread::sleep(Duration::from_millis(1100));
    collect(&db);
    let (_, _, after) = http(&addr, "GET", "/metrics", None);
    assert!(stamp(&after) > stamp(&expected), "the new pass is not served");

    // SIGTERM stops it cleanly.
    rustix::process::kill_process(rustix::process::Pid::from_child(&server.0), rustix::process::Signal::TERM).unwrap();
    let status = wait_exit(&mut server.0, Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "serve did not exit cleanly on SIGTERM");

    // A stopped collector makes /healthz fail, so a probe can page someone.
    let (_stale_server, addr) = serve(&db, &["--max-age", "1s"]);
    wait_for("healthz to report the stale history", Duration::from_secs(10), || {
        let (status, _, body) = http(&addr, "GET", "/healthz", None);
        (status == 503 && body.starts_with("unhealthy: the newest pass is")).then_some(())
    });
}

fn wait_exit(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    wait_for("the process to exit", limit, || child.try_wait().unwrap())
}
