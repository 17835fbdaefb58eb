//! The HTML dashboard `stackwatch serve` answers at `/` (and
//! `report --format html` writes as one file): read from the database
//! alone, charts drawn on the server as inline SVG ([`svg`]), no
//! JavaScript, nothing fetched from the network. Every name, label and
//! owner goes through [`svg::esc`].
//!
//! Routes: `/` (the host page), `/stack/<kind>/<name>` (one stack),
//! `/volume/<name>` (a volume, or a bind mount named by its host path,
//! percent-encoded), each with `?window=1h|24h|7d|30d|1y` and, on the host
//! page, `?top=N`.

pub mod svg;

use std::collections::BTreeMap;
use std::fmt::Write;

use anyhow::{Context, Result, anyhow};

use crate::config::Config;
use crate::history::{self, model::HostReport, owners::Projects};
use crate::model::snapshot::{StackKey, StackKind};
use crate::model::units;
use crate::store::read::charts::{ChartSpan, StackParts};
use crate::store::read::{self, Reader};
use crate::time::{Buckets, Window, iso_utc};
use svg::{Line, Series, esc};

/// The windows offered, as the selector links name them.
pub const WINDOWS: [(&str, i64); 5] =
    [("1h", 3600), ("24h", 86_400), ("7d", 7 * 86_400), ("30d", 30 * 86_400), ("1y", 365 * 86_400)];
/// Points per series at most: the newest pass of each of this many time
/// buckets, whatever tier (every pass, hourly, daily) the window reads.
pub const MAX_POINTS: i64 = 240;
/// Restarts, OOM kills and health changes marked on a stack's charts at most.
const MAX_MARKS: i64 = 500;
/// Stacks drawn on the host page by default; the rest are "other".
pub const DEFAULT_TOP: usize = 8;
const MAX_TOP: usize = 100;

/// What a page request asks for, parsed from its query string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    pub window: String,
    pub window_seconds: i64,
    pub top: usize,
}

impl View {
    /// `window=` must be one of [`WINDOWS`]; `top=` a number (bounded).
    pub fn parse(query: Option<&str>) -> Result<View> {
        let mut view = View { window: "24h".into(), window_seconds: 86_400, top: DEFAULT_TOP };
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match k {
                "window" => {
                    let (w, s) = WINDOWS.iter().find(|(w, _)| *w == v).ok_or_else(|| {
                        anyhow!("unknown window {:?}: use one of 1h, 24h, 7d, 30d, 1y", crate::untrusted::line(v, 40))
                    })?;
                    (view.window, view.window_seconds) = (w.to_string(), *s);
                }
                "top" => {
                    let n: usize = v.parse().map_err(|_| anyhow!("top must be a number of stacks, like top=8"))?;
                    view.top = n.clamp(1, MAX_TOP);
                }
                _ => {}
            }
        }
        Ok(view)
    }

    fn query(&self, window: &str) -> String {
        if self.top == DEFAULT_TOP { format!("?window={window}") } else { format!("?window={window}&top={}", self.top) }
    }
}

/// A page's status and body.
pub struct Page {
    pub status: u16,
    pub body: String,
}

/// Answers one dashboard request; `None` when the path is not a dashboard
/// page (the server's own routes and 404 apply).
pub fn route(
    db: &Reader<'_>,
    config: &Config,
    projects: &Projects,
    path: &str,
    query: Option<&str>,
    now: i64,
) -> Option<Page> {
    let stack = path.strip_prefix("/stack/");
    let volume = path.strip_prefix("/volume/");
    if path != "/" && stack.is_none() && volume.is_none() {
        return None;
    }
    let view = match View::parse(query) {
        Ok(v) => v,
        Err(e) => return Some(Page { status: 400, body: error_page(&format!("{e:#}")) }),
    };
    let page = match stack {
        None if volume.is_some() => volume_page(db, &view, &percent_decode(volume.unwrap_or_default())),
        None => host_page(db, config, projects, &view, now, true),
        Some(rest) => match rest.split_once('/') {
            Some((kind, name)) => {
                stack_page(db, config, projects, &view, &percent_decode(kind), &percent_decode(name), now)
            }
            None => Ok(None),
        },
    };
    Some(match page {
        Ok(Some(body)) => Page { status: 200, body },
        Ok(None) => Page {
            status: 404,
            body: error_page("no such stack or volume in the history; the host page links to each"),
        },
        Err(e) => Page { status: 500, body: error_page(&format!("{e:#}")) },
    })
}

fn error_page(message: &str) -> String {
    let mut out = head("stackwatch");
    let _ = writeln!(
        out,
        "<p class=\"error\">stackwatch: {}</p><p><a href=\"/\">host page</a></p></body></html>",
        esc(message)
    );
    out
}

fn head(title: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\
         <meta name=\"viewport\" content=\"width=device-width\"><style>{}</style></head><body>",
        esc(title),
        CSS
    )
}

const CSS: &str = "body{font-family:sans-serif;margin:1em 2em;color:#222}table{border-collapse:collapse}\
td,th{border-bottom:1px solid #ddd;padding:2px 8px;text-align:left}td.n{text-align:right}\
.legend{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:4px 16px}\
.swatch{display:inline-block;width:10px;height:10px;margin-right:4px}nav a{margin-right:8px}\
nav a.on{font-weight:bold}.P1{color:#b00}.P2{color:#c60}";

fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn volume_href(name: &str) -> String {
    format!("/volume/{}", percent_encode(name))
}

pub fn stack_href(kind: &str, name: &str) -> String {
    format!("/stack/{}/{}", percent_encode(kind), percent_encode(name))
}

/// The passes a chart of `host` reads: the newest of each of [`MAX_POINTS`]
/// buckets over the window ending at the host's newest pass.
fn chart_span(db: &Reader<'_>, host: &read::HostRow, view: &View) -> Result<ChartSpan> {
    let end = db.pass(host.latest_pass)?.started_at;
    Ok(ChartSpan {
        host_id: host.host_id,
        buckets: Buckets::over(end - view.window_seconds, view.window_seconds, MAX_POINTS),
    })
}

/// One chart of the host page: a filesystem's used bytes by stack, or,
/// when no pass recorded a filesystem, the stacks alone.
pub struct FsChart {
    /// None: the stacks' chart of a history without filesystem samples.
    pub mount_point: Option<String>,
    pub docker_root: bool,
    pub times: Vec<i64>,
    pub series: Vec<Series>,
    pub lines: Vec<Line>,
    pub projection: Option<svg::Projection>,
}

/// What "not attributed" means on a filesystem's chart.
pub const NOT_ATTRIBUTED_NOTE: &str = "the filesystem's used bytes minus the stacks' bytes on it, never below 0: \
     images, build cache, volumes no stack claims and files outside Docker; a volume or bind mount shared by \
     several stacks counts in each";

/// Per point: the filesystem's used bytes minus what the stacks hold on it,
/// never below zero (stacks sharing a volume each count it, so their sum
/// can pass the used bytes); None where the used bytes are unknown.
fn not_attributed(used: &[Option<i64>], stacks: &[Series]) -> Vec<Option<i64>> {
    used.iter()
        .enumerate()
        .map(|(i, u)| {
            let held: i64 = stacks.iter().filter_map(|s| s.values.get(i).copied().flatten()).map(|v| v.max(0)).sum();
            u.map(|u| (u - held).max(0))
        })
        .collect()
}

/// Where the fill projection ends: from the newest point (`at`, `used`) at
/// the rate the report projects (`free` bytes filled in `fill_seconds`),
/// until the filesystem is full (`used + free`) or `ahead` seconds on,
/// whichever comes first.
fn projection_end(at: i64, used: i64, free: i64, fill_seconds: i64, ahead: i64) -> (i64, i64) {
    if fill_seconds <= ahead {
        (at + fill_seconds, used + free)
    } else {
        (at + ahead, used + (free as f64 * ahead as f64 / fill_seconds as f64).round() as i64)
    }
}

/// Point by point, the sum of the known values (None where none is).
fn summed<'a>(all: impl IntoIterator<Item = &'a Vec<Option<i64>>>, n: usize) -> Vec<Option<i64>> {
    let mut out = vec![None; n];
    for v in all {
        for (o, x) in out.iter_mut().zip(v) {
            if let Some(x) = x {
                *o = Some(o.unwrap_or(0) + x);
            }
        }
    }
    out
}

/// The top `top` series by their newest value (largest first, at the
/// bottom of the stack), the rest summed as "other".
fn ranked(by_stack: BTreeMap<StackKey, Vec<Option<i64>>>, top: usize, n: usize) -> Vec<Series> {
    let mut ranked: Vec<_> = by_stack.into_iter().collect();
    let newest = |v: &Vec<Option<i64>>| v.iter().rev().flatten().next().copied().unwrap_or(0);
    ranked.sort_by(|a, b| newest(&b.1).cmp(&newest(&a.1)).then_with(|| a.0.cmp(&b.0)));
    let rest = if ranked.len() > top { ranked.split_off(top) } else { Vec::new() };
    let mut series: Vec<Series> = ranked
        .into_iter()
        .map(|(StackKey { kind, name }, values)| Series {
            href: Some(stack_href(kind.as_str(), &name)),
            ..Series::new(name, values)
        })
        .collect();
    if !rest.is_empty() {
        series.push(Series::new(format!("other ({} stacks)", rest.len()), summed(rest.iter().map(|r| &r.1), n)));
    }
    series
}

/// A filesystem's samples over the chosen passes.
struct FsSamples {
    row: read::FilesystemRow,
    used: Vec<Option<i64>>,
    free: Vec<Option<i64>>,
}

/// The host page's charts for one host: one per filesystem the window's
/// passes recorded (the Docker root's first), each the stacks' bytes on it
/// (top `view.top`, "other", "not attributed"), its capacity and, where the
/// report projects it filling (`fills`), the projection.
fn host_charts(
    db: &Reader<'_>,
    host: &read::HostRow,
    view: &View,
    fills: &[history::model::FilesystemChange],
) -> Result<Vec<FsChart>> {
    let span = chart_span(db, host, view)?;
    let passes = db.chosen_passes(&span)?;
    let index: BTreeMap<i64, usize> = passes.iter().enumerate().map(|(i, p)| (p.pass_id, i)).collect();
    let times: Vec<i64> = passes.iter().map(|p| p.started_at).collect();
    let n = times.len();
    let mut by_stack: BTreeMap<StackKey, Vec<Option<i64>>> = BTreeMap::new();
    for s in db.stack_disk_at(&span)? {
        let Some(&i) = index.get(&s.pass_id) else { continue };
        by_stack.entry(s.stack).or_insert_with(|| vec![None; n])[i] = s.disk_bytes;
    }

    // The filesystems of each chosen pass, by their `filesystems` row.
    let mut filesystems: BTreeMap<i64, FsSamples> = BTreeMap::new();
    let mut at_pass: Vec<Vec<(i64, read::FilesystemRow)>> = vec![Vec::new(); n];
    for read::charts::FilesystemAt { pass_id, fs_ref, row } in db.filesystems_at(&span)? {
        let Some(&i) = index.get(&pass_id) else { continue };
        let f = filesystems.entry(fs_ref).or_insert_with(|| FsSamples {
            row: row.clone(),
            used: vec![None; n],
            free: vec![None; n],
        });
        // The newest pass says whether it holds the Docker root now (rows
        // come in no particular order).
        if f.used[i + 1..].iter().all(Option::is_none) {
            f.row = row.clone();
        }
        (f.used[i], f.free[i]) = (Some(row.used), Some(row.free));
        at_pass[i].push((fs_ref, row));
    }
    if filesystems.is_empty() {
        return Ok(vec![FsChart {
            mount_point: None,
            docker_root: false,
            series: ranked(by_stack, view.top, n),
            times,
            lines: Vec::new(),
            projection: None,
        }]);
    }
    let root: Vec<Option<i64>> =
        at_pass.iter().map(|fss| fss.iter().find(|(_, f)| f.docker_root).map(|(id, _)| *id)).collect();

    // A stack's bytes are on the Docker root's filesystem, but for its bind
    // mounts on other filesystems: those are read per bind, and only for
    // the binds that some chosen pass places off the Docker root.
    let mut off_root: BTreeMap<(i64, StackKey), Vec<Option<i64>>> = BTreeMap::new();
    let binds = db.bind_mounts(host.host_id)?;
    let rows_at: Vec<Vec<read::FilesystemRow>> =
        at_pass.iter().map(|fss| fss.iter().map(|(_, f)| f.clone()).collect()).collect();
    // Each bind's filesystem at each point; those never off the Docker
    // root's are not read again.
    let mut homes: BTreeMap<i64, Vec<Option<i64>>> = BTreeMap::new();
    for read::charts::BindMount { volume_ref: bind, path } in &binds {
        let home: Vec<Option<i64>> = at_pass
            .iter()
            .zip(&rows_at)
            .map(|(fss, rows)| {
                let f = history::reconcile::filesystem_of(path, rows)?;
                fss.iter().find(|(_, r)| r == f).map(|(id, _)| *id)
            })
            .collect();
        if home.iter().zip(&root).any(|(h, r)| h.is_some() && h != r) {
            homes.insert(*bind, home);
        }
    }
    let ids: Vec<i64> = homes.keys().copied().collect();
    for b in db.bind_sizes_at(&span, &ids)? {
        let Some(&i) = index.get(&b.pass_id) else { continue };
        let (Some(size), Some(fs)) = (b.size_bytes, homes.get(&b.volume_ref).and_then(|h| h[i])) else { continue };
        if Some(fs) != root[i] {
            let v = &mut off_root.entry((fs, b.stack)).or_insert_with(|| vec![None; n])[i];
            *v = Some(v.unwrap_or(0) + size);
        }
    }

    let mut order: Vec<(&i64, &FsSamples)> = filesystems.iter().collect();
    order.sort_by(|a, b| {
        b.1.row.docker_root.cmp(&a.1.row.docker_root).then(a.1.row.mount_point.cmp(&b.1.row.mount_point))
    });
    let mut charts = Vec::new();
    for (&fs_ref, f) in order {
        let mut here: BTreeMap<StackKey, Vec<Option<i64>>> = BTreeMap::new();
        for (key, disk) in &by_stack {
            let values: Vec<Option<i64>> = (0..n)
                .map(|i| {
                    if root[i] == Some(fs_ref) {
                        let elsewhere: i64 =
                            off_root.iter().filter(|((_, k), _)| k == key).filter_map(|(_, v)| v[i]).sum();
                        disk[i].map(|d| (d - elsewhere).max(0))
                    } else {
                        off_root.get(&(fs_ref, key.clone())).and_then(|v| v[i])
                    }
                })
                .collect();
            if values.iter().flatten().any(|v| *v > 0) {
                here.insert(key.clone(), values);
            }
        }
        let mut series = ranked(here, view.top, n);
        let rest = not_attributed(&f.used, &series);
        if rest.iter().flatten().any(|v| *v > 0) {
            series.push(Series {
                note: Some(NOT_ATTRIBUTED_NOTE.into()),
                color: Some(svg::GREY),
                ..Series::new("not attributed", rest)
            });
        }
        // What can be written before the filesystem is full, as the
        // report's percentages and fill projection count it: df's size less
        // the blocks reserved for root.
        let capacity: Vec<Option<i64>> = f.used.iter().zip(&f.free).map(|(u, fr)| Some((*u)? + (*fr)?)).collect();
        let lines = vec![Line {
            name: format!("capacity (used + free; df size {})", units::bytes(f.row.total)),
            values: capacity,
            dashed: true,
        }];
        let fill = fills.iter().find(|c| c.mount_point == f.row.mount_point);
        let projection = match (fill, times.last()) {
            (Some(c), Some(&at)) => c.fill_seconds.filter(|s| *s > 0).map(|secs| {
                let to = projection_end(at, c.used_bytes, c.free_bytes, secs, view.window_seconds / 4);
                svg::Projection {
                    from: (at, c.used_bytes),
                    to,
                    what: format!(
                        "fill projection at the window's growth rate, as the report makes it (full at {})",
                        c.full_at.as_deref().unwrap_or("?")
                    ),
                }
            }),
            _ => None,
        };
        charts.push(FsChart {
            mount_point: Some(f.row.mount_point.clone()),
            docker_root: f.row.docker_root,
            times: times.clone(),
            series,
            lines,
            projection,
        });
    }
    Ok(charts)
}

fn window_nav(out: &mut String, view: &View, base: &str) {
    out.push_str("<nav class=\"windows\">window: ");
    for (w, _) in WINDOWS {
        let _ = write!(
            out,
            "<a href=\"{base}{}\"{}>{w}</a>",
            esc(&view.query(w)),
            if w == view.window.as_str() { " class=\"on\"" } else { "" }
        );
    }
    out.push_str("</nav>");
}

fn legend(out: &mut String, series: &[Series], unit: svg::Unit) {
    out.push_str("<ul class=\"legend\">");
    for (i, s) in series.iter().enumerate() {
        let name = match &s.href {
            Some(h) => format!("<a href=\"{}\">{}</a>", esc(h), esc(&s.name)),
            None => esc(&s.name),
        };
        let last = s.values.iter().rev().flatten().next().copied();
        let note = s.note.as_deref().map(|n| format!(" <small>({})</small>", esc(n))).unwrap_or_default();
        let _ = write!(
            out,
            "<li class=\"legend-item\"><span class=\"swatch\" style=\"background:{}\"></span>{name} {}{note}</li>",
            s.color(i),
            esc(&unit.maybe(last))
        );
    }
    out.push_str("</ul>");
}

fn build_report(
    db: &Reader<'_>,
    config: &Config,
    projects: &Projects,
    view: &View,
    now: i64,
) -> Result<history::model::Report> {
    history::build(
        db,
        &history::Request {
            window: Window { seconds: view.window_seconds, text: view.window.clone() },
            now,
            config,
            projects,
            vault: false,
        },
    )
}

/// The host page: for each host, the chart, the growers, the findings and
/// the stack table. `links`: false in the one-file export, whose stack
/// pages do not exist.
pub fn host_page(
    db: &Reader<'_>,
    config: &Config,
    projects: &Projects,
    view: &View,
    now: i64,
    links: bool,
) -> Result<Option<String>> {
    let rep = build_report(db, config, projects, view, now)?;
    host_page_of(db, &rep, view, links)
}

/// [`host_page`] around a report already built over `view`'s window (the
/// one-file export draws the report it just made).
pub fn host_page_of(db: &Reader<'_>, rep: &history::model::Report, view: &View, links: bool) -> Result<Option<String>> {
    let hosts = db.hosts().context("cannot read hosts from the history")?;
    let mut out = head("stackwatch: disk by stack");
    let _ = write!(
        out,
        "<h1>stackwatch: disk by stack</h1><p>generated {} for the last {}</p>",
        esc(&rep.generated_at),
        esc(&view.window)
    );
    // The one-file export has no server to answer the selector's links.
    if links {
        window_nav(&mut out, view, "/");
    }
    if hosts.is_empty() {
        out.push_str("<p>No pass recorded yet: run <code>stackwatch collect</code>.</p>");
    }
    for h in &hosts {
        let engine_id = history::shown_name(&h.engine_id);
        let Some(hr) = rep.hosts.iter().find(|r| r.engine_id == engine_id) else { continue };
        let mut charts = host_charts(db, h, view, &hr.filesystems)?;
        if !links {
            charts.iter_mut().flat_map(|c| c.series.iter_mut()).for_each(|s| s.href = None);
        }
        let _ = write!(
            out,
            "<section class=\"host\" data-host=\"{}\"><h2>{}</h2><p>{}</p>",
            esc(&hr.host),
            esc(&hr.host),
            esc(&hr.coverage)
        );
        if let Some(d) = &hr.disk {
            let _ = write!(out, "<p class=\"disk\">{}</p>", esc(&d.sentence));
        }
        for c in &charts {
            let title = match &c.mount_point {
                Some(m) => {
                    let fc = hr.filesystems.iter().find(|f| &f.mount_point == m);
                    let _ = write!(
                        out,
                        "<div class=\"filesystem\" data-mount-point=\"{}\" data-docker-root=\"{}\"><h3>{}{}</h3>",
                        esc(m),
                        c.docker_root,
                        esc(m),
                        if c.docker_root { " (Docker root)" } else { "" }
                    );
                    if let Some(fc) = fc {
                        let _ = write!(out, "<p class=\"fs-sentence\">{}</p>", esc(&fc.sentence));
                    }
                    format!("disk of {m} on {} by stack; not attributed: {NOT_ATTRIBUTED_NOTE}", hr.host)
                }
                None => {
                    out.push_str("<div class=\"filesystem\">");
                    format!("disk by stack on {}", hr.host)
                }
            };
            out.push_str(&svg::draw(&svg::Chart {
                lines: &c.lines,
                projection: c.projection.as_ref(),
                ..svg::Chart::new(&title, &c.times, &c.series)
            }));
            legend(&mut out, &c.series, svg::Unit::Bytes);
            out.push_str("</div>");
        }
        host_sections(&mut out, hr, links);
        out.push_str("</section>");
    }
    out.push_str("</body></html>\n");
    Ok(Some(out))
}

fn host_sections(out: &mut String, hr: &HostReport, links: bool) {
    out.push_str("<h3>Top growers</h3><ul class=\"growers\">");
    for g in hr.growth.stacks.iter().filter(|g| g.delta_bytes.is_some_and(|d| d != 0)).take(10) {
        let _ = write!(out, "<li>{}</li>", esc(&g.sentence));
    }
    out.push_str("</ul><h3>Volumes and bind mounts that changed</h3><ul class=\"volume-growers\">");
    for g in hr.growth.volumes.iter().filter(|g| g.delta_bytes.is_some_and(|d| d != 0)).take(10) {
        let name = if links {
            format!("<a href=\"{}\">{}</a>", esc(&volume_href(&g.name)), esc(&g.name))
        } else {
            esc(&g.name)
        };
        let _ =
            write!(out, "<li>{} {name}: {}</li>", g.level, esc(&g.delta_bytes.map(units::delta).unwrap_or_default()));
    }
    out.push_str(
        "</ul><h3>Findings</h3><table class=\"findings\"><tr><th>priority</th><th>finding</th><th>owner</th></tr>",
    );
    for f in &hr.findings {
        let _ = write!(
            out,
            "<tr><td class=\"{p}\">{p}</td><td>{}</td><td>{}{}</td></tr>",
            esc(&f.summary),
            esc(f.owner.as_deref().unwrap_or("unknown")),
            f.owner_source.as_deref().map(|s| format!(" <small>({})</small>", esc(s))).unwrap_or_default(),
            p = f.priority
        );
    }
    out.push_str("</table><h3>Stacks</h3><table class=\"stacks\"><tr><th>stack</th><th>kind</th><th>owner</th><th>disk</th><th>change</th><th>containers</th></tr>");
    for s in &hr.stacks {
        let name = if links {
            format!("<a href=\"{}\">{}</a>", esc(&stack_href(&s.kind, &s.name)), esc(&s.name))
        } else {
            esc(&s.name)
        };
        let _ = write!(
            out,
            "<tr class=\"stack\" data-stack=\"{}\" data-growth-bytes=\"{}\" data-disk-bytes=\"{}\"><td>{name}</td><td>{}</td><td>{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}/{}</td></tr>",
            esc(&s.name),
            s.growth_bytes.map(|g| g.to_string()).unwrap_or_default(),
            s.disk_bytes.map(|g| g.to_string()).unwrap_or_default(),
            esc(&s.kind),
            esc(&s.owner),
            esc(&s.disk),
            esc(&s.change),
            s.running,
            s.containers
        );
    }
    out.push_str("</table>");
}

/// Rates, in thousandths of a core, between consecutive points of one
/// container's cumulative CPU counter (nanoseconds): None at its first
/// point, where either side is unknown, and where the counter went
/// backwards (the container restarted: the difference means nothing).
fn cpu_rates(times: &[i64], cpu_ns: &[Option<i64>]) -> Vec<Option<i64>> {
    let mut out = vec![None; times.len()];
    for i in 1..times.len().min(cpu_ns.len()) {
        let (Some(a), Some(b)) = (cpu_ns[i - 1], cpu_ns[i]) else { continue };
        let seconds = times[i] - times[i - 1];
        if b >= a && seconds > 0 {
            out[i] = Some(((b - a) as f64 / seconds as f64 / 1e6).round() as i64);
        }
    }
    out
}

/// The CPU of a stack's containers over the chosen passes, a series per
/// container name (a recreated container keeps its name), the busiest
/// [`DEFAULT_TOP`] by their summed rate, the rest as "other".
fn cpu_series(db: &Reader<'_>, span: &ChartSpan, stack_id: i64, times: &[i64]) -> Result<Vec<Series>> {
    let index: BTreeMap<i64, usize> = times.iter().enumerate().map(|(i, t)| (*t, i)).collect();
    let mut counters: BTreeMap<i64, (String, Vec<Option<i64>>)> = BTreeMap::new();
    for c in db.stack_cpu_at(span, stack_id)? {
        let Some(&i) = index.get(&c.started_at) else { continue };
        counters.entry(c.container_ref).or_insert_with(|| (c.name, vec![None; times.len()])).1[i] = c.cpu_ns;
    }
    let mut by_name: BTreeMap<String, Vec<Option<i64>>> = BTreeMap::new();
    for (name, cpu) in counters.into_values() {
        let sum = by_name.entry(name).or_insert_with(|| vec![None; times.len()]);
        *sum = summed([&*sum, &cpu_rates(times, &cpu)], times.len());
    }
    let mut named: Vec<(String, Vec<Option<i64>>)> = by_name.into_iter().collect();
    let total = |v: &Vec<Option<i64>>| v.iter().flatten().sum::<i64>();
    named.sort_by(|a, b| total(&b.1).cmp(&total(&a.1)).then_with(|| a.0.cmp(&b.0)));
    let rest = if named.len() > DEFAULT_TOP { named.split_off(DEFAULT_TOP) } else { Vec::new() };
    let mut series: Vec<Series> = named.into_iter().map(|(name, v)| Series::new(name, v)).collect();
    if !rest.is_empty() {
        let values = summed(rest.iter().map(|r| &r.1), times.len());
        series.push(Series::new(format!("other ({} containers)", rest.len()), values));
    }
    Ok(series)
}

/// One stack's page: its disk by part, its memory and CPU over the window, on
/// every host that has it, with its owner.
pub fn stack_page(
    db: &Reader<'_>,
    config: &Config,
    projects: &Projects,
    view: &View,
    kind: &str,
    name: &str,
    now: i64,
) -> Result<Option<String>> {
    // Only a kind this program writes can name a stack.
    let Some(stack) = StackKind::parse(kind).map(|k| StackKey::new(k, name)) else { return Ok(None) };
    let hosts = db.hosts().context("cannot read hosts from the history")?;
    let rep = build_report(db, config, projects, view, now)?;
    let mut out = head(&format!("stackwatch: {name}"));
    let _ = write!(
        out,
        "<p><a href=\"/{}\">host page</a></p><h1>{} <small>({})</small></h1>",
        esc(&view.query(&view.window)),
        esc(name),
        esc(kind)
    );
    window_nav(&mut out, view, &stack_href(kind, name));
    let mut found = false;
    for h in &hosts {
        let Some(stack_id) = db.stack_id(h.host_id, &stack)? else { continue };
        found = true;
        let span = chart_span(db, h, view)?;
        let rows = db.stack_parts_at(&span, stack_id)?;
        let times: Vec<i64> = rows.iter().map(|r| r.started_at).collect();
        let part = |n: &str, f: fn(&StackParts) -> Option<i64>| Series::new(n, rows.iter().map(f).collect());
        let parts = vec![
            part("volumes and bind mounts", |r| r.volume_bytes),
            part("logs", |r| r.log_bytes),
            part("writable layers", |r| r.rw_bytes),
        ];
        let memory = vec![part("memory", |r| r.mem_bytes)];
        let _ =
            write!(out, "<section class=\"host\" data-host=\"{}\"><h2>on {}</h2>", esc(&h.hostname), esc(&h.hostname));
        if let Some(s) = rep
            .hosts
            .iter()
            .find(|r| r.engine_id == history::shown_name(&h.engine_id))
            .and_then(|r| r.stacks.iter().find(|s| s.kind == kind && s.name == history::shown_name(name)))
        {
            let _ = write!(
                out,
                "<p class=\"owner\">owner: {} <small>({})</small>; disk {}, change {} over {}</p>",
                esc(&s.owner),
                esc(&s.owner_source),
                esc(&s.disk),
                esc(&s.change),
                esc(&view.window)
            );
        }
        out.push_str("<h3>Disk by part</h3>");
        out.push_str(&svg::stacked(&format!("disk of {name} by part"), &times, &parts, &[], &[]));
        legend(&mut out, &parts, svg::Unit::Bytes);
        // Restarts, OOM kills and health changes of its containers, on the
        // memory chart's time axis (a start alone is not drawn: every
        // restart has one).
        let marks: Vec<svg::Mark> = db
            .stack_incidents_since(h.host_id, span.buckets.start, &stack, MAX_MARKS)?
            .into_iter()
            .map(|e| {
                let mut what = format!("{}: {}", e.name, e.action);
                if let Some(code) = e.exit_code {
                    what.push_str(&format!(" (exit {code})"));
                }
                if e.oom {
                    what.push_str(" (OOM)");
                }
                if let Some(hs) = &e.health {
                    what.push_str(&format!(" {hs}"));
                }
                svg::Mark { at: e.at_ns / 1_000_000_000, what }
            })
            .collect();
        out.push_str("<h3>Memory of its containers, with restarts, OOM kills and health changes</h3>");
        out.push_str(&svg::stacked(&format!("memory of {name}"), &times, &memory, &[], &marks));
        let cpu = cpu_series(db, &span, stack_id, &times)?;
        out.push_str(
            "<h3>CPU of its containers</h3><p class=\"note\">The rate between consecutive points of each \
             container's cumulative CPU time, in cores; a point where the counter went backwards (the \
             container restarted) is left out.</p>",
        );
        out.push_str(&svg::draw(&svg::Chart {
            unit: svg::Unit::Millicores,
            marks: &marks,
            ..svg::Chart::new(&format!("CPU of {name}, in cores"), &times, &cpu)
        }));
        legend(&mut out, &cpu, svg::Unit::Millicores);
        let mounts = db.stack_mounts_since(stack_id, h.host_id, span.buckets.start)?;
        out.push_str("<h3>Volumes and bind mounts</h3><ul class=\"mounts\">");
        for read::charts::MountedVolume { name: v, kind: k } in &mounts {
            let _ = write!(out, "<li>{} <a href=\"{}\">{}</a></li>", esc(k), esc(&volume_href(v)), esc(v));
        }
        out.push_str("</ul>");
        if let Some(newest) = rows.last() {
            let _ = write!(out, "<p>newest pass {}</p>", iso_utc(newest.started_at));
        }
        out.push_str("</section>");
    }
    out.push_str("</body></html>\n");
    Ok(found.then_some(out))
}

/// One volume's (or bind mount's) page: its size over the window on every
/// host that has it, its growth rate, and who mounts it.
pub fn volume_page(db: &Reader<'_>, view: &View, name: &str) -> Result<Option<String>> {
    let hosts = db.hosts().context("cannot read hosts from the history")?;
    let mut out = head(&format!("stackwatch: {name}"));
    let _ = write!(out, "<p><a href=\"/{}\">host page</a></p><h1>{}</h1>", esc(&view.query(&view.window)), esc(name));
    window_nav(&mut out, view, &volume_href(name));
    let mut found = false;
    for h in &hosts {
        let Some(read::charts::VolumeRef { volume_ref: volume_id, kind }) = db.volume_by_name(h.host_id, name)? else {
            continue;
        };
        found = true;
        let span = chart_span(db, h, view)?;
        let rows: Vec<(i64, Option<i64>)> =
            db.volume_sizes_at(&span, volume_id)?.into_iter().map(|v| (v.started_at, v.size_bytes)).collect();
        let times: Vec<i64> = rows.iter().map(|r| r.0).collect();
        let size = vec![Series::new(name, rows.iter().map(|r| r.1).collect())];
        let _ = write!(
            out,
            "<section class=\"host\" data-host=\"{}\"><h2>{} on {}</h2>",
            esc(&h.hostname),
            esc(kind.as_str()),
            esc(&h.hostname)
        );
        let sized: Vec<(i64, i64)> = rows.iter().filter_map(|(t, s)| Some((*t, (*s)?))).collect();
        if let (Some(first), Some(last)) = (sized.first(), sized.last()) {
            let delta = last.1 - first.1;
            let per_day = (last.0 > first.0).then(|| (delta as f64 * 86_400.0 / (last.0 - first.0) as f64) as i64);
            let _ = write!(
                out,
                "<p class=\"growth\" data-growth-bytes=\"{delta}\">{} now, {} over the window{}</p>",
                esc(&units::bytes(last.1)),
                esc(&units::delta(delta)),
                per_day.map(|r| format!(" ({} a day)", esc(&units::delta(r)))).unwrap_or_default()
            );
        }
        out.push_str(&svg::stacked(&format!("size of {name}"), &times, &size, &[], &[]));
        let stacks = db.volume_stacks_now(volume_id)?;
        let containers = db.volume_mounted_by_now(volume_id)?;
        out.push_str("<h3>Mounted by</h3><ul class=\"mounted-by\">");
        for s in &stacks {
            let _ = write!(
                out,
                "<li>stack <a href=\"{}\">{}</a></li>",
                esc(&stack_href(s.kind.as_str(), &s.name)),
                esc(&s.name)
            );
        }
        for c in &containers {
            let _ = write!(out, "<li>container {}</li>", esc(c));
        }
        out.push_str("</ul></section>");
    }
    out.push_str("</body></html>\n");
    Ok(found.then_some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_parse_and_unknown_ones_say_what_to_use() {
        assert_eq!(View::parse(None).unwrap().window_seconds, 86_400);
        let v = View::parse(Some("window=7d&top=3")).unwrap();
        assert_eq!((v.window.as_str(), v.window_seconds, v.top), ("7d", 7 * 86_400, 3));
        let e = View::parse(Some("window=2w")).unwrap_err().to_string();
        assert!(e.contains("1h, 24h, 7d, 30d, 1y"), "{e}");
    }

    /// `n` passes a minute apart ending at `end`, of one compose stack whose
    /// writable layer grows by 1 kB a pass.
    fn history(db: &std::path::Path, n: i64, end: i64) {
        history_of(db, "grower", n, end)
    }

    /// `n` passes a minute apart up to `end`, of one compose project whose
    /// one container's writable layer grows.
    fn history_of(db: &std::path::Path, project: &str, n: i64, end: i64) {
        use crate::model::snapshot::*;
        let mut st = crate::store::open_for_write(db, std::time::Duration::from_secs(5)).unwrap();
        for i in 0..n {
            let labels = BTreeMap::from([("com.docker.compose.project".to_string(), project.to_string())]);
            let (stack, service) = crate::model::stack::identify("grower_app_1", &labels);
            let containers = vec![ContainerSample {
                id: format!("{:064x}", 1),
                name: "grower_app_1".into(),
                stack: Some(stack),
                service,
                labels,
                image: "app:latest".into(),
                state: "running".into(),
                rw_bytes: Some(1000 * (i + 1)),
                log_bytes: Some(0),
                ..Default::default()
            }];
            let stacks = crate::collect::aggregate::attribute(&containers, &mut Vec::new(), &mut Vec::new());
            let snap = Snapshot {
                started_at: end - (n - 1 - i) * 60,
                duration_ms: 10,
                host: HostInfo { engine_id: "ENGINE-DASH".into(), hostname: "dash-box".into(), ..Default::default() },
                containers,
                stacks,
                ..Default::default()
            };
            st.insert_pass(&snap).unwrap();
        }
    }

    #[test]
    fn a_stack_whose_name_the_report_makes_inert_keeps_its_owner_line() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("h.db");
        // A right-to-left override: the report shows it as `?`.
        let project = "evil\u{202e}gnp.exe";
        history_of(&db, project, 3, 1_800_000_000);
        let st = crate::store::open_read_only(&db, std::time::Duration::from_secs(5)).unwrap();
        let view = View::parse(Some("window=1h")).unwrap();
        let page = stack_page(
            &st.reader().unwrap(),
            &Config::default(),
            &Projects::default(),
            &view,
            "compose",
            project,
            1_800_000_000,
        )
        .unwrap()
        .expect("the stack is in the history");
        assert!(page.contains("<p class=\"owner\">owner: "), "{page}");
        assert!(!page.contains('\u{202e}'), "the override reached the page");
    }

    #[test]
    fn a_series_has_at_most_max_points_and_ends_at_the_newest_pass() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("h.db");
        // 25 hours of passes a minute apart: 1500, of which 24h hold 1441.
        history(&db, 1500, 1_800_000_000);
        let st = crate::store::open_read_only(&db, std::time::Duration::from_secs(5)).unwrap();
        let db = st.reader().unwrap();
        let host = db.hosts().unwrap().remove(0);
        let day = View::parse(Some("window=24h")).unwrap();
        let charts = host_charts(&db, &host, &day, &[]).unwrap();
        assert_eq!(charts.len(), 1, "no filesystem recorded: the stacks' chart alone");
        let (times, series) = (&charts[0].times, &charts[0].series);
        assert!(times.len() as i64 <= MAX_POINTS && times.len() > 200, "{} points", times.len());
        assert_eq!(series.len(), 1);
        assert_eq!(times.last(), Some(&1_800_000_000), "the newest pass is the last point");
        assert_eq!(series[0].values.last(), Some(&Some(1_500_000)));
        assert!(times[0] >= 1_800_000_000 - 86_400, "a point before the window");
        // An hour has 61 passes: every one is a point.
        let hour = View::parse(Some("window=1h")).unwrap();
        assert_eq!(host_charts(&db, &host, &hour, &[]).unwrap()[0].times.len(), 61);
        // The page draws it, the growth sentence says it.
        let page =
            host_page(&db, &Config::default(), &Projects::default(), &day, 1_800_000_000, true).unwrap().unwrap();
        assert_eq!(page.matches("<g class=\"series\"").count(), 1);
        assert!(page.contains("data-stack=\"grower\""), "{page}");
    }

    #[test]
    fn not_attributed_is_used_minus_the_stacks_and_never_negative() {
        let stacks =
            [Series::new("a", vec![Some(30), Some(50), None]), Series::new("b", vec![Some(10), None, Some(5)])];
        let used = [Some(100), Some(40), None];
        // 100 - 30 - 10; 40 - 50 (a shared volume counted twice) is 0; an
        // unknown used size is unknown.
        assert_eq!(not_attributed(&used, &stacks), vec![Some(60), Some(0), None]);
    }

    #[test]
    fn the_projection_ends_full_or_at_the_end_of_the_chart() {
        // 1000 B free, full in 100 s: inside 400 s ahead, it ends full.
        assert_eq!(projection_end(5_000, 9_000, 1_000, 100, 400), (5_100, 10_000));
        // Full in 1000 s: at 400 s it has filled 400/1000 of the free bytes.
        assert_eq!(projection_end(5_000, 9_000, 1_000, 1_000, 400), (5_400, 9_400));
    }

    #[test]
    fn cpu_rates_skip_the_first_point_gaps_and_a_counter_reset() {
        let times = [0, 60, 120, 180, 240, 300];
        // 30 s of CPU in a minute (half a core), then a restart (the counter
        // starts again), then a gap, then 1.5 cores.
        let cpu = [Some(0), Some(30_000_000_000), Some(1_000_000_000), None, Some(2_000_000_000), Some(92_000_000_000)];
        assert_eq!(cpu_rates(&times, &cpu), vec![None, Some(500), None, None, None, Some(1_500)]);
    }

    /// Two passes of a box whose Docker root is on `/` (100 MB used, then
    /// 110 MB) and whose stack `app` also has a bind mount on `/srv` (a
    /// filesystem of its own, 20 MB used): 10 MB of writable layer, 5 MB
    /// in the bind.
    #[test]
    fn each_filesystem_gets_its_stacks_bytes_and_what_is_not_attributed() {
        use crate::model::snapshot::*;
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("fs.db");
        let mut st = crate::store::open_for_write(&db, std::time::Duration::from_secs(5)).unwrap();
        let end = 1_800_000_000;
        for (k, at) in [end - 1200, end].into_iter().enumerate() {
            let labels = BTreeMap::from([("com.docker.compose.project".to_string(), "app".to_string())]);
            let (stack, service) = crate::model::stack::identify("app_web_1", &labels);
            let containers = vec![ContainerSample {
                id: format!("{:064x}", 7),
                name: "app_web_1".into(),
                stack: Some(stack),
                service,
                labels,
                image: "web:latest".into(),
                state: "running".into(),
                rw_bytes: Some(10_000_000),
                log_bytes: Some(0),
                mounts: vec!["/srv/app/data".into()],
                binds: vec![BindMount { source: "/srv/app/data".into(), read_only: false }],
                ..Default::default()
            }];
            let mut volumes = vec![VolumeSample {
                kind: MountKind::Bind,
                name: "/srv/app/data".into(),
                driver: "bind".into(),
                mountpoint: "/srv/app/data".into(),
                read_only: Some(false),
                size_bytes: Some(5_000_000),
                size_method: Some("walk"),
                size_measured_at: Some(at),
                ..Default::default()
            }];
            let stacks = crate::collect::aggregate::attribute(&containers, &mut volumes, &mut Vec::new());
            let usage =
                |used: i64| FsUsage { total_bytes: 1_000_000_000, used_bytes: used, free_bytes: 900_000_000 - used };
            let root_used = 100_000_000 + k as i64 * 10_000_000;
            let snap = Snapshot {
                started_at: at,
                duration_ms: 10,
                host: HostInfo {
                    engine_id: "ENGINE-FS".into(),
                    hostname: "fs-box".into(),
                    docker_root: Some("/var/lib/docker".into()),
                    fs: Some(usage(root_used)),
                    root_visible: true,
                    ..Default::default()
                },
                containers,
                volumes,
                stacks,
                filesystems: vec![
                    Filesystem { device: 1, mount_point: "/".into(), usage: usage(root_used), docker_root: true },
                    Filesystem { device: 2, mount_point: "/srv".into(), usage: usage(20_000_000), docker_root: false },
                ],
                ..Default::default()
            };
            st.insert_pass(&snap).unwrap();
        }
        drop(st);
        let st = crate::store::open_read_only(&db, std::time::Duration::from_secs(5)).unwrap();
        let db = st.reader().unwrap();
        let host = db.hosts().unwrap().remove(0);
        let view = View::parse(Some("window=1h")).unwrap();
        let rep = build_report(&db, &Config::default(), &Projects::default(), &view, end).unwrap();
        let charts = host_charts(&db, &host, &view, &rep.hosts[0].filesystems).unwrap();
        let names = |c: &FsChart| c.series.iter().map(|s| (s.name.clone(), s.values.clone())).collect::<Vec<_>>();
        assert_eq!(charts.len(), 2);
        assert_eq!(charts[0].mount_point.as_deref(), Some("/"), "the Docker root's first");
        assert_eq!(
            names(&charts[0]),
            vec![
                ("app".to_string(), vec![Some(10_000_000), Some(10_000_000)]),
                ("not attributed".to_string(), vec![Some(90_000_000), Some(100_000_000)]),
            ],
            "the bind's 5 MB are not on the Docker root's filesystem"
        );
        assert_eq!(
            names(&charts[1]),
            vec![
                ("app".to_string(), vec![Some(5_000_000), Some(5_000_000)]),
                ("not attributed".to_string(), vec![Some(15_000_000), Some(15_000_000)]),
            ]
        );
        // Capacity: used + free, what the report's percentages count.
        assert_eq!(charts[0].lines[0].values, vec![Some(900_000_000), Some(900_000_000)]);
        // `/` grew 10 MB in 20 minutes: 790 MB free fill in 94,800 s, past
        // the chart's 15 minutes ahead; `/srv` held still: no projection.
        let fill = rep.hosts[0].filesystems.iter().find(|f| f.mount_point == "/").unwrap().fill_seconds;
        assert_eq!(fill, Some(94_800));
        let p = charts[0].projection.as_ref().expect("a projection where the report projects a fill");
        assert_eq!(p.from, (end, 110_000_000));
        assert_eq!(p.to, (end + 900, 110_000_000 + (790_000_000.0_f64 * 900.0 / 94_800.0).round() as i64));
        assert!(charts[1].projection.is_none());
        // The page says how "not attributed" is computed.
        let page = host_page(&db, &Config::default(), &Projects::default(), &view, end, true).unwrap().unwrap();
        assert_eq!(page.matches("<svg class=\"chart\"").count(), 2);
        assert!(page.contains("minus the stacks&#39; bytes on it"), "{page}");
        assert_eq!(page.matches("class=\"projection\"").count(), 1);
    }

    #[test]
    fn stack_links_round_trip_through_percent_encoding() {
        let name = "a b/<c>%ü";
        let href = stack_href("compose", name);
        let rest = href.strip_prefix("/stack/compose/").unwrap();
        assert!(!rest.contains('/') && !rest.contains('<'), "{href}");
        assert_eq!(percent_decode(rest), name);
    }
}
