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
//! - Every test process writes `<profiles>/xdist-<worker>-%p-%m.profraw`
//!   (`%p` the pid, `%m` the binary's signature with online merging), so no
//!   two processes write one file. Listing and doctest processes write
//!   into a discard directory: their profiles are not part of the report
//!   (doctests are not instrumented on stable, see the README).

use std::path::Path;

use anyhow::Result;
use camino::{Utf8Path, Utf8PathBuf};

/// The flags the instrumented build adds.
pub const RUSTFLAGS: [&str; 4] = ["-C", "instrument-coverage", "--cfg", "coverage"];

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

/// One run's profile directories, in a private temporary directory that
/// goes away with this value.
#[derive(Debug)]
pub struct Profiles {
    dir: tempfile::TempDir,
    root: Utf8PathBuf,
}

impl Profiles {
    pub fn new() -> Result<Self> {
        let (dir, root) = crate::scratch::private_dir("cargo-xdist-cov-")?;
        fs_err::create_dir(root.join("profiles"))?;
        fs_err::create_dir(root.join("discard"))?;
        Ok(Profiles { dir, root })
    }

    /// `LLVM_PROFILE_FILE` for the test processes of `worker`.
    pub fn worker_pattern(&self, worker: &str) -> String {
        self.root
            .join("profiles")
            .join(format!("xdist-{worker}-%p-%m.profraw"))
            .to_string()
    }

    /// `LLVM_PROFILE_FILE` for processes whose profile does not count
    /// (listing, doctests).
    pub fn discard_pattern(&self) -> String {
        self.root.join("discard").join("%p-%m.profraw").to_string()
    }

    /// Every profile the test processes wrote, sorted.
    pub fn collected(&self) -> Result<Vec<Utf8PathBuf>> {
        let dir = self.root.join("profiles");
        let mut out = Vec::new();
        for entry in fs_err::read_dir(&dir)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "profraw") {
                out.push(
                    Utf8PathBuf::from_path_buf(path)
                        .map_err(|p| anyhow::anyhow!("not UTF-8: {}", p.display()))?,
                );
            }
        }
        out.sort();
        Ok(out)
    }

    /// The private directory all of this lives in (for the merged profile).
    pub fn root(&self) -> &Utf8Path {
        &self.root
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
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
                r#"build.rustflags=["-C", "instrument-coverage", "--cfg", "coverage"]"#
            ]
        );
        assert!(plain.env.is_empty());

        let env = inst(&[("RUSTFLAGS", "-D warnings  -C opt-level=1")]);
        assert_eq!(
            env.env,
            [(
                "RUSTFLAGS".to_string(),
                "-D warnings -C opt-level=1 -C instrument-coverage --cfg coverage".to_string()
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
                "--cfg\x1fa b\x1f-C\x1finstrument-coverage\x1f--cfg\x1fcoverage".to_string()
            )]
        );
    }

    #[test]
    fn profiles_are_collected_from_a_private_directory() {
        let p = Profiles::new().unwrap();
        let pattern = p.worker_pattern("gw1");
        assert!(
            pattern.ends_with("profiles/xdist-gw1-%p-%m.profraw"),
            "{pattern}"
        );
        let written = pattern.replace("%p", "42").replace("%m", "7");
        std::fs::write(&written, b"x").unwrap();
        std::fs::write(p.discard_pattern().replace("%p-%m", "1"), b"x").unwrap();
        assert_eq!(p.collected().unwrap(), [Utf8PathBuf::from(written)]);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(p.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "only the user may enter: {mode:o}");
    }
}
