//! The database's own faults: a file that lost its tail, noise behind a
//! valid header, and every earlier schema upgraded with its history intact.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::Connection;

use super::*;

/// A database with some history, closed (so everything is in the main file).
fn history_file(dir: &Path) -> (PathBuf, Vec<u8>) {
    let path = dir.join("h.db");
    let st = open_for_write(&path, Duration::from_secs(1)).unwrap();
    st.conn
        .execute_batch(
            "INSERT INTO hosts (engine_id, hostname) VALUES ('E', 'box');
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300)
             INSERT INTO passes (host_id, started_at, duration_ms, engine_version, api_version, hostname,
                containers, volumes, images, error_count, stackwatch_version)
             SELECT 1, i, 1, '20.10', '1.41', 'box', 0, 0, 0, 0, '0' FROM n;",
        )
        .unwrap();
    drop(st);
    let bytes = std::fs::read(&path).unwrap();
    (path, bytes)
}

fn sidecars(path: &Path) -> Vec<String> {
    ["-wal", "-shm", "-journal"]
        .iter()
        .map(|s| format!("{}{s}", path.display()))
        .filter(|p| Path::new(p).exists())
        .collect()
}

#[test]
fn truncated_database_is_refused_and_untouched_at_every_cut() {
    let dir = tempfile::tempdir().unwrap();
    let (path, full) = history_file(dir.path());
    let page = 4096;
    assert!(full.len() > 4 * page, "the fixture spans pages: {}", full.len());
    // Inside the header, right after it, mid-page, at page boundaries, one byte short.
    for cut in [50, 100, 101, 2000, page, page + 1, 2 * page, full.len() / 2, full.len() - page, full.len() - 1] {
        std::fs::write(&path, &full[..cut]).unwrap();
        for open in [open_for_write, open_read_only] {
            let err = open(&path, Duration::from_secs(1)).err().unwrap_or_else(|| panic!("cut {cut} opened"));
            let msg = format!("{err:#}");
            assert!(msg.contains("truncated") || msg.contains("not a SQLite database"), "cut {cut}: {msg}");
            assert!(msg.contains("untouched") && !msg.contains('\n'), "cut {cut}: {msg}");
            assert_eq!(std::fs::read(&path).unwrap(), &full[..cut], "cut {cut}: file changed");
            assert!(sidecars(&path).is_empty(), "cut {cut}: {:?}", sidecars(&path));
        }
    }
}

#[test]
fn garbage_behind_a_valid_header_is_refused_and_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let (path, full) = history_file(dir.path());
    // Every page but the first (header and schema) overwritten with noise.
    let mut bad = full.clone();
    let mut x: u32 = 12345;
    for b in bad[4096..].iter_mut() {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
    std::fs::write(&path, &bad).unwrap();
    let err = open_for_write(&path, Duration::from_secs(1)).err().map(|e| format!("{e:#}"));
    let msg = err.expect("a database whose tables are noise must be refused");
    assert!(!msg.contains('\n') && msg.contains("h.db"), "{msg}");
    assert_eq!(std::fs::read(&path).unwrap(), bad);
}

/// Every schema this build can meet (each earlier migration version)
/// upgrades to the newest with its history intact. The fixture is written
/// with plain V1 SQL into a V1 database, so the test does not lean on
/// today's insert code, and that database is first brought to each earlier
/// version in turn: V5 rewrote the tables V1 wrote, so a V1 fixture only
/// fits a V1 schema, and a migration added later is still covered without
/// touching this test.
#[test]
fn every_earlier_schema_version_upgrades_keeping_its_history() {
    let mut versions: Vec<i32> = embedded::migrations::runner().get_migrations().iter().map(|m| m.version()).collect();
    versions.sort();
    assert!(versions.contains(&1) && versions.contains(&3), "{versions:?}");
    let newest = *versions.last().unwrap();
    for &v in versions.iter().filter(|v| **v < newest) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            let mut c = Connection::open(&path).unwrap();
            c.pragma_update(None, "journal_mode", "WAL").unwrap();
            for target in if v == 1 { vec![1] } else { vec![1, v] } {
                embedded::migrations::runner()
                    .set_grouped(true)
                    .set_target(refinery::Target::Version(target))
                    .run(&mut c)
                    .unwrap();
                if target == 1 {
                    c.execute_batch(V1_FIXTURE).unwrap();
                }
            }
            let at: i64 = c.query_row(read::MAX_MIGRATION, [], |r| r.get(0)).unwrap();
            assert_eq!(at, i64::from(v));
        }
        let st = open_for_write(&path, Duration::from_secs(1)).unwrap();
        let at: i64 = st.conn.query_row(read::MAX_MIGRATION, [], |r| r.get(0)).unwrap();
        assert_eq!(at, i64::from(newest), "from V{v}");
        let stack: (String, String, i64, String) = st
            .conn
            .query_row("SELECT host, stack, disk_bytes, sampled_at FROM latest_stacks", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .unwrap();
        assert_eq!(stack, ("box".into(), "harb".into(), 4096, "2026-11-25T12:00:00Z".into()), "from V{v}");
        let dir: String = st.conn.query_row("SELECT working_dir FROM latest_stacks", [], |r| r.get(0)).unwrap();
        assert_eq!(dir, "/srv/harb", "from V{v}");
        let latest: (String, String) = st
            .conn
            .query_row("SELECT image_id, stacks FROM latest_images", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap();
        assert_eq!(latest, ("sha256:a".into(), r#"["harb"]"#.into()), "from V{v}");
        let history: i64 = st.conn.query_row("SELECT count(*) FROM stack_disk_history", [], |r| r.get(0)).unwrap();
        assert_eq!(history, 2, "from V{v}");
        let pruned: i64 = st.conn.query_row("SELECT count(*) FROM prune_log", [], |r| r.get(0)).unwrap();
        assert_eq!(pruned, 0, "from V{v}");
        // Containers and volumes read as they were written (V5 moved them
        // into change tables), including a volume gone before the upgrade...
        let restarts = column(&st.conn, "SELECT restart_count FROM container_history ORDER BY pass_id");
        assert_eq!(restarts, vec![1, 2], "from V{v}");
        let seen = column(&st.conn, "SELECT pass_id FROM volume_history WHERE volume = 'harb_tmp'");
        assert_eq!(seen, vec![1], "from V{v}");
        // ...which, recreated under the same name, is absent in between.
        let mut st = st;
        st.insert_pass(&tmp_is_back()).unwrap();
        let seen = column(&st.conn, "SELECT pass_id FROM volume_history WHERE volume = 'harb_tmp' ORDER BY 1");
        assert_eq!(seen, vec![1, 3], "from V{v}");
        let chain =
            column(&st.conn, "SELECT size_bytes FROM volume_history WHERE volume = 'harb_chain' ORDER BY pass_id");
        assert_eq!(chain, vec![1024, 4096], "from V{v}");
        // Images and stack paths read as written too (V6 moved them).
        let tags: Vec<String> = st
            .conn
            .prepare("SELECT image_id || ' ' || tags || ' ' || stacks FROM image_history ORDER BY pass_id, image_id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let expected = [
            r#"sha256:a ["anvil:1"] ["harb"]"#,
            r#"sha256:old ["old:1"] ["harb"]"#,
            r#"sha256:a ["anvil:2"] ["harb"]"#,
        ];
        assert_eq!(tags, expected, "from V{v}");
        let old_stacks = st.reader().unwrap().image_stacks_by_id(1, "sha256:old").unwrap();
        assert_eq!(old_stacks, vec!["harb".to_string()], "from V{v}");
        let ok: String = st.conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(ok, "ok");
    }
}

fn column(c: &Connection, sql: &str) -> Vec<i64> {
    c.prepare(sql).unwrap().query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
}

/// A third pass on the fixture's engine in which only `harb_tmp` exists.
fn tmp_is_back() -> crate::model::snapshot::Snapshot {
    use crate::model::snapshot::*;
    let mut volumes = vec![VolumeSample { name: "harb_tmp".into(), driver: "local".into(), ..Default::default() }];
    let stacks = crate::collect::aggregate::attribute(&[], &mut volumes, &mut []);
    Snapshot {
        started_at: 1_795_608_300,
        duration_ms: 10,
        host: HostInfo {
            engine_id: "E1".into(),
            hostname: "box".into(),
            engine_version: "20.10.24".into(),
            api_version: "1.41".into(),
            ..Default::default()
        },
        volumes,
        images: vec![],
        stacks,
        ..Default::default()
    }
}

/// Two passes of one stack, in V1's tables: a container that restarted
/// between them, a volume in both, and one only in the first; an image
/// retagged between them, and one only in the first; the stack's compose
/// directory, seen only in the first.
const V1_FIXTURE: &str = "
    INSERT INTO hosts (id, engine_id, hostname) VALUES (1, 'E1', 'box');
    INSERT INTO passes (id, host_id, started_at, duration_ms, engine_version, api_version, hostname, containers,
        volumes, images, error_count, stackwatch_version)
    VALUES (1, 1, 1795607700, 10, '20.10.24', '1.41', 'box', 0, 0, 0, 0, '0.1.0'),
           (2, 1, 1795608000, 10, '20.10.24', '1.41', 'box', 0, 0, 0, 0, '0.1.0');
    INSERT INTO stacks (id, host_id, kind, name) VALUES (1, 1, 'compose', 'harb');
    INSERT INTO stack_samples (pass_id, stack_id, containers, running, rw_bytes, log_bytes, volume_bytes,
        disk_bytes, mem_bytes, unknown_sizes, working_dir)
    VALUES (1, 1, 1, 1, 0, 0, 1024, 1024, 10, 0, '/srv/harb'), (2, 1, 1, 1, 0, 0, 4096, 4096, 10, 0, NULL);
    INSERT INTO images (id, host_id, image_id, labels) VALUES (1, 1, 'sha256:a', '{}'), (2, 1, 'sha256:old', '{}');
    INSERT INTO image_samples (pass_id, image_ref, tags, size_bytes, containers, managed)
    VALUES (1, 1, '[\"anvil:1\"]', 100, 1, 1), (2, 1, '[\"anvil:2\"]', 100, 1, 1), (1, 2, '[\"old:1\"]', 50, 0, 0);
    INSERT INTO image_stacks (pass_id, image_ref, stack_id) VALUES (1, 1, 1), (2, 1, 1), (1, 2, 1);
    INSERT INTO containers (id, host_id, container_id, stack_id, service, labels)
    VALUES (1, 1, 'c1', 1, 'anvil', '{}');
    INSERT INTO container_samples (pass_id, container_ref, name, image, image_id, state, restart_count, cpu_ns)
    VALUES (1, 1, 'harb-anvil-1', 'anvil', 'sha256:a', 'running', 1, 10),
           (2, 1, 'harb-anvil-1', 'anvil', 'sha256:a', 'running', 2, 20);
    INSERT INTO volumes (id, host_id, name, driver, labels) VALUES (1, 1, 'harb_chain', 'local', '{}'),
                                                                   (2, 1, 'harb_tmp', 'local', '{}');
    INSERT INTO volume_samples (pass_id, volume_ref, size_bytes, size_method, in_use, mounted_by)
    VALUES (1, 1, 1024, 'engine', 1, '[\"harb-anvil-1\"]'), (2, 1, 4096, 'engine', 1, '[\"harb-anvil-1\"]'),
           (1, 2, 5, 'engine', 0, '[]');
    INSERT INTO volume_stacks (pass_id, volume_ref, stack_id, via) VALUES (1, 1, 1, 'mount'), (2, 1, 1, 'mount');";
