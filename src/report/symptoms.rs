//! Cross-stack symptoms, found with no per-project knowledge: restart
//! loops, unhealthy services, OOM kills, non-zero exits, volume bloat,
//! orphaned volumes and unused images. Each becomes a finding with a
//! priority on the supervisor's P0-P4 scale (README "Priorities").

use std::collections::BTreeMap;

use super::edges::{Edge, labels, list};
use super::md::code;
use super::model::Growth;
use crate::collect::stack::COMPOSE_PROJECT;
use crate::config::ReportConfig;
use crate::store::queries::ContainerRow;
use crate::time::iso_utc;
use crate::units;

/// A finding before ownership and vault names are attached.
pub struct Draft {
    pub kind: &'static str,
    pub stack_kind: String,
    pub stack: String,
    pub summary: String,
    pub evidence: Vec<String>,
    pub since: Option<i64>,
    pub bytes: Option<i64>,
}

pub struct Inputs<'a> {
    pub start: &'a Edge,
    pub end: &'a Edge,
    /// False when the window has a single pass: nothing can have "risen".
    pub has_span: bool,
    pub span: &'a str,
    pub volume_growth: &'a [Growth],
    /// container_ref → first unhealthy sample time.
    pub unhealthy_since: &'a BTreeMap<i64, i64>,
    /// image_ref → stacks (kind, name) that ever ran it.
    pub image_stacks: &'a BTreeMap<i64, Vec<(String, String)>>,
    pub config: &'a ReportConfig,
    pub now: i64,
    /// What happened between passes (`report::events`).
    pub events: &'a super::events::Found,
}

type Key = (String, String);
/// (evidence line, since, bytes) per affected object.
type Entries = Vec<(String, Option<i64>, Option<i64>)>;

fn group(drafts: &mut Vec<Draft>, kind: &'static str, items: BTreeMap<Key, Entries>, lead: &str) {
    for ((stack_kind, stack), entries) in items {
        let since = entries.iter().filter_map(|e| e.1).min();
        let bytes = entries.iter().filter_map(|e| e.2).reduce(|a, b| a + b);
        let evidence: Vec<String> = entries.into_iter().map(|e| e.0).collect();
        let summary = format!("{} {lead}: {}", code(&stack), evidence.join("; "));
        drafts.push(Draft { kind, stack_kind, stack, summary, evidence, since, bytes });
    }
}

pub fn find(i: &Inputs<'_>) -> Vec<Draft> {
    let mut drafts = Vec::new();
    let start_by_ref: BTreeMap<i64, &ContainerRow> = i.start.containers.iter().map(|c| (c.container_ref, c)).collect();
    let key = |c: &ContainerRow| (c.stack_kind.clone(), c.stack.clone());

    let mut restarting: BTreeMap<Key, Vec<_>> = BTreeMap::new();
    let mut unhealthy: BTreeMap<Key, Vec<_>> = BTreeMap::new();
    let mut oom: BTreeMap<Key, Vec<_>> = BTreeMap::new();
    let mut exited: BTreeMap<Key, Vec<_>> = BTreeMap::new();
    for c in &i.end.containers {
        let before = start_by_ref.get(&c.container_ref).and_then(|s| s.restart_count);
        // A container created inside the window started from 0 restarts.
        let base = if start_by_ref.contains_key(&c.container_ref) { before } else { Some(0) };
        let rose = match (i.has_span, base, c.restart_count) {
            (true, Some(a), Some(b)) if b > a => Some((a, b)),
            _ => None,
        };
        if c.state == "restarting" || rose.is_some() {
            let text = match rose {
                Some((a, b)) => format!("{} restart count {a} → {b} in {}", code(&c.name), i.span),
                None => format!("{} is restarting (restart count {})", code(&c.name), c.restart_count.unwrap_or(0)),
            };
            let text = match c.exit_code {
                Some(code_) if code_ != 0 => format!("{text}, last exit code {code_}"),
                _ => text,
            };
            restarting.entry(key(c)).or_default().push((text, None, None));
        }
        if c.health.as_deref() == Some("unhealthy") {
            let since = i.unhealthy_since.get(&c.container_ref).copied();
            let text = match since {
                Some(t) => format!("{} unhealthy since {} ({})", code(&c.name), iso_utc(t), human_span(i.now - t)),
                None => format!("{} unhealthy", code(&c.name)),
            };
            unhealthy.entry(key(c)).or_default().push((text, since, None));
        }
        if c.oom_killed == Some(true) {
            oom.entry(key(c)).or_default().push((
                format!("{} was killed for running out of memory (OOM)", code(&c.name)),
                None,
                None,
            ));
        } else if c.state == "exited" && c.exit_code.is_some_and(|e| e != 0) {
            let text = format!("{} exited with code {}", code(&c.name), c.exit_code.unwrap_or_default());
            exited.entry(key(c)).or_default().push((text, None, None));
        }
    }
    i.events.merge_into(&mut restarting, &mut oom, &mut exited);
    group(&mut drafts, "restarting", restarting, "has containers restarting");
    group(&mut drafts, "unhealthy", unhealthy, "has unhealthy containers");
    group(&mut drafts, "oom_killed", oom, "had containers OOM-killed");
    group(&mut drafts, "exited_nonzero", exited, "has containers that exited with an error");

    // Volume bloat: large in absolute terms and relative to where it started.
    let mut bloat: BTreeMap<Key, Vec<_>> = BTreeMap::new();
    if i.has_span {
        for g in i.volume_growth {
            let Some(d) = g.delta_bytes.filter(|d| *d >= i.config.bloat_min_bytes && *d > 0) else {
                continue;
            };
            if !matches!(g.change, "grew" | "new") {
                continue;
            }
            let relative = match g.start_bytes {
                Some(s) if s > 0 => 100.0 * d as f64 / s as f64,
                _ => f64::INFINITY,
            };
            if relative < i.config.bloat_min_percent {
                continue;
            }
            let Some(v) = i.end.volumes.iter().find(|v| v.name == g.name && v.kind.as_str() == g.level) else {
                continue;
            };
            let pct = if relative.is_finite() { format!(", +{relative:.0}%") } else { String::new() };
            let text = format!(
                "{} {} grew {} in {} (from {} to {}{pct})",
                v.kind.as_str(),
                code(&g.name),
                units::bytes(d),
                i.span,
                units::maybe_bytes(g.start_bytes.or(Some(0))),
                units::maybe_bytes(g.end_bytes)
            );
            for (kind, stack, _) in &v.stacks {
                bloat.entry((kind.clone(), stack.clone())).or_default().push((text.clone(), None, Some(d)));
            }
        }
    }
    group(&mut drafts, "volume_bloat", bloat, "has volumes growing fast");

    // Orphaned volumes: their stack (by compose label) has no containers left.
    let mut orphaned: BTreeMap<Key, Vec<_>> = BTreeMap::new();
    for v in &i.end.volumes {
        for (kind, stack, via) in &v.stacks {
            let empty = i.end.stack(kind, stack).is_some_and(|s| s.containers == 0);
            if via == "label" && empty && list(&v.mounted_by).is_empty() {
                let text =
                    format!("volume {} holds {} and nothing mounts it", code(&v.name), units::maybe_bytes(v.size));
                orphaned.entry((kind.clone(), stack.clone())).or_default().push((text, None, v.size));
            }
        }
    }
    group(&mut drafts, "orphaned_volume", orphaned, "has no containers left but keeps volumes");

    // Unused images, attributed to the stacks that ran them, else by the
    // compose label on the image, else by a compose-style tag prefix.
    let stack_names: Vec<(String, String)> = i.end.stacks.iter().map(|s| (s.kind.clone(), s.name.clone())).collect();
    let mut unused: BTreeMap<Key, Vec<_>> = BTreeMap::new();
    for img in i.end.images.iter().filter(|img| img.containers == 0) {
        let tags = list(&img.tags);
        let mut owners: Vec<(String, String)> = i.image_stacks.get(&img.image_ref).cloned().unwrap_or_default();
        if let (true, Some(p)) = (owners.is_empty(), labels(&img.labels).get(COMPOSE_PROJECT)) {
            owners.push(("compose".into(), p.clone()));
        }
        if owners.is_empty() {
            owners = stack_names
                .iter()
                .filter(|(k, n)| {
                    k == "compose"
                        && tags.iter().any(|t| {
                            t.strip_prefix(n.as_str()).is_some_and(|r| r.starts_with('_') || r.starts_with('-'))
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
    for ((stack_kind, stack), entries) in unused {
        let bytes = entries.iter().filter_map(|e| e.2).reduce(|a, b| a + b);
        let evidence: Vec<String> = entries.into_iter().map(|e| e.0).collect();
        let summary = format!(
            "{} has {} unused image{} holding {}: {}",
            code(&stack),
            evidence.len(),
            if evidence.len() == 1 { "" } else { "s" },
            units::maybe_bytes(bytes),
            evidence.join(", ")
        );
        drafts.push(Draft { kind: "unused_images", stack_kind, stack, summary, evidence, since: None, bytes });
    }
    drafts
}

/// `24h`, `3h 10m`, `45s`, `2d 4h`: the two largest units.
pub fn human_span(secs: i64) -> String {
    let secs = secs.max(0);
    let units = [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)];
    let mut out = Vec::new();
    let mut rest = secs;
    for (u, size) in units {
        if rest >= size {
            out.push(format!("{}{u}", rest / size));
            rest %= size;
        }
        if out.len() == 2 || (!out.is_empty() && rest == 0) {
            break;
        }
    }
    if out.is_empty() { "0s".into() } else { out.join(" ") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_naturally() {
        assert_eq!(human_span(86_400), "1d");
        assert_eq!(human_span(24 * 3600 - 1), "23h 59m");
        assert_eq!(human_span(3 * 3600 + 600), "3h 10m");
        assert_eq!(human_span(45), "45s");
        assert_eq!(human_span(0), "0s");
        assert_eq!(human_span(7 * 86_400), "7d");
    }
}
