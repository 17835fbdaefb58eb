//! The tests that need no engine, in one binary: histories the tests build
//! themselves (window arithmetic, retention, the section's budget, the MCP
//! series' point counts), the parsers under random input, and `serve` under
//! hostile clients.

#[path = "../common/mod.rs"]
mod common;
#[path = "../support/generated_box.rs"]
mod generated_box;

mod mcp_series;
mod parsers_fuzz;
mod report_history;
mod retention;
mod section_budget;
mod serve_clients;
