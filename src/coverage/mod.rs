//! Coverage after a `--coverage` run: find the LLVM tools that match rustc
//! ([`tools`]), merge the raw profiles ([`profdata`]), export them
//! ([`export`], [`summary`]) and write the reports `--cov-report` asks for
//! ([`spec`], [`report`]), leaving out what [`ignore`] says, then check
//! `--cov-fail-under` ([`fail_under`]); and
//! work on lcov tracefiles in pure Rust ([`lcov`], [`cobertura`],
//! [`merge`] for `cargo xdist coverage merge`). Before and during the run,
//! [`instrument`] says how cargo builds instrumented tests and where each
//! process writes its profile.

pub mod cobertura;
pub mod export;
pub mod fail_under;
pub mod finish;
pub mod ignore;
pub mod instrument;
pub mod invoke;
pub mod lcov;
pub mod merge;
mod options;
pub mod profdata;
pub mod report;
pub mod spec;
pub mod summary;
pub mod tools;

pub use options::CoverageOptions;
