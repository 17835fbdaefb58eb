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

use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

static SIGNAL: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: libc::c_int) {
    if SIGNAL.swap(sig, Ordering::SeqCst) != 0 {
        // SAFETY: signal() and raise() are async-signal-safe.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
            libc::raise(sig);
        }
    }
}

/// Catches SIGINT and SIGTERM for the rest of the process.
pub fn install() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: a zeroed sigaction with a plain handler is valid; the
        // handler only touches an atomic and async-signal-safe calls.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// The signal received, if any.
pub fn pending() -> Option<i32> {
    match SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// Resolves when a signal arrives (polled: cheap, and needs no extra runtime feature).
pub async fn arrived() -> i32 {
    loop {
        if let Some(s) = pending() {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn name(sig: i32) -> &'static str {
    match sig {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
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
