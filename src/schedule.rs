//! Schedule stage: the plan's units → the order workers take them in.
//! Largest first, so the long pole starts early; under `load` and
//! `loadgroup`, single-test units interleave files so that one file's tests
//! spread over the workers; under `no`, the binaries' order. Under `--ff`,
//! the units of the tests that failed last time go before all others.

use std::collections::{BTreeMap, VecDeque};

use crate::config::DistMode;
use crate::plan::WorkUnit;

/// Order the units for handing out under `mode`: `first` (`--ff`'s units
/// of the last run's failures), then `units`.
pub fn order(mode: DistMode, first: Vec<WorkUnit>, units: Vec<WorkUnit>) -> Vec<WorkUnit> {
    let mut out = order_by_mode(mode, first);
    out.extend(order_by_mode(mode, units));
    out
}

fn order_by_mode(mode: DistMode, units: Vec<WorkUnit>) -> Vec<WorkUnit> {
    match mode {
        // `no` keeps the binaries' order: one worker runs them like cargo test.
        DistMode::No => units,
        DistMode::Load | DistMode::Loadgroup => {
            let (batchable, mut fixed): (Vec<_>, Vec<_>) = units
                .into_iter()
                .partition(|u| matches!(u, WorkUnit::Tests(g) if g.batchable));
            fixed.sort_by_key(|u| std::cmp::Reverse(u.test_count()));
            fixed.extend(round_robin_by_file(batchable));
            fixed
        }
        DistMode::Loadfile | DistMode::Loadscope | DistMode::Worksteal => {
            let mut units = units;
            units.sort_by_key(|u| std::cmp::Reverse(u.test_count()));
            units
        }
    }
}

/// Order single-test units so consecutive units come from different files
/// (first by test name, so the order does not depend on the listing's).
fn round_robin_by_file(units: Vec<WorkUnit>) -> Vec<WorkUnit> {
    // (binary, file) → its units, each with its test's name.
    type Queue = VecDeque<(String, WorkUnit)>;
    let mut by_file: BTreeMap<(usize, Option<String>), Queue> = BTreeMap::new();
    for u in units {
        let WorkUnit::Tests(g) = &u else {
            continue;
        };
        let first = &g.tests[0];
        by_file
            .entry((g.binary, first.source_path.clone()))
            .or_default()
            .push_back((first.name.clone(), u));
    }
    let mut queues: Vec<Queue> = by_file
        .into_values()
        .map(|q| {
            let mut v: Vec<_> = q.into();
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v.into()
        })
        .collect();
    let mut out = Vec::new();
    while queues.iter().any(|q| !q.is_empty()) {
        for q in &mut queues {
            if let Some((_, u)) = q.pop_front() {
                out.push(u);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::list::{CaseKind, TestCase};
    use crate::plan::TestGroup;

    fn unit(binary: usize, names: &[&str], file: &str, batchable: bool) -> WorkUnit {
        WorkUnit::Tests(TestGroup {
            key: format!("{binary} {file}"),
            binary,
            tests: names
                .iter()
                .map(|n| TestCase {
                    binary,
                    name: n.to_string(),
                    ignored: false,
                    source_path: Some(file.into()),
                    line: None,
                    kind: CaseKind::Libtest,
                })
                .collect(),
            batchable,
        })
    }

    fn keys(units: &[WorkUnit]) -> Vec<String> {
        units
            .iter()
            .map(|u| match u {
                WorkUnit::Tests(g) => format!("{}:{}", g.key, g.tests[0].name),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn largest_first_under_loadfile() {
        let units = vec![
            unit(0, &["a"], "x.rs", false),
            unit(0, &["b", "c", "d"], "y.rs", false),
            unit(1, &["e", "f"], "z.rs", false),
        ];
        assert_eq!(
            keys(&order(DistMode::Loadfile, vec![], units.clone())),
            ["0 y.rs:b", "1 z.rs:e", "0 x.rs:a"]
        );
        assert_eq!(
            keys(&order(DistMode::No, vec![], units)),
            ["0 x.rs:a", "0 y.rs:b", "1 z.rs:e"]
        );
    }

    #[test]
    fn load_interleaves_files_after_fixed_groups() {
        let units = vec![
            unit(0, &["a1"], "a.rs", true),
            unit(0, &["a2"], "a.rs", true),
            unit(0, &["b1"], "b.rs", true),
            unit(0, &["g1", "g2"], "g.rs", false),
        ];
        assert_eq!(
            keys(&order(DistMode::Load, vec![], units)),
            ["0 g.rs:g1", "0 a.rs:a1", "0 b.rs:b1", "0 a.rs:a2"]
        );
    }

    #[test]
    fn failed_first_units_go_before_larger_ones() {
        for mode in [DistMode::Loadfile, DistMode::Load, DistMode::No] {
            let first = vec![
                unit(0, &["f1"], "f.rs", false),
                unit(1, &["f2", "f3"], "g.rs", false),
            ];
            let rest = vec![
                unit(0, &["a", "b", "c"], "x.rs", false),
                unit(0, &["d"], "y.rs", true),
            ];
            let got = keys(&order(mode, first, rest));
            assert_eq!(got.len(), 4, "{mode:?}");
            let mut ahead = got[..2].to_vec();
            ahead.sort();
            assert_eq!(ahead, ["0 f.rs:f1", "1 g.rs:f2"], "{mode:?}: {got:?}");
        }
    }
}
