//! Running `--db-setup` against a database: in a process group of its own,
//! killed with cargo-xdist, its failure one line of redacted output.

use std::process::Command;
use std::time::Duration;

use super::error::{DbError, MESSAGE_TAIL_LINES, last_lines};
use super::settings::Settings;
use super::url::redact_secrets;

impl Settings {
    /// Run `--db-setup` (if any) with `url` in the configured variable.
    pub(super) fn run_setup(&self, worker: &str, url: &str) -> Result<(), DbError> {
        let Some(command) = &self.setup else {
            return Ok(());
        };
        let failed = |status: String, output: &str| {
            // Masked before lines are picked and their spaces collapsed.
            let tail = last_lines(&redact_secrets(output, &self.secrets), MESSAGE_TAIL_LINES);
            DbError::SetupFailed {
                worker: worker.to_string(),
                status,
                tail: if tail.is_empty() {
                    String::new()
                } else {
                    format!(": {}", self.redact(&tail))
                },
                env_name: self.env_name.clone(),
            }
        };
        if self.cancel.is_cancelled() {
            return Err(DbError::SetupInterrupted {
                worker: worker.to_string(),
            });
        }
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(command).env(&self.env_name, url);
        die_with_parent(&mut cmd);
        // In a process group of its own, which gets the signal that stops
        // the run and SIGKILL after the grace (as a test process does).
        let result = crate::process::output(cmd, &self.cancel, Duration::MAX);
        let output = match result {
            Ok(output) => output,
            Err(e) => return Err(failed(format!("could not run sh: {e}"), "")),
        };
        if self.cancel.is_cancelled() {
            // However it ended (killed, or exiting 143 on the signal).
            return Err(DbError::SetupInterrupted {
                worker: worker.to_string(),
            });
        }
        if output.finished.status.success() {
            return Ok(());
        }
        let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&String::from_utf8_lossy(&output.stderr));
        Err(failed(
            crate::error::describe_status(&output.finished.status),
            &text,
        ))
    }
}

/// Have `cmd`'s process killed (SIGKILL) when cargo-xdist dies, even by
/// SIGKILL, which leaves no chance to signal it.
fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    let parent = rustix::process::getpid();
    // SAFETY: the closure runs in the child between fork and exec, and
    // only makes async-signal-safe system calls (prctl, getppid, _exit).
    unsafe {
        cmd.pre_exec(move || {
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))?;
            // The parent died before the prctl: nobody is left to ask.
            if rustix::process::getppid() != Some(parent) {
                libc::_exit(137);
            }
            Ok(())
        });
    }
}
