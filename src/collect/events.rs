//! What happened between two passes: the container events the engine
//! still holds, and whether its bounded log still reached back to the
//! previous pass (when it does not, events may be missing, and the pass
//! says for which interval).

use std::collections::{BTreeMap, HashSet};

use bollard::models::{EventMessage, EventMessageTypeEnum};

use crate::engine::Engine;
use crate::model::snapshot::{ContainerEvent, EventGap, ObjectError, Snapshot};
use crate::model::stack;

/// The actions kept: what a restart loop, an OOM kill, a crashed job or
/// flapping health leaves behind. `exec_*`, `create`, `attach` and the
/// like only fill the history.
pub const ACTIONS: [&str; 7] = ["die", "oom", "kill", "start", "restart", "destroy", "health_status"];

/// Adds the events since `since` (Unix seconds, the start of this engine's
/// previous pass) to the snapshot, and marks containers with an `oom`
/// event as OOM-killed: engine 26.1, unlike 20.10, clears `OOMKilled` when
/// a container starts again. Events that cannot be read are an error of
/// this pass and a gap, not its end.
pub async fn since(engine: &Engine, snap: &mut Snapshot, since: i64) {
    let asked_ns = now_ns();
    match engine.events().await {
        Ok(messages) => {
            let (events, gap) = select(&messages, since.saturating_mul(1_000_000_000));
            apply(snap, events, gap);
        }
        Err(e) => {
            snap.errors.push(ObjectError { kind: "engine", name: "events".into(), message: format!("{e:#}") });
            let from_ns = since.saturating_mul(1_000_000_000);
            snap.event_gap = Some(EventGap { from_ns, to_ns: asked_ns, reason: "unreadable" });
        }
    }
}

pub fn now_ns() -> i64 {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

pub fn apply(snap: &mut Snapshot, events: Vec<ContainerEvent>, gap: Option<EventGap>) {
    let oom: HashSet<&str> = events.iter().filter(|e| e.oom).map(|e| e.container_id.as_str()).collect();
    for c in snap.containers.iter_mut().filter(|c| oom.contains(c.id.as_str())) {
        c.oom_killed = Some(true);
    }
    snap.events = events;
    snap.event_gap = gap;
}

/// The container events at or after `since_ns`, and the gap when the
/// engine's log (all of `messages`, of every type) no longer reaches back
/// to `since_ns`: its oldest event is later, so older ones were dropped. An
/// empty log has dropped nothing it could show.
pub fn select(messages: &[EventMessage], since_ns: i64) -> (Vec<ContainerEvent>, Option<EventGap>) {
    let oldest = messages.iter().filter_map(time_ns).min();
    let gap = oldest.filter(|o| *o > since_ns).map(|o| EventGap { from_ns: since_ns, to_ns: o, reason: "overflow" });
    let mut out: Vec<ContainerEvent> = messages
        .iter()
        .filter(|m| m.typ == Some(EventMessageTypeEnum::CONTAINER))
        .filter_map(|m| {
            let at_ns = time_ns(m).filter(|t| *t >= since_ns)?;
            container_event(m, at_ns)
        })
        .collect();
    out.sort_by(|a, b| (a.at_ns, &a.container_id).cmp(&(b.at_ns, &b.container_id)));
    // The engine can send one event twice (an identical copy); stored once.
    out.dedup_by(|a, b| a.at_ns == b.at_ns && a.container_id == b.container_id && a.action == b.action);
    (out, gap)
}

/// When an engine event happened, in Unix nanoseconds: from its seconds
/// when it carries no nanoseconds.
pub fn time_ns(m: &EventMessage) -> Option<i64> {
    m.time_nano.or_else(|| m.time.map(|t| t.saturating_mul(1_000_000_000)))
}

/// One engine event as a stored container event, when it is one we keep.
pub fn container_event(m: &EventMessage, at_ns: i64) -> Option<ContainerEvent> {
    let raw = m.action.as_deref()?;
    // `health_status: healthy`; `exec_start: sh -c ...` is not kept.
    let (action, detail) = match raw.split_once(':') {
        Some((a, d)) => (a.trim(), Some(d.trim())),
        None => (raw.trim(), None),
    };
    if !ACTIONS.contains(&action) {
        return None;
    }
    let actor = m.actor.as_ref()?;
    let container_id = actor.id.clone().filter(|id| !id.is_empty())?;
    // A container event's attributes are its labels plus name, image,
    // exitCode (die) and signal (kill).
    let attrs: BTreeMap<String, String> =
        actor.attributes.iter().flatten().map(|(k, v)| (k.clone(), v.clone())).collect();
    let name = attrs
        .get("name")
        .map(|n| stack::clean_name(n).to_string())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| container_id.chars().take(12).collect());
    let (key, service) = stack::identify(&name, &attrs);
    Some(ContainerEvent {
        at_ns,
        name,
        stack: Some(key),
        service,
        action: action.to_string(),
        health: (action == "health_status").then(|| detail.unwrap_or("").to_string()).filter(|h| !h.is_empty()),
        exit_code: attrs.get("exitCode").and_then(|c| c.trim().parse().ok()),
        signal: attrs.get("signal").map(|s| s.trim().to_string()).filter(|s| !s.is_empty()),
        oom: action == "oom",
        container_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::EventActor;
    use std::collections::HashMap;

    fn msg(typ: EventMessageTypeEnum, action: &str, id: &str, at_ns: i64, attrs: &[(&str, &str)]) -> EventMessage {
        EventMessage {
            typ: Some(typ),
            action: Some(action.into()),
            actor: Some(EventActor {
                id: Some(id.into()),
                attributes: Some(attrs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<HashMap<_, _>>()),
            }),
            scope: None,
            time: Some(at_ns / 1_000_000_000),
            time_nano: Some(at_ns),
        }
    }

    const S: i64 = 1_000_000_000;

    #[test]
    fn keeps_the_container_actions_that_matter_with_their_details() {
        use EventMessageTypeEnum::{CONTAINER, NETWORK};
        let labels =
            [("com.docker.compose.project", "harb"), ("com.docker.compose.service", "web"), ("name", "harb-web-1")];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut v = labels.to_vec();
            v.extend_from_slice(extra);
            v
        };
        let msgs = vec![
            msg(CONTAINER, "start", "c1", 100 * S, &labels),
            msg(CONTAINER, "exec_start: sh -c true", "c1", 101 * S, &labels),
            msg(CONTAINER, "health_status: unhealthy", "c1", 102 * S + 5, &labels),
            msg(CONTAINER, "oom", "c1", 103 * S, &labels),
            msg(CONTAINER, "kill", "c1", 103 * S + 1, &with(&[("signal", "9")])),
            msg(CONTAINER, "die", "c1", 103 * S + 2, &with(&[("exitCode", "137")])),
            msg(NETWORK, "disconnect", "n1", 103 * S + 3, &[]),
        ];
        let (events, gap) = select(&msgs, 100 * S);
        assert_eq!(gap, None, "the log reaches back to the previous pass");
        let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["start", "health_status", "oom", "kill", "die"]);
        let e = &events[1];
        assert_eq!((e.health.as_deref(), e.at_ns), (Some("unhealthy"), 102 * S + 5));
        assert_eq!(e.stack.as_ref().unwrap().name, "harb");
        assert_eq!(e.service.as_deref(), Some("web"));
        assert_eq!(e.name, "harb-web-1");
        assert!(events[2].oom && !events[4].oom);
        assert_eq!(events[3].signal.as_deref(), Some("9"));
        assert_eq!(events[4].exit_code, Some(137));
    }

    #[test]
    fn a_log_that_no_longer_reaches_the_previous_pass_is_a_gap_up_to_its_oldest_event() {
        use EventMessageTypeEnum::{CONTAINER, IMAGE};
        let msgs = vec![
            msg(IMAGE, "pull", "busybox", 150 * S, &[]),
            msg(CONTAINER, "die", "c1", 160 * S, &[("name", "job"), ("exitCode", "3")]),
        ];
        let (events, gap) = select(&msgs, 100 * S);
        assert_eq!(gap, Some(EventGap { from_ns: 100 * S, to_ns: 150 * S, reason: "overflow" }));
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].stack.as_ref().unwrap().name, "job", "a standalone container is its own stack");
        // Older events than the previous pass: no gap, and they are not
        // this pass's (the previous pass stored them).
        let msgs = vec![msg(CONTAINER, "die", "c0", 90 * S, &[]), msgs[1].clone()];
        let (events, gap) = select(&msgs, 100 * S);
        assert_eq!((events.len(), gap), (1, None));
        assert_eq!(select(&[], 100 * S), (vec![], None));
    }

    #[test]
    fn an_event_without_nanoseconds_is_timed_by_its_seconds() {
        let m = msg(EventMessageTypeEnum::CONTAINER, "die", "c1", 160 * S + 7, &[]);
        assert_eq!(time_ns(&m), Some(160 * S + 7));
        assert_eq!(time_ns(&EventMessage { time_nano: None, ..m.clone() }), Some(160 * S));
        assert_eq!(time_ns(&EventMessage { time_nano: None, time: None, ..m }), None);
    }
}
