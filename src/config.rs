//! Config stage: the command line (and the environment) → one resolved,
//! validated configuration per subcommand. Every usage error is found here,
//! before anything is built; the later stages take these plain types, never
//! clap's structs.

pub mod file;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use camino::Utf8PathBuf;

use crate::cli::{
    self, ArchiveArgs, BuildArgs, ColorArg, DbArgs, DbRunArgs, FilterArgs, ListArgs, NoTestsArg,
    NumWorkers, RunArgs,
};
pub use crate::coverage::CoverageOptions;
use crate::coverage::merge::MergeFormat;
use crate::coverage::report::ReportSpec;
use crate::db::{DbOptions, UrlSource};
use crate::error::UsageError;

pub use crate::cli::DistMode;

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

/// A `--dist loadgroup` group declared in a config file (`group = [{ name,
/// filter }]`): the tests of one binary that its filter matches run
/// together, as those under an `xdist_group_NAME` module do.
#[derive(Debug, Clone)]
pub struct GroupRule {
    pub name: String,
    pub filter: GroupFilter,
}

/// Which tests a declared group takes.
#[derive(Debug, Clone)]
pub enum GroupFilter {
    /// A regex searched in the full test name (`^db::`).
    TestName(regex::Regex),
    /// `file:GLOB`: a glob on the test's source file as `cargo xdist list`
    /// shows it, relative to the package (`file:tests/db/**`).
    SourceFile(globset::GlobMatcher),
}

impl GroupFilter {
    /// `file:GLOB`, else a test-name regex; the error completes "`filter` ...".
    pub fn parse(text: &str) -> Result<GroupFilter, String> {
        match text.strip_prefix("file:") {
            Some(glob) => globset::GlobBuilder::new(glob)
                .literal_separator(true)
                .build()
                .map(|g| GroupFilter::SourceFile(g.compile_matcher()))
                .map_err(|e| format!("is not a valid glob ({e})")),
            None => regex::Regex::new(text)
                .map(GroupFilter::TestName)
                .map_err(|e| {
                    let why = e.to_string();
                    let why = why.lines().last().unwrap_or_default().trim().to_string();
                    format!("is not a valid regex ({why})")
                }),
        }
    }
}

impl GroupRule {
    /// The first declared group that takes a test, by its name and source file.
    pub fn find<'a>(rules: &'a [GroupRule], test: &str, source: Option<&str>) -> Option<&'a str> {
        rules
            .iter()
            .find(|r| match &r.filter {
                GroupFilter::TestName(re) => re.is_match(test),
                GroupFilter::SourceFile(glob) => source.is_some_and(|s| glob.is_match(s)),
            })
            .map(|r| r.name.as_str())
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
    /// `--color always|never` (before or after `--`), for cargo's output too.
    pub color: Option<String>,
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
            color: None,
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
    /// `-x`/`--maxfail N`: the run stops after this many failed tests.
    pub max_fail: Option<usize>,
    /// `--flaky-fails`: a flaky test fails the run.
    pub flaky_fails: bool,
    /// `--message-format json`: events as JSON lines on stdout; the human
    /// report goes to stderr.
    pub json: bool,
    /// What a run with no test to run does.
    pub no_tests: NoTests,
    /// The re-run command's arguments besides the tests it selects: how
    /// they are built, the ignored mode, their environment, the arguments
    /// after `--`. Never `--database-url` (it may hold a password).
    pub rerun_args: Vec<String>,
}

impl ReportOptions {
    /// A run with no test to run fails (`--no-tests=fail`, the default).
    pub fn fails_empty(&self) -> bool {
        self.no_tests == NoTests::Fail
    }
}

/// `--no-tests`: what a run in which no test is to run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NoTests {
    /// Exit 0, silently.
    Pass,
    /// Exit 0 with a warning.
    Warn,
    /// Exit 4 ([`crate::error::EXIT_NO_TESTS`]) with an error.
    #[default]
    Fail,
}

/// `--lf` / `--ff`: what the last run's failures do to this one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LastFailed {
    /// Run the selected tests in the usual order.
    #[default]
    Off,
    /// `--lf`: only the tests that failed last time (all, if none did).
    Only,
    /// `--ff`: the tests that failed last time first, then the rest.
    First,
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
    /// `--lf` / `--ff`.
    pub last_failed: LastFailed,
    /// `--dist loadgroup` groups declared in config files.
    pub groups: Vec<GroupRule>,
    /// `--archive-file`: run an archive's binaries instead of building.
    pub archive: Option<ArchiveSource>,
}

/// `--archive-file FILE [--workspace-remap DIR]`, both absolute.
#[derive(Debug, Clone)]
pub struct ArchiveSource {
    pub file: Utf8PathBuf,
    /// Where the sources are checked out; None: where they were built.
    pub workspace_remap: Option<Utf8PathBuf>,
}

/// Everything `cargo xdist archive` needs.
#[derive(Debug, Clone)]
pub struct ArchiveConfig {
    pub build: BuildOptions,
    /// Where the archive goes (absolute).
    pub file: Utf8PathBuf,
    /// Instrumented binaries, for `--archive-file` with `--coverage`.
    pub coverage: bool,
}

/// Everything `cargo xdist list` needs.
#[derive(Debug, Clone)]
pub struct ListConfig {
    pub build: BuildOptions,
    pub filters: Filters,
    pub dist: DistMode,
    pub json: bool,
    /// `--dist loadgroup` groups declared in config files.
    pub groups: Vec<GroupRule>,
    /// `--partition`: list only this shard, with its expected time.
    pub partition: Option<Partition>,
    pub durations_file: Option<Utf8PathBuf>,
}

/// The current directory, as the config files are found from it.
fn cwd() -> Result<std::path::PathBuf, UsageError> {
    std::env::current_dir().map_err(|e| {
        UsageError(format!(
            "cannot read the current directory ({e}); run from an existing directory"
        ))
    })
}

/// `path` made absolute against the current directory.
fn absolute(path: &str) -> Result<Utf8PathBuf, UsageError> {
    let joined = cwd()?.join(path);
    Utf8PathBuf::from_path_buf(joined)
        .map_err(|p| UsageError(format!("{} is not UTF-8; use a UTF-8 path", p.display())))
}

/// Long names of the options that change what cargo builds (all of
/// [`BuildArgs`] but `--manifest-path`, which only finds the config).
fn build_option_names() -> Vec<String> {
    use clap::Args;
    let cmd = BuildArgs::augment_args(clap::Command::new("build"));
    cmd.get_arguments()
        .filter_map(|a| a.get_long())
        .filter(|l| *l != "manifest-path")
        .map(String::from)
        .collect()
}

/// `--archive-file` and `--workspace-remap`, checked: the archive runs its
/// binaries as they were built, without cargo.
fn archive_source(
    args: &RunArgs,
    given: &std::collections::BTreeSet<String>,
) -> Result<Option<ArchiveSource>, UsageError> {
    let Some(file) = &args.archive_file else {
        if args.workspace_remap.is_some() {
            return Err(UsageError(
                "--workspace-remap needs --archive-file; pass the archive to run".into(),
            ));
        }
        return Ok(None);
    };
    if let Some(flag) = build_option_names().iter().find(|n| given.contains(*n)) {
        return Err(UsageError(format!(
            "--{flag} changes the build, but --archive-file runs the binaries as archived; pass it to `cargo xdist archive` instead"
        )));
    }
    if args.doc {
        return Err(UsageError(
            "--doc needs cargo and cannot run from an archive; drop --doc or run without --archive-file".into(),
        ));
    }
    let file = absolute(file)?;
    if let Err(e) = std::fs::File::open(&file) {
        return Err(UsageError(format!(
            "cannot read the archive {file} ({e}); make it with `cargo xdist archive --archive-file {file}`"
        )));
    }
    let workspace_remap = match &args.workspace_remap {
        None => None,
        Some(dir) => {
            let dir = absolute(dir)?;
            if !dir.is_dir() {
                return Err(UsageError(format!(
                    "--workspace-remap {dir} is not a directory; check out the workspace's sources there"
                )));
            }
            Some(dir)
        }
    };
    Ok(Some(ArchiveSource {
        file,
        workspace_remap,
    }))
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
        let coverage = coverage_options(args.coverage)?;
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
        let rerun_args = rerun_args(
            &build,
            &filters,
            db.as_ref(),
            &args.worker_env,
            args.timeout,
        );
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
            last_failed,
            groups,
            archive,
        })
    }
}

impl ListConfig {
    pub fn new(mut args: ListArgs) -> Result<Self, UsageError> {
        let argv = args.argv.take();
        let files = file::FileDefaults::load(args.build.manifest_path.as_deref(), &cwd()?)?;
        let file::Resolved { args, groups, .. } = files.apply(args, argv.as_deref())?;
        let (partition, durations_file) = schedule_options(&args.schedule)?;
        Ok(ListConfig {
            build: BuildOptions::from(args.build),
            filters: filters(args.filter)?.0,
            dist: args.dist,
            json: args.message_format == cli::MessageFormat::Json,
            groups,
            partition,
            durations_file,
        })
    }
}

impl ArchiveConfig {
    pub fn new(mut args: ArchiveArgs) -> Result<Self, UsageError> {
        let argv = args.argv.take();
        let files = file::FileDefaults::load(args.build.manifest_path.as_deref(), &cwd()?)?;
        let args = files.apply(args, argv.as_deref())?.args;
        let file = absolute(&args.archive_file)?;
        check_writable(&file, "the archive", "--archive-file")?;
        Ok(ArchiveConfig {
            build: BuildOptions::from(args.build),
            file,
            coverage: args.coverage,
        })
    }
}

/// `db clean`'s options, with the config files' defaults (found from the
/// current directory).
pub fn db_clean_options(
    mut args: DbArgs,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<DbOptions, UsageError> {
    let argv = args.argv.take();
    let files = file::FileDefaults::load(None, &cwd()?)?;
    let args = files.apply(args, argv.as_deref())?.args;
    Ok(db_options(&args, env))
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
    let (url, url_source) = match &args.database_url {
        Some(u) => (Some(u.clone()), UrlSource::Flag),
        None => (
            env(&args.database_env).filter(|v| !v.is_empty()),
            UrlSource::Env(args.database_env.clone()),
        ),
    };
    DbOptions {
        url,
        url_source,
        env_name: args.database_env.clone(),
        template: args.db_template.clone(),
        setup: args.db_setup.clone(),
        keep: args.keep_db,
        ephemeral: args.ephemeral_postgres,
        ..DbOptions::default()
    }
}

/// A run's own database options (the cached template, the connection
/// budget), checked.
fn db_run_options(
    db: &mut DbOptions,
    args: &DbRunArgs,
    manifest_path: &Option<String>,
) -> Result<(), UsageError> {
    let cached = db.setup.is_some() && db.template.is_none();
    if !cached && (args.db_rebuild || !args.db_migrations.is_empty()) {
        return Err(UsageError(
            "--db-migrations and --db-rebuild are about the template that --db-setup builds; add --db-setup, or drop --db-template (whose template you prepare yourself)".into(),
        ));
    }
    for dir in &args.db_migrations {
        if !std::path::Path::new(dir).is_dir() {
            return Err(UsageError(format!(
                "--db-migrations {dir}: no such directory; give the directory that holds the migration files"
            )));
        }
    }
    db.migrations = args.db_migrations.iter().map(PathBuf::from).collect();
    db.manifest_path = manifest_path.clone();
    db.rebuild = args.db_rebuild;
    db.connections_per_worker = args.db_connections_per_worker as usize;
    db.allow_overcommit = args.db_allow_overcommit;
    Ok(())
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

/// `-x`/`--maxfail` (the failure limit) and `--lf`/`--ff`, checked.
fn lifecycle_options(l: &cli::LifecycleArgs) -> Result<(Option<usize>, LastFailed), UsageError> {
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

/// Whether the human output is colored: `--color` (or `-- --color`), else
/// `CARGO_TERM_COLOR`, else auto: not when `NO_COLOR` is set and not
/// empty, else when the human output (stdout, stderr under `json`) is a
/// terminal.
fn color_wanted(
    choice: Option<ColorArg>,
    json: bool,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<bool, UsageError> {
    let terminal = || {
        if json {
            std::io::stderr().is_terminal()
        } else {
            std::io::stdout().is_terminal()
        }
    };
    resolve_color(choice, env, &terminal)
}

fn resolve_color(
    choice: Option<ColorArg>,
    env: &dyn Fn(&str) -> Option<String>,
    terminal: &dyn Fn() -> bool,
) -> Result<bool, UsageError> {
    let choice = match choice {
        Some(c) => c,
        None => match env("CARGO_TERM_COLOR").as_deref() {
            None | Some("") | Some("auto") => ColorArg::Auto,
            Some("always") => ColorArg::Always,
            Some("never") => ColorArg::Never,
            Some(other) => {
                return Err(UsageError(format!(
                    "CARGO_TERM_COLOR is `{other}`, not auto, always or never; fix or unset it"
                )));
            }
        },
    };
    Ok(match choice {
        ColorArg::Always => true,
        ColorArg::Never => false,
        ColorArg::Auto => env("NO_COLOR").is_none_or(|v| v.is_empty()) && terminal(),
    })
}

/// How libtest takes an option (rustc 1.95's `library/test/src/cli.rs`:
/// getopts flags and options with a value, `--opt value` or `--opt=value`,
/// `-Z value` or `-Zvalue`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Takes {
    Flag,
    Value,
}

/// What cargo-xdist does with a libtest option given after `--`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Use {
    /// Test selection, applied by cargo-xdist itself.
    Exact,
    Skip,
    Ignored,
    IncludeIgnored,
    /// Passed to every test process, and shows the output live.
    NoCapture,
    /// Passed on, and colors cargo-xdist's own output (unless `--color`).
    Color,
    /// Passed to every test process.
    Pass,
    /// Refused before the build, with this fix.
    Refuse(&'static str),
}

const NIGHTLY: &str =
    "it is nightly-only (needs -Z unstable-options, which cargo-xdist cannot pass on); remove it";
const FORMAT: &str = "cargo-xdist reads libtest's own output; for machine-readable events use --message-format json (or --junit PATH), for less output cargo-xdist's -q, before `--`";
const ORDER: &str = "cargo-xdist runs each process's tests in name order, to know which one is running when a process dies; remove it";

/// libtest's options (rustc 1.95), every one of them: how each takes its
/// value and what cargo-xdist does with it.
const LIBTEST_OPTIONS: &[(&str, Takes, Use)] = &[
    ("--include-ignored", Takes::Flag, Use::IncludeIgnored),
    ("--ignored", Takes::Flag, Use::Ignored),
    ("--force-run-in-process", Takes::Flag, Use::Refuse(NIGHTLY)),
    ("--exclude-should-panic", Takes::Flag, Use::Refuse(NIGHTLY)),
    ("--test", Takes::Flag, Use::Pass),
    (
        "--bench",
        Takes::Flag,
        Use::Refuse("cargo-xdist runs tests, not benchmarks; run benchmarks with `cargo bench`"),
    ),
    (
        "--list",
        Takes::Flag,
        Use::Refuse("list the tests with `cargo xdist list`"),
    ),
    (
        "--fail-fast",
        Takes::Flag,
        Use::Refuse(
            "libtest's is nightly-only and would stop one process, not the run; remove it (cargo-xdist's own --fail-fast goes before `--`)",
        ),
    ),
    (
        "-h",
        Takes::Flag,
        Use::Refuse(
            "every test binary would print its help instead of running; see `cargo xdist --help`",
        ),
    ),
    (
        "--help",
        Takes::Flag,
        Use::Refuse(
            "every test binary would print its help instead of running; see `cargo xdist --help`",
        ),
    ),
    (
        "--logfile",
        Takes::Value,
        Use::Refuse(
            "cargo-xdist reads each verdict from a logfile of its own; for a report use --junit PATH or --message-format json",
        ),
    ),
    ("--no-capture", Takes::Flag, Use::NoCapture),
    ("--nocapture", Takes::Flag, Use::NoCapture),
    (
        "--test-threads",
        Takes::Value,
        Use::Refuse(
            "each test process runs one test at a time, so that a crash fails only that test; set the parallelism with -n N",
        ),
    ),
    ("--skip", Takes::Value, Use::Skip),
    ("-q", Takes::Flag, Use::Refuse(FORMAT)),
    ("--quiet", Takes::Flag, Use::Refuse(FORMAT)),
    ("--exact", Takes::Flag, Use::Exact),
    ("--color", Takes::Value, Use::Color),
    ("--format", Takes::Value, Use::Refuse(FORMAT)),
    ("--show-output", Takes::Flag, Use::Pass),
    (
        "-Z",
        Takes::Value,
        Use::Refuse(
            "`-Z unstable-options` is nightly-only and turns on only libtest options that cargo-xdist manages (--format json, --shuffle, --report-time); remove it",
        ),
    ),
    (
        "--report-time",
        Takes::Flag,
        Use::Refuse(
            "it is nightly-only; for test times use --durations N or --message-format json",
        ),
    ),
    (
        "--ensure-time",
        Takes::Flag,
        Use::Refuse("it is nightly-only; to fail a test that runs too long use --timeout DURATION"),
    ),
    ("--shuffle", Takes::Flag, Use::Refuse(ORDER)),
    ("--shuffle-seed", Takes::Value, Use::Refuse(ORDER)),
];

/// What the arguments after `--` set besides the filters.
#[derive(Debug, Clone, Copy, Default)]
struct AfterDashes {
    no_capture: bool,
    color: Option<ColorArg>,
}

/// The selection options, with the arguments after `--` read with
/// libtest's grammar: selection (`--exact`, `--skip X`, `--ignored`, bare
/// filters) moves into them, what libtest may get is passed on, and what
/// cargo-xdist must control is refused with a fix that fits the option.
fn filters(f: FilterArgs) -> Result<(Filters, AfterDashes), UsageError> {
    let mut out = Filters {
        patterns: f.filters,
        exact: f.exact,
        skip: f.skip,
        ignored: IgnoredMode::Skip,
        test_args: Vec::new(),
    };
    let mut after = AfterDashes::default();
    let (mut ignored, mut include_ignored) = (f.ignored, f.include_ignored);
    let mut args = f.test_args.into_iter();
    let mut only_filters = false;
    while let Some(arg) = args.next() {
        if only_filters || arg == "-" || !arg.starts_with('-') {
            out.patterns.push(arg);
            continue;
        }
        if arg == "--" {
            only_filters = true;
            continue;
        }
        // `--name=value`, `-Zvalue`, or a bare option.
        let (name, inline) = match arg.strip_prefix("--") {
            Some(long) => match long.split_once('=') {
                Some((n, v)) => (format!("--{n}"), Some(v.to_string())),
                None => (arg.clone(), None),
            },
            None => {
                let mut chars = arg[1..].chars();
                let first = chars.next().map(|c| format!("-{c}")).unwrap_or_default();
                let rest = chars.as_str();
                (first, (!rest.is_empty()).then(|| rest.to_string()))
            }
        };
        let Some(&(_, takes, usage)) = LIBTEST_OPTIONS.iter().find(|(n, ..)| *n == name) else {
            return Err(unknown_test_arg(&name, &arg));
        };
        let value = match (takes, inline) {
            (Takes::Flag, Some(_)) => {
                return Err(UsageError(format!(
                    "`{name}` after `--` takes no value (got `{arg}`); write `-- {name}`"
                )));
            }
            (Takes::Flag, None) => None,
            (Takes::Value, Some(v)) => Some(v),
            (Takes::Value, None) => Some(args.next().ok_or_else(|| {
                UsageError(format!(
                    "`{name}` after `--` needs a value; write `-- {name} VALUE`"
                ))
            })?),
        };
        let passed = || match &value {
            Some(v) => vec![name.clone(), v.clone()],
            None => vec![name.clone()],
        };
        match usage {
            Use::Exact => out.exact = true,
            Use::Ignored => ignored = true,
            Use::IncludeIgnored => include_ignored = true,
            Use::Skip => out.skip.extend(value),
            Use::NoCapture => {
                after.no_capture = true;
                out.test_args.extend(passed());
            }
            Use::Color => {
                after.color = Some(match value.as_deref() {
                    Some("auto") => ColorArg::Auto,
                    Some("always") => ColorArg::Always,
                    Some("never") => ColorArg::Never,
                    v => {
                        return Err(UsageError(format!(
                            "`--color` after `--` must be auto, always or never, not `{}`; fix the value",
                            v.unwrap_or_default()
                        )));
                    }
                });
                out.test_args.extend(passed());
            }
            Use::Pass => out.test_args.extend(passed()),
            Use::Refuse(fix) => {
                let shown = passed().join(" ");
                return Err(UsageError(format!(
                    "the test argument `{shown}` is not supported by cargo-xdist; {fix}"
                )));
            }
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
    Ok((out, after))
}

/// An option after `--` that libtest does not know: say whether it is
/// cargo-xdist's own (then it goes before `--`).
fn unknown_test_arg(name: &str, arg: &str) -> UsageError {
    use clap::CommandFactory;
    let ours = cli::Cli::command().get_arguments().any(|a| {
        a.get_long_and_visible_aliases()
            .into_iter()
            .flatten()
            .any(|l| name.strip_prefix("--") == Some(l))
            || a.get_short_and_visible_aliases()
                .into_iter()
                .flatten()
                .any(|c| name.strip_prefix('-') == Some(&c.to_string()))
    });
    if ours {
        UsageError(format!(
            "`{name}` after `--` is a cargo-xdist option, not a test argument; put it before `--`"
        ))
    } else {
        UsageError(format!(
            "`{arg}` after `--` is not a libtest option; remove it (see a test binary's --help)"
        ))
    }
}

/// The arguments of a re-run command that stay the same whatever it
/// selects: how the tests are built, which ignored tests may run, their
/// environment and time limit, the arguments after `--`.
fn rerun_args(
    build: &BuildOptions,
    filters: &Filters,
    db: Option<&DbOptions>,
    worker_env: &[(String, String)],
    timeout: Option<Duration>,
) -> Vec<String> {
    let mut a: Vec<String> = Vec::new();
    let mut opt = |name: &str, value: Option<&String>| {
        if let Some(v) = value {
            a.extend([name.to_string(), v.clone()]);
        }
    };
    opt("--manifest-path", build.manifest_path.as_ref());
    build
        .features
        .iter()
        .for_each(|f| opt("--features", Some(f)));
    opt("--profile", build.profile.as_ref());
    opt("--target", build.target.as_ref());
    opt("--target-dir", build.target_dir.as_ref());
    if let Some(db) = db {
        let env = Some(&db.env_name).filter(|n| *n != "DATABASE_URL");
        opt("--database-env", env);
        opt("--db-template", db.template.as_ref());
        opt("--db-setup", db.setup.as_ref());
    }
    for (k, v) in worker_env {
        opt("--worker-env", Some(&format!("{k}={v}")));
    }
    let timeout = timeout.map(|t| humantime::format_duration(t).to_string().replace(' ', ""));
    opt("--timeout", timeout.as_ref());
    let flags = [
        (build.all_features, "--all-features"),
        (build.no_default_features, "--no-default-features"),
        (build.release, "--release"),
        (build.locked, "--locked"),
        (build.offline, "--offline"),
        (build.frozen, "--frozen"),
        (db.is_some_and(|d| d.ephemeral), "--ephemeral-postgres"),
        (filters.ignored != IgnoredMode::Skip, "--include-ignored"),
    ];
    a.extend(
        flags
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, f)| f.to_string()),
    );
    if !filters.test_args.is_empty() {
        a.push("--".into());
        a.extend(filters.test_args.iter().cloned());
    }
    a
}

/// Fail early, before the build, if `what` cannot be written at `path`.
fn check_writable(path: &Utf8PathBuf, what: &str, flag: &str) -> Result<(), UsageError> {
    let fail = |e: std::io::Error| {
        UsageError(format!(
            "cannot write {what} {path} ({e}); choose a writable {flag} path"
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

    fn after_dashes(args: &[&str]) -> Result<(Filters, AfterDashes), UsageError> {
        filters(FilterArgs {
            test_args: args.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        })
    }

    fn filter(args: &[&str]) -> Result<Filters, UsageError> {
        after_dashes(args).map(|(f, _)| f)
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
    fn options_with_a_value_take_it_in_both_spellings() {
        for args in [
            &["--color", "never", "--skip", "slow", "name"][..],
            &["--color=never", "--skip=slow", "name"][..],
        ] {
            let (f, after) = after_dashes(args).unwrap();
            assert_eq!(f.patterns, ["name"], "{args:?}");
            assert_eq!(f.skip, ["slow"], "{args:?}");
            assert_eq!(after.color, Some(ColorArg::Never), "{args:?}");
            assert!(f.libtest_args().join(" ").contains("--color never"));
        }
        // A value is taken even when it starts with `-`, as getopts does.
        assert_eq!(filter(&["--skip", "-x"]).unwrap().skip, ["-x"]);
        // After a second `--`, everything is a filter.
        assert_eq!(filter(&["--", "--exact"]).unwrap().patterns, ["--exact"]);
        let (f, after) = after_dashes(&["--nocapture", "--show-output"]).unwrap();
        assert!(after.no_capture);
        assert_eq!(f.test_args, ["--nocapture", "--show-output"]);
    }

    #[test]
    fn refused_args_get_a_fix_that_fits_them() {
        for (args, fix) in [
            (&["--test-threads=4"][..], "-n N"),
            (&["--test-threads", "4"][..], "-n N"),
            (&["-Z", "unstable-options"][..], "nightly-only"),
            (&["-Zunstable-options"][..], "nightly-only"),
            (&["--format", "json"][..], "--message-format json"),
            (&["-q"][..], "cargo-xdist's -q"),
            (&["--logfile", "x"][..], "--junit"),
            (&["--shuffle"][..], "name order"),
            (&["--list"][..], "cargo xdist list"),
            (&["--bench"][..], "cargo bench"),
            (&["--report-time"][..], "--durations"),
            (&["--help"][..], "cargo xdist --help"),
            (&["--frobnicate"][..], "not a libtest option"),
            (&["-n", "4"][..], "put it before `--`"),
            (&["-n4"][..], "put it before `--`"),
            (&["--workspace"][..], "put it before `--`"),
            (&["--color", "sometimes"][..], "auto, always or never"),
            (&["--skip"][..], "needs a value"),
            (&["--exact=yes"][..], "takes no value"),
        ] {
            let err = filter(args).unwrap_err();
            assert!(err.0.contains(fix), "{args:?}: {err}");
            assert!(!err.0.contains("-n N") || fix == "-n N", "{args:?}: {err}");
        }
        let err = filter(&["--ignored", "--include-ignored"]).unwrap_err();
        assert!(err.0.contains("cannot be used together"), "{err}");
    }

    #[test]
    fn color_follows_flag_then_cargo_then_no_color() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                vars.iter()
                    .find(|(key, _)| *key == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let tty = || true;
        let color = |c, vars| resolve_color(c, &env(vars), &tty).unwrap();
        assert!(color(None, &[]));
        assert!(!color(None, &[("NO_COLOR", "1")]));
        assert!(color(None, &[("NO_COLOR", "")]));
        assert!(!color(None, &[("CARGO_TERM_COLOR", "never")]));
        assert!(color(
            None,
            &[("CARGO_TERM_COLOR", "always"), ("NO_COLOR", "1")]
        ));
        assert!(color(Some(ColorArg::Always), &[("NO_COLOR", "1")]));
        assert!(!color(
            Some(ColorArg::Never),
            &[("CARGO_TERM_COLOR", "always")]
        ));
        assert!(!color(Some(ColorArg::Auto), &[("NO_COLOR", "1")]));
        assert!(!resolve_color(None, &env(&[]), &|| false).unwrap());
        let err = resolve_color(None, &env(&[("CARGO_TERM_COLOR", "red")]), &tty).unwrap_err();
        assert!(err.0.contains("CARGO_TERM_COLOR"), "{err}");
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
        assert_eq!((c.dist, c.dist.splits()), (DistMode::Auto, true));
        let c = run_config(&["--dist", "loadfile"], &[]).unwrap();
        assert_eq!((c.dist, c.dist.splits()), (DistMode::Loadfile, false));
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

    #[test]
    fn rerun_args_keep_the_build_and_environment_never_the_url() {
        let c = run_config(
            &[
                "--manifest-path",
                "w/Cargo.toml",
                "--release",
                "--include-ignored",
                "--timeout",
                "90s",
                "--database-url",
                "postgres://u:pw@h/db",
                "-p",
                "alpha",
                "name",
                "--",
                "--show-output",
            ],
            &[],
        )
        .unwrap();
        assert_eq!(
            c.report.rerun_args,
            [
                "--manifest-path",
                "w/Cargo.toml",
                "--timeout",
                "1m30s",
                "--release",
                "--include-ignored",
                "--",
                "--show-output"
            ]
        );
        let c = run_config(&["--no-capture"], &[]).unwrap();
        assert!(c.no_capture);
        assert_eq!(c.filters.libtest_args(), ["--nocapture"]);
        let c = run_config(&["--", "--nocapture"], &[]).unwrap();
        assert!(c.no_capture);
        assert_eq!(c.filters.libtest_args(), ["--nocapture"]);
    }

    #[test]
    fn database_options_say_where_the_url_came_from_and_no_db_ignores_it() {
        let url = [
            ("DATABASE_URL", "postgres://h/db"),
            ("APP_DB", "postgres://h/app"),
        ];
        let c = run_config(&["-n", "2"], &url).unwrap();
        let db = c.db.unwrap();
        assert_eq!(db.url_source, UrlSource::Env("DATABASE_URL".into()));
        assert!(!db.fit_workers, "-n 2 is not auto");
        assert_eq!(db.connections_per_worker, 10);
        let c = run_config(&["--database-env", "APP_DB"], &url).unwrap();
        let db = c.db.unwrap();
        assert_eq!(db.url_source, UrlSource::Env("APP_DB".into()));
        assert!(db.fit_workers, "-n auto");
        let c = run_config(&["--database-url", "postgres://x/y"], &url).unwrap();
        assert_eq!(c.db.unwrap().url_source, UrlSource::Flag);
        let c = run_config(&["-n", "2", "--no-db"], &url).unwrap();
        assert!(c.db.is_none(), "--no-db runs without databases");
        // The URL stays in the tests' environment: its password is still
        // redacted from what they print.
        let stray = [("DATABASE_URL", "postgres://u:Pw%2F9x7!q@h/db")];
        let c = run_config(&["-n", "2", "--no-db"], &stray).unwrap();
        assert!(
            c.stray_secrets.iter().any(|s| s == "Pw%2F9x7!q"),
            "{:?}",
            c.stray_secrets
        );
        let c = run_config(&["-n", "2"], &stray).unwrap();
        assert!(
            c.stray_secrets.is_empty(),
            "the databases' own secrets cover it"
        );
        let conflict = cli::parse_from(
            ["cargo-xdist", "--no-db", "--database-url", "postgres://x/y"].map(Into::into),
        );
        assert!(
            conflict.is_err(),
            "--no-db with a database option is refused"
        );
    }

    #[test]
    fn cached_template_options_are_checked() {
        let url = [("DATABASE_URL", "postgres://h/db")];
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path().to_str().unwrap();
        let c = run_config(
            &[
                "--db-setup",
                "migrate",
                "--db-migrations",
                dir,
                "--db-rebuild",
            ],
            &url,
        )
        .unwrap();
        let db = c.db.unwrap();
        assert_eq!(db.migrations, [PathBuf::from(dir)]);
        assert!(db.rebuild);
        for args in [
            &["--db-migrations", dir][..],
            &["--db-rebuild"],
            &[
                "--db-setup",
                "migrate",
                "--db-template",
                "tpl",
                "--db-rebuild",
            ],
        ] {
            let err = run_config(args, &url).unwrap_err();
            assert!(err.0.contains("add --db-setup"), "{args:?}: {err}");
        }
        let err = run_config(
            &["--db-setup", "migrate", "--db-migrations", "/no/such/dir"],
            &url,
        )
        .unwrap_err();
        assert!(
            err.0
                .starts_with("--db-migrations /no/such/dir: no such directory; "),
            "{err}"
        );
        let c = run_config(
            &["--db-connections-per-worker", "3", "--db-allow-overcommit"],
            &url,
        )
        .unwrap();
        let db = c.db.unwrap();
        assert_eq!((db.connections_per_worker, db.allow_overcommit), (3, true));
        let zero =
            cli::parse_from(["cargo-xdist", "--db-connections-per-worker", "0"].map(Into::into));
        assert!(zero.is_err());
    }
}
