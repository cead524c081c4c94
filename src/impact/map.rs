//! The impact map: for every recorded test, the functions it executed,
//! kept as source spans (file, first line, last line) with the tests that
//! ran each; the tree it was recorded on ([`super::tree`]); and the key of
//! the build (toolchain, target, features, flags) it holds for. Stored as
//! JSON under `target/xdist/impact.json`; shard maps merge.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result, bail, ensure};
use camino::{Utf8Path, Utf8PathBuf};
use serde::{Deserialize, Serialize};

use super::tree::Tree;

/// Bumped when an older cargo-xdist could not read the map.
pub const VERSION: u32 = 1;

/// A test, as results name it.
pub type TestKey = (String, String);

/// Where a map is kept by default: beside the other records of the
/// workspace's target directory.
pub fn default_path(target_directory: &Utf8Path) -> Utf8PathBuf {
    target_directory.join("xdist").join("impact.json")
}

/// One function (all its instances: a generic's monomorphizations, a
/// function's copies in several binaries) in one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    pub start: u32,
    pub end: u32,
    /// Runs at compile time too (`const fn`): a change in it may change
    /// constants that no counter sees, so it widens the selection.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub compile_time: bool,
    /// Indices into [`ImpactMap::tests`] of the tests that executed it.
    pub tests: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImpactMap {
    pub version: u32,
    /// What the instrumented build was made with; a build with another
    /// key may run other code, so the map does not hold for it.
    pub key: String,
    /// `git rev-parse HEAD` when recorded (informational: the tree below
    /// is what changes are measured against).
    #[serde(default)]
    pub commit: Option<String>,
    /// Seconds since the epoch.
    pub recorded_at: u64,
    /// Every test recorded: it passed, in a process of its own, and its
    /// profile was read. Tests not here are new to the map and always run.
    pub tests: Vec<TestKey>,
    /// The workspace's files when recorded.
    pub files: Tree,
    /// Workspace-relative file → its functions' spans, sorted.
    pub spans: BTreeMap<String, Vec<Span>>,
}

impl ImpactMap {
    /// Read the map at `path`; Ok(None) when there is none.
    pub fn load(path: &Utf8Path) -> Result<Option<ImpactMap>> {
        let Some(text) = crate::scratch::read_if_exists(path)? else {
            return Ok(None);
        };
        #[derive(Deserialize)]
        struct Version {
            version: u32,
        }
        let v: Version =
            serde_json::from_str(&text).with_context(|| format!("{path} is not an impact map"))?;
        ensure!(
            v.version <= VERSION,
            "{path} was written by a newer cargo-xdist (impact map version {}; this one reads {VERSION}): update cargo-xdist or record the map again",
            v.version
        );
        let map =
            serde_json::from_str(&text).with_context(|| format!("{path} is not an impact map"))?;
        Ok(Some(map))
    }

    /// Write the map to `path` (atomically, its directory created).
    pub fn save(&self, path: &Utf8Path) -> Result<()> {
        crate::scratch::write_json(path, self, 0o644, crate::scratch::Json::Compact)
    }

    /// The map of all of `maps` (shards of one run, recorded on one tree
    /// and build): their tests together, each span's tests together.
    pub fn merge(maps: Vec<ImpactMap>) -> Result<ImpactMap> {
        let mut maps = maps.into_iter();
        let mut out = maps.next().context("no impact maps to merge")?;
        for (i, map) in maps.enumerate() {
            if map.key != out.key {
                bail!(
                    "impact map {} was recorded with another toolchain, target, features or flags than the first; record all shards with one build",
                    i + 2
                );
            }
            if map.files != out.files {
                let differ = (map.files.keys().chain(out.files.keys()))
                    .find(|f| map.files.get(*f) != out.files.get(*f))
                    .cloned()
                    .unwrap_or_default();
                bail!(
                    "impact map {} was recorded on another tree than the first ({differ} differs); record all shards on one commit",
                    i + 2
                );
            }
            out.recorded_at = out.recorded_at.max(map.recorded_at);
            let mut index: BTreeMap<TestKey, u32> = (out.tests.iter().cloned()).zip(0..).collect();
            let renumber: Vec<u32> = (map.tests.iter())
                .map(|t| {
                    let next = index.len() as u32;
                    *index.entry(t.clone()).or_insert_with(|| {
                        out.tests.push(t.clone());
                        next
                    })
                })
                .collect();
            for (file, spans) in map.spans {
                let mine = out.spans.entry(file).or_default();
                for span in spans {
                    let tests = span.tests.iter().map(|&t| renumber[t as usize]);
                    match mine.binary_search_by_key(&(span.start, span.end), |s| (s.start, s.end)) {
                        Ok(at) => {
                            let s = &mut mine[at];
                            s.compile_time |= span.compile_time;
                            let all: BTreeSet<u32> = s.tests.iter().copied().chain(tests).collect();
                            s.tests = all.into_iter().collect();
                        }
                        Err(at) => {
                            let mut tests: Vec<u32> = tests.collect();
                            tests.sort_unstable();
                            mine.insert(at, Span { tests, ..span });
                        }
                    }
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(tests: &[&str], spans: &[(u32, u32, &[u32])]) -> ImpactMap {
        ImpactMap {
            version: VERSION,
            key: "k".into(),
            commit: None,
            recorded_at: 1,
            tests: tests.iter().map(|t| ("b".into(), t.to_string())).collect(),
            files: Tree::new(),
            spans: BTreeMap::from([(
                "src/lib.rs".to_string(),
                spans
                    .iter()
                    .map(|&(start, end, t)| Span {
                        start,
                        end,
                        compile_time: false,
                        tests: t.to_vec(),
                    })
                    .collect(),
            )]),
        }
    }

    #[test]
    fn shards_merge_tests_and_spans() {
        let a = map(&["t1", "t2"], &[(1, 5, &[0]), (7, 9, &[1])]);
        let b = map(&["t3", "t1"], &[(1, 5, &[0, 1]), (3, 4, &[0])]);
        let m = ImpactMap::merge(vec![a, b]).unwrap();
        let names: Vec<&str> = m.tests.iter().map(|t| t.1.as_str()).collect();
        assert_eq!(names, ["t1", "t2", "t3"]);
        let spans: Vec<(u32, u32, Vec<u32>)> = m.spans["src/lib.rs"]
            .iter()
            .map(|s| (s.start, s.end, s.tests.clone()))
            .collect();
        assert_eq!(
            spans,
            [(1, 5, vec![0, 2]), (3, 4, vec![2]), (7, 9, vec![1])]
        );
    }

    #[test]
    fn shards_of_other_builds_or_trees_do_not_merge() {
        let mut b = map(&["t"], &[]);
        b.key = "other".into();
        let err = ImpactMap::merge(vec![map(&["t"], &[]), b]).unwrap_err();
        assert!(err.to_string().contains("another toolchain"), "{err}");
        let mut c = map(&["t"], &[]);
        c.files.insert(
            "src/lib.rs".into(),
            super::super::tree::FileState::of(Utf8Path::new("src/lib.rs"), b"x"),
        );
        let err = ImpactMap::merge(vec![map(&["t"], &[]), c]).unwrap_err();
        assert!(err.to_string().contains("src/lib.rs differs"), "{err}");
    }

    #[test]
    fn a_newer_map_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = Utf8Path::from_path(dir.path()).unwrap().join("impact.json");
        assert!(ImpactMap::load(&path).unwrap().is_none());
        std::fs::write(&path, r#"{"version": 99}"#).unwrap();
        let err = ImpactMap::load(&path).unwrap_err().to_string();
        assert!(err.contains("newer cargo-xdist"), "{err}");
    }
}
