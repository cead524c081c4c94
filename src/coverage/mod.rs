//! Coverage after a `--coverage` run: find the LLVM tools that match rustc
//! ([`tools`]), merge the raw profiles and export reports ([`report`]), and
//! work on lcov tracefiles in pure Rust ([`lcov`], [`cobertura`],
//! [`merge`] for `cargo xdist coverage merge`). Before and during the run,
//! [`instrument`] says how cargo builds instrumented tests and where each
//! process writes its profile.

pub mod cobertura;
pub mod finish;
pub mod instrument;
pub mod lcov;
pub mod merge;
mod options;
pub mod report;
pub mod tools;

pub use options::CoverageOptions;
