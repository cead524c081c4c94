//! The one way tests get a PostgreSQL server: a real one the test starts
//! itself (initdb + pg_ctl through the crate's `EphemeralServer`; as root it
//! runs as the `postgres` user), stopped and removed when dropped. Never
//! mocked, never skipped: without PostgreSQL's server binaries the test
//! fails, naming the package to install. [`pg_bin_dir`] finds the server
//! binaries for tests that wrap them.

use std::path::PathBuf;

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

/// The real PostgreSQL server binaries' directory (on PATH, else the
/// highest version under /usr/lib/postgresql), as the tool looks for it.
pub fn pg_bin_dir() -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file())
    });
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin)| bin.join("initdb").is_file())
        .collect();
    versions.sort();
    let bin = on_path
        .or_else(|| versions.pop().map(|(_, bin)| bin))
        .expect("this test needs PostgreSQL's server binaries (apt-get install -y postgresql)");
    // Follow symlinks (Debian's /usr/bin/pg_ctl is a wrapper, initdb a link).
    std::fs::canonicalize(bin.join("initdb"))
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Every database on `server` but PostgreSQL's own, sorted.
pub fn pg_databases(server: &EphemeralServer) -> Vec<String> {
    let mut names: Vec<String> = pg_admin(server)
        .query("SELECT datname::text FROM pg_database ORDER BY 1", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    names.retain(|n| !["postgres", "template0", "template1"].contains(&n.as_str()));
    names
}
