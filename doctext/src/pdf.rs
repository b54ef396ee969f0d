//! PDF through `pdf-extract` (fonts, CMaps, CID fonts) with our own layout pass.
//!
//! `pdf-extract` hands every glyph to an output device with its text-rendering matrix.
//! Writers such as LibreOffice draw a line in several passes (one per font), so glyphs
//! arrive out of reading order; we therefore collect the glyphs of a page, group them
//! into lines by baseline and order each line by x, which restores the text as printed.
//!
//! Guarding: the parser runs on a reader thread of its own (kept from one PDF to the next,
//! see [`Reader`]). The caller checks the time limit and cancellation, then waits for the
//! result in short slices; when either fires, the parser is told to stop at its next
//! glyph and the caller returns at once. A panic inside the third-party parser becomes
//! [`Error::Panicked`].

use crate::error::{Error, LimitKind, Result};
use crate::limits::Ctx;
use crate::model::{Document, Format, Origin, Part};
use pdf_extract::{MediaBox, OutputDev, OutputError, Transform};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How often the waiting caller checks time and cancellation.
const POLL: Duration = Duration::from_millis(20);

/// A finished page: its text blocks in reading order.
type Pages = Vec<(u32, Vec<String>)>;

/// A run of a line between wide gaps: a table cell's line, or a whole line of running text.
#[derive(Debug, Clone, PartialEq)]
struct Cell {
    x: f64,
    text: String,
}

/// A printed line, left to right.
type Line = Vec<Cell>;

/// Lines that belong together (a paragraph, or a table cell wrapped over several lines).
type Block = Vec<Line>;

/// Horizontal gap, in font sizes, that separates two cells of a line. Word spaces are about
/// a quarter of the font size; table columns and tab stops are wider.
const CELL_GAP: f64 = 1.5;

/// How far (in points) a continued cell may start from the column it continues.
const COLUMN_TOLERANCE: f64 = 2.0;

pub(crate) fn extract(data: &[u8], ctx: &mut Ctx) -> Result<Document> {
    let abort = Arc::new(AtomicBool::new(false));
    let (reply, rx) = crossbeam_channel::bounded(1);
    let job = Job {
        data: data.to_vec(),
        password: ctx.password.map(str::to_owned),
        max_text: ctx.limits.max_entry_bytes,
        abort: abort.clone(),
        reply,
    };
    let reader = Reader::take_or_start(job)?;
    let pages = loop {
        if let Err(e) = ctx.check() {
            // The reader stops at its next glyph; it is not put back, so it ends once it
            // notices, and this thread's next PDF gets a fresh one.
            abort.store(true, Ordering::Relaxed);
            return Err(e);
        }
        match rx.recv_timeout(POLL) {
            Ok(r) => {
                // The reader is idle again: keep it for this thread's next PDF, unless it
                // caught a panic (then it has ended).
                if !matches!(r, Err(Error::Panicked(_))) {
                    reader.put_back();
                }
                break r?;
            }
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                return Err(Error::Panicked("the PDF reader thread ended without a result".into()));
            }
        }
    };
    let mut doc = Document::new(Format::Pdf);
    for (page, lines) in pages {
        for line in lines {
            ctx.charge(line.len() as u64)?;
            doc.push_paragraph(line, Origin { entry: Vec::new(), part: Part::Page(page) });
        }
    }
    Ok(doc)
}

/// One PDF for the reader thread.
struct Job {
    data: Vec<u8>,
    password: Option<String>,
    max_text: u64,
    abort: Arc<AtomicBool>,
    reply: crossbeam_channel::Sender<Result<Pages>>,
}

/// A thread that reads PDFs for one calling thread (a pool worker, the CLI), one at a time.
///
/// It outlives a file: starting a thread per PDF, with fresh allocator caches, cost about
/// 6 % of the reading time in the benchmark. A reader that is abandoned mid-file (time
/// limit, cancellation) or that caught a panic is not reused; it ends when its job channel
/// closes, which also happens when the calling thread exits.
struct Reader {
    jobs: crossbeam_channel::Sender<Job>,
}

thread_local! {
    /// This thread's idle reader, if it has one.
    static IDLE_READER: std::cell::RefCell<Option<Reader>> = const { std::cell::RefCell::new(None) };
}

#[cfg(test)]
thread_local! {
    /// Readers started for this thread (tests check that one is reused).
    static READERS_STARTED: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

impl Reader {
    /// Hands `job` to this thread's idle reader, or to a new one.
    fn take_or_start(job: Job) -> Result<Reader> {
        let idle = IDLE_READER.with(|r| r.borrow_mut().take());
        let job = match idle {
            Some(reader) => match reader.jobs.send(job) {
                Ok(()) => return Ok(reader),
                // It ended (it only does after a panic); start another.
                Err(crossbeam_channel::SendError(job)) => job,
            },
            None => job,
        };
        let (jobs, rx) = crossbeam_channel::bounded::<Job>(1);
        #[cfg(test)]
        READERS_STARTED.with(|n| n.set(n.get() + 1));
        std::thread::Builder::new()
            .name("doctext-pdf".into())
            .spawn(move || {
                for job in rx {
                    let r = catch_unwind(AssertUnwindSafe(|| read(&job.data, job.password.as_deref(), &job.abort, job.max_text)));
                    let panicked = r.is_err();
                    let _ = job.reply.send(r.unwrap_or_else(|p| Err(Error::Panicked(crate::panic_message(p.as_ref())))));
                    if panicked {
                        // Third-party state after a panic is not trusted for the next file.
                        break;
                    }
                }
            })
            .map_err(Error::Io)?;
        let reader = Reader { jobs };
        reader.jobs.send(job).map_err(|_| Error::Panicked("the PDF reader thread ended before its first file".into()))?;
        Ok(reader)
    }

    /// Keeps this reader for the calling thread's next PDF.
    fn put_back(self) {
        IDLE_READER.with(|r| *r.borrow_mut() = Some(self));
    }
}

/// Parses the PDF and lays out its pages (runs on the reader thread).
fn read(data: &[u8], password: Option<&str>, abort: &AtomicBool, max_text: u64) -> Result<Pages> {
    let mut doc = pdf_extract::Document::load_mem(data).map_err(|e| Error::malformed(Format::Pdf, e.to_string()))?;
    if doc.is_encrypted() {
        // Many PDFs are encrypted with an empty user password (permissions only).
        if doc.decrypt("").is_err() {
            let password = password.ok_or(Error::PasswordRequired)?;
            doc.decrypt(password).map_err(|e| match e {
                pdf_extract::Error::Decryption(pdf_extract::encryption::DecryptionError::IncorrectPassword) => {
                    Error::WrongPassword
                }
                other => Error::Unsupported(format!("this PDF's encryption ({other})")),
            })?;
        }
    }
    let mut dev = Layout { abort: Some(abort), max_text, ..Layout::default() };
    match pdf_extract::output_doc(&doc, &mut dev) {
        Ok(()) => {}
        Err(_) if dev.stopped.is_some() => {}
        Err(e) => {
            // Keep the pages read before the damage, if any.
            if dev.pages.is_empty() && dev.held.is_none() && dev.glyphs.is_empty() {
                return Err(Error::malformed(Format::Pdf, e.to_string()));
            }
            tracing::warn!(error = %e, "PDF partly read");
        }
    }
    if let Some(e) = dev.stopped.take() {
        return Err(e);
    }
    dev.finish_page();
    dev.release_held();
    Ok(dev.pages)
}

#[derive(Debug, Clone)]
struct Glyph {
    /// Drawing order on the page.
    seq: usize,
    x: f64,
    /// Baseline, downwards from the top of the page.
    y: f64,
    end: f64,
    size: f64,
    text: String,
}

#[derive(Default)]
struct Layout<'a> {
    abort: Option<&'a AtomicBool>,
    max_text: u64,
    text_bytes: u64,
    page: u32,
    page_height: f64,
    glyphs: Vec<Glyph>,
    /// The last laid-out page, kept back until the next one shows whether a table row at
    /// its foot continues there.
    held: Option<(u32, Vec<Block>)>,
    pages: Pages,
    stopped: Option<Error>,
}

impl Layout<'_> {
    fn keep_going(&mut self) -> std::result::Result<(), OutputError> {
        if self.abort.is_some_and(|a| a.load(Ordering::Relaxed)) {
            self.stopped = Some(Error::Cancelled);
        } else if self.text_bytes > self.max_text {
            self.stopped = Some(Error::Limit(LimitKind::EntryBytes { max: self.max_text }));
        }
        match self.stopped {
            Some(_) => Err(OutputError::FormatError(std::fmt::Error)),
            None => Ok(()),
        }
    }

    fn finish_page(&mut self) {
        if !self.glyphs.is_empty() {
            let mut blocks = lay_out(std::mem::take(&mut self.glyphs));
            if let Some((page, mut prev)) = self.held.take() {
                continue_cells(&mut prev, &mut blocks);
                self.pages.push((page, blocks_text(prev)));
            }
            self.held = Some((self.page, blocks));
        }
    }

    fn release_held(&mut self) {
        if let Some((page, blocks)) = self.held.take() {
            self.pages.push((page, blocks_text(blocks)));
        }
    }
}

impl OutputDev for Layout<'_> {
    fn begin_page(&mut self, page_num: u32, media_box: &MediaBox, _: Option<(f64, f64, f64, f64)>) -> std::result::Result<(), OutputError> {
        self.finish_page();
        self.page = page_num;
        self.page_height = media_box.ury - media_box.lly;
        self.keep_going()
    }

    fn end_page(&mut self) -> std::result::Result<(), OutputError> {
        self.finish_page();
        Ok(())
    }

    fn output_character(&mut self, trm: &Transform, width: f64, _spacing: f64, font_size: f64, text: &str) -> std::result::Result<(), OutputError> {
        self.keep_going()?;
        // Font size in device space: the side of the square with the area the text
        // matrix gives a font_size × font_size square.
        let vx = font_size * (trm.m11 + trm.m21);
        let vy = font_size * (trm.m12 + trm.m22);
        let size = (vx * vy).abs().sqrt().max(0.1);
        let x = trm.m31;
        let y = self.page_height - trm.m32;
        if !(x.is_finite() && y.is_finite() && size.is_finite()) {
            return Ok(());
        }
        let text = unligature(text);
        self.text_bytes += text.len() as u64;
        let end = x + (width * size).max(0.0);
        let seq = self.glyphs.len();
        self.glyphs.push(Glyph { seq, x, y, end, size, text });
        Ok(())
    }

    fn begin_word(&mut self) -> std::result::Result<(), OutputError> {
        Ok(())
    }

    fn end_word(&mut self) -> std::result::Result<(), OutputError> {
        Ok(())
    }

    fn end_line(&mut self) -> std::result::Result<(), OutputError> {
        self.keep_going()
    }
}

/// Lays out a page's glyphs, given in drawing order.
///
/// The drawing order is cut into blocks: a glyph that moves up the page (a new table
/// cell, a new column) or jumps far down starts a new block; glyphs on the same baseline
/// or on the next lines stay in their block. Within a block, glyphs are grouped into lines
/// by baseline and each line is ordered by x, which undoes the per-font drawing passes.
/// A block's lines become one paragraph, joined by newlines.
fn lay_out(glyphs: Vec<Glyph>) -> Vec<Block> {
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

/// A table row cut by a page break: the lines that open the next page inside the columns of
/// the previous page's last line (and not in its first column, where a new row would start)
/// are the rest of those cells, and are moved back into them. Headers, footers and running
/// text do not line up with the cells of a row, so they stay where they are.
fn continue_cells(prev: &mut [Block], next: &mut Vec<Block>) {
    let Some(tail) = prev.last_mut().and_then(|b| b.last_mut()) else { return };
    if tail.len() < 2 {
        return;
    }
    let Some(first) = next.first_mut() else { return };
    let mut taken = 0;
    for line in first.iter() {
        let columns: Option<Vec<usize>> = line
            .iter()
            .map(|cell| {
                tail.iter()
                    .position(|t| (t.x - cell.x).abs() <= COLUMN_TOLERANCE)
                    .filter(|&column| column > 0)
            })
            .collect();
        let Some(columns) = columns else { break };
        if line.len() >= tail.len() {
            break;
        }
        for (cell, column) in line.iter().zip(columns) {
            let target = &mut tail[column].text;
            target.push(' ');
            target.push_str(&cell.text);
        }
        taken += 1;
    }
    first.drain(..taken);
    if first.is_empty() {
        next.remove(0);
    }
}

/// The page's text: each block one paragraph, its lines joined by newlines and the cells of
/// a line by spaces.
fn blocks_text(blocks: Vec<Block>) -> Vec<String> {
    blocks
        .into_iter()
        .map(|block| {
            let lines: Vec<String> = block
                .into_iter()
                .map(|line| line.into_iter().map(|c| c.text).collect::<Vec<_>>().join(" "))
                .collect();
            lines.join("\n")
        })
        .collect()
}

/// Lines of one block in reading order, each cut into cells at wide gaps.
fn block_lines(mut glyphs: Vec<Glyph>) -> Block {
    glyphs.sort_by(|a, b| a.y.total_cmp(&b.y));
    let mut lines: Vec<Vec<Glyph>> = Vec::new();
    let mut base = f64::NAN;
    for g in glyphs {
        match lines.last_mut() {
            Some(line) if (g.y - base).abs() <= 0.5 * g.size => line.push(g),
            _ => {
                base = g.y;
                lines.push(vec![g]);
            }
        }
    }
    let mut out = Block::new();
    for mut line in lines {
        line.sort_by_key(|g| g.seq);
        // Drawing order is kept unless it jumps back by more than a glyph or two: then the
        // line was drawn in several passes (one per font) and x gives the reading order.
        // Small backward steps come from imprecise glyph widths and must not reorder.
        let mut max_end = f64::NEG_INFINITY;
        let mut passes = false;
        for g in &line {
            if g.x < max_end - 2.5 * g.size {
                passes = true;
                break;
            }
            max_end = max_end.max(g.end);
        }
        if passes {
            line.sort_by(|a, b| a.x.total_cmp(&b.x));
        }
        let mut cells = Line::new();
        let mut text = String::new();
        let mut cell_x = f64::NAN;
        let mut last_end = f64::NEG_INFINITY;
        for g in line {
            let gap = g.x - last_end;
            // A wide gap after visible text ends the cell; blank glyphs (spaces drawn in
            // their own pass) neither start nor end one.
            if gap > CELL_GAP * g.size && !text.trim().is_empty() && !g.text.trim().is_empty() {
                push_cell(&mut cells, cell_x, &text);
                text.clear();
            }
            if text.trim().is_empty() && !g.text.trim().is_empty() {
                cell_x = g.x;
            }
            if gap > 0.15 * g.size && !text.is_empty() && !text.ends_with(' ') && !g.text.starts_with(' ') {
                text.push(' ');
            }
            text.push_str(&g.text);
            last_end = last_end.max(g.end);
        }
        push_cell(&mut cells, cell_x, &text);
        if !cells.is_empty() {
            out.push(cells);
        }
    }
    out
}

fn push_cell(cells: &mut Line, x: f64, text: &str) {
    let text = text.trim();
    if !text.is_empty() {
        cells.push(Cell { x, text: text.to_owned() });
    }
}

/// Typographic ligatures (U+FB00–FB06) spelled out, as a reader would type them.
fn unligature(text: &str) -> String {
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

    #[test]
    fn slightly_overlapping_glyphs_keep_their_drawing_order() {
        // Widths a little too large make each glyph start before the previous one ends.
        let glyphs = seq(vec![g(0.0, 100.0, "G"), g(4.0, 100.0, "e"), g(8.0, 100.0, "r"), g(7.0, 100.0, "m")]);
        assert_eq!(blocks_text(lay_out(glyphs)), vec!["Germ".to_string()]);
    }

    #[test]
    fn glyphs_drawn_in_two_passes_come_out_in_reading_order() {
        // One font's glyphs drawn first, then the other's, on the same baseline (±1);
        // then the wrapped second line of the paragraph.
        let glyphs = seq(vec![g(30.0, 101.0, "“"), g(0.0, 100.0, "ab"), g(35.0, 100.0, "cd"), g(0.0, 112.0, "next")]);
        assert_eq!(blocks_text(lay_out(glyphs)), vec!["ab “cd\nnext".to_string()]);
    }

    #[test]
    fn table_cells_stay_whole() {
        // Row: cell "1", a cell wrapped over two lines, then a cell back on the first line.
        let glyphs = seq(vec![g(0.0, 100.0, "1"), g(20.0, 100.0, "capital"), g(20.0, 112.0, "city?"), g(90.0, 100.0, "Seoul")]);
        assert_eq!(blocks_text(lay_out(glyphs)), vec!["1 capital\ncity?".to_string(), "Seoul".to_string()]);
    }

    fn cell(x: f64, text: &str) -> Cell {
        Cell { x, text: text.into() }
    }

    #[test]
    fn wide_gaps_cut_a_line_into_cells_and_word_spaces_do_not() {
        // "13", then a two-word cell, then a cell two font sizes further right.
        let glyphs = seq(vec![g(0.0, 100.0, "13"), g(40.0, 100.0, "ab"), g(53.0, 100.0, "cd"), g(100.0, 100.0, "4")]);
        assert_eq!(lay_out(glyphs), vec![vec![vec![cell(0.0, "13"), cell(40.0, "ab cd"), cell(100.0, "4")]]]);
    }

    /// The last row of a page: number, question (its second line is on the next page),
    /// three answers.
    fn page_foot() -> Vec<Block> {
        vec![
            vec![vec![cell(90.0, "Running text above the table.")]],
            vec![vec![cell(90.0, "13"), cell(176.5, "How many trigrams"), cell(262.9, "4"), cell(349.3, "3"), cell(435.7, "8")]],
        ]
    }

    #[test]
    fn a_cell_cut_by_a_page_break_is_joined_with_its_rest() {
        let mut prev = page_foot();
        let mut next = vec![
            vec![vec![cell(176.5, "are on the flag?")], vec![cell(90.0, "14"), cell(176.5, "Largest ocean?")]],
            vec![vec![cell(262.9, "Pacific")]],
        ];
        continue_cells(&mut prev, &mut next);
        assert_eq!(
            blocks_text(prev),
            vec!["Running text above the table.", "13 How many trigrams are on the flag? 4 3 8"]
        );
        // The next row and everything after it stay on their page.
        assert_eq!(blocks_text(next), vec!["14 Largest ocean?", "Pacific"]);
    }

    #[test]
    fn lines_that_do_not_continue_a_cell_stay_on_their_page() {
        let cases: [Vec<Block>; 4] = [
            // A running header, not in any column of the row.
            vec![vec![vec![cell(300.0, "Quiz — page 2")]]],
            // A new row: it starts in the first column.
            vec![vec![vec![cell(90.0, "14"), cell(176.5, "Largest ocean?")]]],
            // A line as wide as the row (another table, or the next row without a number).
            vec![vec![vec![cell(90.0, "a"), cell(176.5, "b"), cell(262.9, "c"), cell(349.3, "d"), cell(435.7, "e")]]],
            // Text at the page's left margin.
            vec![vec![vec![cell(90.0, "Chapter 2")]]],
        ];
        for next in cases {
            let mut prev = page_foot();
            let mut after = next.clone();
            continue_cells(&mut prev, &mut after);
            assert_eq!(prev, page_foot(), "{next:?} was moved back");
            assert_eq!(after, next);
        }
        // A page ending in running text (one cell) continues nothing.
        let mut prev = vec![vec![vec![cell(90.0, "The end of a paragraph")]]];
        let mut next = vec![vec![vec![cell(90.0, "continues here")]]];
        continue_cells(&mut prev, &mut next);
        assert_eq!(blocks_text(next), vec!["continues here"]);
    }
    fn corpus(name: &str) -> Vec<u8> {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata/docs").join(name);
        std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    fn extract_with(data: &[u8], limits: crate::limits::Limits) -> Result<Document> {
        let abort = AtomicBool::new(false);
        let mut ctx = Ctx::new(&limits, None, Some(&abort));
        extract(data, &mut ctx)
    }

    #[test]
    fn the_reader_thread_is_reused_and_replaced_after_a_time_out() {
        std::thread::spawn(|| {
            let pdf = corpus("base/plain_en.pdf");
            let first = extract_with(&pdf, Default::default()).expect("reads");
            let second = extract_with(&pdf, Default::default()).expect("reads again");
            assert_eq!(first.text(), second.text());
            assert!(!first.text().trim().is_empty());
            assert_eq!(READERS_STARTED.with(|n| n.get()), 1, "the second PDF reuses the reader");
            // A time-out abandons the reader; the next PDF gets a new one and reads whole.
            let no_time = crate::limits::Limits { max_time: Duration::ZERO, ..Default::default() };
            let err = extract_with(&pdf, no_time).expect_err("no time to read");
            assert!(matches!(err, Error::Limit(LimitKind::Time { .. })), "{err}");
            let third = extract_with(&pdf, Default::default()).expect("reads after the time-out");
            assert_eq!(first.text(), third.text());
            assert_eq!(READERS_STARTED.with(|n| n.get()), 2, "the abandoned reader is not reused");
        })
        .join()
        .expect("test thread");
    }
}
