//! Config files: run-option defaults from `.config/xdist.toml` and from
//! `[workspace.metadata.xdist]` / `[package.metadata.xdist]` in Cargo.toml,
//! below the command line; their errors; declared `loadgroup` groups.
//!
//! Each test works on its own copy of `fixtures/archive` (and the
//! `record` helper it uses), so that its config files reach no other test.

mod common;

use std::path::{Path, PathBuf};

use common::*;

/// A copy of `fixtures/archive` and `fixtures/record` side by side; returns
/// the temporary directory and the copy's manifest.
fn workspace_copy() -> (tempfile::TempDir, PathBuf) {
    let tmp = fixture_copies("xdist-config-", &["archive", "record"]);
    let manifest = tmp.path().join("archive/Cargo.toml");
    (tmp, manifest)
}

/// Append `text` to the file at `path` (created with its directory).
fn append(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let old = std::fs::read_to_string(path).unwrap_or_default();
    std::fs::write(path, format!("{old}\n{text}\n")).unwrap();
}

fn run_in(manifest: &Path, args: &[&str]) -> Run {
    let mut all = vec!["--manifest-path", manifest.to_str().unwrap()];
    all.extend_from_slice(args);
    xdist(&all).run()
}

/// The worker count every recording test of the run saw.
fn worker_count(run: &Run) -> String {
    let records = run.records();
    assert!(!records.is_empty(), "no test recorded{}", run.ctx());
    let counts: std::collections::BTreeSet<&str> =
        records.iter().map(|r| r.worker_count.as_str()).collect();
    assert_eq!(counts.len(), 1, "{counts:?}{}", run.ctx());
    counts.into_iter().next().unwrap().to_string()
}

/// The group `cargo xdist list --message-format json` gives `test`.
fn listed_group(manifest: &Path, args: &[&str], test: &str) -> String {
    let mut all = vec!["list", "--manifest-path", manifest.to_str().unwrap()];
    all.extend_from_slice(args);
    all.extend(["--message-format", "json"]);
    let run = xdist(&all).run();
    run.assert_code(0);
    let json: serde_json::Value =
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("not JSON: {e}{}", run.ctx()));
    let tests = json["tests"].as_array().expect("tests");
    let t = tests
        .iter()
        .find(|t| t["name"] == test)
        .unwrap_or_else(|| panic!("{test} not listed{}", run.ctx()));
    t["group"].as_str().unwrap().to_string()
}

#[test]
fn command_line_beats_config_file_beats_package_beats_workspace() {
    let (tmp, manifest) = workspace_copy();
    append(
        &manifest,
        "[workspace.metadata.xdist]\nnumprocesses = 1\ndist = \"loadscope\"\n\n\
         [package.metadata.xdist]\nnumprocesses = 2\ndist = \"load\"\n",
    );
    let config = tmp.path().join("archive/.config/xdist.toml");
    append(&config, "numprocesses = 3");

    let run = run_in(&manifest, &[]);
    run.assert_code(100);
    run.assert_summary(5, 1, 1);
    assert_eq!(
        worker_count(&run),
        "3",
        ".config/xdist.toml beats Cargo.toml"
    );
    let run = run_in(&manifest, &["-n", "4"]);
    assert_eq!(worker_count(&run), "4", "the command line beats every file");

    // The dist mode comes from the package's table, over the workspace's.
    let test = "tests::fails_on_purpose";
    assert_eq!(
        listed_group(&manifest, &[], test),
        format!("archived {test}")
    );
    assert_eq!(
        listed_group(&manifest, &["--dist", "loadfile"], test),
        "archived src/lib.rs"
    );

    std::fs::remove_file(&config).unwrap();
    let run = run_in(&manifest, &[]);
    assert_eq!(
        worker_count(&run),
        "2",
        "[package.metadata.xdist] beats the workspace's"
    );
}

/// Exactly one line on stderr, an `error:` naming each of `mentions`; exit
/// 2; and no build: cargo printed nothing.
fn assert_config_error(run: &Run, mentions: &[&str]) {
    run.assert_code(2);
    run.assert_no_panic();
    let lines = run.stderr_lines();
    assert_eq!(lines.len(), 1, "one line, and no build{}", run.ctx());
    assert!(lines[0].starts_with("error: "), "{}", run.ctx());
    for m in mentions {
        assert!(
            lines[0].contains(m),
            "the error should name {m:?}{}",
            run.ctx()
        );
    }
}

#[test]
fn unknown_key_and_wrong_type_are_one_line_errors_before_the_build() {
    let (tmp, manifest) = workspace_copy();
    let config = tmp.path().join("archive/.config/xdist.toml");
    append(&config, "numprocesses = 2\nnumprocess = 3");
    let run = run_in(&manifest, &[]);
    assert_config_error(&run, &[".config/xdist.toml", "unknown key `numprocess`"]);

    std::fs::remove_file(&config).unwrap();
    append(&manifest, "[workspace.metadata.xdist]\nquiet = \"yes\"");
    let run = run_in(&manifest, &[]);
    assert_config_error(
        &run,
        &[
            "archive/Cargo.toml",
            "[workspace.metadata.xdist]",
            "`quiet`",
            "true or false",
        ],
    );

    // A value of the right type that the option refuses.
    std::fs::write(
        &manifest,
        std::fs::read_to_string(fixture_manifest("archive")).unwrap(),
    )
    .unwrap();
    append(&config, "dist = \"fastest\"");
    let run = run_in(&manifest, &[]);
    assert_config_error(&run, &[".config/xdist.toml", "`dist`", "fastest"]);
}

#[test]
fn declared_groups_gather_tests_under_loadgroup() {
    let (tmp, manifest) = workspace_copy();
    append(
        &tmp.path().join("archive/.config/xdist.toml"),
        "dist = \"loadgroup\"\n\
         [[group]]\nname = \"build-script\"\nfilter = \"^tests::(reads_out_dir|build_script)\"\n\n\
         [[group]]\nname = \"data\"\nfilter = \"file:tests/*.rs\"\n",
    );
    let group = |test: &str| listed_group(&manifest, &[], test);
    assert_eq!(
        group("tests::reads_out_dir_at_run_time"),
        "archived group build-script"
    );
    assert_eq!(
        group("tests::build_script_variable_at_run_time"),
        "archived group build-script"
    );
    assert_eq!(
        group("reads_data_under_the_manifest_dir"),
        "archived::test/files group data"
    );
    assert_eq!(
        group("tests::fails_on_purpose"),
        "archived tests::fails_on_purpose",
        "a test no group takes is its own unit"
    );
    // The run keeps a group in one process.
    let run = run_in(&manifest, &["-n", "3"]);
    run.assert_summary(5, 1, 1);
    let records = run.records();
    let pids: std::collections::BTreeSet<u32> = records
        .iter()
        .filter(|r| {
            r.name.starts_with("tests::reads_out_dir") || r.name.starts_with("tests::build_script")
        })
        .map(|r| r.pid)
        .collect();
    assert_eq!(pids.len(), 1, "one process for the group{}", run.ctx());
}

/// `db clean` has no --manifest-path: it reads the config files of the
/// current directory's workspace, so it looks at the configured variable.
#[test]
fn db_clean_takes_the_database_variable_from_the_config_file() {
    let (tmp, _) = workspace_copy();
    let dir = tmp.path().join("archive");
    append(
        &dir.join(".config/xdist.toml"),
        "database-env = \"XDIST_CONFIG_TEST_DB\"",
    );
    let run = xdist(&["db", "clean"]).current_dir(&dir.join("src")).run();
    run.assert_code(2);
    assert!(run.stderr.contains("XDIST_CONFIG_TEST_DB"), "{}", run.ctx());
}

#[test]
fn whole_numbers_must_be_integers_in_range_in_files_and_on_the_command_line() {
    let (tmp, manifest) = workspace_copy();
    let config = tmp.path().join("archive/.config/xdist.toml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    for (line, shown) in [
        // A float was taken as 1000000000 retries.
        ("retries = 1e9", "not 1000000000 (a float)"),
        ("retries = 2.0", "not 2 (a float)"),
        ("retries = -1", "not -1"),
        ("retries = 101", "not 101"),
        ("numprocesses = 100000", "not 100000"),
        ("db-connections-per-worker = 0", "not 0"),
    ] {
        std::fs::write(&config, format!("{line}\n")).unwrap();
        let run = run_in(&manifest, &[]);
        let key = line.split(' ').next().unwrap();
        assert_config_error(
            &run,
            &[
                ".config/xdist.toml",
                &format!("`{key}` must be a whole number from "),
                shown,
            ],
        );
    }
    std::fs::write(&config, "retries = 1e9\n").unwrap();
    let run = run_in(&manifest, &[]);
    assert_config_error(&run, &["from 0 to 100,"]);
    std::fs::remove_file(&config).unwrap();

    // The command line has the same bounds.
    for args in [
        ["--retries", "1000000000"],
        ["-n", "100000"],
        ["--maxfail", "10000000"],
    ] {
        let run = run_in(&manifest, &args);
        run.assert_code(2);
        run.assert_no_panic();
        assert!(run.stderr.contains(args[1]), "{}", run.ctx());
    }
}
