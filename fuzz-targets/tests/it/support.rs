//! Where the corpus and the regression inputs live, and how they are read.

use std::fs;
use std::path::PathBuf;

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `fuzz/corpus/<target>/`: the committed seed corpus (written by `generate::write_corpus`).
pub fn corpus_dir(target: &str) -> PathBuf {
    repo().join("fuzz/corpus").join(target)
}

/// `fuzz-targets/tests/regressions/<target>/`: inputs that once crashed a target.
pub fn regressions_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/regressions").join(target)
}

/// The files of a folder (sorted by name; none when it does not exist).
pub fn files(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let Ok(rd) = fs::read_dir(dir) else { return Vec::new() };
    let mut out: Vec<(String, Vec<u8>)> = rd
        .filter_map(Result::ok)
        .filter(|e| e.path().is_file())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), fs::read(e.path()).unwrap()))
        .collect();
    out.sort();
    out
}

/// The corpus and regression inputs of a target.
pub fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let mut v = files(&corpus_dir(target));
    v.extend(files(&regressions_dir(target)).into_iter().map(|(n, b)| (format!("regression {n}"), b)));
    v
}
