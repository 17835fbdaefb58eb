//! `stackwatch collect`.

use std::io::{IsTerminal, Write};
use std::path::Path;

use anyhow::{Result, bail};

use crate::cli::{CollectArgs, Global};
use crate::collect::{self, Options};
use crate::config::Config;
use crate::engine::{DEFAULT_HOST, Engine};
use crate::progress::Progress;
use crate::snapshot::Snapshot;
use crate::store::{self, lock, queries};
use crate::{inert, paths, units};

pub fn run(global: &Global, args: &CollectArgs) -> Result<()> {
    let config = Config::load(global.config.as_deref())?;
    let db = paths::database(global.db.clone(), config.database.path.clone());
    // Refuse a wrong --db before spending a pass on it.
    store::check_file(&db)?;
    store::check_writable(&db)?;
    let _lock = lock::acquire(&db, config.database.lock_wait)?;

    let hosts = engines(&args.docker_host, &config.docker.host);
    let show = !global.quiet && (args.summary || std::io::stdout().is_terminal());
    // One progress line per terminal: with several engines in flight at
    // once it would only flicker between them.
    let progress = if show && hosts.len() == 1 { Progress::new(global.quiet) } else { Progress::hidden() };
    let opts = Options {
        concurrency: config.docker.concurrency,
        sizes: config.collect.sizes && !args.no_sizes,
        managed: {
            let (k, v) = config.labels.managed_pair();
            (k.to_string(), v.to_string())
        },
    };

    // Engines are read concurrently, each into its own snapshot: a slow or
    // dead engine delays the others by nothing but its own timeout.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let results = runtime.block_on(futures_util::future::join_all(hosts.iter().map(|host| {
        let (opts, progress) = (&opts, &progress);
        async move {
            let engine = Engine::connect(host, config.docker.timeout).await?;
            collect::snapshot(&engine, opts, progress).await
        }
    })));

    let mut snaps = Vec::new();
    let mut failed = Vec::new();
    for (host, r) in hosts.iter().zip(results) {
        match r {
            Ok(s) => snaps.push(s),
            Err(e) if hosts.len() == 1 => return Err(e),
            Err(e) => {
                eprintln!("stackwatch: error: {}", inert::line(&format!("{e:#}"), 2000));
                failed.push(host.as_str());
            }
        }
    }
    if snaps.is_empty() {
        bail!("no engine could be read ({}); nothing was recorded", failed.join(", "));
    }

    // An engine answered; only now is the database opened (and created).
    let mut st = store::open_for_write(&db, config.database.busy_timeout)?;
    let mut seen = Vec::new();
    for snap in &snaps {
        if seen.contains(&snap.host.engine_id) {
            // Two addresses of one engine: a second pass would double it.
            eprintln!(
                "stackwatch: warning: engine {} was given twice (under another address); recorded once",
                inert::line(&snap.host.engine_id, 80)
            );
            continue;
        }
        seen.push(snap.host.engine_id.clone());
        let pass_id =
            queries::insert_pass(&mut st.conn, snap).map_err(|e| store::sql_error(e, &db, "record a pass in"))?;
        for e in &snap.errors {
            // Partial trouble is worth a line even under cron.
            eprintln!("stackwatch: warning: {} {}: {}", e.kind, inert::line(&e.name, 80), inert::line(&e.message, 300));
        }
        if show {
            let mut out = std::io::stdout().lock();
            print_summary(&mut out, snap, pass_id, &db)?;
        }
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
        "pass {pass_id}: {} (engine {}, API {}) in {:.2}s: {} stacks, {} containers, {} volumes, {} images",
        inert::line(&h.hostname, 64),
        inert::line(&h.engine_version, 32),
        h.api_version,
        s.duration_ms as f64 / 1000.0,
        s.stacks.len(),
        s.containers.len(),
        s.volumes.len(),
        s.images.len()
    )?;
    match (&h.docker_root, h.fs) {
        (Some(root), Some(fs)) => {
            let pct = 100.0 * fs.used_bytes as f64 / (fs.used_bytes + fs.free_bytes).max(1) as f64;
            writeln!(
                out,
                "docker root {}: {pct:.0}% used, {} free",
                inert::line(root, 120),
                units::bytes(fs.free_bytes)
            )?;
        }
        (Some(root), None) => {
            writeln!(out, "docker root {} is not visible from here: disk usage unknown", inert::line(root, 120))?
        }
        _ => {}
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
            inert::line(&st.key.name, 32),
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
