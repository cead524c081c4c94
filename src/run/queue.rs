//! The queue workers take units from: shared, or a lane per worker when
//! the schedule planned one from recorded durations.

use std::collections::VecDeque;
use std::sync::Mutex;

use crate::plan::{MAX_BATCH, WorkUnit};
use crate::schedule::{Estimates, Order};

/// The queue of units, each with its expected time: one lane all workers
/// take from, or (a plan from recorded durations, [`Order::lanes`]) a lane
/// per worker; a worker whose lane is empty takes the last (shortest)
/// unit of the lane with the most expected work left. `load`-mode units
/// (and in a planned lane, whole groups too) are handed out in batches of
/// one binary's, expected to take about a quarter of the lane's work left
/// per worker: large while much is left (fewer process starts), down to
/// single units at the end (so the workers finish together); in a planned
/// lane never less than [`MIN_BATCH_SECS`].
pub(super) struct Queue {
    lanes: Mutex<Vec<Lane>>,
    workers: usize,
    /// `--record-impact`: no batches.
    alone: bool,
}

#[derive(Default)]
struct Lane {
    units: VecDeque<(f64, WorkUnit)>,
    /// The expected time of everything in `units`.
    left: f64,
}

/// Units expected to take less than this together share one process in a
/// planned lane: a process start (~3 ms for a debug test binary) would
/// otherwise cost more than the tests.
const MIN_BATCH_SECS: f64 = 0.02;

impl Queue {
    /// `alone`: hand out every unit as it is, never batched.
    pub(super) fn new(order: Order, workers: usize, estimates: &Estimates, alone: bool) -> Self {
        let workers = workers.max(1);
        let planned = order.lanes.filter(|l| l.len() == order.units.len());
        let mut lanes: Vec<Lane> = (0..planned.as_ref().map_or(1, |_| workers))
            .map(|_| Lane::default())
            .collect();
        for (i, unit) in order.units.into_iter().enumerate() {
            let lane = planned.as_ref().map_or(0, |p| p[i].min(workers - 1));
            let secs = estimates.unit(&unit);
            lanes[lane].left += secs;
            lanes[lane].units.push_back((secs, unit));
        }
        Queue {
            lanes: Mutex::new(lanes),
            workers,
            alone,
        }
    }

    /// Worker `worker`'s next unit.
    pub(super) fn next(&self, worker: usize) -> Option<WorkUnit> {
        let mut lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
        if lanes.len() == 1 {
            let target = lanes[0].left / (self.workers * 4) as f64;
            return lanes[0].take_batch(target, false, self.alone);
        }
        let own = worker.min(lanes.len() - 1);
        if !lanes[own].units.is_empty() {
            let target = (lanes[own].left / 4.0).max(MIN_BATCH_SECS);
            return lanes[own].take_batch(target, true, self.alone);
        }
        let busiest = (0..lanes.len())
            .filter(|&l| !lanes[l].units.is_empty())
            .max_by(|&a, &b| lanes[a].left.total_cmp(&lanes[b].left))?;
        lanes[busiest].steal(self.alone)
    }
}

impl Lane {
    /// The lane's first unit, with the same binary's next units in the
    /// lane's (longest first) order while they fit `target` seconds: `load`
    /// tests always, whole groups (`merge`: a worker's planned lane) too,
    /// so that one process runs several small files' tests, each file
    /// still whole in that one process. The shorter units further back
    /// are left for the end, where they even out the workers' finish.
    fn take_batch(&mut self, target: f64, merge: bool, alone: bool) -> Option<WorkUnit> {
        let (mut secs, unit) = self.units.pop_front()?;
        self.left -= secs;
        let WorkUnit::Tests(mut first) = unit else {
            return Some(unit);
        };
        if (!first.batchable && !merge) || alone {
            return Some(WorkUnit::Tests(first));
        }
        let mut i = 0;
        while first.tests.len() < MAX_BATCH && i < self.units.len() {
            let (t, unit) = &self.units[i];
            let same = matches!(unit, WorkUnit::Tests(g) if first.may_absorb(g));
            if !same {
                i += 1;
                continue;
            }
            let t = *t;
            if secs + t > target {
                break;
            }
            if let Some((_, WorkUnit::Tests(g))) = self.units.remove(i) {
                first.absorb(g);
                secs += t;
                self.left -= t;
            }
        }
        Some(WorkUnit::Tests(first))
    }

    /// For a worker whose own lane is empty: this lane's last (shortest)
    /// unit, with the same binary's units before it while all together
    /// are expected to take under [`MIN_BATCH_SECS`] (one process start,
    /// not one per small file, at the end of a run).
    fn steal(&mut self, alone: bool) -> Option<WorkUnit> {
        let (mut secs, unit) = self.units.pop_back()?;
        self.left -= secs;
        let WorkUnit::Tests(mut last) = unit else {
            return Some(unit);
        };
        let mut i = self.units.len();
        while !alone && i > 0 && last.tests.len() < MAX_BATCH {
            i -= 1;
            let (t, WorkUnit::Tests(g)) = &self.units[i] else {
                continue;
            };
            if !last.may_absorb(g) {
                continue;
            }
            if secs + t > MIN_BATCH_SECS {
                break;
            }
            let t = *t;
            if let Some((_, WorkUnit::Tests(g))) = self.units.remove(i) {
                last.absorb(g);
                secs += t;
                self.left -= t;
            }
        }
        Some(WorkUnit::Tests(last))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::list::{CaseKind, TestCase};
    use crate::plan::{GroupKey, TestGroup};

    fn single(name: &str) -> WorkUnit {
        WorkUnit::Tests(TestGroup {
            key: GroupKey::new("0", name),
            binary: 0,
            tests: vec![TestCase {
                binary: 0,
                name: name.into(),
                ignored: false,
                source_path: None,
                line: None,
                kind: CaseKind::Libtest,
            }],
            batchable: true,
        })
    }

    /// The tests of each batch the queue hands out, in turn.
    fn batches(queue: &Queue) -> Vec<Vec<String>> {
        std::iter::from_fn(|| queue.next(0))
            .map(|u| match u {
                WorkUnit::Tests(g) => g.tests.into_iter().map(|t| t.name).collect(),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    /// Each worker takes its own lane's units, longest first; a worker
    /// whose lane is empty takes the last (shortest) unit of the lane with
    /// the most expected work left; every unit is handed out once.
    #[test]
    fn planned_lanes_then_the_shortest_of_the_busiest_lane() {
        let names = ["a", "b", "c", "d", "e", "f"];
        let times: Vec<(&str, f64)> = names
            .iter()
            .copied()
            .zip([4.0, 3.0, 2.0, 1.0, 0.5, 0.25])
            .collect();
        let est = Estimates::from_times(&[&times]);
        // Single tests, not batchable (loadfile-like units).
        let units = names.iter().map(|n| match single(n) {
            WorkUnit::Tests(mut g) => {
                g.batchable = false;
                WorkUnit::Tests(g)
            }
            other => other,
        });
        let order = Order {
            units: units.collect(),
            lanes: Some(vec![0, 1, 1, 0, 1, 1]),
        };
        let queue = Queue::new(order, 2, &est, false);
        let name = |u: Option<WorkUnit>| match u {
            Some(WorkUnit::Tests(g)) => g.tests[0].name.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(name(queue.next(1)), "b");
        assert_eq!(name(queue.next(0)), "a");
        assert_eq!(name(queue.next(0)), "d");
        // Worker 0's lane is empty: lane 1 has c, e, f left; f is its last.
        assert_eq!(name(queue.next(0)), "f");
        assert_eq!(name(queue.next(1)), "c");
        assert_eq!(name(queue.next(1)), "e");
        assert!(queue.next(0).is_none() && queue.next(1).is_none());
    }

    /// In a planned lane, small whole groups of one binary share a process
    /// (each group whole in it); another binary's group does not join.
    #[test]
    fn a_planned_lane_runs_small_groups_of_one_binary_in_one_process() {
        let group = |binary: usize, key: &str, names: &[&str]| {
            let tests = names.iter().map(|n| match single(n) {
                WorkUnit::Tests(mut g) => {
                    g.tests[0].binary = binary;
                    g.tests.remove(0)
                }
                other => panic!("{other:?}"),
            });
            WorkUnit::Tests(TestGroup {
                key: GroupKey::new(&binary.to_string(), key),
                binary,
                tests: tests.collect(),
                batchable: false,
            })
        };
        let times: Vec<(&str, f64)> = ["a1", "a2", "b1", "c1", "c2", "d1"]
            .into_iter()
            .zip([0.004, 0.004, 0.003, 0.002, 0.002, 0.003])
            .collect();
        let est = Estimates::from_times(&[&times, &[("x1", 0.001)]]);
        let order = Order {
            units: vec![
                group(0, "a.rs", &["a2", "a1"]),
                group(0, "b.rs", &["b1"]),
                group(1, "x.rs", &["x1"]),
                group(0, "c.rs", &["c1", "c2"]),
                group(0, "d.rs", &["d1"]),
            ],
            lanes: Some(vec![0; 5]),
        };
        let queue = Queue::new(order, 2, &est, false);
        let got: Vec<(String, Vec<String>)> = std::iter::from_fn(|| queue.next(0))
            .map(|u| match u {
                WorkUnit::Tests(g) => (
                    g.key.to_string(),
                    g.tests.into_iter().map(|t| t.name).collect(),
                ),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    "0 (batch of 4 groups)".to_string(),
                    strings(&["a1", "a2", "b1", "c1", "c2", "d1"])
                ),
                ("1 x.rs".to_string(), strings(&["x1"])),
            ]
        );
    }

    /// A worker whose lane is empty takes the busiest lane's last unit
    /// with the same binary's small units before it, while all together
    /// stay under MIN_BATCH_SECS; another binary's unit waits its turn.
    #[test]
    fn a_steal_takes_the_small_groups_of_one_binary_together() {
        let group = |binary: usize, name: &str| match single(name) {
            WorkUnit::Tests(mut g) => {
                g.binary = binary;
                g.tests[0].binary = binary;
                g.batchable = false;
                g.key = GroupKey::new(&binary.to_string(), format!("{name}.rs"));
                WorkUnit::Tests(g)
            }
            other => other,
        };
        let est = Estimates::from_times(&[
            &[("big", 1.0), ("s1", 0.008), ("s2", 0.007), ("s3", 0.006)],
            &[("x", 0.003)],
        ]);
        let order = Order {
            units: ["big", "s1", "x", "s2", "s3"]
                .into_iter()
                .map(|n| group(usize::from(n == "x"), n))
                .collect(),
            lanes: Some(vec![1; 5]),
        };
        let queue = Queue::new(order, 2, &est, false);
        let names = |u: Option<WorkUnit>| match u {
            Some(WorkUnit::Tests(g)) => (
                g.key.to_string(),
                g.tests.into_iter().map(|t| t.name).collect::<Vec<_>>(),
            ),
            other => panic!("{other:?}"),
        };
        // s3 + s2 = 13 ms; s1 would make 21 ms.
        assert_eq!(
            names(queue.next(0)),
            ("0 (batch of 2 groups)".into(), strings(&["s2", "s3"]))
        );
        assert_eq!(names(queue.next(0)), ("1 x.rs".into(), strings(&["x"])));
        assert_eq!(names(queue.next(0)), ("0 s1.rs".into(), strings(&["s1"])));
        assert_eq!(names(queue.next(1)).1, strings(&["big"]));
        assert!(queue.next(0).is_none() && queue.next(1).is_none());
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn load_batches_are_sized_by_expected_time() {
        // One 4 s test, then twelve of 0.25 s, in longest-first order.
        let names: Vec<String> = std::iter::once("a".to_string())
            .chain((1..=12).map(|i| format!("t{i:02}")))
            .collect();
        let times: Vec<(&str, f64)> = (names.iter())
            .map(|n| (n.as_str(), if n == "a" { 4.0 } else { 0.25 }))
            .collect();
        let est = Estimates::from_times(&[&times]);
        let units = || names.iter().map(|n| single(n)).collect::<Vec<_>>();
        // A batch aims at a quarter of the work left per worker: 1.75 s
        // (the long test alone), 0.75 s (three), 0.5625 s (two), ...
        let sizes: Vec<usize> = batches(&Queue::new(Order::shared(units()), 1, &est, false))
            .iter()
            .map(Vec::len)
            .collect();
        assert_eq!(sizes, [1, 3, 2, 1, 1, 1, 1, 1, 1, 1]);
        // With nothing recorded every test is alike: the first batch is a
        // quarter of the count (as by count), and every test is handed out.
        let got = batches(&Queue::new(
            Order::shared(units()),
            1,
            &Estimates::default(),
            false,
        ));
        assert_eq!(got[0].len(), 3);
        assert_eq!(got.iter().map(Vec::len).sum::<usize>(), 13);
    }
}
