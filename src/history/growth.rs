//! Growth between a window's two edges, at stack, container and volume
//! level, ranked by bytes. Objects present at only one edge are "new in
//! window" or "removed"; a size unknown at either edge makes the change
//! unknown rather than a guess.

use std::collections::{BTreeMap, BTreeSet};

use super::model::{Growth, GrowthPart};
use super::pass::RecordedPass;
use crate::model::sizes::{size_delta, stale_age};
use crate::model::snapshot::{MountKind, StackKey};
use crate::model::units;
use crate::store::read::{ContainerRow, StackRow, VolumeRow};
use crate::time::human_span;
use crate::untrusted::markdown::code;

/// How an object changed between the edges, from whether it was there at
/// each and its change in bytes (None: unknown).
fn change_between(at_start: bool, at_end: bool, delta: Option<i64>) -> &'static str {
    match (at_start, at_end, delta) {
        (_, _, None) => "unknown",
        (false, _, Some(_)) => "new",
        (_, false, Some(_)) => "removed",
        (_, _, Some(d)) if d > 0 => "grew",
        (_, _, Some(d)) if d < 0 => "shrank",
        _ => "unchanged",
    }
}

/// (delta, start, end, change) for one object.
fn compare(
    start: Option<Option<i64>>,
    end: Option<Option<i64>>,
) -> (Option<i64>, Option<i64>, Option<i64>, &'static str) {
    let delta = size_delta(start, end);
    (delta, start.flatten(), end.flatten(), change_between(start.is_some(), end.is_some(), delta))
}

fn parts_text(parts: &[GrowthPart]) -> String {
    let shown: Vec<String> = parts
        .iter()
        .filter(|p| p.delta_bytes != 0)
        .take(4)
        .map(|p| match (&p.kind, &p.name) {
            (&"volume", Some(n)) => format!("volume {} {}", code(n), units::delta(p.delta_bytes)),
            (&"bind", Some(n)) => format!("bind {} {}", code(n), units::delta(p.delta_bytes)),
            (&"logs", _) => format!("logs {}", units::delta(p.delta_bytes)),
            _ => format!("writable layer {}", units::delta(p.delta_bytes)),
        })
        .collect();
    let hidden = parts.iter().filter(|p| p.delta_bytes != 0).count().saturating_sub(shown.len());
    match (shown.is_empty(), hidden) {
        (true, _) => String::new(),
        (false, 0) => format!(" ({})", shown.join(", ")),
        (false, n) => format!(" ({}, and {n} more)", shown.join(", ")),
    }
}

pub fn sentence(
    name: &str,
    change: &str,
    delta: Option<i64>,
    parts: &[GrowthPart],
    span: &str,
    partial: bool,
) -> String {
    let n = code(name);
    let p = parts_text(parts);
    let note = if partial { "; some parts not measurable" } else { "" };
    match (change, delta) {
        ("grew", Some(d)) => format!("{n} grew {} in {span}{p}{note}", units::bytes(d)),
        ("shrank", Some(d)) => format!("{n} shrank {} in {span}{p}{note}", units::bytes(-d)),
        ("new", Some(d)) => format!("{n} new in window: {}{p}{note}", units::bytes(d)),
        ("removed", Some(0)) => format!("{n} removed"),
        ("removed", Some(d)) => format!("{n} removed: freed {}", units::bytes(-d)),
        ("unchanged", _) => format!("{n} unchanged in {span}{note}"),
        _ => format!("{n}: size not measurable from here, growth unknown"),
    }
}

fn sort(mut v: Vec<Growth>) -> Vec<Growth> {
    v.sort_by(|a, b| {
        b.delta_bytes
            .is_some()
            .cmp(&a.delta_bytes.is_some())
            .then(b.delta_bytes.cmp(&a.delta_bytes))
            .then_with(|| a.name.cmp(&b.name))
    });
    v
}

/// Per-volume deltas of the volumes that belong to something at each edge.
fn volume_parts(
    start: &RecordedPass,
    end: &RecordedPass,
    in_start: impl Fn(&VolumeRow) -> bool,
    in_end: impl Fn(&VolumeRow) -> bool,
) -> Vec<GrowthPart> {
    let s: BTreeMap<i64, Option<i64>> =
        start.volumes.iter().filter(|v| in_start(v)).map(|v| (v.volume_ref, v.size_bytes)).collect();
    let e: BTreeMap<i64, Option<i64>> =
        end.volumes.iter().filter(|v| in_end(v)).map(|v| (v.volume_ref, v.size_bytes)).collect();
    let names: BTreeMap<i64, (&str, MountKind)> =
        start.volumes.iter().chain(end.volumes.iter()).map(|v| (v.volume_ref, (v.name.as_str(), v.kind))).collect();
    let ids: BTreeSet<i64> = s.keys().chain(e.keys()).copied().collect();
    ids.into_iter()
        .filter_map(|id| {
            let d = size_delta(s.get(&id).copied(), e.get(&id).copied())?;
            let (name, kind) = names[&id];
            Some(GrowthPart { kind: kind.as_str(), name: Some(name.to_string()), delta_bytes: d })
        })
        .collect()
}

fn finish_parts(mut parts: Vec<GrowthPart>) -> Vec<GrowthPart> {
    parts.sort_by_key(|p| std::cmp::Reverse(p.delta_bytes.abs()));
    parts
}

/// How much older than the end pass the oldest size of a stack's volumes,
/// binds and writable layers is, when a minute or more: sizes that were
/// expensive to walk are carried forward between measurements.
fn stale_for(end: &RecordedPass, stack: &StackKey) -> Option<i64> {
    let volumes = end
        .volumes
        .iter()
        .filter(|v| v.size_bytes.is_some() && v.stacks.iter().any(|o| o.is(stack)))
        .filter_map(|v| v.size_measured_at);
    let layers = end
        .containers
        .iter()
        .filter(|c| c.rw_bytes.is_some() && c.stack_kind == stack.kind && c.stack == stack.name)
        .filter_map(|c| c.rw_measured_at);
    stale_age(end.pass.started_at, volumes.chain(layers))
}

pub fn stacks(start: &RecordedPass, end: &RecordedPass, span: &str) -> Vec<Growth> {
    let keys: BTreeSet<StackKey> = start.stacks.iter().chain(end.stacks.iter()).map(StackRow::key).collect();
    let out = keys
        .into_iter()
        .map(|key| {
            let (kind, name) = (key.kind, key.name.clone());
            let s = start.stack(kind, &name);
            let e = end.stack(kind, &name);
            let owned = |v: &VolumeRow| v.stacks.iter().any(|o| o.is(&key));
            let mut parts = volume_parts(start, end, owned, owned);
            // Logs and layers per container, each compared only where it was
            // measured at both edges: a part that could not be measured in
            // one pass must not look like growth or shrinkage.
            let mine = |edge: &'_ RecordedPass| -> BTreeMap<i64, (Option<i64>, Option<i64>)> {
                edge.containers
                    .iter()
                    .filter(|c| c.stack_kind == kind && c.stack == name)
                    .map(|c| (c.container_ref, (c.log_bytes, c.rw_bytes)))
                    .collect()
            };
            let (sc, ec) = (mine(start), mine(end));
            let (mut logs, mut rw) = (None::<i64>, None::<i64>);
            for id in sc.keys().chain(ec.keys()).collect::<BTreeSet<_>>() {
                let (a, b) = (sc.get(id), ec.get(id));
                if let Some(d) = size_delta(a.map(|x| x.0), b.map(|x| x.0)) {
                    logs = Some(logs.unwrap_or(0) + d);
                }
                if let Some(d) = size_delta(a.map(|x| x.1), b.map(|x| x.1)) {
                    rw = Some(rw.unwrap_or(0) + d);
                }
            }
            if let Some(d) = logs {
                parts.push(GrowthPart { kind: "logs", name: None, delta_bytes: d });
            }
            if let Some(d) = rw {
                parts.push(GrowthPart { kind: "writable_layer", name: None, delta_bytes: d });
            }
            let parts = finish_parts(parts);
            let total = (!parts.is_empty()).then(|| parts.iter().map(|p| p.delta_bytes).sum::<i64>());
            let (delta, a, b, change) = match (s, e, total) {
                (Some(_), Some(_), Some(d)) => (
                    Some(d),
                    s.and_then(|x| x.disk_bytes),
                    e.and_then(|x| x.disk_bytes),
                    change_between(true, true, Some(d)),
                ),
                _ => compare(s.map(|x| x.disk_bytes), e.map(|x| x.disk_bytes)),
            };
            let partial = s.is_some_and(|x| x.unknown_sizes > 0) || e.is_some_and(|x| x.unknown_sizes > 0);
            let mut text = sentence(&name, change, delta, &parts, span, partial);
            if let Some(age) = stale_for(end, &key) {
                text.push_str(&format!("; sizes up to {} older than the window's end", human_span(age)));
            }
            Growth {
                level: "stack",
                stack_kind: Some(kind),
                sentence: text,
                stack: Some(name.clone()),
                name,
                change,
                delta_bytes: delta,
                start_bytes: a,
                end_bytes: b,
                parts,
            }
        })
        .collect();
    sort(out)
}

pub fn containers(start: &RecordedPass, end: &RecordedPass, span: &str) -> Vec<Growth> {
    let s: BTreeMap<i64, &ContainerRow> = start.containers.iter().map(|c| (c.container_ref, c)).collect();
    let e: BTreeMap<i64, &ContainerRow> = end.containers.iter().map(|c| (c.container_ref, c)).collect();
    // A container's share of volume growth is the growth of the volumes it
    // mounts at the end of the window (a removed container frees none).
    let vs: BTreeMap<i64, Option<i64>> = start.volumes.iter().map(|v| (v.volume_ref, v.size_bytes)).collect();
    // Mount lists parsed once per volume, not once per container and volume.
    let mut mounted: BTreeMap<String, Vec<&VolumeRow>> = BTreeMap::new();
    for v in &end.volumes {
        for name in v.mounted_by.iter().cloned() {
            mounted.entry(name).or_default().push(v);
        }
    }
    let ids: BTreeSet<i64> = s.keys().chain(e.keys()).copied().collect();
    let out = ids
        .into_iter()
        .map(|id| {
            let (sc, ec) = (s.get(&id).copied(), e.get(&id).copied());
            let latest = ec.or(sc).expect("id from one of the maps");
            let mut parts: Vec<GrowthPart> = match ec {
                Some(c) => mounted
                    .get(&c.name)
                    .into_iter()
                    .flatten()
                    .filter_map(|v| {
                        let d = size_delta(vs.get(&v.volume_ref).copied(), Some(v.size_bytes))?;
                        Some(GrowthPart { kind: "volume", name: Some(v.name.clone()), delta_bytes: d })
                    })
                    .collect(),
                None => Vec::new(),
            };
            let log = size_delta(sc.map(|c| c.log_bytes), ec.map(|c| c.log_bytes));
            let rw = size_delta(sc.map(|c| c.rw_bytes), ec.map(|c| c.rw_bytes));
            if let Some(d) = log {
                parts.push(GrowthPart { kind: "logs", name: None, delta_bytes: d });
            }
            if let Some(d) = rw {
                parts.push(GrowthPart { kind: "writable_layer", name: None, delta_bytes: d });
            }
            let parts = finish_parts(parts);
            let own = |c: &ContainerRow| match (c.rw_bytes, c.log_bytes) {
                (None, None) => None,
                (rw, log) => Some(rw.unwrap_or(0) + log.unwrap_or(0)),
            };
            let total = (!parts.is_empty()).then(|| parts.iter().map(|p| p.delta_bytes).sum::<i64>());
            let change = change_between(sc.is_some(), ec.is_some(), total);
            let partial = [sc, ec].iter().flatten().any(|c| c.rw_bytes.is_none() || c.log_bytes.is_none());
            let name = latest.name.clone();
            Growth {
                level: "container",
                stack_kind: Some(latest.stack_kind),
                sentence: sentence(&name, change, total, &parts, span, partial && change != "unknown"),
                stack: Some(latest.stack.clone()),
                name,
                change,
                delta_bytes: total,
                start_bytes: sc.and_then(own),
                end_bytes: ec.and_then(own),
                parts,
            }
        })
        .collect();
    sort(out)
}

pub fn volumes(start: &RecordedPass, end: &RecordedPass, span: &str) -> Vec<Growth> {
    let s: BTreeMap<i64, &VolumeRow> = start.volumes.iter().map(|v| (v.volume_ref, v)).collect();
    let e: BTreeMap<i64, &VolumeRow> = end.volumes.iter().map(|v| (v.volume_ref, v)).collect();
    let ids: BTreeSet<i64> = s.keys().chain(e.keys()).copied().collect();
    let out = ids
        .into_iter()
        .map(|id| {
            let (sv, ev) = (s.get(&id).copied(), e.get(&id).copied());
            let latest = ev.or(sv).expect("id from one of the maps");
            let (delta, a, b, change) = compare(sv.map(|v| v.size_bytes), ev.map(|v| v.size_bytes));
            let mut text = sentence(&latest.name, change, delta, &[], span, false);
            if let (Some(reason), "unknown") = (&latest.unsized_reason, change) {
                text = format!("{}: not measured ({})", code(&latest.name), crate::untrusted::line(reason, 120));
            }
            Growth {
                level: latest.kind.as_str(),
                stack_kind: None,
                sentence: match latest.kind {
                    MountKind::Bind => format!("bind {text}"),
                    MountKind::Volume => text,
                },
                name: latest.name.clone(),
                stack: latest.stacks.first().map(|o| o.stack.clone()),
                change,
                delta_bytes: delta,
                start_bytes: a,
                end_bytes: b,
                parts: Vec::new(),
            }
        })
        .collect();
    sort(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_is_unknown_without_a_delta_then_new_removed_or_by_its_sign() {
        assert_eq!(change_between(true, true, None), "unknown");
        assert_eq!(change_between(false, true, None), "unknown");
        assert_eq!(change_between(false, true, Some(5)), "new");
        assert_eq!(change_between(true, false, Some(-5)), "removed");
        assert_eq!(change_between(true, false, Some(0)), "removed");
        assert_eq!(change_between(true, true, Some(1)), "grew");
        assert_eq!(change_between(true, true, Some(-1)), "shrank");
        assert_eq!(change_between(true, true, Some(0)), "unchanged");
        assert_eq!(compare(Some(Some(3)), Some(Some(8))), (Some(5), Some(3), Some(8), "grew"));
        assert_eq!(compare(None, Some(None)), (None, None, None, "unknown"));
    }
}
