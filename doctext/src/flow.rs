//! A builder for text flows of paragraphs and tables, fed by the XML walkers of the
//! OpenDocument and HWPX readers: paragraphs nest (a text box or a note inside a
//! paragraph is its own paragraph, emitted first), tables nest (an inner table is folded
//! into its cell as tab-separated lines), cells and rows may repeat (ODF's
//! `number-columns-repeated` / `number-rows-repeated`) and cells may name their column
//! (HWPX's `cellAddr`).
//!
//! Repetition is bounded: empty cells and rows are only counted, and materialized when
//! something follows them; every cell kept is charged to the file's byte budget (a
//! `String` plus its text), so a sheet that repeats a cell a billion times is refused by
//! the total-bytes limit instead of filling memory; columns past [`MAX_COLS`] and rows
//! past [`MAX_ROWS`] are dropped, as in a spreadsheet.

use crate::error::Result;
use crate::limits::Ctx;
use crate::model::{Document, Origin};

/// Columns kept per row (Excel's and LibreOffice's maximum is 16 384).
pub(crate) const MAX_COLS: usize = 16_384;
/// Rows kept per table (a spreadsheet's maximum).
pub(crate) const MAX_ROWS: usize = 1 << 20;
/// Tables nested deeper than this are read as text of their outer cell.
const MAX_TABLE_NESTING: usize = 32;
const CELL_COST: u64 = std::mem::size_of::<String>() as u64;

enum Frame {
    Table(Table),
    Cell { text: String, repeat: u64, col: Option<usize>, fallback: Option<String> },
}

#[derive(Default)]
struct Table {
    rows: Vec<Vec<String>>,
    row: Vec<String>,
    row_repeat: u64,
    /// Empty cells seen in the current row and not yet materialized.
    pending_cells: u64,
    /// Empty rows seen and not yet materialized.
    pending_rows: u64,
}

/// The builder. Paragraph and table events in document order; blocks go to `doc`.
pub(crate) struct Flow {
    frames: Vec<Frame>,
    paras: Vec<String>,
    /// Tables past the nesting bound: their structure is ignored, their text flows.
    flat_tables: usize,
    pub(crate) origin: Origin,
}

impl Flow {
    pub(crate) fn new(origin: Origin) -> Self {
        Self { frames: Vec::new(), paras: Vec::new(), flat_tables: 0, origin }
    }

    /// Whether a paragraph is open (text goes somewhere).
    pub(crate) fn in_paragraph(&self) -> bool {
        !self.paras.is_empty()
    }

    pub(crate) fn open_paragraph(&mut self) {
        self.paras.push(String::new());
    }

    /// Appends text to the innermost open paragraph (dropped outside paragraphs).
    pub(crate) fn text(&mut self, s: &str) {
        if let Some(p) = self.paras.last_mut() {
            p.push_str(s);
        }
    }

    pub(crate) fn push_char(&mut self, c: char) {
        if let Some(p) = self.paras.last_mut() {
            p.push(c);
        }
    }

    pub(crate) fn close_paragraph(&mut self, doc: &mut Document) {
        if let Some(text) = self.paras.pop() {
            self.emit_text(doc, text);
        }
    }

    pub(crate) fn open_table(&mut self) {
        if self.table_depth() >= MAX_TABLE_NESTING {
            self.flat_tables += 1;
        } else {
            self.frames.push(Frame::Table(Table::default()));
        }
    }

    /// Starts a row that stands for `repeat` identical rows.
    pub(crate) fn open_row(&mut self, repeat: u64) {
        if self.flat_tables == 0
            && let Some(Frame::Table(t)) = self.frames.last_mut()
        {
            t.row.clear();
            t.pending_cells = 0;
            t.row_repeat = repeat.max(1);
        }
    }

    /// Starts a cell that stands for `repeat` identical cells; `col`: its 0-based column
    /// when the format gives it (earlier missing columns become empty cells).
    pub(crate) fn open_cell(&mut self, repeat: u64, col: Option<usize>) {
        if self.flat_tables == 0 {
            self.frames.push(Frame::Cell { text: String::new(), repeat: repeat.max(1), col, fallback: None });
        }
    }

    /// Sets the column of the open cell (HWPX gives it after the cell's content).
    pub(crate) fn cell_column(&mut self, column: usize) {
        if self.flat_tables == 0
            && let Some(Frame::Cell { col, .. }) = self.frames.last_mut()
        {
            *col = Some(column.min(MAX_COLS));
        }
    }

    /// The open cell's text when its paragraphs hold none (a spreadsheet cell written
    /// with only its value).
    pub(crate) fn cell_fallback(&mut self, value: String) {
        if self.flat_tables == 0
            && let Some(Frame::Cell { fallback, .. }) = self.frames.last_mut()
        {
            *fallback = Some(value);
        }
    }

    pub(crate) fn close_cell(&mut self, doc: &mut Document, ctx: &mut Ctx) -> Result<()> {
        if self.flat_tables > 0 {
            return Ok(());
        }
        let Some(Frame::Cell { .. }) = self.frames.last() else { return Ok(()) };
        let Some(Frame::Cell { text, repeat, col, fallback }) = self.frames.pop() else { return Ok(()) };
        let text = match fallback {
            Some(value) if text.is_empty() => value,
            _ => text,
        };
        match self.frames.last_mut() {
            Some(Frame::Table(t)) => {
                if let Some(col) = col {
                    let have = t.row.len() as u64 + t.pending_cells;
                    t.pending_cells += (col as u64).saturating_sub(have);
                }
                if text.is_empty() {
                    t.pending_cells = t.pending_cells.saturating_add(repeat);
                } else {
                    let room = MAX_COLS.saturating_sub(t.row.len()) as u64;
                    let pad = t.pending_cells.min(room);
                    ctx.charge(pad * CELL_COST)?;
                    t.row.extend(std::iter::repeat_n(String::new(), pad as usize));
                    t.pending_cells = 0;
                    let n = repeat.min(MAX_COLS.saturating_sub(t.row.len()) as u64);
                    ctx.charge(n * (CELL_COST + text.len() as u64))?;
                    for _ in 1..n {
                        t.row.push(text.clone());
                    }
                    if n > 0 {
                        t.row.push(text);
                    }
                }
            }
            _ => self.emit_text(doc, text),
        }
        Ok(())
    }

    pub(crate) fn close_row(&mut self, ctx: &mut Ctx) -> Result<()> {
        if self.flat_tables > 0 {
            return Ok(());
        }
        let Some(Frame::Table(t)) = self.frames.last_mut() else { return Ok(()) };
        let row = std::mem::take(&mut t.row);
        t.pending_cells = 0;
        if row.is_empty() {
            t.pending_rows = t.pending_rows.saturating_add(t.row_repeat);
            return Ok(());
        }
        let room = MAX_ROWS.saturating_sub(t.rows.len()) as u64;
        let pad = t.pending_rows.min(room);
        ctx.charge(pad * CELL_COST)?;
        t.rows.extend(std::iter::repeat_n(Vec::new(), pad as usize));
        t.pending_rows = 0;
        let n = t.row_repeat.min(MAX_ROWS.saturating_sub(t.rows.len()) as u64);
        let cost: u64 = row.iter().map(|c| CELL_COST + c.len() as u64).sum();
        for _ in 1..n {
            ctx.charge(cost)?;
            ctx.check()?;
            t.rows.push(row.clone());
        }
        if n > 0 {
            t.rows.push(row);
        }
        Ok(())
    }

    pub(crate) fn close_table(&mut self, doc: &mut Document) {
        if self.flat_tables > 0 {
            self.flat_tables -= 1;
            return;
        }
        // Drop an unclosed cell above the table (damaged files).
        while matches!(self.frames.last(), Some(Frame::Cell { .. })) {
            self.frames.pop();
        }
        let Some(Frame::Table(mut t)) = self.frames.pop() else { return };
        if !t.row.is_empty() {
            t.rows.push(std::mem::take(&mut t.row));
        }
        match self.frames.last_mut() {
            Some(Frame::Cell { text, .. }) => {
                for r in t.rows {
                    append_line(text, &r.join("\t"));
                }
            }
            _ => doc.push_table(t.rows, self.origin.clone()),
        }
    }

    /// Ends the flow: paragraphs and tables left open by a truncated file keep their text.
    pub(crate) fn finish(&mut self, doc: &mut Document) {
        while let Some(text) = self.paras.pop() {
            self.emit_text(doc, text);
        }
        while !self.frames.is_empty() {
            if matches!(self.frames.last(), Some(Frame::Cell { .. })) {
                self.frames.pop();
            } else {
                self.close_table(doc);
            }
        }
        self.flat_tables = 0;
    }

    fn table_depth(&self) -> usize {
        self.frames.iter().filter(|f| matches!(f, Frame::Table(_))).count()
    }

    /// A finished paragraph goes into the enclosing cell, or into the document.
    fn emit_text(&mut self, doc: &mut Document, text: String) {
        match self.frames.last_mut() {
            Some(Frame::Cell { text: cell, .. }) => append_line(cell, &text),
            _ => doc.push_paragraph(text, self.origin.clone()),
        }
    }
}

/// Adds a line of text to a table cell (a new line after what it holds; blank lines dropped).
pub(crate) fn append_line(cell: &mut String, line: &str) {
    if line.trim().is_empty() {
        return;
    }
    if !cell.is_empty() {
        cell.push('\n');
    }
    cell.push_str(line);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Block, Format};
    use crate::{Error, LimitKind, Limits};

    fn cell(f: &mut Flow, doc: &mut Document, ctx: &mut Ctx, text: &str, repeat: u64) {
        f.open_cell(repeat, None);
        f.open_paragraph();
        f.text(text);
        f.close_paragraph(doc);
        f.close_cell(doc, ctx).unwrap();
    }

    #[test]
    fn repeats_are_bounded_and_trailing_empties_dropped() {
        let limits = Limits::default();
        let mut ctx = Ctx::new(&limits, None, None);
        let mut doc = Document::new(Format::Ods);
        let mut f = Flow::new(Origin::default());
        f.open_table();
        f.open_row(2);
        cell(&mut f, &mut doc, &mut ctx, "a", 1);
        cell(&mut f, &mut doc, &mut ctx, "", 2);
        cell(&mut f, &mut doc, &mut ctx, "b", 2);
        cell(&mut f, &mut doc, &mut ctx, "", 1_000_000);
        f.close_row(&mut ctx).unwrap();
        f.open_row(1_000_000);
        cell(&mut f, &mut doc, &mut ctx, "", 16_000);
        f.close_row(&mut ctx).unwrap();
        f.open_row(1);
        f.open_cell(1, Some(2));
        f.open_paragraph();
        f.text("c");
        f.close_paragraph(&mut doc);
        f.close_cell(&mut doc, &mut ctx).unwrap();
        f.close_row(&mut ctx).unwrap();
        f.open_row(u64::MAX);
        f.close_row(&mut ctx).unwrap();
        f.close_table(&mut doc);
        let Block::Table { rows, .. } = &doc.blocks[0] else { panic!() };
        assert_eq!(rows.len(), 2 + 1_000_000 + 1);
        assert_eq!(rows[0], ["a", "", "", "b", "b"]);
        assert_eq!(rows[1], rows[0]);
        assert!(rows[2].is_empty());
        assert_eq!(rows.last().unwrap(), &["", "", "c"]);
    }

    #[test]
    fn a_repeated_full_row_runs_into_the_byte_budget() {
        let limits = Limits { max_total_bytes: 1 << 20, ..Limits::default() };
        let mut ctx = Ctx::new(&limits, None, None);
        let mut doc = Document::new(Format::Ods);
        let mut f = Flow::new(Origin::default());
        f.open_table();
        f.open_row(1 << 20);
        cell(&mut f, &mut doc, &mut ctx, "x", 16_384);
        let err = f.close_row(&mut ctx).unwrap_err();
        assert!(matches!(err, Error::Limit(LimitKind::TotalBytes { .. })), "{err}");
    }
}
