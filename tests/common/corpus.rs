//! The shared test corpus (`../shared/corpus` beside the checkout): every message file in it,
//! for unit tests, integration tests and benchmarks alike (each includes this one file).
//! The licences and the provenance table are not mail and are left out.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// Where the corpus is.
pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus")
}

/// Every message: its path relative to the corpus and its bytes, sorted by path.
pub fn messages() -> Vec<(PathBuf, Vec<u8>)> {
    let root = dir();
    let mut out = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d)
            .unwrap_or_else(|e| panic!("test corpus not readable at {}: {e}", d.display()));
        for entry in entries {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap_or_default();
            if path.is_dir() {
                if name != "LICENSES" {
                    stack.push(path);
                }
            } else if name != "SOURCES.tsv" {
                let bytes = std::fs::read(&path).unwrap();
                out.push((path.strip_prefix(&root).unwrap().to_owned(), bytes));
            }
        }
    }
    out.sort();
    assert!(
        out.len() >= 100,
        "test corpus not found at {}",
        root.display()
    );
    out
}

/// Just the bytes, in the same order.
pub fn bytes() -> Vec<Vec<u8>> {
    messages().into_iter().map(|(_, b)| b).collect()
}
