//! Who owns a stack, and how we know.
//!
//! Resolution order (README "Ownership"): the project TOMLs first, because
//! they are written by the people running the factory; then an owner label
//! on the stack's containers or volumes, which the stack's authors chose;
//! otherwise `unowned`. The answer always carries its source so a reader can
//! judge it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::model::snapshot::StackKind;
use crate::untrusted::markdown::code;

/// One `projects/<name>.toml`, reduced to what ownership needs.
#[derive(Debug, Clone)]
pub struct Project {
    pub file: String,
    pub name: String,
    pub repo: Option<String>,
    pub owner: Option<String>,
    pub stacks: Vec<String>,
    pub containers: Vec<String>,
}

#[derive(Deserialize)]
struct ProjectFile {
    name: Option<String>,
    repo: Option<String>,
    #[serde(default)]
    services: Option<Services>,
    #[serde(default)]
    siblings: Option<Siblings>,
    // Everything else in the file belongs to other tools.
    #[serde(flatten)]
    _rest: toml::Table,
}

#[derive(Deserialize)]
struct Services {
    #[serde(default)]
    containers: Vec<String>,
    #[serde(flatten)]
    _rest: toml::Table,
}

/// The `[siblings]` section is ours, so typos in it are errors.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Siblings {
    /// Stack names (compose project, swarm stack, Nomad job, or standalone
    /// container name) this project owns; `*` matches any run of characters.
    #[serde(default)]
    stacks: Vec<String>,
    /// Who to name as owner; default: the project's `name` and `repo`.
    owner: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Projects {
    pub list: Vec<Project>,
    /// Project files that could not be used, one line each (file, line,
    /// key, what is wrong). A broken file costs only its own claims: the
    /// report still renders and names it.
    pub errors: Vec<String>,
}

impl Projects {
    /// Reads every `*.toml` in `dir`. A missing default directory is an
    /// empty list; a missing directory the user named is an error. A file
    /// that does not read or parse is recorded in `errors` and skipped.
    pub fn load(dir: &Path, explicit: bool) -> Result<Projects> {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
                return Ok(Projects::default());
            }
            Err(e) => {
                return Err(e).with_context(|| format!("cannot read projects directory {}", dir.display()));
            }
        };
        let mut files: Vec<PathBuf> =
            entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "toml")).collect();
        files.sort();
        let mut out = Projects::default();
        for path in files {
            let parsed = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read project file {}", path.display()))
                .and_then(|text| parse_project(&text, &path));
            match parsed {
                Ok(p) => out.list.push(p),
                Err(e) => out.errors.push(crate::untrusted::line(&format!("{e:#}"), 300)),
            }
        }
        Ok(out)
    }

    /// `load` for an optional directory (none configured: no projects).
    pub fn load_from(dir: Option<&(PathBuf, bool)>) -> Result<Projects> {
        match dir {
            Some((d, explicit)) => Projects::load(d, *explicit),
            None => Ok(Projects::default()),
        }
    }
}

pub fn parse_project(text: &str, path: &Path) -> Result<Project> {
    let f: ProjectFile =
        toml::from_str(text).map_err(|e| anyhow::anyhow!(crate::config::describe("project file", text, path, &e)))?;
    let file = format!("projects/{}", path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default());
    let name = f
        .name
        .filter(|n| !n.trim().is_empty())
        .or_else(|| path.file_stem().map(|s| s.to_string_lossy().to_string()))
        .unwrap_or_default();
    let (stacks, owner) = match f.siblings {
        Some(s) => (s.stacks, s.owner),
        None => (Vec::new(), None),
    };
    if stacks.iter().any(|s| s.trim().is_empty()) {
        bail!("project file {}: [siblings] stacks has an empty name", path.display());
    }
    Ok(Project {
        file,
        name,
        repo: f.repo,
        owner,
        stacks,
        containers: f.services.map(|s| s.containers).unwrap_or_default(),
    })
}

/// `*` matches any run of characters; everything else literally.
pub fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let mut rest = text;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(part) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else if let Some(pos) = rest.find(part) {
            rest = &rest[pos + part.len()..];
        } else {
            return false;
        }
    }
    true
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub owner: String,
    /// How the owner was found, as markdown (names are inert code spans).
    pub source: String,
}

/// What ownership resolution looks at for one stack.
pub struct StackFacts<'a> {
    pub kind: StackKind,
    pub name: &'a str,
    /// (container name, service, labels)
    pub containers: Vec<(&'a str, Option<&'a str>, &'a BTreeMap<String, String>)>,
    /// (volume name, labels)
    pub volumes: Vec<(&'a str, &'a BTreeMap<String, String>)>,
    /// How the stack is known to be the factory's own, if it is.
    pub factory: Option<String>,
}

pub fn resolve(stack: &StackFacts<'_>, projects: &Projects, owner_label: &str) -> Owner {
    let project_owner = |p: &Project| {
        p.owner.clone().unwrap_or_else(|| match &p.repo {
            Some(r) => format!("{} ({r})", p.name),
            None => p.name.clone(),
        })
    };
    for p in &projects.list {
        if let Some(pat) = p.stacks.iter().find(|pat| glob(pat, stack.name)) {
            let source = format!("{} `[siblings]` stacks {}", code(&p.file), code(pat));
            return Owner { owner: project_owner(p), source };
        }
    }
    // A project's own compose project carries its name.
    if let Some(p) = projects.list.iter().find(|p| stack.kind == StackKind::Compose && p.name == stack.name) {
        let source = format!("{} `name` {}: the project's own compose project", code(&p.file), code(&p.name));
        return Owner { owner: project_owner(p), source };
    }
    // Container names only, matched exactly: a bare service name (`db`)
    // would claim every stack that happens to have a service of that name.
    // Within a stack the project already claims, its services are its own
    // anyway (above).
    for p in &projects.list {
        for (name, _, _) in &stack.containers {
            if p.containers.iter().any(|c| c == name) {
                let source = format!("{} `[services]` containers lists {}", code(&p.file), code(name));
                return Owner { owner: project_owner(p), source };
            }
        }
    }
    for (name, _, labels) in &stack.containers {
        if let Some(o) = labels.get(owner_label).filter(|o| !o.trim().is_empty()) {
            let source = format!("label {} on container {}", code(owner_label), code(name));
            return Owner { owner: o.clone(), source };
        }
    }
    for (name, labels) in &stack.volumes {
        if let Some(o) = labels.get(owner_label).filter(|o| !o.trim().is_empty()) {
            let source = format!("label {} on volume {}", code(owner_label), code(name));
            return Owner { owner: o.clone(), source };
        }
    }
    if let Some(how) = &stack.factory {
        return Owner { owner: "the factory".into(), source: how.clone() };
    }
    Owner { owner: "unowned".into(), source: "no project TOML or owner label claims it".into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(text: &str) -> Project {
        parse_project(text, Path::new("/factory/projects/harb.toml")).unwrap()
    }

    #[test]
    fn globs() {
        assert!(glob("harb", "harb"));
        assert!(!glob("harb", "harb-x"));
        assert!(glob("harb-*", "harb-indexer"));
        assert!(glob("*-db", "billing-db"));
        assert!(glob("a*b*c", "axxbyyc"));
        assert!(!glob("a*b*c", "axxc"));
    }

    #[test]
    fn order_is_siblings_then_services_then_labels_then_unowned() {
        let projects = Projects {
            list: vec![
                project(
                    "name = \"harb\"\nrepo = \"johba/harb\"\n[services]\ncontainers = [\"ponder\"]\n[siblings]\nstacks = [\"harb-*\"]\n",
                ),
                parse_project(
                    "name = \"kiln\"\n[siblings]\nstacks = [\"kiln\"]\nowner = \"ops-team\"\n",
                    Path::new("/p/kiln.toml"),
                )
                .unwrap(),
            ],
            errors: vec![],
        };
        let labels = BTreeMap::from([("com.disinto.owner".to_string(), "alice".to_string())]);
        let none = BTreeMap::new();
        let facts = |name: &'static str, container: &'static str, l: &'static BTreeMap<String, String>| StackFacts {
            kind: StackKind::Compose,
            name,
            containers: vec![(container, None, l)],
            volumes: vec![],
            factory: None,
        };
        let labels: &'static BTreeMap<String, String> = Box::leak(Box::new(labels));
        let none: &'static BTreeMap<String, String> = Box::leak(Box::new(none));

        let o = resolve(&facts("harb-indexer", "x", labels), &projects, "com.disinto.owner");
        assert_eq!(o.owner, "harb (johba/harb)");
        assert_eq!(o.source, "`projects/harb.toml` `[siblings]` stacks `harb-*`");

        let o = resolve(&facts("kiln", "k", none), &projects, "com.disinto.owner");
        assert_eq!(o.owner, "ops-team");

        let o = resolve(&facts("other", "ponder", none), &projects, "com.disinto.owner");
        assert_eq!(o.source, "`projects/harb.toml` `[services]` containers lists `ponder`");

        let o = resolve(&facts("other", "y", labels), &projects, "com.disinto.owner");
        assert_eq!((o.owner.as_str(), o.source.as_str()), ("alice", "label `com.disinto.owner` on container `y`"));

        let o = resolve(&facts("other", "y", none), &projects, "com.disinto.owner");
        assert_eq!(o.owner, "unowned");

        let mut factory = facts("disinto", "agent", none);
        factory.factory = Some("label `com.disinto.managed=true` on container `agent`".into());
        let o = resolve(&factory, &projects, "com.disinto.owner");
        assert_eq!(o.owner, "the factory");
    }

    #[test]
    fn a_bare_service_name_claims_nothing_but_the_projects_own_name_claims_its_compose_project() {
        let projects = Projects {
            list: vec![
                parse_project("name = \"proj-x\"\n[services]\ncontainers = [\"db\"]\n", Path::new("/p/proj-x.toml"))
                    .unwrap(),
                parse_project("name = \"ncharb\"\n", Path::new("/p/ncharb.toml")).unwrap(),
            ],
            errors: vec![],
        };
        let none: &'static BTreeMap<String, String> = Box::leak(Box::new(BTreeMap::new()));
        // Two unrelated stacks with a `db` service are not proj-x's.
        for stack in ["shop", "blog"] {
            let facts = StackFacts {
                kind: StackKind::Compose,
                name: stack,
                containers: vec![(Box::leak(format!("{stack}_db_1").into_boxed_str()), Some("db"), none)],
                volumes: vec![],
                factory: None,
            };
            assert_eq!(resolve(&facts, &projects, "o").owner, "unowned", "{stack}");
        }
        // A container named exactly `db` is.
        let facts = StackFacts {
            kind: StackKind::Standalone,
            name: "db",
            containers: vec![("db", None, none)],
            volumes: vec![],
            factory: None,
        };
        assert_eq!(resolve(&facts, &projects, "o").owner, "proj-x");
        // The project's own name claims the compose project of that name, and says so.
        let facts =
            StackFacts { kind: StackKind::Compose, name: "ncharb", containers: vec![], volumes: vec![], factory: None };
        let o = resolve(&facts, &projects, "o");
        assert_eq!(o.owner, "ncharb");
        assert_eq!(o.source, "`projects/ncharb.toml` `name` `ncharb`: the project's own compose project");
        // ...but not a standalone container that happens to share it.
        let facts = StackFacts {
            kind: StackKind::Standalone,
            name: "ncharb",
            containers: vec![],
            volumes: vec![],
            factory: None,
        };
        assert_eq!(resolve(&facts, &projects, "o").owner, "unowned");
    }

    #[test]
    fn a_broken_project_file_costs_only_its_own_claims() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("good.toml"), "name = \"good\"\n[siblings]\nstacks = [\"g\"]\n").unwrap();
        std::fs::write(dir.path().join("bad.toml"), "name = \"bad\"\n[siblings]\nstack = [\"b\"]\n").unwrap();
        let p = Projects::load(dir.path(), true).unwrap();
        assert_eq!(p.list.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), vec!["good"]);
        assert_eq!(p.errors.len(), 1, "{:?}", p.errors);
        let e = &p.errors[0];
        assert!(e.contains("bad.toml line 3") && e.contains("siblings.stack") && !e.contains('\n'), "{e}");
    }

    #[test]
    fn unknown_keys_elsewhere_are_ignored_but_siblings_typos_are_errors() {
        let p = project(
            "name = \"harb\"\nprimary_branch = \"master\"\n[monitoring]\ncheck_prs = true\n[services]\ncontainers = [\"a\"]\nports = [1]\n",
        );
        assert_eq!(p.containers, vec!["a"]);
        let err = parse_project("[siblings]\nstack = [\"harb\"]\n", Path::new("/p/harb.toml")).unwrap_err().to_string();
        assert!(err.contains("/p/harb.toml line 2") && err.contains("unknown field `stack`"), "{err}");
        let err = parse_project("[siblings]\nstacks = \"harb\"\n", Path::new("/p/harb.toml")).unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn missing_default_directory_is_empty_but_named_one_is_an_error() {
        assert!(Projects::load(Path::new("/nonexistent/projects"), false).unwrap().list.is_empty());
        assert!(Projects::load(Path::new("/nonexistent/projects"), true).is_err());
    }
}
