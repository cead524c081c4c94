//! cargo-xdist, the pipeline: cli → config → build → list → plan →
//! schedule → run → report, with the per-worker databases (db/) set up
//! around the run. Every rule lives in the library (src/lib.rs); this file
//! only wires the stages together and picks the exit code.

// As in src/lib.rs: filesystem calls go through fs_err (see clippy.toml).
#![warn(clippy::disallowed_methods)]

use std::{sync::Arc, time::Instant};

use anyhow::Result;
use cargo_xdist::build::BuildOutput;
use cargo_xdist::cli::{self, Cli, Command, CoverageCommand, DbCommand, ImpactCommand, RunArgs};
use cargo_xdist::config::{self, RunConfig};
use cargo_xdist::coverage::{self, finish::Session};
use cargo_xdist::db::{self, WorkerDatabases};
use cargo_xdist::env::{self, RunIdentity};
use cargo_xdist::error::{self, EXIT_OK, Interrupted, Unavailable};
use cargo_xdist::event::RunEvent;
use cargo_xdist::list::{self, Listing};
use cargo_xdist::report::terminal::Timing;
use cargo_xdist::report::{self, EventSink};
use cargo_xdist::run::{self, RunOptions};
use cargo_xdist::{archive, plan, schedule, signal};

fn main() {
    // Started by cargo as its RUSTDOC, for a `--doc` unit (see run::doctest).
    if let Some(code) = run::doctest::rustdoc_shim() {
        std::process::exit(code);
    }
    // Started by cargo as the instrumented build's workspace rustc wrapper.
    if let Some(code) = coverage::instrument::rustc_wrapper() {
        std::process::exit(code);
    }
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
    std::process::exit(signal::exit_code(code));
}

fn dispatch(cli: Cli) -> Result<i32> {
    // The other commands print one report.
    let report = match cli.command {
        None => return run_command(cli.run),
        Some(Command::Run(args)) => return run_command(*args),
        Some(Command::List(args)) => return report::listing::command(*args),
        Some(Command::Archive(a)) => archive::create(&config::ArchiveConfig::new(*a)?)?.to_string(),
        Some(Command::Db(DbCommand::Clean(args))) => {
            let options = config::db_clean_options(args, &config::process_env)?;
            report::dropped_databases(&db::clean(&options).map_err(Unavailable::new)?)
        }
        Some(Command::Coverage(CoverageCommand::Merge(args))) => {
            let (inputs, format) = config::merge_inputs(&args);
            let out = camino::Utf8Path::new(&args.output);
            let stats = coverage::merge::merge_reports(&inputs, &args.strip_prefix, format, out)?;
            format!("{stats}, written to {out}")
        }
        Some(Command::Durations(d)) => schedule::durations_command(*d)?,
        Some(Command::Impact(ImpactCommand::Merge(a))) => report::impact::merge(&a)?,
    };
    println!("{}", report.trim_end());
    Ok(EXIT_OK)
}

fn run_command(args: RunArgs) -> Result<i32> {
    let started = Instant::now();
    let mut config = RunConfig::new(args, &config::process_env)?;
    let cancel = signal::Cancel::install();
    (!config.no_run).then(cargo_xdist::process::start_watchdog_soon);
    let mut coverage = config.coverage.as_ref().map(Session::start).transpose()?;
    let run_id = env::new_run_id();
    // Databases first: a bad URL must not cost a build. The server may
    // serve fewer workers than -n auto asked for.
    let db = (config.db.as_ref()).map(|o| WorkerDatabases::connect(o, config.workers, &run_id));
    let mut databases = db.transpose().map_err(Unavailable::new)?;
    if let Some(d) = &databases {
        d.notices().for_each(|n| eprintln!("warning: {n}"));
        config.workers = d.workers();
    }
    let mut timing = Timing::default();
    let discard = coverage.as_ref().map(Session::discard_pattern);
    let db_after_plan = schedule::databases_after_plan(config.workers);
    let (built, listing) = build_and_list(
        &config,
        discard.as_deref(),
        databases.as_mut().filter(|_| !db_after_plan),
        &cancel,
        &mut timing,
    )?;
    if config.no_run {
        println!("{}", timing.built(built.binaries.len()));
        return Ok(EXIT_OK);
    }
    let planned = Instant::now();
    coverage.as_mut().map(Session::ready).transpose()?;
    let key = built.impact_key(&config.build, config.impact.active());
    let recording =
        report::impact::Recording::start(&config.impact, &built, key.as_deref(), coverage.as_mut());
    let (plan, affected) = plan::for_run(&config, &built, listing, key.as_deref())?;
    let note = plan.note.clone();
    let (dist, workers) = (config.dist, &mut config.workers);
    let (fewer, t) = schedule::fit_workers(dist, &plan, workers, databases.as_mut(), &cancel)?;
    timing.db_create = timing.db_create.or(t);
    let work = schedule::schedule(&config, &built, plan);
    (work.warnings.iter()).for_each(|w| eprintln!("warning: {w}"));
    let mut identity = RunIdentity::new(&run_id, config.workers, &config.worker_env);
    identity.profile = coverage.as_ref().map(Session::worker_profile);
    let slots = env::worker_slots(&identity, &|k| databases.as_ref().map(|d| d.worker_env(k)));
    let (collector, terminal, mut reporters) = report::reporters(&config.report, &built, &run_id);
    let rec = Arc::new(report::recorder::Recorder::new(work.store.clone(), &built));
    reporters.push(rec.clone());
    let secrets = (databases.as_ref()).map_or(config.stray_secrets.clone(), |d| d.secrets());
    let sink = EventSink::new(secrets, reporters);
    (note.iter().chain(&affected).chain(&fewer)).for_each(|note| terminal.note(note));
    (work.known.into_iter()).for_each(|known| sink.emit(RunEvent::TestFinished(known)));
    let options = RunOptions::new(&config, &built, coverage.as_ref(), work.estimates);
    timing.plan = planned.elapsed();
    let ran = Instant::now();
    run::run(work.order, &built, &slots, &options, &cancel, &sink)?;
    timing.tests = ran.elapsed();

    let summary = collector.summary();
    if let Some(d) = databases.as_mut() {
        let t_drop = Instant::now();
        d.cleanup().unwrap_or_else(|e| eprintln!("warning: {e}"));
        timing.db_drop = Some(t_drop.elapsed());
    }
    // A report that cannot be written must not hide the summary or skip
    // the database cleanup; it still makes the run fail. Coverage is
    // reported when tests failed too; the exit code still says they failed.
    let saved = Instant::now();
    rec.save().unwrap_or_else(|e| eprintln!("warning: {e:#}"));
    let junit = (config.report.junit.as_ref()).map(|p| report::junit::write(p, &summary, &run_id));
    let recorded = report::last_failed::save(&built, &summary, config.flaky_fails);
    let impact = recording.map(|r| r.save(&summary, &built));
    (impact.iter().flatten()).for_each(|line| terminal.note(line));
    timing.records = saved.elapsed();
    let coverage = (coverage.filter(Session::reports)).map(|c| c.finish(&built.coverage_input()));
    timing.coverage = coverage
        .as_ref()
        .and_then(|c| Some(c.as_ref().ok()?.timing));
    let report_failed = report::failed(junit.as_ref(), "the JUnit report")
        | report::failed(coverage.as_ref(), "the coverage report")
        | report::failed(Some(&recorded), "the last-failed record")
        | report::failed(impact.as_ref(), "the impact map");
    let coverage_low = coverage.is_some_and(|c| c.is_ok_and(|c| terminal.coverage(&c)));
    let stopped = summary.interrupted || cancel.is_cancelled();
    let failing = summary.failing(config.flaky_fails);
    let code = error::run_exit_code(stopped, failing, coverage_low, report_failed);
    let code = error::no_tests_exit_code(code, summary.no_tests(), config.report.fails_empty());
    timing.total = started.elapsed();
    terminal.timing(&timing);
    // The exit code is known: the reporters' last word (the terminal's
    // closing report, JSON's run-finished).
    sink.finish(&summary, code);
    Ok(code)
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
    let (out, created) = db::create_while(databases, cancel, || {
        let t_build = Instant::now();
        let built = match archive::build_or_open(config, coverage) {
            Err(e) if cancel.is_cancelled() => return Err(e.context(Interrupted)),
            other => other?,
        };
        timing.build = t_build.elapsed();
        timing.opened_archive = config.archive.is_some();
        if config.no_run {
            return Ok((built, Listing::default()));
        }
        let t_list = Instant::now();
        let listing = list::list_all(&built, cancel, config.timeout);
        timing.list = t_list.elapsed();
        Ok((built, listing))
    })?;
    timing.db_create = created;
    Ok(out)
}
