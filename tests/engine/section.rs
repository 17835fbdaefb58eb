//! The supervisor's section on the real engine (issue "a section the
//! supervisor can act on"): priorities that mean something, owners that
//! resolve the same wherever the command runs, vault items worth a human's
//! approval, and outputs that are checked before any is written.
//!
//! Every test asserts on its own stacks only: other people's objects on the
//! same engine show up in the report too. Services run without a network
//! (`network_mode: none`): they need none, and a shared engine runs out of
//! address pools for per-project networks.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use crate::common::*;

fn report_in(cwd: &Path, db: &Path, args: &[&str]) -> Output {
    bin()
        .current_dir(cwd)
        .args(["report", "--db", db.to_str().unwrap()])
        .args(args)
        .env_remove("OPS_VAULT_ROOT")
        .env_remove("OPS_REPO_ROOT")
        .env_remove("OPS_KNOWLEDGE_ROOT")
        .env_remove("FACTORY_ROOT")
        .output()
        .unwrap()
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "report failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn json(cwd: &Path, db: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--format", "json", "--no-vault", "--no-knowledge"];
    all.extend_from_slice(args);
    serde_json::from_str(&ok(report_in(cwd, db, &all))).unwrap()
}

/// The container of a compose service, by its labels: compose v1 names it
/// `<project>_<service>_1`, v2 `<project>-<service>-1`.
fn service(project: &str, service: &str) -> String {
    let name = docker(&[
        "ps",
        "-a",
        "--filter",
        &format!("label=com.docker.compose.project={project}"),
        "--filter",
        &format!("label=com.docker.compose.service={service}"),
        "--format",
        "{{.Names}}",
    ]);
    assert!(!name.is_empty() && !name.contains('\n'), "one container for {project}/{service}: {name:?}");
    name
}

fn finding<'a>(j: &'a serde_json::Value, key: &str) -> &'a serde_json::Value {
    j["hosts"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["key"] == key)
        .unwrap_or_else(|| panic!("no finding {key}: {:#}", j["hosts"][0]["findings"]))
}

fn stack<'a>(j: &'a serde_json::Value, kind: &str, name: &str) -> &'a serde_json::Value {
    j["hosts"][0]["stacks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == kind && s["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} stack {name}"))
}

/// Moves the first pass back so the two passes are `secs` apart: rates and
/// the fill projection need at least 10 minutes of history, and a test
/// cannot wait that long. Only the time stamp moves; what was measured in
/// each pass is what the engine reported.
fn stretch_first_pass(db: &Path, secs: i64) {
    let c = rusqlite::Connection::open(db).unwrap();
    let n = c
        .execute("UPDATE passes SET started_at = started_at - ?1 WHERE id = (SELECT MIN(id) FROM passes)", [secs])
        .unwrap();
    assert_eq!(n, 1);
}

/// The engine's filesystem is shared with other people's tests, which write
/// and delete beside ours: set the first pass's figures of the Docker root's
/// filesystem to the second pass's less `ours`, the bytes this test wrote, so
/// the window's growth is ours alone (what a quiet box would show).
fn only_our_growth_on_the_disk(db: &Path, ours: i64) {
    let c = rusqlite::Connection::open(db).unwrap();
    let n = c
        .execute(
            "UPDATE passes SET fs_used_bytes = (SELECT fs_used_bytes - ?1 FROM passes ORDER BY id DESC LIMIT 1),
                               fs_free_bytes = (SELECT fs_free_bytes + ?1 FROM passes ORDER BY id DESC LIMIT 1)
              WHERE id = (SELECT MIN(id) FROM passes)",
            [ours],
        )
        .unwrap();
    assert_eq!(n, 1);
    c.execute(
        "UPDATE filesystem_samples AS f
            SET used_bytes = (SELECT l.used_bytes - ?1 FROM filesystem_samples l
                               WHERE l.fs_ref = f.fs_ref AND l.pass_id = (SELECT MAX(id) FROM passes)),
                free_bytes = (SELECT l.free_bytes + ?1 FROM filesystem_samples l
                               WHERE l.fs_ref = f.fs_ref AND l.pass_id = (SELECT MAX(id) FROM passes))
          WHERE f.pass_id = (SELECT MIN(id) FROM passes) AND f.docker_root = 1",
        [ours],
    )
    .unwrap();
}

#[test]
fn a_filling_disk_is_p1_naming_its_driver_while_a_tiny_orphan_stays_p4_and_fast_logs_are_a_finding() {
    if !engine_available() {
        return;
    }
    let img = image();
    // Declared before the guard, so it still exists when `compose down` runs.
    let dir = tempfile::tempdir().unwrap();
    let mut clean = Cleanup::default();
    let project = unique("fill");
    compose_up(
        &mut clean,
        dir.path(),
        &project,
        &format!(
            r#"version: "2.4"
services:
  writer:
    image: {img}
    network_mode: none
    command: ["sleep", "3600"]
    volumes: ["data:/data"]
  chatty:
    image: {img}
    network_mode: none
    command: ["sh", "-c", "while [ ! -f /go ]; do sleep 0.2; done; head -c 30000000 /dev/zero | tr '\\0' x | fold -w 1000; sleep 3600"]
volumes:
  data: {{}}
"#
        ),
    );
    // A 4 kB orphan: a compose-labelled volume whose project has no containers.
    let orphan_project = unique("orph");
    let orphan = format!("{orphan_project}_data");
    clean.volume(&orphan);
    docker(&["volume", "create", "--label", &format!("com.docker.compose.project={orphan_project}"), &orphan]);
    // A dangling volume: no labels, no stack, nothing mounts it.
    let dangling = unique("dangle");
    clean.volume(&dangling);
    docker(&["volume", "create", &dangling]);

    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("history.db");
    collect_with(&db, &["--sizes"]);
    let writer = service(&project, "writer");
    let chatty = service(&project, "chatty");
    docker(&["exec", &chatty, "touch", "/go"]);
    docker(&["exec", &writer, "dd", "if=/dev/zero", "of=/data/grown", "bs=1000000", "count=200"]);
    // 30 MB of output, plus json-file's framing of each line; done when
    // the file stops growing.
    let log_path = inspect(&chatty, "{{.LogPath}}");
    let mut last = 0;
    wait_for("30 MB of logs", Duration::from_secs(60), || {
        let now = std::fs::metadata(&log_path).map(|m| m.len()).unwrap_or(0);
        let done = now >= 30_000_000 && now == last;
        last = now;
        std::thread::sleep(Duration::from_millis(300));
        done.then_some(())
    });
    collect_with(&db, &["--sizes"]);
    stretch_first_pass(&db, 600);
    only_our_growth_on_the_disk(&db, 200_000_000 + last as i64);

    // Any fill within 100 years is "close": the projection itself is what
    // this checks, on the real filesystem's figures.
    let config = work.path().join("stackwatch.toml");
    std::fs::write(&config, "[report]\nfill_warning = \"36500d\"\nfill_p1 = \"36500d\"\n").unwrap();
    let c = config.to_str().unwrap();
    let j = json(work.path(), &db, &["--config", c, "--window", "1h"]);
    let disk = &j["hosts"][0]["disk"];
    assert_eq!(disk["fill"], "filling", "200 MB written in the window: {disk:#}");

    let fill = finding(&j, "disk_filling:host");
    assert_eq!(fill["priority"], "P1", "{fill:#}");
    let named = fill["evidence"].as_array().unwrap();
    assert!(
        named.iter().any(|e| e.as_str().unwrap().starts_with(&format!("`{project}` +2"))),
        "the stack that grew 200 MB drives the fill: {fill:#}"
    );

    let o = finding(&j, &format!("orphaned_volume:compose:{orphan_project}"));
    assert_eq!(o["priority"], "P4", "a tiny orphan is not raised by the disk's pressure: {o:#}");
    assert!(o["bytes"].as_i64().unwrap() < 100_000, "{o:#}");

    let logs = finding(&j, &format!("log_growth:compose:{project}"));
    assert_eq!(logs["priority"], "P3", "30 MB in 10 minutes is about 4.3 GB a day: {logs:#}");
    let grew = logs["bytes"].as_i64().unwrap();
    // Empty at the first pass; sizes are counted in allocated 4 kB blocks.
    assert!((last..last + 8192).contains(&(grew as u64)), "log growth {grew} for a {last}-byte file");
    assert!(logs["summary"].as_str().unwrap().contains(&format!("`{chatty}` logs grew 32.1 MB in 10m")), "{logs:#}");
    assert!(logs["title"].as_str().unwrap().starts_with("Ask whoever runs "), "{logs:#}");

    let d = finding(&j, "dangling_volumes:host");
    assert!(d["evidence"].as_array().unwrap().iter().any(|e| e.as_str().unwrap().contains(&dangling)), "{d:#}");

    // Markdown: the P1 line says its tier once.
    let md = ok(report_in(work.path(), &db, &["--config", c, "--window", "1h", "--no-vault", "--no-knowledge"]));
    let line = md.lines().find(|l| l.contains("fills in about")).unwrap_or_else(|| panic!("{md}"));
    assert!(line.starts_with("- **P1** The Docker root filesystem fills"), "{line}");
}

#[test]
fn owners_resolve_the_same_from_any_directory_and_a_broken_project_file_costs_only_its_claims() {
    if !engine_available() {
        return;
    }
    let img = image();
    let dirs: Vec<tempfile::TempDir> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut clean = Cleanup::default();
    let yaml = |service: &str| {
        format!(
            "version: \"2.4\"\nservices:\n  {service}:\n    image: {img}\n    network_mode: none\n    command: [\"sleep\", \"3600\"]\n"
        )
    };
    let (a, b, c, d) = (unique("owna"), unique("ownb"), unique("ownc"), unique("ownd"));
    compose_up(&mut clean, dirs[0].path(), &a, &yaml("web"));
    compose_up(&mut clean, dirs[1].path(), &b, &yaml("web"));
    compose_up(&mut clean, dirs[2].path(), &c, &yaml("db"));
    compose_up(&mut clean, dirs[3].path(), &d, &yaml("web"));

    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("history.db");
    collect(&db);

    let projects = work.path().join("factory/projects");
    std::fs::create_dir_all(&projects).unwrap();
    std::fs::write(projects.join("a.toml"), format!("name = \"team-a\"\n[siblings]\nstacks = [\"{a}\"]\n")).unwrap();
    // The typo of the issue: `stack` for `stacks`, in a file claiming b.
    std::fs::write(projects.join("broken.toml"), format!("name = \"team-b\"\n[siblings]\nstack = [\"{b}\"]\n"))
        .unwrap();
    // A bare service name claims nothing.
    std::fs::write(projects.join("x.toml"), "name = \"proj-x\"\n[services]\ncontainers = [\"db\"]\n").unwrap();
    // The project's own name claims its compose project.
    std::fs::write(projects.join("d.toml"), format!("name = \"{d}\"\nrepo = \"acme/d\"\n")).unwrap();
    let config = work.path().join("stackwatch.toml");
    std::fs::write(&config, format!("[report]\nprojects_dir = \"{}\"\n", projects.display())).unwrap();
    let cfg = config.to_str().unwrap();

    // A directory with its own `projects/` claiming a: the cwd must not matter.
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::create_dir(elsewhere.path().join("projects")).unwrap();
    std::fs::write(
        elsewhere.path().join("projects/evil.toml"),
        format!("name = \"mallory\"\n[siblings]\nstacks = [\"{a}\", \"{b}\", \"{c}\", \"{d}\"]\n"),
    )
    .unwrap();
    let empty = tempfile::tempdir().unwrap();

    let mut seen = Vec::new();
    for cwd in [elsewhere.path(), empty.path(), Path::new("/")] {
        let j = json(cwd, &db, &["--config", cfg]);
        let owners: Vec<(String, String)> = [&a, &b, &c, &d]
            .iter()
            .map(|n| {
                let s = stack(&j, "compose", n);
                (s["owner"].as_str().unwrap().to_string(), s["owner_source"].as_str().unwrap().to_string())
            })
            .collect();
        assert_eq!(owners[0].0, "team-a", "from {}: {owners:?}", cwd.display());
        assert_eq!(owners[1].0, "unowned", "the broken file's claim is ignored: {owners:?}");
        assert_eq!(owners[2].0, "unowned", "`db` is only a service name: {owners:?}");
        assert_eq!(owners[3].0, format!("{d} (acme/d)"), "{owners:?}");
        assert!(owners[3].1.contains("the project's own compose project"), "{owners:?}");
        let errors = j["project_errors"].as_array().unwrap();
        assert_eq!(errors.len(), 1, "{errors:?}");
        let e = errors[0].as_str().unwrap();
        assert!(e.contains("broken.toml line 3") && e.contains("siblings.stack"), "{e}");
        // The stack row says where its compose files are.
        let sa = stack(&j, "compose", &a);
        assert_eq!(sa["working_dir"].as_str(), dirs[0].path().to_str(), "{sa:#}");
        assert!(sa["location"].as_str().unwrap().contains("`docker-compose.yml`"), "{sa:#}");
        seen.push(owners);
    }
    assert!(seen.windows(2).all(|w| w[0] == w[1]), "the same owners from every directory: {seen:#?}");

    // The markdown section still renders, and names the broken file.
    let md = ok(report_in(empty.path(), &db, &["--config", cfg, "--no-vault", "--no-knowledge", "--full"]));
    let line = md.lines().find(|l| l.contains("broken.toml")).unwrap_or_else(|| panic!("{md}"));
    assert!(line.contains("line 3") && line.contains("siblings.stack"), "{line}");
    assert!(md.contains(&format!("| `{a}` | compose | `team-a` (")), "{md}");

    // Doctor flags it, and says what report will do meanwhile.
    let out = bin()
        .args(["doctor", "--db", db.to_str().unwrap(), "--config", cfg])
        .env_remove("FACTORY_ROOT")
        .env_remove("OPS_REPO_ROOT")
        .env_remove("OPS_VAULT_ROOT")
        .env_remove("OPS_KNOWLEDGE_ROOT")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    let line = text.lines().find(|l| l.contains("broken.toml")).unwrap_or_else(|| panic!("{text}"));
    assert!(line.starts_with("FAIL  projects: ") && line.contains("ignores its claims"), "{line}");

    // Without any projects directory configured, doctor says so.
    let out = bin()
        .current_dir(elsewhere.path())
        .args(["doctor", "--db", db.to_str().unwrap()])
        .env_remove("FACTORY_ROOT")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.contains("projects: ")).unwrap_or_else(|| panic!("{text}"));
    assert!(line.starts_with("warn  projects: no projects directory configured"), "{line}");
}

fn files(dir: &Path) -> Vec<(String, u64, i64, i64)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let m = e.metadata().unwrap();
            (e.file_name().to_string_lossy().to_string(), m.ino(), m.mtime(), m.mtime_nsec())
        })
        .collect();
    v.sort();
    v
}

#[test]
fn vault_items_go_to_what_needs_approval_under_unique_names_and_a_rerun_rewrites_nothing() {
    if !engine_available() {
        return;
    }
    let img = image();
    let (dir, twin_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut clean = Cleanup::default();
    let project = unique("vlt");
    compose_up(
        &mut clean,
        dir.path(),
        &project,
        &format!(
            r#"version: "2.4"
services:
  migrate:
    image: {img}
    network_mode: none
    command: ["sh", "-c", "exit 3"]
  looper:
    image: {img}
    network_mode: none
    command: ["sh", "-c", "exit 1"]
    restart: always
  sick:
    image: {img}
    network_mode: none
    command: ["sleep", "3600"]
    healthcheck:
      test: ["CMD", "false"]
      interval: 1s
      retries: 1
"#
        ),
    );
    // A one-off standalone container that exited with an error.
    let oneoff = unique("oneoff");
    clean.container(&oneoff);
    docker(&["run", "-d", "--name", &oneoff, img, "sh", "-c", "exit 3"]);
    wait_for("the one-off to exit", Duration::from_secs(30), || {
        (inspect(&oneoff, "{{.State.Status}}") == "exited").then_some(())
    });
    // A compose project and a standalone container with the same name,
    // both restarting: each gets its own vault item.
    let twin = unique("twin");
    compose_up(
        &mut clean,
        twin_dir.path(),
        &twin,
        &format!(
            "version: \"2.4\"\nservices:\n  app:\n    image: {img}\n    network_mode: none\n    command: [\"sh\", \"-c\", \"exit 1\"]\n    restart: always\n"
        ),
    );
    clean.container(&twin);
    docker(&["run", "-d", "--restart", "always", "--name", &twin, img, "sh", "-c", "exit 1"]);

    let looper = service(&project, "looper");
    let sick = service(&project, "sick");
    let twin_app = service(&twin, "app");
    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("history.db");
    collect(&db);
    let before: Vec<i64> =
        [&looper, &twin_app, &twin].iter().map(|c| inspect(c, "{{.RestartCount}}").parse().unwrap()).collect();
    wait_for("restarts and an unhealthy container", Duration::from_secs(60), || {
        let after: Vec<i64> =
            [&looper, &twin_app, &twin].iter().map(|c| inspect(c, "{{.RestartCount}}").parse().unwrap()).collect();
        let rose = after.iter().zip(&before).all(|(a, b)| a > b);
        (rose && inspect(&sick, "{{.State.Health.Status}}") == "unhealthy").then_some(())
    });
    collect(&db);

    // The knowledge file is a symlink into the ops repo.
    let repo = work.path().join("ops/knowledge");
    std::fs::create_dir_all(&repo).unwrap();
    let target = repo.join("sibling-stacks.md");
    std::fs::write(&target, "# Sibling stacks\n\nGuidance.\n").unwrap();
    let link = work.path().join("sibling-stacks.md");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let vault = work.path().join("vault");
    // An item an earlier version wrote for the exited one-off service, now
    // a P4 below the default threshold: it is closed as such, not as gone.
    std::fs::create_dir(&vault).unwrap();
    let demoted = vault.join(format!("stackwatch-{project}-exited-nonzero.md"));
    std::fs::write(&demoted, "# Stack exited with an error\n").unwrap();
    let args = ["--window", "1h", "--vault", vault.to_str().unwrap(), "--knowledge", link.to_str().unwrap()];
    ok(report_in(work.path(), &db, &args));

    let names: Vec<String> = files(&vault).into_iter().map(|f| f.0).collect();
    let mine = |n: &String| n.contains(&project) || n.contains(&twin) || n.contains(&oneoff);
    let mut ours: Vec<&String> = names.iter().filter(|n| mine(n)).collect();
    ours.sort();
    let want = [
        format!("stackwatch-{project}-exited-nonzero.md"),
        format!("stackwatch-{project}-restarting.md"),
        format!("stackwatch-{project}-unhealthy.md"),
        format!("stackwatch-{twin}-restarting.md"),
        format!("stackwatch-standalone_{twin}-restarting.md"),
    ];
    let mut want: Vec<&String> = want.iter().collect();
    want.sort();
    assert_eq!(ours, want, "P3 on foreign stacks only; exited one-offs are no vault items (the first is old)");
    let text = std::fs::read_to_string(&demoted).unwrap();
    assert!(text.starts_with("# Stack exited with an error\n\n## Cleared\n\nCleared as of "), "{text}");
    assert!(text.contains("still seen, but at P4, below the vault's threshold (P3)"), "{text}");
    let compose_item = std::fs::read_to_string(vault.join(format!("stackwatch-{twin}-restarting.md"))).unwrap();
    let standalone_item =
        std::fs::read_to_string(vault.join(format!("stackwatch-standalone_{twin}-restarting.md"))).unwrap();
    assert!(compose_item.contains("(compose stack)") && compose_item.contains(&format!("`{twin_app}`")));
    assert!(standalone_item.contains("(standalone stack)"), "{standalone_item}");
    let item = std::fs::read_to_string(vault.join(format!("stackwatch-{project}-restarting.md"))).unwrap();
    assert!(
        item.starts_with(&format!("# Ask whoever runs `{project}` to fix the restart loop of `{looper}`")),
        "{item}"
    );
    assert!(item.contains("(compose stack)") && item.contains("`docker-compose.yml`"), "{item}");

    // The symlink stays a symlink; its target carries the block.
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    let k = std::fs::read_to_string(&target).unwrap();
    assert!(k.starts_with("# Sibling stacks\n\nGuidance.\n\n<!-- stackwatch:begin -->\n## Sibling Stacks\n"), "{k}");

    // A rerun with nothing new collected rewrites no file.
    let vault_before = files(&vault);
    let target_before = files(&repo);
    std::thread::sleep(Duration::from_millis(1500));
    ok(report_in(work.path(), &db, &args));
    assert_eq!(files(&vault), vault_before, "vault items rewritten with nothing new");
    assert_eq!(files(&repo), target_before, "knowledge file rewritten with nothing new");

    // A finding that clears says so in its file.
    docker(&["rm", "-f", &looper]);
    collect(&db);
    let md = ok(report_in(work.path(), &db, &args));
    let item = std::fs::read_to_string(vault.join(format!("stackwatch-{project}-restarting.md"))).unwrap();
    assert!(item.contains("\n## Cleared\n\nCleared as of "), "{item}");
    assert!(md.contains("**Cleared vault items**") && md.contains(&format!("stackwatch-{project}-restarting.md")));
}

#[test]
fn report_checks_every_output_path_before_writing_any_and_doctor_checks_the_same() {
    if !engine_available() {
        return;
    }
    let img = image();
    let dir = tempfile::tempdir().unwrap();
    let mut clean = Cleanup::default();
    let project = unique("pre");
    compose_up(
        &mut clean,
        dir.path(),
        &project,
        &format!(
            "version: \"2.4\"\nservices:\n  looper:\n    image: {img}\n    network_mode: none\n    command: [\"sh\", \"-c\", \"exit 1\"]\n    restart: always\n"
        ),
    );
    let looper = service(&project, "looper");
    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("history.db");
    collect(&db);
    wait_for("a restart", Duration::from_secs(30), || {
        (inspect(&looper, "{{.RestartCount}}").parse::<i64>().unwrap() > 1).then_some(())
    });
    collect(&db);

    let vault = work.path().join("vault");
    let missing = work.path().join("no-such-repo/knowledge/sibling-stacks.md");
    let out =
        report_in(work.path(), &db, &["--vault", vault.to_str().unwrap(), "--knowledge", missing.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("does not exist") && err.contains("nothing was written"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(!vault.exists(), "no vault item was written before the failure");

    // Doctor fails on the same path, and passes once it exists.
    let doctor = |k: &Path| {
        let out = bin()
            .args(["doctor", "--db", db.to_str().unwrap(), "--knowledge", k.to_str().unwrap()])
            .args(["--vault", vault.to_str().unwrap()])
            .env_remove("FACTORY_ROOT")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        text.lines().find(|l| l.contains("knowledge: ")).unwrap_or_else(|| panic!("{text}")).to_string()
    };
    let line = doctor(&missing);
    assert!(line.starts_with("FAIL  knowledge: ") && line.contains("does not exist"), "{line}");
    std::fs::create_dir_all(missing.parent().unwrap()).unwrap();
    assert!(doctor(&missing).starts_with("ok    knowledge: "), "{}", doctor(&missing));
    ok(report_in(work.path(), &db, &["--vault", vault.to_str().unwrap(), "--knowledge", missing.to_str().unwrap()]));
    assert!(vault.join(format!("stackwatch-{project}-restarting.md")).exists());
}
