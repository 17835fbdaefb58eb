//! Property tests for every parser that takes outside text: durations,
//! the config TOML, project TOMLs, and names and labels on their way
//! through the markdown renderer.
//!
//! A small seeded generator (no dependency, reproducible: a failure prints
//! its seed and input) produces both junk and near-valid input, biased
//! towards the characters that break parsers and markdown. The properties:
//! never a panic; an error is one line naming the file (and, for a bad
//! value, the line and the key); rendered names stay inert.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::time::Duration;

use stackwatch::config::Config;
use stackwatch::history::owners::parse_project;
use stackwatch::time::{format_duration, parse_duration};
use stackwatch::untrusted::markdown as md;

/// Cases per property; each is microseconds, the whole file well under a second.
const CASES: u64 = 1500;

struct Gen(u64);

impl Gen {
    fn new(seed: u64) -> Gen {
        Gen(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a, T>(&mut self, list: &'a [T]) -> &'a T {
        &list[self.below(list.len())]
    }

    /// A string of up to `max` characters from pools that matter to parsers.
    fn text(&mut self, max: usize) -> String {
        const POOLS: [&str; 6] = [
            "abcdefghijklmnopqrstuvwxyz_-.",
            "0123456789",
            "msdhw",
            " \t\n\r\x00\x07\x1b\x7f",
            "[]{}=\"'#,.:*`|<>!\\/",
            "é€😀\u{202E}\u{200F}\u{FEFF}\u{0301}\u{2066}ℌ",
        ];
        let len = self.below(max + 1);
        let mut s = String::new();
        for _ in 0..len {
            let pool: Vec<char> = self.pick(&POOLS).chars().collect();
            s.push(*self.pick(&pool));
        }
        s
    }

    /// `s` with a few random edits: cut, insert, delete, duplicate.
    fn mutate(&mut self, s: &str) -> String {
        let mut chars: Vec<char> = s.chars().collect();
        for _ in 0..=self.below(3) {
            let at = self.below(chars.len() + 1);
            match self.below(4) {
                0 => chars.truncate(at),
                1 => {
                    let ins: Vec<char> = self.text(6).chars().collect();
                    chars.splice(at..at, ins);
                }
                2 if at < chars.len() => {
                    chars.remove(at);
                }
                _ => {
                    let dup: Vec<char> = chars[at..].iter().take(5).copied().collect();
                    chars.splice(at..at, dup);
                }
            }
        }
        chars.into_iter().collect()
    }
}

/// Runs `f`, turning a panic into a test failure that shows the input.
fn no_panic<T>(what: &str, seed: u64, input: &str, f: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(_) => panic!("{what} panicked on seed {seed}, input {input:?}"),
    }
}

fn one_line(what: &str, seed: u64, input: &str, msg: &str) {
    assert!(!msg.contains('\n') && !msg.contains('\r'), "{what}: seed {seed}, input {input:?}: not one line: {msg:?}");
    assert!(!msg.chars().any(char::is_control), "{what}: seed {seed}: control characters in {msg:?}");
}

#[test]
fn durations_never_panic_and_valid_sums_round_trip() {
    for seed in 0..CASES {
        let mut g = Gen::new(seed);
        let junk = if seed % 2 == 0 { g.text(12) } else { g.mutate("1h30m") };
        if let Err(e) = no_panic("parse_duration", seed, &junk, || parse_duration(&junk)) {
            one_line("parse_duration", seed, &junk, &e);
        }
        // Built from known parts: parses to their sum, and prints back to an equal duration.
        let units =
            [("ms", 1u64), ("s", 1_000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000), ("w", 604_800_000)];
        let mut text = String::new();
        let mut ms = 0u64;
        for _ in 0..=g.below(3) {
            let (u, size) = *g.pick(&units);
            let n = g.below(10_000) as u64;
            text.push_str(&format!("{n}{u}"));
            ms += n * size;
        }
        let d = parse_duration(&text).unwrap_or_else(|e| panic!("seed {seed}: {text:?} rejected: {e}"));
        assert_eq!(d, Duration::from_millis(ms), "seed {seed}: {text}");
        assert_eq!(parse_duration(&format_duration(d)), Ok(d), "seed {seed}: {text}");
    }
}

/// The example config with its optional keys (and per-engine tables)
/// enabled: every key, valid.
fn valid_config() -> String {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/stackwatch.example.toml")).unwrap();
    text.lines()
        .map(|l| {
            l.strip_prefix("# ")
                .filter(|r| r.contains(" = ") || (r.starts_with("[docker.") && r.ends_with(']')))
                .unwrap_or(l)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Values that are valid TOML but often not valid for the key they land on.
const VALUES: [&str; 14] = [
    "\"soon\"",
    "-1",
    "0",
    "1e400",
    "nan",
    "true",
    "[1, 2]",
    "{ a = 1 }",
    "\"\"",
    "\"0s\"",
    "300",
    "99999999999999999999",
    "\"=x\"",
    "\"\\u202e\"",
];

#[test]
fn config_errors_are_one_line_naming_file_line_and_key() {
    let path = Path::new("/etc/stackwatch/stackwatch.toml");
    let valid = valid_config();
    Config::parse(&valid, path).expect("the example parses");
    let lines: Vec<&str> = valid.lines().collect();
    let keyed: Vec<usize> =
        (0..lines.len()).filter(|&i| lines[i].contains(" = ") && !lines[i].starts_with('#')).collect();
    for seed in 0..CASES {
        let mut g = Gen::new(seed);
        // Junk anywhere: no panic, one line, names the file.
        let junk = if seed % 3 == 0 { g.text(60) } else { g.mutate(&valid) };
        if let Err(e) = no_panic("Config::parse", seed, &junk, || Config::parse(&junk, path)) {
            let msg = e.to_string();
            one_line("config", seed, &junk, &msg);
            assert!(msg.starts_with("config /etc/stackwatch/stackwatch.toml"), "seed {seed}: {msg}");
        }
        // One value replaced by valid TOML of the wrong kind: the error
        // names the line and the `section.key`.
        let at = *g.pick(&keyed);
        let key = lines[at].split(" = ").next().unwrap().trim();
        let section = lines[..at].iter().rev().find(|l| l.starts_with('[')).unwrap().trim_matches(['[', ']']);
        let mut text: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        text[at] = format!("{key} = {}", g.pick(&VALUES));
        let text = text.join("\n");
        if let Err(e) = no_panic("Config::parse", seed, &text, || Config::parse(&text, path)) {
            let msg = e.to_string();
            one_line("config", seed, &text, &msg);
            assert!(msg.contains(&format!("line {}, key `{section}.{key}`", at + 1)), "seed {seed}: {msg}");
        }
        // An unknown key in a known section is an error naming it.
        let typo = format!("{key}x");
        let mut text: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        text.insert(at + 1, format!("{typo} = 1"));
        let msg = Config::parse(&text.join("\n"), path).unwrap_err().to_string();
        assert!(msg.contains(&format!("line {}, key `{section}.{typo}`", at + 2)), "seed {seed}: {msg}");
    }
}

#[test]
fn project_toml_errors_are_one_line_naming_file_and_key() {
    let path = Path::new("/factory/projects/harb.toml");
    let valid = "name = \"harb\"\nrepo = \"johba/harb\"\nprimary_branch = \"master\"\n\n[services]\ncontainers = [\"ponder\"]\n\n[monitoring]\ncheck_prs = true\n\n[siblings]\nstacks = [\"harb\", \"harb-indexer-*\"]\nowner = \"johba\"\n";
    parse_project(valid, path).expect("valid project");
    // Keys stackwatch reads (values must have their type) and their lines.
    let ours = [
        (1, "name", ""),
        (2, "repo", ""),
        (6, "containers", "services"),
        (12, "stacks", "siblings"),
        (13, "owner", "siblings"),
    ];
    for seed in 0..CASES {
        let mut g = Gen::new(seed);
        let junk = if seed % 3 == 0 { g.text(60) } else { g.mutate(valid) };
        if let Err(e) = no_panic("parse_project", seed, &junk, || parse_project(&junk, path)) {
            let msg = e.to_string();
            one_line("project", seed, &junk, &msg);
            assert!(msg.starts_with("project file /factory/projects/harb.toml"), "seed {seed}: {msg}");
        }
        let (line, key, section) = *g.pick(&ours);
        let mut text: Vec<String> = valid.lines().map(str::to_string).collect();
        text[line - 1] = format!("{key} = {}", g.pick(&VALUES));
        let text = text.join("\n");
        if let Err(e) = no_panic("parse_project", seed, &text, || parse_project(&text, path)) {
            let msg = e.to_string();
            one_line("project", seed, &text, &msg);
            let named = if section.is_empty() { format!("key `{key}`") } else { format!("key `{section}.{key}`") };
            let empty_name = msg.contains("[siblings] stacks has an empty name");
            assert!(empty_name || msg.contains(&format!("line {line}, {named}")), "seed {seed}: {msg}");
        }
    }
}

#[test]
fn names_and_labels_render_as_one_inert_code_span() {
    for seed in 0..CASES {
        let mut g = Gen::new(seed);
        let name = g.text(120);
        let c = no_panic("md::code", seed, &name, || md::code(&name));
        assert!(c.len() >= 2 && c.starts_with('`') && c.ends_with('`'), "seed {seed}: {c:?}");
        let inner = &c[1..c.len() - 1];
        assert!(!inner.contains('`'), "seed {seed}: {c:?}");
        assert!(!c.contains(['\n', '\r', '|', '<', '>']), "seed {seed}: {c:?}");
        assert!(!c.chars().any(|ch| ch.is_control() || ('\u{202A}'..='\u{202E}').contains(&ch)), "seed {seed}: {c:?}");
        assert!(inner.chars().count() <= md::MAX_NAME, "seed {seed}: {c:?}");
        let line = stackwatch::untrusted::line(&name, 40);
        assert!(line.chars().count() <= 40 && !line.chars().any(char::is_control), "seed {seed}: {line:?}");
        let slug = md::slug(&name);
        assert!(!slug.is_empty() && slug.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-'), "{slug:?}");
    }
}

/// Random names through the real templates: whatever a stack, container,
/// owner or label is called, the markdown gains no line, heading, link,
/// HTML or marker of its own.
#[test]
fn hostile_names_through_the_renderer_stay_inside_their_code_spans() {
    use stackwatch::history::model::{GrowthLevels, HostReport, Report, StackSummary, VaultStatus};
    use stackwatch::section::render::Renderer;

    let renderer = Renderer::new(None).unwrap();
    let render = |names: &[String]| {
        let stacks = names
            .iter()
            .map(|n| StackSummary {
                name: n.clone(),
                kind: "compose".into(),
                factory: false,
                owner: n.clone(),
                owner_source: md::code(n),
                containers: 1,
                running: 1,
                disk_bytes: Some(1),
                unknown_sizes: 0,
                growth_bytes: None,
                working_dir: Some(n.clone()),
                config_files: Some(format!("{n}/x.yml,{n}")),
                location: stackwatch::history::location(Some(n), Some(&format!("{n}/x.yml,{n}"))),
                disk: "1 B".into(),
                change: "–".into(),
            })
            .collect();
        let report = Report {
            generated_at: "2026-11-25T12:00:00Z".into(),
            window: "24h".into(),
            window_seconds: 86_400,
            hosts: vec![HostReport {
                host: names[0].clone(),
                engine_id: names[1].clone(),
                as_of: "2026-11-25T12:00:00Z".into(),
                from: "2026-11-24T12:00:00Z".into(),
                span_seconds: 86_400,
                span: "24h".into(),
                covers_window: true,
                passes: 2,
                age_seconds: 0,
                coverage: "Window 24h.".into(),
                disk: None,
                filesystems: vec![],
                pruned: None,
                growth: GrowthLevels::default(),
                findings: vec![],
                stacks,
                events: Default::default(),
                omitted: None,
            }],
            project_errors: names.to_vec(),
            vault: VaultStatus { dir: None, written: vec![], cleared: names.to_vec() },
        };
        renderer.section(&report, 10, None).unwrap()
    };
    let baseline = render(&["a".to_string(), "b".to_string(), "c".to_string()]);
    let shape = |md: &str| md.lines().filter(|l| l.starts_with('#') || l.starts_with('|')).count();
    for seed in 0..CASES / 5 {
        let mut g = Gen::new(seed);
        let names: Vec<String> = (0..3).map(|_| g.text(100)).collect();
        let md = no_panic("render", seed, &names.join(" / "), || render(&names));
        assert_eq!(md.lines().count(), baseline.lines().count(), "seed {seed}: {names:?}\n{md}");
        assert_eq!(shape(&md), shape(&baseline), "seed {seed}: {names:?}\n{md}");
        assert!(!md.contains(['<', '>']) && !md.contains("]("), "seed {seed}: {names:?}\n{md}");
        assert!(!md.chars().any(|c| c.is_control() && c != '\n'), "seed {seed}: {names:?}");
    }
}
