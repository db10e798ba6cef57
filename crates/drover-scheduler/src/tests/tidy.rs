//! Tidy: every module of this crate starts with a `//!` doc comment.

use std::path::Path;

fn visit(dir: &Path, missing: &mut Vec<String>) {
    let entries = std::fs::read_dir(dir).expect("src dir is readable");
    for entry in entries {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            visit(&path, missing);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            let text = std::fs::read_to_string(&path).expect("source is readable");
            if !text.starts_with("//!") {
                missing.push(path.display().to_string());
            }
        }
    }
}

#[test]
fn every_module_starts_with_a_doc_comment() {
    let mut missing = Vec::new();
    visit(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut missing);
    assert!(missing.is_empty(), "modules without a //! header: {missing:?}");
}
