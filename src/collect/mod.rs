//! One pass over the engine: the calls, their concurrency, and turning
//! engine models into a [`Snapshot`]. Attribution rules live in
//! [`aggregate`] and [`stack`], file-level measurements in [`host`].

pub mod aggregate;
pub mod cgroup;
pub mod events;
pub mod host;
pub mod record;
pub mod sizes;
pub mod watch;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use bollard::models::{ContainerInspectResponse, ContainerStatsResponse, ContainerSummary, ImageSummary, Volume};
use futures_util::{StreamExt, stream};

use crate::engine::Engine;
use crate::model::snapshot::{
    BindMount, ContainerSample, ContainerState, Filesystem, HostInfo, ImageSample, MountKind, ObjectError, Snapshot,
    Stats, VolumeSample,
};
use crate::model::stack;
use crate::progress::Progress;
use crate::time::{now_unix, parse_rfc3339};

pub struct Options {
    pub concurrency: usize,
    /// The managed label as (key, value).
    pub managed: (String, String),
    /// Read counters from cgroup files when visible (else the endpoint).
    pub cgroup_stats: bool,
}

/// Takes one snapshot of state and counters: everything but volume and
/// writable-layer sizes, which [`sizes::measure`] adds at its own cadence,
/// and the per-stack totals, which [`finish`] computes once sizes are in.
/// Fails only when the engine cannot be listed; trouble with single objects
/// is recorded in `Snapshot::errors`.
pub async fn snapshot(engine: &Engine, opts: &Options, progress: &Progress) -> Result<Snapshot> {
    let started = Instant::now();
    let started_at = now_unix();
    let info = engine.info().await?;
    let listed = engine.containers().await?;
    crate::fault::pause_async(crate::fault::ENGINE).await;
    let docker_root = info.docker_root_dir.clone().filter(|r| !r.is_empty());
    // Paths the engine reports are only ours to read when it runs here.
    let local_root = docker_root.as_deref().filter(|r| engine.local && root_is_the_engines(Path::new(r), &listed));
    let root_visible = local_root.is_some();

    let total = listed.len();
    // The engine's host's memory stands in for "no limit", as `docker stats`
    // shows it; /proc/meminfo is the same machine's when the engine is local.
    let host_memory =
        info.mem_total.filter(|m| *m > 0).or_else(|| if engine.local { cgroup::host_memory() } else { None });
    let cgroup_stats = opts.cgroup_stats;
    let details = stream::iter(listed)
        .map(|summary| async move {
            let d = container_details(engine, summary, cgroup_stats, host_memory, root_visible).await;
            progress.tick(total, "containers");
            d
        })
        .buffer_unordered(opts.concurrency)
        .collect::<Vec<_>>();
    let (details, volumes, images) = tokio::join!(details, engine.volumes(), engine.images());
    progress.finish();

    // Without the volume or image list every stack's totals would silently
    // drop; such a pass is not recorded at all.
    let volumes = volumes?;
    let images = images?;

    let mut errors = Vec::new();
    let mut containers = Vec::with_capacity(details.len());
    let (mut cgroup_count, mut endpoint_count) = (0, 0);
    for (pending, errs) in details {
        errors.extend(errs);
        if pending.via_cgroup {
            cgroup_count += 1;
        } else if pending.sample.stats.is_some() {
            endpoint_count += 1;
        }
        let mut c = pending.sample;
        if let Some(driver) = c.log_driver.as_deref().filter(|d| engine.local || *d == "none") {
            c.log_bytes = host::log_bytes(driver, pending.log_path.as_deref(), local_root, &c.id);
        }
        containers.push(c);
    }
    containers.sort_by(|a, b| a.name.cmp(&b.name));

    let mut volumes: Vec<VolumeSample> = volumes.into_iter().map(volume_sample).collect();
    volumes.extend(bind_samples(&containers, docker_root.as_deref(), root_visible));
    volumes.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
    let managed = (opts.managed.0.as_str(), opts.managed.1.as_str());
    let mut images: Vec<ImageSample> = images.into_iter().map(|i| image_sample(i, managed)).collect();
    images.sort_by(|a, b| a.id.cmp(&b.id));

    let fs = local_root.and_then(|r| crate::disk::fs_usage(Path::new(r)));
    Ok(Snapshot {
        started_at,
        duration_ms: started.elapsed().as_millis() as i64,
        host: HostInfo {
            engine_id: info.id.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| engine.host.clone()),
            hostname: info.name.clone().unwrap_or_else(|| "unknown".into()),
            engine_version: engine.engine_version.clone(),
            api_version: engine.api_version.clone(),
            docker_root,
            fs,
            root_visible,
        },
        containers,
        volumes,
        images,
        stacks: Vec::new(),
        errors,
        size_updates: Vec::new(),
        stats_method: match (cgroup_count, endpoint_count) {
            (0, 0) => None,
            (_, 0) => Some("cgroup"),
            (0, _) => Some("endpoint"),
            _ => Some("mixed"),
        },
        filesystems: Vec::new(),
        docker_totals: Default::default(),
        events: Vec::new(),
        event_gap: None,
    })
}

/// Attribution and per-stack totals, once every size is known; the pass's
/// duration then covers sizing too.
pub fn finish(snap: &mut Snapshot, took: std::time::Duration) {
    snap.stacks = aggregate::attribute(&snap.containers, &mut snap.volumes, &mut snap.images);
    snap.filesystems = filesystems(snap);
    // One reading of the Docker root's filesystem per pass, taken with the
    // others, so the disk line and the reconciliation agree.
    if let Some(root) = snap.filesystems.iter().find(|f| f.docker_root) {
        snap.host.fs = Some(root.usage);
    }
    snap.duration_ms = took.as_millis() as i64;
}

/// The filesystems holding what this pass measured: the Docker root's, each
/// measured bind source's, and `/` (what a preflight's `df /` checks), once
/// each. Only when the engine's files are this machine's: elsewhere `/` and
/// the paths would be the collector's own.
fn filesystems(snap: &Snapshot) -> Vec<Filesystem> {
    if !snap.host.root_visible {
        return Vec::new();
    }
    let mut paths: Vec<(&str, bool)> = Vec::new();
    if let Some(root) = snap.host.docker_root.as_deref() {
        paths.push((root, true));
    }
    paths.push(("/", false));
    for v in snap.volumes.iter().filter(|v| v.kind == MountKind::Bind && v.unsized_reason.is_none()) {
        paths.push((v.name.as_str(), false));
    }
    let mut out: Vec<Filesystem> = Vec::new();
    for (path, docker_root) in paths {
        let Some((device, mount_point, usage)) = crate::disk::filesystem_of(Path::new(path)) else { continue };
        match out.iter_mut().find(|f| f.device == device) {
            Some(f) => f.docker_root |= docker_root,
            None => out.push(Filesystem { device, mount_point, usage, docker_root }),
        }
    }
    out
}

/// A root directory path that exists here is not enough: in a container
/// with only the socket mounted, `/var/lib/docker` may exist but be the
/// container's own. The engine's root holds a directory per container.
pub fn root_is_the_engines(root: &Path, listed: &[ContainerSummary]) -> bool {
    let containers = root.join("containers");
    match listed.iter().find_map(|c| c.id.as_deref()) {
        Some(id) => containers.join(id).is_dir(),
        None => containers.is_dir() && root.join("volumes").is_dir(),
    }
}

/// A container sample plus what is needed to finish it after the
/// concurrent phase (log sizes need the engine's root directory).
struct Pending {
    sample: ContainerSample,
    log_path: Option<String>,
    /// Counters came from cgroup files, not the stats endpoint.
    via_cgroup: bool,
}

async fn container_details(
    engine: &Engine,
    summary: ContainerSummary,
    cgroup_stats: bool,
    host_memory: Option<i64>,
    root_visible: bool,
) -> (Pending, Vec<ObjectError>) {
    let mut errors = Vec::new();
    let mut sample = from_summary(&summary);
    let mut log_path = None;
    let mut pid = None;
    match engine.inspect(&sample.id).await {
        Ok(Some(inspect)) => {
            log_path = apply_inspect(&mut sample, &inspect);
            pid = inspect.state.as_ref().and_then(|s| s.pid);
        }
        // Removed since it was listed: keep what the list said.
        Ok(None) => {}
        Err(e) => errors.push(ObjectError { kind: "container", name: sample.name.clone(), message: format!("{e:#}") }),
    }
    // Only when the engine's root was found here: a local socket can also be
    // forwarded from another machine, whose PIDs mean nothing here.
    let from_cgroup = if cgroup_stats && root_visible && sample.is_running() {
        pid.and_then(|p| cgroup::stats(p, &sample.id, host_memory))
    } else {
        None
    };
    let mut via_cgroup = false;
    if let Some(s) = from_cgroup {
        sample.stats = Some(s);
        via_cgroup = true;
    } else if sample.is_running() {
        match engine.stats(&sample.id).await {
            Ok(Some(s)) => {
                sample.stats = live_stats(&s).map(|mut stats| {
                    // Engines cap "no limit" at the host's memory; not every one need.
                    stats.mem_limit_bytes = cgroup::memory_limit(stats.mem_limit_bytes, host_memory);
                    stats
                })
            }
            Ok(None) => {}
            Err(e) => {
                errors.push(ObjectError { kind: "container", name: sample.name.clone(), message: format!("{e:#}") })
            }
        }
    }
    (Pending { sample, log_path, via_cgroup }, errors)
}

fn from_summary(s: &ContainerSummary) -> ContainerSample {
    let id = s.id.clone().unwrap_or_default();
    let name = s
        .names
        .as_ref()
        .and_then(|n| n.first())
        .map(|n| stack::clean_name(n).to_string())
        .unwrap_or_else(|| id.chars().take(12).collect());
    let labels: BTreeMap<String, String> = s.labels.clone().unwrap_or_default().into_iter().collect();
    let (stack_key, service) = stack::identify(&name, &labels);
    let mut mounts: Vec<String> = Vec::new();
    let mut binds: Vec<BindMount> = Vec::new();
    for m in s.mounts.iter().flatten() {
        match m.typ.as_deref() {
            Some("volume") => mounts.extend(m.name.clone()),
            Some("bind") => {
                // A bind is keyed by its host path; a volume name never starts with `/`.
                if let Some(source) = m.source.clone().filter(|p| p.starts_with('/')) {
                    mounts.push(source.clone());
                    binds.push(BindMount { source, read_only: m.rw == Some(false) });
                }
            }
            _ => {}
        }
    }
    ContainerSample {
        id,
        name,
        stack: Some(stack_key),
        service,
        created_at: s.created,
        labels,
        image: s.image.clone().unwrap_or_default(),
        image_id: s.image_id.clone(),
        state: s.state.map(|state| ContainerState::parse(state.as_ref())).unwrap_or_default(),
        mounts,
        binds,
        ..Default::default()
    }
}

/// Fills what only inspect knows; returns the json-file log path.
fn apply_inspect(c: &mut ContainerSample, i: &ContainerInspectResponse) -> Option<String> {
    c.restart_count = i.restart_count;
    // The list's first name can be a legacy link alias (`/web/db`); inspect
    // gives the container's own.
    if let Some(name) = i.name.as_deref().map(stack::clean_name).filter(|n| !n.is_empty() && *n != c.name) {
        c.name = name.to_string();
        let (key, service) = stack::identify(&c.name, &c.labels);
        c.stack = Some(key);
        c.service = service;
    }
    if let Some(state) = &i.state {
        if let Some(status) = state.status {
            let s = status.to_string();
            if !s.is_empty() {
                c.state = ContainerState::parse(&s);
            }
        }
        c.health = state.health.as_ref().and_then(|h| h.status).map(|h| h.to_string()).filter(|h| !h.is_empty());
        c.exit_code = state.exit_code;
        c.oom_killed = state.oom_killed;
        c.started_at = state.started_at.as_deref().and_then(parse_rfc3339);
    }
    c.rw_path = i.graph_driver.as_ref().and_then(|g| g.data.get("UpperDir")).filter(|p| !p.is_empty()).cloned();
    c.log_driver = i
        .host_config
        .as_ref()
        .and_then(|h| h.log_config.as_ref())
        .and_then(|l| l.typ.clone())
        .filter(|t| !t.is_empty());
    i.log_path.clone()
}

/// A container that stopped after inspect answers with a zeroed body
/// ("read" is the zero time): that is no stats, not counters at 0.
fn live_stats(s: &ContainerStatsResponse) -> Option<Stats> {
    s.read.as_deref().and_then(parse_rfc3339).map(|_| stats_from(s))
}

fn stats_from(s: &ContainerStatsResponse) -> Stats {
    let cpu_ns = s.cpu_stats.as_ref().and_then(|c| c.cpu_usage.as_ref()).and_then(|u| u.total_usage);
    let mem = s.memory_stats.as_ref();
    // What `docker stats` shows: usage minus reclaimable page cache
    // (cgroup v1 `total_inactive_file`, v2 `inactive_file`).
    let mem_bytes = mem.and_then(|m| {
        let usage = m.usage?;
        let cache = m
            .stats
            .as_ref()
            .and_then(|st| st.get("total_inactive_file").or_else(|| st.get("inactive_file")).copied())
            .unwrap_or(0);
        Some(usage.saturating_sub(cache))
    });
    let (mut rx, mut tx) = (None::<u64>, None::<u64>);
    for n in s.networks.iter().flat_map(|m| m.values()) {
        rx = Some(rx.unwrap_or(0) + n.rx_bytes.unwrap_or(0));
        tx = Some(tx.unwrap_or(0) + n.tx_bytes.unwrap_or(0));
    }
    let (mut rd, mut wr) = (None::<u64>, None::<u64>);
    if let Some(entries) = s.blkio_stats.as_ref().and_then(|b| b.io_service_bytes_recursive.as_ref()) {
        rd = Some(0);
        wr = Some(0);
        for e in entries {
            match e.op.as_deref().map(str::to_ascii_lowercase).as_deref() {
                Some("read") => rd = rd.map(|v| v + e.value.unwrap_or(0)),
                Some("write") => wr = wr.map(|v| v + e.value.unwrap_or(0)),
                _ => {}
            }
        }
    }
    let i = |v: Option<u64>| v.map(|x| x.min(i64::MAX as u64) as i64);
    Stats {
        cpu_ns: i(cpu_ns),
        mem_bytes: i(mem_bytes),
        mem_limit_bytes: i(mem.and_then(|m| m.limit)),
        net_rx_bytes: i(rx),
        net_tx_bytes: i(tx),
        blkio_read_bytes: i(rd),
        blkio_write_bytes: i(wr),
        pids: i(s.pids_stats.as_ref().and_then(|p| p.current)),
    }
}

fn volume_sample(v: Volume) -> VolumeSample {
    VolumeSample {
        mountpoint: v.mountpoint,
        created_at: v.created_at.as_ref().and_then(|t| parse_rfc3339(&t.to_string())),
        driver: v.driver,
        labels: v.labels.into_iter().collect(),
        name: v.name,
        ..Default::default()
    }
}

/// One sample per host path bound into any container, running or not:
/// a path several containers bind is one object, measured once. A path that
/// is never walked gets its reason here, every pass, so that a pass that
/// measures nothing (`--no-sizes`) records it as one that measures does.
fn bind_samples(containers: &[ContainerSample], docker_root: Option<&str>, root_visible: bool) -> Vec<VolumeSample> {
    let mut by_path: BTreeMap<&str, bool> = BTreeMap::new();
    for c in containers {
        for b in &c.binds {
            let all_ro = by_path.entry(b.source.as_str()).or_insert(true);
            *all_ro &= b.read_only;
        }
    }
    by_path
        .into_iter()
        .map(|(path, read_only)| VolumeSample {
            kind: MountKind::Bind,
            name: path.to_string(),
            driver: "bind".into(),
            mountpoint: path.to_string(),
            read_only: Some(read_only),
            unsized_reason: sizes::bind_sizing(path, docker_root, root_visible),
            ..Default::default()
        })
        .collect()
}

fn image_sample(i: ImageSummary, managed: (&str, &str)) -> ImageSample {
    let labels: BTreeMap<String, String> = i.labels.into_iter().collect();
    let is_managed = labels.get(managed.0).is_some_and(|v| v == managed.1);
    ImageSample {
        id: i.id,
        created_at: Some(i.created),
        tags: i.repo_tags.into_iter().filter(|t| t != "<none>:<none>").collect(),
        size_bytes: (i.size >= 0).then_some(i.size),
        containers: i.containers,
        stacks: Vec::new(),
        managed: is_managed,
        labels,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(json: &str) -> ContainerStatsResponse {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_zeroed_stats_body_is_no_stats() {
        let zeroed =
            stats(r#"{"read":"0001-01-01T00:00:00Z","cpu_stats":{"cpu_usage":{"total_usage":0}},"memory_stats":{}}"#);
        assert_eq!(live_stats(&zeroed), None);
    }

    #[test]
    fn counters_are_read_from_a_live_body() {
        let live = stats(
            r#"{"read":"2026-11-25T12:00:00.5Z",
                "cpu_stats":{"cpu_usage":{"total_usage":123456789}},
                "memory_stats":{"usage":10000000,"limit":64000000,"stats":{"total_inactive_file":2000000}},
                "networks":{"eth0":{"rx_bytes":10,"tx_bytes":20},"eth1":{"rx_bytes":1,"tx_bytes":2}},
                "blkio_stats":{"io_service_bytes_recursive":[{"major":8,"minor":0,"op":"Read","value":4096},
                    {"major":8,"minor":0,"op":"Write","value":8192},{"major":8,"minor":0,"op":"Total","value":12288}]},
                "pids_stats":{"current":3}}"#,
        );
        let s = live_stats(&live).unwrap();
        assert_eq!(s.cpu_ns, Some(123_456_789));
        assert_eq!(s.mem_bytes, Some(8_000_000), "page cache is not usage");
        assert_eq!(s.mem_limit_bytes, Some(64_000_000));
        assert_eq!((s.net_rx_bytes, s.net_tx_bytes), (Some(11), Some(22)));
        assert_eq!((s.blkio_read_bytes, s.blkio_write_bytes), (Some(4096), Some(8192)));
        assert_eq!(s.pids, Some(3));
        let no_net = stats(r#"{"read":"2026-11-25T12:00:00Z","memory_stats":{}}"#);
        let s = live_stats(&no_net).unwrap();
        assert_eq!((s.net_rx_bytes, s.mem_bytes, s.blkio_read_bytes), (None, None, None), "unknown, not 0");
    }
}
