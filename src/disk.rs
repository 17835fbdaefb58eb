//! What the local disk holds: a filesystem's usage and mount point, as
//! `df` reads them ([`fs_usage`], [`filesystem_of`]), and a directory
//! tree's usage, walked the way `du` does it ([`usage`]).
//!
//! The walk is faster than the engine's own accounting, and has a deadline.
//!
//! Why not `system df`: the engine walks every file of every volume and
//! writable layer on each call, single-threaded, and on big hosts that takes
//! minutes while holding the daemon busy. Walking from the collector costs
//! the daemon nothing, runs on several threads, and can stop at a deadline.
//!
//! Rules, as `du -s -x` applies them: allocated blocks (not apparent sizes),
//! each hard-linked inode counted once, and never descending into another
//! filesystem (a bind mount or a nested volume is someone else's space).
//! A caller can also name directories inside the tree to leave out: a
//! bind-mounted path nested in another is measured on its own, and counting
//! it again in the outer one would count its bytes twice.

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::model::snapshot::FsUsage;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub bytes: i64,
    pub files: u64,
}

#[derive(Debug, PartialEq, Eq)]
pub enum WalkError {
    /// The deadline passed before the walk finished; `files` were seen.
    OutOfTime { files: u64 },
    /// The root itself could not be read.
    Unreadable(String),
}

struct Shared {
    dev: u64,
    deadline: Instant,
    out_of_time: AtomicBool,
    files: AtomicU64,
    /// Directories waiting to be walked; workers take from the end.
    queue: Mutex<Vec<PathBuf>>,
    /// Workers currently walking a directory (so an empty queue is not yet "done").
    busy: AtomicU64,
    /// Files and directories not counted (nor entered), as paths below `root`.
    excluded: HashSet<PathBuf>,
}

/// Walks `root` with up to `threads` threads, giving up at `deadline`.
pub fn usage(root: &Path, threads: usize, deadline: Instant) -> Result<Usage, WalkError> {
    usage_excluding(root, threads, deadline, HashSet::new())
}

/// [`usage`], leaving out the files and directories in `excluded` (paths spelled as
/// `root` joined with their relative path) and everything below them.
pub fn usage_excluding(
    root: &Path,
    threads: usize,
    deadline: Instant,
    excluded: HashSet<PathBuf>,
) -> Result<Usage, WalkError> {
    let meta =
        std::fs::symlink_metadata(root).map_err(|e| WalkError::Unreadable(format!("{}: {e}", root.display())))?;
    if !meta.is_dir() {
        return Ok(Usage { bytes: allocated(&meta), files: 1 });
    }
    let shared = Arc::new(Shared {
        dev: meta.dev(),
        deadline,
        out_of_time: AtomicBool::new(false),
        files: AtomicU64::new(0),
        queue: Mutex::new(vec![root.to_path_buf()]),
        busy: AtomicU64::new(0),
        excluded,
    });
    let root_bytes = allocated(&meta);
    let threads = threads.max(1);
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let s = Arc::clone(&shared);
            std::thread::spawn(move || worker(&s))
        })
        .collect();
    let mut singles = root_bytes;
    let mut linked: HashMap<(u64, u64), i64> = HashMap::new();
    for h in handles {
        let (bytes, links) = h.join().unwrap_or_default();
        singles += bytes;
        linked.extend(links);
    }
    let files = shared.files.load(Ordering::Relaxed);
    if shared.out_of_time.load(Ordering::Relaxed) {
        return Err(WalkError::OutOfTime { files });
    }
    Ok(Usage { bytes: singles + linked.values().sum::<i64>(), files })
}

type Partial = (i64, HashMap<(u64, u64), i64>);

fn worker(s: &Shared) -> Partial {
    let mut bytes = 0i64;
    let mut linked: HashMap<(u64, u64), i64> = HashMap::new();
    let mut ticks = 0u32;
    loop {
        let dir = {
            let mut q = s.queue.lock().unwrap_or_else(|p| p.into_inner());
            match q.pop() {
                Some(d) => {
                    s.busy.fetch_add(1, Ordering::AcqRel);
                    Some(d)
                }
                None => None,
            }
        };
        let Some(dir) = dir else {
            if s.busy.load(Ordering::Acquire) == 0 || s.out_of_time.load(Ordering::Relaxed) {
                return (bytes, linked);
            }
            std::thread::sleep(std::time::Duration::from_micros(200));
            continue;
        };
        let mut subdirs = Vec::new();
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries.flatten() {
                ticks = ticks.wrapping_add(1);
                if ticks.is_multiple_of(1024) && Instant::now() >= s.deadline {
                    s.out_of_time.store(true, Ordering::Relaxed);
                    break;
                }
                // DirEntry::metadata is an fstatat on the open directory: no
                // path lookup per file.
                let Ok(m) = entry.metadata() else { continue };
                if m.dev() != s.dev {
                    continue;
                }
                if !s.excluded.is_empty() && s.excluded.contains(&entry.path()) {
                    continue;
                }
                s.files.fetch_add(1, Ordering::Relaxed);
                if m.is_dir() {
                    bytes += allocated(&m);
                    subdirs.push(entry.path());
                } else if m.nlink() > 1 {
                    linked.insert((m.dev(), m.ino()), allocated(&m));
                } else {
                    bytes += allocated(&m);
                }
            }
        }
        if !subdirs.is_empty() && !s.out_of_time.load(Ordering::Relaxed) {
            s.queue.lock().unwrap_or_else(|p| p.into_inner()).extend(subdirs);
        }
        s.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

fn allocated(m: &std::fs::Metadata) -> i64 {
    (m.blocks() as i64) * 512
}

/// Threads worth using: the cores there are, at most 8 (the disk, not the
/// CPU, is the limit beyond that).
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).clamp(1, 8)
}

/// Used/total/free of the filesystem holding `path`, as `df` computes them.
pub fn fs_usage(path: &Path) -> Option<FsUsage> {
    let vfs = rustix::fs::statvfs(path).ok()?;
    let frsize = vfs.f_frsize as i64;
    let total = vfs.f_blocks as i64 * frsize;
    let free_all = vfs.f_bfree as i64 * frsize;
    Some(FsUsage { total_bytes: total, used_bytes: total - free_all, free_bytes: vfs.f_bavail as i64 * frsize })
}

/// The filesystem holding `path`: its device number and mount point (the
/// highest ancestor on the same device), with its usage.
pub fn filesystem_of(path: &Path) -> Option<(u64, String, FsUsage)> {
    let dev = std::fs::metadata(path).ok()?.dev();
    let mut top = if path.is_dir() { path } else { path.parent()? };
    while let Some(parent) = top.parent() {
        match std::fs::metadata(parent) {
            Ok(m) if m.dev() == dev => top = parent,
            _ => break,
        }
    }
    Some((dev, top.display().to_string(), fs_usage(path)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_path_and_its_mount_point_share_one_filesystem() {
        let dir = tempfile::tempdir().unwrap();
        let (dev, mount, usage) = filesystem_of(dir.path()).unwrap();
        let (dev2, mount2, _) = filesystem_of(Path::new(&mount)).unwrap();
        assert_eq!((dev, &mount), (dev2, &mount2), "the mount point is its own filesystem's mount point");
        assert!(dir.path().starts_with(&mount));
        assert!(usage.total_bytes > 0);
        assert_eq!(filesystem_of(Path::new("/nonexistent/x")), None);
    }

    #[test]
    fn fs_usage_of_a_real_directory_is_consistent() {
        let f = fs_usage(Path::new("/")).unwrap();
        assert!(f.total_bytes > 0 && f.used_bytes <= f.total_bytes && f.free_bytes <= f.total_bytes);
        assert_eq!(fs_usage(Path::new("/nonexistent/path")), None);
    }

    fn du(path: &Path) -> i64 {
        let out = std::process::Command::new("du").args(["-s", "-x", "-B1"]).arg(path).output().unwrap();
        String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap().parse().unwrap()
    }

    #[test]
    fn agrees_with_du_and_counts_hard_links_once() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for d in 0..5 {
            let sub = root.join(format!("d{d}/deeper"));
            std::fs::create_dir_all(&sub).unwrap();
            for f in 0..40 {
                std::fs::write(sub.join(format!("f{f}")), vec![b'x'; 1000 * (f + 1)]).unwrap();
            }
        }
        std::fs::write(root.join("big"), vec![b'y'; 3_000_000]).unwrap();
        let before = usage(root, 4, Instant::now() + Duration::from_secs(30)).unwrap();
        std::fs::hard_link(root.join("big"), root.join("d0/big-again")).unwrap();
        std::fs::hard_link(root.join("big"), root.join("d3/deeper/big-thrice")).unwrap();
        let after = usage(root, 4, Instant::now() + Duration::from_secs(30)).unwrap();
        assert_eq!(after.bytes, before.bytes, "hard links add no bytes");
        assert_eq!(after.bytes, du(root), "same answer as du -s -x");
        assert_eq!(after.files, before.files + 2);
        let single = usage(root, 1, Instant::now() + Duration::from_secs(30)).unwrap();
        assert_eq!(single, after, "thread count does not change the answer");
    }

    #[test]
    fn a_passed_deadline_stops_the_walk_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        for f in 0..3000 {
            std::fs::write(dir.path().join(format!("f{f}")), b"x").unwrap();
        }
        let r = usage(dir.path(), 2, Instant::now());
        assert!(matches!(r, Err(WalkError::OutOfTime { .. })), "{r:?}");
    }

    #[test]
    fn an_excluded_directory_is_neither_entered_nor_counted() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("inner/deep")).unwrap();
        std::fs::write(root.join("outer-file"), vec![b'o'; 200_000]).unwrap();
        std::fs::write(root.join("inner/deep/f"), vec![b'i'; 700_000]).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let whole = usage(root, 2, deadline).unwrap();
        let inner = usage(&root.join("inner"), 2, deadline).unwrap();
        let outer = usage_excluding(root, 2, deadline, HashSet::from([root.join("inner")])).unwrap();
        assert_eq!(outer.bytes + inner.bytes, whole.bytes, "the two parts add up to the whole, nothing twice");
        assert!(outer.bytes < 400_000 && inner.bytes >= 700_000, "{outer:?} {inner:?}");
    }

    #[test]
    fn missing_root_is_an_error_not_zero() {
        assert!(matches!(usage(Path::new("/nonexistent/x"), 1, Instant::now()), Err(WalkError::Unreadable(_))));
    }
}
