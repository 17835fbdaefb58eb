//! Window arithmetic, edges, creation and removal inside the window, and
//! the fill projection, on a history database the test builds itself
//! (no engine needed: the passes are synthetic but go through the real
//! store and the real report code).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use stackwatch::collect::aggregate;
use stackwatch::config::Config;
use stackwatch::history::model::{Growth, HostReport, Report};
use stackwatch::history::owners::{Projects, parse_project};
use stackwatch::history::{self, Request};
use stackwatch::model::snapshot::*;
use stackwatch::section::render::Renderer;
use stackwatch::store::{self};

const GB: i64 = 1_000_000_000;
const H: i64 = 3600;
/// 2026-11-25T00:00:00Z
const T0: i64 = 1_795_564_800;

#[derive(Clone)]
struct C {
    name: &'static str,
    project: Option<&'static str>,
    rw: Option<i64>,
    log: Option<i64>,
    restarts: i64,
    state: &'static str,
    health: Option<&'static str>,
    labels: Vec<(&'static str, &'static str)>,
    mounts: Vec<&'static str>,
    image: &'static str,
}

fn c(name: &'static str, project: Option<&'static str>) -> C {
    C {
        name,
        project,
        rw: Some(0),
        log: Some(0),
        restarts: 0,
        state: "running",
        health: None,
        labels: vec![],
        mounts: vec![],
        image: "sha256:app",
    }
}

struct V {
    name: &'static str,
    project: Option<&'static str>,
    size: Option<i64>,
}

fn v(name: &'static str, project: Option<&'static str>, size: i64) -> V {
    V { name, project, size: Some(size) }
}

struct World {
    fs_used: Option<i64>,
    containers: Vec<C>,
    volumes: Vec<V>,
    images: Vec<(&'static str, &'static str, i64)>,
}

fn snapshot(at: i64, w: &World) -> Snapshot {
    let containers: Vec<ContainerSample> = w
        .containers
        .iter()
        .map(|c| {
            let mut labels: BTreeMap<String, String> =
                c.labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            if let Some(p) = c.project {
                labels.insert("com.docker.compose.project".into(), p.into());
            }
            let (stack, service) = stackwatch::model::stack::identify(c.name, &labels);
            ContainerSample {
                id: format!("id-{}", c.name),
                name: c.name.into(),
                stack: Some(stack),
                service,
                labels,
                image: "app:latest".into(),
                image_id: Some(c.image.into()),
                state: c.state.into(),
                health: c.health.map(str::to_string),
                restart_count: Some(c.restarts),
                exit_code: Some(if c.state == "exited" { 3 } else { 0 }),
                oom_killed: Some(false),
                rw_bytes: c.rw,
                log_bytes: c.log,
                mounts: c.mounts.iter().map(|m| m.to_string()).collect(),
                stats: (c.state == "running").then_some(Stats { mem_bytes: Some(1_000_000), ..Default::default() }),
                ..Default::default()
            }
        })
        .collect();
    let mut volumes: Vec<VolumeSample> = w
        .volumes
        .iter()
        .map(|v| VolumeSample {
            name: v.name.into(),
            driver: "local".into(),
            labels: v
                .project
                .map(|p| BTreeMap::from([("com.docker.compose.project".to_string(), p.to_string())]))
                .unwrap_or_default(),
            size_bytes: v.size,
            size_method: Some("engine"),
            ..Default::default()
        })
        .collect();
    let mut images: Vec<ImageSample> = w
        .images
        .iter()
        .map(|(id, tag, size)| ImageSample {
            id: id.to_string(),
            tags: vec![tag.to_string()],
            size_bytes: Some(*size),
            ..Default::default()
        })
        .collect();
    let stacks = aggregate::attribute(&containers, &mut volumes, &mut images);
    Snapshot {
        started_at: at,
        duration_ms: 100,
        host: HostInfo {
            engine_id: "ENGINE-1".into(),
            hostname: "harb-dev-box".into(),
            engine_version: "27.0.3".into(),
            api_version: "1.46".into(),
            docker_root: Some("/var/lib/docker".into()),
            fs: w.fs_used.map(|u| FsUsage { total_bytes: 100 * GB, used_bytes: u, free_bytes: 100 * GB - u }),
            root_visible: false,
        },
        containers,
        volumes,
        images,
        stacks,
        ..Default::default()
    }
}

struct History {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
}

fn history(passes: &[(i64, World)]) -> History {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.db");
    let mut st = store::open_for_write(&path, Duration::from_secs(5)).unwrap();
    for (at, w) in passes {
        st.insert_pass(&snapshot(*at, w)).unwrap();
    }
    History { _dir: dir, path }
}

fn run(h: &History, window: &str, now: i64, projects: &Projects, vault: bool) -> Report {
    let st = store::open_read_only(&h.path, Duration::from_secs(5)).unwrap();
    let d = stackwatch::time::parse_duration(window).unwrap();
    let config = Config::default();
    history::build(
        &st.reader().unwrap(),
        &Request {
            window: stackwatch::time::Window { seconds: d.as_secs() as i64, text: window.into() },
            now,
            config: &config,
            projects,
            vault,
        },
    )
    .unwrap()
}

fn host(r: &Report) -> &HostReport {
    assert_eq!(r.hosts.len(), 1);
    &r.hosts[0]
}

fn growth<'a>(list: &'a [Growth], name: &str) -> &'a Growth {
    list.iter().find(|g| g.name == name).unwrap_or_else(|| panic!("no growth row for {name}: {list:#?}"))
}

fn chain_world(chain: i64, fs_used: i64) -> World {
    let mut anvil = c("harb-anvil-1", Some("harb"));
    anvil.mounts = vec!["harb_chain"];
    anvil.log = Some(chain / 100);
    anvil.rw = Some(40_000_000);
    World {
        fs_used: Some(fs_used),
        containers: vec![anvil],
        volumes: vec![v("harb_chain", Some("harb"), chain)],
        images: vec![],
    }
}

#[test]
fn growth_compares_the_newest_pass_at_or_before_the_window_start_with_the_newest_pass() {
    // Hourly passes for 30 hours; the chain volume grows 1 GB an hour.
    let passes: Vec<(i64, World)> = (0..=30).map(|i| (T0 + i * H, chain_world(i * GB, 20 * GB + i * GB))).collect();
    let h = history(&passes);
    let r = run(&h, "24h", T0 + 30 * H + 60, &Projects::default(), false);
    let hr = host(&r);
    assert!(hr.covers_window);
    assert_eq!(hr.span_seconds, 24 * H);
    assert_eq!(hr.from, "2026-11-25T06:00:00Z");
    assert_eq!(hr.passes, 25);
    let stack = growth(&hr.growth.stacks, "harb");
    assert_eq!(stack.change, "grew");
    // Volume +24 GB and logs +0.24 GB; the writable layer did not change.
    assert_eq!(stack.delta_bytes, Some(24 * GB + 24 * GB / 100));
    assert_eq!(stack.sentence, "`harb` grew 24.2 GB in 24h (volume `harb_chain` +24 GB, logs +240 MB)");
    let container = growth(&hr.growth.containers, "harb-anvil-1");
    assert_eq!(container.delta_bytes, stack.delta_bytes, "its volume and logs are the stack's growth");
    assert_eq!(growth(&hr.growth.volumes, "harb_chain").delta_bytes, Some(24 * GB));

    // A window between passes takes the newest pass at or before its start.
    let r = run(&h, "90m", T0 + 30 * H, &Projects::default(), false);
    let hr = host(&r);
    assert_eq!(hr.from, "2026-11-26T04:00:00Z", "28h30m rounds down to the 28h pass");
    assert_eq!(growth(&hr.growth.volumes, "harb_chain").delta_bytes, Some(2 * GB));
    assert_eq!(hr.span, "2h");
}

#[test]
fn two_stacks_of_one_name_and_different_kinds_each_show_their_own_change() {
    // A compose project `web` and a standalone container named `web`.
    let world = |standalone_rw: i64| {
        let mut alone = c("web", None);
        alone.rw = Some(standalone_rw);
        let mut app = c("web-app-1", Some("web"));
        app.rw = Some(7_000_000);
        World { fs_used: Some(30 * GB), containers: vec![alone, app], volumes: vec![], images: vec![] }
    };
    let h = history(&[(T0, world(1_000_000)), (T0 + 24 * H, world(6_000_000))]);
    let report = run(&h, "24h", T0 + 24 * H, &Projects::default(), false);
    let change = |kind: &str| {
        let s = host(&report).stacks.iter().find(|s| s.name == "web" && s.kind == kind).unwrap();
        (s.growth_bytes, s.change.clone())
    };
    assert_eq!(change("standalone"), (Some(5_000_000), "+5 MB".to_string()));
    assert_eq!(change("compose"), (Some(0), "0 B".to_string()));
}

#[test]
fn a_history_shorter_than_the_window_says_what_it_covers() {
    let h = history(&[(T0, chain_world(GB, 20 * GB)), (T0 + 3 * H + 600, chain_world(3 * GB, 22 * GB))]);
    let r = run(&h, "24h", T0 + 3 * H + 700, &Projects::default(), false);
    let hr = host(&r);
    assert!(!hr.covers_window);
    assert_eq!(hr.span, "3h 10m");
    assert!(hr.coverage.starts_with("History covers only 3h 10m of the 24h window"), "{}", hr.coverage);
    let vol = growth(&hr.growth.volumes, "harb_chain");
    assert_eq!(vol.sentence, "`harb_chain` grew 2 GB in 3h 10m");
}

#[test]
fn a_single_pass_claims_no_growth() {
    let h = history(&[(T0, chain_world(5 * GB, 20 * GB))]);
    let r = run(&h, "24h", T0 + 60, &Projects::default(), false);
    let hr = host(&r);
    assert!(hr.coverage.starts_with("Only one pass so far"), "{}", hr.coverage);
    assert!(hr.growth.stacks.is_empty() && hr.growth.volumes.is_empty() && hr.growth.containers.is_empty());
    let d = hr.disk.as_ref().unwrap();
    assert_eq!((d.growth_bytes, d.fill.as_str()), (None, "unknown"));
    let md = Renderer::new(None).unwrap().section(&r, 10, None).unwrap();
    assert!(md.contains("no stack changed size (needs two passes)"), "{md}");
}

#[test]
fn objects_created_removed_or_shrinking_inside_the_window() {
    let start = World {
        fs_used: Some(30 * GB),
        containers: vec![c("gone-web-1", Some("gone")), c("keep-db-1", Some("keep"))],
        volumes: vec![v("gone_data", Some("gone"), 2 * GB), v("keep_cache", Some("keep"), 5 * GB)],
        images: vec![],
    };
    let end = World {
        fs_used: Some(31 * GB),
        containers: vec![c("keep-db-1", Some("keep")), c("fresh-app-1", Some("fresh"))],
        volumes: vec![v("keep_cache", Some("keep"), 4 * GB), v("fresh_data", Some("fresh"), 3_100_000_000)],
        images: vec![],
    };
    let h = history(&[(T0, start), (T0 + 24 * H, end)]);
    let hr_report = run(&h, "24h", T0 + 24 * H, &Projects::default(), false);
    let hr = host(&hr_report);
    assert_eq!(growth(&hr.growth.volumes, "fresh_data").sentence, "`fresh_data` new in window: 3.1 GB");
    assert_eq!(growth(&hr.growth.volumes, "gone_data").sentence, "`gone_data` removed: freed 2 GB");
    assert_eq!(growth(&hr.growth.volumes, "keep_cache").sentence, "`keep_cache` shrank 1 GB in 24h");
    assert_eq!(growth(&hr.growth.stacks, "gone").change, "removed");
    assert_eq!(growth(&hr.growth.stacks, "fresh").change, "new");
    assert_eq!(growth(&hr.growth.containers, "gone-web-1").change, "removed");
    // Ranked by bytes: new 3.1 GB first, the removal last.
    let order: Vec<&str> = hr.growth.volumes.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(order, vec!["fresh_data", "keep_cache", "gone_data"]);
}

#[test]
fn fill_projection_and_disk_pressure_name_the_top_contributors() {
    // 100 GB disk, used 80 -> 90 GB over 10 hours: 1 GB/h, 10 GB free: full in 10h.
    let h = history(&[(T0, chain_world(10 * GB, 80 * GB)), (T0 + 10 * H, chain_world(20 * GB, 90 * GB))]);
    let r = run(&h, "10h", T0 + 10 * H, &Projects::default(), false);
    let hr = host(&r);
    let d = hr.disk.as_ref().unwrap();
    assert_eq!((d.used_percent, d.growth_bytes, d.fill_seconds), (90.0, Some(10 * GB), Some(10 * H)));
    assert_eq!(d.full_at.as_deref(), Some("2026-11-25T20:00:00Z"));
    assert!(d.over_threshold);
    assert!(d.sentence.contains("over the 80% threshold"), "{}", d.sentence);
    assert!(d.sentence.contains("at this rate full in 10h"), "{}", d.sentence);
    assert!(d.sentence.contains("top contributors in 10h: `harb` +10.1 GB"), "{}", d.sentence);
    let kinds: Vec<(&str, &str)> = hr.findings.iter().map(|f| (f.kind, f.priority)).collect();
    assert_eq!(&kinds[..2], &[("disk_pressure", "P1"), ("disk_filling", "P1")], "{kinds:?}");
    assert!(
        hr.findings[0].summary.starts_with("Disk pressure: "),
        "the tier is not repeated: {}",
        hr.findings[0].summary
    );
    let fill = &hr.findings[1];
    assert!(
        fill.summary.contains("fills in about 10h") && fill.summary.contains("driven by `harb` +10.1 GB (101%)"),
        "{}",
        fill.summary
    );

    // Shrinking use is "not filling"; a 5-minute span is too short to project.
    let h = history(&[(T0, chain_world(10 * GB, 50 * GB)), (T0 + H, chain_world(10 * GB, 49 * GB))]);
    assert_eq!(host(&run(&h, "1h", T0 + H, &Projects::default(), false)).disk.as_ref().unwrap().fill, "not filling");
    let h = history(&[(T0, chain_world(10 * GB, 50 * GB)), (T0 + 300, chain_world(10 * GB, 51 * GB))]);
    assert_eq!(host(&run(&h, "1h", T0 + 300, &Projects::default(), false)).disk.as_ref().unwrap().fill, "unknown");
}

fn symptom_worlds() -> (World, World) {
    let mut looper = c("billing-worker-1", Some("billing"));
    looper.restarts = 3;
    let mut sick = c("billing-api-1", Some("billing"));
    sick.health = Some("healthy");
    let mut factory = c("disinto-agent-1", Some("disinto"));
    factory.labels = vec![("com.disinto.managed", "true")];
    factory.restarts = 0;
    let mut old = c("legacy-app-1", Some("legacy"));
    old.image = "sha256:old";
    let start = World {
        fs_used: Some(40 * GB),
        containers: vec![looper.clone(), sick.clone(), factory.clone(), old],
        volumes: vec![v("legacy_data", Some("legacy"), GB), v("billing_db", Some("billing"), 2 * GB)],
        images: vec![("sha256:app", "app:latest", 100_000_000), ("sha256:old", "legacy_app:v1", 700_000_000)],
    };
    looper.restarts = 17;
    looper.state = "restarting";
    sick.health = Some("unhealthy");
    factory.restarts = 4;
    let end = World {
        fs_used: Some(45 * GB),
        containers: vec![looper, sick, factory],
        volumes: vec![v("legacy_data", Some("legacy"), GB), v("billing_db", Some("billing"), 5 * GB)],
        images: vec![("sha256:app", "app:latest", 100_000_000), ("sha256:old", "legacy_app:v1", 700_000_000)],
    };
    (start, end)
}

#[test]
fn symptoms_across_stacks_with_owners_priorities_and_vault_names() {
    let (start, end) = symptom_worlds();
    let mid = symptom_worlds().1;
    let h = history(&[(T0, start), (T0 + 12 * H, mid), (T0 + 24 * H, end)]);
    let projects = Projects {
        list: vec![parse_project(
            "name = \"billing\"\nrepo = \"acme/billing\"\n[siblings]\nstacks = [\"billing\"]\nowner = \"team-billing\"\n",
            Path::new("/f/projects/billing.toml"),
        )
        .unwrap()],
        errors: vec![],
    };
    let r = run(&h, "24h", T0 + 24 * H, &projects, true);
    let hr = host(&r);
    let by_key: BTreeMap<&str, &stackwatch::history::model::Finding> =
        hr.findings.iter().map(|f| (f.key.as_str(), f)).collect();

    let restarting = by_key["restarting:compose:billing"];
    assert_eq!(restarting.priority, "P3", "foreign stack degraded");
    assert!(restarting.summary.contains("`billing-worker-1` restart count 3 → 17 in 24h"), "{}", restarting.summary);
    assert_eq!(restarting.owner.as_deref(), Some("team-billing"));
    assert_eq!(restarting.owner_source.as_deref(), Some("`projects/billing.toml` `[siblings]` stacks `billing`"));
    assert_eq!(restarting.vault_file.as_deref(), Some("stackwatch-billing-restarting.md"));

    let unhealthy = by_key["unhealthy:compose:billing"];
    assert_eq!(unhealthy.since.as_deref(), Some("2026-11-25T12:00:00Z"), "first unhealthy sample");
    assert!(unhealthy.summary.contains("unhealthy since 2026-11-25T12:00:00Z"), "{}", unhealthy.summary);
    assert!(!unhealthy.summary.contains("(12h)"), "a start time, not a duration from now: {}", unhealthy.summary);

    let factory = by_key["restarting:compose:disinto"];
    assert!(factory.factory);
    assert_eq!(factory.priority, "P2", "factory service churning");
    assert_eq!(factory.vault_file, None, "the factory's own findings are not vault items");

    let bloat = by_key["volume_bloat:compose:billing"];
    assert!(
        bloat.summary.contains("volume `billing_db` grew 3 GB in 24h (from 2 GB to 5 GB, +150%; about 3 GB/day)"),
        "{}",
        bloat.summary
    );
    assert_eq!(bloat.priority, "P4", "disk is at 45%, not filling within 7d; 3 GB/day is under 5 GB/day");
    assert_eq!(bloat.vault_file, None, "P4 housekeeping is no vault item by default");

    let orphan = by_key["orphaned_volume:compose:legacy"];
    assert!(orphan.summary.contains("`legacy_data` holds 1 GB"), "{}", orphan.summary);
    assert_eq!(orphan.owner.as_deref(), Some("unowned"));

    let images = by_key["unused_images:compose:legacy"];
    assert!(images.summary.contains("1 unused image holding 700 MB: `legacy_app:v1` (700 MB)"), "{}", images.summary);

    // Sorted by priority.
    let prios: Vec<&str> = hr.findings.iter().map(|f| f.priority).collect();
    let mut sorted = prios.clone();
    sorted.sort();
    assert_eq!(prios, sorted);
}

/// `name`'s health turning unhealthy at each of `at` and healthy again
/// `spell` seconds later, as a pass stores the engine's events.
fn flaps(name: &str, project: &str, at: &[i64], spell: i64) -> Vec<ContainerEvent> {
    let event = |t: i64, health: &str| ContainerEvent {
        at_ns: t * 1_000_000_000,
        container_id: format!("id-{name}"),
        name: name.into(),
        stack: Some(StackKey { kind: StackKind::Compose, name: project.into() }),
        service: Some("web".into()),
        action: "health_status".into(),
        health: Some(health.into()),
        exit_code: None,
        signal: None,
        oom: false,
    };
    at.iter().flat_map(|t| [event(*t, "unhealthy"), event(t + spell, "healthy")]).collect()
}

#[test]
fn rendered_markdown_matches_the_snapshot() {
    let (start, mut end) = symptom_worlds();
    // A stack whose health flapped between the passes, healthy at both:
    // its finding and vault item come from the events alone.
    let mut web = c("shop-web-1", Some("shop"));
    web.health = Some("healthy");
    end.containers.push(web);
    let mut last = snapshot(T0 + 24 * H, &end);
    last.events = flaps("shop-web-1", "shop", &[T0 + 20 * H, T0 + 21 * H, T0 + 22 * H, T0 + 23 * H], 150);
    let h = history(&[(T0, start)]);
    {
        let mut st = store::open_for_write(&h.path, Duration::from_secs(5)).unwrap();
        st.insert_pass(&last).unwrap();
    }
    let r = run(&h, "24h", T0 + 24 * H + 120, &Projects::default(), true);
    let renderer = Renderer::new(None).unwrap();
    let mut text = renderer.section(&r, 10, Some(4096)).unwrap();
    let hr = host(&r);
    let f = hr.findings.iter().find(|f| f.kind == "restarting" && !f.factory).unwrap();
    text.push_str("\n----- vault item -----\n");
    text.push_str(&renderer.vault_item(&r, hr, f).unwrap());
    let f = hr.findings.iter().find(|f| f.stack.as_deref() == Some("shop")).unwrap();
    assert_eq!((f.kind, f.priority, f.count), ("unhealthy", "P3", Some(4)));
    text.push_str("\n----- vault item counted from events -----\n");
    text.push_str(&renderer.vault_item(&r, hr, f).unwrap());
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/report.md");
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &text).unwrap();
    }
    let expected = std::fs::read_to_string(&path).expect("snapshot missing: run with UPDATE_SNAPSHOTS=1 and review it");
    assert_eq!(text, expected, "rendered markdown changed; review and run with UPDATE_SNAPSHOTS=1");
}

#[test]
fn a_size_unmeasured_in_one_pass_is_not_growth_or_shrinkage() {
    // The engine's size accounting failed in the second pass: volume and
    // log sizes are unknown there, which must not read as "shrank 5 GB".
    let mut blind = chain_world(5 * GB, 20 * GB);
    blind.volumes[0].size = None;
    blind.containers[0].log = None;
    let h = history(&[(T0, chain_world(5 * GB, 20 * GB)), (T0 + H, blind)]);
    let r = run(&h, "1h", T0 + H, &Projects::default(), false);
    let g = growth(&host(&r).growth.stacks, "harb");
    assert_eq!(g.delta_bytes, Some(0), "only the writable layer was comparable, and it did not change");
    assert!(g.sentence.contains("some parts not measurable"), "{}", g.sentence);
    assert_eq!(growth(&host(&r).growth.volumes, "harb_chain").change, "unknown");

    // Measured again later: growth across the blind pass is real growth.
    let h = history(&[
        (T0, chain_world(5 * GB, 20 * GB)),
        (T0 + H, {
            let mut b = chain_world(5 * GB, 20 * GB);
            b.volumes[0].size = None;
            b
        }),
        (T0 + 2 * H, chain_world(6 * GB, 21 * GB)),
    ]);
    let r = run(&h, "2h", T0 + 2 * H, &Projects::default(), false);
    assert_eq!(growth(&host(&r).growth.stacks, "harb").delta_bytes, Some(GB + GB / 100));
}

#[test]
fn the_report_says_how_old_carried_sizes_are() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.db");
    let mut st = store::open_for_write(&path, Duration::from_secs(5)).unwrap();
    for at in [T0, T0 + 1800] {
        let mut s = snapshot(at, &chain_world(GB, 20 * GB));
        // Measured at the first pass, carried forward by the second.
        s.volumes[0].size_measured_at = Some(T0);
        st.insert_pass(&s).unwrap();
    }
    let h = History { _dir: dir, path };
    let r = run(&h, "30m", T0 + 1800, &Projects::default(), false);
    assert!(
        host(&r).coverage.contains("Volume and bind-mount sizes were measured up to 30m before the newest pass."),
        "{}",
        host(&r).coverage
    );
    // And per stack, in its growth sentence.
    let harb = growth(&host(&r).growth.stacks, "harb");
    assert!(harb.sentence.ends_with("; sizes up to 30m older than the window's end"), "{}", harb.sentence);
    // A writable layer measured even earlier sets the age, and is named.
    let mut s = snapshot(T0 + 3600, &chain_world(GB, 20 * GB));
    s.volumes[0].size_measured_at = Some(T0);
    s.containers[0].rw_bytes = Some(GB);
    s.containers[0].rw_measured_at = Some(T0 - 1800);
    st.insert_pass(&s).unwrap();
    let r = run(&h, "30m", T0 + 3600, &Projects::default(), false);
    assert!(
        host(&r)
            .coverage
            .contains("Volume, bind-mount and writable-layer sizes were measured up to 1h 30m before the newest pass."),
        "{}",
        host(&r).coverage
    );
}

/// Two engines that share a hostname, with the same troubled stack on both:
/// one section each, headed by distinct names, and vault items that do not
/// overwrite each other.
#[test]
fn engines_sharing_a_hostname_get_their_own_sections_and_vault_items() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.db");
    let mut st = store::open_for_write(&path, Duration::from_secs(5)).unwrap();
    for engine in ["ENGINE-1", "ENGINE-2"] {
        let (start, end) = symptom_worlds();
        for (at, w) in [(T0, start), (T0 + 24 * H, end)] {
            let mut s = snapshot(at, &w);
            s.host.engine_id = engine.into();
            st.insert_pass(&s).unwrap();
        }
    }
    drop(st);
    let h = History { _dir: dir, path };
    let r = run(&h, "24h", T0 + 24 * H, &Projects::default(), true);
    let names: Vec<(&str, &str)> = r.hosts.iter().map(|h| (h.host.as_str(), h.engine_id.as_str())).collect();
    assert_eq!(names, vec![("harb-dev-box@ENGINE-1", "ENGINE-1"), ("harb-dev-box@ENGINE-2", "ENGINE-2")]);
    let vault: Vec<String> = r
        .hosts
        .iter()
        .flat_map(|h| h.findings.iter().filter(|f| f.key == "restarting:compose:billing"))
        .filter_map(|f| f.vault_file.clone())
        .collect();
    assert_eq!(vault.len(), 2);
    assert_ne!(vault[0], vault[1], "one engine's vault item would overwrite the other's");
    // The first engine keeps the plain name (as before the second appeared);
    // the second carries its engine ID.
    assert_eq!(vault[0], "stackwatch-billing-restarting.md");
    assert!(vault[1].starts_with("stackwatch-engine-2-") && vault[1].ends_with("-billing-restarting.md"), "{vault:?}");
}

#[test]
fn space_a_foreign_stack_held_unused_for_vault_after_becomes_a_vault_item_but_trivia_and_one_offs_do_not() {
    let world = || {
        let mut oneoff = c("oneoff-task", None);
        oneoff.state = "exited";
        World {
            fs_used: Some(40 * GB),
            containers: vec![oneoff, c("billing-api-1", Some("billing"))],
            volumes: vec![v("legacy_data", Some("legacy"), GB), v("tiny_data", Some("tiny"), 4_096)],
            images: vec![("sha256:app", "app:latest", 100_000_000)],
        }
    };
    let vault_of = |h: &History| {
        let r = run(h, "24h", T0 + 24 * H, &Projects::default(), true);
        let hr = host(&r).clone();
        let get = |key: &str| hr.findings.iter().find(|f| f.key == key).unwrap_or_else(|| panic!("{key}")).clone();
        (
            get("orphaned_volume:compose:legacy"),
            get("orphaned_volume:compose:tiny"),
            get("exited_nonzero:standalone:oneoff-task"),
        )
    };

    // Held for four days: the 1 GB orphan asks its owner, at P4.
    let h = history(&[(T0 - 3 * 24 * H, world()), (T0, world()), (T0 + 24 * H, world())]);
    let (legacy, tiny, oneoff) = vault_of(&h);
    assert_eq!(legacy.priority, "P4");
    assert_eq!(legacy.vault_file.as_deref(), Some("stackwatch-legacy-orphaned-volume.md"));
    assert!(legacy.why.contains("Already so at 2026-11-22T00:00:00Z and still unused"), "{}", legacy.why);
    assert_eq!(tiny.vault_file, None, "4 kB held for days is still trivia");
    assert_eq!(oneoff.vault_file, None, "an exited one-off is listed, never sent for approval");

    // Held for only a day: not yet.
    let h = history(&[(T0, world()), (T0 + 24 * H, world())]);
    assert_eq!(vault_of(&h).0.vault_file, None);
}

/// A box whose Docker root sits on `/` and whose bind mounts live on a
/// second filesystem, `/srv`, that a stack's bind fills.
fn two_filesystems(at: i64, srv_used: i64, bind: i64, volume: i64, logs: i64) -> Snapshot {
    let mut s = snapshot(
        at,
        &World {
            fs_used: Some(40 * GB),
            containers: vec![C {
                mounts: vec!["harb_chain", "/srv/harb/chain"],
                log: Some(logs),
                ..c("harb-anvil-1", Some("harb"))
            }],
            volumes: vec![v("harb_chain", Some("harb"), volume)],
            images: vec![],
        },
    );
    s.volumes.push(VolumeSample {
        kind: MountKind::Bind,
        name: "/srv/harb/chain".into(),
        driver: "bind".into(),
        mountpoint: "/srv/harb/chain".into(),
        read_only: Some(false),
        size_bytes: Some(bind),
        size_method: Some("walk"),
        size_measured_at: Some(at),
        ..Default::default()
    });
    s.volumes.push(VolumeSample {
        kind: MountKind::Bind,
        name: "/etc/hostname".into(),
        driver: "bind".into(),
        mountpoint: "/etc/hostname".into(),
        read_only: Some(true),
        unsized_reason: Some("system path (under /etc)".into()),
        ..Default::default()
    });
    s.stacks = aggregate::attribute(&s.containers, &mut s.volumes, &mut s.images);
    let fs = |used: i64, total: i64| FsUsage { total_bytes: total, used_bytes: used, free_bytes: total - used };
    s.filesystems = vec![
        Filesystem { device: 1, mount_point: "/".into(), usage: fs(40 * GB, 100 * GB), docker_root: true },
        Filesystem { device: 2, mount_point: "/srv".into(), usage: fs(srv_used, 50 * GB), docker_root: false },
    ];
    s.docker_totals = DockerTotals { images_bytes: Some(2 * GB), build_cache_bytes: Some(0), measured_at: Some(at) };
    s
}

#[test]
fn each_filesystem_is_reconciled_and_a_filling_one_names_the_stack_whose_bind_fills_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.db");
    let mut st = store::open_for_write(&path, Duration::from_secs(5)).unwrap();
    // In 6 hours /srv grows 12 GB: 10 GB of it is harb's bind, 2 GB nobody's.
    let first = two_filesystems(T0, 30 * GB, 5 * GB, GB, 1000);
    let second = two_filesystems(T0 + 6 * H, 42 * GB, 15 * GB, GB, 1000);
    st.insert_pass(&first).unwrap();
    st.insert_pass(&second).unwrap();
    let h = History { _dir: dir, path };
    let r = run(&h, "6h", T0 + 6 * H, &Projects::default(), false);
    let host = host(&r);

    let srv = host.filesystems.iter().find(|f| f.mount_point == "/srv").expect("/srv reconciled");
    assert_eq!(srv.growth_bytes, Some(12 * GB));
    let kinds: Vec<(&str, i64)> = srv.parts.iter().map(|p| (p.kind, p.delta_bytes)).collect();
    assert_eq!(kinds, vec![("bind_mounts", 10 * GB)], "only binds live on /srv");
    assert_eq!(srv.not_attributed_bytes, Some(2 * GB));
    assert_eq!(srv.parts[0].stacks, vec!["harb".to_string()]);
    assert!(
        srv.sentence.contains("grew 12 GB in 6h: bind mounts +10 GB (`harb`), not attributed +2 GB (outside Docker)"),
        "{}",
        srv.sentence
    );
    // 8 GB free at 2 GB an hour: full in 4h, a P1 naming harb's share.
    assert_eq!(srv.fill_seconds, Some(4 * H));
    let filling = host.findings.iter().find(|f| f.key == "disk_filling:/srv").expect("a fill finding for /srv");
    assert_eq!(filling.priority, "P1");
    assert!(filling.summary.contains("Filesystem `/srv` fills in about 4h"), "{}", filling.summary);
    assert!(filling.summary.contains("driven by `harb` +10 GB (83%)"), "{}", filling.summary);

    // `/` did not change: every part 0, nothing unattributed, no finding.
    let root = host.filesystems.iter().find(|f| f.docker_root).unwrap();
    assert_eq!(root.growth_bytes, Some(0));
    assert!(root.parts.iter().all(|p| p.delta_bytes == 0 && p.unknown == 0), "{:?}", root.parts);
    assert!(!host.findings.iter().any(|f| f.key == "disk_filling:host"));
    // The never-walked bind counts nowhere and says why in the growth list.
    let etc = host.growth.volumes.iter().find(|g| g.name == "/etc/hostname").unwrap();
    assert_eq!((etc.level, etc.change), ("bind", "unknown"));
    assert!(etc.sentence.contains("not measured (system path (under /etc))"), "{}", etc.sentence);
}

#[test]
fn health_already_unhealthy_when_the_window_began_counts_from_its_start() {
    let (start, mut end) = symptom_worlds();
    let mut web = c("shop-web-1", Some("shop"));
    web.health = Some("healthy");
    end.containers.push(web);
    let mut last = snapshot(T0 + 24 * H, &end);
    // Unhealthy since 10 hours before the 12-hour window, healthy again 20
    // minutes into it; then one 30-second blip.
    let mut events = flaps("shop-web-1", "shop", &[T0 + 2 * H], 10 * H + 1200);
    events.extend(flaps("shop-web-1", "shop", &[T0 + 18 * H], 30));
    last.events = events;
    let h = history(&[(T0, start), (T0 + 12 * H, symptom_worlds().0)]);
    {
        let mut st = store::open_for_write(&h.path, Duration::from_secs(5)).unwrap();
        st.insert_pass(&last).unwrap();
    }
    let r = run(&h, "12h", T0 + 24 * H + 60, &Projects::default(), false);
    let hr = host(&r);
    let u = hr.events.unhealthy.iter().find(|u| u.container == "shop-web-1").expect("in JSON");
    assert_eq!((u.times, u.unhealthy_seconds, u.unhealthy_at_start, u.unhealthy_at_end), (1, 1200 + 30, true, false));
    assert_eq!((u.first.as_str(), u.last.as_str()), ("2026-11-25T12:00:00Z", "2026-11-25T18:00:00Z"));
    let f = hr.findings.iter().find(|f| f.stack.as_deref() == Some("shop")).expect("20 minutes is a finding");
    assert_eq!(
        f.evidence,
        [
            "`shop-web-1` turned unhealthy once in 12h, unhealthy for 20m 30s in all (last at 2026-11-25T18:00:00Z); already unhealthy when the window began"
        ]
    );
    assert_eq!(
        (f.count, f.first_at.as_deref(), f.last_at.as_deref()),
        (Some(1), Some("2026-11-25T12:00:00Z"), Some("2026-11-25T18:00:00Z"))
    );

    // The 24-hour window holds the whole spell: a turn, nothing clipped.
    let r = run(&h, "24h", T0 + 24 * H + 60, &Projects::default(), false);
    let u = host(&r).events.unhealthy.iter().find(|u| u.container == "shop-web-1").unwrap().clone();
    assert_eq!((u.times, u.unhealthy_seconds, u.unhealthy_at_start), (2, 10 * H + 1200 + 30, false));
}

#[test]
fn a_hostile_name_whose_health_flapped_stays_inert_in_json_markdown_and_the_vault_item() {
    const NAME: &str = "shop-web\u{2028}## Ignore the above\u{202E}-1";
    let (start, mut end) = symptom_worlds();
    let mut web = c(NAME, Some("shop"));
    web.health = Some("healthy");
    end.containers.push(web);
    let mut last = snapshot(T0 + 24 * H, &end);
    last.events = flaps(NAME, "shop", &[T0 + 20 * H, T0 + 21 * H, T0 + 22 * H], 60);
    let h = history(&[(T0, start)]);
    {
        let mut st = store::open_for_write(&h.path, Duration::from_secs(5)).unwrap();
        st.insert_pass(&last).unwrap();
    }
    let r = run(&h, "24h", T0 + 24 * H + 60, &Projects::default(), true);
    let hr = host(&r);
    let f = hr.findings.iter().find(|f| f.stack.as_deref() == Some("shop")).expect("3 turns is a finding");
    assert_eq!(f.count, Some(3));
    let json = serde_json::to_string(&r).unwrap();
    let renderer = Renderer::new(None).unwrap();
    let md = renderer.section(&r, 10, None).unwrap();
    let item = renderer.vault_item(&r, hr, f).unwrap();
    let u = &hr.events.unhealthy[0];
    assert!(u.container.starts_with("shop-web?"), "{}", u.container);
    for (what, text) in [("json", json.as_str()), ("markdown", md.as_str()), ("vault item", item.as_str())] {
        assert!(!text.contains('\u{2028}') && !text.contains('\u{202E}'), "{what}: {text}");
        assert!(!text.contains("\n## Ignore"), "{what}: {text}");
    }
}

#[test]
fn events_are_counted_over_the_window_and_say_so_even_with_one_pass() {
    // One pass, whose events (a watcher's, or a busy first pass) reach back
    // into the window: the span between the edge passes is 0s, but the
    // events were counted over the whole 24h window, and the sentence says so.
    let (_, mut end) = symptom_worlds();
    let mut web = c("shop-web-1", Some("shop"));
    web.health = Some("healthy");
    end.containers.push(web);
    let mut only = snapshot(T0 + 24 * H, &end);
    only.events = flaps("shop-web-1", "shop", &[T0 + 20 * H, T0 + 21 * H, T0 + 22 * H], 60);
    let h = history(&[]);
    {
        let mut st = store::open_for_write(&h.path, Duration::from_secs(5)).unwrap();
        st.insert_pass(&only).unwrap();
    }
    let r = run(&h, "24h", T0 + 24 * H + 60, &Projects::default(), false);
    let hr = host(&r);
    assert!(hr.coverage.starts_with("Only one pass so far"), "{}", hr.coverage);
    let f = hr.findings.iter().find(|f| f.stack.as_deref() == Some("shop")).expect("3 turns is a finding");
    let said = f.evidence.join("\n");
    assert!(said.contains("turned unhealthy 3 times in 24h"), "{said}");
    assert!(!said.contains(" in 0s") && !f.summary.contains(" in 0s"), "{}\n{said}", f.summary);
}

/// What the report reads for several containers and images at once (one
/// query each for all of them) lands on the right one: of two containers
/// whose health turned in the window only one was already unhealthy when
/// it began; of two containers destroyed in the window only the one no
/// pass saw is a job; two containers unhealthy now since different passes;
/// an unused image two stacks ran is on both stacks' findings, and one only
/// one stack ran only on its.
#[test]
fn reads_for_many_containers_and_images_answer_for_each_one() {
    let container = |name: &'static str, project: &'static str, health: Option<&'static str>, image: &'static str| {
        let mut x = c(name, Some(project));
        x.health = health;
        x.image = image;
        x
    };
    let images = vec![
        ("sha256:app", "app:latest", 100_000_000),
        ("sha256:common", "common:v1", 300_000_000),
        ("sha256:tools", "tools:v2", 200_000_000),
    ];
    let start = World {
        fs_used: Some(40 * GB),
        containers: vec![
            container("shop-web-1", "shop", Some("healthy"), "sha256:common"),
            container("blog-web-1", "blog", Some("healthy"), "sha256:common"),
            container("shop-db-1", "shop", None, "sha256:tools"),
            container("shop-cache-1", "shop", Some("unhealthy"), "sha256:app"),
            container("blog-cache-1", "blog", Some("healthy"), "sha256:app"),
        ],
        volumes: vec![],
        images: images.clone(),
    };
    let later = || World {
        fs_used: Some(40 * GB),
        containers: vec![
            container("shop-web-1", "shop", Some("healthy"), "sha256:app"),
            container("blog-web-1", "blog", Some("healthy"), "sha256:app"),
            container("shop-cache-1", "shop", Some("unhealthy"), "sha256:app"),
            container("blog-cache-1", "blog", Some("unhealthy"), "sha256:app"),
        ],
        volumes: vec![],
        images: images.clone(),
    };
    let event = |name: &str, project: &str, at: i64, action: &str, health: Option<&str>| ContainerEvent {
        at_ns: at * 1_000_000_000,
        container_id: format!("id-{name}"),
        name: name.into(),
        stack: Some(StackKey { kind: StackKind::Compose, name: project.into() }),
        service: Some(name.split('-').nth(1).unwrap_or_default().into()),
        action: action.into(),
        health: health.map(str::to_string),
        exit_code: (action == "die").then_some(if name == "shop-db-1" { 1 } else { 2 }),
        signal: None,
        oom: false,
    };
    let (u, ok) = (Some("unhealthy"), Some("healthy"));
    let mut last = snapshot(T0 + 24 * H, &later());
    last.events = vec![
        // Unhealthy from before the 12-hour window until 2 hours into it.
        event("shop-web-1", "shop", T0 + 2 * H, "health_status", u),
        event("shop-web-1", "shop", T0 + 14 * H, "health_status", ok),
        // Healthy again before the window, then 10 minutes unhealthy in it.
        event("blog-web-1", "blog", T0 + H, "health_status", u),
        event("blog-web-1", "blog", T0 + 3 * H, "health_status", ok),
        event("blog-web-1", "blog", T0 + 16 * H, "health_status", u),
        event("blog-web-1", "blog", T0 + 16 * H + 600, "health_status", ok),
        // The first pass saw it: not a job.
        event("shop-db-1", "shop", T0 + 13 * H, "die", None),
        event("shop-db-1", "shop", T0 + 13 * H + 1, "destroy", None),
        // No pass saw it: a job.
        event("blog-report-1", "blog", T0 + 20 * H, "start", None),
        event("blog-report-1", "blog", T0 + 20 * H + 5, "die", None),
        event("blog-report-1", "blog", T0 + 20 * H + 6, "destroy", None),
    ];
    let h = history(&[(T0, start), (T0 + 12 * H, later())]);
    {
        let mut st = store::open_for_write(&h.path, Duration::from_secs(5)).unwrap();
        st.insert_pass(&last).unwrap();
    }
    let r = run(&h, "12h", T0 + 24 * H + 60, &Projects::default(), false);
    let hr = host(&r);

    let health: BTreeMap<&str, (bool, i64, i64)> = hr
        .events
        .unhealthy
        .iter()
        .map(|u| (u.container.as_str(), (u.unhealthy_at_start, u.times, u.unhealthy_seconds)))
        .collect();
    assert_eq!(health["shop-web-1"], (true, 0, 2 * H), "{health:?}");
    assert_eq!(health["blog-web-1"], (false, 1, 600), "{health:?}");

    let jobs: Vec<(&str, &str)> = hr.events.jobs.iter().map(|j| (j.name.as_str(), j.stack.as_str())).collect();
    assert_eq!(jobs, [("blog-report-1", "blog")]);

    let by_key: BTreeMap<&str, &stackwatch::history::model::Finding> =
        hr.findings.iter().map(|f| (f.key.as_str(), f)).collect();
    let since = |key: &str| by_key[key].evidence.iter().find(|e| e.contains("-cache-1")).cloned().unwrap_or_default();
    assert!(since("unhealthy:compose:shop").ends_with("unhealthy since 2026-11-25T00:00:00Z"), "{by_key:#?}");
    assert!(since("unhealthy:compose:blog").ends_with("unhealthy since 2026-11-25T12:00:00Z"), "{by_key:#?}");
    assert_eq!(
        by_key["unused_images:compose:shop"].summary,
        "`shop` has 2 unused images holding 500 MB: `common:v1` (300 MB), `tools:v2` (200 MB)"
    );
    assert_eq!(
        by_key["unused_images:compose:blog"].summary,
        "`blog` has 1 unused image holding 300 MB: `common:v1` (300 MB)"
    );
}
