//! Errors that decide the exit code. A failing test is a result, not an
//! error: it gives exit code 100 through the summary.

/// All tests passed.
pub const EXIT_OK: i32 = 0;
/// At least one test failed or timed out.
pub const EXIT_TESTS_FAILED: i32 = 100;
/// The build failed (as `cargo test`).
pub const EXIT_BUILD_FAILED: i32 = 101;
/// Usage or configuration error.
pub const EXIT_USAGE: i32 = crate::cli::EXIT_USAGE;
/// Interrupted by Ctrl-C or SIGTERM.
pub const EXIT_INTERRUPTED: i32 = crate::signal::EXIT_INTERRUPTED;
/// Anything else that went wrong inside cargo-xdist.
pub const EXIT_INTERNAL: i32 = 1;

/// A usage or configuration problem: one line naming the problem and,
/// after `; `, the fix.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The run was interrupted before it finished.
#[derive(Debug, thiserror::Error)]
#[error("interrupted")]
pub struct Interrupted;

/// The exit code for an error that ended the run.
pub fn exit_code(err: &anyhow::Error) -> i32 {
    if err.downcast_ref::<UsageError>().is_some() {
        EXIT_USAGE
    } else if err.downcast_ref::<crate::build::BuildFailed>().is_some() {
        EXIT_BUILD_FAILED
    } else if err.downcast_ref::<Interrupted>().is_some() {
        EXIT_INTERRUPTED
    } else if err.downcast_ref::<crate::db::DbError>().is_some() {
        EXIT_USAGE
    } else {
        EXIT_INTERNAL
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
        return format!("signal {sig} ({})", signal_name(sig));
    }
    status.to_string()
}

/// The conventional name of a signal number.
pub fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        _ => "unknown signal",
    }
}
