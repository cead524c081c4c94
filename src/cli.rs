//! Command line: argv → [`Cli`] (clap derive). Flags, help text and
//! conflicts live here; no I/O. [`crate::config`] turns these structs into
//! the plain configuration the stages take.

use std::ffi::OsString;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

// The bounds of the whole-number options (config files take the same).
/// Most workers (`-n`, `numprocesses`).
pub const MAX_WORKERS: u64 = 1024;
/// Most retries of a failed test (`--retries`).
pub const MAX_RETRIES: u64 = 100;
/// Most failures `--maxfail` may wait for.
pub const MAX_MAXFAIL: u64 = 1_000_000;
/// Most slowest tests `--durations` may show.
pub const MAX_DURATIONS: u64 = 100_000;
/// Most connections per worker (`--db-connections-per-worker`); PostgreSQL
/// itself allows at most 262143 in all.
pub const MAX_CONNECTIONS_PER_WORKER: u64 = 10_000;

#[derive(Debug, Parser)]
#[command(
    name = "cargo xdist",
    bin_name = "cargo xdist",
    version,
    about = "Run a workspace's tests on N workers, keeping each source file's tests together",
    long_about = "Run a workspace's tests on N workers, keeping each source file's tests together.\n\n\
        Builds the test binaries (cargo test --no-run), lists their tests, groups them \
        (by source file under --dist loadfile, the default) and runs the groups on a pool \
        of workers gw0..gwN-1. A test that crashes, exits or hangs fails alone: the rest of \
        its file runs again in a fresh process.",
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = "Exit codes: 0 all passed, 100 a test failed (or was flaky, with --flaky-fails), 101 build failed, 4 no tests to run, 3 coverage under --cov-fail-under, 2 usage or configuration error, 130 interrupted (129 by SIGHUP)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build, list and run the tests (the default)
    Run(Box<RunArgs>),
    /// List the tests with their binary, source file and group
    List(Box<ListArgs>),
    /// Build the tests into an archive that `--archive-file` runs without cargo
    Archive(Box<ArchiveArgs>),
    /// Manage per-worker databases
    #[command(subcommand)]
    Db(DbCommand),
    /// Work with coverage reports
    #[command(subcommand)]
    Coverage(CoverageCommand),
    /// Show the recorded test durations, slowest first (or merge stores)
    Durations(Box<DurationsArgs>),
    /// Work with impact maps (`--record-impact`, `--affected`)
    #[command(subcommand)]
    Impact(ImpactCommand),
}

/// `cargo xdist impact ...`.
#[derive(Debug, Subcommand)]
pub enum ImpactCommand {
    /// Merge the impact maps of CI shards (one tree, one build) into one
    Merge(ImpactMergeArgs),
}

#[derive(Debug, Args, Clone)]
pub struct ImpactMergeArgs {
    /// The shards' impact maps
    #[arg(value_name = "MAP", required = true)]
    pub inputs: Vec<String>,
    /// Where to write the merged map
    #[arg(short = 'o', long, value_name = "PATH")]
    pub output: String,
}

/// Impact maps: recording them, and running only what a change affects.
#[derive(Debug, Args, Clone, Default)]
#[command(next_help_heading = "Impact (--affected)")]
pub struct ImpactArgs {
    /// Record which functions each test executes (an impact map for --affected): an instrumented build as --coverage, one process per test
    #[arg(long, conflicts_with = "affected")]
    pub record_impact: bool,
    /// Run only the tests that the changes since the impact map can affect (REF: the changes since this git revision count too)
    #[arg(long, value_name = "REF", num_args = 0..=1, default_missing_value = "")]
    pub affected: Option<String>,
    /// The impact map to write or read (default: <target dir>/xdist/impact.json)
    // The doc comment is the --help text: `<target dir>` stays as written.
    #[allow(rustdoc::invalid_html_tags)]
    #[arg(long, value_name = "PATH")]
    pub impact_file: Option<String>,
    /// Files (globs, relative to the workspace root) whose changes never matter to --affected, e.g. 'docs/**' (repeatable)
    #[arg(long, value_name = "GLOB")]
    pub affected_ignore: Vec<String>,
    /// Tests --affected always runs: those whose name contains NAME, e.g. tests that read sources as data (repeatable)
    #[arg(long, value_name = "NAME")]
    pub affected_always: Vec<String>,
}

/// `cargo xdist durations`: show the store, or `durations merge`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct DurationsArgs {
    #[command(subcommand)]
    pub command: Option<DurationsCommand>,
    #[command(flatten)]
    pub show: DurationsShowArgs,
}

/// Which durations store `cargo xdist durations` shows.
#[derive(Debug, Args, Clone, Default)]
pub struct DurationsShowArgs {
    /// The durations file (default: <target dir>/xdist/durations.json)
    // The doc comment is the --help text: `<target dir>` stays as written.
    #[allow(rustdoc::invalid_html_tags)]
    #[arg(long, value_name = "PATH")]
    pub durations_file: Option<String>,
    /// Path to Cargo.toml (whose target dir holds the store)
    #[arg(long, value_name = "PATH")]
    pub manifest_path: Option<String>,
    /// The target directory that holds the store
    #[arg(long, value_name = "DIR")]
    pub target_dir: Option<String>,
    /// Show at most N groups and N tests
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// The command line (see [`RunArgs::argv`]).
    #[arg(skip)]
    pub argv: Option<Vec<OsString>>,
}

#[derive(Debug, Subcommand)]
pub enum DurationsCommand {
    /// Merge the durations files of CI shards into the one a full run would have recorded
    Merge(DurationsMergeArgs),
}

#[derive(Debug, Args, Clone)]
pub struct DurationsMergeArgs {
    /// Durations files to merge (each shard's --durations-file)
    #[arg(value_name = "FILE", required = true)]
    pub inputs: Vec<String>,
    /// Where to write the merged file
    #[arg(short = 'o', long, value_name = "PATH")]
    pub output: String,
}

#[derive(Debug, Subcommand)]
pub enum CoverageCommand {
    /// Merge lcov reports of several machines (CI shards) into one
    Merge(CoverageMergeArgs),
}

#[derive(Debug, Args, Clone)]
pub struct CoverageMergeArgs {
    /// lcov files to merge
    #[arg(value_name = "LCOV", required = true)]
    pub inputs: Vec<String>,
    /// Where to write the merged report
    #[arg(short = 'o', long, value_name = "PATH")]
    pub output: String,
    /// Format of the merged report
    #[arg(long, value_enum, default_value_t = MergeFormat::Lcov)]
    pub format: MergeFormat,
    /// Remove this prefix from source paths (repeatable), to map checkout roots that differ between machines
    #[arg(long, value_name = "PREFIX")]
    pub strip_prefix: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum MergeFormat {
    #[default]
    Lcov,
    Cobertura,
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Drop worker databases (<base>_gwK) left behind by earlier runs, and cached templates
    Clean(DbCleanArgs),
}

/// `db clean`'s options: which server and base database to clean up after.
#[derive(Debug, Args, Clone, Default)]
pub struct DbCleanArgs {
    /// Base database URL (default: the variable named by --database-env)
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
    /// Variable that holds the database URL
    #[arg(long, value_name = "NAME", default_value = "DATABASE_URL")]
    pub database_env: String,
    /// The command line (see [`RunArgs::argv`]).
    #[arg(skip)]
    pub argv: Option<Vec<OsString>>,
}

/// Options that select and build the test binaries; passed to cargo.
#[derive(Debug, Args, Clone, Default)]
#[command(next_help_heading = "Package selection and build")]
pub struct BuildArgs {
    /// Package to test (repeatable)
    #[arg(short = 'p', long = "package", value_name = "SPEC")]
    pub package: Vec<String>,
    /// Test all packages in the workspace
    #[arg(long)]
    pub workspace: bool,
    /// Exclude a package (with --workspace)
    #[arg(long, value_name = "SPEC")]
    pub exclude: Vec<String>,
    /// Test only the library's unit tests
    #[arg(long)]
    pub lib: bool,
    /// Test all binaries
    #[arg(long)]
    pub bins: bool,
    /// Test only the named binary (repeatable)
    #[arg(long, value_name = "NAME")]
    pub bin: Vec<String>,
    /// Test all integration test targets
    #[arg(long)]
    pub tests: bool,
    /// Test only the named integration test target (repeatable)
    #[arg(long, value_name = "NAME")]
    pub test: Vec<String>,
    /// Test all examples
    #[arg(long)]
    pub examples: bool,
    /// Test only the named example (repeatable)
    #[arg(long, value_name = "NAME")]
    pub example: Vec<String>,
    /// Test all benchmark targets (their #[test]s)
    #[arg(long)]
    pub benches: bool,
    /// Test all targets
    #[arg(long)]
    pub all_targets: bool,
    /// Features to activate (space or comma separated, repeatable)
    #[arg(short = 'F', long, value_name = "FEATURES")]
    pub features: Vec<String>,
    /// Activate all features
    #[arg(long)]
    pub all_features: bool,
    /// Do not activate the default feature
    #[arg(long)]
    pub no_default_features: bool,
    /// Build in release mode
    #[arg(short = 'r', long)]
    pub release: bool,
    /// Build with the given cargo profile
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Build for the target triple
    #[arg(long, value_name = "TRIPLE")]
    pub target: Option<String>,
    /// Directory for all generated artifacts
    #[arg(long, value_name = "DIR")]
    pub target_dir: Option<String>,
    /// Path to Cargo.toml
    #[arg(long, value_name = "PATH")]
    pub manifest_path: Option<String>,
    /// Require Cargo.lock to be up to date
    #[arg(long)]
    pub locked: bool,
    /// Run without accessing the network
    #[arg(long)]
    pub offline: bool,
    /// Require Cargo.lock and cache to be up to date
    #[arg(long)]
    pub frozen: bool,
}

/// Options that choose which tests run; applied by cargo-xdist itself.
#[derive(Debug, Args, Clone, Default)]
#[command(next_help_heading = "Test selection")]
pub struct FilterArgs {
    /// Run only tests whose name contains one of these strings
    #[arg(value_name = "FILTER")]
    pub filters: Vec<String>,
    /// Match filters exactly against the full test name
    #[arg(long)]
    pub exact: bool,
    /// Skip tests whose name contains PATTERN (repeatable; exact with --exact)
    #[arg(long, value_name = "PATTERN")]
    pub skip: Vec<String>,
    /// Run only ignored tests
    #[arg(long, conflicts_with = "include_ignored")]
    pub ignored: bool,
    /// Run ignored tests too
    #[arg(long)]
    pub include_ignored: bool,
    /// Arguments after `--`, passed to every test binary
    #[arg(last = true, value_name = "TEST ARGS")]
    pub test_args: Vec<String>,
}

/// How tests are grouped into units of work and handed to workers
/// (pytest-xdist's `--dist`); the run's mode when `--dist` is not given is
/// [`DistMode::Auto`], which has no spelling of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum DistMode {
    /// No `--dist`: groups as `loadfile`, and a group whose recorded
    /// durations exceed its share of the run (total / N) is split into parts
    /// that run on several workers.
    #[default]
    #[value(skip)]
    Auto,
    /// Group by test binary and source file; a group runs in one process
    Loadfile,
    /// Group by test binary and module path
    Loadscope,
    /// Every test is its own unit; tests of one file spread over workers
    Load,
    /// Group by the group named in the test's path (`xdist_group_NAME` module), else like load
    Loadgroup,
    /// Like loadfile, but an idle worker takes the unstarted half of a busy worker's group
    Worksteal,
    /// No distribution: one worker runs every binary in order
    No,
}

impl DistMode {
    /// Whether a group too long for one worker's share may be split
    /// ([`DistMode::Auto`] only: `--dist loadfile` never splits a file).
    pub fn splits(self) -> bool {
        self == DistMode::Auto
    }
}

/// Number of workers: a count or `auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NumWorkers {
    #[default]
    Auto,
    Count(usize),
}

fn parse_num_workers(s: &str) -> Result<NumWorkers, String> {
    if s == "auto" || s == "logical" {
        return Ok(NumWorkers::Auto);
    }
    match s.parse::<usize>() {
        Ok(n) if n as u64 <= MAX_WORKERS => Ok(NumWorkers::Count(n)),
        _ => Err(format!(
            "expected a number of workers from 0 to {} or `auto`, got `{s}`",
            MAX_WORKERS
        )),
    }
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = if s.chars().all(|c| c.is_ascii_digit() || c == '.') {
        s.parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .map(Duration::from_secs_f64)
            .ok_or_else(|| format!("invalid duration `{s}`"))?
    } else {
        humantime::parse_duration(s)
            .map_err(|e| format!("invalid duration `{s}` ({e}); write e.g. 5s, 2m, 1m30s"))?
    };
    if d.is_zero() {
        return Err("the duration must be greater than zero".into());
    }
    Ok(d)
}

fn parse_key_template(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("expected KEY=TEMPLATE, got `{s}`"))?;
    if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!("`{k}` is not a valid environment variable name"));
    }
    Ok((k.to_string(), v.to_string()))
}

/// Database options (per-worker PostgreSQL databases).
#[derive(Debug, Args, Clone, Default)]
#[command(next_help_heading = "Per-worker databases")]
pub struct DbArgs {
    /// Base database URL (default: the variable named by --database-env)
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
    /// Variable that holds the database URL and is rewritten per worker
    #[arg(long, value_name = "NAME", default_value = "DATABASE_URL")]
    pub database_env: String,
    /// Create worker databases as copies of this template database
    #[arg(long, value_name = "NAME")]
    pub db_template: Option<String>,
    /// Shell command run once into a cached template database (per worker database with --db-template), with its URL in the variable
    #[arg(long, value_name = "COMMAND")]
    pub db_setup: Option<String>,
    /// Keep worker databases after the run and reuse them next time
    #[arg(long)]
    pub keep_db: bool,
    /// Start a throwaway PostgreSQL server for the run
    #[arg(long)]
    pub ephemeral_postgres: bool,
}

/// Database options of a run (not of `db clean`).
#[derive(Debug, Args, Clone, Default)]
#[command(next_help_heading = "Per-worker databases")]
pub struct DbRunArgs {
    /// Directory whose files key the cached template with --db-setup (repeatable; default: the workspace's migrations/)
    #[arg(long, value_name = "DIR")]
    pub db_migrations: Vec<String>,
    /// Build the cached template again although its key is unchanged
    #[arg(long)]
    pub db_rebuild: bool,
    /// Connections each worker's tests may hold at once (their pool size), checked against the server's limit
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=MAX_CONNECTIONS_PER_WORKER as i64))]
    pub db_connections_per_worker: u32,
    /// Run even if the workers may need more connections than the server has free
    #[arg(long)]
    pub db_allow_overcommit: bool,
    /// With --ephemeral-postgres and --db-setup: `#[sqlx::test]` databases start as copies of the migrated template (sqlx skips its migrations)
    #[arg(long)]
    pub sqlx_born_migrated: bool,
    /// Run without worker databases, even if a database URL is set
    #[arg(long, conflicts_with_all = ["database_url", "db_template", "db_setup", "keep_db", "ephemeral_postgres", "db_migrations", "db_rebuild", "sqlx_born_migrated"])]
    pub no_db: bool,
}

#[derive(Debug, Args, Clone, Default)]
pub struct RunArgs {
    #[command(flatten)]
    pub build: BuildArgs,
    /// Run the test binaries of `cargo xdist archive`'s FILE instead of building
    #[arg(long, value_name = "FILE", help_heading = "Archive")]
    pub archive_file: Option<String>,
    /// With --archive-file: where the sources are checked out (default: where built)
    #[arg(long, value_name = "DIR", help_heading = "Archive")]
    pub workspace_remap: Option<String>,
    #[command(flatten)]
    pub filter: FilterArgs,
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub db_run: DbRunArgs,
    #[command(flatten)]
    pub impact: ImpactArgs,

    /// Number of workers, or `auto` for the machine's parallelism (0 = serial, no workers)
    #[arg(short = 'n', long = "numprocesses", value_name = "N|auto", default_value = "auto", value_parser = parse_num_workers, help_heading = "Distribution")]
    pub workers: NumWorkers,
    /// How tests are grouped and handed to workers (default: loadfile, splitting a dominant file)
    #[arg(
        long,
        value_enum,
        help_heading = "Distribution",
        long_help = "How tests are grouped and handed to workers.\n\n\
            Without --dist: as loadfile, except that a group whose recorded durations exceed \
            its share of the run (total / N) is split into parts that run in separate \
            processes on several workers. `--dist loadfile` never splits a file."
    )]
    pub dist: Option<DistMode>,
    /// Kill and fail a test that runs longer than this (e.g. 30s, 2m)
    ///
    /// It counts from the moment the previous test in the same process
    /// reported its result; time spent stopped (Ctrl-Z) does not count. It
    /// is also the limit for a test binary to list its tests (60 s without
    /// it): one that takes longer is killed and reported as a failed
    /// `(listing)`.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, help_heading = "Distribution")]
    pub timeout: Option<Duration>,
    /// Set a variable per worker from a template with {worker}, {worker_index}, {worker_count}, {run_id}
    #[arg(long, value_name = "KEY=TEMPLATE", value_parser = parse_key_template, help_heading = "Distribution")]
    pub worker_env: Vec<(String, String)>,
    /// Build the test binaries, do not run them
    #[arg(long, help_heading = "Distribution")]
    pub no_run: bool,
    /// Also run doctests: each package's as one unit (cargo test --doc), reported one by one
    #[arg(long, help_heading = "Distribution")]
    pub doc: bool,
    #[command(flatten)]
    pub schedule: ScheduleArgs,

    /// Print only failures and the summary
    #[arg(short, long, help_heading = "Reporting")]
    pub quiet: bool,
    /// Write a JUnit XML report to PATH
    #[arg(long, value_name = "PATH", help_heading = "Reporting")]
    pub junit: Option<String>,
    /// Show the N slowest tests at the end
    #[arg(
        long,
        value_name = "N",
        default_value_t = 0,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(..=MAX_DURATIONS),
        help_heading = "Reporting"
    )]
    pub durations: usize,
    /// Never draw a progress bar
    #[arg(long, help_heading = "Reporting")]
    pub no_progress: bool,
    /// human, or json: a JSON event per line on stdout, the report on stderr
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = MessageFormat::Human, hide_possible_values = true, help_heading = "Reporting")]
    pub message_format: MessageFormat,
    /// Color the report: auto (NO_COLOR, CARGO_TERM_COLOR, a terminal), always, never
    #[arg(
        long,
        value_enum,
        value_name = "WHEN",
        hide_possible_values = true,
        help_heading = "Reporting"
    )]
    pub color: Option<ColorArg>,
    /// Show each test's output as it comes, each line prefixed with its worker
    #[arg(long, alias = "nocapture", help_heading = "Reporting")]
    pub no_capture: bool,
    /// Print SLOW for a test still running after this long (and each multiple)
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration, help_heading = "Reporting")]
    pub slow_timeout: Duration,
    /// If no test is to run: fail (exit 4), warn or pass
    #[arg(long, value_enum, value_name = "POLICY", default_value_t = NoTestsArg::Fail, hide_possible_values = true, help_heading = "Test selection")]
    pub no_tests: NoTestsArg,

    #[command(flatten)]
    pub lifecycle: LifecycleArgs,

    #[command(flatten)]
    pub coverage: CoverageArgs,

    /// The command line these were parsed from (None when built in code):
    /// the config stage reads it again with the config files' defaults.
    #[arg(skip)]
    pub argv: Option<Vec<OsString>>,
}

/// Retries, stopping early, and the last run's failures.
#[derive(Debug, Args, Clone, Default)]
#[command(next_help_heading = "Failures and retries")]
pub struct LifecycleArgs {
    /// Run a failed test again, up to N more times, each in a fresh process on the same worker
    #[arg(long, value_name = "N", default_value_t = 0, value_parser = clap::value_parser!(u32).range(..=MAX_RETRIES as i64))]
    pub retries: u32,
    /// Fail the run when a test is flaky (failed, then passed on a retry)
    #[arg(long)]
    pub flaky_fails: bool,
    /// Fail a test that leaves processes running after its process exits (they are reported as LEAK and killed either way)
    #[arg(long)]
    pub leak_fails: bool,
    /// Stop after the first failed test: no new test starts, the running ones are stopped
    #[arg(short = 'x', long = "exitfirst", visible_alias = "fail-fast")]
    pub exitfirst: bool,
    /// Stop after N failed tests, as -x does after one
    #[arg(long = "maxfail", visible_alias = "max-fail", value_name = "N", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(..=MAX_MAXFAIL))]
    pub maxfail: Option<usize>,
    /// Run only the tests that failed in the last run (all, if none did)
    #[arg(long = "lf", visible_alias = "last-failed")]
    pub last_failed: bool,
    /// Run the tests that failed in the last run first, then the rest
    #[arg(long = "ff", visible_alias = "failed-first")]
    pub failed_first: bool,
}

/// Coverage options.
#[derive(Debug, Args, Clone, Default)]
#[command(next_help_heading = "Coverage")]
pub struct CoverageArgs {
    /// Measure coverage: instrumented build (in its own target dir), one profile per process, one merged report
    #[arg(long)]
    pub coverage: bool,
    /// Report: term, term-missing, lcov:PATH, cobertura:PATH, html:DIR, json:PATH (repeatable; default term)
    #[arg(long, value_name = "SPEC", requires = "coverage")]
    pub cov_report: Vec<String>,
    /// Fail (exit 3) when line coverage is below PCT
    #[arg(long, value_name = "PCT", requires = "coverage")]
    pub cov_fail_under: Option<f64>,
    /// Leave source files matching REGEX out of the report (repeatable)
    #[arg(long, value_name = "REGEX", requires = "coverage")]
    pub cov_ignore: Vec<String>,
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorArg {
    Auto,
    Always,
    Never,
}

/// `--no-tests`: what a run with no test to run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum NoTestsArg {
    Pass,
    Warn,
    #[default]
    Fail,
}

/// CI partitions and the duration store (run and list).
#[derive(Debug, Args, Clone, Default)]
pub struct ScheduleArgs {
    /// Run only shard K of N: hash:K/N, slice:K/N or time:K/N (balanced by recorded durations)
    #[arg(long, value_name = "KIND:K/N", help_heading = "Distribution")]
    pub partition: Option<String>,
    /// Read and record test durations here (default: <target dir>/xdist/durations.json)
    // The doc comment is --help's text, not HTML: `<target dir>` is no tag.
    #[allow(rustdoc::invalid_html_tags)]
    #[arg(long, value_name = "PATH", help_heading = "Distribution")]
    pub durations_file: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum MessageFormat {
    #[default]
    Human,
    Json,
}

#[derive(Debug, Args, Clone)]
pub struct ListArgs {
    #[command(flatten)]
    pub build: BuildArgs,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// How tests would be grouped (default: as a run without --dist groups them)
    #[arg(long, value_enum, help_heading = "Distribution")]
    pub dist: Option<DistMode>,
    /// Number of workers the groups are planned for, as a run's (a file may be split over them)
    #[arg(short = 'n', long = "numprocesses", value_name = "N|auto", default_value = "auto", value_parser = parse_num_workers, help_heading = "Distribution")]
    pub workers: NumWorkers,
    /// Output format
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = MessageFormat::Human, help_heading = "Reporting")]
    pub message_format: MessageFormat,
    #[command(flatten)]
    pub schedule: ScheduleArgs,
    /// The command line these were parsed from (see [`RunArgs::argv`]).
    #[arg(skip)]
    pub argv: Option<Vec<OsString>>,
}

#[derive(Debug, Args, Clone, Default)]
pub struct ArchiveArgs {
    #[command(flatten)]
    pub build: BuildArgs,
    /// Where to write the archive (tar.zst)
    #[arg(long, value_name = "FILE", help_heading = "Archive")]
    pub archive_file: String,
    /// Build instrumented tests, for running the archive with --coverage
    #[arg(long, help_heading = "Archive")]
    pub coverage: bool,
    /// The command line these were parsed from (see [`RunArgs::argv`]).
    #[arg(skip)]
    pub argv: Option<Vec<OsString>>,
}

/// The options of `cargo xdist run`: the keys config files may set.
pub fn run_command() -> clap::Command {
    RunArgs::augment_args(clap::Command::new("cargo xdist"))
}

/// Parse argv, accepting both `cargo xdist ...` (cargo passes `xdist` as the
/// first argument) and `cargo-xdist ...`.
pub fn parse_from<I: IntoIterator<Item = OsString>>(args: I) -> Result<Cli, clap::Error> {
    let mut args: Vec<OsString> = args.into_iter().collect();
    if args.get(1).is_some_and(|a| a == "xdist") {
        args.remove(1);
    }
    let mut cli = Cli::try_parse_from(&args)?;
    // Each command's own arguments, after the program (and subcommand) name.
    let own = |skip: usize| Some(args.iter().skip(skip).cloned().collect());
    match &mut cli.command {
        None => cli.run.argv = own(1),
        Some(Command::Run(a)) => a.argv = own(2),
        Some(Command::List(a)) => a.argv = own(2),
        Some(Command::Archive(a)) => a.argv = own(2),
        Some(Command::Db(DbCommand::Clean(a))) => a.argv = own(3),
        Some(Command::Durations(a)) => a.show.argv = own(2),
        Some(Command::Coverage(_) | Command::Impact(_)) => {}
    }
    Ok(cli)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        parse_from(args.iter().map(Into::into)).unwrap()
    }

    #[test]
    fn cargo_subcommand_name_is_stripped_and_run_is_default() {
        let cli = parse(&[
            "cargo-xdist",
            "xdist",
            "-n",
            "4",
            "foo",
            "--",
            "--nocapture",
        ]);
        assert!(cli.command.is_none());
        assert_eq!(cli.run.workers, NumWorkers::Count(4));
        assert_eq!(cli.run.filter.filters, vec!["foo"]);
        assert_eq!(cli.run.filter.test_args, vec!["--nocapture"]);
    }

    #[test]
    fn explicit_run_and_list() {
        let cli = parse(&["cargo-xdist", "run", "--dist", "load", "-n", "auto"]);
        match cli.command {
            Some(Command::Run(r)) => {
                assert_eq!(r.dist, Some(DistMode::Load));
                assert_eq!(r.workers, NumWorkers::Auto);
            }
            other => panic!("{other:?}"),
        }
        let cli = parse(&[
            "cargo-xdist",
            "xdist",
            "list",
            "--message-format",
            "json",
            "-p",
            "a",
        ]);
        assert!(matches!(cli.command, Some(Command::List(l)) if l.build.package == ["a"]));
    }

    #[test]
    fn lifecycle_flags_and_their_aliases() {
        for args in [
            &["cargo-xdist", "-x", "--lf", "--retries", "2"][..],
            &["cargo-xdist", "--fail-fast", "--last-failed", "--retries=2"],
            &["cargo-xdist", "--exitfirst", "--lf", "--retries", "2"],
        ] {
            let l = parse(args).run.lifecycle;
            assert!(l.exitfirst && l.last_failed && !l.failed_first, "{args:?}");
            assert_eq!(l.retries, 2, "{args:?}");
        }
        let l = parse(&["cargo-xdist", "--max-fail", "3", "--failed-first"])
            .run
            .lifecycle;
        assert_eq!((l.maxfail, l.failed_first), (Some(3), true));
        let l = parse(&["cargo-xdist", "--maxfail", "2", "--ff", "--flaky-fails"])
            .run
            .lifecycle;
        assert_eq!(
            (l.maxfail, l.failed_first, l.flaky_fails),
            (Some(2), true, true)
        );
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn bad_worker_count_is_a_usage_error() {
        let err = parse_from(["cargo-xdist", "-n", "many"].iter().map(Into::into)).unwrap_err();
        assert_eq!(err.exit_code(), crate::error::EXIT_USAGE);
    }

    #[test]
    fn worker_env_template() {
        let cli = parse(&[
            "cargo-xdist",
            "--worker-env",
            "REDIS_URL=redis://h/{worker_index}",
        ]);
        assert_eq!(
            cli.run.worker_env,
            vec![(
                "REDIS_URL".to_string(),
                "redis://h/{worker_index}".to_string()
            )]
        );
    }
}
