//! lcov model → Cobertura XML (coverage-04 DTD), as GitLab's coverage
//! visualization and Codecov read it: `<sources>` names the root, every
//! source file is a `<class>` whose `filename` is relative to it, grouped
//! in one `<package>` per directory.

use std::collections::BTreeMap;
use std::io;

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};

use super::lcov::{Counts, FileRecord, LcovReport};

const DTD: &str = r#"coverage SYSTEM "http://cobertura.sourceforge.net/xml/coverage-04.dtd""#;

/// Cobertura's rate: hit/found in 0..=1, and 1 when there is nothing to
/// cover (as Cobertura itself reports an empty class).
pub fn rate(c: Counts) -> String {
    if c.found == 0 {
        "1".to_string()
    } else {
        format!("{:.4}", c.hit as f64 / c.found as f64)
    }
}

/// Seconds since the Unix epoch, the `timestamp` cargo-llvm-cov and
/// lcov_cobertura write.
pub fn now_timestamp() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The Cobertura document for `report`. Paths under `source_root` are
/// written relative to it and `source_root` is the one `<source>`;
/// without a root (or for paths outside it) paths are written as they
/// are, under the source `.`.
pub fn to_cobertura(report: &LcovReport, source_root: Option<&str>, timestamp: u64) -> String {
    let root = source_root
        .map(|r| r.trim_end_matches('/'))
        .filter(|r| !r.is_empty());
    // package (directory) → [(relative filename, record)]
    let mut packages: BTreeMap<String, Vec<(String, &FileRecord)>> = BTreeMap::new();
    for (path, record) in &report.files {
        let rel = root
            .and_then(|r| path.strip_prefix(r)?.strip_prefix('/'))
            .unwrap_or(path);
        let dir = rel.rsplit_once('/').map_or("", |(d, _)| d);
        packages
            .entry(package_name(dir))
            .or_default()
            .push((rel.to_string(), record));
    }
    // Counted from the details, so that the rates agree with the <line>s.
    let lines = report.totals(FileRecord::line_counts);
    let branches = report.totals(FileRecord::branch_counts);

    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    write_document(&mut w, &packages, root, lines, branches, timestamp)
        .expect("writing XML to memory cannot fail");
    let mut text = String::from_utf8(w.into_inner()).expect("XML from str input is UTF-8");
    text.push('\n');
    text
}

fn package_name(dir: &str) -> String {
    if dir.is_empty() {
        ".".to_string()
    } else {
        dir.trim_start_matches('/').replace('/', ".")
    }
}

fn write_document(
    w: &mut Writer<Vec<u8>>,
    packages: &BTreeMap<String, Vec<(String, &FileRecord)>>,
    root: Option<&str>,
    lines: Counts,
    branches: Counts,
    timestamp: u64,
) -> io::Result<()> {
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    w.write_event(Event::DocType(BytesText::from_escaped(DTD)))?;
    let version = concat!("cargo-xdist ", env!("CARGO_PKG_VERSION"));
    w.create_element("coverage")
        .with_attributes([
            ("line-rate", rate(lines).as_str()),
            ("branch-rate", rate(branches).as_str()),
            ("lines-covered", lines.hit.to_string().as_str()),
            ("lines-valid", lines.found.to_string().as_str()),
            ("branches-covered", branches.hit.to_string().as_str()),
            ("branches-valid", branches.found.to_string().as_str()),
            ("complexity", "0"),
            ("version", version),
            ("timestamp", timestamp.to_string().as_str()),
        ])
        .write_inner_content(|w| {
            w.create_element("sources").write_inner_content(|w| {
                w.create_element("source")
                    .write_text_content(BytesText::new(root.unwrap_or(".")))?;
                Ok(())
            })?;
            w.create_element("packages").write_inner_content(|w| {
                for (name, files) in packages {
                    write_package(w, name, files)?;
                }
                Ok(())
            })?;
            Ok(())
        })?;
    Ok(())
}

fn write_package(
    w: &mut Writer<Vec<u8>>,
    name: &str,
    files: &[(String, &FileRecord)],
) -> io::Result<()> {
    let sum = |f: fn(&FileRecord) -> Counts| {
        files
            .iter()
            .fold(Counts::default(), |acc, (_, r)| acc + f(r))
    };
    w.create_element("package")
        .with_attributes([
            ("name", name),
            ("line-rate", rate(sum(FileRecord::line_counts)).as_str()),
            ("branch-rate", rate(sum(FileRecord::branch_counts)).as_str()),
            ("complexity", "0"),
        ])
        .write_inner_content(|w| {
            w.create_element("classes").write_inner_content(|w| {
                for (filename, record) in files {
                    write_class(w, filename, record)?;
                }
                Ok(())
            })?;
            Ok(())
        })?;
    Ok(())
}

fn write_class(w: &mut Writer<Vec<u8>>, filename: &str, record: &FileRecord) -> io::Result<()> {
    // Branches per line: (taken at least once, total).
    let mut per_line: BTreeMap<u32, (u64, u64)> = BTreeMap::new();
    for (&(line, _, _), taken) in &record.branches {
        let e = per_line.entry(line).or_default();
        e.0 += u64::from(taken.is_some_and(|n| n > 0));
        e.1 += 1;
    }
    let name = filename
        .strip_suffix(".rs")
        .unwrap_or(filename)
        .trim_start_matches('/')
        .replace('/', ".");
    w.create_element("class")
        .with_attributes([
            ("name", name.as_str()),
            ("filename", filename),
            ("line-rate", rate(record.line_counts()).as_str()),
            ("branch-rate", rate(record.branch_counts()).as_str()),
            ("complexity", "0"),
        ])
        .write_inner_content(|w| {
            w.create_element("methods").write_empty()?;
            w.create_element("lines").write_inner_content(|w| {
                for (&number, &hits) in &record.lines {
                    let mut line = w.create_element("line").with_attributes([
                        ("number", number.to_string().as_str()),
                        ("hits", hits.to_string().as_str()),
                    ]);
                    line = match per_line.get(&number) {
                        Some(&(taken, total)) => line.with_attributes([
                            ("branch", "true"),
                            (
                                "condition-coverage",
                                format!("{}% ({taken}/{total})", taken * 100 / total).as_str(),
                            ),
                        ]),
                        None => line.with_attribute(("branch", "false")),
                    };
                    line.write_empty()?;
                }
                Ok(())
            })?;
            Ok(())
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use quick_xml::Reader;
    use quick_xml::events::Event;

    use super::*;
    use crate::coverage::lcov;

    /// (element name, attributes) of every start/empty element.
    fn elements(xml: &str) -> Vec<(String, BTreeMap<String, String>)> {
        let mut reader = Reader::from_str(xml);
        let mut out = Vec::new();
        loop {
            match reader.read_event().expect("well-formed XML") {
                Event::Start(e) | Event::Empty(e) => {
                    let attrs = e
                        .attributes()
                        .map(|a| {
                            let a = a.unwrap();
                            (
                                String::from_utf8(a.key.as_ref().to_vec()).unwrap(),
                                a.normalized_value(quick_xml::XmlVersion::Explicit1_0)
                                    .unwrap()
                                    .into_owned(),
                            )
                        })
                        .collect();
                    out.push((
                        String::from_utf8(e.name().as_ref().to_vec()).unwrap(),
                        attrs,
                    ));
                }
                Event::Eof => break,
                _ => {}
            }
        }
        out
    }

    const INPUT: &str = "SF:/ws/src/lib.rs\nDA:1,2\nDA:2,0\nDA:3,1\nDA:4,0\nBRDA:3,0,0,1\nBRDA:3,0,1,0\nend_of_record\n\
SF:/ws/src/a&b/x.rs\nDA:1,1\nend_of_record\nSF:/elsewhere/y.rs\nDA:7,0\nend_of_record\n";

    #[test]
    fn reads_back_with_rates_and_counts() {
        let report = lcov::parse(INPUT).unwrap();
        let xml = to_cobertura(&report, Some("/ws/"), 1_700_000_000);
        assert!(
            xml.starts_with(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE coverage SYSTEM"
            )
        );
        let els = elements(&xml);
        let (name, cov) = &els[0];
        assert_eq!(name, "coverage");
        assert_eq!(cov["line-rate"], "0.5000", "3 of 6 lines");
        assert_eq!(cov["lines-covered"], "3");
        assert_eq!(cov["lines-valid"], "6");
        assert_eq!(cov["branch-rate"], "0.5000");
        assert_eq!(cov["timestamp"], "1700000000");
        let classes: Vec<_> = els.iter().filter(|(n, _)| n == "class").collect();
        let filenames: Vec<&str> = classes
            .iter()
            .map(|(_, a)| a["filename"].as_str())
            .collect();
        // Grouped by package (directory), then by path.
        assert_eq!(filenames, ["/elsewhere/y.rs", "src/lib.rs", "src/a&b/x.rs"]);
        let lib = &classes[1].1;
        assert_eq!(lib["line-rate"], "0.5000");
        assert_eq!(lib["name"], "src.lib");
        let packages: Vec<&str> = els
            .iter()
            .filter(|(n, _)| n == "package")
            .map(|(_, a)| a["name"].as_str())
            .collect();
        assert_eq!(packages, ["elsewhere", "src", "src.a&b"]);
        let source = xml.split("<source>").nth(1).unwrap();
        assert!(source.starts_with("/ws</source>"));
        let branchy: Vec<_> = els
            .iter()
            .filter(|(n, a)| n == "line" && a["branch"] == "true")
            .collect();
        assert_eq!(branchy.len(), 1);
        assert_eq!(branchy[0].1["number"], "3");
        assert_eq!(branchy[0].1["condition-coverage"], "50% (1/2)");
    }

    #[test]
    fn empty_report_is_valid() {
        let xml = to_cobertura(&LcovReport::default(), None, 0);
        let els = elements(&xml);
        assert_eq!(els[0].1["line-rate"], "1");
        assert_eq!(els[0].1["lines-valid"], "0");
        assert!(xml.contains("<source>.</source>"));
    }
}
