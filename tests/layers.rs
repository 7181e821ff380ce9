//! The crate's layers point one way: no module imports one above it, and no two modules import
//! each other. Read from the source, as a newcomer would grep it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Bottom first. `chart` and `progress` are utilities every layer may use.
const LAYERS: &[&[&str]] = &[&["text", "model", "chart", "progress"], &["training", "dispatch"], &["cases", "feedback", "store", "events"], &["batch", "api", "publish"], &["config"], &["error", "lib"]];

fn layer(top: &str) -> usize {
    LAYERS.iter().position(|l| l.contains(&top)).unwrap_or_else(|| panic!("src/{top} is on no layer: add it to LAYERS"))
}

/// Every `.rs` file under `src/` (the binary aside) as its module path: `text/keywords`, `api`.
fn modules(dir: &Path, prefix: &str, out: &mut BTreeMap<String, String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        if path.is_dir() {
            if name != "bin" {
                modules(&path, &format!("{prefix}{name}/"), out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            let module = if name == "mod" { prefix.trim_end_matches('/').to_string() } else { format!("{prefix}{name}") };
            // Comments name other modules freely; only code counts.
            let code: String = std::fs::read_to_string(&path).unwrap().lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n");
            out.insert(module, code);
        }
    }
}

/// The modules `code` (in `module`) refers to through `crate::`, `super::` or `self::` paths,
/// resolved to the longest known module.
fn imports(module: &str, code: &str, known: &BTreeSet<String>) -> BTreeSet<String> {
    let path_re = regex::Regex::new(r"\b(?:crate|super|self)(?:::[A-Za-z_][A-Za-z0-9_]*)+").unwrap();
    let mut out = BTreeSet::new();
    for m in path_re.find_iter(code) {
        let mut parts: Vec<&str> = m.as_str().split("::").collect();
        // `self` in text/mod.rs is `text`, in text/keywords.rs `text/keywords`; `super` goes up one.
        let mut base: Vec<&str> = if module == "lib" { Vec::new() } else { module.split('/').collect() };
        match parts[0] {
            "crate" => base.clear(),
            "self" => {}
            _ => {
                while parts.first() == Some(&"super") {
                    base.pop();
                    parts.remove(0);
                }
                parts.insert(0, "self");
            }
        }
        parts.remove(0);
        let mut found = None;
        for k in 1..=parts.len() {
            let candidate = base.iter().chain(&parts[..k]).copied().collect::<Vec<_>>().join("/");
            if known.contains(&candidate) {
                found = Some(candidate);
            }
        }
        if let Some(f) = found.filter(|f| f != module) {
            out.insert(f);
        }
    }
    out
}

#[test]
fn layers_point_one_way_and_no_two_modules_import_each_other() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = BTreeMap::new();
    modules(&src, "", &mut files);
    let known: BTreeSet<String> = files.keys().cloned().collect();
    let graph: BTreeMap<&String, BTreeSet<String>> = files.iter().map(|(m, code)| (m, imports(m, code, &known))).collect();
    assert!(graph.len() > 40, "the scan found only {} modules", graph.len());

    let mut problems = Vec::new();
    for (a, targets) in &graph {
        for b in targets {
            // A folder's mod.rs declares its children, and they use what it re-exports.
            let parent_child = b.starts_with(&format!("{a}/")) || a.starts_with(&format!("{b}/"));
            if !parent_child && a.as_str() < b.as_str() && graph.get(b).is_some_and(|t| t.contains(a.as_str())) {
                problems.push(format!("{a} and {b} import each other"));
            }
            let (top_a, top_b) = (a.split('/').next().unwrap(), b.split('/').next().unwrap());
            if top_a != top_b && layer(top_b) > layer(top_a) {
                problems.push(format!("{a} imports {b}, a layer above it"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
