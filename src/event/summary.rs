//! What reporters share with the runner: the [`Reporter`] trait every
//! consumer of [`RunEvent`]s implements, and the [`Collector`], the
//! reporter that turns the stream into the run's [`RunSummary`].

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use super::{Outcome, RunEvent, TestResult};

/// Everything known at the end of a run.
#[derive(Debug, Clone, Default)]
pub struct RunSummary {
    /// Each test's last result, in the order the tests first finished.
    pub results: Vec<TestResult>,
    /// `--retries`: the earlier, failed attempts of tests that ran again,
    /// in order, by (binary id, name).
    pub retried: BTreeMap<(String, String), Vec<TestResult>>,
    pub elapsed: Duration,
    pub interrupted: bool,
    /// Tests scheduled but never run (interrupted run).
    pub not_run: usize,
    pub workers: usize,
    /// Processes started again after a crash or timeout.
    pub restarts: usize,
    /// `--coverage`: each libtest process whose profile counts, as
    /// (binary id, its tests, its profiles' path prefix).
    pub profiles: Vec<(String, Vec<String>, String)>,
    /// What each test (binary id, name) left running (or may have: see
    /// `leak::culprits`).
    pub leaks: BTreeMap<(String, String), Vec<crate::event::LeakedProcess>>,
}

impl RunSummary {
    pub fn count(&self, pred: impl Fn(Outcome) -> bool) -> usize {
        self.results.iter().filter(|r| pred(r.outcome)).count()
    }
    pub fn passed(&self) -> usize {
        self.count(|o| o == Outcome::Passed)
    }
    pub fn failed(&self) -> usize {
        self.count(Outcome::is_failure)
    }
    pub fn skipped(&self) -> usize {
        self.count(|o| o == Outcome::Skipped)
    }
    /// Tests that failed, then passed on a retry (counted as passed).
    pub fn flaky(&self) -> usize {
        self.results.iter().filter(|r| r.is_flaky()).count()
    }
    /// The tests that make the run fail: the failed ones, and the flaky
    /// ones too under `--flaky-fails`.
    pub fn failing(&self, flaky_fails: bool) -> usize {
        self.failed() + if flaky_fails { self.flaky() } else { 0 }
    }
    /// The earlier, failed attempts of `r` (none unless it was retried).
    pub fn earlier_attempts(&self, r: &TestResult) -> &[TestResult] {
        let key = (r.binary.clone(), r.name.clone());
        self.retried.get(&key).map_or(&[], Vec::as_slice)
    }
    /// Tests that ran (passed, failed or timed out).
    pub fn ran(&self) -> usize {
        self.count(Outcome::ran)
    }
    /// `--affected`: tests no change could affect, not run.
    pub fn unaffected(&self) -> usize {
        self.count(|o| o == Outcome::Unaffected)
    }
    /// The run had no test to run (none matched, or all that matched are
    /// ignored) and was not interrupted.
    pub fn no_tests(&self) -> bool {
        self.ran() == 0 && self.unaffected() == 0 && !self.interrupted
    }
    /// The closing line: `Summary: N passed, M failed, K skipped` (and
    /// `, U unaffected` under `--affected`).
    pub fn line(&self) -> String {
        let mut line = format!(
            "Summary: {} passed, {} failed, {} skipped",
            self.passed(),
            self.failed(),
            self.skipped()
        );
        if self.unaffected() > 0 {
            line.push_str(&format!(", {} unaffected", self.unaffected()));
        }
        line
    }
}

/// Something that consumes run events as they happen.
pub trait Reporter: Send + Sync {
    fn on_event(&self, event: &RunEvent);

    /// The run is over and its exit code decided (after the databases were
    /// dropped and the reports written): the reporter's last word.
    fn finish(&self, _summary: &RunSummary, _exit_code: i32) {}
}

/// Builds the [`RunSummary`] from events.
#[derive(Default)]
pub struct Collector {
    state: Mutex<CollectorState>,
}

#[derive(Default)]
struct CollectorState {
    summary: RunSummary,
    /// Tests handed to the runner, and how many of them finished.
    scheduled: usize,
    finished: usize,
    started: bool,
    index: HashMap<(String, String), usize>,
}

impl Collector {
    pub fn summary(&self) -> RunSummary {
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut s = st.summary.clone();
        s.not_run = st.scheduled.saturating_sub(st.finished);
        s
    }
}

impl Reporter for Collector {
    fn on_event(&self, event: &RunEvent) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            RunEvent::Started {
                tests,
                workers,
                doctest_packages,
                ..
            } => {
                // A package's doctests count as one until they run.
                st.scheduled = *tests + *doctest_packages;
                let n = st.scheduled;
                st.index.reserve(n);
                st.summary.results.reserve(n);
                st.started = true;
                st.summary.workers = *workers;
            }
            RunEvent::TestFinished(r) => {
                use std::collections::hash_map::Entry;
                let st = &mut *st;
                let results = &mut st.summary.results;
                // One lookup a result: this runs for every test.
                match st.index.entry((r.binary.clone(), r.name.clone())) {
                    // A verdict amended after the process's end replaces
                    // the earlier one.
                    Entry::Occupied(e) if r.amends => results[*e.get()] = r.clone(),
                    // A retry replaces the attempt before it, which is kept.
                    Entry::Occupied(e) if r.is_retry() => {
                        let earlier = std::mem::replace(&mut results[*e.get()], r.clone());
                        let key = e.key().clone();
                        st.summary.retried.entry(key).or_default().push(earlier);
                    }
                    entry => {
                        // Results reported before the run (ignored tests,
                        // binaries that could not list) were never scheduled.
                        if st.started {
                            st.finished += 1;
                        }
                        let i = results.len();
                        *entry.or_insert(i) = i;
                        results.push(r.clone());
                    }
                }
            }
            RunEvent::FailureOutput {
                binary,
                name,
                output,
            } => {
                if let Some(&i) = st.index.get(&(binary.clone(), name.clone())) {
                    st.summary.results[i].output = output.clone();
                }
            }
            RunEvent::ProcessRestarted { .. } => st.summary.restarts += 1,
            RunEvent::ProfileWritten {
                binary,
                tests,
                prefix,
            } => (st.summary.profiles).push((binary.clone(), tests.clone(), prefix.clone())),
            RunEvent::Leaked {
                binary,
                tests,
                processes,
                ..
            } => {
                for name in tests {
                    let key = (binary.clone(), name.clone());
                    st.summary
                        .leaks
                        .entry(key)
                        .or_default()
                        .extend_from_slice(processes);
                }
            }
            RunEvent::Finished {
                elapsed,
                interrupted,
            } => {
                st.summary.elapsed = *elapsed;
                st.summary.interrupted = *interrupted;
            }
            RunEvent::TestStarted { .. }
            | RunEvent::Stolen { .. }
            | RunEvent::Output { .. }
            | RunEvent::Slow { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(name: &str, outcome: Outcome) -> TestResult {
        TestResult {
            binary: "alpha::test/api".into(),
            name: name.into(),
            source_path: Some("tests/api.rs".into()),
            group: "g".into(),
            worker: "gw0".into(),
            outcome,
            duration: Duration::from_millis(12),
            reason: None,
            output: String::new(),
            attempt: 1,
            max_attempts: 1,
            will_retry: false,
            amends: false,
        }
    }

    #[test]
    fn collector_counts_and_attaches_failure_output() {
        let c = Collector::default();
        // Reported before the run: an ignored test and a listing failure.
        c.on_event(&RunEvent::TestFinished(result("d", Outcome::Skipped)));
        c.on_event(&RunEvent::TestFinished(result(
            "(listing)",
            Outcome::Failed,
        )));
        c.on_event(&RunEvent::Started {
            tests: 4,
            groups: 1,
            workers: 2,
            doctest_packages: 0,
        });
        c.on_event(&RunEvent::TestFinished(result("a", Outcome::Passed)));
        c.on_event(&RunEvent::TestFinished(result("b", Outcome::Failed)));
        c.on_event(&RunEvent::TestFinished(result("c", Outcome::TimedOut)));
        c.on_event(&RunEvent::FailureOutput {
            binary: "alpha::test/api".into(),
            name: "b".into(),
            output: "boom".into(),
        });
        let s = c.summary();
        assert_eq!(s.line(), "Summary: 1 passed, 3 failed, 1 skipped");
        assert_eq!(s.results[3].output, "boom");
        // 4 scheduled, 3 finished: one was never run (an interrupted run).
        assert_eq!(s.not_run, 1);
    }

    #[test]
    fn a_retry_replaces_its_failed_attempt_and_counts_once() {
        let c = Collector::default();
        c.on_event(&RunEvent::Started {
            tests: 3,
            groups: 1,
            workers: 1,
            doctest_packages: 0,
        });
        let attempt = |name: &str, outcome, n: u32, again: bool| {
            RunEvent::TestFinished(result(name, outcome).on_attempt(n, 3, again))
        };
        c.on_event(&attempt("flips", Outcome::Failed, 1, true));
        c.on_event(&RunEvent::FailureOutput {
            binary: "alpha::test/api".into(),
            name: "flips".into(),
            output: "first".into(),
        });
        c.on_event(&attempt("broken", Outcome::TimedOut, 1, true));
        c.on_event(&attempt("flips", Outcome::Passed, 2, false));
        c.on_event(&attempt("broken", Outcome::Failed, 2, true));
        c.on_event(&attempt("broken", Outcome::Failed, 3, false));
        let s = c.summary();
        assert_eq!(s.line(), "Summary: 1 passed, 1 failed, 0 skipped");
        assert_eq!((s.flaky(), s.failing(false), s.failing(true)), (1, 1, 2));
        // Two of the three scheduled tests finished; retries are no tests.
        assert_eq!(s.not_run, 1);
        let flips = &s.results[0];
        assert!(flips.is_flaky());
        let earlier = s.earlier_attempts(flips);
        assert_eq!(earlier.len(), 1);
        assert_eq!(earlier[0].output, "first");
        let broken = &s.results[1];
        assert_eq!(broken.attempt, 3);
        let outcomes: Vec<_> = s
            .earlier_attempts(broken)
            .iter()
            .map(|r| r.outcome)
            .collect();
        assert_eq!(outcomes, [Outcome::TimedOut, Outcome::Failed]);
    }
}
