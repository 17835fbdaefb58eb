//! Markdown through minijinja templates, with inert output by default.
//!
//! The formatter turns every plain string a template prints into an inert
//! code span ([`md::code`]); only values a template marks `|safe` (our own
//! sentences, already built from inert names) pass through. An overriding
//! template that forgets about escaping is therefore still safe.

use std::path::Path;

use anyhow::{Context, Result};
use minijinja::value::{Serde, ValueKind};
use minijinja::{AutoEscape, Environment, Value, context};

use crate::history::model::{Finding, HostReport, Report};
use crate::untrusted::markdown as md;

pub const SECTION: &str = "sibling-stacks.md.j2";
pub const VAULT_ITEM: &str = "vault-item.md.j2";

const EMBEDDED: [(&str, &str); 2] = [
    (SECTION, include_str!("../../templates/sibling-stacks.md.j2")),
    (VAULT_ITEM, include_str!("../../templates/vault-item.md.j2")),
];

pub struct Renderer {
    env: Environment<'static>,
}

impl Renderer {
    /// Embedded templates, each replaced by a file of the same name in
    /// `overrides` when there is one.
    pub fn new(overrides: Option<&Path>) -> Result<Renderer> {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|_| AutoEscape::Custom("markdown".into()));
        env.set_formatter(|out, _state, value| {
            let text = if value.is_none() || value.is_undefined() {
                String::new()
            } else if value.is_safe() {
                value.to_string()
            } else if let Some(s) = value.as_str() {
                md::code(s)
            } else if matches!(value.kind(), ValueKind::Number | ValueKind::Bool) {
                value.to_string()
            } else {
                // Lists and maps print their strings raw: make the whole inert.
                md::code(&value.to_string())
            };
            out.write_str(&text).map_err(|e| minijinja::Error::new(minijinja::ErrorKind::WriteFailure, e.to_string()))
        });
        // A longer inert line than a code span's 80 characters, for
        // messages that must stay whole (project file errors).
        env.add_filter("long", |value: String| Value::from_safe_string(md::code_long(&value, 300)));
        for (name, embedded) in EMBEDDED {
            let source = match overrides.map(|d| d.join(name)) {
                Some(path) if path.exists() => std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read template {}", path.display()))?,
                _ => embedded.to_string(),
            };
            env.add_template_owned(name, source).map_err(|e| anyhow::anyhow!("template {name} does not parse: {e}"))?;
        }
        Ok(Renderer { env })
    }

    /// The section; with a budget, the budgeted view (README "Reporting"):
    /// lines are left out, least important first, until it fits or only
    /// P1 and P2 findings and a few rows are left.
    pub fn section(&self, report: &Report, top: usize, budget: Option<usize>) -> Result<String> {
        let Some(budget) = budget else {
            return self.render_section(report, top);
        };
        let mut r = report.clone();
        for h in &mut r.hosts {
            super::budget::start(h, top);
        }
        loop {
            let text = self.render_section(&r, top)?;
            if text.len() <= budget {
                return Ok(text);
            }
            // Most lines are under 400 bytes: cutting one per 400 bytes over
            // the budget rarely cuts more than needed, and a 50 kB section
            // takes a few rounds rather than hundreds.
            let cuts = ((text.len() - budget) / 400).max(1);
            if !(0..cuts).all(|_| super::budget::step(&mut r.hosts)) {
                return self.render_section(&r, top);
            }
        }
    }

    fn render_section(&self, report: &Report, top: usize) -> Result<String> {
        let t = self.env.get_template(SECTION)?;
        let text = t
            .render(context! { report => Value::from(Serde(report)), top => top })
            .map_err(|e| anyhow::anyhow!("cannot render {SECTION}: {e}"))?;
        Ok(text.trim_end().to_string() + "\n")
    }

    pub fn vault_item(&self, report: &Report, host: &HostReport, finding: &Finding) -> Result<String> {
        let t = self.env.get_template(VAULT_ITEM)?;
        t.render(context! {
            report => Value::from(Serde(report)),
            host => Value::from(Serde(host)),
            finding => Value::from(Serde(finding)),
        })
        .map(|t| t.trim_end().to_string() + "\n")
        .map_err(|e| anyhow::anyhow!("cannot render {VAULT_ITEM}: {e}"))
    }
}
