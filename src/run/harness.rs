//! A `harness = false` target: run it once, with the filters and test
//! arguments `cargo test` would pass, and judge it by its exit code.

use std::time::Instant;

use super::RunContext;
use super::output::{append_bounded, tail};
use super::process::{self, Event, KillReason};
use crate::build::TestBinary;
use crate::env::{WorkerSlot, test_command};
use crate::error::describe_status;
use crate::event::{Outcome, RunEvent, TestResult};

/// Run `binary` on `slot` and report it as one test named after its target.
pub fn run(ctx: &RunContext, slot: &WorkerSlot, binary: &TestBinary, source_path: Option<String>) {
    let mut cmd = test_command(binary, Some(slot));
    cmd.args(&ctx.options.harness_args);
    ctx.emit(RunEvent::TestStarted {
        worker: slot.name.clone(),
        name: binary.target_name.clone(),
    });
    let started = Instant::now();
    // `--timeout`'s clock stands still while the run is stopped (Ctrl-Z).
    let clock = ctx.stopwatch();
    let mut output = Vec::new();
    let finished = process::spawn(cmd).and_then(|r| {
        r.drive(ctx.cancel, |e| match e {
            Event::Output(_, d) => {
                append_bounded(&mut output, d);
                None
            }
            Event::Tick => ctx
                .options
                .timeout
                .filter(|t| clock.elapsed() > *t)
                .map(|_| KillReason::Timeout),
        })
    });
    let (outcome, reason) = match &finished {
        Ok(f) if f.killed == Some(KillReason::Cancelled) => return,
        Ok(f) if f.killed == Some(KillReason::Timeout) => (
            Outcome::TimedOut,
            Some(format!(
                "timed out after {}",
                humantime::format_duration(ctx.options.timeout.unwrap_or_default())
            )),
        ),
        Ok(f) if f.status.success() => (Outcome::Passed, None),
        Ok(f) => (
            Outcome::Failed,
            Some(format!(
                "custom test harness failed ({})",
                describe_status(&f.status)
            )),
        ),
        Err(e) => (
            Outcome::Failed,
            Some(format!("cannot start {}: {e}", binary.path)),
        ),
    };
    let output = if outcome == Outcome::Passed {
        String::new()
    } else {
        tail(&output)
    };
    ctx.emit(RunEvent::TestFinished(
        TestResult::new(
            &binary.id,
            &binary.target_name,
            source_path,
            &binary.id,
            &slot.name,
            outcome,
        )
        .took(started.elapsed())
        .because(reason)
        .with_output(output),
    ));
}
