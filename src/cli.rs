//! Command-line interface. `--help` is the manual most people read, so
//! each option says its default and where else it can come from.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "stackwatch",
    version,
    about = "Per-stack history of a Docker host: which stack grew, by how much, since when, and who owns it.",
    long_about = "Per-stack history of a Docker host: which stack grew, by how much, since when, and who owns it.\n\n\
        `stackwatch collect`, run by cron every few minutes, records one snapshot of every stack, container, \
        volume and image into a SQLite history database. Query it with the views documented in the README \
        (latest_stacks, latest_containers, latest_volumes, stack_disk_history, ...).\n\n\
        Sizes shown to people use SI decimal units (1 GB = 1,000,000,000 bytes); the database stores exact bytes.",
    after_help = "Exit status: 0 success, 1 error (doctor: a check failed), 75 skipped because another collect \
        holds the database, 130/143 stopped by SIGINT/SIGTERM (nothing half-written)."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// History database. Default: /var/lib/stackwatch/history.db as root,
    /// else $XDG_STATE_HOME/stackwatch/history.db (~/.local/state/...).
    /// Parent directories are created.
    #[arg(long, global = true, env = "STACKWATCH_DB", value_name = "PATH")]
    pub db: Option<PathBuf>,

    /// TOML config file; every key is optional (see stackwatch.example.toml).
    #[arg(long, global = true, env = "STACKWATCH_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Print nothing but errors, even on a terminal.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Take one snapshot of the engine and append it to the history.
    ///
    /// One pass, then exit: meant for cron. On a terminal it prints what it
    /// saw; under cron it prints nothing unless something fails. Everything
    /// in a pass lands in one transaction, and an overlapping collect waits
    /// ([database] lock_wait, default 10s) then skips with exit status 75.
    Collect(CollectArgs),

    /// Report growth, symptoms and owners over a window of the history.
    ///
    /// Growth compares the samples at the window's edges (the newest pass at
    /// or before its start, and the newest pass), at stack, container and
    /// volume level. Prints a `## Sibling Stacks` markdown section (or JSON);
    /// can update the knowledge file's generated block and write one vault
    /// item per actionable finding on a stack the factory does not own.
    /// Reads only the database, never the engine.
    Report(ReportArgs),

    /// Apply retention now: thin passes older than [collect] keep_raw (14d)
    /// to one per hour and older than keep_hourly (90d) to one per day.
    ///
    /// `collect` does this by itself at most once an hour; run `compact` after
    /// changing the retention settings, or with --vacuum to give the freed
    /// pages back to the filesystem.
    Compact(CompactArgs),

    /// Remove the factory's own stopped containers and unused images (and,
    /// with --volumes, unused volumes): only objects carrying the managed label.
    ///
    /// A scoped replacement for `docker system prune` on a shared box: an
    /// object without the label ([labels] managed, default
    /// com.disinto.managed=true) is never removed, whatever the flags. Dry run
    /// by default: lists each candidate with its stack and size and what it
    /// would reclaim. With --apply every removal is recorded in the history
    /// (view prune_log) and shows up in the next report.
    Prune(PruneArgs),

    /// Check that stackwatch can do its job here, one line per check with the
    /// fix; exit status 0 only when every check passed.
    ///
    /// Engine reachable and its API version, socket permissions, Docker root
    /// readable (which decides how sizes are measured), database writable and
    /// its schema version, config and project TOMLs valid, knowledge and vault
    /// paths writable.
    Doctor(DoctorArgs),

    /// Print each host's latest pass as Prometheus metrics.
    ///
    /// Per stack, container and volume: sizes, memory, restart counts,
    /// state and health as state sets, and CPU, network and block-I/O
    /// counters, labelled with host, stack, service, owner and managed.
    /// Reads only the database. With --output the file is replaced
    /// atomically, for node_exporter's textfile collector.
    Metrics(MetricsArgs),

    /// Serve /metrics (and /healthz) over HTTP from the database.
    ///
    /// Every scrape reads the latest passes from the database; the engine
    /// is never called, so scrape as often as you like and run `collect`
    /// from cron as before. Listens on loopback unless told otherwise.
    Serve(ServeArgs),

    /// Follow the engine's container events as they happen and store them.
    ///
    /// Optional, for boxes where the engine's short list of recent events
    /// overflows between passes (the report then says events may be
    /// missing). Writes small batches beside `collect` (an event is stored
    /// once, whoever sees it first), reconnects with backoff when the engine
    /// goes away and records what it could not see. SIGTERM: writes what it
    /// received, exits 0.
    Watch(WatchArgs),

    /// Run one read-only SQL query against the history and print the rows.
    ///
    /// For boxes without the `sqlite3` shell. The database is opened
    /// read-only; statements that would write, and more than one statement,
    /// are refused. The views are in the README ("The history database").
    Sql(SqlArgs),

    /// Serve the history to an agent over the Model Context Protocol (stdio).
    ///
    /// Tools: report, top_growth, stack_history, object_history, findings,
    /// sql; resources: the knowledge block and the view catalogue. Reads
    /// only the database, never the engine, and never writes. Configure it
    /// in the client's `.mcp.json` (README "Asking it: `stackwatch mcp`").
    Mcp(McpArgs),
}

#[derive(Debug, Args)]
pub struct McpArgs {
    /// Project TOMLs for ownership, re-read on every call. Default: $FACTORY_ROOT/projects, else [report] projects_dir, else none.
    #[arg(long, value_name = "DIR")]
    pub projects: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct CompactArgs {
    /// Also VACUUM the database file (rewrites it; needs as much free space
    /// as the database's size).
    #[arg(long)]
    pub vacuum: bool,
}

#[derive(Debug, Args)]
pub struct MetricsArgs {
    /// OpenMetrics 1.0 instead of the Prometheus text format 0.0.4.
    #[arg(long)]
    pub openmetrics: bool,

    /// Write to FILE (atomically: temporary file, fsync, rename) instead of
    /// stdout; node_exporter's textfile collector wants `*.prom` files.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Project TOMLs for the owner label. Default: $FACTORY_ROOT/projects, else [report] projects_dir, else none.
    #[arg(long, value_name = "DIR")]
    pub projects: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on. Use 0.0.0.0:PORT only behind a firewall: the
    /// metrics name every stack, container and volume on the box.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9324")]
    pub listen: std::net::SocketAddr,

    /// Project TOMLs for the owner label, re-read on every scrape.
    /// Default: $FACTORY_ROOT/projects, else [report] projects_dir, else none.
    #[arg(long, value_name = "DIR")]
    pub projects: Option<PathBuf>,

    /// /healthz answers 503 when a host's newest pass is older than this
    /// (the collector stopped): 30m, 1h, ...
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = crate::time::Window::parse)]
    pub max_age: crate::time::Window,
}

#[derive(Debug, Args)]
pub struct SqlArgs {
    /// Exactly one statement that reads, e.g. "SELECT * FROM latest_stacks".
    #[arg(value_name = "SQL")]
    pub query: String,

    /// table: aligned columns (NULL shown as NULL); csv: RFC 4180 with a
    /// header (NULL is empty); json: an array of objects (NULL is null).
    #[arg(long, value_enum, default_value_t = crate::sql::SqlFormat::Table)]
    pub format: crate::sql::SqlFormat,

    /// Stop the query after this long (30s, 5m, ...; 0 for no limit): an
    /// open read keeps the write-ahead log from being checkpointed.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_timeout)]
    pub timeout: std::time::Duration,
}

fn parse_timeout(s: &str) -> Result<std::time::Duration, String> {
    if s.trim() == "0" {
        return Ok(std::time::Duration::ZERO);
    }
    crate::time::parse_duration(s)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Markdown,
    Json,
    /// The dashboard's host page as one self-contained HTML file.
    Html,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Window to report on: 30m, 6h, 24h, 7d, ... Default: [report] window (24h).
    #[arg(long, value_name = "DURATION", value_parser = crate::time::Window::parse)]
    pub window: Option<crate::time::Window>,

    /// markdown: the `## Sibling Stacks` section; json: the same findings
    /// with exact integers (README "Report JSON"); html: the dashboard's
    /// host page as one self-contained file (charts inline, no script).
    #[arg(long, value_enum, default_value_t = Format::Markdown)]
    pub format: Format,

    /// Update this knowledge file in place: the block between
    /// `<!-- stackwatch:begin -->` and `<!-- stackwatch:end -->` is replaced,
    /// everything else kept byte for byte; without markers it is appended.
    /// A symlink is written through to its target. Default:
    /// $OPS_KNOWLEDGE_ROOT/sibling-stacks.md, else
    /// $OPS_REPO_ROOT/knowledge/sibling-stacks.md; with neither, none.
    #[arg(long, value_name = "PATH")]
    pub knowledge: Option<PathBuf>,

    /// Update no knowledge file even when the environment names one.
    #[arg(long, conflicts_with = "knowledge")]
    pub no_knowledge: bool,

    /// Markdown with every finding, grower and stack, ignoring
    /// `[report] budget_bytes` (JSON always has everything).
    #[arg(long)]
    pub full: bool,

    /// Write vault items here. Default: $OPS_VAULT_ROOT, else
    /// $OPS_REPO_ROOT/vault/pending; with neither, no vault output.
    #[arg(long, value_name = "DIR")]
    pub vault: Option<PathBuf>,

    /// Write no vault items even when the environment names a vault.
    #[arg(long, conflicts_with = "vault")]
    pub no_vault: bool,

    /// Project TOMLs for ownership. Default: $FACTORY_ROOT/projects, else [report] projects_dir, else none.
    #[arg(long, value_name = "DIR")]
    pub projects: Option<PathBuf>,

    /// Use sibling-stacks.md.j2 / vault-item.md.j2 from this directory
    /// instead of the embedded templates (each file that exists).
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Docker engine to follow (as for collect; one engine per watcher).
    /// Default: the first [docker] host from the config, else
    /// unix:///var/run/docker.sock.
    #[arg(long, env = "DOCKER_HOST", value_name = "HOST")]
    pub docker_host: Option<String>,

    /// Write what was received at least this often (500 events also make a
    /// batch): 1s, 10s, 1m.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = crate::time::Window::parse)]
    pub flush_every: crate::time::Window,
}

#[derive(Debug, Args)]
pub struct CollectArgs {
    /// Docker engine to read: unix:///path/docker.sock, tcp://host:port
    /// (TLS when DOCKER_TLS_VERIFY is set or [docker] tls_verify is true,
    /// with ca.pem, cert.pem and key.pem from DOCKER_CERT_PATH or [docker]
    /// cert_path) or https://host:port (always TLS). Repeat it to collect
    /// several engines into one history, one pass each. Default: [docker]
    /// host from the config, else unix:///var/run/docker.sock.
    #[arg(long, env = "DOCKER_HOST", value_name = "HOST")]
    pub docker_host: Vec<String>,

    /// Print the per-stack summary even when stdout is not a terminal.
    #[arg(long, conflicts_with = "quiet")]
    pub summary: bool,

    /// Measure every volume and writable layer now, whether due or not
    /// (still within [collect] size_budget).
    #[arg(long, conflicts_with = "no_sizes")]
    pub sizes: bool,

    /// Measure no sizes this pass; the last measurements are carried forward
    /// with their age.
    #[arg(long)]
    pub no_sizes: bool,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Docker engine: unix:///path/docker.sock, tcp://host:port (TLS as for
    /// `collect`) or https://host:port. Default: [docker] host from the
    /// config, else unix:///var/run/docker.sock.
    #[arg(long, env = "DOCKER_HOST", value_name = "HOST")]
    pub docker_host: Option<String>,

    /// Remove what the dry run lists, recording each removal in the history.
    /// Refused when nothing on the engine carries the managed label.
    #[arg(long)]
    pub apply: bool,

    /// Also remove labelled volumes no container mounts. Volumes hold data,
    /// so they are only ever removed when asked for explicitly.
    #[arg(long)]
    pub volumes: bool,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Docker engine: unix:///path/docker.sock, tcp://host:port (TLS as for
    /// `collect`) or https://host:port. Default: [docker] host from the
    /// config, else unix:///var/run/docker.sock.
    #[arg(long, env = "DOCKER_HOST", value_name = "HOST")]
    pub docker_host: Option<String>,

    /// Knowledge file `report --knowledge` updates. Default:
    /// $OPS_KNOWLEDGE_ROOT/sibling-stacks.md, else $OPS_REPO_ROOT/knowledge/sibling-stacks.md.
    #[arg(long, value_name = "PATH")]
    pub knowledge: Option<PathBuf>,

    /// Vault directory. Default: $OPS_VAULT_ROOT, else $OPS_REPO_ROOT/vault/pending.
    #[arg(long, value_name = "DIR")]
    pub vault: Option<PathBuf>,

    /// Project TOMLs. Default: $FACTORY_ROOT/projects, else [report] projects_dir, else none.
    #[arg(long, value_name = "DIR")]
    pub projects: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;

    #[test]
    fn the_arguments_are_consistent() {
        Cli::command().debug_assert();
    }

    /// Every value parser's type must be the field's: clap checks that only
    /// when the argument is read, so each duration-taking command is parsed
    /// here with its default and with a value given.
    #[test]
    fn every_command_with_a_duration_parses_with_and_without_it() {
        for args in [
            &["stackwatch", "watch"][..],
            &["stackwatch", "watch", "--flush-every", "5s"],
            &["stackwatch", "serve"],
            &["stackwatch", "serve", "--max-age", "2h"],
            &["stackwatch", "report"],
            &["stackwatch", "report", "--window", "6h"],
        ] {
            let cli = Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
            match cli.command {
                Command::Watch(w) => assert!(w.flush_every.seconds >= 1),
                Command::Serve(s) => assert!(s.max_age.seconds >= 3600),
                Command::Report(r) => assert!(r.window.is_none_or(|w| w.seconds == 6 * 3600 && w.text == "6h")),
                _ => unreachable!(),
            }
        }
        assert!(Cli::try_parse_from(["stackwatch", "report", "--window", "0s"]).is_err());
    }
}
