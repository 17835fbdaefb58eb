//! `stackwatch collect`.

use std::io::{IsTerminal, Write};
use std::path::Path;

use anyhow::{Result, bail};

use crate::cli::{CollectArgs, Global};
use std::time::Instant;

use crate::collect::{self, Options, sizes};
use crate::config::Config;
use crate::engine::{DEFAULT_HOST, Engine};
use crate::model::snapshot::{MountKind, Snapshot};
use crate::model::units;
use crate::progress::Progress;
use crate::signals::{self, Interrupted};
use crate::store::retention;
use crate::store::{self, lock, read, write};
use crate::time::now_unix;
use crate::{fault, paths, untrusted};

pub fn run(global: &Global, args: &CollectArgs) -> Result<()> {
    let config = Config::load(global.config.as_deref())?;
    let db = paths::database(global.db.clone(), config.database.path.clone());
    // Refuse a wrong --db (foreign, newer, truncated) before spending a pass
    // on it, and before the lock file would be left beside it.
    store::check_file(&db)?;
    store::precheck(&db)?;
    store::check_writable(&db)?;
    let _lock = lock::acquire(&db, config.database.lock_wait)?;

    let hosts = engines(&args.docker_host, &config.docker.host);
    let show = !global.quiet && (args.summary || std::io::stdout().is_terminal());
    // One progress line per terminal: with several engines in flight at
    // once it would only flicker between them.
    let progress = if show && hosts.len() == 1 { Progress::new(global.quiet) } else { Progress::hidden() };
    let opts = Options {
        concurrency: config.docker.concurrency,
        cgroup_stats: config.collect.cgroup_stats,
        managed: {
            let (k, v) = config.labels.managed_pair();
            (k.to_string(), v.to_string())
        },
    };
    let c = &config.collect;
    let plan = sizes::Plan {
        interval: c.size_interval,
        budget: c.size_budget,
        force: args.sizes,
        skip: args.no_sizes || !c.sizes,
        threads: crate::disk::default_threads(),
        cheap_time: c.cheap_walk_time,
        cheap_files: c.cheap_walk_files,
    };

    signals::install();
    // One thread: the pass is I/O-bound and waits on the engines; the walker
    // brings its own threads. Engines are read concurrently, each into its
    // own snapshot: a slow or dead engine delays the others by nothing but
    // its own timeout.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let results = runtime.block_on(async {
        let reads = futures_util::future::join_all(hosts.iter().map(|host| {
            let (opts, progress, docker) = (&opts, &progress, &config.docker);
            async move {
                // Each pass's duration is its own engine's, not the run's.
                let started = Instant::now();
                let engine = Engine::connect(host, docker).await?;
                let snap = collect::snapshot(&engine, opts, progress).await?;
                anyhow::Ok((engine, snap, started.elapsed()))
            }
        }));
        tokio::select! {
            r = reads => Ok(r),
            sig = signals::arrived() => {
                progress.finish();
                Err(anyhow::Error::from(Interrupted::new(sig, "stopped while reading the engine; nothing was recorded")))
            }
        }
    })?;

    let mut read = Vec::new();
    let mut failed = Vec::new();
    for (host, r) in hosts.iter().zip(results) {
        match r {
            Ok(pair) => read.push(pair),
            Err(e) if hosts.len() == 1 => return Err(e),
            Err(e) => {
                eprintln!("stackwatch: error: {}", untrusted::line(&format!("{e:#}"), 2000));
                failed.push(host.as_str());
            }
        }
    }
    if read.is_empty() {
        bail!("no engine could be read ({}); nothing was recorded", failed.join(", "));
    }

    // An engine answered; only now is the database opened (and created).
    let mut st = store::open_for_write(&db, config.database.busy_timeout)?;
    let mut snaps: Vec<Snapshot> = Vec::new();
    for (engine, mut snap, read_time) in read {
        if snaps.iter().any(|s| s.host.engine_id == snap.host.engine_id) {
            // Two addresses of one engine: a second pass would double it.
            eprintln!(
                "stackwatch: warning: engine {} was given twice (under another address); recorded once",
                untrusted::line(&snap.host.engine_id, 80)
            );
            continue;
        }
        let sizing = Instant::now();
        let state = read::size_state(&st.conn, &snap.host.engine_id)
            .map_err(|e| store::sql_error(e, &db, "read size state from"))?;
        let previous = read::previous_pass_start(&st.conn, &snap.host.engine_id)
            .map_err(|e| store::sql_error(e, &db, "read the previous pass from"))?;
        runtime.block_on(async {
            tokio::select! {
                () = async {
                    if let Some(since) = previous.filter(|_| c.events) {
                        collect::events::since(&engine, &mut snap, since).await;
                    }
                    sizes::measure(&engine, &mut snap, &state, &plan, now_unix()).await
                } => Ok(()),
                sig = signals::arrived() => Err(anyhow::Error::from(
                    Interrupted::new(sig, "stopped while measuring sizes; nothing was recorded"),
                )),
            }
        })?;
        // Reading this engine plus measuring its sizes; not the other engines'.
        collect::finish(&mut snap, read_time + sizing.elapsed());
        snaps.push(snap);
    }
    if let Some(sig) = signals::pending() {
        return Err(Interrupted::new(sig, "stopped before writing; nothing was recorded").into());
    }

    let mut unwritten: Vec<String> = Vec::new();
    let name = |s: &Snapshot| untrusted::line(&s.host.hostname, 64);
    // With several engines a signal can land between their passes: say
    // which engines got theirs and which did not.
    let left_out = |from: usize| -> String {
        let rest: Vec<String> = snaps[from..].iter().map(name).collect();
        if snaps.len() < 2 || rest.is_empty() {
            String::new()
        } else {
            format!("; not recorded this run: {}", rest.join(", "))
        }
    };
    for (i, snap) in snaps.iter().enumerate() {
        let mut paused = false;
        let written = write::insert_pass_checked(&mut st.conn, snap, &mut || {
            if !paused {
                paused = true;
                fault::pause(fault::WRITE);
            }
            signals::pending().is_none()
        });
        let pass_id = match (written, signals::pending()) {
            (Err(_), Some(sig)) => {
                return Err(Interrupted::new(
                    sig,
                    format!(
                        "the pass was rolled back, nothing of it is in {}; earlier passes are intact{}",
                        db.display(),
                        left_out(i)
                    ),
                )
                .into());
            }
            // With one engine that is the error; with several the others
            // still get their passes, and the run fails at the end.
            (Err(e), None) if snaps.len() == 1 => return Err(store::sql_error(e, &db, "record a pass in")),
            (Err(e), None) => {
                eprintln!(
                    "stackwatch: error: {}",
                    untrusted::line(&format!("{:#}", store::sql_error(e, &db, "record a pass in")), 2000)
                );
                unwritten.push(name(snap));
                continue;
            }
            (Ok(id), Some(sig)) => {
                // Committed just before the signal: whole, but say so and
                // still honour the request to stop.
                return Err(
                    Interrupted::new(sig, format!("after pass {id} was recorded in full{}", left_out(i + 1))).into()
                );
            }
            (Ok(id), None) => id,
        };
        for e in &snap.errors {
            // Partial trouble is worth a line even under cron.
            eprintln!(
                "stackwatch: warning: {} {}: {}",
                e.kind,
                untrusted::line(&e.name, 80),
                untrusted::line(&e.message, 300)
            );
        }
        if show {
            let mut out = std::io::stdout().lock();
            print_summary(&mut out, snap, pass_id, &db)?;
        }
    }
    // Retention runs at most once an hour, after the passes have landed. A
    // failure is only a warning: the passes are in, and the next run retries.
    if let Err(e) = retention::maybe_compact(&mut st.conn, now_unix(), c.keep_raw, c.keep_hourly, false) {
        eprintln!(
            "stackwatch: warning: {}",
            untrusted::line(&format!("{:#}", store::sql_error(e, &db, "compact")), 2000)
        );
    }
    if !unwritten.is_empty() {
        bail!(
            "could not record the passes of {} ({}), see above; the other engines' passes were recorded",
            unwritten.join(", "),
            db.display()
        );
    }
    if !failed.is_empty() {
        bail!(
            "could not read {} of {} engines ({}), see above; the other engines' passes were recorded",
            failed.len(),
            hosts.len(),
            failed.join(", ")
        );
    }
    Ok(())
}

/// The engines to read: `--docker-host` (or `DOCKER_HOST`), else the
/// config's `[docker] host`, else the default socket; each once, in order.
pub fn engines(cli: &[String], config: &[String]) -> Vec<String> {
    let given = if !cli.is_empty() { cli } else { config };
    let mut out: Vec<String> = Vec::new();
    for h in given.iter().map(|h| h.trim()).filter(|h| !h.is_empty()) {
        if !out.iter().any(|o| o == h) {
            out.push(h.to_string());
        }
    }
    if out.is_empty() {
        out.push(DEFAULT_HOST.into());
    }
    out
}

fn print_summary(out: &mut impl Write, s: &Snapshot, pass_id: i64, db: &Path) -> Result<()> {
    let h = &s.host;
    writeln!(
        out,
        "pass {pass_id}: {} (engine {}, API {}) in {:.2}s: {} stacks, {} containers, {} volumes, {} bind mounts, {} images",
        untrusted::line(&h.hostname, 64),
        untrusted::line(&h.engine_version, 32),
        h.api_version,
        s.duration_ms as f64 / 1000.0,
        s.stacks.len(),
        s.containers.len(),
        s.volumes.iter().filter(|v| v.kind == MountKind::Volume).count(),
        s.volumes.iter().filter(|v| v.kind == MountKind::Bind).count(),
        s.images.len()
    )?;
    match (&h.docker_root, h.fs) {
        (Some(root), Some(fs)) => {
            let pct = 100.0 * fs.used_bytes as f64 / (fs.used_bytes + fs.free_bytes).max(1) as f64;
            writeln!(
                out,
                "docker root {}: {pct:.0}% used, {} free",
                untrusted::line(root, 120),
                units::bytes(fs.free_bytes)
            )?;
        }
        (Some(root), None) => {
            writeln!(out, "docker root {} is not visible from here: disk usage unknown", untrusted::line(root, 120))?
        }
        _ => {}
    }
    for fs in s.filesystems.iter().filter(|f| !f.docker_root) {
        let pct = 100.0 * fs.usage.used_bytes as f64 / (fs.usage.used_bytes + fs.usage.free_bytes).max(1) as f64;
        writeln!(
            out,
            "filesystem {}: {pct:.0}% used, {} free",
            untrusted::line(&fs.mount_point, 120),
            units::bytes(fs.usage.free_bytes)
        )?;
    }
    let t = &s.docker_totals;
    if t.images_bytes.is_some() || t.build_cache_bytes.is_some() {
        writeln!(
            out,
            "images {}, build cache {}",
            units::maybe_bytes(t.images_bytes),
            units::maybe_bytes(t.build_cache_bytes)
        )?;
    }
    let not_sized: Vec<String> = s
        .volumes
        .iter()
        .filter(|v| v.kind == MountKind::Bind)
        .filter_map(|v| {
            v.unsized_reason.as_ref().map(|r| format!("{} ({})", untrusted::line(&v.name, 80), untrusted::line(r, 80)))
        })
        .collect();
    if !not_sized.is_empty() {
        writeln!(out, "bind mounts not sized: {}", not_sized.join(", "))?;
    }
    let mut stacks: Vec<_> = s.stacks.iter().collect();
    stacks.sort_by(|a, b| b.disk_bytes.cmp(&a.disk_bytes).then_with(|| a.key.cmp(&b.key)));
    writeln!(out)?;
    writeln!(
        out,
        "{:<32} {:<10} {:>10} {:>10} {:>10} {:>10}",
        "STACK", "KIND", "CONTAINERS", "RUNNING", "DISK", "MEMORY"
    )?;
    for st in stacks {
        let disk = match (st.disk_bytes, st.unknown_sizes) {
            (d, 0) => units::maybe_bytes(d),
            (Some(d), _) => format!("{}+?", units::bytes(d)),
            (None, _) => "?".into(),
        };
        writeln!(
            out,
            "{:<32} {:<10} {:>10} {:>10} {:>10} {:>10}",
            untrusted::line(&st.key.name, 32),
            st.key.kind.as_str(),
            st.containers,
            st.running,
            disk,
            units::maybe_bytes(st.mem_bytes)
        )?;
    }
    writeln!(out)?;
    writeln!(out, "recorded in {} (`?` = not measurable from here)", db.display())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engines_come_from_the_command_line_then_the_config_then_the_default_each_once() {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            engines(&v(&["unix:///a", "tcp://b:1", "unix:///a"]), &v(&["unix:///c"])),
            v(&["unix:///a", "tcp://b:1"])
        );
        assert_eq!(engines(&[], &v(&["unix:///c", "unix:///d"])), v(&["unix:///c", "unix:///d"]));
        assert_eq!(engines(&[], &[]), v(&[DEFAULT_HOST]));
    }
}
