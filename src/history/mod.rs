//! The read model: what the history says over a window, computed from the
//! database alone and shared by every reader (`report`, `metrics`, the
//! dashboard, `mcp`). [`build`] turns the database into a [`model::Report`]:
//! the passes at the window's two ends ([`pass`]), growth per stack and
//! part ([`growth`]), each filesystem's change split into its parts
//! ([`reconcile`]), cross-stack symptoms ([`symptoms`]), what the engine's
//! events say ([`events`]), what prunes removed ([`prunes`]), owners
//! ([`owners`]), and the findings with their priorities and vault names.
//! Nothing here talks to the engine or writes a file.

pub mod events;
pub mod growth;
pub mod model;
pub mod owners;
pub mod pass;
pub mod prunes;
pub mod reconcile;
pub mod symptoms;

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result};

use crate::untrusted::markdown::{self as md, code};
use model::{Disk, Finding, GrowthLevels, HostReport, Report, StackSummary, VaultStatus};
use pass::RecordedPass;

use owners::{Owner, Projects, StackFacts};
use symptoms::Draft;

use crate::config::Config;
use crate::model::sizes::stale_age;
use crate::model::snapshot::{StackKey, StackKind};
use crate::model::units;
use crate::store::read::{self, HostRow, Reader};
use crate::time::{Window, human_span, iso_utc};
use crate::untrusted;

/// Shortest span the fill projection extrapolates from (10 minutes).
pub const MIN_PROJECTION_SPAN: i64 = 600;

pub struct Request<'a> {
    pub window: Window,
    pub now: i64,
    pub config: &'a Config,
    pub projects: &'a Projects,
    /// Vault item names are only given when a vault directory is in use.
    pub vault: bool,
}

pub fn build(db: &Reader<'_>, req: &Request<'_>) -> Result<Report> {
    let hosts = db.hosts().context("cannot read hosts from the history")?;
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
        let mut hr = host_report(db, &h, req, &prefix)
            .with_context(|| format!("cannot build the report for host {}", h.hostname))?;
        make_names_inert(&mut hr);
        out.push(hr);
    }
    Ok(Report {
        generated_at: iso_utc(req.now),
        window: req.window.text.clone(),
        window_seconds: req.window.seconds,
        hosts: out,
        project_errors: req.projects.errors.clone(),
        vault: VaultStatus::default(),
    })
}

/// Longest name in the report's outputs, in characters.
pub const NAME_MAX: usize = 200;

/// A name as the report shows it: one inert line of at most [`NAME_MAX`]
/// characters. A reader looking a raw name up in a report compares this.
pub fn shown_name(raw: &str) -> String {
    untrusted::line(raw, NAME_MAX)
}

/// Raw names reach JSON readers too: one line each, bounded, no control
/// characters. (Markdown fields were built from inert code spans already.)
fn make_names_inert(h: &mut HostReport) {
    let fix = |s: &mut String| *s = shown_name(s);
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
        f.working_dir.iter_mut().chain(f.config_files.iter_mut()).for_each(fix);
    }
    for s in &mut h.stacks {
        fix(&mut s.name);
        fix(&mut s.owner);
        s.working_dir.iter_mut().chain(s.config_files.iter_mut()).for_each(fix);
    }
    h.events.make_inert();
}

fn host_report(db: &Reader<'_>, h: &HostRow, req: &Request<'_>, vault_prefix: &str) -> Result<HostReport> {
    let cfg = &req.config.report;
    let end_pass = db.pass(h.latest_pass)?;
    let window_start = end_pass.started_at - req.window.seconds;
    let edge_pass = db.pass_at_or_before(h.host_id, window_start)?;
    let covers_window = edge_pass.is_some();
    let start_pass = match edge_pass {
        Some(p) => p,
        None => db.first_pass(h.host_id)?,
    };
    let has_span = start_pass.id != end_pass.id;
    let span_seconds = end_pass.started_at - start_pass.started_at;
    let span = if covers_window && span_seconds == req.window.seconds {
        req.window.text.clone()
    } else {
        human_span(span_seconds)
    };
    let passes = db.passes_between(h.host_id, start_pass.started_at, end_pass.started_at)?;
    let end = RecordedPass::load(db, end_pass)?;
    // With one pass, both ends of the window are that pass.
    let loaded_start = if has_span { Some(RecordedPass::load(db, start_pass)?) } else { None };
    let start = loaded_start.as_ref().unwrap_or(&end);

    let age = req.now - end_pass.started_at;
    let mut coverage = if !has_span {
        format!("Only one pass so far ({}); growth needs two, so none is claimed.", iso_utc(end_pass.started_at))
    } else if covers_window {
        format!(
            "Window {}: from {} to {}, {passes} passes.",
            req.window.text,
            iso_utc(start_pass.started_at),
            iso_utc(end_pass.started_at)
        )
    } else {
        format!(
            "History covers only {span} of the {} window: from {} to {}, {passes} passes.",
            req.window.text,
            iso_utc(start_pass.started_at),
            iso_utc(end_pass.started_at)
        )
    };
    // Sizes are re-measured at their own cadence: say how old they are.
    let volumes = stale_age(
        end_pass.started_at,
        end.volumes.iter().filter(|v| v.size_bytes.is_some()).filter_map(|v| v.size_measured_at),
    );
    let layers = stale_age(
        end_pass.started_at,
        end.containers.iter().filter(|c| c.rw_bytes.is_some()).filter_map(|c| c.rw_measured_at),
    );
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
        // The time of the newest pass, not its age: the age changes with the
        // clock, and a rerun with nothing new must write the same text.
        coverage.push_str(&format!(
            " No pass since {}, over an hour before this report: is `stackwatch collect` still running?",
            iso_utc(end_pass.started_at)
        ));
    }

    let growth = if has_span {
        GrowthLevels {
            stacks: growth::stacks(start, &end, &span),
            containers: growth::containers(start, &end, &span),
            volumes: growth::volumes(start, &end, &span),
        }
    } else {
        GrowthLevels::default()
    };

    // Ownership and factory status for every stack seen at either edge.
    let owner_of = stack_owners(&[&end, start], req.config, req.projects);

    let disk = disk_context(start, &end, has_span, &span, &growth, req);
    let filesystems = reconcile::filesystems(start, &end, has_span, &span, MIN_PROJECTION_SPAN);
    let pruned = prunes::summary(db, h.host_id, start_pass.started_at, req.now.max(end_pass.started_at))?;
    let pressure = disk.as_ref().map(|d| Pressure::of(d, cfg));

    // Symptoms.
    let unhealthy: Vec<i64> =
        end.containers.iter().filter(|c| c.health.as_deref() == Some("unhealthy")).map(|c| c.container_ref).collect();
    let unhealthy_since = db.unhealthy_since(&unhealthy)?;
    let unused: Vec<i64> = end.images.iter().filter(|i| i.containers == 0).map(|i| i.image_ref).collect();
    let image_stacks = db.image_past_stacks(&unused)?;
    let (event_findings, events) = events::find(
        db,
        h.host_id,
        end_pass.started_at - req.window.seconds,
        req.now.max(end_pass.started_at),
        &end,
        &req.window.text,
        cfg,
    )?;
    let drafts = symptoms::find(&symptoms::Inputs {
        start,
        end: &end,
        has_span,
        span: &span,
        span_seconds,
        volume_growth: &growth.volumes,
        unhealthy_since: &unhealthy_since,
        image_stacks: &image_stacks,
        config: cfg,
        events: &event_findings,
    });
    // Space held unused for `vault_after`: the same findings at the pass
    // that long before the newest one.
    let held_at = end_pass.started_at - cfg.vault_after.as_secs() as i64;
    let mut persisted: BTreeSet<(&'static str, StackKey)> = BTreeSet::new();
    let mut held_since = None;
    if let Some(p) = db.pass_at_or_before(h.host_id, held_at)?.filter(|p| p.id != end_pass.id) {
        let old = RecordedPass::load(db, p)?;
        let none = BTreeMap::new();
        let then = symptoms::find(&symptoms::Inputs {
            start: &old,
            end: &old,
            has_span: false,
            span: &span,
            span_seconds: 0,
            volume_growth: &[],
            unhealthy_since: &none,
            image_stacks: &image_stacks,
            config: cfg,
            events: &events::Found::default(),
        });
        persisted = then
            .into_iter()
            .filter(|d| matches!(d.kind, "orphaned_volume" | "unused_images"))
            .map(|d| (d.kind, StackKey::new(d.stack_kind, d.stack)))
            .collect();
        held_since = Some(p.started_at);
    }
    let mut findings: Vec<Finding> = Vec::new();
    if let Some(d) = disk.as_ref().filter(|d| d.over_threshold) {
        findings.push(host_finding(
            "disk_pressure",
            "P1",
            format!("Disk pressure: {}", d.sentence.trim_end_matches('.')),
            Some(d.used_bytes),
            format!(
                "Free space on the Docker root filesystem of {} (over {:.0}% used)",
                code(&h.hostname),
                cfg.disk_p1_percent
            ),
            "P1: the disk is over the disk-pressure threshold.".into(),
            "Disk space for every stack on the box.".into(),
        ));
    }
    // The Docker root's filesystem from the disk context, its drivers from
    // the reconciliation when the pass recorded filesystems (growth on that
    // filesystem only), else every stack's growth; then each other
    // filesystem that holds bind mounts.
    if let Some(d) = disk.as_ref() {
        let root = filesystems.iter().find(|f| f.docker_root);
        let drivers: Vec<(&str, i64)> = match root {
            Some(r) => r.drivers.iter().map(|x| (x.stack.as_str(), x.delta_bytes)).collect(),
            None => growth.stacks.iter().filter_map(|g| Some((g.name.as_str(), g.delta_bytes?))).collect(),
        };
        let filling = Filling {
            what: "The Docker root filesystem".into(),
            key: "host".into(),
            fill_seconds: d.fill_seconds,
            full_at: d.full_at.clone(),
            free_bytes: d.free_bytes,
            growth_bytes: d.growth_bytes,
            drivers,
        };
        findings.extend(fill_finding(&filling, &span, cfg, &h.hostname));
    }
    for fs in filesystems.iter().filter(|f| !f.docker_root) {
        let filling = Filling {
            what: format!("Filesystem {}", code(&fs.mount_point)),
            key: shown_name(&fs.mount_point),
            fill_seconds: fs.fill_seconds,
            full_at: fs.full_at.clone(),
            free_bytes: fs.free_bytes,
            growth_bytes: fs.growth_bytes,
            drivers: fs.drivers.iter().map(|x| (x.stack.as_str(), x.delta_bytes)).collect(),
        };
        findings.extend(fill_finding(&filling, &span, cfg, &h.hostname));
    }
    let dangling = symptoms::dangling_volumes(&end);
    if !dangling.is_empty() {
        let bytes = dangling.iter().filter_map(|d| d.1).reduce(|a, b| a + b);
        let matters = pressure.as_ref().is_some_and(|p| p.matters(bytes));
        let shown: Vec<&str> = dangling.iter().take(5).map(|d| d.0.as_str()).collect();
        let more = dangling.len().saturating_sub(shown.len());
        let mut f = host_finding(
            "dangling_volumes",
            if matters { "P1" } else { "P4" },
            format!(
                "{} volume{} with no labels, no stack and nothing mounting {} hold {}: {}{}",
                dangling.len(),
                if dangling.len() == 1 { "" } else { "s" },
                if dangling.len() == 1 { "it" } else { "them" },
                units::maybe_bytes(bytes),
                shown.join(", "),
                if more > 0 { format!(", and {more} more") } else { String::new() }
            ),
            bytes,
            format!("Decide whether the dangling volumes on {} can be removed", code(&h.hostname)),
            "Nothing on the box claims them; only a human can say whether their data still matters.".into(),
            "The space they hold, once someone confirms they can go.".into(),
        );
        f.evidence = dangling.into_iter().map(|d| d.0).collect();
        findings.push(f);
    }
    let stack_rows: BTreeMap<StackKey, &read::StackRow> =
        end.stacks.iter().chain(start.stacks.iter()).rev().map(|s| (s.key(), s)).collect();
    for d in drafts {
        let key = StackKey::new(d.stack_kind, d.stack.clone());
        let (owner, factory) = owner_of.get(&key).cloned().unwrap_or_else(|| {
            (Owner { owner: "unowned".into(), source: "stack not seen at the window edges".into() }, false)
        });
        let row = stack_rows.get(&key).copied();
        let held = held_since
            .filter(|_| persisted.contains(&(d.kind, key)))
            .filter(|_| d.bytes.is_some_and(|b| b >= cfg.reclaim_min_bytes));
        findings.push(finding(d, owner, factory, pressure.as_ref(), req, &h.hostname, vault_prefix, row, held));
    }
    findings.sort_by(|a, b| a.priority.cmp(b.priority).then(b.bytes.cmp(&a.bytes)).then(a.key.cmp(&b.key)));

    let growth_of: BTreeMap<(Option<StackKind>, &str), &model::Growth> =
        growth.stacks.iter().map(|g| ((g.stack_kind, g.name.as_str()), g)).collect();
    let mut stacks: Vec<StackSummary> = end
        .stacks
        .iter()
        .map(|s| {
            let (owner, factory) = owner_of[&s.key()].clone();
            let g = growth_of.get(&(Some(s.kind), s.name.as_str()));
            StackSummary {
                name: s.name.clone(),
                kind: s.kind.to_string(),
                factory,
                owner: owner.owner,
                owner_source: owner.source,
                containers: s.containers,
                running: s.running,
                disk_bytes: s.disk_bytes,
                unknown_sizes: s.unknown_sizes,
                growth_bytes: g.and_then(|g| g.delta_bytes),
                working_dir: s.working_dir.clone(),
                config_files: s.config_files.clone(),
                location: location(s.working_dir.as_deref(), s.config_files.as_deref()),
                disk: match (s.disk_bytes, s.unknown_sizes) {
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
        omitted: None,
    })
}

/// Owner (with its source) and factory status of every stack in `edges`,
/// keyed by (kind, name). Shared by the report and the metrics so both name
/// the same owner; earlier edges win when a stack's facts differ.
pub fn stack_owners(
    edges: &[&RecordedPass],
    config: &Config,
    projects: &Projects,
) -> BTreeMap<StackKey, (Owner, bool)> {
    let (managed_key, managed_value) = config.labels.managed_pair();
    let stack_keys: BTreeSet<StackKey> = edges.iter().flat_map(|e| e.stacks.iter()).map(read::StackRow::key).collect();
    // Each edge's containers and volumes by stack, in edge order, once:
    // not every object tried for every stack.
    let mut containers_of: BTreeMap<StackKey, Vec<_>> = BTreeMap::new();
    for c in edges.iter().flat_map(|e| e.containers.iter()) {
        containers_of.entry(c.stack_key()).or_default().push((c.name.as_str(), c.service.as_deref(), &c.labels.0));
    }
    let mut volumes_of: BTreeMap<StackKey, Vec<_>> = BTreeMap::new();
    for v in edges.iter().flat_map(|e| e.volumes.iter()) {
        for stack in v.stacks.iter().map(read::VolumeOwner::key).collect::<BTreeSet<_>>() {
            volumes_of.entry(stack).or_default().push((v.name.as_str(), &v.labels.0));
        }
    }
    let mut owner_of: BTreeMap<StackKey, (Owner, bool)> = BTreeMap::new();
    for key in &stack_keys {
        let StackKey { kind, name } = key;
        let containers = containers_of.remove(key).unwrap_or_default();
        let volumes = volumes_of.remove(key).unwrap_or_default();
        let by_config = config.report.factory_stacks.iter().find(|f| owners::glob(f, name));
        let by_label = containers.iter().find(|(_, _, l)| l.get(managed_key).is_some_and(|v| v == managed_value));
        let factory = match (by_config, by_label) {
            (Some(pat), _) => Some(format!("config `[report]` factory_stacks {}", code(pat))),
            (None, Some((cname, _, _))) => {
                Some(format!("label {} on container {}", code(&config.labels.managed), code(cname)))
            }
            _ => None,
        };
        let facts = StackFacts { kind: *kind, name, containers, volumes, factory };
        let owner = owners::resolve(&facts, projects, &config.labels.owner);
        owner_of.insert(key.clone(), (owner, facts.factory.is_some()));
    }
    owner_of
}

fn disk_context(
    start: &RecordedPass,
    end: &RecordedPass,
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
            let mut biggest: Vec<_> = end.stacks.iter().filter(|s| s.disk_bytes.is_some()).collect();
            biggest.sort_by_key(|s| std::cmp::Reverse(s.disk_bytes));
            let list: Vec<String> = biggest
                .iter()
                .take(3)
                .map(|s| format!("{} {}", code(&s.name), units::maybe_bytes(s.disk_bytes)))
                .collect();
            format!("largest stacks: {}", if list.is_empty() { "none measured".into() } else { list.join(", ") })
        } else {
            format!("top contributors in {span}: {}", growers.join(", "))
        };
        sentence = format!("{sentence}; over the {:.0}% threshold; {contributors}", cfg.disk_p1_percent);
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

/// How close the disk is to trouble, and so which space findings matter.
pub struct Pressure {
    /// Over the threshold, or filling within `fill_warning`.
    pub urgent: bool,
    /// Bytes a space finding must hold to matter to that pressure.
    pub min_bytes: i64,
}

impl Pressure {
    pub fn of(d: &Disk, cfg: &crate::config::ReportConfig) -> Pressure {
        let urgent = d.over_threshold || d.fill_seconds.is_some_and(|s| s <= cfg.fill_warning.as_secs() as i64);
        let scale = d.free_bytes.max(d.growth_bytes.unwrap_or(0));
        let min_bytes = ((scale as f64 * cfg.reclaim_min_percent / 100.0) as i64).max(cfg.reclaim_min_bytes);
        Pressure { urgent, min_bytes }
    }

    /// A space finding of `bytes` is worth raising to P1.
    pub fn matters(&self, bytes: Option<i64>) -> bool {
        self.urgent && bytes.is_some_and(|b| b >= self.min_bytes)
    }
}

/// One filesystem's projected fill, as [`fill_finding`] reads it.
pub struct Filling<'a> {
    /// How the sentence names it: "The Docker root filesystem", "Filesystem `/srv`".
    pub what: String,
    /// Its key among the host's findings: `host` for the Docker root's, else the mount point.
    pub key: String,
    pub fill_seconds: Option<i64>,
    pub full_at: Option<String>,
    pub free_bytes: i64,
    pub growth_bytes: Option<i64>,
    /// (stack, its growth on this filesystem), any order.
    pub drivers: Vec<(&'a str, i64)>,
}

/// The projected fill as a finding of its own: P1 when the filesystem would
/// be full within `fill_p1`, P2 within `fill_warning`, none otherwise. It
/// names the stacks whose growth on that filesystem drives it, with their
/// share. Applied to the Docker root's filesystem and to every other
/// filesystem holding bind mounts.
pub fn fill_finding(fs: &Filling<'_>, span: &str, cfg: &crate::config::ReportConfig, host: &str) -> Option<Finding> {
    let secs = fs.fill_seconds?;
    if secs > cfg.fill_warning.as_secs() as i64 {
        return None;
    }
    let priority = if secs <= cfg.fill_p1.as_secs() as i64 { "P1" } else { "P2" };
    let mut growers: Vec<(&str, i64)> = fs.drivers.iter().copied().filter(|(_, b)| *b > 0).collect();
    growers.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let total = fs.growth_bytes.unwrap_or(0).max(1);
    let named: Vec<String> = growers
        .iter()
        .take(3)
        .map(|(name, b)| format!("{} {} ({:.0}%)", code(name), units::delta(*b), 100.0 * *b as f64 / total as f64))
        .collect();
    let driving = if named.is_empty() {
        "no stack's measured growth accounts for it (images, build cache or files outside Docker?)".to_string()
    } else {
        format!("driven by {}", named.join(", "))
    };
    let summary = format!(
        "{} fills in about {} (around {}): {} free, {} in {span}; {driving}",
        fs.what,
        human_span(secs),
        fs.full_at.clone().unwrap_or_default(),
        units::bytes(fs.free_bytes),
        units::delta(fs.growth_bytes.unwrap_or(0)),
    );
    let mut f = host_finding(
        "disk_filling",
        priority,
        summary,
        fs.growth_bytes,
        format!("Stop the growth that fills {} on {} in about {}", lower_first(&fs.what), code(host), human_span(secs)),
        format!(
            "{priority}: at the window's rate the disk is full within {} ({} for P1, {} for a finding).",
            human_span(secs),
            human_span(cfg.fill_p1.as_secs() as i64),
            human_span(cfg.fill_warning.as_secs() as i64)
        ),
        "Every stack on the box keeps running once the growth stops or the space is freed.".into(),
    );
    f.key = format!("disk_filling:{}", fs.key);
    f.evidence = named;
    Some(f)
}

/// "The Docker root filesystem" → "the Docker root filesystem"; names in
/// code spans keep their case.
fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_lowercase().chain(c).collect()).unwrap_or_default()
}

fn host_finding(
    kind: &'static str,
    priority: &'static str,
    summary: String,
    bytes: Option<i64>,
    title: String,
    why: String,
    unblocks: String,
) -> Finding {
    Finding {
        key: format!("{kind}:host"),
        kind,
        priority,
        stack: None,
        stack_kind: None,
        factory: false,
        owner: None,
        owner_source: None,
        summary,
        evidence: vec![],
        since: None,
        bytes,
        count: None,
        first_at: None,
        last_at: None,
        vault_file: None,
        vault_name: None,
        working_dir: None,
        config_files: None,
        location: None,
        title,
        why,
        unblocks,
    }
}

/// Priority on the supervisor's scale (README "Priorities"). `matters`:
/// the disk is under pressure and this finding holds enough space to
/// matter to it; `fast`: it grows at or above its per-day rate.
pub fn priority(kind: &str, factory: bool, matters: bool, fast: bool) -> &'static str {
    match kind {
        "disk_pressure" => "P1",
        "restarting" | "unhealthy" | "oom_killed" => {
            if factory {
                "P2"
            } else {
                "P3"
            }
        }
        "exited_nonzero" if factory => "P2",
        "exited_nonzero" => "P4",
        // Space findings matter when space is short and they are big
        // enough to make a difference, never merely because they exist.
        _ if matters => "P1",
        "log_growth" | "volume_bloat" if fast => "P3",
        _ => "P4",
    }
}

/// Where a compose stack's files are, as markdown: the working directory,
/// then the config files (relative to it when inside it).
pub fn location(dir: Option<&str>, files: Option<&str>) -> Option<String> {
    let files: Vec<String> = files
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(|f| {
            let rel = dir.and_then(|d| f.strip_prefix(d.trim_end_matches('/'))).and_then(|r| r.strip_prefix('/'));
            code(rel.unwrap_or(f))
        })
        .collect();
    match (dir.filter(|d| !d.trim().is_empty()), files.is_empty()) {
        (Some(d), true) => Some(code(d)),
        (Some(d), false) => Some(format!("{}: {}", code(d), files.join(", "))),
        (None, false) => Some(files.join(", ")),
        (None, true) => None,
    }
}

/// Vault file name, stable across runs and unique per stack identity:
/// compose stacks keep `stackwatch-<stack>-<finding>.md`; other kinds carry
/// their kind before an underscore, which no slug contains, so a standalone
/// container cannot take a compose project's file.
pub fn vault_name(prefix: &str, stack_kind: StackKind, stack: &str, kind: &str) -> String {
    let finding = kind.replace('_', "-");
    match stack_kind {
        StackKind::Compose => format!("stackwatch-{prefix}{}-{finding}.md", md::slug(stack)),
        other => format!("stackwatch-{prefix}{}_{}-{finding}.md", md::slug(other.as_str()), md::slug(stack)),
    }
}

fn tier_rank(p: &str) -> u8 {
    p.trim_start_matches('P').parse().unwrap_or(9)
}

#[allow(clippy::too_many_arguments)]
fn finding(
    d: Draft,
    owner: Owner,
    factory: bool,
    pressure: Option<&Pressure>,
    req: &Request<'_>,
    host: &str,
    vault_prefix: &str,
    row: Option<&read::StackRow>,
    held_since: Option<i64>,
) -> Finding {
    let cfg = &req.config.report;
    let matters = pressure.is_some_and(|p| p.matters(d.bytes));
    let fast = d.rate.is_some();
    let priority = priority(d.kind, factory, matters, fast);
    let h = code(host);
    // An unowned stack's item asks whoever runs it; the title names the
    // stack once either way.
    let (who, place) = if owner.owner == "unowned" {
        (format!("whoever runs {}", code(&d.stack)), format!("on {h}"))
    } else {
        (code(&owner.owner), format!("in {} on {h}", code(&d.stack)))
    };
    let subj = &d.subject;
    let (title, unblocks) = match d.kind {
        "restarting" => (
            format!("Ask {who} to fix the restart loop of {subj} {place}"),
            "Approving sends the owner this request; once fixed, the restarts stop churning the shared box.",
        ),
        "unhealthy" => (
            format!("Ask {who} to make {subj} {place} healthy, or fix its healthcheck"),
            "Approving sends the owner this request; once done, the service is healthy or its healthcheck says what is really wrong.",
        ),
        "oom_killed" => (
            format!("Ask {who} to fit the memory limit of {subj} {place}"),
            "Approving sends the owner this request; once done, no more processes are killed for memory.",
        ),
        "exited_nonzero" => (
            format!("Ask {who} to fix or remove {subj} {place}"),
            "Approving sends the owner this request; once done, the service runs again or the dead containers are gone.",
        ),
        "log_growth" => (
            format!("Ask {who} to rotate or quiet the logs of {subj} {place}"),
            "Approving sends the owner this request; once done, the logs stop eating the disk every stack shares.",
        ),
        "volume_bloat" => (
            format!("Ask {who} to bound the growth of {subj} {place}"),
            "Approving sends the owner this request; once done, the disk every stack shares stops filling.",
        ),
        "orphaned_volume" => (
            format!("Ask {who} whether {subj} {place} can be removed"),
            "Approving sends the owner this question; their yes frees the space (stackwatch never removes a foreign stack's data).",
        ),
        _ => (
            format!("Ask {who} whether {subj} {place} can be removed"),
            "Approving sends the owner this question; their yes frees the space the images hold.",
        ),
    };
    let reason = match priority {
        "P1" => {
            "P1: the disk is under pressure or filling within the warning horizon, and this holds or adds enough space to matter"
        }
        "P2" => "P2: a factory service is not running or not healthy",
        "P3" if fast => "P3: this grows fast enough to fill the shared disk",
        "P3" => "P3: a neighbouring stack is degraded on the shared box",
        _ => "P4: housekeeping",
    };
    let numbers = d.evidence.join("; ");
    let mut why = format!("{reason}: {numbers}.");
    if let Some(t) = held_since {
        why.push_str(&format!(
            " Already so at {} and still unused: space held for over {}.",
            iso_utc(t),
            human_span(cfg.vault_after.as_secs() as i64)
        ));
    }
    // What deserves a human's approval (README "Vault items"): a foreign
    // stack's finding at `vault_min_priority` or more urgent, or space it
    // has held unused for `vault_after`.
    let wanted = tier_rank(priority) <= tier_rank(&cfg.vault_min_priority) || held_since.is_some();
    let name = (req.vault && !factory).then(|| vault_name(vault_prefix, d.stack_kind, &d.stack, d.kind));
    let vault_file = name.clone().filter(|_| wanted);
    Finding {
        key: format!("{}:{}:{}", d.kind, d.stack_kind, d.stack),
        kind: d.kind,
        priority,
        title,
        summary: d.summary,
        evidence: d.evidence,
        since: d.since.map(iso_utc),
        bytes: d.bytes,
        count: d.count,
        first_at: d.first_at.map(iso_utc),
        last_at: d.last_at.map(iso_utc),
        stack: Some(d.stack),
        stack_kind: Some(d.stack_kind.to_string()),
        factory,
        owner: Some(owner.owner),
        owner_source: Some(owner.source),
        vault_file,
        vault_name: name,
        working_dir: row.and_then(|r| r.working_dir.clone()),
        config_files: row.and_then(|r| r.config_files.clone()),
        location: row.and_then(|r| location(r.working_dir.as_deref(), r.config_files.as_deref())),
        why,
        unblocks: unblocks.into(),
    }
}
