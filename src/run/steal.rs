//! `--dist worksteal`: groups as under loadfile, but a worker with nothing
//! left to do takes the unclaimed second half of the busiest worker's group
//! and runs it in a fresh process of its own (any subset of a group can run
//! that way).
//!
//! Claiming is atomic. libtest cannot be told to stop between two tests, so
//! a process is only ever given tests its worker has claimed, and a thief
//! only takes tests nobody has claimed, both under the lock of the owner's
//! slot: no test is run, or reported, by both the owner and a thief. The
//! owner claims its group in halves: each of its processes gets half of
//! what is still unclaimed (at least one test), and the rest stays on the
//! board to be stolen. A group of N tests that nobody steals from runs in
//! about log2(N) + 1 processes.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::list::TestCase;
use crate::plan::{GroupKey, TestGroup};
use crate::schedule::Estimates;

/// With recorded durations, a steal that is expected to take less than this
/// does not pay for the fresh process it needs.
const MIN_STEAL_SECS: f64 = 0.05;

/// The unclaimed tests of the group one worker is running.
struct Tail {
    group: GroupKey,
    binary: usize,
    /// In the order libtest runs them; the owner claims from the front, a
    /// thief takes from the back.
    unclaimed: VecDeque<TestCase>,
}

/// The tails of all workers' groups.
pub struct Board {
    slots: Vec<Mutex<Option<Tail>>>,
    /// Workers running a unit (a stolen tail may still appear).
    active: AtomicUsize,
    /// Expected test times: whom to steal from, where to cut, whether it pays.
    estimates: Arc<Estimates>,
}

/// A stolen tail, ready to run.
pub struct Stolen {
    pub group: TestGroup,
    pub victim: usize,
}

impl Board {
    pub fn new(workers: usize, estimates: Arc<Estimates>) -> Self {
        Board {
            slots: (0..workers).map(|_| Mutex::new(None)).collect(),
            active: AtomicUsize::new(0),
            estimates,
        }
    }

    /// The expected time of `tests` (by count when nothing is recorded).
    fn cost<'t>(&self, tests: impl Iterator<Item = &'t TestCase>) -> f64 {
        tests.map(|t| self.estimates.test(t.binary, &t.name)).sum()
    }

    /// How many tests from the end of `unclaimed` a thief takes: the part
    /// whose expected time is closest to half of the whole (one at least,
    /// none if that part is not expected to pay for its process).
    fn cut(&self, unclaimed: &VecDeque<TestCase>) -> usize {
        let total = self.cost(unclaimed.iter());
        let (mut taken, mut take) = (0.0, 0);
        for t in unclaimed.iter().rev() {
            let next = taken + self.estimates.test(t.binary, &t.name);
            // Stop once going on would not come closer to the half.
            // (1e-9: equal times must tie however they were summed).
            if take > 0 && (next - total / 2.0).abs() + 1e-9 >= (taken - total / 2.0).abs() {
                break;
            }
            (taken, take) = (next, take + 1);
        }
        // Leave the owner at least one test when it has several.
        let take = take.min(unclaimed.len().saturating_sub(1)).max(1);
        let part = self.cost(unclaimed.iter().rev().take(take));
        if self.estimates.recorded() && part < MIN_STEAL_SECS {
            return 0;
        }
        take.min(unclaimed.len())
    }

    fn slot(&self, worker: usize) -> std::sync::MutexGuard<'_, Option<Tail>> {
        self.slots[worker].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `worker` starts the group `group` of `tests`, none claimed yet.
    pub fn publish(&self, worker: usize, group: &GroupKey, tests: &[TestCase]) {
        *self.slot(worker) = Some(Tail {
            group: group.clone(),
            binary: tests.first().map(|t| t.binary).unwrap_or(0),
            unclaimed: tests.iter().cloned().collect(),
        });
    }

    /// The owner claims the tests of its next process: half of the
    /// unclaimed ones (rounded up), at most `limit`. Empty once every test
    /// is claimed or stolen.
    pub fn claim(&self, worker: usize, limit: usize) -> Vec<TestCase> {
        let mut slot = self.slot(worker);
        let Some(tail) = slot.as_mut() else {
            return Vec::new();
        };
        let take = tail.unclaimed.len().div_ceil(2).min(limit.max(1));
        tail.unclaimed.drain(..take).collect()
    }

    /// The owner's group is done (or abandoned): nothing of it to steal.
    pub fn retire(&self, worker: usize) {
        *self.slot(worker) = None;
    }

    pub fn enter(&self) {
        self.active.fetch_add(1, Ordering::SeqCst);
    }

    pub fn leave(&self) {
        self.active.fetch_sub(1, Ordering::SeqCst);
    }

    /// Take the second half (at least one test) of the longest unclaimed
    /// tail, if any.
    pub fn steal(&self, thief: usize) -> Option<Stolen> {
        let mut best: Option<(usize, f64)> = None;
        for (w, slot) in self.slots.iter().enumerate() {
            if w == thief {
                continue;
            }
            let guard = slot.lock().unwrap_or_else(|e| e.into_inner());
            let left = guard
                .as_ref()
                .map_or(0.0, |t| self.cost(t.unclaimed.iter()));
            if left > 0.0 && best.is_none_or(|(_, most)| left > most) {
                best = Some((w, left));
            }
        }
        let (victim, _) = best?;
        let mut guard = self.slot(victim);
        let t = guard.as_mut()?;
        let take = self.cut(&t.unclaimed);
        if take == 0 {
            return None;
        }
        let tests = t.unclaimed.split_off(t.unclaimed.len() - take).into();
        Some(Stolen {
            group: TestGroup {
                key: t.group.clone().stolen_tail(),
                binary: t.binary,
                tests,
                batchable: false,
            },
            victim,
        })
    }

    /// Steal, or wait while other workers are busy (a tail may appear);
    /// `None` once nothing is running or the run is cancelled.
    pub fn steal_or_wait(&self, thief: usize, cancelled: &dyn Fn() -> bool) -> Option<Stolen> {
        loop {
            if cancelled() {
                return None;
            }
            if let Some(s) = self.steal(thief) {
                return Some(s);
            }
            if self.active.load(Ordering::SeqCst) == 0 {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::list::CaseKind;

    fn cases(n: usize) -> Vec<TestCase> {
        (0..n)
            .map(|i| TestCase {
                binary: 3,
                name: format!("t{i:02}"),
                ignored: false,
                source_path: None,
                line: None,
                kind: CaseKind::Libtest,
            })
            .collect()
    }

    fn names(tests: &[TestCase]) -> Vec<&str> {
        tests.iter().map(|t| t.name.as_str()).collect()
    }

    #[test]
    fn the_owner_claims_halves_and_a_thief_takes_the_second_half_of_the_rest() {
        let board = Board::new(3, Default::default());
        board.publish(0, &GroupKey::new("a", ""), &cases(10));
        board.publish(1, &GroupKey::new("b", ""), &cases(4));
        assert_eq!(
            names(&board.claim(0, usize::MAX)),
            ["t00", "t01", "t02", "t03", "t04"]
        );
        assert_eq!(names(&board.claim(1, usize::MAX)), ["t00", "t01"]);
        // Worker 0 has 5 unclaimed tests, worker 1 has 2.
        let stolen = board.steal(2).expect("a tail to steal");
        assert_eq!(stolen.victim, 0);
        assert_eq!(names(&stolen.group.tests), ["t08", "t09"]);
        assert_eq!(stolen.group.binary, 3);
        assert_eq!(names(&board.claim(0, usize::MAX)), ["t05", "t06"]);
        assert_eq!(names(&board.claim(0, 1)), ["t07"], "a limit caps a claim");
        assert!(board.claim(0, usize::MAX).is_empty());
    }

    #[test]
    fn a_single_unclaimed_test_is_stolen_and_claimed_tests_never_are() {
        let board = Board::new(2, Default::default());
        board.publish(0, &GroupKey::new("a", ""), &cases(3));
        assert_eq!(names(&board.claim(0, usize::MAX)), ["t00", "t01"]);
        assert_eq!(names(&board.steal(1).unwrap().group.tests), ["t02"]);
        assert!(board.steal(1).is_none(), "all claimed or stolen");
        assert!(board.claim(0, usize::MAX).is_empty());
        board.retire(0);
        assert!(
            board.steal_or_wait(1, &|| false).is_none(),
            "nothing active: no wait"
        );
    }

    /// Owner and thieves race on one group: every test goes to exactly one
    /// of them.
    #[test]
    fn racing_claims_and_steals_hand_out_every_test_once() {
        let board = Board::new(4, Default::default());
        board.publish(0, &GroupKey::new("a", ""), &cases(99));
        let taken = Mutex::new(Vec::new());
        std::thread::scope(|s| {
            s.spawn(|| {
                loop {
                    let got = board.claim(0, 3);
                    if got.is_empty() {
                        break;
                    }
                    taken.lock().unwrap().extend(got);
                }
            });
            for thief in 1..4 {
                let (board, taken) = (&board, &taken);
                s.spawn(move || {
                    while let Some(stolen) = board.steal(thief) {
                        taken.lock().unwrap().extend(stolen.group.tests);
                    }
                });
            }
        });
        let mut all: Vec<String> = taken
            .into_inner()
            .unwrap()
            .into_iter()
            .map(|t| t.name)
            .collect();
        all.sort();
        assert_eq!(all, names(&cases(99)));
    }

    #[test]
    fn with_recorded_times_the_thief_takes_half_the_time_not_half_the_tests() {
        // t09 takes 4 s, the others 0.1 s each: stealing t09 alone halves
        // the owner's expected remaining time best.
        let mut times: Vec<(String, f64)> = (0..9).map(|i| (format!("t{i:02}"), 0.1)).collect();
        times.push(("t09".into(), 4.0));
        let times: Vec<(&str, f64)> = times.iter().map(|(n, t)| (n.as_str(), *t)).collect();
        let mut per_binary: Vec<&[(&str, f64)]> = vec![&[]; 3];
        per_binary.push(&times);
        let est = Arc::new(Estimates::from_times(&per_binary));
        let board = Board::new(2, est.clone());
        board.publish(0, &GroupKey::new("a", ""), &cases(10));
        let stolen = board.steal(1).expect("a tail worth stealing");
        assert_eq!(names(&stolen.group.tests), ["t09"]);
        // A tail expected to take less than MIN_STEAL_SECS stays with its owner.
        let short: Vec<(&str, f64)> = vec![("t00", 0.01), ("t01", 0.01), ("t02", 0.01)];
        let mut per_binary: Vec<&[(&str, f64)]> = vec![&[]; 3];
        per_binary.push(&short);
        let board = Board::new(2, Arc::new(Estimates::from_times(&per_binary)));
        board.publish(0, &GroupKey::new("b", ""), &cases(3));
        assert!(board.steal(1).is_none(), "a 10 ms steal does not pay");
    }
}
