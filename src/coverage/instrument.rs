//! `--coverage` before and during the run: how cargo builds instrumented
//! tests, and where every process writes its profile.
//!
//! - The instrumented build goes into `<target dir>/xdist-cov`, so the
//!   user's normal build is neither invalidated nor cleaned, and a re-run
//!   reuses it.
//! - `-C instrument-coverage --cfg coverage` are added to the user's flags:
//!   appended to `CARGO_ENCODED_RUSTFLAGS` or `RUSTFLAGS` when one is set
//!   (cargo then ignores its config's rustflags anyway), else given as
//!   `--config build.rustflags=[...]`, which cargo joins with the config
//!   files' `build.rustflags` array instead of replacing it.
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
/// normal target directory and the variables cargo would see.
pub fn cargo_instrumentation(
    target_dir: &Utf8Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> CargoInstrumentation {
    let dir = target_dir.join("xdist-cov");
    let mut out = CargoInstrumentation {
        args: vec!["--target-dir".into(), dir.to_string()],
        env: Vec::new(),
        target_dir: dir,
    };
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
        cargo_instrumentation(Utf8Path::new("/ws/target"), &lookup)
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
