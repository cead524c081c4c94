//! cargo-xdist, the pipeline: cli → config → build → list → plan →
//! schedule → run → report, with the per-worker databases (db/) set up
//! around the run. Every rule lives in the library (src/lib.rs); this file
//! only wires the stages together and picks the exit code.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use cargo_xdist::build::{self, BuildOutput};
use cargo_xdist::cli::{self, Cli, Command, CoverageCommand, DbCommand, ListArgs, RunArgs};
use cargo_xdist::config::{self, ListConfig, RunConfig};
use cargo_xdist::coverage::{self, finish::Session};
use cargo_xdist::db::{self, WorkerDatabases};
use cargo_xdist::env::{self, RunIdentity};
use cargo_xdist::error::{self, EXIT_OK, EXIT_TESTS_FAILED, Interrupted, Unavailable};
use cargo_xdist::event::RunEvent;
use cargo_xdist::list::{self, Listing};
use cargo_xdist::report::terminal::{Terminal, Timing};
use cargo_xdist::report::{self, Collector, EventSink};
use cargo_xdist::run::{self, RunOptions};
use cargo_xdist::{durations, plan, schedule, signal};

fn main() {
    let code = match cli::parse_from(std::env::args_os()) {
        Err(e) => {
            let _ = e.print();
            e.exit_code()
        }
        Ok(cli) => dispatch(cli).unwrap_or_else(|err| {
            let code = error::exit_code(&err);
            if code != error::EXIT_BUILD_FAILED {
                eprintln!("error: {err:#}");
            }
            code
        }),
    };
    let _ = std::io::Write::flush(&mut std::io::stdout());
    std::process::exit(code);
}

/// A variable of this process's environment.
const ENV: &dyn Fn(&str) -> Option<String> = &|name| std::env::var(name).ok();

fn dispatch(cli: Cli) -> Result<i32> {
    match cli.command {
        None => run_command(cli.run),
        Some(Command::Run(args)) => run_command(*args),
        Some(Command::List(args)) => list_command(*args),
        Some(Command::Db(DbCommand::Clean(args))) => {
            let dropped = db::clean(&config::db_options(&args, ENV)).map_err(Unavailable::new)?;
            println!("{}", report::dropped_databases(&dropped));
            Ok(EXIT_OK)
        }
        Some(Command::Coverage(CoverageCommand::Merge(args))) => {
            let (inputs, format) = config::merge_inputs(&args);
            let out = camino::Utf8Path::new(&args.output);
            let stats = coverage::merge::merge_reports(&inputs, &args.strip_prefix, format, out)?;
            println!("{stats}, written to {out}");
            Ok(EXIT_OK)
        }
    }
}

fn run_command(args: RunArgs) -> Result<i32> {
    let config = RunConfig::new(args, ENV)?;
    let mut coverage = config.coverage.as_ref().map(Session::start).transpose()?;
    let cancel = signal::Cancel::install();
    let run_id = env::new_run_id();
    // Databases first: a bad URL must not cost a build.
    let mut databases = match &config.db {
        Some(opts) => Some(
            WorkerDatabases::connect(opts, config.workers, &run_id).map_err(Unavailable::new)?,
        ),
        None => None,
    };
    let mut timing = Timing::default();
    let discard = coverage.as_ref().map(Session::discard_pattern);
    let (built, listing) = build_and_list(
        &config,
        discard.as_deref(),
        databases.as_mut(),
        &cancel,
        &mut timing,
    )?;
    if config.no_run {
        println!("{}", timing.built(built.binaries.len()));
        return Ok(EXIT_OK);
    }
    coverage.as_mut().map(Session::ready).transpose()?;
    let plan = plan::plan(config.dist, &built, listing, &config.filters);
    let work = schedule::schedule(&config, &built, plan);
    (work.warnings.iter()).for_each(|w| eprintln!("warning: {w}"));
    let mut identity = RunIdentity::new(&run_id, config.workers, &config.worker_env);
    identity
        .worker_env
        .extend(coverage.as_ref().map(Session::worker_env));
    let slots = env::worker_slots(&identity, &|k| databases.as_ref().map(|d| d.worker_env(k)));
    let collector = Arc::new(Collector::default());
    let terminal = Arc::new(Terminal::new(config.report.clone()));
    let secrets = databases.as_ref().map(|d| d.secrets()).unwrap_or_default();
    let rec = Arc::new(durations::Recorder::new(work.store.clone(), &built));
    let sink = EventSink::new(
        secrets,
        vec![collector.clone(), terminal.clone(), rec.clone()],
    );
    (work.known.into_iter()).for_each(|known| sink.emit(RunEvent::TestFinished(known)));
    run::run(
        work.units,
        &built,
        &slots,
        &RunOptions::new(&config, &built, coverage.as_ref(), work.estimates),
        cancel.flag(),
        &sink,
    )?;
    rec.save().unwrap_or_else(|e| eprintln!("warning: {e:#}"));

    let summary = collector.summary();
    let t_drop = Instant::now();
    if let Some(d) = databases.as_mut() {
        d.cleanup().unwrap_or_else(|e| eprintln!("warning: {e}"));
        timing.db_drop = Some(t_drop.elapsed());
    }
    if !config.report.quiet {
        terminal.timing(&timing);
    }
    // A report that cannot be written must not hide the summary or skip
    // the database cleanup; it still makes the run fail. Coverage is
    // reported when tests failed too; the exit code still says they failed.
    let junit = config.report.junit.as_ref();
    let junit = junit.map(|path| report::junit::write(path, &summary, &run_id));
    let coverage = coverage.map(|c| c.finish(&built));
    let report_failed = report::failed(junit.as_ref(), "the JUnit report")
        | report::failed(coverage.as_ref(), "the coverage report");
    let coverage_low = coverage.is_some_and(|c| c.is_ok_and(|c| terminal.coverage(&c)));
    terminal.finish(&summary);
    Ok(error::run_exit_code(
        summary.interrupted || cancel.is_cancelled(),
        summary.failed(),
        coverage_low,
        report_failed,
    ))
}

/// Build and list; the worker databases are created meanwhile (all three
/// mostly wait, so they overlap).
fn build_and_list(
    config: &RunConfig,
    coverage: Option<&str>,
    databases: Option<&mut WorkerDatabases>,
    cancel: &signal::Cancel,
    timing: &mut Timing,
) -> Result<(BuildOutput, Listing)> {
    std::thread::scope(|s| {
        let creating = databases.map(|d| s.spawn(move || d.create()));
        let result = (|| -> Result<_> {
            let t_build = Instant::now();
            let built = match build::build(&config.build, coverage) {
                Err(e) if cancel.is_cancelled() => return Err(e.context(Interrupted)),
                other => other?,
            };
            timing.build = t_build.elapsed();
            if config.no_run {
                return Ok((built, Listing::default()));
            }
            let t_list = Instant::now();
            let listing = list::list_all(&built.binaries, &built.workspace_root);
            timing.list = t_list.elapsed();
            Ok((built, listing))
        })();
        let created: Option<Result<Duration, db::DbError>> =
            creating.map(|h| h.join().expect("the database thread panicked"));
        // A failed build is reported first; cargo has printed why.
        let out = result?;
        if let Some(created) = created {
            timing.db_create = Some(created.map_err(Unavailable::new)?);
        }
        Ok(out)
    })
}

fn list_command(args: ListArgs) -> Result<i32> {
    let config = ListConfig::new(args)?;
    let built = build::build(&config.build, None)?;
    let listing = list::list_all(&built.binaries, &built.workspace_root);
    let cases = plan::select(listing.cases, &config.filters);
    let shown = schedule::listed(&config, &built, cases, &listing.failures);
    (shown.warnings.iter()).for_each(|w| eprintln!("warning: {w}"));
    (shown.failures.iter()).for_each(|f| eprintln!("error: {}", f.message));
    report::listing::write(&mut std::io::stdout().lock(), &built, &shown, &config)?;
    // A binary that could not be listed is a failed test binary, as under
    // cargo test; the others are still listed (under --partition, by one shard).
    Ok(if shown.failures.is_empty() {
        EXIT_OK
    } else {
        EXIT_TESTS_FAILED
    })
}
