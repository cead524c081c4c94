//! The environment `cargo test` gives a test process at run time: package
//! metadata, build-script output, and a dynamic library path that finds
//! the dylibs (std's too, asked of rustc once per toolchain).

use camino::{Utf8Path, Utf8PathBuf};
use cargo_metadata::Package;
use std::collections::BTreeMap;

use super::cargo_program;

/// Build script results we need at run time, per package.
#[derive(Default)]
pub(super) struct ScriptOutput {
    pub(super) out_dir: Option<Utf8PathBuf>,
    pub(super) env: Vec<(String, String)>,
    pub(super) linked_paths: Vec<Utf8PathBuf>,
}

/// [`rustc_target_libdir`] asked on a thread of its own, joined when it is
/// dropped, so no rustc outlives the build on any path.
pub(super) struct LibdirQuery {
    pub(super) asked: Option<std::thread::JoinHandle<Option<String>>>,
    /// The target directory, where the answer is kept.
    pub(super) target_dir: Utf8PathBuf,
}

impl LibdirQuery {
    pub(super) fn start(&mut self) {
        if self.asked.is_none() {
            let target_dir = self.target_dir.clone();
            self.asked = Some(std::thread::spawn(move || {
                rustc_target_libdir(Some(&target_dir))
            }));
        }
    }

    pub(super) fn join(&mut self) -> Option<String> {
        self.asked.take()?.join().ok().flatten()
    }
}

impl Drop for LibdirQuery {
    fn drop(&mut self) {
        self.join();
    }
}

/// `rustc --print target-libdir`: where std's dylib lives (needed by
/// `-C prefer-dynamic` builds and proc-macro crates' tests), as cargo adds
/// it to the dylib path. Kept under `target_dir` per rustc binary (see
/// [`crate::toolchain::print_cached`]); a kept directory that is gone is
/// asked again.
pub fn rustc_target_libdir(target_dir: Option<&Utf8Path>) -> Option<String> {
    let cache = target_dir.map(|t| t.join("xdist").join("rustc.json"));
    let question = ["--print", "target-libdir"];
    let libdir = crate::toolchain::print_cached(cache.as_deref(), &question)?;
    if Utf8Path::new(&libdir).is_dir() {
        return Some(libdir);
    }
    crate::toolchain::print_cached(None, &question)
}

/// The environment cargo gives a test process (see cargo's
/// `Compilation::fill_env`): package metadata, OUT_DIR and build-script
/// variables, and a dynamic library path that finds dylib dependencies.
pub(super) fn runtime_env(
    pkg: &Package,
    target_name: &str,
    exe: &Utf8Path,
    target_dir: &Utf8Path,
    script: Option<&ScriptOutput>,
    sysroot_lib: Option<&str>,
) -> Vec<(String, String)> {
    let mut env = BTreeMap::new();
    let mut set = |k: &str, v: String| {
        env.insert(k.to_string(), v);
    };
    let v = &pkg.version;
    set("CARGO", cargo_program());
    set(
        "CARGO_MANIFEST_DIR",
        pkg.manifest_path
            .parent()
            .map(|p| p.to_string())
            .unwrap_or_default(),
    );
    set("CARGO_MANIFEST_PATH", pkg.manifest_path.to_string());
    set("CARGO_PKG_NAME", pkg.name.to_string());
    set("CARGO_PKG_VERSION", v.to_string());
    set("CARGO_PKG_VERSION_MAJOR", v.major.to_string());
    set("CARGO_PKG_VERSION_MINOR", v.minor.to_string());
    set("CARGO_PKG_VERSION_PATCH", v.patch.to_string());
    set("CARGO_PKG_VERSION_PRE", v.pre.to_string());
    set("CARGO_PKG_AUTHORS", pkg.authors.join(":"));
    set(
        "CARGO_PKG_DESCRIPTION",
        pkg.description.clone().unwrap_or_default(),
    );
    set(
        "CARGO_PKG_HOMEPAGE",
        pkg.homepage.clone().unwrap_or_default(),
    );
    set(
        "CARGO_PKG_REPOSITORY",
        pkg.repository.clone().unwrap_or_default(),
    );
    set("CARGO_PKG_LICENSE", pkg.license.clone().unwrap_or_default());
    set(
        "CARGO_PKG_LICENSE_FILE",
        pkg.license_file
            .as_ref()
            .map(|p| p.to_string())
            .unwrap_or_default(),
    );
    set(
        "CARGO_PKG_RUST_VERSION",
        pkg.rust_version
            .as_ref()
            .map(|p| p.to_string())
            .unwrap_or_default(),
    );
    set(
        "CARGO_PKG_README",
        pkg.readme
            .as_ref()
            .map(|p| p.to_string())
            .unwrap_or_default(),
    );
    set("CARGO_CRATE_NAME", target_name.replace('-', "_"));

    let mut dylib_dirs: Vec<String> = Vec::new();
    if let Some(s) = script {
        if let Some(out) = &s.out_dir {
            set("OUT_DIR", out.to_string());
        }
        for (k, val) in &s.env {
            set(k, val.clone());
        }
        for p in &s.linked_paths {
            if p.starts_with(target_dir) {
                dylib_dirs.push(p.to_string());
            }
        }
    }
    if let Some(deps) = exe.parent() {
        dylib_dirs.push(deps.to_string());
        if let Some(profile_dir) = deps.parent() {
            dylib_dirs.push(profile_dir.to_string());
        }
    }
    if let Some(lib) = sysroot_lib {
        dylib_dirs.push(lib.to_string());
    }
    let var = dylib_path_var();
    if let Ok(existing) = std::env::var(var) {
        dylib_dirs.extend(
            existing
                .split(':')
                .filter(|s| !s.is_empty())
                .map(String::from),
        );
    }
    set(var, dylib_dirs.join(":"));
    env.into_iter().collect()
}

/// The variable that lists directories of dynamic libraries.
pub fn dylib_path_var() -> &'static str {
    if cfg!(target_os = "macos") {
        "DYLD_FALLBACK_LIBRARY_PATH"
    } else {
        "LD_LIBRARY_PATH"
    }
}
