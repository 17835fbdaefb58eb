//! `stackwatch report`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::cli::{Format, Global, ReportArgs};
use crate::history;
use crate::history::owners::Projects;
use crate::report::outputs;
use crate::section::render::Renderer;
use crate::time::{Window, iso_utc, now_unix, parse_rfc3339};
use crate::{paths, store};

fn vault_dir(args: &ReportArgs) -> Option<PathBuf> {
    if args.no_vault {
        return None;
    }
    paths::vault_dir(args.vault.clone())
}

/// The marker a cleared vault item carries, followed by the time.
const CLEARED: &str = "\n## Cleared\n\nCleared as of ";

pub fn run(global: &Global, args: &ReportArgs) -> Result<()> {
    let super::Session { config, db } = super::Session::open(global)?;
    let window = args.window.clone().unwrap_or_else(|| Window::of(config.report.window));
    let pdir = paths::projects(args.projects.as_deref(), config.report.projects_dir.as_deref());
    let projects = Projects::load_from(pdir.as_ref())?;
    let renderer = Renderer::new(args.templates.as_deref())?;
    let vault = vault_dir(args);
    let knowledge = if args.no_knowledge { None } else { paths::knowledge_path(args.knowledge.clone()) };

    // Every output path is checked before any is written: a knowledge file
    // that cannot be written must not leave a vault half updated.
    if let Some(k) = &knowledge {
        outputs::check_knowledge(k).context("nothing was written; fix the path or point --knowledge elsewhere")?;
    }
    if let Some(v) = &vault {
        outputs::check_vault(v).context("nothing was written; fix the path or point --vault elsewhere")?;
    }

    let st = store::open_read_only(&db, config.database.busy_timeout)?;
    let history = st.reader()?;
    let mut rep = history::build(
        &history,
        &history::Request { window, now: now_unix(), config: &config, projects: &projects, vault: vault.is_some() },
    )?;

    // Render everything first, then write: a template error writes nothing.
    let mut items: Vec<(PathBuf, String)> = Vec::new();
    let mut clear: Vec<(PathBuf, String)> = Vec::new();
    if let Some(dir) = &vault {
        let existing = outputs::existing_vault_items(dir)?;
        let mut written: Vec<String> =
            rep.hosts.iter().flat_map(|h| h.findings.iter().filter_map(|f| f.vault_file.clone())).collect();
        written.sort();
        written.dedup();
        // Cleared times are the newest pass's, not the clock's: a rerun with
        // nothing new writes the same bytes.
        let as_of = rep.hosts.iter().filter_map(|h| parse_rfc3339(&h.as_of)).max().unwrap_or(0);
        let window_start = as_of - rep.window_seconds;
        // Findings still seen but no longer worth a vault item (below
        // `vault_min_priority`): their items close with another reason.
        let below: Vec<(String, &'static str)> = rep
            .hosts
            .iter()
            .flat_map(|h| h.findings.iter())
            .filter(|f| f.vault_file.is_none())
            .filter_map(|f| Some((f.vault_name.clone()?, f.priority)))
            .collect();
        let mut cleared = Vec::new();
        for name in existing.into_iter().filter(|e| !written.contains(e)) {
            let path = outputs::vault_path(dir, &name);
            let Ok(text) = std::fs::read_to_string(&path) else { continue };
            let since = match text.find(CLEARED) {
                Some(at) => {
                    let rest = &text[at + CLEARED.len()..];
                    parse_rfc3339(rest.split([' ', '\n']).next().unwrap_or(""))
                }
                None => {
                    let tier = below.iter().find(|(n, _)| *n == name).map(|(_, p)| *p);
                    clear.push((path, cleared_text(&text, as_of, tier, &config.report.vault_min_priority)));
                    Some(as_of)
                }
            };
            if since.is_some_and(|t| t >= window_start) {
                cleared.push(name);
            }
        }
        rep.vault.dir = Some(dir.display().to_string());
        rep.vault.cleared = cleared;
        rep.vault.written = written;
        for h in &rep.hosts {
            for f in &h.findings {
                if let Some(file) = &f.vault_file {
                    items.push((outputs::vault_path(dir, file), renderer.vault_item(&rep, h, f)?));
                }
            }
        }
    }
    let budget = (!args.full).then_some(config.report.budget_bytes);
    let section = renderer.section(&rep, config.report.top, budget)?;

    if let Some(dir) = &vault {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create vault directory {}", dir.display()))?;
    }
    for (path, text) in items.iter().chain(clear.iter()) {
        outputs::write_if_changed(path, text.as_bytes())?;
    }
    if let Some(path) = &knowledge {
        outputs::update_knowledge(path, &section)?;
    }
    let mut out = std::io::stdout().lock();
    let text = match args.format {
        Format::Markdown => section,
        // Names are inert already; paths and file names the operator chose
        // are not, and must not break a line either.
        Format::Json => crate::untrusted::json_escaped(&serde_json::to_string_pretty(&rep)?) + "\n",
        Format::Html => {
            let view = crate::dashboard::View {
                window: rep.window.clone(),
                window_seconds: rep.window_seconds,
                top: crate::dashboard::DEFAULT_TOP,
            };
            crate::dashboard::host_page_of(&history, &rep, &view, false)?.unwrap_or_default()
        }
    };
    // A closed pipe (`| head`) is not an error worth a message.
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r.context("cannot write the report to stdout"),
    }
}

/// A cleared item keeps what it said, with a `## Cleared` section saying
/// since when and why, so a human reading the file sees that it is over.
/// `tier`: the finding is still seen, at a priority below `minimum`.
fn cleared_text(text: &str, as_of: i64, tier: Option<&str>, minimum: &str) -> String {
    let why = match tier {
        None => "stackwatch no longer sees this finding. What it last saw is above".to_string(),
        Some(p) => format!(
            "the finding is still seen, but at {p}, below the vault's threshold ({minimum}): the report lists it, \
             and no approval is asked. What it saw when it asked is above"
        ),
    };
    format!(
        "{}\n{}{} (the newest pass): {why}; this file is left for a human to archive.\n",
        text.trim_end(),
        CLEARED,
        iso_utc(as_of)
    )
}
