//! stackwatch: a per-stack history of a Docker host.
//!
//! Layout, one job per module: `engine` talks to Docker, `collect` turns
//! what it says into a `snapshot`, `store` keeps snapshots in SQLite,
//! `commands` wires them together per subcommand.

pub mod cli;
pub mod collect;
pub mod commands;
pub mod config;
pub mod dashboard;
pub mod disk;
pub mod engine;
pub mod fault;
pub mod history;

pub mod mcp;
pub mod metrics;
pub mod model;
pub mod paths;
pub mod progress;
pub mod prune;
pub mod report;
pub mod section;
pub mod signals;
pub mod sql;
pub mod store;
pub mod time;
pub mod untrusted;

use cli::{Cli, Command};

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::Collect(args) => commands::collect::run(&cli.global, args),
        Command::Report(args) => commands::report::run(&cli.global, args),
        Command::Compact(args) => commands::compact::run(&cli.global, args),
        Command::Prune(args) => commands::prune::run(&cli.global, args),
        Command::Doctor(args) => commands::doctor::run(&cli.global, args),
        Command::Metrics(args) => commands::metrics::run(&cli.global, args),
        Command::Serve(args) => commands::serve::run(&cli.global, args),
        Command::Sql(args) => commands::sql::run(&cli.global, args),
        Command::Mcp(args) => commands::mcp::run(&cli.global, args),
        Command::Watch(args) => commands::watch::run(&cli.global, args),
    }
}
