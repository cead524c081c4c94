//! Shared helpers for the end-to-end tests: run the real `cargo-xdist`
//! binary against the fixture workspaces, parse its JUnit report and the
//! fixtures' record files, start a PostgreSQL server, wait for things, and
//! describe every failure with the tool's output.
//!
//! All fixture builds share one target directory,
//! `<repo>/target/fixture-target`, so they are compiled once and cached.
//!
//! Every test file includes this module (`mod common;`) and uses a part of
//! it; the rest would be dead code (and unused re-exports) in that test
//! binary.

#![allow(dead_code, unused_imports)]

mod basic;
mod fixtures;
mod junit;
mod pg;
mod processes;
mod records;
mod wait;
mod xdist;

pub use basic::*;
pub use fixtures::*;
pub use junit::*;
pub use pg::*;
pub use processes::*;
pub use records::*;
pub use wait::*;
pub use xdist::*;
