//! Every error kind that decides the exit code, and every exit code. A
//! failing test is a result, not an error: it gives exit code 100 through
//! the summary. This module imports no stage; the stages import it.

/// All tests passed.
pub const EXIT_OK: i32 = 0;
/// Anything else that went wrong inside cargo-xdist.
pub const EXIT_INTERNAL: i32 = 1;
/// Usage or configuration error (also a database or tool that cannot be
/// used): a one-line message naming the problem and the fix.
pub const EXIT_USAGE: i32 = 2;
/// Line coverage is under `--cov-fail-under` (and no test failed).
pub const EXIT_COVERAGE_LOW: i32 = 3;
/// No test matched the filters (`--no-tests=fail`, the default), as
/// under nextest.
pub const EXIT_NO_TESTS: i32 = 4;
/// At least one test failed or timed out.
pub const EXIT_TESTS_FAILED: i32 = 100;
/// The build failed (as `cargo test`).
pub const EXIT_BUILD_FAILED: i32 = 101;
/// Interrupted by Ctrl-C or SIGTERM.
pub const EXIT_INTERRUPTED: i32 = 130;
/// Interrupted by SIGHUP (the terminal went away): 128 + 1, as a shell
/// reports a process that SIGHUP killed.
pub const EXIT_HANGUP: i32 = 129;

/// A usage or configuration problem: one line naming the problem and,
/// after `; `, the fix.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Something the run needs is there but unusable (the database server, a
/// tool): exit 2 like a usage error, with the source error's own message.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct Unavailable(pub Box<dyn std::error::Error + Send + Sync>);

impl Unavailable {
    pub fn new(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Unavailable(Box::new(e))
    }
}

/// The build failed: cargo already printed the diagnostics.
#[derive(Debug, thiserror::Error)]
#[error("build failed: `cargo test --no-run` exited with {0}")]
pub struct BuildFailed(pub String);

/// The run was interrupted before it finished.
#[derive(Debug, thiserror::Error)]
#[error("interrupted")]
pub struct Interrupted;

/// The exit code for an error that ended the run.
pub fn exit_code(err: &anyhow::Error) -> i32 {
    if err.downcast_ref::<UsageError>().is_some() || err.downcast_ref::<Unavailable>().is_some() {
        EXIT_USAGE
    } else if err.downcast_ref::<BuildFailed>().is_some() {
        EXIT_BUILD_FAILED
    } else if err.downcast_ref::<Interrupted>().is_some() {
        EXIT_INTERRUPTED
    } else {
        EXIT_INTERNAL
    }
}

/// The exit code of a run that finished: interrupted, then failed tests,
/// then coverage under the minimum, then a report that could not be written.
pub fn run_exit_code(
    interrupted: bool,
    failed_tests: usize,
    coverage_low: bool,
    report_failed: bool,
) -> i32 {
    if interrupted {
        EXIT_INTERRUPTED
    } else if failed_tests > 0 {
        EXIT_TESTS_FAILED
    } else if coverage_low {
        EXIT_COVERAGE_LOW
    } else if report_failed {
        EXIT_USAGE
    } else {
        EXIT_OK
    }
}

/// `code` (from [`run_exit_code`]) for a run that ran no test at all
/// (`no_tests`): [`EXIT_NO_TESTS`] when that fails the run (`fail`),
/// unless it was interrupted or a test binary failed (could not list).
pub fn no_tests_exit_code(code: i32, no_tests: bool, fail: bool) -> i32 {
    if no_tests && fail && !matches!(code, EXIT_INTERRUPTED | EXIT_TESTS_FAILED) {
        EXIT_NO_TESTS
    } else {
        code
    }
}

/// The one wording for how a child process ended, used by every stage:
/// `exit code 3`, `signal 6 (SIGABRT)`.
pub fn describe_status(status: &std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    if let Some(code) = status.code() {
        return format!("exit code {code}");
    }
    if let Some(sig) = status.signal() {
        let name = signal_hook::low_level::signal_name(sig).unwrap_or("unknown signal");
        return format!("signal {sig} ({name})");
    }
    status.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn a_status_is_described_by_exit_code_or_signal_name() {
        let of = |raw| describe_status(&std::process::ExitStatus::from_raw(raw));
        assert_eq!(of(3 << 8), "exit code 3");
        assert_eq!(of(libc::SIGABRT), "signal 6 (SIGABRT)");
        assert_eq!(of(libc::SIGKILL), "signal 9 (SIGKILL)");
        // Named too, though the old hand-written table stopped at SIGTERM.
        assert_eq!(of(libc::SIGXCPU), "signal 24 (SIGXCPU)");
        assert_eq!(of(60), "signal 60 (unknown signal)");
    }
}
