//! The default markdown fits a byte budget: it is pasted into a prompt
//! every time the supervisor runs. Findings come first, by priority; then
//! the top growing stacks; then a table of the stacks that matter (a
//! finding, a change worth listing, or among the largest), with one line
//! counting the rest. When that is still too long, the least important
//! lines go first: quiet stacks' rows, smaller growers, P4 findings, then
//! P3 ones. P1 and P2 findings are never left out. `--full` and JSON keep
//! everything.

use std::collections::BTreeSet;

use crate::history::model::{HostReport, Omitted};
use crate::model::units;

/// Changes smaller than this are not "growth worth listing" (a new 4 kB
/// container is not news in a prompt).
pub const MIN_CHANGE: i64 = 1_000_000;
/// The largest stacks keep their rows whatever else happens to them.
pub const LARGEST: usize = 5;
/// Floors before findings are given up.
const KEEP_ROWS: usize = 3;
const KEEP_GROWERS: usize = 3;

fn worth(delta: Option<i64>) -> bool {
    delta.is_some_and(|d| d.abs() >= MIN_CHANGE)
}

fn finding_stacks(h: &HostReport) -> BTreeSet<(String, String)> {
    h.findings.iter().filter_map(|f| Some((f.stack_kind.clone()?, f.stack.clone()?))).collect()
}

/// The budgeted view of one host, before any cutting: every finding, the
/// `top` largest changes worth listing, the stacks that matter.
pub fn start(h: &mut HostReport, top: usize) {
    let mut omitted = Omitted::default();
    let changed = h.growth.stacks.iter().filter(|g| g.change != "unchanged" && g.delta_bytes.is_some()).count();
    h.growth.stacks.retain(|g| g.change != "unchanged" && worth(g.delta_bytes));
    h.growth.stacks.truncate(top);
    omitted.growers = changed - h.growth.stacks.len();
    h.growth.containers.clear();
    h.growth.volumes.clear();

    let flagged = finding_stacks(h);
    let mut largest: Vec<(Option<i64>, String, String)> =
        h.stacks.iter().map(|s| (s.disk_bytes, s.kind.clone(), s.name.clone())).collect();
    largest.sort_by_key(|s| std::cmp::Reverse(s.0));
    let largest: BTreeSet<(String, String)> = largest.into_iter().take(LARGEST).map(|(_, k, n)| (k, n)).collect();
    let all = std::mem::take(&mut h.stacks);
    let mut left_bytes = 0;
    for s in all {
        let key = (s.kind.clone(), s.name.clone());
        if flagged.contains(&key)
            || largest.contains(&key)
            || worth(s.growth_bytes)
            || s.change == "new" && worth(s.disk_bytes)
        {
            h.stacks.push(s);
        } else {
            omitted.stacks += 1;
            left_bytes += s.disk_bytes.unwrap_or(0);
        }
    }
    omitted.stacks_total_bytes = left_bytes;
    omitted.stacks_bytes = units::bytes(left_bytes);
    h.omitted = Some(omitted);
}

/// Leaves out one more line; false when nothing more may go.
pub fn step(hosts: &mut [HostReport]) -> bool {
    // The host with the most lines gives first.
    let mut order: Vec<usize> = (0..hosts.len()).collect();
    order.sort_by_key(|&i| {
        std::cmp::Reverse(hosts[i].stacks.len() + hosts[i].growth.stacks.len() + hosts[i].findings.len())
    });
    let cuts: [&dyn Fn(&mut HostReport) -> bool; 6] = [
        &|h| drop_row(h, KEEP_ROWS, true),
        &|h| drop_grower(h, KEEP_GROWERS),
        &|h| drop_finding(h, "P4"),
        &|h| drop_row(h, 0, false),
        &|h| drop_grower(h, 0),
        &|h| drop_finding(h, "P3"),
    ];
    for cut in cuts {
        for &i in &order {
            if cut(&mut hosts[i]) {
                return true;
            }
        }
    }
    false
}

fn omitted(h: &mut HostReport) -> &mut Omitted {
    h.omitted.get_or_insert_with(Omitted::default)
}

/// Drops the smallest row above `keep` (only rows without a finding when
/// `quiet_only`).
fn drop_row(h: &mut HostReport, keep: usize, quiet_only: bool) -> bool {
    if h.stacks.len() <= keep {
        return false;
    }
    let flagged = finding_stacks(h);
    let Some(i) = h.stacks.iter().rposition(|s| !quiet_only || !flagged.contains(&(s.kind.clone(), s.name.clone())))
    else {
        return false;
    };
    let s = h.stacks.remove(i);
    let o = omitted(h);
    o.stacks += 1;
    o.stacks_total_bytes += s.disk_bytes.unwrap_or(0);
    o.stacks_bytes = units::bytes(o.stacks_total_bytes);
    true
}

fn drop_grower(h: &mut HostReport, keep: usize) -> bool {
    if h.growth.stacks.len() <= keep {
        return false;
    }
    h.growth.stacks.pop();
    omitted(h).growers += 1;
    true
}

fn drop_finding(h: &mut HostReport, tier: &str) -> bool {
    let Some(i) = h.findings.iter().rposition(|f| f.priority == tier) else {
        return false;
    };
    h.findings.remove(i);
    let o = omitted(h);
    o.findings += 1;
    *o.by_tier.entry(tier.to_string()).or_default() += 1;
    let parts: Vec<String> = o.by_tier.iter().map(|(t, n)| format!("{n} {t}")).collect();
    o.findings_text = format!(
        "and {} more finding{} ({}) left out to fit the section's size; `stackwatch report --full` lists them",
        o.findings,
        if o.findings == 1 { "" } else { "s" },
        parts.join(", ")
    );
    true
}
