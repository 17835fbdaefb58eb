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
use rusqlite::{Connection, params};

use crate::config::Config;
use crate::history::{self, model::HostReport, owners::Projects};
use crate::model::units;
use crate::store::read;
use crate::time::{Window, iso_utc};
use svg::{Line, Series, esc};

/// The windows offered, as the selector links name them.
pub const WINDOWS: [(&str, i64); 5] =
    [("1h", 3600), ("24h", 86_400), ("7d", 7 * 86_400), ("30d", 30 * 86_400), ("1y", 365 * 86_400)];
/// Points per series at most: the newest pass of each of this many time
/// buckets, whatever tier (every pass, hourly, daily) the window reads.
pub const MAX_POINTS: i64 = 240;
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
    conn: &Connection,
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
        None if volume.is_some() => volume_page(conn, &view, &percent_decode(volume.unwrap_or_default())),
        None => host_page(conn, config, projects, &view, now, true),
        Some(rest) => match rest.split_once('/') {
            Some((kind, name)) => {
                stack_page(conn, config, projects, &view, &percent_decode(kind), &percent_decode(name), now)
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

/// The passes a chart of `host_id` reads: the newest of each of
/// [`MAX_POINTS`] buckets over the window ending at the host's newest pass.
const CHOSEN: &str = "WITH chosen AS (
    SELECT MAX(id) AS id FROM passes
    WHERE host_id = ?1 AND started_at >= ?2
    GROUP BY (started_at - ?2) / ?3)";

fn chosen_passes(conn: &Connection, host_id: i64, start: i64, bucket: i64) -> Result<Vec<(i64, i64)>> {
    let mut stmt = conn.prepare_cached(&format!(
        "{CHOSEN} SELECT p.id, p.started_at FROM chosen c JOIN passes p ON p.id = c.id ORDER BY p.started_at"
    ))?;
    let rows = stmt.query_map(params![host_id, start, bucket], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn window_bounds(conn: &Connection, host: &read::HostRow, view: &View) -> Result<(i64, i64)> {
    let end = read::pass(conn, host.latest_pass)?.started_at;
    let start = end - view.window_seconds;
    // One more second a bucket than window / MAX_POINTS: the window holds
    // both its ends, and the newest pass must not open bucket MAX_POINTS + 1.
    Ok((start, view.window_seconds / MAX_POINTS + 1))
}

/// The stacked series of stack disk use for one host: the top stacks by
/// their newest size, then "other".
fn host_series(conn: &Connection, host: &read::HostRow, view: &View) -> Result<(Vec<i64>, Vec<Series>, Vec<Line>)> {
    let (start, bucket) = window_bounds(conn, host, view)?;
    let passes = chosen_passes(conn, host.host_id, start, bucket)?;
    let index: BTreeMap<i64, usize> = passes.iter().enumerate().map(|(i, (id, _))| (*id, i)).collect();
    let times: Vec<i64> = passes.iter().map(|(_, t)| *t).collect();
    let mut by_stack: BTreeMap<(String, String), Vec<Option<i64>>> = BTreeMap::new();
    let mut stmt = conn.prepare_cached(&format!(
        "{CHOSEN} SELECT ss.pass_id, s.kind, s.name, ss.disk_bytes FROM chosen c
         JOIN stack_samples ss ON ss.pass_id = c.id JOIN stacks s ON s.id = ss.stack_id"
    ))?;
    let mut rows = stmt.query(params![host.host_id, start, bucket])?;
    while let Some(r) = rows.next()? {
        let (pass, kind, name, disk): (i64, String, String, Option<i64>) = (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
        let Some(&i) = index.get(&pass) else { continue };
        by_stack.entry((kind, name)).or_insert_with(|| vec![None; times.len()])[i] = disk;
    }
    let mut ranked: Vec<_> = by_stack.into_iter().collect();
    let newest = |v: &Vec<Option<i64>>| v.last().copied().flatten().unwrap_or(0);
    ranked.sort_by(|a, b| newest(&b.1).cmp(&newest(&a.1)).then_with(|| a.0.cmp(&b.0)));
    let rest = if ranked.len() > view.top { ranked.split_off(view.top) } else { Vec::new() };
    // Largest at the bottom of the stack.
    let mut series: Vec<Series> = ranked
        .into_iter()
        .map(|((kind, name), values)| Series { href: Some(stack_href(&kind, &name)), name, values })
        .collect();
    if !rest.is_empty() {
        let mut values = vec![None; times.len()];
        for (_, v) in &rest {
            for (o, x) in values.iter_mut().zip(v) {
                if let Some(x) = x {
                    *o = Some(o.unwrap_or(0) + x);
                }
            }
        }
        series.push(Series { name: format!("other ({} stacks)", rest.len()), href: None, values });
    }
    let mut capacity = vec![None; times.len()];
    let mut used = vec![None; times.len()];
    let mut stmt = conn.prepare_cached(&format!(
        "{CHOSEN} SELECT fs.pass_id, fs.total_bytes, fs.used_bytes FROM chosen c
         JOIN filesystem_samples fs ON fs.pass_id = c.id WHERE fs.docker_root = 1"
    ))?;
    let mut rows = stmt.query(params![host.host_id, start, bucket])?;
    while let Some(r) = rows.next()? {
        let Some(&i) = index.get(&r.get::<_, i64>(0)?) else { continue };
        (capacity[i], used[i]) = (Some(r.get(1)?), Some(r.get(2)?));
    }
    let lines = vec![
        Line { name: "filesystem capacity".into(), values: capacity, dashed: true },
        Line { name: "filesystem used".into(), values: used, dashed: false },
    ];
    Ok((times, series, lines))
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

fn legend(out: &mut String, series: &[Series]) {
    out.push_str("<ul class=\"legend\">");
    for (i, s) in series.iter().enumerate() {
        let name = match &s.href {
            Some(h) => format!("<a href=\"{}\">{}</a>", esc(h), esc(&s.name)),
            None => esc(&s.name),
        };
        let last = s.values.iter().rev().flatten().next().copied();
        let _ = write!(
            out,
            "<li class=\"legend-item\"><span class=\"swatch\" style=\"background:{}\"></span>{name} {}</li>",
            svg::color(i),
            esc(&units::maybe_bytes(last))
        );
    }
    out.push_str("</ul>");
}

fn build_report(
    conn: &Connection,
    config: &Config,
    projects: &Projects,
    view: &View,
    now: i64,
) -> Result<history::model::Report> {
    history::build(
        conn,
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
    conn: &Connection,
    config: &Config,
    projects: &Projects,
    view: &View,
    now: i64,
    links: bool,
) -> Result<Option<String>> {
    let rep = build_report(conn, config, projects, view, now)?;
    let hosts = read::hosts(conn).context("cannot read hosts from the history")?;
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
        let Some(hr) = rep.hosts.iter().find(|r| r.engine_id == h.engine_id) else { continue };
        let (times, mut series, lines) = host_series(conn, h, view)?;
        if !links {
            series.iter_mut().for_each(|s| s.href = None);
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
        out.push_str(&svg::stacked(&format!("disk by stack on {}", hr.host), &times, &series, &lines, &[]));
        legend(&mut out, &series);
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

/// One stack's page: its disk by part and its memory over the window, on
/// every host that has it, with its owner.
pub fn stack_page(
    conn: &Connection,
    config: &Config,
    projects: &Projects,
    view: &View,
    kind: &str,
    name: &str,
    now: i64,
) -> Result<Option<String>> {
    let hosts = read::hosts(conn).context("cannot read hosts from the history")?;
    let rep = build_report(conn, config, projects, view, now)?;
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
        let id: Option<i64> = conn
            .query_row(
                "SELECT id FROM stacks WHERE host_id = ?1 AND kind = ?2 AND name = ?3",
                params![h.host_id, kind, name],
                |r| r.get(0),
            )
            .ok();
        let Some(stack_id) = id else { continue };
        found = true;
        let (start, bucket) = window_bounds(conn, h, view)?;
        let mut stmt = conn.prepare_cached(&format!(
            "{CHOSEN} SELECT p.started_at, ss.volume_bytes, ss.log_bytes, ss.rw_bytes, ss.mem_bytes FROM chosen c
             JOIN passes p ON p.id = c.id JOIN stack_samples ss ON ss.pass_id = c.id AND ss.stack_id = ?4
             ORDER BY p.started_at"
        ))?;
        type Row = (i64, Option<i64>, Option<i64>, Option<i64>, Option<i64>);
        let rows: Vec<Row> = stmt
            .query_map(params![h.host_id, start, bucket, stack_id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        let times: Vec<i64> = rows.iter().map(|r| r.0).collect();
        let part = |n: &str, f: fn(&Row) -> Option<i64>| Series {
            name: n.into(),
            href: None,
            values: rows.iter().map(f).collect(),
        };
        let parts =
            vec![part("volumes and bind mounts", |r| r.1), part("logs", |r| r.2), part("writable layers", |r| r.3)];
        let memory = vec![part("memory", |r| r.4)];
        let _ =
            write!(out, "<section class=\"host\" data-host=\"{}\"><h2>on {}</h2>", esc(&h.hostname), esc(&h.hostname));
        if let Some(s) = rep
            .hosts
            .iter()
            .find(|r| r.engine_id == h.engine_id)
            .and_then(|r| r.stacks.iter().find(|s| s.kind == kind && s.name == name))
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
        legend(&mut out, &parts);
        // Restarts, OOM kills and health changes of its containers, on the
        // memory chart's time axis (a start alone is not drawn: every
        // restart has one).
        let mut stmt = conn.prepare_cached(
            "SELECT at_ns / 1000000000, name, action, exit_code, oom, health FROM event_rows
             WHERE host_id = ?1 AND at_ns >= ?2 * 1000000000 AND stack_kind = ?3 AND stack = ?4
               AND action IN ('die', 'oom', 'restart', 'health_status')
             ORDER BY at_ns LIMIT 500",
        )?;
        let marks: Vec<svg::Mark> = stmt
            .query_map(params![h.host_id, start, kind, name], |r| {
                let (container, action): (String, String) = (r.get(1)?, r.get(2)?);
                let exit: Option<i64> = r.get(3)?;
                let health: Option<String> = r.get(5)?;
                let mut what = format!("{container}: {action}");
                if let Some(code) = exit {
                    what.push_str(&format!(" (exit {code})"));
                }
                if r.get::<_, i64>(4)? != 0 {
                    what.push_str(" (OOM)");
                }
                if let Some(hs) = health {
                    what.push_str(&format!(" {hs}"));
                }
                Ok(svg::Mark { at: r.get(0)?, what })
            })?
            .collect::<rusqlite::Result<_>>()?;
        out.push_str("<h3>Memory of its containers, with restarts, OOM kills and health changes</h3>");
        out.push_str(&svg::stacked(&format!("memory of {name}"), &times, &memory, &[], &marks));
        let mut stmt = conn.prepare_cached(
            "SELECT DISTINCT v.name, v.kind FROM volume_stacks vs JOIN volumes v ON v.id = vs.volume_ref
             WHERE vs.stack_id = ?1 AND vs.pass_id >= (SELECT MIN(id) FROM passes WHERE host_id = ?2 AND started_at >= ?3)
             ORDER BY v.name",
        )?;
        let mounts: Vec<(String, String)> = stmt
            .query_map(params![stack_id, h.host_id, start], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        out.push_str("<h3>Volumes and bind mounts</h3><ul class=\"mounts\">");
        for (v, k) in &mounts {
            let _ = write!(out, "<li>{} <a href=\"{}\">{}</a></li>", esc(k), esc(&volume_href(v)), esc(v));
        }
        out.push_str("</ul>");
        if let Some((t, _, _, _, _)) = rows.last() {
            let _ = write!(out, "<p>newest pass {}</p>", iso_utc(*t));
        }
        out.push_str("</section>");
    }
    out.push_str("</body></html>\n");
    Ok(found.then_some(out))
}

/// One volume's (or bind mount's) page: its size over the window on every
/// host that has it, its growth rate, and who mounts it.
pub fn volume_page(conn: &Connection, view: &View, name: &str) -> Result<Option<String>> {
    let hosts = read::hosts(conn).context("cannot read hosts from the history")?;
    let mut out = head(&format!("stackwatch: {name}"));
    let _ = write!(out, "<p><a href=\"/{}\">host page</a></p><h1>{}</h1>", esc(&view.query(&view.window)), esc(name));
    window_nav(&mut out, view, &volume_href(name));
    let mut found = false;
    for h in &hosts {
        let row: Option<(i64, String)> = conn
            .query_row("SELECT id, kind FROM volumes WHERE host_id = ?1 AND name = ?2", params![h.host_id, name], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .ok();
        let Some((volume_id, kind)) = row else { continue };
        found = true;
        let (start, bucket) = window_bounds(conn, h, view)?;
        // Sizes and states are stored when they change: each pass reads the
        // newest row at or before it.
        let mut stmt = conn.prepare_cached(&format!(
            "{CHOSEN} SELECT p.started_at,
                (SELECT z.size_bytes FROM volume_sizes z WHERE z.volume_ref = ?4 AND z.pass_id <= c.id
                 ORDER BY z.pass_id DESC LIMIT 1),
                (SELECT st.present FROM volume_states st WHERE st.volume_ref = ?4 AND st.pass_id <= c.id
                 ORDER BY st.pass_id DESC LIMIT 1)
             FROM chosen c JOIN passes p ON p.id = c.id JOIN volume_spans sp ON sp.volume_ref = ?4
             WHERE c.id BETWEEN sp.first_pass AND sp.last_pass ORDER BY p.started_at"
        ))?;
        type Row = (i64, Option<i64>, Option<i64>);
        let rows: Vec<Row> = stmt
            .query_map(params![h.host_id, start, bucket, volume_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let rows: Vec<(i64, Option<i64>)> = rows.into_iter().filter(|r| r.2 == Some(1)).map(|r| (r.0, r.1)).collect();
        let times: Vec<i64> = rows.iter().map(|r| r.0).collect();
        let size = vec![Series { name: name.to_string(), href: None, values: rows.iter().map(|r| r.1).collect() }];
        let _ = write!(
            out,
            "<section class=\"host\" data-host=\"{}\"><h2>{} on {}</h2>",
            esc(&h.hostname),
            esc(&kind),
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
        let mut stmt = conn.prepare_cached(
            "SELECT DISTINCT s.kind, s.name FROM volume_stacks vs JOIN stacks s ON s.id = vs.stack_id
             WHERE vs.volume_ref = ?1 AND vs.pass_id = (SELECT MAX(pass_id) FROM volume_stacks WHERE volume_ref = ?1)
             ORDER BY s.name",
        )?;
        let stacks: Vec<(String, String)> =
            stmt.query_map(params![volume_id], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?;
        let mounted_by: Option<String> = conn
            .query_row(
                "SELECT mounted_by FROM volume_states WHERE volume_ref = ?1 ORDER BY pass_id DESC LIMIT 1",
                params![volume_id],
                |r| r.get(0),
            )
            .ok();
        let containers: Vec<String> = mounted_by.and_then(|m| serde_json::from_str(&m).ok()).unwrap_or_default();
        out.push_str("<h3>Mounted by</h3><ul class=\"mounted-by\">");
        for (k, s) in &stacks {
            let _ = write!(out, "<li>stack <a href=\"{}\">{}</a></li>", esc(&stack_href(k, s)), esc(s));
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
        use crate::model::snapshot::*;
        let mut st = crate::store::open_for_write(db, std::time::Duration::from_secs(5)).unwrap();
        for i in 0..n {
            let labels = BTreeMap::from([("com.docker.compose.project".to_string(), "grower".to_string())]);
            let (stack, service) = crate::model::stack::identify("grower_app_1", &labels);
            let containers = vec![ContainerSample {
                id: format!("{:064x}", 1),
                name: "grower_app_1".into(),
                stack: Some(stack),
                service,
                labels,
                image: "app:latest".into(),
                state: ContainerState::Running,
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
            crate::store::write::insert_pass(&mut st.conn, &snap).unwrap();
        }
    }

    #[test]
    fn a_series_has_at_most_max_points_and_ends_at_the_newest_pass() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("h.db");
        // 25 hours of passes a minute apart: 1500, of which 24h hold 1441.
        history(&db, 1500, 1_800_000_000);
        let st = crate::store::open_read_only(&db, std::time::Duration::from_secs(5)).unwrap();
        let host = read::hosts(&st.conn).unwrap().remove(0);
        let day = View::parse(Some("window=24h")).unwrap();
        let (times, series, _) = host_series(&st.conn, &host, &day).unwrap();
        assert!(times.len() as i64 <= MAX_POINTS && times.len() > 200, "{} points", times.len());
        assert_eq!(series.len(), 1);
        assert_eq!(times.last(), Some(&1_800_000_000), "the newest pass is the last point");
        assert_eq!(series[0].values.last(), Some(&Some(1_500_000)));
        assert!(times[0] >= 1_800_000_000 - 86_400, "a point before the window");
        // An hour has 61 passes: every one is a point.
        let hour = View::parse(Some("window=1h")).unwrap();
        assert_eq!(host_series(&st.conn, &host, &hour).unwrap().0.len(), 61);
        // The page draws it, the growth sentence says it.
        let page =
            host_page(&st.conn, &Config::default(), &Projects::default(), &day, 1_800_000_000, true).unwrap().unwrap();
        assert_eq!(page.matches("<g class=\"series\"").count(), 1);
        assert!(page.contains("data-stack=\"grower\""), "{page}");
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
