//! Tidy checks run with `cargo test`: every Rust module starts with a `//!`
//! doc comment saying what it is for, and drover-server's modules do not grow
//! into one another (its largest import loop stays under a bound).

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "target") {
                continue;
            }
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_module_starts_with_a_doc_comment() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    rust_files(&crates, &mut files);
    assert!(files.len() > 20, "expected to find the workspace's sources under {}", crates.display());
    let missing: Vec<String> = files
        .iter()
        .filter(|path| {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            !text.trim_start().starts_with("//!")
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(missing.is_empty(), "modules without a `//!` header:\n{}", missing.join("\n"));
}

/// The modules of one crate's `src/` (by path: `http::jobs`, `""` for the
/// crate root) and the modules each one names through `crate::` or `super::`
/// outside its unit tests.
fn module_imports(src: &Path) -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let module_of = |path: &Path| -> String {
        let relative = path.strip_prefix(src).unwrap_or(path).with_extension("");
        let mut parts: Vec<String> = relative.iter().map(|part| part.to_string_lossy().into_owned()).collect();
        if parts.last().is_some_and(|last| last == "mod" || last == "lib") {
            parts.pop();
        }
        parts.join("::")
    };
    let modules: std::collections::BTreeSet<String> = files.iter().map(|path| module_of(path)).collect();
    // The longest module that a path of names starts with.
    let resolve = |names: &[&str]| -> Option<String> {
        (1..=names.len()).rev().map(|n| names[..n].join("::")).find(|candidate| modules.contains(candidate))
    };
    let mut imports = std::collections::BTreeMap::new();
    for path in &files {
        let module = module_of(path);
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        let mut named = std::collections::BTreeSet::new();
        for (marker, base) in [("crate::", Vec::new()), ("super::", module.split("::").map(str::to_string).collect())] {
            let mut base = base;
            base.pop();
            for (at, _) in code.match_indices(marker) {
                if at > 0 && code[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
                    continue;
                }
                let rest = &code[at + marker.len()..];
                let end = rest.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')).unwrap_or(rest.len());
                let mut names: Vec<&str> = base.iter().map(String::as_str).collect();
                names.extend(rest[..end].split("::").filter(|name| !name.is_empty()));
                if let Some(target) = resolve(&names)
                    && target != module
                    && !module.starts_with(&format!("{target}::"))
                    && !target.is_empty()
                {
                    named.insert(target);
                }
            }
        }
        imports.insert(module, named);
    }
    imports
}

/// The largest set of modules that import each other in a loop (Tarjan's
/// strongly connected components), in order.
fn largest_import_loop(
    imports: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
) -> Vec<String> {
    struct Walk<'a> {
        imports: &'a std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
        index: std::collections::HashMap<&'a str, usize>,
        low: std::collections::HashMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: std::collections::HashSet<&'a str>,
        largest: Vec<String>,
    }
    impl<'a> Walk<'a> {
        fn visit(&mut self, module: &'a str) {
            let n = self.index.len();
            self.index.insert(module, n);
            self.low.insert(module, n);
            self.stack.push(module);
            self.on_stack.insert(module);
            for target in self.imports.get(module).into_iter().flatten() {
                let target = target.as_str();
                if !self.index.contains_key(target) {
                    self.visit(target);
                    let low = self.low[target].min(self.low[module]);
                    self.low.insert(module, low);
                } else if self.on_stack.contains(target) {
                    let low = self.index[target].min(self.low[module]);
                    self.low.insert(module, low);
                }
            }
            if self.low[module] == self.index[module] {
                let mut component = Vec::new();
                while let Some(member) = self.stack.pop() {
                    self.on_stack.remove(member);
                    component.push(member.to_string());
                    if member == module {
                        break;
                    }
                }
                if component.len() > self.largest.len() {
                    component.sort();
                    self.largest = component;
                }
            }
        }
    }
    let mut walk = Walk {
        imports,
        index: Default::default(),
        low: Default::default(),
        stack: Vec::new(),
        on_stack: Default::default(),
        largest: Vec::new(),
    };
    for module in imports.keys() {
        if !walk.index.contains_key(module.as_str()) {
            walk.visit(module);
        }
    }
    walk.largest
}

/// Modules that import each other in a loop cannot be understood, tested or
/// moved apart: drover-server has none (a "loop" of one module is the module
/// alone). Run with `--nocapture` to see the largest.
const SERVER_IMPORT_LOOP_BOUND: usize = 1;

#[test]
fn the_servers_largest_import_loop_stays_small() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../drover-server/src");
    let imports = module_imports(&src);
    assert!(imports.len() > 20, "expected drover-server's modules under {}", src.display());
    let largest = largest_import_loop(&imports);
    match largest.len() {
        0 | 1 => println!("drover-server: {} modules; no import loop", imports.len()),
        n => println!("drover-server: {} modules; largest import loop ({n}): {}", imports.len(), largest.join(", ")),
    }
    assert!(
        largest.len() <= SERVER_IMPORT_LOOP_BOUND,
        "drover-server's largest import loop grew to {} modules: {}",
        largest.len(),
        largest.join(", ")
    );
}

#[test]
fn the_import_loop_finder_finds_loops() {
    let imports: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> =
        [("a", vec!["b"]), ("b", vec!["c"]), ("c", vec!["a", "d"]), ("d", vec!["e"]), ("e", vec!["d"])]
            .into_iter()
            .map(|(module, targets)| (module.to_string(), targets.into_iter().map(str::to_string).collect()))
            .collect();
    assert_eq!(largest_import_loop(&imports), ["a", "b", "c"]);
}
