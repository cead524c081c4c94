//! Session advisory locks: the one a run holds on its name set for as long
//! as it runs (see the module docs of [`crate::db`]), taken in
//! [`Settings::claim_names`], and the try-lock helpers the cached
//! template's lock uses too.

use postgres::Client;

use super::error::DbError;
use super::names::{
    MAX_NAME_SETS, marks_base, name_set, set_worker_db_name, worker_db_name, worker_index,
};
use super::settings::Settings;

/// First key of the advisory locks of name sets (`pg_advisory_lock(int,
/// int)`): "xdsn". (Templates' locks have a class of their own.)
pub(super) const NAMES_LOCK: i32 = 0x7864_736e;

/// Second key of an advisory lock: from the name it guards.
pub(super) fn lock_key(name: &str) -> i32 {
    crate::hash::fnv1a32(name.as_bytes()) as i32
}

impl Settings {
    /// Take the first name set of the base that no other run holds and
    /// whose names no database of another base has (see the module docs),
    /// its lock held on `client`, which the run keeps open; returns a line
    /// for the user when it is not the first set.
    pub(super) fn claim_names(&mut self, client: &mut Client) -> Result<Option<String>, DbError> {
        let base = self.base.database().to_string();
        let (mut busy, mut foreign) = (0, Vec::new());
        for set in 1..=MAX_NAME_SETS {
            let names = name_set(&base, set);
            if !self.try_lock(client, NAMES_LOCK, &names)? {
                busy += 1;
                continue;
            }
            if let Some(name) = self.foreign_name(client, &names)? {
                client
                    .execute(
                        "SELECT pg_advisory_unlock($1, $2)",
                        &[&NAMES_LOCK, &lock_key(&names)],
                    )
                    .map_err(|e| self.sql_error(e, &format!("release the lock of \"{names}\"")))?;
                foreign.push(name);
                continue;
            }
            self.set = set;
            if set == 1 {
                return Ok(None);
            }
            let mut why = Vec::new();
            match busy {
                0 => {}
                1 => why.push(format!(
                    "another cargo xdist run uses the worker databases {}..",
                    worker_db_name(&base, 0)
                )),
                n => why.push(format!(
                    "{n} other cargo xdist runs use the worker databases {}..",
                    worker_db_name(&base, 0)
                )),
            }
            if !foreign.is_empty() {
                why.push(format!(
                    "{} {} made by cargo-xdist for another base database (or by an earlier version) and left alone",
                    foreign.join(", "),
                    if foreign.len() == 1 { "was" } else { "were" }
                ));
            }
            return Ok(Some(format!(
                "{}; this run uses {}.. instead",
                why.join("; "),
                self.worker_name(0)
            )));
        }
        Err(DbError::NamesBusy {
            names: format!(
                "{}.. to {}..",
                worker_db_name(&base, 0),
                set_worker_db_name(&base, MAX_NAME_SETS, 0)
            ),
            base,
            target: self.target.clone(),
            origin: self.origin.clone(),
        })
    }

    /// A database named like a worker database of name set `names` that
    /// cargo-xdist marked, but not for this base, if there is one.
    pub(super) fn foreign_name(
        &self,
        client: &mut Client,
        names: &str,
    ) -> Result<Option<String>, DbError> {
        let base = self.base.database();
        let mut found: Vec<String> = (self.marked_databases(client)?.into_iter())
            .filter(|(name, comment)| {
                worker_index(names, name).is_some() && !marks_base(Some(comment), base)
            })
            .map(|(name, _)| name)
            .collect();
        found.sort();
        Ok(found.into_iter().next())
    }

    /// `pg_try_advisory_lock(class, key of name)` on `client`.
    pub(super) fn try_lock(
        &self,
        client: &mut Client,
        class: i32,
        name: &str,
    ) -> Result<bool, DbError> {
        client
            .query_one(
                "SELECT pg_try_advisory_lock($1, $2)",
                &[&class, &lock_key(name)],
            )
            .map(|row| row.get(0))
            .map_err(|e| self.sql_error(e, &format!("take the lock of \"{name}\"")))
    }

    /// Run `work` holding the advisory lock (`class`, key of `name`) on
    /// `client`, if no other session holds it; `None` if one does.
    pub(super) fn while_locked<T>(
        &self,
        client: &mut Client,
        class: i32,
        name: &str,
        work: impl FnOnce(&mut Client) -> Result<T, DbError>,
    ) -> Result<Option<T>, DbError> {
        if !self.try_lock(client, class, name)? {
            return Ok(None);
        }
        let result = work(client);
        let unlocked = client
            .execute(
                "SELECT pg_advisory_unlock($1, $2)",
                &[&class, &lock_key(name)],
            )
            .map_err(|e| self.sql_error(e, &format!("release the lock of \"{name}\"")));
        let value = result?;
        unlocked?;
        Ok(Some(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_keys_never_change() {
        // A run of another release must take (and respect) the same locks.
        assert_eq!(lock_key("shop"), -1_471_684_439);
        assert_eq!(NAMES_LOCK, 0x7864_736e);
    }
}
