//! The re-run commands printed after a run's failures, run as printed by a
//! shell, re-run exactly the tests that failed: for every kind of test
//! (unit, integration, `harness = false`, doctest) and names with odd
//! characters (`r#type::r#match`, a doctest in `src/odd dir/it's.rs`).

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use common::*;

/// The failures `fixtures/rerun` has on purpose: (JUnit suite, name).
const FAILURES: &[(&str, &str)] = &[
    ("base", "r#type::r#match"),
    ("base::doc", "base/src/lib.rs - add1 (line 16)"),
    ("base::doc", "base/src/odd dir/it's.rs - odd::odd (line 5)"),
    ("user::test/api", "api_fails"),
    ("user::test/custom", "custom"),
];

/// `sh -c COMMAND --junit PATH` in the repository's root, with this build's
/// `cargo-xdist` on the PATH, so that `cargo xdist` is the binary under
/// test, and the environment a user's shell would have.
fn shell(command: &str, bin: &std::path::Path, junit: &std::path::Path) -> (i32, String) {
    let path = std::env::var("PATH").unwrap_or_default();
    let line = format!(
        "{command} --junit {}",
        shlex::try_quote(&junit.to_string_lossy()).unwrap()
    );
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(&line).current_dir(repo_root());
    for (k, _) in std::env::vars() {
        let outer = k.starts_with("CARGO_") && k != "CARGO_HOME";
        if outer || k.starts_with("XDIST_") || k == "LD_LIBRARY_PATH" || k == "DATABASE_URL" {
            cmd.env_remove(&k);
        }
    }
    let out = cmd
        .env("PATH", format!("{}:{path}", bin.display()))
        .env("CARGO_TARGET_DIR", fixture_target_dir())
        .env("NO_COLOR", "1")
        .output()
        .unwrap_or_else(|e| panic!("cannot run sh -c {line:?}: {e}"));
    let text = format!(
        "=== {line}\n=== exit {:?}\n=== stdout:\n{}\n=== stderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn every_printed_rerun_command_reruns_exactly_its_failures() {
    let run = xdist_fixture("rerun", &["--workspace", "--doc", "-n", "2"])
        .junit()
        .run();
    run.assert_code(100);
    run.assert_no_panic();
    let failed: BTreeSet<(String, String)> = (run.junit().cases.iter())
        .filter(|c| matches!(c.outcome, JOutcome::Failed { .. }))
        .map(|c| (c.suite.clone(), c.name.clone()))
        .collect();
    let expected: BTreeSet<(String, String)> = (FAILURES.iter())
        .map(|(s, n)| (s.to_string(), n.to_string()))
        .collect();
    assert_eq!(failed, expected, "the fixture's failures{}", run.ctx());

    let lines: Vec<&str> = run.stdout.lines().collect();
    let at = (lines.iter())
        .position(|l| *l == "Re-run them with:")
        .unwrap_or_else(|| panic!("no re-run commands{}", run.ctx()));
    let commands: Vec<&str> = lines[at + 1..]
        .iter()
        .take_while(|l| l.starts_with("cargo xdist "))
        .copied()
        .collect();
    // One per binary: base's unit tests and doctests, user's two targets.
    assert_eq!(commands.len(), 4, "{commands:#?}{}", run.ctx());

    let tmp = tempfile::tempdir().unwrap();
    let bin = tmp.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(XDIST, bin.join("cargo-xdist")).unwrap();
    let mut ran = BTreeSet::new();
    for (i, command) in commands.iter().enumerate() {
        // `--junit` goes last: no test argument comes after the names.
        assert!(!command.contains(" -- "), "{command}");
        let junit_path = tmp.path().join(format!("j{i}.xml"));
        let (code, out) = shell(command, &bin, &junit_path);
        assert_eq!(code, 100, "{out}");
        let xml = std::fs::read_to_string(&junit_path)
            .unwrap_or_else(|e| panic!("no JUnit report: {e}\n{out}"));
        let junit = Junit::parse(&xml).unwrap();
        assert!(!junit.cases.is_empty(), "{out}");
        for case in &junit.cases {
            let key = (case.suite.clone(), case.name.clone());
            assert!(
                matches!(case.outcome, JOutcome::Failed { .. }) && expected.contains(&key),
                "{command} ran {key:?} ({:?}), not one of the failures\n{out}",
                case.outcome
            );
            assert!(ran.insert(key), "two commands ran {case:?}");
        }
    }
    assert_eq!(ran, expected, "the re-run commands: {commands:#?}");
}
