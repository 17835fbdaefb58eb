//! `stackwatch prune` on the real engine: labelled and unlabelled images,
//! containers and volumes side by side; after `--apply` every unlabelled one
//! is still there, and every removal is in the history and the report.
//!
//! Each test scopes the prune to a label key of its own (through a config
//! file), so a prune here can never touch what other tests, or anyone else
//! on the shared engine, created with the default label.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::*;

struct Bed {
    _dir: tempfile::TempDir,
    config: PathBuf,
    db: PathBuf,
}

impl Bed {
    fn new(label: &str) -> Bed {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("stackwatch.toml");
        std::fs::write(&config, format!("[labels]\nmanaged = \"{label}\"\n")).unwrap();
        let db = dir.path().join("history.db");
        Bed { _dir: dir, config, db }
    }

    fn run(&self, args: &[&str]) -> Output {
        bin()
            .args(args)
            .args(["--config", self.config.to_str().unwrap(), "--db", self.db.to_str().unwrap()])
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{args:?} failed: {text}");
        text
    }
}

fn prune_log(db: &Path) -> Vec<(String, String, String, Option<i64>, String)> {
    open(db)
        .prepare(
            "SELECT kind, name, COALESCE(stack, '-'), size_bytes, reason FROM prune_log ORDER BY prune_id, kind, name",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn prune_removes_only_labelled_objects_and_records_every_removal() {
    if !engine_available() {
        return;
    }
    let u = unique("prune");
    let key = format!("{u}.managed");
    let yes = format!("{key}=true");
    let bed = Bed::new(&yes);
    let mut clean = Cleanup::default();
    let project = format!("{u}proj");

    // Images: a labelled one only an exited labelled container uses (two
    // tags), a labelled unused one with bytes of its own, a labelled
    // dangling one, a labelled one a running container uses, an unlabelled
    // one, and one with the key but another value.
    let tag_two_a = format!("{u}-two:a");
    let tag_two_b = format!("{u}-two:b");
    let img_two = build(&mut clean, &[&tag_two_a, &tag_two_b], &format!("LABEL {key}=true marker=two"));
    let tag_big = format!("{u}-big:1");
    let img_big =
        build(&mut clean, &[&tag_big], &format!("LABEL {key}=true\nRUN dd if=/dev/zero of=/blob bs=1024 count=300"));
    let img_dangling = build(&mut clean, &[], &format!("LABEL {key}=true marker=dangling-{u}"));
    let tag_used = format!("{u}-used:1");
    let img_used = build(&mut clean, &[&tag_used], &format!("LABEL {key}=true marker=used"));
    let tag_plain = format!("{u}-plain:1");
    let img_plain = build(&mut clean, &[&tag_plain], "LABEL marker=plain");
    let tag_false = format!("{u}-false:1");
    let img_false = build(&mut clean, &[&tag_false], &format!("LABEL {key}=false"));

    // Volumes.
    let vol_loose = format!("{u}-loose");
    let vol_held = format!("{u}-held");
    let vol_gone_with = format!("{u}-gonewith");
    let vol_plain = format!("{u}-plainvol");
    for (v, labelled) in [(&vol_loose, true), (&vol_held, true), (&vol_gone_with, true), (&vol_plain, false)] {
        clean.volume(v);
        let mut args = vec!["volume", "create"];
        let l = yes.clone();
        if labelled {
            args.extend(["--label", &l]);
        }
        args.push(v);
        docker(&args);
    }
    docker(&["run", "--rm", "-v", &format!("{vol_loose}:/d"), image(), "sh", "-c", "head -c 100000 /dev/zero > /d/f"]);

    // Containers.
    let c_exited = format!("{u}-exited");
    let c_running = format!("{u}-running");
    let c_plain = format!("{u}-plainc");
    let c_false = format!("{u}-falsec");
    for c in [&c_exited, &c_running, &c_plain, &c_false] {
        clean.container(c);
    }
    let compose = format!("com.docker.compose.project={project}");
    docker(&[
        "run",
        "--name",
        &c_exited,
        "--network",
        "none",
        "--label",
        &yes,
        "--label",
        &compose,
        "-v",
        &format!("{vol_gone_with}:/d"),
        &tag_two_a,
        "sh",
        "-c",
        "echo hi > /scratch",
    ]);
    docker(&[
        "run",
        "-d",
        "--name",
        &c_running,
        "--network",
        "none",
        "--label",
        &yes,
        "-v",
        &format!("{vol_held}:/d"),
        &tag_used,
        "sleep",
        "3600",
    ]);
    docker(&["run", "--name", &c_plain, "--network", "none", &tag_plain, "true"]);
    docker(&["run", "--name", &c_false, "--network", "none", "--label", &format!("{key}=false"), &tag_false, "true"]);

    // A pass before the prune, so the report has a host and a window.
    bed.ok(&["collect"]);

    let everything = || {
        vec![
            ("container", c_exited.clone()),
            ("container", c_running.clone()),
            ("container", c_plain.clone()),
            ("container", c_false.clone()),
            ("image", img_two.clone()),
            ("image", img_big.clone()),
            ("image", img_dangling.clone()),
            ("image", img_used.clone()),
            ("image", img_plain.clone()),
            ("image", img_false.clone()),
            ("volume", vol_loose.clone()),
            ("volume", vol_held.clone()),
            ("volume", vol_gone_with.clone()),
            ("volume", vol_plain.clone()),
        ]
    };

    // Dry run: lists the candidates with stack and size, removes nothing.
    let dry = bed.ok(&["prune"]);
    assert!(dry.contains("dry run") && dry.contains(&yes), "{dry}");
    let line = |name: &str| dry.lines().find(|l| l.contains(name)).unwrap_or_else(|| panic!("{name} missing: {dry}"));
    assert!(line(&c_exited).starts_with("container") && line(&c_exited).contains(&project), "{dry}");
    assert!(line(&c_exited).contains("exited"), "{dry}");
    assert!(line(&tag_two_a).contains(&project), "the image's stack is the container's that held it: {dry}");
    assert!(line(&tag_big).contains("unused") && line(&tag_big).contains("kB"), "{dry}");
    let short = img_dangling.trim_start_matches("sha256:")[..12].to_string();
    assert!(line(&short).contains("dangling"), "{dry}");
    assert!(dry.contains("would reclaim"), "{dry}");
    assert!(dry.contains("2 unused labelled volumes") && dry.contains("--volumes"), "{dry}");
    for absent in [&c_running, &c_plain, &c_false, &tag_used, &tag_plain, &tag_false, &vol_plain] {
        assert!(!dry.contains(absent.as_str()), "{absent} must not be a candidate: {dry}");
    }
    for (kind, name) in everything() {
        assert!(exists(kind, &name), "the dry run removed {kind} {name}");
    }

    // --apply without --volumes.
    let applied = bed.ok(&["prune", "--apply"]);
    assert!(applied.contains("reclaimed"), "{applied}");
    let removed = [
        ("container", c_exited.clone()),
        ("image", img_two.clone()),
        ("image", img_big.clone()),
        ("image", img_dangling.clone()),
    ];
    for (kind, name) in everything() {
        let should_be_gone = removed.iter().any(|(k, n)| *k == kind && *n == name);
        assert_eq!(exists(kind, &name), !should_be_gone, "{kind} {name} after --apply: {applied}");
    }
    assert!(!exists("image", &tag_two_b), "both tags went");

    // --apply --volumes: the labelled volumes nothing mounts go too.
    let applied = bed.ok(&["prune", "--apply", "--volumes"]);
    for (kind, name) in everything() {
        let should_be_gone = removed.iter().any(|(k, n)| *k == kind && *n == name)
            || (kind == "volume" && (name == vol_loose || name == vol_gone_with));
        assert_eq!(exists(kind, &name), !should_be_gone, "{kind} {name} after --apply --volumes: {applied}");
    }

    // Every removal is in the history: what, when, bytes.
    let log = prune_log(&bed.db);
    let names: Vec<(&str, &str)> = log.iter().map(|r| (r.0.as_str(), r.1.as_str())).collect();
    assert_eq!(names.len(), 6, "{log:?}");
    assert_eq!(
        &names[..3],
        &[("container", c_exited.as_str()), ("image", short.as_str()), ("image", tag_big.as_str())]
    );
    assert!(names[3] == ("image", tag_two_a.as_str()) || names[3] == ("image", tag_two_b.as_str()), "{log:?}");
    assert_eq!(&names[4..], &[("volume", vol_gone_with.as_str()), ("volume", vol_loose.as_str())]);
    assert_eq!(log[0].2, project, "stack recorded: {log:?}");
    let big = log.iter().find(|r| r.1 == tag_big).unwrap();
    assert!(big.3.is_some_and(|b| b >= 300 * 1024), "unique bytes of the big image: {big:?}");
    let loose = log.iter().find(|r| r.1 == vol_loose).unwrap();
    assert!(loose.3.is_some_and(|b| b >= 100_000), "volume contents: {loose:?}");
    assert!(log.iter().all(|r| r.3.is_some()), "every size known: {log:?}");
    let when: i64 = open(&bed.db).query_row("SELECT MIN(removed_unix) FROM prune_log", [], |r| r.get(0)).unwrap();
    assert!((stackwatch::time::now_unix() - when).abs() < 300);

    // The report explains the drop.
    let projects = tempfile::tempdir().unwrap();
    let report = bed.ok(&["report", "--no-vault", "--projects", projects.path().to_str().unwrap()]);
    let pruned = report.lines().find(|l| l.contains("Pruned")).unwrap_or_else(|| panic!("{report}"));
    assert!(pruned.contains("of factory images") && pruned.contains("stackwatch prune"), "{pruned}");
}

#[test]
fn apply_is_refused_when_nothing_carries_the_label() {
    if !engine_available() {
        return;
    }
    let label = format!("{}.managed=true", unique("nolabel"));
    let bed = Bed::new(&label);
    let dry = bed.ok(&["prune"]);
    assert!(dry.contains("nothing carries"), "{dry}");
    let out = bed.run(&["prune", "--apply"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("refusing to --apply") && err.contains(&label) && err.contains("label"), "{err}");
    assert!(!bed.db.exists(), "nothing recorded when nothing was done");

    let bed = Bed::new(&format!("{}.managed=", unique("empty")));
    let out = bed.run(&["prune", "--apply"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("empty key or value"), "{err}");
}

#[test]
fn nothing_to_prune_is_said_the_same_with_or_without_a_history_and_creates_none() {
    if !engine_available() {
        return;
    }
    let u = unique("busy");
    let label = format!("{u}.managed=true");
    let bed = Bed::new(&label);
    let mut clean = Cleanup::default();
    let running = format!("{u}-running");
    clean.container(&running);
    docker(&["run", "-d", "--name", &running, "--network", "none", "--label", &label, image(), "sleep", "3600"]);
    let said = format!("nothing to prune: 1 objects carry {label}, all in use");

    let applied = bed.ok(&["prune", "--apply"]);
    assert!(applied.contains(&said), "{applied}");
    assert!(!bed.db.exists(), "nothing to prune creates no history");

    collect(&bed.db);
    let applied = bed.ok(&["prune", "--apply"]);
    assert!(applied.contains(&said), "{applied}");
    assert!(prune_log(&bed.db).is_empty(), "nothing pruned, nothing recorded");
    assert!(exists("container", &running));
}

/// Builds `FROM parent` with `lines`, tagged `tag`; returns the image id.
fn build_on(clean: &mut Cleanup, parent: &str, tag: &str, lines: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Dockerfile"), format!("FROM {parent}\n{lines}\n")).unwrap();
    let id = docker(&["build", "-q", "-t", tag, dir.path().to_str().unwrap()]);
    clean.image(tag);
    clean.image(&id);
    id
}

fn tags_of(image: &str) -> String {
    docker(&["image", "inspect", "-f", "{{json .RepoTags}}", image])
}

#[test]
fn an_image_other_images_are_built_on_keeps_its_tags_and_nothing_is_recorded() {
    if !engine_available() {
        return;
    }
    let u = unique("parent");
    let key = format!("{u}.managed");
    let bed = Bed::new(&format!("{key}=true"));
    let mut clean = Cleanup::default();
    // Labelled parents with one and with two tags, each with a foreign
    // child image (its own value of the key) that a running container uses.
    let mut parents = Vec::new();
    for (n, tags) in [(1, vec![format!("{u}-one:a")]), (2, vec![format!("{u}-two:a"), format!("{u}-two:b")])] {
        let refs: Vec<&str> = tags.iter().map(String::as_str).collect();
        let id = build(&mut clean, &refs, &format!("LABEL {key}=true marker=parent{n}-{u}"));
        let child_tag = format!("{u}-child{n}:1");
        build_on(&mut clean, &tags[0], &child_tag, &format!("LABEL {key}=foreign\nRUN echo {n} > /child"));
        let c = format!("{u}-user{n}");
        clean.container(&c);
        docker(&["run", "-d", "--network", "none", "--name", &c, &child_tag, "sleep", "600"]);
        parents.push((id, tags));
    }
    let before: Vec<String> = parents.iter().map(|(id, _)| tags_of(id)).collect();
    bed.ok(&["collect"]);
    let applied = bed.ok(&["prune", "--apply"]);
    for ((id, tags), was) in parents.iter().zip(&before) {
        assert!(exists("image", id), "{applied}");
        assert_eq!(&tags_of(id), was, "a kept image keeps every tag: {applied}");
        for t in tags {
            assert!(exists("image", t), "{t}: {applied}");
        }
    }
    let log = prune_log(&bed.db);
    assert!(log.iter().all(|r| !r.1.starts_with(&u)), "nothing changed, nothing recorded: {log:?}");
}

/// `prune --apply` stopped by SIGKILL at fault pause `stage`.
fn prune_killed_at(bed: &Bed, stage: &str) -> String {
    use std::io::{BufRead, BufReader};
    let mut child = KillOnDrop(
        bin()
            .args(["prune", "--apply", "--config", bed.config.to_str().unwrap(), "--db", bed.db.to_str().unwrap()])
            .env("STACKWATCH_FAULT_PAUSE", format!("{stage}:60000"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut seen = String::new();
    for line in BufReader::new(child.0.stderr.take().unwrap()).lines().map_while(Result::ok) {
        seen.push_str(&line);
        seen.push('\n');
        if line.contains(&format!("fault: paused at {stage}")) {
            break;
        }
    }
    assert!(seen.contains("paused at"), "prune never reached {stage}: {seen}");
    child.0.kill().unwrap();
    let status = child.0.wait().unwrap();
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(9));
    seen
}

fn reasons_of(db: &Path, name: &str) -> Vec<String> {
    open(db)
        .prepare("SELECT reason FROM prune_log WHERE name = ?1 ORDER BY removed_unix")
        .unwrap()
        .query_map([name], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn a_prune_killed_mid_removal_leaves_a_record_the_next_prune_settles() {
    if !engine_available() {
        return;
    }
    let u = unique("kill");
    let key = format!("{u}.managed");
    let bed = Bed::new(&format!("{key}=true"));
    let mut clean = Cleanup::default();
    let exited = |name: &str, clean: &mut Cleanup| {
        clean.container(name);
        docker(&["run", "--name", name, "--network", "none", "--label", &format!("{key}=true"), image(), "true"]);
    };

    // Killed right after the engine removed it: gone, and the log says so.
    let first = format!("{u}-first");
    exited(&first, &mut clean);
    prune_killed_at(&bed, "prune-removed");
    assert!(!exists("container", &first), "the engine removed it before the kill");
    assert_eq!(reasons_of(&bed.db, &first), ["pending: exited"], "the log has the object that is gone");

    // Killed after recording the intent, before asking the engine: still
    // there. This prune first settled the one before: that removal stands.
    let second = format!("{u}-second");
    exited(&second, &mut clean);
    prune_killed_at(&bed, "prune-asking");
    assert_eq!(reasons_of(&bed.db, &first), ["exited"]);
    assert!(exists("container", &second));
    assert_eq!(reasons_of(&bed.db, &second), ["pending: exited"]);

    // The next prune settles it (not removed), then removes it for real.
    let applied = bed.ok(&["prune", "--apply"]);
    assert!(
        applied.contains(&format!("settled an interrupted prune: container {second} was not removed")),
        "{applied}"
    );
    assert!(applied.contains(&format!("removed container {second}")), "{applied}");
    assert!(!exists("container", &second));
    assert_eq!(reasons_of(&bed.db, &first), ["exited"]);
    assert_eq!(reasons_of(&bed.db, &second), ["exited"], "one row for the one removal");
}

#[test]
fn an_image_whose_removal_is_refused_after_untagging_gets_its_tags_back() {
    if !engine_available() {
        return;
    }
    use std::io::{BufRead, BufReader};
    let u = unique("retag");
    let key = format!("{u}.managed");
    let bed = Bed::new(&format!("{key}=true"));
    let mut clean = Cleanup::default();
    let tags = [format!("{u}-img:a"), format!("{u}-img:b")];
    let id = build(&mut clean, &[&tags[0], &tags[1]], &format!("LABEL {key}=true marker=retag-{u}"));
    let before = tags_of(&id);

    // Once the first tag is off, a container starts using the image: the
    // engine refuses to take the last tag, and the prune must undo the first.
    let mut child = KillOnDrop(
        bin()
            .args(["prune", "--apply", "--config", bed.config.to_str().unwrap(), "--db", bed.db.to_str().unwrap()])
            .env("STACKWATCH_FAULT_PAUSE", "prune-untagged:3000")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut err = BufReader::new(child.0.stderr.take().unwrap());
    let mut said = String::new();
    while !said.contains("paused at prune-untagged") {
        assert!(err.read_line(&mut said).unwrap() > 0, "prune never untagged: {said}");
    }
    let user = format!("{u}-user");
    clean.container(&user);
    docker(&["create", "--name", &user, "--network", "none", &id, "true"]);
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.0.stdout.take().unwrap(), &mut out).unwrap();
    assert!(child.0.wait().unwrap().success(), "{out}{said}");
    assert!(out.contains("the engine refused") && out.contains("its tags were put back"), "{out}");
    assert_eq!(tags_of(&id), before, "{out}");
    assert!(prune_log(&bed.db).iter().all(|r| !r.1.starts_with(&u)), "nothing changed, nothing recorded");
}

#[test]
fn a_prune_killed_half_way_through_untagging_gets_the_tags_back_next_time() {
    if !engine_available() {
        return;
    }
    let u = unique("halftag");
    let key = format!("{u}.managed");
    let bed = Bed::new(&format!("{key}=true"));
    let mut clean = Cleanup::default();
    let tags = [format!("{u}-img:a"), format!("{u}-img:b")];
    let id = build(&mut clean, &[&tags[0], &tags[1]], &format!("LABEL {key}=true marker=halftag-{u}"));
    let before = tags_of(&id);

    prune_killed_at(&bed, "prune-untagged");
    assert!(exists("image", &id));
    assert_ne!(tags_of(&id), before, "killed with one tag off");
    let log = prune_log(&bed.db);
    assert!(log.iter().any(|r| r.4.starts_with("pending: unused (tags: ")), "{log:?}");

    // Now in use (by a container that is not the factory's), so not
    // removed: the next prune only settles, tags and all.
    let user = format!("{u}-user");
    clean.container(&user);
    let foreign = format!("{key}=foreign");
    docker(&["create", "--name", &user, "--network", "none", "--label", &foreign, &id, "true"]);
    let applied = bed.ok(&["prune", "--apply"]);
    assert!(applied.contains("was not removed (tags put back: "), "{applied}");
    assert_eq!(tags_of(&id), before, "{applied}");
    assert!(prune_log(&bed.db).iter().all(|r| !r.1.starts_with(&u)), "nothing changed, nothing recorded");
}
