use super::*;
use crate::impact::map::VERSION;
use camino::Utf8Path;

const LIB: &str = "use std::fmt;\n\
const LIMIT: u32 = 3;\n\
\n\
pub fn add(a: u32, b: u32) -> u32 {\n\
    a + b\n\
}\n\
\n\
pub fn mul(a: u32, b: u32) -> u32 {\n\
    let r = a * b;\n\
    r\n\
}\n\
\n\
pub const fn limit() -> u32 {\n\
    LIMIT\n\
}\n";

fn state(path: &str, text: &str) -> FileState {
    FileState::of(Utf8Path::new(path), text.as_bytes())
}

/// A map of LIB: add (lines 4-6) run by t_add, mul (8-11) by t_mul and
/// t_both, limit (13-15) const; and a migration.
fn map() -> ImpactMap {
    let span = |start, end, compile_time, tests: &[u32]| Span {
        start,
        end,
        compile_time,
        tests: tests.to_vec(),
    };
    ImpactMap {
        version: VERSION,
        key: "k".into(),
        commit: None,
        recorded_at: 0,
        tests: ["t_add", "t_mul", "t_both"]
            .map(|t| ("app".to_string(), t.to_string()))
            .to_vec(),
        files: Tree::from([
            ("src/lib.rs".to_string(), state("src/lib.rs", LIB)),
            (
                "migrations/1.sql".to_string(),
                state("migrations/1.sql", "create table t();"),
            ),
        ]),
        spans: BTreeMap::from([(
            "src/lib.rs".to_string(),
            vec![
                span(4, 6, false, &[0, 2]),
                span(8, 11, false, &[1, 2]),
                span(13, 15, true, &[]),
            ],
        )]),
    }
}

fn with_lib(text: &str) -> Tree {
    let mut t = map().files;
    t.insert("src/lib.rs".into(), state("src/lib.rs", text));
    t
}

/// The tests selected; a widening (all tests, or a file's package: the
/// plan decides how far) as `ALL: why`.
fn selected(sel: Selection) -> Vec<String> {
    match sel {
        Selection::Some { widened, .. } if !widened.is_empty() => {
            vec![format!("ALL: {}", widened[0].1)]
        }
        Selection::Some { tests, .. } => tests.into_iter().map(|t| t.1).collect(),
        Selection::All(why) => vec![format!("ALL: {why}")],
    }
}

fn run(now: &Tree) -> Vec<String> {
    selected(select(
        &map(),
        now,
        &BTreeMap::new(),
        &SelectOptions::default(),
        "k",
    ))
}

#[test]
fn a_change_inside_one_function_selects_its_tests() {
    assert_eq!(
        run(&with_lib(&LIB.replace("a + b", "a - b"))),
        ["t_add", "t_both"]
    );
    assert_eq!(
        run(&with_lib(&LIB.replace("a * b", "a / b"))),
        ["t_both", "t_mul"]
    );
    // An early return added inside mul.
    let early = LIB.replace(
        "let r = a * b;\n",
        "if a == 0 { return 0; }\nlet r = a * b;\n",
    );
    assert_eq!(run(&with_lib(&early)), ["t_both", "t_mul"]);
    // A line removed inside mul.
    let removed = LIB.replace("let r = a * b;\nr\n", "a * b\n");
    assert_eq!(run(&with_lib(&removed)), ["t_both", "t_mul"]);
}

#[test]
fn no_change_or_comments_only_select_nothing() {
    assert!(run(&map().files).is_empty());
    let commented = LIB.replace("pub fn mul", "// multiplies\n\n/// doc\npub fn mul");
    assert!(run(&with_lib(&commented)).is_empty());
}

#[test]
fn what_the_map_cannot_see_widens_to_all() {
    for (what, text) in [
        ("const", LIB.replace("LIMIT: u32 = 3", "LIMIT: u32 = 4")),
        ("use", LIB.replace("use std::fmt;", "use std::fmt::Write;")),
        (
            "signature",
            LIB.replace("pub fn add(a: u32, b: u32)", "pub fn add(b: u32, a: u32)"),
        ),
        (
            "new item",
            LIB.replace("\npub fn mul", "\nstatic S: u8 = 1;\npub fn mul"),
        ),
        ("const fn", LIB.replace("\nLIMIT\n", "\nLIMIT + 1\n")),
    ] {
        let got = run(&with_lib(&text));
        assert!(
            got.len() == 1 && got[0].starts_with("ALL: src/lib.rs:"),
            "{what}: {got:?}"
        );
    }
    assert!(
        run(&with_lib(&LIB.replace("\nLIMIT\n", "\nLIMIT + 1\n")))[0]
            .contains("runs at compile time")
    );
}

#[test]
fn other_files_widen_unless_ignored() {
    let mut now = map().files;
    now.insert(
        "migrations/1.sql".into(),
        state("migrations/1.sql", "create table u();"),
    );
    assert_eq!(
        run(&now),
        [
            "ALL: migrations/1.sql changed; tests may read it or build with it (`affected-ignore` in .config/xdist.toml lists files that never matter)"
        ]
    );
    let mut b = globset::GlobSetBuilder::new();
    b.add(globset::Glob::new("migrations/**").unwrap());
    let ignore = SelectOptions {
        test_roots: BTreeSet::new(),
        globs: Some(b.build().unwrap()),
    };
    assert!(selected(select(&map(), &now, &BTreeMap::new(), &ignore, "k")).is_empty());
    let mut added = map().files;
    added.insert("Cargo.toml".into(), state("Cargo.toml", "[package]"));
    assert!(run(&added)[0].starts_with("ALL: Cargo.toml was added"));
    let mut rs = map().files;
    rs.insert("src/new.rs".into(), state("src/new.rs", "fn x() {}"));
    assert_eq!(run(&rs), ["ALL: Rust file src/new.rs was added"]);
}

#[test]
fn another_build_widens() {
    let sel = select(
        &map(),
        &map().files,
        &BTreeMap::new(),
        &SelectOptions::default(),
        "other",
    );
    assert!(matches!(sel, Selection::All(why) if why.contains("another toolchain")));
}

#[test]
fn changes_since_a_ref_count_too() {
    // The map was recorded after add changed; REF still had the old add.
    let at_ref = LIB.replace("a + b", "b + a");
    let since = BTreeMap::from([("src/lib.rs".to_string(), Some(state("src/lib.rs", &at_ref)))]);
    // Now: mul changed since the map; add is as in the map but not as at REF.
    let now = with_lib(&LIB.replace("a * b", "b * a"));
    let got = selected(select(&map(), &now, &since, &SelectOptions::default(), "k"));
    assert_eq!(got, ["t_add", "t_both", "t_mul"]);
    // A Rust file new since REF widens.
    let since = BTreeMap::from([("src/lib.rs".to_string(), None)]);
    assert!(
        selected(select(
            &map(),
            &map().files,
            &since,
            &SelectOptions::default(),
            "k"
        ))[0]
            .contains("added since")
    );
}

#[test]
fn hunks_are_in_old_line_numbers() {
    let h = |o: &[u64], n: &[u64]| {
        hunks(o, n)
            .into_iter()
            .map(|h| (h.first, h.last))
            .collect::<Vec<_>>()
    };
    assert_eq!(h(&[1, 2, 3], &[1, 9, 3]), [(1, 3)]);
    assert_eq!(h(&[1, 2, 3], &[1, 2, 9, 3]), [(2, 3)]);
    assert_eq!(h(&[1, 2, 3], &[1, 3]), [(2, 2)]);
    assert_eq!(h(&[1, TRIVIAL, 3], &[1, 3]), []);
    assert_eq!(h(&[1, 3], &[1, TRIVIAL, 3]), []);
    assert_eq!(h(&[1, 2], &[9, 1, 2]), [(0, 1)]);
}
