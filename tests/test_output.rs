//! A test's output is all of it, and its own (issue 19): what a test
//! writes to fd 1 or 2 directly (as env_logger and tracing do) and what a
//! child process it runs writes reach its failure block and its JUnit
//! case, in the order written, and no other test's; with `--retries` and
//! `-x` each failure keeps its own output; `--no-capture` leaves out
//! libtest's own lines. Fixture: `truth` (`raw_output.rs`, `retry_two.rs`).

mod common;

use common::*;

/// The failure block of `name` in the closing report: from its `--- FAIL`
/// line to the next block or the end of the `Failures:` section.
fn failure_block<'r>(run: &'r Run, binary: &str, name: &str) -> &'r str {
    let head = format!("--- FAIL {binary} {name} [");
    let start = run
        .stdout
        .find(&head)
        .unwrap_or_else(|| panic!("no failure block for {name}{}", run.ctx()));
    let rest = &run.stdout[start + head.len()..];
    let end = ["\n--- ", "\nTiming: ", "\nRan ", "\nFailed tests:"]
        .iter()
        .filter_map(|m| rest.find(m))
        .min()
        .unwrap_or(rest.len());
    &rest[..end]
}

/// The `<failure>` text (output) and message of `name`'s JUnit case.
fn junit_failure(run: &Run, junit: &Junit, binary: &str, name: &str) -> (String, String) {
    match junit.get(binary, name).map(|c| &c.outcome) {
        Some(JOutcome::Failed {
            message,
            description,
            ..
        }) => (description.clone(), message.clone()),
        other => panic!("{name}: expected a failure, got {other:?}{}", run.ctx()),
    }
}

/// `text` holds `test`'s five numbered lines, in the order written, and
/// no line of the `others`.
fn assert_own_lines_in_order(text: &str, test: &str, others: &[&str], what: &str, run: &Run) {
    let kinds = [
        "1 print",
        "2 raw stderr",
        "3 raw stdout",
        "4 child stdout",
        "5 child stderr",
    ];
    let mut at = 0;
    for kind in kinds {
        let line = format!("{test} {kind}");
        match text[at..].find(&line) {
            Some(pos) => at += pos + line.len(),
            None => panic!(
                "{what} of {test}: {line:?} missing or out of order in:\n{text}{}",
                run.ctx()
            ),
        }
    }
    for other in others {
        assert!(
            !text.contains(other),
            "{what} of {test} holds {other}'s output:\n{text}{}",
            run.ctx()
        );
    }
    for chatter in [
        "running ",
        "test result:",
        "failures:",
        "test a_",
        "test c_",
    ] {
        assert!(
            !text.contains(chatter),
            "{what} of {test} holds libtest's {chatter:?}:\n{text}{}",
            run.ctx()
        );
    }
}

const RAW: &str = "truth::test/raw_output";

#[test]
fn raw_writes_and_a_childs_output_are_in_the_failing_tests_block_and_junit() {
    let run = xdist_fixture("truth", &["-n", "1", "--test", "raw_output"])
        .junit()
        .run();
    run.assert_code(100);
    run.assert_no_panic();
    run.assert_summary(2, 2, 0);
    let junit = run.junit();
    let all = [
        "a_fails_with_logs",
        "b_passes_with_logs",
        "c_fails_with_logs",
    ];
    for test in ["a_fails_with_logs", "c_fails_with_logs"] {
        let others: Vec<&str> = all.iter().copied().filter(|t| *t != test).collect();
        let block = failure_block(&run, RAW, test);
        assert_own_lines_in_order(block, test, &others, "the failure block", &run);
        let (output, message) = junit_failure(&run, &junit, RAW, test);
        assert_own_lines_in_order(&output, test, &others, "the JUnit failure", &run);
        assert_eq!(message, format!("{test} panics"), "{}", run.ctx());
    }
}

const RETRY: &str = "truth::test/retry_two";

/// Two tests of one file that fail on every attempt, `-x --retries 1`:
/// each failure (and each earlier attempt) shows only its own output and
/// panic; the counts are the tests that failed.
#[test]
fn retries_and_x_keep_each_failures_own_output() {
    let run = xdist_fixture(
        "truth",
        &[
            "-n",
            "2",
            "--dist",
            "loadfile",
            "-x",
            "--retries",
            "1",
            "--test",
            "retry_two",
        ],
    )
    .junit()
    .run();
    run.assert_code(100);
    run.assert_no_panic();
    let junit = run.junit();
    let pairs = [
        ("first_fails", "second_fails"),
        ("second_fails", "first_fails"),
    ];
    for (own, other) in pairs {
        let (output, message) = junit_failure(&run, &junit, RETRY, own);
        assert_eq!(message, format!("{own} panics"), "{}", run.ctx());
        let block = failure_block(&run, RETRY, own);
        for (what, text) in [("failure block", block), ("JUnit failure", &output[..])] {
            for line in [format!("{own} printed"), format!("{own} raw")] {
                assert!(
                    text.contains(&line),
                    "the {what} of {own} lacks {line:?}:\n{text}{}",
                    run.ctx()
                );
            }
            for bad in [other, "running ", "test result:", "failures:"] {
                assert!(
                    !text.contains(bad),
                    "the {what} of {own} holds {bad:?}:\n{text}{}",
                    run.ctx()
                );
            }
        }
    }
    // Every earlier attempt's text is its own test's too.
    for (at, text) in junit.texts() {
        for (own, other) in pairs {
            if at.contains(&format!("case {own}:")) {
                assert!(
                    !text.contains(other),
                    "{at} holds {other}'s output: {text}{}",
                    run.ctx()
                );
            }
        }
    }
    // Both ran and failed (the second's retry was dropped by -x).
    run.assert_summary(0, 2, 0);
    assert_eq!(junit.report.failures, 2, "{}", run.ctx());
}

/// `--no-capture` shows a test's output, raw writes and children
/// included, after its worker, and none of libtest's own lines.
#[test]
fn no_capture_shows_every_write_without_libtests_lines() {
    let run = xdist_fixture(
        "truth",
        &["-n", "1", "--test", "raw_output", "--no-capture"],
    )
    .run();
    run.assert_code(100);
    run.assert_summary(2, 2, 0);
    let live: Vec<&str> = run
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("[gw0] "))
        .collect();
    for test in [
        "a_fails_with_logs",
        "b_passes_with_logs",
        "c_fails_with_logs",
    ] {
        for kind in [
            "1 print",
            "2 raw stderr",
            "4 child stdout",
            "5 child stderr",
        ] {
            let line = format!("{test} {kind}");
            assert!(
                live.contains(&line.as_str()),
                "--no-capture does not show {line:?}{}",
                run.ctx()
            );
        }
    }
    for l in &live {
        let libtest = l.starts_with("running ")
            || l.starts_with("test ")
            || l.starts_with("test result:")
            || matches!(*l, "ok" | "FAILED" | "failures:" | "    a_fails_with_logs");
        assert!(!libtest, "--no-capture shows libtest's {l:?}{}", run.ctx());
    }
}

/// `--doc --no-capture` shows what the doctest run writes, live and
/// prefixed, without cargo's lines (`Finished`, `Doc-tests truth`) or
/// libtest's (`running 1 test`, `test NAME ... ok`, `test result:`, blank
/// lines). rustdoc keeps a passing doctest's own output, so nothing shows.
#[test]
fn no_capture_doctests_show_no_chatter() {
    let dir = tempfile::tempdir().unwrap();
    let run = xdist_fixture("truth", &["--doc", "--lib", "--no-capture"])
        .env("TRUTH_LEAK_DIR", dir.path().to_str().unwrap())
        .run();
    // The doctest's daemon is the run's to kill (tests/leaks.rs checks).
    run.assert_code(0);
    run.assert_summary(1, 0, 0);
    let shown: Vec<&str> = (run.stdout.lines())
        .filter(|l| l.starts_with("[gw"))
        .collect();
    assert!(shown.is_empty(), "{shown:?}{}", run.ctx());
}
