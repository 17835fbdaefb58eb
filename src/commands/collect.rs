//! `stackwatch collect`.

use std::io::{IsTerminal, Write};
use std::path::Path;

use anyhow::Result;

use crate::cli::{CollectArgs, Global};
use crate::collect;
use crate::model::snapshot::{MountKind, Snapshot};
use crate::model::units;
use crate::progress::Progress;
use crate::store::{self, lock};
use crate::untrusted;

pub fn run(global: &Global, args: &CollectArgs) -> Result<()> {
    let super::Session { config, db } = super::Session::open(global)?;
    // Refuse a wrong --db (foreign, newer, truncated) before spending a pass
    // on it, and before the lock file would be left beside it.
    store::check_file(&db)?;
    store::precheck(&db)?;
    store::check_writable(&db)?;
    let _lock = lock::acquire(&db, config.database.lock_wait)?;

    let hosts = collect::record::engines(&args.docker_host, &config.docker.host);
    let show = !global.quiet && (args.summary || std::io::stdout().is_terminal());
    // One progress line per terminal: with several engines in flight at
    // once it would only flicker between them.
    let progress = if show && hosts.len() == 1 { Progress::new(global.quiet) } else { Progress::hidden() };
    let sizes = collect::record::Sizes { force: args.sizes, skip: args.no_sizes || !config.collect.sizes };
    collect::record::run(&config, &db, &hosts, sizes, &progress, |snap, pass_id| {
        if show {
            print_summary(&mut std::io::stdout().lock(), snap, pass_id, &db)?;
        }
        Ok(())
    })
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
