//! Container events as the public `container_events` and `event_gaps`
//! views show them, newest first, for `stackwatch mcp`'s `events` tool
//! (the report reads the stored rows through [`super::Reader::events_between`]).

use rusqlite::params;

use super::Reader;

/// Which events to list: those from `since_ns` (Unix nanoseconds) on,
/// optionally of one host, stack or container (by their shown names).
#[derive(Debug, Clone, Copy)]
pub struct EventFilter<'a> {
    pub since_ns: i64,
    pub host: Option<&'a str>,
    pub stack: Option<&'a str>,
    pub container: Option<&'a str>,
}

/// One event, with the names as stored (not yet made inert).
#[derive(Debug, Clone)]
pub struct ListedEvent {
    pub host: String,
    pub stack: Option<String>,
    pub service: Option<String>,
    pub container: Option<String>,
    /// RFC 3339, as the view shows it.
    pub at: String,
    pub action: String,
    pub exit_code: Option<i64>,
    pub signal: Option<String>,
    pub oom: Option<bool>,
    pub health: Option<String>,
    /// Who stored it: `collect` or `watch`.
    pub source: String,
}

/// An interval whose events may be missing.
#[derive(Debug, Clone)]
pub struct ListedGap {
    pub host: String,
    pub missing_from: Option<String>,
    pub missing_until: Option<String>,
    pub reason: String,
}

const FILTER: &str = "at_ns >= ?1 AND (?2 IS NULL OR host = ?2) AND (?3 IS NULL OR stack = ?3)
     AND (?4 IS NULL OR container = ?4)";

impl Reader<'_> {
    /// How many events the filter matches.
    pub fn count_events(&self, f: &EventFilter<'_>) -> rusqlite::Result<i64> {
        self.conn
            .prepare_cached(&format!("SELECT count(*) FROM container_events WHERE {FILTER}"))?
            .query_row(params![f.since_ns, f.host, f.stack, f.container], |r| r.get(0))
    }

    /// The newest `limit` events the filter matches, newest first.
    pub fn newest_events(&self, f: &EventFilter<'_>, limit: i64) -> rusqlite::Result<Vec<ListedEvent>> {
        self.conn
            .prepare_cached(&format!(
                "SELECT host, stack, service, container, at, action, exit_code, signal, oom, health, source
                 FROM container_events WHERE {FILTER} ORDER BY at_ns DESC LIMIT ?5"
            ))?
            .query_map(params![f.since_ns, f.host, f.stack, f.container, limit], |r| {
                Ok(ListedEvent {
                    host: r.get(0)?,
                    stack: r.get(1)?,
                    service: r.get(2)?,
                    container: r.get(3)?,
                    at: r.get(4)?,
                    action: r.get(5)?,
                    exit_code: r.get(6)?,
                    signal: r.get(7)?,
                    oom: r.get(8)?,
                    health: r.get(9)?,
                    source: r.get(10)?,
                })
            })?
            .collect()
    }

    /// The newest `limit` gaps that end at or after `since_ns`, of one host
    /// or of all.
    pub fn newest_event_gaps(&self, since_ns: i64, host: Option<&str>, limit: i64) -> rusqlite::Result<Vec<ListedGap>> {
        self.conn
            .prepare_cached(
                "SELECT host, missing_from, missing_until, reason FROM event_gaps
                 WHERE to_ns >= ?1 AND (?2 IS NULL OR host = ?2) ORDER BY to_ns DESC LIMIT ?3",
            )?
            .query_map(params![since_ns, host, limit], |r| {
                Ok(ListedGap { host: r.get(0)?, missing_from: r.get(1)?, missing_until: r.get(2)?, reason: r.get(3)? })
            })?
            .collect()
    }
}
