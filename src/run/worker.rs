//! One worker running one unit of work. A group of libtest tests runs in
//! as few processes as possible; a process that dies (abort, signal,
//! `exit`, timeout) fails the test that was running, and the tests after it
//! run again in a fresh process on the same worker. Any subset of a group
//! can run this way, which is what stealing and re-runs build on.
//!
//! `--retries N`: once its group has run, each test that failed (crashed,
//! timed out) runs again on its own, in a fresh process on the same worker
//! (same environment, same database), until it passes or has had N more
//! attempts. A custom-harness target is retried as a whole. Doctests are
//! not retried: a package's doctests are one `cargo test --doc` run, which
//! would rebuild and rerun every doctest of the package.

use std::cell::RefCell;
use std::io::Read;
use std::time::{Duration, Instant};

use camino::Utf8PathBuf;

use super::libtest::{self, Channel, LogReader, Verdict};
use super::output::{
    LiveFilter, LiveLines, MaskedStreams, TestOutputs, append_bounded, merge_stderr_into_stdout,
    tail,
};
use super::{RunContext, SlowClock};
use crate::build::{BuildOutput, TestBinary};
use crate::env::{WorkerSlot, test_command};
use crate::error::describe_status;
use crate::event::{Outcome, RunEvent, TestResult};
use crate::list::TestCase;
use crate::plan::WorkUnit;
use crate::process::{self, Event, Finished, KillReason, Stream};
use crate::signal::Stopwatch;

/// Most names given to one libtest process (the rest go to the next).
const MAX_NAMES: usize = 500;
/// Most bytes of names on one command line.
const MAX_NAME_BYTES: usize = 96 * 1024;
/// `--coverage`: most fresh processes spent re-running the finished tests
/// of one process that died (each further death costs one test).
const MAX_RECOVERY_PROCESSES: usize = 8;
/// Most fresh processes spent finding which tests make a process end badly
/// after its last verdict (halving: enough for a few culprits among
/// hundreds of tests).
const MAX_EXIT_SEARCH_PROCESSES: usize = 24;

/// The exit-status channel's reason for a test whose process exited 0
/// without libtest's closing line. A test that called `exit(0)` and one
/// that passed after closing or redirecting fd 1 (libtest's results then go
/// nowhere) look the same from outside; `cargo test` passes both by the
/// exit code, the logfile channel tells them apart (only the second gets a
/// verdict there).
const STDOUT_GONE: &str = "the test process ended ({status}) before libtest reported this test: \
    the test called exit(0), or closed or redirected its stdout (fd 1), where libtest writes \
    its results; without libtest's --logfile the two cannot be told apart";

/// Run `unit` on worker `worker` (its `slot`).
pub fn run_unit(
    ctx: &RunContext,
    slot: &WorkerSlot,
    worker: usize,
    unit: &WorkUnit,
    build: &BuildOutput,
) {
    match unit {
        WorkUnit::Tests(g) => {
            let (binary, key) = (&build.binaries[g.binary], &g.key.to_string());
            let Some(board) = &ctx.board else {
                return run_tests(ctx, slot, binary, key, g.tests.iter().collect());
            };
            // Worksteal: run only what this worker claimed; the rest of the
            // group stays on the board for idle workers to take.
            board.publish(worker, &g.key, &g.tests);
            let limit = match ctx.verdicts {
                Channel::Logfile => usize::MAX,
                Channel::ExitStatus => 1,
            };
            while !ctx.is_cancelled() {
                let claimed = board.claim(worker, limit);
                if claimed.is_empty() {
                    break;
                }
                run_tests(ctx, slot, binary, key, claimed.iter().collect());
            }
            board.retire(worker);
        }
        WorkUnit::Harness {
            binary,
            source_path,
        } => {
            let binary = &build.binaries[*binary];
            let mut attempt = 1;
            while super::harness::run(ctx, slot, binary, source_path.clone(), attempt)
                && !ctx.is_cancelled()
            {
                attempt += 1;
            }
        }
        WorkUnit::Doctests { package } => {
            super::doctest::run(ctx, slot, &build.doc_packages[*package])
        }
    }
}

/// Run `tests` (of `group`) in as few libtest processes as possible, then
/// each failed one again, alone, while `--retries` allow.
fn run_tests(
    ctx: &RunContext,
    slot: &WorkerSlot,
    binary: &TestBinary,
    group: &str,
    mut remaining: Vec<&TestCase>,
) {
    let mut again = Vec::new();
    while !remaining.is_empty() && !ctx.is_cancelled() {
        let take = match ctx.verdicts {
            Channel::Logfile => chunk_len(&remaining),
            Channel::ExitStatus => 1,
        };
        let chunk: Vec<&TestCase> = remaining.drain(..take).collect();
        let process = LibtestProcess::new(ctx, slot, binary, group, &chunk);
        // Tests after a crash go first in the next process.
        let mut next = process.run();
        again.extend(process.to_run_again());
        next.extend(remaining);
        remaining = next;
    }
    for test in again {
        let one = [test];
        let mut attempt = 1;
        while !ctx.is_cancelled() {
            attempt += 1;
            let process = LibtestProcess {
                attempt,
                ..LibtestProcess::new(ctx, slot, binary, group, &one)
            };
            process.run();
            if process.to_run_again().is_empty() {
                break;
            }
        }
    }
}

fn chunk_len(tests: &[&TestCase]) -> usize {
    let mut bytes = 0;
    for (i, t) in tests.iter().enumerate() {
        bytes += t.name.len() + 1;
        if i >= MAX_NAMES || (i > 0 && bytes > MAX_NAME_BYTES) {
            return i;
        }
    }
    tests.len()
}

/// One libtest process over some tests of a group.
struct LibtestProcess<'c, 'a> {
    ctx: &'c RunContext<'c>,
    slot: &'c WorkerSlot,
    binary: &'c TestBinary,
    group: &'c str,
    /// The tests, in the order libtest runs them (by name).
    tests: &'c [&'a TestCase],
    names: Vec<String>,
    /// A coverage re-run: it reports nothing.
    silent: bool,
    /// Which attempt at these tests this is (`--retries`), from 1.
    attempt: u32,
    /// Indices of the tests that failed and are to run again.
    again: RefCell<Vec<usize>>,
    /// How this process ended, when that was not how a libtest process
    /// whose tests gave these verdicts ends (see [`exit_problem`]): a
    /// crash mid-test, or a bad end after the last verdict.
    ended_badly: RefCell<Option<String>>,
}

impl<'c, 'a> LibtestProcess<'c, 'a> {
    /// A first attempt at `tests` of `group`.
    fn new(
        ctx: &'c RunContext<'c>,
        slot: &'c WorkerSlot,
        binary: &'c TestBinary,
        group: &'c str,
        tests: &'c [&'a TestCase],
    ) -> Self {
        LibtestProcess {
            ctx,
            slot,
            binary,
            group,
            tests,
            names: tests.iter().map(|t| t.name.clone()).collect(),
            silent: false,
            attempt: 1,
            again: RefCell::default(),
            ended_badly: RefCell::default(),
        }
    }

    fn result(
        &self,
        idx: usize,
        outcome: Outcome,
        duration: Duration,
        reason: Option<String>,
    ) -> TestResult {
        let result = self
            .bare_result(idx, outcome)
            .took(duration)
            .because(reason);
        self.ctx.attempt(result, self.attempt)
    }

    /// Test `idx`'s result here: its binary, name, file, group and worker.
    fn bare_result(&self, idx: usize, outcome: Outcome) -> TestResult {
        let t = self.tests[idx];
        TestResult::new(
            &self.binary.id,
            &t.name,
            t.source_path.clone(),
            self.group,
            &self.slot.name,
            outcome,
        )
    }

    /// Report test `idx`'s result.
    fn emit(&self, idx: usize, result: TestResult) {
        if result.will_retry && !self.silent {
            self.again.borrow_mut().push(idx);
        }
        self.emit_event(RunEvent::TestFinished(result));
    }

    /// The tests that failed here and are to run again (`--retries`).
    fn to_run_again(&self) -> Vec<&'a TestCase> {
        self.again.borrow().iter().map(|&i| self.tests[i]).collect()
    }

    fn emit_event(&self, event: RunEvent) {
        if !self.silent {
            self.ctx.emit(event);
        }
    }

    /// Test `idx` runs now.
    fn emit_started(&self, idx: usize) {
        self.emit_event(RunEvent::TestStarted {
            worker: self.slot.name.clone(),
            binary: self.binary.id.clone(),
            name: self.names[idx].clone(),
        });
    }

    /// `--no-capture`: lines this process wrote, without libtest's own
    /// (see [`LiveFilter`]).
    fn live_output(&self, text: String) {
        if !self.silent && !text.is_empty() {
            self.ctx.emit_output(&self.slot.name, &self.binary.id, text);
        }
    }

    /// Run the process; emit the tests' results; return the tests that did
    /// not run because the process died before them.
    fn run(&self) -> Vec<&'a TestCase> {
        let logfile =
            (self.ctx.verdicts == Channel::Logfile).then(|| self.ctx.logfile_path(&self.slot.name));
        let profile = (self.ctx.options.coverage.as_ref()).map(|p| (p, self.ctx.next_process()));
        let own = profile.map(|(paths, n)| paths.pattern(&self.slot.name, n));
        let mut cmd = test_command(self.binary, Some(self.slot), own.as_deref());
        cmd.arg("--exact").args(&self.names);
        cmd.arg("--test-threads=1");
        // Each test's output as it was written, whichever way (print!, fd
        // 1 or 2, a child), on one pipe, split by libtest's start markers
        // ([`TestOutputs`]).
        let user_nocapture = (self.ctx.options.libtest_args.iter())
            .any(|a| a == "--nocapture" || a == "--no-capture");
        if !user_nocapture {
            cmd.arg("--nocapture");
        }
        merge_stderr_into_stdout(&mut cmd);
        if let Some(logfile) = &logfile {
            cmd.arg("--logfile").arg(logfile);
        }
        cmd.args(&self.ctx.options.libtest_args);

        let running = match process::spawn(cmd) {
            Ok(r) => r,
            Err(e) => {
                let reason = format!("cannot start {}: {e}", self.binary.path);
                for i in 0..self.tests.len() {
                    self.emit(
                        i,
                        self.result(i, Outcome::Failed, Duration::ZERO, Some(reason.clone())),
                    );
                }
                return Vec::new();
            }
        };
        let mut p = Progress::new(self, logfile.clone());
        let finished = running.drive(self.ctx.cancel, |event| p.on_event(event));
        let rest = p.masked.finish();
        p.add_combined(&rest);
        p.poll();
        if let Some((lines, filter)) = p.live.as_mut() {
            if let Some(text) = lines.flush() {
                self.live_output(filter.filter(&text));
            }
            filter.finish();
        }
        if let Some(logfile) = &logfile {
            let _ = fs_err::remove_file(logfile);
        }
        if let (Channel::ExitStatus, Ok(f @ Finished { killed: None, .. })) =
            (self.ctx.verdicts, &finished)
        {
            let stdout = String::from_utf8_lossy(&p.stdout);
            if let Some(verdict) = libtest::exit_verdict(f.status.code(), &stdout) {
                p.reader.settle(0);
                p.report(0, verdict);
            }
        }
        if let (Some((paths, n)), Ok(f)) = (profile, &finished) {
            // Continuous mode kept what a killed process ran. After a crash
            // or a timeout that profile goes, as the dead test's would with
            // a process per test, and the tests that had finished run again.
            let died = std::os::unix::process::ExitStatusExt::signal(&f.status).is_some()
                && f.killed != Some(KillReason::Cancelled);
            if died && !self.silent {
                let _ = fs_err::remove_file(paths.written(&self.slot.name, n, f.pid));
                let ran = p.ran.iter().map(|&i| self.tests[i]);
                self.recover_coverage(ran.collect());
            } else if !died {
                self.emit_event(RunEvent::ProfileWritten {
                    binary: self.binary.id.clone(),
                    tests: self.names.clone(),
                    prefix: paths.prefix(&self.slot.name, n),
                });
            }
        }
        self.report_failure_output(&p);
        let missing = p.reader.without_verdict();
        if let Ok(f) = &finished {
            self.report_leaks(&p, f, missing.first().copied());
        }
        if !missing.is_empty() {
            if let Ok(f) = &finished {
                self.ended_badly.replace(Some(describe_status(&f.status)));
            }
            return self.judge_missing(&p, finished, &missing);
        }
        let problem = finished
            .as_ref()
            .ok()
            .and_then(|f| exit_problem(f, !p.failed.is_empty(), self.ctx.options.timeout));
        if let Some(problem) = problem {
            self.ended_badly.replace(Some(problem.clone()));
            if !self.silent && !self.ctx.is_cancelled() {
                self.judge_exit(&p, problem);
            }
        }
        Vec::new()
    }

    /// Every test of this process has its verdict, yet the process ended
    /// as no libtest process with those verdicts does (`problem`): an exit
    /// handler aborted, a destructor hung, a leak checker changed the exit
    /// status. `cargo test` fails the binary for it. Find the tests whose
    /// own process ends so by running subsets of the passed ones again,
    /// silently, and fail those; where no single test does it alone, fail
    /// every test of the smallest set that still does.
    fn judge_exit(&self, p: &Progress, problem: String) {
        let passed: Vec<usize> = p
            .ran
            .iter()
            .copied()
            .filter(|i| !p.failed.contains(i))
            .collect();
        let mut budget = MAX_EXIT_SEARCH_PROCESSES;
        let (culprits, alone) = if passed.is_empty() {
            (Vec::new(), false)
        } else {
            self.exit_culprits(&passed, &mut budget)
        };
        // What the process wrote after libtest's closing line (an exit
        // handler's last words), found in the whole output: the last
        // verdict may be read from the logfile after those words arrived.
        let after = tail(after_closing_line(&p.combined), self.ctx.redactor());
        let whole = format!(
            "the test process of {} ended badly after its last test: {problem}",
            self.binary.id
        );
        let (culprits, reason) = if culprits.is_empty() {
            // Nothing passed, or nothing reproduces it: every test that
            // ran in the process carries it.
            let all = if passed.is_empty() {
                p.ran.clone()
            } else {
                passed
            };
            (
                all,
                format!("{whole}; no subset of its tests does so again"),
            )
        } else if alone {
            (
                culprits,
                format!("{whole}; it does so when this test runs alone"),
            )
        } else {
            (
                culprits,
                format!("{whole}; it does so when these tests run together"),
            )
        };
        for idx in culprits {
            self.amend_to_failed(p, idx, &reason, &after);
        }
    }

    /// Test `idx` passed here, but its process then showed otherwise:
    /// report it failed for `reason`, replacing its pass (not retried).
    fn amend_to_failed(&self, p: &Progress, idx: usize, reason: &str, output: &str) {
        let result = (self.bare_result(idx, Outcome::Failed))
            .took(p.took[idx])
            .because(Some(reason.to_string()))
            .with_output(output.to_string())
            .on_attempt(
                self.attempt,
                self.ctx.options.retries.saturating_add(1),
                false,
            )
            .amending();
        self.emit_event(RunEvent::TestFinished(result));
    }

    /// Of `tests` (whose process together ended badly), the ones that end
    /// their process badly on their own, found by halving; `true` with
    /// them when each did so alone. A set whose halves both end well is
    /// returned whole (the tests do it only together), as is any set
    /// left when `budget` processes have been spent.
    fn exit_culprits(&self, tests: &[usize], budget: &mut usize) -> (Vec<usize>, bool) {
        if tests.len() == 1 {
            return (tests.to_vec(), true);
        }
        let (left, right) = tests.split_at(tests.len() / 2);
        let mut found = Vec::new();
        let mut alone = true;
        let mut any = false;
        for half in [left, right] {
            if *budget == 0 || self.ctx.is_cancelled() {
                return (tests.to_vec(), false);
            }
            *budget -= 1;
            if self.ends_badly(half) {
                any = true;
                let (f, a) = self.exit_culprits(half, budget);
                found.extend(f);
                alone &= a;
            }
        }
        if !any {
            return (tests.to_vec(), false);
        }
        (found, alone)
    }

    /// Run `tests` (indices) again in a fresh process, reporting nothing:
    /// whether that process ends badly too.
    fn ends_badly(&self, tests: &[usize]) -> bool {
        let subset: Vec<&TestCase> = tests.iter().map(|&i| self.tests[i]).collect();
        let again = LibtestProcess {
            names: subset.iter().map(|t| t.name.clone()).collect(),
            tests: &subset,
            silent: true,
            again: RefCell::default(),
            ended_badly: RefCell::default(),
            ..*self
        };
        again.run();
        again.ended_badly.into_inner().is_some()
    }

    /// `--coverage`: this process died without writing its profile, so the
    /// tests that finished in it run again in fresh processes, reporting
    /// nothing, to count their coverage as if each had run on its own.
    fn recover_coverage(&self, tests: Vec<&'a TestCase>) {
        let mut remaining = tests;
        for _ in 0..MAX_RECOVERY_PROCESSES {
            if remaining.is_empty() || self.ctx.is_cancelled() {
                return;
            }
            let again = LibtestProcess {
                names: remaining.iter().map(|t| t.name.clone()).collect(),
                tests: &remaining,
                silent: true,
                again: RefCell::default(),
                ended_badly: RefCell::default(),
                ..*self
            };
            remaining = again.run();
        }
    }

    /// What the process left running when it exited (killed since):
    /// `LEAK` for the tests that were running when each started (all of
    /// the process's, when that cannot be told), one line per set of
    /// tests; `--leak-fails` fails those that passed. `running`: the test
    /// the process died in, if it did.
    fn report_leaks(&self, p: &Progress, f: &Finished, running: Option<usize>) {
        if f.leaked.is_empty() || f.killed == Some(KillReason::Cancelled) {
            return;
        }
        let by_tests = crate::leak::by_culprits(&f.leaked, |l| {
            let mut tests = crate::leak::culprits(l.started, &p.seen, running);
            tests.sort();
            tests
        });
        let fails = self.ctx.options.leak_fails;
        for (tests, processes) in by_tests {
            self.emit_event(RunEvent::Leaked {
                worker: self.slot.name.clone(),
                binary: self.binary.id.clone(),
                tests: tests.iter().map(|&i| self.names[i].clone()).collect(),
                processes: processes.clone(),
                fails,
            });
            if !fails {
                continue;
            }
            let reason = crate::event::LeakedProcess::failure_reason(&processes);
            let passed = |i: &usize| p.ran.contains(i) && !p.failed.contains(i);
            for idx in tests.into_iter().filter(passed) {
                self.amend_to_failed(p, idx, &reason, "");
            }
        }
    }

    /// Each failed test's output, once the process is over (the output of
    /// a test may still arrive after its verdict).
    fn report_failure_output(&self, p: &Progress) {
        if p.failed.is_empty() {
            return;
        }
        for &idx in &p.failed {
            let output = (p.outputs)
                .output_of(&p.combined, idx, self.ctx.redactor())
                .unwrap_or_default();
            self.emit_event(RunEvent::FailureOutput {
                binary: self.binary.id.clone(),
                name: self.names[idx].clone(),
                output,
            });
        }
    }

    /// The process ended with `missing` tests (in order) still without a
    /// verdict: fail the one that was running (or all, if the binary never
    /// started its tests) and return those that still have to run.
    fn judge_missing(
        &self,
        p: &Progress,
        finished: std::io::Result<Finished>,
        missing: &[usize],
    ) -> Vec<&'a TestCase> {
        let (status, killed, exited_zero) = match finished {
            Ok(f) => (
                describe_status(&f.status),
                f.killed,
                f.status.code() == Some(0),
            ),
            Err(e) => (format!("lost track of the process: {e}"), None, false),
        };
        if killed == Some(KillReason::Cancelled) {
            return Vec::new();
        }
        let stdout = String::from_utf8_lossy(&p.stdout);
        // A test that floods its output pushes libtest's `running N tests`
        // out of the kept buffer; its start marker, seen as it came, still
        // tells that libtest ran it.
        let started = libtest::libtest_started(&stdout) || p.outputs.any_seen();
        if !started && missing.len() == self.names.len() {
            // The binary never got to run a test (missing library, bad
            // argument, ...): every test fails with its output; no retry.
            let reason = format!(
                "test binary {} did not start its tests ({status})",
                self.binary.id
            );
            let output = tail(&p.combined, self.ctx.redactor());
            for &i in missing {
                self.emit(
                    i,
                    self.result(i, Outcome::Failed, Duration::ZERO, Some(reason.clone()))
                        .with_output(output.clone()),
                );
            }
            return Vec::new();
        }
        let current = missing[0];
        if p.announced != Some(current) {
            // It died before a poll saw it start.
            self.emit_started(current);
        }
        let since = (p.outputs)
            .output_of(&p.combined, current, self.ctx.redactor())
            .unwrap_or_else(|| {
                // It died before its marker came: what came after the last
                // verdict.
                tail(
                    &p.combined[p.test_offset.min(p.combined.len())..],
                    self.ctx.redactor(),
                )
            });
        let duration = p.test_start.elapsed();
        let (outcome, reason) = if killed == Some(KillReason::Timeout) {
            let limit = self.ctx.options.timeout.unwrap_or_default();
            (
                Outcome::TimedOut,
                format!("timed out after {}", humantime::format_duration(limit)),
            )
        } else if exited_zero && self.ctx.verdicts == Channel::ExitStatus {
            // libtest's closing line never came, yet the process exited 0.
            (Outcome::Failed, STDOUT_GONE.replace("{status}", &status))
        } else {
            (
                Outcome::Failed,
                format!("the test process died while this test was running ({status})"),
            )
        };
        self.emit(
            current,
            self.result(current, outcome, duration, Some(reason))
                .with_output(since),
        );
        let rest: Vec<&TestCase> = missing[1..].iter().map(|&i| self.tests[i]).collect();
        if !rest.is_empty() {
            self.emit_event(RunEvent::ProcessRestarted {
                worker: self.slot.name.clone(),
                group: self.group.to_string(),
                remaining: rest.len(),
            });
        }
        rest
    }
}

/// How a libtest process whose every test has its verdict ended, if that
/// is not how such a process ends: exit code 0, or 101 when a test failed
/// (`any_failed`). `None` when it was cancelled (the run was interrupted).
fn exit_problem(f: &Finished, any_failed: bool, timeout: Option<Duration>) -> Option<String> {
    use std::os::unix::process::ExitStatusExt;
    match f.killed {
        Some(KillReason::Cancelled) => return None,
        Some(KillReason::Timeout) => {
            let limit = humantime::format_duration(timeout.unwrap_or_default());
            return Some(format!(
                "it did not exit within {limit} (--timeout) and was killed"
            ));
        }
        None => {}
    }
    let expected = if any_failed { 101 } else { 0 };
    match f.status.code() {
        Some(code) if code == expected => None,
        Some(101) => Some("exit code 101 though every test passed".into()),
        Some(_) => Some(describe_status(&f.status)),
        None if f.status.signal().is_some() => Some(describe_status(&f.status)),
        None => Some(f.status.to_string()),
    }
}

/// What follows libtest's closing `test result: ` line in `output` (its
/// last one), without the blank lines around it; all of `output` when it
/// has none.
fn after_closing_line(output: &[u8]) -> &[u8] {
    const CLOSING: &[u8] = b"\ntest result: ";
    let Some(at) = output.windows(CLOSING.len()).rposition(|w| w == CLOSING) else {
        return output;
    };
    let rest = &output[at + CLOSING.len()..];
    let rest = match rest.iter().position(|&b| b == b'\n') {
        Some(nl) => &rest[nl + 1..],
        None => &[],
    };
    let start = rest.iter().position(|&b| b != b'\n').unwrap_or(rest.len());
    &rest[start..]
}

/// What one libtest process has reported so far.
struct Progress<'p, 'c, 'a> {
    process: &'p LibtestProcess<'c, 'a>,
    reader: LogReader,
    /// The logfile (the logfile channel only).
    log: Option<LogTail>,
    stdout: Vec<u8>,
    /// Both streams in arrival order, each masked on its own first (one
    /// pipe: stdout only).
    combined: Vec<u8>,
    /// Which test wrote which part of `combined`.
    outputs: TestOutputs,
    /// What masks the streams before they meet in `combined`.
    masked: MaskedStreams,
    /// When the running test started, and where its output begins in `combined`.
    test_start: Instant,
    test_offset: usize,
    /// `--timeout`'s clock for the running test (it stands still while the
    /// run is stopped by Ctrl-Z).
    test_clock: Stopwatch,
    /// Tests libtest reported failed; their captured output comes at the end.
    failed: Vec<usize>,
    /// Tests that ran to a verdict (passed or failed) in this process.
    ran: Vec<usize>,
    announced: Option<usize>,
    /// `--no-capture`: output not yet shown (a line's beginning), and what
    /// leaves out libtest's own lines.
    live: Option<(LiveLines, LiveFilter)>,
    /// `--slow-timeout`: the running test's slow periods reported so far.
    slow: SlowClock,
    /// How long each test took (zero until its verdict).
    took: Vec<Duration>,
    /// `--timeout`'s clock for the process's exit, from its last verdict.
    exit_clock: Option<Stopwatch>,
    /// Each test that ran, with when its verdict was seen, in order:
    /// what the process left running is laid to the test that ran when
    /// that started.
    seen: Vec<(usize, Instant)>,
}

impl<'p, 'c, 'a> Progress<'p, 'c, 'a> {
    fn new(process: &'p LibtestProcess<'c, 'a>, logfile: Option<Utf8PathBuf>) -> Self {
        Progress {
            process,
            reader: LogReader::new(process.names.clone()),
            log: logfile.map(LogTail::new),
            stdout: Vec::new(),
            combined: Vec::new(),
            outputs: TestOutputs::new(&process.names),
            masked: MaskedStreams::new(process.ctx.redactor()),
            test_start: Instant::now(),
            test_offset: 0,
            test_clock: process.ctx.stopwatch(),
            failed: Vec::new(),
            ran: Vec::new(),
            announced: None,
            live: (process.ctx.options.live_output).then(|| {
                (
                    LiveLines::new(process.ctx.redactor()),
                    LiveFilter::new(&process.names),
                )
            }),
            slow: SlowClock::new(process.ctx.options.slow_timeout),
            took: vec![Duration::ZERO; process.names.len()],
            exit_clock: None,
            seen: Vec::new(),
        }
    }

    /// The driver's callback: take output, poll the logfile, and say
    /// whether the process must be killed (`--maxfail` reached, timeout).
    fn on_event(&mut self, event: Event<'_>) -> Option<KillReason> {
        let tick = matches!(event, Event::Tick);
        match event {
            Event::Output(stream, data) => {
                if stream == Stream::Stdout {
                    append_bounded(&mut self.stdout, data);
                }
                let masked = self.masked.push(stream, data);
                self.add_combined(&masked);
                if let Some((lines, filter)) = self.live.as_mut() {
                    if let Some(text) = lines.push(stream, data) {
                        self.process.live_output(filter.filter(&text));
                    }
                }
            }
            Event::Tick => {}
        }
        self.poll();
        // A failure just reported may have reached --maxfail: stop now, not
        // at the next tick.
        if self.process.ctx.is_cancelled() {
            return Some(KillReason::Cancelled);
        }
        if tick {
            self.report_slow();
        }
        let limit = self.process.ctx.options.timeout.filter(|_| tick)?;
        if self.reader.current().is_some() {
            return (self.test_clock.elapsed() > limit).then_some(KillReason::Timeout);
        }
        // Every test has its verdict: the process gets `--timeout` again
        // to exit (an exit handler or a destructor may hang).
        let ctx = self.process.ctx;
        let clock = self.exit_clock.get_or_insert_with(|| ctx.stopwatch());
        (clock.elapsed() > limit).then_some(KillReason::Timeout)
    }

    /// Add masked output to `combined`; find the tests' markers in it.
    fn add_combined(&mut self, masked: &str) {
        let dropped = append_bounded(&mut self.combined, masked.as_bytes());
        self.test_offset = self.test_offset.saturating_sub(dropped);
        self.outputs.dropped(dropped);
        self.outputs.scan(&self.combined);
    }

    /// `--slow-timeout`: say so when the running test passes another
    /// multiple of it.
    fn report_slow(&mut self) {
        let Some(cur) = self.announced.filter(|&c| self.reader.current() == Some(c)) else {
            return;
        };
        if let Some(elapsed) = self.slow.check(self.test_start.elapsed()) {
            self.process.emit_event(RunEvent::Slow {
                worker: self.process.slot.name.clone(),
                binary: self.process.binary.id.clone(),
                name: self.process.names[cur].clone(),
                elapsed,
            });
        }
    }

    /// Report the verdicts libtest logged since the last call, and the
    /// test that runs now.
    fn poll(&mut self) {
        if let Some(log) = self.log.as_mut() {
            let text = log.read_new();
            for (idx, verdict) in self.reader.feed(&text) {
                self.report(idx, verdict);
            }
        }
        let Some(cur) = self.reader.current() else {
            return;
        };
        self.announce(cur);
    }

    /// Report test `idx`'s verdict; the next test's clocks start.
    fn report(&mut self, idx: usize, verdict: Verdict) {
        self.announce(idx);
        let now = Instant::now();
        let duration = now - self.test_start;
        self.took[idx] = duration;
        self.test_start = now;
        self.test_clock = self.process.ctx.stopwatch();
        self.slow.reset();
        self.test_offset = self.combined.len();
        let (outcome, reason) = match verdict {
            Verdict::Passed => (Outcome::Passed, None),
            Verdict::Ignored => (Outcome::Skipped, None),
            Verdict::Failed(msg) => {
                self.failed.push(idx);
                (Outcome::Failed, msg)
            }
        };
        if outcome != Outcome::Skipped {
            self.ran.push(idx);
            self.seen.push((idx, now));
        }
        self.process
            .emit(idx, self.process.result(idx, outcome, duration, reason));
    }

    /// Say that test `idx` runs now, once. A test that began and ended
    /// between two polls is announced just before its result, so every
    /// result follows its start.
    fn announce(&mut self, idx: usize) {
        if self.announced != Some(idx) {
            self.announced = Some(idx);
            self.process.emit_started(idx);
        }
    }
}

/// Reads what was appended to a file since the last call.
struct LogTail {
    path: Utf8PathBuf,
    file: Option<fs_err::File>,
    pending: Vec<u8>,
}

impl LogTail {
    fn new(path: Utf8PathBuf) -> Self {
        LogTail {
            path,
            file: None,
            pending: Vec::new(),
        }
    }

    /// New complete UTF-8 text (a split multi-byte character waits).
    fn read_new(&mut self) -> String {
        if self.file.is_none() {
            self.file = fs_err::File::open(&self.path).ok();
        }
        let Some(f) = self.file.as_mut() else {
            return String::new();
        };
        // One read a call as a rule (this runs for each chunk of output):
        // a short read is what the file holds now.
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match f.read(&mut chunk) {
                Ok(n) => {
                    self.pending.extend_from_slice(&chunk[..n]);
                    if n < chunk.len() {
                        break;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        let valid = match std::str::from_utf8(&self.pending) {
            Ok(_) => self.pending.len(),
            Err(e) => e.valid_up_to(),
        };
        let text = String::from_utf8_lossy(&self.pending[..valid]).into_owned();
        self.pending.drain(..valid);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::list::CaseKind;

    fn case(name: String) -> TestCase {
        TestCase {
            binary: 0,
            name,
            ignored: false,
            source_path: None,
            line: None,
            kind: CaseKind::Libtest,
        }
    }

    #[test]
    fn an_exit_handlers_words_follow_the_closing_line() {
        let out = b"running 1 test\ntest a ... ok\n\ntest result: ok. 1 passed; 0 failed\n\nhandler: bye\n";
        assert_eq!(after_closing_line(out), b"handler: bye\n");
        assert_eq!(
            after_closing_line(b"test result: ok. 1 passed"),
            b"test result: ok. 1 passed"
        );
        assert_eq!(after_closing_line(b"x\ntest result: ok. 1 passed"), b"");
    }

    #[test]
    fn long_name_lists_are_split() {
        let many: Vec<TestCase> = (0..1200).map(|i| case(format!("t{i}"))).collect();
        let refs: Vec<&TestCase> = many.iter().collect();
        assert_eq!(chunk_len(&refs), MAX_NAMES);
        let long: Vec<TestCase> = (0..100)
            .map(|i| case(format!("{i}{}", "x".repeat(4000))))
            .collect();
        let refs: Vec<&TestCase> = long.iter().collect();
        let n = chunk_len(&refs);
        assert!(n > 1 && n < 100, "{n}");
        assert!(refs[..n].iter().map(|t| t.name.len() + 1).sum::<usize>() <= MAX_NAME_BYTES);
        assert_eq!(chunk_len(&refs[..1]), 1);
    }

    #[test]
    fn log_tail_waits_for_a_split_character() {
        let dir = tempfile::tempdir().unwrap();
        let path = Utf8PathBuf::from_path_buf(dir.path().join("log")).unwrap();
        let mut tail = LogTail::new(path.clone());
        assert_eq!(tail.read_new(), "", "no file yet");
        std::fs::write(&path, b"ok a\n\xc3").unwrap();
        assert_eq!(tail.read_new(), "ok a\n");
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        std::io::Write::write_all(&mut f, b"\xa9 b\n").unwrap();
        assert_eq!(tail.read_new(), "\u{e9} b\n");
        // More than one read's worth is read whole in one call.
        let long = "ok a_test_with_a_long_name\n".repeat(3000);
        std::io::Write::write_all(&mut f, long.as_bytes()).unwrap();
        assert!(long.len() > 3 * 16 * 1024);
        assert_eq!(tail.read_new(), long);
        assert_eq!(tail.read_new(), "");
    }
}
