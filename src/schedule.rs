//! Scheduling stage: selected tests → groups (units of work), by the
//! `--dist` mode, ordered largest first. A group runs in one process on one
//! worker; its tests are in libtest's execution order (by name).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::build::TestBinary;
use crate::cli::DistMode;
use crate::list::{CaseKind, TestCase};

/// A unit of work: tests of one binary that run together in one process.
#[derive(Debug, Clone, Serialize)]
pub struct TestGroup {
    /// `binary id` + `source file` (loadfile), + module (loadscope), ...
    pub key: String,
    /// Index into the build's binaries.
    #[serde(skip)]
    pub binary: usize,
    /// Tests to run, sorted by name (the order libtest runs them in).
    pub tests: Vec<TestCase>,
    /// A `load`-mode unit: a worker may batch several of these into one process.
    pub batchable: bool,
}

/// The group key a test gets under `mode`.
pub fn group_key(mode: DistMode, binary: &TestBinary, case: &TestCase) -> (String, bool) {
    if case.kind != CaseKind::Libtest {
        return (binary.id.clone(), false);
    }
    let file = || {
        case.source_path
            .clone()
            .unwrap_or_else(|| module_of(&case.name).to_string())
    };
    match mode {
        DistMode::Loadfile | DistMode::Worksteal => (format!("{} {}", binary.id, file()), false),
        DistMode::Loadscope => (format!("{} {}", binary.id, module_of(&case.name)), false),
        DistMode::No => (binary.id.clone(), false),
        DistMode::Load => (format!("{} {}", binary.id, case.name), true),
        DistMode::Loadgroup => match xdist_group_of(&case.name) {
            Some(g) => (format!("{} group {g}", binary.id), false),
            None => (format!("{} {}", binary.id, case.name), true),
        },
    }
}

/// Module path of a test name: `a::b::t` → `a::b`; a top-level test → ``.
fn module_of(name: &str) -> &str {
    name.rsplit_once("::").map(|(m, _)| m).unwrap_or("")
}

/// `--dist loadgroup`: a module named `xdist_group_NAME` anywhere in the
/// test's path puts it in group NAME (the Rust spelling of pytest-xdist's
/// `@pytest.mark.xdist_group(name=...)`).
pub fn xdist_group_of(name: &str) -> Option<&str> {
    name.split("::")
        .filter_map(|seg| seg.strip_prefix("xdist_group_"))
        .find(|g| !g.is_empty())
}

/// Group the runnable tests. Ignored (not selected) tests are not scheduled.
pub fn schedule(mode: DistMode, binaries: &[TestBinary], cases: &[TestCase]) -> Vec<TestGroup> {
    let mut groups: BTreeMap<(usize, String), TestGroup> = BTreeMap::new();
    for case in cases.iter().filter(|c| !c.ignored) {
        let (key, batchable) = group_key(mode, &binaries[case.binary], case);
        groups
            .entry((case.binary, key.clone()))
            .or_insert_with(|| TestGroup {
                key,
                binary: case.binary,
                tests: Vec::new(),
                batchable,
            })
            .tests
            .push(case.clone());
    }
    let mut groups: Vec<TestGroup> = groups.into_values().collect();
    for g in &mut groups {
        g.tests.sort_by(|a, b| a.name.cmp(&b.name));
    }
    match mode {
        // `no` keeps the binaries' order: one worker runs them like cargo test.
        DistMode::No => {}
        // Interleave binaries so that a worker's batch mixes files and one
        // file's tests spread over the workers.
        DistMode::Load | DistMode::Loadgroup => {
            let (mut units, fixed): (Vec<_>, Vec<_>) =
                groups.into_iter().partition(|g| g.batchable);
            let mut fixed = fixed;
            fixed.sort_by_key(|g| std::cmp::Reverse(g.tests.len()));
            units.sort_by(|a, b| {
                a.tests[0]
                    .name
                    .cmp(&b.tests[0].name)
                    .then(a.binary.cmp(&b.binary))
            });
            groups = fixed;
            groups.extend(round_robin_by_file(units));
        }
        // Largest groups first: the long pole starts early.
        DistMode::Loadfile | DistMode::Loadscope | DistMode::Worksteal => {
            groups.sort_by_key(|g| std::cmp::Reverse(g.tests.len()));
        }
    }
    groups
}

/// Order single-test units so consecutive units come from different files.
fn round_robin_by_file(units: Vec<TestGroup>) -> Vec<TestGroup> {
    let mut by_file: BTreeMap<(usize, Option<String>), std::collections::VecDeque<TestGroup>> =
        BTreeMap::new();
    for u in units {
        by_file
            .entry((u.binary, u.tests[0].source_path.clone()))
            .or_default()
            .push_back(u);
    }
    let mut out = Vec::new();
    let mut queues: Vec<_> = by_file.into_values().collect();
    while queues.iter().any(|q| !q.is_empty()) {
        for q in &mut queues {
            if let Some(u) = q.pop_front() {
                out.push(u);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use camino::Utf8PathBuf;

    fn bin(id: &str) -> TestBinary {
        TestBinary {
            id: id.into(),
            package: id.into(),
            target_name: id.into(),
            kind: "lib".into(),
            path: Utf8PathBuf::from("/x"),
            manifest_dir: Utf8PathBuf::from("/"),
            src_path: Utf8PathBuf::from("/src/lib.rs"),
            custom_harness: false,
            env: vec![],
        }
    }

    fn case(binary: usize, name: &str, file: &str) -> TestCase {
        TestCase {
            binary,
            name: name.into(),
            ignored: false,
            source_path: Some(file.into()),
            line: None,
            kind: CaseKind::Libtest,
        }
    }

    fn cases() -> Vec<TestCase> {
        vec![
            case(0, "math::tests::b", "src/math.rs"),
            case(0, "math::tests::a", "src/math.rs"),
            case(0, "tests::x", "src/lib.rs"),
            case(0, "math::inner::c", "src/math.rs"),
            case(1, "api", "tests/api.rs"),
        ]
    }

    #[test]
    fn loadfile_groups_by_binary_and_file_in_name_order() {
        let g = schedule(DistMode::Loadfile, &[bin("a"), bin("b")], &cases());
        assert_eq!(g.len(), 3);
        assert_eq!(g[0].key, "a src/math.rs");
        let names: Vec<_> = g[0].tests.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            ["math::inner::c", "math::tests::a", "math::tests::b"]
        );
    }

    #[test]
    fn loadscope_groups_by_module() {
        let g = schedule(DistMode::Loadscope, &[bin("a"), bin("b")], &cases());
        let keys: Vec<_> = g.iter().map(|g| g.key.as_str()).collect();
        assert!(keys.contains(&"a math::tests"));
        assert!(keys.contains(&"a math::inner"));
        assert_eq!(g.len(), 4);
    }

    #[test]
    fn load_makes_one_unit_per_test_interleaving_files() {
        let g = schedule(DistMode::Load, &[bin("a"), bin("b")], &cases());
        assert_eq!(g.len(), 5);
        assert!(g.iter().all(|g| g.batchable && g.tests.len() == 1));
        assert_ne!(g[0].tests[0].source_path, g[1].tests[0].source_path);
    }

    #[test]
    fn no_mode_is_one_group_per_binary() {
        let g = schedule(DistMode::No, &[bin("a"), bin("b")], &cases());
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].tests.len(), 4);
    }

    #[test]
    fn loadgroup_uses_xdist_group_modules() {
        assert_eq!(xdist_group_of("db::xdist_group_users::t1"), Some("users"));
        assert_eq!(xdist_group_of("db::t1"), None);
        let cs = vec![
            case(0, "xdist_group_users::a", "src/a.rs"),
            case(0, "other::xdist_group_users::b", "src/b.rs"),
            case(0, "free", "src/c.rs"),
        ];
        let g = schedule(DistMode::Loadgroup, &[bin("a")], &cs);
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].tests.len(), 2);
        assert!(!g[0].batchable);
        assert!(g[1].batchable);
    }

    #[test]
    fn ignored_tests_are_not_scheduled() {
        let mut cs = cases();
        cs[0].ignored = true;
        let total: usize = schedule(DistMode::Loadfile, &[bin("a"), bin("b")], &cs)
            .iter()
            .map(|g| g.tests.len())
            .sum();
        assert_eq!(total, 4);
    }
}
