//! `--dist worksteal`: groups as under loadfile, but a worker with nothing
//! left to do takes the unstarted second half of the busiest worker's
//! group and runs it in a fresh process of its own (any subset of a group
//! can run that way). The owner's process is stopped once it has finished
//! the tests it kept.
//!
//! The victim is the worker whose unstarted tests are expected to take the
//! longest, by the recorded durations ([`Estimates`]); the cut balances
//! the expected time the owner keeps against the time the thief takes, and
//! a steal is made only when the thief's part is expected to outlast
//! [`MIN_STEAL_SECS`] (with nothing recorded, any two unstarted tests).
//!
//! libtest cannot be told to stop between two tests, so the first stolen
//! test may already have begun in the owner's process when it is stopped:
//! its result there is discarded and it runs in full on the thief.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::list::TestCase;
use crate::plan::TestGroup;
use crate::schedule::Estimates;

/// A steal pays when the thief's part is expected to take at least this
/// long: it costs a process start, and the owner's stop.
pub const MIN_STEAL_SECS: f64 = 0.05;

/// What one worker's running process still has ahead of it.
struct Tail {
    group: String,
    binary: usize,
    /// The tests given to the process, in the order it runs them.
    tests: Vec<TestCase>,
    /// Index of the first test the process has not started.
    next_unstarted: usize,
    /// The owner runs `tests[..end]`; the rest was stolen.
    end: usize,
}

/// The tails of all workers' running processes.
pub struct Board {
    slots: Vec<Mutex<Option<Tail>>>,
    /// Workers running a unit (a stolen tail may still appear).
    active: AtomicUsize,
    estimates: Arc<Estimates>,
    /// Steal only from parts of groups the schedule split (the default
    /// mode keeps every other group whole).
    parts_only: bool,
}

/// A stolen tail, ready to run.
pub struct Stolen {
    pub group: TestGroup,
    pub victim: usize,
}

impl Board {
    pub fn new(workers: usize, estimates: Arc<Estimates>, parts_only: bool) -> Self {
        Board {
            slots: (0..workers).map(|_| Mutex::new(None)).collect(),
            active: AtomicUsize::new(0),
            estimates,
            parts_only,
        }
    }

    /// The expected times of `t`'s unstarted tests.
    fn unstarted_times(&self, t: &Tail) -> Vec<f64> {
        let unstarted = t.tests.get(t.next_unstarted..t.end).unwrap_or_default();
        (unstarted.iter())
            .map(|c| self.estimates.test(c.binary, &c.name))
            .collect()
    }

    /// Where the thief's part of `t` begins, if a steal pays: the owner
    /// keeps at least one unstarted test and, of the cuts that balance the
    /// two parts' expected times best, the one that leaves it the most.
    fn cut(&self, t: &Tail) -> Option<usize> {
        if self.parts_only && !crate::schedule::is_part(&t.group) {
            return None;
        }
        let times = self.unstarted_times(t);
        if times.len() < 2 {
            return None;
        }
        let total: f64 = times.iter().sum();
        let mut kept = 0.0;
        let mut best: Option<(f64, usize)> = None;
        for (i, secs) in times.iter().enumerate().take(times.len() - 1) {
            kept += secs;
            let longer = kept.max(total - kept);
            // On a tie (up to rounding) the owner keeps more.
            if best.is_none_or(|(b, _)| longer <= b + 1e-9) {
                best = Some((longer, i + 1));
            }
        }
        let (_, cut) = best?;
        let thief: f64 = times[cut..].iter().sum();
        let pays = !self.estimates.recorded() || thief >= MIN_STEAL_SECS;
        pays.then_some(t.next_unstarted + cut)
    }

    fn slot(&self, worker: usize) -> std::sync::MutexGuard<'_, Option<Tail>> {
        self.slots[worker].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A process of `worker` starts `tests`; the first one runs at once.
    pub fn publish(&self, worker: usize, group: &str, tests: &[&TestCase]) {
        *self.slot(worker) = Some(Tail {
            group: group.to_string(),
            binary: tests.first().map(|t| t.binary).unwrap_or(0),
            tests: tests.iter().map(|t| (*t).clone()).collect(),
            next_unstarted: 1,
            end: tests.len(),
        });
    }

    /// The owner saw test `current` start; returns how many tests it keeps.
    pub fn advance(&self, worker: usize, current: usize) -> usize {
        match self.slot(worker).as_mut() {
            Some(t) => {
                t.next_unstarted = t.next_unstarted.max(current + 1);
                t.end
            }
            None => usize::MAX,
        }
    }

    /// How many of its tests the owner keeps.
    pub fn end(&self, worker: usize) -> usize {
        self.slot(worker).as_ref().map_or(usize::MAX, |t| t.end)
    }

    /// The owner's process ended.
    pub fn retire(&self, worker: usize) {
        *self.slot(worker) = None;
    }

    pub fn enter(&self) {
        self.active.fetch_add(1, Ordering::SeqCst);
    }

    pub fn leave(&self) {
        self.active.fetch_sub(1, Ordering::SeqCst);
    }

    /// Take the unstarted tests of the tail expected to take the longest,
    /// from where the owner's part and the thief's balance, if that pays.
    pub fn steal(&self, thief: usize) -> Option<Stolen> {
        let mut best: Option<(usize, f64)> = None;
        for (w, slot) in self.slots.iter().enumerate() {
            if w == thief {
                continue;
            }
            let guard = slot.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(t) = guard.as_ref().filter(|t| self.cut(t).is_some()) {
                let left: f64 = self.unstarted_times(t).iter().sum();
                if best.is_none_or(|(_, l)| left > l) {
                    best = Some((w, left));
                }
            }
        }
        let (victim, _) = best?;
        let mut guard = self.slot(victim);
        let t = guard.as_mut()?;
        let new_end = self.cut(t)?;
        let tests = t.tests[new_end..t.end].to_vec();
        t.end = new_end;
        Some(Stolen {
            group: TestGroup {
                key: format!("{} (stolen tail)", t.group),
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

    #[test]
    fn steals_the_unstarted_second_half_of_the_longest_tail() {
        let board = Board::new(3, Arc::default(), false);
        let a = cases(10);
        let b = cases(4);
        board.publish(0, "a", &a.iter().collect::<Vec<_>>());
        board.publish(1, "b", &b.iter().collect::<Vec<_>>());
        // Worker 0 is running t02: t03..t09 (7 tests) have not started.
        assert_eq!(board.advance(0, 2), 10);
        let stolen = board.steal(2).expect("a tail to steal");
        assert_eq!(stolen.victim, 0);
        let names: Vec<_> = stolen.group.tests.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["t07", "t08", "t09"]);
        assert_eq!(stolen.group.binary, 3);
        assert_eq!(board.end(0), 7);
        // The owner learns where to stop the next time it advances.
        assert_eq!(board.advance(0, 3), 7);
    }

    #[test]
    fn recorded_times_choose_the_victim_and_the_cut() {
        // Binary 3: t00..t10 take 0.015 s each, t11 2 s.
        let times: Vec<(String, f64)> = (0..12)
            .map(|i| (format!("t{i:02}"), if i == 11 { 2.0 } else { 0.015 }))
            .collect();
        let times: Vec<(&str, f64)> = times.iter().map(|(n, t)| (n.as_str(), *t)).collect();
        let mut per_binary: Vec<&[(&str, f64)]> = vec![&[]; 3];
        per_binary.push(&times);
        let board = Board::new(3, Arc::new(Estimates::from_times(&per_binary)), false);
        let all = cases(12);
        let long: Vec<&TestCase> = all[7..].iter().collect();
        let short: Vec<&TestCase> = all[..7].iter().collect();
        // Worker 0 runs t07 (t08..t11 unstarted: 4 tests, 2.045 s); worker
        // 1 runs t00 (t01..t06 unstarted: 6 tests, 0.09 s).
        board.publish(0, "long", &long);
        board.publish(1, "short", &short);
        let stolen = board.steal(2).expect("the long tail pays");
        assert_eq!(stolen.victim, 0, "the longest time, not the most tests");
        let names: Vec<_> = stolen.group.tests.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["t11"], "the cut balances time, not counts");
        assert_eq!(board.end(0), 4);
        // Either tail left would give a thief under MIN_STEAL_SECS.
        assert!(board.steal(2).is_none(), "a steal must pay");
    }

    #[test]
    fn the_default_mode_steals_only_from_parts_of_split_groups() {
        let board = Board::new(2, Arc::default(), true);
        let a = cases(10);
        board.publish(0, "x tests/a.rs", &a.iter().collect::<Vec<_>>());
        assert!(board.steal(1).is_none(), "a whole group stays whole");
        board.publish(0, "x tests/a.rs (part 1/2)", &a.iter().collect::<Vec<_>>());
        let stolen = board.steal(1).expect("a part's tail");
        assert_eq!(stolen.group.key, "x tests/a.rs (part 1/2) (stolen tail)");
    }

    #[test]
    fn a_single_unstarted_test_is_not_stolen() {
        let board = Board::new(2, Arc::default(), false);
        let a = cases(3);
        board.publish(0, "a", &a.iter().collect::<Vec<_>>());
        board.advance(0, 1);
        assert!(board.steal(1).is_none());
        board.retire(0);
        assert!(board.steal(1).is_none());
        assert!(
            board.steal_or_wait(1, &|| false).is_none(),
            "nothing active: no wait"
        );
    }
}
