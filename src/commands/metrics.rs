//! `stackwatch metrics`.

use std::io::Write;

use anyhow::{Context, Result};

use crate::cli::{Global, MetricsArgs};
use crate::history::owners::Projects;
use crate::metrics::{self, exposition};
use crate::paths::write_atomic;
use crate::{paths, store};

pub fn run(global: &Global, args: &MetricsArgs) -> Result<()> {
    let super::Session { config, db } = super::Session::open(global)?;
    let pdir = paths::projects(args.projects.as_deref(), config.report.projects_dir.as_deref());
    let projects = Projects::load_from(pdir.as_ref())?;
    let st = store::open_read_only(&db, config.database.busy_timeout)?;
    let families = metrics::build(&st.reader()?, &config, &projects)?;
    let format = if args.openmetrics { exposition::Format::OpenMetrics } else { exposition::Format::Prometheus };
    let text = exposition::render(&families, format);
    match &args.output {
        Some(path) => write_atomic(path, text.as_bytes()),
        None => {
            let mut out = std::io::stdout().lock();
            match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                r => r.context("cannot write the metrics to stdout"),
            }
        }
    }
}
