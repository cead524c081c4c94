//! One worker running one unit of work: the tests of a group, in as few
//! libtest processes as possible. A process that dies (abort, signal,
//! `exit`, timeout) fails the test that was running; the tests after it run
//! again in a fresh process on the same worker. Any subset of a group can be
//! run this way, which is what retries and re-runs build on.

use std::io::Read;
use std::time::{Duration, Instant};

use camino::Utf8PathBuf;

use super::libtest::{self, LogReader, Verdict};
use super::process::{self, Event, KillReason, Stream};
use super::{Outcome, RunContext, RunEvent, TestResult};
use crate::build::TestBinary;
use crate::env::{WorkerSlot, test_command};
use crate::list::{CaseKind, TestCase};

/// Most names given to one libtest process (the rest go to the next).
const MAX_NAMES: usize = 500;
/// Most bytes of names on one command line.
const MAX_NAME_BYTES: usize = 96 * 1024;
/// Most bytes of raw output kept for one failed test.
const MAX_OUTPUT: usize = 64 * 1024;
/// Most bytes of a process's output held in memory: a test that floods its
/// pipes must not exhaust memory; what matters (libtest's failure sections,
/// the running test's output) is at the end.
pub(super) const MAX_BUFFERED: usize = 16 * 1024 * 1024;

/// Drop the front of `buf` once it holds twice `max`; return how much went.
pub(super) fn keep_tail(buf: &mut Vec<u8>, max: usize) -> usize {
    if buf.len() <= 2 * max {
        return 0;
    }
    let drop = buf.len() - max;
    buf.drain(..drop);
    drop
}

/// Run `tests` (all of one binary, sorted by name) on `slot`.
pub fn run_tests(
    ctx: &RunContext,
    slot: &WorkerSlot,
    worker: usize,
    binary: &TestBinary,
    group: &str,
    tests: &[TestCase],
) {
    let (whole, libtest_cases): (Vec<&TestCase>, Vec<&TestCase>) =
        tests.iter().partition(|t| t.kind != CaseKind::Libtest);
    for case in whole {
        if ctx.is_cancelled() {
            return;
        }
        match case.kind {
            CaseKind::Doctests => super::doctest::run_doctests(ctx, slot, binary, group),
            _ => run_custom(ctx, slot, binary, group, case),
        }
    }
    let mut remaining: Vec<&TestCase> = libtest_cases;
    while !remaining.is_empty() && !ctx.is_cancelled() {
        let take = chunk_len(&remaining);
        let chunk: Vec<&TestCase> = remaining.drain(..take).collect();
        let rest = run_libtest_process(ctx, slot, worker, binary, group, &chunk);
        // Tests after a crash go first in the next process.
        let mut next = rest;
        next.extend(remaining);
        remaining = next;
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

/// Run one libtest process over `tests`; emit their results; return the
/// tests that did not run because the process died before them.
fn run_libtest_process<'a>(
    ctx: &RunContext,
    slot: &WorkerSlot,
    worker: usize,
    binary: &TestBinary,
    group: &str,
    tests: &[&'a TestCase],
) -> Vec<&'a TestCase> {
    let names: Vec<String> = tests.iter().map(|t| t.name.clone()).collect();
    let logfile = ctx.logfile_path(&slot.name);
    let mut cmd = test_command(binary, Some(slot));
    cmd.arg("--exact").args(&names);
    cmd.arg("--test-threads=1").arg("--logfile").arg(&logfile);
    cmd.args(&ctx.options.libtest_args);

    let result = |idx: usize,
                  outcome: Outcome,
                  duration: Duration,
                  reason: Option<String>,
                  output: String| {
        let t = tests[idx];
        TestResult::new(
            binary,
            &t.name,
            t.source_path.clone(),
            group,
            &slot.name,
            outcome,
        )
        .took(duration)
        .because(reason)
        .with_output(output)
    };

    let started = Instant::now();
    let running = match process::spawn(cmd) {
        Ok(r) => r,
        Err(e) => {
            let reason = format!("cannot start {}: {e}", binary.path);
            for i in 0..tests.len() {
                ctx.emit(RunEvent::TestFinished(result(
                    i,
                    Outcome::Failed,
                    Duration::ZERO,
                    Some(reason.clone()),
                    String::new(),
                )));
            }
            return Vec::new();
        }
    };

    let report = |idx: usize, outcome: Outcome, duration: Duration, reason: Option<String>| {
        ctx.emit(RunEvent::TestFinished(result(
            idx,
            outcome,
            duration,
            reason,
            String::new(),
        )))
    };
    let announce = |idx: usize| {
        ctx.emit(RunEvent::TestStarted {
            worker: slot.name.clone(),
            name: names[idx].clone(),
        })
    };
    if let Some(board) = &ctx.board {
        board.publish(worker, group, tests);
    }
    let mut p = Progress {
        reader: LogReader::new(names.clone()),
        log: LogTail::new(logfile.clone()),
        stdout: Vec::new(),
        combined: Vec::new(),
        test_start: started,
        test_offset: 0,
        failed: Vec::new(),
        announced: None,
        report: &report,
        announce: &announce,
        steal: ctx.board.as_ref().map(|b| (b, worker)),
        stop: false,
    };
    let finished = running.drive(&|| ctx.is_cancelled(), |event| {
        let tick = matches!(event, Event::Tick);
        match event {
            Event::Output(stream, data) => p.output(stream, data),
            Event::Tick => p.poll(),
        }
        if p.stop {
            return Some(KillReason::Stolen);
        }
        let limit = ctx.options.timeout.filter(|_| tick)?;
        if p.reader.current().is_some() && p.test_start.elapsed() > limit {
            return Some(KillReason::Timeout);
        }
        None
    });
    p.poll();
    // Tests past `end` were stolen: the thief runs and reports them.
    let end = match &ctx.board {
        Some(board) => {
            let end = board.end(worker);
            board.retire(worker);
            end.min(tests.len())
        }
        None => tests.len(),
    };
    let Progress {
        reader,
        stdout,
        combined,
        test_start,
        test_offset,
        failed,
        ..
    } = p;
    let test_start = (test_start, test_offset);
    let _ = std::fs::remove_file(&logfile);

    let stdout = String::from_utf8_lossy(&stdout).into_owned();
    if !failed.is_empty() {
        let sections = libtest::failure_sections(&stdout, &names);
        let all = String::from_utf8_lossy(&combined);
        for idx in failed {
            // libtest prints no captured section under --nocapture: then
            // the test's own output went through the pipes as it ran.
            let output = match sections.get(&names[idx]) {
                Some(s) => s.clone(),
                None => raw_output(&all, &names[idx], names.get(idx + 1)),
            };
            ctx.emit(RunEvent::FailureOutput {
                binary: binary.id.clone(),
                name: names[idx].clone(),
                output,
            });
        }
    }

    let missing: Vec<usize> = reader
        .without_verdict()
        .into_iter()
        .filter(|&i| i < end)
        .collect();
    if missing.is_empty() {
        return Vec::new();
    }
    let (status, killed) = match finished {
        Ok(f) => (crate::error::describe_status(&f.status), f.killed),
        Err(e) => (format!("lost track of the process: {e}"), None),
    };
    match killed {
        Some(KillReason::Cancelled) => return Vec::new(),
        // Stopped at the steal point with tests of its own left (it was
        // stopped early): those run again in a fresh process.
        Some(KillReason::Stolen) => return missing.iter().map(|&i| tests[i]).collect(),
        _ => {}
    }
    let current = missing[0];
    let since = output_of_running_test(
        &combined[test_start.1.min(combined.len())..],
        &names[current],
    );
    let duration = test_start.0.elapsed();
    if killed == Some(KillReason::Timeout) {
        let limit = ctx.options.timeout.unwrap_or_default();
        ctx.emit(RunEvent::TestFinished(result(
            current,
            Outcome::TimedOut,
            duration,
            Some(format!(
                "timed out after {}",
                humantime::format_duration(limit)
            )),
            since,
        )));
    } else if !libtest::libtest_started(&stdout) && reader.without_verdict().len() == names.len() {
        // The binary never got to run a test (missing library, bad
        // argument, ...): every test fails with its output; no retry.
        let reason = format!(
            "test binary {} did not start its tests ({status})",
            binary.id
        );
        let output = tail(&combined);
        for &i in &missing {
            ctx.emit(RunEvent::TestFinished(result(
                i,
                Outcome::Failed,
                Duration::ZERO,
                Some(reason.clone()),
                output.clone(),
            )));
        }
        return Vec::new();
    } else {
        ctx.emit(RunEvent::TestFinished(result(
            current,
            Outcome::Failed,
            duration,
            Some(format!(
                "the test process died while this test was running ({status})"
            )),
            since,
        )));
    }
    let rest: Vec<&TestCase> = missing[1..].iter().map(|&i| tests[i]).collect();
    if !rest.is_empty() {
        ctx.emit(RunEvent::ProcessRestarted {
            worker: slot.name.clone(),
            group: group.to_string(),
            remaining: rest.len(),
        });
    }
    rest
}

/// What one libtest process has reported so far.
struct Progress<'r> {
    reader: LogReader,
    log: LogTail,
    stdout: Vec<u8>,
    /// Both streams in arrival order.
    combined: Vec<u8>,
    /// When the running test started, and where its output begins in `combined`.
    test_start: Instant,
    test_offset: usize,
    /// Tests libtest reported failed; their captured output comes at the end.
    failed: Vec<usize>,
    announced: Option<usize>,
    report: &'r dyn Fn(usize, Outcome, Duration, Option<String>),
    announce: &'r dyn Fn(usize),
    /// `--dist worksteal`: the board and this worker's index on it.
    steal: Option<(&'r super::steal::Board, usize)>,
    /// The process reached tests that were stolen: stop it.
    stop: bool,
}

impl Progress<'_> {
    fn output(&mut self, stream: Stream, data: &[u8]) {
        if stream == Stream::Stdout {
            self.stdout.extend_from_slice(data);
            keep_tail(&mut self.stdout, MAX_BUFFERED);
        }
        self.combined.extend_from_slice(data);
        let dropped = keep_tail(&mut self.combined, MAX_BUFFERED);
        self.test_offset = self.test_offset.saturating_sub(dropped);
        self.poll();
    }

    /// Report the verdicts libtest logged since the last call, and the
    /// test that runs now.
    fn poll(&mut self) {
        let text = self.log.read_new();
        let mut end = self.steal.map_or(usize::MAX, |(b, w)| b.end(w));
        for (idx, verdict) in self.reader.feed(&text) {
            if idx >= end {
                // Stolen: began here before the owner noticed; the thief
                // runs it in full and reports it.
                continue;
            }
            let now = Instant::now();
            let duration = now - self.test_start;
            self.test_start = now;
            self.test_offset = self.combined.len();
            let (outcome, reason) = match verdict {
                Verdict::Passed => (Outcome::Passed, None),
                Verdict::Ignored => (Outcome::Skipped, None),
                Verdict::Failed(msg) => {
                    self.failed.push(idx);
                    (Outcome::Failed, msg)
                }
            };
            (self.report)(idx, outcome, duration, reason);
        }
        if let Some(cur) = self.reader.current() {
            if let Some((board, worker)) = self.steal {
                end = board.advance(worker, cur);
            }
            if cur >= end {
                self.stop = true;
                return;
            }
            if self.announced != Some(cur) {
                self.announced = Some(cur);
                (self.announce)(cur);
            }
        }
    }
}

/// A `harness = false` target: run it once (with the filters and test
/// arguments, as `cargo test` does) and judge it by its exit code.
fn run_custom(
    ctx: &RunContext,
    slot: &WorkerSlot,
    binary: &TestBinary,
    group: &str,
    case: &TestCase,
) {
    let mut cmd = test_command(binary, Some(slot));
    cmd.args(&ctx.options.custom_args);
    ctx.emit(RunEvent::TestStarted {
        worker: slot.name.clone(),
        name: case.name.clone(),
    });
    let started = Instant::now();
    let mut output = Vec::new();
    let finished = process::spawn(cmd).and_then(|r| {
        r.drive(&|| ctx.is_cancelled(), |e| match e {
            Event::Output(_, d) => {
                output.extend_from_slice(d);
                keep_tail(&mut output, MAX_BUFFERED);
                None
            }
            Event::Tick => ctx
                .options
                .timeout
                .filter(|t| started.elapsed() > *t)
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
                crate::error::describe_status(&f.status)
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
            binary,
            &case.name,
            case.source_path.clone(),
            group,
            &slot.name,
            outcome,
        )
        .took(started.elapsed())
        .because(reason)
        .with_output(output),
    ));
}

/// What the running test wrote before its process died: the output after
/// libtest's `test <name> ... ` marker (earlier bytes belong to the previous
/// test's result line).
fn output_of_running_test(since_last_verdict: &[u8], name: &str) -> String {
    let marker = format!("test {name} ... ");
    let text = String::from_utf8_lossy(since_last_verdict);
    match text.find(&marker) {
        Some(pos) => tail(
            text[pos + marker.len()..]
                .trim_start_matches('\n')
                .as_bytes(),
        ),
        None => tail(since_last_verdict),
    }
}

/// What a test wrote through the pipes: from libtest's `test <name> ... `
/// marker to the next test's marker (or the end).
fn raw_output(all: &str, name: &str, next: Option<&String>) -> String {
    let marker = format!("test {name} ... ");
    let Some(start) = all.find(&marker).map(|p| p + marker.len()) else {
        return String::new();
    };
    let rest = &all[start..];
    let end = next
        .and_then(|n| rest.find(&format!("test {n} ... ")))
        .unwrap_or(rest.len());
    tail(&rest.as_bytes()[..end])
}

/// The last `MAX_OUTPUT` bytes of `bytes` as text, without libtest's
/// `--logfile` deprecation notice.
pub(super) fn tail(bytes: &[u8]) -> String {
    let start = bytes.len().saturating_sub(MAX_OUTPUT);
    let text = String::from_utf8_lossy(&bytes[start..]);
    let text = libtest::strip_logfile_warning(&text);
    if start > 0 {
        format!("[... {start} earlier bytes not shown ...]\n{text}")
    } else {
        text
    }
}

/// Reads what was appended to a file since the last call.
struct LogTail {
    path: Utf8PathBuf,
    file: Option<std::fs::File>,
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
            self.file = std::fs::File::open(&self.path).ok();
        }
        let Some(f) = self.file.as_mut() else {
            return String::new();
        };
        let _ = f.read_to_end(&mut self.pending);
        match std::str::from_utf8(&self.pending) {
            Ok(s) => {
                let s = s.to_string();
                self.pending.clear();
                s
            }
            Err(e) => {
                let valid = e.valid_up_to();
                let s = String::from_utf8_lossy(&self.pending[..valid]).into_owned();
                self.pending.drain(..valid);
                s
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn buffers_keep_their_tail() {
        let mut buf: Vec<u8> = (0..250u8).collect();
        assert_eq!(keep_tail(&mut buf, 200), 0);
        assert_eq!(keep_tail(&mut buf, 100), 150);
        assert_eq!(buf, (150..250u8).collect::<Vec<_>>());
    }

    #[test]
    fn crashed_test_output_starts_after_its_marker() {
        let raw = b"test prev ... ok\ntest boom ... about to crash\n";
        assert_eq!(output_of_running_test(raw, "boom"), "about to crash\n");
        assert_eq!(
            raw_output(
                "test a ... out a\nFAILED\ntest b ... ok\n",
                "a",
                Some(&"b".to_string())
            ),
            "out a\nFAILED\n"
        );
    }
}
