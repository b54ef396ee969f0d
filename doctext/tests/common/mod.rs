//! Shared helpers for the corpus tests: the manifest of ../shared/testdata/docs, the
//! expected-text files, normalization and unit matching.
//!
//! A "unit" is one non-comment line of an expected file. After normalization (Unicode
//! NFC, every whitespace character removed) each unit must appear as a substring of the
//! normalized extracted text.

#![allow(dead_code)]

use std::path::PathBuf;
use unicode_normalization::UnicodeNormalization;

/// The corpus root, `../shared/testdata/docs` beside the repository.
pub fn corpus_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/testdata/docs"))
}

/// Absolute path of a corpus file given its manifest-relative path.
pub fn corpus_path(rel: &str) -> PathBuf {
    corpus_dir().join(rel)
}

/// One row of `manifest.tsv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: String,
    pub format: String,
    pub bytes: u64,
    pub korean: bool,
    pub group: String,
    pub expected_kind: String,
    pub expected_file: String,
    /// Empty strings in the manifest become `None`.
    pub password: Option<String>,
}

impl Entry {
    pub fn abs_path(&self) -> PathBuf {
        corpus_path(&self.path)
    }

    pub fn expected(&self) -> Expected {
        read_expected(&self.expected_file)
    }
}

/// Parses `manifest.tsv` (header line first, tab-separated). Panics with a clear message
/// when the manifest is missing or a row is malformed: the tests cannot run without it.
pub fn manifest() -> Vec<Entry> {
    let path = corpus_path("manifest.tsv");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e} (is ../shared beside the repo?)", path.display()));
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    assert!(header.starts_with("path\tformat"), "unexpected manifest header: {header:?}");
    let entries: Vec<Entry> = lines
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            assert!(cols.len() >= 7, "manifest row with {} columns: {line:?}", cols.len());
            let password = cols.get(7).map(|p| p.trim()).filter(|p| !p.is_empty()).map(str::to_string);
            Entry {
                path: cols[0].to_string(),
                format: cols[1].to_string(),
                bytes: cols[2].parse().unwrap_or_else(|_| panic!("bad size in {line:?}")),
                korean: cols[3] == "yes",
                group: cols[4].to_string(),
                expected_kind: cols[5].to_string(),
                expected_file: cols[6].to_string(),
                password,
            }
        })
        .collect();
    assert!(!entries.is_empty(), "empty manifest");
    entries
}

/// Manifest rows selected by group and by format (any of `formats`).
pub fn entries(group: &str, formats: &[&str]) -> Vec<Entry> {
    let v: Vec<Entry> = manifest()
        .into_iter()
        .filter(|e| e.group == group && formats.contains(&e.format.as_str()))
        .collect();
    assert!(!v.is_empty(), "no manifest rows for group {group} and formats {formats:?}");
    v
}

/// The manifest row of one file.
pub fn entry(path: &str) -> Entry {
    manifest()
        .into_iter()
        .find(|e| e.path == path)
        .unwrap_or_else(|| panic!("{path} is not in the manifest"))
}

/// An expected-text file: its `# ...` comment lines (e.g. `# EXPECT: ...`) and its units.
#[derive(Debug, Clone, Default)]
pub struct Expected {
    pub comments: Vec<String>,
    /// Normalized units (never empty strings).
    pub units: Vec<String>,
}

impl Expected {
    /// The text after `# EXPECT:` if there is such a line.
    pub fn expect_line(&self) -> Option<&str> {
        self.comments.iter().find_map(|c| c.strip_prefix("# EXPECT:").map(str::trim))
    }
}

/// Reads an expected file (manifest-relative path): lines starting with `#` are comments,
/// blank lines (also after normalization) are dropped, the rest are units.
pub fn read_expected(rel: &str) -> Expected {
    let path = corpus_path(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut exp = Expected::default();
    for line in text.lines() {
        if line.starts_with('#') {
            exp.comments.push(line.to_string());
            continue;
        }
        let unit = normalize(line);
        if !unit.is_empty() {
            exp.units.push(unit);
        }
    }
    exp
}

/// Unicode NFC with every whitespace character removed.
pub fn normalize(s: &str) -> String {
    s.nfc().filter(|c| !c.is_whitespace()).collect()
}

/// The result of matching units against an output.
#[derive(Debug, Clone)]
pub struct Coverage {
    pub total: usize,
    pub found: usize,
    pub missing: Vec<String>,
}

impl Coverage {
    pub fn ratio(&self) -> f64 {
        if self.total == 0 { 1.0 } else { self.found as f64 / self.total as f64 }
    }

    pub fn all(&self) -> bool {
        self.found == self.total
    }
}

/// Checks which expected units appear in `output` (normalized here).
pub fn coverage(units: &[String], output: &str) -> Coverage {
    let hay = normalize(output);
    let missing: Vec<String> = units.iter().filter(|u| !hay.contains(u.as_str())).cloned().collect();
    Coverage { total: units.len(), found: units.len() - missing.len(), missing }
}

/// Asserts that every unit appears in `output`, listing the missing ones.
pub fn assert_all_units(what: &str, units: &[String], output: &str) {
    assert!(!units.is_empty(), "{what}: the expected file has no units");
    let c = coverage(units, output);
    assert!(c.all(), "{what}: {}/{} units found; missing: {:?}", c.found, c.total, &c.missing);
}

/// Asserts that at least `min_ratio` of the units appear in `output`.
pub fn assert_units_ratio(what: &str, units: &[String], output: &str, min_ratio: f64) {
    assert!(!units.is_empty(), "{what}: the expected file has no units");
    let c = coverage(units, output);
    assert!(
        c.ratio() >= min_ratio,
        "{what}: {}/{} units found ({:.1} %, need {:.1} %); missing: {:?}",
        c.found,
        c.total,
        c.ratio() * 100.0,
        min_ratio * 100.0,
        &c.missing
    );
}

/// Generated files (shared with the benchmark).
#[path = "../support/generated.rs"]
pub mod generated;
#[allow(unused_imports)]
pub use generated::{pdf_of, pdf_stream};
