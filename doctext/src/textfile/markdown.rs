//! Markdown as a quiz author writes it: a paragraph per line with the markup taken off,
//! and pipe tables as tables.
//!
//! - Headings (`# Title`, and a line underlined with `===` / `---`) become their text;
//!   thematic breaks (`---`, `***`) and code-fence lines are dropped, the code kept.
//! - Block quotes lose their `>`. Bullets `*` and `+` become `- `, the bullet the deck
//!   parser reads as a choice; task items become choices too, a checked one (`- [x]`)
//!   marked right with a leading `*`. Numbered items (`1.`) are kept: they number
//!   questions.
//! - Inline: `**strong**`, `__strong__`, `` `code` ``, `[link](url)` and `![image](url)`
//!   keep their text; `\|`, `\*` and the other backslash escapes their character.
//! - A pipe table is a row of cells, then a delimiter row (`|---|:--:|`), then rows; the
//!   header stays as the first row, the delimiter row is dropped.
//! - YAML front matter (`---` … `---` at the very start) is not text.

use crate::error::Result;
use crate::limits::Ctx;
use crate::model::{Document, Format, Origin};

pub(crate) fn read(text: &str, ctx: &mut Ctx) -> Result<Document> {
    let mut doc = Document::new(Format::Md);
    let lines: Vec<&str> = text.lines().collect();
    let mut i = skip_front_matter(&lines);
    let mut fence: Option<&str> = None;
    while i < lines.len() {
        if i % 4096 == 4095 {
            ctx.check()?;
        }
        let raw = lines[i];
        let line = raw.trim();
        if let Some(marker) = fence {
            if line.starts_with(marker) && line.trim_start_matches(marker.chars().next().unwrap_or('`')).trim().is_empty() {
                fence = None;
            } else {
                doc.push_paragraph(raw.trim_end(), Origin::default());
            }
            i += 1;
            continue;
        }
        // HTML comments (one line or several) are not text.
        if let Some(rest) = line.strip_prefix("<!--") {
            if !rest.contains("-->") {
                while i + 1 < lines.len() && !lines[i].contains("-->") {
                    i += 1;
                }
            }
            i += 1;
            continue;
        }
        if line.starts_with("```") || line.starts_with("~~~") {
            fence = Some(if line.starts_with("```") { "```" } else { "~~~" });
            i += 1;
            continue;
        }
        // A pipe table: a header row followed by a delimiter row.
        if line.contains('|')
            && let Some(next) = lines.get(i + 1)
            && is_delimiter_row(next)
        {
            let header = split_row(line);
            let width = header.len();
            let mut rows = vec![header];
            i += 2;
            while let Some(l) = lines.get(i) {
                let l = strip_quote(l.trim());
                if l.is_empty() || !l.contains('|') {
                    break;
                }
                let mut row = split_row(l);
                // Rows are cut or padded to the header's width, as renderers do.
                row.resize(width, String::new());
                rows.push(row);
                i += 1;
            }
            doc.push_table(rows, Origin::default());
            continue;
        }
        // A setext underline turns the previous line (already a paragraph) into a heading.
        let is_underline = !line.is_empty() && (line.chars().all(|c| c == '=') || (line.chars().all(|c| c == '-') && line.len() >= 2));
        if is_underline && i > 0 && !lines[i - 1].trim().is_empty() {
            i += 1;
            continue;
        }
        if is_thematic_break(line) {
            i += 1;
            continue;
        }
        doc.push_paragraph(block_line(line), Origin::default());
        i += 1;
    }
    Ok(doc)
}

/// Index of the first line after YAML front matter (0 when there is none).
fn skip_front_matter(lines: &[&str]) -> usize {
    if lines.first().map(|l| l.trim_end()) != Some("---") {
        return 0;
    }
    match lines.iter().skip(1).position(|l| matches!(l.trim_end(), "---" | "...")) {
        Some(k) => k + 2,
        None => 0,
    }
}

fn is_thematic_break(line: &str) -> bool {
    let compact: String = line.chars().filter(|c| !c.is_whitespace()).collect();
    compact.len() >= 3 && ['-', '*', '_'].iter().any(|&m| compact.chars().all(|c| c == m))
}

/// `|---|:---:|---:|` (outer pipes optional, at least one dash per cell).
fn is_delimiter_row(line: &str) -> bool {
    let line = strip_quote(line.trim());
    if !line.contains('-') || !(line.contains('|') || line.starts_with(':')) {
        return false;
    }
    let inner = line.strip_prefix('|').unwrap_or(line);
    let inner = inner.strip_suffix('|').unwrap_or(inner);
    inner.split('|').all(|cell| {
        let c = cell.trim();
        let c = c.strip_prefix(':').unwrap_or(c);
        let c = c.strip_suffix(':').unwrap_or(c);
        !c.is_empty() && c.chars().all(|ch| ch == '-')
    })
}

fn strip_quote(mut line: &str) -> &str {
    while let Some(rest) = line.strip_prefix('>') {
        line = rest.trim_start();
    }
    line
}

/// The cells of a table row: split on pipes that are not escaped, outer pipes dropped,
/// inline markup taken off.
fn split_row(line: &str) -> Vec<String> {
    let line = strip_quote(line.trim());
    let line = line.strip_prefix('|').unwrap_or(line);
    let mut cells = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut in_code = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                cur.push('\\');
                cur.push('|');
                chars.next();
            }
            '`' => {
                in_code = !in_code;
                cur.push(c);
            }
            '|' if !in_code => cells.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    if !cur.trim().is_empty() {
        cells.push(cur);
    }
    // `<br>` is how a line break is written inside a table cell.
    cells.iter().map(|c| inline(&line_breaks(c.trim()))).collect()
}

fn line_breaks(cell: &str) -> String {
    if !cell.contains("<br") {
        return cell.to_string();
    }
    cell.replace("<br />", "\n").replace("<br/>", "\n").replace("<br>", "\n")
}

/// A line outside tables: heading, quote and list markers handled, inline markup off.
fn block_line(line: &str) -> String {
    let line = strip_quote(line);
    // ATX heading: 1–6 `#`, a space, the text, optional closing `#`s.
    let hashes = line.chars().take_while(|&c| c == '#').count();
    if (1..=6).contains(&hashes) && line[hashes..].starts_with([' ', '\t']) || (1..=6).contains(&hashes) && line.len() == hashes {
        let text = line[hashes..].trim();
        let text = text.trim_end_matches('#').trim_end();
        return inline(text);
    }
    // Bullets, task items.
    for bullet in ["- ", "* ", "+ "] {
        if let Some(rest) = line.strip_prefix(bullet) {
            let rest = rest.trim_start();
            let task = |mark: &str| rest.strip_prefix(mark).map(str::trim_start);
            return match (task("[x]").or_else(|| task("[X]")), task("[ ]")) {
                (Some(done), _) => format!("- *{}", inline(done)),
                (None, Some(open)) => format!("- {}", inline(open)),
                _ => format!("- {}", inline(rest)),
            };
        }
    }
    inline(line)
}

/// Inline markup off: strong emphasis, code spans, links, images, escapes.
fn inline(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' if chars.get(i + 1).is_some_and(|n| n.is_ascii_punctuation()) => {
                out.push(chars[i + 1]);
                i += 2;
            }
            '*' | '_' if chars.get(i + 1) == Some(&c) => {
                // `**` / `__` pairs are emphasis; drop them.
                i += 2;
            }
            '`' => {
                // A code span keeps its text as is.
                match chars[i + 1..].iter().position(|&x| x == '`') {
                    Some(k) => {
                        out.extend(&chars[i + 1..i + 1 + k]);
                        i += k + 2;
                    }
                    None => {
                        out.push(c);
                        i += 1;
                    }
                }
            }
            '!' | '[' => {
                let start = if c == '!' { i + 1 } else { i };
                match link(&chars, start) {
                    Some((text, end)) if c == '[' || chars.get(start) == Some(&'[') => {
                        out.push_str(&inline(&text));
                        i = end;
                    }
                    _ => {
                        out.push(c);
                        i += 1;
                    }
                }
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// `[text](target)` starting at `start`: the text and the index after the `)`.
fn link(chars: &[char], start: usize) -> Option<(String, usize)> {
    if chars.get(start) != Some(&'[') {
        return None;
    }
    let close = start + 1 + chars[start + 1..].iter().position(|&c| c == ']')?;
    if chars.get(close + 1) != Some(&'(') {
        return None;
    }
    let end = close + 2 + chars[close + 2..].iter().position(|&c| c == ')')?;
    Some((chars[start + 1..close].iter().collect(), end + 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Limits;
    use crate::model::Block;

    fn blocks(text: &str) -> Vec<String> {
        let limits = Limits::default();
        let mut ctx = Ctx::new(&limits, None, None);
        read(text, &mut ctx)
            .unwrap()
            .blocks
            .iter()
            .map(Block::test_text)
            .collect()
    }

    #[test]
    fn markup_comes_off_and_pipe_tables_are_tables() {
        let md = "---\ntitle: x\n---\n# 퀴즈 **덱** #\n\nSub\n===\n> 인용 [링크](http://x) ![그림](a.png)\n\n* 하나\n+ 둘\n- [x] 정답\n- [ ] 오답\n1. 질문\n***\n\
                  | 번호 | 문제 | 정답 |\n|:---|:---:|---:|\n| 1 | `a|b` 는? | A \\| B |\n| 2 | 짧은 행<br>두 줄 |\n\n```\n# not a heading\n```\n<!-- 한 줄 주석 -->\n<!--\n여러 줄\n주석 -->\n끝 \\*";
        assert_eq!(
            blocks(md),
            vec![
                "퀴즈 덱",
                "Sub",
                "인용 링크 그림",
                "- 하나",
                "- 둘",
                "- *정답",
                "- 오답",
                "1. 질문",
                r#"[["번호", "문제", "정답"], ["1", "a|b 는?", "A | B"], ["2", "짧은 행\n두 줄", ""]]"#,
                "# not a heading",
                "끝 *",
            ]
        );
    }

    #[test]
    fn delimiter_rows() {
        assert!(is_delimiter_row("|---|---|"));
        assert!(is_delimiter_row("--- | :-: "));
        assert!(!is_delimiter_row("---"));
        assert!(!is_delimiter_row("| a | b |"));
        assert!(!is_delimiter_row("|   |   |"));
    }
}
