//! Cross-stack symptoms, found with no per-project knowledge: restart
//! loops, unhealthy or flapping services, OOM kills, non-zero exits,
//! volume bloat, orphaned volumes and unused images. Each becomes a finding with a
//! priority on the supervisor's P0-P4 scale (README "Priorities").

use std::collections::BTreeMap;

use super::model::Growth;
use super::pass::RecordedPass;
use crate::config::ReportConfig;
use crate::model::snapshot::{ContainerState, StackKey, StackKind};
use crate::model::stack::COMPOSE_PROJECT;
use crate::model::units;
use crate::store::read::{ContainerRow, StackRow};
use crate::time::iso_utc;
use crate::untrusted::markdown::code;

/// A finding before ownership and vault names are attached.
pub struct Draft {
    pub kind: &'static str,
    pub stack_kind: StackKind,
    pub stack: String,
    pub summary: String,
    pub evidence: Vec<String>,
    pub since: Option<i64>,
    pub bytes: Option<i64>,
    /// What a title names: the first affected object (an inert code span,
    /// with its telling number), and how many more there are.
    pub subject: String,
    /// Fastest growth among the affected objects, bytes per day, for
    /// findings found by their rate.
    pub rate: Option<i64>,
    /// For lines counted from events: their occurrences summed, and the
    /// first and last of them (Unix seconds).
    pub count: Option<i64>,
    pub first_at: Option<i64>,
    pub last_at: Option<i64>,
}

pub struct Inputs<'a> {
    pub start: &'a RecordedPass,
    pub end: &'a RecordedPass,
    /// False when the window has a single pass: nothing can have "risen".
    pub has_span: bool,
    pub span: &'a str,
    /// Seconds between the edges; rates need at least MIN_PROJECTION_SPAN.
    pub span_seconds: i64,
    pub volume_growth: &'a [Growth],
    /// container_ref → first unhealthy sample time.
    pub unhealthy_since: &'a BTreeMap<i64, i64>,
    /// image_ref → stacks that ever ran it.
    pub image_stacks: &'a BTreeMap<i64, Vec<StackKey>>,
    pub config: &'a ReportConfig,
    /// What happened between passes ([`super::events`]).
    pub events: &'a super::events::Found,
}

type Key = StackKey;

/// One affected object: its evidence line, since when, bytes, its name for
/// titles (with its telling number), and its growth rate per day.
struct Entry {
    text: String,
    since: Option<i64>,
    bytes: Option<i64>,
    subject: String,
    rate: Option<i64>,
    /// (count, first, last) of a line counted from events.
    occurrences: Option<(i64, i64, i64)>,
}

fn entry(text: String, subject: String) -> Entry {
    Entry { text, since: None, bytes: None, subject, rate: None, occurrences: None }
}

fn subject(entries: &[Entry]) -> String {
    match entries.len() {
        0 => String::new(),
        1 => entries[0].subject.clone(),
        n => format!("{} and {} more", entries[0].subject, n - 1),
    }
}

fn group(drafts: &mut Vec<Draft>, kind: &'static str, items: BTreeMap<Key, Vec<Entry>>, lead: &str) {
    for (StackKey { kind: stack_kind, name: stack }, mut entries) in items {
        // The biggest first, so titles name the object that matters most.
        entries.sort_by_key(|e| std::cmp::Reverse(e.bytes.unwrap_or(0)));
        let since = entries.iter().filter_map(|e| e.since).min();
        let bytes = entries.iter().filter_map(|e| e.bytes).reduce(|a, b| a + b);
        let rate = entries.iter().filter_map(|e| e.rate).max();
        let counted: Vec<(i64, i64, i64)> = entries.iter().filter_map(|e| e.occurrences).collect();
        let count = (!counted.is_empty()).then(|| counted.iter().map(|o| o.0).sum());
        let first_at = counted.iter().map(|o| o.1).min();
        let last_at = counted.iter().map(|o| o.2).max();
        let subject = subject(&entries);
        let evidence: Vec<String> = entries.into_iter().map(|e| e.text).collect();
        let summary = format!("{} {lead}: {}", code(&stack), evidence.join("; "));
        drafts.push(Draft {
            kind,
            stack_kind,
            stack,
            summary,
            evidence,
            since,
            bytes,
            subject,
            rate,
            count,
            first_at,
            last_at,
        });
    }
}

/// Bytes per day for `delta` over `seconds`, when the span is long enough
/// for a rate to mean something.
pub fn per_day(delta: i64, seconds: i64) -> Option<i64> {
    (seconds >= super::MIN_PROJECTION_SPAN).then(|| (delta as f64 * 86_400.0 / seconds as f64) as i64)
}

pub fn find(i: &Inputs<'_>) -> Vec<Draft> {
    let mut drafts = Vec::new();
    let start_by_ref: BTreeMap<i64, &ContainerRow> = i.start.containers.iter().map(|c| (c.container_ref, c)).collect();
    let key = ContainerRow::stack_key;

    let mut restarting: BTreeMap<Key, Vec<Entry>> = BTreeMap::new();
    let mut unhealthy: BTreeMap<Key, Vec<Entry>> = BTreeMap::new();
    let mut oom: BTreeMap<Key, Vec<Entry>> = BTreeMap::new();
    let mut exited: BTreeMap<Key, Vec<Entry>> = BTreeMap::new();
    let mut logs: BTreeMap<Key, Vec<Entry>> = BTreeMap::new();
    for c in &i.end.containers {
        let name = code(&c.name);
        let before = start_by_ref.get(&c.container_ref).and_then(|s| s.restart_count);
        // A container created inside the window started from 0 restarts.
        let base = if start_by_ref.contains_key(&c.container_ref) { before } else { Some(0) };
        let rose = match (i.has_span, base, c.restart_count) {
            (true, Some(a), Some(b)) if b > a => Some((a, b)),
            _ => None,
        };
        if c.state == ContainerState::Restarting || rose.is_some() {
            let (text, subj) = match rose {
                Some((a, b)) => (
                    format!("{name} restart count {a} → {b} in {}", i.span),
                    format!("{name} (restart count {a} → {b})"),
                ),
                None => {
                    let n = c.restart_count.unwrap_or(0);
                    (format!("{name} is restarting (restart count {n})"), format!("{name} (restart count {n})"))
                }
            };
            let text = match c.exit_code {
                Some(code_) if code_ != 0 => format!("{text}, last exit code {code_}"),
                _ => text,
            };
            restarting.entry(key(c)).or_default().push(entry(text, subj));
        }
        if c.health.as_deref() == Some("unhealthy") {
            let since = i.unhealthy_since.get(&c.container_ref).copied();
            // A start time, never a duration from now: a rerun with nothing
            // new must say the same thing.
            let text = match since {
                Some(t) => format!("{name} unhealthy since {}", iso_utc(t)),
                None => format!("{name} unhealthy"),
            };
            unhealthy.entry(key(c)).or_default().push(Entry { since, ..entry(text, name.clone()) });
        }
        if c.oom_killed == Some(true) {
            // Docker sets OOMKilled when any process in the container was
            // killed; with exit code 0 the container itself survived it.
            let text = match (&c.state, c.exit_code) {
                (ContainerState::Exited, Some(0)) | (ContainerState::Running, _) => format!(
                    "a process in {name} was killed for running out of memory (OOM); the container itself was not{}",
                    if c.state == ContainerState::Exited { " (it exited 0)" } else { " (it runs)" }
                ),
                _ => format!("{name} was killed for running out of memory (OOM)"),
            };
            oom.entry(key(c)).or_default().push(entry(text, name.clone()));
        } else if c.state == ContainerState::Exited && c.exit_code.is_some_and(|e| e != 0) {
            let e = c.exit_code.unwrap_or_default();
            let text = format!("{name} exited with code {e}");
            exited.entry(key(c)).or_default().push(entry(text, format!("{name} (exits {e})")));
        }
        // Log growth by rate: a container filling the disk with logs matters
        // long before its logs are large.
        if i.has_span {
            let start_log = match start_by_ref.get(&c.container_ref) {
                Some(s) => s.log_bytes,
                None => Some(0),
            };
            if let (Some(a), Some(b)) = (start_log, c.log_bytes) {
                let rate = per_day(b - a, i.span_seconds);
                if let Some(r) = rate.filter(|r| *r >= i.config.log_growth_per_day) {
                    let text = format!(
                        "{name} logs grew {} in {} (about {}/day; now {})",
                        units::bytes(b - a),
                        i.span,
                        units::bytes(r),
                        units::bytes(b)
                    );
                    let subj = format!("{name} (logs +{}/day)", units::bytes(r));
                    logs.entry(key(c)).or_default().push(Entry {
                        bytes: Some(b - a),
                        rate: Some(r),
                        ..entry(text, subj)
                    });
                }
            }
        }
    }
    // Event lines replace the state line of the same container: they count
    // what happened between passes, where the state saw only its end.
    for (from, into) in [
        (&i.events.restarting, &mut restarting),
        (&i.events.oom, &mut oom),
        (&i.events.exited, &mut exited),
        (&i.events.unhealthy, &mut unhealthy),
    ] {
        for (key, lines) in from {
            let entries = into.entry(key.clone()).or_default();
            for (name, _) in lines {
                let prefix = format!("{} ", code(name));
                entries.retain(|e| !e.text.starts_with(&prefix));
            }
            entries.extend(lines.iter().map(|(name, l)| Entry {
                since: l.since,
                occurrences: Some((l.count, l.first, l.last)),
                ..entry(l.text.clone(), code(name))
            }));
        }
    }
    group(&mut drafts, "restarting", restarting, "has containers restarting");
    group(&mut drafts, "unhealthy", unhealthy, "has unhealthy containers");
    group(&mut drafts, "oom_killed", oom, "had processes OOM-killed");
    group(&mut drafts, "exited_nonzero", exited, "has containers that exited with an error");
    group(&mut drafts, "log_growth", logs, "has logs growing fast");

    // Volume growth: fast by rate, or large in absolute terms and relative
    // to where it started.
    let mut bloat: BTreeMap<Key, Vec<Entry>> = BTreeMap::new();
    if i.has_span {
        for g in i.volume_growth {
            let Some(d) = g.delta_bytes.filter(|d| *d > 0) else {
                continue;
            };
            if !matches!(g.change, "grew" | "new") {
                continue;
            }
            let relative = match g.start_bytes {
                Some(s) if s > 0 => 100.0 * d as f64 / s as f64,
                _ => f64::INFINITY,
            };
            let rate = per_day(d, i.span_seconds);
            let fast = rate.is_some_and(|r| r >= i.config.volume_growth_per_day);
            let bloated = d >= i.config.bloat_min_bytes && relative >= i.config.bloat_min_percent;
            if !fast && !bloated {
                continue;
            }
            let Some(v) = i.end.volumes.iter().find(|v| v.name == g.name && v.kind.as_str() == g.level) else {
                continue;
            };
            let pct = if relative.is_finite() { format!(", +{relative:.0}%") } else { String::new() };
            let per = rate.map(|r| format!("; about {}/day", units::bytes(r))).unwrap_or_default();
            let text = format!(
                "{} {} grew {} in {} (from {} to {}{pct}{per})",
                v.kind.as_str(),
                code(&g.name),
                units::bytes(d),
                i.span,
                units::maybe_bytes(g.start_bytes.or(Some(0))),
                units::maybe_bytes(g.end_bytes)
            );
            let subj = format!("{} {} (+{} in {})", v.kind.as_str(), code(&g.name), units::bytes(d), i.span);
            for owner in &v.stacks {
                bloat.entry(owner.key()).or_default().push(Entry {
                    bytes: Some(d),
                    rate: rate.filter(|_| fast),
                    ..entry(text.clone(), subj.clone())
                });
            }
        }
    }
    group(&mut drafts, "volume_bloat", bloat, "has volumes growing fast");

    // Orphaned volumes: their stack (by compose label) has no containers left.
    let mut orphaned: BTreeMap<Key, Vec<Entry>> = BTreeMap::new();
    for v in &i.end.volumes {
        for owner in &v.stacks {
            let empty = i.end.stack(owner.kind, &owner.stack).is_some_and(|s| s.containers == 0);
            if owner.via == "label" && empty && v.mounted_by.is_empty() {
                let size = units::maybe_bytes(v.size_bytes);
                let text = format!("volume {} holds {size} and nothing mounts it", code(&v.name));
                let subj = format!("volume {} ({size})", code(&v.name));
                orphaned.entry(owner.key()).or_default().push(Entry { bytes: v.size_bytes, ..entry(text, subj) });
            }
        }
    }
    group(&mut drafts, "orphaned_volume", orphaned, "has no containers left but keeps volumes");

    // Unused images, attributed to the stacks that ran them, else by the
    // compose label on the image, else by a compose-style tag prefix.
    let stack_names: Vec<StackKey> = i.end.stacks.iter().map(StackRow::key).collect();
    let mut unused: BTreeMap<Key, Vec<_>> = BTreeMap::new();
    for img in i.end.images.iter().filter(|img| img.containers == 0) {
        let tags = &img.tags;
        let mut owners: Vec<StackKey> = i.image_stacks.get(&img.image_ref).cloned().unwrap_or_default();
        if let (true, Some(p)) = (owners.is_empty(), img.labels.get(COMPOSE_PROJECT)) {
            owners.push(StackKey::new(StackKind::Compose, p.clone()));
        }
        if owners.is_empty() {
            owners = stack_names
                .iter()
                .filter(|s| {
                    s.kind == StackKind::Compose
                        && tags.iter().any(|t| {
                            t.strip_prefix(s.name.as_str()).is_some_and(|r| r.starts_with('_') || r.starts_with('-'))
                        })
                })
                .cloned()
                .collect();
        }
        let label = tags
            .first()
            .cloned()
            .unwrap_or_else(|| img.image_id.trim_start_matches("sha256:").chars().take(12).collect());
        for o in owners {
            let text = format!("{} ({})", code(&label), units::maybe_bytes(img.size));
            unused.entry(o).or_default().push((text, None::<i64>, img.size));
        }
    }
    for (StackKey { kind: stack_kind, name: stack }, entries) in unused {
        let bytes = entries.iter().filter_map(|e| e.2).reduce(|a, b| a + b);
        let evidence: Vec<String> = entries.into_iter().map(|e| e.0).collect();
        let plural = if evidence.len() == 1 { "" } else { "s" };
        let summary = format!(
            "{} has {} unused image{plural} holding {}: {}",
            code(&stack),
            evidence.len(),
            units::maybe_bytes(bytes),
            evidence.join(", ")
        );
        let subject = format!("{} unused image{plural} ({})", evidence.len(), units::maybe_bytes(bytes));
        drafts.push(Draft {
            kind: "unused_images",
            stack_kind,
            stack,
            summary,
            evidence,
            since: None,
            bytes,
            subject,
            rate: None,
            count: None,
            first_at: None,
            last_at: None,
        });
    }
    drafts
}

/// Volumes that belong to no stack: no labels, nothing mounts them, no
/// stack claims them. (evidence line, size) each, largest first.
pub fn dangling_volumes(end: &RecordedPass) -> Vec<(String, Option<i64>)> {
    let mut out: Vec<(String, Option<i64>)> = end
        .volumes
        .iter()
        .filter(|v| v.stacks.is_empty() && v.mounted_by.is_empty() && v.labels.is_empty())
        .map(|v| (format!("volume {} ({})", code(&v.name), units::maybe_bytes(v.size_bytes)), v.size_bytes))
        .collect();
    out.sort_by_key(|(_, s)| std::cmp::Reverse(s.unwrap_or(0)));
    out
}
