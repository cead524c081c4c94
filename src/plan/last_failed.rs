//! `--lf` / `--ff`: the last run's failures, read from [`crate::history`].

use super::LastFailures;
use crate::build::BuildOutput;
use crate::config::LastFailed;

/// The failures recorded for `build`'s workspace, for `mode` (nothing is
/// read when it is off). A record that cannot be read selects nothing and
/// says why.
pub fn last_failures(build: &BuildOutput, mode: LastFailed) -> LastFailures {
    let mut last = LastFailures {
        mode,
        ..Default::default()
    };
    if mode == LastFailed::Off {
        return last;
    }
    match crate::history::load(&build.target_directory, &build.workspace_root) {
        Ok(tests) => last.tests = tests,
        Err(e) => last.unreadable = Some(format!("{e:#}")),
    }
    last
}
