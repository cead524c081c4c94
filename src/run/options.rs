//! [`RunOptions`]: what shapes every test process of a run, resolved once
//! from the configuration and the build.

use std::sync::Arc;
use std::time::Duration;

use crate::build::BuildOutput;
use crate::config::{DistMode, RunConfig};
use crate::coverage::finish::Session;
use crate::coverage::instrument::ProfilePaths;
use crate::schedule::Estimates;

/// Options that shape every test process.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub timeout: Option<Duration>,
    /// `--slow-timeout`: report a test still running after each multiple.
    pub slow_timeout: Option<Duration>,
    /// `--no-capture`: emit the test processes' output as it comes.
    pub live_output: bool,
    /// `--dist worksteal`: idle workers take the unstarted tail of busy ones.
    pub worksteal: bool,
    /// `--doc`: cargo arguments for `cargo test --doc` (the user's package
    /// selection, features, profile, target, manifest path, ...).
    pub doc_cargo_args: Vec<String>,
    /// Extra libtest arguments (after the names): `--include-ignored`, the
    /// user's arguments after `--`.
    pub libtest_args: Vec<String>,
    /// Arguments for custom harnesses and rustdoc: the filters and the
    /// user's arguments, as `cargo test` passes them.
    pub harness_args: Vec<String>,
    /// `--doc`: the filters, which rustdoc gets without whitespace.
    pub doc_filters: crate::config::Filters,
    /// Variables for `cargo test --doc` beyond the worker's (under
    /// `--coverage`: the instrumentation flags).
    pub doc_env: Vec<(String, String)>,
    /// `--coverage`: the profile pattern of `cargo test --doc` and the
    /// doctests (discarded).
    pub doc_profile: Option<String>,
    /// `--coverage`: where each libtest process writes its profile (one
    /// that crashes or times out loses it, and the tests that had finished
    /// in it run again, silently, in a fresh process).
    pub coverage: Option<ProfilePaths>,
    /// `--retries N`: a failed test (libtest or custom harness) runs again
    /// up to N more times, each in a fresh process on the same worker.
    pub retries: u32,
    /// `-x`/`--maxfail N`: stop the run after N failed tests.
    pub max_fail: Option<usize>,
    /// `--flaky-fails`: a flaky test counts towards `max_fail`.
    pub flaky_fails: bool,
    /// `--leak-fails`: a test that leaves processes running fails.
    pub leak_fails: bool,
    /// Expected times: `load` sizes its batches by them.
    pub estimates: Arc<Estimates>,
    /// `--record-impact`: every unit runs in processes of its own, never
    /// batched with another (its profiles are its test's alone).
    pub alone: bool,
}

impl RunOptions {
    pub fn new(
        config: &RunConfig,
        build: &BuildOutput,
        coverage: Option<&Session>,
        estimates: Estimates,
    ) -> Self {
        let mut doc_env = Vec::new();
        if let Some(i) = &build.instrumentation {
            doc_env.extend(i.env.iter().cloned());
        }
        let mut libtest_args = config.filters.libtest_args();
        // libtest prints captured output when its process ends, and -x
        // stops the process that holds the failure: stream it instead.
        if config.max_fail.is_some() && !libtest_args.iter().any(|a| a == "--nocapture") {
            libtest_args.push("--nocapture".into());
        }
        RunOptions {
            timeout: config.timeout,
            slow_timeout: config.slow_timeout,
            live_output: config.no_capture,
            worksteal: config.dist == DistMode::Worksteal && !config.impact.record,
            doc_cargo_args: crate::build::doc_cargo_args(&config.build, build),
            libtest_args,
            harness_args: config.filters.harness_args(),
            doc_filters: config.filters.clone(),
            doc_env,
            doc_profile: coverage.map(Session::discard_pattern),
            coverage: coverage.map(Session::profile_paths),
            retries: config.retries,
            max_fail: config.max_fail,
            flaky_fails: config.flaky_fails,
            leak_fails: config.leak_fails,
            estimates: Arc::new(estimates),
            alone: config.impact.record,
        }
    }
}
