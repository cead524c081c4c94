//! Which channel libtest processes report their verdicts through: a
//! logfile, or (libtest without `--logfile`) the exit status; probed once
//! per run.

use std::time::Duration;

use camino::Utf8Path;

use super::libtest;
use crate::build::BuildOutput;
use crate::process;
use crate::signal::Cancel;

/// Set (non-empty) in cargo-xdist's environment, this skips the logfile
/// probe and reads verdicts through the exit-status channel: it tests that
/// channel on a toolchain whose libtest still writes logfiles.
pub const NO_LOGFILE_VAR: &str = "CARGO_XDIST_NO_LOGFILE";

/// How long the logfile probe may take.
const PROBE_LIMIT: Duration = Duration::from_secs(60);

/// libtest deprecated `--logfile` (rust-lang/rust#134283): list
/// `binary`'s tests with a logfile (a `--list` runs no test and takes
/// milliseconds) and read verdicts from logfiles only if `test` shows up in
/// it. Otherwise, or when [`NO_LOGFILE_VAR`] is set, verdicts come from the
/// exit-status channel (see [`libtest::Channel`]). The answer is kept with
/// the binary's cached listing, so an unchanged build does not ask again.
pub(super) fn verdict_channel(
    build: &BuildOutput,
    binary: &crate::build::TestBinary,
    test: &str,
    scratch: &Utf8Path,
    cancel: &Cancel,
) -> libtest::Channel {
    if std::env::var_os(NO_LOGFILE_VAR).is_some_and(|v| !v.is_empty()) {
        return libtest::Channel::ExitStatus;
    }
    let probe = || {
        let log = scratch.join("logfile-probe.log");
        let mut cmd = crate::env::test_command(binary, None, None);
        cmd.arg("--list").arg("--logfile").arg(&log);
        let run = process::output(cmd, cancel, PROBE_LIMIT);
        let text = fs_err::read_to_string(&log).unwrap_or_default();
        let _ = fs_err::remove_file(&log);
        // Only a listing that ran to its end answers for next time.
        let whole = run.is_ok_and(|o| o.finished.killed.is_none() && o.finished.status.success());
        (libtest::logfile_lists(&text, test), whole)
    };
    let logfile = match build.target_dir.as_str() {
        "" => probe().0,
        dir => crate::list::cache::ListCache::new(dir.into()).logfile_probe(binary, probe),
    };
    if logfile {
        libtest::Channel::Logfile
    } else {
        libtest::Channel::ExitStatus
    }
}
