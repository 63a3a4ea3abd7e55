//! The dependency listing of DESIGN.md's layout, checked on the source: which top-level
//! module may `use crate::…` which. The shared vocabulary (`model`) and the leaves
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
