//! What `stackwatch prune` may remove, decided from the engine's lists.
//!
//! The box is shared: `docker system prune` deletes every stack's images
//! alike. A prune here only ever touches objects that carry the managed
//! label (`[labels] managed`, `com.disinto.managed=true`). The engine is
//! asked for labelled objects only, and every object is checked again here
//! (and once more right before its removal, in [`apply`]), so an
//! engine that ignored a filter, or a label changed meanwhile, still cannot
//! widen the scope. Planning is a pure function of the engine's answers so
//! that rule is unit tested without an engine.

pub mod apply;

use std::collections::{BTreeSet, HashMap, HashSet};

use bollard::models::{ContainerSummary, ImageSummary, Volume};

use crate::engine::disk_usage::DiskUsage;
use crate::model::snapshot::ContainerState;
use crate::model::stack::{self, COMPOSE_PROJECT};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Container,
    Image,
    Volume,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Container => "container",
            Kind::Image => "image",
            Kind::Volume => "volume",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub kind: Kind,
    /// Container id, image id, or volume name: what the removal is asked for.
    pub id: String,
    /// For people: container name, first tag (or short id of a dangling image), volume name.
    pub name: String,
    /// Every tag of an image; one in several repositories is untagged tag by tag.
    pub tags: Vec<String>,
    pub stack: Option<String>,
    /// Writable layer, bytes no other image shares, or volume contents.
    pub size: Option<i64>,
    /// `exited`, `created`, `dead`, `dangling` or `unused`.
    pub reason: String,
}

#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Containers first, then images, then (with `--volumes`) volumes: a
    /// stopped container holds its image and volumes until it is gone.
    pub candidates: Vec<Candidate>,
    /// Unused labelled volumes left alone because `--volumes` was not given.
    pub skipped_volumes: Vec<Candidate>,
    /// Objects on the engine that carry the label at all, in any state.
    pub labelled: usize,
}

impl Plan {
    /// Bytes the candidates would free, and how many sizes are unknown.
    pub fn total(&self) -> (i64, usize) {
        total(&self.candidates)
    }
}

pub fn total(list: &[Candidate]) -> (i64, usize) {
    let known: i64 = list.iter().filter_map(|c| c.size).sum();
    (known, list.iter().filter(|c| c.size.is_none()).count())
}

pub struct Inputs<'a> {
    /// The managed label.
    pub key: &'a str,
    pub value: &'a str,
    /// What the engine listed for the label filter.
    pub labelled_containers: &'a [ContainerSummary],
    pub labelled_images: &'a [ImageSummary],
    pub labelled_volumes: &'a [Volume],
    /// Every container, any state, any label: what keeps images and volumes in use.
    pub all_containers: &'a [ContainerSummary],
    /// Image ids other images are built on: the engine will not remove them.
    pub parents: &'a HashSet<String>,
    pub usage: Option<&'a DiskUsage>,
    pub volumes: bool,
    /// Stacks that ran an image, from the history (an unused image has no container left to say).
    pub past_stacks: &'a dyn Fn(&str) -> Vec<String>,
}

/// True only when `labels` carry exactly `key=value`.
pub fn carries<'a>(mut labels: impl Iterator<Item = (&'a String, &'a String)>, key: &str, value: &str) -> bool {
    labels.any(|(k, v)| k == key && v == value)
}

fn container_name(c: &ContainerSummary) -> String {
    c.names
        .as_ref()
        .and_then(|n| n.first())
        .map(|n| stack::clean_name(n).to_string())
        .unwrap_or_else(|| c.id.clone().unwrap_or_default().chars().take(12).collect())
}

fn short_id(id: &str) -> String {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    hex.chars().take(12).collect()
}

fn joined(set: BTreeSet<String>) -> Option<String> {
    (!set.is_empty()).then(|| set.into_iter().collect::<Vec<_>>().join(", "))
}

pub fn plan(inp: &Inputs<'_>) -> Plan {
    let mut out = Plan::default();
    let mut removed: HashSet<&str> = HashSet::new();
    // Stack of each container that goes, for the images and volumes it held.
    let mut gone_stack: HashMap<&str, String> = HashMap::new();

    for c in inp.labelled_containers {
        let labels = c.labels.as_ref();
        if !labels.is_some_and(|l| carries(l.iter(), inp.key, inp.value)) {
            continue;
        }
        out.labelled += 1;
        let state = ContainerState::parse(&c.state.map(|s| s.to_string()).unwrap_or_default());
        let Some(id) = c.id.as_deref() else { continue };
        if !state.is_stopped() {
            continue;
        }
        let name = container_name(c);
        let labels = labels.map(|l| l.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default();
        let stack_name = stack::identify(&name, &labels).0.name;
        removed.insert(id);
        gone_stack.insert(id, stack_name.clone());
        out.candidates.push(Candidate {
            kind: Kind::Container,
            id: id.to_string(),
            name,
            tags: Vec::new(),
            stack: Some(stack_name),
            // Asked with sizes: the engine omits a zero SizeRw.
            size: Some(c.size_rw.unwrap_or(0)),
            reason: state.to_string(),
        });
    }

    let staying = || inp.all_containers.iter().filter(|c| !c.id.as_deref().is_some_and(|id| removed.contains(id)));
    let used_images: HashSet<&str> = staying().filter_map(|c| c.image_id.as_deref()).collect();
    let mounted: HashSet<&str> = staying()
        .flat_map(|c| c.mounts.iter().flatten())
        .filter(|m| m.typ.as_ref().is_some_and(|t| t == "volume"))
        .filter_map(|m| m.name.as_deref())
        .collect();
    let leaving = || inp.all_containers.iter().filter(|c| c.id.as_deref().is_some_and(|id| removed.contains(id)));

    for i in inp.labelled_images {
        if !carries(i.labels.iter(), inp.key, inp.value) {
            continue;
        }
        out.labelled += 1;
        // Not a candidate at all: removing an image with dependent child
        // images fails, and only after untagging one in several repositories.
        if used_images.contains(i.id.as_str()) || inp.parents.contains(&i.id) {
            continue;
        }
        let tags: Vec<String> = i.repo_tags.iter().filter(|t| *t != "<none>:<none>").cloned().collect();
        let usage = inp.usage.and_then(|u| u.images.get(&i.id));
        let size = usage.map(|u| u.unique_bytes.unwrap_or(u.size_bytes)).or((i.size >= 0).then_some(i.size));
        let mut stacks: BTreeSet<String> = BTreeSet::new();
        if let Some(p) = i.labels.get(COMPOSE_PROJECT).filter(|p| !p.trim().is_empty()) {
            stacks.insert(p.trim().to_string());
        }
        if stacks.is_empty() {
            for c in leaving().filter(|c| c.image_id.as_deref() == Some(i.id.as_str())) {
                if let Some(s) = c.id.as_deref().and_then(|id| gone_stack.get(id)) {
                    stacks.insert(s.clone());
                }
            }
        }
        if stacks.is_empty() {
            stacks.extend((inp.past_stacks)(&i.id));
        }
        out.candidates.push(Candidate {
            kind: Kind::Image,
            id: i.id.clone(),
            name: tags.first().cloned().unwrap_or_else(|| short_id(&i.id)),
            reason: if tags.is_empty() { "dangling" } else { "unused" }.into(),
            tags,
            stack: joined(stacks),
            size,
        });
    }

    for v in inp.labelled_volumes {
        if !carries(v.labels.iter(), inp.key, inp.value) {
            continue;
        }
        out.labelled += 1;
        if mounted.contains(v.name.as_str()) {
            continue;
        }
        let mut stacks: BTreeSet<String> = BTreeSet::new();
        if let Some(p) = v.labels.get(COMPOSE_PROJECT).filter(|p| !p.trim().is_empty()) {
            stacks.insert(p.trim().to_string());
        }
        if stacks.is_empty() {
            for c in leaving() {
                let mounts_it = c.mounts.iter().flatten().any(|m| m.name.as_deref() == Some(v.name.as_str()));
                if let (true, Some(s)) = (mounts_it, c.id.as_deref().and_then(|id| gone_stack.get(id))) {
                    stacks.insert(s.clone());
                }
            }
        }
        let cand = Candidate {
            kind: Kind::Volume,
            id: v.name.clone(),
            name: v.name.clone(),
            tags: Vec::new(),
            stack: joined(stacks),
            size: inp.usage.and_then(|u| u.volumes.get(&v.name).copied()),
            reason: "unused".into(),
        };
        if inp.volumes {
            out.candidates.push(cand);
        } else {
            out.skipped_volumes.push(cand);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use bollard::models::{ContainerSummaryStateEnum, MountPoint};

    use super::*;
    use crate::engine::disk_usage::ImageUsage;

    const KEY: &str = "com.disinto.managed";

    fn labels(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn container(id: &str, state: ContainerSummaryStateEnum, l: &[(&str, &str)], image: &str) -> ContainerSummary {
        ContainerSummary {
            id: Some(id.into()),
            names: Some(vec![format!("/{id}-name")]),
            state: Some(state),
            labels: Some(labels(l)),
            image_id: Some(image.into()),
            size_rw: Some(10),
            mounts: Some(vec![MountPoint {
                typ: Some("volume".into()),
                name: Some(format!("{id}-vol")),
                ..Default::default()
            }]),
            ..Default::default()
        }
    }

    fn image(id: &str, tags: &[&str], l: &[(&str, &str)]) -> ImageSummary {
        ImageSummary {
            id: id.into(),
            repo_tags: tags.iter().map(|t| t.to_string()).collect(),
            labels: labels(l),
            size: 1000,
            ..Default::default()
        }
    }

    fn volume(name: &str, l: &[(&str, &str)]) -> Volume {
        Volume { name: name.into(), labels: labels(l), ..Default::default() }
    }

    /// The engine's filter is not trusted: an unlabelled object, or one with
    /// the key but another value, that slipped into a "labelled" list is
    /// never a candidate, whatever the flags.
    #[test]
    fn nothing_without_the_exact_label_is_ever_a_candidate() {
        use ContainerSummaryStateEnum::*;
        let yes = [(KEY, "true"), (COMPOSE_PROJECT, "disinto")];
        let containers = vec![
            container("c-labelled-exited", EXITED, &yes, "sha256:used-by-gone"),
            container("c-labelled-running", RUNNING, &yes, "sha256:used-by-running"),
            container("c-plain-exited", EXITED, &[], "sha256:plain"),
            container("c-false-exited", EXITED, &[(KEY, "false")], "sha256:plain"),
        ];
        let images = vec![
            image("sha256:used-by-gone", &["disinto-agent:old"], &[(KEY, "true")]),
            image("sha256:used-by-running", &["disinto-agent:new"], &[(KEY, "true")]),
            image("sha256:dangling", &["<none>:<none>"], &[(KEY, "true")]),
            // Unused, but another image is built on it.
            image("sha256:parent", &["disinto-base:1", "disinto-base:2"], &[(KEY, "true")]),
            image("sha256:plain", &["other:1"], &[]),
            image("sha256:truthy", &["other:2"], &[(KEY, "True")]),
        ];
        let volumes = vec![
            volume("c-labelled-exited-vol", &[(KEY, "true")]),
            volume("c-labelled-running-vol", &[(KEY, "true")]),
            volume("loose", &[(KEY, "true"), (COMPOSE_PROJECT, "disinto")]),
            volume("foreign", &[(COMPOSE_PROJECT, "harb")]),
        ];
        let usage = DiskUsage {
            images: HashMap::from([(
                "sha256:dangling".to_string(),
                ImageUsage { size_bytes: 500, unique_bytes: Some(200) },
            )]),
            volumes: HashMap::from([("loose".to_string(), 4096)]),
            ..Default::default()
        };
        let past = |id: &str| if id == "sha256:dangling" { vec!["old-stack".to_string()] } else { vec![] };
        let parents = HashSet::from(["sha256:parent".to_string()]);
        for with_volumes in [false, true] {
            let p = plan(&Inputs {
                key: KEY,
                value: "true",
                // As if the engine had ignored the filter.
                labelled_containers: &containers,
                labelled_images: &images,
                labelled_volumes: &volumes,
                all_containers: &containers,
                parents: &parents,
                usage: Some(&usage),
                volumes: with_volumes,
                past_stacks: &past,
            });
            let ids: Vec<(&str, &str, &str)> =
                p.candidates.iter().map(|c| (c.kind.as_str(), c.id.as_str(), c.reason.as_str())).collect();
            let mut expected = vec![
                ("container", "c-labelled-exited", "exited"),
                ("image", "sha256:used-by-gone", "unused"),
                ("image", "sha256:dangling", "dangling"),
            ];
            if with_volumes {
                expected.push(("volume", "c-labelled-exited-vol", "unused"));
                expected.push(("volume", "loose", "unused"));
            }
            assert_eq!(ids, expected);
            assert_eq!(p.skipped_volumes.len(), if with_volumes { 0 } else { 2 });
            assert_eq!(p.labelled, 2 + 4 + 3);
            let by_id = |id: &str| p.candidates.iter().find(|c| c.id == id).unwrap().clone();
            assert_eq!(
                by_id("sha256:used-by-gone").stack.as_deref(),
                Some("disinto"),
                "stack of the container that held it"
            );
            assert_eq!(by_id("sha256:dangling").size, Some(200), "only bytes no other image shares");
            assert_eq!(by_id("sha256:dangling").stack.as_deref(), Some("old-stack"), "from the history");
            assert_eq!(by_id("sha256:dangling").name, "dangling");
            assert_eq!(by_id("c-labelled-exited").name, "c-labelled-exited-name");
        }
    }

    #[test]
    fn an_empty_engine_resolves_to_nothing() {
        let p = plan(&Inputs {
            key: KEY,
            value: "true",
            labelled_containers: &[],
            labelled_images: &[],
            labelled_volumes: &[],
            all_containers: &[],
            parents: &HashSet::new(),
            usage: None,
            volumes: true,
            past_stacks: &|_| vec![],
        });
        assert_eq!((p.labelled, p.candidates.len(), p.total()), (0, 0, (0, 0)));
    }
}
