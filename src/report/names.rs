//! How reports name things: a test, a binary's package, dropped databases.

use crate::event::TestResult;

/// What `cargo xdist db clean` says about the databases it dropped.
pub fn dropped_databases(names: &[String]) -> String {
    if names.is_empty() {
        return "no leftover worker databases".into();
    }
    let lines: Vec<String> = names.iter().map(|n| format!("dropped {n}")).collect();
    lines.join("\n")
}

/// The package of a binary id (`alpha::test/api` → `alpha`, `alpha` →
/// `alpha`, `alpha::doc` → `alpha`): the id starts with the package name,
/// which has no `:`.
pub fn package_of(binary_id: &str) -> &str {
    binary_id.split_once("::").map_or(binary_id, |(p, _)| p)
}

/// A test as every report names it: its binary's id and its name
/// (`alpha::test/api create_user`, `alpha math::tests::adds`), the same id
/// `cargo xdist list`, group keys and JUnit suites use.
pub fn display_name(r: &TestResult) -> String {
    format!("{} {}", r.binary, r.name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Outcome;

    #[test]
    fn display_name_is_binary_id_and_test_name() {
        let r = TestResult::new(
            "alpha::test/api",
            "create_user",
            Some("tests/api.rs".into()),
            "g",
            "gw0",
            Outcome::Passed,
        );
        assert_eq!(display_name(&r), "alpha::test/api create_user");
    }
}
