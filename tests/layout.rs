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
    for (k, v) in &graph {}
    assert!(
        graph["run"].contains("plan") && graph["report"].contains("event"),
        "the scan must see real imports: {graph:?}"
    );
    if let Some(cycle) = find_cycle(&graph) {
        panic!("import circle between top-level modules: {cycle}");
    }
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
