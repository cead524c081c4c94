//! Recording a map (`--record-impact`): each test ran alone in its own
//! processes, which wrote their own raw profiles; what each executed is
//! read from those ([`super::profraw`]), and where each function lies in
//! the sources from `llvm-cov export` of the run's binaries (which names
//! every instrumented function, run or not, with its regions).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::process::Command;

use anyhow::{Context, Result, bail};
use camino::{Utf8Path, Utf8PathBuf};
use rayon::prelude::*;
use serde::Deserialize;

use super::map::{ImpactMap, Span, TestKey, VERSION};
use super::profraw::{executed, name_ref};
use super::tree::Tree;

/// The LLVM tools and the files `llvm-cov export` needs: plain paths,
/// from the coverage session.
#[derive(Debug, Clone)]
pub struct Tools {
    pub llvm_cov: Utf8PathBuf,
    pub llvm_profdata: Utf8PathBuf,
    /// Every instrumented executable.
    pub objects: Vec<Utf8PathBuf>,
    /// `-ignore-filename-regex` values (dependencies, the toolchain).
    pub ignore: Vec<String>,
    /// The workspace root the coverage maps name (where the binaries were
    /// built: an archive's build machine's).
    pub built_root: Utf8PathBuf,
    /// A private directory for the export's scratch files.
    pub scratch: Utf8PathBuf,
    /// Directories (relative to the root; empty: the whole workspace) of
    /// packages whose code runs at compile time (proc macros, build
    /// dependencies): every function in them counts as a `const fn`.
    pub compile_time_dirs: Vec<String>,
}

/// One file's functions while recording: (first line, last line) →
/// (a `const fn`, the tests that ran it).
type FileSpans = BTreeMap<(u32, u32), (bool, BTreeSet<u32>)>;

/// What one run recorded.
#[derive(Debug, Default)]
pub struct Recorded {
    /// Each test that passed alone in its processes → their profiles.
    pub profiles: BTreeMap<TestKey, Vec<Utf8PathBuf>>,
}

/// Every instrumented function of the build with its regions, from
/// [`export`] (which can run while the tests do).
#[derive(Debug)]
pub struct Functions(Vec<Function>);

/// The build's functions: `llvm-cov export` of the objects against an
/// empty profile (it needs no test to have run).
pub fn export(tools: &Tools) -> Result<Functions> {
    export_functions(tools).map(Functions)
}

/// The map of `recorded`, on `tree` (the workspace at `root`), for the
/// build `key`; `functions` from [`export`].
pub fn record(
    recorded: &Recorded,
    tools: &Tools,
    functions: Functions,
    root: &Utf8Path,
    tree: Tree,
    key: String,
) -> Result<ImpactMap> {
    // What each test executed, read in parallel.
    let tests: Vec<(&TestKey, &Vec<Utf8PathBuf>)> = recorded.profiles.iter().collect();
    let hits: Vec<std::collections::HashSet<u64>> = tests
        .par_iter()
        .map(|(_, files)| {
            let mut all = std::collections::HashSet::new();
            for f in files.iter() {
                all.extend(executed(f)?);
            }
            Ok(all)
        })
        .collect::<Result<_>>()?;
    let mut by_function: HashMap<u64, Vec<u32>> = HashMap::new();
    for (i, hit) in hits.iter().enumerate() {
        for &f in hit {
            by_function.entry(f).or_default().push(i as u32);
        }
    }
    let Functions(functions) = functions;
    let mut spans: BTreeMap<String, FileSpans> = BTreeMap::new();
    let mut sources: HashMap<String, Vec<String>> = HashMap::new();
    for f in functions {
        let tests = by_function.get(&name_ref(&f.name));
        let mut extent: BTreeMap<usize, (u32, u32)> = BTreeMap::new();
        for r in &f.regions {
            let [start, _, end, ..] = r[..] else { continue };
            let file = r.get(5).copied().unwrap_or(0) as usize;
            let e = extent.entry(file).or_insert((start, end));
            e.0 = e.0.min(start);
            e.1 = e.1.max(end);
        }
        for (file, (start, end)) in extent {
            let Some(rel) = f
                .filenames
                .get(file)
                .and_then(|p| relative(p, &tools.built_root))
            else {
                continue;
            };
            let lines = sources.entry(rel.clone()).or_insert_with(|| {
                fs_err::read_to_string(root.join(&rel))
                    .map(|t| t.lines().map(String::from).collect())
                    .unwrap_or_default()
            });
            let at_build = (tools.compile_time_dirs.iter())
                .any(|d| d.is_empty() || Utf8Path::new(&rel).starts_with(d));
            let entry = spans
                .entry(rel)
                .or_default()
                .entry((start, end))
                .or_default();

            entry.0 |= at_build || is_const_fn(lines, start);
            entry.1.extend(tests.into_iter().flatten().copied());
        }
    }
    let spans = spans
        .into_iter()
        .map(|(file, s)| {
            let s = s
                .into_iter()
                .map(|((start, end), (compile_time, tests))| Span {
                    start,
                    end,
                    compile_time,
                    tests: tests.into_iter().collect(),
                })
                .collect();
            (file, s)
        })
        .collect();
    Ok(ImpactMap {
        version: VERSION,
        key,
        commit: git_head(root),
        recorded_at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        tests: tests.into_iter().map(|(t, _)| t.clone()).collect(),
        files: tree,
        spans,
    })
}

/// A function of `llvm-cov export`'s JSON, the parts a map needs.
#[derive(Debug, Deserialize)]
struct Function {
    name: String,
    filenames: Vec<String>,
    /// `[line start, column start, line end, column end, count, file id,
    /// expanded file id, kind]`.
    regions: Vec<Vec<u32>>,
}

#[derive(Deserialize)]
struct Export {
    data: Vec<ExportData>,
}

#[derive(Deserialize)]
struct ExportData {
    functions: Vec<Function>,
}

/// Every instrumented function of the objects, with its regions: an
/// export against a profile that names none of them (llvm-cov lists
/// functions the profile lacks as not run).
fn export_functions(tools: &Tools) -> Result<Vec<Function>> {
    let text = tools.scratch.join("empty.proftext");
    fs_err::write(
        &text,
        "cargo_xdist_none\n# Func Hash:\n1\n# Num Counters:\n1\n# Counter Values:\n0\n",
    )?;
    let profdata = tools.scratch.join("empty.profdata");
    let out = Command::new(&tools.llvm_profdata)
        .args(["merge", "-o"])
        .arg(&profdata)
        .arg(&text)
        .output()
        .with_context(|| format!("cannot run {}", tools.llvm_profdata))?;
    if !out.status.success() {
        bail!(
            "llvm-profdata failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let json = tools.scratch.join("functions.json");
    let mut cmd = Command::new(&tools.llvm_cov);
    cmd.args([
        "export",
        "-format=text",
        "-skip-expansions",
        "-instr-profile",
    ])
    .arg(&profdata);
    for ignore in &tools.ignore {
        cmd.arg(format!("-ignore-filename-regex={ignore}"));
    }
    let mut objects = tools.objects.iter();
    if let Some(first) = objects.next() {
        cmd.arg(first);
    }
    for o in objects {
        cmd.arg("-object").arg(o);
    }
    cmd.stdout(fs_err::File::create(&json)?.into_parts().0);
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {}", tools.llvm_cov))?;
    if !out.status.success() {
        bail!(
            "llvm-cov export failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let reader = std::io::BufReader::new(fs_err::File::open(&json)?);
    let export: Export = serde_json::from_reader(reader).context("reading llvm-cov's export")?;
    let _ = fs_err::remove_file(&json);
    Ok(export.data.into_iter().flat_map(|d| d.functions).collect())
}

/// `path` relative to `root`, `/`-separated; None outside it.
fn relative(path: &str, root: &Utf8Path) -> Option<String> {
    let rel = Utf8Path::new(path).strip_prefix(root).ok()?;
    Some(rel.as_str().replace('\\', "/"))
}

/// The function whose span starts at `start` (1-based) is a `const fn`:
/// its signature, up to the line with its body's `{`, says so.
fn is_const_fn(lines: &[String], start: u32) -> bool {
    let from = (start as usize).saturating_sub(1);
    for line in lines.iter().skip(from).take(8) {
        if line.contains("const fn") || line.contains("const unsafe fn") {
            return true;
        }
        if line.contains('{') {
            return false;
        }
    }
    false
}

/// The commit checked out at `root`, if it is a git work tree.
fn git_head(root: &Utf8Path) -> Option<String> {
    let out = Command::new("git")
        .current_dir(root)
        .args(["rev-parse", "HEAD"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn const_fns_are_told_by_their_signature() {
        let lines: Vec<String> = [
            "pub const fn f(",
            "    x: u8,",
            ") -> u8 {",
            "}",
            "fn g() -> u8 {",
            "    const fn inner() {}",
            "}",
        ]
        .map(String::from)
        .to_vec();
        assert!(is_const_fn(&lines, 1));
        assert!(
            !is_const_fn(&lines, 5),
            "a const fn inside the body is its own span"
        );
    }

    #[test]
    fn relative_paths_stay_inside_the_root() {
        let root = Utf8Path::new("/w/app");
        assert_eq!(
            relative("/w/app/src/lib.rs", root).as_deref(),
            Some("src/lib.rs")
        );
        assert_eq!(relative("/w/application/src/lib.rs", root), None);
        assert_eq!(relative("/rustc/abc/library/core/src/x.rs", root), None);
    }
}
