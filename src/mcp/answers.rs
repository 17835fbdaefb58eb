//! What each tool answers, computed from the history alone (blocking: the
//! server runs these off its event loop). Every answer is bounded and every
//! outside name in it is inert; every failure is one line saying what to
//! change.

use std::path::PathBuf;

use anyhow::{Context as _, Result, anyhow, bail};
use serde_json::{Value, json};

use crate::config::Config;
use crate::history::model::{Growth, Report};
use crate::history::owners::Projects;
use crate::section::render::Renderer;
use crate::store;
use crate::store::read::{Reader, listing, series};
use crate::time::{Buckets, Window, iso_utc, now_unix};
use crate::untrusted::markdown as md;
use crate::{sql, untrusted};

/// Largest answer, in bytes: a few thousand tokens of a model's context.
pub const MAX_ANSWER: usize = 24_000;
/// Most points of one host in a series answer (with no `host` given, each
/// host has its own; the answer is then bounded by [`MAX_ANSWER`]).
pub const MAX_POINTS: i64 = 200;
/// Most rows a `sql` answer shows.
pub const MAX_SQL_ROWS: usize = 200;
/// Most growers `top_growth` lists, and findings `findings` lists.
pub const MAX_ITEMS: usize = 50;

/// What the server was started with; every call opens the database anew.
pub struct Context {
    pub db: PathBuf,
    pub config: Config,
    pub projects: Option<(PathBuf, bool)>,
    /// Schema version of the database when the server started (None: no
    /// database yet).
    pub schema_at_start: Option<i64>,
}

impl Context {
    /// A read-only store for one call, refused when the schema changed
    /// since start (the server's idea of the views may be stale).
    fn open(&self) -> Result<store::Store> {
        if let (Some(start), Some(now)) = (self.schema_at_start, store::applied_schema_version(&self.db))
            && start != now
        {
            bail!(
                "the history database's schema changed from version {start} to {now} since this server started; \
                 restart `stackwatch mcp` (your MCP client's reconnect or restart does it)"
            );
        }
        store::open_read_only(&self.db, self.config.database.busy_timeout)
    }

    fn window(&self, window: Option<&str>) -> Result<Window> {
        match window.map(str::trim).filter(|w| !w.is_empty()) {
            None => Ok(Window::of(self.config.report.window)),
            // The message names the units and gives examples.
            Some(w) => Window::parse(w).map_err(|e| anyhow!("bad window: {e}")),
        }
    }

    fn report(&self, db: &Reader<'_>, window: Option<&str>, vault: bool) -> Result<Report> {
        let window = self.window(window)?;
        let projects = Projects::load_from(self.projects.as_ref())?;
        crate::history::build(
            db,
            &crate::history::Request { window, now: now_unix(), config: &self.config, projects: &projects, vault },
        )
    }
}

/// A name as the answers show it in JSON: the way the report shows it (so
/// the two can be compared).
fn name(s: &str) -> String {
    crate::history::shown_name(s)
}

/// A value that must be known: otherwise one line naming the nearest ones.
fn require_known(db: &Reader<'_>, kind: &str, wanted: &str) -> Result<()> {
    let known = db.names(kind).context("cannot read names from the history")?;
    if known.iter().any(|k| k == wanted) {
        return Ok(());
    }
    let near = near_matches(wanted, &known);
    let hint = if near.is_empty() {
        format!("list them with the `sql` tool: `SELECT DISTINCT {}`", column_of(kind))
    } else {
        format!("did you mean {}?", near.iter().map(|n| md::code(n)).collect::<Vec<_>>().join(", "))
    };
    bail!("no {kind} {} in the history; {hint}", md::code(wanted))
}

fn column_of(kind: &str) -> &'static str {
    match kind {
        "stack" => "stack FROM latest_stacks",
        "container" => "container FROM latest_containers",
        "host" => "host FROM host_names",
        "bind" => "volume FROM latest_volumes WHERE kind = 'bind'",
        _ => "volume FROM latest_volumes WHERE kind = 'volume'",
    }
}

/// Up to five known names close to `wanted`: containing it (or contained
/// in it), ignoring case, or within a few edits.
pub fn near_matches(wanted: &str, known: &[String]) -> Vec<String> {
    let w = wanted.to_lowercase();
    let mut scored: Vec<(usize, &String)> = known
        .iter()
        .filter_map(|k| {
            let l = k.to_lowercase();
            if !w.is_empty() && (l.contains(&w) || w.contains(&l)) {
                return Some((0, k));
            }
            let d = edit_distance(&w, &l);
            (d <= 3.max(w.chars().count() / 4)).then_some((d, k))
        })
        .collect();
    scored.sort();
    scored.into_iter().take(5).map(|(_, k)| k.clone()).collect()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Keeps only `host`'s report (when given), refusing an unknown one.
fn only_host(rep: &mut Report, host: Option<&str>) -> Result<()> {
    let Some(host) = host else { return Ok(()) };
    let known: Vec<String> = rep.hosts.iter().map(|h| h.host.clone()).collect();
    let host = name(host);
    if !known.contains(&host) {
        let list = known.iter().map(|k| md::code(k)).collect::<Vec<_>>().join(", ");
        bail!("no host {} in the history; the hosts are: {list}", md::code(&host));
    }
    rep.hosts.retain(|h| h.host == host);
    Ok(())
}

/// Keeps only what concerns `stack` (when given), refusing an unknown one.
fn only_stack(db: &Reader<'_>, rep: &mut Report, stack: Option<&str>) -> Result<()> {
    let Some(stack) = stack else { return Ok(()) };
    require_known(db, "stack", stack)?;
    // The report's names are inert forms of the real ones.
    let shown = name(stack);
    for h in &mut rep.hosts {
        h.findings.retain(|f| f.stack.as_deref() == Some(shown.as_str()));
        h.stacks.retain(|s| s.name == shown);
        for level in [&mut h.growth.stacks, &mut h.growth.containers, &mut h.growth.volumes] {
            level.retain(|g| g.stack.as_deref() == Some(shown.as_str()) || (g.level == "stack" && g.name == shown));
        }
    }
    Ok(())
}

/// `text` if it fits [`MAX_ANSWER`]; otherwise its first lines that fit and
/// a last line saying it was cut and how to narrow the question.
pub fn bounded(text: String, narrow: &str) -> String {
    if text.len() <= MAX_ANSWER {
        return text;
    }
    let mut cut = MAX_ANSWER - 300;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let head = match text[..cut].rfind('\n') {
        Some(at) => &text[..at + 1],
        None => &text[..cut],
    };
    format!("{head}\n[cut: the answer was {} bytes, over the {MAX_ANSWER}-byte limit; {narrow}]\n", text.len())
}

fn to_json(v: &Value) -> Result<String> {
    Ok(untrusted::json_escaped(&serde_json::to_string_pretty(v)?) + "\n")
}

/// `v` as JSON text of at most [`MAX_ANSWER`] bytes that still parses:
/// while it is too long, the longest list in it loses at least its second
/// half (lists are ordered most important first), and a top-level `cut` object
/// says which lists lost how many entries and how to narrow the question.
pub fn fit_json(mut v: Value, narrow: &str) -> Result<String> {
    let mut cut: std::collections::BTreeMap<String, usize> = Default::default();
    loop {
        let text = to_json(&v)?;
        if text.len() <= MAX_ANSWER {
            return Ok(text);
        }
        let Some((path, len)) = longest_list(&v, String::new()) else {
            return Ok(bounded(text, narrow));
        };
        if len < 2 {
            return Ok(bounded(text, narrow));
        }
        // Cut in proportion to the excess when that cuts more than half,
        // so a report of thousands of rows fits in a few rounds.
        let share = len * (MAX_ANSWER * 9 / 10) / text.len();
        let keep = (len / 2).min(share).max(1);
        if let Some(Value::Array(a)) = v.pointer_mut(&path) {
            a.truncate(keep);
        }
        *cut.entry(path).or_default() += len - keep;
        if let Value::Object(o) = &mut v {
            o.insert("cut".into(), json!({"dropped_from_lists": cut, "how_to_narrow": narrow}));
        }
    }
}

/// The JSON pointer and length of the longest array in `v`.
fn longest_list(v: &Value, at: String) -> Option<(String, usize)> {
    let mut best: Option<(String, usize)> = None;
    let mut consider = |c: Option<(String, usize)>| {
        if let Some(c) = c
            && best.as_ref().is_none_or(|b| c.1 > b.1)
        {
            best = Some(c);
        }
    };
    match v {
        Value::Array(a) => {
            consider(Some((at.clone(), a.len())));
            for (i, x) in a.iter().enumerate() {
                consider(longest_list(x, format!("{at}/{i}")));
            }
        }
        Value::Object(o) => {
            for (k, x) in o {
                if k != "cut" {
                    consider(longest_list(x, format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"))));
                }
            }
        }
        _ => {}
    }
    best
}

pub struct ReportArgs<'a> {
    pub window: Option<&'a str>,
    pub host: Option<&'a str>,
    pub stack: Option<&'a str>,
    pub json: bool,
}

pub fn report(cx: &Context, a: &ReportArgs<'_>) -> Result<String> {
    let st = cx.open()?;
    let db = st.reader()?;
    let mut rep = cx.report(&db, a.window, false)?;
    only_host(&mut rep, a.host)?;
    only_stack(&db, &mut rep, a.stack)?;
    let narrow = "narrow it with `stack` or `host`, or use format `markdown` (budgeted)";
    if a.json {
        return fit_json(serde_json::to_value(&rep)?, narrow);
    }
    let renderer = Renderer::new(None)?;
    let section = renderer.section(&rep, cx.config.report.top, Some(cx.config.report.budget_bytes))?;
    Ok(bounded(section, narrow))
}

/// The rendered section, as the knowledge block holds it.
pub fn knowledge(cx: &Context) -> Result<String> {
    report(cx, &ReportArgs { window: None, host: None, stack: None, json: false })
}

fn growth_json(g: &Growth) -> Value {
    json!({
        "level": g.level,
        "name": g.name,
        "stack": g.stack,
        "change": g.change,
        "delta_bytes": g.delta_bytes,
        "start_bytes": g.start_bytes,
        "end_bytes": g.end_bytes,
        "sentence": g.sentence,
    })
}

pub fn top_growth(cx: &Context, window: Option<&str>, level: &str, n: usize, host: Option<&str>) -> Result<String> {
    if !matches!(level, "stack" | "container" | "volume" | "bind") {
        bail!("bad level `{}`: give one of stack, container, volume, bind", untrusted::line(level, 40));
    }
    if n == 0 || n > MAX_ITEMS {
        bail!("bad n {n}: give 1 to {MAX_ITEMS}");
    }
    let st = cx.open()?;
    let db = st.reader()?;
    let mut rep = cx.report(&db, window, false)?;
    only_host(&mut rep, host)?;
    let mut out = Vec::new();
    for h in &rep.hosts {
        let pool = match level {
            "stack" => &h.growth.stacks,
            "container" => &h.growth.containers,
            _ => &h.growth.volumes,
        };
        let mut growers: Vec<&Growth> =
            pool.iter().filter(|g| g.level == level && g.delta_bytes.is_some_and(|d| d > 0)).collect();
        growers.sort_by_key(|g| std::cmp::Reverse(g.delta_bytes));
        let total = growers.len();
        growers.truncate(n);
        out.push(json!({
            "host": h.host,
            "from": h.from,
            "as_of": h.as_of,
            "covers_window": h.covers_window,
            "growers": growers.iter().map(|g| growth_json(g)).collect::<Vec<_>>(),
            "more": total.saturating_sub(n),
        }));
    }
    let v = json!({"window": rep.window, "level": level, "hosts": out});
    fit_json(v, "ask for a smaller `n` or one `host`")
}

/// The newest pass's time: series windows end there, like the report's.
fn newest(db: &Reader<'_>, host: Option<&str>) -> Result<i64> {
    Ok(db.newest_pass(host).context("cannot read the newest pass")?.unwrap_or_else(now_unix))
}

/// A series answer: `head`'s fields, then `columns` once and one compact
/// row per point per line (objects per point would be three times the
/// size). When the rows do not fit [`MAX_ANSWER`], the oldest go and a
/// `cut` field says how many and how to narrow the question.
fn series_json(head: Value, columns: &[&str], points: Vec<Value>, narrow: &str) -> Result<String> {
    let mut rows = Vec::with_capacity(points.len());
    for p in &points {
        let row: Vec<Value> = columns.iter().map(|c| p.get(*c).cloned().unwrap_or(Value::Null)).collect();
        rows.push(untrusted::json_escaped(&serde_json::to_string(&row)?));
    }
    let mut head_text = String::from("{\n");
    if let Value::Object(o) = &head {
        for (k, v) in o {
            head_text.push_str(&format!("  {}: {},\n", serde_json::to_string(k)?, serde_json::to_string(v)?));
        }
    }
    head_text.push_str(&format!("  \"columns\": {},\n", serde_json::to_string(columns)?));
    let room = MAX_ANSWER.saturating_sub(head_text.len() + 400);
    let mut used = 0;
    let mut first = rows.len();
    while first > 0 && used + rows[first - 1].len() + 6 <= room {
        used += rows[first - 1].len() + 6;
        first -= 1;
    }
    if first > 0 {
        let cut = json!({"dropped_oldest_points": first, "how_to_narrow": narrow});
        head_text.push_str(&format!("  \"cut\": {},\n", serde_json::to_string(&cut)?));
    }
    let body: Vec<String> = rows[first..].iter().map(|r| format!("    {r}")).collect();
    let sep = if body.is_empty() { "" } else { "\n" };
    Ok(untrusted::json_escaped(&format!("{head_text}  \"points\": [{sep}{}{sep}  ]\n}}\n", body.join(",\n"))))
}

pub fn stack_history(cx: &Context, stack: &str, window: Option<&str>, host: Option<&str>) -> Result<String> {
    let Window { seconds: secs, text } = cx.window(window)?;
    let st = cx.open()?;
    let db = st.reader()?;
    if let Some(h) = host {
        require_known(&db, "host", h)?;
    }
    require_known(&db, "stack", stack)?;
    let buckets = Buckets::over(newest(&db, host)? - secs, secs, MAX_POINTS);
    let span = series::Span { name: stack, host, buckets };
    let points = db.stack_series(&span).context("cannot read the stack's history")?;
    let v = json!({
        "stack": name(stack),
        "window": text,
        "bucket_seconds": buckets.width,
        "note": "the window ends at the newest pass; one point per bucket: the bucket's newest sample; sizes in \
                 bytes, null = not measured; restarts = sum of the stack's containers' restart counts",
    });
    let points = points
        .iter()
        .map(|p| {
            let mut o = serde_json::to_value(p).unwrap_or_default();
            o["host"] = name(&p.host).into();
            o["at"] = iso_utc(p.at_unix).into();
            o
        })
        .collect();
    let columns =
        ["at", "disk_bytes", "rw_bytes", "log_bytes", "volume_bytes", "mem_bytes", "restarts", "unknown_sizes", "host"];
    series_json(v, &columns, points, "give a shorter `window` or one `host`")
}

pub fn object_history(
    cx: &Context,
    kind: &str,
    object: &str,
    window: Option<&str>,
    host: Option<&str>,
) -> Result<String> {
    if !matches!(kind, "volume" | "bind" | "container") {
        bail!("bad kind `{}`: give one of volume, bind, container", untrusted::line(kind, 40));
    }
    let Window { seconds: secs, text } = cx.window(window)?;
    let st = cx.open()?;
    let db = st.reader()?;
    if let Some(h) = host {
        require_known(&db, "host", h)?;
    }
    require_known(&db, kind, object)?;
    let buckets = Buckets::over(newest(&db, host)? - secs, secs, MAX_POINTS);
    let span = series::Span { name: object, host, buckets };
    let points: Vec<Value> = if kind == "container" {
        let ps = db.container_series(&span).context("cannot read the container's history")?;
        ps.iter()
            .map(|p| {
                let mut o = serde_json::to_value(p).unwrap_or_default();
                o["stack"] = name(&p.stack).into();
                o["host"] = name(&p.host).into();
                o["at"] = iso_utc(p.at_unix).into();
                o
            })
            .collect()
    } else {
        let ps = db.volume_series(&span, kind).context("cannot read the volume's history")?;
        ps.iter()
            .map(|p| {
                let mut o = serde_json::to_value(p).unwrap_or_default();
                o["host"] = name(&p.host).into();
                o["at"] = iso_utc(p.at_unix).into();
                o
            })
            .collect()
    };
    let v = json!({
        "kind": kind,
        "name": name(object),
        "window": text,
        "bucket_seconds": buckets.width,
        "note": "the window ends at the newest pass; one point per bucket: the bucket's newest sample; sizes in bytes, \
                 null = not measured",
    });
    let columns: &[&str] = if kind == "container" {
        &[
            "at",
            "state",
            "health",
            "restart_count",
            "mem_bytes",
            "mem_peak_bytes",
            "rw_bytes",
            "log_bytes",
            "stack",
            "host",
        ]
    } else {
        &["at", "size_bytes", "in_use", "unsized_reason", "host"]
    };
    series_json(v, columns, points, "give a shorter `window` or one `host`")
}

pub fn findings(cx: &Context, window: Option<&str>, host: Option<&str>, stack: Option<&str>) -> Result<String> {
    let st = cx.open()?;
    let db = st.reader()?;
    // Vault names are computed, never written: nothing here touches files.
    let mut rep = cx.report(&db, window, true)?;
    only_host(&mut rep, host)?;
    only_stack(&db, &mut rep, stack)?;
    let mut all = Vec::new();
    for h in &rep.hosts {
        for f in &h.findings {
            all.push(json!({
                "host": h.host,
                "priority": f.priority,
                "kind": f.kind,
                "stack": f.stack,
                "owner": f.owner,
                "owner_source": f.owner_source,
                "vault_file": f.vault_file.clone().or_else(|| f.vault_name.clone()),
                "since": f.since,
                "bytes": f.bytes,
                "count": f.count,
                "first_at": f.first_at,
                "last_at": f.last_at,
                "summary": f.summary,
            }));
        }
    }
    // Findings are listed most urgent first (P1 before P4).
    all.sort_by(|a, b| a["priority"].as_str().cmp(&b["priority"].as_str()));
    let total = all.len();
    all.truncate(MAX_ITEMS);
    let v = json!({
        "window": rep.window,
        "findings": all,
        "more": total.saturating_sub(MAX_ITEMS),
    });
    fit_json(v, "narrow it with `stack` or `host`")
}

/// Most events one answer lists, newest first.
pub const MAX_EVENTS: i64 = 200;

/// Container events (die with exit code, oom, kill with signal, start,
/// restart, destroy, health_status) in a window, newest first, with the
/// intervals in it whose events may be missing. A container need not be
/// in the latest pass: a job that came and went has events only.
pub fn events(
    cx: &Context,
    window: Option<&str>,
    host: Option<&str>,
    stack: Option<&str>,
    container: Option<&str>,
) -> Result<String> {
    let Window { seconds: secs, text } = cx.window(window)?;
    let st = cx.open()?;
    let db = st.reader()?;
    if let Some(h) = host {
        require_known(&db, "host", h)?;
    }
    if let Some(s) = stack {
        require_known(&db, "stack", s)?;
    }
    let since_ns = (newest(&db, host)? - secs).saturating_mul(1_000_000_000);
    let filter = listing::EventFilter { since_ns, host, stack, container };
    let total = db.count_events(&filter).context("cannot read container events")?;
    let opt_name = |v: &Option<String>| v.as_deref().map(name);
    let rows: Vec<Value> = db
        .newest_events(&filter, MAX_EVENTS)
        .context("cannot read container events")?
        .iter()
        .map(|e| {
            json!({
                "host": name(&e.host),
                "stack": opt_name(&e.stack),
                "service": opt_name(&e.service),
                "container": opt_name(&e.container),
                "at": e.at,
                "action": e.action,
                "exit_code": e.exit_code,
                "signal": opt_name(&e.signal),
                "oom": e.oom,
                "health": opt_name(&e.health),
                "source": e.source,
            })
        })
        .collect();
    let gaps: Vec<Value> = db
        .newest_event_gaps(since_ns, host, 20)
        .context("cannot read event gaps")?
        .iter()
        .map(|g| {
            json!({
                "host": name(&g.host),
                "missing_from": g.missing_from,
                "missing_until": g.missing_until,
                "reason": g.reason,
            })
        })
        .collect();
    let v = json!({
        "window": text,
        "events": rows,
        "more": (total - MAX_EVENTS).max(0),
        "gaps": gaps,
        "note": if gaps.is_empty() { "" } else { "events may be missing in the gaps listed: counts are lower bounds" },
    });
    fit_json(v, "narrow it with `stack`, `container`, `host` or a shorter `window`")
}

/// A writer that keeps at most [`MAX_SQL_ROWS`] lines and [`MAX_ANSWER`]
/// bytes, then refuses more (which stops the query early).
struct Capped {
    buf: Vec<u8>,
    lines: usize,
    cut: bool,
}

impl std::io::Write for Capped {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        // Header and rule lines come before the rows.
        let room_lines = MAX_SQL_ROWS + 2;
        let mut taken = 0;
        for &b in data {
            if self.lines >= room_lines || self.buf.len() >= MAX_ANSWER - 400 {
                self.cut = true;
                return Err(std::io::Error::new(std::io::ErrorKind::WriteZero, "answer limit reached"));
            }
            self.buf.push(b);
            taken += 1;
            if b == b'\n' {
                self.lines += 1;
            }
        }
        Ok(taken)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub fn sql(cx: &Context, query: &str) -> Result<String> {
    let st = cx.open()?;
    let mut out = Capped { buf: Vec::new(), lines: 0, cut: false };
    let result = sql::run(st.user_sql_connection(), query, sql::SqlFormat::Table, Some(sql::DEFAULT_TIMEOUT), &mut out);
    let text = String::from_utf8_lossy(&out.buf).into_owned();
    match result {
        Ok(_) => Ok(text),
        Err(_) if out.cut => {
            let mut head = text;
            // Only whole lines.
            if let Some(at) = head.rfind('\n') {
                head.truncate(at + 1);
            }
            Ok(format!(
                "{head}[cut after {} lines or {MAX_ANSWER} bytes: add a LIMIT, a WHERE (a time range on \
                 sampled_unix) or fewer columns]\n",
                MAX_SQL_ROWS
            ))
        }
        Err(e) => Err(e),
    }
}

/// One line: what went wrong and how to fix it.
pub fn error_line(e: &anyhow::Error) -> String {
    untrusted::line(&format!("{e:#}"), 2000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_matches_find_typos_and_parts() {
        let known: Vec<String> = ["harb_chain", "harb-web", "billing", "zzz"].iter().map(|s| s.to_string()).collect();
        assert_eq!(near_matches("harb_chian", &known), vec!["harb_chain"]);
        assert_eq!(near_matches("harb", &known), vec!["harb-web", "harb_chain"]);
        assert!(near_matches("qqqqqqqqqq", &known).is_empty());
    }

    #[test]
    fn long_answers_are_cut_on_a_line_and_say_so() {
        let text: String = (0..5000).map(|i| format!("line {i}\n")).collect();
        let out = bounded(text, "narrow it");
        assert!(out.len() <= MAX_ANSWER, "{}", out.len());
        assert!(out.ends_with("narrow it]\n"), "{}", &out[out.len() - 200..]);
        assert!(out.contains("\nline 10\n"));
        assert_eq!(bounded("short\n".into(), "x"), "short\n");
    }

    #[test]
    fn series_are_rows_under_columns_and_lose_their_oldest_points_first() {
        let points: Vec<Value> = (0..5000).map(|i| json!({"at": i, "size_bytes": i * 1000, "host": "h"})).collect();
        let text = series_json(json!({"name": "v"}), &["at", "size_bytes", "host"], points, "narrow it").unwrap();
        assert!(text.len() <= MAX_ANSWER, "{}", text.len());
        let v: Value = serde_json::from_str(&text).unwrap();
        let rows = v["points"].as_array().unwrap();
        assert_eq!(rows.last().unwrap(), &json!([4999, 4999000, "h"]), "the newest point is kept");
        assert_eq!(v["cut"]["dropped_oldest_points"], json!(5000 - rows.len()));
        assert_eq!(v["columns"], json!(["at", "size_bytes", "host"]));
        let small = series_json(json!({"name": "v"}), &["at"], vec![json!({"at": 1})], "x").unwrap();
        let v: Value = serde_json::from_str(&small).unwrap();
        assert!(v.get("cut").is_none() && v["points"] == json!([[1]]), "{small}");
        let empty = series_json(json!({}), &["at"], vec![], "x").unwrap();
        assert_eq!(serde_json::from_str::<Value>(&empty).unwrap()["points"], json!([]));
    }

    #[test]
    fn long_json_loses_list_tails_stays_json_and_says_so() {
        let rows: Vec<Value> = (0..3000).map(|i| json!({"name": format!("stack-{i}"), "bytes": i})).collect();
        let v = json!({"window": "24h", "hosts": [{"host": "a", "stacks": rows, "few": [1, 2, 3]}]});
        let text = fit_json(v, "narrow it").unwrap();
        assert!(text.len() <= MAX_ANSWER, "{}", text.len());
        let back: Value = serde_json::from_str(&text).unwrap();
        let kept = back["hosts"][0]["stacks"].as_array().unwrap().len();
        assert!(kept > 100 && kept < 3000, "{kept}");
        assert_eq!(back["hosts"][0]["stacks"][0]["name"], "stack-0", "the head is kept");
        assert_eq!(back["cut"]["dropped_from_lists"]["/hosts/0/stacks"], json!(3000 - kept));
        assert_eq!(back["cut"]["how_to_narrow"], "narrow it");
        assert_eq!(back["hosts"][0]["few"], json!([1, 2, 3]));
        let small = fit_json(json!({"a": [1]}), "x").unwrap();
        assert!(!small.contains("cut"), "{small}");
    }
}
