//! Creating (or, with `--keep-db`, reusing) the worker databases, one
//! group of them per connection, and dropping exactly this run's again.

use postgres::Client;

use super::error::DbError;
use super::names::{is_marked, marks_base, worker_set_index};
use super::settings::Settings;

/// What one worker's database came to.
pub(super) struct Outcome {
    pub(super) index: usize,
    pub(super) name: String,
    /// Whether this run created it (and so must drop it).
    pub(super) created: bool,
    pub(super) error: Option<DbError>,
}

impl Settings {
    /// Create (or, with `keep`, reuse) the databases of `indices` over one
    /// connection.
    pub(super) fn create_group(&self, indices: &[usize]) -> Vec<Outcome> {
        let mut client = match self.admin() {
            Ok(client) => Some(client),
            Err(e) => {
                return indices
                    .iter()
                    .map(|&index| Outcome {
                        index,
                        name: self.worker_name(index),
                        created: false,
                        error: Some(e.clone()),
                    })
                    .collect();
            }
        };
        indices
            .iter()
            .map(|&index| {
                let name = self.worker_name(index);
                let mut created = false;
                let result = match client.as_mut() {
                    Some(client) => self.create_one(client, index, &name, &mut created),
                    None => unreachable!("connected above"),
                };
                Outcome {
                    index,
                    name,
                    created,
                    error: result.err(),
                }
            })
            .collect()
    }

    pub(super) fn create_one(
        &self,
        client: &mut Client,
        index: usize,
        name: &str,
        created: &mut bool,
    ) -> Result<(), DbError> {
        if self.cancel.is_cancelled() {
            return Err(DbError::Cancelled {
                what: format!("the database of worker gw{index}"),
            });
        }
        if let Some(comment) = self.existing_comment(client, name)? {
            if !is_marked(comment.as_deref()) {
                return Err(DbError::NameTaken {
                    origin: self.origin.clone(),
                    name: name.to_string(),
                });
            }
            if !marks_base(comment.as_deref(), self.base.database()) {
                return Err(DbError::OtherBase {
                    origin: self.origin.clone(),
                    name: name.to_string(),
                });
            }
            if self.keep && self.reusable(comment.as_deref()) {
                // Reused as it is, like pytest-django's --reuse-db.
                return self.prepare_sqlx(name, false);
            }
            // A dead run's: what sqlx made through it goes with it.
            let dropped = self.drop_sqlx_databases(client, name)?;
            if let Some(note) = super::sqlx::dropped_note(&dropped) {
                eprintln!("{note}");
            }
            self.drop_database(client, name)?;
        }
        self.create_database(client, name)?;
        *created = true;
        self.prepare_sqlx(name, true)?;
        if self.cached.is_none() {
            // Else set up already, as a copy of the template.
            let url = self.base.worker_url_in(self.set, index);
            self.run_setup(&format!("worker gw{index}"), &url)?;
        }
        Ok(())
    }

    /// Whether a kept worker database (marked `comment`) may serve this
    /// run: always, unless it must be a copy of the cached template, and it
    /// is not a copy of this one or the template was just rebuilt.
    pub(super) fn reusable(&self, comment: Option<&str>) -> bool {
        match (&self.cached, &self.cache) {
            (Some(name), Some(plan)) => {
                !plan.rebuild && comment.is_some_and(|c| c.ends_with(&format!(" from {name}")))
            }
            _ => true,
        }
    }

    /// Serial mode on an ephemeral server: make the base database exist and
    /// run the setup command against it.
    pub(super) fn ensure_base(&self) -> Result<(), DbError> {
        let name = self.base.database();
        let mut client = self.admin()?;
        if self.existing_comment(&mut client, name)?.is_none() {
            self.create_database(&mut client, name)?;
        }
        self.run_setup("the base database", self.base.as_str())
    }

    /// Drop `name`, first making sure it is one of the worker databases of
    /// this run's name set and carries this run's marker (which names the
    /// base and the run), and before it the test databases sqlx recorded
    /// in it, whose names it returns. Gone already is fine.
    pub(super) fn drop_if_ours(
        &self,
        client: &mut Client,
        name: &str,
    ) -> Result<Vec<String>, DbError> {
        let base = self.base.database();
        let in_set = worker_set_index(base, name).is_some_and(|(set, _)| set == self.set);
        if name == base || !in_set {
            return Ok(Vec::new());
        }
        match self.existing_comment(client, name)? {
            Some(Some(comment)) if comment == self.marker => {
                let dropped = self.drop_sqlx_databases(client, name)?;
                self.drop_database(client, name)?;
                Ok(dropped)
            }
            _ => Ok(Vec::new()),
        }
    }
}
