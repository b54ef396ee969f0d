//! The workspace's shape: no import cycle among the top-level modules of any crate.
//!
//! Reads every crate's `src/` (binaries in `src/bin/` excluded), drops comments, string
//! literals and items under `#[cfg(test)]`, collects the `crate::module` paths each top-level
//! module names, and looks for strongly connected components of more than one module. A
//! cycle is printed as the modules in it, each with the lines that make its edges.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const CRATES: &[&str] = &["shared", "server", "client", "doctext", "vision", "mesh"];

/// Source with comments and the contents of string and char literals blanked (lengths and
/// newlines kept), so braces and `crate::` are only seen in code.
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    let blank = |c: u8| if c == b'\n' { b'\n' } else { b' ' };
    while i < b.len() {
        let c = b[i];
        if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                out.push(b' ');
                i += 1;
            }
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            let mut depth = 0usize;
            while i < b.len() {
                if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                    depth += 1;
                    out.extend([b' ', b' ']);
                    i += 2;
                } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                    depth -= 1;
                    out.extend([b' ', b' ']);
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(b[i]));
                    i += 1;
                }
            }
        } else if c == b'r' && (b.get(i + 1) == Some(&b'#') || b.get(i + 1) == Some(&b'"'))
            && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_'))
        {
            // Raw string r#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&b'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&b'"') {
                out.push(c);
                i += 1;
                continue;
            }
            out.extend(std::iter::repeat_n(b' ', j + 1 - i));
            i = j + 1;
            while i < b.len() {
                if b[i] == b'"' && b[i + 1..].iter().take(hashes).filter(|&&h| h == b'#').count() == hashes {
                    out.extend(std::iter::repeat_n(b' ', hashes + 1));
                    i += hashes + 1;
                    break;
                }
                out.push(blank(b[i]));
                i += 1;
            }
        } else if c == b'"' {
            out.push(b' ');
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    out.push(b' ');
                    i += 1;
                }
                if i < b.len() {
                    out.push(blank(b[i]));
                    i += 1;
                }
            }
            out.push(b' ');
            i += 1;
        } else if c == b'\'' {
            // A char literal ('x', '\n', '\u{..}', '{') or a lifetime ('a).
            let end = if b.get(i + 1) == Some(&b'\\') {
                b[i + 2..].iter().position(|&x| x == b'\'').map(|p| i + 2 + p)
            } else {
                let ch_len = src[i + 1..].chars().next().map_or(1, char::len_utf8);
                (b.get(i + 1 + ch_len) == Some(&b'\'')).then_some(i + 1 + ch_len)
            };
            match end {
                Some(e) => {
                    out.extend(std::iter::repeat_n(b' ', e + 1 - i));
                    i = e + 1;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `code` without the items marked `#[cfg(test)]` (a `mod … { … }`, `mod …;` or any item up
/// to its closing brace or semicolon).
fn without_test_items(code: &str) -> String {
    let mut out = code.to_string();
    let marker = "#[cfg(test)]";
    let mut from = 0;
    while let Some(pos) = out[from..].find(marker).map(|p| p + from) {
        let b = out.as_bytes();
        let mut i = pos + marker.len();
        // The item ends at the first `;` outside braces, or at the brace closing its body.
        let mut depth = 0i32;
        while i < b.len() {
            match b[i] {
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                b';' if depth == 0 => break,
                _ => {}
            }
            i += 1;
        }
        let end = (i + 1).min(out.len());
        let blanked: String = out[pos..end].chars().map(|c| if c == '\n' { '\n' } else { ' ' }).collect();
        out.replace_range(pos..end, &blanked);
        from = end;
    }
    out
}

fn ident_at(s: &str) -> &str {
    let end = s.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(s.len());
    &s[..end]
}

/// The top-level modules named by `crate::` paths in `code` (groups `crate::{a, b::c}` too),
/// with the line of each.
fn crate_refs(code: &str) -> Vec<(String, usize)> {
    let mut refs = Vec::new();
    for (n, line) in code.lines().enumerate() {
        let mut rest = line;
        while let Some(p) = rest.find("crate::") {
            let before = rest[..p].chars().next_back();
            let after = &rest[p + "crate::".len()..];
            rest = after;
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue; // `mycrate::`
            }
            if let Some(group) = after.strip_prefix('{') {
                let mut depth = 0;
                let mut item_start = true;
                for (i, c) in group.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => item_start = true,
                        c if c.is_whitespace() => {}
                        _ if item_start && depth == 0 => {
                            item_start = false;
                            refs.push((ident_at(&group[i..]).to_string(), n + 1));
                        }
                        _ => {}
                    }
                }
            } else {
                refs.push((ident_at(after).to_string(), n + 1));
            }
        }
    }
    refs
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

type Graph = BTreeMap<String, BTreeMap<String, Vec<String>>>;

/// Edges between a crate's top-level modules: module → module → where.
fn module_graph(krate: &str) -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(krate).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(!files.is_empty(), "no sources in {}", src.display());
    let mut modules = BTreeSet::new();
    for f in &files {
        if let Ok(rel) = f.strip_prefix(&src)
            && let Some(first) = rel.components().next()
        {
            let name = first.as_os_str().to_string_lossy().trim_end_matches(".rs").to_string();
            if !["lib", "main", "bin"].contains(&name.as_str()) {
                modules.insert(name);
            }
        }
    }
    let mut graph = Graph::new();
    for f in &files {
        let Ok(rel) = f.strip_prefix(&src) else { continue };
        let Some(from) = rel.components().next().map(|c| c.as_os_str().to_string_lossy().trim_end_matches(".rs").to_string())
        else {
            continue;
        };
        if !modules.contains(&from) {
            continue;
        }
        let text = std::fs::read_to_string(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let code = without_test_items(&code_only(&text));
        for (to, line) in crate_refs(&code) {
            if to != from && modules.contains(&to) {
                graph
                    .entry(from.clone())
                    .or_default()
                    .entry(to)
                    .or_default()
                    .push(format!("{}:{line}", rel.display()));
            }
        }
    }
    graph
}

/// Strongly connected components with more than one module (Tarjan).
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    struct Tarjan<'a> {
        graph: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        next: usize,
        found: Vec<Vec<String>>,
    }
    impl<'a> Tarjan<'a> {
        fn visit(&mut self, v: &'a str) {
            self.index.insert(v, self.next);
            self.low.insert(v, self.next);
            self.next += 1;
            self.stack.push(v);
            self.on_stack.insert(v);
            if let Some(edges) = self.graph.get(v) {
                for w in edges.keys() {
                    let w = w.as_str();
                    if !self.index.contains_key(w) {
                        self.visit(w);
                        let lw = self.low[w];
                        let lv = self.low[v];
                        self.low.insert(v, lv.min(lw));
                    } else if self.on_stack.contains(w) {
                        let iw = self.index[w];
                        let lv = self.low[v];
                        self.low.insert(v, lv.min(iw));
                    }
                }
            }
            if self.low[v] == self.index[v] {
                let mut component = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    component.push(w.to_string());
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.found.push(component);
                }
            }
        }
    }
    let mut t = Tarjan {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !t.index.contains_key(v.as_str()) {
            t.visit(v);
        }
    }
    t.found
}

#[test]
fn shape_the_checker_finds_a_planted_cycle() {
    let code = without_test_items(&code_only(
        r#"
        use crate::{flow::Screen, game};
        // crate::commented
        const S: &str = "crate::in_a_string";
        #[cfg(test)]
        mod tests { use crate::only_in_tests; }
        fn f() { let _ = '{'; crate::deck::load(); }
        "#,
    ));
    let names: Vec<String> = crate_refs(&code).into_iter().map(|(m, _)| m).collect();
    assert_eq!(names, ["flow", "game", "deck"]);
    let mut g = Graph::new();
    for (a, b) in [("cli", "flow"), ("flow", "game"), ("game", "cli"), ("ui", "game")] {
        g.entry(a.into()).or_default().insert(b.into(), vec![]);
    }
    assert_eq!(cycles(&g), vec![vec!["cli".to_string(), "flow".into(), "game".into()]]);
}

#[test]
fn shape_no_import_cycle_among_modules() {
    let mut report = String::new();
    for krate in CRATES {
        let graph = module_graph(krate);
        for cycle in cycles(&graph) {
            report.push_str(&format!("{krate}: cycle among {}\n", cycle.join(", ")));
            for a in &cycle {
                for (b, wheres) in graph.get(a).into_iter().flatten() {
                    if cycle.contains(b) {
                        report.push_str(&format!("  {a} → {b}: {}\n", wheres.join(", ")));
                    }
                }
            }
        }
    }
    assert!(report.is_empty(), "import cycles between top-level modules:\n{report}");
}
