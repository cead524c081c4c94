//! The connection budget: can the server serve every worker's pool?
//!
//! Before the run, [`WorkerDatabases::connect`](super::WorkerDatabases::connect)
//! reads the server's connection slots into a [`Budget`] and asks
//! [`Budget::fit`] how many workers to run. Each worker's tests may hold
//! up to `--db-connections-per-worker` connections at once (a typical pool
//! size); workers × that must fit in the slots that are free: those of
//! `max_connections`, less the reserved ones (kept for an administrator
//! who must get in when the server is full, even when the run's role is a
//! superuser that could take them) and the connections already in use.
//! Pure arithmetic: no I/O.

use super::DbError;

/// A server's connection slots, as read before the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// `max_connections`.
    pub max_connections: usize,
    /// `superuser_reserved_connections` + `reserved_connections` (16+).
    pub reserved: usize,
    /// Client connections open now, other than cargo-xdist's own.
    pub in_use: usize,
}

impl Budget {
    /// Slots the workers may take.
    pub fn free(&self) -> usize {
        self.max_connections
            .saturating_sub(self.reserved)
            .saturating_sub(self.in_use)
    }

    /// How the free slots come about, for messages.
    fn breakdown(&self) -> String {
        format!(
            "max_connections {} - {} reserved - {} in use",
            self.max_connections, self.reserved, self.in_use
        )
    }

    /// The number of workers to run, and a line for the user if it is not
    /// `workers`. `workers` × `per_worker` connections must fit in
    /// [`Budget::free`]; when they do not: with `overcommit` run anyway;
    /// with `shrink` (`-n auto`) run as many as fit, if one does; else
    /// [`DbError::OverBudget`] with the numbers and the fixes.
    pub fn fit(
        &self,
        workers: usize,
        per_worker: usize,
        shrink: bool,
        overcommit: bool,
        target: &str,
    ) -> Result<(usize, Option<String>), DbError> {
        let per_worker = per_worker.max(1);
        let needed = workers.saturating_mul(per_worker);
        let free = self.free();
        if needed <= free || overcommit {
            return Ok((workers, None));
        }
        let fitting = free / per_worker;
        if shrink && fitting > 0 {
            let notice = format!(
                "-n auto lowered from {workers} to {fitting} workers: PostgreSQL at {target} has {free} free connections ({}) and each worker may use {per_worker} (--db-connections-per-worker); raise max_connections, or pass -n {workers} --db-allow-overcommit to run {workers} anyway",
                self.breakdown()
            );
            return Ok((fitting, Some(notice)));
        }
        let mut fixes = Vec::new();
        if fitting > 0 {
            fixes.push(format!("run fewer workers (-n {fitting})"));
        }
        let smaller_pool = free / workers.max(1);
        if smaller_pool > 0 {
            fixes.push(format!(
                "give each worker's pool at most {smaller_pool} connections (--db-connections-per-worker {smaller_pool} and the same pool size in the tests)"
            ));
        }
        if self.in_use > 0 {
            fixes.push("close other sessions".to_string());
        }
        fixes.push(format!(
            "raise max_connections on the server (to {} or more)",
            needed + self.reserved + self.in_use
        ));
        fixes.push("pass --db-allow-overcommit to run anyway".to_string());
        let last = fixes.pop().unwrap_or_default();
        Err(DbError::OverBudget {
            workers,
            per_worker,
            needed,
            target: target.to_string(),
            free,
            budget: self.breakdown(),
            fixes: format!("{}, or {last}", fixes.join(", ")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVER: Budget = Budget {
        max_connections: 100,
        reserved: 3,
        in_use: 12,
    };

    #[test]
    fn what_fits_runs_as_asked() {
        assert_eq!(SERVER.free(), 85);
        assert_eq!(
            SERVER.fit(8, 10, false, false, "db:5432").unwrap(),
            (8, None)
        );
        assert_eq!(
            SERVER.fit(8, 10, true, false, "db:5432").unwrap(),
            (8, None)
        );
        let full = Budget {
            max_connections: 10,
            reserved: 3,
            in_use: 20,
        };
        assert_eq!(full.free(), 0);
    }

    #[test]
    fn too_many_workers_is_one_line_with_the_numbers_and_the_fixes() {
        let e = SERVER.fit(16, 10, false, false, "db:5432").unwrap_err();
        assert_eq!(
            e.to_string(),
            "16 workers with 10 connections each (--db-connections-per-worker) need 160, \
             but PostgreSQL at db:5432 has 85 free (max_connections 100 - 3 reserved - 12 in use); \
             run fewer workers (-n 8), give each worker's pool at most 5 connections \
             (--db-connections-per-worker 5 and the same pool size in the tests), close other sessions, \
             raise max_connections on the server (to 175 or more), \
             or pass --db-allow-overcommit to run anyway"
        );
        assert!(matches!(e, DbError::OverBudget { needed: 160, .. }));
        // Overcommit runs them all, silently.
        assert_eq!(
            SERVER.fit(16, 10, false, true, "db:5432").unwrap(),
            (16, None)
        );
    }

    #[test]
    fn auto_shrinks_to_what_fits_and_says_so() {
        let (workers, notice) = SERVER.fit(16, 10, true, false, "db:5432").unwrap();
        assert_eq!(workers, 8);
        let notice = notice.unwrap();
        assert!(
            notice.starts_with("-n auto lowered from 16 to 8 workers: PostgreSQL at db:5432 has 85 free connections (max_connections 100 - 3 reserved - 12 in use)"),
            "{notice}"
        );
        assert!(!notice.contains('\n'));
        // Not even one worker fits: as without auto.
        let tiny = Budget {
            max_connections: 10,
            reserved: 3,
            in_use: 0,
        };
        let e = tiny.fit(4, 10, true, false, "db:5432").unwrap_err();
        let text = e.to_string();
        assert!(!text.contains("-n 0"), "{text}");
        assert!(!text.contains("close other sessions"), "{text}");
        assert!(text.contains("--db-connections-per-worker 1 "), "{text}");
    }
}
