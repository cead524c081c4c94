//! cargo-xdist runs a workspace's tests on N workers, keeping each source
//! file's tests together, with a database of its own per worker.
//!
//! # The pipeline
//!
//! One module owns one stage; each takes plain data and hands plain data on
//! (src/main.rs reads as this list). A stage imports only earlier stages,
//! side modules and base modules (tests/layout.rs checks it, and that no
//! two top-level modules import each other, even around a circle):
//!
//! | stage | module | in → out |
//! | --- | --- | --- |
//! | command line | [`cli`] | argv → clap structs (no I/O) |
//! | configuration | [`config`] | clap structs + environment → [`config::RunConfig`] / [`config::ListConfig`]; every usage error |
//! | build | [`build`] | [`config::BuildOptions`] → [`build::BuildOutput`] ([`build::TestBinary`]s, [`build::DocPackage`]s) |
//! | list | [`list`] | test binaries → [`list::Listing`] ([`list::TestCase`]s with source files, listing failures) |
//! | (archive) | [`archive`] | `cargo xdist archive`: build + listing → a file; `--archive-file` → the same [`build::BuildOutput`], remapped (it fills [`list`]'s cache, so it comes after list) |
//! | plan | [`plan`] | listing + [`config::Filters`] + [`config::DistMode`] + [`plan::LastFailures`] (from [`history`], by [`plan::last_failures`]) → [`plan::Plan`]: [`plan::WorkUnit`]s and results known before the run; `--partition` keeps one shard's groups |
//! | schedule | [`schedule`] | units + [`schedule::Estimates`] (from [`durations`]) → [`schedule::Order`]: the order workers take them, longest expected first (`--ff`: the last failures' first), and with recorded durations the worker planned for each ([`balance`]) |
//! | run | [`run`] | units + [`env::WorkerSlot`]s → [`event::RunEvent`]s through the [`event::EventSink`] (the runner never prints and does not import report) |
//! | report | [`report`] | events → reporters ([`event::Reporter`]s, the sink redacts secrets first); [`event::RunSummary`] → JUnit, the last-failed record ([`report::last_failed`]), coverage's outcome |
//!
//! **Side modules** import base modules only and take plain inputs
//! (paths, strings, small structs they own) from the stages: [`db`]
//! (per-worker PostgreSQL databases: connect, create, hand out URLs,
//! drop), [`coverage`] (instrumentation flags, profile paths, merging and
//! reporting; its options are [`coverage::CoverageOptions`], the build's
//! paths come in as [`coverage::finish::Built`]), [`durations`] (the
//! duration store: recorded test and group times, read before planning,
//! written after the run through [`durations::record`] by
//! [`report::recorder::Recorder`], a reporter), [`history`] (the last
//! run's failures under `target/xdist/`, for `--lf`/`--ff`), [`env`](mod@env) (the
//! one place a test process's command and environment are assembled, and
//! the only one that sets `LLVM_PROFILE_FILE`; test binaries come in
//! through [`env::Executable`], which build implements) and [`balance`]
//! (assigning groups to workers by expected time, for plan and schedule).
//!
//! **Base modules** import no stage and no side module: [`event`] (what
//! the runner and the reporters share: [`event::RunEvent`],
//! [`event::TestResult`], the [`event::Reporter`] trait, the
//! [`event::Collector`] and its [`event::RunSummary`], and the redacting
//! [`event::EventSink`]), [`process`] (one child process in its own group,
//! read without deadlock, killed with whatever it left behind), [`leak`]
//! (what a test process left running after it exited: found by its group
//! and its tag, named, killed and reaped), [`secrets`]
//! (masking passwords in any spelling, in whole texts and in streams cut
//! anywhere), [`signal`] (SIGINT/SIGTERM/SIGHUP, Ctrl-Z → one
//! [`signal::Cancel`] handle), [`scratch`] (private directories, locked
//! atomic JSON files), [`hash`] (the one stable hash: shards, database
//! names), [`toolchain`] (which rustc cargo runs, and its answers kept per
//! toolchain) and [`error`] (every error kind and exit code).
//!
//! A `mod.rs` only declares its files and re-exports; no source file has
//! more than 900 lines of code (tests/layout.rs checks both).
//!
//! # Where a new feature goes
//!
//! - **A new reporter** (JSON lines, ...): a type implementing
//!   [`event::Reporter`] in `report/`, added to the list
//!   [`report::reporters`](fn@report::reporters) returns (or in main.rs, for one that needs
//!   more than the build). It receives every event already redacted.
//! - **A new run option**: a field of [`cli::RunArgs`], resolved in
//!   [`config`]. Config files (`.config/xdist.toml`, Cargo.toml's
//!   `[workspace.metadata.xdist]` / `[package.metadata.xdist]`) take its
//!   long name as a key at once: [`config::file`] reads clap's definition.
//!   What it changes for every test process goes into [`run::RunOptions`].
//! - **A new dist mode**: a [`cli::DistMode`] variant (a clap value: its
//!   doc comment is its help; config re-exports it), its group key in
//!   [`plan::group_key`], its order in [`schedule::order`].
//! - **Selecting fewer tests** (partitions, last-failed): in [`plan`], which
//!   also records what is known without running.
//! - **A new event** the runner reports: a [`event::RunEvent`] variant;
//!   the [`event::EventSink`] redacts its text, the [`event::Collector`]
//!   and the reporters consume it.
//! - **A new per-process variable**: [`env::WorkerSlot::new`] for per-worker
//!   values, [`build::runtime_env`] for what cargo itself would set; a
//!   variable whose value depends on the process (as `LLVM_PROFILE_FILE`)
//!   is chosen and set in [`env`](mod@env) only.
//! - **A new side concern** (a store, an external service): a side module
//!   that imports base modules only and takes plain inputs; the stage that
//!   needs it calls it (as plan calls [`history`]).
//! - **A new database step**: in [`db`], inside [`db::WorkerDatabases`]'s
//!   life (connect → create → worker_env → cleanup), whose errors are
//!   [`db::DbError`]s with one-line messages.
//! - **A new way a test process can end**: [`run::worker`] judges libtest
//!   processes, [`run::harness`] custom harnesses, [`run::doctest`] rustdoc;
//!   all read bounded output through [`run::output`], and start their
//!   processes through [`process`], which has [`leak`] find what a process
//!   left running.
//!
//! # Inside db/ and coverage/
//!
//! Their `mod.rs` files say more (db's: the life of a run's databases and
//! how runs on one base share it); one line per file:
//!
//! | db/ | owns |
//! | --- | --- |
//! | `workers` | [`db::WorkerDatabases`]: one run's databases, connect → create → worker_env → cleanup |
//! | `settings` | what those steps share, read-only between worker threads |
//! | `connect` | libpq's defaults from the environment, connecting, the checks before the build |
//! | [`db::budget`] | whether the server has connections for every worker's pool |
//! | `create`, `overlap` | creating (or with `--keep-db` reusing) and dropping worker databases; creating them while cargo builds ([`db::create_while`]) |
//! | `locks`, [`db::names`] | the name set a run holds (advisory locks); database names and markers |
//! | [`db::template`], `setup` | the cached `--db-setup` template; running `--db-setup` |
//! | `sql` | the statements on one connection |
//! | `clean` | `cargo xdist db clean` ([`db::clean()`]) |
//! | [`db::url`] | URL text: parse, per-worker names, redaction |
//! | [`db::ephemeral`] | the throwaway server of `--ephemeral-postgres` |
//! | `options`, `error`, `classify` | [`db::DbOptions`], [`db::DbError`] and its one-line texts, failures classified as them |
//!
//! | coverage/ | owns |
//! | --- | --- |
//! | [`coverage::instrument`] | before and during the run: cargo's flags, where each process writes its profile |
//! | [`coverage::finish`] | after the run: the steps below, from [`coverage::finish::Built`] |
//! | [`coverage::tools`], [`coverage::invoke`] | finding the LLVM tools that match rustc; running them |
//! | [`coverage::profdata`], [`coverage::export`], [`coverage::summary`] | merging raw profiles; exporting with llvm-cov; the per-file table |
//! | [`coverage::spec`], [`coverage::report`], [`coverage::ignore`], [`coverage::fail_under`] | `--cov-report` values; writing the reports; which files count; `--cov-fail-under` |
//! | [`coverage::lcov`], [`coverage::cobertura`], [`coverage::merge`] | tracefiles in pure Rust: the lcov model, Cobertura XML, `cargo xdist coverage merge` |
//! | `options` | [`coverage::CoverageOptions`] |

// Filesystem calls go through fs_err, whose errors name the path
// (clippy.toml lists the std::fs calls it replaces); tests may use std::fs.
#![cfg_attr(not(test), warn(clippy::disallowed_methods))]

pub mod archive;
pub mod balance;
pub mod build;
pub mod cli;
pub mod config;
pub mod coverage;
pub mod db;
pub mod durations;
pub mod env;
pub mod error;
pub mod event;
pub mod hash;
pub mod history;
pub mod impact;
pub mod leak;
pub mod list;
pub mod plan;
pub mod process;
pub mod report;
pub mod run;
pub mod schedule;
pub mod scratch;
pub mod secrets;
pub mod signal;
pub mod toolchain;
