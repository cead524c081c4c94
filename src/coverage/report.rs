//! The steps after a `--coverage` run, each a function of plain inputs:
//! merge the `.profraw` files ([`merge_profraw`]), export with llvm-cov
//! ([`export_lcov`], [`export_json`], [`write_html`]), and render the
//! terminal tables ([`term_table`]) and the fail-under check. [`generate`]
//! runs the exports that a list of [`ReportSpec`]s needs.
//!
//! Which files are reported is decided by [`ignore_filename_regexes`]:
//! cargo-llvm-cov's default set (so that per-file line counts match it
//! exactly), plus everything outside the workspace.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::str::FromStr;

use anyhow::{Context, Result, bail};
use camino::{Utf8Path, Utf8PathBuf};
use serde::Deserialize;

use super::cobertura;
use super::lcov::{self, Counts, LcovReport};
use super::tools::LlvmTools;

/// One `--cov-report` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportSpec {
    /// Per-file table of lines, functions and regions, with totals.
    Term,
    /// [`ReportSpec::Term`] plus the uncovered line ranges of each file.
    TermMissing,
    Lcov(Utf8PathBuf),
    Cobertura(Utf8PathBuf),
    /// `llvm-cov show -format=html` into this directory.
    Html(Utf8PathBuf),
    /// `llvm-cov export -format=text` (the llvm-cov JSON export).
    Json(Utf8PathBuf),
}

/// A `--cov-report` value that is not one of the forms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ReportSpecError(String);

const SPEC_FORMS: &str = "term, term-missing, lcov:PATH, cobertura:PATH, html:DIR or json:PATH";

impl FromStr for ReportSpec {
    type Err = ReportSpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (kind, path) = match s.split_once(':') {
            Some((k, p)) => (k, Some(p)),
            None => (s, None),
        };
        let needs_path = |make: fn(Utf8PathBuf) -> ReportSpec, what: &str| match path {
            Some(p) if !p.is_empty() => Ok(make(Utf8PathBuf::from(p))),
            _ => Err(ReportSpecError(format!(
                "coverage report `{s}` needs a {what}: `{kind}:{}`",
                what.to_uppercase()
            ))),
        };
        match kind {
            "term" | "term-missing" if path.is_some() => Err(ReportSpecError(format!(
                "coverage report `{s}`: `{kind}` prints to the terminal and takes no path"
            ))),
            "term" => Ok(ReportSpec::Term),
            "term-missing" => Ok(ReportSpec::TermMissing),
            "lcov" => needs_path(ReportSpec::Lcov, "path"),
            "cobertura" | "xml" => needs_path(ReportSpec::Cobertura, "path"),
            "json" => needs_path(ReportSpec::Json, "path"),
            "html" => needs_path(ReportSpec::Html, "dir"),
            _ => Err(ReportSpecError(format!(
                "unknown coverage report `{s}`; use {SPEC_FORMS}"
            ))),
        }
    }
}

// ---------------------------------------------------------------------------
// Which files are reported

/// What the default ignore regexes are built from.
#[derive(Debug, Clone, Default)]
pub struct IgnoreInputs {
    pub workspace_root: Utf8PathBuf,
    /// The target directory the coverage build used.
    pub target_dir: Utf8PathBuf,
    /// `$CARGO_HOME` (default `~/.cargo`).
    pub cargo_home: Option<Utf8PathBuf>,
    /// `$RUSTUP_HOME` (default `~/.rustup`).
    pub rustup_home: Option<Utf8PathBuf>,
    /// `directory` of `[source.*]` tables in cargo config (vendored code).
    pub vendor_dirs: Vec<Utf8PathBuf>,
    /// `--cov-ignore REGEX` values.
    pub user: Vec<String>,
}

impl IgnoreInputs {
    /// For `workspace_root` and `target_dir`, with `$CARGO_HOME` and
    /// `$RUSTUP_HOME` (or their `~/.cargo`, `~/.rustup` defaults) from the
    /// environment; vendor dirs and user regexes empty.
    pub fn from_env(workspace_root: &Utf8Path, target_dir: &Utf8Path) -> IgnoreInputs {
        let home = |var: &str, default: &str| {
            std::env::var(var)
                .ok()
                .filter(|v| !v.is_empty())
                .map(Utf8PathBuf::from)
                .or_else(|| {
                    let home = std::env::var("HOME").ok().filter(|h| !h.is_empty())?;
                    Some(Utf8PathBuf::from(home).join(default))
                })
        };
        IgnoreInputs {
            workspace_root: workspace_root.to_owned(),
            target_dir: target_dir.to_owned(),
            cargo_home: home("CARGO_HOME", ".cargo"),
            rustup_home: home("RUSTUP_HOME", ".rustup"),
            vendor_dirs: Vec::new(),
            user: Vec::new(),
        }
    }
}

/// The `-ignore-filename-regex` values, each passed on its own. They are
/// cargo-llvm-cov's defaults (without `--remap-path-prefix`): the user's
/// regexes, vendored directories, the standard library (`/rustc/<hash or
/// version>/`), the workspace's `tests/`, `examples/`, `benches/` dirs and
/// `tests.rs` / `*_tests.rs` files, the target dir, `$CARGO_HOME/registry`
/// and `/git`, `$RUSTUP_HOME/toolchains`. Added: any `lib/rustlib/` (a
/// rust-src outside rustup) and every file outside the workspace (when
/// the root can be written as such a regex, see [`outside_dir_regex`]).
pub fn ignore_filename_regexes(i: &IgnoreInputs) -> Vec<String> {
    let ws = regex::escape(i.workspace_root.as_str().trim_end_matches('/'));
    let under = |dir: &Utf8Path| {
        format!(
            "^{}($|/)",
            regex::escape(dir.as_str().trim_end_matches('/'))
        )
    };
    let mut out: Vec<String> = i.user.clone();
    out.extend(i.vendor_dirs.iter().map(|d| under(d)));
    out.push(format!(
        r"/rustc/([0-9a-f]+|[0-9]+\.[0-9]+\.[0-9]+)/|^{ws}(/.*)?/(tests|examples|benches)/|^{ws}(/.*)?/(tests\.rs|[0-9a-zA-Z_-]+[_-]tests\.rs)$"
    ));
    out.push(under(&i.target_dir));
    if let Some(home) = &i.cargo_home {
        out.push(format!(
            "^{}/(registry|git)/",
            regex::escape(home.as_str().trim_end_matches('/'))
        ));
    }
    if let Some(home) = &i.rustup_home {
        out.push(under(&home.join("toolchains")));
    }
    out.push("/lib/rustlib/".to_string());
    if let Some(outside) = outside_dir_regex(&i.workspace_root) {
        out.push(outside);
    }
    out
}

/// A regex matching exactly the paths NOT under `dir`, for llvm-cov's
/// POSIX extended regexes (no look-ahead): `^($|[^c1]|c1($|[^c2]|c2(…)))`
/// over the characters of `dir/`. `None` when `dir` has a character that
/// cannot be written the same way in a bracket expression for both POSIX
/// and Rust regexes (then nothing outside is dropped by this rule).
pub fn outside_dir_regex(dir: &Utf8Path) -> Option<String> {
    let prefix = format!("{}/", dir.as_str().trim_end_matches('/'));
    let safe = |c: char| c.is_ascii_alphanumeric() || "/._-+,=@%~: ".contains(c);
    if prefix.len() < 2 || !prefix.chars().all(safe) {
        return None;
    }
    let chars: Vec<char> = prefix.chars().collect();
    let mut tail = String::new();
    for (k, &c) in chars.iter().enumerate().rev() {
        // `-` last in a bracket is literal in both dialects.
        let bracket = if c == '-' {
            "[^-]".to_string()
        } else {
            format!("[^{c}]")
        };
        let literal = regex::escape(&c.to_string());
        tail = if k + 1 == chars.len() {
            format!("$|{bracket}")
        } else {
            format!("$|{bracket}|{literal}({tail})")
        };
    }
    Some(format!("^({tail})"))
}

// ---------------------------------------------------------------------------
// Running the tools

/// The `*.profraw` files directly in `dir`, sorted.
pub fn find_profraws(dir: &Utf8Path) -> Result<Vec<Utf8PathBuf>> {
    let mut out = Vec::new();
    for entry in fs_err::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "profraw") {
            let path = Utf8PathBuf::try_from(path).context("non-UTF-8 profile path")?;
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// The `--input-files` list for llvm-profdata: one `1,<path>` per line
/// (the weight makes a comma or a leading `#` in a path harmless).
pub fn profdata_input_list(profraws: &[Utf8PathBuf]) -> Result<String> {
    let mut out = String::new();
    for p in profraws {
        if p.as_str().contains(['\n', '\r']) || p.as_str() != p.as_str().trim() {
            bail!(
                "profile path {p:?} has a newline or edge whitespace; llvm-profdata cannot list it"
            );
        }
        let _ = writeln!(out, "1,{p}");
    }
    Ok(out)
}

/// `llvm-profdata merge` arguments (the list file holds the inputs).
pub fn merge_args(list: &Utf8Path, output: &Utf8Path, threads: Option<usize>) -> Vec<String> {
    let mut args = vec![
        "merge".to_string(),
        "-sparse".to_string(),
        // A profile torn by a kill must not sink the whole report: skip
        // it with a warning (returned to the caller), fail only if all do.
        "--failure-mode=all".to_string(),
        format!("--input-files={list}"),
        format!("-o={output}"),
    ];
    if let Some(n) = threads {
        args.push(format!("--num-threads={n}"));
    }
    args
}

/// Merge raw profiles into `output` (`.profdata`). The inputs go through
/// a list file, so thousands of them do not hit the argument limit, and
/// llvm-profdata merges them on `threads` threads (default: one per
/// core). Returns llvm-profdata's warnings (unreadable inputs), if any.
pub fn merge_profraw(
    tools: &LlvmTools,
    profraws: &[Utf8PathBuf],
    output: &Utf8Path,
    threads: Option<usize>,
) -> Result<String> {
    if profraws.is_empty() {
        bail!("no .profraw files to merge: no instrumented test process exited normally");
    }
    let mut list = tempfile::Builder::new()
        .prefix("xdist-profraw-")
        .suffix(".list")
        .tempfile()?;
    list.write_all(profdata_input_list(profraws)?.as_bytes())?;
    list.flush()?;
    let list_path = Utf8Path::from_path(list.path()).context("non-UTF-8 temp dir")?;
    let out = run(
        &tools.profdata,
        merge_args(list_path, output, threads)
            .into_iter()
            .map(OsString::from)
            .collect(),
        None,
    )?;
    Ok(out.stderr)
}

/// What every llvm-cov export or show reads.
#[derive(Debug, Clone)]
pub struct ExportInput<'a> {
    pub tools: &'a LlvmTools,
    pub profdata: &'a Utf8Path,
    /// Every instrumented test binary (and any other executable the tests
    /// ran), each passed as `-object`.
    pub objects: &'a [Utf8PathBuf],
    /// From [`ignore_filename_regexes`] (of the paths the coverage maps
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
    /// `export -format=lcov`
    Lcov,
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
        CovOutput::Lcov => args.push("-format=lcov".into()),
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

/// Longer argument lists than this go through a response file.
pub const RESPONSE_FILE_THRESHOLD: usize = 64 * 1024;

/// One argument quoted for an LLVM (GNU-style) response file.
pub fn response_file_arg(arg: &str) -> String {
    let mut out = String::from("\"");
    for c in arg.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

struct ToolOutput {
    stdout: Vec<u8>,
    stderr: String,
}

/// Run `program first rest…`, through `@response-file` when `rest` is
/// long; stdout to `stdout_file` when given (large JSON), else captured.
fn run(
    program: &std::path::Path,
    mut args: Vec<OsString>,
    stdout_file: Option<&Utf8Path>,
) -> Result<ToolOutput> {
    let shown = format!(
        "{} {}",
        program.display(),
        args.iter()
            .take(8)
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let first = args.remove(0);
    let mut cmd = Command::new(program);
    cmd.arg(first);
    let total: usize = args.iter().map(|a| a.len() + 1).sum();
    let _rsp; // lives until the command has run
    if total > RESPONSE_FILE_THRESHOLD {
        let mut f = tempfile::Builder::new()
            .prefix("xdist-llvm-")
            .suffix(".rsp")
            .tempfile()?;
        for a in &args {
            let a = a.to_str().context("non-UTF-8 llvm-cov argument")?;
            writeln!(f, "{}", response_file_arg(a))?;
        }
        f.flush()?;
        let mut at = OsString::from("@");
        at.push(f.path());
        cmd.arg(at);
        _rsp = f;
    } else {
        cmd.args(&args);
    }
    cmd.stdin(Stdio::null()).stderr(Stdio::piped());
    match stdout_file {
        Some(path) => {
            cmd.stdout(fs_err::File::create(path)?.into_parts().0);
        }
        None => {
            cmd.stdout(Stdio::piped());
        }
    }
    let out = cmd.output().with_context(|| format!("running {shown}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        let tail: Vec<&str> = stderr.lines().rev().take(10).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!(
            "{shown} … failed with {}:\n{}",
            crate::error::describe_status(&out.status),
            tail.join("\n")
        );
    }
    Ok(ToolOutput {
        stdout: out.stdout,
        stderr,
    })
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
pub fn export_lcov(input: &ExportInput) -> Result<LcovReport> {
    let text = String::from_utf8(llvm_cov(CovOutput::Lcov, input, None)?)
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

/// `llvm-cov export -format=text` (JSON) into `path` (it can be large),
/// its paths as reported.
pub fn export_json_to(input: &ExportInput, path: &Utf8Path) -> Result<()> {
    llvm_cov(
        CovOutput::Json {
            summary_only: false,
        },
        input,
        Some(path),
    )?;
    if input.path_equivalence.is_some() {
        let text = fs_err::read(path)?;
        let mut json: serde_json::Value =
            serde_json::from_slice(&text).context("llvm-cov wrote unreadable JSON")?;
        move_json_paths(&mut json, input);
        fs_err::write(path, serde_json::to_vec(&json)?)?;
    }
    Ok(())
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

// ---------------------------------------------------------------------------
// Summaries and tables

/// Lines, functions and regions of one file (or the totals).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileSummary {
    pub path: String,
    pub lines: Counts,
    pub functions: Counts,
    pub regions: Counts,
}

/// All files, sorted by path, and the totals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub files: Vec<FileSummary>,
    pub totals: FileSummary,
}

#[derive(Deserialize)]
struct JsonExport {
    data: Vec<JsonData>,
}
#[derive(Deserialize)]
struct JsonData {
    files: Vec<JsonFile>,
    totals: JsonSummary,
}
#[derive(Deserialize)]
struct JsonFile {
    filename: String,
    summary: JsonSummary,
}
#[derive(Deserialize)]
struct JsonSummary {
    lines: JsonCount,
    functions: JsonCount,
    regions: JsonCount,
}
#[derive(Deserialize)]
struct JsonCount {
    count: u64,
    covered: u64,
}

impl JsonSummary {
    fn into_file(self, path: String) -> FileSummary {
        let c = |j: JsonCount| Counts {
            found: j.count,
            hit: j.covered,
        };
        FileSummary {
            path,
            lines: c(self.lines),
            functions: c(self.functions),
            regions: c(self.regions),
        }
    }
}

/// `data[0].files[].summary.{lines,functions,regions}` and
/// `data[0].totals` of an llvm-cov JSON export.
pub fn parse_summary(json: &[u8]) -> Result<Summary> {
    let export: JsonExport =
        serde_json::from_slice(json).context("reading llvm-cov's JSON export")?;
    let data = export
        .data
        .into_iter()
        .next()
        .context("llvm-cov's JSON export has no data")?;
    let mut files: Vec<FileSummary> = data
        .files
        .into_iter()
        .map(|f| f.summary.into_file(f.filename))
        .collect();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Summary {
        files,
        totals: data.totals.into_file("TOTAL".into()),
    })
}

fn cover(c: Counts) -> String {
    if c.found == 0 {
        "-".to_string()
    } else {
        format!("{:.2}%", c.percent())
    }
}

/// The `term` table (`missing` given: `term-missing`): per file, lines,
/// functions and regions with misses and percentages, then `TOTAL`.
/// Paths under `root` are shown relative to it. The missing ranges come
/// from the lcov export of the same run.
pub fn term_table(
    summary: &Summary,
    root: Option<&Utf8Path>,
    missing: Option<&LcovReport>,
) -> String {
    let display = |p: &str| match root {
        Some(r) => lcov::strip_prefix(p, &[r.to_string()]),
        None => p.to_string(),
    };
    let mut header = vec![
        "Filename",
        "Lines",
        "Miss",
        "Cover",
        "Functions",
        "Miss",
        "Cover",
        "Regions",
        "Miss",
        "Cover",
    ];
    if missing.is_some() {
        header.push("Missing");
    }
    let row = |f: &FileSummary, name: String| -> Vec<String> {
        let mut r = vec![name];
        for c in [f.lines, f.functions, f.regions] {
            r.push(c.found.to_string());
            r.push((c.found - c.hit.min(c.found)).to_string());
            r.push(cover(c));
        }
        if let Some(m) = missing {
            r.push(
                m.files
                    .get(&f.path)
                    .map(|rec| lcov::format_ranges(&rec.uncovered_lines()))
                    .unwrap_or_default(),
            );
        }
        r
    };
    let mut rows: Vec<Vec<String>> = summary
        .files
        .iter()
        .map(|f| row(f, display(&f.path)))
        .collect();
    let mut total = row(&summary.totals, "TOTAL".into());
    if missing.is_some() {
        total.pop();
        total.push(String::new());
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .chain(std::iter::once(&total))
                .map(|r| r[i].len())
                .chain(std::iter::once(header[i].len()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String]| -> String {
        let mut s = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            if i == 0 {
                let _ = write!(s, "{cell:<w$}", w = widths[i]);
            } else if i == 10 {
                s.push_str(cell); // Missing: last, not padded
            } else {
                let _ = write!(s, "{cell:>w$}", w = widths[i]);
            }
        }
        s.trim_end().to_string()
    };
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    let rule = "-".repeat(line(&header).len());
    let mut out = String::new();
    let _ = writeln!(out, "{}\n{rule}", line(&header));
    for r in rows.drain(..) {
        let _ = writeln!(out, "{}", line(&r));
    }
    let _ = writeln!(out, "{rule}\n{}", line(&total));
    out
}

/// Line coverage under the `--cov-fail-under` minimum.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line coverage {actual:.2}% is under the required {required}%")]
pub struct FailUnder {
    pub actual: f64,
    pub required: f64,
}

/// The total line percentage, or [`FailUnder`] when it is below `required`.
/// Nothing instrumented counts as 0%.
pub fn check_fail_under(lines: Counts, required: f64) -> Result<f64, FailUnder> {
    let actual = lines.percent();
    if actual < required {
        Err(FailUnder { actual, required })
    } else {
        Ok(actual)
    }
}

// ---------------------------------------------------------------------------
// All requested reports

/// Run the exports `specs` need, write the file reports, and return the
/// terminal text (term / term-missing tables) and the line totals (for
/// [`check_fail_under`]). `root` is the workspace root (Cobertura's
/// source, the table's relative paths).
pub fn generate(
    specs: &[ReportSpec],
    input: &ExportInput,
    root: &Utf8Path,
) -> Result<(String, Counts)> {
    let wants_lcov = specs.iter().any(|s| {
        matches!(
            s,
            ReportSpec::Lcov(_) | ReportSpec::Cobertura(_) | ReportSpec::TermMissing
        )
    });
    let lcov = if wants_lcov {
        Some(export_lcov(input)?)
    } else {
        None
    };
    let summary = export_summary(input)?;
    let mut terminal = String::new();
    for spec in specs {
        match spec {
            ReportSpec::Term => terminal.push_str(&term_table(&summary, Some(root), None)),
            ReportSpec::TermMissing => {
                terminal.push_str(&term_table(&summary, Some(root), lcov.as_ref()))
            }
            ReportSpec::Lcov(path) => lcov::write(lcov.as_ref().expect("exported"), path)?,
            ReportSpec::Cobertura(path) => fs_err::write(
                path,
                cobertura::to_cobertura(
                    lcov.as_ref().expect("exported"),
                    Some(root.as_str()),
                    cobertura::now_timestamp(),
                ),
            )?,
            ReportSpec::Json(path) => export_json_to(input, path)?,
            ReportSpec::Html(dir) => {
                write_html(input, dir)?;
            }
        }
    }
    Ok((terminal, summary.totals.lines))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_specs() {
        assert_eq!("term".parse(), Ok(ReportSpec::Term));
        assert_eq!("term-missing".parse(), Ok(ReportSpec::TermMissing));
        assert_eq!(
            "lcov:out/a.lcov".parse(),
            Ok(ReportSpec::Lcov("out/a.lcov".into()))
        );
        assert_eq!(
            "cobertura:c.xml".parse(),
            Ok(ReportSpec::Cobertura("c.xml".into()))
        );
        assert_eq!("html:cov".parse(), Ok(ReportSpec::Html("cov".into())));
        assert_eq!(
            "json:c:/x.json".parse(),
            Ok(ReportSpec::Json("c:/x.json".into()))
        );
        let err = |s: &str| s.parse::<ReportSpec>().unwrap_err().to_string();
        assert_eq!(
            err("lcov"),
            "coverage report `lcov` needs a path: `lcov:PATH`"
        );
        assert_eq!(
            err("html:"),
            "coverage report `html:` needs a dir: `html:DIR`"
        );
        assert!(err("term:x").contains("takes no path"));
        assert_eq!(
            err("xml2:a"),
            "unknown coverage report `xml2:a`; use term, term-missing, lcov:PATH, cobertura:PATH, html:DIR or json:PATH"
        );
    }

    fn inputs() -> IgnoreInputs {
        IgnoreInputs {
            workspace_root: "/work/my-ws".into(),
            target_dir: "/work/my-ws/target/xdist-cov".into(),
            cargo_home: Some("/root/.cargo".into()),
            rustup_home: Some("/root/.rustup".into()),
            vendor_dirs: vec!["/work/my-ws/vendor".into()],
            user: vec!["generated/".into()],
        }
    }

    fn ignored(path: &str) -> bool {
        ignore_filename_regexes(&inputs())
            .iter()
            .any(|r| regex::Regex::new(r).unwrap().is_match(path))
    }

    #[test]
    fn default_ignores_leave_only_workspace_sources() {
        for kept in [
            "/work/my-ws/src/lib.rs",
            "/work/my-ws/crates/a/src/main.rs",
            "/work/my-ws/src/contests.rs",
            "/work/my-ws/src/testsuite/mod.rs",
        ] {
            assert!(!ignored(kept), "{kept} must be reported");
        }
        for dropped in [
            "/rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/option.rs",
            "/rustc/1.95.0/library/std/src/lib.rs",
            "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/serde-1.0.0/src/lib.rs",
            "/root/.cargo/git/checkouts/foo-123/abc/src/lib.rs",
            "/root/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/lib/rustlib/src/rust/library/core/src/fmt.rs",
            "/usr/lib/rustlib/src/rust/library/std/src/io.rs",
            "/work/my-ws/tests/api.rs",
            "/work/my-ws/crates/a/tests/common/mod.rs",
            "/work/my-ws/examples/demo.rs",
            "/work/my-ws/benches/b.rs",
            "/work/my-ws/src/tests.rs",
            "/work/my-ws/src/parser_tests.rs",
            "/work/my-ws/vendor/dep/src/lib.rs",
            "/work/my-ws/target/xdist-cov/debug/build/x/out/gen.rs",
            "/work/my-ws/src/generated/x.rs",
            "/work/other/src/lib.rs",
            "/work/my-ws2/src/lib.rs",
            "/work/my-w/src/lib.rs",
            "/work",
            "src/relative.rs",
        ] {
            assert!(ignored(dropped), "{dropped} must be left out");
        }
    }

    #[test]
    fn outside_regex_matches_exactly_the_paths_outside() {
        let re = regex::Regex::new(&outside_dir_regex("/a/b-c/".into()).unwrap()).unwrap();
        for (path, outside) in [
            ("/a/b-c/x.rs", false),
            ("/a/b-c/d/e.rs", false),
            ("/a/b-c", true),
            ("/a/b-cd/x.rs", true),
            ("/a/b/x.rs", true),
            ("/a/bxc/x.rs", true),
            ("", true),
            ("a/b-c/x.rs", true),
        ] {
            assert_eq!(re.is_match(path), outside, "{path}");
        }
        assert_eq!(outside_dir_regex("/a/[weird]".into()), None);
        assert_eq!(outside_dir_regex("/".into()), None);
    }

    #[test]
    fn profdata_list_and_args() {
        let list = profdata_input_list(&["/r/a,b.profraw".into(), "/r/#c.profraw".into()]).unwrap();
        assert_eq!(list, "1,/r/a,b.profraw\n1,/r/#c.profraw\n");
        assert!(profdata_input_list(&["/r/a\nb.profraw".into()]).is_err());
        assert_eq!(
            merge_args("/t/list".into(), "/t/m.profdata".into(), Some(4)),
            [
                "merge",
                "-sparse",
                "--failure-mode=all",
                "--input-files=/t/list",
                "-o=/t/m.profdata",
                "--num-threads=4"
            ]
        );
    }

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
        let args = llvm_cov_args(CovOutput::Lcov, &moved);
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
        assert_eq!(subcommand(CovOutput::Lcov), "export");
    }

    #[test]
    fn response_file_quoting() {
        assert_eq!(response_file_arg("-object"), "\"-object\"");
        assert_eq!(response_file_arg(r#"/a b\c"d"#), r#""/a b\\c\"d""#);
    }

    const JSON: &str = r#"{"data":[{"files":[
 {"filename":"/ws/src/z.rs","summary":{"branches":{"count":0,"covered":0},"functions":{"count":2,"covered":1,"percent":50},"lines":{"count":10,"covered":5,"percent":50},"regions":{"count":4,"covered":4,"percent":100}}},
 {"filename":"/ws/src/a.rs","summary":{"functions":{"count":0,"covered":0},"lines":{"count":3,"covered":3},"regions":{"count":1,"covered":0}}}],
 "totals":{"functions":{"count":2,"covered":1},"lines":{"count":13,"covered":8},"regions":{"count":5,"covered":4}}}],
 "type":"llvm.coverage.json.export","version":"3.1.0"}"#;

    #[test]
    fn summary_from_json_export() {
        let s = parse_summary(JSON.as_bytes()).unwrap();
        assert_eq!(s.files[0].path, "/ws/src/a.rs");
        assert_eq!(s.files[1].lines, Counts { found: 10, hit: 5 });
        assert_eq!(s.files[1].functions, Counts { found: 2, hit: 1 });
        assert_eq!(s.totals.regions, Counts { found: 5, hit: 4 });
        assert!(parse_summary(b"{}").is_err());
    }

    #[test]
    fn term_tables() {
        let s = parse_summary(JSON.as_bytes()).unwrap();
        let t = term_table(&s, Some("/ws".into()), None);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            lines[0],
            "Filename  Lines  Miss    Cover  Functions  Miss   Cover  Regions  Miss    Cover"
        );
        assert_eq!(
            lines[2],
            "src/a.rs      3     0  100.00%          0     0       -        1     1    0.00%"
        );
        assert_eq!(
            lines[5],
            "TOTAL        13     5   61.54%          2     1  50.00%        5     1   80.00%"
        );
        let missing =
            lcov::parse("SF:/ws/src/z.rs\nDA:1,0\nDA:2,0\nDA:3,1\nDA:7,0\nend_of_record\n")
                .unwrap();
        let t = term_table(&s, Some("/ws".into()), Some(&missing));
        assert!(t.lines().next().unwrap().ends_with("Cover  Missing"), "{t}");
        assert!(
            t.lines().nth(3).unwrap().ends_with("100.00%  1-2, 7"),
            "{t}"
        );
        assert!(t.lines().last().unwrap().ends_with("80.00%"), "{t}");
    }

    #[test]
    fn fail_under() {
        let c = Counts {
            found: 200,
            hit: 150,
        };
        assert_eq!(check_fail_under(c, 75.0), Ok(75.0));
        let e = check_fail_under(c, 80.0).unwrap_err();
        assert_eq!(e.actual, 75.0);
        assert_eq!(
            e.to_string(),
            "line coverage 75.00% is under the required 80%"
        );
        assert!(check_fail_under(Counts::default(), 1.0).is_err());
        assert_eq!(check_fail_under(Counts::default(), 0.0), Ok(0.0));
    }
}
