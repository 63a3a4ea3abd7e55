//! The dependency listing of DESIGN.md's layout, checked on the source: which top-level
//! module may `use crate::…` which, that no two files (anywhere, inside a module too) depend
//! on each other in a circle, and that no command imports another. The shared vocabulary (`model`) and the leaves
//! (`endpoint`, `atomic_file`, `exit_code`) import nothing of the crate; `source` and `scim`
//! import neither each other nor `config`; `plan` imports only `model` (and writes its own
//! file atomically); the emulator shares only the wire types with the client. The rules form
//! a layering, so there is no cycle between top-level modules.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module → the crate modules it may import.
const ALLOWED: &[(&str, &[&str])] = &[
    ("model", &[]),
    ("endpoint", &[]),
    ("atomic_file", &[]),
    ("exit_code", &[]),
    ("http", &["endpoint"]),
    ("source", &["model", "endpoint", "http"]),
    ("scim", &["model", "endpoint", "http"]),
    ("state", &["model", "endpoint", "atomic_file"]),
    ("plan", &["model", "atomic_file"]),
    ("journal", &["model", "plan"]),
    ("config", &["model", "endpoint", "state"]),
    ("events", &["model", "plan"]),
    ("emulator", &["scim"]),
    ("cli", &["config", "plan"]),
];

/// Every `crate::<module>` a file names, outside comments.
fn imports(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

fn files(path: &Path, out: &mut Vec<std::path::PathBuf>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            files(&entry.unwrap().path(), out);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        out.push(path.to_path_buf());
    }
}

/// Top-level module → the crate modules it imports.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut all = Vec::new();
    files(&src, &mut all);
    for file in all {
        let relative = file.strip_prefix(&src).unwrap();
        let top = relative
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_owned();
        if top == "lib" || top == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let entry = graph.entry(top.clone()).or_default();
        entry.extend(imports(&text).into_iter().filter(|m| *m != top));
    }
    graph
}

#[test]
fn modules_import_only_what_the_layout_allows() {
    let graph = graph();
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut wrong = Vec::new();
    for (module, imported) in &graph {
        let Some(ok) = allowed.get(module.as_str()) else {
            // `commands` sits on top and may use everything; every other module is listed.
            assert_eq!(
                module, "commands",
                "module {module} is not in the layout's list"
            );
            continue;
        };
        for i in imported {
            if !ok.contains(&i.as_str()) {
                wrong.push(format!("{module} imports crate::{i}"));
            }
        }
    }
    assert!(wrong.is_empty(), "imports against the layout: {wrong:#?}");
    // The emulator shares only the wire types with the client.
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/emulator");
    let mut emulator = Vec::new();
    files(&src, &mut emulator);
    for file in emulator {
        let text = std::fs::read_to_string(&file).unwrap();
        for line in text.lines().filter(|l| l.contains("crate::scim")) {
            assert!(
                line.contains("crate::scim::wire"),
                "{}: {line}",
                file.display()
            );
        }
    }
}

#[test]
fn there_is_no_cycle_between_top_level_modules() {
    // Depth-first search for a back edge.
    fn visit<'a>(
        node: &'a str,
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) {
        if done.contains(node) {
            return;
        }
        assert!(!path.contains(&node), "cycle: {path:?} → {node}");
        path.push(node);
        for next in graph.get(node).into_iter().flatten() {
            visit(next, graph, path, done);
        }
        path.pop();
        done.insert(node);
    }
    let graph = graph();
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        visit(node, &graph, &mut Vec::new(), &mut done);
    }
}

/// A file of `src/` and its module path (`src/plan/basis.rs` → `["plan", "basis"]`,
/// `src/plan/mod.rs` → `["plan"]`).
fn module_files() -> BTreeMap<Vec<String>, std::path::PathBuf> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&src, &mut all);
    let mut out = BTreeMap::new();
    for file in all {
        let relative = file.strip_prefix(&src).unwrap().with_extension("");
        let mut path: Vec<String> = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        if path.last().is_some_and(|l| l == "mod") {
            path.pop();
        }
        if path == ["lib"] || path == ["main"] {
            path.clear();
        }
        // Test files included with `#[path]` are part of the module that includes them.
        if path
            .last()
            .is_some_and(|l| l == "tests" || l.ends_with("_tests"))
        {
            continue;
        }
        out.insert(path, file);
    }
    out
}

/// What a file's code (comments, its unit tests, `pub(…)` visibilities and re-exports of
/// its own children left out) names: `crate::…`, `super::…`, `self::…` and its children's
/// paths, each resolved to the longest module path that is a file.
fn file_edges() -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let modules = module_files();
    let resolve = |path: &[String]| -> Option<Vec<String>> {
        (0..=path.len())
            .rev()
            .map(|i| path[..i].to_vec())
            .find(|p| modules.contains_key(p))
    };
    let mut edges = BTreeMap::new();
    for (module, file) in &modules {
        let text = std::fs::read_to_string(file).unwrap();
        let mut code = String::new();
        for line in text.lines() {
            let line = line.split("//").next().unwrap_or("");
            let trimmed = line.trim_start();
            if trimmed.starts_with("pub use self::") || trimmed.starts_with("#[cfg(test)]") {
                continue;
            }
            code.push_str(line);
            code.push('\n');
        }
        if let Some(at) = code.find("mod tests {") {
            code.truncate(at);
        }
        for vis in ["pub(super)", "pub(crate)", "pub(self)"] {
            code = code.replace(vis, "pub");
        }
        let children: Vec<&String> = modules
            .keys()
            .filter(|k| k.len() == module.len() + 1 && k.starts_with(module))
            .map(|k| k.last().unwrap())
            .collect();
        let mut out = BTreeSet::new();
        let bytes = code.as_bytes();
        let word_start = |at: usize| {
            at == 0
                || !(bytes[at - 1].is_ascii_alphanumeric()
                    || bytes[at - 1] == b'_'
                    || bytes[at - 1] == b':')
        };
        for head in ["crate", "super", "self", ""] {
            let heads: Vec<String> = if head.is_empty() {
                children.iter().map(|c| format!("{c}::")).collect()
            } else {
                vec![format!("{head}::"), format!("{head} ")]
            };
            for needle in heads {
                let mut from = 0;
                while let Some(found) = code[from..].find(&needle) {
                    let at = from + found;
                    from = at + needle.len();
                    if !word_start(at) {
                        continue;
                    }
                    let rest: Vec<String> = code[at..]
                        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                        .next()
                        .unwrap_or("")
                        .split("::")
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect();
                    let mut path: Vec<String> = match rest.first().map(String::as_str) {
                        Some("crate") => Vec::new(),
                        Some("super") => module[..module.len().saturating_sub(1)].to_vec(),
                        _ => module.clone(),
                    };
                    let mut tail = if head.is_empty() {
                        &rest[..]
                    } else {
                        &rest[1..]
                    };
                    while tail.first().is_some_and(|s| s == "super") {
                        path.pop();
                        tail = &tail[1..];
                    }
                    path.extend(tail.iter().cloned());
                    if head == "self" && rest.len() == 1 {
                        continue; // `&self`, `self.x`
                    }
                    if let Some(target) = resolve(&path)
                        && &target != module
                    {
                        out.insert(target);
                    }
                }
            }
        }
        edges.insert(module.clone(), out);
    }
    edges
}

#[test]
fn there_is_no_circle_between_files() {
    fn visit(
        node: &Vec<String>,
        edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        path: &mut Vec<Vec<String>>,
        done: &mut BTreeSet<Vec<String>>,
        circles: &mut Vec<String>,
    ) {
        if done.contains(node) {
            return;
        }
        if let Some(at) = path.iter().position(|p| p == node) {
            let names: Vec<String> = path[at..]
                .iter()
                .chain([node])
                .map(|p| {
                    if p.is_empty() {
                        "lib".into()
                    } else {
                        p.join("::")
                    }
                })
                .collect();
            circles.push(names.join(" → "));
            return;
        }
        path.push(node.clone());
        for next in edges.get(node).into_iter().flatten() {
            visit(next, edges, path, done, circles);
        }
        path.pop();
        done.insert(node.clone());
    }
    let edges = file_edges();
    // The check itself: a file that names its parent's item and is named by it.
    assert!(
        edges[&vec!["plan".to_owned(), "basis".to_owned()]].contains(&vec!["plan".to_owned()]),
        "plan/basis.rs names super::GroupPlan: the edge must be seen"
    );
    let mut circles = Vec::new();
    let mut done = BTreeSet::new();
    for node in edges.keys() {
        visit(node, &edges, &mut Vec::new(), &mut done, &mut circles);
    }
    assert!(
        circles.is_empty(),
        "files that depend on each other: {circles:#?}"
    );
}

#[test]
fn no_command_imports_another() {
    let edges = file_edges();
    let commands: BTreeSet<Vec<String>> = edges
        .keys()
        .filter(|k| k.len() >= 2 && k[0] == "commands")
        .cloned()
        .collect();
    let mut wrong = Vec::new();
    for file in &commands {
        for to in &edges[file] {
            // The command a file belongs to is `commands::<name>`; shared pieces of
            // `commands/` (its mod.rs, group_failure, labels, grants) are not commands.
            let is_command = |p: &Vec<String>| {
                p.len() >= 2
                    && p[0] == "commands"
                    && !["group_failure", "labels", "grants"].contains(&p[1].as_str())
            };
            if is_command(to) && is_command(file) && to[1] != file[1] {
                wrong.push(format!("{} imports {}", file.join("::"), to.join("::")));
            }
        }
    }
    assert!(wrong.is_empty(), "commands importing commands: {wrong:#?}");
}
