//! Coverage after a `--coverage` run: find the LLVM tools that match rustc
//! ([`tools`]), merge the raw profiles and export reports ([`report`]), and
//! work on lcov tracefiles in pure Rust ([`lcov`], [`cobertura`],
//! [`merge`] for `cargo xdist coverage merge`).

pub mod cobertura;
pub mod lcov;
pub mod merge;
pub mod report;
pub mod tools;

#[cfg(test)]
mod fixture_tests;
