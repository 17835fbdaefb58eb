//! Where the history lives when nobody says.

use std::path::{Path, PathBuf};

/// `--db`/`STACKWATCH_DB` (resolved by clap), else the config's
/// `[database] path`, else the default for this user.
pub fn database(cli: Option<PathBuf>, config: Option<PathBuf>) -> PathBuf {
    cli.or(config).unwrap_or_else(default_database)
}

/// Project TOMLs for ownership: the given directory (its absence is then an
/// error), else `$FACTORY_ROOT/projects`, else `./projects` (either may be
/// absent). Returns the directory and whether the user named it.
pub fn projects(cli: Option<&Path>) -> (PathBuf, bool) {
    match cli {
        Some(p) => (p.to_path_buf(), true),
        None => match std::env::var_os("FACTORY_ROOT").filter(|v| !v.is_empty()) {
            Some(root) => (PathBuf::from(root).join("projects"), false),
            None => (PathBuf::from("projects"), false),
        },
    }
}

/// Root: `/var/lib/stackwatch/history.db`, next to other system state.
/// Anyone else: `$XDG_STATE_HOME/stackwatch/history.db`, defaulting to
/// `~/.local/state/stackwatch/history.db` as the XDG spec says.
pub fn default_database() -> PathBuf {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
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
