//! Issue 20, "a newcomer's first day": the paths a new user takes first
//! work as written, and their mistakes get one-line errors before any
//! build or test run.

mod common;

use common::*;

/// `--cov-report lcov:DIR/that/does/not/exist/lcov.info` creates the
/// folders (as `--junit` does) and writes the report.
#[test]
fn coverage_reports_create_their_folders() {
    let out = tempfile::tempdir().unwrap();
    let lcov = out.path().join("cov/new/lcov.info");
    let json = out.path().join("json/cov.json");
    let run = xdist_fixture(
        "cov",
        &[
            "-n",
            "2",
            "--coverage",
            "--cov-report",
            &format!("lcov:{}", lcov.display()),
            "--cov-report",
            &format!("json:{}", json.display()),
        ],
    )
    .run();
    run.assert_code(100);
    assert!(lcov.is_file(), "no lcov report{}", run.ctx());
    assert!(!run.stderr.contains("cannot write"), "{}", run.ctx());
    // The JSON export names the workspace's sources only, as the other
    // reports do: no function of a dependency or of the standard library.
    let text = std::fs::read_to_string(&json).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    let files: Vec<&str> = (value["data"][0]["files"].as_array().unwrap().iter())
        .map(|f| f["filename"].as_str().unwrap())
        .collect();
    assert!(
        files.iter().all(|f| f.contains("fixtures/cov/src/")),
        "{files:?}"
    );
    let functions = value["data"][0]["functions"].as_array().unwrap();
    assert!(!functions.is_empty(), "{text}");
    for f in functions {
        let file = f["filenames"][0].as_str().unwrap();
        assert!(
            files.contains(&file),
            "a function of {file} in the JSON export"
        );
    }
}

/// A report path that cannot be written fails before the build, in one
/// line, exit 2, and no test runs.
#[test]
fn an_unwritable_coverage_report_fails_before_any_test_runs() {
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    for spec in ["lcov", "json", "cobertura", "html"] {
        let report = format!("{spec}:{}/sub/report", file.display());
        let run = xdist_fixture("cov", &["--coverage", "--cov-report", &report]).run();
        run.assert_code(2);
        let errors: Vec<_> = run
            .stderr_lines()
            .into_iter()
            .filter(|l| l.starts_with("error:"))
            .collect();
        assert_eq!(errors.len(), 1, "{}", run.ctx());
        assert!(errors[0].contains("--cov-report"), "{}", run.ctx());
        assert!(!run.stdout.contains("PASS"), "no test ran{}", run.ctx());
    }
}

/// An unknown `--cov-report` kind lists the valid ones once.
#[test]
fn an_unknown_coverage_report_lists_the_forms_once() {
    let run = xdist_fixture("cov", &["--coverage", "--cov-report", "htm:x"]).run();
    run.assert_code(2);
    assert_eq!(run.stderr.matches("lcov:PATH").count(), 1, "{}", run.ctx());
    assert!(run.stderr.contains("`htm:x`"), "{}", run.ctx());
}

/// `-n 40` on dbapp's 5 files under `--dist loadfile`: 5 workers, 5
/// databases (kept with `--keep-db` to count them), and one line saying so.
#[test]
fn workers_beyond_the_work_units_and_their_databases_are_not_started() {
    let server = pg_server_with(&[("max_connections", "300")]);
    pg_admin(&server)
        .batch_execute("CREATE DATABASE app_many")
        .unwrap();
    let run = xdist_fixture(
        "dbapp",
        &[
            "-n",
            "40",
            "--dist",
            "loadfile",
            "--keep-db",
            "--db-connections-per-worker",
            "2",
        ],
    )
    .env("DATABASE_URL", &server.url("app_many"))
    .run();
    run.assert_code(0);
    run.assert_summary(17, 0, 0);
    let note = "note: 5 work units need at most 5 workers; running 5, not 40";
    assert!(
        run.stdout.contains(note) || run.stderr.contains(note),
        "{}",
        run.ctx()
    );
    let workers: std::collections::BTreeSet<String> =
        run.records().into_iter().map(|r| r.worker).collect();
    assert!(workers.len() <= 5, "{workers:?}{}", run.ctx());
    let mut kept: Vec<String> = pg_admin(&server)
        .query(
            "SELECT datname::text FROM pg_database WHERE datname LIKE 'app_many_gw%'",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    kept.sort();
    assert_eq!(
        kept,
        [
            "app_many_gw0",
            "app_many_gw1",
            "app_many_gw2",
            "app_many_gw3",
            "app_many_gw4"
        ],
        "{}",
        run.ctx()
    );
}

/// `db clean` takes the URL and its variable only: no run option in its
/// help or on its command line, and no `--ephemeral-postgres` advice.
#[test]
fn db_clean_has_its_own_options() {
    let help = xdist(&["db", "clean", "-h"]).run();
    help.assert_code(0);
    for run_only in [
        "--keep-db",
        "--db-setup",
        "--db-template",
        "--ephemeral-postgres",
    ] {
        assert!(!help.stdout.contains(run_only), "{run_only}{}", help.ctx());
    }
    assert!(help.stdout.contains("--database-url"), "{}", help.ctx());
    let run = xdist(&["db", "clean", "--ephemeral-postgres"]).run();
    run.assert_code(2);
    assert!(!run.stdout.contains("no leftover"), "{}", run.ctx());
    let run = xdist(&["db", "clean"]).env_remove("DATABASE_URL").run();
    run.assert_code(2);
    assert!(run.stderr.contains("DATABASE_URL"), "{}", run.ctx());
    assert!(!run.stderr.contains("ephemeral"), "{}", run.ctx());
}

/// `list -h` puts `--dist` and `--message-format <FORMAT>` under their
/// own headings, as `run -h` does; `archive -h` its own options under
/// "Archive".
#[test]
fn list_and_archive_help_headings() {
    let section = |help: &str, flag: &str| -> String {
        let at = help
            .find(flag)
            .unwrap_or_else(|| panic!("no {flag} in\n{help}"));
        let heading = help[..at]
            .lines()
            .rev()
            .find(|l| l.ends_with(':') && !l.starts_with(' '));
        heading.unwrap_or_default().to_string()
    };
    let list = xdist(&["list", "-h"]).run();
    list.assert_code(0);
    assert_eq!(
        section(&list.stdout, "--dist"),
        "Distribution:",
        "{}",
        list.ctx()
    );
    assert_eq!(
        section(&list.stdout, "--message-format"),
        "Reporting:",
        "{}",
        list.ctx()
    );
    assert!(
        list.stdout.contains("--message-format <FORMAT>"),
        "{}",
        list.ctx()
    );
    let archive = xdist(&["archive", "-h"]).run();
    archive.assert_code(0);
    assert_eq!(
        section(&archive.stdout, "      --archive-file <FILE>"),
        "Archive:",
        "{}",
        archive.ctx()
    );
    assert_eq!(
        section(&archive.stdout, "      --coverage"),
        "Archive:",
        "{}",
        archive.ctx()
    );
}

/// A durations file of a newer format: the warning says a newer
/// cargo-xdist wrote it, and the run leaves it as it is.
#[test]
fn a_newer_durations_file_is_named_as_such_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("durations.json");
    let newer = r#"{"version": 99, "tests": {"a": 1}}"#;
    std::fs::write(&store, newer).unwrap();
    let store_arg = store.to_str().unwrap();
    let run = xdist_fixture("cov", &["-n", "1", "--durations-file", store_arg, "area"]).run();
    run.assert_code(0);
    assert!(
        run.stderr.contains("a newer cargo-xdist wrote it"),
        "{}",
        run.ctx()
    );
    assert!(!run.stderr.contains("missing field"), "{}", run.ctx());
    assert_eq!(
        std::fs::read_to_string(&store).unwrap(),
        newer,
        "{}",
        run.ctx()
    );
}

/// `PATH` without any directory holding cargo or rustc.
fn path_without_cargo() -> String {
    let path = std::env::var("PATH").unwrap_or_default();
    let has_tool = |d: &str| {
        ["cargo", "rustc"]
            .iter()
            .any(|t| std::path::Path::new(d).join(t).exists())
    };
    let kept: Vec<&str> = (path.split(':'))
        .filter(|d| !d.is_empty() && !has_tool(d))
        .collect();
    kept.join(":")
}

/// `cargo-xdist ARGS` as the machine that runs an archive has it: no cargo.
fn without_cargo(args: &[String]) -> Run {
    xdist(args)
        .env("PATH", &path_without_cargo())
        .env_remove("CARGO")
        .env_remove("RUSTC")
        .run()
}

/// From an archive: the re-run hint is a command that works there (and
/// runs the failure alone), `--lf` remembers the last run and the
/// durations are kept, both under the checkout's `target/xdist/`, and
/// the Timing line says the archive was opened, not built.
#[test]
fn runs_from_an_archive_remember_and_rerun_without_cargo() {
    let tmp = fixture_copies("xdist-newcomer-archive-", &["archive"]);
    let file = tmp.path().join("a.tar.zst");
    let made = xdist_fixture_sub(
        "archive",
        "archive",
        &["--archive-file", file.to_str().unwrap()],
    )
    .run();
    made.assert_code(0);
    let checkout = std::fs::canonicalize(tmp.path().join("archive")).unwrap();
    let base: Vec<String> = [
        "--archive-file",
        file.to_str().unwrap(),
        "--workspace-remap",
        checkout.to_str().unwrap(),
        "-n",
        "2",
    ]
    .map(String::from)
    .to_vec();
    let run = without_cargo(&base);
    run.assert_code(100);
    run.assert_summary(5, 1, 1);
    assert!(
        run.stdout.contains("Timing: open archive "),
        "{}",
        run.ctx()
    );
    assert!(!run.stdout.contains("Timing: build "), "{}", run.ctx());
    let records = checkout.join("target/xdist");
    assert!(records.join("last-failed.json").is_file(), "{}", run.ctx());
    assert!(records.join("durations.json").is_file(), "{}", run.ctx());

    // The hint, as printed, runs the failed test alone.
    let lines: Vec<&str> = run.stdout.lines().collect();
    let at = (lines.iter().position(|l| *l == "Re-run them with:"))
        .unwrap_or_else(|| panic!("no re-run hint{}", run.ctx()));
    let hint = lines[at + 1];
    assert!(
        hint.starts_with("cargo-xdist --archive-file "),
        "{hint}{}",
        run.ctx()
    );
    let words = shlex::split(hint).unwrap();
    let again = without_cargo(&words[1..]);
    again.assert_code(100);
    again.assert_summary(0, 1, 0);

    // --lf: the last run's failure only.
    let mut lf = base.clone();
    lf.push("--lf".into());
    let last = without_cargo(&lf);
    last.assert_code(100);
    last.assert_summary(0, 1, 0);
}

/// A config-file key typo gets a "did you mean" (as the command line
/// does); a TOML syntax error names its line and column.
#[test]
fn config_file_mistakes_are_pointed_at() {
    let tmp = fixture_copies("xdist-newcomer-config-", &["archive", "record"]);
    let manifest = tmp.path().join("archive/Cargo.toml");
    let config = tmp.path().join("archive/.config/xdist.toml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    let run_with = |text: &str| {
        std::fs::write(&config, text).unwrap();
        xdist(&["--manifest-path", manifest.to_str().unwrap()]).run()
    };
    let run = run_with("retires = 2\n");
    run.assert_code(2);
    assert!(
        run.stderr
            .contains("unknown key `retires`; did you mean `retries`?"),
        "{}",
        run.ctx()
    );
    let run = run_with("retries = 2\ndist = \"load\n");
    run.assert_code(2);
    assert!(run.stderr.contains("line 2, column "), "{}", run.ctx());
    assert_eq!(
        run.stderr
            .lines()
            .filter(|l| l.starts_with("error:"))
            .count(),
        1,
        "{}",
        run.ctx()
    );
}

/// `-p` naming no package is a usage error (exit 2), not a failed build.
#[test]
fn an_unknown_package_is_a_usage_error() {
    let run = xdist_fixture("cov", &["-p", "nopkg"]).run();
    run.assert_code(2);
    assert!(
        run.stderr.contains("-p nopkg: no such package"),
        "{}",
        run.ctx()
    );
    // A real package still builds and runs.
    let run = xdist_fixture("cov", &["-p", "covfix", "--test", "area"]).run();
    run.assert_code(0);
}

/// `cargo xdist durations` shows the store a run recorded: its path and
/// age, then groups and tests, slowest first.
#[test]
fn durations_shows_the_recorded_times_slowest_first() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("d.json");
    let store_arg = store.to_str().unwrap();
    let run = xdist_fixture("cov", &["-n", "2", "--durations-file", store_arg, "area"]).run();
    run.assert_code(0);
    let shown = xdist(&["durations", "--durations-file", store_arg]).run();
    shown.assert_code(0);
    let out = &shown.stdout;
    assert!(
        out.starts_with(&format!("Durations in {store_arg} (written ")),
        "{}",
        shown.ctx()
    );
    assert!(out.contains("1 run recorded"), "{}", shown.ctx());
    for title in ["\nGroups (", "\nTests ("] {
        let at = out
            .find(title)
            .unwrap_or_else(|| panic!("no {title}{}", shown.ctx()));
        let rows: Vec<f64> = out[at + 1..]
            .lines()
            .skip(1)
            .take_while(|l| l.starts_with("  "))
            .map(|l| l.trim().split('s').next().unwrap().parse().unwrap())
            .collect();
        assert!(!rows.is_empty(), "{}", shown.ctx());
        assert!(
            rows.windows(2).all(|w| w[0] >= w[1]),
            "slowest first{}",
            shown.ctx()
        );
    }
    assert!(out.contains("covfix::test/area "), "{}", shown.ctx());
    // The default store is the one a run records into, under the target dir.
    let default = xdist_fixture_sub("durations", "cov", &[] as &[&str]).run();
    let ctx = default.ctx();
    assert!(
        default.code == Some(0) || default.stderr.contains("no durations recorded at"),
        "{ctx}"
    );
    let target = fixture_target_dir().join("xdist/durations.json");
    assert!(ctx.contains(target.to_str().unwrap()), "{ctx}");
    // Nothing recorded: one line naming the file.
    let none = xdist(&["durations", "--durations-file", "/nonexistent/d.json"]).run();
    none.assert_code(2);
    assert!(
        none.stderr
            .contains("no durations recorded at /nonexistent/d.json"),
        "{}",
        none.ctx()
    );
}

/// `list` shows the groups a run without `--dist` uses: a file whose
/// recorded time dominates is split over the workers in both.
#[test]
fn list_shows_the_groups_the_run_uses() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("slow.json");
    let entries: Vec<String> = (1..=8)
        .map(|i| format!(r#""slow_{i}":{{"secs":0.15,"samples":1,"run":1}}"#))
        .collect();
    let crafted = format!(
        r#"{{"version":1,"runs":1,"binaries":{{"alpha::test/slow":{{"tests":{{{}}}}}}}}}"#,
        entries.join(",")
    );
    std::fs::write(&file, &crafted).unwrap();
    let groups = |extra: &[&str]| {
        let mut args = vec![
            "-p",
            "alpha",
            "--test",
            "slow",
            "-n",
            "2",
            "--message-format",
            "json",
        ];
        args.extend(["--durations-file", file.to_str().unwrap()]);
        args.extend(extra);
        let run = xdist_fixture_sub("list", "basic", &args).run();
        run.assert_code(0);
        let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        let groups: std::collections::BTreeSet<String> = (v["tests"].as_array().unwrap().iter())
            .map(|t| t["group"].to_string())
            .collect();
        (groups.len(), run)
    };
    let (n, run) = groups(&[]);
    assert_eq!(n, 2, "the run splits tests/slow.rs in two{}", run.ctx());
    let (n, run) = groups(&["--dist", "loadfile"]);
    assert_eq!(n, 1, "--dist loadfile does not{}", run.ctx());
}
