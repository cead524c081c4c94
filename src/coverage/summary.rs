//! The per-file summary of an llvm-cov JSON export and the `term` /
//! `term-missing` tables drawn from it.

use std::fmt::Write as _;

use anyhow::{Context, Result};
use camino::Utf8Path;
use serde::Deserialize;

use super::lcov::{self, Counts, LcovReport};

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
