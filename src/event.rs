//! The data the runner reports as it goes ([`RunEvent`]) and the result of
//! one test ([`TestResult`]). The runner emits these; reporters (report/)
//! consume them. Plain data, no behaviour beyond constructors.

use std::time::Duration;

use serde::Serialize;

/// How a test ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Passed,
    Failed,
    TimedOut,
    /// Ignored (not selected to run).
    Skipped,
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
        }
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
}

impl Outcome {
    pub fn is_failure(self) -> bool {
        matches!(self, Outcome::Failed | Outcome::TimedOut)
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
}

/// What the runner reports as it goes.
#[derive(Debug, Clone)]
pub enum RunEvent {
    Started {
        tests: usize,
        groups: usize,
        workers: usize,
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
