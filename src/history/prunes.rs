//! What `stackwatch prune` removed in the window.
//!
//! A prune makes the disk curve drop for a reason the samples alone cannot
//! show; one sentence beside the disk context keeps the drop from reading
//! like a stack shrinking on its own. Kept apart from the growth code: it
//! reads its own tables (migration V3) and nothing else depends on it.

use crate::store::read::Reader;
use anyhow::Result;

use super::model::{Pruned, PrunedPart};
use crate::model::units;
use crate::store::read;
use crate::time::iso_utc;

/// Removals on `host_id` after `from` (the window's start edge) up to `to`;
/// `None` when there were none.
pub fn summary(db: &Reader<'_>, host_id: i64, from: i64, to: i64) -> Result<Option<Pruned>> {
    let rows = db.pruned_between(host_id, from, to)?;
    if rows.is_empty() {
        return Ok(None);
    }
    // Images first: they are what a factory prune is mostly about.
    let order = |k: &str| match k {
        "image" => 0,
        "container" => 1,
        _ => 2,
    };
    let mut rows = rows;
    rows.sort_by_key(|r| order(&r.kind));
    let phrase = |r: &read::PrunedRow| {
        let what = match r.kind.as_str() {
            "image" => "factory images",
            "container" => "stopped factory containers",
            _ => "factory volumes",
        };
        let unknown = if r.unknown > 0 { format!(", {} of unknown size", r.unknown) } else { String::new() };
        format!("{} of {what} ({}{unknown})", units::bytes(r.bytes), r.objects)
    };
    let phrases: Vec<String> = rows.iter().map(phrase).collect();
    let list = match phrases.as_slice() {
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
        [] => unreachable!("rows is not empty"),
    };
    let sentence = format!(
        "Pruned {list} since {}, with `stackwatch prune` (objects carrying the managed label only).",
        iso_utc(from)
    );
    Ok(Some(Pruned {
        since: iso_utc(from),
        objects: rows.iter().map(|r| r.objects).sum(),
        bytes: rows.iter().map(|r| r.bytes).sum(),
        unknown_sizes: rows.iter().map(|r| r.unknown).sum(),
        parts: rows
            .iter()
            .map(|r| PrunedPart { kind: r.kind.clone(), objects: r.objects, bytes: r.bytes, unknown_sizes: r.unknown })
            .collect(),
        sentence,
    }))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn removals_in_the_window_make_one_sentence_and_others_are_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let st = crate::store::open_for_write(&dir.path().join("h.db"), Duration::from_secs(1)).unwrap();
        let host = st.host_id("E1", "box").unwrap();
        let other = st.host_id("E2", "other").unwrap();
        assert_eq!(summary(&st.reader().unwrap(), host, 0, 10_000).unwrap(), None);
        let run = st.insert_prune_run(host, 1_000, "com.disinto.managed=true", false).unwrap();
        let run2 = st.insert_prune_run(other, 1_000, "com.disinto.managed=true", false).unwrap();
        let rm = |run, at, kind, size| {
            let r = crate::store::write::Removed {
                kind,
                object_id: "x",
                name: "x",
                stack: None,
                reason: "unused",
                size_bytes: size,
            };
            st.insert_prune_removal(run, at, &r).unwrap();
        };
        rm(run, 1_001, "image", Some(2_000_000_000));
        rm(run, 1_002, "image", Some(1_100_000_000));
        rm(run, 1_003, "container", None);
        rm(run, 500, "image", Some(7)); // before the window
        rm(run2, 1_001, "image", Some(9)); // another host
        let p = summary(&st.reader().unwrap(), host, 900, 2_000).unwrap().unwrap();
        assert_eq!(
            p.sentence,
            "Pruned 3.1 GB of factory images (2) and 0 B of stopped factory containers (1, 1 of unknown size) \
             since 1970-01-01T00:15:00Z, with `stackwatch prune` (objects carrying the managed label only)."
        );
        assert_eq!((p.objects, p.bytes, p.unknown_sizes), (3, 3_100_000_000, 1));
    }
}
