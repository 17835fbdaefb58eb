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
    after_help = "Exit status: 0 success, 1 error, 75 skipped because another collect holds the database."
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
}

#[derive(Debug, Args)]
pub struct CollectArgs {
    /// Docker engine to read: unix:///path/docker.sock or tcp://host:port.
    /// Default: [docker] host from the config, else unix:///var/run/docker.sock.
    #[arg(long, env = "DOCKER_HOST", value_name = "HOST")]
    pub docker_host: Option<String>,

    /// Print the per-stack summary even when stdout is not a terminal.
    #[arg(long, conflicts_with = "quiet")]
    pub summary: bool,

    /// Skip the engine's size accounting (`system df`) this pass; volume and
    /// writable-layer sizes are recorded as unknown.
    #[arg(long)]
    pub no_sizes: bool,
}
