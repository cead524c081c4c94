//! What the build hands on: the test executables ([`TestBinary`]), the
//! packages whose doctests run ([`DocPackage`]), and the whole
//! [`BuildOutput`].

use camino::{Utf8Path, Utf8PathBuf};

use crate::coverage::instrument::CargoInstrumentation;

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
    /// The workspace's packages, with the workspace packages each depends
    /// on (any kind): which tests a change in a package can reach.
    pub packages: Vec<WorkspacePackage>,
    /// Workspace packages whose code runs at compile time (proc macros,
    /// build-dependencies and what they use), relative to the workspace
    /// root (empty: the root package itself).
    pub compile_time_dirs: Vec<String>,
    /// `--archive-file`: the build key of impact maps
    /// ([`crate::build::impact_key`]) where it was built.
    pub impact_key: Option<String>,
}

impl BuildOutput {
    /// When `wanted`, the build key of impact maps: the archive's, else
    /// this machine's for `options` (see [`crate::build::impact_key`]).
    pub fn impact_key(
        &self,
        options: &crate::config::BuildOptions,
        wanted: bool,
    ) -> Option<String> {
        wanted.then(|| {
            (self.impact_key.clone())
                .unwrap_or_else(|| super::impact_key(options, &crate::config::process_env))
        })
    }

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

/// A package of the workspace, as impact maps need it.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct WorkspacePackage {
    pub name: String,
    /// Its directory, relative to the workspace root (empty: the root).
    pub dir: String,
    /// The workspace packages it depends on (normal, dev or build).
    pub deps: Vec<String>,
}

/// The workspace root and target directory an archive was built at.
#[derive(Debug, Clone, Default)]
pub struct BuiltAt {
    pub workspace_root: Utf8PathBuf,
    pub target_dir: Utf8PathBuf,
}
