//! A `harness = false` target: run it once, with the filters and test
//! arguments `cargo test` would pass, and judge it by its exit code.

use std::time::Instant;

use super::output::{LiveLines, MaskedStreams, append_bounded, merge_stderr_into_stdout, tail};
use super::{RunContext, SlowClock};
use crate::build::TestBinary;
use crate::env::{WorkerSlot, test_command};
use crate::error::describe_status;
use crate::event::{Outcome, RunEvent, TestResult};
use crate::process::{self, Event, KillReason};

/// Run `binary` on `slot` and report it as one test named after its target;
/// this is attempt `attempt` (`--retries`). Returns whether it failed and is
/// to run again.
pub fn run(
    ctx: &RunContext,
    slot: &WorkerSlot,
    binary: &TestBinary,
    source_path: Option<String>,
    attempt: u32,
) -> bool {
    let mut cmd = test_command(binary, Some(slot), None);
    cmd.args(&ctx.options.harness_args);
    // Its output in the order it was written (stderr and stdout apart
    // would interleave as they happen to be read).
    merge_stderr_into_stdout(&mut cmd);
    ctx.emit(RunEvent::TestStarted {
        worker: slot.name.clone(),
        binary: binary.id.clone(),
        name: binary.target_name.clone(),
    });
    let started = Instant::now();
    // `--timeout`'s clock stands still while the run is stopped (Ctrl-Z).
    let clock = ctx.stopwatch();
    let mut output = Vec::new();
    let mut masked = MaskedStreams::new(ctx.redactor());
    let mut live = ctx
        .options
        .live_output
        .then(|| LiveLines::new(ctx.redactor()));
    let live_output = |text: String| ctx.emit_output(&slot.name, &binary.id, text);
    let mut slow = SlowClock::new(ctx.options.slow_timeout);
    let finished = process::spawn(cmd).and_then(|r| {
        r.drive(ctx.cancel, |e| match e {
            Event::Output(stream, d) => {
                append_bounded(&mut output, masked.push(stream, d).as_bytes());
                if let Some(text) = live.as_mut().and_then(|l| l.push(stream, d)) {
                    live_output(text);
                }
                None
            }
            Event::Tick => {
                if let Some(elapsed) = slow.check(clock.elapsed()) {
                    ctx.emit(RunEvent::Slow {
                        worker: slot.name.clone(),
                        binary: binary.id.clone(),
                        name: binary.target_name.clone(),
                        elapsed,
                    });
                }
                if ctx.is_cancelled() {
                    // `--maxfail` was reached (signals reach the group anyway).
                    return Some(KillReason::Cancelled);
                }
                ctx.options
                    .timeout
                    .filter(|t| clock.elapsed() > *t)
                    .map(|_| KillReason::Timeout)
            }
        })
    });
    append_bounded(&mut output, masked.finish().as_bytes());
    if let Some(text) = live.as_mut().and_then(LiveLines::flush) {
        live_output(text);
    }
    let (outcome, reason) = match &finished {
        Ok(f) if f.killed == Some(KillReason::Cancelled) => return false,
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
    // A custom harness is one test: what it left running is its own.
    let (outcome, reason) = match finished.as_ref().map(|f| &f.leaked) {
        Ok(leaked) if !leaked.is_empty() => {
            let processes: Vec<_> = leaked.iter().map(crate::leak::Leaked::event).collect();
            let fails = ctx.options.leak_fails && outcome == Outcome::Passed;
            let why = crate::event::LeakedProcess::describe(&processes);
            ctx.emit(RunEvent::Leaked {
                worker: slot.name.clone(),
                binary: binary.id.clone(),
                tests: vec![binary.target_name.clone()],
                processes,
                fails: ctx.options.leak_fails,
            });
            if fails {
                let why = format!("{why}; killed (--leak-fails)");
                (Outcome::Failed, Some(why))
            } else {
                (outcome, reason)
            }
        }
        _ => (outcome, reason),
    };
    let output = if outcome == Outcome::Passed {
        String::new()
    } else {
        tail(&output, ctx.redactor())
    };
    let result = TestResult::new(
        &binary.id,
        &binary.target_name,
        source_path,
        &binary.id,
        &slot.name,
        outcome,
    )
    .took(started.elapsed())
    .because(reason)
    .with_output(output);
    let result = ctx.attempt(result, attempt);
    let again = result.will_retry;
    ctx.emit(RunEvent::TestFinished(result));
    again
}
