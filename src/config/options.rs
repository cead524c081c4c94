//! The plain option types the later stages take: what cargo builds
//! ([`BuildOptions`]), which tests run ([`Filters`]), how the run reports
//! ([`ReportOptions`]) and what `--coverage` reports ([`CoverageOptions`]).

use camino::Utf8PathBuf;

use crate::cli::BuildArgs;
pub use crate::coverage::CoverageOptions;

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
