//! The data the runner reports as it goes ([`RunEvent`]) and the result of
//! one test ([`TestResult`]). Plain data, no behaviour beyond constructors.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The name under which a binary that could not list its tests is
/// reported (and recorded as failed).
pub const LISTING: &str = "(listing)";

/// How a test ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Passed,
    Failed,
    TimedOut,
    /// Ignored (not selected to run).
    Skipped,
    /// `--affected`: no change since the impact map can affect it.
    Unaffected,
}

impl TestResult {
    /// `name` of `binary`, run by `worker` in `group` (empty group and
    /// worker `-` for results known before the run), with no time, reason
    /// or output yet.
    pub fn new(
        binary: &str,
        name: &str,
        source_path: Option<String>,
        group: &str,
        worker: &str,
        outcome: Outcome,
    ) -> Self {
        TestResult {
            binary: binary.to_string(),
            name: name.to_string(),
            source_path,
            group: group.to_string(),
            worker: worker.to_string(),
            outcome,
            duration: Duration::ZERO,
            reason: None,
            output: String::new(),
            attempt: 1,
            max_attempts: 1,
            will_retry: false,
            amends: false,
        }
    }

    /// This result replaces the test's earlier verdict in this run (its
    /// process ended badly after the test had passed).
    pub fn amending(mut self) -> Self {
        self.amends = true;
        self
    }

    pub fn took(mut self, duration: Duration) -> Self {
        self.duration = duration;
        self
    }

    pub fn because(mut self, reason: Option<String>) -> Self {
        self.reason = reason;
        self
    }

    pub fn with_output(mut self, output: String) -> Self {
        self.output = output;
        self
    }

    /// Attempt `attempt` (from 1) of at most `max_attempts`; `will_retry`
    /// when this failed attempt is to run again.
    pub fn on_attempt(mut self, attempt: u32, max_attempts: u32, will_retry: bool) -> Self {
        self.attempt = attempt;
        self.max_attempts = max_attempts;
        self.will_retry = will_retry;
        self
    }

    /// A run of the test after a failed one (`--retries`).
    pub fn is_retry(&self) -> bool {
        self.attempt > 1
    }

    /// Passed on a retry after failing: counted as passed (`--flaky-fails`
    /// makes it fail the run).
    pub fn is_flaky(&self) -> bool {
        self.outcome == Outcome::Passed && self.is_retry()
    }

    /// A failure that is the test's verdict: not one that runs again.
    pub fn is_final_failure(&self) -> bool {
        self.outcome.is_failure() && !self.will_retry
    }

    /// The test, as the last-failed record names it.
    pub fn id(&self) -> TestId {
        TestId {
            binary: self.binary.clone(),
            name: self.name.clone(),
        }
    }
}

/// A test across runs: its binary's id and its name (the last-failed
/// record, `--lf`/`--ff`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TestId {
    pub binary: String,
    pub name: String,
}

impl Outcome {
    pub fn is_failure(self) -> bool {
        matches!(self, Outcome::Failed | Outcome::TimedOut)
    }

    /// The test ran (passed, failed or timed out).
    pub fn ran(self) -> bool {
        !matches!(self, Outcome::Skipped | Outcome::Unaffected)
    }
}

/// One test's result.
#[derive(Debug, Clone, Serialize)]
pub struct TestResult {
    /// Binary id (`alpha`, `alpha::test/api`).
    pub binary: String,
    pub name: String,
    pub source_path: Option<String>,
    /// The group it ran in.
    pub group: String,
    /// The worker that ran it (`gw0`, or `main` in serial mode).
    pub worker: String,
    pub outcome: Outcome,
    pub duration: Duration,
    /// Why it failed beyond libtest's own report: signal, exit code, timeout.
    pub reason: Option<String>,
    /// Captured output (failures only).
    pub output: String,
    /// Which run of this test this is, from 1 (`--retries`: each failed
    /// run may be followed by another, in a fresh process). Every attempt
    /// is reported; a reporter shows `attempt` and [`TestResult::is_flaky`].
    pub attempt: u32,
    /// The most runs this test gets: 1 + `--retries` (1 for doctests,
    /// which are not retried).
    pub max_attempts: u32,
    /// This failed attempt runs again. An interrupted or stopped run may
    /// drop the retry: this result then stays the test's verdict.
    pub will_retry: bool,
    /// This result replaces one reported earlier for the same test and
    /// attempt: the test passed, but its process then ended badly (an exit
    /// handler aborted, hung or changed the exit status) because of it.
    pub amends: bool,
}

/// A process a test left running.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeakedProcess {
    pub pid: u32,
    /// Its command line.
    pub command: String,
}

impl LeakedProcess {
    /// `left 1 process (pid 12: sleep 600)`, the commands cut to 60
    /// characters.
    pub fn describe(processes: &[LeakedProcess]) -> String {
        let each: Vec<String> = processes
            .iter()
            .map(|p| {
                let mut command: String = p.command.chars().take(60).collect();
                if command.len() < p.command.len() {
                    command.push_str("...");
                }
                format!("pid {}: {command}", p.pid)
            })
            .collect();
        let n = processes.len();
        let noun = if n == 1 { "process" } else { "processes" };
        format!("left {n} {noun} running ({})", each.join(", "))
    }

    /// Why `--leak-fails` fails the tests that left `processes`.
    pub fn failure_reason(processes: &[LeakedProcess]) -> String {
        format!("{}; killed (--leak-fails)", Self::describe(processes))
    }
}

/// What the runner reports as it goes.
#[derive(Debug, Clone)]
pub enum RunEvent {
    Started {
        /// Tests of the units other than doctests (a custom harness counts
        /// one).
        tests: usize,
        groups: usize,
        workers: usize,
        /// `--doc`: packages whose doctests run (their number is known
        /// only as they run).
        doctest_packages: usize,
    },
    TestStarted {
        worker: String,
        /// Binary id, as in [`TestResult::binary`].
        binary: String,
        name: String,
    },
    /// `--no-capture`: complete lines a test process wrote (one or more,
    /// each ending in a newline except maybe the process's last). Whole
    /// lines, so that the sink's redaction never sees a secret cut in two.
    Output {
        worker: String,
        binary: String,
        text: String,
    },
    /// `--slow-timeout`: `name` has been running for `elapsed` (a multiple
    /// of the slow timeout) and is still running.
    Slow {
        worker: String,
        binary: String,
        name: String,
        elapsed: Duration,
    },
    TestFinished(TestResult),
    /// libtest prints a failure's captured output at the end of its
    /// process; it follows the failure's `TestFinished`.
    FailureOutput {
        binary: String,
        name: String,
        output: String,
    },
    /// `--dist worksteal`: `thief` took `tests` unstarted tests of
    /// `victim`'s group.
    Stolen {
        thief: String,
        victim: String,
        group: String,
        tests: usize,
    },
    /// A test process left processes running when it exited (see
    /// [`crate::leak`]); they have been killed. `tests` are the tests that
    /// were running when they started (empty: processes found at the end
    /// of the run, of no known test).
    Leaked {
        worker: String,
        binary: String,
        tests: Vec<String>,
        processes: Vec<LeakedProcess>,
        /// `--leak-fails`: the tests fail for it.
        fails: bool,
    },
    /// `--coverage`: a libtest process that ran `tests` of `binary` ended
    /// and its profile counts: the files whose path starts with `prefix`
    /// (its own and its children's, one per process id) hold what they
    /// executed (for `--record-impact`, which runs one test a process).
    ProfileWritten {
        binary: String,
        tests: Vec<String>,
        prefix: String,
    },
    /// A process died mid-group; its remaining tests run in a fresh one.
    ProcessRestarted {
        worker: String,
        group: String,
        remaining: usize,
    },
    Finished {
        elapsed: Duration,
        interrupted: bool,
    },
}
