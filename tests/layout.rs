//! The module layout the crate docs promise: no two source files import
//! each other, directly or around a circle, and main.rs stays the pipeline.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// `src/run/worker.rs` → `run::worker`; `src/run/mod.rs` → `run`.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts.join("::")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The crate modules a file's non-test code names (`crate::a::b`,
/// `super::x`), resolved to the longest known module path.
fn imports(
    module: &str,
    is_mod_file: bool,
    text: &str,
    known: &BTreeSet<String>,
) -> BTreeSet<String> {
    let code: String = text
        .split("#[cfg(test)]")
        .next()
        .unwrap_or(text)
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = BTreeSet::new();
    let parent: Vec<&str> = if is_mod_file {
        module.split("::").filter(|s| !s.is_empty()).collect()
    } else {
        let mut p: Vec<&str> = module.split("::").collect();
        p.pop();
        p
    };
    // `crate::{a, b::c}` names `crate::a` and `crate::b::c`.
    let group = regex::Regex::new(r"\b(crate|super)::\{([^}]*)\}").unwrap();
    let code = group.replace_all(&code, |cap: &regex::Captures| {
        cap[2]
            .split(',')
            .map(|item| format!("{}::{} ", &cap[1], item.trim()))
            .collect::<String>()
    });
    let re = regex::Regex::new(r"\b(crate|super)((?:::[a-z_][a-z0-9_]*)+)").unwrap();
    for cap in re.captures_iter(&code) {
        let mut path: Vec<String> = if &cap[1] == "crate" {
            Vec::new()
        } else {
            parent.iter().map(|s| s.to_string()).collect()
        };
        path.extend(
            cap[2]
                .trim_start_matches("::")
                .split("::")
                .map(String::from),
        );
        // The longest prefix that is a module.
        while !path.is_empty() && !known.contains(&path.join("::")) {
            path.pop();
        }
        let target = path.join("::");
        if !target.is_empty() && target != module {
            out.insert(target);
        }
    }
    out
}

/// Every source file's module (main.rs aside) → the crate modules its
/// non-test code imports.
fn file_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.retain(|f| !f.ends_with("main.rs"));
    let known: BTreeSet<String> = files.iter().map(|f| module_of(&src, f)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        let module = module_of(&src, f);
        let is_mod = f.ends_with("mod.rs") || f.ends_with("lib.rs");
        let text = std::fs::read_to_string(f).unwrap();
        // A parent declaring its children (`pub mod x;`) is not an import.
        let mut deps = imports(&module, is_mod, &text, &known);
        deps.retain(|d| !d.starts_with(&format!("{module}::")) || !is_mod);
        graph.insert(module, deps);
    }
    assert!(graph.len() > 20, "too few modules found: {graph:?}");
    assert!(
        graph["run::worker"].contains("run::doctest"),
        "the scan must see real imports: {:?}",
        graph["run::worker"]
    );
    graph
}

/// The first import circle found in `graph`, as `a → b → a`.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<String> {
    // Depth-first search for a cycle.
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(pos) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[pos..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_string());
        for dep in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(dep, graph, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(cycle) = visit(node, graph, &mut Vec::new(), &mut done) {
            return Some(cycle.join(" → "));
        }
    }
    None
}

#[test]
fn no_module_imports_another_that_imports_it_back() {
    if let Some(cycle) = find_cycle(&file_graph()) {
        panic!("import circle: {cycle}");
    }
}

/// `a::b` → `a`: the graph between top-level modules (lib.rs, which only
/// declares them, aside). A stage may import earlier stages, side modules
/// and base modules; nothing imports back, even through a third module.
fn top_level_graph() -> BTreeMap<String, BTreeSet<String>> {
    let top = |m: &str| m.split("::").next().unwrap().to_string();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, deps) in file_graph() {
        if module.is_empty() {
            continue;
        }
        let from = top(&module);
        let entry = graph.entry(from.clone()).or_default();
        entry.extend(deps.iter().map(|d| top(d)).filter(|d| *d != from));
    }
    graph
}

#[test]
fn no_circle_between_top_level_modules() {
    let graph = top_level_graph();
    assert!(
        graph["run"].contains("plan") && graph["report"].contains("event"),
        "the scan must see real imports: {graph:?}"
    );
    if let Some(cycle) = find_cycle(&graph) {
        panic!("import circle between top-level modules: {cycle}");
    }
}

/// Base modules: they import no stage and no side module.
const BASE: &[&str] = &[
    "error",
    "signal",
    "scratch",
    "hash",
    "secrets",
    "event",
    "process",
    "leak",
    "toolchain",
];
/// Side modules: they import base modules only and take plain inputs.
const SIDE: &[&str] = &[
    "db",
    "coverage",
    "durations",
    "history",
    "env",
    "balance",
    "impact",
];
/// The pipeline's stages in order (archive, build's other source, comes
/// after list, whose cache it fills): each imports earlier stages, side
/// and base modules only.
const STAGES: &[&str] = &[
    "cli", "config", "build", "list", "archive", "plan", "schedule", "run", "report",
];

/// What `module` may import, or None when it is in no layer.
fn may_import(module: &str) -> Option<Vec<&'static str>> {
    if BASE.contains(&module) {
        return Some(BASE.to_vec());
    }
    if SIDE.contains(&module) {
        return Some(BASE.to_vec());
    }
    let stage = STAGES.iter().position(|s| *s == module)?;
    Some([BASE, SIDE, &STAGES[..stage]].concat())
}

#[test]
fn top_level_modules_keep_their_layers() {
    let mut wrong = Vec::new();
    for (module, deps) in top_level_graph() {
        let Some(allowed) = may_import(&module) else {
            wrong.push(format!(
                "{module} is in no layer: add it to BASE, SIDE or STAGES in tests/layout.rs (and to src/lib.rs's docs)"
            ));
            continue;
        };
        for dep in deps.iter().filter(|d| !allowed.contains(&d.as_str())) {
            wrong.push(format!("{module} imports {dep}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "base modules import base modules only, side modules too, stages earlier stages, side and base modules:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_top_level_check_sees_a_circle() {
    // Two modules that import each other through their children.
    let mut graph = BTreeMap::new();
    graph.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    graph.insert("b".to_string(), BTreeSet::from(["c".to_string()]));
    graph.insert("c".to_string(), BTreeSet::from(["a".to_string()]));
    assert_eq!(find_cycle(&graph).as_deref(), Some("a → b → c → a"));
}

#[test]
fn main_rs_stays_the_pipeline() {
    let main =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/main.rs")).unwrap();
    let code = main.split("#[cfg(test)]").next().unwrap();
    let lines = code.lines().count();
    assert!(lines <= 200, "src/main.rs has {lines} lines outside tests");
}

/// `text` without comments (line and block), string contents aside.
fn without_comments(text: &str) -> String {
    let mut out = String::new();
    let mut in_block = 0usize;
    for line in text.lines() {
        let mut rest = line;
        let mut kept = String::new();
        while !rest.is_empty() {
            if in_block > 0 {
                match (rest.find("/*"), rest.find("*/")) {
                    (Some(o), Some(c)) if o < c => {
                        in_block += 1;
                        rest = &rest[o + 2..];
                    }
                    (_, Some(c)) => {
                        in_block -= 1;
                        rest = &rest[c + 2..];
                    }
                    _ => rest = "",
                }
            } else {
                match (rest.find("//"), rest.find("/*")) {
                    (Some(l), b) if b.is_none_or(|b| l < b) => {
                        kept.push_str(&rest[..l]);
                        rest = "";
                    }
                    (_, Some(b)) => {
                        kept.push_str(&rest[..b]);
                        in_block += 1;
                        rest = &rest[b + 2..];
                    }
                    _ => {
                        kept.push_str(rest);
                        rest = "";
                    }
                }
            }
        }
        out.push_str(&kept);
        out.push('\n');
    }
    out
}

/// The items of `code` (comments already gone), attributes dropped: each
/// runs to a `;` or a `}` at brace depth 0.
fn items(code: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut current = String::new();
    let (mut braces, mut brackets) = (0usize, 0usize);
    let mut in_attr = false;
    let chars: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if !in_attr && braces == 0 && c == '#' {
            // `#[...]` / `#![...]`: skipped, brackets balanced.
            in_attr = true;
            brackets = 0;
            i += 1;
            continue;
        }
        if in_attr {
            match c {
                '[' => brackets += 1,
                ']' => {
                    brackets -= 1;
                    if brackets == 0 {
                        in_attr = false;
                    }
                }
                _ => {}
            }
            i += 1;
            continue;
        }
        current.push(c);
        match c {
            '{' => braces += 1,
            '}' => {
                braces -= 1;
                // `use a::{b, c};` goes on to its `;`.
                let next = chars[i + 1..].iter().find(|c| !c.is_whitespace());
                if braces == 0 && next != Some(&';') {
                    items.push(std::mem::take(&mut current));
                }
            }
            ';' if braces == 0 => items.push(std::mem::take(&mut current)),
            _ => {}
        }
        i += 1;
    }
    items.push(current);
    (items.into_iter())
        .map(|item| item.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|item| !item.is_empty())
        .collect()
}

/// The items of a mod.rs (or lib.rs) that are not a module declaration
/// (`mod x;`, `pub mod x;`) or an import (`use`, `pub use`).
fn not_declarations(text: &str) -> Vec<String> {
    let allowed =
        regex::Regex::new(r"^(pub(\([a-z: ]+\))? )?(mod [a-z_][a-z0-9_]* ?;|use [^;]+;)$").unwrap();
    items(&without_comments(text))
        .into_iter()
        .filter(|item| !allowed.is_match(item))
        .collect()
}

#[test]
fn mod_rs_files_only_declare_and_re_export() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.retain(|f| f.ends_with("mod.rs") || f.ends_with("lib.rs"));
    assert!(files.len() > 5, "too few mod.rs files found: {files:?}");
    let mut offenders = Vec::new();
    for f in &files {
        let others = not_declarations(&std::fs::read_to_string(f).unwrap());
        if let Some(first) = others.first() {
            let first: String = first.chars().take(80).collect();
            offenders.push(format!(
                "{}: `{first}`",
                f.strip_prefix(&src).unwrap().display()
            ));
        }
    }
    assert!(
        offenders.is_empty(),
        "a mod.rs holds only `mod`/`use` items and docs; move the rest into a file of its own:\n{}",
        offenders.join("\n")
    );
}

#[test]
fn the_mod_rs_check_sees_code() {
    let declaring = "//! Docs.\n\n#[cfg(test)]\nmod tests;\npub mod a;\npub(crate) use a::{B, c::D};\n/// Doc.\npub use a::E;\n";
    assert_eq!(not_declarations(declaring), Vec::<String>::new());
    let code = "pub mod a;\n/* mod b; */\npub struct S { x: u8 }\nfn f() {}\nconst N: u8 = 1;\nmod inline { fn g() {} }\n";
    assert_eq!(
        not_declarations(code),
        [
            "pub struct S { x: u8 }",
            "fn f() {}",
            "const N: u8 = 1;",
            "mod inline { fn g() {} }"
        ]
    );
}

/// Code lines of a source file: not blank, not a comment, not in an item
/// under `#[cfg(test)]`.
fn code_lines(text: &str) -> usize {
    let code = without_comments(text);
    let mut count = 0;
    let mut lines = code.lines();
    while let Some(line) = lines.next() {
        let t = line.trim();
        if t == "#[cfg(test)]" {
            // Skip the item it marks: to its `;`, or until its braces close.
            let mut depth = 0i64;
            let mut opened = false;
            for line in lines.by_ref() {
                depth += line.matches('{').count() as i64 - line.matches('}').count() as i64;
                opened |= line.contains('{');
                if (opened && depth <= 0) || (!opened && line.trim_end().ends_with(';')) {
                    break;
                }
            }
            continue;
        }
        if !t.is_empty() {
            count += 1;
        }
    }
    count
}

/// Most code lines in one source file.
const MAX_CODE_LINES: usize = 900;

#[test]
fn no_source_file_is_too_long() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let mut long = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(root).unwrap().to_string_lossy().into_owned();
        let n = code_lines(&std::fs::read_to_string(f).unwrap());
        if n > MAX_CODE_LINES {
            long.push(format!("{rel}: {n} code lines"));
        }
    }
    assert!(
        long.is_empty(),
        "no source file has more than {MAX_CODE_LINES} code lines (outside tests, comments and blank lines); split these by concern:\n{}",
        long.join("\n")
    );
}

#[test]
fn code_lines_leave_out_comments_blanks_and_tests() {
    let text = "//! Doc.\nfn a() {\n    // note\n\n    let x = \"{\";\n}\n/* block\n   still */\n#[cfg(test)]\nmod tests {\n    fn t() {}\n}\n#[cfg(test)]\nuse std::fmt;\nfn b() {}\n";
    // `fn a() {`, `let x`, `}`, `fn b() {}`.
    assert_eq!(code_lines(text), 4);
}
