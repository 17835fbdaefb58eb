//! One module per subcommand: each wires config, engine and store together
//! for its job and decides what to print.

pub mod collect;
pub mod compact;
pub mod doctor;
pub mod mcp;
pub mod metrics;
pub mod prune;
pub mod report;
pub mod serve;
pub mod sql;
pub mod watch;
