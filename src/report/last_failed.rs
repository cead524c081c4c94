//! After the run: the failures recorded for `--lf`/`--ff` (see
//! [`crate::history`]).

use anyhow::Result;

use crate::build::BuildOutput;
use crate::event::RunSummary;

/// Record this run's failures (and, under `--flaky-fails`, its flaky
/// tests) for `build`'s workspace, keeping what is known of the tests that
/// did not run.
pub fn save(build: &BuildOutput, summary: &RunSummary, flaky_fails: bool) -> Result<()> {
    let relisted: Vec<&str> = build.binaries.iter().map(|b| b.id.as_str()).collect();
    crate::history::save(
        &build.target_directory,
        &build.workspace_root,
        &relisted,
        &summary.results,
        flaky_fails,
    )
}
