//! The build stage's entry point, [`build`]: cargo's metadata (or an
//! earlier run's, [`super::cache`]), then the compile, then the test
//! executables assembled with their package data and run-time
//! environment.

use std::collections::HashMap;

use anyhow::Result;
use camino::{Utf8Path, Utf8PathBuf};
use cargo_metadata::{Metadata, Package, PackageId};

use super::cargo::{Compiled, compile, metadata};
use super::doc::doc_packages;
use super::runtime_env::runtime_env;
use super::{BuildOutput, TestBinary, cache};
use crate::config::BuildOptions;
use crate::coverage::instrument::cargo_instrumentation;
use crate::error::UsageError;

/// Run the build; on success return the test executables. `cargo
/// metadata` goes first (not alongside: a workspace cargo cannot read would
/// then be reported twice): its failure is a usage error. An earlier
/// run's metadata replaces it while the workspace's manifests are
/// unchanged ([`cache`]); if the build then names a package or a target
/// dir it does not know, cargo is asked after all.
///
/// With `coverage` (the profile pattern of cargo's build scripts, and
/// every binary's [`TestBinary::profile`], which [`crate::env`] sets as
/// `LLVM_PROFILE_FILE` unless a worker or process has its own), the tests
/// are built instrumented, in their own target directory.
pub fn build(b: &BuildOptions, coverage: Option<&str>) -> Result<BuildOutput> {
    let cache = cache::MetadataCache::new(b);
    let cached = cache.load();
    let from_cache = cached.is_some();
    let mut meta = match cached {
        Some(meta) => meta,
        None => metadata(b)?,
    };
    // The user's target dir (absolute, for comparing with cargo's paths).
    let user_target = |meta: &Metadata| match &b.target_dir {
        Some(d) => std::env::current_dir()
            .ok()
            .and_then(|cwd| Utf8PathBuf::from_path_buf(cwd).ok())
            .map_or_else(|| Utf8PathBuf::from(d), |cwd| cwd.join(d)),
        None => meta.target_directory.clone(),
    };
    let mut target = user_target(&meta);
    // This program, as the instrumented build's workspace rustc wrapper.
    let wrapper = std::env::current_exe()
        .ok()
        .and_then(|p| p.into_os_string().into_string().ok());
    let instrumentation = coverage
        .map(|_| cargo_instrumentation(&target, &|k| std::env::var(k).ok(), wrapper.as_deref()));
    // Whether the last build needed std's libdir: then rustc is asked for
    // it from the start, beside cargo's whole freshness check.
    let marker = target.join("xdist").join("std-libdir-wanted");
    let wanted = marker.exists();
    let compiled = compile(b, instrumentation.as_ref(), coverage, wanted, &target)
        .map_err(|e| unknown_package(e, b, &meta))?;
    // A marker that cannot be written or removed costs the next run's time only.
    if compiled.std_libdir.is_some() && !wanted {
        let _ = cache::write_json(&marker, &true);
    } else if compiled.std_libdir.is_none() && wanted {
        let _ = fs_err::remove_file(&marker);
    }
    if !from_cache || !describes(&meta, &compiled, &target) {
        if from_cache {
            meta = metadata(b)?;
            target = user_target(&meta);
        }
        cache.store(&meta, &target);
    }
    let target_dir = instrumentation
        .as_ref()
        .map_or(target.clone(), |i| i.target_dir.clone());
    let mut out = assemble(&meta, &target_dir, compiled);
    out.target_dir = target_dir;
    out.target_directory = target;
    for binary in &mut out.binaries {
        binary.profile = coverage.map(String::from);
    }
    if b.doc {
        out.doc_packages = doc_packages(b, &meta);
    }
    out.instrumentation = instrumentation;
    Ok(out)
}

/// Whether `meta` knows every package the build built, and every
/// executable is under `target_dir`, where the build was to go.
fn describes(meta: &Metadata, compiled: &Compiled, target_dir: &Utf8Path) -> bool {
    let known: std::collections::HashSet<&PackageId> =
        meta.packages.iter().map(|p| &p.id).collect();
    let exes = compiled
        .artifacts
        .iter()
        .filter_map(|a| a.executable.as_ref());
    compiled
        .artifacts
        .iter()
        .all(|a| known.contains(&a.package_id))
        && exes
            .chain(&compiled.other_executables)
            .all(|e| e.starts_with(target_dir))
}

/// The test executables with their package data and run-time environment.
fn assemble(meta: &Metadata, target_dir: &Utf8Path, compiled: Compiled) -> BuildOutput {
    let Compiled {
        artifacts,
        other_executables,
        bins,
        scripts,
        std_libdir: sysroot_lib,
        dylibs,
    } = compiled;
    let packages: HashMap<&PackageId, &Package> =
        meta.packages.iter().map(|p| (&p.id, p)).collect();

    let mut binaries = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for art in artifacts {
        let exe = art.executable.clone().expect("filtered on executable");
        if !seen.insert(exe.clone()) {
            continue;
        }
        let Some(pkg) = packages.get(&art.package_id) else {
            continue;
        };
        let kind = art
            .target
            .kind
            .first()
            .map(|k| k.to_string())
            .unwrap_or_else(|| "lib".into());
        let id = if kind == "lib"
            || kind == "proc-macro"
            || kind == "rlib"
            || kind == "dylib"
            || kind == "cdylib"
        {
            pkg.name.to_string()
        } else {
            format!("{}::{}/{}", pkg.name, kind, art.target.name)
        };
        let manifest_dir = pkg
            .manifest_path
            .parent()
            .map(Utf8Path::to_path_buf)
            .unwrap_or_default();
        let custom_harness =
            manifest_declares_no_harness(&pkg.manifest_path, &kind, &art.target.name);
        let script = scripts.get(&art.package_id);
        let mut env = runtime_env(
            pkg,
            &art.target.name,
            &exe,
            target_dir,
            script,
            sysroot_lib.as_deref(),
        );
        // As cargo (1.94 and later) at run time, and at compile time for
        // `env!`: integration tests and benchmarks find their package's
        // binaries. An archive remaps these paths like the others.
        if kind == "test" || kind == "bench" {
            for (name, path) in bins.get(&art.package_id).into_iter().flatten() {
                env.push((format!("CARGO_BIN_EXE_{name}"), path.to_string()));
            }
            env.sort();
        }
        binaries.push(TestBinary {
            id,
            package: pkg.name.to_string(),
            target_name: art.target.name.clone(),
            kind,
            path: exe,
            manifest_dir,
            src_path: art.target.src_path.clone(),
            custom_harness,
            env,
            profile: None,
        });
    }
    binaries.sort_by(|a, b| a.id.cmp(&b.id));
    BuildOutput {
        binaries,
        workspace_root: meta.workspace_root.clone(),
        other_executables,
        dylibs,
        compile_time_dirs: compile_time_dirs(meta),
        packages: workspace_packages(meta),
        ..Default::default()
    }
}

/// The workspace's packages (metadata without dependencies lists only
/// them) and the workspace packages each depends on.
fn workspace_packages(meta: &Metadata) -> Vec<super::WorkspacePackage> {
    let names: std::collections::HashSet<&str> =
        meta.packages.iter().map(|p| p.name.as_str()).collect();
    let mut out: Vec<super::WorkspacePackage> = (meta.packages.iter())
        .map(|p| super::WorkspacePackage {
            name: p.name.to_string(),
            dir: (p.manifest_path.parent())
                .and_then(|d| d.strip_prefix(&meta.workspace_root).ok())
                .map_or_else(String::new, |d| d.to_string()),
            deps: (p.dependencies.iter())
                .filter(|d| d.path.is_some() && names.contains(d.name.as_str()))
                .map(|d| d.name.clone())
                .collect(),
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The workspace packages whose code runs when other code is compiled:
/// proc-macro crates, build-dependencies of a workspace package, and the
/// workspace packages those depend on; as directories relative to the
/// workspace root. Their functions' changes reach code no test counter
/// sees, so an impact map treats them as it treats a `const fn`.
fn compile_time_dirs(meta: &Metadata) -> Vec<String> {
    use cargo_metadata::DependencyKind;
    let by_name: HashMap<&str, &Package> =
        meta.packages.iter().map(|p| (p.name.as_str(), p)).collect();
    let mut todo: Vec<&Package> = meta
        .packages
        .iter()
        .filter(|p| p.targets.iter().any(|t| t.is_proc_macro()))
        .collect();
    for p in &meta.packages {
        for d in p
            .dependencies
            .iter()
            .filter(|d| d.kind == DependencyKind::Build)
        {
            todo.extend(by_name.get(d.name.as_str()).filter(|_| d.path.is_some()));
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    while let Some(p) = todo.pop() {
        if !seen.insert(p.name.as_str()) {
            continue;
        }
        for d in p
            .dependencies
            .iter()
            .filter(|d| d.kind == DependencyKind::Normal)
        {
            todo.extend(by_name.get(d.name.as_str()).filter(|_| d.path.is_some()));
        }
    }
    let mut dirs: Vec<String> = seen
        .iter()
        .filter_map(|name| {
            let dir = by_name[name].manifest_path.parent()?;
            Some(dir.strip_prefix(&meta.workspace_root).ok()?.to_string())
        })
        .collect();
    dirs.sort();
    dirs
}

/// Whether Cargo.toml declares `harness = false` for this target. Cargo's
/// messages and metadata do not carry the flag, so read the manifest.
fn manifest_declares_no_harness(manifest: &Utf8Path, kind: &str, name: &str) -> bool {
    let Ok(text) = fs_err::read_to_string(manifest) else {
        return false;
    };
    let Ok(doc) = text.parse::<toml::Table>() else {
        return false;
    };
    let section = match kind {
        "lib" => return no_harness(doc.get("lib")),
        "bin" => "bin",
        "test" => "test",
        "example" => "example",
        "bench" => "bench",
        _ => return false,
    };
    let Some(targets) = doc.get(section).and_then(|v| v.as_array()) else {
        return false;
    };
    targets.iter().any(|t| {
        let declared = t
            .get("name")
            .and_then(|n| n.as_str())
            .map(String::from)
            .or_else(|| {
                t.get("path")
                    .and_then(|p| p.as_str())
                    .and_then(|p| Utf8Path::new(p).file_stem().map(String::from))
            });
        declared.is_some_and(|n| n == name || n.replace('-', "_") == name) && no_harness(Some(t))
    })
}

fn no_harness(t: Option<&toml::Value>) -> bool {
    t.and_then(|t| t.get("harness")).and_then(|h| h.as_bool()) == Some(false)
}

/// A build that cargo stopped before compiling while `-p` names a package
/// that is not a workspace member: cargo has said why (no such package);
/// that is a usage error (exit 2), not a failed build (101). A dependency
/// named by `-p` is not a member either, so only a build that compiled
/// nothing counts.
fn unknown_package(e: anyhow::Error, b: &BuildOptions, meta: &Metadata) -> anyhow::Error {
    if e.downcast_ref::<super::cargo::BeforeCompiling>().is_none() {
        return e;
    }
    let member = |spec: &str| {
        let name = spec.split('@').next().unwrap_or(spec);
        meta.workspace_packages()
            .iter()
            .any(|p| p.name.as_str() == name)
    };
    match b.package.iter().find(|spec| !member(spec)) {
        Some(spec) => UsageError(format!(
            "-p {spec}: no such package in the workspace (see cargo's error above); check the name with `cargo metadata` or the workspace's Cargo.toml"
        ))
        .into(),
        None => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_harness_false_from_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let m = Utf8PathBuf::from_path_buf(dir.path().join("Cargo.toml")).unwrap();
        fs_err::write(
            &m,
            "[package]\nname='x'\n[[test]]\nname='custom'\nharness=false\n[[test]]\nname='plain'\n",
        )
        .unwrap();
        assert!(manifest_declares_no_harness(&m, "test", "custom"));
        assert!(!manifest_declares_no_harness(&m, "test", "plain"));
        assert!(!manifest_declares_no_harness(&m, "lib", "x"));
    }
}
