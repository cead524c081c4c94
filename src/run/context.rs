//! [`RunContext`]: the state one run's workers share (options, the event
//! sink, cancellation, `--maxfail`, process numbers), and [`SlowClock`]
//! for `--slow-timeout`.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use camino::{Utf8Path, Utf8PathBuf};

use super::{RunOptions, libtest, steal};
use crate::event::{EventSink, RunEvent, TestResult};
use crate::signal::{Cancel, Stopwatch};

/// Shared state of one run, handed to every worker.
pub struct RunContext<'a> {
    pub options: &'a RunOptions,
    pub(super) sink: &'a EventSink,
    pub cancel: &'a Cancel,
    /// `--maxfail` was reached.
    pub(super) stopped: AtomicBool,
    /// Tests that failed for good so far.
    pub(super) failures: AtomicUsize,
    pub(super) scratch: &'a Utf8Path,
    pub(super) seq: AtomicU64,
    /// The unclaimed tests of the groups being run (`--dist worksteal` only).
    pub board: Option<steal::Board>,
    /// How libtest processes report their verdicts.
    pub verdicts: libtest::Channel,
}

impl RunContext<'_> {
    pub fn emit(&self, event: RunEvent) {
        if let (RunEvent::TestFinished(r), Some(max)) = (&event, self.options.max_fail) {
            let fails = r.is_final_failure() || (self.options.flaky_fails && r.is_flaky());
            if fails && self.failures.fetch_add(1, Ordering::SeqCst) + 1 >= max {
                self.stopped.store(true, Ordering::SeqCst);
            }
        }
        self.sink.emit(event)
    }

    /// `--no-capture`: whole lines a process of `binary` on `worker` wrote.
    pub fn emit_output(&self, worker: &str, binary: &str, text: String) {
        self.emit(RunEvent::Output {
            worker: worker.to_string(),
            binary: binary.to_string(),
            text,
        })
    }

    /// What masks the run's secrets: output is masked with it before it
    /// is cut or split (the sink masks every event again).
    pub fn redactor(&self) -> &crate::secrets::Redactor {
        self.sink.redactor()
    }

    /// Whether the run is interrupted (Ctrl-C) or stopped (`--maxfail`):
    /// start nothing, stop what runs.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled() || self.stopped.load(Ordering::SeqCst)
    }

    /// `result` as attempt `attempt` of its test, which runs again if it
    /// failed, retries are left and the run goes on.
    pub fn attempt(&self, result: TestResult, attempt: u32) -> TestResult {
        let max = self.options.retries.saturating_add(1);
        let again = result.outcome.is_failure() && attempt < max && !self.is_cancelled();
        result.on_attempt(attempt, max, again)
    }

    /// A clock for `--timeout` (it stands still while the run is stopped).
    pub fn stopwatch(&self) -> Stopwatch {
        self.cancel.stopwatch()
    }

    /// A fresh number for one process of the run.
    pub fn next_process(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }

    /// A fresh logfile path for one libtest process.
    pub fn logfile_path(&self, worker: &str) -> Utf8PathBuf {
        self.scratch
            .join(format!("{worker}-{}.log", self.next_process()))
    }
}

/// `--slow-timeout`: when a running test has run past another multiple of
/// the slow timeout.
#[derive(Debug)]
pub struct SlowClock {
    every: Option<Duration>,
    reported: u32,
}

impl SlowClock {
    pub fn new(every: Option<Duration>) -> Self {
        SlowClock { every, reported: 0 }
    }

    /// A new test starts: its clock starts at zero.
    pub fn reset(&mut self) {
        self.reported = 0;
    }

    /// The multiple of the slow timeout a test that has run for `elapsed`
    /// just passed, if it passed one since the last call.
    pub fn check(&mut self, elapsed: Duration) -> Option<Duration> {
        let every = self.every?;
        let periods = u32::try_from(elapsed.as_nanos() / every.as_nanos().max(1)).ok()?;
        if periods <= self.reported {
            return None;
        }
        self.reported = periods;
        Some(every * periods)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_clock_reports_each_multiple_once() {
        let ms = Duration::from_millis;
        let mut clock = SlowClock::new(Some(ms(100)));
        assert_eq!(clock.check(ms(99)), None);
        assert_eq!(clock.check(ms(150)), Some(ms(100)));
        assert_eq!(clock.check(ms(180)), None);
        assert_eq!(clock.check(ms(320)), Some(ms(300)));
        clock.reset();
        assert_eq!(clock.check(ms(120)), Some(ms(100)));
        assert_eq!(SlowClock::new(None).check(ms(10_000)), None);
    }
}
