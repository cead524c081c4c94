//! End-to-end: a password never shows, not even in part, wherever the tool
//! cuts or splits a test's output (the 64 KiB tail of a failed test's
//! output, a 200 KB line under `--no-capture`), in any spelling (as the URL
//! writes it, with lower-case escapes, decoded), in any report (the human
//! one, JUnit, `--message-format json`), nor in a `--db-setup` error; and a
//! test's terminal control sequences reach the terminal as text.
//!
//! fixtures/masking's tests print DATABASE_URL's password. `--no-db` runs
//! them without a database: the URL stays in their environment and its
//! password is masked as a database's would be. The `--db-setup` test
//! starts a real PostgreSQL.

mod common;

use common::*;

/// The password as the URL writes it, and decoded.
const WRITTEN: &str = "Qz%3A9k%2F7%21jX2";
const PLAIN: &str = "Qz:9k/7!jX2";

/// Every spelling of the password the fixture prints.
fn spellings() -> [String; 3] {
    [
        WRITTEN.to_string(),
        WRITTEN.replace("%3A", "%3a").replace("%2F", "%2f"),
        PLAIN.to_string(),
    ]
}

/// The pieces of a spelling of the password (its first or last 3 bytes
/// or more) found in `text`: what a secret cut in two would leave.
fn leaks(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for s in spellings() {
        for n in 3..=s.len() {
            for piece in [&s[..n], &s[s.len() - n..]] {
                if text.contains(piece) && !found.iter().any(|f: &String| f == piece) {
                    found.push(piece.to_string());
                }
            }
        }
    }
    found
}

fn assert_no_leak(name: &str, text: &str, run: &Run) {
    let found = leaks(text);
    assert!(
        found.is_empty(),
        "{name} shows {found:?} of the password{}",
        run.ctx()
    );
}

#[test]
fn a_password_across_every_cut_and_in_every_spelling_appears_nowhere() {
    let url = format!("postgres://app:{WRITTEN}@db.example.com/app");
    let run = xdist_fixture(
        "masking",
        &[
            "-n",
            "2",
            "--no-db",
            "--no-capture",
            "--message-format",
            "json",
        ],
    )
    .env("DATABASE_URL", &url)
    .junit()
    .run();
    // (The tests' panics are in the human report: 101 would be the tool's.)
    run.assert_code(100);
    let junit = run.junit();
    // 3 spellings x 25 offsets (those past a spelling's end pass) and the
    // two tests of long.rs.
    assert_eq!(junit.report.tests, 77, "{}", run.ctx());
    assert_eq!(junit.report.failures, 62, "{}", run.ctx());

    // The reports hold what the tests printed, masked: the search below
    // looks where the password would be.
    let human = &run.stderr;
    assert!(
        human.contains("Failures:") && human.contains("earlier bytes not shown ...]"),
        "the failures block shows the output's cut tails{}",
        run.ctx()
    );
    assert!(
        human.contains("****~****~****~"),
        "--no-capture shows the long line, masked{}",
        run.ctx()
    );
    assert!(
        human.contains("cannot connect to postgres://app:****@db.example.com"),
        "the panic message is masked{}",
        run.ctx()
    );
    let cut = junit
        .by_name("upper::at_10")
        .expect("upper::at_10 in JUnit");
    let JOutcome::Failed { description, .. } = &cut.outcome else {
        panic!("upper::at_10 did not fail{}", run.ctx());
    };
    let shown = format!(
        "{description}{}",
        cut.system_out.as_deref().unwrap_or_default()
    );
    assert!(
        shown.contains("earlier bytes not shown ...]") && shown.contains("~~~~~~~~"),
        "JUnit holds the cut tail:\n{}",
        &shown[..shown.len().min(200)]
    );
    assert!(
        run.stdout.contains(r#""type":"test-finished""#),
        "the JSON events are on stdout (they carry names and outcomes, no output){}",
        run.ctx()
    );

    assert_no_leak("the human report", human, &run);
    assert_no_leak("the JSON events", &run.stdout, &run);
    let raw = std::fs::read_to_string(run.junit_path.as_ref().unwrap()).unwrap();
    assert_no_leak("the JUnit file", &raw, &run);
    // XML escapes resolved.
    for (at, text) in junit.texts() {
        assert_no_leak(&format!("JUnit at {at}"), &text, &run);
    }

    // Control sequences show as text in the human report; colors stay.
    assert!(
        human.contains(r"\x1b[2J\x1b[H\x1b]0;pwned\x07") && human.contains(r"\x1b[1A\x1b[Kgone"),
        "control sequences are shown as text{}",
        run.ctx()
    );
    assert!(
        human.contains("\x1b[31mred\x1b[0m"),
        "colors are kept{}",
        run.ctx()
    );
    for raw in ["\x1b[2J", "\x1b[H", "\x1b]0;", "\x07", "\x1b[1A", "\x1b[K"] {
        assert!(
            !human.contains(raw),
            "{raw:?} reached the terminal{}",
            run.ctx()
        );
    }
}

#[test]
fn a_password_in_a_db_setup_error_is_masked_in_lower_case_escapes_and_with_its_spaces() {
    // Two spaces in a row: the message collapses them, after masking.
    const PLAIN: &str = "Ab  9x/7!q";
    const WRITTEN: &str = "Ab%20%209x%2F7%21q";
    let server = pg_server();
    let mut admin = pg_admin(&server);
    admin
        .batch_execute(&format!(
            "CREATE ROLE app LOGIN CREATEDB PASSWORD '{PLAIN}'"
        ))
        .unwrap();
    admin
        .batch_execute("CREATE DATABASE app_setup OWNER app")
        .unwrap();
    let url = format!(
        "postgres://app:{WRITTEN}@{}/app_setup?sslmode=disable",
        server.url_host()
    );
    // The command prints the URL it got with lower-case escapes, as many
    // URL libraries do, and the password itself; then fails.
    let setup = format!(
        r#"echo "cannot connect to $(printf %s "$DATABASE_URL" | sed s/%2F/%2f/g)" >&2; echo "password '{PLAIN}' rejected" >&2; exit 1"#
    );
    let run = xdist_fixture("masking", &["-n", "1", "--db-setup", &setup])
        .env("DATABASE_URL", &url)
        .run();
    run.assert_no_panic();
    assert_ne!(run.code, Some(0), "{}", run.ctx());
    assert!(
        run.stderr.contains("--db-setup failed")
            && run
                .stderr
                .contains("cannot connect to postgres://app:****@")
            && run.stderr.contains("password '****' rejected"),
        "the error quotes the command's output, masked{}",
        run.ctx()
    );
    for text in [&run.stderr, &run.stdout] {
        for piece in [
            "Ab%20%20",
            "9x%2f7%21q",
            "9x%2F7%21q",
            "9x/7!q",
            "Ab 9x",
            "Ab  9x",
        ] {
            assert!(!text.contains(piece), "{piece} shown{}", run.ctx());
        }
    }
}
