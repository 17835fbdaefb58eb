//! Fault injection for the fault tests, and nothing else.
//!
//! Some faults (a signal while the pass is being written, the engine
//! restarting between two calls of a pass) need the process to be at a
//! known point when the test strikes. `STACKWATCH_FAULT_PAUSE=<stage>:<ms>`
//! makes the process announce `stackwatch: fault: paused at <stage>` on
//! stderr and sleep there. Unset (always, outside tests) it costs one
//! environment lookup per stage.

use std::time::Duration;

/// Where a pause can be asked for.
pub const WRITE: &str = "write";
pub const ENGINE: &str = "engine";
/// `collect`: binds are read and classified, no size measured yet.
pub const SIZES: &str = "sizes";
/// `prune --apply`: a removal's intent is recorded, the engine not yet asked.
pub const PRUNE_ASKING: &str = "prune-asking";
/// `prune --apply`: one tag of an image in several repositories is off.
pub const PRUNE_UNTAGGED: &str = "prune-untagged";
/// `prune --apply`: the engine answered a removal, not yet settled in the history.
pub const PRUNE_REMOVED: &str = "prune-removed";

fn requested(stage: &str) -> Option<Duration> {
    let v = std::env::var("STACKWATCH_FAULT_PAUSE").ok()?;
    let (s, ms) = v.split_once(':')?;
    (s == stage).then(|| ms.parse().ok().map(Duration::from_millis))?
}

fn announce(stage: &str) {
    eprintln!("stackwatch: fault: paused at {stage}");
}

/// Blocks the thread (the write transaction is synchronous).
pub fn pause(stage: &str) {
    if let Some(d) = requested(stage) {
        announce(stage);
        std::thread::sleep(d);
    }
}

/// For the engine phase, without blocking the runtime's timers.
pub async fn pause_async(stage: &str) {
    if let Some(d) = requested(stage) {
        announce(stage);
        tokio::time::sleep(d).await;
    }
}
