//! `stackwatch report`: windowed growth, host context, cross-stack
//! symptoms and ownership, computed from the history alone.
//!
//! `build` turns the database into a [`model::Report`]; `render` turns that
//! into markdown through templates; `outputs` writes the knowledge file and
//! vault items. Nothing here talks to the engine.

pub mod edges;
pub mod events;
pub mod growth;
pub mod md;
pub mod model;
pub mod outputs;
pub mod owners;
pub mod prunes;
pub mod reconcile;
pub mod render;
pub mod symptoms;

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result};
use rusqlite::Connection;

use edges::{Edge, labels};
use md::code;
use model::{Disk, Finding, GrowthLevels, HostReport, Report, StackSummary, VaultStatus};
use owners::{Owner, Projects, StackFacts};
use symptoms::{Draft, human_span};

use crate::config::Config;
use crate::store::queries::{self, HostRow};
use crate::time::iso_utc;
use crate::{inert, units};

/// Shortest span the fill projection extrapolates from (10 minutes).
pub const MIN_PROJECTION_SPAN: i64 = 600;

pub struct Request<'a> {
    pub window_seconds: i64,
    /// The window as the user wrote it (`24h`), for sentences.
    pub window_text: String,
    pub now: i64,
    pub config: &'a Config,
    pub projects: &'a Projects,
    /// Vault item names are only given when a vault directory is in use.
    pub vault: bool,
}

pub fn build(conn: &Connection, req: &Request<'_>) -> Result<Report> {
    let hosts = queries::hosts(conn).context("cannot read hosts from the history")?;
    // With several engines in one history, the same stack name can have a
    // finding on each, so vault file names must tell engines apart. The
    // first engine ever recorded keeps the plain names and every later one
    // carries its engine ID: names never change when an engine is added.
    let first = hosts.iter().map(|h| h.host_id).min();
    let mut out = Vec::new();
    for h in hosts {
        let prefix = if Some(h.host_id) == first {
            String::new()
        } else {
            format!("{}-", md::slug(&h.engine_id.chars().take(14).collect::<String>()))
        };
        let mut hr = host_report(conn, &h, req, &prefix)
            .with_context(|| format!("cannot build the report for host {}", h.hostname))?;
        make_names_inert(&mut hr);
        out.push(hr);
    }
    Ok(Report {
        generated_at: iso_utc(req.now),
        window: req.window_text.clone(),
        window_seconds: req.window_seconds,
        hosts: out,
        vault: VaultStatus::default(),
    })
}

/// Raw names reach JSON readers too: one line each, bounded, no control
/// characters. (Markdown fields were built from inert code spans already.)
fn make_names_inert(h: &mut HostReport) {
    let fix = |s: &mut String| *s = inert::line(s, 200);
    fix(&mut h.host);
    fix(&mut h.engine_id);
    for g in h.growth.stacks.iter_mut().chain(h.growth.containers.iter_mut()).chain(h.growth.volumes.iter_mut()) {
        fix(&mut g.name);
        g.stack.iter_mut().for_each(fix);
        g.parts.iter_mut().flat_map(|p| p.name.iter_mut()).for_each(fix);
    }
    for f in &mut h.findings {
        fix(&mut f.key);
        f.stack.iter_mut().chain(f.owner.iter_mut()).for_each(fix);
    }
    for s in &mut h.stacks {
        fix(&mut s.name);
        fix(&mut s.owner);
    }
    h.events.make_inert();
}

fn host_report(conn: &Connection, h: &HostRow, req: &Request<'_>, vault_prefix: &str) -> Result<HostReport> {
    let cfg = &req.config.report;
    let end_pass = queries::pass(conn, h.latest_pass)?;
    let window_start = end_pass.started_at - req.window_seconds;
    let edge_pass = queries::pass_at_or_before(conn, h.host_id, window_start)?;
    let covers_window = edge_pass.is_some();
    let start_pass = match edge_pass {
        Some(p) => p,
        None => queries::first_pass(conn, h.host_id)?,
    };
    let has_span = start_pass.id != end_pass.id;
    let span_seconds = end_pass.started_at - start_pass.started_at;
    let span = if covers_window && span_seconds == req.window_seconds {
        req.window_text.clone()
    } else {
        human_span(span_seconds)
    };
    let passes = queries::passes_between(conn, h.host_id, start_pass.started_at, end_pass.started_at)?;
    let end = Edge::load(conn, end_pass)?;
    let start = if has_span { Edge::load(conn, start_pass)? } else { Edge::load(conn, end_pass)? };

    let age = req.now - end_pass.started_at;
    let mut coverage = if !has_span {
        format!("Only one pass so far ({}); growth needs two, so none is claimed.", iso_utc(end_pass.started_at))
    } else if covers_window {
        format!(
            "Window {}: from {} to {}, {passes} passes.",
            req.window_text,
            iso_utc(start_pass.started_at),
            iso_utc(end_pass.started_at)
        )
    } else {
        format!(
            "History covers only {span} of the {} window: from {} to {}, {passes} passes.",
            req.window_text,
            iso_utc(start_pass.started_at),
            iso_utc(end_pass.started_at)
        )
    };
    // Sizes are re-measured at their own cadence: say how old they are.
    let oldest =
        |times: &mut dyn Iterator<Item = i64>| times.min().map(|t| end_pass.started_at - t).filter(|a| *a >= 60);
    let volumes = oldest(&mut end.volumes.iter().filter(|v| v.size.is_some()).filter_map(|v| v.measured_at));
    let layers = oldest(&mut end.containers.iter().filter(|c| c.rw.is_some()).filter_map(|c| c.rw_measured_at));
    let what = match (volumes, layers) {
        (Some(_), Some(_)) => Some("Volume, bind-mount and writable-layer sizes"),
        (Some(_), None) => Some("Volume and bind-mount sizes"),
        (None, Some(_)) => Some("Writable-layer sizes"),
        (None, None) => None,
    };
    if let (Some(what), Some(size_age)) = (what, volumes.max(layers)) {
        coverage.push_str(&format!(" {what} were measured up to {} before the newest pass.", human_span(size_age)));
    }
    if age > 3600 {
        coverage
            .push_str(&format!(" The newest pass is {} old: is `stackwatch collect` still running?", human_span(age)));
    }

    let growth = if has_span {
        GrowthLevels {
            stacks: growth::stacks(&start, &end, &span),
            containers: growth::containers(&start, &end, &span),
            volumes: growth::volumes(&start, &end, &span),
        }
    } else {
        GrowthLevels::default()
    };

    // Ownership and factory status for every stack seen at either edge.
    let owner_of = stack_owners(&[&end, &start], req.config, req.projects);

    let disk = disk_context(&start, &end, has_span, &span, &growth, req);
    let filesystems = reconcile::filesystems(&start, &end, has_span, &span, MIN_PROJECTION_SPAN);
    let pruned = prunes::summary(conn, h.host_id, start_pass.started_at, req.now.max(end_pass.started_at))?;
    let urgent = disk
        .as_ref()
        .is_some_and(|d| d.over_threshold || d.fill_seconds.is_some_and(|s| s <= cfg.fill_warning.as_secs() as i64));

    // Symptoms.
    let mut unhealthy_since = BTreeMap::new();
    for c in end.containers.iter().filter(|c| c.health.as_deref() == Some("unhealthy")) {
        if let Some(t) = queries::unhealthy_since(conn, c.container_ref)? {
            unhealthy_since.insert(c.container_ref, t);
        }
    }
    let mut image_stacks = BTreeMap::new();
    for img in end.images.iter().filter(|i| i.containers == 0) {
        image_stacks.insert(img.image_ref, queries::image_past_stacks(conn, img.image_ref)?);
    }
    let (event_findings, events) = events::find(
        conn,
        h.host_id,
        end_pass.started_at - req.window_seconds,
        req.now.max(end_pass.started_at),
        &end,
        &span,
    )?;
    let drafts = symptoms::find(&symptoms::Inputs {
        start: &start,
        end: &end,
        has_span,
        span: &span,
        volume_growth: &growth.volumes,
        unhealthy_since: &unhealthy_since,
        image_stacks: &image_stacks,
        config: cfg,
        now: req.now,
        events: &event_findings,
    });
    let mut findings: Vec<Finding> = Vec::new();
    if let Some(d) = disk.as_ref().filter(|d| d.over_threshold) {
        findings.push(Finding {
            key: "disk_pressure:host".into(),
            kind: "disk_pressure",
            priority: "P1",
            stack: None,
            stack_kind: None,
            factory: false,
            owner: None,
            owner_source: None,
            summary: d.sentence.clone(),
            evidence: vec![],
            since: None,
            bytes: Some(d.used_bytes),
            vault_file: None,
            title: "Docker root filesystem over the disk-pressure threshold".into(),
            why: "P1 disk pressure.".into(),
            unblocks: "Disk space for every stack on the box.".into(),
        });
    }
    for d in drafts {
        let (owner, factory) = owner_of.get(&(d.stack_kind.clone(), d.stack.clone())).cloned().unwrap_or_else(|| {
            (Owner { owner: "unowned".into(), source: "stack not seen at the window edges".into() }, false)
        });
        findings.push(finding(d, owner, factory, urgent, req.vault, &h.hostname, vault_prefix));
    }
    findings.sort_by(|a, b| a.priority.cmp(b.priority).then(b.bytes.cmp(&a.bytes)).then(a.key.cmp(&b.key)));

    let growth_of: BTreeMap<&str, &model::Growth> = growth.stacks.iter().map(|g| (g.name.as_str(), g)).collect();
    let mut stacks: Vec<StackSummary> = end
        .stacks
        .iter()
        .map(|s| {
            let (owner, factory) = owner_of[&(s.kind.clone(), s.name.clone())].clone();
            let g = growth_of.get(s.name.as_str());
            StackSummary {
                name: s.name.clone(),
                kind: s.kind.clone(),
                factory,
                owner: owner.owner,
                owner_source: owner.source,
                containers: s.containers,
                running: s.running,
                disk_bytes: s.disk,
                unknown_sizes: s.unknown,
                growth_bytes: g.and_then(|g| g.delta_bytes),
                disk: match (s.disk, s.unknown) {
                    (d, 0) => units::maybe_bytes(d),
                    (Some(d), _) => format!("{} + unmeasured", units::bytes(d)),
                    (None, _) => "unmeasured".into(),
                },
                change: match g.map(|g| (g.change, g.delta_bytes)) {
                    Some(("new", _)) => "new".into(),
                    Some((_, Some(d))) => units::delta(d),
                    _ => "–".into(),
                },
            }
        })
        .collect();
    stacks.sort_by(|a, b| b.disk_bytes.cmp(&a.disk_bytes).then_with(|| a.name.cmp(&b.name)));

    Ok(HostReport {
        host: h.hostname.clone(),
        engine_id: h.engine_id.clone(),
        as_of: iso_utc(end_pass.started_at),
        from: iso_utc(start_pass.started_at),
        span_seconds,
        span,
        covers_window,
        passes,
        age_seconds: age,
        coverage,
        disk,
        filesystems,
        pruned,
        growth,
        findings,
        stacks,
        events,
    })
}

/// Owner (with its source) and factory status of every stack in `edges`,
/// keyed by (kind, name). Shared by the report and the metrics so both name
/// the same owner; earlier edges win when a stack's facts differ.
pub fn stack_owners(
    edges: &[&Edge],
    config: &Config,
    projects: &Projects,
) -> BTreeMap<(String, String), (Owner, bool)> {
    let (managed_key, managed_value) = config.labels.managed_pair();
    let mut stack_keys: BTreeSet<(String, String)> = BTreeSet::new();
    for s in edges.iter().flat_map(|e| e.stacks.iter()) {
        stack_keys.insert((s.kind.clone(), s.name.clone()));
    }
    let container_labels: BTreeMap<i64, BTreeMap<String, String>> =
        edges.iter().flat_map(|e| e.containers.iter()).map(|c| (c.container_ref, labels(&c.labels))).collect();
    let volume_labels: BTreeMap<i64, BTreeMap<String, String>> =
        edges.iter().flat_map(|e| e.volumes.iter()).map(|v| (v.volume_ref, labels(&v.labels))).collect();
    let mut owner_of: BTreeMap<(String, String), (Owner, bool)> = BTreeMap::new();
    for (kind, name) in &stack_keys {
        let containers: Vec<_> = edges
            .iter()
            .flat_map(|e| e.containers.iter())
            .filter(|c| c.stack_kind == *kind && c.stack == *name)
            .map(|c| (c.name.as_str(), c.service.as_deref(), &container_labels[&c.container_ref]))
            .collect();
        let volumes: Vec<_> = edges
            .iter()
            .flat_map(|e| e.volumes.iter())
            .filter(|v| v.stacks.iter().any(|(k, n, _)| k == kind && n == name))
            .map(|v| (v.name.as_str(), &volume_labels[&v.volume_ref]))
            .collect();
        let by_config = config.report.factory_stacks.iter().find(|f| owners::glob(f, name));
        let by_label = containers.iter().find(|(_, _, l)| l.get(managed_key).is_some_and(|v| v == managed_value));
        let factory = match (by_config, by_label) {
            (Some(pat), _) => Some(format!("config `[report]` factory_stacks {}", code(pat))),
            (None, Some((cname, _, _))) => {
                Some(format!("label {} on container {}", code(&config.labels.managed), code(cname)))
            }
            _ => None,
        };
        let facts = StackFacts { name, containers, volumes, factory };
        let owner = owners::resolve(&facts, projects, &config.labels.owner);
        owner_of.insert((kind.clone(), name.clone()), (owner, facts.factory.is_some()));
    }
    owner_of
}

fn disk_context(
    start: &Edge,
    end: &Edge,
    has_span: bool,
    span: &str,
    growth: &GrowthLevels,
    req: &Request<'_>,
) -> Option<Disk> {
    let cfg = &req.config.report;
    let (total, used, free) = (end.pass.fs_total?, end.pass.fs_used?, end.pass.fs_free?);
    let used_percent = 100.0 * used as f64 / (used + free).max(1) as f64;
    let growth_bytes = if has_span { start.pass.fs_used.map(|s| used - s) } else { None };
    let span_seconds = end.pass.started_at - start.pass.started_at;
    // A projection from a few minutes of noise would be a guess.
    let (fill, fill_seconds) = match growth_bytes {
        _ if span_seconds < MIN_PROJECTION_SPAN => ("unknown", None),
        Some(g) if g > 0 => ("filling", Some((free as f64 / (g as f64 / span_seconds as f64)) as i64)),
        Some(_) => ("not filling", None),
        None => ("unknown", None),
    };
    let over_threshold = used_percent > cfg.disk_p1_percent;
    let mut sentence = format!(
        "Docker root filesystem {used_percent:.0}% used ({} of {}, {} free)",
        units::bytes(used),
        units::bytes(total),
        units::bytes(free)
    );
    match (growth_bytes, fill_seconds) {
        (Some(g), Some(s)) => sentence.push_str(&format!(
            "; {} in {span}; at this rate full in {} (around {})",
            units::delta(g),
            human_span(s),
            iso_utc(end.pass.started_at + s)
        )),
        (Some(g), None) if span_seconds < MIN_PROJECTION_SPAN => {
            sentence.push_str(&format!("; {} in {span}, too short a history to project when it fills", units::delta(g)))
        }
        (Some(g), None) => sentence.push_str(&format!("; {} in {span}; not filling", units::delta(g))),
        _ => sentence.push_str("; growth unknown until there are two passes"),
    }
    if over_threshold {
        let growers: Vec<String> = growth
            .stacks
            .iter()
            .filter(|g| g.delta_bytes.is_some_and(|d| d > 0))
            .take(3)
            .map(|g| format!("{} {}", code(&g.name), units::delta(g.delta_bytes.unwrap_or(0))))
            .collect();
        let contributors = if growers.is_empty() {
            let mut biggest: Vec<_> = end.stacks.iter().filter(|s| s.disk.is_some()).collect();
            biggest.sort_by_key(|s| std::cmp::Reverse(s.disk));
            let list: Vec<String> =
                biggest.iter().take(3).map(|s| format!("{} {}", code(&s.name), units::maybe_bytes(s.disk))).collect();
            format!("largest stacks: {}", if list.is_empty() { "none measured".into() } else { list.join(", ") })
        } else {
            format!("top contributors in {span}: {}", growers.join(", "))
        };
        sentence = format!("P1 disk pressure (over {:.0}%): {sentence}; {contributors}", cfg.disk_p1_percent);
    }
    sentence.push('.');
    Some(Disk {
        used_bytes: used,
        total_bytes: total,
        free_bytes: free,
        used_percent: (used_percent * 10.0).round() / 10.0,
        growth_bytes,
        fill: fill.into(),
        fill_seconds,
        full_at: fill_seconds.map(|s| iso_utc(end.pass.started_at + s)),
        over_threshold,
        sentence,
    })
}

/// Priority on the supervisor's scale (README "Priorities").
pub fn priority(kind: &str, factory: bool, disk_urgent: bool) -> &'static str {
    match kind {
        "disk_pressure" => "P1",
        "restarting" | "unhealthy" | "oom_killed" => {
            if factory {
                "P2"
            } else {
                "P3"
            }
        }
        "exited_nonzero" => {
            if factory {
                "P2"
            } else {
                "P4"
            }
        }
        // Space findings matter when space is short.
        _ => {
            if disk_urgent {
                "P1"
            } else {
                "P4"
            }
        }
    }
}

fn finding(
    d: Draft,
    owner: Owner,
    factory: bool,
    urgent: bool,
    vault: bool,
    host: &str,
    vault_prefix: &str,
) -> Finding {
    let priority = priority(d.kind, factory, urgent);
    let (what, unblocks) = match d.kind {
        "restarting" => {
            ("is in a restart loop", "A stable service, and an end to the churn of restarts on the shared box.")
        }
        "unhealthy" => {
            ("reports unhealthy containers", "A healthy service, or a healthcheck that says what is really wrong.")
        }
        "oom_killed" => {
            ("had containers killed for lack of memory", "Memory limits that fit, and no more surprise kills.")
        }
        "exited_nonzero" => (
            "has containers that exited with an error",
            "Either a running service again, or removal of containers nobody needs.",
        ),
        "volume_bloat" => {
            ("has volumes growing fast", "Disk headroom for every stack on the box, before the disk fills.")
        }
        "orphaned_volume" => (
            "keeps volumes with no containers left",
            "The space those volumes hold, once the owner confirms they can go.",
        ),
        _ => ("keeps images no container uses", "The space those images hold, once the owner confirms they can go."),
    };
    let why = match priority {
        "P1" => "P1: the disk is under pressure or filling within the warning horizon, and this holds or adds space.",
        "P2" => "P2: a factory service is not running or not healthy.",
        "P3" => "P3: a neighbouring stack is degraded on the shared box.",
        _ => "P4: housekeeping.",
    };
    let vault_file = (vault && !factory)
        .then(|| format!("stackwatch-{vault_prefix}{}-{}.md", md::slug(&d.stack), d.kind.replace('_', "-")));
    Finding {
        key: format!("{}:{}:{}", d.kind, d.stack_kind, d.stack),
        kind: d.kind,
        priority,
        title: format!("Stack {} on {} {what}", code(&d.stack), code(host)),
        summary: d.summary,
        evidence: d.evidence,
        since: d.since.map(iso_utc),
        bytes: d.bytes,
        stack: Some(d.stack),
        stack_kind: Some(d.stack_kind),
        factory,
        owner: Some(owner.owner),
        owner_source: Some(owner.source),
        vault_file,
        why: why.into(),
        unblocks: unblocks.into(),
    }
}
