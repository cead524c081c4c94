//! cargo-xdist's stages, one module each: cli → build → list → schedule →
//! run → report, with db/ (per-worker databases) beside them. The binary
//! (src/main.rs) wires them together; integration tests use them directly.

pub mod build;
pub mod cli;
pub mod coverage;
pub mod db;
pub mod env;
pub mod error;
pub mod list;
pub mod report;
pub mod run;
pub mod schedule;
pub mod signal;
