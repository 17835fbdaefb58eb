//! Where the history lives when nobody says.

use std::path::PathBuf;

/// `--db`/`STACKWATCH_DB` (resolved by clap), else the config's
/// `[database] path`, else the default for this user.
pub fn database(cli: Option<PathBuf>, config: Option<PathBuf>) -> PathBuf {
    cli.or(config).unwrap_or_else(default_database)
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
