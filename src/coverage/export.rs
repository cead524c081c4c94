//! Exporting a merged profile with llvm-cov: lcov, the JSON export, its
//! per-file summary, and HTML pages, their paths as reported.

use std::ffi::OsString;

use anyhow::{Context, Result, bail};
use camino::{Utf8Path, Utf8PathBuf};

use super::invoke::run;
use super::lcov::{self, LcovReport};
use super::summary::{Summary, parse_summary};
use super::tools::LlvmTools;

/// What every llvm-cov export or show reads.
#[derive(Debug, Clone)]
pub struct ExportInput<'a> {
    pub tools: &'a LlvmTools,
    pub profdata: &'a Utf8Path,
    /// Every instrumented test binary (and any other executable the tests
    /// ran), each passed as `-object`.
    pub objects: &'a [Utf8PathBuf],
    /// From [`super::ignore::ignore_filename_regexes`] (of the paths the coverage maps
    /// name: llvm-cov matches them before any path equivalence).
    pub ignore: &'a [String],
    /// (as built, here): the sources are checked out elsewhere than where
    /// the objects were built (`--archive-file --workspace-remap`). llvm-cov
    /// reads them from here (`-path-equivalence`, for HTML); the reports'
    /// paths are moved here, but HTML's pages keep the built paths' names.
    pub path_equivalence: Option<(&'a Utf8Path, &'a Utf8Path)>,
}

impl ExportInput<'_> {
    /// `path` as the reports name it: moved by the path equivalence when
    /// it lies under its first path (whole components), else unchanged.
    pub fn report_path(&self, path: &str) -> String {
        let Some((from, to)) = self.path_equivalence else {
            return path.to_string();
        };
        let rest = lcov::strip_prefix(path, &[from.to_string()]);
        match rest == path {
            true => rest,
            false => to.join(rest).into_string(),
        }
    }
}

/// The llvm-cov kinds of output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CovOutput {
    /// `export -format=lcov`; without `functions`, `-skip-functions` (no
    /// FN records: the table and term-missing read lines only)
    Lcov { functions: bool },
    /// `export -format=text`, optionally `-summary-only`
    Json { summary_only: bool },
    /// `show -format=html`
    Html,
}

/// The llvm-cov arguments after the subcommand: the format, the profile,
/// every object and every ignore regex (for HTML, the display options
/// cargo-llvm-cov uses).
pub fn llvm_cov_args(kind: CovOutput, input: &ExportInput) -> Vec<OsString> {
    let mut args: Vec<OsString> = Vec::new();
    match kind {
        CovOutput::Lcov { functions } => {
            args.push("-format=lcov".into());
            if !functions {
                args.push("-skip-functions".into());
            }
        }
        CovOutput::Json { summary_only } => {
            args.push("-format=text".into());
            if summary_only {
                args.push("-summary-only".into());
            }
        }
        CovOutput::Html => {
            for a in [
                "-format=html",
                "-show-instantiations=false",
                "-show-line-counts-or-regions",
                "-show-expansions",
                "-show-branches=count",
            ] {
                args.push(a.into());
            }
        }
    }
    args.push(format!("-instr-profile={}", input.profdata).into());
    for o in input.objects {
        args.push("-object".into());
        args.push(o.as_str().into());
    }
    for r in input.ignore {
        args.push(format!("-ignore-filename-regex={r}").into());
    }
    if let Some((from, to)) = input.path_equivalence {
        args.push(format!("-path-equivalence={from},{to}").into());
    }
    args
}

fn subcommand(kind: CovOutput) -> &'static str {
    match kind {
        CovOutput::Html => "show",
        _ => "export",
    }
}

fn llvm_cov(
    kind: CovOutput,
    input: &ExportInput,
    stdout_file: Option<&Utf8Path>,
) -> Result<Vec<u8>> {
    if input.objects.is_empty() {
        bail!("no test binaries to read coverage from");
    }
    let mut args = vec![OsString::from(subcommand(kind))];
    args.extend(llvm_cov_args(kind, input));
    Ok(run(&input.tools.cov, args, stdout_file)?.stdout)
}

/// `llvm-cov export -format=lcov`, parsed, its paths as reported
/// ([`ExportInput::report_path`]: llvm-cov's export keeps the built ones).
pub fn export_lcov(input: &ExportInput, functions: bool) -> Result<LcovReport> {
    let text = String::from_utf8(llvm_cov(CovOutput::Lcov { functions }, input, None)?)
        .context("llvm-cov wrote non-UTF-8 lcov")?;
    let mut report = lcov::parse(&text)?;
    if input.path_equivalence.is_some() {
        let files = std::mem::take(&mut report.files);
        for (path, record) in files {
            report.add_file(input.report_path(&path), record);
        }
    }
    Ok(report)
}

/// `llvm-cov export -format=text` (JSON) into `path`, its paths as
/// reported, with the functions of the reported files only.
pub fn export_json_to(input: &ExportInput, path: &Utf8Path) -> Result<()> {
    llvm_cov(
        CovOutput::Json {
            summary_only: false,
        },
        input,
        Some(path),
    )?;
    let text = fs_err::read(path)?;
    let mut json: serde_json::Value =
        serde_json::from_slice(&text).context("llvm-cov wrote unreadable JSON")?;
    keep_reported_functions(&mut json);
    if input.path_equivalence.is_some() {
        move_json_paths(&mut json, input);
    }
    fs_err::write(path, serde_json::to_vec(&json)?)?;
    Ok(())
}

/// llvm-cov applies `-ignore-filename-regex` to an export's `files` but
/// lists every function of every object (the dependencies' and the
/// standard library's: megabytes): keep those defined in a reported file.
fn keep_reported_functions(json: &mut serde_json::Value) {
    let Some(exports) = json.get_mut("data").and_then(|d| d.as_array_mut()) else {
        return;
    };
    for export in exports {
        let files: std::collections::HashSet<String> = (export.get("files"))
            .and_then(|f| f.as_array())
            .into_iter()
            .flatten()
            .filter_map(|f| f.get("filename")?.as_str().map(str::to_string))
            .collect();
        let Some(functions) = export.get_mut("functions").and_then(|f| f.as_array_mut()) else {
            continue;
        };
        functions.retain(|f| {
            let file = f.get("filenames").and_then(|n| n.get(0)?.as_str());
            file.is_some_and(|file| files.contains(file))
        });
    }
}

/// Every string of an llvm-cov JSON export that is a path, as reported
/// (the others, function names and the format's, start with no `/`).
fn move_json_paths(value: &mut serde_json::Value, input: &ExportInput) {
    match value {
        serde_json::Value::String(s) if s.starts_with('/') => *s = input.report_path(s),
        serde_json::Value::Array(items) => {
            items.iter_mut().for_each(|v| move_json_paths(v, input));
        }
        serde_json::Value::Object(map) => {
            map.values_mut().for_each(|v| move_json_paths(v, input));
        }
        _ => {}
    }
}

/// The per-file summaries of `llvm-cov export -summary-only`, their paths
/// as reported.
pub fn export_summary(input: &ExportInput) -> Result<Summary> {
    let json = llvm_cov(CovOutput::Json { summary_only: true }, input, None)?;
    let mut summary = parse_summary(&json)?;
    for file in &mut summary.files {
        file.path = input.report_path(&file.path);
    }
    summary.files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(summary)
}

/// `llvm-cov show -format=html -output-dir=DIR`; returns `DIR/index.html`,
/// which links a page per reported source file.
pub fn write_html(input: &ExportInput, dir: &Utf8Path) -> Result<Utf8PathBuf> {
    let mut args = vec![OsString::from("show")];
    args.extend(llvm_cov_args(CovOutput::Html, input));
    args.push(format!("-output-dir={dir}").into());
    run(&input.tools.cov, args, None)?;
    let index = dir.join("index.html");
    if !index.is_file() {
        bail!("llvm-cov show wrote no {index}");
    }
    Ok(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llvm_cov_arguments() {
        let tools = LlvmTools {
            profdata: "p".into(),
            cov: "c".into(),
            llvm_major: 22,
        };
        let objects: Vec<Utf8PathBuf> = vec!["/t/a-1".into(), "/t/b-2".into()];
        let ignore = vec!["x|y".to_string()];
        let input = ExportInput {
            tools: &tools,
            profdata: "/t/m.profdata".into(),
            objects: &objects,
            ignore: &ignore,
            path_equivalence: None,
        };
        let args: Vec<String> = llvm_cov_args(CovOutput::Json { summary_only: true }, &input)
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect();
        assert_eq!(
            args,
            [
                "-format=text",
                "-summary-only",
                "-instr-profile=/t/m.profdata",
                "-object",
                "/t/a-1",
                "-object",
                "/t/b-2",
                "-ignore-filename-regex=x|y"
            ]
        );
        let html = llvm_cov_args(CovOutput::Html, &input);
        assert_eq!(html[0], "-format=html");
        let moved = ExportInput {
            path_equivalence: Some(("/built/ws".into(), "/here/ws".into())),
            ..input
        };
        let args = llvm_cov_args(CovOutput::Lcov { functions: true }, &moved);
        assert_eq!(args.last().unwrap(), "-path-equivalence=/built/ws,/here/ws");
        assert_eq!(moved.report_path("/built/ws/src/a.rs"), "/here/ws/src/a.rs");
        assert_eq!(moved.report_path("/built/wsx/a.rs"), "/built/wsx/a.rs");
        assert_eq!(moved.report_path("/elsewhere/a.rs"), "/elsewhere/a.rs");
        assert_eq!(
            input.report_path("/built/ws/src/a.rs"),
            "/built/ws/src/a.rs"
        );
        let mut json = serde_json::json!({"data": [{
            "files": [{"filename": "/built/ws/src/a.rs", "summary": {}}],
            "functions": [{"name": "_RNv1a1f", "filenames": ["/built/ws/src/a.rs", "/x/b.rs"]}]
        }], "type": "llvm.coverage.json.export"});
        move_json_paths(&mut json, &moved);
        assert_eq!(json["data"][0]["files"][0]["filename"], "/here/ws/src/a.rs");
        let names = &json["data"][0]["functions"][0];
        assert_eq!(
            names["filenames"],
            serde_json::json!(["/here/ws/src/a.rs", "/x/b.rs"])
        );
        assert_eq!(names["name"], "_RNv1a1f");
        assert_eq!(subcommand(CovOutput::Html), "show");
        assert_eq!(subcommand(CovOutput::Lcov { functions: true }), "export");
    }
}
