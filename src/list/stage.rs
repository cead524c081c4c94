//! The build-and-list stage of a run: build (or open the archive), then
//! list every binary, while the worker databases are created; each
//! phase's time goes to the `Timing:` line.

use std::time::Instant;

use anyhow::Result;

use super::Listing;
use crate::archive;
use crate::build::BuildOutput;
use crate::config::RunConfig;
use crate::db::{self, WorkerDatabases};
use crate::error::Interrupted;
use crate::report::terminal::Timing;
use crate::signal;

/// Build and list; the worker databases are created meanwhile (all three
/// mostly wait, so they overlap).
pub fn build_and_list(
    config: &RunConfig,
    coverage: Option<&str>,
    databases: Option<&mut WorkerDatabases>,
    cancel: &signal::Cancel,
    timing: &mut Timing,
) -> Result<(BuildOutput, Listing)> {
    let (out, created) = db::create_while(databases, cancel, || {
        let t_build = Instant::now();
        let built = match archive::build_or_open(config, coverage) {
            Err(e) if cancel.is_cancelled() => return Err(e.context(Interrupted)),
            other => other?,
        };
        timing.build = t_build.elapsed();
        timing.opened_archive = config.archive.is_some();
        if config.no_run {
            return Ok((built, Listing::default()));
        }
        let t_list = Instant::now();
        let listing = super::list_all(&built, cancel, config.timeout);
        timing.list = t_list.elapsed();
        Ok((built, listing))
    })?;
    timing.db_create = created;
    Ok(out)
}
