//! Every test that talks to a real Docker engine, in one binary (one link
//! instead of twenty, and `.ci/test` runs exactly this binary again on the
//! modern engine). Each module is one subject; the shared test bed (images
//! built `FROM scratch`, guards that remove what a test made, private
//! engines) is in `tests/common`. Without an engine these tests say so and
//! pass locally, and fail under `CI=true`.

#[path = "../common/mod.rs"]
mod common;

mod collect;
mod collect_errors;
mod dashboard_browser;
mod disk_attribution;
mod doctor;
mod engine_restart;
mod events;
mod faults;
mod mcp_server;
mod memory_limit;
mod metrics;
mod multi_engine;
mod prune;
mod readme_queries;
mod report;
mod section;
mod sql_cli;
mod tls;
mod unicode;
mod watch;
