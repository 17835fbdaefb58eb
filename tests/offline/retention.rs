//! Retention on a history the test builds: old passes thin to one per hour,
//! then one per day; views and window queries keep working; every window
//! query is an index range scan (checked with EXPLAIN QUERY PLAN).

use std::collections::BTreeMap;
use std::time::Duration;

use rusqlite::Connection;
use stackwatch::collect::aggregate;
use stackwatch::model::snapshot::*;
use stackwatch::store::{self, read};

const T0: i64 = 1_795_564_800;
const MIN: i64 = 60;
const DAY: i64 = 86_400;

fn snapshot(at: i64, extra: bool) -> Snapshot {
    let stack = StackKey { kind: StackKind::Compose, name: "harb".into() };
    let mut containers = vec![ContainerSample {
        id: "anvil".into(),
        name: "harb-anvil-1".into(),
        stack: Some(stack.clone()),
        state: "running".into(),
        image: "anvil".into(),
        image_id: Some("sha256:a".into()),
        restart_count: Some((at - T0) / DAY),
        // States that change now and then, so change rows land at passes
        // that retention thins away.
        health: Some(if (at - T0) / (7 * 3600) % 2 == 0 { "healthy" } else { "unhealthy" }.into()),
        // Memory that rises and falls within each hour, peaking at a
        // different quarter every hour, so no thinned-to pass holds its peak
        // by chance every time.
        stats: Some(Stats {
            mem_bytes: Some(1_000_000 + ((at - T0) / (15 * MIN) * 7 % 11) * 1000),
            ..Default::default()
        }),
        rw_bytes: Some(1000 + (at - T0) / (30 * MIN)),
        log_bytes: Some(at - T0),
        mounts: vec!["harb_chain".into()],
        ..Default::default()
    }];
    if extra {
        // A one-off container that only lived the first half of the first day.
        containers.push(ContainerSample {
            id: "oneoff".into(),
            name: "harb-migrate-1".into(),
            stack: Some(stack),
            state: "exited".into(),
            image: "anvil".into(),
            ..Default::default()
        });
    }
    // A job that lives two hours of day 5 with a volume of its own: thinned
    // to one pass a day, nothing of it survives, so it is forgotten.
    let job = (T0 + 5 * DAY + 10 * 3600..T0 + 5 * DAY + 12 * 3600).contains(&at);
    if job {
        containers.push(ContainerSample {
            id: "job".into(),
            name: "harb-job-1".into(),
            stack: Some(StackKey { kind: StackKind::Compose, name: "harb".into() }),
            state: "running".into(),
            image: "anvil".into(),
            mounts: vec!["harb_job".into()],
            ..Default::default()
        });
    }
    let mut volumes = vec![VolumeSample {
        name: "harb_chain".into(),
        driver: "local".into(),
        labels: BTreeMap::from([("com.docker.compose.project".into(), "harb".into())]),
        size_bytes: Some((at - T0) * 10),
        ..Default::default()
    }];
    if job {
        volumes.push(VolumeSample { name: "harb_job".into(), driver: "local".into(), ..Default::default() });
    }
    // A bind mount measured every pass whose size moves every 45 minutes: its
    // size rows are few, and checked in place between them.
    volumes.push(VolumeSample {
        kind: MountKind::Bind,
        name: "/srv/harb/state".into(),
        driver: "bind".into(),
        mountpoint: "/srv/harb/state".into(),
        read_only: Some(false),
        size_bytes: Some(4096 * (1 + (at - T0) / (45 * MIN))),
        size_method: Some("walk"),
        size_measured_at: Some(at),
        ..Default::default()
    });
    containers[0].mounts.push("/srv/harb/state".into());
    // A scratch volume that exists on days 3-5 and again on days 8-12 (removed
    // and recreated under the same name), mounted by nothing on odd hours.
    let day = (at - T0) / DAY;
    if (3..6).contains(&day) || (8..13).contains(&day) {
        volumes.push(VolumeSample {
            name: "harb_scratch".into(),
            driver: "local".into(),
            size_bytes: if (at - T0) % 7200 < 3600 { None } else { Some(day * 1000) },
            ..Default::default()
        });
        if (at - T0) / 3600 % 2 == 0 {
            containers[0].mounts.push("harb_scratch".into());
        }
    }
    // An image retagged every fourth day, one only the job used, and one
    // that exists when the scratch volume does (removed and pulled again).
    let mut images =
        vec![ImageSample { id: "sha256:a".into(), tags: vec![format!("anvil:{}", day / 4)], ..Default::default() }];
    if job {
        images.push(ImageSample { id: "sha256:j".into(), tags: vec!["job:1".into()], ..Default::default() });
        containers.last_mut().unwrap().image_id = Some("sha256:j".into());
    }
    if (3..6).contains(&day) || (8..13).contains(&day) {
        images.push(ImageSample { id: "sha256:s".into(), tags: vec!["scratch:1".into()], ..Default::default() });
    }
    let stacks = aggregate::attribute(&containers, &mut volumes, &mut images);
    Snapshot {
        started_at: at,
        duration_ms: 50,
        host: HostInfo {
            engine_id: "E".into(),
            hostname: "box".into(),
            engine_version: "27".into(),
            api_version: "1.46".into(),
            ..Default::default()
        },
        containers,
        volumes,
        images,
        stacks,
        filesystems: vec![Filesystem {
            device: 2049,
            mount_point: "/".into(),
            usage: FsUsage { total_bytes: 1 << 40, used_bytes: (1 << 39) + at - T0, free_bytes: (1 << 39) - (at - T0) },
            docker_root: true,
        }],
        // An OOM kill at every pass, and a gap every day.
        events: vec![ContainerEvent {
            at_ns: at * 1_000_000_000,
            container_id: "anvil".into(),
            name: "harb-anvil-1".into(),
            stack: Some(StackKey { kind: StackKind::Compose, name: "harb".into() }),
            action: "oom".into(),
            oom: true,
            ..Default::default()
        }],
        event_gap: ((at - T0) % DAY == 0).then(|| EventGap {
            from_ns: (at - 15 * MIN) * 1_000_000_000,
            to_ns: at * 1_000_000_000,
            reason: "overflow",
        }),
        ..Default::default()
    }
}

/// Every row of the per-pass views, keyed by pass, as text.
fn history(c: &Connection) -> Vec<(i64, String)> {
    let mut rows = Vec::new();
    for sql in [
        "SELECT pass_id, 'c' || json_array(host, stack, service, container, sampled_at, state, health, restart_count,
                cpu_ns, mem_bytes, rw_bytes, log_bytes, container_id) FROM container_history ORDER BY pass_id, container_id",
        "SELECT pass_id, 'v' || json_array(host, volume, sampled_at, size_bytes, in_use, kind, read_only,
                size_measured_at) FROM volume_history ORDER BY pass_id, volume",
        "SELECT pass_id, 'f' || json_array(host, mount_point, sampled_at, used_bytes, free_bytes) FROM filesystem_history
          ORDER BY pass_id, mount_point",
        "SELECT pass_id, 'i' || json_array(host, image_id, sampled_at, tags, size_bytes, containers, managed, stacks)
           FROM image_history ORDER BY pass_id, image_id",
    ] {
        rows.extend(c.prepare(sql).unwrap().query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap));
    }
    rows.sort();
    rows
}

fn pass_ids(c: &Connection) -> Vec<i64> {
    c.prepare("SELECT id FROM passes").unwrap().query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
}

fn count(c: &Connection, sql: &str) -> i64 {
    c.query_row(sql, [], |r| r.get(0)).unwrap()
}

#[test]
fn old_passes_thin_to_hours_then_days_and_the_views_still_work() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.db");
    let mut st = store::open_for_write(&path, Duration::from_secs(5)).unwrap();
    // Every 15 minutes for 20 days.
    let end = T0 + 20 * DAY;
    let mut at = T0;
    while at < end {
        st.insert_pass(&snapshot(at, at < T0 + DAY / 2)).unwrap();
        at += 15 * MIN;
    }
    assert_eq!(count(st.user_sql_connection(), "SELECT count(*) FROM passes"), 20 * 24 * 4);
    let history_before = history(st.user_sql_connection());
    let mem_before: Vec<(i64, i64)> = st
        .user_sql_connection()
        .prepare("SELECT sampled_unix, mem_bytes FROM container_history WHERE container_id = 'anvil'")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let latest_before: Vec<(String, i64)> = st
        .user_sql_connection()
        .prepare("SELECT stack, disk_bytes FROM latest_stacks")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();

    let now = end;
    let (raw, hourly) = (Duration::from_secs(2 * DAY as u64), Duration::from_secs(10 * DAY as u64));
    let done = st.compact(now, raw, hourly).unwrap();
    // Raw: the last 2 days (192); hourly: days 2-10 (192); daily: days 10-20 (10).
    assert_eq!(count(st.user_sql_connection(), "SELECT count(*) FROM passes WHERE resolution = 'raw'"), 2 * 24 * 4);
    assert_eq!(count(st.user_sql_connection(), "SELECT count(*) FROM passes WHERE resolution = 'hour'"), 8 * 24);
    assert_eq!(count(st.user_sql_connection(), "SELECT count(*) FROM passes WHERE resolution = 'day'"), 10);
    assert_eq!(done.passes_removed, 20 * 24 * 4 - (192 + 192 + 10));
    // One pass per hour bucket and per day bucket, and it is the last one.
    assert_eq!(
        count(
            st.user_sql_connection(),
            "SELECT count(*) FROM (SELECT started_at / 3600 FROM passes WHERE resolution = 'hour' GROUP BY 1 HAVING count(*) > 1)"
        ),
        0
    );
    assert_eq!(
        count(
            st.user_sql_connection(),
            "SELECT count(*) FROM passes WHERE resolution = 'day' AND started_at % 86400 <> 86400 - 900"
        ),
        0
    );
    // Samples went with their passes, and the one-off container is forgotten.
    assert_eq!(
        count(
            st.user_sql_connection(),
            "SELECT count(*) FROM container_samples WHERE pass_id NOT IN (SELECT id FROM passes)"
        ),
        0
    );
    assert_eq!(count(st.user_sql_connection(), "SELECT count(*) FROM filesystem_samples"), 192 + 192 + 10);
    // A size that holds still adds no rows: the bind's rows are one per
    // 45-minute step that survived, not one per pass.
    let bind_rows = count(
        st.user_sql_connection(),
        "SELECT count(*) FROM volume_sizes JOIN volumes v ON v.id = volume_ref WHERE v.kind = 'bind'",
    );
    assert!(bind_rows < 192 + 192 + 10, "{bind_rows} size rows for 394 surviving passes");
    assert_eq!(count(st.user_sql_connection(), "SELECT count(*) FROM stack_disk_history"), 192 + 192 + 10);
    // Events and gaps are kept as long as hourly passes: the last 10 days'.
    assert_eq!(count(st.user_sql_connection(), "SELECT count(*) FROM container_events WHERE oom = 1"), 10 * 24 * 4);
    assert_eq!(
        count(st.user_sql_connection(), "SELECT MIN(at_ns) FROM container_events") / 1_000_000_000,
        now - 10 * DAY
    );
    assert_eq!(count(st.user_sql_connection(), "SELECT count(*) FROM event_gaps"), 10);
    assert_eq!(
        count(st.user_sql_connection(), "SELECT count(*) FROM containers WHERE container_id IN ('oneoff', 'job')"),
        0
    );
    assert_eq!(count(st.user_sql_connection(), "SELECT count(*) FROM volumes WHERE name = 'harb_job'"), 0);
    assert_eq!(
        count(
            st.user_sql_connection(),
            "SELECT count(*) FROM container_states WHERE container_ref NOT IN (SELECT id FROM containers)"
        ),
        0
    );
    assert_eq!(
        count(
            st.user_sql_connection(),
            "SELECT count(*) FROM volume_states WHERE volume_ref NOT IN (SELECT id FROM volumes)"
        ),
        0
    );
    assert_eq!(count(st.user_sql_connection(), "SELECT count(*) FROM images WHERE image_id = 'sha256:j'"), 0);
    assert_eq!(
        count(
            st.user_sql_connection(),
            "SELECT count(*) FROM image_states WHERE image_ref NOT IN (SELECT id FROM images)"
        ),
        0
    );
    assert_eq!(done.identities_removed, 4, "oneoff, job, the job's volume and its image");
    // The latest views are untouched.
    let latest_after: Vec<(String, i64)> = st
        .user_sql_connection()
        .prepare("SELECT stack, disk_bytes FROM latest_stacks")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(latest_after, latest_before);
    // Every surviving pass reads exactly as before: change rows at thinned
    // passes were carried to the next surviving pass or superseded.
    let history_after = history(st.user_sql_connection());
    let kept = pass_ids(st.user_sql_connection());
    let expected: Vec<String> =
        history_before.iter().filter(|(pass, _)| kept.contains(pass)).map(|(_, row)| row.clone()).collect();
    let actual: Vec<String> = history_after.into_iter().map(|(_, row)| row).collect();
    assert!(expected.len() > kept.len() * 2, "the comparison covers containers and volumes");
    assert!(expected.iter().any(|r| r.contains("unhealthy")) && expected.iter().any(|r| r.contains("harb_scratch")));
    assert!(expected.iter().any(|r| r.contains("anvil:4")) && expected.iter().any(|r| r.contains("scratch:1")));
    assert_eq!(actual, expected);
    // The scratch volume's gap survives thinning: absent on days 6-7.
    assert_eq!(
        count(
            st.user_sql_connection(),
            &format!(
                "SELECT count(*) FROM volume_history WHERE volume = 'harb_scratch' AND sampled_unix BETWEEN {} AND {}",
                T0 + 6 * DAY,
                T0 + 8 * DAY - 1
            )
        ),
        0
    );
    assert_eq!(
        count(
            st.user_sql_connection(),
            &format!(
                "SELECT count(*) FROM image_history WHERE image_id = 'sha256:s' AND sampled_unix BETWEEN {} AND {}",
                T0 + 6 * DAY,
                T0 + 8 * DAY - 1
            )
        ),
        0
    );
    // A surviving sample's peak is the highest memory of the hour or day
    // it stands for; a raw one's is its own.
    let peaks: Vec<(i64, String, i64, i64)> = st
        .user_sql_connection()
        .prepare(
            "SELECT h.sampled_unix, p.resolution, h.mem_bytes, h.mem_peak_bytes FROM container_history h
               JOIN passes p ON p.id = h.pass_id WHERE h.container_id = 'anvil'",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut raised = 0;
    for (at, resolution, mem, peak) in &peaks {
        let bucket = match resolution.as_str() {
            "raw" => 1,
            "hour" => 3600,
            _ => DAY,
        };
        let expected = mem_before.iter().filter(|(t, _)| t / bucket == at / bucket).map(|m| m.1).max().unwrap();
        assert_eq!(*peak, expected, "{resolution} pass at {at}");
        raised += usize::from(peak > mem);
    }
    assert!(raised > 100, "most rollups peak above their own sample: {raised}");
    // Idempotent; and collect's hourly guard skips a second run.
    assert_eq!(st.compact(now, raw, hourly).unwrap().passes_removed, 0);
    assert_eq!(st.maybe_compact(now + 60, raw, hourly, false).unwrap(), None);
    assert!(st.maybe_compact(now + 3600, raw, hourly, false).unwrap().is_some());
    // Cutoffs in the middle of an hour and of a day: a pass kept for its
    // hour by the first step can go in the second, and the survivors still
    // read as they did before any thinning.
    let again = st.compact(now + 6 * 3600 + 37 * MIN, raw, hourly).unwrap();
    assert!(again.passes_removed > 0);
    let kept = pass_ids(st.user_sql_connection());
    let expected: Vec<String> =
        history_before.iter().filter(|(pass, _)| kept.contains(pass)).map(|(_, row)| row.clone()).collect();
    let actual: Vec<String> = history(st.user_sql_connection()).into_iter().map(|(_, row)| row).collect();
    assert_eq!(actual, expected);
    assert_eq!(
        count(
            st.user_sql_connection(),
            "SELECT count(*) FROM container_samples WHERE pass_id NOT IN (SELECT id FROM passes)"
        ),
        0
    );
    let ok: String = st.user_sql_connection().query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(ok, "ok");
}

/// Every query a report runs must use an index for its range, never walk
/// a whole sample table or the pass table.
#[test]
fn window_queries_are_index_range_scans() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.db");
    let mut st = store::open_for_write(&path, Duration::from_secs(5)).unwrap();
    for i in 0..50 {
        st.insert_pass(&snapshot(T0 + i * 300, i < 3)).unwrap();
    }
    // No ANALYZE: stackwatch never runs it, so the planner's defaults are
    // what production databases get.
    // EXPLAIN names tables by their alias in the query. Walking a table is
    // fine only for identity and span tables (a row per host or per object
    // still in the history), the small host_names view and `json_each`, the
    // list of IDs a query is given as one parameter; anything with a row
    // per pass or per change must be reached by a key range.
    let may_walk = ["hosts", "h", "v", "sp", "json_each"];
    for (name, sql) in read::WINDOW_QUERIES {
        let plan: Vec<String> = st
            .user_sql_connection()
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap()
            .query_map(rusqlite::params_from_iter(std::iter::repeat_n(1i64, count_params(sql))), |r| {
                r.get::<_, String>(3)
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        if std::env::var_os("SHOW_PLANS").is_some() {
            eprintln!("{name}: {plan:?}");
        }
        for step in &plan {
            // "SCAN t" walks the table; "SCAN t USING ... INDEX" walks a
            // whole index. Elsewhere only SEARCH (a range) is acceptable.
            if let Some(walked) = step.strip_prefix("SCAN ").and_then(|rest| rest.split_whitespace().next()) {
                let allowed = may_walk.contains(&walked) || walked.starts_with("(subquery");
                assert!(allowed, "{name} walks all of {walked}: {plan:#?}");
            }
        }
    }
}

fn count_params(sql: &str) -> usize {
    (1..=9).filter(|i| sql.contains(&format!("?{i}"))).count()
}
