//! Invoking cargo: its program, the arguments passed through, `cargo
//! metadata`, and `cargo test --no-run --message-format=json-render-diagnostics`
//! (`compile`).

use std::collections::HashMap;
use std::io::BufReader;
use std::process::{Command, Stdio};

use anyhow::{Context, Result};
use camino::Utf8PathBuf;
use cargo_metadata::{Message, Metadata, MetadataCommand, PackageId};

use super::runtime_env::{LibdirQuery, ScriptOutput};
use crate::config::BuildOptions;
use crate::coverage::instrument::CargoInstrumentation;
use crate::error::{BuildFailed, UsageError};

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

/// `cargo test --no-run` failed before it reported anything: it did not
/// get as far as compiling (its error is on stderr).
#[derive(Debug, thiserror::Error)]
#[error("cargo stopped before compiling")]
pub(super) struct BeforeCompiling;

/// What `cargo test --no-run` reported.
pub(super) struct Compiled {
    pub(super) artifacts: Vec<cargo_metadata::Artifact>,
    /// Executables that are not tests (bins built for integration tests).
    pub(super) other_executables: Vec<Utf8PathBuf>,
    /// Each package's `bin` targets among them: (name, executable).
    pub(super) bins: HashMap<PackageId, Vec<(String, Utf8PathBuf)>>,
    pub(super) scripts: HashMap<PackageId, ScriptOutput>,
    /// Test binaries of dylib and proc-macro crates link std dynamically:
    /// they need the toolchain's library directory, as cargo provides
    /// (None: no such crate was built, or rustc did not say).
    pub(super) std_libdir: Option<String>,
    /// The `dylib` and `cdylib` crates' files.
    pub(super) dylibs: Vec<Utf8PathBuf>,
}

/// `profile`: under `--coverage`, where the instrumented build scripts
/// write their profiles (not into the package directories as
/// `default_*.profraw`).
pub(super) fn compile(
    b: &BuildOptions,
    instrumentation: Option<&CargoInstrumentation>,
    profile: Option<&str>,
    libdir_wanted: bool,
    target_dir: &camino::Utf8Path,
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
    // Asking rustc for std's libdir takes ~20 ms when its answer is not
    // kept yet (a new toolchain): it is asked from the start when the last
    // build needed it, else as soon as cargo names a
    // proc-macro or dylib crate (serde_derive and the like), while cargo
    // goes on checking the build; used only if this build needs it.
    let mut libdir = LibdirQuery {
        asked: None,
        target_dir: target_dir.to_owned(),
    };
    let mut needs_std_dylib = false;
    if libdir_wanted {
        libdir.start();
    }
    let mut dylibs = Vec::new();
    let mut messages = 0usize;
    for msg in Message::parse_stream(BufReader::new(stdout)) {
        messages += 1;
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
        let failed = anyhow::Error::new(BuildFailed(status.to_string()));
        return Err(match messages {
            0 => failed.context(BeforeCompiling),
            _ => failed,
        });
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
}
