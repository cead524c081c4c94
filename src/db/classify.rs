//! Failures as [`DbError`]s: a failed connection or statement classified
//! by its SQLSTATE (or the client's own error), its text redacted and on
//! one line.

use postgres::error::SqlState;

use super::error::{DbError, error_chain, one_line};
use super::settings::Settings;

impl Settings {
    pub(super) fn redact(&self, text: &str) -> String {
        one_line(text, &self.secrets)
    }

    pub(super) fn connect_error(&self, err: &postgres::Error, dbname: &str) -> DbError {
        let target = self.target.clone();
        if let Some(db) = err.as_db_error() {
            let message = self.redact(db.message());
            let code = db.code();
            if *code == SqlState::INVALID_PASSWORD {
                return DbError::AuthFailed {
                    origin: self.origin.clone(),
                    target,
                    user: self.user.clone(),
                    reason: message,
                };
            }
            if *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION {
                if message.starts_with("role ") && message.ends_with("does not exist") {
                    return DbError::RoleMissing {
                        origin: self.origin.clone(),
                        target,
                        role: self.user.clone(),
                    };
                }
                return DbError::AuthFailed {
                    origin: self.origin.clone(),
                    target,
                    user: self.user.clone(),
                    reason: message,
                };
            }
            if *code == SqlState::INVALID_CATALOG_NAME {
                return DbError::DatabaseMissing {
                    origin: self.origin.clone(),
                    target,
                    name: dbname.to_string(),
                };
            }
            if *code == SqlState::INSUFFICIENT_PRIVILEGE {
                return DbError::PermissionDenied {
                    action: format!("connect to database \"{dbname}\""),
                    message,
                    fix: format!(
                        "GRANT CONNECT ON DATABASE \"{dbname}\" TO \"{}\" as its owner, or use another role",
                        self.user
                    ),
                };
            }
            if *code == SqlState::CANNOT_CONNECT_NOW {
                return DbError::Unreachable {
                    origin: self.origin.clone(),
                    target,
                    reason: message,
                };
            }
            return DbError::Query {
                action: format!("connect to database \"{dbname}\""),
                target,
                message,
            };
        }
        let text = self.redact(&error_chain(err));
        let io_reason = std::error::Error::source(err)
            .and_then(|s| s.downcast_ref::<std::io::Error>())
            .map(|io| match io.kind() {
                std::io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
                std::io::ErrorKind::TimedOut => "timed out".to_string(),
                std::io::ErrorKind::NotFound => "no server socket there".to_string(),
                _ => self.redact(&io.to_string()),
            });
        if text.starts_with("error connecting to server")
            || text.starts_with("error communicating with the server")
        {
            return DbError::Unreachable {
                origin: self.origin.clone(),
                target,
                reason: io_reason.unwrap_or(text),
            };
        }
        if text.starts_with("timeout") {
            return DbError::Unreachable {
                origin: self.origin.clone(),
                target,
                reason: "timed out".to_string(),
            };
        }
        if text.contains("password missing") {
            return DbError::AuthFailed {
                origin: self.origin.clone(),
                target,
                user: self.user.clone(),
                reason: "the server asks for a password and none was given".to_string(),
            };
        }
        if text.starts_with("authentication error") {
            return DbError::AuthFailed {
                origin: self.origin.clone(),
                target,
                user: self.user.clone(),
                reason: text,
            };
        }
        DbError::Query {
            action: format!("connect to database \"{dbname}\""),
            target,
            message: text,
        }
    }

    /// A failed statement, as a [`DbError`].
    pub(super) fn sql_error(&self, err: postgres::Error, action: &str) -> DbError {
        match err.as_db_error() {
            Some(db) if *db.code() == SqlState::INSUFFICIENT_PRIVILEGE => {
                DbError::PermissionDenied {
                    action: action.to_string(),
                    message: self.redact(db.message()),
                    fix: "grant the privilege, or use a role that has it".to_string(),
                }
            }
            Some(db) => DbError::Query {
                action: action.to_string(),
                target: self.target.clone(),
                message: self.redact(db.message()),
            },
            None if err.is_closed() || err.to_string().starts_with("error communicating") => {
                DbError::Unreachable {
                    origin: self.origin.clone(),
                    target: self.target.clone(),
                    reason: format!("connection lost while trying to {action}"),
                }
            }
            None => DbError::Query {
                action: action.to_string(),
                target: self.target.clone(),
                message: self.redact(&error_chain(&err)),
            },
        }
    }
}

pub(super) fn template_permission(template: &str, reason: &str) -> DbError {
    DbError::PermissionDenied {
        action: format!("copy template database \"{template}\""),
        message: reason.to_string(),
        fix: format!(
            "run ALTER DATABASE \"{template}\" IS_TEMPLATE true as its owner, or connect as its owner or a superuser"
        ),
    }
}
