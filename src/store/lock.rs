//! One collect at a time per database.
//!
//! SQLite alone would serialize the writes, but two overlapping cron runs
//! would still both sample the engine and land two passes seconds apart,
//! doubling the load on a box that is already slow. An advisory lock on a
//! sidecar file makes the second run wait a bounded time, then step aside
//! with a clear message. The kernel drops the lock when the holder dies, so
//! a crashed run never leaves a stale lock behind. `File::try_lock` is
//! `flock` on Linux, the call earlier versions made themselves, so old and
//! new binaries still exclude each other.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// Another run holds the lock; the caller exits with status 75 (EX_TEMPFAIL).
#[derive(Debug)]
pub struct Busy(pub String);

impl std::fmt::Display for Busy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Busy {}

pub struct PassLock {
    _file: File,
}

/// `history.db` → `history.db.lock`.
pub fn lock_path(db: &Path) -> PathBuf {
    let mut s = db.as_os_str().to_owned();
    s.push(".lock");
    PathBuf::from(s)
}

pub fn acquire(db: &Path, wait: Duration) -> Result<PassLock> {
    let path = lock_path(db);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create database directory {}", dir.display()))?;
    }
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("cannot open lock file {} (is the directory writable?)", path.display()))?;
    let start = Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(TryLockError::WouldBlock) => {}
            Err(TryLockError::Error(err)) => {
                return Err(err).with_context(|| format!("cannot lock {}", path.display()));
            }
        }
        if start.elapsed() >= wait {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            let who = if holder.is_empty() { String::new() } else { format!(" (pid {holder})") };
            return Err(Busy(format!(
                "another stackwatch collect{who} still holds {} after {}s; this pass was skipped. \
                 If passes overlap often, collect less often or raise [database] lock_wait",
                path.display(),
                wait.as_secs()
            ))
            .into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // Best effort: the pid only makes the message above friendlier.
    let _ = file.set_len(0);
    let _ = file.rewind();
    let _ = write!(file, "{}", std::process::id());
    let _ = file.flush();
    Ok(PassLock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_waits_then_gives_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("h.db");
        let first = acquire(&db, Duration::ZERO).unwrap();
        let err = acquire(&db, Duration::from_millis(300)).err().unwrap().to_string();
        assert!(err.contains("still holds"), "{err}");
        assert!(err.contains(&format!("pid {}", std::process::id())), "{err}");
        drop(first);
        acquire(&db, Duration::ZERO).unwrap();
    }
}
