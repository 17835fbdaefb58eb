//! `stackwatch prune`: frees disk by removing only what the factory owns.
//!
//! Dry run unless `--apply`. With `--apply`, each candidate is looked up
//! again right before its removal (still there, still carrying the label,
//! still stopped or unused), removed with the engine's non-forced call, and
//! recorded in the history at once, so an interrupted prune still accounts
//! for what it removed and the next report can explain the drop in disk use.

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::cli::{Global, PruneArgs};
use crate::config::Config;
use crate::engine::{DEFAULT_HOST, Engine, Removal};
use crate::prune::{self, Candidate, Kind, Plan, STOPPED_STATES};
use crate::signals::{self, Interrupted};
use crate::store::{self, queries};
use crate::time::now_unix;
use crate::{inert, paths, units};

pub fn run(global: &Global, args: &PruneArgs) -> Result<()> {
    let config = Config::load(global.config.as_deref())?;
    let (key, value) = config.labels.managed_pair();
    let label = format!("{key}={value}");
    let db = paths::database(global.db.clone(), config.database.path.clone());
    if args.apply {
        if key.trim().is_empty() || value.trim().is_empty() {
            bail!(
                "refusing to --apply: the managed label `{}` has an empty key or value, which would match too much; \
                 set [labels] managed to `key=value` (default com.disinto.managed=true)",
                inert::line(&label, 120)
            );
        }
        // Removals are only made when they can be recorded.
        store::check_file(&db)?;
        store::check_writable(&db)?;
    }
    // One engine at a time: with several configured, say which.
    if args.docker_host.is_none() && config.docker.host.len() > 1 {
        anyhow::bail!(
            "[docker] host names {} engines; pick one with --docker-host (this command works on one engine at a time)",
            config.docker.host.len()
        );
    }
    let host = args.docker_host.clone().or(config.docker.host.first().cloned()).unwrap_or_else(|| DEFAULT_HOST.into());
    signals::install();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let mut out: Box<dyn Write> = if global.quiet { Box::new(std::io::sink()) } else { Box::new(std::io::stdout()) };
    runtime.block_on(prune(&config, &host, &db, args, key, value, &mut out))
}

async fn prune(
    config: &Config,
    host: &str,
    db: &Path,
    args: &PruneArgs,
    key: &str,
    value: &str,
    out: &mut dyn Write,
) -> Result<()> {
    let label = format!("{key}={value}");
    let engine = Engine::connect(host, &config.docker).await?;
    let info = engine.info().await?;
    let engine_id = info.id.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| engine.host.clone());
    let hostname = info.name.clone().unwrap_or_else(|| "unknown".into());
    let (labelled_containers, all_containers, labelled_images, labelled_volumes) = tokio::try_join!(
        engine.containers_with_label(key, value),
        engine.containers(),
        engine.images_with_label(key, value),
        engine.volumes_with_label(key, value),
    )?;
    let usage = match engine.disk_usage_with_images().await {
        Ok(u) => Some(u),
        Err(e) => {
            eprintln!("stackwatch: warning: sizes unknown: {}", inert::line(&format!("{e:#}"), 300));
            None
        }
    };

    // The history (when there is one) says which stacks ran an image that
    // no container uses any more.
    let history = if db.exists() { store::open_read_only(db, config.database.busy_timeout).ok() } else { None };
    let history_host = history.as_ref().and_then(|h| queries::find_host(&h.conn, &engine_id).ok().flatten());
    let past = |id: &str| match (&history, history_host) {
        (Some(h), Some(hid)) => queries::image_stacks_by_id(&h.conn, hid, id).unwrap_or_default(),
        _ => Vec::new(),
    };
    let plan = prune::plan(&prune::Inputs {
        key,
        value,
        labelled_containers: &labelled_containers,
        labelled_images: &labelled_images,
        labelled_volumes: &labelled_volumes,
        all_containers: &all_containers,
        usage: usage.as_ref(),
        volumes: args.volumes,
        past_stacks: &past,
    });
    drop(history);

    if !args.apply {
        writeln!(
            out,
            "dry run on {} ({}), label {}: nothing is removed; --apply removes what is listed",
            inert::line(&engine.host, 120),
            inert::line(&hostname, 64),
            inert::line(&label, 120)
        )?;
        print_plan(out, &plan, "would reclaim")?;
        return Ok(());
    }
    if plan.labelled == 0 {
        bail!(
            "refusing to --apply: nothing on the engine at {} carries the label {}, so nothing can be told apart \
             as the factory's own; label the factory's images and containers (README \"Labelling the factory\") \
             or set [labels] managed to the label they carry",
            engine.host,
            inert::line(&label, 120)
        );
    }
    if plan.candidates.is_empty() {
        writeln!(out, "nothing to prune: {} objects carry {}, all in use", plan.labelled, inert::line(&label, 120))?;
        print_skipped(out, &plan)?;
        return Ok(());
    }

    let st = store::open_for_write(db, config.database.busy_timeout)?;
    let record = |e: rusqlite::Error| store::sql_error(e, db, "record a prune in");
    let host_id = queries::host_id(&st.conn, &engine_id, &hostname).map_err(record)?;
    let run_id = queries::insert_prune_run(&st.conn, host_id, now_unix(), &label, args.volumes).map_err(record)?;
    let mut done = Done::default();
    let mut in_use: Option<(Kind, HashSet<String>)> = None;
    for c in &plan.candidates {
        if let Some(sig) = signals::pending() {
            return Err(Interrupted::new(sig, done.summary(db)).into());
        }
        // What keeps images and volumes in use, listed again once per kind
        // now that the containers before them are gone.
        if c.kind != Kind::Container && in_use.as_ref().is_none_or(|(k, _)| *k != c.kind) {
            let listed = engine.containers().await.with_context(|| done.summary(db))?;
            let set = match c.kind {
                Kind::Image => listed.iter().filter_map(|x| x.image_id.clone()).collect(),
                _ => listed
                    .iter()
                    .flat_map(|x| x.mounts.iter().flatten())
                    .filter(|m| m.typ.as_deref() == Some("volume"))
                    .filter_map(|m| m.name.clone())
                    .collect(),
            };
            in_use = Some((c.kind, set));
        }
        let busy = in_use.as_ref().is_some_and(|(_, s)| s.contains(&c.id));
        let outcome = remove_one(&engine, c, key, value, busy).await.with_context(|| done.summary(db))?;
        let what = format!(
            "{} {} (stack {}, {})",
            c.kind.as_str(),
            inert::line(&c.name, 80),
            inert::line(c.stack.as_deref().unwrap_or("-"), 64),
            units::maybe_bytes(c.size)
        );
        match outcome {
            Outcome::Removed => {
                let row = queries::Removed {
                    kind: c.kind.as_str(),
                    object_id: &c.id,
                    name: &c.name,
                    stack: c.stack.as_deref(),
                    reason: &c.reason,
                    size_bytes: c.size,
                };
                queries::insert_prune_removal(&st.conn, run_id, now_unix(), &row).map_err(|e| {
                    anyhow::anyhow!("removed {what} but could not record it, so stopping: {:#}", record(e))
                })?;
                done.add(c);
                writeln!(out, "removed {what}")?;
            }
            Outcome::Kept(why) => writeln!(out, "kept {what}: {}", inert::line(&why, 200))?,
        }
    }
    let (bytes, unknown) = prune::total(&done.list);
    writeln!(
        out,
        "reclaimed {}{} from {} objects; recorded in {} (view prune_log)",
        units::bytes(bytes),
        if unknown > 0 { format!(" (+{unknown} of unknown size)") } else { String::new() },
        done.list.len(),
        db.display()
    )?;
    print_skipped(out, &plan)?;
    Ok(())
}

#[derive(Default)]
struct Done {
    list: Vec<Candidate>,
}

impl Done {
    fn add(&mut self, c: &Candidate) {
        self.list.push(c.clone());
    }

    /// For an interrupted or failed run: what was removed, and that it is recorded.
    fn summary(&self, db: &Path) -> String {
        let (bytes, _) = prune::total(&self.list);
        format!(
            "stopped after removing {} objects ({}), each recorded in {}; nothing else was touched",
            self.list.len(),
            units::bytes(bytes),
            db.display()
        )
    }
}

enum Outcome {
    Removed,
    Kept(String),
}

/// Looks at the object once more, then removes it with the engine's
/// non-forced call. Anything unexpected keeps the object.
async fn remove_one(engine: &Engine, c: &Candidate, key: &str, value: &str, busy: bool) -> Result<Outcome> {
    let now = match c.kind {
        Kind::Container => engine.current_container(&c.id).await?,
        Kind::Image => engine.current_image(&c.id).await?,
        Kind::Volume => engine.current_volume(&c.id).await?,
    };
    let Some(now) = now else {
        return Ok(Outcome::Kept("already gone".into()));
    };
    if !prune::carries(now.labels.iter(), key, value) {
        return Ok(Outcome::Kept(format!("it no longer carries {key}={value}")));
    }
    if busy {
        return Ok(Outcome::Kept("in use now".into()));
    }
    let removal = match c.kind {
        Kind::Container => {
            let state = now.state.unwrap_or_default();
            if !STOPPED_STATES.contains(&state.as_str()) {
                return Ok(Outcome::Kept(format!("now {state}")));
            }
            engine.remove_container(&c.id).await?
        }
        Kind::Image => {
            // An image in several repositories cannot be removed by id
            // without force; untag it tag by tag, each checked to still
            // point at this image, and the last one removes it.
            if now.tags.len() > 1 {
                for tag in &now.tags {
                    let target = engine.current_image(tag).await?;
                    if target.and_then(|t| t.id).as_deref() != Some(c.id.as_str()) {
                        continue;
                    }
                    if let Removal::Refused(why) = engine.remove_image(tag).await? {
                        return Ok(Outcome::Kept(format!("the engine refused: {why}")));
                    }
                }
                match engine.current_image(&c.id).await? {
                    None => Removal::Removed,
                    Some(_) => engine.remove_image(&c.id).await?,
                }
            } else {
                engine.remove_image(&c.id).await?
            }
        }
        Kind::Volume => engine.remove_volume(&c.id).await?,
    };
    Ok(match removal {
        Removal::Removed => Outcome::Removed,
        Removal::Gone => Outcome::Kept("already gone".into()),
        Removal::Refused(why) => Outcome::Kept(format!("the engine refused: {why}")),
    })
}

fn print_plan(out: &mut dyn Write, plan: &Plan, verb: &str) -> Result<()> {
    if plan.labelled == 0 {
        writeln!(out, "nothing carries the label on this engine: nothing to prune (and --apply would refuse)")?;
    } else if plan.candidates.is_empty() {
        writeln!(out, "nothing to prune: {} objects carry the label, all in use", plan.labelled)?;
    } else {
        let rows: Vec<(String, String)> = plan
            .candidates
            .iter()
            .map(|c| (inert::line(c.stack.as_deref().unwrap_or("-"), 40), inert::line(&c.name, 72)))
            .collect();
        let ws = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0).max(5);
        let wn = rows.iter().map(|r| r.1.chars().count()).max().unwrap_or(0).max(4);
        writeln!(out, "{:<9} {:<ws$} {:<wn$} {:>9}  WHY", "KIND", "STACK", "NAME", "SIZE")?;
        for (c, (stack, name)) in plan.candidates.iter().zip(&rows) {
            writeln!(
                out,
                "{:<9} {stack:<ws$} {name:<wn$} {:>9}  {}",
                c.kind.as_str(),
                units::maybe_bytes(c.size),
                c.reason
            )?;
        }
        let (bytes, unknown) = plan.total();
        writeln!(
            out,
            "{verb} {}{} from {} objects (containers: writable layer; images: bytes no other image shares; \
             volumes: contents)",
            units::bytes(bytes),
            if unknown > 0 { format!(" (+{unknown} of unknown size)") } else { String::new() },
            plan.candidates.len()
        )?;
    }
    print_skipped(out, plan)
}

fn print_skipped(out: &mut dyn Write, plan: &Plan) -> Result<()> {
    if !plan.skipped_volumes.is_empty() {
        let (bytes, _) = prune::total(&plan.skipped_volumes);
        writeln!(
            out,
            "{} unused labelled volumes ({}) kept: volumes hold data, add --volumes to remove them too",
            plan.skipped_volumes.len(),
            units::bytes(bytes)
        )?;
    }
    Ok(())
}
