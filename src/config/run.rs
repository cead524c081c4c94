//! `cargo xdist [run]`: [`RunConfig::new`] resolves the command line, the
//! config files and the environment into one [`RunConfig`].

use std::io::IsTerminal;
use std::time::Duration;

use camino::Utf8PathBuf;

use super::DistMode;
use super::archive::{ArchiveSource, archive_source};
use super::color::color_wanted;
use super::coverage::coverage_options;
use super::db::{db_options, db_run_options};
use super::file;
use super::groups::GroupRule;
use super::impact::{ImpactOptions, impact_options};
use super::options::{BuildOptions, CoverageOptions, Filters, LastFailed, NoTests, ReportOptions};
use super::paths::{check_writable, cwd};
use super::rerun::rerun_args;
use super::schedule::{Partition, schedule_options};
use super::test_args::filters;
use crate::cli::{self, ColorArg, NoTestsArg, NumWorkers, RunArgs};
use crate::db::DbOptions;
use crate::error::UsageError;

/// Everything `cargo xdist [run]` needs, resolved and validated.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub build: BuildOptions,
    pub filters: Filters,
    pub dist: DistMode,
    /// Worker count; 0 is serial mode (`-n 0`): no worker variables, the
    /// database URL unchanged.
    pub workers: usize,
    /// Kill and fail a test that runs longer than this.
    pub timeout: Option<Duration>,
    /// Report a test still running after this long (`--slow-timeout`).
    pub slow_timeout: Option<Duration>,
    /// `--no-capture` (or `-- --nocapture`): every test's output, live.
    pub no_capture: bool,
    /// `--worker-env KEY=TEMPLATE` pairs.
    pub worker_env: Vec<(String, String)>,
    /// Build only.
    pub no_run: bool,
    /// Per-worker databases, when a URL or `--ephemeral-postgres` is given
    /// (and not `--no-run`).
    pub db: Option<DbOptions>,
    /// The password of a URL left in the environment without worker
    /// databases (`--no-db`): tests may still print it, so it is redacted.
    pub stray_secrets: Vec<String>,
    pub report: ReportOptions,
    /// `--coverage`.
    pub coverage: Option<CoverageOptions>,
    /// `--partition`: only this shard's groups run.
    pub partition: Option<Partition>,
    /// `--durations-file`; none: `<target dir>/xdist/durations.json`.
    pub durations_file: Option<Utf8PathBuf>,
    /// `--retries N`: a failed test runs again up to N more times.
    pub retries: u32,
    /// `-x`/`--maxfail N`: stop after this many failed tests.
    pub max_fail: Option<usize>,
    /// `--flaky-fails`: a flaky test fails the run.
    pub flaky_fails: bool,
    /// `--leak-fails`: a test that leaves processes running fails.
    pub leak_fails: bool,
    /// `--lf` / `--ff`.
    pub last_failed: LastFailed,
    /// `--dist loadgroup` groups declared in config files.
    pub groups: Vec<GroupRule>,
    /// `--archive-file`: run an archive's binaries instead of building.
    pub archive: Option<ArchiveSource>,
    /// `--record-impact`, `--affected`.
    pub impact: ImpactOptions,
}

impl RunConfig {
    /// Resolve and validate the run options; `env` reads a variable.
    pub fn new(
        mut args: RunArgs,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, UsageError> {
        let argv = args.argv.take();
        let files = file::FileDefaults::load(args.build.manifest_path.as_deref(), &cwd()?)?;
        let file::Resolved {
            args,
            given,
            groups,
        } = files.apply(args, argv.as_deref())?;
        let archive = archive_source(&args, &given)?;
        let (mut filters, after) = filters(args.filter)?;
        let no_capture = args.no_capture || after.no_capture;
        if no_capture && !after.no_capture {
            // As `cargo test -- --nocapture`: libtest, custom harnesses
            // and rustdoc all get it.
            filters.test_args.push("--nocapture".into());
        }
        let json = args.message_format == cli::MessageFormat::Json;
        let choice = args.color.or(after.color);
        let color = color_wanted(choice, json, env)?;
        let requested = match args.workers {
            NumWorkers::Count(n) => n,
            NumWorkers::Auto => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
        };
        let dist = args.dist.unwrap_or_default();
        let (partition, durations_file) = schedule_options(&args.schedule)?;
        let workers = match (requested, dist) {
            (0, _) => 0,
            (_, DistMode::No) => 1,
            (n, _) => n,
        };
        let junit = args.junit.map(Utf8PathBuf::from);
        if let Some(path) = &junit {
            check_writable(path, "the JUnit report", "--junit")?;
        }
        let mut db = db_options(&args.db, env);
        db_run_options(&mut db, &args.db_run, &args.build.manifest_path)?;
        db.fit_workers = args.workers == NumWorkers::Auto;
        // `--no-run` runs no test, so it needs (and starts) no database;
        // `--no-db` asks for none.
        let stray_secrets = (db.url.as_deref().map(crate::db::url::url_secrets))
            .filter(|_| args.db_run.no_db)
            .unwrap_or_default();
        let db = if args.no_run || args.db_run.no_db {
            None
        } else if db.url.is_some() || db.ephemeral {
            Some(db)
        } else if db.template.is_some() || db.setup.is_some() || db.keep {
            return Err(UsageError(format!(
                "--db-template, --db-setup and --keep-db need a database; set {} or pass --database-url (or --ephemeral-postgres)",
                db.env_name
            )));
        } else {
            None
        };
        let mut coverage = coverage_options(args.coverage)?;
        let impact = impact_options(args.impact, &mut coverage)?;
        let (max_fail, last_failed) = lifecycle_options(&args.lifecycle)?;
        let mut build = BuildOptions::from(args.build);
        build.doc = args.doc;
        build.color = match choice {
            Some(ColorArg::Always) => Some("always".into()),
            Some(ColorArg::Never) => Some("never".into()),
            // cargo reads CARGO_TERM_COLOR and NO_COLOR itself.
            Some(ColorArg::Auto) | None => None,
        };
        let quiet = args.quiet;
        let mut rerun_args = rerun_args(
            &build,
            &filters,
            db.as_ref(),
            &args.worker_env,
            args.timeout,
        );
        // From an archive, the re-run runs the same archive, in the same
        // checkout (see report::rerun for the program's name).
        if let Some(a) = &archive {
            let mut first = vec!["--archive-file".to_string(), a.file.to_string()];
            if let Some(dir) = &a.workspace_remap {
                first.extend(["--workspace-remap".to_string(), dir.to_string()]);
            }
            rerun_args.splice(0..0, first);
        }
        Ok(RunConfig {
            build,
            filters,
            dist,
            workers,
            timeout: args.timeout,
            slow_timeout: Some(args.slow_timeout).filter(|d| !d.is_zero()),
            no_capture,
            worker_env: args.worker_env,
            no_run: args.no_run,
            db,
            stray_secrets,
            report: ReportOptions {
                quiet,
                junit,
                durations: args.durations,
                progress: !args.no_progress && !quiet && progress_wanted(env),
                color,
                json,
                no_tests: match args.no_tests {
                    NoTestsArg::Pass => NoTests::Pass,
                    NoTestsArg::Warn => NoTests::Warn,
                    NoTestsArg::Fail => NoTests::Fail,
                },
                rerun_args,
                max_fail,
                flaky_fails: args.lifecycle.flaky_fails,
            },
            coverage,
            partition,
            durations_file,
            retries: args.lifecycle.retries,
            max_fail,
            flaky_fails: args.lifecycle.flaky_fails,
            leak_fails: args.lifecycle.leak_fails,
            last_failed,
            groups,
            archive,
            impact,
        })
    }
}

/// `-x`/`--maxfail` (the failure limit) and `--lf`/`--ff`, checked.
pub(super) fn lifecycle_options(
    l: &cli::LifecycleArgs,
) -> Result<(Option<usize>, LastFailed), UsageError> {
    let max_fail = match (l.exitfirst, l.maxfail) {
        (true, Some(n)) => {
            return Err(UsageError(format!(
                "-x and --maxfail {n} both set when the run stops; keep one (-x is --maxfail 1)"
            )));
        }
        (_, Some(0)) => {
            return Err(UsageError(
                "--maxfail 0 would stop before any test ran; give 1 or more, or leave it out to run every test".into(),
            ));
        }
        (true, None) => Some(1),
        (false, n) => n,
    };
    if l.flaky_fails && l.retries == 0 {
        return Err(UsageError(
            "--flaky-fails needs --retries: without retries no test can be flaky; add --retries 1"
                .into(),
        ));
    }
    let last_failed = match (l.last_failed, l.failed_first) {
        (true, true) => {
            return Err(UsageError(
                "--lf runs only the last failures and --ff runs them first; pick one".into(),
            ));
        }
        (true, false) => LastFailed::Only,
        (false, true) => LastFailed::First,
        (false, false) => LastFailed::Off,
    };
    Ok((max_fail, last_failed))
}

/// A progress bar makes sense when stderr is a terminal and this is not CI.
fn progress_wanted(env: &dyn Fn(&str) -> Option<String>) -> bool {
    std::io::stderr().is_terminal() && env("CI").is_none()
}

/// `RunConfig::new` of `cargo-xdist ARGS` with the variables `env`: for
/// the tests of every part of the run's configuration.
#[cfg(test)]
pub(super) fn run_config(args: &[&str], env: &[(&str, &str)]) -> Result<RunConfig, UsageError> {
    let cli = cli::parse_from(
        std::iter::once("cargo-xdist")
            .chain(args.iter().copied())
            .map(Into::into),
    )
    .unwrap();
    let lookup = |k: &str| {
        env.iter()
            .find(|(key, _)| *key == k)
            .map(|(_, v)| v.to_string())
    };
    RunConfig::new(cli.run, &lookup)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_default_dist_splits_dominant_groups() {
        let c = run_config(&[], &[]).unwrap();
        assert_eq!((c.dist, c.dist.splits()), (DistMode::Auto, true));
        let c = run_config(&["--dist", "loadfile"], &[]).unwrap();
        assert_eq!((c.dist, c.dist.splits()), (DistMode::Loadfile, false));
    }

    #[test]
    fn workers_and_databases_resolve() {
        let c = run_config(&["-n", "3", "--dist", "no"], &[]).unwrap();
        assert_eq!((c.workers, c.dist), (1, DistMode::No));
        let c = run_config(&["-n", "0"], &[("DATABASE_URL", "postgres://h/db")]).unwrap();
        assert_eq!(c.workers, 0);
        assert_eq!(c.db.unwrap().url.as_deref(), Some("postgres://h/db"));
        let c = run_config(&["--no-run"], &[("DATABASE_URL", "postgres://h/db")]).unwrap();
        assert!(c.db.is_none(), "--no-run needs no database");
        let c = run_config(&["--database-env", "APP_DB"], &[("APP_DB", "")]).unwrap();
        assert!(c.db.is_none(), "an empty variable is no URL");
        let err = run_config(&["--keep-db"], &[]).unwrap_err();
        assert!(
            err.0
                .starts_with("--db-template, --db-setup and --keep-db need a database")
        );
    }

    #[test]
    fn lifecycle_options_resolve_and_conflicts_are_usage_errors() {
        let c = run_config(&["-x", "--lf"], &[]).unwrap();
        assert_eq!((c.max_fail, c.last_failed), (Some(1), LastFailed::Only));
        assert_eq!(c.report.max_fail, Some(1));
        let c = run_config(&["--maxfail", "3", "--ff", "--retries", "2"], &[]).unwrap();
        assert_eq!(
            (c.max_fail, c.last_failed, c.retries),
            (Some(3), LastFailed::First, 2)
        );
        let c = run_config(&[], &[]).unwrap();
        assert_eq!(
            (c.max_fail, c.last_failed, c.retries),
            (None, LastFailed::Off, 0)
        );
        for (args, says) in [
            (&["-x", "--maxfail", "2"][..], "keep one"),
            (&["--maxfail", "0"], "give 1 or more"),
            (&["--flaky-fails"], "add --retries 1"),
            (&["--lf", "--ff"], "pick one"),
        ] {
            let err = run_config(args, &[]).unwrap_err();
            assert!(
                err.0.contains(says) && !err.0.contains('\n'),
                "{args:?}: {err}"
            );
        }
    }
}
