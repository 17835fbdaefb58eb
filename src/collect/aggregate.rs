//! Cross-object attribution: volumes and images to stacks, and per-stack
//! totals. Pure functions over the raw samples, so the rules are unit tested
//! without an engine.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::snapshot::{ContainerSample, ImageSample, StackKey, StackKind, StackSample, Via, VolumeSample};
use crate::model::stack::{COMPOSE_CONFIG_FILES, COMPOSE_PROJECT, COMPOSE_WORKING_DIR};

/// Fills `volume.mounted_by`/`stacks` and `image.stacks`, then returns the
/// per-stack totals, sorted by stack.
pub fn attribute(
    containers: &[ContainerSample],
    volumes: &mut [VolumeSample],
    images: &mut [ImageSample],
) -> Vec<StackSample> {
    let mut mounts: BTreeMap<&str, Vec<&ContainerSample>> = BTreeMap::new();
    for c in containers {
        for m in &c.mounts {
            mounts.entry(m.as_str()).or_default().push(c);
        }
    }
    for v in volumes.iter_mut() {
        let users = mounts.get(v.name.as_str()).map(Vec::as_slice).unwrap_or(&[]);
        let mut names: Vec<String> = users.iter().map(|c| c.name.clone()).collect();
        names.sort();
        names.dedup();
        v.mounted_by = names;
        v.stacks = volume_stacks(v, users);
    }
    for img in images.iter_mut() {
        let set: BTreeSet<StackKey> = containers
            .iter()
            .filter(|c| c.image_id.as_deref() == Some(img.id.as_str()))
            .filter_map(|c| c.stack.clone())
            .collect();
        img.stacks = set.into_iter().collect();
        // The image list reports -1 ("not computed") on most engines.
        img.containers = containers.iter().filter(|c| c.image_id.as_deref() == Some(img.id.as_str())).count() as i64;
    }
    stack_totals(containers, volumes)
}

fn volume_stacks(v: &VolumeSample, users: &[&ContainerSample]) -> Vec<(StackKey, Via)> {
    if let Some(project) = v.labels.get(COMPOSE_PROJECT).filter(|p| !p.trim().is_empty()) {
        let key = StackKey { kind: StackKind::Compose, name: project.trim().to_string() };
        return vec![(key, Via::Label)];
    }
    let set: BTreeSet<StackKey> = users.iter().filter_map(|c| c.stack.clone()).collect();
    set.into_iter().map(|k| (k, Via::Mount)).collect()
}

#[derive(Default)]
struct Acc {
    containers: i64,
    running: i64,
    rw: Part,
    log: Part,
    vol: Part,
    mem: Part,
    working_dir: Option<String>,
    config_files: Option<String>,
}

/// A sum over parts some of which may be unknown.
#[derive(Default, Clone, Copy)]
struct Part {
    known: Option<i64>,
    unknown: i64,
}

impl Part {
    fn add(&mut self, v: Option<i64>) {
        match v {
            Some(b) => self.known = Some(self.known.unwrap_or(0).saturating_add(b)),
            None => self.unknown += 1,
        }
    }

    /// Known sum; `Some(0)` for an empty sum, `None` when nothing was known.
    fn total(self) -> Option<i64> {
        match (self.known, self.unknown) {
            (Some(b), _) => Some(b),
            (None, 0) => Some(0),
            (None, _) => None,
        }
    }
}

fn stack_totals(containers: &[ContainerSample], volumes: &[VolumeSample]) -> Vec<StackSample> {
    let mut acc: BTreeMap<StackKey, Acc> = BTreeMap::new();
    for c in containers {
        let Some(key) = &c.stack else { continue };
        let a = acc.entry(key.clone()).or_default();
        a.containers += 1;
        a.rw.add(c.rw_bytes);
        a.log.add(c.log_bytes);
        if c.is_running() {
            a.running += 1;
            a.mem.add(c.stats.and_then(|s| s.mem_bytes));
        }
        if a.working_dir.is_none() {
            a.working_dir = c.labels.get(COMPOSE_WORKING_DIR).cloned();
        }
        if a.config_files.is_none() {
            a.config_files = c.labels.get(COMPOSE_CONFIG_FILES).cloned();
        }
    }
    for v in volumes {
        for (key, _) in &v.stacks {
            acc.entry(key.clone()).or_default().vol.add(v.size_bytes);
        }
    }
    acc.into_iter()
        .map(|(key, a)| {
            let mut disk = Part::default();
            for p in [a.rw, a.log, a.vol] {
                if let Some(k) = p.known {
                    disk.add(Some(k));
                }
                disk.unknown += p.unknown;
            }
            StackSample {
                key,
                containers: a.containers,
                running: a.running,
                rw_bytes: a.rw.total(),
                log_bytes: a.log.total(),
                volume_bytes: a.vol.total(),
                disk_bytes: disk.total(),
                mem_bytes: a.mem.total(),
                unknown_sizes: disk.unknown,
                working_dir: a.working_dir,
                config_files: a.config_files,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::snapshot::{ContainerState, Stats};

    fn stack(kind: StackKind, name: &str) -> StackKey {
        StackKey { kind, name: name.into() }
    }

    fn container(name: &str, stack_key: StackKey, running: bool) -> ContainerSample {
        ContainerSample {
            id: format!("id-{name}"),
            name: name.into(),
            stack: Some(stack_key),
            state: if running { ContainerState::Running } else { ContainerState::Exited },
            image_id: Some("sha256:img".into()),
            ..Default::default()
        }
    }

    fn volume(name: &str, size: Option<i64>, project: Option<&str>) -> VolumeSample {
        let mut labels = BTreeMap::new();
        if let Some(p) = project {
            labels.insert(COMPOSE_PROJECT.to_string(), p.to_string());
        }
        VolumeSample { name: name.into(), driver: "local".into(), labels, size_bytes: size, ..Default::default() }
    }

    #[test]
    fn volume_label_beats_mounts_and_mounts_attribute_unlabelled_volumes() {
        let harb = stack(StackKind::Compose, "harb");
        let solo = stack(StackKind::Standalone, "solo");
        let mut a = container("harb-anvil-1", harb.clone(), true);
        a.mounts = vec!["chain".into(), "shared".into()];
        let mut b = container("solo", solo.clone(), false);
        b.mounts = vec!["chain".into(), "shared".into()];
        let mut vols = vec![
            volume("chain", Some(100), Some("harb")),
            volume("shared", Some(7), None),
            volume("lost", Some(3), None),
        ];
        attribute(&[a, b], &mut vols, &mut []);
        assert_eq!(vols[0].stacks, vec![(harb.clone(), Via::Label)]);
        assert_eq!(vols[0].mounted_by, vec!["harb-anvil-1".to_string(), "solo".to_string()]);
        assert_eq!(vols[1].stacks, vec![(harb, Via::Mount), (solo, Via::Mount)]);
        assert!(vols[2].stacks.is_empty());
        assert!(!vols[2].in_use());
    }

    #[test]
    fn stack_disk_sums_known_parts_and_counts_unknown_ones() {
        let harb = stack(StackKind::Compose, "harb");
        let mut a = container("harb-a-1", harb.clone(), true);
        a.rw_bytes = Some(10);
        a.log_bytes = None;
        a.mounts = vec!["chain".into()];
        a.stats = Some(Stats { mem_bytes: Some(1000), ..Default::default() });
        let mut b = container("harb-b-1", harb.clone(), false);
        b.rw_bytes = Some(5);
        b.log_bytes = Some(2);
        b.stats = None;
        let mut vols = vec![volume("chain", Some(100), Some("harb"))];
        let totals = attribute(&[a, b], &mut vols, &mut []);
        assert_eq!(totals.len(), 1);
        let t = &totals[0];
        assert_eq!((t.containers, t.running), (2, 1));
        assert_eq!(t.rw_bytes, Some(15));
        assert_eq!(t.log_bytes, Some(2));
        assert_eq!(t.volume_bytes, Some(100));
        assert_eq!(t.disk_bytes, Some(117));
        assert_eq!(t.unknown_sizes, 1);
        assert_eq!(t.mem_bytes, Some(1000), "a stopped container uses no memory and is not unknown");
    }

    #[test]
    fn nothing_measured_is_unknown_not_zero() {
        let s = stack(StackKind::Standalone, "x");
        let c = container("x", s, true);
        let totals = attribute(&[c], &mut [], &mut []);
        assert_eq!(totals[0].disk_bytes, None);
        assert_eq!(totals[0].mem_bytes, None);
        assert_eq!(totals[0].volume_bytes, Some(0), "no volumes is a known zero");
        assert_eq!(totals[0].unknown_sizes, 2);
    }

    #[test]
    fn a_labelled_volume_without_containers_still_makes_its_stack_visible() {
        let mut vols = vec![volume("old_data", Some(42), Some("gone"))];
        let totals = attribute(&[], &mut vols, &mut []);
        assert_eq!(totals.len(), 1);
        assert_eq!(totals[0].key, stack(StackKind::Compose, "gone"));
        assert_eq!((totals[0].containers, totals[0].disk_bytes), (0, Some(42)));
    }

    #[test]
    fn images_know_the_stacks_that_use_them() {
        let a = container("a", stack(StackKind::Compose, "p"), true);
        let b = container("b", stack(StackKind::Standalone, "b"), true);
        let mut imgs = vec![
            ImageSample { id: "sha256:img".into(), ..Default::default() },
            ImageSample { id: "sha256:other".into(), ..Default::default() },
        ];
        attribute(&[a, b], &mut [], &mut imgs);
        assert_eq!(imgs[0].stacks.len(), 2);
        assert_eq!(imgs[0].containers, 2);
        assert!(imgs[1].stacks.is_empty());
    }
}
