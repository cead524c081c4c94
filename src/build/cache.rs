//! `cargo metadata --no-deps` of an earlier run, kept in
//! `<target dir>/xdist/metadata.json` with what it was made from: the
//! command line's manifest path, target dir and flags, the directory and
//! the variables that move the target dir, and the size and modification
//! time of the workspace's manifests. While all of these are the same,
//! cargo would say the same, and the run skips it. The target dir is
//! known before cargo runs only when `--target-dir`, `CARGO_TARGET_DIR` or
//! `CARGO_BUILD_TARGET_DIR` gives it, or it is the workspace root's
//! `target`; a target dir set in cargo's config files is not cached.
//!
//! Whatever the files say, the build's own messages have the last word:
//! [`super::build`] runs `cargo metadata` after all when a built package
//! or executable is not where the cached metadata says.

use std::os::unix::fs::MetadataExt;

use camino::{Utf8Path, Utf8PathBuf};
use cargo_metadata::Metadata;
use serde::{Deserialize, Serialize};

use crate::config::BuildOptions;

/// Bumped when an entry's layout or meaning changes.
const VERSION: u32 = 1;

/// Variables that change what `cargo metadata` reports.
const VARS: &[&str] = &["CARGO", "CARGO_TARGET_DIR", "CARGO_BUILD_TARGET_DIR"];

/// What the metadata was made from, besides the manifests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Inputs {
    version: u32,
    cwd: Utf8PathBuf,
    manifest_path: Option<String>,
    target_dir: Option<String>,
    flags: [bool; 3],
    vars: Vec<(String, Option<String>)>,
}

/// One manifest as it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp {
    path: Utf8PathBuf,
    size: u64,
    mtime_ns: i128,
}

impl Stamp {
    fn of(path: &Utf8Path) -> Option<Stamp> {
        let m = fs_err::metadata(path).ok()?;
        Some(Stamp {
            path: path.to_path_buf(),
            size: m.size(),
            mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
        })
    }
}

#[derive(Serialize, Deserialize)]
struct Entry {
    inputs: Inputs,
    manifests: Vec<Stamp>,
    metadata: Metadata,
}

/// Where one build's metadata is cached, if it can be.
#[derive(Debug)]
pub struct MetadataCache {
    inputs: Inputs,
    /// The target dir expected before cargo runs; None: unknown.
    target_dir: Option<Utf8PathBuf>,
}

impl MetadataCache {
    pub fn new(b: &BuildOptions) -> Self {
        let cwd = std::env::current_dir()
            .ok()
            .and_then(|c| Utf8PathBuf::from_path_buf(c).ok())
            .unwrap_or_default();
        let vars: Vec<(String, Option<String>)> = VARS
            .iter()
            .map(|v| (v.to_string(), std::env::var(v).ok()))
            .collect();
        let from_env = vars[1..].iter().find_map(|(_, v)| v.clone());
        let target_dir = match b.target_dir.clone().or(from_env) {
            Some(d) => Some(cwd.join(d)),
            None => {
                crate::config::file::workspace_root(b.manifest_path.as_deref(), cwd.as_std_path())
                    .and_then(|r| Utf8PathBuf::from_path_buf(r).ok())
                    .map(|r| r.join("target"))
            }
        };
        MetadataCache {
            inputs: Inputs {
                version: VERSION,
                cwd,
                manifest_path: b.manifest_path.clone(),
                target_dir: b.target_dir.clone(),
                flags: [b.locked, b.offline, b.frozen],
                vars,
            },
            target_dir,
        }
    }

    fn file(&self) -> Option<Utf8PathBuf> {
        let dir = self.target_dir.as_ref()?;
        Some(dir.join("xdist").join("metadata.json"))
    }

    /// The cached metadata, if it was made from the same inputs and no
    /// manifest of the workspace changed since.
    pub fn load(&self) -> Option<Metadata> {
        let text = fs_err::read(self.file()?).ok()?;
        let entry: Entry = serde_json::from_slice(&text).ok()?;
        let same = entry.inputs == self.inputs
            && entry
                .manifests
                .iter()
                .all(|s| Stamp::of(&s.path).as_ref() == Some(s));
        same.then_some(entry.metadata)
    }

    /// Keep `metadata` for the next run, when the build's target dir
    /// (`target_dir`) is the one the next run will look in; a cache that
    /// cannot be written costs the next run a `cargo metadata`, no more.
    pub fn store(&self, metadata: &Metadata, target_dir: &Utf8Path) {
        let Some(file) = self.file() else {
            return;
        };
        if self.target_dir.as_deref() != Some(target_dir) {
            return;
        }
        let mut paths = vec![metadata.workspace_root.join("Cargo.toml")];
        paths.extend(
            metadata
                .workspace_packages()
                .iter()
                .map(|p| p.manifest_path.clone()),
        );
        let Some(manifests) = paths.iter().map(|p| Stamp::of(p)).collect() else {
            return;
        };
        let entry = Entry {
            inputs: self.inputs.clone(),
            manifests,
            metadata: metadata.clone(),
        };
        let _ = write_json(&file, &entry);
    }
}

/// Write `value` as JSON to `file` atomically (a reader sees the old
/// content or the new), creating its directory.
pub fn write_json(file: &Utf8Path, value: &impl Serialize) -> anyhow::Result<()> {
    crate::scratch::write_json(file, value, 0o600, crate::scratch::Json::Compact)
}
