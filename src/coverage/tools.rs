//! Finding `llvm-profdata` and `llvm-cov` of the LLVM that rustc uses.
//!
//! The profile format changes between LLVM releases, so the tools must
//! have the same LLVM major version as `rustc -vV`'s `LLVM version:`.
//! Candidates, in order: the `LLVM_PROFDATA` / `LLVM_COV` variables (as
//! cargo-llvm-cov reads them; when set, nothing else is tried), rustup's
//! `llvm-tools` component, `llvm-profdata-NN` on `PATH`, then
//! `/usr/lib/llvm-NN/bin/`, and last a plain `llvm-profdata` on `PATH`.
//! Each candidate is run with `--version`; the first of the right major
//! wins. Deciding is pure ([`candidates`], [`select`]); [`find`] probes.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One of the two tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Profdata,
    Cov,
}

impl Tool {
    pub fn name(self) -> &'static str {
        match self {
            Tool::Profdata => "llvm-profdata",
            Tool::Cov => "llvm-cov",
        }
    }

    /// The variable that names the tool explicitly.
    pub fn env_var(self) -> &'static str {
        match self {
            Tool::Profdata => "LLVM_PROFDATA",
            Tool::Cov => "LLVM_COV",
        }
    }
}

/// The tools found, both of rustc's LLVM major version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LlvmTools {
    pub profdata: PathBuf,
    pub cov: PathBuf,
    pub llvm_major: u32,
}

/// Where a candidate comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// `LLVM_PROFDATA` / `LLVM_COV`.
    Env,
    /// `$(rustc --print sysroot)/lib/rustlib/<host>/bin/`.
    Rustup,
    /// `llvm-profdata-NN` on PATH or in `/usr/lib/llvm-NN/bin/`.
    Versioned,
    /// Unversioned `llvm-profdata` on PATH.
    Path,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub path: PathBuf,
    pub origin: Origin,
}

/// What candidate search looks at, gathered once (see [`Environment::current`]).
#[derive(Debug, Clone, Default)]
pub struct Environment {
    /// `LLVM_PROFDATA`, `LLVM_COV` values.
    pub profdata_var: Option<PathBuf>,
    pub cov_var: Option<PathBuf>,
    /// `rustc --print sysroot`.
    pub sysroot: Option<PathBuf>,
    /// `host:` of `rustc -vV`.
    pub host: Option<String>,
    /// The `PATH` directories.
    pub path_dirs: Vec<PathBuf>,
}

/// What running a candidate with `--version` showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// No such file.
    Missing,
    /// It ran and printed this LLVM version.
    Version(LlvmVersion),
    /// It exists but did not run, or printed no LLVM version.
    Unusable(String),
}

/// `major.minor.patch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct LlvmVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl std::fmt::Display for LlvmVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

const INSTALL: &str = "install it with `rustup component add llvm-tools` or `apt-get install llvm-";

/// A tool that cannot be used. One line: the problem, then how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolError {
    #[error(
        "{tool} for LLVM {want} (rustc's) not found; {INSTALL}{want}`, or set {env} to its path"
    )]
    Missing {
        tool: &'static str,
        env: &'static str,
        want: u32,
    },
    #[error(
        "{tool} at {} is LLVM {found}, but rustc uses LLVM {want}; {INSTALL}{want}`, or set {env} to LLVM {want}'s {tool}",
        .path.display()
    )]
    Mismatch {
        tool: &'static str,
        env: &'static str,
        path: PathBuf,
        found: String,
        want: u32,
    },
    #[error(
        "{tool} at {} cannot be used ({reason}); {INSTALL}{want}`, or set {env} to its path",
        .path.display()
    )]
    Unusable {
        tool: &'static str,
        env: &'static str,
        path: PathBuf,
        reason: String,
        want: u32,
    },
    #[error("cannot tell rustc's LLVM version: {0}")]
    Rustc(String),
}

/// Parse `LLVM version X.Y.Z` out of `--version` output (`Debian LLVM
/// version 22.1.8`, `Homebrew LLVM version 19.1.7`, rustc's `LLVM version:
/// 22.1.2`). Apple's `Apple LLVM version` numbers are not LLVM's: rejected.
pub fn parse_llvm_version(text: &str) -> Option<LlvmVersion> {
    text.lines().find_map(|line| {
        if line.contains("Apple LLVM") {
            return None;
        }
        let (_, rest) = line.split_once("LLVM version")?;
        let rest = rest.trim_start_matches(':').trim_start();
        let word = rest.split_whitespace().next()?;
        let mut nums = word.split(['.', '-', '+']).map(|p| p.parse::<u32>().ok());
        let major = nums.next()??;
        let minor = nums.next().flatten().unwrap_or(0);
        let patch = nums.next().flatten().unwrap_or(0);
        Some(LlvmVersion {
            major,
            minor,
            patch,
        })
    })
}

/// The `host:` line of `rustc -vV`.
pub fn parse_rustc_host(rustc_vv: &str) -> Option<String> {
    rustc_vv
        .lines()
        .find_map(|l| l.strip_prefix("host:"))
        .map(|h| h.trim().to_string())
}

/// The candidates for `tool` of LLVM `major`, in the order they are tried.
pub fn candidates(tool: Tool, major: u32, env: &Environment) -> Vec<Candidate> {
    let var = match tool {
        Tool::Profdata => &env.profdata_var,
        Tool::Cov => &env.cov_var,
    };
    if let Some(path) = var {
        return vec![Candidate {
            path: path.clone(),
            origin: Origin::Env,
        }];
    }
    let name = tool.name();
    let mut out = Vec::new();
    if let (Some(sysroot), Some(host)) = (&env.sysroot, &env.host) {
        out.push(Candidate {
            path: sysroot
                .join("lib/rustlib")
                .join(host)
                .join("bin")
                .join(name),
            origin: Origin::Rustup,
        });
    }
    let versioned = format!("{name}-{major}");
    for dir in &env.path_dirs {
        out.push(Candidate {
            path: dir.join(&versioned),
            origin: Origin::Versioned,
        });
    }
    out.push(Candidate {
        path: PathBuf::from(format!("/usr/lib/llvm-{major}/bin/{name}")),
        origin: Origin::Versioned,
    });
    for dir in &env.path_dirs {
        out.push(Candidate {
            path: dir.join(name),
            origin: Origin::Path,
        });
    }
    out
}

/// The first candidate whose `probe` shows LLVM `major`. An explicit
/// variable is used or rejected, never skipped. If none fits, the error
/// names the first wrong-version tool seen, else says it is missing.
pub fn select(
    tool: Tool,
    major: u32,
    candidates: &[Candidate],
    mut probe: impl FnMut(&Path) -> Probe,
) -> Result<PathBuf, ToolError> {
    let (name, env) = (tool.name(), tool.env_var());
    let mut first_wrong: Option<ToolError> = None;
    for c in candidates {
        let error = match probe(&c.path) {
            Probe::Version(v) if v.major == major => return Ok(c.path.clone()),
            Probe::Version(v) => ToolError::Mismatch {
                tool: name,
                env,
                path: c.path.clone(),
                found: v.to_string(),
                want: major,
            },
            Probe::Missing if c.origin != Origin::Env => continue,
            Probe::Missing => ToolError::Unusable {
                tool: name,
                env,
                path: c.path.clone(),
                reason: format!("{env} names a file that does not exist"),
                want: major,
            },
            Probe::Unusable(reason) => ToolError::Unusable {
                tool: name,
                env,
                path: c.path.clone(),
                reason,
                want: major,
            },
        };
        if c.origin == Origin::Env {
            return Err(error);
        }
        first_wrong.get_or_insert(error);
    }
    Err(first_wrong.unwrap_or(ToolError::Missing {
        tool: name,
        env,
        want: major,
    }))
}

impl Environment {
    /// This process's variables plus what `rustc` (`$RUSTC` or `rustc`)
    /// says; `rustc_vv` is the output of `rustc -vV`.
    pub fn current(rustc: &OsString, rustc_vv: &str) -> Environment {
        let nonempty = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let sysroot = Command::new(rustc)
            .args(["--print", "sysroot"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
        Environment {
            profdata_var: nonempty(Tool::Profdata.env_var()),
            cov_var: nonempty(Tool::Cov.env_var()),
            sysroot,
            host: parse_rustc_host(rustc_vv),
            path_dirs: std::env::var_os("PATH")
                .map(|p| std::env::split_paths(&p).collect())
                .unwrap_or_default(),
        }
    }
}

/// Run `path --version` and read the LLVM version.
pub fn probe_version(path: &Path) -> Probe {
    match Command::new(path).arg("--version").output() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Probe::Missing,
        Err(e) => Probe::Unusable(e.to_string()),
        Ok(out) => {
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            match parse_llvm_version(&text) {
                Some(v) => Probe::Version(v),
                None => Probe::Unusable("`--version` shows no LLVM version".into()),
            }
        }
    }
}

/// rustc's LLVM major version ([`crate::toolchain::rustc`]) and its `-vV` output.
pub fn rustc_llvm() -> Result<(OsString, u32, String), ToolError> {
    let rustc = crate::toolchain::rustc();
    let out = Command::new(&rustc)
        .arg("-vV")
        .output()
        .map_err(|e| ToolError::Rustc(format!("running `{} -vV`: {e}", rustc.to_string_lossy())))?;
    let vv = String::from_utf8_lossy(&out.stdout).into_owned();
    let version = parse_llvm_version(&vv)
        .ok_or_else(|| ToolError::Rustc("`rustc -vV` has no `LLVM version:` line".into()))?;
    Ok((rustc, version.major, vv))
}

/// Find both tools for the rustc on this machine.
pub fn find() -> Result<LlvmTools, ToolError> {
    if let Some(tools) = of_the_toolchain() {
        return Ok(tools);
    }
    let (rustc, major, vv) = rustc_llvm()?;
    let env = Environment::current(&rustc, &vv);
    let pick = |tool| select(tool, major, &candidates(tool, major, &env), probe_version);
    Ok(LlvmTools {
        profdata: pick(Tool::Profdata)?,
        cov: pick(Tool::Cov)?,
        llvm_major: major,
    })
}

/// The common case, from rustc's answers kept per toolchain (no process
/// at all once asked; it cost 40 ms before a fast build): no `LLVM_PROFDATA` /
/// `LLVM_COV`, and rustup's `llvm-tools` component in rustc's own
/// sysroot, which [`candidates`] tries first and which ships with that
/// rustc, so its LLVM is rustc's. `None`: the full search decides (an
/// older rustc without `--print host-tuple`, no component, a variable).
fn of_the_toolchain() -> Option<LlvmTools> {
    let set = |tool: Tool| std::env::var_os(tool.env_var()).is_some_and(|v| !v.is_empty());
    if set(Tool::Profdata) || set(Tool::Cov) {
        return None;
    }
    // Kept per rustc binary in the user's cache: at this point (beside
    // cargo's build) the target directory is not known yet.
    let cache = crate::toolchain::user_cache();
    let ask = |args: &[&str]| crate::toolchain::print_cached(cache.as_deref(), args);
    let bin = toolchain_bin(&ask(&["--print", "sysroot", "--print", "host-tuple"])?)?;
    let (profdata, cov) = (bin.join(Tool::Profdata.name()), bin.join(Tool::Cov.name()));
    if !cov.is_file() || !profdata.is_file() {
        return None;
    }
    // The component ships with this rustc: its LLVM is rustc's.
    let llvm_major = parse_llvm_version(&ask(&["-vV"])?)?.major;
    Some(LlvmTools {
        profdata,
        cov,
        llvm_major,
    })
}

/// `<sysroot>/lib/rustlib/<host>/bin` of `rustc --print sysroot --print
/// host-tuple`'s two lines.
fn toolchain_bin(printed: &str) -> Option<PathBuf> {
    let mut lines = printed.lines().map(str::trim);
    let (sysroot, host) = (lines.next()?, lines.next()?);
    if sysroot.is_empty() || host.is_empty() || host.contains('/') || lines.next().is_some() {
        return None;
    }
    Some(
        Path::new(sysroot)
            .join("lib/rustlib")
            .join(host)
            .join("bin"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(major: u32, minor: u32, patch: u32) -> LlvmVersion {
        LlvmVersion {
            major,
            minor,
            patch,
        }
    }

    #[test]
    fn parses_versions() {
        let rustc = "rustc 1.95.0 (59807616e 2026-04-14)\nbinary: rustc\nhost: x86_64-unknown-linux-gnu\nrelease: 1.95.0\nLLVM version: 22.1.2\n";
        assert_eq!(parse_llvm_version(rustc), Some(v(22, 1, 2)));
        assert_eq!(
            parse_rustc_host(rustc).as_deref(),
            Some("x86_64-unknown-linux-gnu")
        );
        for (text, want) in [
            (
                "Debian LLVM version 22.1.8\n  Optimized build.\n",
                Some(v(22, 1, 8)),
            ),
            (
                "LLVM (http://llvm.org/):\n  LLVM version 14.0.6\n",
                Some(v(14, 0, 6)),
            ),
            ("Ubuntu LLVM version 18.1.3-1ubuntu1", Some(v(18, 1, 3))),
            ("LLVM version 20.0.0git", Some(v(20, 0, 0))),
            ("Apple LLVM version 15.0.0", None),
            ("nothing here", None),
        ] {
            assert_eq!(parse_llvm_version(text), want, "{text}");
        }
    }

    fn env() -> Environment {
        Environment {
            sysroot: Some("/rt".into()),
            host: Some("x86_64-unknown-linux-gnu".into()),
            path_dirs: vec!["/usr/local/bin".into(), "/usr/bin".into()],
            ..Environment::default()
        }
    }

    fn paths(c: &[Candidate]) -> Vec<String> {
        c.iter().map(|c| c.path.display().to_string()).collect()
    }

    #[test]
    fn candidate_order() {
        let c = candidates(Tool::Cov, 22, &env());
        assert_eq!(
            paths(&c),
            [
                "/rt/lib/rustlib/x86_64-unknown-linux-gnu/bin/llvm-cov",
                "/usr/local/bin/llvm-cov-22",
                "/usr/bin/llvm-cov-22",
                "/usr/lib/llvm-22/bin/llvm-cov",
                "/usr/local/bin/llvm-cov",
                "/usr/bin/llvm-cov",
            ]
        );
        assert_eq!(c[0].origin, Origin::Rustup);
        assert_eq!(c[5].origin, Origin::Path);
    }

    #[test]
    fn variable_is_the_only_candidate() {
        let mut e = env();
        e.profdata_var = Some("/opt/llvm/bin/llvm-profdata".into());
        let c = candidates(Tool::Profdata, 22, &e);
        assert_eq!(paths(&c), ["/opt/llvm/bin/llvm-profdata"]);
        assert_eq!(c[0].origin, Origin::Env);
        // LLVM_COV unset: the search goes on for llvm-cov.
        assert!(candidates(Tool::Cov, 22, &e).len() > 1);
    }

    /// A fake machine: path → version.
    fn machine<'a>(tools: &'a [(&'a str, LlvmVersion)]) -> impl FnMut(&Path) -> Probe + 'a {
        move |p: &Path| {
            tools
                .iter()
                .find(|(q, _)| Path::new(q) == p)
                .map_or(Probe::Missing, |(_, v)| Probe::Version(*v))
        }
    }

    #[test]
    fn skips_the_old_unversioned_tool_for_the_versioned_one() {
        let c = candidates(Tool::Cov, 22, &env());
        let m = [
            ("/usr/bin/llvm-cov", v(14, 0, 6)),
            ("/usr/bin/llvm-cov-22", v(22, 1, 8)),
        ];
        assert_eq!(
            select(Tool::Cov, 22, &c, machine(&m)).unwrap(),
            Path::new("/usr/bin/llvm-cov-22")
        );
    }

    #[test]
    fn rustup_component_comes_first() {
        let c = candidates(Tool::Profdata, 22, &env());
        let m = [
            ("/usr/bin/llvm-profdata-22", v(22, 1, 8)),
            (
                "/rt/lib/rustlib/x86_64-unknown-linux-gnu/bin/llvm-profdata",
                v(22, 1, 2),
            ),
        ];
        assert!(
            select(Tool::Profdata, 22, &c, machine(&m))
                .unwrap()
                .starts_with("/rt")
        );
    }

    #[test]
    fn only_a_mismatch_names_it() {
        let c = candidates(Tool::Cov, 22, &env());
        let e = select(
            Tool::Cov,
            22,
            &c,
            machine(&[("/usr/bin/llvm-cov", v(14, 0, 6))]),
        )
        .unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, ToolError::Mismatch { .. }));
        for part in [
            "/usr/bin/llvm-cov",
            "LLVM 14.0.6",
            "LLVM 22",
            "rustup component add llvm-tools",
            "apt-get install llvm-22",
            "LLVM_COV",
        ] {
            assert!(msg.contains(part), "{part:?} not in {msg}");
        }
        assert!(!msg.contains('\n'));
    }

    #[test]
    fn nothing_found() {
        let c = candidates(Tool::Profdata, 21, &env());
        let msg = select(Tool::Profdata, 21, &c, machine(&[]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            msg,
            "llvm-profdata for LLVM 21 (rustc's) not found; install it with `rustup component add llvm-tools` or `apt-get install llvm-21`, or set LLVM_PROFDATA to its path"
        );
    }

    #[test]
    fn a_wrong_or_missing_variable_is_an_error_not_skipped() {
        let mut e = env();
        e.cov_var = Some("/x/llvm-cov".into());
        let c = candidates(Tool::Cov, 22, &e);
        let err = select(Tool::Cov, 22, &c, machine(&[("/x/llvm-cov", v(21, 1, 0))]));
        assert!(matches!(err, Err(ToolError::Mismatch { .. })), "{err:?}");
        let err = select(Tool::Cov, 22, &c, machine(&[])).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
        assert!(select(Tool::Cov, 22, &c, |_: &Path| Probe::Version(v(22, 0, 0))).is_ok());
    }

    #[test]
    fn the_toolchain_bin_is_under_the_sysroot() {
        assert_eq!(
            toolchain_bin("/r/tc\nx86_64-unknown-linux-gnu\n"),
            Some(PathBuf::from(
                "/r/tc/lib/rustlib/x86_64-unknown-linux-gnu/bin"
            ))
        );
        assert_eq!(toolchain_bin("/r/tc\n"), None, "no host: an older rustc");
        assert_eq!(toolchain_bin("/r/tc\nx/y\n"), None);
        assert_eq!(toolchain_bin("/r/tc\nhost\nmore\n"), None);
    }

    /// The tools of this machine: the tests that run them fail (not skip)
    /// with the install message when they are missing. The toolchain's
    /// shortcut finds what the full search does.
    #[test]
    fn finds_the_tools_of_this_machine() {
        let tools = find().unwrap_or_else(|e| panic!("{e}"));
        let (rustc, major, vv) = rustc_llvm().unwrap();
        let env = Environment::current(&rustc, &vv);
        let pick = |tool| select(tool, major, &candidates(tool, major, &env), probe_version);
        let searched = LlvmTools {
            profdata: pick(Tool::Profdata).unwrap(),
            cov: pick(Tool::Cov).unwrap(),
            llvm_major: major,
        };
        assert_eq!(tools, searched);
        for p in [&tools.profdata, &tools.cov] {
            match probe_version(p) {
                Probe::Version(v) => assert_eq!(v.major, tools.llvm_major),
                other => panic!("{}: {other:?}", p.display()),
            }
        }
    }
}
