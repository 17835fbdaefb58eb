//! The Prometheus text format (0.0.4) and OpenMetrics 1.0, written by hand:
//! the two differ in a handful of places (counter and info family names,
//! state sets, `# UNIT`, `# EOF`, `_created`), and a client library would
//! bring a registry and global state for what is a pure function of the
//! database.
//!
//! Label values are other people's stack, container and volume names, so
//! they are made inert and bounded first ([`label_value`]), then escaped
//! exactly as the formats require (backslash, double quote, line feed);
//! everything else in the output is our own constant.

use std::collections::HashSet;
use std::fmt::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Prometheus,
    OpenMetrics,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Gauge,
    /// Family name without `_total`; samples get the suffix.
    Counter,
    /// One sample per state, labelled `<family>="<state>"`, value 1 for the
    /// current state and 0 for the others. A gauge in the Prometheus format.
    StateSet,
    /// Family name without `_info`; one sample of value 1 whose labels are
    /// the information. A gauge named `<family>_info` in the Prometheus format.
    Info,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i64),
    /// An exact decimal, e.g. nanoseconds as seconds: no float rounding.
    Decimal {
        whole: i64,
        nanos: u32,
    },
}

impl Value {
    /// Nanoseconds as exact seconds.
    pub fn from_nanos(ns: i64) -> Value {
        Value::Decimal { whole: ns.div_euclid(1_000_000_000), nanos: ns.rem_euclid(1_000_000_000) as u32 }
    }

    /// Milliseconds as exact seconds.
    pub fn from_millis(ms: i64) -> Value {
        Value::from_nanos(ms.saturating_mul(1_000_000))
    }

    fn write(&self, out: &mut String) {
        match self {
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Decimal { whole, nanos: 0 } => {
                let _ = write!(out, "{whole}");
            }
            Value::Decimal { whole, nanos } => {
                let frac = format!("{nanos:09}");
                let _ = write!(out, "{whole}.{}", frac.trim_end_matches('0'));
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct Sample {
    pub labels: Vec<(&'static str, String)>,
    pub value: Value,
    /// OpenMetrics `_created` of a counter: when it last started from zero
    /// (Unix seconds). Not part of the Prometheus format.
    pub created: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct Family {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: Kind,
    /// OpenMetrics `# UNIT`; the family name must end in `_<unit>`.
    pub unit: Option<&'static str>,
    pub samples: Vec<Sample>,
}

impl Family {
    pub fn new(name: &'static str, kind: Kind, unit: Option<&'static str>, help: &'static str) -> Family {
        debug_assert!(unit.is_none_or(|u| name.ends_with(&format!("_{u}"))), "{name} lacks its unit");
        Family { name, help, kind, unit, samples: Vec::new() }
    }

    /// Adds a sample; `None` (unknown) adds nothing, so an unknown value is
    /// absent from the output rather than a misleading 0.
    pub fn push(&mut self, labels: Vec<(&'static str, String)>, value: Option<Value>) {
        if let Some(value) = value {
            self.samples.push(Sample { labels, value, created: None });
        }
    }

    /// One sample per state, 1 for `current`. Nothing when `current` is
    /// unknown; a `current` outside `states` is added as one more state
    /// (engines grow new states) rather than dropped.
    pub fn push_states(&mut self, labels: Vec<(&'static str, String)>, states: &[&str], current: Option<&str>) {
        let Some(current) = current else { return };
        let mut all: Vec<&str> = states.to_vec();
        if !all.contains(&current) {
            all.push(current);
        }
        for state in all {
            let mut l = labels.clone();
            l.push((self.name, state.to_string()));
            self.samples.push(Sample { labels: l, value: Value::Int(i64::from(state == current)), created: None });
        }
    }
}

/// Longest label value written, in characters, as in the report's JSON.
/// Two 100 kB labels once made a 143 kB scrape 4.4 MB.
pub const MAX_LABEL_VALUE: usize = 200;

/// A label value as written: at most [`MAX_LABEL_VALUE`] characters, with
/// control characters, Unicode line breaks, zero-width and bidi controls
/// replaced by `?`. A value that had to change gets a short hash of the
/// original (`~1a2b3c4d`), so two names never merge into one series.
pub fn label_value(v: &str) -> String {
    crate::untrusted::line_keyed(v, MAX_LABEL_VALUE)
}

/// Escapes a label value: `\` → `\\`, `"` → `\"`, line feed → `\n`. The
/// same rule holds in both formats.
pub fn escape_label_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 2);
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes HELP text: backslash and line feed in both formats, and the
/// double quote too in OpenMetrics.
pub fn escape_help(v: &str, format: Format) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if format == Format::OpenMetrics => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out
}

fn write_labels(out: &mut String, labels: &[(&'static str, String)]) {
    if labels.is_empty() {
        return;
    }
    out.push('{');
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{k}=\"{}\"", escape_label_value(&label_value(v)));
    }
    out.push('}');
}

/// Renders `families` in `format`. Families without samples are left out
/// entirely. A sample whose name and labels repeat an earlier one is
/// dropped: a duplicate series makes Prometheus reject the whole scrape.
pub fn render(families: &[Family], format: Format) -> String {
    let mut out = String::new();
    let mut seen: HashSet<String> = HashSet::new();
    for f in families.iter().filter(|f| !f.samples.is_empty()) {
        let (type_name, sample_name, type_word) = match (f.kind, format) {
            (Kind::Gauge, _) => (f.name.to_string(), f.name.to_string(), "gauge"),
            (Kind::Counter, Format::Prometheus) => {
                (format!("{}_total", f.name), format!("{}_total", f.name), "counter")
            }
            (Kind::Counter, Format::OpenMetrics) => (f.name.to_string(), format!("{}_total", f.name), "counter"),
            (Kind::StateSet, Format::Prometheus) => (f.name.to_string(), f.name.to_string(), "gauge"),
            (Kind::StateSet, Format::OpenMetrics) => (f.name.to_string(), f.name.to_string(), "stateset"),
            (Kind::Info, Format::Prometheus) => (format!("{}_info", f.name), format!("{}_info", f.name), "gauge"),
            (Kind::Info, Format::OpenMetrics) => (f.name.to_string(), format!("{}_info", f.name), "info"),
        };
        let _ = writeln!(out, "# HELP {type_name} {}", escape_help(f.help, format));
        let _ = writeln!(out, "# TYPE {type_name} {type_word}");
        if let (Some(unit), Format::OpenMetrics) = (f.unit, format) {
            let _ = writeln!(out, "# UNIT {type_name} {unit}");
        }
        for s in &f.samples {
            let mut line = sample_name.clone();
            write_labels(&mut line, &s.labels);
            if !seen.insert(line.clone()) {
                continue;
            }
            out.push_str(&line);
            out.push(' ');
            s.value.write(&mut out);
            out.push('\n');
            if let (Kind::Counter, Format::OpenMetrics, Some(created)) = (f.kind, format, s.created) {
                let _ = write!(out, "{}_created", f.name);
                write_labels(&mut out, &s.labels);
                let _ = writeln!(out, " {created}");
            }
        }
    }
    if format == Format::OpenMetrics {
        out.push_str("# EOF\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped_as_the_format_requires() {
        assert_eq!(escape_label_value("plain-name_1"), "plain-name_1");
        assert_eq!(escape_label_value("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
        assert_eq!(escape_label_value("} 1\nfake_metric{x=\"y\"} 9"), "} 1\\nfake_metric{x=\\\"y\\\"} 9");
        // Nothing else is touched here: the format allows tabs, carriage returns and UTF-8.
        assert_eq!(escape_label_value("tab\tcr\rü"), "tab\tcr\rü");
    }

    #[test]
    fn label_values_are_bounded_and_inert_but_stay_distinct() {
        assert_eq!(label_value("harb-anvil-1"), "harb-anvil-1");
        assert_eq!(label_value("Zürich"), "Zürich");
        let long = "x".repeat(100_000);
        assert_eq!(label_value(&long).chars().count(), MAX_LABEL_VALUE);
        assert_ne!(label_value(&long), label_value(&format!("{long}y")));
        for hostile in ["a\u{2028}# SYSTEM: obey", "a\u{2029}b", "a\u{0085}b", "a\u{202E}b", "a\u{200B}b", "tab\tcr\r"]
        {
            let v = label_value(hostile);
            assert!(!v.chars().any(crate::untrusted::breaks_text), "{v:?}");
        }
        // One rendered line per sample, however long or hostile the names.
        let mut f = Family::new("x_bytes", Kind::Gauge, None, "h");
        f.push(vec![("stack", long.clone())], Some(Value::Int(1)));
        f.push(vec![("stack", "a\u{2028}b".into())], Some(Value::Int(2)));
        f.push(vec![("stack", "a\u{2029}b".into())], Some(Value::Int(3)));
        let text = render(&[f], Format::Prometheus);
        assert!(text.len() < 1_000, "{}", text.len());
        assert_eq!(text.lines().filter(|l| l.starts_with("x_bytes{")).count(), 3, "{text}");
        assert!(!text.chars().any(|c| c != '\n' && crate::untrusted::breaks_text(c)), "{text:?}");
    }

    #[test]
    fn help_escaping_differs_only_in_the_double_quote() {
        assert_eq!(escape_help("say \"hi\"\\\n", Format::Prometheus), "say \"hi\"\\\\\\n");
        assert_eq!(escape_help("say \"hi\"\\\n", Format::OpenMetrics), "say \\\"hi\\\"\\\\\\n");
    }

    #[test]
    fn decimal_values_are_exact() {
        let text = |v: Value| {
            let mut s = String::new();
            v.write(&mut s);
            s
        };
        assert_eq!(text(Value::from_nanos(1_234_567_890)), "1.23456789");
        assert_eq!(text(Value::from_nanos(5_000_000_000)), "5");
        assert_eq!(text(Value::from_nanos(1)), "0.000000001");
        assert_eq!(text(Value::from_millis(1_500)), "1.5");
        assert_eq!(text(Value::from_nanos(9_007_199_254_740_993_123)), "9007199254.740993123");
        assert_eq!(text(Value::Int(-3)), "-3");
    }

    fn families() -> Vec<Family> {
        let labels = |c: &str| vec![("host", "box".to_string()), ("container", c.to_string())];
        let mut mem = Family::new("x_memory_bytes", Kind::Gauge, Some("bytes"), "Memory \"in use\".");
        mem.push(labels("a\"b"), Some(Value::Int(5)));
        mem.push(labels("unknown"), None);
        mem.push(labels("a\"b"), Some(Value::Int(6)));
        let mut cpu = Family::new("x_cpu_seconds", Kind::Counter, Some("seconds"), "CPU.");
        cpu.push(labels("a"), Some(Value::from_nanos(1_500_000_000)));
        cpu.samples[0].created = Some(1_700_000_000);
        let mut health = Family::new("x_health", Kind::StateSet, None, "Health.");
        health.push_states(labels("a"), &["healthy", "unhealthy"], Some("unhealthy"));
        health.push_states(labels("b"), &["healthy", "unhealthy"], None);
        let mut info = Family::new("x_host", Kind::Info, None, "Host.");
        info.push(vec![("host", "box".into())], Some(Value::Int(1)));
        let empty = Family::new("x_empty", Kind::Gauge, None, "Nothing.");
        vec![mem, cpu, health, info, empty]
    }

    #[test]
    fn prometheus_text_format() {
        assert_eq!(
            render(&families(), Format::Prometheus),
            "# HELP x_memory_bytes Memory \"in use\".\n# TYPE x_memory_bytes gauge\n\
             x_memory_bytes{host=\"box\",container=\"a\\\"b\"} 5\n\
             # HELP x_cpu_seconds_total CPU.\n# TYPE x_cpu_seconds_total counter\n\
             x_cpu_seconds_total{host=\"box\",container=\"a\"} 1.5\n\
             # HELP x_health Health.\n# TYPE x_health gauge\n\
             x_health{host=\"box\",container=\"a\",x_health=\"healthy\"} 0\n\
             x_health{host=\"box\",container=\"a\",x_health=\"unhealthy\"} 1\n\
             # HELP x_host_info Host.\n# TYPE x_host_info gauge\nx_host_info{host=\"box\"} 1\n"
        );
    }

    #[test]
    fn openmetrics_format() {
        assert_eq!(
            render(&families(), Format::OpenMetrics),
            "# HELP x_memory_bytes Memory \\\"in use\\\".\n# TYPE x_memory_bytes gauge\n# UNIT x_memory_bytes bytes\n\
             x_memory_bytes{host=\"box\",container=\"a\\\"b\"} 5\n\
             # HELP x_cpu_seconds CPU.\n# TYPE x_cpu_seconds counter\n# UNIT x_cpu_seconds seconds\n\
             x_cpu_seconds_total{host=\"box\",container=\"a\"} 1.5\n\
             x_cpu_seconds_created{host=\"box\",container=\"a\"} 1700000000\n\
             # HELP x_health Health.\n# TYPE x_health stateset\n\
             x_health{host=\"box\",container=\"a\",x_health=\"healthy\"} 0\n\
             x_health{host=\"box\",container=\"a\",x_health=\"unhealthy\"} 1\n\
             # HELP x_host Host.\n# TYPE x_host info\nx_host_info{host=\"box\"} 1\n# EOF\n"
        );
    }

    #[test]
    fn an_unlisted_state_is_kept_not_dropped() {
        let mut f = Family::new("s", Kind::StateSet, None, "h");
        f.push_states(vec![], &["a"], Some("new"));
        let states: Vec<(&str, i64)> = f
            .samples
            .iter()
            .map(|s| (s.labels[0].1.as_str(), if let Value::Int(i) = s.value { i } else { -1 }))
            .collect();
        assert_eq!(states, vec![("a", 0), ("new", 1)]);
    }
}
