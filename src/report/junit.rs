//! JUnit XML from a [`RunSummary`]: one `<testsuite>` per test binary, one
//! `<testcase>` per test with its time, the worker as a property, and for
//! failures the reason as message and the captured output. quick-junit
//! writes the format GitLab and Jenkins read.

use std::collections::BTreeMap;

use anyhow::Result;
use camino::Utf8Path;
use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use super::RunSummary;
use crate::event::{Outcome, TestResult};

pub fn write(path: &Utf8Path, summary: &RunSummary, run_id: &str) -> Result<()> {
    let xml = render(summary, run_id)?;
    if let Some(parent) = path.parent().filter(|p| !p.as_str().is_empty()) {
        fs_err::create_dir_all(parent)?;
    }
    fs_err::write(path, xml)?;
    Ok(())
}

pub fn render(summary: &RunSummary, run_id: &str) -> Result<String> {
    let mut report = Report::new("cargo-xdist");
    report.set_time(summary.elapsed);
    let mut by_binary: BTreeMap<&str, Vec<&TestResult>> = BTreeMap::new();
    for r in &summary.results {
        by_binary.entry(r.binary.as_str()).or_default().push(r);
    }
    for (binary, results) in by_binary {
        let mut suite = TestSuite::new(binary);
        suite.add_property(Property::new("xdist.run_id", run_id));
        let mut sorted = results;
        sorted.sort_by(|a, b| a.name.cmp(&b.name));
        for r in sorted {
            suite.add_test_case(test_case(r));
        }
        report.add_test_suite(suite);
    }
    Ok(report.to_string()?)
}

/// A failure's one-line message: why the process failed it (signal,
/// timeout, libtest's own reason such as a `should_panic` mismatch), else
/// the first line of its panic message, else `test failed`.
pub fn failure_message(r: &TestResult) -> String {
    match &r.reason {
        Some(reason) => reason.clone(),
        None => panic_message(&r.output)
            .unwrap_or("test failed")
            .to_string(),
    }
}

/// The first line of the first panic message in a test's output: the
/// line after `thread 'NAME' panicked at FILE:LINE:COL:` (with the thread
/// id of newer toolchains, `thread 'NAME' (ID) panicked at`), or the quoted
/// message of the old one-line form `panicked at 'MESSAGE', FILE`.
pub fn panic_message(output: &str) -> Option<&str> {
    static HEADER: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(
            r"(?m)^thread '[^\n]*'(?: \(\d+\))? panicked at (?:'([^\n]*)', \S+|\S+:)\r?$",
        )
        .expect("a valid regex")
    });
    let caps = HEADER.captures(output)?;
    if let Some(old) = caps.get(1) {
        return Some(old.as_str()).filter(|m| !m.trim().is_empty());
    }
    let rest = &output[caps.get(0)?.end()..];
    let line = rest.strip_prefix('\n').unwrap_or(rest).lines().next()?;
    Some(line.trim_end()).filter(|m| !m.trim().is_empty())
}

fn test_case(r: &TestResult) -> TestCase {
    let status = match r.outcome {
        Outcome::Passed => TestCaseStatus::success(),
        Outcome::Skipped => TestCaseStatus::skipped(),
        Outcome::Failed | Outcome::TimedOut => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            let kind = if r.outcome == Outcome::TimedOut {
                "timeout"
            } else {
                "test failure"
            };
            s.set_type(kind);
            s.set_message(failure_message(r));
            if !r.output.is_empty() {
                s.set_description(r.output.clone());
            }
            s
        }
    };
    let mut tc = TestCase::new(r.name.clone(), status);
    let classname = match &r.source_path {
        Some(file) => format!("{} {file}", r.binary),
        None => r.binary.clone(),
    };
    tc.set_classname(classname);
    tc.set_time(r.duration);
    tc.add_property(Property::new("worker", r.worker.clone()));
    tc
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn renders_outcomes_worker_and_output() {
        let mk = |name: &str, outcome: Outcome, output: &str| TestResult {
            binary: "alpha::test/api".into(),
            name: name.into(),
            source_path: Some("tests/api.rs".into()),
            group: "g".into(),
            worker: "gw1".into(),
            outcome,
            duration: Duration::from_millis(5),
            reason: (outcome == Outcome::TimedOut).then(|| "timed out after 2s".into()),
            output: output.into(),
        };
        let summary = RunSummary {
            results: vec![
                mk("ok_test", Outcome::Passed, ""),
                mk("bad <test>", Outcome::Failed, "assertion & boom"),
                mk("hangs", Outcome::TimedOut, ""),
                mk("later", Outcome::Skipped, ""),
            ],
            ..Default::default()
        };
        let xml = render(&summary, "rid").unwrap();
        assert!(
            xml.contains(r#"<testsuite name="alpha::test/api" tests="4""#),
            "{xml}"
        );
        assert!(xml.contains(r#"failures="2""#), "{xml}");
        assert!(xml.contains("bad &lt;test&gt;"));
        assert!(xml.contains("assertion &amp; boom"));
        assert!(xml.contains(r#"message="timed out after 2s""#));
        assert!(xml.contains(r#"<property name="worker" value="gw1"/>"#));
        assert!(xml.contains("<skipped"));
    }

    #[test]
    fn failure_message_is_the_panics_first_line() {
        let new = "noise\nthread 'math::tests::f' (4242) panicked at src/math.rs:30:9:\nassertion `left == right` failed: deliberate\n  left: 2\n right: 3\nnote: run with `RUST_BACKTRACE=1`\n";
        assert_eq!(
            panic_message(new),
            Some("assertion `left == right` failed: deliberate")
        );
        let no_id = "thread 'main' panicked at src/lib.rs:1:5:\nboom\n";
        assert_eq!(panic_message(no_id), Some("boom"));
        let old = "thread 't' panicked at 'old style', src/lib.rs:3:5\n";
        assert_eq!(panic_message(old), Some("old style"));
        assert_eq!(panic_message("no panic here\n"), None);
        let r =
            TestResult::new("b", "t", None, "g", "gw0", Outcome::Failed).with_output(no_id.into());
        assert_eq!(failure_message(&r), "boom");
        let r = r.because(Some("timed out after 2s".into()));
        assert_eq!(failure_message(&r), "timed out after 2s");
        let r = TestResult::new("b", "t", None, "g", "gw0", Outcome::Failed);
        assert_eq!(failure_message(&r), "test failed");
    }
}
