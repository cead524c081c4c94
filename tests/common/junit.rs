//! The JUnit report, read back with quick-junit's own deserializer.

use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JOutcome {
    Passed,
    /// A `<failure>` or `<error>` element.
    Failed {
        message: String,
        /// The `type` attribute (`test failure`, `timeout`).
        kind: String,
        /// The element's text: the captured output or the reason in full.
        description: String,
        /// `<error>` rather than `<failure>`.
        error: bool,
    },
    Skipped,
}

impl JOutcome {
    pub fn short(&self) -> &'static str {
        match self {
            JOutcome::Passed => "pass",
            JOutcome::Failed { .. } => "fail",
            JOutcome::Skipped => "skip",
        }
    }
}

#[derive(Debug, Clone)]
pub struct JCase {
    pub suite: String,
    pub name: String,
    pub classname: String,
    pub outcome: JOutcome,
    /// The `time` attribute.
    pub time: Option<std::time::Duration>,
    /// The `worker` property.
    pub worker: Option<String>,
    pub system_out: Option<String>,
    pub system_err: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Junit {
    /// The whole report (totals: `report.tests`, `report.failures`, ...).
    pub report: quick_junit::Report,
    pub cases: Vec<JCase>,
    /// The `xdist.run_id` property of every suite, in suite order.
    pub run_ids: Vec<Option<String>>,
}

fn property(props: &[quick_junit::Property], name: &str) -> Option<String> {
    props
        .iter()
        .find(|p| p.name.as_str() == name)
        .map(|p| p.value.as_str().to_string())
}

fn xml_text(s: &Option<quick_junit::XmlString>) -> Option<String> {
    s.as_ref().map(|s| s.as_str().to_string())
}

impl Junit {
    pub fn parse(xml: &str) -> Result<Junit, String> {
        use quick_junit::{NonSuccessKind, TestCaseStatus};
        let report = quick_junit::Report::deserialize_from_str(xml).map_err(|e| e.to_string())?;
        let mut cases = Vec::new();
        let mut run_ids = Vec::new();
        for suite in &report.test_suites {
            run_ids.push(property(&suite.properties, "xdist.run_id"));
            for c in &suite.test_cases {
                let outcome = match &c.status {
                    TestCaseStatus::Success { .. } => JOutcome::Passed,
                    TestCaseStatus::Skipped { .. } => JOutcome::Skipped,
                    TestCaseStatus::NonSuccess {
                        kind,
                        message,
                        ty,
                        description,
                        ..
                    } => JOutcome::Failed {
                        message: xml_text(message).unwrap_or_default(),
                        kind: xml_text(ty).unwrap_or_default(),
                        description: xml_text(description).unwrap_or_default(),
                        error: *kind == NonSuccessKind::Error,
                    },
                };
                cases.push(JCase {
                    suite: suite.name.as_str().to_string(),
                    name: c.name.as_str().to_string(),
                    classname: xml_text(&c.classname).unwrap_or_default(),
                    outcome,
                    time: c.time,
                    worker: property(&c.properties, "worker"),
                    system_out: xml_text(&c.system_out),
                    system_err: xml_text(&c.system_err),
                });
            }
        }
        Ok(Junit {
            report,
            cases,
            run_ids,
        })
    }

    /// Every text of the report as parsed, that is with XML escapes resolved
    /// (names, attributes, properties, messages, output, reruns), each with
    /// where it was found. Searching the raw XML instead misses a text the
    /// writer escaped (`&`, `<`, `"`, ...).
    pub fn texts(&self) -> Vec<(String, String)> {
        use quick_junit::{Property, TestCaseStatus, XmlString};
        type Found<'a> = Vec<(String, Option<&'a XmlString>)>;
        /// Properties and extra attributes: names and values.
        fn named<'a>(
            out: &mut Found<'a>,
            at: &str,
            props: &'a [Property],
            attrs: impl IntoIterator<Item = (&'a XmlString, &'a XmlString)>,
        ) {
            let props = props.iter().map(|p| (&p.name, &p.value));
            for (k, v) in props.chain(attrs) {
                out.push((format!("{at}: a name"), Some(k)));
                out.push((format!("{at}: {}", k.as_str()), Some(v)));
            }
        }
        let mut out: Found = vec![("report name".into(), self.report.name.as_ref())];
        for suite in &self.report.test_suites {
            let at = format!("suite {}", suite.name.as_str());
            out.push(("suite name".into(), Some(&suite.name)));
            named(&mut out, &at, &suite.properties, &suite.extra);
            out.push((format!("{at}: system-out"), suite.system_out.as_ref()));
            out.push((format!("{at}: system-err"), suite.system_err.as_ref()));
            for case in &suite.test_cases {
                let at = format!("{at} case {}", case.name.as_str());
                named(&mut out, &at, &case.properties, &case.extra);
                out.extend([
                    (format!("{at}: name"), Some(&case.name)),
                    (format!("{at}: classname"), case.classname.as_ref()),
                    (format!("{at}: system-out"), case.system_out.as_ref()),
                    (format!("{at}: system-err"), case.system_err.as_ref()),
                ]);
                let (message, ty, description, reruns) = match &case.status {
                    TestCaseStatus::Success { flaky_runs } => {
                        (&None, &None, &None, &flaky_runs[..])
                    }
                    TestCaseStatus::NonSuccess {
                        message,
                        ty,
                        description,
                        reruns,
                        ..
                    } => (message, ty, description, &reruns.runs[..]),
                    TestCaseStatus::Skipped {
                        message,
                        ty,
                        description,
                    } => (message, ty, description, &[][..]),
                };
                out.extend([
                    (format!("{at}: message"), message.as_ref()),
                    (format!("{at}: type"), ty.as_ref()),
                    (format!("{at}: description"), description.as_ref()),
                ]);
                for (i, r) in reruns.iter().enumerate() {
                    let at = format!("{at}: rerun {i}");
                    out.extend([
                        (format!("{at} message"), r.message.as_ref()),
                        (format!("{at} type"), r.ty.as_ref()),
                        (format!("{at} description"), r.description.as_ref()),
                        (format!("{at} stack trace"), r.stack_trace.as_ref()),
                        (format!("{at} system-out"), r.system_out.as_ref()),
                        (format!("{at} system-err"), r.system_err.as_ref()),
                    ]);
                }
            }
        }
        out.into_iter()
            .filter_map(|(at, s)| s.map(|s| (at, s.as_str().to_string())))
            .collect()
    }

    /// The run id, if every suite has the same one (and there is a suite).
    pub fn run_id(&self) -> Option<String> {
        let set: BTreeSet<&Option<String>> = self.run_ids.iter().collect();
        match set.into_iter().collect::<Vec<_>>()[..] {
            [Some(id)] => Some(id.clone()),
            _ => None,
        }
    }

    pub fn get(&self, suite: &str, name: &str) -> Option<&JCase> {
        self.cases
            .iter()
            .find(|c| c.suite == suite && c.name == name)
    }

    /// The case named `name` (names are unique in the fixtures).
    pub fn by_name(&self, name: &str) -> Option<&JCase> {
        let mut it = self.cases.iter().filter(|c| c.name == name);
        let first = it.next();
        if it.next().is_some() { None } else { first }
    }

    /// `(suite, name) -> outcome` for comparisons.
    pub fn outcome_map(&self) -> BTreeMap<(String, String), &'static str> {
        self.cases
            .iter()
            .map(|c| ((c.suite.clone(), c.name.clone()), c.outcome.short()))
            .collect()
    }
}

/// Compare `(suite, name) -> pass|fail|skip` maps; describe every difference.
pub fn diff_outcomes(
    expected: &BTreeMap<(String, String), &'static str>,
    actual: &BTreeMap<(String, String), &'static str>,
) -> Vec<String> {
    let mut diffs = Vec::new();
    for (k, want) in expected {
        match actual.get(k) {
            None => diffs.push(format!("missing: {} {} (expected {want})", k.0, k.1)),
            Some(got) if got != want => {
                diffs.push(format!("{} {}: expected {want}, got {got}", k.0, k.1))
            }
            _ => {}
        }
    }
    for k in actual.keys() {
        if !expected.contains_key(k) {
            diffs.push(format!("unexpected: {} {} ({})", k.0, k.1, actual[k]));
        }
    }
    diffs
}
