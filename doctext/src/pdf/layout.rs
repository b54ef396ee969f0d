//! A page's glyphs, in drawing order, laid out as blocks of lines, each line cut into cells.
//!
//! Writers such as LibreOffice draw a line in several passes (one per font, spaces apart),
//! so glyphs arrive out of reading order; glyphs are grouped into lines by baseline and a
//! line drawn in passes is ordered by x, which restores the text as printed.

/// One glyph as the PDF draws it.
#[derive(Debug, Clone)]
pub(super) struct Glyph {
    /// Drawing order on the page.
    pub seq: usize,
    pub x: f64,
    /// Baseline, downwards from the top of the page.
    pub y: f64,
    pub end: f64,
    pub size: f64,
    pub text: String,
}

/// A run of a line between wide gaps: a table cell's line, or a whole line of running text.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Cell {
    pub x: f64,
    pub end: f64,
    pub text: String,
    /// Each visible glyph: its x, its end and its byte offset in `text`, so a table can cut
    /// a cell that runs into the next column (too narrow a gap to see) at that column.
    pub marks: Vec<(f64, f64, usize)>,
}

/// A printed line, its cells left to right.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Line {
    /// Baseline, downwards from the top of the page.
    pub y: f64,
    /// The largest font size on the line.
    pub size: f64,
    pub cells: Vec<Cell>,
}

/// Lines drawn together: a paragraph, or the cells of a table row, wrapped cells included.
pub(super) type Block = Vec<Line>;

/// Horizontal gap, in font sizes, that separates two cells of a line. Word spaces are about
/// a quarter of the font size; table columns and tab stops are wider.
const CELL_GAP: f64 = 1.5;

/// A block's text: its lines joined by newlines, the cells of a line by spaces.
pub(super) fn block_text(block: &Block) -> String {
    let lines: Vec<String> =
        block.iter().map(|line| line.cells.iter().map(|c| c.text.as_str()).collect::<Vec<_>>().join(" ")).collect();
    lines.join("\n")
}

/// Lays out a page's glyphs, given in drawing order.
///
/// The drawing order is cut into blocks: a glyph that moves up the page (a new table
/// cell, a new column) or jumps far down starts a new block; glyphs on the same baseline
/// or on the next lines stay in their block. Within a block, glyphs are grouped into lines
/// by baseline and each line is ordered by x, which undoes the per-font drawing passes.
pub(super) fn lay_out(glyphs: Vec<Glyph>) -> Vec<Block> {
    let mut blocks: Vec<Vec<Glyph>> = Vec::new();
    let mut cur: Vec<Glyph> = Vec::new();
    let mut last_y = f64::NAN;
    for g in glyphs {
        let tol = 0.5 * g.size;
        let same_block = !cur.is_empty() && g.y >= last_y - tol && g.y <= last_y + 2.0 * g.size;
        if !same_block && !cur.is_empty() {
            blocks.push(std::mem::take(&mut cur));
        }
        // Stay on the current baseline while glyphs remain on it.
        if cur.is_empty() || (g.y - last_y).abs() > tol {
            last_y = g.y;
        }
        cur.push(g);
    }
    if !cur.is_empty() {
        blocks.push(cur);
    }
    blocks.into_iter().map(block_lines).filter(|b| !b.is_empty()).collect()
}

/// Lines of one block in reading order, each cut into cells at wide gaps.
fn block_lines(mut glyphs: Vec<Glyph>) -> Block {
    glyphs.sort_by(|a, b| a.y.total_cmp(&b.y));
    let mut lines: Vec<(f64, Vec<Glyph>)> = Vec::new();
    for g in glyphs {
        match lines.last_mut() {
            Some((base, line)) if (g.y - *base).abs() <= 0.5 * g.size => line.push(g),
            _ => lines.push((g.y, vec![g])),
        }
    }
    let mut out = Block::new();
    for (y, line) in lines {
        let size = line.iter().map(|g| g.size).fold(0.0, f64::max);
        let cells = line_cells(reading_order(line));
        if !cells.is_empty() {
            out.push(Line { y, size, cells });
        }
    }
    out
}

/// A line's glyphs in reading order.
///
/// Drawing order is kept unless the visible glyphs jump back by more than a glyph or two:
/// then the line was drawn in several passes (one per font) and x gives the reading order.
/// Small backward steps come from imprecise glyph widths and must not reorder. Blank glyphs
/// (spaces) are often drawn in a pass of their own, just before the text they separate;
/// each is put back where its x says, so the word space stays between its words.
fn reading_order(mut line: Vec<Glyph>) -> Vec<Glyph> {
    line.sort_by_key(|g| g.seq);
    let (blanks, mut visible): (Vec<Glyph>, Vec<Glyph>) = line.into_iter().partition(|g| g.text.trim().is_empty());
    let mut max_end = f64::NEG_INFINITY;
    let mut passes = false;
    for g in &visible {
        if g.x < max_end - 2.5 * g.size {
            passes = true;
            break;
        }
        max_end = max_end.max(g.end);
    }
    if passes {
        visible.extend(blanks);
        visible.sort_by(|a, b| a.x.total_cmp(&b.x));
    } else {
        for b in blanks {
            let at = visible.iter().position(|g| g.x >= b.x).unwrap_or(visible.len());
            visible.insert(at, b);
        }
    }
    visible
}

/// Cuts a line (glyphs in reading order) into cells at wide gaps.
fn line_cells(line: Vec<Glyph>) -> Vec<Cell> {
    let mut cells = Vec::new();
    let mut cell = Cell { x: f64::NAN, end: f64::NEG_INFINITY, text: String::new(), marks: Vec::new() };
    let mut last_end = f64::NEG_INFINITY;
    for g in line {
        let gap = g.x - last_end;
        let blank = g.text.trim().is_empty();
        // A wide gap after visible text ends the cell; blank glyphs (spaces drawn in
        // their own pass) neither start nor end one.
        if gap > CELL_GAP * g.size && !cell.marks.is_empty() && !blank {
            push_cell(&mut cells, std::mem::replace(&mut cell, Cell { x: f64::NAN, end: f64::NEG_INFINITY, text: String::new(), marks: Vec::new() }));
        }
        if gap > 0.15 * g.size && !cell.text.is_empty() && !cell.text.ends_with(' ') && !g.text.starts_with(' ') {
            cell.text.push(' ');
        }
        if !blank {
            if cell.marks.is_empty() {
                cell.x = g.x;
            }
            cell.marks.push((g.x, g.end, cell.text.len()));
            cell.end = cell.end.max(g.end);
        }
        cell.text.push_str(&g.text);
        last_end = last_end.max(g.end);
    }
    push_cell(&mut cells, cell);
    cells
}

/// Keeps a cell with visible text, trimmed (its marks moved with the text).
fn push_cell(cells: &mut Vec<Cell>, mut cell: Cell) {
    if cell.marks.is_empty() {
        return;
    }
    let lead = cell.text.len() - cell.text.trim_start().len();
    cell.text = cell.text.trim().to_owned();
    for mark in &mut cell.marks {
        mark.2 = mark.2.saturating_sub(lead);
    }
    cells.push(cell);
}

/// Typographic ligatures (U+FB00–FB06) spelled out, as a reader would type them.
pub(super) fn unligature(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\u{FB00}' => out.push_str("ff"),
            '\u{FB01}' => out.push_str("fi"),
            '\u{FB02}' => out.push_str("fl"),
            '\u{FB03}' => out.push_str("ffi"),
            '\u{FB04}' => out.push_str("ffl"),
            '\u{FB05}' | '\u{FB06}' => out.push_str("st"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(x: f64, y: f64, text: &str) -> Glyph {
        Glyph { seq: 0, x, y, end: x + 5.0 * text.chars().count() as f64, size: 10.0, text: text.into() }
    }

    fn seq(mut v: Vec<Glyph>) -> Vec<Glyph> {
        for (i, g) in v.iter_mut().enumerate() {
            g.seq = i;
        }
        v
    }

    fn texts(blocks: Vec<Block>) -> Vec<String> {
        blocks.iter().map(block_text).collect()
    }

    #[test]
    fn slightly_overlapping_glyphs_keep_their_drawing_order() {
        // Widths a little too large make each glyph start before the previous one ends.
        let glyphs = seq(vec![g(0.0, 100.0, "G"), g(4.0, 100.0, "e"), g(8.0, 100.0, "r"), g(7.0, 100.0, "m")]);
        assert_eq!(texts(lay_out(glyphs)), vec!["Germ"]);
    }

    #[test]
    fn glyphs_drawn_in_two_passes_come_out_in_reading_order() {
        // One font's glyphs drawn first, then the other's, on the same baseline (±1);
        // then the wrapped second line of the paragraph.
        let glyphs = seq(vec![g(30.0, 101.0, "“"), g(0.0, 100.0, "ab"), g(35.0, 100.0, "cd"), g(0.0, 112.0, "next")]);
        assert_eq!(texts(lay_out(glyphs)), vec!["ab “cd\nnext"]);
    }

    #[test]
    fn a_space_drawn_before_its_words_stays_between_them() {
        // As LibreOffice draws "큰 행성": the space first, in a pass of its own, one glyph
        // to the right of where the line starts; then the Hangul glyphs.
        let hangul = |x: f64, t: &str| Glyph { end: x + 10.0, ..g(x, 100.0, t) };
        let glyphs = seq(vec![Glyph { end: 190.0, ..g(187.0, 100.0, " ") }, hangul(176.0, "큰"), hangul(190.0, "행"), hangul(200.0, "성")]);
        assert_eq!(texts(lay_out(glyphs)), vec!["큰 행성"]);
    }

    #[test]
    fn table_cells_stay_whole() {
        // Row: cell "1", a cell wrapped over two lines, then a cell back on the first line.
        let glyphs = seq(vec![g(0.0, 100.0, "1"), g(20.0, 100.0, "capital"), g(20.0, 112.0, "city?"), g(90.0, 100.0, "Seoul")]);
        assert_eq!(texts(lay_out(glyphs)), vec!["1 capital\ncity?", "Seoul"]);
    }

    #[test]
    fn wide_gaps_cut_a_line_into_cells_and_word_spaces_do_not() {
        // "13", then a two-word cell, then a cell two font sizes further right.
        let glyphs = seq(vec![g(0.0, 100.0, "13"), g(40.0, 100.0, "ab"), g(53.0, 100.0, "cd"), g(100.0, 100.0, "4")]);
        let cell = |x: f64, end: f64, text: &str, marks: &[(f64, f64, usize)]| Cell { x, end, text: text.into(), marks: marks.to_vec() };
        let cells = vec![cell(0.0, 10.0, "13", &[(0.0, 10.0, 0)]), cell(40.0, 63.0, "ab cd", &[(40.0, 50.0, 0), (53.0, 63.0, 3)]), cell(100.0, 105.0, "4", &[(100.0, 105.0, 0)])];
        let line = Line { y: 100.0, size: 10.0, cells };
        assert_eq!(lay_out(glyphs), vec![vec![line]]);
    }
}
