//! Impact maps and `--affected` on `fixtures/impact` (see its EXPECTED.md):
//! a map recorded once, then one change at a time in a copy of the
//! fixture. A change inside one function selects exactly the tests that
//! ran it; a change the map cannot see (a const, a type, a const fn,
//! Cargo.toml, a migration) and a missing or stale map run everything,
//! with one line saying why; tests the map does not know always run; shard
//! maps merge; an archive run with `--workspace-remap` selects the same.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::*;

/// Every test of the fixture, as (JUnit suite, name).
const ALL: &[(&str, &str)] = &[
    ("impact", "tests::add_unit"),
    ("impact", "tests::limit_unit"),
    ("impact::test/math", "adds"),
    ("impact::test/math", "both"),
    ("impact::test/math", "multiplies"),
    ("impact::test/pairs", "answers"),
    ("impact::test/pairs", "pairs"),
    ("impact::test/pairs", "reads_the_migration"),
];

/// A copy of the fixture, with a map path and a target directory of its
/// own (copies at other paths would share their binaries' names in one).
struct Copy {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    map: PathBuf,
    target: PathBuf,
}

impl Copy {
    fn new() -> Copy {
        let tmp = fixture_copies("xdist-impact-", &["impact"]);
        let root = tmp.path().join("impact");
        let map = tmp.path().join("maps").join("impact.json");
        let target = tmp.path().join("target");
        Copy {
            _tmp: tmp,
            root,
            map,
            target,
        }
    }

    fn manifest(&self) -> String {
        self.root.join("Cargo.toml").to_string_lossy().into_owned()
    }

    /// `cargo xdist --manifest-path COPY --impact-file MAP ARGS`, with JUnit.
    fn xdist(&self, args: &[&str]) -> Run {
        self.xdist_with_map(&self.map, args)
    }

    fn xdist_with_map(&self, map: &Path, args: &[&str]) -> Run {
        let mut all = vec![
            "--manifest-path".to_string(),
            self.manifest(),
            "--impact-file".to_string(),
            map.to_string_lossy().into_owned(),
            "-n".into(),
            "2".into(),
        ];
        all.extend(args.iter().map(|a| a.to_string()));
        self.run(xdist(&all).junit())
    }

    fn run(&self, x: Xdist) -> Run {
        x.env("CARGO_TARGET_DIR", &self.target.to_string_lossy())
            .run()
    }

    fn record(&self) -> Run {
        let run = self.xdist(&["--record-impact"]);
        run.assert_code(0);
        assert!(
            run.stdout.contains("Impact map: 8 tests")
                || run.stderr.contains("Impact map: 8 tests"),
            "the map's line is missing\n{}",
            run.ctx()
        );
        run
    }

    /// Replace `from` (which must be there) by `to` in `file`.
    fn edit(&self, file: &str, from: &str, to: &str) {
        let path = self.root.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{from:?} is not in {file}");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    }
}

/// The tests that ran (passed or failed) per the run's JUnit.
fn ran(run: &Run) -> BTreeSet<(String, String)> {
    (run.junit().outcome_map().into_iter())
        .filter(|(_, o)| *o == "pass" || *o == "fail")
        .map(|(k, _)| k)
        .collect()
}

fn tests(names: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    names
        .iter()
        .map(|(s, n)| (s.to_string(), n.to_string()))
        .collect()
}

/// The run ran exactly `expected` (JUnit suite, name).
fn assert_ran(run: &Run, expected: &[(&str, &str)]) {
    assert_eq!(ran(run), tests(expected), "{}", run.ctx());
}

fn output(run: &Run) -> String {
    format!("{}\n{}", run.stdout, run.stderr)
}

#[test]
fn a_change_inside_one_function_selects_exactly_the_tests_that_ran_it() {
    let c = Copy::new();
    c.record();
    // Nothing changed: nothing runs, the run passes, every test is
    // reported unaffected (summary, JUnit).
    let run = c.xdist(&["--affected"]);
    run.assert_code(0);
    assert!(ran(&run).is_empty(), "{}", run.ctx());
    assert!(
        run.last_line()
            .ends_with("0 passed, 0 failed, 0 skipped, 8 unaffected"),
        "{}",
        run.ctx()
    );
    let junit = std::fs::read_to_string(run.junit_path.as_ref().unwrap()).unwrap();
    assert_eq!(
        junit.matches("<skipped message=\"unaffected\"").count(),
        8,
        "{junit}"
    );

    // Inside mul: the tests that multiply.
    c.edit("src/lib.rs", "let product = a * b;", "let product = b * a;");
    let run = c.xdist(&["--affected"]);
    run.assert_code(0);
    assert_ran(
        &run,
        &[
            ("impact::test/math", "both"),
            ("impact::test/math", "multiplies"),
        ],
    );
    assert!(
        output(&run).contains("--affected: running 2 of 8 tests; 6 unaffected"),
        "{}",
        run.ctx()
    );

    // Tests named by --affected-always run whatever changed.
    let run = c.xdist(&["--affected", "--affected-always", "pairs"]);
    assert_ran(
        &run,
        &[
            ("impact::test/math", "both"),
            ("impact::test/math", "multiplies"),
            ("impact::test/pairs", "pairs"),
        ],
    );

    // Inside add too: its tests in both binaries join.
    c.edit("src/lib.rs", "let sum = a + b;", "let sum = b + a;");
    let run = c.xdist(&["--affected"]);
    assert_ran(
        &run,
        &[
            ("impact", "tests::add_unit"),
            ("impact::test/math", "adds"),
            ("impact::test/math", "both"),
            ("impact::test/math", "multiplies"),
        ],
    );
}

#[test]
fn a_change_to_a_test_file_selects_that_files_tests() {
    let c = Copy::new();
    c.record();
    c.edit(
        "tests/math.rs",
        "assert_eq!(add(common::FORTY, 2), 42);",
        "assert_eq!(add(2, common::FORTY), 42);",
    );
    let run = c.xdist(&["--affected"]);
    run.assert_code(0);
    assert_ran(
        &run,
        &[
            ("impact::test/math", "adds"),
            ("impact::test/math", "both"),
            ("impact::test/math", "multiplies"),
        ],
    );
}

#[test]
fn what_the_map_cannot_see_runs_everything_and_says_why() {
    // (file, from, to, what the line says, exit code). The const's change
    // fails `limit_unit`, which no counter connects to LIMIT: the widening
    // is what finds it; so does the const fn's.
    let cases: &[(&str, &str, &str, &str, i32)] = &[
        (
            "src/lib.rs",
            "LIMIT: u32 = 100",
            "LIMIT: u32 = 101",
            "outside every function",
            100,
        ),
        (
            "src/lib.rs",
            "PartialEq)]",
            "PartialEq, Eq)]",
            "outside every function",
            0,
        ),
        (
            "src/lib.rs",
            "    x * 2\n",
            "    x * 3\n",
            "runs at compile time",
            100,
        ),
        (
            "Cargo.toml",
            "publish = false",
            "publish = false\n# a comment",
            "Cargo.toml changed",
            0,
        ),
        (
            "migrations/0001_items.sql",
            "(id int)",
            "(id bigint)",
            "migrations/0001_items.sql changed",
            0,
        ),
    ];
    let c = Copy::new();
    c.record();
    for (file, from, to, why, code) in cases {
        c.edit(file, from, to);
        let run = c.xdist(&["--affected"]);
        run.assert_code(*code);
        assert_eq!(
            ran(&run),
            tests(ALL),
            "{file}: {from:?} → {to:?}\n{}",
            run.ctx()
        );
        let out = output(&run);
        assert!(
            out.contains("--affected: running all 8 tests: ") && out.contains(why),
            "{file}: the line does not say {why:?}\n{}",
            run.ctx()
        );
        c.edit(file, to, from);
    }
    // The user may say a file never matters.
    c.edit("migrations/0001_items.sql", "(id int)", "(id bigint)");
    let run = c.xdist(&["--affected", "--affected-ignore", "migrations/**"]);
    run.assert_code(0);
    assert!(ran(&run).is_empty(), "{}", run.ctx());
}

#[test]
fn a_missing_or_stale_map_runs_everything() {
    let c = Copy::new();
    let run = c.xdist(&["--affected"]);
    run.assert_code(0);
    assert_eq!(ran(&run), tests(ALL), "{}", run.ctx());
    assert!(
        output(&run).contains("there is no impact map at"),
        "{}",
        run.ctx()
    );

    c.record();
    // Another build: the map does not hold for it.
    let run = c.xdist(&["--affected", "--features", "extra"]);
    run.assert_code(0);
    assert_eq!(ran(&run), tests(ALL), "{}", run.ctx());
    assert!(
        output(&run).contains("another toolchain, target, features or flags"),
        "{}",
        run.ctx()
    );

    // A map of a newer cargo-xdist is not used, and says so.
    std::fs::write(&c.map, r#"{"version": 99}"#).unwrap();
    let run = c.xdist(&["--affected"]);
    run.assert_code(0);
    assert_eq!(ran(&run), tests(ALL), "{}", run.ctx());
    assert!(output(&run).contains("newer cargo-xdist"), "{}", run.ctx());
}

#[test]
fn tests_the_map_does_not_know_always_run() {
    let c = Copy::new();
    // Only `adds` is recorded.
    let run = c.xdist(&["--record-impact", "--exact", "adds"]);
    run.assert_code(0);
    let run = c.xdist(&["--affected"]);
    run.assert_code(0);
    let mut expected = tests(ALL);
    expected.remove(&("impact::test/math".to_string(), "adds".to_string()));
    assert_eq!(ran(&run), expected, "{}", run.ctx());
    assert!(
        run.last_line()
            .ends_with("7 passed, 0 failed, 0 skipped, 1 unaffected"),
        "{}",
        run.ctx()
    );
}

#[test]
fn shard_maps_merge_into_the_full_maps_selection() {
    let c = Copy::new();
    let dir = c.map.parent().unwrap().to_path_buf();
    let shard = |k: usize| dir.join(format!("shard{k}.json"));
    for k in 1..=2 {
        let run = c.xdist_with_map(
            &shard(k),
            &["--record-impact", "--partition", &format!("hash:{k}/2")],
        );
        run.assert_code(0);
    }
    let merged = dir.join("merged.json");
    let run = xdist(&[
        "impact",
        "merge",
        &shard(1).to_string_lossy(),
        &shard(2).to_string_lossy(),
        "-o",
        &merged.to_string_lossy(),
    ])
    .run();
    run.assert_code(0);
    assert!(run.stdout.contains("Impact map: 8 tests"), "{}", run.ctx());
    c.edit("src/lib.rs", "let product = a * b;", "let product = b * a;");
    let run = c.xdist_with_map(&merged, &["--affected"]);
    run.assert_code(0);
    assert_ran(
        &run,
        &[
            ("impact::test/math", "both"),
            ("impact::test/math", "multiplies"),
        ],
    );
    // A shard of another tree does not merge.
    c.edit("src/lib.rs", "let product = b * a;", "let product = a * b;");
    let other = dir.join("other.json");
    c.edit("tests/pairs.rs", "(1, 2)", "(1,  2)");
    c.xdist_with_map(&other, &["--record-impact", "--partition", "hash:1/2"])
        .assert_code(0);
    let run = xdist(&[
        "impact",
        "merge",
        &shard(2).to_string_lossy(),
        &other.to_string_lossy(),
        "-o",
        &dir.join("bad.json").to_string_lossy(),
    ])
    .run();
    run.assert_code(2);
    assert!(
        run.stderr.contains("recorded on another tree"),
        "{}",
        run.ctx()
    );
}

#[test]
fn an_archive_run_with_workspace_remap_selects_the_same() {
    let c = Copy::new();
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("impact.tar.zst");
    let run = c.run(xdist(&[
        "archive",
        "--coverage",
        "--manifest-path",
        &c.manifest(),
        "--archive-file",
        &archive.to_string_lossy(),
    ]));
    run.assert_code(0);
    // The checkout where the archive runs: another copy of the sources.
    let checkout = tmp.path().join("checkout");
    copy_tree(&c.root, &checkout);
    let from_archive = |args: &[&str]| {
        let mut all = vec![
            "--archive-file".to_string(),
            archive.to_string_lossy().into_owned(),
            "--workspace-remap".into(),
            checkout.to_string_lossy().into_owned(),
            "--coverage".into(),
            "--impact-file".into(),
            c.map.to_string_lossy().into_owned(),
        ];
        all.extend(args.iter().map(|a| a.to_string()));
        c.run(xdist(&all).junit())
    };
    let run = from_archive(&["--record-impact"]);
    run.assert_code(0);
    assert!(
        output(&run).contains("Impact map: 8 tests"),
        "{}",
        run.ctx()
    );
    let text = std::fs::read_to_string(checkout.join("src/lib.rs")).unwrap();
    std::fs::write(
        checkout.join("src/lib.rs"),
        text.replace("let product = a * b;", "let product = b * a;"),
    )
    .unwrap();
    let run = from_archive(&["--affected"]);
    run.assert_code(0);
    assert_ran(
        &run,
        &[
            ("impact::test/math", "both"),
            ("impact::test/math", "multiplies"),
        ],
    );
}

#[test]
fn record_and_affected_together_are_refused() {
    let run = xdist(&["--record-impact", "--affected"]).run();
    run.assert_code(2);
    assert!(run.stderr.contains("--record-impact"), "{}", run.ctx());
}

#[test]
fn what_the_map_cannot_see_in_a_package_runs_it_and_the_packages_that_depend_on_it() {
    let c = Copy::new();
    let run = c.xdist(&["--workspace", "--record-impact"]);
    run.assert_code(0);
    assert!(
        output(&run).contains("Impact map: 10 tests"),
        "{}",
        run.ctx()
    );
    // The macro's helper ran in the macro's own unit test only; what it
    // computes is compiled into `answer`, which no counter connects to it:
    // impact-macros and impact (which depends on it) run, island does not.
    c.edit("macros/src/lib.rs", "    42\n", "    43\n");
    let run = c.xdist(&["--workspace", "--affected"]);
    run.assert_code(100);
    let failed: Vec<_> = (run.junit().outcome_map().into_iter())
        .filter(|(_, o)| *o == "fail")
        .map(|(k, _)| k)
        .collect();
    assert!(
        failed.contains(&("impact::test/pairs".to_string(), "answers".to_string())),
        "{}",
        run.ctx()
    );
    let mut expected = tests(ALL);
    expected.insert(("impact-macros".into(), "tests::value_is_42".into()));
    assert_eq!(ran(&run), expected, "{}", run.ctx());
    let out = output(&run);
    assert!(
        out.contains("--affected: running 9 of 10 tests; 1 unaffected")
            && out.contains("every test of impact, impact-macros runs: macros/src/lib.rs:")
            && out.contains("runs at compile time"),
        "{}",
        run.ctx()
    );
    c.edit("macros/src/lib.rs", "    43\n", "    42\n");
    // A const of island, which nothing depends on: island's test alone.
    c.edit("island/src/lib.rs", "ISLAND: u32 = 1", "ISLAND: u32 = 2");
    let run = c.xdist(&["--workspace", "--affected"]);
    run.assert_code(100);
    assert_ran(&run, &[("island", "tests::alone")]);
    assert!(
        output(&run).contains(
            "every test of island runs: island/src/lib.rs:4 changed outside every function"
        ),
        "{}",
        run.ctx()
    );
}

#[test]
fn a_new_test_or_a_use_line_runs_its_binarys_tests_unless_another_file_includes_it() {
    let c = Copy::new();
    c.record();
    let math = [
        ("impact::test/math", "adds"),
        ("impact::test/math", "both"),
        ("impact::test/math", "multiplies"),
    ];
    // A new test: outside every function the map knows, but math.rs is
    // compiled into its own binary only.
    c.edit(
        "tests/math.rs",
        "#[test]\nfn both()",
        "#[test]\nfn subtracts() {\n    assert_eq!(42 - 2, 40);\n}\n\n#[test]\nfn both()",
    );
    let run = c.xdist(&["--affected"]);
    run.assert_code(0);
    let mut expected = tests(&math);
    expected.insert(("impact::test/math".into(), "subtracts".into()));
    assert_eq!(ran(&run), expected, "{}", run.ctx());
    c.edit(
        "tests/math.rs",
        "#[test]\nfn subtracts() {\n    assert_eq!(42 - 2, 40);\n}\n\n",
        "",
    );
    // A `use` line of pairs.rs: pairs' tests.
    c.edit(
        "tests/pairs.rs",
        "use impact::{answer, pair};",
        "use impact::{pair, answer};",
    );
    let run = c.xdist(&["--affected"]);
    run.assert_code(0);
    assert_ran(
        &run,
        &[
            ("impact::test/pairs", "answers"),
            ("impact::test/pairs", "pairs"),
            ("impact::test/pairs", "reads_the_migration"),
        ],
    );
    c.edit(
        "tests/pairs.rs",
        "use impact::{pair, answer};",
        "use impact::{answer, pair};",
    );
    // common.rs is a test target, but math.rs compiles it in (`mod
    // common;`): its const reaches `adds`, which now fails.
    c.edit("tests/common.rs", "FORTY: u32 = 40", "FORTY: u32 = 41");
    let run = c.xdist(&["--affected"]);
    run.assert_code(100);
    assert_eq!(ran(&run), tests(ALL), "{}", run.ctx());
    assert!(output(&run).contains("tests/common.rs:"), "{}", run.ctx());
}

#[test]
fn affected_ref_adds_the_changes_since_that_revision() {
    let c = Copy::new();
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .current_dir(&c.root)
            .args(args)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@localhost")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@localhost")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    std::fs::write(c.root.join(".gitignore"), "target\n").unwrap();
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&["commit", "-qm", "base"]);
    git(&["tag", "base"]);
    // mul changes and is committed; the map is recorded after it.
    c.edit("src/lib.rs", "let product = a * b;", "let product = b * a;");
    git(&["commit", "-qam", "mul"]);
    c.record();
    let run = c.xdist(&["--affected"]);
    run.assert_code(0);
    assert!(ran(&run).is_empty(), "{}", run.ctx());
    // Since `base`, mul changed: its tests run.
    let run = c.xdist(&["--affected", "base"]);
    run.assert_code(0);
    assert_ran(
        &run,
        &[
            ("impact::test/math", "both"),
            ("impact::test/math", "multiplies"),
        ],
    );
    // A revision git does not know is a usage error.
    let run = c.xdist(&["--affected", "no-such-ref"]);
    run.assert_code(2);
    assert!(
        run.stderr
            .contains("--affected no-such-ref: git cannot compare with it"),
        "{}",
        run.ctx()
    );
}

#[test]
fn affected_ignore_works_from_the_config_file() {
    let c = Copy::new();
    std::fs::create_dir_all(c.root.join(".config")).unwrap();
    std::fs::write(
        c.root.join(".config/xdist.toml"),
        "affected-ignore = [\"migrations/**\"]\n",
    )
    .unwrap();
    c.record();
    c.edit("migrations/0001_items.sql", "(id int)", "(id bigint)");
    let run = c.xdist(&["--affected"]);
    run.assert_code(0);
    assert!(ran(&run).is_empty(), "{}", run.ctx());
    // The config file is the workspace's too: changing it runs everything.
    c.edit(".config/xdist.toml", "migrations/**", "migrations/*.sql");
    let run = c.xdist(&["--affected"]);
    run.assert_code(0);
    assert_eq!(ran(&run), tests(ALL), "{}", run.ctx());
    assert!(
        output(&run).contains(".config/xdist.toml changed"),
        "{}",
        run.ctx()
    );
}
