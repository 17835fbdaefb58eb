//! A private `dockerd` for the tests that need an engine of their own (a
//! second engine, a TLS engine, an engine to restart): own socket, data
//! root, exec root, pid file and managed containerd in a temporary
//! directory, stopped and cleaned up on drop, also when the test fails.
//!
//! It always runs in a network namespace of its own (`unshare --net`):
//! `--bridge=none` alone is not enough, because a daemon started with it
//! *deletes* any `docker0` interface it sees, and that one belongs to the
//! shared engine every other test uses. Its containers run with
//! `--network none`. Anything listening on TCP (`.arg("--host=tcp://…")`)
//! exists only in that namespace: run clients there with
//! [`PrivateEngine::in_netns`].

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{ci, docker};

/// What differs between private engines; [`PrivateEngine::builder`].
pub struct PrivateEngineBuilder {
    name: String,
    prefix: String,
    args: Vec<OsString>,
    loopback: bool,
    own_engine_id: bool,
}

impl PrivateEngineBuilder {
    /// An extra dockerd argument (`--tlsverify`, `--host=tcp://…`,
    /// `--storage-driver=vfs`).
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_os_string());
        self
    }

    /// Brings the namespace's loopback up before dockerd starts (a new
    /// network namespace has it down), for an engine listening on
    /// 127.0.0.1. Needs `ip` (iproute2).
    pub fn loopback_up(mut self) -> Self {
        self.loopback = true;
        self
    }

    /// A `daemon.json` of its own naming a key in the temporary directory:
    /// engine 20.10 derives its ID from that key, and the default one in
    /// /etc/docker would give this engine the shared engine's ID.
    pub fn own_engine_id(mut self) -> Self {
        self.own_engine_id = true;
        self
    }

    /// Starts dockerd and waits until it answers on its socket.
    pub fn start(self) -> PrivateEngine {
        // Short path: unix socket paths are limited to 108 bytes.
        let dir = tempfile::Builder::new().prefix(&self.prefix).tempdir_in("/tmp").unwrap();
        let p = dir.path();
        let mut args = Vec::new();
        if self.own_engine_id {
            let config = p.join("daemon.json");
            std::fs::write(&config, format!("{{\"deprecated-key-path\": \"{}/key.json\"}}", p.display())).unwrap();
            args.push(OsString::from(format!("--config-file={}", config.display())));
        }
        args.push(format!("--host=unix://{}/docker.sock", p.display()).into());
        args.extend(self.args);
        for (flag, sub) in [("--data-root", "data"), ("--exec-root", "exec"), ("--pidfile", "docker.pid")] {
            args.push(format!("{flag}={}/{sub}", p.display()).into());
        }
        args.extend(
            ["--bridge=none", "--iptables=false", "--ip-masq=false", "--shutdown-timeout=1"].map(OsString::from),
        );
        let mut engine = PrivateEngine { name: self.name, dir, args, loopback: self.loopback, daemon: None };
        engine.launch();
        engine
    }
}

/// A private Docker engine; see the module documentation.
pub struct PrivateEngine {
    name: String,
    dir: tempfile::TempDir,
    /// dockerd's arguments, kept for a relaunch.
    args: Vec<OsString>,
    loopback: bool,
    daemon: Option<Child>,
}

impl PrivateEngine {
    /// `name` says which engine in failure messages ("the {name} dockerd");
    /// `prefix` starts its temporary directory's name.
    pub fn builder(name: &str, prefix: &str) -> PrivateEngineBuilder {
        PrivateEngineBuilder {
            name: name.to_string(),
            prefix: prefix.to_string(),
            args: Vec::new(),
            loopback: false,
            own_engine_id: false,
        }
    }

    /// True when this machine can run a private engine (root, `dockerd`,
    /// `unshare` and the `tools` a test needs besides, such as `nsenter`
    /// or `ip`). Without them a test skips locally but fails under CI.
    pub fn possible(tools: &[&str]) -> bool {
        let root = rustix::process::geteuid().is_root();
        let missing: Vec<&str> = ["dockerd", "unshare"]
            .iter()
            .chain(tools)
            .copied()
            .filter(|t| {
                !Command::new(t)
                    .arg(if *t == "ip" { "-V" } else { "--version" })
                    .output()
                    .is_ok_and(|o| o.status.success())
            })
            .collect();
        let ok = root && missing.is_empty();
        if !ok {
            assert!(!ci(), "CI is set but a private dockerd cannot be started (root: {root}, missing: {missing:?})");
            super::skipping(&format!(
                "a private dockerd needs root and dockerd, unshare, {tools:?} (root: {root}, missing: {missing:?})"
            ));
        }
        ok
    }

    /// The temporary directory holding everything of this engine.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// The engine's unix socket, `unix:///tmp/…/docker.sock`: a file,
    /// reachable from any network namespace.
    pub fn host(&self) -> String {
        format!("unix://{}", self.path("docker.sock").display())
    }

    /// dockerd's pid: unshare and sh exec it, so it is the child's.
    pub fn pid(&self) -> u32 {
        self.daemon.as_ref().expect("the private dockerd is not running").id()
    }

    /// Starts dockerd (again, after [`stop`](Self::stop): same directory,
    /// same containers) and waits until it answers on its socket.
    pub fn launch(&mut self) {
        assert!(self.daemon.is_none(), "the {} dockerd is already running", self.name);
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.path("dockerd.log")).unwrap();
        let bridge = Path::new("/sys/class/net/docker0");
        let had_bridge = bridge.exists();
        // Never in the host's network namespace: a dockerd started with
        // --bridge=none there deletes the shared engine's docker0.
        let mut cmd = Command::new("unshare");
        cmd.args(["--net", "--"]);
        if self.loopback {
            // Bring lo up, then become dockerd (same pid, so
            // /proc/<pid>/ns/net is its namespace).
            cmd.args(["sh", "-c", "ip link set lo up && exec \"$@\"", "sh"]);
        }
        let child = cmd
            .arg("dockerd")
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("unshare (util-linux), dockerd (docker.io) and, for loopback_up, ip (iproute2)");
        self.daemon = Some(child);
        let start = Instant::now();
        while !self.docker_ok(&["version", "--format", "{{.Server.Version}}"]) {
            let exited = self.daemon.as_mut().unwrap().try_wait().ok().flatten();
            assert!(exited.is_none(), "the {} dockerd exited ({exited:?}):\n{}", self.name, self.log_tail(20));
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the {} dockerd did not answer within 30 s:\n{}",
                self.name,
                self.log_tail(20)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        assert!(
            !had_bridge || bridge.exists(),
            "starting the {} engine removed the shared engine's docker0",
            self.name
        );
    }

    /// SIGTERM, then wait up to 20 s for dockerd to exit (it stops its
    /// containerd too), then SIGKILL. Containers and files stay, for a
    /// [`launch`](Self::launch).
    pub fn stop(&mut self) {
        if let Some(mut d) = self.daemon.take() {
            if d.try_wait().ok().flatten().is_some() {
                return; // Exited and reaped: its pid may be another's now.
            }
            // Our own child (dockerd, exec'd by unshare), not reaped yet.
            let _ = rustix::process::kill_process(rustix::process::Pid::from_child(&d), rustix::process::Signal::TERM);
            let deadline = Instant::now() + Duration::from_secs(20);
            while d.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            if d.try_wait().ok().flatten().is_none() {
                let _ = d.kill();
                let _ = d.wait();
            }
        }
    }

    /// `docker -H <this engine> args`; its stdout, trimmed. Panics with
    /// docker's stderr on failure.
    pub fn docker(&self, args: &[&str]) -> String {
        let host = self.host();
        let mut all: Vec<&str> = vec!["-H", &host];
        all.extend_from_slice(args);
        docker(&all)
    }

    /// True when `docker -H <this engine> args` succeeds.
    pub fn docker_ok(&self, args: &[&str]) -> bool {
        Command::new("docker").arg("-H").arg(self.host()).args(args).output().is_ok_and(|o| o.status.success())
    }

    /// The engine's ID.
    pub fn id(&self) -> String {
        self.docker(&["info", "--format", "{{.ID}}"])
    }

    /// Copies `image` from the shared engine, without a registry: saved
    /// from one engine, loaded into this one.
    pub fn load(&self, image: &str) {
        let tar = tempfile::NamedTempFile::new().unwrap();
        docker(&["save", "-o", tar.path().to_str().unwrap(), image]);
        self.docker(&["load", "-q", "-i", tar.path().to_str().unwrap()]);
    }

    /// dockerd's whole log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path("dockerd.log")).unwrap_or_default()
    }

    /// The last `lines` lines of dockerd's log, for a failure message.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = self.log();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// `program` in the engine's network namespace (`nsenter --net`), where
    /// its TCP ports are. Needs `nsenter` (util-linux).
    pub fn in_netns(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--net=/proc/{}/ns/net", self.pid())).arg(program);
        cmd
    }
}

impl Drop for PrivateEngine {
    fn drop(&mut self) {
        let p = self.dir.path().to_path_buf();
        if self.daemon.is_some() {
            // Containers first, with SIGKILL: a shutting-down daemon would
            // give each its stop timeout.
            let host = self.host();
            if let Ok(o) = Command::new("docker").args(["-H", &host, "ps", "-aq"]).output() {
                let ids: Vec<String> =
                    String::from_utf8_lossy(&o.stdout).split_whitespace().map(String::from).collect();
                if !ids.is_empty() {
                    let _ = Command::new("docker").args(["-H", &host, "rm", "-f"]).args(&ids).output();
                }
            }
        }
        self.stop();
        // The containerd this dockerd started, should it have outlived it
        // (a SIGKILLed dockerd leaves it); only if that pid still is ours.
        let pidfile = p.join("exec/containerd/containerd.pid");
        if let Some(pid) = std::fs::read_to_string(pidfile).ok().and_then(|s| s.trim().parse::<i32>().ok()) {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains(p.to_str().unwrap()) {
                // The containerd our dockerd recorded, running with our exec root.
                if let Some(pid) = rustix::process::Pid::from_raw(pid) {
                    let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                }
            }
        }
        // Anything still mounted under the temporary directory (deepest first).
        let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
        let mut ours: Vec<&str> =
            mounts.lines().filter_map(|l| l.split(' ').nth(1)).filter(|m| Path::new(m).starts_with(&p)).collect();
        ours.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in ours {
            let _ = Command::new("umount").args(["-l", m]).output();
        }
    }
}
