//! A generated box shaped like the one the section was tried on: mostly
//! compose stacks of a few services with a volume each, a third of the
//! stacks tiny standalone containers (many of them exited one-offs), a few
//! stacks restarting or unhealthy, some orphaned volumes and unused images,
//! and one factory stack. Two passes 24 hours apart. Shared by the budget
//! test (tests/section_budget.rs) and `bench section` (examples/bench.rs).

use std::collections::BTreeMap;

use stackwatch::collect::aggregate;
use stackwatch::model::snapshot::*;
use stackwatch::model::stack;

/// 2026-11-25T00:00:00Z
pub const T0: i64 = 1_795_564_800;
pub const DAY: i64 = 86_400;
const MB: i64 = 1_000_000;

/// The start and end passes of a box with `stacks` stacks.
pub fn passes(stacks: usize) -> [Snapshot; 2] {
    [snapshot(T0, stacks, false), snapshot(T0 + DAY, stacks, true)]
}

fn labels(pairs: &[(&str, String)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

fn snapshot(at: i64, n: usize, end: bool) -> Snapshot {
    let mut containers = Vec::new();
    let mut volumes = Vec::new();
    let mut images = Vec::new();
    for s in 0..n {
        // A pseudo-random but fixed spread of sizes.
        let size = MB * (((s * 7919) % 2_000) as i64 + 10);
        match s % 3 {
            // Standalone one-off containers of 4.1 kB: every other one
            // exited with an error.
            2 => {
                let name = format!("oneoff-task-{s:03}");
                let failed = s % 2 == 0;
                containers.push(ContainerSample {
                    id: format!("c-{name}"),
                    name: name.clone(),
                    stack: Some(stack::identify(&name, &BTreeMap::new()).0),
                    image: "busybox:latest".into(),
                    image_id: Some("sha256:busybox".into()),
                    state: "exited".into(),
                    exit_code: Some(if failed { 3 } else { 0 }),
                    oom_killed: Some(false),
                    restart_count: Some(0),
                    rw_bytes: Some(4_096),
                    log_bytes: Some(0),
                    ..Default::default()
                });
            }
            _ => {
                let project = format!("project-{s:03}");
                let dir = format!("/srv/compose/{project}");
                let volume = format!("{project}_data");
                let grows = s % 4 == 0;
                let vsize = if end && grows { size + MB * (s as i64 % 50 + 1) * 20 } else { size };
                for (i, service) in ["app", "db", "worker"].iter().enumerate().take(1 + s % 3) {
                    let name = format!("{project}-{service}-1");
                    let l = labels(&[
                        ("com.docker.compose.project", project.clone()),
                        ("com.docker.compose.service", service.to_string()),
                        ("com.docker.compose.project.working_dir", dir.clone()),
                        ("com.docker.compose.project.config_files", format!("{dir}/docker-compose.yml")),
                    ]);
                    let (key, svc) = stack::identify(&name, &l);
                    let restarting = s % 20 == 1 && i == 0;
                    let unhealthy = s % 20 == 4 && i == 0;
                    containers.push(ContainerSample {
                        id: format!("c-{name}"),
                        name,
                        stack: Some(key),
                        service: svc,
                        labels: l,
                        image: format!("{project}-{service}:latest"),
                        image_id: Some(format!("sha256:{project}-{service}")),
                        state: if restarting && end { "restarting".into() } else { "running".into() },
                        health: unhealthy.then(|| if end { "unhealthy".into() } else { "healthy".into() }),
                        restart_count: Some(if restarting && end { 40 } else { 0 }),
                        exit_code: Some(if restarting { 1 } else { 0 }),
                        oom_killed: Some(false),
                        rw_bytes: Some(20 * MB),
                        log_bytes: Some(if end { 3 * MB } else { MB }),
                        mounts: if i == 0 { vec![volume.clone()] } else { vec![] },
                        stats: Some(Stats { mem_bytes: Some(100 * MB), ..Default::default() }),
                        ..Default::default()
                    });
                    images.push(ImageSample {
                        id: format!("sha256:{project}-{service}"),
                        tags: vec![format!("{project}-{service}:latest")],
                        size_bytes: Some(150 * MB),
                        ..Default::default()
                    });
                }
                volumes.push(VolumeSample {
                    name: volume,
                    driver: "local".into(),
                    labels: labels(&[("com.docker.compose.project", project.clone())]),
                    size_bytes: Some(vsize),
                    size_method: Some("walk"),
                    ..Default::default()
                });
                // Every seventh project left an old image behind.
                if s % 7 == 0 {
                    images.push(ImageSample {
                        id: format!("sha256:{project}-old"),
                        tags: vec![format!("{project}_app:previous")],
                        size_bytes: Some(300 * MB),
                        labels: labels(&[("com.docker.compose.project", project.clone())]),
                        ..Default::default()
                    });
                }
            }
        }
        // Every eleventh stack number is also a project that was taken down
        // and left its volume.
        if s % 11 == 5 {
            let project = format!("gone-{s:03}");
            volumes.push(VolumeSample {
                name: format!("{project}_data"),
                driver: "local".into(),
                labels: labels(&[("com.docker.compose.project", project)]),
                size_bytes: Some(4_096),
                size_method: Some("walk"),
                ..Default::default()
            });
        }
    }
    images.push(ImageSample {
        id: "sha256:busybox".into(),
        tags: vec!["busybox:latest".into()],
        size_bytes: Some(2 * MB),
        ..Default::default()
    });
    let stacks = aggregate::attribute(&containers, &mut volumes, &mut images);
    let used = 300_000 * MB + if end { 30_000 * MB } else { 0 };
    Snapshot {
        started_at: at,
        duration_ms: 500,
        host: HostInfo {
            engine_id: "GENERATED".into(),
            hostname: "generated-box".into(),
            engine_version: "27.0.3".into(),
            api_version: "1.46".into(),
            docker_root: Some("/var/lib/docker".into()),
            fs: Some(FsUsage { total_bytes: 1_000_000 * MB, used_bytes: used, free_bytes: 1_000_000 * MB - used }),
            root_visible: true,
        },
        containers,
        volumes,
        images,
        stacks,
        ..Default::default()
    }
}
