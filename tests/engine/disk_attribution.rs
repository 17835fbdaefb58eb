//! Every byte of a filling disk attributed: bind mounts as sized objects
//! beside volumes, sizes fresh every pass, the filesystems and Docker's own
//! totals, against a real engine.

use std::path::Path;
use std::time::Duration;

use crate::common::*;

const KIB: i64 = 1024;
const MIB: i64 = 1024 * KIB;

struct Bind {
    size: Option<i64>,
    read_only: Option<bool>,
    reason: Option<String>,
    mounted_by: String,
    stacks: Vec<String>,
}

fn bind(db: &Path, path: &str) -> Bind {
    let conn = open(db);
    let mut st = conn
        .prepare(
            "SELECT size_bytes, read_only, unsized_reason, mounted_by, stack FROM latest_volumes
             WHERE volume = ?1 AND kind = 'bind' ORDER BY stack",
        )
        .unwrap();
    // One row per owning stack; the bind's own columns repeat.
    let rows: Vec<(Bind, Option<String>)> = st
        .query_map([path], |r| {
            let b = Bind {
                size: r.get(0)?,
                read_only: r.get(1)?,
                reason: r.get(2)?,
                mounted_by: r.get(3)?,
                stacks: vec![],
            };
            Ok((b, r.get(4)?))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let stacks: Vec<String> = rows.iter().filter_map(|r| r.1.clone()).collect();
    let (first, _) = rows.into_iter().next().unwrap_or_else(|| panic!("bind {path} not recorded"));
    Bind { stacks, ..first }
}

fn stack_disk(db: &Path, stack: &str) -> Vec<i64> {
    open(db)
        .prepare("SELECT disk_bytes FROM stack_disk_history WHERE stack = ?1 ORDER BY pass_id")
        .unwrap()
        .query_map([stack], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn write_file(path: &Path, bytes: usize) {
    std::fs::write(path, vec![0x5a; bytes]).unwrap();
}

/// Within `pct` percent of `want`.
fn near(got: i64, want: i64, pct: i64) -> bool {
    (got - want).abs() * 100 <= want * pct
}

#[test]
fn bind_mounts_are_recorded_sized_once_and_attributed_to_every_stack_that_mounts_them() {
    if !engine_available() {
        return;
    }
    let img = image();
    let a = unique("binda");
    let b = unique("bindb");
    // Before the guard: compose needs the project directory to take it down.
    let dir_a = tempfile::tempdir().unwrap();
    let dir_b = tempfile::tempdir().unwrap();
    let mut clean = Cleanup::default();
    let data = dir_a.path().join("data");
    std::fs::create_dir_all(data.join("inner")).unwrap();
    write_file(&data.join("outer.bin"), 3 * MIB as usize);
    write_file(&data.join("inner/inner.bin"), MIB as usize);
    write_file(&dir_a.path().join("app.conf"), 200 * KIB as usize);
    let socket_path = dir_a.path().join("app.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&socket_path).unwrap();
    // Stack a: a relative bind (compose resolves it against the project
    // directory), a bind nested in it, a single file, a socket and a
    // read-only system path.
    compose_up(
        &mut clean,
        dir_a.path(),
        &a,
        &format!(
            r#"version: "2.4"
services:
  app:
    image: {img}
    command: ["sleep", "3600"]
    volumes:
      - ./data:/data
      - ./app.conf:/etc/app.conf:ro
      - ./app.sock:/run/app.sock
      - /etc:/host-etc:ro
  sidecar:
    image: {img}
    command: ["sleep", "3600"]
    volumes: ["./data/inner:/inner"]
"#
        ),
    );
    // Stack b binds stack a's data directory too.
    compose_up(
        &mut clean,
        dir_b.path(),
        &b,
        &format!(
            r#"version: "2.4"
services:
  reader:
    image: {img}
    command: ["sleep", "3600"]
    volumes: ["{}:/shared:ro"]
"#,
            data.display()
        ),
    );
    // A Nomad task with a host volume: a bind of a host path into a
    // container labelled with its job.
    let nomad = unique("nomadtask");
    let job = unique("job");
    let host_volume = dir_b.path().join("nomad-state");
    std::fs::create_dir_all(&host_volume).unwrap();
    write_file(&host_volume.join("state.db"), 2 * MIB as usize);
    clean.container(&nomad);
    docker(&[
        "run",
        "-d",
        "--name",
        &nomad,
        "--label",
        &format!("com.hashicorp.nomad.job_name={job}"),
        "--label",
        "com.hashicorp.nomad.task_name=server",
        "--label",
        "com.hashicorp.nomad.alloc_id=0f0e0d0c-0000-4000-8000-000000000001",
        "-v",
        &format!("{}:/alloc/data", host_volume.display()),
        img,
        "sleep",
        "3600",
    ]);

    let db_dir = tempfile::tempdir().unwrap();
    let db = db_dir.path().join("history.db");
    collect(&db);

    let data_s = data.to_str().unwrap();
    let inner_s = data.join("inner");
    let inner_s = inner_s.to_str().unwrap();
    let outer = bind(&db, data_s);
    let inner = bind(&db, inner_s);
    let outer_bytes = outer.size.expect("the data directory is sized");
    let inner_bytes = inner.size.expect("the nested directory is sized");
    // Each byte belongs to the innermost bound path: the outer walk leaves
    // the nested one out, so neither counts the other's megabyte.
    assert!((3 * MIB..3 * MIB + 64 * KIB).contains(&outer_bytes), "outer {outer_bytes}");
    assert!((MIB..MIB + 64 * KIB).contains(&inner_bytes), "inner {inner_bytes}");
    // Bound by two stacks, measured once, listed under both.
    assert_eq!(outer.stacks, {
        let mut v = vec![a.clone(), b.clone()];
        v.sort();
        v
    });
    assert_eq!(outer.read_only, Some(false), "stack a mounts it read-write");
    assert!(outer.mounted_by.contains(&format!("{a}_app_1")) || outer.mounted_by.contains(&format!("{a}-app-1")));
    assert_eq!(inner.stacks, vec![a.clone()]);

    let conf = bind(&db, dir_a.path().join("app.conf").to_str().unwrap());
    assert!((200 * KIB..200 * KIB + 8 * KIB).contains(&conf.size.unwrap()), "a single file is sized by stat");
    assert_eq!(conf.read_only, Some(true));

    let etc = bind(&db, "/etc");
    assert_eq!(etc.size, None, "a system path is never walked");
    assert!(etc.reason.as_deref().unwrap().contains("system path"), "{:?}", etc.reason);
    assert_eq!(etc.read_only, Some(true));
    let sock = bind(&db, socket_path.to_str().unwrap());
    assert_eq!((sock.size, sock.reason.as_deref()), (None, Some("a socket")));

    let nomad_bind = bind(&db, host_volume.to_str().unwrap());
    assert_eq!(nomad_bind.stacks, vec![job.clone()], "a Nomad host volume belongs to its job");
    assert!((2 * MIB..2 * MIB + 64 * KIB).contains(&nomad_bind.size.unwrap()));
    let (kind,): (String,) =
        open(&db).query_row("SELECT kind FROM latest_stacks WHERE stack = ?1", [&job], |r| Ok((r.get(0)?,))).unwrap();
    assert_eq!(kind, "nomad");

    // Stack totals carry their binds: a's data (3 MiB), nested (1 MiB)
    // and file (200 KiB); b's view of the shared directory.
    let a_disk = *stack_disk(&db, &a).last().unwrap();
    assert!(a_disk >= outer_bytes + inner_bytes + 200 * KIB, "stack a {a_disk}");
    let b_disk = *stack_disk(&db, &b).last().unwrap();
    assert!(b_disk >= outer_bytes, "stack b {b_disk}");

    // The filesystem holding the binds is recorded with the Docker root's.
    let conn = open(&db);
    let (fs_rows, roots): (i64, i64) = conn
        .query_row(
            "SELECT count(*), sum(docker_root) FROM filesystem_history
              WHERE pass_id = (SELECT MAX(pass_id) FROM pass_log)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(fs_rows >= 1 && roots == 1, "{fs_rows} filesystems, {roots} holding the Docker root");
    let mount_of_data: String = conn
        .query_row(
            "SELECT mount_point FROM filesystem_history WHERE pass_id = (SELECT MAX(pass_id) FROM pass_log)
              AND ?1 LIKE (CASE mount_point WHEN '/' THEN '' ELSE mount_point END) || '/%'
              ORDER BY length(mount_point) DESC LIMIT 1",
            [data_s],
            |r| r.get(0),
        )
        .unwrap();
    assert!(data.starts_with(&mount_of_data), "{mount_of_data}");
}

#[test]
fn a_never_walked_bind_says_why_and_keeps_its_filesystem_out_whether_or_not_sizes_are_due() {
    if !engine_available() {
        return;
    }
    let img = image();
    let project = unique("nowalk");
    let dir = tempfile::tempdir().unwrap();
    let mut clean = Cleanup::default();
    let socket_path = dir.path().join("app.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&socket_path).unwrap();
    // /proc is a filesystem of its own that no pass may record as the
    // stack's; the socket has no size of its own.
    compose_up(
        &mut clean,
        dir.path(),
        &project,
        &format!(
            r#"version: "2.4"
services:
  exporter:
    image: {img}
    command: ["sleep", "3600"]
    volumes:
      - /proc:/host/proc:ro
      - ./app.sock:/run/app.sock
"#
        ),
    );
    let db_dir = tempfile::tempdir().unwrap();
    let db = db_dir.path().join("history.db");
    let proc_filesystems = || -> i64 {
        open(&db)
            .query_row(
                "SELECT count(*) FROM filesystem_history
                  WHERE pass_id = (SELECT MAX(pass_id) FROM pass_log) AND mount_point = '/proc'",
                [],
                |r| r.get(0),
            )
            .unwrap()
    };
    // A first pass that measures nothing, one that measures what is due,
    // and one that measures nothing again: the same outcome each time.
    for args in [&["--no-sizes"][..], &[], &["--no-sizes"]] {
        collect_with(&db, args);
        let proc = bind(&db, "/proc");
        assert_eq!(proc.size, None, "{args:?}");
        assert_eq!(proc.reason.as_deref(), Some("system path (under /proc)"), "{args:?}");
        // Other tests' containers may bind /proc too.
        assert!(proc.stacks.contains(&project), "{args:?}: {:?}", proc.stacks);
        let sock = bind(&db, socket_path.to_str().unwrap());
        assert_eq!((sock.size, sock.reason.as_deref()), (None, Some("a socket")), "{args:?}");
        assert_eq!(proc_filesystems(), 0, "{args:?}: a never-walked bind's filesystem is not recorded");
    }
}

#[test]
fn a_bind_whose_walk_failed_keeps_its_reason_until_the_next_walk() {
    if !engine_available() {
        return;
    }
    let img = image();
    let project = unique("walkfail");
    let dir = tempfile::tempdir().unwrap();
    let mut clean = Cleanup::default();
    let data = dir.path().join("data");
    let steady = dir.path().join("steady");
    for d in [&data, &steady] {
        std::fs::create_dir_all(d).unwrap();
        write_file(&d.join("f.bin"), MIB as usize);
    }
    compose_up(
        &mut clean,
        dir.path(),
        &project,
        &format!(
            r#"version: "2.4"
services:
  app:
    image: {img}
    command: ["sleep", "3600"]
    volumes: ["./data:/data", "./steady:/steady"]
"#
        ),
    );
    let db_dir = tempfile::tempdir().unwrap();
    let db = db_dir.path().join("history.db");
    let (data_s, steady_s) = (data.to_str().unwrap(), steady.to_str().unwrap());

    // The first pass reads the binds, then the data directory moves away
    // before its walk (a deploy swapping it, say), so the walk fails, even
    // as root. The running container keeps its mount.
    let (mut child, rx) = paused_collect(&db, &[], "sizes", 3000);
    let away = dir.path().join("data.away");
    std::fs::rename(&data, &away).unwrap();
    let status = child.wait().unwrap();
    let said: Vec<String> = rx.into_iter().collect();
    assert!(status.success(), "{said:?}");
    std::fs::rename(&away, &data).unwrap();
    let failed = bind(&db, data_s);
    assert_eq!(failed.size, None, "a failed walk is unknown, not 0");
    let reason = failed.reason.expect("the failed walk says why");
    assert!(reason.starts_with("unreadable: ") && reason.contains(data_s), "{reason}");

    // Back in place, but not due: a pass measuring nothing and one
    // measuring what is due carry the failed attempt, reason and all, as
    // they carry a measured size. The readable bind keeps its size.
    for args in [&["--no-sizes"][..], &[]] {
        collect_with(&db, args);
        let carried = bind(&db, data_s);
        assert_eq!((carried.size, carried.reason.as_deref()), (None, Some(reason.as_str())), "{args:?}");
        let other = bind(&db, steady_s);
        assert!(other.size.is_some_and(|b| b >= MIB) && other.reason.is_none(), "{args:?}: {:?}", other.reason);
    }
    let history: Vec<(Option<i64>, Option<String>)> = open(&db)
        .prepare("SELECT size_bytes, unsized_reason FROM volume_history WHERE volume = ?1 ORDER BY pass_id")
        .unwrap()
        .query_map([data_s], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(history, vec![(None, Some(reason.clone())); 3], "every pass until the next attempt");

    // The next attempt says otherwise: measured, no reason.
    collect_with(&db, &["--sizes"]);
    let measured = bind(&db, data_s);
    assert!(measured.size.is_some_and(|b| (MIB..MIB + 64 * KIB).contains(&b)), "{:?}", measured.size);
    assert_eq!(measured.reason, None);
}

#[test]
fn bytes_written_between_two_passes_seconds_apart_are_attributed_to_their_stack() {
    if !engine_available() {
        return;
    }
    let img = image();
    let project = unique("grow");
    let dir = tempfile::tempdir().unwrap();
    let mut clean = Cleanup::default();
    std::fs::create_dir_all(dir.path().join("pgdata")).unwrap();
    compose_up(
        &mut clean,
        dir.path(),
        &project,
        &format!(
            r#"version: "2.4"
services:
  db:
    image: {img}
    command: ["sleep", "3600"]
    volumes: ["./pgdata:/var/lib/postgresql/data", "state:/state"]
volumes:
  state: {{}}
"#
        ),
    );
    let container = wait_for("the db container", Duration::from_secs(30), || {
        let out = docker(&["ps", "-q", "--filter", &format!("label=com.docker.compose.project={project}")]);
        (!out.is_empty()).then_some(out)
    });
    let db_dir = tempfile::tempdir().unwrap();
    let db = db_dir.path().join("history.db");
    collect(&db);
    let bind_path = dir.path().join("pgdata");
    let bind_before = bind(&db, bind_path.to_str().unwrap()).size.unwrap();
    let disk_before = *stack_disk(&db, &project).last().unwrap();

    // 6 MB into the bind mount and 4 MB into the named volume, then a pass
    // a second later, with no `--sizes`: both are fresh.
    docker(&["exec", &container, "dd", "if=/dev/urandom", "of=/var/lib/postgresql/data/wal", "bs=1000", "count=6000"]);
    docker(&["exec", &container, "dd", "if=/dev/urandom", "of=/state/blob", "bs=1000", "count=4000"]);
    std::thread::sleep(Duration::from_millis(1100));
    collect(&db);
    let bind_grew = bind(&db, bind_path.to_str().unwrap()).size.unwrap() - bind_before;
    assert!(near(bind_grew, 6_000_000, 5), "bind grew {bind_grew}");
    let stack_grew = *stack_disk(&db, &project).last().unwrap() - disk_before;
    assert!(near(stack_grew, 10_000_000, 5), "stack grew {stack_grew}, 10 MB were written");

    // The report names the bind in the stack's growth.
    let out =
        bin().args(["report", "--db", db.to_str().unwrap(), "--window", "1h", "--format", "json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let host =
        json["hosts"].as_array().unwrap().iter().find(|h| h["filesystems"].as_array().is_some_and(|f| !f.is_empty()));
    let host = host.expect("a host with filesystems");
    let stack_growth =
        host["growth"]["stacks"].as_array().unwrap().iter().find(|g| g["name"] == project.as_str()).unwrap();
    let sentence = stack_growth["sentence"].as_str().unwrap();
    assert!(sentence.contains(&format!("bind `{}` +6", bind_path.display())), "{sentence}");
    assert!(sentence.contains(&format!("volume `{project}_state` +4")), "{sentence}");

    // The reconciliation: on every filesystem the parts and "not
    // attributed" add up exactly to the filesystem's own change, and our
    // stack's 10 MB show up as its growth on the filesystems that hold it.
    let mut ours = 0i64;
    for fs in host["filesystems"].as_array().unwrap() {
        let growth = fs["growth_bytes"].as_i64().expect("two passes recorded the filesystem");
        let parts: i64 = fs["parts"].as_array().unwrap().iter().map(|p| p["delta_bytes"].as_i64().unwrap()).sum();
        let rest = fs["not_attributed_bytes"].as_i64().unwrap();
        assert_eq!(parts + rest, growth, "{fs}");
        let kinds: Vec<&str> = fs["parts"].as_array().unwrap().iter().map(|p| p["kind"].as_str().unwrap()).collect();
        if fs["docker_root"].as_bool().unwrap() {
            assert_eq!(kinds, ["bind_mounts", "volumes", "logs", "writable_layers", "images", "build_cache"]);
        }
        for d in fs["drivers"].as_array().unwrap() {
            if d["stack"] == project.as_str() {
                ours += d["delta_bytes"].as_i64().unwrap();
            }
        }
    }
    assert!(near(ours, 10_000_000, 5), "our stack's growth across filesystems: {ours}");
    let md = bin().args(["report", "--db", db.to_str().unwrap(), "--window", "1h"]).output().unwrap();
    let md = String::from_utf8_lossy(&md.stdout);
    assert!(md.contains("**Where the disk went**"), "{md}");
}

#[test]
fn docker_totals_hold_images_and_build_cache() {
    if !engine_available() {
        return;
    }
    let mut clean = Cleanup::default();
    // An image with a 3 MB layer of its own. (The test bed's engine has no
    // BuildKit client, so there is no build cache to create; its total must
    // still be known, 0 included.)
    let tag = format!("{}:1", unique("layer"));
    build(&mut clean, &[&tag], "RUN dd if=/dev/zero of=/filler bs=1000 count=3000");
    let db_dir = tempfile::tempdir().unwrap();
    let db = db_dir.path().join("history.db");
    collect(&db);
    let (images, cache): (Option<i64>, Option<i64>) = open(&db)
        .query_row("SELECT images_bytes, build_cache_bytes FROM pass_log ORDER BY pass_id DESC LIMIT 1", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    let images = images.expect("image bytes known");
    assert!(images >= 3_000_000, "images hold at least our 3 MB layer: {images}");
    let cache = cache.expect("build cache known");
    assert!(cache >= 0);
}
