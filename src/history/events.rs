//! What happened between passes, from the stored container events
//! (migration V8): OOM kills counted even when the container runs again
//! with `OOMKilled=false`, restarts with their causes, containers that
//! came and went between two passes, and the intervals whose events may be
//! missing. Kept apart from the state-based symptoms: `symptoms::find` is
//! the one place they meet (an event line replaces the state line of the
//! same container, since it says more).

use std::collections::BTreeMap;

use anyhow::Result;
use rusqlite::Connection;
use serde::Serialize;

use super::pass::RecordedPass;
use crate::model::units;
use crate::store::read;
use crate::store::read::EventRow;
use crate::time::iso_utc;
use crate::untrusted;
use crate::untrusted::markdown::code;

/// An OOM event this close before a `die` is that death's cause...
const OOM_BEFORE_DIE_NS: i64 = 10_000_000_000;
/// ...or this close after it: the engine learns of the exit and of the OOM
/// separately, and can report them in either order.
const OOM_AFTER_DIE_NS: i64 = 1_000_000_000;

type Key = (String, String);
/// (evidence line, first occurrence, bytes), as in `symptoms`.
pub type Entry = (String, Option<i64>, Option<i64>);

/// Event findings per kind and stack, each with the container it is about.
#[derive(Default)]
pub struct Found {
    pub oom: BTreeMap<Key, Vec<(String, Entry)>>,
    pub restarting: BTreeMap<Key, Vec<(String, Entry)>>,
    pub exited: BTreeMap<Key, Vec<(String, Entry)>>,
}

/// The host's event figures for JSON, with the one line about missing events.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub oom_kills: Vec<Count>,
    pub restarts: Vec<Count>,
    /// Containers that came and went (created, ran, removed) inside the window.
    pub jobs: Vec<Job>,
    pub gaps: Vec<Gap>,
    /// One sentence when events may be missing in the window.
    pub gap_sentence: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Count {
    pub container: String,
    pub stack: String,
    pub stack_kind: String,
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
    pub stack_kind: String,
    pub runs: i64,
    pub failures: Vec<Cause>,
    pub last: String,
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
        let fix = |s: &mut String| *s = untrusted::line(s, 200);
        for c in self.oom_kills.iter_mut().chain(self.restarts.iter_mut()) {
            fix(&mut c.container);
            fix(&mut c.stack);
        }
        for j in &mut self.jobs {
            fix(&mut j.name);
            fix(&mut j.stack);
        }
    }
}

/// One container's life in the window, from its events in time order.
#[derive(Default)]
struct Life {
    container_id: String,
    name: String,
    stack_kind: String,
    stack: String,
    service: Option<String>,
    ooms: Vec<i64>,
    /// (exit code, at, caused by an OOM kill, followed by a start).
    dies: Vec<(Option<i64>, i64, bool, bool)>,
    destroyed: bool,
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
                stack_kind: r.stack_kind.clone(),
                stack: r.stack.clone(),
                service: r.service.clone(),
                ..Default::default()
            });
        }
        let life = out.last_mut().expect("pushed above");
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

/// Per container (by name) of `rows`, its OOM kills and its restarts by
/// cause: what the metrics count.
pub fn tallies(rows: &[EventRow]) -> BTreeMap<String, (i64, Vec<Cause>)> {
    let mut out = BTreeMap::new();
    for l in lives(rows) {
        let restarts: Vec<_> = l.dies.iter().filter(|d| d.3).collect();
        out.insert(l.name.clone(), (l.ooms.len() as i64, causes(&restarts)));
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
pub fn find(
    conn: &Connection,
    host_id: i64,
    from: i64,
    to: i64,
    end: &RecordedPass,
    span: &str,
) -> Result<(Found, Summary)> {
    // `to` is a whole second: its events run to the end of it.
    let (from_ns, to_ns) = (from.saturating_mul(1_000_000_000), to.saturating_add(1).saturating_mul(1_000_000_000) - 1);
    let rows = read::events_between(conn, host_id, from_ns, to_ns)?;
    let mut found = Found::default();
    let mut summary = Summary::default();
    let present = |l: &Life| end.containers.iter().find(|c| c.name == l.name && c.stack == l.stack);
    // Containers that came and went, per stack and service (or name).
    let mut jobs: BTreeMap<(String, String, String), Vec<&Life>> = BTreeMap::new();
    let all = lives(&rows);
    for l in &all {
        let key = (l.stack_kind.clone(), l.stack.clone());
        // A container no pass ever saw came and went between two passes:
        // a job. Whatever it did is told once, as a job.
        if l.destroyed && !l.dies.is_empty() && present(l).is_none() {
            if !read::container_seen(conn, host_id, &l.container_id)? {
                let job = l.service.clone().unwrap_or_else(|| l.name.clone());
                jobs.entry((l.stack_kind.clone(), l.stack.clone(), job)).or_default().push(l);
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
            let text = format!("{} was OOM-killed {} in {span}{limit}{after}{when}", code(&l.name), times(n));
            found.oom.entry(key.clone()).or_default().push((l.name.clone(), (text, Some(first / 1_000_000_000), None)));
            summary.oom_kills.push(Count {
                container: l.name.clone(),
                stack: l.stack.clone(),
                stack_kind: l.stack_kind.clone(),
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
                "{} restarted {} in {span}: {}; first {}, last {}",
                code(&l.name),
                times(n),
                list.join(", "),
                ns_iso(first),
                ns_iso(last)
            );
            found
                .restarting
                .entry(key.clone())
                .or_default()
                .push((l.name.clone(), (text, Some(first / 1_000_000_000), None)));
            summary.restarts.push(Count {
                container: l.name.clone(),
                stack: l.stack.clone(),
                stack_kind: l.stack_kind.clone(),
                times: n,
                first: ns_iso(first),
                last: ns_iso(last),
                causes: cs,
            });
        }
    }
    for ((stack_kind, stack, service), runs) in jobs {
        let dies: Vec<_> = runs.iter().flat_map(|l| l.dies.iter()).collect();
        let failed: Vec<_> = dies.iter().copied().filter(|d| d.0 != Some(0)).collect();
        let last = dies.iter().map(|d| d.1).max().unwrap_or_default();
        let first_failure = failed.iter().map(|d| d.1).min();
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
                "job {} ran {} in {span} and was removed, {how}; last run ended {}",
                code(&name),
                times(dies.len() as i64),
                ns_iso(last)
            );
            found
                .exited
                .entry((stack_kind.clone(), stack.clone()))
                .or_default()
                .push((name.clone(), (text, Some(first_failure / 1_000_000_000), None)));
        }
        summary.jobs.push(Job { name, stack, stack_kind, runs: dies.len() as i64, failures, last: ns_iso(last) });
    }

    let gaps = read::event_gaps_between(conn, host_id, from_ns, to_ns)?;
    if let (Some(first), Some(last)) = (gaps.first(), gaps.last()) {
        let n = gaps.len() as i64;
        let why = if gaps.iter().any(|g| g.2 == "overflow") {
            "the engine keeps only its last few hundred events and dropped some before a pass read them"
        } else if gaps.iter().any(|g| g.2 == "reconnect") {
            "`stackwatch watch` lost the engine's event stream (the engine restarted or went away)"
        } else {
            "the engine's events could not be read"
        };
        summary.gap_sentence = Some(format!(
            "Events may be missing {} in {span} (between {} and {}): {why}, so the counts from events are lower bounds; run `stackwatch collect` more often on this box.",
            times(n),
            ns_iso(first.0),
            ns_iso(last.1)
        ));
        summary.gaps =
            gaps.into_iter().map(|(f, t, reason)| Gap { from: ns_iso(f), until: ns_iso(t), reason }).collect();
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
            stack_kind: "compose".into(),
            stack: "harb".into(),
            service: Some(id.into()),
            action: action.into(),
            exit_code: exit,
            oom: action == "oom",
            at_ns: at_s * 1_000_000_000 + 7,
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
}
