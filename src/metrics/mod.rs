//! `stackwatch metrics` and `serve`: each host's latest pass as Prometheus
//! metrics, read from the database alone (a scrape never calls the engine,
//! so scraping often costs the box nothing but a few indexed reads per
//! host: one statement each for the pass, its objects and its containers'
//! events, however many containers it has).
//!
//! Naming follows the Prometheus conventions: a `stackwatch_` prefix, base
//! units in the name (`_bytes`, `_seconds`), `_total` on counters, and
//! labels of bounded cardinality: names of hosts, stacks, services,
//! containers and volumes, never container IDs (a new ID per recreation
//! would make a new series every deploy). Unknown values (NULL in the
//! history) are left out, never exported as 0.

pub mod exposition;

use crate::store::read::Reader;
use anyhow::{Context, Result};

use exposition::{Family, Kind, Value};

use crate::config::Config;
use crate::history::owners::Projects;
use crate::history::pass::RecordedPass;
use crate::history::reconcile;
use crate::history::stack_owners;
use crate::model::snapshot::{ContainerState, MountKind, StackKey, StackKind};

/// Healthcheck states; a container without a healthcheck has none.
pub const HEALTH_STATES: &[&str] = &["starting", "healthy", "unhealthy"];

type Labels = Vec<(&'static str, String)>;

struct Families {
    host_info: Family,
    pass_time: Family,
    pass_duration: Family,
    pass_errors: Family,
    docker_root_size: Family,
    docker_root_used: Family,
    docker_root_free: Family,
    stack_containers: Family,
    stack_running: Family,
    stack_disk: Family,
    stack_rw: Family,
    stack_log: Family,
    stack_volume: Family,
    stack_mem: Family,
    stack_unmeasured: Family,
    container_state: Family,
    container_health: Family,
    container_restarts: Family,
    container_exit_code: Family,
    container_oom_killed: Family,
    container_oom_kills: Family,
    container_restart_causes: Family,
    container_unhealthy_turns: Family,
    container_unhealthy_time: Family,
    container_started: Family,
    container_memory: Family,
    container_memory_limit: Family,
    container_pids: Family,
    container_writable_layer: Family,
    container_log: Family,
    container_cpu: Family,
    container_received: Family,
    container_sent: Family,
    container_block_read: Family,
    container_block_write: Family,
    volume_size: Family,
    volume_in_use: Family,
    bind_mount_size: Family,
    bind_mount_in_use: Family,
    filesystem_size: Family,
    filesystem_used: Family,
    filesystem_free: Family,
    filesystem_part: Family,
    images: Family,
    build_cache: Family,
}

impl Families {
    fn new() -> Families {
        use Kind::*;
        let f = Family::new;
        Families {
            host_info: f("stackwatch_host", Info, None, "Docker engine behind each host label, as of its latest pass."),
            pass_time: f(
                "stackwatch_last_pass_timestamp_seconds",
                Gauge,
                Some("seconds"),
                "Start of the latest collect pass of this host (Unix time); alert when it gets old.",
            ),
            pass_duration: f(
                "stackwatch_last_pass_duration_seconds",
                Gauge,
                Some("seconds"),
                "Wall time the latest collect pass took.",
            ),
            pass_errors: f(
                "stackwatch_last_pass_errors",
                Gauge,
                None,
                "Objects the latest pass could not read completely (see pass_errors in the database).",
            ),
            docker_root_size: f(
                "stackwatch_docker_root_fs_size_bytes",
                Gauge,
                Some("bytes"),
                "Size of the filesystem holding the Docker root directory (absent when not visible to the collector).",
            ),
            docker_root_used: f(
                "stackwatch_docker_root_fs_used_bytes",
                Gauge,
                Some("bytes"),
                "Used bytes of the filesystem holding the Docker root directory.",
            ),
            docker_root_free: f(
                "stackwatch_docker_root_fs_free_bytes",
                Gauge,
                Some("bytes"),
                "Bytes available to unprivileged users on the filesystem holding the Docker root directory.",
            ),
            stack_containers: f("stackwatch_stack_containers", Gauge, None, "Containers of the stack, running or not."),
            stack_running: f("stackwatch_stack_running_containers", Gauge, None, "Running containers of the stack."),
            stack_disk: f(
                "stackwatch_stack_disk_bytes",
                Gauge,
                Some("bytes"),
                "Writable layers + logs + volumes of the stack, summing the measured parts (see stackwatch_stack_unmeasured_parts).",
            ),
            stack_rw: f(
                "stackwatch_stack_writable_layer_bytes",
                Gauge,
                Some("bytes"),
                "Writable layers of the stack's containers.",
            ),
            stack_log: f("stackwatch_stack_log_bytes", Gauge, Some("bytes"), "Log files of the stack's containers."),
            stack_volume: f(
                "stackwatch_stack_volume_bytes",
                Gauge,
                Some("bytes"),
                "Volumes of the stack (a volume shared by two stacks counts towards both).",
            ),
            stack_mem: f(
                "stackwatch_stack_memory_bytes",
                Gauge,
                Some("bytes"),
                "Memory used by the stack's containers.",
            ),
            stack_unmeasured: f(
                "stackwatch_stack_unmeasured_parts",
                Gauge,
                None,
                "Parts of the stack's disk total that could not be measured; 0 means stackwatch_stack_disk_bytes is complete.",
            ),
            container_state: f("stackwatch_container_state", StateSet, None, "Container state as Docker reports it."),
            container_health: f(
                "stackwatch_container_health",
                StateSet,
                None,
                "Healthcheck status; absent for containers without a healthcheck.",
            ),
            container_restarts: f(
                "stackwatch_container_restarts",
                Gauge,
                None,
                "Docker's restart count of the container (resets when the container is recreated).",
            ),
            container_exit_code: f(
                "stackwatch_container_exit_code",
                Gauge,
                None,
                "Exit code of the container's last run.",
            ),
            container_oom_killed: f(
                "stackwatch_container_oom_killed",
                Gauge,
                None,
                "1 when the container was OOM-killed in its last run or since the previous pass.",
            ),
            container_oom_kills: f(
                "stackwatch_container_oom_kills",
                Counter,
                None,
                "OOM kills of the container, counted from the engine's events over the history kept (keep_hourly).",
            ),
            container_restart_causes: f(
                "stackwatch_container_restarts_by_cause",
                Counter,
                None,
                "Restarts of the container by the exit code of the death before each, from the engine's events.",
            ),
            container_unhealthy_turns: f(
                "stackwatch_container_unhealthy_transitions",
                Counter,
                None,
                "Times the container's healthcheck turned unhealthy, from the engine's health_status events.",
            ),
            container_unhealthy_time: f(
                "stackwatch_container_unhealthy_seconds",
                Counter,
                Some("seconds"),
                "Time the container spent unhealthy, from the engine's events; a spell still open counts up to the newest pass.",
            ),
            container_started: f(
                "stackwatch_container_started_timestamp_seconds",
                Gauge,
                Some("seconds"),
                "When the container last started (Unix time).",
            ),
            container_memory: f(
                "stackwatch_container_memory_bytes",
                Gauge,
                Some("bytes"),
                "Memory in use without reclaimable page cache, as docker stats shows it.",
            ),
            container_memory_limit: f(
                "stackwatch_container_memory_limit_bytes",
                Gauge,
                Some("bytes"),
                "Memory limit of the container.",
            ),
            container_pids: f("stackwatch_container_pids", Gauge, None, "Processes and threads in the container."),
            container_writable_layer: f(
                "stackwatch_container_writable_layer_bytes",
                Gauge,
                Some("bytes"),
                "Size of the container's writable layer.",
            ),
            container_log: f(
                "stackwatch_container_log_bytes",
                Gauge,
                Some("bytes"),
                "Bytes on disk of the container's log files (json-file and local drivers).",
            ),
            container_cpu: f(
                "stackwatch_container_cpu_seconds",
                Counter,
                Some("seconds"),
                "CPU time used by the container since it last started.",
            ),
            container_received: f(
                "stackwatch_container_network_receive_bytes",
                Counter,
                Some("bytes"),
                "Bytes received on all of the container's interfaces.",
            ),
            container_sent: f(
                "stackwatch_container_network_transmit_bytes",
                Counter,
                Some("bytes"),
                "Bytes sent on all of the container's interfaces.",
            ),
            container_block_read: f(
                "stackwatch_container_block_read_bytes",
                Counter,
                Some("bytes"),
                "Bytes read from block devices.",
            ),
            container_block_write: f(
                "stackwatch_container_block_write_bytes",
                Counter,
                Some("bytes"),
                "Bytes written to block devices.",
            ),
            volume_size: f(
                "stackwatch_volume_size_bytes",
                Gauge,
                Some("bytes"),
                "Size of the volume; one series per owning stack, so a shared volume appears under each.",
            ),
            volume_in_use: f("stackwatch_volume_in_use", Gauge, None, "1 when a container mounts the volume."),
            bind_mount_size: f(
                "stackwatch_bind_mount_size_bytes",
                Gauge,
                Some("bytes"),
                "Size of a host path bind-mounted into containers (a nested bind's bytes are its own, not its parent's); \
                 one series per owning stack; absent when the path is never walked (system paths, sockets).",
            ),
            bind_mount_in_use: f(
                "stackwatch_bind_mount_in_use",
                Gauge,
                None,
                "1 when a container mounts the host path.",
            ),
            filesystem_size: f(
                "stackwatch_filesystem_size_bytes",
                Gauge,
                Some("bytes"),
                "Size of each filesystem holding something stackwatch measures (Docker root, bind sources, /).",
            ),
            filesystem_used: f(
                "stackwatch_filesystem_used_bytes",
                Gauge,
                Some("bytes"),
                "Used bytes of the filesystem.",
            ),
            filesystem_free: f(
                "stackwatch_filesystem_free_bytes",
                Gauge,
                Some("bytes"),
                "Bytes available to unprivileged users on the filesystem.",
            ),
            filesystem_part: f(
                "stackwatch_filesystem_part_bytes",
                Gauge,
                Some("bytes"),
                "Used bytes of the filesystem by what holds them: bind_mounts, volumes, logs, writable_layers, images, \
                 build_cache, and not_attributed (the rest: outside Docker, or not measured); the parts sum to used.",
            ),
            images: f(
                "stackwatch_images_bytes",
                Gauge,
                Some("bytes"),
                "Bytes of all image layers, each counted once, as the engine accounts them.",
            ),
            build_cache: f("stackwatch_build_cache_bytes", Gauge, Some("bytes"), "Bytes of the engine's build cache."),
        }
    }

    fn into_vec(self) -> Vec<Family> {
        vec![
            self.host_info,
            self.pass_time,
            self.pass_duration,
            self.pass_errors,
            self.docker_root_size,
            self.docker_root_used,
            self.docker_root_free,
            self.stack_containers,
            self.stack_running,
            self.stack_disk,
            self.stack_rw,
            self.stack_log,
            self.stack_volume,
            self.stack_mem,
            self.stack_unmeasured,
            self.container_state,
            self.container_health,
            self.container_restarts,
            self.container_exit_code,
            self.container_oom_killed,
            self.container_oom_kills,
            self.container_restart_causes,
            self.container_unhealthy_turns,
            self.container_unhealthy_time,
            self.container_started,
            self.container_memory,
            self.container_memory_limit,
            self.container_pids,
            self.container_writable_layer,
            self.container_log,
            self.container_cpu,
            self.container_received,
            self.container_sent,
            self.container_block_read,
            self.container_block_write,
            self.volume_size,
            self.volume_in_use,
            self.bind_mount_size,
            self.bind_mount_in_use,
            self.filesystem_size,
            self.filesystem_used,
            self.filesystem_free,
            self.filesystem_part,
            self.images,
            self.build_cache,
        ]
    }
}

fn int(v: Option<i64>) -> Option<Value> {
    v.map(Value::Int)
}

/// Every host's latest pass as metric families, in a stable order.
pub fn build(db: &Reader<'_>, config: &Config, projects: &Projects) -> Result<Vec<Family>> {
    let hosts = db.hosts().context("cannot read hosts from the history")?;
    let mut f = Families::new();
    for h in &hosts {
        let pass = db.pass(h.latest_pass)?;
        let info = db.pass_info(h.latest_pass)?;
        let edge =
            RecordedPass::load(db, pass).with_context(|| format!("cannot read the latest pass of {}", h.hostname))?;
        let owners = stack_owners(&[&edge], config, projects);
        let host: Labels = vec![("host", h.hostname.clone())];

        f.host_info.push(
            vec![
                ("host", h.hostname.clone()),
                ("hostname", info.hostname.clone()),
                ("engine_id", h.engine_id.clone()),
                ("engine_version", info.engine_version.clone()),
                ("api_version", info.api_version.clone()),
            ],
            Some(Value::Int(1)),
        );
        f.pass_time.push(host.clone(), int(Some(pass.started_at)));
        f.pass_duration.push(host.clone(), Some(Value::from_millis(info.duration_ms)));
        f.pass_errors.push(host.clone(), int(Some(info.error_count)));
        f.docker_root_size.push(host.clone(), int(pass.fs_total));
        f.docker_root_used.push(host.clone(), int(pass.fs_used));
        f.docker_root_free.push(host.clone(), int(pass.fs_free));

        // Owner and managed/foreign for a stack, as the report resolves them.
        let stack_labels = |kind: StackKind, name: &str| -> Labels {
            let (owner, managed) = owners
                .get(&StackKey::new(kind, name))
                .map(|(o, m)| (o.owner.clone(), *m))
                .unwrap_or_else(|| ("unowned".into(), false));
            vec![
                ("host", h.hostname.clone()),
                ("stack", name.to_string()),
                ("kind", kind.to_string()),
                ("owner", owner),
                ("managed", managed.to_string()),
            ]
        };

        let mut stacks: Vec<_> = edge.stacks.iter().collect();
        stacks.sort_by(|a, b| (&a.name, &a.kind).cmp(&(&b.name, &b.kind)));
        for s in stacks {
            let l = stack_labels(s.kind, &s.name);
            f.stack_containers.push(l.clone(), int(Some(s.containers)));
            f.stack_running.push(l.clone(), int(Some(s.running)));
            f.stack_disk.push(l.clone(), int(s.disk_bytes));
            f.stack_rw.push(l.clone(), int(s.rw_bytes));
            f.stack_log.push(l.clone(), int(s.log_bytes));
            f.stack_volume.push(l.clone(), int(s.volume_bytes));
            f.stack_mem.push(l.clone(), int(s.mem_bytes));
            f.stack_unmeasured.push(l, int(Some(s.unknown_sizes)));
        }

        // Counted from the events of the containers this pass saw (by ID:
        // a recreated container starts again from 0, a counter reset).
        let end_ns = edge.pass.started_at.saturating_mul(1_000_000_000);
        let mut tallies = std::collections::BTreeMap::new();
        db.events_of_pass_containers(h.host_id, h.latest_pass, &mut |rows| {
            tallies.extend(crate::history::events::tallies(rows, end_ns))
        })?;
        // Docker's container states, in the engine's own order.
        let known_states: Vec<&str> = ContainerState::KNOWN.iter().map(ContainerState::as_str).collect();
        let mut containers: Vec<_> = edge.containers.iter().collect();
        containers.sort_by(|a, b| (&a.stack, &a.name).cmp(&(&b.stack, &b.name)));
        for c in containers {
            let mut l = stack_labels(c.stack_kind, &c.stack);
            l.insert(3, ("service", c.service.clone().unwrap_or_default()));
            l.insert(4, ("container", c.name.clone()));
            let stats = &c.stats;
            f.container_state.push_states(l.clone(), &known_states, Some(c.state.as_str()));
            f.container_health.push_states(l.clone(), HEALTH_STATES, c.health.as_deref());
            f.container_restarts.push(l.clone(), int(c.restart_count));
            f.container_exit_code.push(l.clone(), int(c.exit_code));
            f.container_oom_killed.push(l.clone(), int(c.oom_killed.map(i64::from)));
            let tally = tallies.get(&c.name).cloned().unwrap_or_default();
            f.container_oom_kills.push(l.clone(), int(Some(tally.oom_kills)));
            // Only containers with a healthcheck can turn unhealthy.
            if c.health.is_some() || tally.unhealthy_turns > 0 {
                f.container_unhealthy_turns.push(l.clone(), int(Some(tally.unhealthy_turns)));
                f.container_unhealthy_time.push(l.clone(), Some(Value::from_nanos(tally.unhealthy_ns)));
            }
            for cause in tally.restarts {
                let mut cl = l.clone();
                cl.push(("exit_code", cause.exit_code.map(|e| e.to_string()).unwrap_or_default()));
                let reading = match cause.reading.as_str() {
                    "killed: OOM" => "oom",
                    "SIGKILL" => "sigkill",
                    "SIGTERM" => "sigterm",
                    "could not run" => "could_not_run",
                    _ => "exit",
                };
                cl.push(("cause", reading.to_string()));
                f.container_restart_causes.push(cl, int(Some(cause.times)));
            }
            f.container_started.push(l.clone(), int(c.started_at));
            f.container_memory.push(l.clone(), int(stats.mem_bytes));
            f.container_memory_limit.push(l.clone(), int(stats.mem_limit_bytes));
            f.container_pids.push(l.clone(), int(stats.pids));
            f.container_writable_layer.push(l.clone(), int(c.rw_bytes));
            f.container_log.push(l.clone(), int(c.log_bytes));
            // Counters restart from zero when the container does: its start
            // time is the OpenMetrics `_created` of each.
            let created = c.started_at.filter(|_| c.state == ContainerState::Running);
            for (fam, v) in [
                (&mut f.container_cpu, stats.cpu_ns.map(Value::from_nanos)),
                (&mut f.container_received, int(stats.net_rx_bytes)),
                (&mut f.container_sent, int(stats.net_tx_bytes)),
                (&mut f.container_block_read, int(stats.blkio_read_bytes)),
                (&mut f.container_block_write, int(stats.blkio_write_bytes)),
            ] {
                fam.push(l.clone(), v);
                if let Some(s) = fam.samples.last_mut().filter(|s| s.labels == l) {
                    s.created = created;
                }
            }
        }

        let mut volumes: Vec<_> = edge.volumes.iter().collect();
        volumes.sort_by(|a, b| a.name.cmp(&b.name));
        for v in volumes {
            let mut owners_of_volume: Vec<Labels> = v.stacks.iter().map(|o| stack_labels(o.kind, &o.stack)).collect();
            if owners_of_volume.is_empty() {
                owners_of_volume.push(vec![
                    ("host", h.hostname.clone()),
                    ("stack", String::new()),
                    ("kind", String::new()),
                    ("owner", "unowned".into()),
                    ("managed", "false".into()),
                ]);
            }
            for mut l in owners_of_volume {
                match v.kind {
                    MountKind::Volume => {
                        l.insert(1, ("volume", v.name.clone()));
                        f.volume_size.push(l.clone(), int(v.size_bytes));
                        f.volume_in_use.push(l, int(Some(i64::from(v.in_use))));
                    }
                    MountKind::Bind => {
                        l.insert(1, ("path", v.name.clone()));
                        f.bind_mount_size.push(l.clone(), int(v.size_bytes));
                        f.bind_mount_in_use.push(l, int(Some(i64::from(v.in_use))));
                    }
                }
            }
        }

        f.images.push(host.clone(), int(edge.docker_totals.images_bytes));
        f.build_cache.push(host.clone(), int(edge.docker_totals.build_cache_bytes));
        for fs in &edge.filesystems {
            let l: Labels = vec![("host", h.hostname.clone()), ("mount_point", fs.mount_point.clone())];
            f.filesystem_size.push(l.clone(), int(Some(fs.total)));
            f.filesystem_used.push(l.clone(), int(Some(fs.used)));
            f.filesystem_free.push(l.clone(), int(Some(fs.free)));
            let mut attributed = 0i64;
            for (part, bytes) in reconcile::parts_now(&edge, fs) {
                attributed += bytes;
                let mut pl = l.clone();
                pl.push(("part", part.to_string()));
                f.filesystem_part.push(pl, int(Some(bytes)));
            }
            let mut pl = l.clone();
            pl.push(("part", "not_attributed".to_string()));
            f.filesystem_part.push(pl, int(Some(fs.used - attributed)));
        }
    }
    Ok(f.into_vec())
}
