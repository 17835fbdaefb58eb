//! Where things live when nobody says (the history, the projects, the
//! knowledge file, the vault), and writing a file whole.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// `--db`/`STACKWATCH_DB` (resolved by clap), else the config's
/// `[database] path`, else the default for this user.
pub fn database(cli: Option<PathBuf>, config: Option<PathBuf>) -> PathBuf {
    cli.or(config).unwrap_or_else(default_database)
}

/// Project TOMLs for ownership: the given directory (its absence is then an
/// error), else `$FACTORY_ROOT/projects`, else the config's absolute
/// `[report] projects_dir` (either may be absent), else none at all. Never
/// relative to the current directory: cron and a shell in another directory
/// must name the same owners. Returns the directory and whether the user
/// named it on the command line.
pub fn projects(cli: Option<&Path>, config: Option<&Path>) -> Option<(PathBuf, bool)> {
    if let Some(p) = cli {
        return Some((p.to_path_buf(), true));
    }
    if let Some(root) = std::env::var_os("FACTORY_ROOT").filter(|v| !v.is_empty()) {
        return Some((PathBuf::from(root).join("projects"), false));
    }
    config.map(|p| (p.to_path_buf(), false))
}

/// Root: `/var/lib/stackwatch/history.db`, next to other system state.
/// Anyone else: `$XDG_STATE_HOME/stackwatch/history.db`, defaulting to
/// `~/.local/state/stackwatch/history.db` as the XDG spec says.
pub fn default_database() -> PathBuf {
    if rustix::process::geteuid().is_root() {
        return default_database_for_root();
    }
    let state = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(|| PathBuf::from("."));
    state.join("stackwatch/history.db")
}

pub fn default_database_for_root() -> PathBuf {
    PathBuf::from("/var/lib/stackwatch/history.db")
}

/// Why `path` could not be written (created, or replaced atomically) by this
/// user, or `None` when it can. The file, when it exists, must be writable;
/// so must the directory it is in (SQLite's `-wal`/`-shm` and our atomic
/// replacements create files next to it) or, when that does not exist yet,
/// the nearest existing ancestor, which must be a directory (a path under a
/// regular file cannot be created even by root).
pub fn unwritable(path: &std::path::Path) -> Option<String> {
    use std::path::Path;
    // access(2), not the mode bits: it answers for this user, with root's
    // override, ACLs and read-only mounts taken into account.
    let writable = |p: &Path| rustix::fs::access(p, rustix::fs::Access::WRITE_OK).is_ok();
    if path.is_dir() {
        return (!writable(path)).then(|| format!("{} is not writable by this user", path.display()));
    }
    if path.exists() && !writable(path) {
        return Some(format!("{} is not writable by this user", path.display()));
    }
    let mut dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf();
    while !dir.exists() {
        match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => dir = p.to_path_buf(),
            _ => break,
        }
    }
    if !dir.is_dir() {
        return Some(format!("{} is not a directory", dir.display()));
    }
    (!writable(&dir)).then(|| format!("{} is not writable by this user", dir.display()))
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from)
}

/// `--vault`, else `$OPS_VAULT_ROOT`, else `$OPS_REPO_ROOT/vault/pending`
/// (`report` writes there, `doctor` checks it).
pub fn vault_dir(explicit: Option<PathBuf>) -> Option<PathBuf> {
    explicit
        .or_else(|| env_path("OPS_VAULT_ROOT"))
        .or_else(|| env_path("OPS_REPO_ROOT").map(|r| r.join("vault/pending")))
}

/// `--knowledge`, else `$OPS_KNOWLEDGE_ROOT/sibling-stacks.md`, else
/// `$OPS_REPO_ROOT/knowledge/sibling-stacks.md` (`report` writes it, `doctor` checks it).
pub fn knowledge_path(explicit: Option<PathBuf>) -> Option<PathBuf> {
    explicit
        .or_else(|| env_path("OPS_KNOWLEDGE_ROOT").map(|d| d.join("sibling-stacks.md")))
        .or_else(|| env_path("OPS_REPO_ROOT").map(|r| r.join("knowledge/sibling-stacks.md")))
}

/// Writes `contents` to `path` through a temporary file in the same
/// directory and a rename, so a reader sees the old file or the new one,
/// never a half-written one (a full disk fails the write, not the file).
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
        if let Ok(meta) = std::fs::metadata(path) {
            // Keep the permissions the file already had.
            let _ = std::fs::set_permissions(&tmp, meta.permissions());
        }
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("cannot write {}", path.display()));
    }
    Ok(())
}
