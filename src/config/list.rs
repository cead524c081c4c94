//! `cargo xdist list`: [`ListConfig::new`].

use camino::Utf8PathBuf;

use super::DistMode;
use super::file;
use super::groups::GroupRule;
use super::options::{BuildOptions, Filters};
use super::paths::cwd;
use super::schedule::{Partition, schedule_options};
use super::test_args::filters;
use crate::cli::{self, ListArgs};
use crate::error::UsageError;

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
    /// `-n`: the workers a run's plan (and its split files) is made for.
    pub workers: usize,
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
            dist: args.dist.unwrap_or_default(),
            workers: match args.workers {
                cli::NumWorkers::Count(n) => n,
                cli::NumWorkers::Auto => {
                    std::thread::available_parallelism().map_or(1, |n| n.get())
                }
            },
            json: args.message_format == cli::MessageFormat::Json,
            groups,
            partition,
            durations_file,
        })
    }
}
