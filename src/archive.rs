//! Build once, run anywhere (after nextest's archives). `cargo xdist
//! archive` builds the test binaries and packs into one `tar.zst`:
//!
//! - `xdist-archive.json`: the format version, where the workspace and the
//!   target directory were, and every [`TestBinary`] with the environment
//!   cargo would give it (ids, kinds, harness, `CARGO_*`, `OUT_DIR`, the
//!   build scripts' variables, the library path);
//! - `target/...`: the test binaries, the workspace's other executables,
//!   the `dylib`/`cdylib` crates' libraries, every file in the other
//!   library directories under the target directory (build scripts'
//!   native libraries), and each build script's `OUT_DIR`, whole;
//! - `libdir/...`: the toolchain's std dynamic library, when a test binary
//!   links std dynamically (proc-macro and dylib crates), so that the
//!   running machine needs no Rust toolchain.
//!
//! The manifest also holds each binary's tests, listed when archived:
//! they become the extracted binaries' cached listings, so a shard lists
//! nothing it does not run.
//!
//! `--archive-file` extracts it into a private temporary directory and
//! remaps every path: the target directory to the extracted one, the
//! workspace root to `--workspace-remap` (where the sources are checked
//! out). The result is a [`BuildOutput`] like the build's, so listing,
//! planning (and partitions) run as usual; it keeps where the archive was
//! built ([`BuiltAt`]), which `--coverage` maps to where it runs.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::sync::Arc;

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use serde::{Deserialize, Serialize};

use crate::build::{self, BuildOutput, BuiltAt, TestBinary};
use crate::config::{ArchiveConfig, ArchiveSource, RunConfig};
use crate::coverage::instrument::CargoInstrumentation;
use crate::error::UsageError;
use crate::list::{self, TestCase};

/// The archive's own description, its first entry.
const MANIFEST: &str = "xdist-archive.json";
/// Bumped when an older cargo-xdist could not read the archive.
const FORMAT: u32 = 1;
/// Where the target directory's files go in the archive.
const TARGET: &str = "target";
/// Where the toolchain's std library goes in the archive.
const LIBDIR: &str = "libdir";

#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    format: u32,
    /// The cargo-xdist that made it.
    xdist_version: String,
    workspace_root: Utf8PathBuf,
    target_dir: Utf8PathBuf,
    /// The toolchain's library directory, when archived under `libdir/`.
    sysroot_libdir: Option<Utf8PathBuf>,
    binaries: Vec<TestBinary>,
    other_executables: Vec<Utf8PathBuf>,
    dylibs: Vec<Utf8PathBuf>,
    /// Built with `--coverage` (the target dir is the instrumented one).
    instrumented: bool,
    /// Each binary's tests (as `binaries`), listed when archived; None for
    /// a custom harness or a binary that could not list them (listed again
    /// where the archive runs).
    listings: Vec<Option<Vec<TestCase>>>,
    /// The build key of impact maps where it was built (none from older
    /// archives: `--affected` then runs everything).
    #[serde(default)]
    impact_key: Option<String>,
    /// [`BuildOutput::compile_time_dirs`].
    #[serde(default)]
    compile_time_dirs: Vec<String>,
    /// [`BuildOutput::packages`].
    #[serde(default)]
    packages: Vec<build::WorkspacePackage>,
}

/// What `cargo xdist archive` wrote.
#[derive(Debug)]
pub struct ArchiveStats {
    pub path: Utf8PathBuf,
    pub binaries: usize,
    pub files: usize,
    pub bytes: u64,
}

impl std::fmt::Display for ArchiveStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Archived {} test binaries ({} files, {:.1} MiB) to {}",
            self.binaries,
            self.files,
            self.bytes as f64 / (1024.0 * 1024.0),
            self.path
        )
    }
}

/// The run's test binaries: from `--archive-file`, else built by cargo
/// (see [`build::build`]).
pub fn build_or_open(config: &RunConfig, coverage: Option<&str>) -> Result<BuildOutput> {
    match &config.archive {
        Some(source) => {
            let mut out = open(source, coverage)?;
            out.binaries.retain(|b| selected(&config.build, b));
            Ok(out)
        }
        None => build::build(&config.build, coverage),
    }
}

/// Whether `-p`, `--lib`, `--bin`, `--test` and `--example` select the
/// archived binary `b` (as they select what cargo builds; none: all).
fn selected(s: &crate::config::BuildOptions, b: &crate::build::TestBinary) -> bool {
    let name = |spec: &String| spec.split('@').next() == Some(b.package.as_str());
    let package = s.package.is_empty() || s.package.iter().any(name);
    let named = |names: &[String]| names.contains(&b.target_name);
    let targets = s.lib || !s.bin.is_empty() || !s.test.is_empty() || !s.example.is_empty();
    let target = match b.kind.as_str() {
        "bin" => named(&s.bin),
        "test" => named(&s.test),
        "example" => named(&s.example),
        "bench" => false,
        _ => s.lib,
    };
    package && (!targets || target)
}

/// `cargo xdist archive`: build, then write the archive (atomically: a
/// failed write leaves no partial file behind).
pub fn create(config: &ArchiveConfig) -> Result<ArchiveStats> {
    // Under --coverage, the listing below writes profiles: into a
    // directory that goes away. The running machine sets its own pattern.
    let (_discard, discard) = crate::scratch::private_dir("cargo-xdist-archive-")?;
    let pattern = config.coverage.then(|| format!("{discard}/%p.profraw"));
    let built = build::build(&config.build, pattern.as_deref())?;
    let target = &built.target_dir;
    let var = build::dylib_path_var();
    let libdir = build::rustc_target_libdir(Some(target)).map(Utf8PathBuf::from);
    // The std library only when some binary's library path names it.
    let libdir = libdir.filter(|dir| {
        let named = |b: &TestBinary| lib_path(b).any(|d| Utf8Path::new(d) == dir);
        built.binaries.iter().any(named)
    });
    let mut files: BTreeSet<(Utf8PathBuf, String)> = BTreeSet::new();
    let mut add = |path: &Utf8Path| -> Result<()> {
        let rel = path.strip_prefix(target).with_context(|| {
            format!("{path} is outside the target directory {target}; it cannot be archived")
        })?;
        files.insert((path.to_path_buf(), format!("{TARGET}/{rel}")));
        Ok(())
    };
    for b in &built.binaries {
        add(&b.path)?;
    }
    for exe in built.other_executables.iter().chain(&built.dylibs) {
        add(exe)?;
    }
    let deps: BTreeSet<&Utf8Path> = built
        .binaries
        .iter()
        .filter_map(|b| b.path.parent())
        .collect();
    for b in &built.binaries {
        // Native libraries of build scripts (not the deps directory: the
        // dylibs above are what binaries load from there).
        for dir in lib_path(b).map(Utf8Path::new) {
            let profile_dir = deps.iter().any(|d| *d == dir || d.parent() == Some(dir));
            if dir.starts_with(target) && !profile_dir {
                for f in walk(dir, false)? {
                    add(&f)?;
                }
            }
        }
        let out_dir = b.env.iter().find(|(k, _)| k == "OUT_DIR").map(|(_, v)| v);
        if let Some(out) = out_dir.map(Utf8Path::new).filter(|d| d.starts_with(target)) {
            for f in walk(out, true)? {
                add(&f)?;
            }
        }
    }
    if let Some(dir) = &libdir {
        for f in walk(dir, false)? {
            if is_std_library(&f) {
                let name = f.file_name().unwrap_or_default().to_string();
                files.insert((f, format!("{LIBDIR}/{name}")));
            }
        }
    }
    // Only the library directories that move with the archive: the rest
    // of this machine's path is not the running machine's.
    let mut binaries = built.binaries.clone();
    for b in &mut binaries {
        for (k, v) in &mut b.env {
            if k == var {
                let keep = |d: &&str| {
                    Utf8Path::new(d).starts_with(target)
                        || libdir.as_deref() == Some(Utf8Path::new(d))
                };
                *v = v.split(':').filter(keep).collect::<Vec<_>>().join(":");
            }
        }
    }
    let mut listings: Vec<Option<Vec<TestCase>>> = vec![Some(Vec::new()); binaries.len()];
    let listing = list::list_all(&built, &crate::signal::Cancel::default(), None);
    for f in &listing.failures {
        listings[f.binary] = None;
    }
    for case in listing.cases {
        if let Some(cases) = &mut listings[case.binary] {
            cases.push(case);
        }
    }
    for (i, b) in binaries.iter().enumerate() {
        if b.custom_harness {
            listings[i] = None;
        }
    }
    let manifest = Manifest {
        format: FORMAT,
        xdist_version: env!("CARGO_PKG_VERSION").to_string(),
        workspace_root: built.workspace_root.clone(),
        target_dir: target.clone(),
        sysroot_libdir: libdir,
        binaries,
        other_executables: built.other_executables.clone(),
        dylibs: built.dylibs.clone(),
        instrumented: built.instrumentation.is_some(),
        listings,
        impact_key: Some(build::impact_key(
            &config.build,
            &crate::config::process_env,
        )),
        compile_time_dirs: built.compile_time_dirs.clone(),
        packages: built.packages.clone(),
    };
    let bytes = write(&config.file, &manifest, &files)
        .with_context(|| format!("writing the archive {}", config.file))?;
    Ok(ArchiveStats {
        path: config.file.clone(),
        binaries: manifest.binaries.len(),
        files: files.len(),
        bytes,
    })
}

/// The directories in a binary's library path variable.
fn lib_path(b: &TestBinary) -> impl Iterator<Item = &str> {
    let var = build::dylib_path_var();
    b.env
        .iter()
        .filter(move |(k, _)| k == var)
        .flat_map(|(_, v)| v.split(':'))
        .filter(|d| !d.is_empty())
}

/// std's (and libtest's) dynamic library, not the compiler's (LLVM).
fn is_std_library(path: &Utf8Path) -> bool {
    let name = path.file_name().unwrap_or_default();
    (name.starts_with("libstd-") || name.starts_with("libtest-"))
        && (name.ends_with(".so") || name.ends_with(".dylib"))
}

/// The files in `dir` (and below it, with `recursive`); a missing
/// directory has none.
fn walk(dir: &Utf8Path, recursive: bool) -> Result<Vec<Utf8PathBuf>> {
    let mut out = Vec::new();
    let Ok(entries) = dir.read_dir_utf8() else {
        return Ok(out);
    };
    for entry in entries {
        let entry = entry.with_context(|| format!("reading {dir}"))?;
        let path = entry.path().to_path_buf();
        let kind = entry
            .file_type()
            .with_context(|| format!("reading {path}"))?;
        // A link is followed to a file (archived as the file), never into
        // a directory (it might loop).
        let is_file = kind.is_file() || (kind.is_symlink() && path.is_file());
        if is_file {
            out.push(path);
        } else if kind.is_dir() && recursive {
            out.extend(walk(&path, true)?);
        }
    }
    Ok(out)
}

/// Write the tar.zst into a temporary file beside `path`, then rename it;
/// returns the archive's size.
fn write(
    path: &Utf8Path,
    manifest: &Manifest,
    files: &BTreeSet<(Utf8PathBuf, String)>,
) -> Result<u64> {
    let dir = path.parent().filter(|p| !p.as_str().is_empty());
    let tmp = tempfile::NamedTempFile::new_in(dir.unwrap_or(Utf8Path::new(".")))?;
    let encoder = zstd::Encoder::new(tmp.as_file(), 3)?;
    let mut tar = tar::Builder::new(encoder);
    let json = serde_json::to_vec_pretty(manifest)?;
    let mut header = tar::Header::new_gnu();
    header.set_size(json.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_cksum();
    tar.append_data(&mut header, MANIFEST, json.as_slice())?;
    for (src, name) in files {
        tar.append_path_with_name(src, name)
            .with_context(|| format!("adding {src}"))?;
    }
    let mut encoder = tar.into_inner()?;
    encoder.flush()?;
    encoder.finish()?;
    tmp.as_file().sync_all()?;
    // A temporary file is private; the archive is an ordinary file.
    use std::os::unix::fs::PermissionsExt;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    let size = tmp.as_file().metadata()?.len();
    tmp.persist(path)?;
    Ok(size)
}

/// A problem with the archive itself: exit 2, with the way to a good one.
fn unusable(file: &Utf8Path, what: impl std::fmt::Display) -> anyhow::Error {
    UsageError(format!(
        "cannot use the archive {file}: {what}; make it again with `cargo xdist archive --archive-file {file}`"
    ))
    .into()
}

/// Extract `--archive-file` and remap its paths (see the module docs).
/// `coverage` (the `LLVM_PROFILE_FILE` of `--coverage`) needs an
/// instrumented archive.
pub fn open(source: &ArchiveSource, coverage: Option<&str>) -> Result<BuildOutput> {
    let file = &source.file;
    let (dir, root) = crate::scratch::private_dir("cargo-xdist-archive-")?;
    let reader = fs_err::File::open(file).map_err(|e| unusable(file, e))?;
    let decoder = zstd::Decoder::new(reader).map_err(|e| unusable(file, e))?;
    let mut tar = tar::Archive::new(decoder);
    tar.set_preserve_permissions(true);
    let mut manifest: Option<Manifest> = None;
    for entry in tar.entries().map_err(|e| unusable(file, e))? {
        let mut entry = entry.map_err(|e| unusable(file, e))?;
        if entry.path().is_ok_and(|p| p.as_os_str() == MANIFEST) {
            let mut text = String::new();
            entry
                .read_to_string(&mut text)
                .map_err(|e| unusable(file, e))?;
            let m: Manifest = serde_json::from_str(&text).map_err(|e| {
                unusable(file, format_args!("its {MANIFEST} is not readable ({e})"))
            })?;
            if m.format != FORMAT {
                return Err(unusable(
                    file,
                    format_args!(
                        "it has format {} (made by cargo-xdist {}), this cargo-xdist reads format {FORMAT}",
                        m.format, m.xdist_version
                    ),
                ));
            }
            manifest = Some(m);
        } else {
            entry.unpack_in(&root).map_err(|e| unusable(file, e))?;
        }
    }
    let m = manifest.ok_or_else(|| unusable(file, format_args!("it has no {MANIFEST}")))?;
    check_coverage(&m, file, coverage.is_some())?;
    if let (Some(_), Some(here)) = (coverage, &source.workspace_remap) {
        check_mappable(&m.workspace_root, here)?;
    }
    let remap = Remap {
        target: (m.target_dir.clone(), root.join(TARGET)),
        workspace: (
            m.workspace_root.clone(),
            source
                .workspace_remap
                .clone()
                .unwrap_or(m.workspace_root.clone()),
        ),
        libdir: m.sysroot_libdir.clone().map(|d| (d, root.join(LIBDIR))),
    };
    let mut binaries = m.binaries;
    for b in &mut binaries {
        b.path = remap.path(&b.path);
        b.manifest_dir = remap.path(&b.manifest_dir);
        b.src_path = remap.path(&b.src_path);
        for (k, v) in &mut b.env {
            *v = remap.value(k, v);
        }
        let manifest = b.manifest_dir.join("Cargo.toml");
        if !manifest.is_file() {
            let hint = match &source.workspace_remap {
                Some(d) => format!("check out the workspace's sources at {d}"),
                None => format!(
                    "it was built at {}; pass --workspace-remap DIR where the sources are checked out",
                    m.workspace_root
                ),
            };
            return Err(UsageError(format!(
                "package {}'s sources are not checked out: {manifest} does not exist; {hint}",
                b.package
            ))
            .into());
        }
    }
    for b in &mut binaries {
        b.profile = coverage.map(String::from);
    }
    // The archived listings become the extracted binaries' cached ones.
    let cache = list::cache::ListCache::new(&remap.target.1);
    for (b, cases) in binaries.iter().zip(m.listings) {
        if let Some(cases) = cases {
            cache.put(b, cases).map_err(|e| unusable(file, e))?;
        }
    }
    let instrumentation = m.instrumented.then(|| CargoInstrumentation {
        target_dir: remap.target.1.clone(),
        ..Default::default()
    });
    Ok(BuildOutput {
        binaries,
        instrumentation,
        workspace_root: remap.workspace.1.clone(),
        other_executables: m.other_executables.iter().map(|p| remap.path(p)).collect(),
        target_dir: remap.target.1.clone(),
        // The records under `target/xdist/` (last failures, durations)
        // outlive the extracted copy: they go to the remapped workspace's
        // `target/` (without --workspace-remap, the target dir it was built
        // in), for the next run from an archive there.
        target_directory: match &source.workspace_remap {
            Some(dir) => dir.join("target"),
            None => m.target_dir.clone(),
        },
        dylibs: m.dylibs.iter().map(|p| remap.path(p)).collect(),
        extracted: Some(Arc::new(dir)),
        built_at: Some(BuiltAt {
            workspace_root: m.workspace_root,
            target_dir: m.target_dir,
        }),
        impact_key: Some(m.impact_key.unwrap_or_default()),
        compile_time_dirs: m.compile_time_dirs,
        packages: m.packages,
        ..Default::default()
    })
}

/// `--coverage` runs an instrumented archive; an instrumented archive
/// runs only with `--coverage` (its binaries would leave profiles in the
/// checkout).
fn check_coverage(m: &Manifest, file: &Utf8Path, coverage: bool) -> Result<()> {
    let error = |text: String| Err(UsageError(text).into());
    match (m.instrumented, coverage) {
        (false, true) => error(format!(
            "the archive {file} was built without --coverage; make it with `cargo xdist archive --coverage`"
        )),
        (true, false) => error(format!(
            "the archive {file} holds instrumented tests (`cargo xdist archive --coverage`); run it with --coverage"
        )),
        (true, true) | (false, false) => Ok(()),
    }
}

/// llvm-cov's `-path-equivalence=FROM,TO` has no escape for a comma: a
/// coverage run in another checkout needs both paths without one.
fn check_mappable(built: &Utf8Path, here: &Utf8Path) -> Result<()> {
    match [built, here].into_iter().find(|p| p.as_str().contains(',')) {
        Some(p) => Err(UsageError(format!(
            "--coverage cannot map sources between {built} and {here}: llvm-cov's -path-equivalence cannot take the comma in {p}; check the sources out at a path without one"
        ))
        .into()),
        None => Ok(()),
    }
}

/// The archive's paths on this machine: each pair is (as built, here).
struct Remap {
    target: (Utf8PathBuf, Utf8PathBuf),
    workspace: (Utf8PathBuf, Utf8PathBuf),
    libdir: Option<(Utf8PathBuf, Utf8PathBuf)>,
}

impl Remap {
    /// A path under the target directory, the toolchain's library
    /// directory or the workspace, moved; others unchanged. The target
    /// directory comes first: it is often inside the workspace.
    fn path(&self, p: &Utf8Path) -> Utf8PathBuf {
        let pairs = [
            Some(&self.target),
            self.libdir.as_ref(),
            Some(&self.workspace),
        ];
        for (from, to) in pairs.into_iter().flatten() {
            if let Ok(rest) = p.strip_prefix(from) {
                return if rest.as_str().is_empty() {
                    to.clone()
                } else {
                    to.join(rest)
                };
            }
        }
        p.to_path_buf()
    }

    /// A variable's value, each `:`-separated part remapped as a path; the
    /// library path also gets this machine's own.
    fn value(&self, key: &str, value: &str) -> String {
        let mut parts: Vec<String> = value
            .split(':')
            .map(|part| match part.starts_with('/') {
                true => self.path(Utf8Path::new(part)).into_string(),
                false => part.to_string(),
            })
            .collect();
        if key == build::dylib_path_var() {
            let own = std::env::var(key).unwrap_or_default();
            parts.extend(own.split(':').filter(|s| !s.is_empty()).map(String::from));
            parts.retain(|p| !p.is_empty());
        }
        parts.join(":")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_move_target_first_then_workspace() {
        let remap = Remap {
            target: ("/ws/target".into(), "/tmp/x/target".into()),
            workspace: ("/ws".into(), "/src".into()),
            libdir: Some(("/rust/lib".into(), "/tmp/x/libdir".into())),
        };
        assert_eq!(
            remap.path("/ws/target/debug/t".into()),
            "/tmp/x/target/debug/t"
        );
        assert_eq!(remap.path("/ws/alpha".into()), "/src/alpha");
        assert_eq!(remap.path("/ws".into()), "/src");
        assert_eq!(
            remap.path("/wsx/a".into()),
            "/wsx/a",
            "only whole components"
        );
        assert_eq!(remap.path("/elsewhere".into()), "/elsewhere");
        assert_eq!(
            remap.value("PATHS", "/ws/a:/ws/target/b:http://h"),
            "/src/a:/tmp/x/target/b:http://h"
        );
        let lib = remap.value(build::dylib_path_var(), "/ws/target/debug/deps:/rust/lib");
        assert!(
            lib.starts_with("/tmp/x/target/debug/deps:/tmp/x/libdir"),
            "{lib}"
        );
    }

    #[test]
    fn coverage_paths_with_a_comma_cannot_be_mapped() {
        assert!(check_mappable("/b/ws".into(), "/h/ws".into()).is_ok());
        let err = check_mappable("/b/ws".into(), "/h/a,b".into()).unwrap_err();
        assert!(format!("{err:#}").contains("comma in /h/a,b"), "{err:#}");
        assert!(check_mappable("/b/x,y".into(), "/h/ws".into()).is_err());
    }
}
