//! What happened between passes, from the stored container events
//! (migration V8): OOM kills counted even when the container runs again
//! with `OOMKilled=false`, restarts with their causes, containers that
//! came and went between two passes, flapping health with its unhealthy
//! time, and the intervals whose events may be missing. Kept apart from
//! the state-based symptoms: `symptoms::find` is the one place they meet
//! (an event line replaces the state line of the same container, since it
//! says more).

use std::collections::BTreeMap;

use anyhow::Result;
use serde::Serialize;

use super::pass::RecordedPass;
use crate::config::ReportConfig;
use crate::model::snapshot::{StackKey, StackKind};
use crate::model::units;
use crate::store::read::{EventRow, Reader};
use crate::time::human_span;
use crate::time::iso_utc;
use crate::untrusted::markdown::code;

/// An OOM event this close before a `die` is that death's cause...
const OOM_BEFORE_DIE_NS: i64 = 10_000_000_000;
/// ...or this close after it: the engine learns of the exit and of the OOM
/// separately, and can report them in either order.
const OOM_AFTER_DIE_NS: i64 = 1_000_000_000;

type Key = StackKey;

/// One evidence line counted from events, with what it counts: `count`
/// occurrences (OOM kills, restarts, failed runs, turns to unhealthy), the
/// first and the last at `first`/`last` (Unix seconds). `since` is when the
/// trouble started, as `symptoms` takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub text: String,
    pub since: Option<i64>,
    pub count: i64,
    pub first: i64,
    pub last: i64,
}

/// Event findings per kind and stack, each with the container it is about.
#[derive(Default)]
pub struct Found {
    pub oom: BTreeMap<Key, Vec<(String, Line)>>,
    pub restarting: BTreeMap<Key, Vec<(String, Line)>>,
    pub exited: BTreeMap<Key, Vec<(String, Line)>>,
    /// Flapping health over the `[report]` thresholds.
    pub unhealthy: BTreeMap<Key, Vec<(String, Line)>>,
}

/// The host's event figures for JSON, with the one line about missing events.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub oom_kills: Vec<Count>,
    pub restarts: Vec<Count>,
    /// Containers that came and went (created, ran, removed) inside the window.
    pub jobs: Vec<Job>,
    /// Containers of the newest pass that were unhealthy inside the window,
    /// whatever the thresholds.
    pub unhealthy: Vec<Health>,
    pub gaps: Vec<Gap>,
    /// One sentence when events may be missing in the window.
    pub gap_sentence: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Count {
    pub container: String,
    pub stack: String,
    pub stack_kind: StackKind,
    pub times: i64,
    pub first: String,
    pub last: String,
    /// Restarts: the exit codes of the deaths they followed.
    pub causes: Vec<Cause>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cause {
    pub exit_code: Option<i64>,
    /// `killed: OOM`, `SIGKILL`, `SIGTERM`, `could not run`, or empty.
    pub reading: String,
    pub times: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Job {
    /// The container's name, or the service's when runs had several names.
    pub name: String,
    pub stack: String,
    pub stack_kind: StackKind,
    pub runs: i64,
    pub failures: Vec<Cause>,
    pub last: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Health {
    pub container: String,
    pub stack: String,
    pub stack_kind: StackKind,
    /// Times it turned unhealthy inside the window.
    pub times: i64,
    /// Seconds it spent unhealthy inside the window.
    pub unhealthy_seconds: i64,
    /// Start of its first and of its last unhealthy interval (the window's
    /// start for one that was already open then).
    pub first: String,
    pub last: String,
    /// Already unhealthy when the window started.
    pub unhealthy_at_start: bool,
    /// Still unhealthy at the newest pass (or turned so after it).
    pub unhealthy_at_end: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Gap {
    pub from: String,
    pub until: String,
    pub reason: String,
}

impl Summary {
    /// Raw names reach JSON readers too (see `history::make_names_inert`).
    pub fn make_inert(&mut self) {
        let fix = |s: &mut String| *s = super::shown_name(s);
        for c in self.oom_kills.iter_mut().chain(self.restarts.iter_mut()) {
            fix(&mut c.container);
            fix(&mut c.stack);
        }
        for j in &mut self.jobs {
            fix(&mut j.name);
            fix(&mut j.stack);
        }
        for h in &mut self.unhealthy {
            fix(&mut h.container);
            fix(&mut h.stack);
        }
    }
}

/// A container's unhealthy time inside a window, from its health marks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Unhealthy {
    /// Times it turned unhealthy inside the window.
    pub turns: i64,
    /// Nanoseconds spent unhealthy inside the window.
    pub ns: i64,
    /// Start of the first and of the last unhealthy interval, clipped to
    /// the window.
    pub first: Option<i64>,
    pub last: Option<i64>,
    /// End of the last interval that closed inside the window.
    pub recovered: Option<i64>,
    pub at_start: bool,
    pub at_end: bool,
}

/// The unhealthy intervals of one container inside `[from_ns, end_ns]`.
/// `marks` are its events in time order, `true` for `health_status:
/// unhealthy` and `false` for whatever ends an unhealthy spell (another
/// health status, or a die, destroy or start); `unhealthy_before` is what
/// the last mark before the window said. An interval runs from an
/// unhealthy mark to the next other mark; one still open at the end counts
/// up to `end_ns`, or to its own start when that is later (an event stored
/// after the newest pass: turned, but for no time yet). An unhealthy mark
/// while already unhealthy (an engine repeating itself) is no new turn.
pub fn unhealthy_time(unhealthy_before: bool, marks: &[(i64, bool)], from_ns: i64, end_ns: i64) -> Unhealthy {
    let mut u = Unhealthy { at_start: unhealthy_before, ..Default::default() };
    let mut open: Option<i64> = unhealthy_before.then_some(from_ns);
    if open.is_some() {
        u.first = open;
        u.last = open;
    }
    for &(at, bad) in marks {
        let at = at.max(from_ns);
        match (bad, open) {
            (true, None) => {
                open = Some(at);
                u.turns += 1;
                u.first.get_or_insert(at);
                u.last = Some(at);
            }
            (false, Some(since)) => {
                let until = at.min(end_ns).max(since);
                u.ns += until - since;
                u.recovered = Some(until);
                open = None;
            }
            _ => {}
        }
    }
    if let Some(since) = open {
        u.ns += end_ns.max(since) - since;
        u.at_end = true;
    }
    u
}

/// One container's life in the window, from its events in time order.
struct Life {
    container_id: String,
    name: String,
    stack_kind: StackKind,
    stack: String,
    service: Option<String>,
    ooms: Vec<i64>,
    /// (exit code, at, caused by an OOM kill, followed by a start).
    dies: Vec<(Option<i64>, i64, bool, bool)>,
    destroyed: bool,
    /// (at, turned unhealthy) for each event that starts or ends an
    /// unhealthy spell (see [`unhealthy_time`]).
    health: Vec<(i64, bool)>,
}

fn lives(rows: &[EventRow]) -> Vec<Life> {
    let mut out: Vec<Life> = Vec::new();
    let mut current: Option<&str> = None;
    for r in rows {
        if current != Some(r.container_id.as_str()) {
            current = Some(r.container_id.as_str());
            out.push(Life {
                container_id: r.container_id.clone(),
                name: r.name.clone(),
                stack_kind: r.stack_kind,
                stack: r.stack.clone(),
                service: r.service.clone(),
                ooms: Vec::new(),
                dies: Vec::new(),
                destroyed: false,
                health: Vec::new(),
            });
        }
        let life = out.last_mut().expect("pushed above");
        match r.action.as_str() {
            "health_status" => life.health.push((r.at_ns, r.health.as_deref() == Some("unhealthy"))),
            "die" | "destroy" | "start" => life.health.push((r.at_ns, false)),
            _ => {}
        }
        match r.action.as_str() {
            "oom" => life.ooms.push(r.at_ns),
            "die" => life.dies.push((r.exit_code, r.at_ns, false, false)),
            "start" => {
                if let Some(d) = life.dies.last_mut() {
                    d.3 = true;
                }
            }
            "destroy" => life.destroyed = true,
            _ => {}
        }
    }
    for life in &mut out {
        for d in &mut life.dies {
            d.2 = life.ooms.iter().any(|t| (-OOM_AFTER_DIE_NS..=OOM_BEFORE_DIE_NS).contains(&(d.1 - t)));
        }
    }
    out
}

/// What the metrics count of one container's events.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub oom_kills: i64,
    pub restarts: Vec<Cause>,
    pub unhealthy_turns: i64,
    pub unhealthy_ns: i64,
}

/// Per container (by name) of `rows`, its OOM kills, its restarts by cause
/// and its unhealthy turns and time, an open spell counted up to `end_ns`:
/// what the metrics count.
pub fn tallies(rows: &[EventRow], end_ns: i64) -> BTreeMap<String, Tally> {
    let mut out = BTreeMap::new();
    for l in lives(rows) {
        let restarts: Vec<_> = l.dies.iter().filter(|d| d.3).collect();
        let from = l.health.first().map(|m| m.0).unwrap_or(end_ns);
        let u = unhealthy_time(false, &l.health, from, end_ns);
        out.insert(
            l.name.clone(),
            Tally {
                oom_kills: l.ooms.len() as i64,
                restarts: causes(&restarts),
                unhealthy_turns: u.turns,
                unhealthy_ns: u.ns,
            },
        );
    }
    out
}

/// How an exit code reads: 128 + signal for a killed process, 125-127 when
/// the command could not run at all.
pub fn reading(exit_code: Option<i64>, oom: bool) -> &'static str {
    match exit_code {
        Some(137) if oom => "killed: OOM",
        Some(137) => "SIGKILL",
        Some(143) => "SIGTERM",
        Some(125..=127) => "could not run",
        _ => "",
    }
}

/// `once`, `twice`, `3 times`.
pub fn times(n: i64) -> String {
    match n {
        1 => "once".into(),
        2 => "twice".into(),
        n => format!("{n} times"),
    }
}

fn line(text: String, count: i64, first_ns: i64, last_ns: i64) -> Line {
    let (first, last) = (first_ns.div_euclid(1_000_000_000), last_ns.div_euclid(1_000_000_000));
    Line { text, since: Some(first), count, first, last }
}

/// The evidence line of a container whose health flapped, when it is over
/// a `[report]` threshold (`flapping_min_times` turns or
/// `flapping_min_unhealthy` in all). A container unhealthy all through the
/// window with no turn is the state's `unhealthy since` line, not this one.
fn flapping(l: &Life, u: &Unhealthy, window: &str, cfg: &ReportConfig) -> Option<Line> {
    let (first, last) = (u.first?, u.last?);
    if u.turns == 0 && u.at_end {
        return None;
    }
    let min_ns = i64::try_from(cfg.flapping_min_unhealthy.as_nanos()).unwrap_or(i64::MAX);
    if u.turns < cfg.flapping_min_times as i64 && u.ns < min_ns {
        return None;
    }
    let total = human_span(u.ns / 1_000_000_000);
    let mut text = if u.turns > 0 {
        format!(
            "{} turned unhealthy {} in {window}, unhealthy for {total} in all (last at {})",
            code(&l.name),
            times(u.turns),
            ns_iso(last)
        )
    } else {
        format!("{} was unhealthy for {total} in {window}", code(&l.name))
    };
    if u.at_start {
        text.push_str("; already unhealthy when the window began");
    }
    match (u.at_end, u.recovered) {
        (true, _) => text.push_str("; still unhealthy"),
        (false, Some(r)) if u.turns == 0 => text.push_str(&format!("; healthy again at {}", ns_iso(r))),
        _ => {}
    }
    Some(line(text, u.turns, first, last))
}

fn ns_iso(ns: i64) -> String {
    iso_utc(ns.div_euclid(1_000_000_000))
}

fn causes(dies: &[&(Option<i64>, i64, bool, bool)]) -> Vec<Cause> {
    let mut by: BTreeMap<(Option<i64>, &'static str), i64> = BTreeMap::new();
    for d in dies {
        *by.entry((d.0, reading(d.0, d.2))).or_default() += 1;
    }
    let mut out: Vec<Cause> =
        by.into_iter().map(|((exit_code, r), times)| Cause { exit_code, reading: r.into(), times }).collect();
    out.sort_by(|a, b| b.times.cmp(&a.times).then(a.exit_code.cmp(&b.exit_code)));
    out
}

fn cause_text(c: &Cause) -> String {
    let code_ = c.exit_code.map(|e| format!("exit {e}")).unwrap_or_else(|| "exit code unknown".into());
    let reading = if c.reading.is_empty() { String::new() } else { format!(" ({})", c.reading) };
    format!("{} {code_}{reading}", times(c.times))
}

/// The window's events of one host, as findings to merge and as figures.
/// `window` is how sentences name the interval `from..=to` the events are
/// counted over: the whole report window, even when the history is shorter
/// (then no event before the first pass is stored to count, but the span
/// between the edge passes, `0s` with one pass, would misstate it).
pub fn find(
    db: &Reader<'_>,
    host_id: i64,
    from: i64,
    to: i64,
    end: &RecordedPass,
    window: &str,
    cfg: &ReportConfig,
) -> Result<(Found, Summary)> {
    // `to` is a whole second: its events run to the end of it.
    let (from_ns, to_ns) = (from.saturating_mul(1_000_000_000), to.saturating_add(1).saturating_mul(1_000_000_000) - 1);
    let rows = db.events_between(host_id, from_ns, to_ns)?;
    // An unhealthy spell still open counts up to the newest pass.
    let end_ns = end.pass.started_at.saturating_mul(1_000_000_000);
    let mut found = Found::default();
    let mut summary = Summary::default();
    // The newest pass's containers by name and stack, looked up once per
    // container with events (the first of a name, as a scan would find).
    let mut newest: BTreeMap<(&str, &str), &crate::store::read::ContainerRow> = BTreeMap::new();
    for c in &end.containers {
        newest.entry((c.name.as_str(), c.stack.as_str())).or_insert(c);
    }
    let present = |l: &Life| newest.get(&(l.name.as_str(), l.stack.as_str())).copied();
    // Containers that came and went, per stack and service (or name).
    let mut jobs: BTreeMap<(StackKey, String), Vec<&Life>> = BTreeMap::new();
    let all = lives(&rows);
    let ran_and_went = |l: &Life| l.destroyed && !l.dies.is_empty() && present(l).is_none();
    // Two reads for all the containers: which of those that ran and went
    // some pass saw, and which of those still present were unhealthy just
    // before the window (the last mark before it says).
    let went: Vec<&str> = all.iter().filter(|l| ran_and_went(l)).map(|l| l.container_id.as_str()).collect();
    let seen = db.containers_seen(host_id, &went)?;
    let still: Vec<&str> = all.iter().filter(|l| present(l).is_some()).map(|l| l.container_id.as_str()).collect();
    let unhealthy_before = db.unhealthy_before(host_id, &still, from_ns)?;
    for l in &all {
        let key = StackKey::new(l.stack_kind, l.stack.clone());
        // A container no pass ever saw came and went between two passes:
        // a job. Whatever it did is told once, as a job.
        if ran_and_went(l) {
            if !seen.contains(&l.container_id) {
                let job = l.service.clone().unwrap_or_else(|| l.name.clone());
                jobs.entry((key.clone(), job)).or_default().push(l);
            }
            continue;
        }
        // OOM kills and restarts of a container that is gone by the newest
        // pass ended with it: the finding clears, as the state-based one does.
        if present(l).is_none() {
            continue;
        }
        if !l.ooms.is_empty() {
            let n = l.ooms.len() as i64;
            let (first, last) = (l.ooms[0], l.ooms[l.ooms.len() - 1]);
            let limit = present(l)
                .and_then(|c| c.stats.mem_limit_bytes)
                .map(|b| format!(" (memory limit {})", units::bytes(b)))
                .unwrap_or_default();
            let restarted = l.dies.iter().filter(|d| d.2 && d.3).count() as i64;
            let after = match restarted {
                r if r >= n => ", restarted each time".to_string(),
                0 => ", not restarted".to_string(),
                r => format!(", restarted {}", times(r)),
            };
            let when = if n == 1 {
                format!("; at {}", ns_iso(first))
            } else {
                format!("; first {}, last {}", ns_iso(first), ns_iso(last))
            };
            let text = format!("{} was OOM-killed {} in {window}{limit}{after}{when}", code(&l.name), times(n));
            found.oom.entry(key.clone()).or_default().push((l.name.clone(), line(text, n, first, last)));
            summary.oom_kills.push(Count {
                container: l.name.clone(),
                stack: l.stack.clone(),
                stack_kind: l.stack_kind,
                times: n,
                first: ns_iso(first),
                last: ns_iso(last),
                causes: Vec::new(),
            });
        }
        let restarts: Vec<_> = l.dies.iter().filter(|d| d.3).collect();
        if !restarts.is_empty() {
            let n = restarts.len() as i64;
            let cs = causes(&restarts);
            let (first, last) = (restarts[0].1, restarts[restarts.len() - 1].1);
            let list: Vec<String> = cs.iter().map(cause_text).collect();
            let text = format!(
                "{} restarted {} in {window}: {}; first {}, last {}",
                code(&l.name),
                times(n),
                list.join(", "),
                ns_iso(first),
                ns_iso(last)
            );
            found.restarting.entry(key.clone()).or_default().push((l.name.clone(), line(text, n, first, last)));
            summary.restarts.push(Count {
                container: l.name.clone(),
                stack: l.stack.clone(),
                stack_kind: l.stack_kind,
                times: n,
                first: ns_iso(first),
                last: ns_iso(last),
                causes: cs,
            });
        }
        // Health: the last mark before the window says whether a spell was
        // already open when it began.
        let before = unhealthy_before.contains(&l.container_id);
        if before || l.health.iter().any(|m| m.1) {
            let u = unhealthy_time(before, &l.health, from_ns, end_ns);
            if let Some(h) = flapping(l, &u, window, cfg) {
                found.unhealthy.entry(key.clone()).or_default().push((l.name.clone(), h));
            }
            if let (Some(first), Some(last)) = (u.first, u.last) {
                summary.unhealthy.push(Health {
                    container: l.name.clone(),
                    stack: l.stack.clone(),
                    stack_kind: l.stack_kind,
                    times: u.turns,
                    unhealthy_seconds: u.ns / 1_000_000_000,
                    first: ns_iso(first),
                    last: ns_iso(last),
                    unhealthy_at_start: u.at_start,
                    unhealthy_at_end: u.at_end,
                });
            }
        }
    }
    for ((StackKey { kind: stack_kind, name: stack }, service), runs) in jobs {
        let dies: Vec<_> = runs.iter().flat_map(|l| l.dies.iter()).collect();
        let failed: Vec<_> = dies.iter().copied().filter(|d| d.0 != Some(0)).collect();
        let last = dies.iter().map(|d| d.1).max().unwrap_or_default();
        let first_failure = failed.iter().map(|d| d.1).min();
        let last_failure = failed.iter().map(|d| d.1).max().unwrap_or_default();
        let name = if runs.iter().all(|l| l.name == runs[0].name) { runs[0].name.clone() } else { service };
        let failures = causes(&failed);
        if let Some(first_failure) = first_failure {
            let n = failed.len() as i64;
            let how = match failures.as_slice() {
                [one] => format!(
                    "failed {} with exit {}{}",
                    times(one.times),
                    one.exit_code.map(|e| e.to_string()).unwrap_or_else(|| "code unknown".into()),
                    if one.reading.is_empty() { String::new() } else { format!(" ({})", one.reading) }
                ),
                many => format!("failed {}: {}", times(n), many.iter().map(cause_text).collect::<Vec<_>>().join(", ")),
            };
            let text = format!(
                "job {} ran {} in {window} and was removed, {how}; last run ended {}",
                code(&name),
                times(dies.len() as i64),
                ns_iso(last)
            );
            found
                .exited
                .entry(StackKey::new(stack_kind, stack.clone()))
                .or_default()
                .push((name.clone(), line(text, n, first_failure, last_failure)));
        }
        summary.jobs.push(Job { name, stack, stack_kind, runs: dies.len() as i64, failures, last: ns_iso(last) });
    }

    let gaps = db.event_gaps_between(host_id, from_ns, to_ns)?;
    if let (Some(first), Some(last)) = (gaps.first(), gaps.last()) {
        let n = gaps.len() as i64;
        let why = if gaps.iter().any(|g| g.reason == "overflow") {
            "the engine keeps only its last few hundred events and dropped some before a pass read them"
        } else if gaps.iter().any(|g| g.reason == "reconnect") {
            "`stackwatch watch` lost the engine's event stream (the engine restarted or went away)"
        } else {
            "the engine's events could not be read"
        };
        summary.gap_sentence = Some(format!(
            "Events may be missing {} in {window} (between {} and {}): {why}, so the counts from events are lower bounds; run `stackwatch collect` more often on this box.",
            times(n),
            ns_iso(first.from_ns),
            ns_iso(last.to_ns)
        ));
        summary.gaps = gaps
            .into_iter()
            .map(|g| Gap { from: ns_iso(g.from_ns), until: ns_iso(g.to_ns), reason: g.reason })
            .collect();
    }
    Ok((found, summary))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, action: &str, at_s: i64, exit: Option<i64>) -> EventRow {
        EventRow {
            container_id: id.into(),
            name: format!("harb-{id}-1"),
            stack_kind: StackKind::Compose,
            stack: "harb".into(),
            service: Some(id.into()),
            action: action.into(),
            exit_code: exit,
            oom: action == "oom",
            at_ns: at_s * 1_000_000_000 + 7,
            health: None,
        }
    }

    #[test]
    fn deaths_read_their_cause_and_restarts_follow_them() {
        let mut rows = Vec::new();
        let mut t = 0;
        for i in 0..14 {
            if i < 12 {
                rows.push(row("web", "oom", t, None));
                rows.push(row("web", "kill", t, None));
                rows.push(row("web", "die", t + 1, Some(137)));
            } else {
                rows.push(row("web", "die", t + 1, Some(1)));
            }
            rows.push(row("web", "start", t + 2, None));
            t += 60;
        }
        let l = &lives(&rows)[0];
        assert_eq!((l.ooms.len(), l.dies.len()), (12, 14));
        let restarts: Vec<_> = l.dies.iter().filter(|d| d.3).collect();
        let text: Vec<String> = causes(&restarts).iter().map(cause_text).collect();
        assert_eq!(text, ["12 times exit 137 (killed: OOM)", "twice exit 1"]);
        assert_eq!(reading(Some(137), false), "SIGKILL");
        assert_eq!(reading(Some(143), false), "SIGTERM");
        assert_eq!(reading(Some(126), false), "could not run");
        assert_eq!(reading(Some(3), false), "");

        // The engine may report the OOM a moment after the exit.
        let rows = vec![row("db", "die", 10, Some(137)), row("db", "oom", 10, None), row("db", "start", 11, None)];
        let l = &lives(&rows)[0];
        assert_eq!(l.dies, [(Some(137), 10_000_000_007, true, true)]);
        let rows = vec![row("db", "oom", 10, None), row("db", "die", 30, Some(137))];
        assert!(!lives(&rows)[0].dies[0].2, "an OOM 20 s earlier is not this death's cause");
    }

    const S: i64 = 1_000_000_000;

    #[test]
    fn unhealthy_spells_are_clipped_to_the_window_and_an_open_one_runs_to_the_end() {
        // Window [100 s, 200 s], the container unhealthy since 90 s (the mark
        // before the window says so): a repeated unhealthy at 105 (no new
        // turn), healthy at 110; unhealthy 120-130 (ended by a die, then a
        // start); unhealthy from 150 on, still at the end.
        let marks =
            [(105 * S, true), (110 * S, false), (120 * S, true), (130 * S, false), (131 * S, false), (150 * S, true)];
        let u = unhealthy_time(true, &marks, 100 * S, 200 * S);
        assert_eq!(u.turns, 2, "already unhealthy at the start: not a turn");
        assert_eq!(u.ns, (10 + 10 + 50) * S, "clipped to the window's start, open up to its end");
        assert_eq!((u.first, u.last, u.recovered), (Some(100 * S), Some(150 * S), Some(130 * S)));
        assert!(u.at_start && u.at_end);

        // The same events with nothing open before the window.
        let u = unhealthy_time(false, &marks, 100 * S, 200 * S);
        assert_eq!((u.turns, u.ns, u.first), (3, (5 + 10 + 50) * S, Some(105 * S)));
        assert!(!u.at_start);

        // An unhealthy event stored after the newest pass (by `watch`) is a
        // turn for no time yet.
        let u = unhealthy_time(false, &[(150 * S, true)], 100 * S, 140 * S);
        assert_eq!((u.turns, u.ns, u.at_end), (1, 0, true));
        // A spell that ends after the end counts up to the end only.
        let u = unhealthy_time(false, &[(120 * S, true), (300 * S, false)], 100 * S, 200 * S);
        assert_eq!((u.turns, u.ns, u.at_end), (1, 80 * S, false));
        // Nothing unhealthy: nothing counted.
        assert_eq!(unhealthy_time(false, &[(120 * S, false)], 100 * S, 200 * S), Unhealthy::default());
    }

    #[test]
    fn flapping_is_a_finding_over_either_threshold_and_one_blip_is_not() {
        let cfg = ReportConfig::default();
        let mut rows = Vec::new();
        let health = |at: i64, h: &str| EventRow {
            health: Some(h.into()),
            at_ns: at * S,
            ..row("web", "health_status", at, None)
        };
        // Five 20-second spells a minute apart.
        for i in 0..5 {
            rows.push(health(1000 + 60 * i, "unhealthy"));
            rows.push(health(1020 + 60 * i, "healthy"));
        }
        let l = &lives(&rows)[0];
        let u = unhealthy_time(false, &l.health, 900 * S, 2000 * S);
        assert_eq!((u.turns, u.ns), (5, 100 * S));
        let f = flapping(l, &u, "24h", &cfg).expect("5 turns is over flapping_min_times");
        assert_eq!(
            f.text,
            format!(
                "`harb-web-1` turned unhealthy 5 times in 24h, unhealthy for 1m 40s in all (last at {})",
                ns_iso(1240 * S)
            )
        );
        assert_eq!((f.count, f.first, f.last), (5, 1000, 1240));

        // One brief blip: no finding.
        let u = unhealthy_time(false, &l.health[..2], 900 * S, 2000 * S);
        assert!(flapping(l, &u, "24h", &cfg).is_none());
        // One long spell, still open: over flapping_min_unhealthy.
        let u = unhealthy_time(false, &l.health[..1], 900 * S, 1000 * S + 11 * 60 * S);
        let f = flapping(l, &u, "24h", &cfg).expect("11 minutes unhealthy");
        assert!(f.text.contains("unhealthy for 11m in all") && f.text.ends_with("; still unhealthy"), "{}", f.text);
        // Unhealthy all through the window with no turn: the state's line says it.
        let u = unhealthy_time(true, &[], 900 * S, 2000 * S);
        assert!(flapping(l, &u, "24h", &cfg).is_none());
        // Unhealthy from before the window, healthy again inside it: two
        // minutes is no finding, twenty are.
        let u = unhealthy_time(true, &l.health[1..2], 900 * S, 2000 * S);
        assert_eq!((u.turns, u.ns), (0, 120 * S));
        assert!(flapping(l, &u, "24h", &cfg).is_none());
        let u = unhealthy_time(true, &l.health[1..2], 1020 * S - 20 * 60 * S, 2000 * S);
        let f = flapping(l, &u, "24h", &cfg).expect("20 minutes unhealthy");
        assert_eq!(
            f.text,
            format!(
                "`harb-web-1` was unhealthy for 20m in 24h; already unhealthy when the window began; healthy again at {}",
                ns_iso(1020 * S)
            )
        );
        assert_eq!(f.count, 0);
    }
}
