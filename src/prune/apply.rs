//! Removing what the plan lists (`prune --apply`), or saying what it
//! would (the dry run). Each candidate is looked up again right before its
//! removal (still there, still carrying the label, still stopped or
//! unused), removed with the engine's non-forced call, and recorded in the
//! history at once: the intent before the engine is asked, settled after,
//! so an interrupted prune still accounts for what it removed and the next
//! report can explain the drop in disk use.

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, bail};

use super::{Candidate, Kind, Plan};
use crate::config::Config;
use crate::engine::{Engine, Removal};
use crate::model::snapshot::ContainerState;
use crate::model::units;
use crate::signals::{self, Interrupted};
use crate::store::{self, write};
use crate::time::now_unix;
use crate::untrusted;

/// What the command line asks of this prune.
#[derive(Debug, Clone, Copy)]
pub struct Request {
    /// Remove (`--apply`); otherwise only list.
    pub apply: bool,
    /// Unused labelled volumes are candidates too (`--volumes`).
    pub volumes: bool,
}

pub async fn run(
    config: &Config,
    host: &str,
    db: &Path,
    what: Request,
    key: &str,
    value: &str,
    out: &mut dyn Write,
) -> Result<()> {
    let label = format!("{key}={value}");
    let engine = Engine::connect(host, &config.docker).await?;
    let info = engine.info().await?;
    let engine_id = info.id.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| engine.host.clone());
    let hostname = info.name.clone().unwrap_or_else(|| "unknown".into());
    let (labelled_containers, all_containers, labelled_images, labelled_volumes, parents) = tokio::try_join!(
        engine.containers_with_label(key, value),
        engine.containers(),
        engine.images_with_label(key, value),
        engine.volumes_with_label(key, value),
        engine.parent_images(),
    )?;
    let usage = match engine.disk_usage_with_images().await {
        Ok(u) => Some(u),
        Err(e) => {
            eprintln!("stackwatch: warning: sizes unknown: {}", untrusted::line(&format!("{e:#}"), 300));
            None
        }
    };

    // The history (when there is one) says which stacks ran an image that
    // no container uses any more.
    let history_store = if db.exists() { store::open_read_only(db, config.database.busy_timeout).ok() } else { None };
    let history = history_store.as_ref().and_then(|h| h.reader().ok());
    let history_host = history.as_ref().and_then(|h| h.find_host(&engine_id).ok().flatten());
    let past = |id: &str| match (&history, history_host) {
        (Some(h), Some(hid)) => h.image_stacks_by_id(hid, id).unwrap_or_default(),
        _ => Vec::new(),
    };
    let plan = super::plan(&super::Inputs {
        key,
        value,
        labelled_containers: &labelled_containers,
        labelled_images: &labelled_images,
        labelled_volumes: &labelled_volumes,
        all_containers: &all_containers,
        parents: &parents,
        usage: usage.as_ref(),
        volumes: what.volumes,
        past_stacks: &past,
    });
    drop(history);

    if !what.apply {
        writeln!(
            out,
            "dry run on {} ({}), label {}: nothing is removed; --apply removes what is listed",
            untrusted::line(&engine.host, 120),
            untrusted::line(&hostname, 64),
            untrusted::line(&label, 120)
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
            untrusted::line(&label, 120)
        );
    }
    let nothing_to_prune = |out: &mut dyn Write| -> Result<()> {
        writeln!(
            out,
            "nothing to prune: {} objects carry {}, all in use",
            plan.labelled,
            untrusted::line(&label, 120)
        )?;
        print_skipped(out, &plan)
    };
    // Nothing to prune creates no history; an existing one first gets the
    // prunes a killed run left pending settled.
    if plan.candidates.is_empty() && !db.exists() {
        return nothing_to_prune(out);
    }
    let st = store::open_for_write(db, config.database.busy_timeout)?;
    let record = |e: rusqlite::Error| store::sql_error(e, db, "record a prune in");
    let host_id = st.host_id(&engine_id, &hostname).map_err(record)?;
    settle_pending(&engine, &st, host_id, db, out).await?;
    if plan.candidates.is_empty() {
        return nothing_to_prune(out);
    }
    let run_id = st.insert_prune_run(host_id, now_unix(), &label, what.volumes).map_err(record)?;
    let mut done = Done::default();
    let mut in_use: Option<(Kind, HashSet<String>)> = None;
    let mut parents_now = HashSet::new();
    for c in &plan.candidates {
        if let Some(sig) = signals::pending() {
            return Err(Interrupted::new(sig, done.summary(db)).into());
        }
        // What keeps images and volumes in use, listed again once per kind
        // now that the containers before them are gone.
        if c.kind != Kind::Container && in_use.as_ref().is_none_or(|(k, _)| *k != c.kind) {
            let listed = engine.containers().await.with_context(|| done.summary(db))?;
            let set = match c.kind {
                Kind::Image => {
                    parents_now = engine.parent_images().await.with_context(|| done.summary(db))?;
                    listed.iter().filter_map(|x| x.image_id.clone()).collect()
                }
                _ => listed
                    .iter()
                    .flat_map(|x| x.mounts.iter().flatten())
                    .filter(|m| m.typ.as_deref() == Some("volume"))
                    .filter_map(|m| m.name.clone())
                    .collect(),
            };
            in_use = Some((c.kind, set));
        }
        let busy = if in_use.as_ref().is_some_and(|(_, s)| s.contains(&c.id)) {
            Some("in use now")
        } else if c.kind == Kind::Image && parents_now.contains(&c.id) {
            Some("other images are built on it now")
        } else {
            None
        };
        let what = format!(
            "{} {} (stack {}, {})",
            c.kind.as_str(),
            untrusted::line(&c.name, 80),
            untrusted::line(c.stack.as_deref().unwrap_or("-"), 64),
            units::maybe_bytes(c.size)
        );
        if let Some(why) = recheck(&engine, c, key, value, busy).await.with_context(|| done.summary(db))? {
            writeln!(out, "kept {what}: {}", untrusted::line(&why, 200))?;
            continue;
        }
        // The intent is recorded before the engine is asked, and settled
        // after: a prune killed in between leaves a pending row, never a
        // removal without one (the next prune settles it).
        let pending_reason = pending_reason(c);
        let mut row = write::Removed {
            kind: c.kind.as_str(),
            object_id: &c.id,
            name: &c.name,
            stack: c.stack.as_deref(),
            reason: &pending_reason,
            size_bytes: c.size,
        };
        let pending = st
            .insert_prune_removal(run_id, now_unix(), &row)
            .map_err(|e| anyhow::anyhow!("could not record the removal of {what}, so stopping: {:#}", record(e)))?;
        crate::fault::pause_async(crate::fault::PRUNE_ASKING).await;
        // An engine error leaves the row pending: whether the object went is
        // unknown until the next prune looks.
        let outcome = remove(&engine, c).await.with_context(|| done.summary_asking(db, &what))?;
        crate::fault::pause_async(crate::fault::PRUNE_REMOVED).await;
        match outcome {
            Outcome::Removed => {
                row.reason = &c.reason;
                st.confirm_prune_removal(pending, run_id, now_unix(), &row).map_err(|e| {
                    anyhow::anyhow!(
                        "removed {what} but could not settle its record (it stays pending), so stopping: {:#}",
                        record(e)
                    )
                })?;
                done.add(c);
                writeln!(out, "removed {what}")?;
            }
            Outcome::Kept(why, changed) => {
                match changed {
                    // Untagged, and the tags could not be put back: the
                    // object changed, so the row stays, saying how.
                    Some(untagged) => {
                        let reason = format!("untagged only ({untagged}); {why}");
                        st.settle_prune_untagged(pending, &reason).map_err(record)?;
                        writeln!(out, "untagged {what} but kept it: {}", untrusted::line(&reason, 300))?;
                    }
                    None => {
                        st.drop_prune_removal(pending).map_err(record)?;
                        writeln!(out, "kept {what}: {}", untrusted::line(&why, 200))?;
                    }
                }
            }
        }
    }
    let (bytes, unknown) = super::total(&done.list);
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
        format!("{}; nothing else was touched", self.removed(db))
    }

    /// For a run that failed while the engine was removing `what`.
    fn summary_asking(&self, db: &Path, what: &str) -> String {
        format!(
            "{}; the removal of {what} was asked for and got no answer, so it is recorded as pending (the next \
             prune --apply settles it)",
            self.removed(db)
        )
    }

    fn removed(&self, db: &Path) -> String {
        let (bytes, _) = super::total(&self.list);
        format!(
            "stopped after removing {} objects ({}), each recorded in {}",
            self.list.len(),
            units::bytes(bytes),
            db.display()
        )
    }
}

enum Outcome {
    Removed,
    /// Kept, why, and what changed anyway (tags that could not be put back).
    Kept(String, Option<String>),
}

/// Looks at the object once more right before its removal: still there,
/// still labelled, still stopped or unused. `Some(why)` keeps it.
async fn recheck(engine: &Engine, c: &Candidate, key: &str, value: &str, busy: Option<&str>) -> Result<Option<String>> {
    let now = match c.kind {
        Kind::Container => engine.current_container(&c.id).await?,
        Kind::Image => engine.current_image(&c.id).await?,
        Kind::Volume => engine.current_volume(&c.id).await?,
    };
    let Some(now) = now else {
        return Ok(Some("already gone".into()));
    };
    if !super::carries(now.labels.iter(), key, value) {
        return Ok(Some(format!("it no longer carries {key}={value}")));
    }
    if let Some(why) = busy {
        return Ok(Some(why.into()));
    }
    if c.kind == Kind::Container {
        let state = ContainerState::parse(&now.state.unwrap_or_default());
        if !state.is_stopped() {
            return Ok(Some(format!("now {state}")));
        }
    }
    Ok(None)
}

/// The removal itself, with the engine's non-forced calls. Anything
/// unexpected keeps the object, as it was.
async fn remove(engine: &Engine, c: &Candidate) -> Result<Outcome> {
    let removal = match c.kind {
        Kind::Container => engine.remove_container(&c.id).await?,
        Kind::Image => {
            // An image in several repositories cannot be removed by id
            // without force; untag it tag by tag, each checked to still
            // point at this image, and the last one removes it. Untagging is
            // part of the removal: when the engine then refuses, the tags
            // are put back.
            let tags = engine.current_image(&c.id).await?.map(|i| i.tags).unwrap_or_default();
            if tags.len() > 1 {
                let mut untagged = Vec::new();
                let mut refused = None;
                for tag in &tags {
                    let target = engine.current_image(tag).await?;
                    if target.and_then(|t| t.id).as_deref() != Some(c.id.as_str()) {
                        continue;
                    }
                    match engine.remove_image(tag).await? {
                        Removal::Refused(why) => {
                            refused = Some(why);
                            break;
                        }
                        Removal::Removed => untagged.push(tag.clone()),
                        // Someone else took it off meanwhile: not ours to put back.
                        Removal::Gone => {}
                    }
                    crate::fault::pause_async(crate::fault::PRUNE_UNTAGGED).await;
                }
                let last = match refused {
                    Some(why) => Removal::Refused(why),
                    None => match engine.current_image(&c.id).await? {
                        None => Removal::Removed,
                        Some(_) => engine.remove_image(&c.id).await?,
                    },
                };
                if let Removal::Refused(why) = &last {
                    return Ok(restore_tags(engine, c, &untagged, why).await);
                }
                last
            } else {
                engine.remove_image(&c.id).await?
            }
        }
        Kind::Volume => engine.remove_volume(&c.id).await?,
    };
    Ok(match removal {
        Removal::Removed => Outcome::Removed,
        Removal::Gone => Outcome::Kept("already gone".into(), None),
        Removal::Refused(why) => Outcome::Kept(format!("the engine refused: {why}"), None),
    })
}

/// Puts back the tags a refused image removal took off.
async fn restore_tags(engine: &Engine, c: &Candidate, untagged: &[String], why: &str) -> Outcome {
    let mut lost = Vec::new();
    for tag in untagged {
        if engine.tag_image(&c.id, tag).await.is_err() {
            lost.push(tag.as_str());
        }
    }
    let why = format!("the engine refused: {why}");
    if lost.is_empty() {
        // First: the engine's reason can be long enough to be cut.
        let note = if untagged.is_empty() { "" } else { "its tags were put back; " };
        Outcome::Kept(format!("{note}{why}"), None)
    } else {
        Outcome::Kept(why, Some(format!("lost tags {}", lost.join(", "))))
    }
}

/// Where a pending image removal lists the tags it may take off.
const TAGS_MARK: &str = " (tags: ";

/// `pending: unused`, and for an image in several repositories (untagged
/// tag by tag) its tags too, so a prune killed half-way through can put
/// them back: `pending: unused (tags: a:1 b:1)`.
fn pending_reason(c: &Candidate) -> String {
    if c.kind == Kind::Image && c.tags.len() > 1 {
        format!("{}{}{TAGS_MARK}{})", write::PENDING, c.reason, c.tags.join(" "))
    } else {
        format!("{}{}", write::PENDING, c.reason)
    }
}

/// A pending row's reason (without the pending mark) split into the reason
/// and the tags it lists.
fn split_tags(reason: &str) -> (&str, Vec<&str>) {
    match reason.strip_suffix(')').and_then(|r| r.split_once(TAGS_MARK)) {
        Some((base, tags)) => (base, tags.split_whitespace().collect()),
        None => (reason, Vec::new()),
    }
}

/// Removals an earlier prune of this engine left pending (it was killed
/// between recording the intent and settling it): the object gone means
/// the removal happened and the row stands; still there means it did not,
/// and an image gets back any tag it lost on the way.
async fn settle_pending(
    engine: &Engine,
    st: &store::Store,
    host_id: i64,
    db: &Path,
    out: &mut dyn Write,
) -> Result<()> {
    let record = |e: rusqlite::Error| store::sql_error(e, db, "settle a prune in");
    for p in st.pending_removals(host_id).map_err(record)? {
        let now = match p.kind.as_str() {
            "container" => engine.current_container(&p.object_id).await?,
            "image" => engine.current_image(&p.object_id).await?,
            _ => engine.current_volume(&p.object_id).await?,
        };
        let name = untrusted::line(&p.name, 80);
        let (reason, tags) = split_tags(&p.reason);
        let Some(now) = now else {
            st.settle_prune_removal(p.id, reason).map_err(record)?;
            writeln!(out, "settled an interrupted prune: {} {name} was removed (recorded)", p.kind)?;
            continue;
        };
        let (mut back, mut lost) = (Vec::new(), Vec::new());
        for tag in tags.into_iter().filter(|t| !now.tags.iter().any(|n| n == t)) {
            // Only a tag nothing else took meanwhile.
            let free = engine.current_image(tag).await?.is_none();
            if free && engine.tag_image(&p.object_id, tag).await.is_ok() {
                back.push(tag);
            } else {
                lost.push(tag);
            }
        }
        if lost.is_empty() {
            st.drop_prune_removal(p.id).map_err(record)?;
            let note = if back.is_empty() { String::new() } else { format!(" (tags put back: {})", back.join(", ")) };
            writeln!(
                out,
                "settled an interrupted prune: {} {name} was not removed{}",
                p.kind,
                untrusted::line(&note, 300)
            )?;
        } else {
            let why = format!("untagged only (lost tags {}); an interrupted prune", lost.join(", "));
            st.settle_prune_untagged(p.id, &why).map_err(record)?;
            writeln!(
                out,
                "settled an interrupted prune: {} {name} was not removed: {}",
                p.kind,
                untrusted::line(&why, 300)
            )?;
        }
    }
    Ok(())
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
            .map(|c| (untrusted::line(c.stack.as_deref().unwrap_or("-"), 40), untrusted::line(&c.name, 72)))
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
        let (bytes, _) = super::total(&plan.skipped_volumes);
        writeln!(
            out,
            "{} unused labelled volumes ({}) kept: volumes hold data, add --volumes to remove them too",
            plan.skipped_volumes.len(),
            units::bytes(bytes)
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pending_image_row_carries_its_tags() {
        let mut c = Candidate {
            kind: Kind::Image,
            id: "sha256:x".into(),
            name: "a:1".into(),
            tags: vec!["a:1".into(), "reg:5000/b:2".into()],
            stack: None,
            size: None,
            reason: "unused".into(),
        };
        let reason = pending_reason(&c);
        assert_eq!(reason, "pending: unused (tags: a:1 reg:5000/b:2)");
        let rest = reason.strip_prefix(write::PENDING).unwrap();
        assert_eq!(split_tags(rest), ("unused", vec!["a:1", "reg:5000/b:2"]));
        c.tags.pop();
        assert_eq!(pending_reason(&c), "pending: unused");
        assert_eq!(split_tags("exited"), ("exited", vec![]));
    }
}
