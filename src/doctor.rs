//! What `stackwatch doctor` checks: can stackwatch do its job here, and if
//! not, what to change. Each check is `ok`, `warn` or `fail`, each failure
//! with its fix (a warning means "works, with less to say", e.g. no disk
//! figures from inside a container).
//!
//! Every check runs even after one failed: a cron job that broke for two
//! reasons should not take two rounds to fix.

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::config::Config;
use crate::engine::{DEFAULT_HOST, Engine};
use crate::history::owners::Projects;
use crate::report::outputs;
use crate::store::{self, read};
use crate::time::iso_utc;
use crate::{paths, untrusted};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

pub struct Check {
    pub status: Status,
    pub name: &'static str,
    pub text: String,
}

#[derive(Default)]
struct Checks(Vec<Check>);

impl Checks {
    fn ok(&mut self, name: &'static str, text: impl Into<String>) {
        self.0.push(Check { status: Status::Ok, name, text: text.into() });
    }
    fn warn(&mut self, name: &'static str, text: impl Into<String>) {
        self.0.push(Check { status: Status::Warn, name, text: text.into() });
    }
    fn fail(&mut self, name: &'static str, text: impl Into<String>) {
        self.0.push(Check { status: Status::Fail, name, text: text.into() });
    }
}

/// What a check is told: the command line's paths and engine, each `None`
/// when not given.
pub struct Request {
    pub config: Option<PathBuf>,
    pub db: Option<PathBuf>,
    pub docker_host: Option<String>,
    pub projects: Option<PathBuf>,
    pub knowledge: Option<PathBuf>,
    pub vault: Option<PathBuf>,
}

/// Every check, in order; one that fails does not stop the others.
pub fn check(req: &Request) -> Result<Vec<Check>> {
    let mut checks = Checks::default();

    let config = match Config::load(req.config.as_deref()) {
        Ok(c) => {
            match &req.config {
                Some(p) => checks.ok("config", format!("{} is valid", p.display())),
                None => checks.ok("config", "no config file given (--config, $STACKWATCH_CONFIG): defaults in use"),
            }
            c
        }
        Err(e) => {
            checks.fail(
                "config",
                format!("{e:#}; fix that key (stackwatch.example.toml lists every key); checking with defaults"),
            );
            Config::default()
        }
    };

    // One engine at a time: with several configured, say which.
    if req.docker_host.is_none() && config.docker.host.len() > 1 {
        checks.warn(
            "engine",
            format!(
                "[docker] host names {} engines; checking the first only (pick another with --docker-host)",
                config.docker.host.len()
            ),
        );
    }
    let host = req.docker_host.clone().or(config.docker.host.first().cloned()).unwrap_or_else(|| DEFAULT_HOST.into());
    socket(&mut checks, &host, &config);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(engine(&mut checks, &host, &config));

    database(&mut checks, &paths::database(req.db.clone(), config.database.path.clone()), &config);

    match crate::paths::projects(req.projects.as_deref(), config.report.projects_dir.as_deref()) {
        None => checks.warn(
            "projects",
            "no projects directory configured (--projects, $FACTORY_ROOT, [report] projects_dir): \
             no project TOMLs are read, so owners come from labels only",
        ),
        Some((pdir, explicit)) => match Projects::load(&pdir, explicit) {
            Ok(p) if p.list.is_empty() && p.errors.is_empty() && !pdir.exists() => checks.warn(
                "projects",
                format!(
                    "no project directory at {} (--projects, $FACTORY_ROOT/projects, [report] projects_dir): \
                     owners come from labels only",
                    pdir.display()
                ),
            ),
            Ok(p) => {
                for e in &p.errors {
                    checks.fail(
                        "projects",
                        format!("{e}; fix that file (README \"Ownership\"); until then `report` ignores its claims"),
                    );
                }
                checks.ok("projects", format!("{}: {} project files valid", pdir.display(), p.list.len()));
            }
            Err(e) if !pdir.exists() => checks.fail(
                "projects",
                format!("{e:#}; create it, or point --projects (or $FACTORY_ROOT) at the factory's projects directory"),
            ),
            Err(e) => checks.fail("projects", format!("{e:#}; fix its permissions or point --projects elsewhere")),
        },
    }

    // The same paths and the same checks as `report`, which refuses to
    // write anything when one of them fails.
    let from = "--knowledge, $OPS_KNOWLEDGE_ROOT or $OPS_REPO_ROOT";
    match paths::knowledge_path(req.knowledge.clone()) {
        None => checks.ok("knowledge", format!("not configured ({from}): `report` updates none")),
        Some(k) => match outputs::check_knowledge(&k) {
            Ok(()) => checks.ok("knowledge", format!("{} can be updated", k.display())),
            Err(e) => checks.fail("knowledge", format!("{e:#}; fix it or point {from} elsewhere")),
        },
    }
    let from = "--vault, $OPS_VAULT_ROOT or $OPS_REPO_ROOT";
    match paths::vault_dir(req.vault.clone()) {
        None => checks.ok("vault", format!("not configured ({from}): `report` writes none")),
        Some(v) => match outputs::check_vault(&v) {
            Ok(()) => checks.ok("vault", format!("{} is writable", v.display())),
            Err(e) => checks.fail("vault", format!("{e:#}; fix its permissions or point {from} elsewhere")),
        },
    }
    Ok(checks.0)
}

/// Who may use the socket, and whether this user is among them; for a TCP
/// engine, whether TLS protects it instead.
fn socket(checks: &mut Checks, host: &str, config: &Config) {
    let Some(path) = host.strip_prefix("unix://").or_else(|| host.starts_with('/').then_some(host)) else {
        tls(checks, host, config);
        return;
    };
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            checks
                .fail("socket", format!("{path} does not exist; start dockerd, or point --docker-host at the engine"));
            return;
        }
        Err(e) => {
            checks.fail("socket", format!("cannot look at {path}: {e}; run as root or a member of the `docker` group"));
            return;
        }
    };
    if !meta.file_type().is_socket() {
        checks.fail("socket", format!("{path} is not a socket; point --docker-host at the engine's socket"));
        return;
    }
    let mode = meta.permissions().mode() & 0o777;
    let group = group_name(meta.gid()).unwrap_or_else(|| meta.gid().to_string());
    let who = format!("{path} (mode {mode:03o}, owner uid {}, group {group})", meta.uid());
    use rustix::fs::Access;
    let usable = rustix::fs::access(path, Access::READ_OK | Access::WRITE_OK).is_ok();
    let uid = rustix::process::geteuid().as_raw();
    if usable {
        checks.ok(
            "socket",
            format!("{who}: usable by this user (uid {uid}); note that socket access is root-equivalent"),
        );
    } else {
        checks.fail(
            "socket",
            format!(
                "{who}: not usable by this user (uid {uid}); run as root or add the user to group `{group}` \
                 (`usermod -aG {group} USER`, then log in again)"
            ),
        );
    }
}

/// A TCP engine: TLS or not, and whether its certificates load. Plain TCP
/// works, but whoever reaches the port owns the engine, hence a warning.
fn tls(checks: &mut Checks, host: &str, config: &Config) {
    match crate::engine::tls_for(host, &config.docker) {
        Ok(Some(dir)) => checks.ok(
            "tls",
            format!(
                "{host} is spoken to over TLS: the engine is verified against {}, our client certificate is {} \
                 (directory {})",
                dir.ca().display(),
                dir.cert().display(),
                dir.describe()
            ),
        ),
        Ok(None) => checks.warn(
            "tls",
            format!(
                "{host} is plain TCP without TLS: anyone who can reach that port controls the engine; if the \
                 engine listens with --tlsverify, set DOCKER_TLS_VERIFY=1 or [docker] tls_verify = true, else \
                 reach it through a forwarded unix socket (README \"Several engines\")"
            ),
        ),
        Err(e) => checks.fail("tls", format!("{e:#}")),
    }
}

fn group_name(gid: u32) -> Option<String> {
    let text = std::fs::read_to_string("/etc/group").ok()?;
    text.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        let id: u32 = f.nth(1)?.parse().ok()?;
        (id == gid).then(|| name.to_string())
    })
}

/// Engine reachable, its API version, and what of the Docker root is visible.
async fn engine(checks: &mut Checks, host: &str, config: &Config) {
    let engine = match Engine::connect(host, &config.docker).await {
        Ok(e) => e,
        Err(e) => {
            checks.fail("engine", format!("{e:#}"));
            checks.warn("docker root", "unknown until the engine answers (see the engine line)");
            return;
        }
    };
    checks.ok(
        "engine",
        format!(
            "{} answers{}: Docker {}, speaking API {} with it (negotiated: the lower of the engine's and {})",
            engine.host,
            if engine.tls().is_some() { " over TLS" } else { "" },
            untrusted::line(&engine.engine_version, 40),
            engine.api_version,
            bollard::API_DEFAULT_VERSION
        ),
    );
    let (info, listed) = match tokio::try_join!(engine.info(), engine.containers()) {
        Ok(x) => x,
        Err(e) => {
            checks.fail("docker root", format!("{e:#}"));
            return;
        }
    };
    let walk = "volume and writable-layer sizes are measured by walking it (sizing method: walk), counters read from cgroup files";
    let sizes = "volume and writable-layer sizes come from the engine (sizing method: engine df), counters from the stats endpoint";
    match info.docker_root_dir.filter(|r| !r.is_empty()) {
        Some(root) if engine.local && crate::collect::root_is_the_engines(Path::new(&root), &listed) => checks.ok(
            "docker root",
            format!("{root} is readable here: its filesystem's use and container log sizes are measured; {walk}"),
        ),
        Some(root) => checks.warn(
            "docker root",
            format!(
                "{root} is not visible from here: disk use and log sizes will be recorded as unknown; {sizes}; \
                 to measure them, run stackwatch on the engine's host as root"
            ),
        ),
        None => checks.warn("docker root", format!("the engine does not say where its root is; {sizes}")),
    }
}

fn database(checks: &mut Checks, db: &Path, config: &Config) {
    let fix = "point --db ($STACKWATCH_DB, [database] path) at a file this user can write";
    if let Err(e) = store::check_file(db).and_then(|_| store::check_writable(db)) {
        let text = format!("{e:#}");
        let text = if text.contains("--db") { text } else { format!("{text}; {fix}") };
        checks.fail("database", text);
        return;
    }
    if !db.exists() {
        checks.ok(
            "database",
            format!(
                "{} does not exist yet and can be created (the first collect does); schema {}",
                db.display(),
                store::schema_version()
            ),
        );
        return;
    }
    let st = match store::open_read_only(db, config.database.busy_timeout) {
        Ok(s) => s,
        Err(e) => {
            checks.fail("database", format!("{e:#}"));
            return;
        }
    };
    let summary = st.reader().and_then(|history| Ok(history.summary()?));
    match summary {
        Ok(read::Summary { schema: version, passes, newest_at: newest }) => {
            let latest = store::schema_version();
            let upgrade = if version < latest { "; the next collect upgrades it" } else { "" };
            let newest = newest.map(|t| format!(", newest {}", iso_utc(t))).unwrap_or_default();
            checks.ok(
                "database",
                format!("{} is writable, schema {version} of {latest}{upgrade}; {passes} passes{newest}", db.display()),
            );
        }
        // A database created but never migrated has no tables yet.
        Err(_) => checks.ok("database", format!("{} is writable and empty; the next collect sets it up", db.display())),
    }
}
