//! `stackwatch watch`: follows the engine's container events beside
//! `collect` (the follower is `collect::watch`).

use anyhow::Result;

use crate::cli::{Global, WatchArgs};
use crate::collect;
use crate::engine::DEFAULT_HOST;
use crate::store;

pub fn run(global: &Global, args: &WatchArgs) -> Result<()> {
    let super::Session { config, db } = super::Session::open(global)?;
    store::check_file(&db)?;
    store::check_writable(&db)?;
    let host = args
        .docker_host
        .clone()
        .or_else(|| config.docker.host.first().cloned())
        .filter(|h| !h.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_HOST.to_string());
    collect::watch::follow(&config, &db, &host, args.flush_every.duration(), global.quiet)
}
