//! Fast start: listings cached by binary under `<target>/xdist/list-cache/`
//! and `cargo metadata` cached in `<target>/xdist/metadata.json`, each
//! used only while what it was made from is unchanged.
//!
//! The tests work on a copy of `fixtures/archive` (and `record`) in a
//! temporary directory, with its own target directory, and run with a
//! fixed environment (a listing is cached for one environment).

mod common;

use std::path::PathBuf;

use common::*;

struct Copy {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    target: PathBuf,
    records: PathBuf,
}

impl Copy {
    fn new() -> Copy {
        let tmp = fixture_copies("xdist-cache-", &["archive", "record"]);
        let root = tmp.path().join("archive");
        let (target, records) = (tmp.path().join("target"), tmp.path().join("records"));
        Copy {
            _tmp: tmp,
            root,
            target,
            records,
        }
    }

    /// `cargo xdist [SUB] --manifest-path COPY ARGS`, in a fixed environment.
    fn xdist(&self, sub: Option<&str>, args: &[&str]) -> Run {
        self.xdist_with(sub, args, &[])
    }

    /// The same, with `vars` added to the environment.
    fn xdist_with(&self, sub: Option<&str>, args: &[&str], vars: &[(&str, &str)]) -> Run {
        let manifest = self.root.join("Cargo.toml");
        let mut all: Vec<&str> = sub.into_iter().collect();
        all.extend(["--manifest-path", manifest.to_str().unwrap()]);
        all.extend_from_slice(args);
        let mut cmd = xdist(&all)
            .env("CARGO_TARGET_DIR", self.target.to_str().unwrap())
            .env("XDIST_FIXTURE_RECORD", self.records.to_str().unwrap());
        for (k, v) in vars {
            cmd = cmd.env(k, v);
        }
        cmd.run()
    }

    fn listed(&self) -> Vec<String> {
        let run = self.xdist(Some("list"), &["--message-format", "json"]);
        run.assert_code(0);
        let json: serde_json::Value = serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("not JSON: {e}{}", run.ctx()));
        let tests = json["tests"].as_array().expect("tests").iter();
        tests
            .map(|t| t["name"].as_str().unwrap().to_string())
            .collect()
    }

    /// The cache entry of the library's unit-test binary.
    fn lib_entry(&self) -> PathBuf {
        let dir = self.target.join("xdist/list-cache");
        let entries: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("no cache at {}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .starts_with("archived-")
            })
            .collect();
        assert_eq!(entries.len(), 1, "{entries:?}");
        entries.into_iter().next().unwrap()
    }
}

#[test]
fn a_cached_listing_is_used_until_the_binary_is_rebuilt() {
    let copy = Copy::new();
    let first = copy.listed();
    assert!(
        first.contains(&"tests::fails_on_purpose".to_string()),
        "{first:?}"
    );
    // Plant a test only the cache knows: an unchanged binary is not asked.
    let entry = copy.lib_entry();
    let text = std::fs::read_to_string(&entry).unwrap();
    let planted = text.replace("tests::fails_on_purpose", "tests::only_in_the_cache");
    assert_ne!(text, planted, "the entry holds the listing");
    std::fs::write(&entry, planted).unwrap();
    let cached = copy.listed();
    assert!(
        cached.contains(&"tests::only_in_the_cache".to_string()),
        "a hit: {cached:?}"
    );

    // Rebuilt with one more test: listed again, the planted name gone.
    let lib = copy.root.join("src/lib.rs");
    let source = std::fs::read_to_string(&lib).unwrap();
    std::fs::write(
        &lib,
        source.replace(
            "    #[test]\n    #[ignore]",
            "    #[test]\n    fn added_after_the_first_listing() {}\n\n    #[test]\n    #[ignore]",
        ),
    )
    .unwrap();
    let relisted = copy.listed();
    assert!(
        relisted.contains(&"tests::added_after_the_first_listing".to_string()),
        "{relisted:?}"
    );
    assert!(
        !relisted.contains(&"tests::only_in_the_cache".to_string()),
        "{relisted:?}"
    );
    assert!(
        relisted.contains(&"tests::fails_on_purpose".to_string()),
        "{relisted:?}"
    );

    // Plant the name in the cache entry again (the rebuild above replaced it).
    let plant = || {
        let text = std::fs::read_to_string(&entry).unwrap();
        std::fs::write(
            &entry,
            text.replace("fails_on_purpose", "only_in_the_cache"),
        )
        .unwrap();
    };
    // rustup's bookkeeping (the count of its proxies, one more under
    // `cargo xdist` than when a script ran it, and why it chose the
    // toolchain) is not the listing's environment: a hit.
    plant();
    let bookkeeping = [
        ("RUST_RECURSION_COUNT", "7"),
        ("RUSTUP_TOOLCHAIN_SOURCE", "env"),
    ];
    let run = copy.xdist_with(Some("list"), &[], &bookkeeping);
    run.assert_code(0);
    assert!(run.stdout.contains("only_in_the_cache"), "{}", run.ctx());

    // Another environment for the listing: asked again, too.
    plant();
    let run = copy.xdist_with(Some("list"), &[], &[("XDIST_CACHE_TEST_OTHER_ENV", "1")]);
    run.assert_code(0);
    assert!(
        run.stdout.contains("tests::fails_on_purpose") && !run.stdout.contains("only_in_the_cache"),
        "{}",
        run.ctx()
    );
}

#[test]
fn cached_metadata_follows_a_changed_manifest() {
    let copy = Copy::new();
    let description = |run: &Run| -> String {
        let records = read_records(&copy.records).unwrap_or_else(|e| panic!("{e}{}", run.ctx()));
        let v: Vec<&str> = records
            .iter()
            .filter_map(|r| r.name.strip_prefix("CARGO_PKG_DESCRIPTION="))
            .collect();
        v.last()
            .unwrap_or_else(|| panic!("no description record{}", run.ctx()))
            .to_string()
    };
    let run = copy.xdist(None, &["-n", "2"]);
    run.assert_summary(5, 1, 1);
    assert_eq!(description(&run), "archived fixture");
    let cached = copy.target.join("xdist/metadata.json");
    assert!(cached.is_file(), "the metadata was cached");
    let run = copy.xdist(None, &["-n", "2"]);
    run.assert_summary(5, 1, 1);

    let manifest = copy.root.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    // Not part of the package id: only the manifest's time tells.
    std::fs::write(
        &manifest,
        text.replace("archived fixture", "described again"),
    )
    .unwrap();
    std::fs::remove_dir_all(&copy.records).unwrap();
    let run = copy.xdist(None, &["-n", "2"]);
    run.assert_summary(5, 1, 1);
    assert_eq!(
        description(&run),
        "described again",
        "the runtime environment follows the manifest"
    );
}

/// Under `--coverage` every listing writes its profile into the run's own
/// new private directory: where is not part of the listing's key, so a
/// second run lists no binary again (each did, every run, before).
#[test]
fn coverage_runs_keep_their_listings_too() {
    let copy = Copy::new();
    let entries = || {
        // The instrumented build's own target directory holds its cache.
        let dir = copy.target.join("xdist-cov/xdist/list-cache");
        let mut all: Vec<(PathBuf, std::time::SystemTime)> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("no cache at {}: {e}", dir.display()))
            .map(|e| {
                let e = e.unwrap();
                (e.path(), e.metadata().unwrap().modified().unwrap())
            })
            .collect();
        all.sort();
        all
    };
    let run = copy.xdist(None, &["-n", "2", "--coverage"]);
    run.assert_summary(5, 1, 1);
    let first = entries();
    assert!(!first.is_empty(), "{}", run.ctx());
    let run = copy.xdist(None, &["-n", "2", "--coverage"]);
    run.assert_summary(5, 1, 1);
    assert_eq!(entries(), first, "a binary was listed again{}", run.ctx());
}
