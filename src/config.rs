//! Config stage: the command line (and the environment) → one resolved,
//! validated configuration per subcommand. Every usage error is found here,
//! before anything is built; the later stages take these plain types, never
//! clap's structs.

use std::io::IsTerminal;
use std::time::Duration;

use camino::Utf8PathBuf;

use crate::cli::{self, BuildArgs, DbArgs, FilterArgs, ListArgs, NumWorkers, RunArgs};
use crate::coverage::merge::MergeFormat;
use crate::coverage::report::ReportSpec;
use crate::db::DbOptions;
use crate::error::UsageError;

/// How tests are grouped into units of work and handed to workers
/// (pytest-xdist's `--dist`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DistMode {
    /// Test binary + source file; a group runs in one process.
    #[default]
    Loadfile,
    /// Test binary + module path.
    Loadscope,
    /// Every test is its own unit; a worker takes small batches.
    Load,
    /// Tests under an `xdist_group_NAME` module stay together; others as `load`.
    Loadgroup,
    /// As `loadfile`, and an idle worker takes the unstarted half of a busy group.
    Worksteal,
    /// One worker runs each binary in turn.
    No,
}

impl From<cli::DistArg> for DistMode {
    fn from(d: cli::DistArg) -> Self {
        match d {
            cli::DistArg::Loadfile => DistMode::Loadfile,
            cli::DistArg::Loadscope => DistMode::Loadscope,
            cli::DistArg::Load => DistMode::Load,
            cli::DistArg::Loadgroup => DistMode::Loadgroup,
            cli::DistArg::Worksteal => DistMode::Worksteal,
            cli::DistArg::No => DistMode::No,
        }
    }
}

/// How `--partition` picks a shard's groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionKind {
    /// By a stable hash of the group key (binary id and test name, or file).
    Hash,
    /// Round robin over the groups in their canonical order.
    Slice,
    /// Longest first onto the shard with the least expected time so far.
    Time,
}

/// `--partition KIND:K/N`: run only shard K (1-based) of N.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    pub kind: PartitionKind,
    /// 1..=total.
    pub shard: usize,
    pub total: usize,
}

impl std::str::FromStr for Partition {
    type Err = UsageError;

    fn from_str(spec: &str) -> Result<Self, UsageError> {
        let bad = |why: &str| {
            UsageError(format!(
                "invalid --partition `{spec}`: {why}; write hash:K/N, slice:K/N or time:K/N with 1 <= K <= N"
            ))
        };
        let (kind, shares) = spec.split_once(':').ok_or_else(|| bad("no kind"))?;
        let kind = match kind {
            "hash" => PartitionKind::Hash,
            "slice" | "count" => PartitionKind::Slice,
            "time" => PartitionKind::Time,
            _ => return Err(bad(&format!("unknown kind `{kind}`"))),
        };
        let (k, n) = shares.split_once('/').ok_or_else(|| bad("no K/N"))?;
        let number = |v: &str| {
            v.parse::<usize>()
                .map_err(|_| bad(&format!("`{v}` is not a number")))
        };
        let (shard, total) = (number(k)?, number(n)?);
        if shard == 0 || shard > total {
            return Err(bad("K is out of range"));
        }
        Ok(Partition { kind, shard, total })
    }
}

impl PartitionKind {
    /// As written in `--partition`.
    pub fn name(self) -> &'static str {
        match self {
            PartitionKind::Hash => "hash",
            PartitionKind::Slice => "slice",
            PartitionKind::Time => "time",
        }
    }
}

impl std::fmt::Display for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}/{}", self.kind.name(), self.shard, self.total)
    }
}

/// What cargo builds: passed through to `cargo test --no-run` (and to
/// `cargo test --doc` for doctests).
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    pub package: Vec<String>,
    pub workspace: bool,
    pub exclude: Vec<String>,
    pub lib: bool,
    pub bins: bool,
    pub bin: Vec<String>,
    pub tests: bool,
    pub test: Vec<String>,
    pub examples: bool,
    pub example: Vec<String>,
    pub benches: bool,
    pub all_targets: bool,
    pub features: Vec<String>,
    pub all_features: bool,
    pub no_default_features: bool,
    pub release: bool,
    pub profile: Option<String>,
    pub target: Option<String>,
    pub target_dir: Option<String>,
    pub manifest_path: Option<String>,
    pub locked: bool,
    pub offline: bool,
    pub frozen: bool,
    /// `--doc`: also one doctest unit per selected package with a library.
    pub doc: bool,
}

impl From<BuildArgs> for BuildOptions {
    fn from(b: BuildArgs) -> Self {
        BuildOptions {
            package: b.package,
            workspace: b.workspace,
            exclude: b.exclude,
            lib: b.lib,
            bins: b.bins,
            bin: b.bin,
            tests: b.tests,
            test: b.test,
            examples: b.examples,
            example: b.example,
            benches: b.benches,
            all_targets: b.all_targets,
            features: b.features,
            all_features: b.all_features,
            no_default_features: b.no_default_features,
            release: b.release,
            profile: b.profile,
            target: b.target,
            target_dir: b.target_dir,
            manifest_path: b.manifest_path,
            locked: b.locked,
            offline: b.offline,
            frozen: b.frozen,
            doc: false,
        }
    }
}

/// Which ignored tests run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IgnoredMode {
    /// Ignored tests are reported as skipped.
    #[default]
    Skip,
    /// `--ignored`: only the ignored tests run.
    Only,
    /// `--include-ignored`: ignored tests run too.
    Include,
}

/// Which tests run, as libtest would select them, and what else every test
/// process is given.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    /// A test runs if its name contains one of these (equals one, with `exact`).
    pub patterns: Vec<String>,
    pub exact: bool,
    /// A test whose name contains one of these does not run.
    pub skip: Vec<String>,
    pub ignored: IgnoredMode,
    /// The user's libtest arguments after `--` that are not selection
    /// (`--nocapture`, `--show-output`, ...), passed to every test process.
    pub test_args: Vec<String>,
}

impl Filters {
    /// Arguments for every libtest process besides the test names.
    pub fn libtest_args(&self) -> Vec<String> {
        let mut a = Vec::new();
        if self.ignored != IgnoredMode::Skip {
            // The names select the tests; this lets libtest run ignored ones.
            a.push("--include-ignored".to_string());
        }
        a.extend(self.test_args.iter().cloned());
        a
    }

    /// What `cargo test FILTERS -- ARGS` passes a custom harness (and rustdoc).
    pub fn harness_args(&self) -> Vec<String> {
        let mut a: Vec<String> = self.patterns.clone();
        if self.exact {
            a.push("--exact".into());
        }
        for s in &self.skip {
            a.push("--skip".into());
            a.push(s.clone());
        }
        match self.ignored {
            IgnoredMode::Skip => {}
            IgnoredMode::Only => a.push("--ignored".into()),
            IgnoredMode::Include => a.push("--include-ignored".into()),
        }
        a.extend(self.test_args.iter().cloned());
        a
    }
}

/// How the run reports.
#[derive(Debug, Clone, Default)]
pub struct ReportOptions {
    /// Print only failures and the summary.
    pub quiet: bool,
    /// Write a JUnit XML report here.
    pub junit: Option<Utf8PathBuf>,
    /// Show the N slowest tests at the end.
    pub durations: usize,
    /// Draw a progress bar (stderr is a terminal, not CI, not quiet).
    pub progress: bool,
    /// Color the outcome labels.
    pub color: bool,
}

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
    /// `--worker-env KEY=TEMPLATE` pairs.
    pub worker_env: Vec<(String, String)>,
    /// Build only.
    pub no_run: bool,
    /// Per-worker databases, when a URL or `--ephemeral-postgres` is given
    /// (and not `--no-run`).
    pub db: Option<DbOptions>,
    pub report: ReportOptions,
    /// `--coverage`.
    pub coverage: Option<CoverageOptions>,
    /// `--partition`: only this shard's groups run.
    pub partition: Option<Partition>,
    /// `--durations-file`; none: `<target dir>/xdist/durations.json`.
    pub durations_file: Option<Utf8PathBuf>,
    /// `--dist` was not given: a group whose recorded durations exceed its
    /// share of the run (total / N) is split over several workers.
    pub split: bool,
}

/// What `--coverage` reports.
#[derive(Debug, Clone)]
pub struct CoverageOptions {
    /// `--cov-report` specs, checked; `term` when none was given.
    pub reports: Vec<ReportSpec>,
    /// Fail when line coverage is below this percentage.
    pub fail_under: Option<f64>,
    /// Extra file-name regexes to leave out of the report.
    pub ignore: Vec<String>,
}

/// Everything `cargo xdist list` needs.
#[derive(Debug, Clone)]
pub struct ListConfig {
    pub build: BuildOptions,
    pub filters: Filters,
    pub dist: DistMode,
    pub json: bool,
    /// `--partition`: list only this shard, with its expected time.
    pub partition: Option<Partition>,
    pub durations_file: Option<Utf8PathBuf>,
}

impl RunConfig {
    /// Resolve and validate the run options; `env` reads a variable.
    pub fn new(args: RunArgs, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, UsageError> {
        let filters = filters(args.filter)?;
        let requested = match args.workers {
            NumWorkers::Count(n) => n,
            NumWorkers::Auto => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
        };
        let dist = args.dist.map_or(DistMode::Loadfile, DistMode::from);
        let (partition, durations_file) = schedule_options(&args.schedule)?;
        let workers = match (requested, dist) {
            (0, _) => 0,
            (_, DistMode::No) => 1,
            (n, _) => n,
        };
        let junit = args.junit.map(Utf8PathBuf::from);
        if let Some(path) = &junit {
            check_writable(path)?;
        }
        let db = db_options(&args.db, env);
        // `--no-run` runs no test, so it needs (and starts) no database.
        let db = if args.no_run {
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
        let coverage = coverage_options(args.coverage)?;
        let mut build = BuildOptions::from(args.build);
        build.doc = args.doc;
        let quiet = args.quiet;
        Ok(RunConfig {
            build,
            filters,
            dist,
            workers,
            timeout: args.timeout,
            worker_env: args.worker_env,
            no_run: args.no_run,
            db,
            report: ReportOptions {
                quiet,
                junit,
                durations: args.durations,
                progress: !args.no_progress && !quiet && progress_wanted(env),
                color: color_wanted(env),
            },
            coverage,
            partition,
            durations_file,
            split: args.dist.is_none(),
        })
    }
}

impl ListConfig {
    pub fn new(args: ListArgs) -> Result<Self, UsageError> {
        let (partition, durations_file) = schedule_options(&args.schedule)?;
        Ok(ListConfig {
            build: BuildOptions::from(args.build),
            filters: filters(args.filter)?,
            dist: DistMode::from(args.dist),
            json: args.message_format == cli::MessageFormat::Json,
            partition,
            durations_file,
        })
    }
}

/// `--partition` and `--durations-file`, checked.
fn schedule_options(
    args: &cli::ScheduleArgs,
) -> Result<(Option<Partition>, Option<Utf8PathBuf>), UsageError> {
    let partition = args.partition.as_deref().map(str::parse).transpose()?;
    let file = args.durations_file.as_ref().map(Utf8PathBuf::from);
    if let Some(f) = file.as_ref().filter(|f| f.is_dir()) {
        return Err(UsageError(format!(
            "--durations-file {f} is a directory; give a file path such as {f}/durations.json"
        )));
    }
    Ok((partition, file))
}

/// `--database-url`, else the named variable; none means no databases.
pub fn db_options(args: &DbArgs, env: &dyn Fn(&str) -> Option<String>) -> DbOptions {
    let url = match &args.database_url {
        Some(u) => Some(u.clone()),
        None => env(&args.database_env).filter(|v| !v.is_empty()),
    };
    DbOptions {
        url,
        env_name: args.database_env.clone(),
        template: args.db_template.clone(),
        setup: args.db_setup.clone(),
        keep: args.keep_db,
        ephemeral: args.ephemeral_postgres,
    }
}

/// `--coverage` and its report options, checked.
fn coverage_options(args: cli::CoverageArgs) -> Result<Option<CoverageOptions>, UsageError> {
    if !args.coverage {
        return Ok(None);
    }
    let mut reports = Vec::new();
    for spec in &args.cov_report {
        reports.push(spec.parse::<ReportSpec>().map_err(|e| {
            UsageError(format!(
                "invalid --cov-report `{spec}`: {e}; use term, term-missing, lcov:PATH, cobertura:PATH, html:DIR or json:PATH"
            ))
        })?);
    }
    if reports.is_empty() {
        reports.push(ReportSpec::Term);
    }
    if let Some(pct) = args.cov_fail_under {
        if !(0.0..=100.0).contains(&pct) {
            return Err(UsageError(format!(
                "--cov-fail-under {pct} is not a percentage; give a number from 0 to 100"
            )));
        }
    }
    for re in &args.cov_ignore {
        regex::Regex::new(re).map_err(|e| {
            UsageError(format!(
                "--cov-ignore `{re}` is not a valid regex ({}); fix the pattern",
                e.to_string().lines().last().unwrap_or_default().trim()
            ))
        })?;
    }
    Ok(Some(CoverageOptions {
        reports,
        fail_under: args.cov_fail_under,
        ignore: args.cov_ignore,
    }))
}

/// `coverage merge`'s inputs and output format.
pub fn merge_inputs(args: &cli::CoverageMergeArgs) -> (Vec<Utf8PathBuf>, MergeFormat) {
    let inputs = args.inputs.iter().map(Utf8PathBuf::from).collect();
    let format = match args.format {
        cli::MergeFormat::Lcov => MergeFormat::Lcov,
        cli::MergeFormat::Cobertura => MergeFormat::Cobertura,
    };
    (inputs, format)
}

/// A progress bar makes sense when stderr is a terminal and this is not CI.
fn progress_wanted(env: &dyn Fn(&str) -> Option<String>) -> bool {
    std::io::stderr().is_terminal() && env("CI").is_none()
}

/// Color when stdout is a terminal and NO_COLOR is unset or empty.
fn color_wanted(env: &dyn Fn(&str) -> Option<String>) -> bool {
    std::io::stdout().is_terminal() && env("NO_COLOR").is_none_or(|v| v.is_empty())
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

/// The selection options, with cargo-test habits after `--` (`--exact`,
/// `--skip X`, `--ignored`, bare filters) moved into them and the flags
/// cargo-xdist must control refused.
fn filters(f: FilterArgs) -> Result<Filters, UsageError> {
    let mut out = Filters {
        patterns: f.filters,
        exact: f.exact,
        skip: f.skip,
        ignored: IgnoredMode::Skip,
        test_args: Vec::new(),
    };
    let (mut ignored, mut include_ignored) = (f.ignored, f.include_ignored);
    let mut args = f.test_args.into_iter();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--exact" => out.exact = true,
            "--ignored" => ignored = true,
            "--include-ignored" => include_ignored = true,
            "--skip" => match args.next() {
                Some(p) => out.skip.push(p),
                None => {
                    return Err(UsageError(
                        "`--skip` after `--` needs a pattern; write `-- --skip PATTERN`".into(),
                    ));
                }
            },
            _ if a.starts_with("--skip=") => out.skip.push(a["--skip=".len()..].to_string()),
            _ if RESERVED_TEST_ARGS.iter().any(|r| {
                a == *r || a.starts_with(&format!("{r}=")) || (*r == "-Z" && a.starts_with("-Z"))
            }) =>
            {
                return Err(UsageError(format!(
                    "the test argument `{a}` is managed by cargo-xdist; remove it (use -n to set parallelism)"
                )));
            }
            _ if !a.starts_with('-') => out.patterns.push(a),
            _ => out.test_args.push(a),
        }
    }
    out.ignored = match (ignored, include_ignored) {
        (true, true) => {
            return Err(UsageError(
                "`--ignored` and `--include-ignored` cannot be used together; pick one".into(),
            ));
        }
        (true, false) => IgnoredMode::Only,
        (false, true) => IgnoredMode::Include,
        (false, false) => IgnoredMode::Skip,
    };
    Ok(out)
}

/// Fail early, before the build, if a report cannot be written at `path`.
fn check_writable(path: &Utf8PathBuf) -> Result<(), UsageError> {
    let fail = |e: std::io::Error| {
        UsageError(format!(
            "cannot write the JUnit report {path} ({e}); choose a writable --junit path"
        ))
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_str().is_empty()) {
        fs_err::create_dir_all(parent).map_err(fail)?;
    }
    let existed = path.exists();
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .map_err(fail)?;
    if !existed {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(args: &[&str]) -> Result<Filters, UsageError> {
        filters(FilterArgs {
            test_args: args.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        })
    }

    #[test]
    fn cargo_test_style_args_become_filters() {
        let f = filter(&["--exact", "--skip", "slow", "name", "--nocapture"]).unwrap();
        assert!(f.exact);
        assert_eq!(f.skip, ["slow"]);
        assert_eq!(f.patterns, ["name"]);
        assert_eq!(f.test_args, ["--nocapture"]);
        assert_eq!(f.libtest_args(), ["--nocapture"]);
        assert_eq!(
            f.harness_args(),
            ["name", "--exact", "--skip", "slow", "--nocapture"]
        );
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
        let err = filter(&["--ignored", "--include-ignored"]).unwrap_err();
        assert!(err.0.contains("cannot be used together"), "{err}");
    }

    #[test]
    fn ignored_modes_reach_libtest() {
        let f = filter(&["--ignored"]).unwrap();
        assert_eq!(f.ignored, IgnoredMode::Only);
        assert_eq!(f.libtest_args(), ["--include-ignored"]);
        assert_eq!(f.harness_args(), ["--ignored"]);
    }

    fn run_config(args: &[&str], env: &[(&str, &str)]) -> Result<RunConfig, UsageError> {
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

    #[test]
    fn partitions_parse_and_bad_ones_are_usage_errors() {
        let p: Partition = "time:2/4".parse().unwrap();
        assert_eq!((p.kind, p.shard, p.total), (PartitionKind::Time, 2, 4));
        assert_eq!(p.to_string(), "time:2/4");
        assert_eq!(
            "count:1/1".parse::<Partition>().unwrap().kind,
            PartitionKind::Slice
        );
        assert_eq!(
            "hash:3/3".parse::<Partition>().unwrap().kind,
            PartitionKind::Hash
        );
        for bad in [
            "time",
            "time:0/4",
            "time:5/4",
            "size:1/2",
            "hash:1-2",
            "slice:a/2",
            "slice:1/0",
        ] {
            let err = bad.parse::<Partition>().unwrap_err();
            assert!(
                err.0.starts_with(&format!("invalid --partition `{bad}`")),
                "{err}"
            );
            assert!(err.0.contains("; write hash:K/N"), "{err}");
        }
        let c = run_config(&["--partition", "slice:1/2"], &[]).unwrap();
        assert_eq!(c.partition.map(|p| p.kind), Some(PartitionKind::Slice));
        assert!(run_config(&["--partition", "slice:3/2"], &[]).is_err());
    }

    #[test]
    fn only_the_default_dist_splits_dominant_groups() {
        let c = run_config(&[], &[]).unwrap();
        assert_eq!((c.dist, c.split), (DistMode::Loadfile, true));
        let c = run_config(&["--dist", "loadfile"], &[]).unwrap();
        assert_eq!((c.dist, c.split), (DistMode::Loadfile, false));
    }

    #[test]
    fn a_directory_is_no_durations_file() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap();
        let err = run_config(&["--durations-file", d], &[]).unwrap_err();
        assert!(err.0.contains("is a directory"), "{err}");
        let f = format!("{d}/d.json");
        let c = run_config(&["--durations-file", &f], &[]).unwrap();
        assert_eq!(
            c.durations_file.as_deref().map(|p| p.as_str()),
            Some(f.as_str())
        );
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
}
