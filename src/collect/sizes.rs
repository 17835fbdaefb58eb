//! Volume and writable-layer sizes: the expensive part of a pass, so they
//! run at their own cadence and under a time budget.
//!
//! Each object is re-measured when its last attempt is older than
//! `interval`, oldest first, until the pass's budget is spent; the rest keep
//! their last measurement (with its time) and get their turn in a later
//! pass. When the engine's root directory is visible the walker measures
//! (cheap for the daemon, parallel, deadline-bound); otherwise one
//! `system df` call measures everything at once.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::engine::Engine;
use crate::snapshot::{ObjectError, SizeUpdate, Snapshot};
use crate::walk;

pub const VOLUME: &str = "volume";
pub const WRITABLE_LAYER: &str = "writable_layer";

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
}

/// The last measurement of an object, as the store remembers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Known {
    pub bytes: Option<i64>,
    pub method: Option<String>,
    pub measured_at: Option<i64>,
    pub attempted_at: i64,
}

/// (kind, object) → last measurement.
pub type State = HashMap<(String, String), Known>;

struct Target {
    kind: &'static str,
    object: String,
    /// Directory to walk, when the walker can measure it.
    path: Option<String>,
    last_attempt: Option<i64>,
}

/// Which objects to measure now, most overdue first (never measured before
/// anything else), so that a pass cut short by the budget resumes where the
/// previous one stopped.
fn due(snap: &Snapshot, state: &State, plan: &Plan, now: i64) -> Vec<Target> {
    let root = snap.host.docker_root.as_deref().filter(|_| snap.host.root_visible);
    let under_root = |p: &str| root.is_some_and(|r| Path::new(p).starts_with(r));
    let mut targets: Vec<Target> = Vec::new();
    for v in &snap.volumes {
        let walkable = v.driver == "local" && under_root(&v.mountpoint);
        targets.push(Target {
            kind: VOLUME,
            object: v.name.clone(),
            path: walkable.then(|| v.mountpoint.clone()),
            last_attempt: state.get(&(VOLUME.to_string(), v.name.clone())).map(|k| k.attempted_at),
        });
    }
    for c in &snap.containers {
        let path = c.rw_path.clone().filter(|p| under_root(p));
        targets.push(Target {
            kind: WRITABLE_LAYER,
            object: c.id.clone(),
            path,
            last_attempt: state.get(&(WRITABLE_LAYER.to_string(), c.id.clone())).map(|k| k.attempted_at),
        });
    }
    let interval = plan.interval.as_secs() as i64;
    targets.retain(|t| plan.force || t.last_attempt.is_none_or(|a| now - a >= interval));
    targets.sort_by_key(|t| t.last_attempt.unwrap_or(i64::MIN));
    targets
}

/// Measures what is due, then fills every volume's and container's size
/// from this pass's measurements or the remembered ones.
pub async fn measure(engine: &Engine, snap: &mut Snapshot, state: &State, plan: &Plan, now: i64) {
    let mut updates: Vec<SizeUpdate> = Vec::new();
    if !plan.skip {
        let deadline = Instant::now() + plan.budget;
        let targets = due(snap, state, plan, now);
        let mut need_engine = false;
        for t in &targets {
            let Some(path) = &t.path else {
                need_engine = true;
                continue;
            };
            if Instant::now() >= deadline {
                // Not attempted: stays first in line for the next pass.
                continue;
            }
            match walk::usage(Path::new(path), plan.threads, deadline) {
                Ok(u) => updates.push(SizeUpdate {
                    kind: t.kind,
                    object: t.object.clone(),
                    bytes: Some(u.bytes),
                    method: Some("walk"),
                    measured_at: Some(now),
                    attempted_at: now,
                }),
                Err(walk::WalkError::OutOfTime { files }) => {
                    // Goes to the back of the queue; its last size stays.
                    updates.push(attempt_only(t, state, now));
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
                // Gone since it was listed, or not ours to read: the engine
                // answers for it.
                Err(walk::WalkError::Unreadable(_)) => need_engine = true,
            }
        }
        if need_engine {
            let remaining = deadline.saturating_duration_since(Instant::now()).max(Duration::from_secs(1));
            match tokio::time::timeout(remaining, engine.disk_usage()).await {
                Ok(Ok(du)) => {
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
    }
}

fn method_name(m: &str) -> &'static str {
    if m == "walk" { "walk" } else { "engine" }
}

/// Every object gets this pass's measurement, else the remembered one.
fn apply(snap: &mut Snapshot, state: &State, updates: &[SizeUpdate]) {
    let fresh: HashMap<(&str, &str), &SizeUpdate> = updates.iter().map(|u| ((u.kind, u.object.as_str()), u)).collect();
    let lookup = |kind: &'static str, object: &str| -> (Option<i64>, Option<&'static str>, Option<i64>) {
        if let Some(u) = fresh.get(&(kind, object)) {
            return (u.bytes, u.method, u.measured_at);
        }
        match state.get(&(kind.to_string(), object.to_string())) {
            Some(k) => (k.bytes, k.method.as_deref().map(method_name), k.measured_at),
            None => (None, None, None),
        }
    };
    for v in &mut snap.volumes {
        (v.size_bytes, v.size_method, v.size_measured_at) = lookup(VOLUME, &v.name);
    }
    for c in &mut snap.containers {
        (c.rw_bytes, c.rw_method, c.rw_measured_at) = lookup(WRITABLE_LAYER, &c.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{ContainerSample, HostInfo, VolumeSample};

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
        }
    }

    fn known(attempted_at: i64) -> Known {
        Known { bytes: Some(7), method: Some("walk".into()), measured_at: Some(attempted_at), attempted_at }
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
        let order: Vec<(String, bool)> =
            due(&s, &state, &plan(), 1000 + 1800).into_iter().map(|t| (t.object, t.path.is_some())).collect();
        assert_eq!(order, vec![("b".into(), false), ("c".into(), true), ("a".into(), true)]);
        let forced = Plan { force: true, ..plan() };
        assert_eq!(due(&s, &state, &forced, 3000).len(), 4);
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
}
