//! The one way tests get a PostgreSQL server: a real one the test starts
//! itself (initdb + pg_ctl through the crate's `EphemeralServer`; as root it
//! runs as the `postgres` user), stopped and removed when dropped. Never
//! mocked, never skipped: without PostgreSQL's server binaries the test
//! fails, naming the package to install.

use cargo_xdist::db::ephemeral::EphemeralServer;
use postgres::{Client, NoTls};

/// A new server with the usual settings.
pub fn pg_server() -> EphemeralServer {
    pg_server_with(&[])
}

/// A new server with these settings (`name`, `value`) on top of the usual
/// ones.
pub fn pg_server_with(settings: &[(&str, &str)]) -> EphemeralServer {
    EphemeralServer::start_with(settings).unwrap_or_else(|e| {
        panic!(
            "these tests need a real PostgreSQL: install its server binaries \
             (apt-get install -y postgresql): {e}"
        )
    })
}

/// A connection to `server`'s `postgres` database as its superuser.
pub fn pg_admin(server: &EphemeralServer) -> Client {
    Client::connect(&server.url("postgres"), NoTls)
        .unwrap_or_else(|e| panic!("cannot connect to the test's PostgreSQL as postgres: {e}"))
}
