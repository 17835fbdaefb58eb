//! `stackwatch mcp`.

use anyhow::{Context as _, Result};

use crate::cli::{Global, McpArgs};
use crate::mcp::{self};
use crate::paths;

pub fn run(global: &Global, args: &McpArgs) -> Result<()> {
    let super::Session { config, db } = super::Session::open(global)?;
    let projects = paths::projects(args.projects.as_deref(), config.report.projects_dir.as_deref());
    let schema_at_start = crate::store::applied_schema_version(&db);
    let cx = mcp::Context { db, config, projects, schema_at_start };
    // One thread is plenty for one client; the answers run on tokio's
    // blocking pool.
    let rt =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the async runtime")?;
    rt.block_on(mcp::serve(cx))
}
