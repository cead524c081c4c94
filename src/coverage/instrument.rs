//! `--coverage` before and during the run: how cargo builds instrumented
//! tests, and where every process writes its profile.
//!
//! - The instrumented build goes into `<target dir>/xdist-cov`, so the
//!   user's normal build is neither invalidated nor cleaned, and a re-run
//!   reuses it.
//! - Only the workspace's crates are instrumented, as cargo-llvm-cov does:
//!   cargo runs cargo-xdist as `RUSTC_WORKSPACE_WRAPPER` ([`rustc_wrapper`]),
//!   which adds `-C instrument-coverage --cfg coverage` (and the counter
//!   relocation below) to each workspace crate's rustc, and to nothing
//!   else. Instrumented dependencies cost three times the coverage data
//!   (winnow: 1.9 MB of coverage functions against 0.5 MB), which every
//!   process writes and every merge and export reads, for files no report
//!   shows; and a dependency that reads `cfg(coverage)` as "nightly" did
//!   not build. A user's own workspace wrapper still runs, after ours.
//!   The wrapper's flags are not in cargo's fingerprints: a change to them
//!   needs a new target directory name ([`COV_DIR`]). Should cargo-xdist
//!   not know its own path, the flags go to every crate as before (through
//!   `RUSTFLAGS`, `CARGO_ENCODED_RUSTFLAGS` or `--config build.rustflags`).
//! - Every libtest process writes `<profiles>/xdist-<worker>-<n>-%p%c.profraw`
//!   (`<n>` counts the run's processes, `%p` keeps the processes a test
//!   spawns apart), other test processes `xdist-<worker>-%p%c.profraw`, so
//!   no two processes write one file. Listing and doctest processes write
//!   into a discard directory: their profiles are not part of the report
//!   (doctests are not instrumented on stable, see the README).
//! - `%c` is LLVM's continuous mode: the counters live in the mapped file,
//!   so a process killed by Ctrl-C or stopped at a `worksteal` steal point
//!   keeps what it ran. On Linux it needs runtime counter relocation
//!   (`-C llvm-args=-runtime-counter-relocation`; without it the file stays
//!   empty, checked with rustc 1.95 / LLVM 22). The profile of a process
//!   that crashed or timed out is deleted instead and its finished tests run
//!   again (run/worker.rs), so that, as with a process per test, the test
//!   that died counts for nothing.

use std::ffi::OsString;
use std::os::unix::fs::DirBuilderExt;

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};

/// The flags the instrumented build adds.
pub const RUSTFLAGS: [&str; 6] = [
    "-C",
    "instrument-coverage",
    "-C",
    "llvm-args=-runtime-counter-relocation",
    "--cfg",
    "coverage",
];

/// The instrumented build's directory under the target directory.
pub const COV_DIR: &str = "xdist-cov";

/// Set for cargo: cargo-xdist started with it is a rustc wrapper.
const WRAPPER_VAR: &str = "CARGO_XDIST_COVERAGE_WRAPPER";
/// The user's own `RUSTC_WORKSPACE_WRAPPER`, which ours runs in turn.
const INNER_WRAPPER_VAR: &str = "CARGO_XDIST_INNER_WORKSPACE_WRAPPER";

/// Run as cargo's `RUSTC_WORKSPACE_WRAPPER` for an instrumented build
/// (when [`WRAPPER_VAR`] is set): the arguments are rustc's path and its
/// arguments; a crate's compilation gains [`RUSTFLAGS`] (cargo's probes,
/// `-vV` and `--crate-name ___`, pass through as they are). This process
/// becomes rustc, or the user's own workspace wrapper. `None`: not run as
/// the wrapper. On return the process exits with the code.
pub fn rustc_wrapper() -> Option<i32> {
    use std::os::unix::process::CommandExt;
    std::env::var_os(WRAPPER_VAR)?;
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    // `cargo xdist ...` in an environment the variable leaked into: a run.
    if args.first().is_some_and(|a| a == "xdist") {
        return None;
    }
    let inner = std::env::var_os(INNER_WRAPPER_VAR).filter(|w| !w.is_empty());
    let (program, args) = wrapped_command(args, inner, crate::toolchain::rustc);
    let e = std::process::Command::new(&program).args(args).exec();
    eprintln!(
        "error: cannot run rustc ({}) for the instrumented build: {e}",
        program.to_string_lossy()
    );
    Some(101)
}

/// The program and arguments the wrapper becomes, given its arguments
/// (rustc's path, then rustc's arguments), the user's own workspace
/// wrapper, and the rustc to run when the arguments do not start with one:
/// an outer `RUSTC_WRAPPER` (sccache) runs cargo-xdist as the compiler
/// itself, `-vV` first.
fn wrapped_command(
    mut args: Vec<OsString>,
    inner: Option<OsString>,
    rustc: impl FnOnce() -> OsString,
) -> (OsString, Vec<OsString>) {
    let starts_with_rustc = (args.first()).is_some_and(|a| !a.to_string_lossy().starts_with('-'));
    if !starts_with_rustc {
        args.insert(0, rustc());
    }
    if compiles_a_crate(&args[1..]) {
        args.extend(RUSTFLAGS.iter().map(OsString::from));
    }
    match inner {
        Some(inner) => (inner, args),
        None => {
            let rustc = args.remove(0);
            (rustc, args)
        }
    }
}

/// Whether rustc's arguments compile a crate (cargo's target probes are
/// named `___`).
fn compiles_a_crate(args: &[OsString]) -> bool {
    args.windows(2)
        .any(|w| w[0] == "--crate-name" && w[1] != "___")
}

/// What cargo's command line and environment gain for an instrumented build.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CargoInstrumentation {
    /// Extra cargo arguments (`--target-dir`, maybe `--config`).
    pub args: Vec<String>,
    /// Extra variables for cargo (`RUSTFLAGS` or `CARGO_ENCODED_RUSTFLAGS`).
    pub env: Vec<(String, String)>,
    /// Where the instrumented build goes.
    pub target_dir: Utf8PathBuf,
}

/// The instrumented build's cargo arguments and environment, given the
/// normal target directory, the variables cargo would see and this
/// program's path (the workspace wrapper; `None`: every crate gets the
/// flags).
pub fn cargo_instrumentation(
    target_dir: &Utf8Path,
    env: &dyn Fn(&str) -> Option<String>,
    wrapper: Option<&str>,
) -> CargoInstrumentation {
    let dir = target_dir.join(COV_DIR);
    let mut out = CargoInstrumentation {
        args: vec!["--target-dir".into(), dir.to_string()],
        env: Vec::new(),
        target_dir: dir,
    };
    if let Some(wrapper) = wrapper {
        out.env
            .push(("RUSTC_WORKSPACE_WRAPPER".into(), wrapper.into()));
        out.env.push((WRAPPER_VAR.into(), "1".into()));
        let inner = env("RUSTC_WORKSPACE_WRAPPER").unwrap_or_default();
        out.env.push((INNER_WRAPPER_VAR.into(), inner));
        return out;
    }
    if let Some(encoded) = env("CARGO_ENCODED_RUSTFLAGS") {
        let mut flags: Vec<&str> = encoded.split('\x1f').filter(|f| !f.is_empty()).collect();
        flags.extend(RUSTFLAGS);
        out.env
            .push(("CARGO_ENCODED_RUSTFLAGS".into(), flags.join("\x1f")));
    } else if let Some(plain) = env("RUSTFLAGS") {
        let mut flags: Vec<&str> = plain.split_whitespace().collect();
        flags.extend(RUSTFLAGS);
        out.env.push(("RUSTFLAGS".into(), flags.join(" ")));
    } else {
        let quoted: Vec<String> = RUSTFLAGS.iter().map(|f| format!("\"{f}\"")).collect();
        out.args.push("--config".into());
        out.args
            .push(format!("build.rustflags=[{}]", quoted.join(", ")));
    }
    out
}

/// The profile names of one run's libtest processes.
#[derive(Debug, Clone)]
pub struct ProfilePaths {
    dir: Utf8PathBuf,
}

impl ProfilePaths {
    fn file(&self, worker: &str, process: Option<u64>, pid: &str) -> String {
        let n = process.map(|n| format!("{n}-")).unwrap_or_default();
        self.dir
            .join(format!("xdist-{worker}-{n}{pid}.profraw"))
            .to_string()
    }

    /// `LLVM_PROFILE_FILE` for the run's `process`-th libtest process.
    pub fn pattern(&self, worker: &str, process: u64) -> String {
        self.file(worker, Some(process), "%p%c")
    }

    /// The start of the path of every profile the run's `process`-th
    /// libtest process and its children wrote (each ends in its pid).
    pub fn prefix(&self, worker: &str, process: u64) -> String {
        self.file(worker, Some(process), "")
            .trim_end_matches(".profraw")
            .to_string()
    }

    /// The profile that process wrote itself, its id being `pid`.
    pub fn written(&self, worker: &str, process: u64, pid: u32) -> Utf8PathBuf {
        Utf8PathBuf::from(self.file(worker, Some(process), &pid.to_string()))
    }
}

/// One run's profile directories, in a private temporary directory that
/// goes away with this value.
#[derive(Debug)]
pub struct Profiles {
    /// Held for its `Drop`, which removes the directory.
    _dir: tempfile::TempDir,
    root: Utf8PathBuf,
}

impl Profiles {
    pub fn new() -> Result<Self> {
        let (dir, root) = crate::scratch::private_dir("cargo-xdist-cov-")?;
        // Private too, whatever the umask: the test processes (the user's)
        // write here, and cargo-xdist reads back what it finds by path.
        for sub in ["profiles", "discard"] {
            let path = root.join(sub);
            // std's DirBuilder: fs_err has none, and a mode set at creation
            // leaves no moment the directory is open to others.
            #[allow(clippy::disallowed_methods)]
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(&path)
                .with_context(|| format!("cannot create {path}"))?;
        }
        Ok(Profiles { _dir: dir, root })
    }

    /// `LLVM_PROFILE_FILE` for the test processes of `worker` that are
    /// not given their own (custom harnesses).
    pub fn worker_pattern(&self, worker: &str) -> String {
        self.paths().file(worker, None, "%p%c")
    }

    /// Where the test processes' profiles go, for the runner.
    pub fn paths(&self) -> ProfilePaths {
        ProfilePaths {
            dir: self.root.join("profiles"),
        }
    }

    /// `LLVM_PROFILE_FILE` for processes whose profile does not count
    /// (listing, doctests).
    pub fn discard_pattern(&self) -> String {
        self.root.join("discard").join("%p-%m.profraw").to_string()
    }

    /// Every profile the test processes wrote, sorted.
    pub fn collected(&self) -> Result<Vec<Utf8PathBuf>> {
        super::report::find_profraws(&self.root.join("profiles"))
    }

    /// The private directory all of this lives in (for the merged profile).
    pub fn root(&self) -> &Utf8Path {
        &self.root
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inst(vars: &[(&str, &str)]) -> CargoInstrumentation {
        let lookup = |k: &str| {
            vars.iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| v.to_string())
        };
        cargo_instrumentation(Utf8Path::new("/ws/target"), &lookup, None)
    }

    #[test]
    fn the_workspace_wrapper_instruments_and_keeps_the_users_wrapper() {
        let lookup = |k: &str| (k == "RUSTC_WORKSPACE_WRAPPER").then(|| "/opt/mine".to_string());
        let i = cargo_instrumentation(Utf8Path::new("/ws/target"), &lookup, Some("/bin/xd"));
        assert_eq!(i.args, ["--target-dir", "/ws/target/xdist-cov"]);
        let env: Vec<(&str, &str)> = (i.env.iter())
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            env,
            [
                ("RUSTC_WORKSPACE_WRAPPER", "/bin/xd"),
                (WRAPPER_VAR, "1"),
                (INNER_WRAPPER_VAR, "/opt/mine"),
            ]
        );
        let os = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        assert!(compiles_a_crate(&os(&[
            "--crate-name",
            "app",
            "src/lib.rs"
        ])));
        assert!(!compiles_a_crate(&os(&[
            "-",
            "--crate-name",
            "___",
            "--print=cfg"
        ])));
        assert!(!compiles_a_crate(&os(&["-vV"])));
        let rustc = || OsString::from("/tc/rustc");
        let flags = RUSTFLAGS.join(" ");
        let shown = |(p, a): (OsString, Vec<OsString>)| {
            let a: Vec<String> = a.iter().map(|s| s.to_string_lossy().into_owned()).collect();
            format!("{} {}", p.to_string_lossy(), a.join(" "))
        };
        // cargo: rustc's path first; a crate gains the flags.
        let crate_args = os(&["/r/rustc", "--crate-name", "app", "lib.rs"]);
        assert_eq!(
            shown(wrapped_command(crate_args.clone(), None, rustc)),
            format!("/r/rustc --crate-name app lib.rs {flags}")
        );
        // The user's wrapper runs rustc, given the flags.
        assert_eq!(
            shown(wrapped_command(crate_args, Some("/opt/mine".into()), rustc)),
            format!("/opt/mine /r/rustc --crate-name app lib.rs {flags}")
        );
        // A probe passes through as it is.
        assert_eq!(
            shown(wrapped_command(os(&["/r/rustc", "-vV"]), None, rustc)),
            "/r/rustc -vV"
        );
        // Run as the compiler itself (sccache as RUSTC_WRAPPER): the
        // toolchain's rustc.
        assert_eq!(
            shown(wrapped_command(os(&["-vV"]), None, rustc)),
            "/tc/rustc -vV"
        );
    }

    #[test]
    fn flags_join_the_users_own() {
        let plain = inst(&[]);
        assert_eq!(plain.target_dir, "/ws/target/xdist-cov");
        assert_eq!(
            plain.args,
            [
                "--target-dir",
                "/ws/target/xdist-cov",
                "--config",
                r#"build.rustflags=["-C", "instrument-coverage", "-C", "llvm-args=-runtime-counter-relocation", "--cfg", "coverage"]"#
            ]
        );
        assert!(plain.env.is_empty());

        let env = inst(&[("RUSTFLAGS", "-D warnings  -C opt-level=1")]);
        assert_eq!(
            env.env,
            [(
                "RUSTFLAGS".to_string(),
                "-D warnings -C opt-level=1 -C instrument-coverage -C llvm-args=-runtime-counter-relocation --cfg coverage".to_string()
            )]
        );
        assert_eq!(env.args.len(), 2, "no --config when RUSTFLAGS is set");

        let encoded = inst(&[
            ("CARGO_ENCODED_RUSTFLAGS", "--cfg\x1fa b"),
            ("RUSTFLAGS", "ignored"),
        ]);
        assert_eq!(
            encoded.env,
            [(
                "CARGO_ENCODED_RUSTFLAGS".to_string(),
                "--cfg\x1fa b\x1f-C\x1finstrument-coverage\x1f-C\x1fllvm-args=-runtime-counter-relocation\x1f--cfg\x1fcoverage".to_string()
            )]
        );
    }

    #[test]
    fn profiles_are_collected_from_a_private_directory() {
        let p = Profiles::new().unwrap();
        let pattern = p.worker_pattern("gw1");
        assert!(
            pattern.ends_with("profiles/xdist-gw1-%p%c.profraw"),
            "{pattern}"
        );
        let paths = p.paths();
        assert!(
            paths
                .pattern("gw1", 7)
                .ends_with("profiles/xdist-gw1-7-%p%c.profraw")
        );
        let written = paths.written("gw1", 7, 42);
        assert!(
            written
                .as_str()
                .ends_with("profiles/xdist-gw1-7-42.profraw"),
            "{written}"
        );
        std::fs::write(&written, b"x").unwrap();
        std::fs::write(p.discard_pattern().replace("%p-%m", "1"), b"x").unwrap();
        assert_eq!(p.collected().unwrap(), [written]);
        use std::os::unix::fs::MetadataExt;
        let me = rustix::process::geteuid().as_raw();
        let mode = std::fs::metadata(p.root()).unwrap().mode();
        assert_eq!(mode & 0o077, 0, "only the user may enter: {mode:o}");
        // The directories the test processes write into are the user's
        // alone too, whatever the umask.
        for sub in ["profiles", "discard"] {
            let meta = std::fs::metadata(p.root().join(sub)).unwrap();
            assert_eq!(
                (meta.mode() & 0o777, meta.uid()),
                (0o700, me),
                "{sub}: {:o}",
                meta.mode()
            );
        }
    }
}
