//! `cargo xdist coverage merge A.lcov B.lcov -o OUT`: combine tracefiles
//! (shards of a CI matrix, runs on several machines) in pure Rust. Each
//! input's paths are mapped with `--strip-prefix` first, so the same
//! source checked out under different roots merges into one record.

use std::str::FromStr;

use anyhow::{Context, Result, bail};
use camino::{Utf8Path, Utf8PathBuf};

use super::cobertura;
use super::lcov::{self, Counts, LcovReport};

/// The output format of a merge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeFormat {
    Lcov,
    Cobertura,
}

impl FromStr for MergeFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "lcov" => Ok(MergeFormat::Lcov),
            "cobertura" | "xml" => Ok(MergeFormat::Cobertura),
            _ => Err(format!(
                "unknown coverage merge format `{s}`; use lcov or cobertura"
            )),
        }
    }
}

/// What a merge produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MergeStats {
    pub inputs: usize,
    pub files: usize,
    /// LF/LH over all merged files.
    pub lines: Counts,
}

impl std::fmt::Display for MergeStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "merged {} reports: {} files, {:.2}% of lines covered",
            self.inputs,
            self.files,
            self.lines.percent()
        )
    }
}

/// Merge parsed tracefiles: paths mapped per input, then counts summed
/// and lines, functions and branches united (see [`LcovReport::merge`]).
pub fn merge_lcov(inputs: Vec<LcovReport>, strip_prefixes: &[String]) -> LcovReport {
    let mut out = LcovReport::default();
    for input in inputs {
        out.merge(&input.map_paths(strip_prefixes));
    }
    out
}

/// Read `inputs` (lcov), merge them and write `output` as `format`. For
/// Cobertura the source root is `.`: paths are as mapped (relative after
/// a `--strip-prefix` of the checkout root).
pub fn merge_reports(
    inputs: &[Utf8PathBuf],
    strip_prefixes: &[String],
    format: MergeFormat,
    output: &Utf8Path,
) -> Result<MergeStats> {
    if inputs.is_empty() {
        bail!("coverage merge needs at least one lcov file");
    }
    let reports = inputs
        .iter()
        .map(|p| lcov::read(p).with_context(|| format!("reading {p}")))
        .collect::<Result<Vec<_>>>()?;
    let merged = merge_lcov(reports, strip_prefixes);
    match format {
        MergeFormat::Lcov => lcov::write(&merged, output)?,
        MergeFormat::Cobertura => fs_err::write(
            output,
            cobertura::to_cobertura(&merged, None, cobertura::now_timestamp()),
        )?,
    }
    Ok(MergeStats {
        inputs: inputs.len(),
        files: merged.files.len(),
        lines: merged.line_totals(),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::coverage::lcov::{Function, per_file_lines};

    /// Shard 1, checked out in /ci/a: lib.rs half run, only_a.rs.
    const SHARD_A: &str = "TN:\nSF:/ci/a/src/lib.rs\nFN:1,alpha\nFN:5,beta\nFNDA:3,alpha\nFNDA:0,beta\nFNF:2\nFNH:1\n\
DA:1,3\nDA:2,3\nDA:5,0\nDA:6,0\nBRDA:2,0,0,3\nBRDA:2,0,1,0\nBRDA:6,0,0,-\nBRDA:6,0,1,-\nBRF:4\nBRH:1\nLF:4\nLH:2\nend_of_record\n\
SF:/ci/a/src/only_a.rs\nFN:1,a_only\nFNDA:1,a_only\nDA:1,1\nDA:2,0\nLF:2\nLH:1\nend_of_record\n";

    /// Shard 2, checked out in /home/runner/work/p: the other half of
    /// lib.rs, a new function and line, only_b.rs.
    const SHARD_B: &str = "SF:/home/runner/work/p/src/lib.rs\nFN:5,beta\nFN:9,gamma\nFNDA:2,beta\nFNDA:0,gamma\n\
DA:1,1\nDA:5,2\nDA:6,2\nDA:9,0\nBRDA:2,0,1,1\nBRDA:6,0,0,2\nBRDA:6,0,1,-\nLF:4\nLH:3\nend_of_record\n\
SF:/home/runner/work/p/src/only_b.rs\nDA:3,0\nLF:1\nLH:0\nend_of_record\n";

    fn write_inputs(dir: &Utf8Path) -> Vec<Utf8PathBuf> {
        let a = dir.join("a.lcov");
        let b = dir.join("b.lcov");
        fs_err::write(&a, SHARD_A).unwrap();
        fs_err::write(&b, SHARD_B).unwrap();
        vec![a, b]
    }

    fn tmp() -> (tempfile::TempDir, Utf8PathBuf) {
        let t = tempfile::tempdir().unwrap();
        let p = Utf8PathBuf::try_from(t.path().to_path_buf()).unwrap();
        (t, p)
    }

    fn roots() -> Vec<String> {
        vec!["/ci/a".into(), "/home/runner/work/p/".into()]
    }

    #[test]
    fn merges_shards_from_two_checkout_roots() {
        let (_t, dir) = tmp();
        let inputs = write_inputs(&dir);
        let out = dir.join("all.lcov");
        let stats = merge_reports(&inputs, &roots(), MergeFormat::Lcov, &out).unwrap();
        let merged = lcov::read(&out).unwrap();
        assert_eq!(
            per_file_lines(&merged),
            BTreeMap::from([
                ("src/lib.rs".to_string(), (5, 4)),
                ("src/only_a.rs".to_string(), (2, 1)),
                ("src/only_b.rs".to_string(), (1, 0)),
            ])
        );
        assert_eq!(
            stats,
            MergeStats {
                inputs: 2,
                files: 3,
                lines: Counts { found: 8, hit: 5 }
            }
        );
        let lib = &merged.files["src/lib.rs"];
        // Lines: summed where both have them, united otherwise.
        assert_eq!(
            lib.lines,
            BTreeMap::from([(1, 4), (2, 3), (5, 2), (6, 2), (9, 0)])
        );
        // Functions by name.
        assert_eq!(lib.functions["alpha"], Function { line: 1, hits: 3 });
        assert_eq!(lib.functions["beta"], Function { line: 5, hits: 2 });
        assert_eq!(lib.functions["gamma"], Function { line: 9, hits: 0 });
        assert_eq!(lib.function_counts(), Counts { found: 3, hit: 2 });
        // Branches by (line, block, branch); `-` only while never reached.
        assert_eq!(
            lib.branches,
            BTreeMap::from([
                ((2, 0, 0), Some(3)),
                ((2, 0, 1), Some(1)),
                ((6, 0, 0), Some(2)),
                ((6, 0, 1), None),
            ])
        );
        let text = fs_err::read_to_string(&out).unwrap();
        let lib_block = text.split("SF:src/lib.rs\n").nth(1).unwrap();
        assert!(
            lib_block.contains("FNF:3\nFNH:2\n")
                && lib_block.contains("BRF:4\nBRH:3\n")
                && lib_block.contains("LF:5\nLH:4\nend_of_record"),
            "summaries recomputed, not summed: {lib_block}"
        );
        // Sorted by path, and merging again is stable.
        assert!(text.find("SF:src/lib.rs").unwrap() < text.find("SF:src/only_a.rs").unwrap());
        let again = dir.join("again.lcov");
        merge_reports(std::slice::from_ref(&out), &[], MergeFormat::Lcov, &again).unwrap();
        assert_eq!(fs_err::read_to_string(&again).unwrap(), text);
    }

    #[test]
    fn without_prefixes_roots_stay_apart() {
        let (_t, dir) = tmp();
        let inputs = write_inputs(&dir);
        let out = dir.join("all.lcov");
        let stats = merge_reports(&inputs, &[], MergeFormat::Lcov, &out).unwrap();
        assert_eq!(stats.files, 4);
        // An unmerged file keeps the summary it was written with.
        let merged = lcov::read(&out).unwrap();
        assert_eq!(per_file_lines(&merged)["/ci/a/src/lib.rs"], (4, 2));
    }

    #[test]
    fn cobertura_output() {
        let (_t, dir) = tmp();
        let inputs = write_inputs(&dir);
        let out = dir.join("all.xml");
        merge_reports(&inputs, &roots(), MergeFormat::Cobertura, &out).unwrap();
        let xml = fs_err::read_to_string(&out).unwrap();
        assert!(xml.contains(r#"<coverage line-rate="0.6250" branch-rate="0.7500" lines-covered="5" lines-valid="8""#), "{xml}");
        assert!(xml.contains(r#"filename="src/lib.rs""#));
        assert!(
            xml.contains(
                r#"<line number="6" hits="2" branch="true" condition-coverage="50% (1/2)"/>"#
            ),
            "{xml}"
        );
    }

    #[test]
    fn errors_name_the_input() {
        let (_t, dir) = tmp();
        let bad = dir.join("bad.lcov");
        fs_err::write(&bad, "SF:a.rs\nDA:x,1\nend_of_record\n").unwrap();
        let e = merge_reports(
            std::slice::from_ref(&bad),
            &[],
            MergeFormat::Lcov,
            &dir.join("o"),
        )
        .unwrap_err();
        assert!(format!("{e:#}").contains("bad.lcov"), "{e:#}");
        assert!(format!("{e:#}").contains("line 2"), "{e:#}");
        let e = merge_reports(&[], &[], MergeFormat::Lcov, &dir.join("o")).unwrap_err();
        assert!(e.to_string().contains("at least one"));
        let e = merge_reports(
            &[dir.join("missing.lcov")],
            &[],
            MergeFormat::Lcov,
            &dir.join("o"),
        );
        assert!(e.is_err());
    }

    #[test]
    fn formats() {
        assert_eq!("lcov".parse(), Ok(MergeFormat::Lcov));
        assert_eq!("cobertura".parse(), Ok(MergeFormat::Cobertura));
        assert_eq!(
            "html".parse::<MergeFormat>().unwrap_err(),
            "unknown coverage merge format `html`; use lcov or cobertura"
        );
    }
}
