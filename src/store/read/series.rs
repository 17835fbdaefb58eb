//! Time series of one stack or object over a window, for `stackwatch mcp`:
//! at most one row per bucket (the bucket's newest sample), so an answer
//! stays a few hundred points whatever the window and the history's tier.

use rusqlite::params;

use super::Reader;

use crate::time::Buckets;

// Every sample in the window, oldest first; [`newest_per_bucket`] thins
// them (a GROUP BY with bare columns is not reliable through these views).
const STACK_SERIES: &str = "SELECT host, sampled_unix, disk_bytes, rw_bytes, log_bytes, volume_bytes,
        mem_bytes, unknown_sizes, pass_id
     FROM stack_disk_history
     WHERE stack = ?1 AND (?2 IS NULL OR host = ?2) AND sampled_unix >= ?3
     ORDER BY host, sampled_unix";
// Only the passes the series kept: `container_history` is keyed by pass
// (README), so each is an index range, where a time range would read every
// container's samples of the whole window.
const STACK_RESTARTS: &str = "SELECT pass_id, SUM(restart_count) FROM container_history
     WHERE pass_id IN (SELECT value FROM json_each(?2)) AND stack = ?1 GROUP BY pass_id";
const VOLUME_SERIES: &str = "SELECT host, sampled_unix, size_bytes, in_use, unsized_reason
     FROM volume_history
     WHERE volume = ?1 AND kind = ?4 AND (?2 IS NULL OR host = ?2) AND sampled_unix >= ?3
     ORDER BY host, sampled_unix";
const CONTAINER_SERIES: &str = "SELECT host, sampled_unix, stack, state, health, restart_count,
        mem_bytes, mem_peak_bytes, rw_bytes, log_bytes
     FROM container_history
     WHERE sampled_unix >= ?3 AND container = ?1 AND (?2 IS NULL OR host = ?2)
     ORDER BY host, sampled_unix";
const NEWEST_PASS: &str = "SELECT MAX(p.started_at) FROM passes p JOIN host_names h ON h.host_id = p.host_id
     WHERE (?1 IS NULL OR h.host = ?1)";
const STACK_NAMES: &str = "SELECT DISTINCT name FROM stacks";
const VOLUME_NAMES: &str = "SELECT DISTINCT name FROM volumes WHERE kind = ?1";
const CONTAINER_NAMES: &str = "SELECT DISTINCT name FROM container_states";
const HOST_NAMES: &str = "SELECT host FROM host_names ORDER BY host";

/// Keeps the newest of each host's samples in each of `buckets`; `rows`
/// come ordered by host, then time.
pub fn newest_per_bucket<T>(rows: Vec<T>, buckets: &Buckets, key: impl Fn(&T) -> (&str, i64)) -> Vec<T> {
    let mut out: Vec<T> = Vec::new();
    for r in rows {
        let (host, at) = key(&r);
        let same = out.last().is_some_and(|l| {
            let (h, t) = key(l);
            h == host && buckets.index(t) == buckets.index(at)
        });
        if same {
            out.pop();
        }
        out.push(r);
    }
    out
}

/// What one series is asked for: a name, optionally one host, and the
/// window's buckets: samples from their start on, one point per bucket.
pub struct Span<'a> {
    pub name: &'a str,
    pub host: Option<&'a str>,
    pub buckets: Buckets,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct StackPoint {
    pub host: String,
    pub at_unix: i64,
    pub disk_bytes: Option<i64>,
    pub rw_bytes: Option<i64>,
    pub log_bytes: Option<i64>,
    pub volume_bytes: Option<i64>,
    pub mem_bytes: Option<i64>,
    pub unknown_sizes: Option<i64>,
    /// Sum of the stack's containers' restart counts at that pass.
    pub restarts: Option<i64>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct VolumePoint {
    pub host: String,
    pub at_unix: i64,
    pub size_bytes: Option<i64>,
    pub in_use: Option<i64>,
    pub unsized_reason: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ContainerPoint {
    pub host: String,
    pub at_unix: i64,
    pub stack: String,
    pub state: Option<String>,
    pub health: Option<String>,
    pub restart_count: Option<i64>,
    pub mem_bytes: Option<i64>,
    pub mem_peak_bytes: Option<i64>,
    pub rw_bytes: Option<i64>,
    pub log_bytes: Option<i64>,
}

impl Reader<'_> {
    pub fn stack_series(&self, s: &Span<'_>) -> rusqlite::Result<Vec<StackPoint>> {
        let rows = self
            .conn
            .prepare_cached(STACK_SERIES)?
            .query_map(params![s.name, s.host, s.buckets.start], |r| {
                Ok((
                    r.get::<_, i64>(8)?,
                    StackPoint {
                        host: r.get(0)?,
                        at_unix: r.get(1)?,
                        disk_bytes: r.get(2)?,
                        rw_bytes: r.get(3)?,
                        log_bytes: r.get(4)?,
                        volume_bytes: r.get(5)?,
                        mem_bytes: r.get(6)?,
                        unknown_sizes: r.get(7)?,
                        restarts: None,
                    },
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut kept = newest_per_bucket(rows, &s.buckets, |(_, p)| (&p.host, p.at_unix));
        let passes = serde_json::to_string(&kept.iter().map(|(id, _)| *id).collect::<Vec<_>>()).unwrap_or_default();
        let mut restarts = std::collections::HashMap::new();
        let mut stmt = self.conn.prepare_cached(STACK_RESTARTS)?;
        let mut rows = stmt.query(params![s.name, passes])?;
        while let Some(r) = rows.next()? {
            restarts.insert(r.get::<_, i64>(0)?, r.get::<_, Option<i64>>(1)?);
        }
        for (id, p) in &mut kept {
            p.restarts = restarts.get(id).copied().flatten();
        }
        Ok(kept.into_iter().map(|(_, p)| p).collect())
    }

    /// `kind`: `volume` or `bind` (then `name` is the host path).
    pub fn volume_series(&self, s: &Span<'_>, kind: &str) -> rusqlite::Result<Vec<VolumePoint>> {
        let rows = self
            .conn
            .prepare_cached(VOLUME_SERIES)?
            .query_map(params![s.name, s.host, s.buckets.start, kind], |r| {
                Ok(VolumePoint {
                    host: r.get(0)?,
                    at_unix: r.get(1)?,
                    size_bytes: r.get(2)?,
                    in_use: r.get(3)?,
                    unsized_reason: r.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(newest_per_bucket(rows, &s.buckets, |p| (&p.host, p.at_unix)))
    }

    pub fn container_series(&self, s: &Span<'_>) -> rusqlite::Result<Vec<ContainerPoint>> {
        let rows = self
            .conn
            .prepare_cached(CONTAINER_SERIES)?
            .query_map(params![s.name, s.host, s.buckets.start], |r| {
                Ok(ContainerPoint {
                    host: r.get(0)?,
                    at_unix: r.get(1)?,
                    stack: r.get(2)?,
                    state: r.get(3)?,
                    health: r.get(4)?,
                    restart_count: r.get(5)?,
                    mem_bytes: r.get(6)?,
                    mem_peak_bytes: r.get(7)?,
                    rw_bytes: r.get(8)?,
                    log_bytes: r.get(9)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(newest_per_bucket(rows, &s.buckets, |p| (&p.host, p.at_unix)))
    }

    /// Time of the newest pass (of `host`, or of any host): a series' window
    /// ends there, as the report's does, so a stopped collector still shows
    /// its last window.
    pub fn newest_pass(&self, host: Option<&str>) -> rusqlite::Result<Option<i64>> {
        self.conn.prepare_cached(NEWEST_PASS)?.query_row([host], |r| r.get(0))
    }

    /// Every name the history knows for `kind` (`stack`, `volume`, `bind`,
    /// `container` or `host`), for near matches when a name is not found.
    pub fn names(&self, kind: &str) -> rusqlite::Result<Vec<String>> {
        let (sql, arg) = match kind {
            "stack" => (STACK_NAMES, None),
            "container" => (CONTAINER_NAMES, None),
            "host" => (HOST_NAMES, None),
            other => (VOLUME_NAMES, Some(other)),
        };
        let mut stmt = self.conn.prepare_cached(sql)?;
        Ok(match arg {
            Some(k) => stmt.query_map([k], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?,
            None => stmt.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_bucket_keeps_its_newest_sample_per_host() {
        // Buckets of 10 s from the window's start at 5: [5, 15), [15, 25), ...
        // (from the epoch, 9 and 14 would be in different ones).
        let rows = vec![("a", 5), ("a", 9), ("a", 14), ("a", 15), ("a", 31), ("b", 6), ("b", 7)];
        let kept = newest_per_bucket(rows, &Buckets { start: 5, width: 10 }, |r| (r.0, r.1));
        assert_eq!(kept, vec![("a", 14), ("a", 15), ("a", 31), ("b", 7)]);
    }
}
