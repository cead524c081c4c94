//! JUnit XML from a [`RunSummary`]: one `<testsuite>` per test binary, one
//! `<testcase>` per test with its time, the worker as a property, and for
//! failures the reason as message and the captured output. quick-junit
//! writes the format GitLab and Jenkins read.
//!
//! `--retries` follows Maven Surefire's convention: a test that failed,
//! then passed is a passing `<testcase>` with one `<flakyFailure>` per
//! failed attempt; a test that failed every attempt has its last attempt
//! as `<failure>` and the earlier ones as `<rerunFailure>`s.
//!
//! Every text holds only characters XML 1.0 allows ([`xml_safe`]): a test's
//! output may hold any character, and one a strict parser (expat) rejects
//! would lose the CI every result of the run.

use std::collections::BTreeMap;

use anyhow::Result;
use camino::Utf8Path;
use quick_junit::{
    NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestRerun, TestSuite,
};

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

/// `text` with each character XML 1.0 forbids (the C0 controls other than
/// tab, newline and carriage return; U+FFFE and U+FFFF; a Rust string holds
/// no lone surrogate) written visibly as `\u{fffe}`, as the terminal
/// shows control characters.
pub fn xml_safe(text: &str) -> String {
    let allowed = |c: char| match c {
        '\t' | '\n' | '\r' => true,
        '\u{fffe}' | '\u{ffff}' => false,
        c => c >= ' ',
    };
    if text.chars().all(allowed) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if allowed(c) {
            out.push(c);
        } else {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        }
    }
    out
}

pub fn render(summary: &RunSummary, run_id: &str) -> Result<String> {
    let mut report = Report::new("cargo-xdist");
    report.set_time(summary.elapsed);
    let mut by_binary: BTreeMap<&str, Vec<&TestResult>> = BTreeMap::new();
    for r in &summary.results {
        by_binary.entry(r.binary.as_str()).or_default().push(r);
    }
    for (binary, results) in by_binary {
        let mut suite = TestSuite::new(xml_safe(binary));
        suite.add_property(Property::new("xdist.run_id", xml_safe(run_id)));
        let mut sorted = results;
        sorted.sort_by(|a, b| a.name.cmp(&b.name));
        for r in sorted {
            let mut case = test_case(r, summary.earlier_attempts(r));
            if let Some(leaked) = summary.leaks.get(&(r.binary.clone(), r.name.clone())) {
                let leak = crate::event::LeakedProcess::describe(leaked);
                // A passing test keeps passing (unless --leak-fails), so
                // the leak is a property of the case, and a note on its
                // stderr where CI servers show it.
                case.add_property(Property::new("leaked", xml_safe(&leak)));
                let note = format!("cargo-xdist: this test {leak}; they were killed\n");
                case.set_system_err(xml_safe(&note));
            }
            suite.add_test_case(case);
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

/// A failure's type, message and description (its output).
fn failure_texts(r: &TestResult) -> (&'static str, String, Option<String>) {
    let kind = if r.outcome == Outcome::TimedOut {
        "timeout"
    } else {
        "test failure"
    };
    let message = failure_message(r);
    (
        kind,
        message,
        Some(r.output.clone()).filter(|o| !o.is_empty()),
    )
}

fn test_case(r: &TestResult, earlier: &[TestResult]) -> TestCase {
    let mut status = match r.outcome {
        Outcome::Passed => TestCaseStatus::success(),
        Outcome::Skipped => TestCaseStatus::skipped(),
        Outcome::Unaffected => {
            let mut s = TestCaseStatus::skipped();
            s.set_message("unaffected");
            s
        }
        Outcome::Failed | Outcome::TimedOut => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            let (kind, message, description) = failure_texts(r);
            s.set_type(kind).set_message(xml_safe(&message));
            if let Some(d) = description {
                s.set_description(xml_safe(&d));
            }
            s
        }
    };
    // A passing status writes these as <flakyFailure>, a failing one as
    // <rerunFailure>.
    status.add_reruns(earlier.iter().map(|a| {
        let mut rerun = TestRerun::new(NonSuccessKind::Failure);
        let (kind, message, description) = failure_texts(a);
        rerun
            .set_type(kind)
            .set_message(xml_safe(&message))
            .set_time(a.duration);
        if let Some(d) = description {
            rerun.set_description(xml_safe(&d));
        }
        rerun
    }));
    let mut tc = TestCase::new(xml_safe(&r.name), status);
    let classname = match &r.source_path {
        Some(file) => format!("{} {file}", r.binary),
        None => r.binary.clone(),
    };
    tc.set_classname(xml_safe(&classname));
    tc.set_time(r.duration);
    tc.add_property(Property::new("worker", xml_safe(&r.worker)));
    // A failure's output also as system-out, where CI servers show a
    // test's log: one stream, in the order the test wrote it (its stdout
    // and stderr share one pipe).
    if r.outcome.is_failure() && !r.output.is_empty() {
        tc.set_system_out(xml_safe(&r.output));
    }
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
            attempt: 1,
            max_attempts: 1,
            will_retry: false,
            amends: false,
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
        assert!(
            xml.contains("<system-out>assertion &amp; boom</system-out>"),
            "a failure's output is its system-out too: {xml}"
        );
        assert_eq!(xml.matches("<system-out>").count(), 1, "{xml}");
        assert!(xml.contains(r#"message="timed out after 2s""#));
        assert!(xml.contains(r#"<property name="worker" value="gw1"/>"#));
        assert!(xml.contains("<skipped"));
    }

    #[test]
    fn retried_attempts_are_flaky_or_rerun_failures() {
        let mk = |name: &str, outcome: Outcome, attempt: u32, output: &str| {
            TestResult::new("b", name, None, "g", "gw0", outcome)
                .because(outcome.is_failure().then(|| format!("attempt {attempt}")))
                .with_output(output.into())
                .on_attempt(attempt, 3, false)
        };
        let mut summary = RunSummary {
            results: vec![
                mk("flips", Outcome::Passed, 2, ""),
                mk("broken", Outcome::Failed, 3, "third"),
            ],
            ..Default::default()
        };
        summary.retried.insert(
            ("b".into(), "flips".into()),
            vec![mk("flips", Outcome::Failed, 1, "boom & <bang>")],
        );
        summary.retried.insert(
            ("b".into(), "broken".into()),
            vec![
                mk("broken", Outcome::TimedOut, 1, ""),
                mk("broken", Outcome::Failed, 2, "second"),
            ],
        );
        let xml = render(&summary, "rid").unwrap();
        let report = quick_junit::Report::deserialize_from_str(&xml).unwrap();
        assert_eq!((report.tests, report.failures), (2, 1), "{xml}");
        let cases = &report.test_suites[0].test_cases;
        let flips = cases.iter().find(|c| c.name.as_str() == "flips").unwrap();
        match &flips.status {
            TestCaseStatus::Success { flaky_runs } => {
                assert_eq!(flaky_runs.len(), 1, "{xml}");
                assert_eq!(flaky_runs[0].message.as_deref(), Some("attempt 1"));
                assert_eq!(flaky_runs[0].description.as_deref(), Some("boom & <bang>"));
            }
            other => panic!("{other:?}"),
        }
        assert!(xml.contains("<flakyFailure"), "{xml}");
        let broken = cases.iter().find(|c| c.name.as_str() == "broken").unwrap();
        match &broken.status {
            TestCaseStatus::NonSuccess {
                message, reruns, ..
            } => {
                assert_eq!(message.as_deref(), Some("attempt 3"));
                let kinds: Vec<_> = reruns.runs.iter().map(|r| r.ty.as_deref()).collect();
                assert_eq!(kinds, [Some("timeout"), Some("test failure")]);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(xml.matches("<rerunFailure").count(), 2, "{xml}");
    }

    #[test]
    fn only_characters_xml_allows_are_written() {
        assert_eq!(
            xml_safe("plain\ttab\r\nline é ☃ 𝄞"),
            "plain\ttab\r\nline é ☃ 𝄞"
        );
        assert_eq!(
            xml_safe("a\u{0}b\u{1b}c\u{1f}d\u{fffe}e\u{ffff}f\u{fffd}\u{7f}"),
            "a\\u{0}b\\u{1b}c\\u{1f}d\\u{fffe}e\\u{ffff}f\u{fffd}\u{7f}"
        );
        let r = TestResult::new("b", "t\u{7}", None, "g", "gw0", Outcome::Failed)
            .because(Some("why \u{ffff}".into()))
            .with_output("out \u{0}".into());
        let xml = render(
            &RunSummary {
                results: vec![r],
                ..Default::default()
            },
            "rid",
        )
        .unwrap();
        assert!(!xml.contains(['\u{0}', '\u{7}', '\u{ffff}']), "{xml}");
        assert!(
            xml.contains(r"t\u{7}") && xml.contains(r"why \u{ffff}"),
            "{xml}"
        );
        assert!(xml.contains(r"out \u{0}"), "{xml}");
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
