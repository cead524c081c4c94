//! Build stage: `cargo test --no-run --message-format=json-render-diagnostics`
//! → the test executables, each with the package data and environment that
//! `cargo test` would give it at run time.

pub mod cache;

use std::collections::{BTreeMap, HashMap};
use std::io::BufReader;
use std::process::{Command, Stdio};

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use cargo_metadata::{Message, Metadata, MetadataCommand, Package, PackageId};

use crate::config::BuildOptions;
use crate::coverage::instrument::{CargoInstrumentation, cargo_instrumentation};
use crate::error::{BuildFailed, UsageError};

/// One test executable produced by the build (serialized into archives).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TestBinary {
    /// Stable id: `package` for the library, `package::kind/name` otherwise.
    pub id: String,
    pub package: String,
    /// Target name (`api` for tests/api.rs).
    pub target_name: String,
    /// Target kind: lib, bin, test, example, bench, proc-macro.
    pub kind: String,
    /// The executable.
    pub path: Utf8PathBuf,
    /// The package root: tests run here, as under `cargo test`.
    pub manifest_dir: Utf8PathBuf,
    /// The target's root source file.
    pub src_path: Utf8PathBuf,
    /// True for `harness = false` targets: run as one unit, judged by exit code.
    pub custom_harness: bool,
    /// Environment `cargo test` sets for this binary (CARGO_PKG_*, OUT_DIR, dylib path, ...).
    pub env: Vec<(String, String)>,
    /// `--coverage`: the profile pattern of this binary's processes that
    /// are given none of their own (listing); set by this machine, so not
    /// archived. [`crate::env`] turns it into `LLVM_PROFILE_FILE`.
    #[serde(skip)]
    pub profile: Option<String>,
}

impl crate::env::Executable for TestBinary {
    fn program(&self) -> &str {
        self.path.as_str()
    }
    fn cwd(&self) -> &Utf8Path {
        &self.manifest_dir
    }
    fn cargo_env(&self) -> &[(String, String)] {
        &self.env
    }
    fn profile(&self) -> Option<&str> {
        self.profile.as_deref()
    }
}

/// A package whose doctests run as one unit (`--doc`), by `cargo test
/// --doc` with the user's package selection, only this package's rustdoc
/// let through.
#[derive(Debug, Clone)]
pub struct DocPackage {
    /// `package::doc`: the id its doctests are reported under.
    pub id: String,
    pub package: String,
    /// The package root: it tells this package's rustdoc from the others'.
    pub manifest_dir: Utf8PathBuf,
}

/// What the build produced.
#[derive(Debug, Default)]
pub struct BuildOutput {
    /// Sorted by id.
    pub binaries: Vec<TestBinary>,
    /// `--doc` only.
    pub doc_packages: Vec<DocPackage>,
    pub workspace_root: Utf8PathBuf,
    /// The workspace's target directory (`--target-dir`, else cargo's),
    /// not the coverage build's: cargo-xdist's own records go under it.
    pub target_directory: Utf8PathBuf,
    /// `--coverage`: how cargo was told to instrument (doctest runs use
    /// the same, so that they do not rebuild the library uninstrumented).
    pub instrumentation: Option<CargoInstrumentation>,
    /// The workspace's other executables the build produced (its bins,
    /// which tests run through `CARGO_BIN_EXE_*`): coverage objects too.
    pub other_executables: Vec<Utf8PathBuf>,
    /// The target directory the binaries were built in (the instrumented
    /// build's under `--coverage`; the extracted one for `--archive-file`).
    pub target_dir: Utf8PathBuf,
    /// Dynamic libraries the build produced (`dylib` and `cdylib` crates),
    /// which test binaries may load at run time.
    pub dylibs: Vec<Utf8PathBuf>,
    /// `--archive-file`: the directory the archive was extracted into,
    /// removed when the last holder drops it.
    pub extracted: Option<std::sync::Arc<tempfile::TempDir>>,
    /// `--archive-file`: where the archive was built, the paths its
    /// binaries' coverage maps name.
    pub built_at: Option<BuiltAt>,
}

impl BuildOutput {
    /// What the coverage report needs of this build.
    pub fn coverage_input(&self) -> crate::coverage::finish::Built {
        let binaries = self.binaries.iter().map(|b| b.path.clone());
        crate::coverage::finish::Built {
            workspace_root: self.workspace_root.clone(),
            target_dir: (self.instrumentation.as_ref()).map(|i| i.target_dir.clone()),
            built_at: (self.built_at.as_ref())
                .map(|at| (at.workspace_root.clone(), at.target_dir.clone())),
            objects: binaries
                .chain(self.other_executables.iter().cloned())
                .collect(),
        }
    }
}

/// The workspace root and target directory an archive was built at.
#[derive(Debug, Clone, Default)]
pub struct BuiltAt {
    pub workspace_root: Utf8PathBuf,
    pub target_dir: Utf8PathBuf,
}

/// The cargo executable: `$CARGO` when run as a cargo subcommand.
pub fn cargo_program() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string())
}

/// Arguments passed through to `cargo test --no-run`.
pub fn cargo_args(b: &BuildOptions) -> Vec<String> {
    let mut a = Vec::new();
    let flag = |a: &mut Vec<String>, on: bool, name: &str| {
        if on {
            a.push(name.to_string())
        }
    };
    let multi = |a: &mut Vec<String>, vals: &[String], name: &str| {
        for v in vals {
            a.push(name.to_string());
            a.push(v.clone());
        }
    };
    let opt = |a: &mut Vec<String>, val: &Option<String>, name: &str| {
        if let Some(v) = val {
            a.push(name.to_string());
            a.push(v.clone());
        }
    };
    multi(&mut a, &b.package, "--package");
    flag(&mut a, b.workspace, "--workspace");
    multi(&mut a, &b.exclude, "--exclude");
    flag(&mut a, b.lib, "--lib");
    flag(&mut a, b.bins, "--bins");
    multi(&mut a, &b.bin, "--bin");
    flag(&mut a, b.tests, "--tests");
    multi(&mut a, &b.test, "--test");
    flag(&mut a, b.examples, "--examples");
    multi(&mut a, &b.example, "--example");
    flag(&mut a, b.benches, "--benches");
    flag(&mut a, b.all_targets, "--all-targets");
    multi(&mut a, &b.features, "--features");
    flag(&mut a, b.all_features, "--all-features");
    flag(&mut a, b.no_default_features, "--no-default-features");
    flag(&mut a, b.release, "--release");
    opt(&mut a, &b.profile, "--profile");
    opt(&mut a, &b.target, "--target");
    opt(&mut a, &b.target_dir, "--target-dir");
    opt(&mut a, &b.manifest_path, "--manifest-path");
    flag(&mut a, b.locked, "--locked");
    flag(&mut a, b.offline, "--offline");
    flag(&mut a, b.frozen, "--frozen");
    opt(&mut a, &b.color, "--color");
    a
}

/// Workspace metadata (members only; fast).
pub fn metadata(b: &BuildOptions) -> Result<Metadata> {
    let mut cmd = MetadataCommand::new();
    cmd.cargo_path(cargo_program()).no_deps();
    if let Some(m) = &b.manifest_path {
        cmd.manifest_path(m);
    }
    let mut other = Vec::new();
    for (on, name) in [
        (b.locked, "--locked"),
        (b.offline, "--offline"),
        (b.frozen, "--frozen"),
    ] {
        if on {
            other.push(name.to_string());
        }
    }
    cmd.other_options(other);
    // A manifest cargo cannot read is a configuration error (exit 2).
    cmd.exec().map_err(|e| {
        let detail = match e {
            cargo_metadata::Error::CargoMetadata { stderr } => stderr
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .trim_start_matches("error: ")
                .to_string(),
            other => other.to_string(),
        };
        UsageError(format!(
            "cargo cannot read the workspace: {detail}; check --manifest-path or run from a cargo project"
        ))
        .into()
    })
}

/// Build script results we need at run time, per package.
#[derive(Default)]
struct ScriptOutput {
    out_dir: Option<Utf8PathBuf>,
    env: Vec<(String, String)>,
    linked_paths: Vec<Utf8PathBuf>,
}

/// Run the build; on success return the test executables. `cargo
/// metadata` goes first (not alongside: a workspace cargo cannot read would
/// then be reported twice): its failure is a usage error. An earlier
/// run's metadata replaces it while the workspace's manifests are
/// unchanged ([`cache`]); if the build then names a package or a target
/// dir it does not know, cargo is asked after all.
///
/// With `coverage` (the `LLVM_PROFILE_FILE` every binary gets unless a
/// worker sets its own), the tests are built instrumented, in their own
/// target directory.
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
    let instrumentation =
        coverage.map(|_| cargo_instrumentation(&target, &|k| std::env::var(k).ok()));
    // Whether the last build needed std's libdir: then rustc is asked for
    // it from the start, beside cargo's whole freshness check.
    let marker = target.join("xdist").join("std-libdir-wanted");
    let wanted = marker.exists();
    let compiled = compile(b, instrumentation.as_ref(), coverage, wanted)?;
    // A marker that cannot be written or removed costs the next run's time only.
    if compiled.std_libdir.is_some() && !wanted {
        let _ = cache::write_json(&marker, &true);
    } else if compiled.std_libdir.is_none() && wanted {
        let _ = std::fs::remove_file(&marker);
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

/// `--doc`: every selected package whose library has doctests.
fn doc_packages(b: &BuildOptions, meta: &Metadata) -> Vec<DocPackage> {
    let spec_name = |spec: &str| spec.split(['@', ':']).next().unwrap_or(spec).to_string();
    let members: Vec<&Package> = meta.workspace_packages();
    let selected: Vec<&Package> = if !b.package.is_empty() {
        let wanted: Vec<String> = b.package.iter().map(|s| spec_name(s)).collect();
        members
            .into_iter()
            .filter(|p| wanted.contains(&p.name.to_string()))
            .collect()
    } else if b.workspace {
        let excluded: Vec<String> = b.exclude.iter().map(|s| spec_name(s)).collect();
        members
            .into_iter()
            .filter(|p| !excluded.contains(&p.name.to_string()))
            .collect()
    } else if meta.workspace_default_members.is_available() {
        members
            .into_iter()
            .filter(|p| meta.workspace_default_members.contains(&p.id))
            .collect()
    } else {
        members
    };
    selected
        .into_iter()
        .filter(|pkg| {
            pkg.targets
                .iter()
                .any(|t| t.doctest && (t.is_lib() || t.is_proc_macro()))
        })
        .map(|pkg| DocPackage {
            id: format!("{}::doc", pkg.name),
            package: pkg.name.to_string(),
            manifest_dir: pkg
                .manifest_path
                .parent()
                .map(Utf8Path::to_path_buf)
                .unwrap_or_default(),
        })
        .collect()
}

/// The cargo arguments of every `cargo test --doc` run: the user's own
/// package selection (`-p`, `--workspace`, `--exclude`, or none) and build
/// options, as `cargo test` would get them. Cargo resolves features for
/// the selected packages together, so a package's doctests see the
/// features (and the build) another selected package turns on, as under
/// `cargo test`; `-p PKG` alone would resolve them anew, rebuilding the
/// library with fewer features (see [`crate::run::doctest`] for how one
/// package's doctests run alone). A relative path is made absolute; an
/// instrumented build's arguments come last (its target directory wins).
pub fn doc_cargo_args(b: &BuildOptions, build: &BuildOutput) -> Vec<String> {
    let absolute = |p: &String| match std::env::current_dir() {
        Ok(cwd) => cwd.join(p).to_string_lossy().into_owned(),
        Err(_) => p.clone(),
    };
    let only_these = BuildOptions {
        package: b.package.clone(),
        workspace: b.workspace,
        exclude: b.exclude.clone(),
        features: b.features.clone(),
        all_features: b.all_features,
        no_default_features: b.no_default_features,
        release: b.release,
        profile: b.profile.clone(),
        target: b.target.clone(),
        target_dir: match build.instrumentation {
            None => b.target_dir.as_ref().map(absolute),
            Some(_) => None,
        },
        manifest_path: b.manifest_path.as_ref().map(absolute),
        locked: b.locked,
        offline: b.offline,
        frozen: b.frozen,
        ..Default::default()
    };
    let mut args = cargo_args(&only_these);
    if let Some(i) = &build.instrumentation {
        args.extend(i.args.iter().cloned());
    }
    args
}

/// What `cargo test --no-run` reported.
struct Compiled {
    artifacts: Vec<cargo_metadata::Artifact>,
    /// Executables that are not tests (bins built for integration tests).
    other_executables: Vec<Utf8PathBuf>,
    /// Each package's `bin` targets among them: (name, executable).
    bins: HashMap<PackageId, Vec<(String, Utf8PathBuf)>>,
    scripts: HashMap<PackageId, ScriptOutput>,
    /// Test binaries of dylib and proc-macro crates link std dynamically:
    /// they need the toolchain's library directory, as cargo provides
    /// (None: no such crate was built, or rustc did not say).
    std_libdir: Option<String>,
    /// The `dylib` and `cdylib` crates' files.
    dylibs: Vec<Utf8PathBuf>,
}

/// `profile`: under `--coverage`, where the instrumented build scripts
/// write their profiles (not into the package directories as
/// `default_*.profraw`).
fn compile(
    b: &BuildOptions,
    instrumentation: Option<&CargoInstrumentation>,
    profile: Option<&str>,
    libdir_wanted: bool,
) -> Result<Compiled> {
    let mut cmd = Command::new(cargo_program());
    cmd.args([
        "test",
        "--no-run",
        "--message-format=json-render-diagnostics",
    ]);
    match instrumentation {
        None => cmd.args(cargo_args(b)),
        // Its own --target-dir (under the user's) replaces the user's.
        Some(_) => cmd.args(cargo_args(&BuildOptions {
            target_dir: None,
            ..b.clone()
        })),
    };
    if let Some(i) = instrumentation {
        cmd.args(&i.args);
        cmd.envs(i.env.iter().map(|(k, v)| (k, v)));
        crate::env::set_profile(&mut cmd, profile);
    }
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .stdin(Stdio::null());
    let mut child = cmd
        .spawn()
        .context("cannot run `cargo test --no-run`; is cargo on PATH?")?;
    let stdout = child.stdout.take().expect("piped stdout");

    let mut artifacts = Vec::new();
    let mut other_executables = Vec::new();
    let mut bins: HashMap<PackageId, Vec<(String, Utf8PathBuf)>> = HashMap::new();
    let mut scripts: HashMap<PackageId, ScriptOutput> = HashMap::new();
    // Asking rustc for std's libdir takes ~20 ms: it is asked from the
    // start when the last build needed it, else as soon as cargo names a
    // proc-macro or dylib crate (serde_derive and the like), while cargo
    // goes on checking the build; used only if this build needs it.
    let mut libdir = LibdirQuery(None);
    let mut needs_std_dylib = false;
    if libdir_wanted {
        libdir.start();
    }
    let mut dylibs = Vec::new();
    for msg in Message::parse_stream(BufReader::new(stdout)) {
        match msg.context("reading cargo's JSON messages")? {
            Message::CompilerArtifact(art) => {
                if art.target.crate_types.iter().any(|c| {
                    matches!(
                        c,
                        cargo_metadata::CrateType::DyLib | cargo_metadata::CrateType::CDyLib
                    )
                }) {
                    let shared =
                        |f: &&Utf8PathBuf| f.extension().is_some_and(|e| e == "so" || e == "dylib");
                    dylibs.extend(art.filenames.iter().filter(shared).cloned());
                }
                if art.target.crate_types.iter().any(|c| {
                    matches!(
                        c,
                        cargo_metadata::CrateType::DyLib | cargo_metadata::CrateType::ProcMacro
                    )
                }) {
                    needs_std_dylib = true;
                    libdir.start();
                }
                match &art.executable {
                    Some(_) if art.profile.test => artifacts.push(art),
                    Some(exe) => {
                        if art.target.is_bin() {
                            let name = art.target.name.clone();
                            let pkg = bins.entry(art.package_id.clone()).or_default();
                            pkg.push((name, exe.clone()));
                        }
                        other_executables.push(exe.clone());
                    }
                    None => {}
                }
            }
            Message::BuildScriptExecuted(s) => {
                let entry = scripts.entry(s.package_id.clone()).or_default();
                entry.out_dir = Some(s.out_dir.clone());
                entry.env = s.env.clone();
                entry.linked_paths = s
                    .linked_paths
                    .iter()
                    .map(|p| {
                        let p = p.as_str();
                        Utf8PathBuf::from(p.split_once('=').map(|(_, v)| v).unwrap_or(p))
                    })
                    .collect();
            }
            // Diagnostics: json-render-diagnostics renders them on stderr.
            _ => {}
        }
    }
    let status = child.wait().context("waiting for cargo")?;
    if !status.success() {
        return Err(BuildFailed(status.to_string()).into());
    }
    Ok(Compiled {
        artifacts,
        other_executables,
        bins,
        scripts,
        std_libdir: libdir.join().filter(|_| needs_std_dylib),
        dylibs,
    })
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
        ..Default::default()
    }
}

/// [`rustc_target_libdir`] asked on a thread of its own, joined when it is
/// dropped, so no rustc outlives the build on any path.
struct LibdirQuery(Option<std::thread::JoinHandle<Option<String>>>);

impl LibdirQuery {
    fn start(&mut self) {
        if self.0.is_none() {
            self.0 = Some(std::thread::spawn(rustc_target_libdir));
        }
    }

    fn join(&mut self) -> Option<String> {
        self.0.take()?.join().ok().flatten()
    }
}

impl Drop for LibdirQuery {
    fn drop(&mut self) {
        self.join();
    }
}

/// `rustc --print target-libdir`: where std's dylib lives (needed by
/// `-C prefer-dynamic` builds), as cargo adds it to the dylib path.
pub fn rustc_target_libdir() -> Option<String> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(rustc)
        .args(["--print", "target-libdir"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The environment cargo gives a test process (see cargo's
/// `Compilation::fill_env`): package metadata, OUT_DIR and build-script
/// variables, and a dynamic library path that finds dylib dependencies.
fn runtime_env(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_build_flags_through() {
        let b = BuildOptions {
            package: vec!["a".into(), "b".into()],
            release: true,
            features: vec!["x,y".into()],
            manifest_path: Some("w/Cargo.toml".into()),
            ..Default::default()
        };
        assert_eq!(
            cargo_args(&b),
            [
                "--package",
                "a",
                "--package",
                "b",
                "--features",
                "x,y",
                "--release",
                "--manifest-path",
                "w/Cargo.toml"
            ]
        );
    }

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
