//! `--partition KIND:K/N` and `--durations-file`: which shard runs, and
//! where recorded durations are kept.

use camino::Utf8PathBuf;

use crate::cli;
use crate::error::UsageError;

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

/// `--partition` and `--durations-file`, checked.
pub(super) fn schedule_options(
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

/// `cargo xdist durations`'s options with the config files' defaults:
/// the store (`--durations-file`, absolute), else the target dir and the
/// manifest that find it; and how many entries to show.
pub fn durations_store(mut args: cli::DurationsShowArgs) -> Result<DurationsShow, UsageError> {
    let argv = args.argv.take();
    let cwd = super::paths::cwd()?;
    let files = super::file::FileDefaults::load(args.manifest_path.as_deref(), &cwd)?;
    let args = files.apply(args, argv.as_deref())?.args;
    let file = args
        .durations_file
        .as_deref()
        .map(super::paths::absolute)
        .transpose()?;
    let target = args
        .target_dir
        .as_deref()
        .map(super::paths::absolute)
        .transpose()?;
    Ok((file, target, args.manifest_path, args.limit))
}

/// (store file, target dir, manifest path, limit) of `cargo xdist durations`.
pub type DurationsShow = (
    Option<Utf8PathBuf>,
    Option<Utf8PathBuf>,
    Option<String>,
    Option<usize>,
);

#[cfg(test)]
mod tests {
    use super::super::run::run_config;
    use super::*;

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
}
