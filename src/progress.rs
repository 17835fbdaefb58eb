//! Progress on a terminal, silence under cron.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicUsize, Ordering};

pub struct Progress {
    enabled: bool,
    done: AtomicUsize,
}

impl Progress {
    /// Shown only when stderr is a terminal and the user did not ask for quiet.
    pub fn new(quiet: bool) -> Progress {
        Progress { enabled: !quiet && std::io::stderr().is_terminal(), done: AtomicUsize::new(0) }
    }

    pub fn hidden() -> Progress {
        Progress { enabled: false, done: AtomicUsize::new(0) }
    }

    pub fn tick(&self, total: usize, what: &str) {
        let n = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        if self.enabled {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K{what} {n}/{total}");
            let _ = err.flush();
        }
    }

    pub fn finish(&self) {
        if self.enabled && self.done.load(Ordering::Relaxed) > 0 {
            let _ = write!(std::io::stderr().lock(), "\r\x1b[2K");
        }
    }
}
