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
    /// How the series is computed, when its name does not say (hover text
    /// and legend).
    pub note: Option<String>,
    /// A colour of its own rather than the palette's next (grey for what is
    /// not attributed, so it never reads as one more stack).
    pub color: Option<&'static str>,
}

impl Series {
    pub fn new(name: impl Into<String>, values: Vec<Option<i64>>) -> Series {
        Series { name: name.into(), href: None, values, note: None, color: None }
    }

    /// Its colour as the `i`th series of a chart.
    pub fn color(&self, i: usize) -> &'static str {
        self.color.unwrap_or_else(|| color(i))
    }
}

/// The colour of what no stack accounts for.
pub const GREY: &str = "#bbbbbb";

/// A reference line drawn over the areas (the filesystem's capacity).
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

/// A dashed segment from the newest point into the future: where the
/// filesystem's used bytes go at the current growth rate. The time axis
/// extends to its end.
pub struct Projection {
    /// (unix seconds, value) where it starts: the newest point.
    pub from: (i64, i64),
    /// (unix seconds, value) where it ends.
    pub to: (i64, i64),
    pub what: String,
}

/// What a chart's values count: bytes, or CPU in thousandths of a core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Bytes,
    Millicores,
}

impl Unit {
    pub fn text(self, v: i64) -> String {
        match self {
            Unit::Bytes => units::bytes(v),
            Unit::Millicores => units::cores(v),
        }
    }

    /// The lowest top of the value axis: 1 kB, or a tenth of a core (an
    /// idle stack's CPU would be a flat line under a whole core). Each is a
    /// multiple of 4 units, so the quarter ticks are exact.
    fn least_top(self) -> i64 {
        match self {
            Unit::Bytes => 1_000,
            Unit::Millicores => 100,
        }
    }

    pub fn maybe(self, v: Option<i64>) -> String {
        v.map(|v| self.text(v)).unwrap_or_else(|| "?".to_string())
    }
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

/// One chart: stacked areas of `series` (first at the bottom) over `times`
/// (unix seconds, ascending), with reference `lines`, event `marks` and a
/// fill `projection` drawn over them. `title` labels the chart for screen
/// readers and tests.
pub struct Chart<'a> {
    pub title: &'a str,
    pub unit: Unit,
    pub times: &'a [i64],
    pub series: &'a [Series],
    pub lines: &'a [Line],
    pub marks: &'a [Mark],
    pub projection: Option<&'a Projection>,
}

impl<'a> Chart<'a> {
    pub fn new(title: &'a str, times: &'a [i64], series: &'a [Series]) -> Chart<'a> {
        Chart { title, unit: Unit::Bytes, times, series, lines: &[], marks: &[], projection: None }
    }
}

/// A chart with the defaults of [`Chart::new`] and these lines and marks.
pub fn stacked(title: &str, times: &[i64], series: &[Series], lines: &[Line], marks: &[Mark]) -> String {
    draw(&Chart { lines, marks, ..Chart::new(title, times, series) })
}

pub fn draw(c: &Chart<'_>) -> String {
    let (times, series, unit) = (c.times, c.series, c.unit);
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
    // Every reference line is drawn, the capacity too: a disk chart that
    // left it out would hide how full the disk is.
    let ymax = nice_ceiling(
        c.lines
            .iter()
            .flat_map(|l| l.values.iter().flatten().copied())
            .chain(c.projection.map(|p| p.to.1.max(p.from.1)))
            .fold(stack_max, i64::max),
        unit.least_top(),
    );
    let (t0, newest) = (times.first().copied().unwrap_or(0), times.last().copied().unwrap_or(0));
    let t1 = c.projection.map_or(newest, |p| p.to.0.max(newest));
    let x = |t: i64| {
        if t1 > t0 { LEFT + (t - t0) as f64 / (t1 - t0) as f64 * (W - LEFT - RIGHT) } else { W - RIGHT }
    };
    let y = |v: i64| TOP + (1.0 - v as f64 / ymax as f64) * (H - TOP - BOTTOM);
    let _ = write!(
        out,
        r#"<svg class="chart" role="img" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" data-unit="{}" data-ymax="{ymax}" data-t0="{t0}" data-t1="{t1}"><title>{}</title>"#,
        match unit {
            Unit::Bytes => "bytes",
            Unit::Millicores => "millicores",
        },
        esc(c.title)
    );
    // Axes: four value ticks and the two ends of the time axis (and the
    // newest point, when a projection runs past it).
    for i in 0..=4 {
        let v = ymax * i / 4;
        let _ = write!(
            out,
            r##"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text class="ytick" x="{}" y="{:.1}" text-anchor="end" font-size="11">{}</text>"##,
            W - RIGHT,
            LEFT - 6.0,
            y(v) + 4.0,
            esc(&unit.text(v)),
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
        if t1 > newest {
            let _ = write!(
                out,
                r##"<line x1="{x:.1}" x2="{x:.1}" y1="{TOP}" y2="{}" stroke="#999"/><text class="xtick" x="{x:.1}" y="{}" font-size="11" text-anchor="end">{}</text>"##,
                H - BOTTOM,
                H - 8.0,
                iso_utc(newest),
                x = x(newest)
            );
        }
    }
    for (i, (s, (bottom, top))) in series.iter().zip(&layers).enumerate() {
        let mut d = String::new();
        for (k, t) in times.iter().enumerate() {
            let _ = write!(d, "{}{:.1},{:.1}", if k == 0 { "M" } else { "L" }, x(*t), y(top[k]));
        }
        for (k, t) in times.iter().enumerate().rev() {
            let _ = write!(d, "L{:.1},{:.1}", x(*t), y(bottom[k]));
        }
        let last = newest_known(times, &s.values);
        let note = s.note.as_deref().map(|n| format!(" ({})", esc(n))).unwrap_or_default();
        let _ = write!(
            out,
            r#"<g class="series" data-series="{}" data-last="{}"><path d="{d}Z" fill="{}" fill-opacity="0.85"><title>{}: {} at {}{note}</title></path>"#,
            esc(&s.name),
            last.map(|(_, v)| v.to_string()).unwrap_or_default(),
            s.color(i),
            esc(&s.name),
            esc(&unit.maybe(last.map(|(_, v)| v))),
            last.map(|(t, _)| iso_utc(t)).unwrap_or_default()
        );
        for (k, t) in times.iter().enumerate() {
            if let Some(v) = s.values[k] {
                let _ = write!(
                    out,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="2" fill="{}"><title>{} {}: {}</title></circle>"#,
                    x(*t),
                    y(top[k]),
                    s.color(i),
                    iso_utc(*t),
                    esc(&s.name),
                    esc(&unit.text(v))
                );
            }
        }
        out.push_str("</g>");
    }
    for l in c.lines {
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
        let last = newest_known(times, &l.values);
        let _ = write!(
            out,
            r##"<path class="refline" data-line="{}" data-last="{}" d="{d}" fill="none" stroke="#222" stroke-width="1.5"{}><title>{}: {} at {}</title></path>"##,
            esc(&l.name),
            last.map(|(_, v)| v.to_string()).unwrap_or_default(),
            if l.dashed { r#" stroke-dasharray="6 4""# } else { "" },
            esc(&l.name),
            esc(&unit.maybe(last.map(|(_, v)| v))),
            last.map(|(t, _)| iso_utc(t)).unwrap_or_default()
        );
    }
    if let Some(p) = c.projection.filter(|_| n > 0) {
        let _ = write!(
            out,
            r##"<path class="projection" data-from-t="{}" data-from-v="{}" data-to-t="{}" data-to-v="{}" d="M{:.1},{:.1}L{:.1},{:.1}" fill="none" stroke="#b00" stroke-width="2" stroke-dasharray="4 3"><title>{}: {} at {}</title></path>"##,
            p.from.0,
            p.from.1,
            p.to.0,
            p.to.1,
            x(p.from.0),
            y(p.from.1),
            x(p.to.0),
            y(p.to.1),
            esc(&p.what),
            esc(&unit.text(p.to.1)),
            iso_utc(p.to.0)
        );
    }
    for m in c.marks.iter().filter(|m| n > 0 && (t0..=newest).contains(&m.at)) {
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

/// The newest known value of a series and its time.
fn newest_known(times: &[i64], values: &[Option<i64>]) -> Option<(i64, i64)> {
    times.iter().zip(values).rev().find_map(|(t, v)| Some((*t, (*v)?)))
}

/// The top of the value axis: the smallest 1, 2, 4, 5 or 8 times a power
/// of ten (at least `least`, itself a power of ten) that holds `max`, so
/// the four ticks read round.
fn nice_ceiling(max: i64, least: i64) -> i64 {
    let mut step = least;
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
        let s = Series::new("<script>x\"'&\n", vec![Some(1), Some(2)]);
        let mark = Mark { at: 30, what: "<script>die".into() };
        let svg = stacked("t", &[0, 60], &[s], &[], &[mark]);
        assert!(!svg.contains("<script"), "{svg}");
        assert!(svg.contains("&lt;script&gt;die</title>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;x&quot;&#39;&amp;?"), "{svg}");
    }

    #[test]
    fn areas_stack_and_the_scale_fits_the_top() {
        let a = Series::new("a", vec![Some(100), Some(300)]);
        let b = Series::new("b", vec![Some(50), None]);
        let svg = stacked("t", &[0, 60], &[a, b], &[], &[]);
        assert_eq!(svg.matches(r#"<g class="series""#).count(), 2);
        // 300 B of data: the axis ends at the smallest round top, 1 kB.
        assert!(svg.contains(r#"data-ymax="1000""#), "{svg}");
        assert!(svg.contains(r#"data-series="a" data-last="300""#), "{svg}");
        // A capacity line is drawn however far above the data, and the axis
        // holds it.
        let a = || Series::new("a", vec![Some(100_000), Some(300_000)]);
        let far = Line { name: "capacity".into(), values: vec![Some(10_000_000), Some(10_000_000)], dashed: true };
        let svg = stacked("t", &[0, 60], &[a()], &[far], &[]);
        assert!(svg.contains("refline") && svg.contains(r#"data-ymax="10000000""#), "{svg}");
        let near = Line { name: "capacity".into(), values: vec![Some(500_000), Some(500_000)], dashed: true };
        let svg = stacked("t", &[0, 60], &[a()], &[near], &[]);
        assert!(svg.contains("refline") && svg.contains(r#"data-ymax="500000""#), "{svg}");
        assert!(svg.contains(">250 kB</text>"), "round ticks in SI units: {svg}");
        assert!(svg.contains("<title>capacity: 500 kB at 1970-01-01T00:01:00Z</title>"), "{svg}");
    }

    #[test]
    fn a_projection_extends_the_time_axis_and_the_scale() {
        let s = [Series::new("used", vec![Some(400_000), Some(600_000)])];
        let p = Projection { from: (60, 600_000), to: (90, 900_000), what: "full at this rate".into() };
        let svg = draw(&Chart { projection: Some(&p), ..Chart::new("t", &[0, 60], &s) });
        assert!(svg.contains(r#"data-t1="90""#) && svg.contains(r#"data-ymax="1000000""#), "{svg}");
        // It starts at the newest point (x of t=60 on a 0..90 axis) and
        // ends at the right edge.
        let x60 = LEFT + 60.0 / 90.0 * (W - LEFT - RIGHT);
        assert!(svg.contains(&format!(r#"d="M{x60:.1},"#)), "{svg}");
        assert!(svg.contains(&format!("L{:.1},", W - RIGHT)), "{svg}");
        assert!(svg.contains("<title>full at this rate: 900 kB at 1970-01-01T00:01:30Z</title>"), "{svg}");
    }

    #[test]
    fn cpu_charts_read_in_cores() {
        let s = [Series::new("app", vec![None, Some(250)])];
        let svg = draw(&Chart { unit: Unit::Millicores, ..Chart::new("t", &[0, 60], &s) });
        assert!(svg.contains(r#"data-ymax="400""#) && svg.contains(">0.2 cores</text>"), "{svg}");
        assert!(svg.contains("app: 0.25 cores</title>"), "{svg}");
        // An idle stack still gets an axis of its own scale.
        let s = [Series::new("idle", vec![None, Some(3)])];
        let svg = draw(&Chart { unit: Unit::Millicores, ..Chart::new("t", &[0, 60], &s) });
        assert!(svg.contains(r#"data-ymax="100""#) && svg.contains(">0.025 cores</text>"), "{svg}");
    }
}
