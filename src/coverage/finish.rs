//! `--coverage` after the run: merge every process's profile, export with
//! every instrumented executable as an object, write the requested
//! reports, and check `--cov-fail-under`.

use std::time::Instant;

use anyhow::{Context, Result};
use camino::Utf8PathBuf;

use super::CoverageOptions;
use super::instrument::Profiles;
pub use super::report::CoverageTiming;
use super::report::{self, ExportInput, FailUnder, IgnoreInputs};
use super::tools::{LlvmTools, ToolError};

/// What the coverage step needs of the build: plain paths (the build stage
/// fills it in, see `BuildOutput::coverage_input`).
#[derive(Debug, Clone, Default)]
pub struct Built {
    /// The workspace the reports name files in.
    pub workspace_root: Utf8PathBuf,
    /// The instrumented build's target directory; none: the build was not
    /// instrumented.
    pub target_dir: Option<Utf8PathBuf>,
    /// `--archive-file`: the workspace root and target directory the
    /// archive was built at, the paths its coverage maps name.
    pub built_at: Option<(Utf8PathBuf, Utf8PathBuf)>,
    /// Every instrumented executable: the test binaries, then the rest.
    pub objects: Vec<Utf8PathBuf>,
}

/// What the coverage step produced.
#[derive(Debug)]
pub struct CoverageOutcome {
    /// The term / term-missing tables (empty when none was asked for).
    pub terminal: String,
    /// Total line coverage, in percent.
    pub line_percent: f64,
    /// Set when line coverage is under `--cov-fail-under`.
    pub below: Option<FailUnder>,
    /// llvm-profdata's warnings (a torn profile), if any.
    pub warnings: String,
    /// How long merging, exporting and writing the reports took.
    pub timing: CoverageTiming,
}

/// One `--coverage` run: the LLVM tools and the run's profile directories.
#[derive(Debug)]
pub struct Session {
    opts: CoverageOptions,
    /// Looked up in the background while cargo builds (running rustc and
    /// the tools takes about 90 ms, most of a warm run's extra cost).
    finding: Option<std::thread::JoinHandle<Result<LlvmTools, ToolError>>>,
    tools: Option<LlvmTools>,
    profiles: Profiles,
}

impl Session {
    pub fn start(opts: &CoverageOptions) -> Result<Self> {
        Ok(Session {
            opts: opts.clone(),
            finding: Some(std::thread::spawn(super::tools::find)),
            tools: None,
            profiles: Profiles::new()?,
        })
    }

    /// Wait for the tools; before any test runs, a missing or mismatched
    /// one is a one-line error (exit 2).
    pub fn ready(&mut self) -> Result<()> {
        if let Some(finding) = self.finding.take() {
            let found = finding.join().expect("the LLVM tool lookup panicked");
            self.tools = Some(found.map_err(crate::error::Unavailable::new)?);
        }
        Ok(())
    }

    /// The profile pattern of processes whose profile does not count.
    pub fn discard_pattern(&self) -> String {
        self.profiles.discard_pattern()
    }

    /// Where the runner's libtest processes write their profiles.
    pub fn profile_paths(&self) -> super::instrument::ProfilePaths {
        self.profiles.paths()
    }

    /// The template (`{worker}` stands for the worker's name) of the
    /// profile pattern that gives each worker's processes their own
    /// profiles (see [`crate::env`]).
    pub fn worker_profile(&self) -> String {
        self.profiles.worker_pattern("{worker}")
    }

    /// `llvm-cov` and `llvm-profdata` (waiting for the lookup if need be),
    /// and a new private directory `name` for others' scratch files.
    pub fn tools_and_scratch(
        &mut self,
        name: &str,
    ) -> Result<(Utf8PathBuf, Utf8PathBuf, Utf8PathBuf)> {
        self.ready()?;
        let tools = self.tools.as_ref().context("no LLVM tools")?;
        let scratch = self.profiles.root().join(name);
        fs_err::create_dir_all(&scratch)?;
        let path = |p: &std::path::PathBuf| Utf8PathBuf::try_from(p.clone());
        Ok((path(&tools.cov)?, path(&tools.profdata)?, scratch))
    }

    /// Some report or `--cov-fail-under` was asked for (`--record-impact`
    /// alone asks for none: nothing to merge).
    pub fn reports(&self) -> bool {
        !self.opts.reports.is_empty() || self.opts.fail_under.is_some()
    }

    /// Merge, export and report the run's profiles.
    pub fn finish(mut self, build: &Built) -> Result<CoverageOutcome> {
        self.ready()?;
        let tools = self.tools.as_ref().context("no LLVM tools")?;
        finish(&self.opts, tools, &self.profiles, build)
    }
}

/// Merge, export and report the run's profiles.
fn finish(
    opts: &CoverageOptions,
    tools: &LlvmTools,
    profiles: &Profiles,
    build: &Built,
) -> Result<CoverageOutcome> {
    let mut timing = CoverageTiming::default();
    let profdata = profiles.root().join("merged.profdata");
    let merging = Instant::now();
    let profraws = profiles.collected()?;
    let warnings = report::merge_profraw(tools, &profraws, &profdata, None)
        .context("merging the coverage profiles")?;
    timing.merge = merging.elapsed();
    let target_dir = (build.target_dir.clone()).context("the build was not instrumented")?;
    // The coverage maps name the sources where they were built: from an
    // archive, its build machine's workspace and target dir; llvm-cov
    // filters on those paths, and the reports move them to the checkout.
    let (built_root, built_target) = match &build.built_at {
        Some((root, target)) => (root, target),
        None => (&build.workspace_root, &target_dir),
    };
    let mut ignore = IgnoreInputs::from_env(built_root, built_target);
    ignore.user = opts.ignore.clone();
    let ignore = report::ignore_filename_regexes(&ignore);
    let objects = &build.objects;
    let input = ExportInput {
        tools,
        profdata: &profdata,
        objects,
        ignore: &ignore,
        path_equivalence: (*built_root != build.workspace_root)
            .then_some((built_root.as_path(), build.workspace_root.as_path())),
    };
    let (terminal, lines) =
        report::generate(&opts.reports, &input, &build.workspace_root, &mut timing)
            .context("writing the coverage reports")?;
    let below = opts
        .fail_under
        .and_then(|min| report::check_fail_under(lines, min).err());
    Ok(CoverageOutcome {
        terminal,
        line_percent: lines.percent(),
        below,
        warnings,
        timing,
    })
}
