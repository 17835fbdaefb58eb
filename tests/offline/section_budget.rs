//! The default markdown fits `[report] budget_bytes` on a generated box of
//! 200 stacks, findings first and by priority, with a line counting what it
//! left out; `--full` keeps everything.

use crate::generated_box;

use std::time::Duration;

use stackwatch::config::Config;
use stackwatch::history::owners::Projects;
use stackwatch::history::{self, Request};
use stackwatch::section::render::Renderer;
use stackwatch::store::{self};

fn report(stacks: usize) -> stackwatch::history::model::Report {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.db");
    let mut st = store::open_for_write(&path, Duration::from_secs(5)).unwrap();
    for s in generated_box::passes(stacks) {
        st.insert_pass(&s).unwrap();
    }
    drop(st);
    let st = store::open_read_only(&path, Duration::from_secs(5)).unwrap();
    let config = Config::default();
    history::build(
        &st.reader().unwrap(),
        &Request {
            window: stackwatch::time::Window { seconds: generated_box::DAY, text: "24h".into() },
            now: generated_box::T0 + generated_box::DAY,
            config: &config,
            projects: &Projects::default(),
            vault: true,
        },
    )
    .unwrap()
}

#[test]
fn the_section_stays_within_its_budget_on_a_box_of_200_stacks() {
    let r = report(200);
    let renderer = Renderer::new(None).unwrap();
    let budget = Config::default().report.budget_bytes;
    let full = renderer.section(&r, 10, None).unwrap();
    let md = renderer.section(&r, 10, Some(budget)).unwrap();
    assert!(full.len() > 4 * budget, "the generated box is big enough to need a budget: {} bytes", full.len());
    assert!(md.len() <= budget, "{} bytes over a budget of {budget}:\n{md}", md.len());

    // Findings come first and by priority; what was left out is counted.
    let tiers: Vec<&str> = md.lines().filter_map(|l| l.strip_prefix("- **P").map(|rest| &rest[..1])).collect();
    assert!(!tiers.is_empty(), "{md}");
    let mut sorted = tiers.clone();
    sorted.sort();
    assert_eq!(tiers, sorted, "{md}");
    let findings = md.find("**Findings**").unwrap();
    assert!(findings < md.find("**Growth by stack**").unwrap() && findings < md.find("| stack |").unwrap());
    let host = &r.hosts[0];
    let shown = tiers.len();
    let left = md
        .lines()
        .find_map(|l| l.strip_prefix("- and ").and_then(|r| r.split(' ').next()?.parse::<usize>().ok()))
        .unwrap_or(0);
    assert!(left > 0, "200 stacks' findings do not fit 4 kB: {md}");
    assert_eq!(shown + left, host.findings.len(), "every finding is shown or counted:\n{md}");
    assert!(
        md.contains("more stacks (") && md.contains("`--full` lists every stack"),
        "one line counts the stacks left out of the table:\n{md}"
    );
    // No 4 kB one-off in the growth list or the table.
    assert!(!md.contains("oneoff-task-"), "{md}");

    // --full keeps every finding and every stack; JSON comes from the same data.
    for f in &host.findings {
        assert!(full.contains(&f.summary), "{}", f.summary);
    }
    assert_eq!(full.lines().filter(|l| l.starts_with("| `")).count(), host.stacks.len());
}

#[test]
fn a_small_box_is_shown_whole_within_the_budget() {
    let r = report(10);
    let renderer = Renderer::new(None).unwrap();
    let md = renderer.section(&r, 10, Some(4096)).unwrap();
    assert!(md.len() <= 4096, "{}", md.len());
    assert!(!md.contains("more finding"), "every finding fits: {md}");
    for f in &r.hosts[0].findings {
        assert!(md.contains(&f.summary), "{}", f.summary);
    }
}
