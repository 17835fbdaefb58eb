//! The report as data: what `--format json` prints and what the templates
//! render. Field names are a documented interface (README "Report JSON").
//! Sizes are exact integer bytes; `sentence`, `summary` and `evidence` are
//! markdown in which every outside name is already an inert code span.

use serde::Serialize;

use crate::model::snapshot::StackKind;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub generated_at: String,
    pub window: String,
    pub window_seconds: i64,
    pub hosts: Vec<HostReport>,
    /// Project TOMLs that could not be used (file, line, key, what is
    /// wrong): their claims are ignored until they are fixed.
    pub project_errors: Vec<String>,
    /// Vault item files written this run, and stackwatch's earlier items
    /// whose finding has cleared (left in place for humans).
    pub vault: VaultStatus,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct VaultStatus {
    pub dir: Option<String>,
    pub written: Vec<String>,
    pub cleared: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HostReport {
    pub host: String,
    pub engine_id: String,
    /// Time of the newest pass: the window ends here.
    pub as_of: String,
    /// Time of the pass the window's growth is measured from.
    pub from: String,
    pub span_seconds: i64,
    pub span: String,
    /// False when the history is shorter than the window.
    pub covers_window: bool,
    pub passes: i64,
    /// Seconds between the newest pass and the report.
    pub age_seconds: i64,
    /// One sentence about what the window covers.
    pub coverage: String,
    pub disk: Option<Disk>,
    /// Each measured filesystem's change split into what it went to
    /// (bind mounts, volumes, logs, layers, images, build cache) and what
    /// is not attributed.
    pub filesystems: Vec<FilesystemChange>,
    /// What `stackwatch prune` removed since the window's start edge.
    pub pruned: Option<Pruned>,
    pub growth: GrowthLevels,
    pub findings: Vec<Finding>,
    pub stacks: Vec<StackSummary>,
    /// What happened between passes: OOM kills, restarts and jobs counted
    /// from the engine's events, and when events may be missing.
    pub events: super::events::Summary,
    /// Set only in budgeted markdown: what was left out to fit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub omitted: Option<Omitted>,
}

/// What the budgeted markdown left out (`--full` and JSON keep everything).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Omitted {
    /// Findings left out, by priority (`P4` first to go).
    pub findings: usize,
    pub findings_text: String,
    /// Growers (stack level) left out; container and volume levels are
    /// always left out.
    pub growers: usize,
    /// Stacks left out of the table, and the sum of their known disk use.
    pub stacks: usize,
    pub stacks_bytes: String,
    #[serde(skip)]
    pub stacks_total_bytes: i64,
    #[serde(skip)]
    pub by_tier: std::collections::BTreeMap<String, usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Disk {
    pub used_bytes: i64,
    pub total_bytes: i64,
    pub free_bytes: i64,
    pub used_percent: f64,
    /// Growth of the filesystem's used bytes over the span; None when the
    /// start of the span has no disk figures.
    pub growth_bytes: Option<i64>,
    /// `filling`, `not filling`, or `unknown`.
    pub fill: String,
    pub fill_seconds: Option<i64>,
    pub full_at: Option<String>,
    pub over_threshold: bool,
    pub sentence: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pruned {
    pub since: String,
    pub objects: i64,
    /// Sum of the known sizes; `unknown_sizes` objects had none.
    pub bytes: i64,
    pub unknown_sizes: i64,
    pub parts: Vec<PrunedPart>,
    pub sentence: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrunedPart {
    /// `image`, `container` or `volume`.
    pub kind: String,
    pub objects: i64,
    pub bytes: i64,
    pub unknown_sizes: i64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct GrowthLevels {
    pub stacks: Vec<Growth>,
    pub containers: Vec<Growth>,
    pub volumes: Vec<Growth>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Growth {
    /// `stack`, `container`, `volume` or `bind` (a bind mount's host path).
    pub level: &'static str,
    pub name: String,
    pub stack: Option<String>,
    /// The kind of `stack` for stacks and containers (a volume may have
    /// several stacks): two stacks may share a name. Not in the outputs,
    /// which keep their shape.
    #[serde(skip)]
    pub stack_kind: Option<StackKind>,
    /// `grew`, `shrank`, `unchanged`, `new`, `removed` or `unknown`.
    pub change: &'static str,
    /// End minus start; for `new` the end size, for `removed` minus the start size.
    pub delta_bytes: Option<i64>,
    pub start_bytes: Option<i64>,
    pub end_bytes: Option<i64>,
    pub parts: Vec<GrowthPart>,
    pub sentence: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct GrowthPart {
    /// `volume`, `bind`, `logs` or `writable_layer`.
    pub kind: &'static str,
    pub name: Option<String>,
    pub delta_bytes: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// Stable identity: `<kind>:<stack kind>:<stack>` (or `<kind>:host` for
    /// host-wide findings: `disk_pressure`, `disk_filling`, `dangling_volumes`).
    pub key: String,
    pub kind: &'static str,
    pub priority: &'static str,
    pub stack: Option<String>,
    pub stack_kind: Option<String>,
    pub factory: bool,
    pub owner: Option<String>,
    /// How the owner was found (markdown).
    pub owner_source: Option<String>,
    pub summary: String,
    pub evidence: Vec<String>,
    pub since: Option<String>,
    pub bytes: Option<i64>,
    /// For findings counted from the engine's events (OOM kills, restarts,
    /// failed job runs, turns to unhealthy): the occurrences in the window,
    /// summed over the stack's containers, and the first and last of them.
    /// None for findings seen only in the passes' state.
    pub count: Option<i64>,
    pub first_at: Option<String>,
    pub last_at: Option<String>,
    /// Actionable by a human only: a foreign stack's finding becomes a vault item.
    pub vault_file: Option<String>,
    /// The vault file this finding would have at any priority (a foreign
    /// stack's finding), so an older item for it is not called cleared.
    #[serde(skip)]
    pub vault_name: Option<String>,
    /// Compose working directory and config files of the stack, when known:
    /// the quickest way for a human to find who runs it.
    pub working_dir: Option<String>,
    pub config_files: Option<String>,
    /// The two above as markdown: the directory and the files in it.
    pub location: Option<String>,
    /// Vault item title, one line: what is asked of whom.
    pub title: String,
    pub why: String,
    pub unblocks: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct StackSummary {
    pub name: String,
    pub kind: String,
    pub factory: bool,
    pub owner: String,
    pub owner_source: String,
    pub containers: i64,
    pub running: i64,
    pub disk_bytes: Option<i64>,
    pub unknown_sizes: i64,
    pub growth_bytes: Option<i64>,
    pub working_dir: Option<String>,
    pub config_files: Option<String>,
    /// The two above as markdown: the directory and the files in it.
    pub location: Option<String>,
    /// Human-readable disk and change, for tables.
    pub disk: String,
    pub change: String,
}

/// One filesystem's change over the window, split into its parts (see
/// [`super::reconcile`]).
#[derive(Debug, Clone, Serialize)]
pub struct FilesystemChange {
    pub mount_point: String,
    /// Holds the engine's root directory (and so volumes, logs, layers, images).
    pub docker_root: bool,
    pub total_bytes: i64,
    pub used_bytes: i64,
    pub free_bytes: i64,
    pub used_percent: f64,
    /// Change of used bytes over the span; None when the start pass did not
    /// record this filesystem.
    pub growth_bytes: Option<i64>,
    pub parts: Vec<FsPart>,
    /// `growth_bytes` minus the parts: written outside Docker, or by objects
    /// whose size was not measured at both edges.
    pub not_attributed_bytes: Option<i64>,
    pub not_attributed_reason: Option<String>,
    /// At the span's rate, seconds until the filesystem is full.
    pub fill_seconds: Option<i64>,
    pub full_at: Option<String>,
    /// The stacks whose measured parts on this filesystem grew, largest first.
    pub drivers: Vec<StackOnFs>,
    pub sentence: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct FsPart {
    /// `bind_mounts`, `volumes`, `logs`, `writable_layers`, `images` or `build_cache`.
    pub kind: &'static str,
    /// Known change (objects measured at both edges, or new or gone).
    pub delta_bytes: i64,
    /// Objects whose change is unknown (a size missing at one edge).
    pub unknown: i64,
    /// For bind mounts: the stacks owning the largest changes, largest first.
    pub stacks: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StackOnFs {
    pub kind: String,
    pub stack: String,
    pub delta_bytes: i64,
}
