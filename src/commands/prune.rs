//! `stackwatch prune`: frees disk by removing only what the factory owns.
//! Dry run unless `--apply`; the plan and its application are in `prune`.

use std::io::Write;

use anyhow::{Result, bail};

use crate::cli::{Global, PruneArgs};
use crate::engine::DEFAULT_HOST;
use crate::prune;
use crate::signals;
use crate::{store, untrusted};

pub fn run(global: &Global, args: &PruneArgs) -> Result<()> {
    let super::Session { config, db } = super::Session::open(global)?;
    let (key, value) = config.labels.managed_pair();
    let label = format!("{key}={value}");
    if args.apply {
        if key.trim().is_empty() || value.trim().is_empty() {
            bail!(
                "refusing to --apply: the managed label `{}` has an empty key or value, which would match too much; \
                 set [labels] managed to `key=value` (default com.disinto.managed=true)",
                untrusted::line(&label, 120)
            );
        }
        // Removals are only made when they can be recorded.
        store::check_file(&db)?;
        store::check_writable(&db)?;
    }
    // One engine at a time: with several configured, say which.
    if args.docker_host.is_none() && config.docker.host.len() > 1 {
        anyhow::bail!(
            "[docker] host names {} engines; pick one with --docker-host (this command works on one engine at a time)",
            config.docker.host.len()
        );
    }
    let host = args.docker_host.clone().or(config.docker.host.first().cloned()).unwrap_or_else(|| DEFAULT_HOST.into());
    signals::install();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let mut out: Box<dyn Write> = if global.quiet { Box::new(std::io::sink()) } else { Box::new(std::io::stdout()) };
    let request = prune::apply::Request { apply: args.apply, volumes: args.volumes };
    runtime.block_on(prune::apply::run(&config, &host, &db, request, key, value, &mut out))
}
