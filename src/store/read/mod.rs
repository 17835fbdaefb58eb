//! Reading the history back, as typed rows, through a [`Reader`]: what a
//! window's passes hold (for the read model in `history`), the size state
//! and previous pass a collect starts from, events, and what prunes
//! removed. Every query is keyed by a pass id or an object id, so each is
//! an index range scan. [`series`] reads one stack's or object's time
//! series over a window (MCP), [`charts`] what the dashboard's charts
//! draw, and [`listing`] the newest events as the public views show them.

pub mod charts;
pub mod listing;
pub mod series;

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::{Connection, OptionalExtension, params};

use crate::model::labels::{Labels, NameList};
use crate::model::snapshot::{ContainerState, MountKind, StackKey, StackKind, Stats};

/// One consistent view of the history: every read of a report, a page or
/// a scrape goes through one, so all of them see the same passes even
/// while a collect commits a new one (a deferred read transaction, rolled
/// back when dropped: it never writes).
pub struct Reader<'a> {
    conn: rusqlite::Transaction<'a>,
}

impl<'a> Reader<'a> {
    pub(super) fn new(conn: &'a Connection) -> rusqlite::Result<Reader<'a>> {
        Ok(Reader { conn: conn.unchecked_transaction()? })
    }
}

pub(super) const HOST_ID: &str = "SELECT id FROM hosts WHERE engine_id = ?1";
const SIZE_STATE: &str = "SELECT ss.kind, ss.object, ss.size_bytes, ss.method, ss.measured_at, ss.attempted_at,
        ss.walk_ms, ss.walk_files, ss.unsized_reason FROM size_state ss JOIN hosts h ON h.id = ss.host_id WHERE h.engine_id = ?1";

pub const COUNT_TABLES: &str = "SELECT count(*) FROM sqlite_master WHERE type IN ('table', 'view')";
pub const HAS_MIGRATION_TABLE: &str =
    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'refinery_schema_history'";
pub const MAX_MIGRATION: &str = "SELECT COALESCE(MAX(version), 0) FROM refinery_schema_history";

const PREVIOUS_PASS_START: &str =
    "SELECT MAX(p.started_at) FROM passes p JOIN hosts h ON h.id = p.host_id WHERE h.engine_id = ?1";

/// What prunes removed on a host in `[from, to]`, per object kind (a prune in
/// the same second as the window's first pass counts: passes have second resolution).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrunedRow {
    pub kind: String,
    pub objects: i64,
    /// Sum of the known sizes; `unknown` counts the objects without one.
    pub bytes: i64,
    pub unknown: i64,
}

// ---------------------------------------------------------------------------
// Reading the history back (report). Every query is keyed by a pass id or an
// object id, so each is an index range scan, never a table scan.
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct HostRow {
    pub host_id: i64,
    /// The `host` of the views: the hostname, with the start of the engine
    /// ID appended when two engines in this history share a hostname.
    pub hostname: String,
    pub engine_id: String,
    pub latest_pass: i64,
}

#[derive(Debug, Clone, Copy)]
pub struct PassRow {
    pub id: i64,
    pub started_at: i64,
    pub fs_total: Option<i64>,
    pub fs_used: Option<i64>,
    pub fs_free: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct StackRow {
    pub kind: StackKind,
    pub name: String,
    pub containers: i64,
    pub running: i64,
    pub rw_bytes: Option<i64>,
    pub log_bytes: Option<i64>,
    pub volume_bytes: Option<i64>,
    pub disk_bytes: Option<i64>,
    pub unknown_sizes: i64,
    pub mem_bytes: Option<i64>,
    /// Compose's working directory and config files, the newest known.
    pub working_dir: Option<String>,
    pub config_files: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ContainerRow {
    pub container_ref: i64,
    pub name: String,
    pub stack_kind: StackKind,
    pub stack: String,
    pub service: Option<String>,
    pub image: String,
    pub state: ContainerState,
    pub health: Option<String>,
    pub restart_count: Option<i64>,
    pub exit_code: Option<i64>,
    pub oom_killed: Option<bool>,
    pub started_at: Option<i64>,
    pub rw_bytes: Option<i64>,
    /// When `rw_bytes` was measured (carried forward between measurements).
    pub rw_measured_at: Option<i64>,
    pub log_bytes: Option<i64>,
    pub labels: Labels,
    /// All unknown when it was not running (no stats for a stopped container).
    pub stats: Stats,
}

/// A stack a volume or bind mount belongs to, and how it was found to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeOwner {
    pub kind: StackKind,
    pub stack: String,
    /// `label` (the stack's own label on the volume) or `mount`.
    pub via: String,
}

impl StackRow {
    pub fn key(&self) -> StackKey {
        StackKey { kind: self.kind, name: self.name.clone() }
    }
}

impl ContainerRow {
    /// The stack the container belongs to.
    pub fn stack_key(&self) -> StackKey {
        StackKey { kind: self.stack_kind, name: self.stack.clone() }
    }
}

impl VolumeOwner {
    pub fn key(&self) -> StackKey {
        StackKey { kind: self.kind, name: self.stack.clone() }
    }

    pub fn is(&self, stack: &StackKey) -> bool {
        self.kind == stack.kind && self.stack == stack.name
    }
}

#[derive(Debug, Clone)]
pub struct VolumeRow {
    pub volume_ref: i64,
    pub name: String,
    pub size_bytes: Option<i64>,
    pub in_use: bool,
    pub mounted_by: NameList,
    pub labels: Labels,
    pub stacks: Vec<VolumeOwner>,
    /// When `size_bytes` was last measured (sizes are carried forward between measurements).
    pub size_measured_at: Option<i64>,
    pub kind: MountKind,
    /// Binds: every container mounts it read-only.
    pub read_only: Option<bool>,
    /// Why the size is never measured (binds of system paths, sockets, ...).
    pub unsized_reason: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ImageRow {
    pub image_ref: i64,
    pub image_id: String,
    pub tags: NameList,
    pub size: Option<i64>,
    pub containers: i64,
    pub managed: bool,
    pub labels: Labels,
}

const HOSTS: &str =
    "SELECT h.host_id, h.host, h.engine_id, MAX(p.id) FROM host_names h JOIN passes p ON p.host_id = h.host_id
     GROUP BY h.host_id ORDER BY h.host, h.engine_id";
const PASS_BY_ID: &str =
    "SELECT id, started_at, fs_total_bytes, fs_used_bytes, fs_free_bytes FROM passes WHERE id = ?1";
const PASS_AT_OR_BEFORE: &str = "SELECT id, started_at, fs_total_bytes, fs_used_bytes, fs_free_bytes FROM passes
     WHERE host_id = ?1 AND started_at <= ?2 ORDER BY started_at DESC, id DESC LIMIT 1";
const FIRST_PASS: &str = "SELECT id, started_at, fs_total_bytes, fs_used_bytes, fs_free_bytes FROM passes
     WHERE host_id = ?1 ORDER BY started_at, id LIMIT 1";
const PASSES_BETWEEN: &str = "SELECT count(*) FROM passes WHERE host_id = ?1 AND started_at BETWEEN ?2 AND ?3";

const STACKS_IN: &str =
    "SELECT s.kind, s.name, ss.containers, ss.running, ss.rw_bytes, ss.log_bytes, ss.volume_bytes, ss.disk_bytes,
                ss.unknown_sizes, ss.mem_bytes, s.working_dir, s.config_files
         FROM stack_samples ss JOIN stacks s ON s.id = ss.stack_id WHERE ss.pass_id = ?1";
// The state of an object at a pass is its change row with the greatest
// pass_id at or before it (migration V5).
const CONTAINERS_IN: &str =
    "SELECT cs.container_ref, st.name, s.kind, s.name, c.service, c.image, st.state, st.health, st.restart_count,
                st.exit_code, st.oom_killed, st.started_at, cs.rw_bytes, cs.log_bytes, c.labels, cs.cpu_ns, cs.mem_bytes,
                st.mem_limit_bytes, cs.net_rx_bytes, cs.net_tx_bytes, cs.blkio_read_bytes, cs.blkio_write_bytes, cs.pids,
                cs.rw_measured_at
         FROM container_samples cs JOIN containers c ON c.id = cs.container_ref JOIN stacks s ON s.id = c.stack_id
         JOIN container_states st ON st.container_ref = cs.container_ref
          AND st.pass_id = (SELECT MAX(x.pass_id) FROM container_states x
                            WHERE x.container_ref = cs.container_ref AND x.pass_id <= cs.pass_id)
         WHERE cs.sample_key BETWEEN ?1 << 32 AND (?1 << 32) + 4294967295";
/// One row per volume and stack it belongs to (one with NULL stack when it
/// belongs to none), in volume order.
const VOLUMES_IN: &str = "SELECT v.id, v.name, sz.size_bytes, st.in_use, st.mounted_by, v.labels,
            MIN(COALESCE(sz.checked_at, sz.measured_at), p.started_at + (p.duration_ms + 999) / 1000),
            s.kind, s.name, vst.via, v.kind, st.read_only, sz.unsized_reason
         FROM passes p
         JOIN volume_spans sp ON sp.host_id = p.host_id AND p.id BETWEEN sp.first_pass AND sp.last_pass
         JOIN volumes v ON v.id = sp.volume_ref
         JOIN volume_states st ON st.volume_ref = v.id
          AND st.pass_id = (SELECT MAX(x.pass_id) FROM volume_states x WHERE x.volume_ref = v.id AND x.pass_id <= p.id)
         LEFT JOIN volume_sizes sz ON sz.volume_ref = v.id
          AND sz.pass_id = (SELECT MAX(x.pass_id) FROM volume_sizes x WHERE x.volume_ref = v.id AND x.pass_id <= p.id)
         LEFT JOIN volume_stacks vst ON vst.volume_ref = v.id AND vst.pass_id = st.pass_id
         LEFT JOIN stacks s ON s.id = vst.stack_id
         WHERE p.id = ?1 AND st.present = 1
         ORDER BY v.id, vst.stack_id";
/// CROSS JOIN keeps the planner on the spans first: it would rather walk
/// every image state and test each against the pass.
const IMAGES_IN: &str = "SELECT i.id, i.image_id, st.tags, st.size_bytes, st.containers, st.managed, i.labels
         FROM passes p
         CROSS JOIN image_spans sp ON sp.host_id = p.host_id AND p.id BETWEEN sp.first_pass AND sp.last_pass
         CROSS JOIN images i ON i.id = sp.image_ref
         JOIN image_states st ON st.image_ref = i.id
          AND st.pass_id = (SELECT MAX(x.pass_id) FROM image_states x WHERE x.image_ref = i.id AND x.pass_id <= p.id)
         WHERE p.id = ?1 AND st.present = 1";
// The image refs come as one JSON array (`json_each`), so a pass's unused
// images are one statement: an index range of `image_stacks` per image.
// Two stacks of one name come in the order of their kinds.
const IMAGE_PAST_STACKS: &str =
    "SELECT DISTINCT ist.image_ref, s.kind, s.name FROM image_stacks ist JOIN stacks s ON s.id = ist.stack_id
         WHERE ist.image_ref IN (SELECT value FROM json_each(?1)) ORDER BY ist.image_ref, s.name, s.kind";
// The container refs come as one JSON array, as above.
const UNHEALTHY_SINCE: &str = "SELECT st.container_ref, MIN(p.started_at)
         FROM container_states st JOIN passes p ON p.id = st.pass_id
         WHERE st.container_ref IN (SELECT value FROM json_each(?1)) AND st.health = 'unhealthy'
           AND st.pass_id > COALESCE((SELECT MAX(x.pass_id) FROM container_states x
                                      WHERE x.container_ref = st.container_ref
                                        AND (x.health IS NULL OR x.health <> 'unhealthy')), 0)
         GROUP BY st.container_ref";

const FILESYSTEMS_IN: &str = "SELECT f.device, f.mount_point, fs.total_bytes, fs.used_bytes, fs.free_bytes,
        fs.docker_root FROM filesystem_samples fs JOIN filesystems f ON f.id = fs.fs_ref
     WHERE fs.pass_id = ?1 ORDER BY f.mount_point";
const DOCKER_TOTALS_IN: &str = "SELECT images_bytes, build_cache_bytes, docker_totals_at FROM passes WHERE id = ?1";

/// The queries a report or a scrape runs over the history whose plans must
/// stay index range scans (the EXPLAIN QUERY PLAN test in
/// tests/offline/retention.rs).
pub const WINDOW_QUERIES: [(&str, &str); 16] = [
    ("filesystems in pass", FILESYSTEMS_IN),
    ("docker totals in pass", DOCKER_TOTALS_IN),
    ("hosts", HOSTS),
    ("pass by id", PASS_BY_ID),
    ("pass at or before", PASS_AT_OR_BEFORE),
    ("first pass", FIRST_PASS),
    ("passes between", PASSES_BETWEEN),
    ("stacks in pass", STACKS_IN),
    ("containers in pass", CONTAINERS_IN),
    ("volumes in pass", VOLUMES_IN),
    ("images in pass", IMAGES_IN),
    ("image past stacks", IMAGE_PAST_STACKS),
    ("unhealthy since", UNHEALTHY_SINCE),
    ("containers seen", CONTAINERS_SEEN),
    ("unhealthy before", UNHEALTHY_BEFORE),
    ("events of a pass's containers", EVENTS_OF_PASS_CONTAINERS),
];

/// A filesystem as one pass saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilesystemRow {
    pub device: i64,
    pub mount_point: String,
    pub total: i64,
    pub used: i64,
    pub free: i64,
    /// Holds the engine's root directory.
    pub docker_root: bool,
}

/// A list bound as one parameter: a JSON array for `json_each`.
fn json_list<T: serde::Serialize>(items: &[T]) -> rusqlite::Result<String> {
    serde_json::to_string(items).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

fn pass_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PassRow> {
    Ok(PassRow { id: r.get(0)?, started_at: r.get(1)?, fs_total: r.get(2)?, fs_used: r.get(3)?, fs_free: r.get(4)? })
}

/// What the metrics say about a pass itself.
#[derive(Debug, Clone)]
pub struct PassInfo {
    pub hostname: String,
    pub duration_ms: i64,
    pub engine_version: String,
    pub api_version: String,
    pub error_count: i64,
}

// ---------------------------------------------------------------------------
// Container events (migration V8), for the report.

/// One stored container event.
#[derive(Debug, Clone)]
pub struct EventRow {
    pub container_id: String,
    pub name: String,
    pub stack_kind: StackKind,
    pub stack: String,
    pub service: Option<String>,
    pub action: String,
    pub exit_code: Option<i64>,
    pub oom: bool,
    pub at_ns: i64,
    /// The new status of a `health_status` event.
    pub health: Option<String>,
}

/// An interval whose events may be missing, as stored (Unix nanoseconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GapRow {
    pub from_ns: i64,
    pub to_ns: i64,
    /// `overflow`, `unreadable` or `reconnect` (see the model's `EventGap`).
    pub reason: String,
}

/// The columns [`event_row`] reads, in its order.
macro_rules! event_columns {
    () => {
        "SELECT container_id, name, COALESCE(stack_kind, 'standalone'), COALESCE(stack, name),
        service, action, exit_code, oom, at_ns, health FROM event_rows"
    };
}
// For the queries of [`charts`] that read events.
use event_columns;

fn event_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<EventRow> {
    Ok(EventRow {
        container_id: r.get(0)?,
        name: r.get(1)?,
        stack_kind: r.get(2)?,
        stack: r.get(3)?,
        service: r.get(4)?,
        action: r.get(5)?,
        exit_code: r.get(6)?,
        oom: r.get(7)?,
        at_ns: r.get(8)?,
        health: r.get(9)?,
    })
}

const EVENTS_BETWEEN: &str =
    concat!(event_columns!(), " WHERE host_id = ?1 AND at_ns BETWEEN ?2 AND ?3 ORDER BY container_id, at_ns");

// The container IDs asked about come as one JSON array (`json_each`).
const CONTAINERS_SEEN: &str = "SELECT container_id FROM containers
     WHERE host_id = ?1 AND container_id IN (SELECT value FROM json_each(?2))";

// One statement for a pass's containers: their IDs, then each one's events
// as a primary-key range, in key order (container, time, action).
const EVENTS_OF_PASS_CONTAINERS: &str = concat!(
    event_columns!(),
    " WHERE host_id = ?1 AND container_id IN (SELECT c.container_id FROM container_spans sp
         JOIN containers c ON c.id = sp.container_ref
         WHERE sp.host_id = ?1 AND sp.last_pass >= ?2 AND sp.first_pass <= ?2)
     ORDER BY container_id, at_ns, action"
);

// Per container ID of the JSON array, its last mark before `?3` (the
// primary key read backwards, so of two marks at the same nanosecond the
// greater action counts); the IDs whose last mark said unhealthy.
const UNHEALTHY_BEFORE: &str = "SELECT json_each.value FROM json_each(?2)
     WHERE (SELECT e.action = 'health_status' AND e.health = 'unhealthy' FROM event_rows e
            WHERE e.host_id = ?1 AND e.container_id = json_each.value AND e.at_ns < ?3
              AND e.action IN ('health_status', 'die', 'destroy', 'start')
            ORDER BY e.at_ns DESC, e.action DESC LIMIT 1)";

const EVENT_GAPS_BETWEEN: &str = "SELECT from_ns, to_ns, reason FROM event_gap_rows
     WHERE host_id = ?1 AND to_ns >= ?2 AND from_ns <= ?3 ORDER BY from_ns";

/// What a database holds, in a line of `doctor`.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    /// The newest migration applied.
    pub schema: i64,
    pub passes: i64,
    /// When the newest pass started.
    pub newest_at: Option<i64>,
}

impl Reader<'_> {
    /// When the latest recorded pass of an engine started; `None` before its
    /// first (collect asks the engine what happened since).
    pub fn previous_pass_start(&self, engine_id: &str) -> rusqlite::Result<Option<i64>> {
        self.conn.prepare_cached(PREVIOUS_PASS_START)?.query_row([engine_id], |r| r.get(0))
    }

    /// What was last measured of each volume and writable layer on an engine.
    pub fn size_state(&self, engine_id: &str) -> rusqlite::Result<crate::model::sizes::State> {
        self.conn
            .prepare_cached(SIZE_STATE)?
            .query_map([engine_id], |r| {
                Ok((
                    (r.get::<_, String>(0)?, r.get::<_, String>(1)?),
                    crate::model::sizes::Known {
                        bytes: r.get(2)?,
                        method: r.get(3)?,
                        measured_at: r.get(4)?,
                        attempted_at: r.get(5)?,
                        walk_ms: r.get(6)?,
                        walk_files: r.get(7)?,
                        unsized_reason: r.get(8)?,
                    },
                ))
            })?
            .collect()
    }

    /// The host row of an engine when it has one (read-only callers).
    pub fn find_host(&self, engine_id: &str) -> rusqlite::Result<Option<i64>> {
        self.conn.query_row(HOST_ID, [engine_id], |r| r.get(0)).optional()
    }

    /// Stacks whose containers ever ran an image, by the engine's image id.
    pub fn image_stacks_by_id(&self, host_id: i64, image_id: &str) -> rusqlite::Result<Vec<String>> {
        self.conn
            .prepare_cached(
                "SELECT DISTINCT s.name FROM images i JOIN image_stacks ist ON ist.image_ref = i.id
             JOIN stacks s ON s.id = ist.stack_id WHERE i.host_id = ?1 AND i.image_id = ?2 ORDER BY s.name",
            )?
            .query_map(params![host_id, image_id], |r| r.get(0))?
            .collect()
    }

    /// Empty when the database predates prunes (a report reads it unmigrated).
    pub fn pruned_between(&self, host_id: i64, from: i64, to: i64) -> rusqlite::Result<Vec<PrunedRow>> {
        let has: i64 = self.conn.query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'prune_removals'",
            [],
            |r| r.get(0),
        )?;
        if has == 0 {
            return Ok(Vec::new());
        }
        self.conn
            .prepare_cached(
                "SELECT r.object_kind, count(*), COALESCE(SUM(r.size_bytes), 0), count(*) - count(r.size_bytes)
             FROM prune_removals r JOIN prune_runs pr ON pr.id = r.run_id
             WHERE pr.host_id = ?1 AND r.removed_at >= ?2 AND r.removed_at <= ?3
             GROUP BY r.object_kind ORDER BY r.object_kind",
            )?
            .query_map(params![host_id, from, to], |r| {
                Ok(PrunedRow { kind: r.get(0)?, objects: r.get(1)?, bytes: r.get(2)?, unknown: r.get(3)? })
            })?
            .collect()
    }

    pub fn summary(&self) -> rusqlite::Result<Summary> {
        self.conn.query_row(
            &format!("SELECT ({MAX_MIGRATION}), (SELECT count(*) FROM passes), (SELECT MAX(started_at) FROM passes)"),
            [],
            |r| Ok(Summary { schema: r.get(0)?, passes: r.get(1)?, newest_at: r.get(2)? }),
        )
    }

    pub fn filesystems_in(&self, pass_id: i64) -> rusqlite::Result<Vec<FilesystemRow>> {
        self.conn
            .prepare_cached(FILESYSTEMS_IN)?
            .query_map([pass_id], |r| {
                Ok(FilesystemRow {
                    device: r.get(0)?,
                    mount_point: r.get(1)?,
                    total: r.get(2)?,
                    used: r.get(3)?,
                    free: r.get(4)?,
                    docker_root: r.get(5)?,
                })
            })?
            .collect()
    }

    pub fn docker_totals_in(&self, pass_id: i64) -> rusqlite::Result<crate::model::snapshot::DockerTotals> {
        self.conn.prepare_cached(DOCKER_TOTALS_IN)?.query_row([pass_id], |r| {
            Ok(crate::model::snapshot::DockerTotals {
                images_bytes: r.get(0)?,
                build_cache_bytes: r.get(1)?,
                measured_at: r.get(2)?,
            })
        })
    }

    pub fn hosts(&self) -> rusqlite::Result<Vec<HostRow>> {
        self.conn
            .prepare_cached(HOSTS)?
            .query_map([], |r| {
                Ok(HostRow { host_id: r.get(0)?, hostname: r.get(1)?, engine_id: r.get(2)?, latest_pass: r.get(3)? })
            })?
            .collect()
    }

    pub fn pass(&self, id: i64) -> rusqlite::Result<PassRow> {
        self.conn.prepare_cached(PASS_BY_ID)?.query_row([id], pass_row)
    }

    pub fn pass_info(&self, id: i64) -> rusqlite::Result<PassInfo> {
        self.conn
            .prepare_cached(
                "SELECT hostname, duration_ms, engine_version, api_version, error_count FROM passes WHERE id = ?1",
            )?
            .query_row([id], |r| {
                Ok(PassInfo {
                    hostname: r.get(0)?,
                    duration_ms: r.get(1)?,
                    engine_version: r.get(2)?,
                    api_version: r.get(3)?,
                    error_count: r.get(4)?,
                })
            })
    }

    /// The newest pass of a host at or before `at` (the window's start edge).
    pub fn pass_at_or_before(&self, host_id: i64, at: i64) -> rusqlite::Result<Option<PassRow>> {
        self.conn.prepare_cached(PASS_AT_OR_BEFORE)?.query_row(params![host_id, at], pass_row).optional()
    }

    /// A host's oldest pass, when the history is shorter than the window.
    pub fn first_pass(&self, host_id: i64) -> rusqlite::Result<PassRow> {
        self.conn.prepare_cached(FIRST_PASS)?.query_row([host_id], pass_row)
    }

    pub fn passes_between(&self, host_id: i64, from: i64, to: i64) -> rusqlite::Result<i64> {
        self.conn.prepare_cached(PASSES_BETWEEN)?.query_row(params![host_id, from, to], |r| r.get(0))
    }

    pub fn stacks_in(&self, pass_id: i64) -> rusqlite::Result<Vec<StackRow>> {
        self.conn
            .prepare_cached(STACKS_IN)?
            .query_map([pass_id], |r| {
                Ok(StackRow {
                    kind: r.get(0)?,
                    name: r.get(1)?,
                    containers: r.get(2)?,
                    running: r.get(3)?,
                    rw_bytes: r.get(4)?,
                    log_bytes: r.get(5)?,
                    volume_bytes: r.get(6)?,
                    disk_bytes: r.get(7)?,
                    unknown_sizes: r.get(8)?,
                    mem_bytes: r.get(9)?,
                    working_dir: r.get(10)?,
                    config_files: r.get(11)?,
                })
            })?
            .collect()
    }

    pub fn containers_in(&self, pass_id: i64) -> rusqlite::Result<Vec<ContainerRow>> {
        self.conn
            .prepare_cached(CONTAINERS_IN)?
            .query_map([pass_id], |r| {
                Ok(ContainerRow {
                    container_ref: r.get(0)?,
                    name: r.get(1)?,
                    stack_kind: r.get(2)?,
                    stack: r.get(3)?,
                    service: r.get(4)?,
                    image: r.get(5)?,
                    state: r.get(6)?,
                    health: r.get(7)?,
                    restart_count: r.get(8)?,
                    exit_code: r.get(9)?,
                    oom_killed: r.get(10)?,
                    started_at: r.get(11)?,
                    rw_bytes: r.get(12)?,
                    log_bytes: r.get(13)?,
                    labels: r.get(14)?,
                    stats: Stats {
                        cpu_ns: r.get(15)?,
                        mem_bytes: r.get(16)?,
                        mem_limit_bytes: r.get(17)?,
                        net_rx_bytes: r.get(18)?,
                        net_tx_bytes: r.get(19)?,
                        blkio_read_bytes: r.get(20)?,
                        blkio_write_bytes: r.get(21)?,
                        pids: r.get(22)?,
                    },
                    rw_measured_at: r.get(23)?,
                })
            })?
            .collect()
    }

    pub fn volumes_in(&self, pass_id: i64) -> rusqlite::Result<Vec<VolumeRow>> {
        let mut rows: Vec<VolumeRow> = Vec::new();
        for row in self.conn.prepare_cached(VOLUMES_IN)?.query_map([pass_id], |r| {
            let link = match (r.get(7)?, r.get(8)?, r.get(9)?) {
                (Some(kind), Some(stack), Some(via)) => Some(VolumeOwner { kind, stack, via }),
                _ => None,
            };
            let v = VolumeRow {
                volume_ref: r.get(0)?,
                name: r.get(1)?,
                size_bytes: r.get(2)?,
                in_use: r.get(3)?,
                mounted_by: r.get(4)?,
                labels: r.get(5)?,
                stacks: Vec::new(),
                size_measured_at: r.get(6)?,
                kind: MountKind::parse(&r.get::<_, String>(10)?),
                read_only: r.get(11)?,
                unsized_reason: r.get(12)?,
            };
            Ok((v, link))
        })? {
            let (v, link) = row?;
            // A volume with several stacks comes as consecutive rows.
            if rows.last().is_none_or(|last| last.volume_ref != v.volume_ref) {
                rows.push(v);
            }
            if let (Some(link), Some(last)) = (link, rows.last_mut()) {
                last.stacks.push(link);
            }
        }
        Ok(rows)
    }

    pub fn images_in(&self, pass_id: i64) -> rusqlite::Result<Vec<ImageRow>> {
        self.conn
            .prepare_cached(IMAGES_IN)?
            .query_map([pass_id], |r| {
                Ok(ImageRow {
                    image_ref: r.get(0)?,
                    image_id: r.get(1)?,
                    tags: r.get(2)?,
                    size: r.get(3)?,
                    containers: r.get(4)?,
                    managed: r.get(5)?,
                    labels: r.get(6)?,
                })
            })?
            .collect()
    }

    /// Stacks whose containers ever ran each of `image_refs`, by name: an
    /// unused image left over from an upgrade still belongs to the stack that
    /// ran it. Every image asked about has an entry, empty when no stack ran it.
    pub fn image_past_stacks(&self, image_refs: &[i64]) -> rusqlite::Result<BTreeMap<i64, Vec<StackKey>>> {
        let mut out: BTreeMap<i64, Vec<StackKey>> = image_refs.iter().map(|r| (*r, Vec::new())).collect();
        let mut q = self.conn.prepare_cached(IMAGE_PAST_STACKS)?;
        let rows = q.query_map([json_list(image_refs)?], |r| {
            Ok((r.get::<_, i64>(0)?, StackKey { kind: r.get(1)?, name: r.get(2)? }))
        })?;
        for row in rows {
            let (image_ref, stack) = row?;
            out.entry(image_ref).or_default().push(stack);
        }
        Ok(out)
    }

    /// When each of `container_refs` (containers unhealthy now) became so:
    /// the first unhealthy sample after its last sample that was not
    /// unhealthy. A container with no unhealthy sample has no entry.
    pub fn unhealthy_since(&self, container_refs: &[i64]) -> rusqlite::Result<BTreeMap<i64, i64>> {
        self.conn
            .prepare_cached(UNHEALTHY_SINCE)?
            .query_map([json_list(container_refs)?], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect()
    }

    /// A host's events between two times (Unix nanoseconds), per container in
    /// time order.
    pub fn events_between(&self, host_id: i64, from_ns: i64, to_ns: i64) -> rusqlite::Result<Vec<EventRow>> {
        self.conn.prepare_cached(EVENTS_BETWEEN)?.query_map(params![host_id, from_ns, to_ns], event_row)?.collect()
    }

    /// Which of `container_ids` (engine IDs) any pass of the host recorded.
    pub fn containers_seen(&self, host_id: i64, container_ids: &[&str]) -> rusqlite::Result<BTreeSet<String>> {
        self.conn
            .prepare_cached(CONTAINERS_SEEN)?
            .query_map(params![host_id, json_list(container_ids)?], |r| r.get(0))?
            .collect()
    }

    /// Every stored event of the containers a pass saw, one container (by
    /// engine ID) at a time: `each` gets one container's events in time
    /// order. One statement, but only one container's events are held at a
    /// time (a host's whole history of them can be large).
    pub fn events_of_pass_containers(
        &self,
        host_id: i64,
        pass_id: i64,
        each: &mut dyn FnMut(&[EventRow]),
    ) -> rusqlite::Result<()> {
        let mut q = self.conn.prepare_cached(EVENTS_OF_PASS_CONTAINERS)?;
        let mut rows = q.query(params![host_id, pass_id])?;
        let mut one: Vec<EventRow> = Vec::new();
        while let Some(r) = rows.next()? {
            let e = event_row(r)?;
            if one.last().is_some_and(|last| last.container_id != e.container_id) {
                each(&one);
                one.clear();
            }
            one.push(e);
        }
        if !one.is_empty() {
            each(&one);
        }
        Ok(())
    }

    /// Which of `container_ids` were unhealthy just before `before_ns`: the
    /// last health event or start/stop of each before then said `unhealthy`.
    pub fn unhealthy_before(
        &self,
        host_id: i64,
        container_ids: &[&str],
        before_ns: i64,
    ) -> rusqlite::Result<BTreeSet<String>> {
        self.conn
            .prepare_cached(UNHEALTHY_BEFORE)?
            .query_map(params![host_id, json_list(container_ids)?, before_ns], |r| r.get(0))?
            .collect()
    }

    /// The intervals overlapping a time range whose events may be missing.
    pub fn event_gaps_between(&self, host_id: i64, from_ns: i64, to_ns: i64) -> rusqlite::Result<Vec<GapRow>> {
        self.conn
            .prepare_cached(EVENT_GAPS_BETWEEN)?
            .query_map(params![host_id, from_ns, to_ns], |r| {
                Ok(GapRow { from_ns: r.get(0)?, to_ns: r.get(1)?, reason: r.get(2)? })
            })?
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_from_before_prunes_has_none() {
        let c = Connection::open_in_memory().unwrap();
        assert!(Reader::new(&c).unwrap().pruned_between(1, 0, 10).unwrap().is_empty());
    }

    /// The one-object-at-a-time queries the batched ones replaced, kept as
    /// the reference the batched answers must match.
    mod per_row {
        pub const CONTAINER_SEEN: &str =
            "SELECT EXISTS (SELECT 1 FROM containers WHERE host_id = ?1 AND container_id = ?2)";
        pub const UNHEALTHY_BEFORE: &str = "SELECT action = 'health_status' AND health = 'unhealthy' FROM event_rows
             WHERE host_id = ?1 AND container_id = ?2 AND at_ns < ?3
               AND action IN ('health_status', 'die', 'destroy', 'start')
             ORDER BY at_ns DESC LIMIT 1";
        pub const UNHEALTHY_SINCE: &str = "SELECT MIN(p.started_at) FROM container_states st
                 JOIN passes p ON p.id = st.pass_id
             WHERE st.container_ref = ?1 AND st.health = 'unhealthy'
               AND st.pass_id > COALESCE((SELECT MAX(pass_id) FROM container_states
                                          WHERE container_ref = ?1 AND (health IS NULL OR health <> 'unhealthy')), 0)";
        pub const IMAGE_PAST_STACKS: &str =
            "SELECT DISTINCT s.kind, s.name FROM image_stacks ist JOIN stacks s ON s.id = ist.stack_id
             WHERE ist.image_ref = ?1 ORDER BY s.name";
        pub const CONTAINER_IDS_IN_PASS: &str = "SELECT c.container_id FROM container_spans sp
             JOIN containers c ON c.id = sp.container_ref
             WHERE sp.host_id = ?1 AND sp.last_pass >= ?2 AND sp.first_pass <= ?2";
        pub const EVENTS_OF_CONTAINER: &str =
            concat!(event_columns!(), " WHERE host_id = ?1 AND container_id = ?2 ORDER BY at_ns");
    }

    mod box_of_troubles {
        use crate::model::snapshot::*;

        pub const T0: i64 = 1_795_564_800;
        pub const S: i64 = 1_000_000_000;

        pub fn compose(name: &str) -> StackKey {
            StackKey::new(StackKind::Compose, name)
        }

        /// (engine ID, stack, health, image ID) per container.
        pub fn pass(engine: &str, at: i64, containers: &[(&str, StackKey, Option<&str>, &str)]) -> Snapshot {
            let containers: Vec<ContainerSample> = containers
                .iter()
                .map(|(id, stack, health, image)| ContainerSample {
                    id: id.to_string(),
                    name: format!("{}-{id}-1", stack.name),
                    stack: Some(stack.clone()),
                    state: "running".into(),
                    health: health.map(str::to_string),
                    image: image.to_string(),
                    image_id: Some(image.to_string()),
                    ..Default::default()
                })
                .collect();
            let images = ["sha256:old", "sha256:tie", "sha256:new", "sha256:never"]
                .iter()
                .map(|id| {
                    let users: Vec<&ContainerSample> =
                        containers.iter().filter(|c| c.image_id.as_deref() == Some(id)).collect();
                    let mut stacks: Vec<StackKey> = users.iter().filter_map(|c| c.stack.clone()).collect();
                    stacks.sort();
                    stacks.dedup();
                    ImageSample { id: id.to_string(), containers: users.len() as i64, stacks, ..Default::default() }
                })
                .collect();
            let mut keys: Vec<StackKey> = containers.iter().filter_map(|c| c.stack.clone()).collect();
            keys.sort();
            keys.dedup();
            let stacks = keys
                .into_iter()
                .map(|key| StackSample {
                    key,
                    containers: 1,
                    running: 1,
                    rw_bytes: None,
                    log_bytes: None,
                    volume_bytes: None,
                    disk_bytes: None,
                    mem_bytes: None,
                    unknown_sizes: 0,
                    working_dir: None,
                    config_files: None,
                })
                .collect();
            Snapshot {
                started_at: at,
                duration_ms: 100,
                host: HostInfo { engine_id: engine.into(), hostname: engine.to_lowercase(), ..Default::default() },
                containers,
                images,
                stacks,
                ..Default::default()
            }
        }

        /// An event of container `id` at `at_s` seconds after T0, with the
        /// health it turned to for `health_status`.
        pub fn event(id: &str, at_s: i64, action: &str, health: Option<&str>) -> ContainerEvent {
            ContainerEvent {
                at_ns: (T0 + at_s) * S,
                container_id: id.into(),
                name: format!("{id}-1"),
                action: action.into(),
                health: health.map(str::to_string),
                exit_code: (action == "die").then_some(1),
                ..Default::default()
            }
        }
    }

    /// Every batched read answers what the per-row queries it replaced
    /// answer, one object at a time, on a history with what makes them
    /// differ: two engines with the same container IDs, containers
    /// unhealthy before a time and not, two marks at one nanosecond, an
    /// image run by two stacks and one by two stacks of one name, an image
    /// no stack ran, and events of containers outside the pass.
    #[test]
    fn batched_reads_answer_what_the_per_row_queries_did() {
        use crate::model::snapshot::{StackKey, StackKind};
        use box_of_troubles::*;

        let dir = tempfile::tempdir().unwrap();
        let mut st = crate::store::open_for_write(&dir.path().join("h.db"), std::time::Duration::from_secs(5)).unwrap();
        let (shop, blog, swarm_shop) = (compose("shop"), compose("blog"), StackKey::new(StackKind::Swarm, "shop"));
        let (h, u) = (Some("healthy"), Some("unhealthy"));
        let p1 = pass(
            "E1",
            T0,
            &[
                ("web", shop.clone(), h, "sha256:old"),
                ("db", blog.clone(), u, "sha256:old"),
                ("cache", swarm_shop.clone(), u, "sha256:tie"),
                ("worker", shop.clone(), None, "sha256:tie"),
                ("plain", blog.clone(), None, "sha256:new"),
            ],
        );
        let later = |at: i64, web, db| {
            pass(
                "E1",
                at,
                &[
                    ("web", shop.clone(), web, "sha256:new"),
                    ("db", blog.clone(), db, "sha256:new"),
                    ("cache", swarm_shop.clone(), u, "sha256:new"),
                    ("plain", blog.clone(), None, "sha256:new"),
                ],
            )
        };
        let p2 = later(T0 + 3600, u, h);
        let mut p3 = later(T0 + 7200, u, u);
        // A change while `cache` stays unhealthy: a second unhealthy row.
        p3.containers.iter_mut().filter(|c| c.id == "cache").for_each(|c| c.restart_count = Some(1));
        p3.events = vec![
            event("web", 10, "health_status", u),
            event("web", 20, "health_status", h),
            event("web", 30, "die", None),
            event("web", 31, "start", None),
            event("web", 40, "health_status", u),
            event("db", 15, "health_status", u),
            event("db", 25, "die", None),
            event("db", 25, "health_status", u),
            event("db", 26, "kill", None),
            event("cache", 12, "kill", None),
            event("worker", 5, "die", None),
            event("job", 50, "start", None),
            event("job", 51, "die", None),
            event("job", 52, "destroy", None),
        ];
        // The other engine saw a container with the job's ID, and its
        // `cache` turned unhealthy.
        let mut other = pass("E2", T0, &[("job", shop.clone(), None, "sha256:new")]);
        other.events = vec![event("cache", 11, "health_status", u)];
        for p in [&p1, &p2, &p3, &other] {
            st.insert_pass(p).unwrap();
        }
        let db = st.reader().unwrap();
        let host = db.find_host("E1").unwrap().unwrap();
        let newest = db.hosts().unwrap().into_iter().find(|h| h.host_id == host).unwrap().latest_pass;

        let ids = ["web", "db", "cache", "worker", "plain", "job", "nope"];
        let seen = db.containers_seen(host, &ids).unwrap();
        for id in ids {
            let one: bool = db.conn.query_row(per_row::CONTAINER_SEEN, params![host, id], |r| r.get(0)).unwrap();
            assert_eq!(seen.contains(id), one, "seen: {id}");
        }
        assert!(seen.contains("web") && !seen.contains("job"), "{seen:?}");

        let mut times: Vec<i64> = p3.events.iter().flat_map(|e| [e.at_ns - 1, e.at_ns, e.at_ns + 1]).collect();
        times.extend([0, i64::MAX]);
        let mut answers = BTreeSet::new();
        for before in times {
            let batched = db.unhealthy_before(host, &ids, before).unwrap();
            for id in ids {
                let one: bool = db
                    .conn
                    .query_row(per_row::UNHEALTHY_BEFORE, params![host, id, before], |r| r.get::<_, Option<bool>>(0))
                    .optional()
                    .unwrap()
                    .flatten()
                    .unwrap_or(false);
                assert_eq!(batched.contains(id), one, "unhealthy before {before}: {id}");
                answers.insert(one);
            }
        }
        assert_eq!(answers.len(), 2, "some containers were unhealthy before some times, some not");
        // Of the die and the unhealthy mark at one nanosecond, the mark counts.
        assert!(db.unhealthy_before(host, &["db"], (T0 + 26) * S).unwrap().contains("db"));

        let refs: Vec<i64> = db.containers_in(newest).unwrap().iter().map(|c| c.container_ref).collect();
        let since = db.unhealthy_since(&refs).unwrap();
        for r in &refs {
            let one: Option<i64> = db.conn.query_row(per_row::UNHEALTHY_SINCE, [r], |row| row.get(0)).unwrap();
            assert_eq!(since.get(r).copied(), one, "unhealthy since: container {r}");
        }
        let mut starts: Vec<i64> = since.values().copied().collect();
        starts.sort();
        assert_eq!(starts, [T0, T0 + 3600, T0 + 7200], "cache, web and db");

        let images: Vec<i64> = db.images_in(newest).unwrap().iter().map(|i| i.image_ref).collect();
        let past = db.image_past_stacks(&images).unwrap();
        assert_eq!(past.keys().copied().collect::<Vec<_>>(), images);
        for i in &images {
            let one: Vec<StackKey> = db
                .conn
                .prepare(per_row::IMAGE_PAST_STACKS)
                .unwrap()
                .query_map([i], |r| Ok(StackKey { kind: r.get(0)?, name: r.get(1)? }))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap();
            assert_eq!(past[i], one, "past stacks of image {i}");
        }
        let mut counts: Vec<usize> = past.values().map(Vec::len).collect();
        counts.sort();
        assert_eq!(counts, [0, 2, 2, 3], "never, old (shop and blog), tie (shop twice), new");

        let mut batched: Vec<Vec<EventRow>> = Vec::new();
        db.events_of_pass_containers(host, newest, &mut |rows| batched.push(rows.to_vec())).unwrap();
        let mut one_by_one = Vec::new();
        let mut in_pass: Vec<String> = db
            .conn
            .prepare(per_row::CONTAINER_IDS_IN_PASS)
            .unwrap()
            .query_map(params![host, newest], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        in_pass.sort();
        for id in &in_pass {
            let rows: Vec<EventRow> = db
                .conn
                .prepare(per_row::EVENTS_OF_CONTAINER)
                .unwrap()
                .query_map(params![host, id], event_row)
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap();
            if !rows.is_empty() {
                one_by_one.push(rows);
            }
        }
        assert_eq!(format!("{batched:#?}"), format!("{one_by_one:#?}"));
        let containers: Vec<&str> = batched.iter().map(|rows| rows[0].container_id.as_str()).collect();
        assert_eq!(containers, ["cache", "db", "web"], "one call each, not worker's, the job's or E2's");
    }
}
