//! `--message-format json`: the run as JSON lines on stdout, one object per
//! event, for CI systems and editors. Every line has the schema `version`
//! ([`SCHEMA_VERSION`]) and a `type`: `run-started`, `test-started`,
//! `test-finished`, `test-leaked`, `run-finished` (README.md,
//! "Machine-readable events",
//! documents each field). A consumer ignores types and fields it does not
//! know; the version changes when a field changes meaning or goes away.

use std::io::Write;
use std::sync::Mutex;

use serde::Serialize;

use super::{Reporter, RunSummary, package_of};
use crate::event::{LeakedProcess, Outcome, RunEvent, TestResult};

/// The version of the schema of every line.
pub const SCHEMA_VERSION: u32 = 1;

/// One line: the version, the type, the event's fields.
#[derive(Serialize)]
struct Line<'a, T: Serialize> {
    version: u32,
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(flatten)]
    body: T,
}

#[derive(Serialize)]
struct RunStarted<'a> {
    cargo_xdist_version: &'a str,
    run_id: &'a str,
    workers: usize,
    /// Tests known before they run (a package's doctests are counted as
    /// they run: see `doctest_packages`).
    tests: usize,
    /// `--doc`: packages whose doctests run.
    doctest_packages: usize,
}

#[derive(Serialize)]
struct TestStarted<'a> {
    binary_id: &'a str,
    package: &'a str,
    name: &'a str,
    worker: &'a str,
}

#[derive(Serialize)]
struct TestFinished<'a> {
    binary_id: &'a str,
    package: &'a str,
    source_path: Option<&'a str>,
    name: &'a str,
    worker: &'a str,
    outcome: Outcome,
    /// Seconds.
    duration: f64,
    attempt: u32,
    flaky: bool,
    /// This event replaces an earlier `test-finished` of the same test and
    /// attempt (the process ended badly after the test passed).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    amends: bool,
}

impl<'a> TestFinished<'a> {
    fn of(r: &'a TestResult) -> Self {
        TestFinished {
            binary_id: &r.binary,
            package: package_of(&r.binary),
            source_path: r.source_path.as_deref(),
            name: &r.name,
            worker: &r.worker,
            outcome: r.outcome,
            duration: r.duration.as_secs_f64(),
            attempt: r.attempt,
            flaky: r.is_flaky(),
            amends: r.amends,
        }
    }
}

/// A test process left processes running; they were killed.
#[derive(Serialize)]
struct TestLeaked<'a> {
    binary_id: &'a str,
    package: &'a str,
    worker: &'a str,
    /// The tests running when the processes started (empty: found at the
    /// end of the run, of no known test).
    names: &'a [String],
    processes: &'a [LeakedProcess],
    /// `--leak-fails`: the tests failed for it.
    fails: bool,
}

#[derive(Serialize)]
struct RunFinished {
    passed: usize,
    failed: usize,
    skipped: usize,
    /// `--affected`: tests not run because no change could affect them.
    unaffected: usize,
    flaky: usize,
    not_run: usize,
    /// Seconds.
    duration: f64,
    interrupted: bool,
    exit_code: i32,
}

/// Writes the JSON lines. Results known before the run (ignored tests)
/// wait for `run-started`, which is always the first line.
pub struct Json {
    run_id: String,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    started: bool,
    early: Vec<TestResult>,
}

impl Json {
    pub fn new(run_id: &str) -> Self {
        Json {
            run_id: run_id.to_string(),
            state: Mutex::new(State::default()),
        }
    }

    fn write<T: Serialize>(kind: &str, body: T) {
        let line = Line {
            version: SCHEMA_VERSION,
            kind,
            body,
        };
        let mut out = std::io::stdout().lock();
        // A closed stdout (a consumer that went away) must not stop the run.
        if serde_json::to_writer(&mut out, &line).is_ok() {
            let _ = writeln!(out);
            let _ = out.flush();
        }
    }

    fn finished(r: &TestResult) {
        Self::write("test-finished", TestFinished::of(r));
    }
}

impl Reporter for Json {
    fn on_event(&self, event: &RunEvent) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            RunEvent::Started {
                tests,
                workers,
                doctest_packages,
                ..
            } => {
                Self::write(
                    "run-started",
                    RunStarted {
                        cargo_xdist_version: env!("CARGO_PKG_VERSION"),
                        run_id: &self.run_id,
                        workers: *workers,
                        tests: *tests,
                        doctest_packages: *doctest_packages,
                    },
                );
                st.started = true;
                std::mem::take(&mut st.early)
                    .iter()
                    .for_each(Self::finished);
            }
            RunEvent::TestStarted {
                worker,
                binary,
                name,
            } => Self::write(
                "test-started",
                TestStarted {
                    binary_id: binary,
                    package: package_of(binary),
                    name,
                    worker,
                },
            ),
            RunEvent::TestFinished(r) if !st.started => st.early.push(r.clone()),
            RunEvent::TestFinished(r) => Self::finished(r),
            RunEvent::Leaked {
                worker,
                binary,
                tests,
                processes,
                fails,
            } => Self::write(
                "test-leaked",
                TestLeaked {
                    binary_id: binary,
                    package: package_of(binary),
                    worker,
                    names: tests,
                    processes,
                    fails: *fails,
                },
            ),
            _ => {}
        }
    }

    fn finish(&self, summary: &RunSummary, exit_code: i32) {
        Self::write(
            "run-finished",
            RunFinished {
                passed: summary.passed(),
                failed: summary.failed(),
                skipped: summary.skipped(),
                unaffected: summary.unaffected(),
                flaky: summary.flaky(),
                not_run: summary.not_run,
                duration: summary.elapsed.as_secs_f64(),
                interrupted: summary.interrupted,
                exit_code,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_line_has_version_type_and_fields() {
        let r = TestResult::new(
            "alpha::test/api",
            "get_user",
            Some("tests/api.rs".into()),
            "g",
            "gw1",
            Outcome::TimedOut,
        )
        .took(Duration::from_millis(1500));
        let line = Line {
            version: SCHEMA_VERSION,
            kind: "test-finished",
            body: TestFinished::of(&r),
        };
        let v: serde_json::Value = serde_json::to_value(&line).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "version": 1, "type": "test-finished",
                "binary_id": "alpha::test/api", "package": "alpha",
                "source_path": "tests/api.rs", "name": "get_user", "worker": "gw1",
                "outcome": "timed-out", "duration": 1.5, "attempt": 1, "flaky": false,
            })
        );
    }
}
