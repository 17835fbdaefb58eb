//! SIGINT and SIGTERM without half-done work.
//!
//! A pass is one SQLite transaction, so even a hard kill cannot leave part
//! of it behind. What the default handlers lose is the explanation: cron
//! logs a bare "terminated". So the first signal only raises a flag; the code
//! checks it at safe points (between engine calls, between rows of the write
//! transaction, before each removal of a prune), rolls back what is not
//! committed, and exits non-zero with one line saying what was and was not
//! recorded. A second signal restores the default action and kills at once,
//! which is still safe for the database.
//!
//! signal-hook sets the flag inside the handler, so the synchronous write
//! sees it between rows without an async runtime running. Async waits use
//! tokio's signal streams, which share signal-hook's registry: both actions
//! run for each signal, in the order they were registered.

use std::sync::Once;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use signal_hook::consts::{SIGINT, SIGTERM};

/// Set by the first signal; from then on the next one takes the default action.
static ARMED: AtomicBool = AtomicBool::new(false);
/// The number of the last signal received, 0 for none.
static SIGNAL: AtomicUsize = AtomicUsize::new(0);

/// Catches SIGINT and SIGTERM for the rest of the process (once, however
/// often it is called).
pub fn install() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        for sig in [SIGINT, SIGTERM] {
            // The default action is registered first so that it sees the
            // flag as it was before this signal: only a second one kills.
            // Registration fails only for signals that cannot be caught; if
            // it ever did, the default action (death) is still safe for the
            // database, it only loses the one-line explanation.
            let _ = signal_hook::flag::register_conditional_default(sig, &ARMED);
            let _ = signal_hook::flag::register_usize(sig, &SIGNAL, sig as usize);
            let _ = signal_hook::flag::register(sig, &ARMED);
        }
    });
}

/// The signal received, if any.
pub fn pending() -> Option<i32> {
    match SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        s => i32::try_from(s).ok(),
    }
}

/// Resolves when SIGINT or SIGTERM arrives, or at once if one already has.
/// Must run inside a tokio runtime with its I/O driver enabled.
pub async fn arrived() -> i32 {
    use tokio::signal::unix::{SignalKind, signal};
    // The streams first, then the flag: a signal landing in between is seen
    // by one or the other.
    let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
        // No signal driver: the flag is still checked at the next safe point.
        return std::future::pending().await;
    };
    if let Some(s) = pending() {
        return s;
    }
    let sig = tokio::select! {
        _ = int.recv() => SIGINT,
        _ = term.recv() => SIGTERM,
    };
    pending().unwrap_or(sig)
}

pub fn name(sig: i32) -> &'static str {
    match sig {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}

/// The run stopped because of a signal; `main` exits with 128 + signal,
/// the shell convention (130 for SIGINT, 143 for SIGTERM).
#[derive(Debug)]
pub struct Interrupted {
    pub signal: i32,
    /// What was and was not done, for the one-line message.
    pub detail: String,
}

impl Interrupted {
    pub fn new(signal: i32, detail: impl Into<String>) -> Interrupted {
        Interrupted { signal, detail: detail.into() }
    }

    pub fn exit_code(&self) -> i32 {
        128 + self.signal
    }
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "interrupted by {}: {}", name(self.signal), self.detail)
    }
}

impl std::error::Error for Interrupted {}
