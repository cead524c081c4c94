//! `--record-impact` after the run: the impact map of the tests that
//! passed, each alone in its processes, written where `--affected` reads
//! it; and `cargo xdist impact merge`.

use std::collections::BTreeSet;

use anyhow::{Context, Result, bail};
use camino::{Utf8Path, Utf8PathBuf};

use crate::build::BuildOutput;
use crate::config::ImpactOptions;
use crate::coverage::finish::Session;
use crate::coverage::ignore::{IgnoreInputs, outside_workspace_regexes};
use crate::error::UsageError;
use crate::event::{Outcome, RunSummary};
use crate::impact::record::{Functions, Recorded, Tools, export, record};
use crate::impact::tree::Tree;
use crate::impact::{ImpactMap, map};

/// `--record-impact` from the build to the end of the run.
pub struct Recording {
    path: Utf8PathBuf,
    /// The workspace's files before the run, to check that the map is
    /// made of the sources the binaries were built from.
    before: Result<Tree>,
    key: String,
    tools: Result<Tools>,
    /// The build's functions, exported while the tests run.
    export: Option<std::thread::JoinHandle<Result<Functions>>>,
}

impl Recording {
    /// None unless `--record-impact`; `key`: the build's impact key. Starts
    /// exporting the build's functions in the background.
    pub fn start(
        opts: &ImpactOptions,
        build: &BuildOutput,
        key: Option<&str>,
        coverage: Option<&mut Session>,
    ) -> Option<Self> {
        if !opts.record {
            return None;
        }
        let coverage = coverage.context("--record-impact needs the instrumented build");
        let tools = coverage
            .and_then(|c| c.tools_and_scratch("impact"))
            .and_then(|(llvm_cov, llvm_profdata, scratch)| {
                tools(build, llvm_cov, llvm_profdata, scratch)
            });
        let export = (tools.as_ref().ok().cloned()).map(|t| std::thread::spawn(move || export(&t)));
        Some(Recording {
            path: (opts.file.clone()).unwrap_or_else(|| map::default_path(&build.target_directory)),
            before: crate::plan::workspace_tree(build),
            key: key.unwrap_or_default().to_string(),
            tools,
            export,
        })
    }

    /// Write the impact map of `summary`'s passing tests; one line on
    /// what it holds.
    pub fn save(self, summary: &RunSummary, build: &BuildOutput) -> Result<String> {
        let tools = self.tools?;
        let before = self.before?;
        let tree = crate::plan::workspace_tree(build)?;
        if tree != before {
            let changed = (tree.keys().chain(before.keys()))
                .find(|f| tree.get(*f) != before.get(*f))
                .cloned()
                .unwrap_or_default();
            bail!(
                "the workspace changed during the run ({changed}), so the map would not match the binaries; record it again"
            );
        }
        let recorded = recorded(summary)?;
        let functions = (self.export.context("no export of the build's functions")?)
            .join()
            .map_err(|_| anyhow::anyhow!("the export of the build's functions panicked"))??;
        let m = record(
            &recorded,
            &tools,
            functions,
            &build.workspace_root,
            tree,
            self.key,
        )
        .context("recording the impact map")?;
        m.save(&self.path)?;
        Ok(describe(&m, &self.path))
    }
}

/// What recording needs of the build: its objects, where its coverage
/// maps say the sources are, and which of those are not the workspace's.
fn tools(
    build: &BuildOutput,
    llvm_cov: Utf8PathBuf,
    llvm_profdata: Utf8PathBuf,
    scratch: Utf8PathBuf,
) -> Result<Tools> {
    let input = build.coverage_input();
    let target = (input.target_dir).context("the build was not instrumented")?;
    let (built_root, built_target) = input.built_at.unwrap_or((input.workspace_root, target));
    let ignore = IgnoreInputs::from_env(&built_root, &built_target);
    Ok(Tools {
        llvm_cov,
        llvm_profdata,
        objects: input.objects,
        ignore: outside_workspace_regexes(&ignore),
        built_root,
        scratch,
        compile_time_dirs: build.compile_time_dirs.clone(),
    })
}

/// Each test that passed at its first attempt, alone in its process, with
/// the profiles its process and children wrote.
fn recorded(summary: &RunSummary) -> Result<Recorded> {
    let passed: BTreeSet<(&str, &str)> = (summary.results.iter())
        .filter(|r| r.outcome == Outcome::Passed && !r.is_retry())
        .map(|r| (r.binary.as_str(), r.name.as_str()))
        .collect();
    let mut recorded = Recorded::default();
    for (binary, tests, prefix) in &summary.profiles {
        let [test] = &tests[..] else { continue };
        if !passed.contains(&(binary.as_str(), test.as_str())) {
            continue;
        }
        let files = profiles_of(prefix)?;
        if !files.is_empty() {
            (recorded.profiles.entry((binary.clone(), test.clone())))
                .or_default()
                .extend(files);
        }
    }
    Ok(recorded)
}

/// The profiles whose path starts with `prefix`.
fn profiles_of(prefix: &str) -> Result<Vec<Utf8PathBuf>> {
    let prefix = Utf8Path::new(prefix);
    let (Some(dir), Some(stem)) = (prefix.parent(), prefix.file_name()) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for entry in fs_err::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with(stem) && name.ends_with(".profraw") {
            out.push(dir.join(name));
        }
    }
    Ok(out)
}

/// `Impact map: N tests, M functions in K files, written to PATH (S KiB)`.
fn describe(m: &ImpactMap, path: &Utf8Path) -> String {
    let functions: usize = m.spans.values().map(Vec::len).sum();
    let size = fs_err::metadata(path).map_or(0, |m| m.len());
    format!(
        "Impact map: {} tests, {functions} functions in {} files, written to {path} ({} KiB)",
        m.tests.len(),
        m.spans.len(),
        size.div_ceil(1024)
    )
}

/// `cargo xdist impact merge`: the shards' maps as one, written to `out`.
pub fn merge(args: &crate::cli::ImpactMergeArgs) -> Result<String> {
    let out = Utf8Path::new(&args.output);
    let usage = |e: anyhow::Error| UsageError(format!("{e:#}"));
    let mut maps = Vec::new();
    for input in &args.inputs {
        let path = Utf8Path::new(input);
        let m = ImpactMap::load(path).map_err(usage)?.ok_or_else(|| {
            UsageError(format!("there is no impact map at {path}; check the path"))
        })?;
        maps.push(m);
    }
    let merged = ImpactMap::merge(maps).map_err(usage)?;
    merged.save(out)?;
    Ok(describe(&merged, out))
}
