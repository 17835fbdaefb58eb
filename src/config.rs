//! The optional TOML config file. Every key has a default (see
//! `stackwatch.example.toml` and the README); unknown keys are errors, because
//! a typo that silently falls back to a default is worse than no config.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use serde::{Deserialize, Deserializer};

use crate::time::parse_duration;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub database: DatabaseConfig,
    pub docker: DockerConfig,
    pub collect: CollectConfig,
    pub labels: LabelsConfig,
    pub report: ReportConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportConfig {
    /// Window when `--window` is not given.
    #[serde(deserialize_with = "positive_duration")]
    pub window: Duration,
    /// Rows per growth level in markdown (JSON always has all of them).
    #[serde(deserialize_with = "at_least_one")]
    pub top: usize,
    /// Docker root filesystem use, in percent, above which disk is P1.
    #[serde(deserialize_with = "percent")]
    pub disk_p1_percent: f64,
    /// Growth fast enough to fill the disk within this long is P1 too.
    #[serde(deserialize_with = "duration")]
    pub fill_warning: Duration,
    /// Volume bloat: a volume that grew by at least this many bytes...
    #[serde(deserialize_with = "non_negative")]
    pub bloat_min_bytes: i64,
    /// ...and by at least this percentage of its size at the window start.
    #[serde(deserialize_with = "non_negative_f64")]
    pub bloat_min_percent: f64,
    /// Stacks that are the factory's own even without the managed label.
    pub factory_stacks: Vec<String>,
    /// Project TOMLs when neither `--projects` nor `$FACTORY_ROOT` says;
    /// absolute, so the answer never depends on the current directory.
    #[serde(deserialize_with = "absolute_path")]
    pub projects_dir: Option<PathBuf>,
    /// A projected fill within `fill_warning` is a finding: P1 when the disk
    /// would be full within this long, P2 otherwise.
    #[serde(deserialize_with = "positive_duration")]
    pub fill_p1: Duration,
    /// Under disk pressure, space findings (orphaned volumes, unused images,
    /// growth) are P1 only when they hold at least this percentage of the
    /// larger of the free space and the window's growth...
    #[serde(deserialize_with = "non_negative_f64")]
    pub reclaim_min_percent: f64,
    /// ...and at least this many bytes.
    #[serde(deserialize_with = "non_negative")]
    pub reclaim_min_bytes: i64,
    /// A container whose logs grow this fast (bytes per day) is a finding.
    #[serde(deserialize_with = "positive_i64")]
    pub log_growth_per_day: i64,
    /// A volume that grows this fast (bytes per day) is a finding.
    #[serde(deserialize_with = "positive_i64")]
    pub volume_growth_per_day: i64,
    /// Flapping health, from the stored `health_status` events: a container
    /// that turned unhealthy at least this many times in the window...
    #[serde(deserialize_with = "at_least_one")]
    pub flapping_min_times: usize,
    /// ...or was unhealthy this long in all is a finding; one brief blip is not.
    #[serde(deserialize_with = "positive_duration")]
    pub flapping_min_unhealthy: Duration,
    /// Findings on foreign stacks at this priority or more urgent become
    /// vault items (`P1` .. `P4`).
    #[serde(deserialize_with = "priority_tier")]
    pub vault_min_priority: String,
    /// Space a foreign stack has held unused (orphaned volumes, unused
    /// images) for at least this long, and at least `reclaim_min_bytes`,
    /// becomes a vault item whatever its priority.
    #[serde(deserialize_with = "positive_duration")]
    pub vault_after: Duration,
    /// Default markdown stays within this many bytes (`--full` ignores it).
    #[serde(deserialize_with = "at_least_one")]
    pub budget_bytes: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// History database; `--db` and `STACKWATCH_DB` take precedence.
    pub path: Option<PathBuf>,
    /// How long a write waits for a reader (or another writer) holding the
    /// database before giving up.
    #[serde(deserialize_with = "busy_timeout")]
    pub busy_timeout: Duration,
    /// How long `collect` waits for an overlapping `collect` to finish
    /// before it skips its own pass.
    #[serde(deserialize_with = "duration")]
    pub lock_wait: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DockerConfig {
    /// Engine address, or a list of them (one pass each into the same
    /// history); `--docker-host` and `DOCKER_HOST` take precedence.
    #[serde(deserialize_with = "one_or_many")]
    pub host: Vec<String>,
    /// Per-request timeout.
    #[serde(deserialize_with = "positive_duration")]
    pub timeout: Duration,
    /// Bound on concurrent per-container calls (inspect + stats).
    #[serde(deserialize_with = "concurrency")]
    pub concurrency: usize,
    /// Speak TLS to `tcp://` engines, as `DOCKER_TLS_VERIFY` does (which,
    /// when set, turns it on whatever this says).
    pub tls_verify: bool,
    /// Directory of `ca.pem`, `cert.pem` and `key.pem`; `DOCKER_CERT_PATH`
    /// takes precedence, and without either the docker CLI's default is used.
    pub cert_path: Option<PathBuf>,
    /// Per-engine overrides of the two above, keyed by address, so engines
    /// with different CAs (or one plain, one TLS) share one run.
    #[serde(deserialize_with = "engine_overrides")]
    pub engines: BTreeMap<String, EngineConfig>,
}

/// `[docker.engines."tcp://host:2376"]`: what differs for one engine.
/// A key set here beats the environment and the `[docker]` key of the same
/// name, being the more specific.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    pub tls_verify: Option<bool>,
    pub cert_path: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CollectConfig {
    /// Measure volume and writable-layer sizes at all. Off: they are
    /// recorded as unknown (or carried forward from earlier measurements).
    pub sizes: bool,
    /// How often each volume and writable layer is re-measured.
    #[serde(deserialize_with = "positive_duration")]
    pub size_interval: Duration,
    /// Time a pass may spend measuring sizes; what is left waits for the next pass.
    #[serde(deserialize_with = "positive_duration")]
    pub size_budget: Duration,
    /// A volume, bind mount or writable layer whose last walk took less than
    /// this (and saw fewer than `cheap_walk_files` entries) is measured every
    /// pass; a costlier one waits for `size_interval`.
    #[serde(deserialize_with = "duration")]
    pub cheap_walk_time: Duration,
    pub cheap_walk_files: u64,
    /// Read running containers' counters from their cgroup files when they
    /// are visible; false: always ask the stats endpoint.
    pub cgroup_stats: bool,
    /// Read the engine's container events since the previous pass (OOM
    /// kills, restarts and their causes, jobs that came and went).
    pub events: bool,
    /// After how long raw passes are thinned to one per hour.
    #[serde(deserialize_with = "positive_duration")]
    pub keep_raw: Duration,
    /// After how long hourly passes are thinned to one per day (kept forever).
    #[serde(deserialize_with = "positive_duration")]
    pub keep_hourly: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LabelsConfig {
    /// `key=value` marking the factory's own images and containers.
    #[serde(deserialize_with = "managed_label")]
    pub managed: String,
    /// Label key naming a stack's owner.
    #[serde(deserialize_with = "nonempty")]
    pub owner: String,
}

impl Default for ReportConfig {
    fn default() -> Self {
        ReportConfig {
            window: Duration::from_secs(86_400),
            top: 10,
            disk_p1_percent: 80.0,
            fill_warning: Duration::from_secs(7 * 86_400),
            bloat_min_bytes: 1_000_000_000,
            bloat_min_percent: 20.0,
            factory_stacks: Vec::new(),
            projects_dir: None,
            fill_p1: Duration::from_secs(2 * 86_400),
            reclaim_min_percent: 5.0,
            reclaim_min_bytes: 100_000_000,
            log_growth_per_day: 1_000_000_000,
            volume_growth_per_day: 5_000_000_000,
            flapping_min_times: 3,
            flapping_min_unhealthy: Duration::from_secs(600),
            vault_min_priority: "P3".into(),
            vault_after: Duration::from_secs(3 * 86_400),
            budget_bytes: 4096,
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig { path: None, busy_timeout: Duration::from_secs(30), lock_wait: Duration::from_secs(10) }
    }
}

impl Default for DockerConfig {
    fn default() -> Self {
        DockerConfig {
            host: Vec::new(),
            timeout: Duration::from_secs(60),
            concurrency: 32,
            tls_verify: false,
            cert_path: None,
            engines: BTreeMap::new(),
        }
    }
}

impl Default for CollectConfig {
    fn default() -> Self {
        CollectConfig {
            sizes: true,
            size_interval: Duration::from_secs(30 * 60),
            size_budget: Duration::from_secs(20),
            cheap_walk_time: Duration::from_millis(250),
            cheap_walk_files: 100_000,
            cgroup_stats: true,
            events: true,
            keep_raw: Duration::from_secs(14 * 86_400),
            keep_hourly: Duration::from_secs(90 * 86_400),
        }
    }
}

impl Default for LabelsConfig {
    fn default() -> Self {
        LabelsConfig { managed: "com.disinto.managed=true".into(), owner: "com.disinto.owner".into() }
    }
}

// Validation happens while deserializing, so that every error carries the
// span of the offending value and the message can name its line and key.
use serde::de::Error as _;

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    parse_duration(&s).map_err(D::Error::custom)
}

fn positive_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let v = duration(d)?;
    if v.is_zero() { Err(D::Error::custom("must be more than 0")) } else { Ok(v) }
}

/// SQLite takes its busy timeout as a C `int` of milliseconds (about 24.8
/// days); the driver panics on more, so it is refused here with the rest.
pub const MAX_BUSY_TIMEOUT: Duration = Duration::from_millis(i32::MAX as u64);

fn busy_timeout<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let v = duration(d)?;
    if v > MAX_BUSY_TIMEOUT {
        return Err(D::Error::custom("must be at most 24d (SQLite counts it in milliseconds in a 32-bit number)"));
    }
    Ok(v)
}

fn concurrency<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    let v = usize::deserialize(d)?;
    if (1..=256).contains(&v) { Ok(v) } else { Err(D::Error::custom(format!("must be between 1 and 256, got {v}"))) }
}

/// A string, or an array of non-empty strings.
fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    let v =
        match OneOrMany::deserialize(d).map_err(|_| D::Error::custom("must be an engine address or a list of them"))? {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        };
    if v.iter().any(|h| h.trim().is_empty()) {
        return Err(D::Error::custom("must not be empty"));
    }
    Ok(v)
}

/// Per-engine settings are TLS settings, so only TCP addresses may have
/// them; a unix socket under this table is a mistake worth stopping on.
fn engine_overrides<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, EngineConfig>, D::Error> {
    let map = BTreeMap::<String, EngineConfig>::deserialize(d)?;
    for (address, e) in &map {
        let tcp = address.starts_with("tcp://") || address.starts_with("https://");
        if !tcp {
            return Err(D::Error::custom(format!(
                "`{address}`: per-engine settings are for tcp:// and https:// addresses (TLS); \
                 a unix socket needs none"
            )));
        }
        if address.starts_with("https://") && e.tls_verify == Some(false) {
            return Err(D::Error::custom(format!(
                "`{address}`: https:// always means TLS; write tcp:// for a plain engine"
            )));
        }
    }
    Ok(map)
}

fn at_least_one<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    let v = usize::deserialize(d)?;
    if v >= 1 { Ok(v) } else { Err(D::Error::custom("must be at least 1")) }
}

fn percent<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let v = f64::deserialize(d)?;
    if (0.0..=100.0).contains(&v) {
        Ok(v)
    } else {
        Err(D::Error::custom(format!("must be a percentage 0-100, got {v}")))
    }
}

fn non_negative<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let v = i64::deserialize(d)?;
    if v >= 0 { Ok(v) } else { Err(D::Error::custom(format!("must not be negative, got {v}"))) }
}

fn non_negative_f64<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let v = f64::deserialize(d)?;
    if v >= 0.0 && v.is_finite() { Ok(v) } else { Err(D::Error::custom(format!("must not be negative, got {v}"))) }
}

fn positive_i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let v = i64::deserialize(d)?;
    if v > 0 { Ok(v) } else { Err(D::Error::custom(format!("must be more than 0, got {v}"))) }
}

fn absolute_path<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
    let v = PathBuf::deserialize(d)?;
    if v.is_absolute() {
        Ok(Some(v))
    } else {
        Err(D::Error::custom(format!(
            "must be an absolute path (a relative one would depend on where the command runs), got {}",
            v.display()
        )))
    }
}

fn priority_tier<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let v = String::deserialize(d)?;
    if ["P1", "P2", "P3", "P4"].contains(&v.as_str()) {
        Ok(v)
    } else {
        Err(D::Error::custom(format!("must be one of P1, P2, P3, P4, got {v:?}")))
    }
}

fn nonempty<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let v = String::deserialize(d)?;
    if v.trim().is_empty() { Err(D::Error::custom("must not be empty")) } else { Ok(v) }
}

fn managed_label<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let v = nonempty(d)?;
    if v.split('=').next().unwrap_or("").trim().is_empty() {
        return Err(D::Error::custom("must be `key=value` or `key` with a non-empty key"));
    }
    Ok(v)
}

impl LabelsConfig {
    /// The managed label split into key and value (`key` alone means "true").
    pub fn managed_pair(&self) -> (&str, &str) {
        self.managed.split_once('=').unwrap_or((self.managed.as_str(), "true"))
    }
}

impl Config {
    /// Reads `path`, or returns the defaults when no file was named.
    pub fn load(path: Option<&Path>) -> Result<Config> {
        let Some(path) = path else {
            return Ok(Config::default());
        };
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read config file {}", path.display()))?;
        Config::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Config> {
        toml::from_str(text).map_err(|e| anyhow::anyhow!(describe("config", text, path, &e)))
    }
}

/// One line: what kind of file, the file, line number, the offending key,
/// and what is wrong. Shared with the project TOMLs, whose errors must name
/// the same things.
pub fn describe(kind: &str, text: &str, path: &Path, e: &toml::de::Error) -> String {
    let Some(span) = e.span() else {
        return crate::untrusted::line(&format!("{kind} {}: {}", path.display(), e.message().trim()), 1000);
    };
    let line_no = text[..span.start.min(text.len())].matches('\n').count() + 1;
    let line = text.lines().nth(line_no - 1).unwrap_or("").trim();
    let key = line.split('=').next().unwrap_or("").trim();
    let section =
        text[..span.start.min(text.len())].lines().rev().map(str::trim).find(|l| l.starts_with('[')).unwrap_or("");
    let key_desc = if key.is_empty() || key.starts_with('[') {
        String::new()
    } else {
        format!(
            ", key `{}{key}`",
            section.trim_matches(['[', ']']).to_string() + if section.is_empty() { "" } else { "." }
        )
    };
    // The message quotes the input, which may hold control characters.
    crate::untrusted::line(&format!("{kind} {} line {line_no}{key_desc}: {}", path.display(), e.message().trim()), 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config> {
        Config::parse(text, Path::new("/etc/stackwatch.toml"))
    }

    #[test]
    fn empty_file_gives_every_default() {
        let c = parse("").unwrap();
        assert_eq!(c.database.busy_timeout, Duration::from_secs(30));
        assert_eq!(c.docker.concurrency, 32);
        assert!(c.collect.sizes);
        assert_eq!(c.labels.managed_pair(), ("com.disinto.managed", "true"));
    }

    #[test]
    fn values_are_read() {
        let c =
            parse("[database]\nbusy_timeout = \"2m\"\n[docker]\nconcurrency = 3\nhost = \"unix:///x.sock\"\n").unwrap();
        assert_eq!(c.database.busy_timeout, Duration::from_secs(120));
        assert_eq!(c.docker.concurrency, 3);
        assert_eq!(c.docker.host, vec!["unix:///x.sock"]);
        let c = parse("[docker]\nhost = [\"unix:///a.sock\", \"tcp://127.0.0.1:2375\"]\n").unwrap();
        assert_eq!(c.docker.host, vec!["unix:///a.sock", "tcp://127.0.0.1:2375"]);
        let err = parse("[docker]\nhost = 5\n").unwrap_err().to_string();
        assert!(err.contains("line 2, key `docker.host`: must be an engine address or a list"), "{err}");
    }

    #[test]
    fn tls_keys_and_per_engine_tables_are_read() {
        let c = parse(
            "[docker]\ntls_verify = true\ncert_path = \"/etc/certs\"\n\
             [docker.engines.\"tcp://a:2376\"]\ncert_path = \"/etc/a\"\n\
             [docker.engines.\"tcp://b:2375\"]\ntls_verify = false\n",
        )
        .unwrap();
        assert!(c.docker.tls_verify);
        assert_eq!(c.docker.cert_path, Some(PathBuf::from("/etc/certs")));
        assert_eq!(
            c.docker.engines["tcp://a:2376"],
            EngineConfig { tls_verify: None, cert_path: Some("/etc/a".into()) }
        );
        assert_eq!(c.docker.engines["tcp://b:2375"].tls_verify, Some(false));
        let err = parse("[docker.engines.\"unix:///x.sock\"]\ntls_verify = true\n").unwrap_err().to_string();
        assert!(err.contains("per-engine settings are for tcp:// and https://"), "{err}");
        let err = parse("[docker.engines.\"tcp://a:2376\"]\ncert = \"/x\"\n").unwrap_err().to_string();
        assert!(err.contains("line 2") && err.contains("unknown field `cert`"), "{err}");
        let err = parse("[docker.engines.\"https://a:2376\"]\ntls_verify = false\n").unwrap_err().to_string();
        assert!(err.contains("https:// always means TLS"), "{err}");
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let err = parse("[database]\nbusy_timeout = \"2m\"\nbusy_timout = \"3m\"\n").unwrap_err().to_string();
        assert!(err.contains("/etc/stackwatch.toml line 3"), "{err}");
        assert!(err.contains("database.busy_timout"), "{err}");
        assert!(err.contains("unknown field"), "{err}");
        assert!(!err.contains('\n'), "one line: {err}");
    }

    #[test]
    fn bad_value_names_file_line_and_key() {
        let err = parse("[docker]\n\ntimeout = \"soon\"\n").unwrap_err().to_string();
        assert!(err.contains("line 3, key `docker.timeout`"), "{err}");
        assert!(err.contains("invalid duration"), "{err}");
        let err = parse("[docker]\nconcurrency = \"many\"\n").unwrap_err().to_string();
        assert!(err.contains("line 2, key `docker.concurrency`"), "{err}");
        let err = parse("[docker]\nconcurrency = 0\n").unwrap_err().to_string();
        assert!(err.contains("line 2, key `docker.concurrency`") && err.contains("between 1 and 256"), "{err}");
        let err = parse("[docker]\ntimeout = \"0s\"\n").unwrap_err().to_string();
        assert!(err.contains("line 2, key `docker.timeout`: must be more than 0"), "{err}");
        let err = parse("[labels]\nmanaged = \"=x\"\n").unwrap_err().to_string();
        assert!(err.contains("line 2, key `labels.managed`"), "{err}");
        let err = parse("[report]\n\ndisk_p1_percent = 180.0\n").unwrap_err().to_string();
        assert!(err.contains("line 3, key `report.disk_p1_percent`"), "{err}");
        for too_long in ["25d", "4w", "1000000000h"] {
            let err = parse(&format!("[database]\nbusy_timeout = \"{too_long}\"\n")).unwrap_err().to_string();
            assert!(err.contains("line 2, key `database.busy_timeout`: must be at most 24d"), "{err}");
        }
        assert_eq!(parse("[database]\nbusy_timeout = \"24d\"\n").unwrap().database.busy_timeout.as_secs(), 24 * 86_400);
    }

    #[test]
    fn unknown_section_is_an_error() {
        let err = parse("[reprot]\nwindow = \"24h\"\n").unwrap_err().to_string();
        assert!(err.contains("line 1") && err.contains("reprot"), "{err}");
    }

    #[test]
    fn broken_toml_is_one_line() {
        let err = parse("[database\n").unwrap_err().to_string();
        assert!(err.starts_with("config /etc/stackwatch.toml line 1"), "{err}");
        assert!(!err.contains('\n'), "{err}");
    }
}

#[cfg(test)]
mod example_file {
    use super::*;

    /// The shipped example documents every default; keep them equal.
    #[test]
    fn example_config_parses_to_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("stackwatch.example.toml");
        let parsed = Config::load(Some(&path)).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let uncommented: String = text
            .lines()
            .map(|l| {
                l.strip_prefix("# ")
                    .filter(|r| r.contains(" = ") || (r.starts_with("[docker.") && r.ends_with(']')))
                    .unwrap_or(l)
            })
            .collect::<Vec<_>>()
            .join("\n");
        let with_optionals = Config::parse(&uncommented, &path).unwrap();
        let d = Config::default();
        assert_eq!(format!("{:?}", parsed), format!("{:?}", d));
        assert_eq!(with_optionals.docker.host, vec![crate::engine::DEFAULT_HOST]);
        assert_eq!(with_optionals.database.path, Some(crate::paths::default_database_for_root()));
        assert_eq!(with_optionals.docker.cert_path, Some(PathBuf::from("/root/.docker")));
        let own = &with_optionals.docker.engines["tcp://10.0.0.5:2376"];
        assert_eq!(own.tls_verify, Some(true));
        assert_eq!(own.cert_path, Some(PathBuf::from("/etc/stackwatch/tls/box2")));
    }

    /// The README's config examples are valid configs.
    #[test]
    fn readme_config_examples_parse() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
        let readme = std::fs::read_to_string(&path).unwrap();
        let blocks: Vec<&str> = readme
            .split("```toml\n")
            .skip(1)
            .filter_map(|b| b.split_once("```").map(|(body, _)| body))
            .filter(|b| b.trim_start().starts_with("[docker]"))
            .collect();
        assert!(!blocks.is_empty(), "the README lost its TLS config example");
        for b in blocks {
            let c = Config::parse(b, &path).unwrap();
            assert!(c.docker.tls_verify && !c.docker.engines.is_empty(), "{b}");
        }
    }
}
