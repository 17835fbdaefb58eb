//! stackwatch: a per-stack history of a Docker host.
//!
//! The house, from the ground up (imports only point down):
//! - `model`, `untrusted`, `time`, `paths`, `disk`, `signals`, `progress`,
//!   `fault`: the shared vocabulary (stacks, container states, sizes,
//!   labels, a pass as plain data) and small leaf services;
//! - `config`, `engine` (the only module that talks to Docker), `store`
//!   (the database, the only module that holds its connection: `Store`
//!   methods write, a `read::Reader` reads, `retention`, the views), `sql`
//!   (the user's own queries, through the store's one raw door);
//! - `collect` (engine → snapshot → store, and the event follower) and
//!   `history` (the read model every reader shares);
//! - the readers and actors side by side: `section` and `report`,
//!   `metrics`, `dashboard`, `mcp`, `prune`;
//! - `cli` and `commands`: arguments in, one call, what to print.

pub mod cli;
pub mod collect;
pub mod commands;
pub mod config;
pub mod dashboard;
pub mod disk;
pub mod doctor;
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
pub mod serve;
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
