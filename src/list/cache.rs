//! Listings cached by binary, under `<target dir>/xdist/list-cache/`: one
//! file per test binary, named after it, holding its tests as the binary
//! listed them. An entry is used only while the binary is the same file
//! with the same content and would be listed in the same environment:
//! same device, inode, size, modification and change times (a rebuild
//! writes a new file; `touch` changes the times), and the same variables
//! (a test binary may list differently under another environment; the
//! shell's own bookkeeping variables do not count). A binary that could
//! not be listed is never cached. Beside a binary's listing, whether its
//! libtest writes verdicts to `--logfile` ([`ListCache::logfile_probe`]).

use std::hash::{Hash, Hasher};
use std::os::unix::fs::MetadataExt;

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use serde::{Deserialize, Serialize};

use super::TestCase;
use crate::build::TestBinary;

/// Bumped when an entry's layout or meaning changes.
const VERSION: u32 = 1;

/// Variables a shell changes between two runs of the same command, and
/// rustup's bookkeeping: the count of its own proxies (one more under
/// `cargo xdist` than when a cargo alias or a script started it) and why
/// it chose the toolchain (`RUSTUP_TOOLCHAIN` itself still counts).
const VOLATILE_VARS: &[&str] = &[
    "_",
    "OLDPWD",
    "PWD",
    "SHLVL",
    "RUST_RECURSION_COUNT",
    "RUSTUP_TOOLCHAIN_SOURCE",
];

/// What makes a cached listing valid for a binary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Key {
    version: u32,
    path: Utf8PathBuf,
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
    /// A hash of the variables the listing process gets.
    env: u64,
}

/// A cached value of a binary, valid while its key is.
#[derive(Serialize, Deserialize)]
struct Entry<T> {
    key: Key,
    #[serde(flatten)]
    value: T,
}

/// A binary's listing.
#[derive(Serialize, Deserialize)]
struct Cases {
    cases: Vec<TestCase>,
}

/// A binary's answer to the logfile probe.
#[derive(Serialize, Deserialize)]
struct Probe {
    logfile: bool,
}

/// The cache directory of one build.
#[derive(Debug, Clone)]
pub struct ListCache {
    dir: Utf8PathBuf,
}

impl ListCache {
    /// The cache under `target_dir`.
    pub fn new(target_dir: &Utf8Path) -> Self {
        ListCache {
            dir: target_dir.join("xdist").join("list-cache"),
        }
    }

    /// The binary's listing: the cached one if still valid, else `list`'s,
    /// which is then cached (a cache that cannot be written costs nothing
    /// but the next run's listing).
    pub fn get_or_list(
        &self,
        binary: &TestBinary,
        list: impl FnOnce() -> Result<Vec<TestCase>>,
    ) -> Result<Vec<TestCase>> {
        let Some(key) = key(binary) else {
            return list();
        };
        let file = self.file(binary, "json");
        if let Some(Cases { cases }) = read(&file, &key) {
            return Ok(cases);
        }
        let value = Cases { cases: list()? };
        let entry = Entry { key, value };
        let _ = crate::build::cache::write_json(&file, &entry);
        Ok(entry.value.cases)
    }

    /// Keep `cases` as the binary's listing, as it is now (an archive's
    /// listings, for its extracted binaries).
    pub fn put(&self, binary: &TestBinary, cases: Vec<TestCase>) -> Result<()> {
        let key = key(binary).context("the binary cannot be read")?;
        let entry = Entry {
            key,
            value: Cases { cases },
        };
        crate::build::cache::write_json(&self.file(binary, "json"), &entry)
    }

    /// Whether the binary's libtest writes verdicts to `--logfile`: the
    /// cached answer while the binary is the same (see the module docs),
    /// else `probe`'s (answer, whether to keep it), then kept if so.
    pub fn logfile_probe(&self, binary: &TestBinary, probe: impl FnOnce() -> (bool, bool)) -> bool {
        let Some(key) = key(binary) else {
            return probe().0;
        };
        let file = self.file(binary, "logfile.json");
        if let Some(Probe { logfile }) = read(&file, &key) {
            return logfile;
        }
        let (logfile, keep) = probe();
        if keep {
            let value = Probe { logfile };
            let _ = crate::build::cache::write_json(&file, &Entry { key, value });
        }
        logfile
    }

    /// The binary's cache file ending in `ext`.
    fn file(&self, binary: &TestBinary, ext: &str) -> Utf8PathBuf {
        let name = binary.path.file_name().unwrap_or("binary");
        self.dir.join(format!("{name}.{ext}"))
    }
}

/// The key of `binary` as it is now; None when it cannot be read.
fn key(binary: &TestBinary) -> Option<Key> {
    let meta = fs_err::metadata(&binary.path).ok()?;
    let mut vars: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| !VOLATILE_VARS.contains(&k.as_str()))
        .collect();
    vars.sort();
    let mut hasher = std::hash::DefaultHasher::new();
    (&vars, &binary.env, &binary.manifest_dir).hash(&mut hasher);
    // Whether the listing writes a coverage profile is part of its
    // environment too; not where (a new private directory every run).
    binary.profile.is_some().hash(&mut hasher);
    let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
    Some(Key {
        version: VERSION,
        path: binary.path.clone(),
        dev: meta.dev(),
        ino: meta.ino(),
        size: meta.size(),
        mtime_ns: ns(meta.mtime(), meta.mtime_nsec()),
        ctime_ns: ns(meta.ctime(), meta.ctime_nsec()),
        env: hasher.finish(),
    })
}

/// The cached value, if the entry is there and its key is `key`.
fn read<T: serde::de::DeserializeOwned>(file: &Utf8Path, key: &Key) -> Option<T> {
    let text = fs_err::read(file).ok()?;
    let entry: Entry<T> = serde_json::from_slice(&text).ok()?;
    (entry.key == *key).then_some(entry.value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::list::CaseKind;

    fn binary(dir: &Utf8Path) -> TestBinary {
        let path = dir.join("t-0123");
        std::fs::write(&path, "first build").unwrap();
        TestBinary {
            id: "p".into(),
            package: "p".into(),
            target_name: "p".into(),
            kind: "lib".into(),
            path,
            manifest_dir: dir.to_path_buf(),
            src_path: dir.join("src/lib.rs"),
            custom_harness: false,
            env: vec![],
            profile: None,
        }
    }

    fn case(name: &str) -> TestCase {
        TestCase {
            binary: 0,
            name: name.into(),
            ignored: false,
            source_path: Some("src/lib.rs".into()),
            line: Some(3),
            kind: CaseKind::Libtest,
        }
    }

    #[test]
    fn a_rebuilt_binary_is_listed_again() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Utf8Path::from_path(tmp.path()).unwrap();
        let cache = ListCache::new(&dir.join("target"));
        let b = binary(dir);
        let listed = std::cell::Cell::new(0);
        let list = |names: &'static [&'static str]| {
            listed.set(listed.get() + 1);
            Ok(names.iter().map(|n| case(n)).collect())
        };
        let names = |r: Result<Vec<TestCase>>| -> Vec<String> {
            r.unwrap().into_iter().map(|c| c.name).collect()
        };
        assert_eq!(names(cache.get_or_list(&b, || list(&["a"]))), ["a"]);
        assert_eq!(
            names(cache.get_or_list(&b, || list(&["changed"]))),
            ["a"],
            "a hit"
        );
        assert_eq!(listed.get(), 1);
        // A new file in its place, as the linker writes one.
        std::fs::remove_file(&b.path).unwrap();
        std::fs::write(&b.path, "second build!").unwrap();
        assert_eq!(
            names(cache.get_or_list(&b, || list(&["b"]))),
            ["b"],
            "a miss"
        );
        assert_eq!(listed.get(), 2);
        // Another environment for the binary.
        let mut other = b.clone();
        other.env.push(("BOOM".into(), "1".into()));
        assert_eq!(names(cache.get_or_list(&other, || list(&["c"]))), ["c"]);
        // A listing that fails is an error, and replaces no entry.
        assert!(
            cache
                .get_or_list(&b, || anyhow::bail!("cannot list"))
                .is_err()
        );
        assert_eq!(names(cache.get_or_list(&other, || list(&["x"]))), ["c"]);
    }

    #[test]
    fn the_logfile_probe_is_asked_once_per_build_and_kept_only_when_whole() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Utf8Path::from_path(tmp.path()).unwrap();
        let cache = ListCache::new(&dir.join("target"));
        let b = binary(dir);
        let asked = std::cell::Cell::new(0);
        let probe = |answer: (bool, bool)| {
            asked.set(asked.get() + 1);
            answer
        };
        // A probe that did not finish answers this run only.
        assert!(!cache.logfile_probe(&b, || probe((false, false))));
        assert!(cache.logfile_probe(&b, || probe((true, true))));
        assert!(cache.logfile_probe(&b, || probe((false, true))), "a hit");
        assert_eq!(asked.get(), 2);
        // A rebuilt binary is asked again.
        std::fs::remove_file(&b.path).unwrap();
        std::fs::write(&b.path, "second build!").unwrap();
        assert!(!cache.logfile_probe(&b, || probe((false, true))));
        assert_eq!(asked.get(), 3);
    }
}
