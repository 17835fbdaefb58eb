//! The point counts of `stackwatch mcp`'s series answers (`stack_history`,
//! `object_history`), on a history the test builds through the real store,
//! answered by the real answer functions: a window of W seconds holds at
//! most `MAX_POINTS` points wherever it starts.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use stackwatch::collect::aggregate;
use stackwatch::config::Config;
use stackwatch::mcp::Context;
use stackwatch::mcp::answers::{self, MAX_POINTS};
use stackwatch::model::snapshot::*;
use stackwatch::store::{self};

/// 2026-11-25T00:00:00Z, a multiple of 18 s from the epoch.
const T0: i64 = 1_795_564_800;

/// A pass of one compose stack `grower`: one container mounting the volume
/// `grower_data`, both growing by 1 kB a pass.
fn pass(at: i64, i: i64) -> Snapshot {
    let labels = BTreeMap::from([("com.docker.compose.project".to_string(), "grower".to_string())]);
    let (stack, service) = stackwatch::model::stack::identify("grower_app_1", &labels);
    let containers = vec![ContainerSample {
        id: format!("{:064x}", 1),
        name: "grower_app_1".into(),
        stack: Some(stack),
        service,
        labels: labels.clone(),
        image: "app:latest".into(),
        state: "running".into(),
        rw_bytes: Some(1000 * i),
        log_bytes: Some(0),
        mounts: vec!["grower_data".into()],
        ..Default::default()
    }];
    let mut volumes = vec![VolumeSample {
        name: "grower_data".into(),
        driver: "local".into(),
        labels,
        size_bytes: Some(1000 * i),
        size_method: Some("engine"),
        ..Default::default()
    }];
    let stacks = aggregate::attribute(&containers, &mut volumes, &mut Vec::new());
    Snapshot {
        started_at: at,
        duration_ms: 10,
        host: HostInfo { engine_id: "ENGINE-MCP".into(), hostname: "mcp-box".into(), ..Default::default() },
        containers,
        volumes,
        stacks,
        ..Default::default()
    }
}

fn points(answer: &str) -> (Value, Vec<Value>) {
    let j: Value = serde_json::from_str(answer).unwrap_or_else(|e| panic!("not JSON ({e}): {answer}"));
    let pts = j["points"].as_array().unwrap_or_else(|| panic!("no points: {answer}")).clone();
    (j, pts)
}

#[test]
fn an_hour_of_passes_every_9s_is_at_most_max_points_wherever_the_window_starts() {
    // Passes every 9 s for a little over an hour, the newest 5 s past an
    // 18 s epoch boundary: the hour's 3601 seconds touch 201 epoch-aligned
    // buckets of 18 s, and every one of them holds a pass.
    let end = T0 + 5;
    let n = 3700 / 9;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.db");
    let mut st = store::open_for_write(&db, Duration::from_secs(5)).unwrap();
    for i in 0..n {
        st.insert_pass(&pass(end - 9 * (n - 1 - i), i)).unwrap();
    }
    drop(st);
    let cx = Context { db, config: Config::default(), projects: None, schema_at_start: None };

    let answers = [
        answers::stack_history(&cx, "grower", Some("1h"), None).unwrap(),
        answers::object_history(&cx, "container", "grower_app_1", Some("1h"), None).unwrap(),
        answers::object_history(&cx, "volume", "grower_data", Some("1h"), None).unwrap(),
    ];
    for answer in &answers {
        let (j, pts) = points(answer);
        assert!(pts.len() as i64 <= MAX_POINTS, "{} points, bucket {}", pts.len(), j["bucket_seconds"]);
        // 19 s buckets from the window's start: 3600 / 19 is 189, so 190,
        // each with a pass in it.
        assert_eq!(j["bucket_seconds"], 19, "{answer}");
        assert_eq!(pts.len(), 190, "{answer}");
        assert_eq!(pts.last().unwrap()[0], stackwatch::time::iso_utc(end), "the newest pass is the last point");
        // The first bucket, [end - 3600, end - 3581], keeps its newest pass.
        assert_eq!(pts[0][0], stackwatch::time::iso_utc(end - 3600 + 18), "{answer}");
        assert!(j.get("cut").is_none(), "{answer}");
    }
}
