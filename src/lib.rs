//! cargo-xdist runs a workspace's tests on N workers, keeping each source
//! file's tests together, with a database of its own per worker.
//!
//! # The pipeline
//!
//! One module owns one stage; each takes plain data and hands plain data on
//! (src/main.rs reads as this list):
//!
//! | stage | module | in → out |
//! | --- | --- | --- |
//! | command line | [`cli`] | argv → clap structs (no I/O) |
//! | configuration | [`config`] | clap structs + environment → [`config::RunConfig`] / [`config::ListConfig`]; every usage error |
//! | build | [`build`] | [`config::BuildOptions`] → [`build::BuildOutput`] ([`build::TestBinary`]s, [`build::DocPackage`]s); or [`archive`]: `--archive-file` → the same [`build::BuildOutput`], remapped |
//! | list | [`list`] | test binaries → [`list::Listing`] ([`list::TestCase`]s with source files, listing failures) |
//! | plan | [`plan`] | listing + [`config::Filters`] + [`config::DistMode`] + [`plan::LastFailures`] → [`plan::Plan`]: [`plan::WorkUnit`]s and results known before the run; `--partition` keeps one shard's groups |
//! | schedule | [`schedule`] | units + [`schedule::Estimates`] (from [`durations`]) → [`schedule::Order`]: the order workers take them, longest expected first (`--ff`: the last failures' first), and with recorded durations the worker planned for each ([`balance`]) |
//! | run | [`run`] | units + [`env::WorkerSlot`]s → [`event::RunEvent`]s (the runner never prints) |
//! | report | [`report`] | events → [`report::EventSink`] (redacts secrets) → reporters; [`report::RunSummary`] → JUnit |
//!
//! Beside them: [`db`] (per-worker PostgreSQL databases: connect, create,
//! hand out URLs, drop), [`secrets`] (masking passwords in any spelling, in
//! whole texts and in streams cut anywhere), [`history`] (the last run's failures under
//! `target/xdist/`, for `--lf`/`--ff`), [`durations`] (the duration store:
//! recorded test and group times, read before planning, written after the
//! run through [`durations::record`] by [`report::recorder::Recorder`], a
//! reporter), [`env`] (the one place a
//! test process's command and environment are assembled), [`signal`]
//! (SIGINT/SIGTERM/SIGHUP, Ctrl-Z → one [`signal::Cancel`] handle), [`hash`]
//! (the one stable hash: shards, database names) and
//! [`error`] (every error kind and exit code; it imports no stage). No two
//! modules import each other.
//!
//! # Where a new feature goes
//!
//! - **A new reporter** (JSON lines, ...): a type implementing
//!   [`report::Reporter`] in `report/`, added to the [`report::EventSink`]'s
//!   list in main.rs. It receives every event already redacted.
//! - **A new run option**: a field of [`cli::RunArgs`], resolved in
//!   [`config`]. Config files (`.config/xdist.toml`, Cargo.toml's
//!   `[workspace.metadata.xdist]` / `[package.metadata.xdist]`) take its
//!   long name as a key at once: [`config::file`] reads clap's definition.
//! - **A new dist mode**: a [`config::DistMode`] variant (a clap value:
//!   its doc comment is its help), its group key in [`plan::group_key`], its order
//!   in [`schedule::order`].
//! - **Selecting fewer tests** (partitions, last-failed): in [`plan`], which
//!   also records what is known without running.
//! - **A new per-process variable**: [`env::WorkerSlot::new`] for per-worker
//!   values, [`build`]'s `runtime_env` for what cargo itself would set.
//! - **A new database step**: in [`db`], inside [`db::WorkerDatabases`]'s
//!   life (connect → create → worker_env → cleanup), whose errors are
//!   [`db::DbError`]s with one-line messages.
//! - **A new way a test process can end**: [`run::worker`] judges libtest
//!   processes, [`run::harness`] custom harnesses, [`run::doctest`] rustdoc;
//!   all read bounded output through [`run::output`].

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
pub mod list;
pub mod plan;
pub mod process;
pub mod report;
pub mod run;
pub mod schedule;
pub mod scratch;
pub mod secrets;
pub mod signal;
