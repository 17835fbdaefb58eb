//! One `collect` run: read every engine at once, each into its own
//! snapshot, measure the sizes that are due, and record one pass per
//! engine, each in its own transaction. A signal stops it at a safe point
//! with one line saying what was and was not recorded; with several
//! engines, one that cannot be read or written does not cost the others
//! their passes.

use std::path::Path;
use std::time::Instant;

use anyhow::{Result, bail};

use super::{Options, sizes};
use crate::config::Config;
use crate::engine::{DEFAULT_HOST, Engine};
use crate::model::snapshot::Snapshot;
use crate::progress::Progress;
use crate::signals::{self, Interrupted};
use crate::store;
use crate::time::now_unix;
use crate::{fault, untrusted};

/// What `collect --sizes` / `--no-sizes` and `[collect] sizes` ask of the
/// size measurements this run.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    /// Measure everything, due or not.
    pub force: bool,
    /// Measure nothing; known sizes are carried forward.
    pub skip: bool,
}

/// Reads `hosts`, records a pass of each in the database at `db` (whose
/// overlap lock the caller holds), calling `recorded` with each pass as it
/// lands, then runs retention when it is due.
pub fn run(
    config: &Config,
    db: &Path,
    hosts: &[String],
    sizes: Sizes,
    progress: &Progress,
    mut recorded: impl FnMut(&Snapshot, i64) -> Result<()>,
) -> Result<()> {
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
        force: sizes.force,
        skip: sizes.skip,
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
                let snap = super::snapshot(&engine, opts, progress).await?;
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
    let mut st = store::open_for_write(db, config.database.busy_timeout)?;
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
        let (state, previous) = {
            let history = st.reader()?;
            let state = history
                .size_state(&snap.host.engine_id)
                .map_err(|e| store::sql_error(e, db, "read size state from"))?;
            let previous = history
                .previous_pass_start(&snap.host.engine_id)
                .map_err(|e| store::sql_error(e, db, "read the previous pass from"))?;
            (state, previous)
        };
        runtime.block_on(async {
            tokio::select! {
                () = async {
                    if let Some(since) = previous.filter(|_| c.events) {
                        super::events::since(&engine, &mut snap, since).await;
                    }
                    sizes::measure(&engine, &mut snap, &state, &plan, now_unix()).await
                } => Ok(()),
                sig = signals::arrived() => Err(anyhow::Error::from(
                    Interrupted::new(sig, "stopped while measuring sizes; nothing was recorded"),
                )),
            }
        })?;
        // Reading this engine plus measuring its sizes; not the other engines'.
        super::finish(&mut snap, read_time + sizing.elapsed());
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
        let written = st.insert_pass_checked(snap, &mut || {
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
            (Err(e), None) if snaps.len() == 1 => return Err(store::sql_error(e, db, "record a pass in")),
            (Err(e), None) => {
                eprintln!(
                    "stackwatch: error: {}",
                    untrusted::line(&format!("{:#}", store::sql_error(e, db, "record a pass in")), 2000)
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
        recorded(snap, pass_id)?;
    }
    // Retention runs at most once an hour, after the passes have landed. A
    // failure is only a warning: the passes are in, and the next run retries.
    if let Err(e) = st.maybe_compact(now_unix(), c.keep_raw, c.keep_hourly, false) {
        eprintln!(
            "stackwatch: warning: {}",
            untrusted::line(&format!("{:#}", store::sql_error(e, db, "compact")), 2000)
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
