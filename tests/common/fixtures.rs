//! Where the fixture workspaces are, and copies of them.

use std::path::{Path, PathBuf};

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture_dir(name: &str) -> PathBuf {
    repo_root().join("fixtures").join(name)
}

pub fn fixture_manifest(name: &str) -> String {
    fixture_dir(name)
        .join("Cargo.toml")
        .to_string_lossy()
        .into_owned()
}

/// A new temporary directory (named `prefix...`) holding a copy of each
/// named fixture, side by side as under `fixtures/` (so path
/// dependencies such as `../record` still resolve).
pub fn fixture_copies(prefix: &str, names: &[&str]) -> tempfile::TempDir {
    let tmp = tempfile::Builder::new().prefix(prefix).tempdir().unwrap();
    for name in names {
        copy_tree(&fixture_dir(name), &tmp.path().join(name));
    }
    tmp
}

/// Copy a directory tree, leaving out `target` directories.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if entry.file_type().unwrap().is_dir() {
            if entry.file_name() != "target" {
                copy_tree(&src, &dst);
            }
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

/// The one target directory shared by every fixture build.
pub fn fixture_target_dir() -> PathBuf {
    repo_root().join("target").join("fixture-target")
}

/// A package directory of a fixture, canonicalized (what `getcwd` reports).
pub fn package_dir(fixture: &str, package: &str) -> PathBuf {
    let p = if package.is_empty() {
        fixture_dir(fixture)
    } else {
        fixture_dir(fixture).join(package)
    };
    std::fs::canonicalize(&p).unwrap_or_else(|e| panic!("cannot canonicalize {}: {e}", p.display()))
}
