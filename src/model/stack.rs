//! Which stack a container belongs to, from its labels alone.
//!
//! Orchestrators label what they start; the labels are the only portable
//! truth (names are mangled differently by compose v1, v2, swarm and Nomad).
//! A container no orchestrator claims is its own standalone stack, named
//! after the container, so every container is attributed somewhere.

use std::collections::BTreeMap;

use crate::model::snapshot::{StackKey, StackKind};

pub const COMPOSE_PROJECT: &str = "com.docker.compose.project";
pub const COMPOSE_SERVICE: &str = "com.docker.compose.service";
pub const COMPOSE_WORKING_DIR: &str = "com.docker.compose.project.working_dir";
pub const COMPOSE_CONFIG_FILES: &str = "com.docker.compose.project.config_files";
pub const SWARM_NAMESPACE: &str = "com.docker.stack.namespace";
pub const SWARM_SERVICE: &str = "com.docker.swarm.service.name";
pub const NOMAD_JOB: &str = "com.hashicorp.nomad.job_name";
pub const NOMAD_TASK: &str = "com.hashicorp.nomad.task_name";

/// The stack and service of a container.
pub fn identify(name: &str, labels: &BTreeMap<String, String>) -> (StackKey, Option<String>) {
    let label = |k: &str| labels.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    if let Some(project) = label(COMPOSE_PROJECT) {
        let service = label(COMPOSE_SERVICE).map(str::to_string).or_else(|| service_from_name(project, name));
        return (key(StackKind::Compose, project), service);
    }
    if let Some(ns) = label(SWARM_NAMESPACE) {
        // Swarm names the service "<stack>_<service>".
        let service = label(SWARM_SERVICE).map(|s| s.strip_prefix(&format!("{ns}_")).unwrap_or(s).to_string());
        return (key(StackKind::Swarm, ns), service);
    }
    if let Some(job) = label(NOMAD_JOB) {
        return (key(StackKind::Nomad, job), label(NOMAD_TASK).map(str::to_string));
    }
    (key(StackKind::Standalone, name), None)
}

fn key(kind: StackKind, name: &str) -> StackKey {
    StackKey { kind, name: name.to_string() }
}

/// The service part of a compose container name, for containers whose
/// service label is missing: v1 names them `<project>_<service>_<n>`, v2
/// `<project>-<service>-<n>`.
pub fn service_from_name(project: &str, name: &str) -> Option<String> {
    let rest = name.strip_prefix(project).and_then(|r| r.strip_prefix('_').or_else(|| r.strip_prefix('-')))?;
    let (service, number) = rest.rsplit_once(['_', '-'])?;
    if service.is_empty() || number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(service.to_string())
}

/// The label the engine puts first in a container's name list has a
/// leading slash; people never type it.
pub fn clean_name(raw: &str) -> &str {
    raw.strip_prefix('/').unwrap_or(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn compose_project_label_wins_over_the_name() {
        let l = labels(&[(COMPOSE_PROJECT, "harb"), (COMPOSE_SERVICE, "anvil")]);
        let (stack, service) = identify("something-else", &l);
        assert_eq!(stack, key(StackKind::Compose, "harb"));
        assert_eq!(service.as_deref(), Some("anvil"));
    }

    #[test]
    fn compose_v1_and_v2_names_give_the_service_when_the_label_is_missing() {
        let l = labels(&[(COMPOSE_PROJECT, "harb")]);
        assert_eq!(identify("harb_anvil_1", &l).1.as_deref(), Some("anvil"));
        assert_eq!(identify("harb-anvil-1", &l).1.as_deref(), Some("anvil"));
        assert_eq!(identify("harb-ponder-db-12", &l).1.as_deref(), Some("ponder-db"));
        assert_eq!(identify("harb-anvil", &l).1, None);
        assert_eq!(identify("other_anvil_1", &l).1, None);
    }

    #[test]
    fn swarm_service_loses_its_stack_prefix() {
        let l = labels(&[(SWARM_NAMESPACE, "web"), (SWARM_SERVICE, "web_nginx")]);
        let (stack, service) = identify("web_nginx.1.abc", &l);
        assert_eq!(stack, key(StackKind::Swarm, "web"));
        assert_eq!(service.as_deref(), Some("nginx"));
    }

    #[test]
    fn nomad_job_is_the_stack_and_task_the_service() {
        let l = labels(&[(NOMAD_JOB, "billing"), (NOMAD_TASK, "api")]);
        assert_eq!(identify("api-1234", &l), (key(StackKind::Nomad, "billing"), Some("api".into())));
    }

    #[test]
    fn unlabelled_container_is_its_own_standalone_stack() {
        let (stack, service) = identify("scratchpad", &labels(&[("a", "b")]));
        assert_eq!(stack, key(StackKind::Standalone, "scratchpad"));
        assert_eq!(service, None);
    }

    #[test]
    fn blank_labels_do_not_claim_a_container() {
        let l = labels(&[(COMPOSE_PROJECT, "  "), (NOMAD_JOB, "j")]);
        assert_eq!(identify("x", &l).0, key(StackKind::Nomad, "j"));
    }

    #[test]
    fn leading_slash_is_dropped() {
        assert_eq!(clean_name("/harb-anvil-1"), "harb-anvil-1");
        assert_eq!(clean_name("plain"), "plain");
    }
}
