//! Finding the raw profiles a run wrote and merging them into one
//! `.profdata` with llvm-profdata.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::Write as _;

use anyhow::{Context, Result, bail};
use camino::{Utf8Path, Utf8PathBuf};

use super::invoke::run;
use super::tools::LlvmTools;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
