//! The lcov tracefile model: parse, merge, map paths, write, summarize.
//!
//! Everything here is pure; [`read`](fn@read) and [`write`](fn@write) are the only I/O.
//!
//! Summary records (LF/LH, FNF/FNH, BRF/BRH): llvm-cov does not derive
//! them from the DA lines (a line inside a closure counts once for the
//! closure and once for the enclosing function, so LF can exceed the DA
//! count). Lines are always counted from the DA records (distinct lines,
//! and those run), as genhtml and coverage services count them: a merge of
//! tracefiles can count nothing else, and a run's report and the merge of
//! its shards must agree. Functions and branches keep the values as
//! written ([`FileRecord::recorded`]) for a file read from one block of
//! one tracefile; once two records of a file are merged they are
//! recomputed from the details, never summed.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use camino::Utf8Path;

/// A whole tracefile: one record per source file, keyed by path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LcovReport {
    pub files: BTreeMap<String, FileRecord>,
}

/// Coverage of one source file (one `SF:` … `end_of_record` block).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileRecord {
    /// Line number → execution count (`DA`).
    pub lines: BTreeMap<u32, u64>,
    /// Function name → start line and execution count (`FN` / `FNDA`).
    pub functions: BTreeMap<String, Function>,
    /// (line, block, branch) → times taken; `None` is lcov's `-` (the
    /// block was never reached) (`BRDA`).
    pub branches: BTreeMap<(u32, u32, u32), Option<u64>>,
    /// The summary records as written in the input, for a file not merged
    /// since (each kind only when both of its records were present).
    pub recorded: Recorded,
}

/// LF/LH, FNF/FNH, BRF/BRH as read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recorded {
    pub lines: Option<Counts>,
    pub functions: Option<Counts>,
    pub branches: Option<Counts>,
}

/// One function of a file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Function {
    pub line: u32,
    pub hits: u64,
}

/// Found/hit counts of one kind (lines, functions or branches).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub found: u64,
    pub hit: u64,
}

impl Counts {
    /// Percentage hit, 0.0 when nothing was found (as llvm-cov reports it).
    pub fn percent(self) -> f64 {
        if self.found == 0 {
            0.0
        } else {
            self.hit as f64 * 100.0 / self.found as f64
        }
    }
}

impl std::ops::Add for Counts {
    type Output = Counts;
    fn add(self, other: Counts) -> Counts {
        Counts {
            found: self.found + other.found,
            hit: self.hit + other.hit,
        }
    }
}

/// A malformed tracefile line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("lcov line {line}: {message}: `{text}`")]
pub struct ParseError {
    /// 1-based line number in the input.
    pub line: usize,
    pub message: String,
    pub text: String,
}

/// Parse a tracefile. Unknown records (`TN`, `VER`, `FNL`, …) are ignored;
/// summary records go to [`FileRecord::recorded`]. A file that appears in
/// several blocks is merged as if the blocks came from two inputs.
pub fn parse(text: &str) -> Result<LcovReport, ParseError> {
    let mut report = LcovReport::default();
    let mut current: Option<(String, FileRecord)> = None;
    // LF, LH, FNF, FNH, BRF, BRH of the current block.
    let mut summary: [Option<u64>; 6] = [None; 6];
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim_end_matches('\r');
        let err = |message: &str| ParseError {
            line: index + 1,
            message: message.to_string(),
            text: line.to_string(),
        };
        if line.trim().is_empty() {
            continue;
        }
        if line == "end_of_record" {
            let (path, record) = current
                .take()
                .ok_or_else(|| err("end_of_record without SF"))?;
            report.add_file(path, with_recorded(record, &mut summary));
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            continue; // tolerated: not a record we know
        };
        if key == "SF" {
            if let Some((path, record)) = current.take() {
                // A missing end_of_record: close the previous file.
                report.add_file(path, with_recorded(record, &mut summary));
            }
            summary = [None; 6];
            current = Some((value.to_string(), FileRecord::default()));
            continue;
        }
        if let Some(i) = ["LF", "LH", "FNF", "FNH", "BRF", "BRH"]
            .iter()
            .position(|k| *k == key)
        {
            if current.is_some() {
                summary[i] = value.trim().parse().ok();
            }
            continue;
        }
        if !matches!(key, "DA" | "FN" | "FNDA" | "BRDA") {
            continue; // TN, VER, FNL, FNA, …
        }
        let (_, record) = current
            .as_mut()
            .ok_or_else(|| err(&format!("{key} outside a SF block")))?;
        match key {
            "DA" => {
                // DA:<line>,<count>[,<checksum>]
                let mut parts = value.split(',');
                let number = parse_num(parts.next()).ok_or_else(|| err("bad DA line number"))?;
                let hits = parse_count(parts.next()).ok_or_else(|| err("bad DA count"))?;
                *record.lines.entry(number).or_default() += hits;
            }
            "FN" => {
                // FN:<line>,<name> or lcov 2's FN:<line>,<end line>,<name>
                let (start, rest) = value.split_once(',').ok_or_else(|| err("bad FN"))?;
                let line = parse_num(Some(start)).ok_or_else(|| err("bad FN line"))?;
                let name = match rest.split_once(',') {
                    Some((end, name)) if end.parse::<u32>().is_ok() => name,
                    _ => rest,
                };
                record.functions.entry(name.to_string()).or_default().line = line;
            }
            "FNDA" => {
                let (count, name) = value.split_once(',').ok_or_else(|| err("bad FNDA"))?;
                let hits = parse_count(Some(count)).ok_or_else(|| err("bad FNDA count"))?;
                record.functions.entry(name.to_string()).or_default().hits += hits;
            }
            _ => {
                // BRDA:<line>,<block>,<branch>,<taken or ->
                let parts: Vec<&str> = value.split(',').collect();
                if parts.len() < 4 {
                    return Err(err("bad BRDA"));
                }
                let key = (
                    parse_num(Some(parts[0])).ok_or_else(|| err("bad BRDA line"))?,
                    parse_num(Some(parts[1])).ok_or_else(|| err("bad BRDA block"))?,
                    parse_num(Some(parts[2])).ok_or_else(|| err("bad BRDA branch"))?,
                );
                let taken = match parts[3].trim() {
                    "-" => None,
                    t => Some(parse_count(Some(t)).ok_or_else(|| err("bad BRDA taken"))?),
                };
                let slot = record.branches.entry(key).or_default();
                *slot = add_taken(*slot, taken);
            }
        }
    }
    if let Some((path, record)) = current.take() {
        report.add_file(path, with_recorded(record, &mut summary));
    }
    Ok(report)
}

fn with_recorded(mut record: FileRecord, summary: &mut [Option<u64>; 6]) -> FileRecord {
    let pair = |f: Option<u64>, h: Option<u64>| Some(Counts { found: f?, hit: h? });
    record.recorded = Recorded {
        lines: pair(summary[0], summary[1]),
        functions: pair(summary[2], summary[3]),
        branches: pair(summary[4], summary[5]),
    };
    *summary = [None; 6];
    record
}

fn parse_num(s: Option<&str>) -> Option<u32> {
    s?.trim().parse().ok()
}

/// Counts are u64; a negative count (some gcov versions) reads as 0.
fn parse_count(s: Option<&str>) -> Option<u64> {
    let s = s?.trim();
    match s.parse::<u64>() {
        Ok(n) => Some(n),
        Err(_) if s.parse::<i64>().is_ok() => Some(0),
        // Very large counts may be written as floats (e.g. `1.2e+20`).
        Err(_) => s
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(|f| f.max(0.0) as u64),
    }
}

fn add_taken(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0).saturating_add(b.unwrap_or(0))),
    }
}

impl FileRecord {
    /// Add another record of the same file: counts are summed, lines,
    /// functions (by name) and branches (by line, block, branch) united.
    pub fn merge(&mut self, other: &FileRecord) {
        self.recorded = Recorded::default();
        for (&line, &hits) in &other.lines {
            let slot = self.lines.entry(line).or_default();
            *slot = slot.saturating_add(hits);
        }
        for (name, f) in &other.functions {
            match self.functions.get_mut(name) {
                Some(mine) => {
                    mine.hits = mine.hits.saturating_add(f.hits);
                    if mine.line == 0 {
                        mine.line = f.line;
                    }
                }
                None => {
                    self.functions.insert(name.clone(), *f);
                }
            }
        }
        for (&key, &taken) in &other.branches {
            let slot = self.branches.entry(key).or_default();
            *slot = add_taken(*slot, taken);
        }
    }

    /// LF/LH: always computed from the DA records (see the module docs;
    /// [`FileRecord::recorded`] keeps what the input said).
    pub fn line_summary(&self) -> Counts {
        self.line_counts()
    }

    /// FNF/FNH as recorded, else computed.
    pub fn function_summary(&self) -> Counts {
        self.recorded
            .functions
            .unwrap_or_else(|| self.function_counts())
    }

    /// BRF/BRH as recorded, else computed.
    pub fn branch_summary(&self) -> Counts {
        self.recorded
            .branches
            .unwrap_or_else(|| self.branch_counts())
    }

    /// LF/LH computed from the DA records: distinct instrumented lines and
    /// those executed at least once.
    pub fn line_counts(&self) -> Counts {
        Counts {
            found: self.lines.len() as u64,
            hit: self.lines.values().filter(|&&h| h > 0).count() as u64,
        }
    }

    /// FNF/FNH. As llvm-cov counts the instantiations of one function
    /// (generics, or a lib compiled both plain and as a unit-test crate)
    /// once, functions that start on the same line count as one, hit if
    /// any of them is.
    pub fn function_counts(&self) -> Counts {
        let mut by_line: BTreeMap<u32, bool> = BTreeMap::new();
        for f in self.functions.values() {
            *by_line.entry(f.line).or_default() |= f.hits > 0;
        }
        Counts {
            found: by_line.len() as u64,
            hit: by_line.values().filter(|&&h| h).count() as u64,
        }
    }

    /// BRF/BRH: branches, and branches taken at least once.
    pub fn branch_counts(&self) -> Counts {
        Counts {
            found: self.branches.len() as u64,
            hit: self
                .branches
                .values()
                .filter(|t| t.is_some_and(|n| n > 0))
                .count() as u64,
        }
    }

    /// Line numbers never executed, ascending.
    pub fn uncovered_lines(&self) -> Vec<u32> {
        self.lines
            .iter()
            .filter(|&(_, &h)| h == 0)
            .map(|(&l, _)| l)
            .collect()
    }
}

impl LcovReport {
    /// Add (merge) one file's record.
    pub fn add_file(&mut self, path: String, record: FileRecord) {
        match self.files.get_mut(&path) {
            Some(mine) => mine.merge(&record),
            None => {
                self.files.insert(path, record);
            }
        }
    }

    /// Merge a whole report into this one.
    pub fn merge(&mut self, other: &LcovReport) {
        for (path, record) in &other.files {
            self.add_file(path.clone(), record.clone());
        }
    }

    /// Rewrite every path with [`strip_prefix`]; files that end up with the
    /// same path (the same source from two checkout roots) are merged.
    pub fn map_paths(self, prefixes: &[String]) -> LcovReport {
        let mut out = LcovReport::default();
        for (path, record) in self.files {
            out.add_file(strip_prefix(&path, prefixes), record);
        }
        out
    }

    /// `per_file` counts summed over all files.
    pub fn totals(&self, per_file: impl Fn(&FileRecord) -> Counts) -> Counts {
        self.files
            .values()
            .fold(Counts::default(), |acc, f| acc + per_file(f))
    }

    /// LF/LH summed over all files ([`FileRecord::line_summary`]).
    pub fn line_totals(&self) -> Counts {
        self.totals(FileRecord::line_summary)
    }
}

/// `--strip-prefix`: the longest prefix that `path` starts with (at a
/// path-component boundary) is removed, with the separator after it.
/// Prefixes may be given with or without a trailing `/`. A path equal to
/// a prefix, or starting with none, is returned unchanged.
pub fn strip_prefix(path: &str, prefixes: &[String]) -> String {
    let mut best: Option<&str> = None;
    for prefix in prefixes {
        let prefix = prefix.trim_end_matches('/');
        if prefix.is_empty() {
            continue;
        }
        let Some(rest) = path.strip_prefix(prefix) else {
            continue;
        };
        let Some(rest) = rest.strip_prefix('/') else {
            continue;
        };
        if !rest.is_empty() && best.is_none_or(|b| rest.len() < b.len()) {
            best = Some(rest);
        }
    }
    best.unwrap_or(path).to_string()
}

/// The tracefile text: files sorted by path, records in llvm-cov's order
/// (FN, FNDA, FNF, FNH, DA, BRDA, BRF, BRH, LF, LH), functions sorted by
/// line then name. Summary records as recorded, else computed.
pub fn to_string(report: &LcovReport) -> String {
    let mut out = String::new();
    for (path, f) in &report.files {
        let _ = writeln!(out, "SF:{path}");
        let mut functions: Vec<(&String, &Function)> = f.functions.iter().collect();
        functions.sort_by_key(|(name, f)| (f.line, *name));
        for (name, func) in &functions {
            let _ = writeln!(out, "FN:{},{name}", func.line);
        }
        for (name, func) in &functions {
            let _ = writeln!(out, "FNDA:{},{name}", func.hits);
        }
        let fc = f.function_summary();
        let _ = writeln!(out, "FNF:{}\nFNH:{}", fc.found, fc.hit);
        for (line, hits) in &f.lines {
            let _ = writeln!(out, "DA:{line},{hits}");
        }
        for ((line, block, branch), taken) in &f.branches {
            let taken = taken.map_or_else(|| "-".to_string(), |n| n.to_string());
            let _ = writeln!(out, "BRDA:{line},{block},{branch},{taken}");
        }
        let bc = f.branch_summary();
        let _ = writeln!(out, "BRF:{}\nBRH:{}", bc.found, bc.hit);
        let lc = f.line_summary();
        let _ = writeln!(out, "LF:{}\nLH:{}", lc.found, lc.hit);
        out.push_str("end_of_record\n");
    }
    out
}

/// Per file: (LF, LH) as the tracefile says them (computed for merged
/// files), the comparison key of the coverage parity tests.
pub fn per_file_lines(report: &LcovReport) -> BTreeMap<String, (u64, u64)> {
    report
        .files
        .iter()
        .map(|(path, f)| {
            let c = f.line_summary();
            (path.clone(), (c.found, c.hit))
        })
        .collect()
}

/// Ascending line numbers as ranges: `[12, 13, 14, 15, 20]` → `12-15, 20`.
pub fn format_ranges(lines: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < lines.len() {
        let start = lines[i];
        let mut end = start;
        while i + 1 < lines.len() && lines[i + 1] == end + 1 {
            i += 1;
            end = lines[i];
        }
        if !out.is_empty() {
            out.push_str(", ");
        }
        if start == end {
            let _ = write!(out, "{start}");
        } else {
            let _ = write!(out, "{start}-{end}");
        }
        i += 1;
    }
    out
}

/// Read and parse a tracefile.
pub fn read(path: &Utf8Path) -> anyhow::Result<LcovReport> {
    let text = fs_err::read_to_string(path)?;
    parse(&text).map_err(|e| anyhow::anyhow!("{path}: {e}"))
}

/// Write a tracefile (see [`to_string`]).
pub fn write(report: &LcovReport, path: &Utf8Path) -> anyhow::Result<()> {
    fs_err::write(path, to_string(report))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "TN:\nSF:/ws/src/lib.rs\nFN:3,foo\nFN:9,bar\nFNDA:2,foo\nFNDA:0,bar\nFNF:2\nFNH:1\n\
DA:3,2\nDA:4,2\nDA:9,0\nDA:10,0\nBRDA:4,0,0,2\nBRDA:4,0,1,0\nBRDA:10,0,0,-\nBRF:3\nBRH:1\nLF:4\nLH:2\nend_of_record\n";

    #[test]
    fn parses_every_record() {
        let r = parse(A).unwrap();
        let f = &r.files["/ws/src/lib.rs"];
        assert_eq!(f.lines.len(), 4);
        assert_eq!(f.lines[&3], 2);
        assert_eq!(f.functions["foo"], Function { line: 3, hits: 2 });
        assert_eq!(f.functions["bar"], Function { line: 9, hits: 0 });
        assert_eq!(f.branches[&(10, 0, 0)], None);
        assert_eq!(f.branches[&(4, 0, 0)], Some(2));
        assert_eq!(f.line_counts(), Counts { found: 4, hit: 2 });
        assert_eq!(f.function_counts(), Counts { found: 2, hit: 1 });
        assert_eq!(f.branch_counts(), Counts { found: 3, hit: 1 });
    }

    #[test]
    fn tolerates_unknown_records_and_lcov2_fn() {
        let text = "VER:2\nSF:a.rs\nFNL:0,1,2\nFN:1,5,main\nFNDA:1,main\nDA:1,1,abcd\nXYZ\nend_of_record\n";
        let r = parse(text).unwrap();
        let f = &r.files["a.rs"];
        assert_eq!(f.functions["main"], Function { line: 1, hits: 1 });
        assert_eq!(f.lines[&1], 1);
    }

    #[test]
    fn rejects_bad_counts_with_the_line_number() {
        let e = parse("SF:a.rs\nDA:1,x\nend_of_record\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.to_string().contains("DA:1,x"), "{e}");
        assert!(parse("DA:1,1\n").is_err(), "DA outside SF");
    }

    #[test]
    fn lines_are_counted_from_the_da_records_merged_or_not() {
        // llvm-cov counts a closure's lines again for the enclosing
        // function: LF above the number of DA lines is real output. It is
        // kept as read, but lines are counted from the DA records, so that
        // a report and the merge of its shards agree.
        let one = "SF:a.rs\nDA:1,1\nDA:2,0\nLF:3\nLH:2\nend_of_record\n";
        let r = parse(one).unwrap();
        assert_eq!(r.files["a.rs"].line_counts(), Counts { found: 2, hit: 1 });
        assert_eq!(
            r.files["a.rs"].recorded.lines,
            Some(Counts { found: 3, hit: 2 })
        );
        assert_eq!(per_file_lines(&r)["a.rs"], (2, 1));
        assert!(to_string(&r).contains("LF:2\nLH:1\n"));
        let mut merged = r.clone();
        merged.merge(&parse("SF:a.rs\nDA:2,1\nLF:1\nLH:1\nend_of_record\n").unwrap());
        assert_eq!(
            per_file_lines(&merged)["a.rs"],
            (2, 2),
            "union, not 3+1 / 2+1"
        );
        assert!(to_string(&merged).contains("LF:2\nLH:2\n"));
        // A file in two blocks of one input is a merge too.
        let twice = format!("{one}{one}");
        assert_eq!(per_file_lines(&parse(&twice).unwrap())["a.rs"], (2, 1));
        // Only LF without LH: not a recorded pair.
        let half = parse("SF:a.rs\nDA:1,1\nLF:7\nend_of_record\n").unwrap();
        assert_eq!(half.files["a.rs"].recorded.lines, None);
    }

    #[test]
    fn merge_sums_and_unites() {
        let mut a = parse(A).unwrap();
        let b = parse(
            "SF:/ws/src/lib.rs\nFN:9,bar\nFN:20,baz\nFNDA:3,bar\nFNDA:0,baz\n\
DA:9,3\nDA:20,0\nBRDA:4,0,1,5\nBRDA:10,0,0,-\nBRDA:20,0,0,0\nend_of_record\n\
SF:/ws/src/other.rs\nDA:1,1\nend_of_record\n",
        )
        .unwrap();
        a.merge(&b);
        let f = &a.files["/ws/src/lib.rs"];
        assert_eq!(f.lines[&9], 3);
        assert_eq!(f.line_counts(), Counts { found: 5, hit: 3 });
        assert_eq!(f.functions["bar"].hits, 3);
        assert_eq!(f.function_counts(), Counts { found: 3, hit: 2 });
        assert_eq!(f.branches[&(4, 0, 1)], Some(5));
        assert_eq!(f.branches[&(10, 0, 0)], None, "- plus - stays -");
        assert_eq!(f.branch_counts(), Counts { found: 4, hit: 2 });
        assert!(a.files.contains_key("/ws/src/other.rs"));
    }

    #[test]
    fn function_instances_on_one_line_count_once() {
        let r = parse("SF:a.rs\nFN:3,_RNvCsA_3lib3foo\nFN:3,_RNvCsB_3lib3foo\nFNDA:0,_RNvCsA_3lib3foo\nFNDA:1,_RNvCsB_3lib3foo\nend_of_record\n").unwrap();
        assert_eq!(
            r.files["a.rs"].function_counts(),
            Counts { found: 1, hit: 1 }
        );
    }

    #[test]
    fn writer_round_trips_and_sorts_files() {
        let mut r = parse(A).unwrap();
        r.add_file("/ws/a.rs".into(), FileRecord::default());
        let text = to_string(&r);
        assert!(text.starts_with("SF:/ws/a.rs\n"), "{text}");
        assert_eq!(to_string(&parse(&text).unwrap()), text);
        let lib = text.split("SF:/ws/src/lib.rs\n").nth(1).unwrap();
        assert!(
            lib.starts_with("FN:3,foo\nFN:9,bar\nFNDA:2,foo\nFNDA:0,bar\nFNF:2\nFNH:1\nDA:3,2\n")
        );
        assert!(lib.contains("BRDA:10,0,0,-\nBRF:3\nBRH:1\nLF:4\nLH:2\nend_of_record\n"));
    }

    #[test]
    fn strip_prefix_at_component_boundaries() {
        let p = vec!["/ci/build/".to_string(), "/home/me/proj".to_string()];
        assert_eq!(strip_prefix("/ci/build/src/a.rs", &p), "src/a.rs");
        assert_eq!(strip_prefix("/home/me/proj/src/a.rs", &p), "src/a.rs");
        assert_eq!(
            strip_prefix("/home/me/project/a.rs", &p),
            "/home/me/project/a.rs"
        );
        assert_eq!(strip_prefix("/other/a.rs", &p), "/other/a.rs");
        assert_eq!(strip_prefix("/ci/build", &p), "/ci/build");
        let nested = vec!["/a".to_string(), "/a/b".to_string()];
        assert_eq!(strip_prefix("/a/b/c.rs", &nested), "c.rs", "longest wins");
    }

    #[test]
    fn mapped_paths_from_two_roots_merge() {
        let a = parse("SF:/ci/one/src/a.rs\nDA:1,1\nDA:2,0\nend_of_record\n").unwrap();
        let b = parse("SF:/ci/two/src/a.rs\nDA:2,4\nDA:3,0\nend_of_record\n").unwrap();
        let mut all = a;
        all.merge(&b);
        let all = all.map_paths(&["/ci/one".into(), "/ci/two".into()]);
        assert_eq!(
            per_file_lines(&all),
            BTreeMap::from([("src/a.rs".to_string(), (3, 2))])
        );
    }

    #[test]
    fn ranges() {
        assert_eq!(format_ranges(&[]), "");
        assert_eq!(format_ranges(&[7]), "7");
        assert_eq!(format_ranges(&[12, 13, 14, 15, 20]), "12-15, 20");
        assert_eq!(format_ranges(&[1, 3, 4, 9]), "1, 3-4, 9");
        let r = parse("SF:a\nDA:1,0\nDA:2,0\nDA:3,1\nDA:5,0\nend_of_record\n").unwrap();
        assert_eq!(r.files["a"].uncovered_lines(), vec![1, 2, 5]);
    }

    #[test]
    fn percent_of_nothing_is_zero() {
        assert_eq!(Counts::default().percent(), 0.0);
        assert_eq!(Counts { found: 4, hit: 1 }.percent(), 25.0);
    }
}
