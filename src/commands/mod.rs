//! One module per subcommand: the arguments in, one call into the module
//! that does the job, and what to print (how a command words its own
//! output stays here, so `collect`'s summary and `report`'s outputs are the
//! longest). Every command opens the same way ([`Session`]).

pub mod collect;
pub mod compact;
pub mod doctor;
pub mod mcp;
pub mod metrics;
pub mod prune;
pub mod report;
pub mod serve;
pub mod sql;
pub mod watch;

use std::path::PathBuf;

use anyhow::Result;

use crate::cli::Global;
use crate::config::Config;
use crate::paths;

/// What every command starts from: the settings, and the database they and
/// the command line point at.
pub struct Session {
    pub config: Config,
    /// `--db` / `STACKWATCH_DB`, else `[database] path`, else the default.
    pub db: PathBuf,
}

impl Session {
    pub fn open(global: &Global) -> Result<Session> {
        let config = Config::load(global.config.as_deref())?;
        let db = paths::database(global.db.clone(), config.database.path.clone());
        Ok(Session { config, db })
    }
}
