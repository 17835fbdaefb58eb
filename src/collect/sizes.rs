//! Volume, bind-mount and writable-layer sizes, and Docker's own image and
//! build-cache totals: the expensive part of a pass, so they run at their
//! own cadence and under a time budget.
//!
//! An object whose last walk was cheap (under `[collect] cheap_walk_time`
//! and `cheap_walk_files`) is measured every pass, so on most boxes every
//! size is fresh. A costlier one is re-measured when its last attempt is
//! older than `interval`, oldest first, until the pass's budget is spent;
//! the rest keep their last measurement (with its time) and get their turn
//! in a later pass. When the engine's root directory is visible the walker
//! measures (cheap for the daemon, parallel, deadline-bound); otherwise one
//! `system df` call measures volumes and layers at once. Bind mounts are
//! host paths only the walker can measure, and some are never walked at
//! all (see [`bind_sizing`]).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::disk;
use crate::engine::Engine;
use crate::model::sizes::{BUILD_CACHE, DOCKER_TOTALS, IMAGES, Known, State, VOLUME, WRITABLE_LAYER};
use crate::model::snapshot::{DockerTotals, MountKind, ObjectError, SizeUpdate, Snapshot};

#[derive(Debug, Clone)]
pub struct Plan {
    pub interval: Duration,
    pub budget: Duration,
    /// Measure everything due or not (`collect --sizes`).
    pub force: bool,
    /// No measuring at all this pass (`collect --no-sizes`); known sizes are
    /// still carried forward.
    pub skip: bool,
    pub threads: usize,
    /// A walk cheaper than both of these is repeated every pass.
    pub cheap_time: Duration,
    pub cheap_files: u64,
}

/// A walk cheaper than both of the plan's limits is repeated every pass.
fn cheap(known: &Known, plan: &Plan) -> bool {
    known.method.as_deref() == Some("walk")
        && known.walk_ms.is_some_and(|ms| (ms as u128) < plan.cheap_time.as_millis())
        && known.walk_files.is_some_and(|f| (f as u64) < plan.cheap_files)
}

/// How an object can be measured.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Sizing {
    /// By the walker, leaving out the nested bind paths measured on their own.
    Walk { path: String, excluded: HashSet<PathBuf> },
    /// By the engine's `system df`.
    Engine,
}

struct Target {
    kind: &'static str,
    object: String,
    sizing: Sizing,
    last_attempt: Option<i64>,
}

/// Why a bind mount's host path is never walked, or `None` when it can be.
///
/// * System paths (`/`, `/proc`, `/etc`, `/usr`, ...) are the machine's, not
///   a stack's, and some never end (`/proc`); the top-level data folders
///   (`/srv`, `/home`, `/var`, ...) hold everyone's data at once.
/// * A path inside the Docker root is already counted there (a volume's
///   data, a layer); one that holds the Docker root would count it twice.
/// * Sockets, devices and pipes have no size of their own.
/// * A path the collector cannot see (it runs in a container without it, or
///   the engine is on another machine) is unknown, never 0.
pub fn bind_sizing(path: &str, docker_root: Option<&str>, host_visible: bool) -> Option<String> {
    const SYSTEM_TREES: [&str; 16] = [
        "/proc",
        "/sys",
        "/dev",
        "/run",
        "/var/run",
        "/etc",
        "/usr",
        "/boot",
        "/bin",
        "/sbin",
        "/lib",
        "/lib32",
        "/lib64",
        "/libx32",
        "/snap",
        "/var/lock",
    ];
    const TOP_LEVEL: [&str; 12] =
        ["/", "/srv", "/home", "/root", "/opt", "/mnt", "/media", "/tmp", "/var", "/var/lib", "/var/log", "/data"];
    let p = Path::new(path);
    if !host_visible {
        return Some("the collector cannot see the engine's host paths".into());
    }
    if let Some(sys) = SYSTEM_TREES.iter().find(|t| p.starts_with(t)) {
        return Some(format!("system path (under {sys})"));
    }
    if TOP_LEVEL.iter().any(|t| p == Path::new(t)) {
        return Some("top-level system directory".into());
    }
    if let Some(root) = docker_root {
        if p.starts_with(root) {
            return Some("inside the Docker root (counted there)".into());
        }
        if Path::new(root).starts_with(p) {
            return Some("holds the Docker root".into());
        }
    }
    use std::os::unix::fs::FileTypeExt;
    match std::fs::metadata(p) {
        Ok(m) => {
            let t = m.file_type();
            if t.is_socket() {
                Some("a socket".into())
            } else if t.is_block_device() || t.is_char_device() {
                Some("a device".into())
            } else if t.is_fifo() {
                Some("a pipe".into())
            } else {
                None
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Some("not found from the collector (it runs elsewhere or in a container without it)".into())
        }
        Err(e) => Some(format!("unreadable: {e}")),
    }
}

/// Which objects to measure now, most overdue first (never measured before
/// anything else), so that a pass cut short by the budget resumes where the
/// previous one stopped. Bind paths that are never walked already carry
/// their reason (set where binds are read) and are left out.
fn due(snap: &Snapshot, state: &State, plan: &Plan, now: i64) -> Vec<Target> {
    let root = snap.host.docker_root.clone().filter(|_| snap.host.root_visible);
    let under_root = |p: &str| root.as_deref().is_some_and(|r| Path::new(p).starts_with(r));
    let known = |kind: &str, object: &str| state.get(&(kind.to_string(), object.to_string()));
    let mut targets: Vec<Target> = Vec::new();

    let bind_paths: Vec<&str> = snap
        .volumes
        .iter()
        .filter(|v| v.kind == MountKind::Bind && v.unsized_reason.is_none())
        .map(|v| v.name.as_str())
        .collect();
    for v in &snap.volumes {
        let sizing = match v.kind {
            MountKind::Volume if v.driver == "local" && under_root(&v.mountpoint) => {
                Sizing::Walk { path: v.mountpoint.clone(), excluded: HashSet::new() }
            }
            MountKind::Volume => Sizing::Engine,
            MountKind::Bind if v.unsized_reason.is_some() => continue,
            // Each byte belongs to the innermost bound path: an outer walk
            // leaves out every other bound path below it.
            MountKind::Bind => Sizing::Walk {
                path: v.name.clone(),
                excluded: bind_paths
                    .iter()
                    .filter(|q| **q != v.name && Path::new(q).starts_with(&v.name))
                    .map(PathBuf::from)
                    .collect(),
            },
        };
        targets.push(Target {
            kind: VOLUME,
            object: v.name.clone(),
            sizing,
            last_attempt: known(VOLUME, &v.name).map(|k| k.attempted_at),
        });
    }
    for c in &snap.containers {
        let sizing = match c.rw_path.clone().filter(|p| under_root(p)) {
            Some(path) => Sizing::Walk { path, excluded: HashSet::new() },
            None => Sizing::Engine,
        };
        targets.push(Target {
            kind: WRITABLE_LAYER,
            object: c.id.clone(),
            sizing,
            last_attempt: known(WRITABLE_LAYER, &c.id).map(|k| k.attempted_at),
        });
    }
    let interval = plan.interval.as_secs() as i64;
    targets.retain(|t| {
        plan.force
            || match known(t.kind, &t.object) {
                None => true,
                Some(k) => {
                    now - k.attempted_at >= interval || (matches!(t.sizing, Sizing::Walk { .. }) && cheap(k, plan))
                }
            }
    });
    targets.sort_by_key(|t| t.last_attempt.unwrap_or(i64::MIN));
    targets
}

/// Docker's totals are due every pass where the engine can be asked for
/// them alone (API 1.42+), else with the other expensive sizes.
fn totals_due(engine: &Engine, state: &State, plan: &Plan, now: i64) -> bool {
    let last = state.get(&(DOCKER_TOTALS.to_string(), IMAGES.to_string())).map(|k| k.attempted_at);
    plan.force || engine.api_at_least(1, 42) || last.is_none_or(|a| now - a >= plan.interval.as_secs() as i64)
}

/// Measures what is due, then fills every volume's, bind's and container's
/// size and the Docker totals from this pass's measurements or the
/// remembered ones.
pub async fn measure(engine: &Engine, snap: &mut Snapshot, state: &State, plan: &Plan, now: i64) {
    let mut updates: Vec<SizeUpdate> = Vec::new();
    if !plan.skip {
        crate::fault::pause_async(crate::fault::SIZES).await;
        let deadline = Instant::now() + plan.budget;
        let targets = due(snap, state, plan, now);
        let mut need_engine = false;
        // Older engines' `system df` answers the totals too (Engine::disk_usage).
        let mut totals_from_df = None;
        for t in targets {
            let Sizing::Walk { path, excluded } = &t.sizing else {
                need_engine = true;
                continue;
            };
            if Instant::now() >= deadline {
                // Not attempted: stays first in line for the next pass.
                continue;
            }
            let started = Instant::now();
            match disk::usage_excluding(Path::new(path), plan.threads, deadline, excluded.clone()) {
                Ok(u) => updates.push(SizeUpdate {
                    kind: t.kind,
                    object: t.object.clone(),
                    bytes: Some(u.bytes),
                    method: Some("walk"),
                    measured_at: Some(now),
                    attempted_at: now,
                    walk_ms: Some(started.elapsed().as_millis() as i64),
                    walk_files: Some(u.files as i64),
                    unsized_reason: None,
                }),
                Err(disk::WalkError::OutOfTime { files }) => {
                    // Goes to the back of the queue; its last size stays.
                    updates.push(attempt_only(&t, state, now));
                    snap.errors.push(ObjectError {
                        kind: t.kind,
                        name: t.object.clone(),
                        message: format!(
                            "size not measured: the {}s size budget ran out after {files} files; \
                             raise [collect] size_budget",
                            plan.budget.as_secs()
                        ),
                    });
                }
                // A bind path only the walker can measure: it stays unknown,
                // with the reason, until its next attempt.
                Err(disk::WalkError::Unreadable(e)) if t.object.starts_with('/') => updates.push(SizeUpdate {
                    kind: t.kind,
                    object: t.object.clone(),
                    attempted_at: now,
                    unsized_reason: Some(format!("unreadable: {e}")),
                    ..Default::default()
                }),
                // Gone since it was listed, or not ours to read: the engine
                // answers for it.
                Err(disk::WalkError::Unreadable(_)) => need_engine = true,
            }
        }
        if need_engine {
            let remaining = deadline.saturating_duration_since(Instant::now()).max(Duration::from_secs(1));
            match tokio::time::timeout(remaining, engine.disk_usage()).await {
                Ok(Ok(du)) => {
                    totals_from_df = du.totals;
                    // The walker's answers win over the engine's for the same object.
                    let measured: Vec<(&'static str, &str)> =
                        updates.iter().map(|u| (u.kind, u.object.as_str())).collect();
                    let fresh = |kind: &str, object: &str| !measured.iter().any(|(k, o)| *k == kind && *o == object);
                    let mut from_engine = Vec::new();
                    for (name, bytes) in &du.volumes {
                        if fresh(VOLUME, name) {
                            from_engine.push(engine_update(VOLUME, name, *bytes, now));
                        }
                    }
                    for (id, bytes) in &du.containers_rw {
                        if fresh(WRITABLE_LAYER, id) {
                            from_engine.push(engine_update(WRITABLE_LAYER, id, *bytes, now));
                        }
                    }
                    updates.extend(from_engine);
                }
                Ok(Err(e)) => snap.errors.push(ObjectError {
                    kind: "engine",
                    name: "system df".into(),
                    message: format!("{e:#}"),
                }),
                Err(_) => snap.errors.push(ObjectError {
                    kind: "engine",
                    name: "system df".into(),
                    message: format!(
                        "the engine's size accounting took longer than the {}s size budget; sizes kept from \
                         earlier passes (raise [collect] size_budget)",
                        plan.budget.as_secs()
                    ),
                }),
            }
        }
        if totals_due(engine, state, plan, now) {
            let totals = match totals_from_df {
                Some(t) => Ok(Ok(t)),
                None => {
                    let remaining = deadline.saturating_duration_since(Instant::now()).max(Duration::from_secs(1));
                    tokio::time::timeout(remaining, engine.docker_totals()).await
                }
            };
            match totals {
                Ok(Ok(t)) => {
                    updates.push(engine_total(IMAGES, t.images_bytes, now));
                    updates.push(engine_total(BUILD_CACHE, t.build_cache_bytes, now));
                }
                Ok(Err(e)) => snap.errors.push(ObjectError {
                    kind: "engine",
                    name: "image and build-cache totals".into(),
                    message: format!("{e:#}"),
                }),
                Err(_) => snap.errors.push(ObjectError {
                    kind: "engine",
                    name: "image and build-cache totals".into(),
                    message: format!(
                        "the engine took longer than the {}s size budget; totals kept from earlier passes",
                        plan.budget.as_secs()
                    ),
                }),
            }
        }
    }
    apply(snap, state, &updates);
    snap.size_updates = updates;
}

fn engine_update(kind: &'static str, object: &str, bytes: i64, now: i64) -> SizeUpdate {
    SizeUpdate {
        kind,
        object: object.to_string(),
        bytes: Some(bytes),
        method: Some("engine"),
        measured_at: Some(now),
        attempted_at: now,
        ..Default::default()
    }
}

fn engine_total(object: &str, bytes: Option<i64>, now: i64) -> SizeUpdate {
    SizeUpdate {
        kind: DOCKER_TOTALS,
        object: object.to_string(),
        bytes,
        method: bytes.map(|_| "engine"),
        measured_at: bytes.map(|_| now),
        attempted_at: now,
        ..Default::default()
    }
}

fn attempt_only(t: &Target, state: &State, now: i64) -> SizeUpdate {
    let old = state.get(&(t.kind.to_string(), t.object.clone()));
    SizeUpdate {
        kind: t.kind,
        object: t.object.clone(),
        bytes: old.and_then(|k| k.bytes),
        method: old.and_then(|k| k.method.as_deref()).map(method_name),
        measured_at: old.and_then(|k| k.measured_at),
        attempted_at: now,
        // A walk cut short is not cheap: it waits for the interval.
        walk_ms: None,
        walk_files: None,
        // The walk got in, so an earlier failure to read it no longer holds.
        unsized_reason: None,
    }
}

fn method_name(m: &str) -> &'static str {
    if m == "walk" { "walk" } else { "engine" }
}

/// Every object gets this pass's measurement, else the remembered one; a
/// size the last attempt could not take keeps that attempt's reason.
fn apply(snap: &mut Snapshot, state: &State, updates: &[SizeUpdate]) {
    let fresh: HashMap<(&str, &str), &SizeUpdate> = updates.iter().map(|u| ((u.kind, u.object.as_str()), u)).collect();
    let lookup =
        |kind: &'static str, object: &str| -> (Option<i64>, Option<&'static str>, Option<i64>, Option<String>) {
            if let Some(u) = fresh.get(&(kind, object)) {
                return (u.bytes, u.method, u.measured_at, u.unsized_reason.clone());
            }
            match state.get(&(kind.to_string(), object.to_string())) {
                Some(k) => (k.bytes, k.method.as_deref().map(method_name), k.measured_at, k.unsized_reason.clone()),
                None => (None, None, None, None),
            }
        };
    for v in &mut snap.volumes {
        if v.unsized_reason.is_some() {
            (v.size_bytes, v.size_method, v.size_measured_at) = (None, None, None);
            continue;
        }
        (v.size_bytes, v.size_method, v.size_measured_at, v.unsized_reason) = lookup(VOLUME, &v.name);
    }
    for c in &mut snap.containers {
        (c.rw_bytes, c.rw_method, c.rw_measured_at, _) = lookup(WRITABLE_LAYER, &c.id);
    }
    let (images, _, images_at, _) = lookup(DOCKER_TOTALS, IMAGES);
    let (build_cache, _, cache_at, _) = lookup(DOCKER_TOTALS, BUILD_CACHE);
    snap.docker_totals =
        DockerTotals { images_bytes: images, build_cache_bytes: build_cache, measured_at: images_at.or(cache_at) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::snapshot::{ContainerSample, HostInfo, VolumeSample};

    fn snap(root: &str, volumes: &[(&str, &str)]) -> Snapshot {
        Snapshot {
            started_at: 0,
            duration_ms: 0,
            host: HostInfo {
                engine_id: "e".into(),
                hostname: "h".into(),
                engine_version: "x".into(),
                api_version: "1.41".into(),
                docker_root: Some(root.into()),
                fs: None,
                root_visible: true,
            },
            containers: vec![ContainerSample { id: "c1".into(), name: "c".into(), ..Default::default() }],
            volumes: volumes
                .iter()
                .map(|(n, m)| VolumeSample {
                    name: n.to_string(),
                    driver: "local".into(),
                    mountpoint: m.to_string(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    fn plan() -> Plan {
        Plan {
            interval: Duration::from_secs(1800),
            budget: Duration::from_secs(20),
            force: false,
            skip: false,
            threads: 2,
            cheap_time: Duration::from_millis(250),
            cheap_files: 100_000,
        }
    }

    fn known(attempted_at: i64) -> Known {
        // Expensive: only the interval makes it due again.
        Known {
            bytes: Some(7),
            method: Some("walk".into()),
            measured_at: Some(attempted_at),
            attempted_at,
            walk_ms: Some(5_000),
            walk_files: Some(3_000_000),
            unsized_reason: None,
        }
    }

    #[test]
    fn due_means_never_measured_first_then_oldest_and_only_past_the_interval() {
        let s = snap(
            "/var/lib/docker",
            &[
                ("a", "/var/lib/docker/volumes/a/_data"),
                ("b", "/elsewhere/b"),
                ("c", "/var/lib/docker/volumes/c/_data"),
            ],
        );
        let mut state = State::new();
        state.insert((VOLUME.into(), "a".into()), known(1000));
        state.insert((VOLUME.into(), "c".into()), known(500));
        state.insert((WRITABLE_LAYER.into(), "c1".into()), known(1900));
        let order: Vec<String> = due(&s, &state, &plan(), 2000).into_iter().map(|t| t.object).collect();
        assert_eq!(order, vec!["b".to_string()], "a and c were measured less than 30 minutes ago");
        let order: Vec<(String, bool)> = due(&s, &state, &plan(), 1000 + 1800)
            .into_iter()
            .map(|t| (t.object, matches!(t.sizing, Sizing::Walk { .. })))
            .collect();
        assert_eq!(order, vec![("b".into(), false), ("c".into(), true), ("a".into(), true)]);
        let forced = Plan { force: true, ..plan() };
        assert_eq!(due(&s, &state, &forced, 3000).len(), 4);
        // A walk that was cheap is repeated every pass; an engine-measured
        // size (b) still waits for the interval.
        state.insert((VOLUME.into(), "a".into()), Known { walk_ms: Some(3), walk_files: Some(40), ..known(1999) });
        state.insert((VOLUME.into(), "b".into()), Known { method: Some("engine".into()), ..known(1999) });
        let order: Vec<String> = due(&s, &state, &plan(), 2000).into_iter().map(|t| t.object).collect();
        assert_eq!(order, vec!["a".to_string()]);
    }

    #[test]
    fn bind_paths_never_walked_say_why() {
        let root = Some("/var/lib/docker");
        let reason = |p: &str| bind_sizing(p, root, true).unwrap_or_default();
        assert!(reason("/").contains("top-level"));
        assert!(reason("/etc/hostname").contains("system path"));
        assert!(reason("/proc/1").contains("system path"));
        assert!(reason("/var/run/docker.sock").contains("system path"));
        assert!(reason("/var/lib/docker/volumes/x/_data").contains("inside the Docker root"));
        assert!(reason("/var/lib").contains("top-level"));
        assert!(reason("/nonexistent-stackwatch/x").contains("not found"));
        assert!(bind_sizing("/srv/app", root, false).unwrap().contains("cannot see"));
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(bind_sizing(dir.path().to_str().unwrap(), root, true), None, "an ordinary directory is walked");
        assert!(
            bind_sizing(dir.path().to_str().unwrap(), dir.path().join("docker").to_str(), true)
                .unwrap()
                .contains("holds the Docker root")
        );
    }

    #[test]
    fn sizes_not_measured_this_pass_are_carried_forward_with_their_age() {
        let mut s = snap("/r", &[("a", "/r/volumes/a/_data"), ("new", "/r/volumes/new/_data")]);
        let mut state = State::new();
        state.insert((VOLUME.into(), "a".into()), known(1000));
        apply(&mut s, &state, &[]);
        assert_eq!((s.volumes[0].size_bytes, s.volumes[0].size_measured_at), (Some(7), Some(1000)));
        assert_eq!(s.volumes[0].size_method, Some("walk"));
        assert_eq!(s.volumes[1].size_bytes, None, "never measured is unknown, not 0");
    }

    #[test]
    fn a_failed_walk_keeps_its_reason_until_the_next_attempt() {
        let bind = |path: &str, never_walked: Option<&str>| VolumeSample {
            kind: MountKind::Bind,
            name: path.into(),
            driver: "bind".into(),
            mountpoint: path.into(),
            unsized_reason: never_walked.map(str::to_string),
            ..Default::default()
        };
        // A pass's binds as read, before sizes.
        let pass = || Snapshot {
            volumes: vec![bind("/srv/failed", None), bind("/srv/fine", None), bind("/srv/gone", Some("not found"))],
            ..snap("/r", &[])
        };
        let failed = Known { attempted_at: 1000, unsized_reason: Some("unreadable: x".into()), ..Known::default() };
        let mut state = State::new();
        for path in ["/srv/failed", "/srv/gone"] {
            state.insert((VOLUME.into(), path.into()), failed.clone());
        }
        state.insert((VOLUME.into(), "/srv/fine".into()), known(1000));
        // Not attempted this pass: the attempt's reason is carried.
        let mut s = pass();
        apply(&mut s, &state, &[]);
        let seen = |s: &Snapshot| -> Vec<(Option<i64>, Option<String>)> {
            s.volumes.iter().map(|v| (v.size_bytes, v.unsized_reason.clone())).collect()
        };
        assert_eq!(
            seen(&s),
            [(None, Some("unreadable: x".into())), (Some(7), None), (None, Some("not found".into()))],
            "what this pass found about a never-walked path comes first"
        );
        // Attempted again: the new attempt says.
        let walked = SizeUpdate {
            kind: VOLUME,
            object: "/srv/failed".into(),
            bytes: Some(9),
            method: Some("walk"),
            measured_at: Some(2000),
            attempted_at: 2000,
            ..Default::default()
        };
        let mut s = pass();
        apply(&mut s, &state, &[walked]);
        assert_eq!(seen(&s)[0], (Some(9), None));
    }
}
