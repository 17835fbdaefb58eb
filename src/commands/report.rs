//! `stackwatch report`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::cli::{Format, Global, ReportArgs};
use crate::config::Config;
use crate::report::owners::Projects;
use crate::report::render::Renderer;
use crate::report::{self, outputs};
use crate::time::{format_duration, now_unix};
use crate::{paths, store};

fn vault_dir(args: &ReportArgs) -> Option<PathBuf> {
    if args.no_vault {
        return None;
    }
    default_vault_dir(args.vault.clone())
}

/// `--vault`, else `$OPS_VAULT_ROOT`, else `$OPS_REPO_ROOT/vault/pending`
/// (shared with `doctor`, which checks the same directory).
pub fn default_vault_dir(explicit: Option<PathBuf>) -> Option<PathBuf> {
    explicit.or_else(|| std::env::var_os("OPS_VAULT_ROOT").filter(|v| !v.is_empty()).map(PathBuf::from)).or_else(|| {
        std::env::var_os("OPS_REPO_ROOT").filter(|v| !v.is_empty()).map(|r| PathBuf::from(r).join("vault/pending"))
    })
}

pub fn run(global: &Global, args: &ReportArgs) -> Result<()> {
    let config = Config::load(global.config.as_deref())?;
    let (window, window_text) = match &args.window {
        Some((d, text)) => (*d, text.clone()),
        None => (config.report.window, format_duration(config.report.window)),
    };
    let (pdir, explicit) = paths::projects(args.projects.as_deref());
    let projects = Projects::load(&pdir, explicit)?;
    let renderer = Renderer::new(args.templates.as_deref())?;
    let vault = vault_dir(args);

    let db = paths::database(global.db.clone(), config.database.path.clone());
    let st = store::open_read_only(&db, config.database.busy_timeout)?;
    let mut rep = report::build(
        &st.conn,
        &report::Request {
            window_seconds: window.as_secs() as i64,
            window_text,
            now: now_unix(),
            config: &config,
            projects: &projects,
            vault: vault.is_some(),
        },
    )?;

    if let Some(dir) = &vault {
        let existing = outputs::existing_vault_items(dir)?;
        let mut written: Vec<String> =
            rep.hosts.iter().flat_map(|h| h.findings.iter().filter_map(|f| f.vault_file.clone())).collect();
        written.sort();
        written.dedup();
        rep.vault.dir = Some(dir.display().to_string());
        rep.vault.cleared = existing.into_iter().filter(|e| !written.contains(e)).collect();
        rep.vault.written = written;
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create vault directory {}", dir.display()))?;
        for h in &rep.hosts {
            for f in &h.findings {
                if let Some(file) = &f.vault_file {
                    let text = renderer.vault_item(&rep, h, f)?;
                    outputs::write_atomic(&outputs::vault_path(dir, file), text.as_bytes())?;
                }
            }
        }
    }

    let section = renderer.section(&rep, config.report.top)?;
    if let Some(path) = &args.knowledge {
        outputs::update_knowledge(path, &section)?;
    }
    let mut out = std::io::stdout().lock();
    let text = match args.format {
        Format::Markdown => section,
        // Names are inert already; paths and file names the operator chose
        // are not, and must not break a line either.
        Format::Json => crate::inert::json_escaped(&serde_json::to_string_pretty(&rep)?) + "\n",
    };
    // A closed pipe (`| head`) is not an error worth a message.
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r.context("cannot write the report to stdout"),
    }
}
