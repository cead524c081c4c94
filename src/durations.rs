//! The duration store: how long each test and each group took in recent
//! runs, kept in `<target dir>/xdist/durations.json` (or `--durations-file
//! PATH`), so that the next run hands out the longest work first and CI
//! shards balance by time.
//!
//! Nothing is keyed by the hashed executable: a test is its binary's
//! `package::kind/target` and its libtest name, a group the same binary key
//! and the rest of its group key (`src/math.rs`), so both survive rebuilds.
//! Each value is a moving average over the last [`WINDOW`] runs that ran it.
//! The store is bounded: what no run has touched for [`MAX_AGE`] runs goes,
//! and at most [`MAX_ENTRIES`] entries stay (the most recently seen).
//!
//! A run updates only what it ran: an interrupted or filtered run leaves
//! every other entry alone. [`record`] writes the file atomically
//! (a temporary file renamed over it) under a lock, merged into what the
//! file holds then, so concurrent runs on one target directory lose nothing.
//!
//! CI shards each start from one restored store and each record what they
//! ran; [`merge_files`] (`cargo xdist durations merge`) folds their files
//! into the store one run of the whole suite would have left ([`merge`]
//! has the rule). Each store carries a lineage, a random id given when it
//! is first written and kept by every run and merge after, so that a merge
//! can tell files that grew from one store (whose run numbers count on one
//! clock) from files that did not.

use std::collections::{BTreeMap, HashMap};

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use serde::{Deserialize, Serialize};

use crate::scratch::Json;

/// Runs a moving average spans.
pub const WINDOW: u32 = 5;
/// Runs after which an entry that no run has touched is dropped.
pub const MAX_AGE: u64 = 50;
/// Most entries (tests and groups) the file keeps.
pub const MAX_ENTRIES: usize = 200_000;
/// The file format's version.
const VERSION: u32 = 1;

/// Where the store lives: `explicit` (`--durations-file`), else
/// `<target_dir>/xdist/durations.json` (the build's target directory).
pub fn path(explicit: Option<&Utf8Path>, target_dir: &Utf8Path) -> Utf8PathBuf {
    match explicit {
        Some(p) => p.to_path_buf(),
        None => target_dir.join("xdist").join("durations.json"),
    }
}

/// The stable key of a test binary: `package::kind/target`.
pub fn binary_key(package: &str, kind: &str, target: &str) -> String {
    format!("{package}::{kind}/{target}")
}

/// The stable key of a package's doctests.
pub fn doc_key(package: &str) -> String {
    format!("{package}::doc")
}

/// One recorded time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Moving average, in seconds.
    pub secs: f64,
    /// Samples in the average (at most [`WINDOW`]).
    pub samples: u32,
    /// The store's run number when it was last updated.
    pub run: u64,
    /// Groups only: how many tests the group had.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub tests: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Entry {
    fn update(entry: Option<Entry>, secs: f64, run: u64, tests: usize) -> Entry {
        match entry {
            // A group of another size is another group: start again.
            Some(e) if e.tests == tests => {
                let samples = (e.samples + 1).min(WINDOW);
                Entry {
                    secs: e.secs + (secs - e.secs) / f64::from(samples),
                    samples,
                    run,
                    tests,
                }
            }
            _ => Entry {
                secs,
                samples: 1,
                run,
                tests,
            },
        }
    }
}

/// What the store knows of one binary.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BinaryTimes {
    /// Test name → its time.
    #[serde(default)]
    pub tests: BTreeMap<String, Entry>,
    /// Group key without the binary id (`src/math.rs`; `` for a whole
    /// binary) → its wall time and size.
    #[serde(default)]
    pub groups: BTreeMap<String, Entry>,
}

/// The store's contents, as in the file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Durations {
    pub version: u32,
    /// Runs recorded so far.
    pub runs: u64,
    /// The store's id, given when it was first written (none in files of
    /// older releases): see [`merge`].
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub lineage: String,
    /// Binary key → its times.
    pub binaries: BTreeMap<String, BinaryTimes>,
}

impl Durations {
    /// Read the store at `path`. A missing file is an empty store; one that
    /// cannot be read is too, with a warning (it is rewritten after the run).
    pub fn load(path: &Utf8Path) -> (Durations, Option<String>) {
        match read(path) {
            Ok(d) => (d.unwrap_or_default(), None),
            Err(e) if e.is::<Newer>() => (
                Durations::default(),
                Some(format!(
                    "ignoring the durations file {path}: {e:#}; the run leaves it as it is"
                )),
            ),
            Err(e) => (
                Durations::default(),
                Some(format!(
                    "ignoring the durations file {path} ({e:#}); the run rewrites it"
                )),
            ),
        }
    }

    pub fn binary(&self, key: &str) -> Option<&BinaryTimes> {
        self.binaries.get(key)
    }

    /// Whether no time is recorded at all.
    pub fn is_empty(&self) -> bool {
        self.binaries
            .values()
            .all(|b| b.tests.is_empty() && b.groups.is_empty())
    }

    /// Fold one run's measurements in, as run number `runs + 1`.
    fn apply(&mut self, run: &Measured) {
        self.version = VERSION;
        if self.lineage.is_empty() {
            self.lineage = uuid::Uuid::new_v4().simple().to_string();
        }
        self.runs += 1;
        let now = self.runs;
        for ((binary, name), secs) in &run.tests {
            let b = self.binaries.entry(binary.clone()).or_default();
            let old = b.tests.get(name).copied();
            b.tests
                .insert(name.clone(), Entry::update(old, *secs, now, 0));
        }
        for ((binary, rest), (secs, tests)) in &run.groups {
            let b = self.binaries.entry(binary.clone()).or_default();
            let old = b.groups.get(rest).copied();
            b.groups
                .insert(rest.clone(), Entry::update(old, *secs, now, *tests));
        }
        self.prune();
    }

    /// Drop what no run touched for [`MAX_AGE`] runs, then the oldest
    /// entries beyond [`MAX_ENTRIES`].
    fn prune(&mut self) {
        let oldest = self.runs.saturating_sub(MAX_AGE);
        for b in self.binaries.values_mut() {
            b.tests.retain(|_, e| e.run > oldest);
            b.groups.retain(|_, e| e.run > oldest);
        }
        let mut runs: Vec<u64> = (self.binaries.values())
            .flat_map(|b| b.tests.values().chain(b.groups.values()).map(|e| e.run))
            .collect();
        if runs.len() > MAX_ENTRIES {
            runs.sort_unstable_by(|a, b| b.cmp(a));
            // Keep entries newer than the cut, then fill up at the cut.
            let cut = runs[MAX_ENTRIES - 1];
            let mut room = MAX_ENTRIES - runs.iter().filter(|&&r| r > cut).count();
            for b in self.binaries.values_mut() {
                for map in [&mut b.tests, &mut b.groups] {
                    map.retain(|_, e| {
                        if e.run > cut {
                            true
                        } else if e.run == cut && room > 0 {
                            room -= 1;
                            true
                        } else {
                            false
                        }
                    });
                }
            }
        }
        self.binaries
            .retain(|_, b| !b.tests.is_empty() || !b.groups.is_empty());
    }
}

/// Merge stores that CI shards recorded into the one a single run of the
/// whole suite would have left: per binary, for each test and each group,
/// the entry updated most recently wins; `runs` is the highest; then the
/// store's bounds apply (as after a run).
///
/// "Most recently" compares run numbers. Shards that started from one
/// store (one lineage) count their runs on one clock: the base's last run
/// is B in every file, each shard's runs are B+1, B+2, ..., so what a shard
/// ran beats the base's copy that another shard kept, whatever the number
/// of runs each shard made. Files of different lineages (one shard's
/// restore missed and it began empty, or files of unrelated stores) count
/// on different clocks: each lineage's numbers are shifted so that its
/// highest `runs` is the highest of all, that is every file's latest run
/// counts as happening now. On a tie the later file wins. The result keeps
/// the lineage of the first file with the highest `runs`.
pub fn merge(files: &[Durations]) -> Durations {
    let runs = files.iter().map(|f| f.runs).max().unwrap_or(0);
    let mut latest: HashMap<&str, u64> = HashMap::new();
    for f in files {
        let top = latest.entry(f.lineage.as_str()).or_default();
        *top = (*top).max(f.runs);
    }
    let mut out = Durations {
        version: VERSION,
        runs,
        lineage: (files.iter().find(|f| f.runs == runs))
            .map(|f| f.lineage.clone())
            .unwrap_or_default(),
        binaries: BTreeMap::new(),
    };
    for f in files {
        let shift = runs - latest[f.lineage.as_str()];
        // An entry never claims a run its file has not counted.
        let at = |e: &Entry| Entry {
            run: e.run.min(f.runs) + shift,
            ..*e
        };
        for (key, b) in &f.binaries {
            let o = out.binaries.entry(key.clone()).or_default();
            for (into, from) in [(&mut o.tests, &b.tests), (&mut o.groups, &b.groups)] {
                for (name, e) in from {
                    let e = at(e);
                    if into.get(name).is_none_or(|old| old.run <= e.run) {
                        into.insert(name.clone(), e);
                    }
                }
            }
        }
    }
    out.prune();
    out
}

/// What [`merge_files`] made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Merged {
    pub files: usize,
    pub tests: usize,
    pub groups: usize,
    pub runs: u64,
}

impl std::fmt::Display for Merged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "merged {} durations files: {} tests, {} groups, {} runs",
            self.files, self.tests, self.groups, self.runs
        )
    }
}

/// `cargo xdist durations merge`: read every input (one that is missing,
/// unreadable or of another format version is a usage error naming it),
/// [`merge`] them and write the result to `out` atomically, readable as
/// a run writes the store.
pub fn merge_files(inputs: &[impl AsRef<Utf8Path>], out: &Utf8Path) -> Result<Merged> {
    let files = (inputs.iter().map(AsRef::as_ref))
        .map(|path| match read(path) {
            Ok(Some(d)) => Ok(d),
            Ok(None) => Err(anyhow::anyhow!("no such file")),
            Err(e) => Err(e),
        }
        .map_err(|e| {
            crate::error::UsageError(format!(
                "cannot merge the durations file {path}: {e:#}; give files that `cargo xdist` recorded"
            ))
        }))
        .collect::<Result<Vec<_>, _>>()?;
    let merged = merge(&files);
    crate::scratch::write_json(out, &merged, 0o644, Json::Compact)?;
    let count = |f: fn(&BinaryTimes) -> usize| merged.binaries.values().map(f).sum();
    Ok(Merged {
        files: files.len(),
        tests: count(|b| b.tests.len()),
        groups: count(|b| b.groups.len()),
        runs: merged.runs,
    })
}

/// `cargo xdist durations`: the store at `path`, its age and runs, then
/// its groups and its tests, each slowest first (at most `limit` of each).
/// A missing or unreadable store is a usage error naming it.
pub fn show(path: &Utf8Path, limit: Option<usize>) -> Result<String> {
    let store = match read(path) {
        Ok(Some(d)) => d,
        Ok(None) => {
            return Err(crate::error::UsageError(format!(
                "no durations recorded at {path}; a run records them there (or pass --durations-file)"
            ))
            .into());
        }
        Err(e) => {
            return Err(crate::error::UsageError(format!(
                "cannot read the durations file {path}: {e:#}"
            ))
            .into());
        }
    };
    let age = (fs_err::metadata(path).ok())
        .and_then(|m| m.modified().ok())
        .and_then(|t| t.elapsed().ok())
        .map_or("unknown age".to_string(), |d| {
            let secs = std::time::Duration::from_secs(d.as_secs());
            format!("written {} ago", humantime::format_duration(secs))
        });
    let runs = match store.runs {
        1 => "1 run".to_string(),
        n => format!("{n} runs"),
    };
    let mut out = format!("Durations in {path} ({age}, {runs} recorded)\n");
    let limit = limit.unwrap_or(usize::MAX);
    let mut groups: Vec<(f64, String)> = Vec::new();
    let mut tests: Vec<(f64, String)> = Vec::new();
    for (binary, times) in &store.binaries {
        for (rest, e) in &times.groups {
            let name = if rest.is_empty() {
                binary.clone()
            } else {
                format!("{binary} {rest}")
            };
            groups.push((e.secs, format!("{name} ({} tests)", e.tests)));
        }
        for (name, e) in &times.tests {
            tests.push((e.secs, format!("{binary} {name}")));
        }
    }
    for (title, mut rows) in [("Groups", groups), ("Tests", tests)] {
        rows.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        out.push_str(&format!("\n{title} ({}), slowest first:\n", rows.len()));
        for (secs, name) in rows.iter().take(limit) {
            out.push_str(&format!("  {secs:>9.3}s {name}\n"));
        }
    }
    Ok(out)
}

/// A store that a newer cargo-xdist wrote: read by none of this one's
/// commands, and never overwritten.
#[derive(Debug, thiserror::Error)]
#[error(
    "a newer cargo-xdist wrote it (format version {0}, this one reads {VERSION}); upgrade cargo-xdist or give another --durations-file"
)]
pub struct Newer(pub u32);

/// The file's contents; `None` when there is no file.
fn read(path: &Utf8Path) -> Result<Option<Durations>> {
    let Some(text) = crate::scratch::read_if_exists(path)? else {
        return Ok(None);
    };
    #[derive(Deserialize)]
    struct Version {
        version: Option<u32>,
    }
    // A newer release may change every other field: its version first.
    if let Ok(Version { version: Some(v) }) = serde_json::from_str(&text) {
        if v > VERSION {
            return Err(Newer(v).into());
        }
    }
    let d: Durations = serde_json::from_str(&text).context("not a durations file")?;
    if d.version != VERSION {
        anyhow::bail!("format version {} is not {VERSION}", d.version);
    }
    Ok(Some(d))
}

/// One run's measurements, by stable keys: what [`record`] folds into the
/// store.
#[derive(Debug, Default)]
pub struct Measured {
    /// (binary key, test name) → seconds.
    pub tests: HashMap<(String, String), f64>,
    /// (binary key, group rest) → (wall seconds, tests).
    pub groups: HashMap<(String, String), (f64, usize)>,
}

/// Fold one run's measurements into the store at `path`: under a lock,
/// read what is there now, add this run, write a temporary file and rename
/// it over the old one.
pub fn record(path: &Utf8Path, run: &Measured) -> Result<()> {
    let _lock = crate::scratch::lock(&lock_path(path))?;
    let mut store = match read(path) {
        // Left as it is; loading it has warned.
        Err(e) if e.is::<Newer>() => return Ok(()),
        other => other.ok().flatten().unwrap_or_default(),
    };
    store.apply(run);
    // Readable as the target directory's other files are (a CI cache).
    crate::scratch::write_json(path, &store, 0o644, Json::Compact)
}

/// The lock file beside the store.
fn lock_path(path: &Utf8Path) -> Utf8PathBuf {
    let mut p = path.as_str().to_string();
    p.push_str(".lock");
    Utf8PathBuf::from(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_average_moves_over_the_last_runs() {
        let mut e = None;
        for run in 1..=20 {
            e = Some(Entry::update(e, if run <= 10 { 1.0 } else { 2.0 }, run, 0));
        }
        let e = e.unwrap();
        assert_eq!(e.samples, WINDOW);
        // Each run past the window moves the average 1/WINDOW of the way.
        let expected = 2.0 - (1.0 - 1.0 / f64::from(WINDOW)).powi(10);
        assert!((e.secs - expected).abs() < 1e-9, "{e:?}, want {expected}");
    }

    #[test]
    fn a_run_updates_only_what_it_ran_and_old_entries_age_out() {
        let mut d = Durations::default();
        let one = |name: &str| Measured {
            tests: [(("k".to_string(), name.to_string()), 1.0)].into(),
            groups: HashMap::new(),
        };
        d.apply(&one("old"));
        d.apply(&one("new"));
        assert_eq!(d.binaries["k"].tests["old"].run, 1);
        assert_eq!(d.binaries["k"].tests["new"].run, 2);
        for _ in 0..MAX_AGE {
            d.apply(&one("new"));
        }
        assert!(!d.binaries["k"].tests.contains_key("old"));
        assert!(d.binaries["k"].tests.contains_key("new"));
    }

    #[test]
    fn the_store_is_bounded() {
        let mut d = Durations::default();
        let mut m = Measured::default();
        for i in 0..MAX_ENTRIES + 10 {
            m.tests.insert(("k".into(), format!("t{i}")), 1.0);
        }
        d.apply(&m);
        assert_eq!(d.binaries["k"].tests.len(), MAX_ENTRIES);
    }

    /// One run's measurements: tests of binary `k`, and one group.
    fn ran(tests: &[(&str, f64)], group: Option<(&str, f64, usize)>) -> Measured {
        Measured {
            tests: (tests.iter())
                .map(|&(n, secs)| (("k".to_string(), n.to_string()), secs))
                .collect(),
            groups: (group.iter())
                .map(|&(g, secs, n)| (("k".to_string(), g.to_string()), (secs, n)))
                .collect(),
        }
    }

    /// A store of some history: a, b in src/ab.rs, c, d in src/cd.rs.
    fn base() -> Durations {
        let mut d = Durations::default();
        for i in 0..7 {
            let t = f64::from(i);
            d.apply(&ran(
                &[("a", t), ("b", t), ("c", t)],
                Some(("src/ab.rs", t, 2)),
            ));
        }
        d.apply(&ran(&[("d", 9.0)], None));
        d
    }

    fn after(mut d: Durations, runs: &[Measured]) -> Durations {
        runs.iter().for_each(|r| d.apply(r));
        d
    }

    #[test]
    fn shards_of_one_store_merge_into_what_one_full_run_records() {
        let base = base();
        let one = ran(&[("a", 1.5), ("b", 2.5)], Some(("src/ab.rs", 4.0, 2)));
        let two = ran(&[("c", 0.5), ("d", 3.0)], Some(("src/cd.rs", 3.5, 2)));
        let mut full = ran(&[("a", 1.5), ("b", 2.5), ("c", 0.5), ("d", 3.0)], None);
        full.groups.extend(one.groups.clone());
        full.groups.extend(two.groups.clone());
        let full = after(base.clone(), &[full]);
        let shards = [after(base.clone(), &[one]), after(base.clone(), &[two])];
        for files in [shards.clone(), [shards[1].clone(), shards[0].clone()]] {
            assert_eq!(merge(&files), full, "whatever the order");
        }
        // Merging a store with itself, or with its base, changes nothing.
        assert_eq!(merge(&[full.clone(), full.clone()]), full);
        assert_eq!(merge(&[full.clone(), base.clone()]), full);
        assert_eq!(merge(&[base.clone(), full.clone()]), full);
    }

    #[test]
    fn a_shard_that_ran_more_often_still_loses_what_it_did_not_run() {
        let base = base();
        let one = after(
            base.clone(),
            &[ran(&[("a", 10.0)], None), ran(&[("a", 20.0)], None)],
        );
        let two = after(base.clone(), &[ran(&[("c", 30.0)], None)]);
        let m = merge(&[one.clone(), two.clone()]);
        assert_eq!(m.runs, base.runs + 2);
        let k = &m.binaries["k"];
        assert_eq!(k.tests["a"], one.binaries["k"].tests["a"]);
        assert_eq!(
            k.tests["c"], two.binaries["k"].tests["c"],
            "the base's copy in `one` is older"
        );
        assert_eq!(k.tests["b"], base.binaries["k"].tests["b"]);
        assert_eq!(m.lineage, base.lineage);
    }

    #[test]
    fn files_of_other_stores_count_their_latest_run_as_now() {
        // A store older than MAX_AGE runs, and a shard whose restore missed.
        let mut old = base();
        for _ in 0..MAX_AGE {
            old.apply(&ran(&[("a", 1.0)], None));
        }
        let restored = after(old.clone(), &[ran(&[("a", 2.0)], None)]);
        let fresh = after(
            Durations::default(),
            &[ran(&[("b", 7.0), ("new", 8.0)], None)],
        );
        assert_ne!(fresh.lineage, restored.lineage);
        let m = merge(&[restored.clone(), fresh.clone()]);
        assert_eq!(m.runs, restored.runs);
        assert_eq!(m.lineage, restored.lineage);
        let k = &m.binaries["k"];
        assert_eq!(k.tests["a"], restored.binaries["k"].tests["a"]);
        // The fresh shard's times are as recent as the other's last run:
        // they win, and are not dropped as if 50 runs old.
        for name in ["b", "new"] {
            let e = k.tests[name];
            assert_eq!(
                (e.secs, e.run),
                (fresh.binaries["k"].tests[name].secs, m.runs),
                "{name}"
            );
        }
        // On one clock, the same entries would have been the oldest.
        let mut same = fresh.clone();
        same.lineage = restored.lineage.clone();
        let m = merge(&[restored.clone(), same]);
        assert!(!m.binaries["k"].tests.contains_key("new"), "{m:?}");
    }

    #[test]
    fn a_tie_goes_to_the_later_file_and_the_merge_is_bounded() {
        let base = base();
        let one = after(base.clone(), &[ran(&[("a", 100.0)], None)]);
        let two = after(base.clone(), &[ran(&[("a", 200.0)], None)]);
        let a = |d: &Durations| d.binaries["k"].tests["a"];
        assert_eq!(a(&merge(&[one.clone(), two.clone()])), a(&two));
        assert_eq!(a(&merge(&[two.clone(), one.clone()])), a(&one));
        // An old file's entries age out against the newest file's count.
        let mut newer = base.clone();
        for _ in 0..MAX_AGE {
            newer.apply(&ran(&[("a", 1.0)], None));
        }
        let m = merge(&[base.clone(), newer]);
        assert_eq!(m.binaries["k"].tests.keys().collect::<Vec<_>>(), ["a"]);
        assert!(m.binaries["k"].groups.is_empty());
    }

    #[test]
    fn merge_files_names_a_bad_input_and_writes_a_readable_store() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = |n: &str| Utf8PathBuf::from_path_buf(dir.path().join(n)).unwrap();
        let good = p("good.json");
        crate::scratch::write_json(&good, &base(), 0o600, Json::Compact).unwrap();
        let (want, _) = Durations::load(&good);
        std::fs::write(p("bad.json"), "{not json").unwrap();
        std::fs::write(p("v2.json"), r#"{"version":2,"runs":1,"binaries":{}}"#).unwrap();
        for bad in ["bad.json", "v2.json", "missing.json"] {
            let err = merge_files(&[good.clone(), p(bad)], &p("out.json")).unwrap_err();
            assert_eq!(
                crate::error::exit_code(&err),
                crate::error::EXIT_USAGE,
                "{err:#}"
            );
            let msg = format!("{err:#}");
            assert!(msg.contains(bad) && !msg.contains('\n'), "{msg}");
            assert!(!p("out.json").exists(), "nothing written after {bad}");
        }
        let out = p("sub/out.json");
        let m = merge_files(&[good.clone(), good.clone()], &out).unwrap();
        assert_eq!((m.files, m.tests, m.groups, m.runs), (2, 4, 1, want.runs));
        assert_eq!(Durations::load(&out), (want, None));
        let mode = std::fs::metadata(&out).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644, "{mode:o}");
    }
}
