//! Config stage: the command line (and the environment) → one resolved,
//! validated configuration per subcommand. Every usage error is found here,
//! before anything is built; the later stages take these plain types, never
//! clap's structs.
//!
//! One file per concern: the option types the stages take (`options`:
//! build, filters, report, coverage), `--partition` and the durations file
//! (`schedule`), impact maps (`impact`), declared groups (`groups`), each subcommand's
//! resolution (`run`, `list`, `archive`, `db clean` in `db`), the
//! color choice (`color`), the libtest grammar after `--`
//! (`test_args`), the re-run command (`rerun`), paths (`paths`) and
//! the config files ([`file`](mod@file)). This file only declares and re-exports.

mod archive;
mod color;
mod coverage;
mod db;
pub mod file;
mod groups;
mod impact;
mod list;
mod options;
mod paths;
mod rerun;
mod run;
mod schedule;
mod test_args;

pub use self::archive::{ArchiveConfig, ArchiveSource};
pub use self::coverage::merge_inputs;
pub use self::db::{db_clean_options, db_options};
pub use self::groups::{GroupFilter, GroupRule};
pub use self::impact::ImpactOptions;
pub use self::list::ListConfig;
pub use self::options::{
    BuildOptions, CoverageOptions, Filters, IgnoredMode, LastFailed, NoTests, ReportOptions,
};
pub use self::paths::process_env;
pub use self::run::RunConfig;
pub use self::schedule::{Partition, PartitionKind, durations_store};
pub use crate::cli::DistMode;
