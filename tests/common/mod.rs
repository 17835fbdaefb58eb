//! Shared test bed for tests that drive a real Docker engine.
//!
//! Images are built `FROM scratch` with Debian's static busybox (nothing can
//! be pulled here). Every name is unique per test run and every container,
//! volume and compose project a test creates is removed by a guard, even
//! when the test fails.

#![allow(dead_code)]

mod faults;
mod private_engine;

// Every test binary compiles this module; only some use these.
#[allow(unused_imports)]
pub use faults::{paused_collect, whole_passes};
#[allow(unused_imports)]
pub use private_engine::PrivateEngine;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

pub const IMAGE: &str = "stackwatch-test-busybox:1";

/// True when the CI variable is set (to anything but empty, 0 or false):
/// then a test bed that is missing something fails instead of skipping.
pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// True when an engine answers. Without one, tests skip locally but fail
/// under CI, where a missing engine means the test bed is broken.
pub fn engine_available() -> bool {
    static UP: OnceLock<bool> = OnceLock::new();
    let up = *UP.get_or_init(|| {
        Command::new("docker")
            .args(["version", "--format", "{{.Server.APIVersion}}"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    });
    if !up {
        if ci() {
            panic!("CI is set but no Docker engine answers (run .ci/start-dockerd)");
        }
        skipping("no Docker engine answers (set CI=true to make this a failure)");
    }
    up
}

/// True when `program` runs (`program args` exits 0). Without it, a test
/// skips locally but fails under CI, where .ci/setup installs it.
pub fn tool_available(program: &str, args: &[&str], package: &str) -> bool {
    let ok = Command::new(program).args(args).output().map(|o| o.status.success()).unwrap_or(false);
    if !ok {
        if ci() {
            panic!("CI is set but `{program}` is missing (apt-get install {package}; .ci/setup does)");
        }
        skipping(&format!("`{program}` is missing (apt-get install {package})"));
    }
    ok
}

/// Says, in `cargo test`'s output, that the calling test skips and why.
/// libtest captures `eprintln!` and shows it only for a failing test, so a
/// skip would look like a pass; a write to the stderr handle through
/// `std::io::Write` is not captured. The test's name is its thread's.
pub fn skipping(why: &str) {
    use std::io::Write;
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("a test");
    let _ = writeln!(std::io::stderr(), "skipping {test}: {why}");
}

/// Kills a child process (a server, a second dockerd) on drop, so a failing
/// test never leaves it running.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Builds the busybox image once per test process.
pub fn image() -> &'static str {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let busybox = ["/bin/busybox", "/usr/bin/busybox"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("static busybox not found (apt-get install busybox-static)");
        std::fs::copy(busybox, dir.path().join("busybox")).unwrap();
        std::fs::write(
            dir.path().join("Dockerfile"),
            "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n",
        )
        .unwrap();
        docker(&["build", "-q", "-t", IMAGE, dir.path().to_str().unwrap()]);
    });
    IMAGE
}

/// Builds `FROM` the busybox image with extra Dockerfile lines; returns the
/// image id. Without a tag the image is dangling from the start.
pub fn build(clean: &mut Cleanup, tags: &[&str], lines: &str) -> String {
    let base = image();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Dockerfile"), format!("FROM {base}\n{lines}\n")).unwrap();
    let mut args = vec!["build", "-q"];
    for t in tags {
        args.extend(["-t", t]);
    }
    args.push(dir.path().to_str().unwrap());
    let id = docker(&args);
    clean.image(&id);
    for t in tags {
        clean.image(t);
    }
    id
}

/// True when the engine still has the object (`container`, `image`, `volume`).
pub fn exists(kind: &str, name: &str) -> bool {
    Command::new("docker").args([kind, "inspect", name]).output().map(|o| o.status.success()).unwrap_or(false)
}

/// A name no other test (or earlier run) uses: lowercase, compose-safe.
pub fn unique(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("swt{prefix}{}x{}x{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed), nanos % 100_000)
}

pub fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().expect("run docker");
    assert!(out.status.success(), "docker {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Removes what a test created, in reverse order, on drop.
#[derive(Default)]
pub struct Cleanup {
    containers: Vec<String>,
    volumes: Vec<String>,
    projects: Vec<(PathBuf, String)>,
    images: Vec<String>,
}

impl Cleanup {
    pub fn container(&mut self, name: &str) {
        self.containers.push(name.to_string());
    }
    pub fn volume(&mut self, name: &str) {
        self.volumes.push(name.to_string());
    }
    pub fn project(&mut self, dir: &Path, name: &str) {
        self.projects.push((dir.to_path_buf(), name.to_string()));
    }
    /// An image tag or id; removed after the containers.
    pub fn image(&mut self, reference: &str) {
        self.images.push(reference.to_string());
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for (dir, name) in &self.projects {
            let _ =
                Command::new("docker-compose").args(["-p", name, "down", "-v", "-t", "0"]).current_dir(dir).output();
        }
        for c in &self.containers {
            let _ = Command::new("docker").args(["rm", "-f", "-v", c]).output();
        }
        for v in &self.volumes {
            let _ = Command::new("docker").args(["volume", "rm", "-f", v]).output();
        }
        for i in &self.images {
            let _ = Command::new("docker").args(["rmi", "-f", i]).output();
        }
    }
}

/// The major version of the `docker-compose` on PATH: 1 (Debian 12's
/// 1.29) or 2 (Debian 13's, the one `.ci/modern-engine env` puts first).
pub fn compose_major() -> u32 {
    static MAJOR: OnceLock<u32> = OnceLock::new();
    *MAJOR.get_or_init(|| {
        let out = Command::new("docker-compose").args(["version", "--short"]).output().expect("run docker-compose");
        let version = String::from_utf8_lossy(&out.stdout);
        version
            .trim()
            .trim_start_matches('v')
            .split('.')
            .next()
            .and_then(|m| m.parse().ok())
            .unwrap_or_else(|| panic!("docker-compose version --short said {version:?}"))
    })
}

/// The name compose gives the first container of `service`: compose v1
/// joins with `_`, v2 with `-`.
pub fn compose_container(project: &str, service: &str) -> String {
    let sep = if compose_major() >= 2 { '-' } else { '_' };
    format!("{project}{sep}{service}{sep}1")
}

/// A compose project from `yaml`, brought up with the `docker-compose` on
/// PATH (v1 or v2).
pub fn compose_up(clean: &mut Cleanup, dir: &Path, project: &str, yaml: &str) {
    std::fs::write(dir.join("docker-compose.yml"), yaml).unwrap();
    clean.project(dir, project);
    let out = Command::new("docker-compose")
        .args(["-p", project, "up", "-d"])
        .current_dir(dir)
        .output()
        .expect("run docker-compose");
    assert!(out.status.success(), "compose up failed: {}", String::from_utf8_lossy(&out.stderr));
}

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_stackwatch"))
}

/// Runs `stackwatch collect` against `db`; panics with its output on failure.
pub fn collect(db: &Path) -> Output {
    collect_with(db, &[])
}

/// `collect` with extra arguments (`--sizes` to re-measure sizes now
/// instead of at their 30-minute cadence).
pub fn collect_with(db: &Path, args: &[&str]) -> Output {
    let out = bin().args(["collect", "--db", db.to_str().unwrap()]).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "collect failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn open(db: &Path) -> Connection {
    Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap()
}

/// Polls `check` until it returns Some or `limit` passes.
pub fn wait_for<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(start.elapsed() < limit, "timed out after {limit:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

pub fn inspect(name: &str, format: &str) -> String {
    docker(&["inspect", "-f", format, name])
}
