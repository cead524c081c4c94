//! Impact maps in the plan: `--record-impact` runs each test in a process
//! of its own ([`one_test_per_process`]); `--affected` keeps the tests a
//! change can affect and reports the others as unaffected ([`affected`]).

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use anyhow::{Context, Result};
use camino::Utf8Path;

use super::key::GroupKey;
use super::units::{Plan, TestGroup, WorkUnit};
use crate::build::BuildOutput;
use crate::config::{Filters, ImpactOptions, RunConfig};
use crate::error::UsageError;
use crate::event::{Outcome, TestResult};
use crate::impact::tree::{self, FileState};
use crate::impact::{ImpactMap, Selection, map};
use crate::list::{Listing, TestCase};

/// Every libtest unit cut into one unit per test, none batched: each
/// test's processes then write profiles of their own.
pub fn one_test_per_process(plan: &mut Plan, build: &BuildOutput) {
    for units in [&mut plan.units, &mut plan.first] {
        let old = std::mem::take(units);
        for unit in old {
            let WorkUnit::Tests(g) = unit else {
                units.push(unit);
                continue;
            };
            let id = &build.binaries[g.binary].id;
            for test in g.tests {
                units.push(WorkUnit::Tests(TestGroup {
                    key: GroupKey::new(id, test.name.as_str()),
                    binary: g.binary,
                    tests: vec![test],
                    batchable: false,
                }));
            }
        }
    }
}

/// The run's plan: `--lf`/`--ff`, `--affected` (`key`: this build's
/// impact key) and the filters select, then the units are cut (one test a
/// process under `--record-impact`); and `--affected`'s one line.
pub fn for_run(
    config: &RunConfig,
    build: &BuildOutput,
    listing: Listing,
    key: Option<&str>,
) -> Result<(Plan, Option<String>)> {
    let last = super::last_failures(build, config.last_failed);
    let a = affected(
        &config.impact,
        build,
        key.unwrap_or_default(),
        &config.filters,
        listing,
    )?;
    let (dist, groups) = (config.dist, &config.groups);
    let mut plan = super::plan(dist, groups, build, a.listing, &config.filters, &last);
    plan.known.extend(a.unaffected);
    if config.impact.record {
        one_test_per_process(&mut plan, build);
    }
    Ok((plan, a.note))
}

/// What `--affected` keeps of a listing.
#[derive(Debug, Default)]
pub struct Affected {
    /// The listing with the unaffected tests taken out.
    pub listing: Listing,
    /// The unaffected tests' results (known before the run).
    pub unaffected: Vec<TestResult>,
    /// One line on what was selected and why.
    pub note: Option<String>,
}

/// `--affected`: the tests of `listing` that the changes since the impact
/// map can affect; the rest become [`Outcome::Unaffected`] results. `key`
/// is this build's impact key. Anything that keeps the map from telling
/// runs every test, and the note says why. A REF git cannot read is a
/// usage error.
pub fn affected(
    opts: &ImpactOptions,
    build: &BuildOutput,
    key: &str,
    filters: &Filters,
    listing: Listing,
) -> Result<Affected> {
    let Some(reference) = &opts.affected else {
        return Ok(Affected {
            listing,
            ..Default::default()
        });
    };
    // What the filters select (tests they leave out are not reported).
    let selected = super::select(listing.cases.clone(), filters);
    let runnable = selected.iter().filter(|c| !c.ignored).count();
    // Every test runs, and the note says why.
    let all = |listing: Listing, why: String| Affected {
        note: Some(format!("--affected: running all {runnable} tests: {why}")),
        unaffected: Vec::new(),
        listing,
    };
    let path = (opts.file.clone()).unwrap_or_else(|| map::default_path(&build.target_directory));
    let m = match ImpactMap::load(&path) {
        Ok(Some(m)) => m,
        Ok(None) => {
            let why = format!(
                "there is no impact map at {path} (record one with `cargo xdist --record-impact`)"
            );
            return Ok(all(listing, why));
        }
        Err(e) => return Ok(all(listing, format!("{e:#}"))),
    };
    let root = &build.workspace_root;
    let now = workspace_tree(build).context("reading the workspace's files for --affected")?;
    let since = match reference {
        Some(r) => changed_since(root, r)?,
        None => BTreeMap::new(),
    };
    // Only a changed file can need to be known as a test target's root.
    let changed_rs: BTreeSet<&String> = (now.keys().chain(m.files.keys()).chain(since.keys()))
        .filter(|f| f.ends_with(".rs"))
        .filter(|f| since.contains_key(*f) || now.get(*f) != m.files.get(*f))
        .collect();
    let rust_files: Vec<&String> = now.keys().filter(|k| k.ends_with(".rs")).collect();
    let options = crate::impact::SelectOptions {
        globs: opts.ignore.clone(),
        test_roots: test_roots(build, &changed_rs, &rust_files),
    };
    let selection = crate::impact::select::select(&m, &now, &since, &options, key);
    let (tests, changed, whole, widened) = match selection {
        Selection::All(why) => return Ok(all(listing, why)),
        Selection::Some {
            tests,
            changed_files,
            whole,
            widened,
        } => (tests, changed_files, whole, widened),
    };
    let packages = match widen(build, &widened) {
        Err(why) => return Ok(all(listing, why)),
        Ok(packages) => packages,
    };
    let known: BTreeSet<(&str, &str)> = (m.tests.iter())
        .map(|(b, n)| (b.as_str(), n.as_str()))
        .collect();
    // A test of a test target (tests/, benches/, examples/) runs when its
    // file changed, and with every test of its binary when the change was
    // outside its functions; a unit test in a library's or binary's
    // source only when it ran what changed (its own body included).
    let keep = |c: &TestCase| {
        let binary = &build.binaries[c.binary];
        let id = binary.id.as_str();
        let test_target = matches!(binary.kind.as_str(), "test" | "bench" | "example");
        c.ignored
            || !known.contains(&(id, c.name.as_str()))
            || opts.always.iter().any(|a| c.name.contains(a.as_str()))
            || tests.contains(&(id.to_string(), c.name.clone()))
            || (test_target
                && (c.source_path.as_deref()).is_some_and(|s| changed.contains(&relative(s, root))))
            || (test_target && whole.contains(&relative(binary.src_path.as_str(), root)))
            || packages.contains(&binary.package)
    };
    let out: Vec<TestCase> = selected.into_iter().filter(|c| !keep(c)).collect();
    let gone: BTreeSet<(usize, &str)> = out.iter().map(|c| (c.binary, c.name.as_str())).collect();
    let cases: Vec<TestCase> = (listing.cases.into_iter())
        .filter(|c| !gone.contains(&(c.binary, c.name.as_str())))
        .collect();
    let running = runnable - out.len();
    let unaffected: Vec<TestResult> = out
        .into_iter()
        .map(|c| {
            TestResult::new(
                &build.binaries[c.binary].id,
                &c.name,
                c.source_path,
                "",
                "-",
                Outcome::Unaffected,
            )
        })
        .collect();
    let when = m.commit.as_deref().map_or(String::new(), |c| {
        format!(" at {}", c.get(..10).unwrap_or(c))
    });
    let mut note = format!(
        "--affected: running {running} of {runnable} tests; {} unaffected by {} changed file{} since the impact map (recorded{when}, {})",
        unaffected.len(),
        changed.len(),
        if changed.len() == 1 { "" } else { "s" },
        age(m.recorded_at),
    );
    if let Some((_, why)) = widened.first().filter(|_| unaffected.is_empty()) {
        note = format!("--affected: running all {runnable} tests: {why}");
    } else if let Some((_, why)) = widened.first() {
        let names: Vec<&str> = packages.iter().map(String::as_str).collect();
        note.push_str(&format!("; every test of {} runs: {why}", names.join(", ")));
    }
    Ok(Affected {
        listing: Listing {
            cases,
            failures: listing.failures,
        },
        unaffected,
        note: Some(note),
    })
}

/// The packages whose every test runs for `widened` (file, why: changes
/// the map cannot see): the package that holds each file and every
/// workspace package that depends on it, directly or not. Err(why) when
/// a change reaches every package: a file of the workspace's own build
/// (`Cargo.lock`, the root manifest, `rust-toolchain`, `.cargo/`,
/// `.config/`), a file outside every package, or a build that does not
/// say its packages (an older archive).
fn widen(build: &BuildOutput, widened: &[(String, String)]) -> Result<BTreeSet<String>, String> {
    let mut packages = BTreeSet::new();
    if widened.is_empty() {
        return Ok(packages);
    }
    const WHOLE: &[&str] = &[
        "Cargo.lock",
        "Cargo.toml",
        "rust-toolchain",
        "rust-toolchain.toml",
    ];
    for (path, why) in widened {
        let global = WHOLE.contains(&path.as_str())
            || path.starts_with(".cargo/")
            || path.starts_with(".config/");
        let inside = |dir: &str| dir.is_empty() || path.starts_with(&format!("{dir}/"));
        let owner = (build.packages.iter())
            .filter(|p| inside(&p.dir))
            .max_by_key(|p| p.dir.len());
        match owner {
            Some(p) if !global => {
                packages.insert(p.name.clone());
            }
            _ => return Err(why.clone()),
        }
    }
    // And every package that depends on one of those.
    loop {
        let more: Vec<String> = (build.packages.iter())
            .filter(|p| !packages.contains(&p.name) && p.deps.iter().any(|d| packages.contains(d)))
            .map(|p| p.name.clone())
            .collect();
        if more.is_empty() {
            return Ok(packages);
        }
        packages.extend(more);
    }
}

/// The root files of the test targets (tests, benches, examples) that no
/// other Rust file of their directory names as a module (`mod common;` in
/// `tests/a.rs` compiles `tests/common.rs` into `a` too) and no Rust file
/// of the workspace (`rust_files`, relative to the root) names in a
/// `#[path]`: a change outside their functions reaches their own binary
/// only.
fn test_roots(
    build: &BuildOutput,
    changed: &BTreeSet<&String>,
    rust_files: &[&String],
) -> BTreeSet<String> {
    let root = &build.workspace_root;
    // Only changed roots matter: unless one is, nothing is read.
    let candidates: Vec<&crate::build::TestBinary> = (build.binaries.iter())
        .filter(|b| matches!(b.kind.as_str(), "test" | "bench" | "example"))
        .filter(|b| changed.contains(&relative(b.src_path.as_str(), root)))
        .collect();
    if candidates.is_empty() {
        return BTreeSet::new();
    }
    // Every file name a `#[path = "..."]` attribute gives.
    let mut by_path = BTreeSet::new();
    for f in rust_files {
        let text = fs_err::read_to_string(root.join(f)).unwrap_or_default();
        for at in text.match_indices("path").map(|(i, _)| i) {
            let rest = text[at + 4..].trim_start();
            if let Some(value) = rest.strip_prefix('=').map(str::trim_start) {
                if let Some(v) = value.strip_prefix('"').and_then(|v| v.split('"').next()) {
                    by_path.extend(Utf8Path::new(v).file_name().map(String::from));
                }
            }
        }
    }
    let mut out = BTreeSet::new();
    for b in candidates {
        let (Some(dir), Some(stem), Some(name)) = (
            b.src_path.parent(),
            b.src_path.file_stem(),
            b.src_path.file_name(),
        ) else {
            continue;
        };
        let named = |text: &str| {
            text.lines().any(|l| {
                let l = l
                    .trim_start()
                    .trim_start_matches("pub ")
                    .trim_start_matches("pub(crate) ");
                l.strip_prefix("mod ")
                    .is_some_and(|rest| rest.trim_start().starts_with(stem))
            })
        };
        let Ok(entries) = fs_err::read_dir(dir) else {
            continue;
        };
        let mut alone = true;
        for e in entries.flatten() {
            let path = e.path();
            if path.extension().is_some_and(|x| x == "rs") && path != b.src_path.as_std_path() {
                let text = fs_err::read_to_string(&path).unwrap_or_default();
                alone &= !named(&text);
            }
        }
        if alone && name != "mod.rs" && !by_path.contains(name) {
            out.insert(relative(b.src_path.as_str(), root));
        }
    }
    out
}

/// The workspace's files as impact maps see them, the target
/// directories aside (for `--affected`, and `--record-impact`'s check that
/// nothing changed during the run).
pub fn workspace_tree(build: &BuildOutput) -> Result<tree::Tree> {
    let targets = [build.target_directory.as_path(), build.target_dir.as_path()];
    tree::snapshot(&build.workspace_root, &targets)
}

/// A source path as the listing gives it, relative to `root`.
fn relative(path: &str, root: &Utf8Path) -> String {
    let p = Utf8Path::new(path);
    p.strip_prefix(root).unwrap_or(p).as_str().to_string()
}

/// How long ago `secs` (since the epoch) was, in words.
fn age(secs: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let ago = std::time::Duration::from_secs(now.saturating_sub(secs));
    let words = humantime::format_duration(ago).to_string();
    let two: Vec<&str> = words.split(' ').take(2).collect();
    format!("{} ago", two.join(" "))
}

/// `--affected REF`: the files that differ between REF and the working
/// tree, with their content at REF (None: not there).
fn changed_since(root: &Utf8Path, reference: &str) -> Result<BTreeMap<String, Option<FileState>>> {
    let git = |args: &[&str]| {
        Command::new("git")
            .current_dir(root)
            .args(args)
            .output()
            .map_err(|e| {
                UsageError(format!(
                    "--affected {reference}: cannot run git ({e}); install git or leave out the REF"
                ))
            })
    };
    let out = git(&["diff", "--name-only", "--relative", "-z", reference, "--"])?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let first = err.lines().next().unwrap_or_default();
        return Err(UsageError(format!(
            "--affected {reference}: git cannot compare with it ({first}); give a revision of this repository, e.g. origin/main"
        ))
        .into());
    }
    let mut files = BTreeMap::new();
    for path in String::from_utf8_lossy(&out.stdout)
        .split('\0')
        .filter(|p| !p.is_empty())
    {
        let shown = git(&["show", &format!("{reference}:./{path}")])?;
        let state = shown
            .status
            .success()
            .then(|| FileState::of(Utf8Path::new(path), &shown.stdout));
        files.insert(path.to_string(), state);
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widening_reaches_the_package_and_what_depends_on_it() {
        let pkg = |name: &str, dir: &str, deps: &[&str]| crate::build::WorkspacePackage {
            name: name.into(),
            dir: dir.into(),
            deps: deps.iter().map(|d| d.to_string()).collect(),
        };
        let build = BuildOutput {
            packages: vec![
                pkg("app", "", &["core"]),
                pkg("core", "crates/core", &["util"]),
                pkg("util", "crates/util", &[]),
                pkg("other", "crates/other", &[]),
            ],
            ..Default::default()
        };
        let w = |path: &str| widen(&build, &[(path.to_string(), format!("{path} changed"))]);
        let set = |names: &[&str]| Ok(names.iter().map(|n| n.to_string()).collect());
        assert_eq!(w("crates/util/src/lib.rs"), set(&["app", "core", "util"]));
        assert_eq!(w("crates/other/data.json"), set(&["other"]));
        assert_eq!(w("README.md"), set(&["app"]));
        // `crates/core2` is not inside `crates/core`.
        assert_eq!(w("crates/utilities/x.rs"), set(&["app"]));
        for global in [
            "Cargo.lock",
            "Cargo.toml",
            ".cargo/config.toml",
            "rust-toolchain.toml",
        ] {
            assert_eq!(w(global), Err(format!("{global} changed")));
        }
        // A build that does not say its packages (an older archive).
        let bare = BuildOutput::default();
        let err = widen(&bare, &[("x.rs".into(), "why".into())]);
        assert_eq!(err, Err("why".to_string()));
        assert_eq!(widen(&bare, &[]), Ok(BTreeSet::new()));
    }

    #[test]
    fn ages_read_as_words() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert_eq!(age(now - 125), "2m 5s ago");
        assert_eq!(age(now), "0s ago");
        assert_eq!(age(now - 3 * 86400 - 7200), "3days 2h ago");
    }
}
