//! `stackwatch doctor`: one line per check, `ok`, `warn` or `FAIL`, each
//! failure with its fix; the exit status is 0 only when nothing failed.

use std::io::Write;

use anyhow::{Result, bail};

use crate::cli::{DoctorArgs, Global};
use crate::doctor::{self, Status};
use crate::untrusted;

pub fn run(global: &Global, args: &DoctorArgs) -> Result<()> {
    let checks = doctor::check(&doctor::Request {
        config: global.config.clone(),
        db: global.db.clone(),
        docker_host: args.docker_host.clone(),
        projects: args.projects.clone(),
        knowledge: args.knowledge.clone(),
        vault: args.vault.clone(),
    })?;
    let mut out = std::io::stdout().lock();
    for c in &checks {
        let status = match c.status {
            Status::Ok => "ok  ",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        };
        writeln!(out, "{status}  {}: {}", c.name, untrusted::line(&c.text, 1000))?;
    }
    let failed = checks.iter().filter(|c| c.status == Status::Fail).count();
    let warned = checks.iter().filter(|c| c.status == Status::Warn).count();
    if failed > 0 {
        out.flush()?;
        bail!("{failed} of {} checks failed; each FAIL line above says how to fix it", checks.len());
    }
    writeln!(
        out,
        "all {} checks passed{}",
        checks.len(),
        if warned > 0 { format!(" ({warned} with a warning)") } else { String::new() }
    )?;
    Ok(())
}
