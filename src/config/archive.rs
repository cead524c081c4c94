//! `cargo xdist archive` ([`ArchiveConfig::new`]) and running from an
//! archive (`--archive-file`, `--workspace-remap`).

use camino::Utf8PathBuf;

use super::file;
use super::options::BuildOptions;
use super::paths::{absolute, check_writable, cwd};
use crate::cli::{ArchiveArgs, BuildArgs, RunArgs};
use crate::error::UsageError;

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

/// The options that select archived binaries as they select what cargo
/// builds: `-p`, `--lib`, `--bin`, `--test`, `--example` (what a re-run
/// command names).
const SELECTION: &[&str] = &["package", "lib", "bin", "test", "example"];

/// Long names of the options that change what cargo builds (all of
/// [`BuildArgs`] but `--manifest-path`, which only finds the config, and
/// the [`SELECTION`]).
fn build_option_names() -> Vec<String> {
    use clap::Args;
    let cmd = BuildArgs::augment_args(clap::Command::new("build"));
    cmd.get_arguments()
        .filter_map(|a| a.get_long())
        .filter(|l| *l != "manifest-path" && !SELECTION.contains(l))
        .map(String::from)
        .collect()
}

/// `--archive-file` and `--workspace-remap`, checked: the archive runs its
/// binaries as they were built, without cargo.
pub(super) fn archive_source(
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
    if let Err(e) = fs_err::File::open(&file) {
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
