//! `stackwatch serve`: the HTTP server of [`crate::serve`] on the
//! history, until SIGTERM.

use anyhow::Result;

use crate::cli::{Global, ServeArgs};
use crate::{paths, serve};

pub fn run(global: &Global, args: &ServeArgs) -> Result<()> {
    let super::Session { config, db } = super::Session::open(global)?;
    let projects = paths::projects(args.projects.as_deref(), config.report.projects_dir.as_deref());
    serve::run(serve::Serving {
        config,
        db,
        projects,
        listen: args.listen,
        max_age: args.max_age.duration(),
        quiet: global.quiet,
    })
}
