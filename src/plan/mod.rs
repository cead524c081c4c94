//! Plan stage: the listed tests + the filters + the dist mode → a [`Plan`]:
//! the units of work for the runner, and the results already known before
//! anything runs (ignored tests, binaries that could not list their tests).
//! Partitions and last-failed selection plug in here; the order in which
//! units are handed out is [`crate::schedule`]'s.
//!
//! `--lf` keeps only the tests that failed last time ([`LastFailures`],
//! read from [`crate::history`] by [`last_failures`]); `--ff` puts them in units of their own,
//! [`Plan::first`], which are handed out before the rest. A custom-harness
//! target is one test; a package's doctests are one unit, selected (or put
//! first) as a whole when any of them failed. `--affected` keeps the
//! tests a change can affect ([`affected`], from [`crate::impact`]'s
//! map) and `--record-impact` runs a process per test
//! ([`one_test_per_process`]).

mod group;
mod impact;
mod key;
mod last_failed;
mod partition;
mod select;
mod units;

pub use crate::event::LISTING;
pub use group::{group_key, xdist_group_of};
pub use impact::{Affected, affected, for_run, one_test_per_process, workspace_tree};
pub use key::{GroupKey, Piece};
pub use last_failed::last_failures;
pub use partition::{Shards, keep_shard, list_shard, unit_key};
pub use select::select;
pub use units::{LastFailures, MAX_BATCH, Plan, TestGroup, WorkUnit, plan};

#[cfg(test)]
pub(crate) use units::tests;
