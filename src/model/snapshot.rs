//! One pass over the engine, as plain data.
//!
//! The collector fills it, the store writes it in one transaction. Keeping
//! it free of Docker and SQLite types lets both sides be tested alone.
//! `Option` means "the collector could not see it"; it is stored as NULL and
//! never folded into zero.

use std::collections::BTreeMap;
use std::fmt;

/// What groups containers into one stack, in the order the labels are tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StackKind {
    Compose,
    Swarm,
    Nomad,
    Standalone,
}

impl StackKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StackKind::Compose => "compose",
            StackKind::Swarm => "swarm",
            StackKind::Nomad => "nomad",
            StackKind::Standalone => "standalone",
        }
    }
}

impl StackKind {
    pub const ALL: [StackKind; 4] = [StackKind::Compose, StackKind::Swarm, StackKind::Nomad, StackKind::Standalone];

    /// The kind a name (as [`StackKind::as_str`] spells it) stands for.
    pub fn parse(name: &str) -> Option<StackKind> {
        StackKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl fmt::Display for StackKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl rusqlite::types::ToSql for StackKind {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(rusqlite::types::ToSqlOutput::from(self.as_str()))
    }
}

/// Only this program writes the column, so another value means the file
/// was edited by hand or by a newer stackwatch: an error, not a guess.
impl rusqlite::types::FromSql for StackKind {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        let name = value.as_str()?;
        StackKind::parse(name)
            .ok_or_else(|| rusqlite::types::FromSqlError::Other(format!("unknown stack kind {name:?}").into()))
    }
}

impl serde::Serialize for StackKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl StackKey {
    pub fn new(kind: StackKind, name: impl Into<String>) -> StackKey {
        StackKey { kind, name: name.into() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StackKey {
    pub kind: StackKind,
    pub name: String,
}

#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Unix seconds, UTC.
    pub started_at: i64,
    pub duration_ms: i64,
    pub host: HostInfo,
    pub containers: Vec<ContainerSample>,
    pub volumes: Vec<VolumeSample>,
    pub images: Vec<ImageSample>,
    pub stacks: Vec<StackSample>,
    pub errors: Vec<ObjectError>,
    /// Sizes measured in this pass, to remember for the next ones.
    pub size_updates: Vec<SizeUpdate>,
    /// Where running containers' counters came from: `cgroup` files,
    /// the stats `endpoint`, or `mixed`; None when nothing was running.
    pub stats_method: Option<&'static str>,
    /// Every filesystem that holds something measured (the Docker root's,
    /// each bind source's, and `/`), once each.
    pub filesystems: Vec<Filesystem>,
    /// Docker's own totals for what has no per-stack owner.
    pub docker_totals: DockerTotals,
    /// The container events the engine reported since this engine's
    /// previous pass (none before its first).
    pub events: Vec<ContainerEvent>,
    /// An interval whose events may be missing: the engine's event log no
    /// longer reached back to the previous pass, or could not be read.
    pub event_gap: Option<EventGap>,
}

/// One container event (`die`, `oom`, `kill`, `start`, `restart`,
/// `destroy`, `health_status`), as the engine reported it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerEvent {
    /// Unix nanoseconds (the engine's `timeNano`).
    pub at_ns: i64,
    pub container_id: String,
    pub name: String,
    pub stack: Option<StackKey>,
    pub service: Option<String>,
    /// The action without its detail: `health_status`, not `health_status: healthy`.
    pub action: String,
    /// For `health_status`: the new status.
    pub health: Option<String>,
    pub exit_code: Option<i64>,
    /// For `kill`: the signal sent (`9`, `SIGTERM`, as the client gave it).
    pub signal: Option<String>,
    pub oom: bool,
}

/// Events between `from_ns` and `to_ns` (Unix nanoseconds) may be missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventGap {
    pub from_ns: i64,
    pub to_ns: i64,
    /// `overflow` (the engine's bounded log dropped them), `unreadable`, or
    /// `reconnect` (`watch` lost the stream and the engine's log no longer
    /// reaches back to what it last saw).
    pub reason: &'static str,
}

/// A filesystem as `statvfs` saw it this pass, with what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filesystem {
    /// `st_dev` of its mount point: what identifies it across passes.
    pub device: u64,
    pub mount_point: String,
    pub usage: FsUsage,
    /// Holds the engine's root directory (images, volumes, logs, layers).
    pub docker_root: bool,
}

/// Image and build-cache bytes as the engine accounts them (its `system
/// df`), with when they were measured; `None` when unknown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DockerTotals {
    /// Bytes of every image layer, each counted once (`LayersSize`).
    pub images_bytes: Option<i64>,
    pub build_cache_bytes: Option<i64>,
    pub measured_at: Option<i64>,
}

/// One measurement (or attempt) of a volume, bind mount or writable layer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SizeUpdate {
    /// `volume` (object = volume name, or a bind mount's host path, which
    /// always starts with `/` where a volume name never does),
    /// `writable_layer` (object = container id), or `docker_totals`.
    pub kind: &'static str,
    pub object: String,
    pub bytes: Option<i64>,
    pub method: Option<&'static str>,
    pub measured_at: Option<i64>,
    pub attempted_at: i64,
    /// What the walk cost, to tell a cheap object (measured every pass)
    /// from an expensive one (measured every `size_interval`).
    pub walk_ms: Option<i64>,
    pub walk_files: Option<i64>,
    /// Why this attempt found no size: a bind path whose walk failed.
    pub unsized_reason: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct HostInfo {
    pub engine_id: String,
    pub hostname: String,
    pub engine_version: String,
    pub api_version: String,
    pub docker_root: Option<String>,
    pub fs: Option<FsUsage>,
    /// The engine's root directory is this machine's and readable here, so
    /// sizes can be measured by walking it (not stored; decides the method).
    pub root_visible: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsUsage {
    pub total_bytes: i64,
    pub used_bytes: i64,
    /// Free for unprivileged writers (what `df` calls "Avail").
    pub free_bytes: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectError {
    pub kind: &'static str,
    pub name: String,
    pub message: String,
}

/// A container's state, as the engine names it (`docker ps` STATUS's
/// first word). A state a newer engine invents is kept by its name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ContainerState {
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
    /// Neither the list nor inspect said.
    #[default]
    Unknown,
    Other(String),
}

impl ContainerState {
    /// Every state the engine documents, in its own order.
    pub const KNOWN: [ContainerState; 7] = [
        ContainerState::Created,
        ContainerState::Running,
        ContainerState::Paused,
        ContainerState::Restarting,
        ContainerState::Removing,
        ContainerState::Exited,
        ContainerState::Dead,
    ];

    pub fn parse(name: &str) -> ContainerState {
        match name {
            "created" => ContainerState::Created,
            "running" => ContainerState::Running,
            "paused" => ContainerState::Paused,
            "restarting" => ContainerState::Restarting,
            "removing" => ContainerState::Removing,
            "exited" => ContainerState::Exited,
            "dead" => ContainerState::Dead,
            "" | "unknown" => ContainerState::Unknown,
            other => ContainerState::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            ContainerState::Created => "created",
            ContainerState::Running => "running",
            ContainerState::Paused => "paused",
            ContainerState::Restarting => "restarting",
            ContainerState::Removing => "removing",
            ContainerState::Exited => "exited",
            ContainerState::Dead => "dead",
            ContainerState::Unknown => "unknown",
            ContainerState::Other(name) => name,
        }
    }

    /// Not running and not about to: what a prune may remove (never
    /// running, paused, restarting or removing).
    pub fn is_stopped(&self) -> bool {
        matches!(self, ContainerState::Created | ContainerState::Exited | ContainerState::Dead)
    }
}

impl From<&str> for ContainerState {
    fn from(name: &str) -> ContainerState {
        ContainerState::parse(name)
    }
}

impl fmt::Display for ContainerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl rusqlite::types::ToSql for ContainerState {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(rusqlite::types::ToSqlOutput::from(self.as_str()))
    }
}

impl rusqlite::types::FromSql for ContainerState {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        value.as_str().map(ContainerState::parse)
    }
}

#[derive(Debug, Clone, Default)]
pub struct ContainerSample {
    pub id: String,
    pub name: String,
    pub stack: Option<StackKey>,
    pub service: Option<String>,
    pub created_at: Option<i64>,
    pub labels: BTreeMap<String, String>,
    pub image: String,
    pub image_id: Option<String>,
    pub state: ContainerState,
    pub health: Option<String>,
    pub restart_count: Option<i64>,
    pub exit_code: Option<i64>,
    pub oom_killed: Option<bool>,
    pub started_at: Option<i64>,
    pub mounts: Vec<String>,
    pub stats: Option<Stats>,
    pub rw_bytes: Option<i64>,
    /// `walk` or `engine`: how `rw_bytes` was measured.
    pub rw_method: Option<&'static str>,
    pub rw_measured_at: Option<i64>,
    /// The writable layer's directory (overlay2 `UpperDir`), when known.
    pub rw_path: Option<String>,
    pub log_bytes: Option<i64>,
    pub log_driver: Option<String>,
    pub working_dir: Option<String>,
    pub config_files: Option<String>,
    /// Host paths bind-mounted into the container.
    pub binds: Vec<BindMount>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindMount {
    /// The host path (what is sized and attributed).
    pub source: String,
    pub read_only: bool,
}

impl ContainerSample {
    pub fn is_running(&self) -> bool {
        self.state == ContainerState::Running
    }
}

/// Counters from one one-shot stats call. Every field is cumulative or
/// instantaneous; rates are derived from deltas between passes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub cpu_ns: Option<i64>,
    pub mem_bytes: Option<i64>,
    pub mem_limit_bytes: Option<i64>,
    pub net_rx_bytes: Option<i64>,
    pub net_tx_bytes: Option<i64>,
    pub blkio_read_bytes: Option<i64>,
    pub blkio_write_bytes: Option<i64>,
    pub pids: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Label,
    Mount,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Label => "label",
            Via::Mount => "mount",
        }
    }
}

/// A named volume, or a host path bind-mounted into containers: both are
/// sized, attributed to the stacks that mount them and kept in one history.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MountKind {
    #[default]
    Volume,
    Bind,
}

impl MountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MountKind::Volume => "volume",
            MountKind::Bind => "bind",
        }
    }

    pub fn parse(s: &str) -> MountKind {
        if s == "bind" { MountKind::Bind } else { MountKind::Volume }
    }
}

#[derive(Debug, Clone, Default)]
pub struct VolumeSample {
    pub kind: MountKind,
    /// The volume's name, or the bind mount's host path.
    pub name: String,
    pub driver: String,
    pub created_at: Option<i64>,
    pub labels: BTreeMap<String, String>,
    pub stacks: Vec<(StackKey, Via)>,
    pub mounted_by: Vec<String>,
    pub size_bytes: Option<i64>,
    pub size_method: Option<&'static str>,
    pub size_measured_at: Option<i64>,
    pub mountpoint: String,
    /// Binds: every container mounts it read-only. None for volumes.
    pub read_only: Option<bool>,
    /// Why the size is unknown, when it is never measured (a system path,
    /// a socket, a path the collector cannot see) or the last walk of it
    /// failed (until the next attempt).
    pub unsized_reason: Option<String>,
}

impl VolumeSample {
    pub fn in_use(&self) -> bool {
        !self.mounted_by.is_empty()
    }
}

#[derive(Debug, Clone, Default)]
pub struct ImageSample {
    pub id: String,
    pub created_at: Option<i64>,
    pub labels: BTreeMap<String, String>,
    pub tags: Vec<String>,
    pub size_bytes: Option<i64>,
    pub containers: i64,
    pub stacks: Vec<StackKey>,
    pub managed: bool,
}

/// Totals per stack. `disk_bytes` is the sum of the parts that are known;
/// `unknown_sizes` counts the parts that were not, so a reader can tell
/// "0 bytes" from "could not measure".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackSample {
    pub key: StackKey,
    pub containers: i64,
    pub running: i64,
    pub rw_bytes: Option<i64>,
    pub log_bytes: Option<i64>,
    pub volume_bytes: Option<i64>,
    pub disk_bytes: Option<i64>,
    pub mem_bytes: Option<i64>,
    pub unknown_sizes: i64,
    pub working_dir: Option<String>,
    pub config_files: Option<String>,
}
