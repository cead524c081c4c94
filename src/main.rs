//! cargo-xdist: cli → build → list → schedule → run → report, with the
//! per-worker databases (db/) set up around the run. The stages live in the
//! library (src/lib.rs); this file reads as the pipeline.

use std::io::Write;
use std::time::Instant;

use anyhow::Result;
use cargo_xdist::{build, cli, db, env, error, list, report, run, schedule, signal};

use cargo_xdist::cli::{
    Cli, Command, DbCommand, DistMode, FilterArgs, ListArgs, MessageFormat, NumWorkers, RunArgs,
};
use cargo_xdist::env::{RunIdentity, WorkerSlot};
use cargo_xdist::error::{EXIT_OK, EXIT_TESTS_FAILED, Interrupted, UsageError};
use cargo_xdist::report::{Collector, Reporter, Reporters};
use cargo_xdist::run::{Outcome, RunEvent, RunOptions, TestResult};

fn main() {
    let code = match cli::parse_from(std::env::args_os()) {
        Err(e) => {
            let _ = e.print();
            e.exit_code()
        }
        Ok(cli) => match dispatch(cli) {
            Ok(code) => code,
            Err(err) => {
                let code = error::exit_code(&err);
                if code != error::EXIT_BUILD_FAILED {
                    eprintln!("error: {err:#}");
                }
                code
            }
        },
    };
    let _ = std::io::stdout().flush();
    std::process::exit(code);
}

fn dispatch(cli: Cli) -> Result<i32> {
    match cli.command {
        None => run_command(cli.run),
        Some(Command::Run(args)) => run_command(args),
        Some(Command::List(args)) => list_command(args),
        Some(Command::Db(DbCommand::Clean(args))) => {
            let opts = db_options(&args)?;
            let dropped = db::clean(&opts)?;
            if dropped.is_empty() {
                println!("no leftover worker databases");
            }
            for name in dropped {
                println!("dropped {name}");
            }
            Ok(EXIT_OK)
        }
    }
}

/// `--database-url` or the named variable; none means no databases.
fn db_options(args: &cli::DbArgs) -> Result<db::DbOptions> {
    let url = match &args.database_url {
        Some(u) => Some(u.clone()),
        None => std::env::var(&args.database_env)
            .ok()
            .filter(|v| !v.is_empty()),
    };
    Ok(db::DbOptions {
        url,
        env_name: args.database_env.clone(),
        template: args.db_template.clone(),
        setup: args.db_setup.clone(),
        keep: args.keep_db,
        ephemeral: args.ephemeral_postgres,
    })
}

/// Libtest flags that cargo-xdist owns; passing them after `--` would
/// break result reading or the one-test-at-a-time order.
const RESERVED_TEST_ARGS: &[&str] = &[
    "--test-threads",
    "--format",
    "--logfile",
    "--list",
    "-q",
    "--quiet",
    "--shuffle",
    "--shuffle-seed",
    "-Z",
    "--report-time",
    "--ensure-time",
    "--bench",
];

/// Move cargo-test habits (`-- --exact`, `-- --skip X`, `-- --ignored`)
/// into the filter options and reject flags cargo-xdist must control.
fn normalize_test_args(f: &mut FilterArgs) -> Result<(), UsageError> {
    let mut rest = Vec::new();
    let mut args = std::mem::take(&mut f.test_args).into_iter();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--exact" => f.exact = true,
            "--ignored" => f.ignored = true,
            "--include-ignored" => f.include_ignored = true,
            "--skip" => match args.next() {
                Some(p) => f.skip.push(p),
                None => {
                    return Err(UsageError(
                        "`--skip` after `--` needs a pattern; write `-- --skip PATTERN`".into(),
                    ));
                }
            },
            _ if a.starts_with("--skip=") => f.skip.push(a["--skip=".len()..].to_string()),
            _ if RESERVED_TEST_ARGS.iter().any(|r| {
                a == *r || a.starts_with(&format!("{r}=")) || (*r == "-Z" && a.starts_with("-Z"))
            }) =>
            {
                return Err(UsageError(format!(
                    "the test argument `{a}` is managed by cargo-xdist; remove it (use -n to set parallelism)"
                )));
            }
            _ if !a.starts_with('-') => f.filters.push(a),
            _ => rest.push(a),
        }
    }
    f.test_args = rest;
    if f.ignored && f.include_ignored {
        return Err(UsageError(
            "`--ignored` and `--include-ignored` cannot be used together; pick one".into(),
        ));
    }
    Ok(())
}

fn worker_count(n: NumWorkers) -> usize {
    match n {
        NumWorkers::Count(n) => n,
        NumWorkers::Auto => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
    }
}

fn run_command(mut args: RunArgs) -> Result<i32> {
    normalize_test_args(&mut args.filter)?;
    let cancel = signal::Cancel::install();
    let requested = worker_count(args.workers);
    // `-n 0`: serial, no worker variables, database URL unchanged.
    let workers = match (requested, args.dist) {
        (0, _) => 0,
        (_, DistMode::No) => 1,
        (n, _) => n,
    };
    let run_id = env::new_run_id();
    if let Some(path) = &args.junit {
        report::junit::check_writable(path)?;
    }

    // Databases first: a bad URL must not cost a build. `--no-run` runs no
    // test, so it needs (and starts) no database.
    let db_opts = db_options(&args.db)?;
    let mut databases = if args.no_run {
        None
    } else if db_opts.url.is_some() || db_opts.ephemeral {
        Some(db::WorkerDatabases::connect(&db_opts, workers, &run_id)?)
    } else {
        if db_opts.template.is_some() || db_opts.setup.is_some() || db_opts.keep {
            return Err(UsageError(format!(
                "--db-template, --db-setup and --keep-db need a database; set {} or pass --database-url (or --ephemeral-postgres)",
                db_opts.env_name
            ))
            .into());
        }
        None
    };

    // The worker databases are created while cargo builds and the binaries
    // list their tests: all three mostly wait, so they overlap.
    let (built, (cases, list_failures), build_time, list_time, db_time) =
        std::thread::scope(|s| {
            let creating = databases.as_mut().map(|d| s.spawn(move || d.create()));
            let build_and_list = || -> Result<_> {
                let t_build = Instant::now();
                let built = match build::build(&args.build, args.doc) {
                    Err(e) if cancel.is_cancelled() => return Err(e.context(Interrupted)),
                    other => other?,
                };
                let build_time = t_build.elapsed();
                if args.no_run {
                    return Ok((built, Default::default(), build_time, Default::default()));
                }
                let t_list = Instant::now();
                let listing = list::list_all(&built.binaries, &built.workspace_root);
                let cases = list::apply_filters(listing.cases, &args.filter);
                Ok((
                    built,
                    (cases, listing.failures),
                    build_time,
                    t_list.elapsed(),
                ))
            };
            let result = build_and_list();
            let db_time = creating.map(|h| h.join().expect("the database thread panicked"));
            let (built, cases, build_time, list_time) = result?;
            let db_time = db_time.transpose()?;
            anyhow::Ok((built, cases, build_time, list_time, db_time))
        })?;
    if args.no_run {
        println!(
            "Built {} test binaries in {:.2}s",
            built.binaries.len(),
            build_time.as_secs_f64()
        );
        return Ok(EXIT_OK);
    }
    let groups = schedule::schedule(args.dist, &built.binaries, &cases);

    let identity = RunIdentity {
        run_id: run_id.clone(),
        worker_count: workers,
        worker_env: args.worker_env.clone(),
    };
    let slots: Vec<WorkerSlot> = if workers == 0 {
        vec![WorkerSlot::new(
            None,
            &identity,
            databases.as_ref().map(|d| d.worker_env(None)),
        )]
    } else {
        (0..workers)
            .map(|k| {
                WorkerSlot::new(
                    Some(k),
                    &identity,
                    databases.as_ref().map(|d| d.worker_env(Some(k))),
                )
            })
            .collect()
    };

    let options = RunOptions {
        timeout: args.timeout,
        worksteal: args.dist == DistMode::Worksteal,
        doc_cargo_args: build::doc_cargo_args(&args.build),
        libtest_args: libtest_args(&args.filter),
        custom_args: custom_args(&args.filter),
    };
    let collector = std::sync::Arc::new(Collector::default());
    let terminal = std::sync::Arc::new(report::terminal::Terminal::new(
        report::terminal::TerminalOptions {
            quiet: args.quiet,
            progress: !args.no_progress && !args.quiet && report::terminal::progress_wanted(),
            durations: args.durations,
            color: report::terminal::color_wanted(),
        },
    ));
    let reporters = Reporters(vec![
        Box::new(ArcReporter(collector.clone())),
        Box::new(ArcReporter(terminal.clone())),
    ]);
    let secrets = databases.as_ref().map(|d| d.secrets()).unwrap_or_default();
    let sink = |event: RunEvent| reporters.emit(redact_event(event, &secrets));

    for case in cases.iter().filter(|c| c.ignored) {
        let binary = &built.binaries[case.binary];
        sink(RunEvent::TestFinished(TestResult::new(
            binary,
            &case.name,
            case.source_path.clone(),
            "",
            "-",
            Outcome::Skipped,
        )));
    }
    for failure in &list_failures {
        let binary = &built.binaries[failure.binary];
        sink(RunEvent::TestFinished(
            TestResult::new(binary, "(listing)", None, "", "-", Outcome::Failed)
                .because(Some(format!("cannot list the tests of {}", binary.id)))
                .with_output(failure.message.clone()),
        ));
    }
    run::run(
        groups,
        &built.binaries,
        &slots,
        &options,
        cancel.flag(),
        &sink,
    )?;

    let summary = collector.summary();
    let t_drop = Instant::now();
    if let Some(d) = databases.as_mut() {
        if let Err(e) = d.cleanup() {
            eprintln!("warning: {e}");
        }
    }
    let drop_time = t_drop.elapsed();
    if !args.quiet {
        let mut timing = format!(
            "build {:.2}s, list {:.2}s",
            build_time.as_secs_f64(),
            list_time.as_secs_f64()
        );
        if let Some(t) = db_time {
            timing.push_str(&format!(
                ", databases {:.2}s (create) + {:.2}s (drop)",
                t.as_secs_f64(),
                drop_time.as_secs_f64()
            ));
        }
        println!("\nTiming: {timing}");
    }
    // A report that cannot be written must not hide the summary or skip
    // the database cleanup; it still makes the run fail.
    let mut report_failed = false;
    if let Some(path) = &args.junit {
        if let Err(e) = report::junit::write(path, &summary, &run_id) {
            eprintln!("error: cannot write the JUnit report {path}: {e:#}");
            report_failed = true;
        }
    }
    terminal.finish(&summary);
    Ok(if summary.interrupted || cancel.is_cancelled() {
        error::EXIT_INTERRUPTED
    } else if summary.failed() > 0 {
        EXIT_TESTS_FAILED
    } else if report_failed {
        error::EXIT_USAGE
    } else {
        EXIT_OK
    })
}

/// Never let a database password reach a reporter.
fn redact_event(event: RunEvent, secrets: &[String]) -> RunEvent {
    if secrets.is_empty() {
        return event;
    }
    let r = |s: &str| db::redact_secrets(s, secrets);
    match event {
        RunEvent::TestFinished(mut t) => {
            t.output = r(&t.output);
            t.reason = t.reason.map(|x| r(&x));
            RunEvent::TestFinished(t)
        }
        RunEvent::FailureOutput {
            binary,
            name,
            output,
        } => RunEvent::FailureOutput {
            binary,
            name,
            output: r(&output),
        },
        other => other,
    }
}

/// Lets a shared reporter sit in the reporter list.
struct ArcReporter<R: Reporter>(std::sync::Arc<R>);
impl<R: Reporter> Reporter for ArcReporter<R> {
    fn on_event(&self, event: &RunEvent) {
        self.0.on_event(event)
    }
}

/// Arguments for every libtest process besides the names.
fn libtest_args(f: &FilterArgs) -> Vec<String> {
    let mut a = Vec::new();
    if f.ignored || f.include_ignored {
        // The names select the tests; this lets libtest run ignored ones.
        a.push("--include-ignored".to_string());
    }
    a.extend(f.test_args.iter().cloned());
    a
}

/// What `cargo test FILTERS -- ARGS` would pass a custom-harness binary.
fn custom_args(f: &FilterArgs) -> Vec<String> {
    let mut a: Vec<String> = f.filters.clone();
    if f.exact {
        a.push("--exact".into());
    }
    for s in &f.skip {
        a.push("--skip".into());
        a.push(s.clone());
    }
    if f.ignored {
        a.push("--ignored".into());
    }
    if f.include_ignored {
        a.push("--include-ignored".into());
    }
    a.extend(f.test_args.iter().cloned());
    a
}

fn list_command(mut args: ListArgs) -> Result<i32> {
    normalize_test_args(&mut args.filter)?;
    let built = build::build(&args.build, false)?;
    let listing = list::list_all(&built.binaries, &built.workspace_root);
    for failure in &listing.failures {
        eprintln!("error: {}", failure.message);
    }
    let cases = list::apply_filters(listing.cases, &args.filter);
    let mut out = std::io::stdout().lock();
    match args.message_format {
        MessageFormat::Human => {
            for c in &cases {
                let b = &built.binaries[c.binary];
                let (key, _) = schedule::group_key(args.dist, b, c);
                writeln!(
                    out,
                    "{} {} {}{}  [group: {key}]",
                    b.id,
                    c.source_path.as_deref().unwrap_or("-"),
                    c.name,
                    if c.ignored { " (ignored)" } else { "" }
                )?;
            }
        }
        MessageFormat::Json => {
            let tests: Vec<serde_json::Value> = cases
                .iter()
                .map(|c| {
                    let b = &built.binaries[c.binary];
                    let (key, _) = schedule::group_key(args.dist, b, c);
                    serde_json::json!({
                        "binary_id": b.id,
                        "package": b.package,
                        "target": b.target_name,
                        "target_kind": b.kind,
                        "binary_path": b.path,
                        "name": c.name,
                        "kind": c.kind,
                        "ignored": c.ignored,
                        "source_path": c.source_path,
                        "line": c.line,
                        "group": key,
                    })
                })
                .collect();
            serde_json::to_writer_pretty(
                &mut out,
                &serde_json::json!({ "version": 1, "tests": tests }),
            )?;
            writeln!(out)?;
        }
    }
    // A binary that could not be listed is a failed test binary, as under
    // cargo test; the others are still listed.
    Ok(if listing.failures.is_empty() {
        EXIT_OK
    } else {
        EXIT_TESTS_FAILED
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(args: &[&str]) -> Result<FilterArgs, UsageError> {
        let mut f = FilterArgs {
            test_args: args.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        normalize_test_args(&mut f).map(|_| f)
    }

    #[test]
    fn cargo_test_style_args_become_filters() {
        let f = filter(&["--exact", "--skip", "slow", "name", "--nocapture"]).unwrap();
        assert!(f.exact);
        assert_eq!(f.skip, ["slow"]);
        assert_eq!(f.filters, ["name"]);
        assert_eq!(f.test_args, ["--nocapture"]);
    }

    #[test]
    fn reserved_args_are_usage_errors() {
        for a in [
            "--test-threads=4",
            "--format",
            "-Zunstable-options",
            "--logfile",
            "--shuffle",
        ] {
            let err = filter(&[a]).unwrap_err();
            assert!(err.0.contains("managed by cargo-xdist"), "{a}: {err}");
        }
    }
}
