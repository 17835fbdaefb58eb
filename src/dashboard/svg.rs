//! A small SVG writer for the dashboard's charts: stacked areas and lines
//! over a time axis, with a `<title>` on every area and point so hovering
//! shows the value and time without JavaScript. Our own rather than a
//! charting crate: the charts need a few dozen lines of path arithmetic,
//! and every string that reaches the SVG goes through [`esc`] here.

use std::fmt::Write;

use crate::model::units;
use crate::time::iso_utc;

/// Text for HTML and SVG, element content and attribute values alike: made
/// an inert line first (no control or bidi characters), then escaped.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in crate::untrusted::line(s, 300).chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// One series: a name and a value per time of the chart (None: not seen
/// in that pass, drawn as zero in a stack).
pub struct Series {
    pub name: String,
    /// Where the series' name links to, if anywhere.
    pub href: Option<String>,
    pub values: Vec<Option<i64>>,
}

/// A horizontal or moving reference line drawn over the areas (the
/// filesystem's capacity, its used bytes).
pub struct Line {
    pub name: String,
    pub values: Vec<Option<i64>>,
    pub dashed: bool,
}

/// A moment on the time axis (a container's restart, OOM kill, health
/// change), drawn as a thin vertical line whose `<title>` says what.
pub struct Mark {
    pub at: i64,
    pub what: String,
}

const W: f64 = 960.0;
const H: f64 = 320.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;
const COLORS: [&str; 10] =
    ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];

pub fn color(i: usize) -> &'static str {
    COLORS[i % COLORS.len()]
}

/// Stacked areas of `series` (first at the bottom) over `times` (unix
/// seconds, ascending), with `lines` drawn on top when they fit the scale.
/// `title` labels the chart for screen readers and tests. `marks` inside
/// the time range are drawn over everything.
pub fn stacked(title: &str, times: &[i64], series: &[Series], lines: &[Line], marks: &[Mark]) -> String {
    let mut out = String::new();
    let n = times.len();
    let mut tops = vec![0i64; n];
    let mut layers: Vec<(Vec<i64>, Vec<i64>)> = Vec::new();
    for s in series {
        let bottom = tops.clone();
        for (t, v) in tops.iter_mut().zip(&s.values) {
            *t += v.unwrap_or(0).max(0);
        }
        layers.push((bottom, tops.clone()));
    }
    let stack_max = tops.iter().copied().max().unwrap_or(0);
    // A reference line far above the areas would flatten them to nothing:
    // it is drawn only when it is within twice the stacked maximum.
    let drawn: Vec<&Line> = lines
        .iter()
        .filter(|l| l.values.iter().flatten().all(|v| stack_max > 0 && *v <= stack_max.saturating_mul(2)))
        .collect();
    let ymax = nice_ceiling(drawn.iter().flat_map(|l| l.values.iter().flatten().copied()).fold(stack_max, i64::max));
    let (t0, t1) = (times.first().copied().unwrap_or(0), times.last().copied().unwrap_or(0));
    let x = |t: i64| {
        if t1 > t0 { LEFT + (t - t0) as f64 / (t1 - t0) as f64 * (W - LEFT - RIGHT) } else { W - RIGHT }
    };
    let y = |v: i64| TOP + (1.0 - v as f64 / ymax as f64) * (H - TOP - BOTTOM);
    let _ = write!(
        out,
        r#"<svg class="chart" role="img" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" data-ymax="{ymax}" data-t0="{t0}" data-t1="{t1}"><title>{}</title>"#,
        esc(title)
    );
    // Axes: four value ticks and the two ends of the time axis.
    for i in 0..=4 {
        let v = ymax * i / 4;
        let _ = write!(
            out,
            r##"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text class="ytick" x="{}" y="{:.1}" text-anchor="end" font-size="11">{}</text>"##,
            W - RIGHT,
            LEFT - 6.0,
            y(v) + 4.0,
            esc(&units::bytes(v)),
            y = y(v)
        );
    }
    if n > 0 {
        let _ = write!(
            out,
            r#"<text class="xtick" x="{LEFT}" y="{}" font-size="11">{}</text><text class="xtick" x="{}" y="{}" font-size="11" text-anchor="end">{}</text>"#,
            H - 8.0,
            iso_utc(t0),
            W - RIGHT,
            H - 8.0,
            iso_utc(t1)
        );
    }
    for (i, (s, (bottom, top))) in series.iter().zip(&layers).enumerate() {
        let mut d = String::new();
        for (k, t) in times.iter().enumerate() {
            let _ = write!(d, "{}{:.1},{:.1}", if k == 0 { "M" } else { "L" }, x(*t), y(top[k]));
        }
        for (k, t) in times.iter().enumerate().rev() {
            let _ = write!(d, "L{:.1},{:.1}", x(*t), y(bottom[k]));
        }
        let last = s.values.iter().rev().flatten().next().copied();
        let _ = write!(
            out,
            r#"<g class="series" data-series="{}"><path d="{d}Z" fill="{}" fill-opacity="0.85"><title>{}: {}</title></path>"#,
            esc(&s.name),
            color(i),
            esc(&s.name),
            esc(&units::maybe_bytes(last))
        );
        for (k, t) in times.iter().enumerate() {
            if let Some(v) = s.values[k] {
                let _ = write!(
                    out,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="2" fill="{}"><title>{} {}: {}</title></circle>"#,
                    x(*t),
                    y(top[k]),
                    color(i),
                    iso_utc(*t),
                    esc(&s.name),
                    esc(&units::bytes(v))
                );
            }
        }
        out.push_str("</g>");
    }
    for l in drawn {
        let mut d = String::new();
        let mut pen = false;
        for (k, t) in times.iter().enumerate() {
            match l.values[k] {
                Some(v) => {
                    let _ = write!(d, "{}{:.1},{:.1}", if pen { "L" } else { "M" }, x(*t), y(v));
                    pen = true;
                }
                None => pen = false,
            }
        }
        let last = l.values.iter().rev().flatten().next().copied();
        let _ = write!(
            out,
            r##"<path class="refline" d="{d}" fill="none" stroke="#222" stroke-width="1.5"{}><title>{}: {}</title></path>"##,
            if l.dashed { r#" stroke-dasharray="6 4""# } else { "" },
            esc(&l.name),
            esc(&units::maybe_bytes(last))
        );
    }
    for m in marks.iter().filter(|m| n > 0 && (t0..=t1).contains(&m.at)) {
        let _ = write!(
            out,
            r##"<line class="event" x1="{x:.1}" x2="{x:.1}" y1="{TOP}" y2="{}" stroke="#c00" stroke-width="1.5"><title>{} {}</title></line>"##,
            H - BOTTOM,
            iso_utc(m.at),
            esc(&m.what),
            x = x(m.at)
        );
    }
    out.push_str("</svg>");
    out
}

/// The top of the value axis: the smallest 1, 2, 4, 5 or 8 times a power
/// of ten (at least 1 kB) that holds `max`, so the four ticks read round.
fn nice_ceiling(max: i64) -> i64 {
    let mut step = 1_000i64;
    loop {
        for m in [1, 2, 4, 5, 8] {
            if step.saturating_mul(m) >= max {
                return step.saturating_mul(m);
            }
        }
        if step > i64::MAX / 10 {
            return i64::MAX;
        }
        step *= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped_in_svg_text_and_attributes() {
        let s = Series { name: "<script>x\"'&\n".into(), href: None, values: vec![Some(1), Some(2)] };
        let mark = Mark { at: 30, what: "<script>die".into() };
        let svg = stacked("t", &[0, 60], &[s], &[], &[mark]);
        assert!(!svg.contains("<script"), "{svg}");
        assert!(svg.contains("&lt;script&gt;die</title>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;x&quot;&#39;&amp;?"), "{svg}");
    }

    #[test]
    fn areas_stack_and_the_scale_fits_the_top() {
        let a = Series { name: "a".into(), href: None, values: vec![Some(100), Some(300)] };
        let b = Series { name: "b".into(), href: None, values: vec![Some(50), None] };
        let svg = stacked("t", &[0, 60], &[a, b], &[], &[]);
        assert_eq!(svg.matches(r#"<g class="series""#).count(), 2);
        // 300 B of data: the axis ends at the smallest round top, 1 kB.
        assert!(svg.contains(r#"data-ymax="1000""#), "{svg}");
        // A capacity line far above the data is left out, one near it kept.
        let a = || Series { name: "a".into(), href: None, values: vec![Some(100_000), Some(300_000)] };
        let far = Line { name: "capacity".into(), values: vec![Some(10_000_000), Some(10_000_000)], dashed: true };
        assert!(!stacked("t", &[0, 60], &[a()], &[far], &[]).contains("refline"));
        let near = Line { name: "capacity".into(), values: vec![Some(500_000), Some(500_000)], dashed: true };
        let svg = stacked("t", &[0, 60], &[a()], &[near], &[]);
        assert!(svg.contains("refline") && svg.contains(r#"data-ymax="500000""#), "{svg}");
        assert!(svg.contains(">250 kB</text>"), "round ticks: {svg}");
    }
}
