//! The duration recorder: a reporter that measures the run (each test's
//! time, each group's wall time where it ran whole on one worker) and, at
//! the end, folds it into the duration store ([`crate::durations`]).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::Result;
use camino::{Utf8Path, Utf8PathBuf};

use super::Reporter;
use crate::build::BuildOutput;
use crate::durations::{self, Measured};
use crate::event::RunEvent;
use crate::plan::GroupKey;

/// A group's tests as they finished on one worker.
#[derive(Debug)]
struct Span {
    start: Instant,
    end: Instant,
    tests: usize,
}

#[derive(Debug, Default)]
struct RecorderState {
    /// Binary id → test name → seconds. Nested, like `spans`, so that a
    /// result is looked up by the names it carries, without copying them:
    /// this runs for every test.
    tests: HashMap<String, HashMap<String, f64>>,
    /// Group key → worker → its span there.
    spans: HashMap<String, HashMap<String, Span>>,
    /// Groups a thief took part of: their wall time says nothing.
    stolen: HashSet<String>,
}

/// A reporter that measures the run and, at the end, folds it into the
/// store ([`Recorder::save`]).
pub struct Recorder {
    path: Utf8PathBuf,
    /// Binary id (as results name it) → its stable key.
    keys: HashMap<String, String>,
    state: Mutex<RecorderState>,
}

impl Recorder {
    pub fn new(path: Utf8PathBuf, build: &BuildOutput) -> Self {
        let mut keys: HashMap<String, String> = (build.binaries.iter())
            .map(|b| {
                (
                    b.id.clone(),
                    durations::binary_key(&b.package, &b.kind, &b.target_name),
                )
            })
            .collect();
        keys.extend(
            (build.doc_packages.iter()).map(|d| (d.id.clone(), durations::doc_key(&d.package))),
        );
        Recorder {
            path,
            keys,
            state: Mutex::new(RecorderState::default()),
        }
    }

    pub fn path(&self) -> &Utf8Path {
        &self.path
    }

    /// This run's measurements by stable keys. A group's wall time counts
    /// when it ran whole on one worker: not a batch, a part or a stolen tail,
    /// and not one test alone (that is the test's own time).
    fn measured(&self) -> Measured {
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut m = Measured::default();
        for (binary, tests) in &st.tests {
            if let Some(key) = self.keys.get(binary) {
                for (name, secs) in tests {
                    m.tests.insert((key.clone(), name.clone()), *secs);
                }
            }
        }
        for (group, on) in &st.spans {
            // A group counts when it ran on one worker only.
            let [span] = on.values().collect::<Vec<_>>()[..] else {
                continue;
            };
            let whole = !st.stolen.contains(group)
                && span.tests > 1
                && GroupKey::parse(group).piece().is_none();
            let Some((key, rest)) = whole.then(|| self.split_group(group)).flatten() else {
                continue;
            };
            let secs = (span.end - span.start).as_secs_f64();
            m.groups.insert((key, rest), (secs, span.tests));
        }
        m
    }

    /// `alpha::test/api tests/api.rs` → (stable key of `alpha::test/api`,
    /// `tests/api.rs`): the longest binary id the key starts with.
    fn split_group(&self, group: &str) -> Option<(String, String)> {
        (self.keys.iter())
            .filter_map(|(id, key)| {
                let rest = group.strip_prefix(id.as_str())?;
                let rest = match rest.strip_prefix(' ') {
                    Some(r) => r,
                    None if rest.is_empty() => rest,
                    None => return None,
                };
                Some((id.len(), key.clone(), rest.to_string()))
            })
            .max_by_key(|(len, _, _)| *len)
            .map(|(_, key, rest)| (key, rest))
    }

    /// Fold this run into the store ([`durations::record`]).
    /// A run that finished no test writes nothing.
    pub fn save(&self) -> Result<()> {
        let run = self.measured();
        if run.tests.is_empty() {
            return Ok(());
        }
        durations::record(&self.path, &run)
    }
}

/// `map`'s value for `key`, made by `new` if there is none: the key is
/// copied only then, not for every result. (Two lookups where there is
/// one: `get_mut` then `entry` in one function is refused by today's
/// borrow checker, and `entry` alone would copy the key every time.)
fn slot<'m, V>(map: &'m mut HashMap<String, V>, key: &str, new: impl FnOnce() -> V) -> &'m mut V {
    if !map.contains_key(key) {
        map.insert(key.to_string(), new());
    }
    map.get_mut(key).expect("just inserted")
}

impl Reporter for Recorder {
    fn on_event(&self, event: &RunEvent) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            // Known before the run (`-`): ignored tests, listing failures.
            RunEvent::TestFinished(r) if r.worker != "-" && r.outcome.ran() => {
                let secs = r.duration.as_secs_f64();
                let st = &mut *st;
                slot(&mut st.tests, &r.binary, HashMap::new).insert(r.name.clone(), secs);
                let now = Instant::now();
                let on = slot(&mut st.spans, &r.group, HashMap::new);
                let span = slot(on, &r.worker, || Span {
                    start: now.checked_sub(r.duration).unwrap_or(now),
                    end: now,
                    tests: 0,
                });
                span.end = now;
                span.tests += 1;
            }
            RunEvent::Stolen { group, .. } => {
                st.stolen.insert(group.clone());
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::durations::Durations;
    use crate::event::{Outcome, TestResult};
    use std::time::Duration;

    fn build() -> BuildOutput {
        let mut b = crate::build::TestBinary {
            id: "alpha".into(),
            package: "alpha".into(),
            target_name: "alpha".into(),
            kind: "lib".into(),
            path: "/t/debug/deps/alpha-0123456789abcdef".into(),
            manifest_dir: "/w/alpha".into(),
            src_path: "/w/alpha/src/lib.rs".into(),
            custom_harness: false,
            env: vec![],
            profile: None,
        };
        let lib = b.clone();
        b.id = "alpha::test/api".into();
        b.target_name = "api".into();
        b.kind = "test".into();
        BuildOutput {
            binaries: vec![lib, b],
            doc_packages: vec![],
            workspace_root: "/w".into(),
            target_dir: "/t".into(),
            ..Default::default()
        }
    }

    fn finished(binary: &str, name: &str, group: &str, worker: &str, ms: u64) -> RunEvent {
        RunEvent::TestFinished(
            TestResult::new(binary, name, None, group, worker, Outcome::Passed)
                .took(Duration::from_millis(ms)),
        )
    }

    #[test]
    fn records_by_stable_keys_and_averages_over_runs() {
        let dir = tempfile::tempdir().unwrap();
        let path = Utf8PathBuf::from_path_buf(dir.path().join("d/durations.json")).unwrap();
        let record = |ms: u64| {
            let r = Recorder::new(path.clone(), &build());
            r.on_event(&finished("alpha", "a", "alpha src/lib.rs", "gw0", ms));
            r.on_event(&finished("alpha", "b", "alpha src/lib.rs", "gw0", ms));
            r.on_event(&finished(
                "alpha::test/api",
                "c",
                "alpha::test/api tests/api.rs",
                "gw1",
                ms,
            ));
            // Known before the run: not a measurement.
            r.on_event(&finished("alpha::test/api", "(listing)", "", "-", 0));
            r.save().unwrap();
        };
        record(100);
        record(300);
        let (d, warning) = Durations::load(&path);
        assert_eq!(warning, None);
        assert_eq!(d.runs, 2);
        let lib = d
            .binary("alpha::lib/alpha")
            .expect("the lib by its stable key");
        assert!((lib.tests["a"].secs - 0.2).abs() < 1e-9, "{lib:?}");
        assert_eq!(lib.tests["a"].samples, 2);
        let g = lib.groups["src/lib.rs"];
        assert_eq!(g.tests, 2);
        assert!(g.secs >= 0.2, "a group's wall time spans its tests: {g:?}");
        let api = d.binary("alpha::test/api").unwrap();
        assert_eq!(api.tests.keys().collect::<Vec<_>>(), ["c"]);
        assert!(api.groups.is_empty(), "a one-test group is its test");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("0123456789abcdef"), "{text}");
    }

    #[test]
    fn stolen_batched_and_split_groups_record_no_wall_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = Utf8PathBuf::from_path_buf(dir.path().join("durations.json")).unwrap();
        let r = Recorder::new(path.clone(), &build());
        for (g, w) in [
            ("alpha src/a.rs", "gw0"),
            ("alpha src/a.rs (stolen tail)", "gw1"),
            ("alpha src/b.rs (part 1/2)", "gw0"),
            ("alpha (batch of 2)", "gw1"),
            ("alpha src/c.rs", "gw0"),
            ("alpha src/c.rs", "gw1"),
        ] {
            r.on_event(&finished("alpha", &format!("{g}{w}1"), g, w, 1));
            r.on_event(&finished("alpha", &format!("{g}{w}2"), g, w, 1));
        }
        r.on_event(&RunEvent::Stolen {
            thief: "gw1".into(),
            victim: "gw0".into(),
            group: "alpha src/a.rs".into(),
            tests: 1,
        });
        r.save().unwrap();
        let (d, _) = Durations::load(&path);
        let lib = d.binary("alpha::lib/alpha").unwrap();
        assert!(lib.groups.is_empty(), "{:?}", lib.groups);
        assert_eq!(lib.tests.len(), 12);
    }

    #[test]
    fn an_unreadable_file_is_an_empty_store_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let path = Utf8PathBuf::from_path_buf(dir.path().join("durations.json")).unwrap();
        let (d, w) = Durations::load(&path);
        assert!(d.is_empty() && w.is_none(), "a missing file is no problem");
        std::fs::write(&path, "{not json").unwrap();
        let (d, w) = Durations::load(&path);
        assert!(d.is_empty());
        assert!(w.unwrap().contains("durations.json"));
        // The run rewrites it.
        let r = Recorder::new(path.clone(), &build());
        r.on_event(&finished("alpha", "a", "alpha src/lib.rs", "gw0", 5));
        r.save().unwrap();
        assert_eq!(Durations::load(&path).0.runs, 1);
    }
}
