//! Excel 97–2003 workbooks (`.xls`, BIFF8).
//!
//! The `Workbook` stream is a sequence of records (u16 type, u16 size, body). The
//! globals substream holds the sheet names (`BOUNDSHEET`) and the shared string table
//! (`SST`, continued in `CONTINUE` records, where a string cut by a record boundary
//! resumes with a fresh flags byte). Each worksheet substream (`BOF` … `EOF`) holds the
//! cells: `LABELSST`, `LABEL`, `NUMBER`, `RK`, `MULRK`, `BOOLERR` and `FORMULA` (whose
//! cached string follows in a `STRING` record). Every sheet becomes one table; a hidden
//! sheet (`BOUNDSHEET` state) is marked hidden. Numbers are shown as Excel shows them,
//! through the cell's format (`XF` → `FORMAT`, or a built-in id) applied by
//! [`crate::numfmt`], exactly as the xlsx reader does.

use super::Ole;
use super::bytes::{Reader, push_utf16le, u16_at, u32_at};
use crate::error::{Error, Result};
use crate::limits::Ctx;
use crate::model::{Document, Format, Origin, Part};

const BOF: u16 = 0x0809;
const EOF: u16 = 0x000A;
const FILEPASS: u16 = 0x002F;
const BOUNDSHEET: u16 = 0x0085;
const SST: u16 = 0x00FC;
const CONTINUE: u16 = 0x003C;
const LABELSST: u16 = 0x00FD;
const LABEL: u16 = 0x0204;
const NUMBER: u16 = 0x0203;
const RK: u16 = 0x027E;
const MULRK: u16 = 0x00BD;
const BOOLERR: u16 = 0x0205;
const FORMULA: u16 = 0x0006;
const STRING: u16 = 0x0207;
const DATEMODE: u16 = 0x0022;
const FORMAT: u16 = 0x041E;
const XF: u16 = 0x00E0;

const CODEPAGE: u16 = 0x0042;
const RSTRING: u16 = 0x00D6;

const BIFF8: u16 = 0x0600;
const BIFF5: u16 = 0x0500;
const DT_GLOBALS: u16 = 0x0005;
const DT_WORKSHEET: u16 = 0x0010;

fn malformed(reason: impl Into<String>) -> Error {
    Error::malformed(Format::Xls, reason)
}

pub(super) fn extract(ole: &mut Ole, stream: &str, ctx: &mut Ctx) -> Result<Document> {
    let data = ole.read(stream, ctx)?;
    read_workbook(&data, stream == "Workbook", ctx)
}

/// One BIFF record: type, offset of its header in the stream, body.
struct Rec<'a> {
    kind: u16,
    offset: usize,
    body: &'a [u8],
}

/// The records of a workbook stream, read one at a time. A record cut short at the very
/// end ends the stream (Excel pads streams; damage past the last EOF does not matter).
#[derive(Clone)]
struct Records<'a> {
    r: Reader<'a>,
}

impl<'a> Records<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self { r: Reader::new(data) }
    }

    fn next(&mut self) -> Option<Rec<'a>> {
        let offset = self.r.pos();
        let kind = self.r.u16()?;
        let size = self.r.u16()?;
        let body = self.r.bytes(usize::from(size))?;
        Some(Rec { kind, offset, body })
    }

    /// `first` plus the bodies of the `CONTINUE` records that follow, which are consumed.
    fn continued(&mut self, first: &'a [u8]) -> Segments<'a> {
        let mut more = Vec::new();
        loop {
            let before = self.clone();
            match self.next() {
                Some(rec) if rec.kind == CONTINUE => more.push(rec.body),
                _ => {
                    *self = before;
                    return Segments::new(first, more);
                }
            }
        }
    }
}

/// The shared string table, each string stored once: `text` holds them back to back and
/// `spans` gives each one's byte range. Cells refer to a span; the text is copied only
/// into the finished table.
#[derive(Default)]
struct Sst {
    text: String,
    spans: Vec<(usize, usize)>,
}

/// A cell: its position and the byte range of its text, in the shared strings or in the
/// sheet's own text.
struct Cell {
    row: u16,
    col: u16,
    shared: bool,
    text: (usize, usize),
}

/// A sheet being read: its name, its non-empty cells in file order, and the text of the
/// cells that are not shared strings (labels, numbers, booleans), back to back.
struct Sheet {
    name: String,
    hidden: bool,
    cells: Vec<Cell>,
    text: String,
}

impl Sheet {
    fn new(name: String) -> Self {
        Self { name, hidden: false, cells: Vec::new(), text: String::new() }
    }

    /// Appends a cell's text with `write`; a failed or empty write leaves no cell.
    fn write(&mut self, row: u16, col: u16, write: impl FnOnce(&mut String) -> Option<()>) {
        let start = self.text.len();
        if write(&mut self.text).is_some() && self.text.len() > start {
            self.cells.push(Cell { row, col, shared: false, text: (start, self.text.len()) });
        } else {
            self.text.truncate(start);
        }
    }

    fn put(&mut self, row: u16, col: u16, value: &str) {
        self.write(row, col, |out| {
            out.push_str(value);
            Some(())
        });
    }

    fn number(&mut self, row: u16, col: u16, styles: &Styles, xf: u16, v: f64) {
        self.write(row, col, |out| {
            styles.push_value(xf, v, out);
            Some(())
        });
    }

    fn shared(&mut self, row: u16, col: u16, span: (usize, usize)) {
        if span.1 > span.0 {
            self.cells.push(Cell { row, col, shared: true, text: span });
        }
    }

    /// Rows of the table: empty rows are dropped; columns are aligned from the leftmost
    /// used column when that stays small, otherwise each row keeps only its own cells.
    /// A cell written twice keeps its last value.
    fn into_rows(mut self, sst: &str) -> Vec<Vec<String>> {
        // Writers store cells row by row, so this rarely sorts. The sort is stable:
        // among duplicates the last written stays last.
        if !self.cells.is_sorted_by_key(|c| (c.row, c.col)) {
            self.cells.sort_by_key(|c| (c.row, c.col));
        }
        let cells = &self.cells;
        // Whether the next cell overwrites cell `k`.
        let overwritten = |k: usize| {
            let (a, b) = (cells.get(k), cells.get(k + 1));
            a.zip(b).is_some_and(|(a, b)| (a.row, a.col) == (b.row, b.col))
        };
        let (mut min, mut max, mut kept, mut row_count) = (u16::MAX, 0u16, 0usize, 0usize);
        for (k, c) in cells.iter().enumerate() {
            min = min.min(c.col);
            max = max.max(c.col);
            kept += usize::from(!overwritten(k));
            row_count += usize::from(k == 0 || cells.get(k - 1).is_some_and(|p| p.row != c.row));
        }
        if cells.is_empty() {
            return Vec::new();
        }
        let width = usize::from(max - min) + 1;
        let aligned = row_count.saturating_mul(width) <= kept.saturating_mul(4).saturating_add(4096);
        let text_of = |c: &Cell| {
            let buf = if c.shared { sst } else { self.text.as_str() };
            buf.get(c.text.0..c.text.1).unwrap_or_default()
        };
        let mut rows: Vec<Vec<String>> = Vec::with_capacity(row_count);
        let mut at = 0usize;
        for row_cells in cells.chunk_by(|a, b| a.row == b.row) {
            let mut out = Vec::with_capacity(if aligned { width } else { row_cells.len() });
            for (k, c) in row_cells.iter().enumerate() {
                if overwritten(at + k) {
                    continue;
                }
                if aligned {
                    out.resize(usize::from(c.col - min), String::new());
                }
                out.push(String::from(text_of(c)));
            }
            if aligned {
                out.resize(width, String::new());
            }
            at += row_cells.len();
            rows.push(out);
        }
        rows
    }
}

/// Reads a workbook stream; `biff8` is the guess from the stream name, used when the
/// globals BOF gives no usable version.
fn read_workbook(data: &[u8], biff8: bool, ctx: &mut Ctx) -> Result<Document> {
    let mut records = Records::new(data);
    if records.clone().next().is_none_or(|r| r.kind != BOF) {
        return Err(malformed("the Workbook stream does not start with a BOF record"));
    }
    let mut doc = Document::new(Format::Xls);
    // (stream offset, name, hidden) of every sheet.
    let mut sheet_names: Vec<(u32, String, bool)> = Vec::new();
    let mut sst = Sst::default();
    // Substream kinds of the open BOFs (embedded charts nest inside worksheets).
    let mut stack: Vec<u16> = Vec::new();
    let mut sheet: Option<Sheet> = None;
    let mut worksheets_seen = 0usize;
    // The cell waiting for the STRING record after its FORMULA.
    let mut pending_string: Option<(u16, u16)> = None;
    let mut styles = Styles::default();
    let mut text = Text { biff8, codepage: encoding_rs::WINDOWS_1252 };
    let finish = |doc: &mut Document, mut done: Sheet, sst: &Sst| {
        let origin = Origin { part: Part::Sheet(std::mem::take(&mut done.name)), hidden: done.hidden, ..Origin::default() };
        doc.push_table(done.into_rows(&sst.text), origin);
    };

    let mut i = 0usize;
    while let Some(rec) = records.next() {
        i += 1;
        if i.is_multiple_of(4096) {
            ctx.check()?;
        }
        let b = rec.body;
        match rec.kind {
            BOF => {
                let version = u16_at(b, 0).unwrap_or(0);
                let dt = u16_at(b, 2).unwrap_or(0);
                if stack.is_empty() && dt == DT_GLOBALS {
                    // Writers differ in the minor bits: 0x05xx is BIFF5/7, 0x06xx BIFF8.
                    text.biff8 = match version {
                        v if v >= BIFF8 => true,
                        v if v >= BIFF5 => false,
                        _ => biff8,
                    };
                }
                if dt == DT_WORKSHEET && stack.iter().all(|&k| k == DT_GLOBALS) {
                    let (name, hidden) = sheet_names
                        .iter()
                        .find(|(pos, _, _)| *pos as usize == rec.offset)
                        .or_else(|| sheet_names.get(worksheets_seen))
                        .map(|(_, n, h)| (n.clone(), *h))
                        .unwrap_or_else(|| (format!("Sheet{}", worksheets_seen + 1), false));
                    worksheets_seen += 1;
                    let mut new = Sheet::new(name);
                    new.hidden = hidden;
                    sheet = Some(new);
                    stack.clear();
                }
                stack.push(dt);
            }
            EOF => {
                stack.pop();
                if stack.is_empty()
                    && let Some(done) = sheet.take()
                {
                    finish(&mut doc, done, &sst);
                }
            }
            FILEPASS => {
                return Err(Error::Unsupported(
                    "password-protected xls (RC4 or XOR encryption) — remove the password in Excel, or save it as .xlsx with a password".into(),
                ));
            }
            BOUNDSHEET => {
                let pos = u32_at(b, 0).ok_or_else(|| malformed("BOUNDSHEET record is cut short"))?;
                let name = text.short(b.get(6..).unwrap_or(&[])).ok_or_else(|| malformed("a sheet name is cut short"))?;
                // hsState: 0 visible, 1 hidden, 2 very hidden.
                let hidden = b.get(4).is_some_and(|st| st & 3 != 0);
                sheet_names.push((pos, name, hidden));
            }
            DATEMODE => styles.date1904 = u16_at(b, 0).is_some_and(|f| f != 0),
            CODEPAGE => text.codepage = codepage(u16_at(b, 0).unwrap_or(1252)),
            FORMAT => {
                let code = if text.biff8 {
                    owned(|out| read_long_string(&mut Segments::single(b.get(2..).unwrap_or(&[])), out))
                } else {
                    text.short(b.get(2..).unwrap_or(&[]))
                };
                if let (Some(id), Some(code)) = (u16_at(b, 0), code) {
                    styles.formats.push((id, crate::numfmt::NumFmt::parse(&code)));
                }
            }
            XF => styles.xf_formats.push(u16_at(b, 2).unwrap_or(0)),
            SST => {
                sst = read_sst(records.continued(b), ctx)?;
            }
            _ => {}
        }

        let in_sheet = stack.last() == Some(&DT_WORKSHEET);
        let Some(sheet) = sheet.as_mut().filter(|_| in_sheet) else { continue };
        if rec.kind == STRING {
            if let Some((r, c)) = pending_string.take() {
                let mut segments = records.continued(b);
                sheet.write(r, c, |out| text.long(&mut segments, out));
            }
            continue;
        }
        let (Some(row), Some(col)) = (u16_at(b, 0), u16_at(b, 2)) else { continue };
        let xf = u16_at(b, 4).unwrap_or(0);
        match rec.kind {
            LABELSST => {
                if let Some(&(start, end)) = u32_at(b, 6).and_then(|k| sst.spans.get(k as usize)) {
                    // Many cells may share one long string: count the copies.
                    ctx.charge((end - start) as u64)?;
                    sheet.shared(row, col, (start, end));
                }
            }
            LABEL | RSTRING => {
                let mut segments = records.continued(b.get(6..).unwrap_or(&[]));
                sheet.write(row, col, |out| text.long(&mut segments, out));
            }
            NUMBER => {
                if let Some(v) = b.get(6..14).and_then(|x| x.try_into().ok()) {
                    sheet.number(row, col, &styles, xf, f64::from_le_bytes(v));
                }
            }
            RK => {
                if let Some(rk) = u32_at(b, 6) {
                    sheet.number(row, col, &styles, xf, rk_value(rk));
                }
            }
            MULRK => {
                // row, first column, (xf u16, rk u32)*, last column.
                let cells = b.get(4..b.len().saturating_sub(2)).unwrap_or(&[]);
                for (k, chunk) in cells.chunks_exact(6).enumerate() {
                    let Some(c) = u16::try_from(k).ok().and_then(|k| col.checked_add(k)) else { break };
                    let xf = u16::from_le_bytes([chunk[0], chunk[1]]);
                    let rk = u32::from_le_bytes([chunk[2], chunk[3], chunk[4], chunk[5]]);
                    sheet.number(row, c, &styles, xf, rk_value(rk));
                }
            }
            BOOLERR => {
                if let (Some(v), Some(0)) = (b.get(6), b.get(7)) {
                    sheet.put(row, col, if *v != 0 { "TRUE" } else { "FALSE" });
                }
            }
            FORMULA => {
                if let Some(v) = b.get(6..14) {
                    if v[6] == 0xFF && v[7] == 0xFF {
                        match v[0] {
                            0 => pending_string = Some((row, col)),
                            1 => sheet.put(row, col, if v[2] != 0 { "TRUE" } else { "FALSE" }),
                            _ => {}
                        }
                    } else if let Ok(bytes) = v.try_into() {
                        sheet.number(row, col, &styles, xf, f64::from_le_bytes(bytes));
                    }
                }
            }
            _ => {}
        }
    }
    // A truncated stream may end inside a sheet: keep what was read.
    if let Some(done) = sheet.take() {
        finish(&mut doc, done, &sst);
    }
    Ok(doc)
}

/// How the workbook stores text: BIFF8 strings (flags byte, Latin-1 or UTF-16) or
/// BIFF5 strings (bytes in the workbook's code page).
struct Text {
    biff8: bool,
    codepage: &'static encoding_rs::Encoding,
}

impl Text {
    /// A string with an 8-bit count (sheet names, BIFF5 formats).
    fn short(&self, b: &[u8]) -> Option<String> {
        let cch = usize::from(*b.first()?);
        if self.biff8 {
            owned(|out| read_string(&mut Segments::single(b.get(1..)?), cch, out))
        } else {
            Some(self.codepage.decode_without_bom_handling(b.get(1..1 + cch)?).0.into_owned())
        }
    }

    /// Appends a string with a 16-bit count (cells, cached formula results).
    fn long(&self, segments: &mut Segments, out: &mut String) -> Option<()> {
        if self.biff8 {
            return read_long_string(segments, out);
        }
        let b = segments.first;
        let cch = usize::from(u16_at(b, 0)?);
        // A BIFF5 string never needs CONTINUE records for a cell (255 characters max).
        out.push_str(&self.codepage.decode_without_bom_handling(b.get(2..2 + cch)?).0);
        Some(())
    }
}

/// The string `read` appends to an empty one, if it succeeds.
fn owned(read: impl FnOnce(&mut String) -> Option<()>) -> Option<String> {
    let mut out = String::new();
    read(&mut out)?;
    Some(out)
}

/// The encoding of a Windows code page number (CODEPAGE record); Windows-1252 for
/// unknown ones.
fn codepage(cp: u16) -> &'static encoding_rs::Encoding {
    use encoding_rs as e;
    match cp {
        874 => e::WINDOWS_874,
        932 => e::SHIFT_JIS,
        936 => e::GBK,
        949 | 1361 => e::EUC_KR,
        950 => e::BIG5,
        1250 => e::WINDOWS_1250,
        1251 => e::WINDOWS_1251,
        1253 => e::WINDOWS_1253,
        1254 => e::WINDOWS_1254,
        1255 => e::WINDOWS_1255,
        1256 => e::WINDOWS_1256,
        1257 => e::WINDOWS_1257,
        1258 => e::WINDOWS_1258,
        10000 | 32768 => e::MACINTOSH,
        _ => e::WINDOWS_1252,
    }
}

/// Reads a record body split over `CONTINUE` records: the record's own body, then the
/// continuations (none, usually, so nothing is allocated).
struct Segments<'a> {
    first: &'a [u8],
    more: Vec<&'a [u8]>,
    index: usize,
    pos: usize,
}

impl<'a> Segments<'a> {
    fn new(first: &'a [u8], more: Vec<&'a [u8]>) -> Self {
        Self { first, more, index: 0, pos: 0 }
    }

    fn single(first: &'a [u8]) -> Self {
        Self::new(first, Vec::new())
    }

    fn segment(&self, index: usize) -> Option<&'a [u8]> {
        match index {
            0 => Some(self.first),
            k => self.more.get(k - 1).copied(),
        }
    }

    /// Total bytes in all segments.
    fn len(&self) -> usize {
        self.first.len() + self.more.iter().map(|s| s.len()).sum::<usize>()
    }

    /// The unread part of the current segment, moving to the next one when it is used up.
    fn current(&mut self) -> Option<&'a [u8]> {
        loop {
            let seg = self.segment(self.index)?;
            if self.pos < seg.len() {
                return seg.get(self.pos..);
            }
            self.index += 1;
            self.pos = 0;
        }
    }
    fn u8(&mut self) -> Option<u8> {
        let b = *self.current()?.first()?;
        self.pos += 1;
        Some(b)
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes([self.u8()?, self.u8()?]))
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes([self.u8()?, self.u8()?, self.u8()?, self.u8()?]))
    }

    fn skip(&mut self, mut n: usize) -> Option<()> {
        while n > 0 {
            let step = self.current()?.len().min(n);
            self.pos += step;
            n -= step;
        }
        Some(())
    }

    /// Whether the current segment is used up (a string's characters continuing from
    /// here start with a new flags byte).
    fn at_boundary(&self) -> bool {
        self.segment(self.index).is_some_and(|s| self.pos >= s.len())
    }
}

/// Appends `cch` characters after a flags byte (bit 0: two bytes per character); where
/// the characters cross into the next segment, that segment starts with a new flags byte.
fn read_chars(s: &mut Segments, mut cch: usize, mut wide: bool, out: &mut String) -> Option<()> {
    // A surrogate pair may be split by a record boundary: decode all units at the end.
    let mut units: Vec<u16> = Vec::new();
    while cch > 0 {
        if s.at_boundary() {
            s.index += 1;
            s.pos = 0;
            wide = s.u8()? & 1 != 0;
        }
        let avail = s.current()?;
        let width = if wide { 2 } else { 1 };
        let n = (avail.len() / width).min(cch);
        if n == 0 {
            return None;
        }
        let chunk = avail.get(..n * width)?;
        let whole = units.is_empty() && n == cch;
        if wide && whole {
            // The common cases: the whole string in one piece, decoded straight into `out`.
            push_utf16le(chunk, out);
        } else if whole {
            push_latin1(chunk, out);
        } else if wide {
            units.extend(chunk.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])));
        } else {
            units.extend(chunk.iter().map(|&b| u16::from(b)));
        }
        s.pos += n * width;
        cch -= n;
    }
    if !units.is_empty() {
        out.extend(char::decode_utf16(units).map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER)));
    }
    Some(())
}

/// Appends 8-bit characters, which are Latin-1 (ASCII, the usual case, is copied as is).
fn push_latin1(bytes: &[u8], out: &mut String) {
    match std::str::from_utf8(bytes) {
        Ok(ascii) if bytes.is_ascii() => out.push_str(ascii),
        _ => out.extend(bytes.iter().map(|&b| char::from(b))),
    }
}

/// Appends a short string (count already read): flags byte, characters.
fn read_string(s: &mut Segments, cch: usize, out: &mut String) -> Option<()> {
    let flags = s.u8()?;
    read_chars(s, cch, flags & 1 != 0, out)
}

/// Appends an `XLUnicodeString` (u16 count, flags, characters).
fn read_long_string(s: &mut Segments, out: &mut String) -> Option<()> {
    let cch = s.u16()?;
    read_string(s, usize::from(cch), out)
}

/// Appends an `XLUnicodeRichExtendedString` from the SST: rich-text runs and phonetic
/// data are skipped.
fn read_rich_string(s: &mut Segments, out: &mut String) -> Option<()> {
    let cch = usize::from(s.u16()?);
    let flags = s.u8()?;
    let runs = if flags & 0x08 != 0 { usize::from(s.u16()?) } else { 0 };
    let ext = if flags & 0x04 != 0 { s.u32()? as usize } else { 0 };
    read_chars(s, cch, flags & 1 != 0, out)?;
    s.skip(runs * 4)?;
    s.skip(ext)
}

fn read_sst(mut s: Segments, ctx: &Ctx) -> Result<Sst> {
    let total = s.len();
    let _total_refs = s.u32();
    let unique = s.u32().ok_or_else(|| malformed("the shared string table is cut short"))? as usize;
    // Every string takes at least 3 bytes: never trust the count for the allocation.
    // The text takes about as many bytes as the table (ASCII 1 → 1, Hangul 2 → 3).
    let mut sst = Sst { text: String::with_capacity(total), spans: Vec::with_capacity(unique.min(total / 3)) };
    for k in 0..unique {
        if k.is_multiple_of(4096) {
            ctx.check()?;
        }
        let start = sst.text.len();
        if read_rich_string(&mut s, &mut sst.text).is_none() {
            // Writers get the count wrong, and damaged files end early: keep what was
            // read, cells pointing past it stay empty.
            sst.text.truncate(start);
            tracing::debug!(read = k, declared = unique, "the shared string table ends early");
            break;
        }
        sst.spans.push((start, sst.text.len()));
    }
    Ok(sst)
}

/// Decodes an RK number: bit 0 divides by 100, bit 1 marks a 30-bit integer, otherwise
/// the upper 30 bits are the top of an f64.
fn rk_value(rk: u32) -> f64 {
    let v = if rk & 2 != 0 {
        f64::from((rk as i32) >> 2)
    } else {
        f64::from_bits(u64::from(rk & 0xFFFF_FFFC) << 32)
    };
    if rk & 1 != 0 { v / 100.0 } else { v }
}

/// The number formats of a workbook.
#[derive(Default)]
struct Styles {
    /// Custom formats: (format id, parsed code).
    formats: Vec<(u16, crate::numfmt::NumFmt)>,
    /// Format id of each XF record, by XF index.
    xf_formats: Vec<u16>,
    /// Dates count from 1904 instead of 1900.
    date1904: bool,
}

impl Styles {
    /// Appends the text of a number shown with cell format `xf`.
    fn push_value(&self, xf: u16, v: f64, out: &mut String) {
        let id = self.xf_formats.get(usize::from(xf)).copied().unwrap_or(0);
        let fmt = match self.formats.iter().rev().find(|(f, _)| *f == id) {
            Some((_, fmt)) => Some(fmt),
            None => crate::numfmt::NumFmt::builtin(u32::from(id)),
        };
        match fmt {
            Some(fmt) => out.push_str(&fmt.show(v, self.date1904)),
            None => out.push_str(&crate::numfmt::general(v)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cfb::test_support::{cfb_file, corpus, edited, missing_units, run};
    use crate::model::Block;

    #[test]
    fn base_files_have_every_unit() {
        for rel in ["base/plain_en.xls", "base/quiz_ko.xls"] {
            let doc = run(&corpus(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
            assert_eq!(doc.format, Format::Xls);
            let (n, missing) = missing_units(rel, &doc);
            assert!(n > 0);
            assert!(missing.is_empty(), "{rel}: missing {missing:?}\n{}", doc.text());
        }
    }

    #[test]
    fn quiz_sheet_is_one_table_with_aligned_columns() {
        let doc = run(&corpus("base/quiz_ko.xls")).unwrap();
        let Some(Block::Table { rows, origin }) = doc.blocks.first() else { panic!("{:?}", doc.blocks) };
        assert!(matches!(&origin.part, Part::Sheet(name) if !name.is_empty()));
        let header = rows.iter().position(|r| r.first().is_some_and(|c| c == "번호")).expect("header row");
        assert_eq!(rows[header], ["번호", "문제", "정답", "오답1", "오답2"]);
        assert_eq!(rows[header + 1], ["1", "대한민국의 수도는?", "서울", "부산", "인천"]);
    }

    /// Builds a record.
    fn rec(kind: u16, body: &[u8]) -> Vec<u8> {
        let mut out = kind.to_le_bytes().to_vec();
        out.extend_from_slice(&(body.len() as u16).to_le_bytes());
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn sst_strings_continue_across_records_with_a_new_flags_byte() {
        // String 0: "AB" + (continue, wide) "가"; string 1: rich "xyz" with 1 run whose
        // run data is split by a CONTINUE (no flags byte there).
        let mut sst = vec![];
        sst.extend_from_slice(&2u32.to_le_bytes());
        sst.extend_from_slice(&2u32.to_le_bytes());
        sst.extend_from_slice(&[3, 0, 0, b'A', b'B']);
        let mut cont1 = vec![1];
        cont1.extend_from_slice(&0xAC00u16.to_le_bytes());
        cont1.extend_from_slice(&[3, 0, 0x08, 1, 0, b'x', b'y', b'z', 0, 0]);
        let cont2 = [0u8, 0];
        let mut stream = rec(BOF, &[0x00, 0x06, 0x05, 0x00]);
        stream.extend(rec(SST, &sst));
        stream.extend(rec(CONTINUE, &cont1));
        stream.extend(rec(CONTINUE, &cont2));
        stream.extend(rec(EOF, &[]));
        stream.extend(rec(BOF, &[0x00, 0x06, 0x10, 0x00]));
        for (row, k) in [(0u16, 0u32), (1, 1)] {
            let mut b = row.to_le_bytes().to_vec();
            b.extend_from_slice(&[0, 0, 0, 0]);
            b.extend_from_slice(&k.to_le_bytes());
            stream.extend(rec(LABELSST, &b));
        }
        let mut rk = vec![2, 0, 1, 0, 0, 0];
        rk.extend_from_slice(&((-7i32 << 2) as u32 | 2).to_le_bytes());
        stream.extend(rec(RK, &rk));
        stream.extend(rec(EOF, &[]));
        let limits = crate::Limits::default();
        let mut ctx = Ctx::new(&limits, None, None);
        let doc = read_workbook(&stream, true, &mut ctx).unwrap();
        assert_eq!(doc.text(), "AB가\t\nxyz\t\n\t-7\n");
    }

    /// What `push` appends to an empty string.
    fn text(push: impl FnOnce(&mut String)) -> String {
        let mut out = String::new();
        push(&mut out);
        out
    }

    fn number(v: f64) -> String {
        text(|o| Styles::default().push_value(0, v, o))
    }

    #[test]
    fn rk_and_numbers() {
        assert_eq!(number(rk_value((12345 << 2) | 2 | 1)), "123.45");
        assert_eq!(number(rk_value(((1.5f64.to_bits() >> 32) as u32) & !3)), "1.5");
        assert_eq!(number(3.0), "3");
        assert_eq!(number(0.1), "0.1");
        assert_eq!(number(0.1 + 0.2), "0.3");
    }

    /// The same formats as the xlsx reader: built-in ids through XF records, custom
    /// FORMAT records, the 1904 date system.
    #[test]
    fn numbers_by_number_format() {
        let styles = Styles {
            formats: vec![
                (164, crate::numfmt::NumFmt::parse("yyyy\"년\" m\"월\" d\"일\"")),
                (165, crate::numfmt::NumFmt::parse("0.0%")),
            ],
            xf_formats: vec![0, 14, 164, 9, 4, 165, 22],
            date1904: false,
        };
        let show = |xf: u16, v: f64| text(|o| styles.push_value(xf, v, o));
        assert_eq!(show(0, 45_352.0), "45352");
        assert_eq!(show(1, 45_352.0), "2024-03-01");
        assert_eq!(show(2, 45_352.0), "2024년 3월 1일");
        assert_eq!(show(3, 0.85), "85%");
        assert_eq!(show(4, 1234.5), "1,234.50");
        assert_eq!(show(5, 0.8567), "85.7%");
        assert_eq!(show(6, 45_352.75), "2024-03-01 18:00");
        // An XF index past the table is General.
        assert_eq!(show(99, 2.5), "2.5");
        let s1904 = Styles { date1904: true, ..styles };
        assert_eq!(text(|o| s1904.push_value(1, 0.0, o)), "1904-01-01");
    }

    #[test]
    fn filepass_is_unsupported() {
        let file = edited("base/plain_en.xls", "Workbook", |w| {
            // After the first BOF record (4-byte header + body).
            let bof_len = usize::from(u16::from_le_bytes([w[2], w[3]]));
            let at = 4 + bof_len;
            w.splice(at..at, rec(FILEPASS, &[1, 0, 1, 0]));
        });
        let err = run(&file).unwrap_err();
        assert!(matches!(&err, Error::Unsupported(m) if m.contains("password-protected xls")), "{err}");
    }

    /// An Excel 95 (BIFF5) workbook: "Book" stream, code-page text (here Korean, 949).
    #[test]
    fn biff5_workbook_with_a_code_page() {
        let mut stream = rec(BOF, &[0x00, 0x05, 0x05, 0x00]);
        stream.extend(rec(CODEPAGE, &949u16.to_le_bytes()));
        let sheet_at = 4 + 4 + 4 + 2 + 4 + 11 + 4;
        let mut sheet = (sheet_at as u32).to_le_bytes().to_vec();
        sheet.extend_from_slice(&[0, 0, 4, 0xC7, 0xA5, 0xC1, 0xD8]); // "표준"
        stream.extend(rec(BOUNDSHEET, &sheet));
        stream.extend(rec(EOF, &[]));
        assert_eq!(stream.len(), sheet_at);
        stream.extend(rec(BOF, &[0x00, 0x05, 0x10, 0x00]));
        let mut label = vec![0, 0, 0, 0, 0, 0, 4, 0];
        label.extend_from_slice(&[0xB0, 0xA1, 0xB3, 0xAA]); // "가나"
        stream.extend(rec(LABEL, &label));
        stream.extend(rec(EOF, &[]));
        let doc = run(&cfb_file(&[("Book", stream.clone())])).unwrap();
        assert_eq!(doc.text(), "가나\n");
        assert_eq!(doc.blocks[0].origin().part, Part::Sheet("표준".into()));
        assert!(!doc.blocks[0].origin().hidden);
        // The same sheet hidden (BOUNDSHEET state 1): read, and marked hidden.
        let at = 4 + 4 + 4 + 2 + 4 + 4;
        assert_eq!(stream[at], 0, "hsState byte");
        stream[at] = 1;
        let doc = run(&cfb_file(&[("Book", stream)])).unwrap();
        assert_eq!(doc.text(), "가나\n");
        assert!(doc.blocks[0].origin().hidden);
    }

    /// Cells out of order, a cell written twice (the last value wins), gaps between
    /// columns; and a sheet too sparse to align, whose rows keep only their own cells.
    #[test]
    fn rows_are_sorted_deduplicated_and_aligned_when_dense() {
        let mut sheet = Sheet::new("S".into());
        sheet.put(1, 3, "d");
        sheet.put(0, 1, "a");
        sheet.put(1, 1, "old");
        sheet.put(1, 1, "c");
        sheet.put(0, 2, "b");
        sheet.shared(2, 2, (1, 3));
        sheet.put(3, 1, "");
        assert_eq!(sheet.into_rows("xyz!"), [vec!["a", "b", ""], vec!["c", "", "d"], vec!["", "yz", ""]]);

        let mut sparse = Sheet::new("S".into());
        sparse.put(0, 0, "left");
        sparse.put(9, 60_000, "far");
        sparse.put(9, 2, "near");
        assert_eq!(sparse.into_rows(""), [vec!["left"], vec!["near", "far"]]);
    }

    /// One long shared string referenced by many cells: the copies count against the
    /// per-file total, so a small file cannot expand without bound.
    #[test]
    fn shared_string_copies_are_charged() {
        let mut sst = 1u32.to_le_bytes().to_vec();
        sst.extend_from_slice(&1u32.to_le_bytes());
        sst.extend_from_slice(&5000u16.to_le_bytes());
        sst.push(0);
        sst.extend(std::iter::repeat_n(b'x', 5000));
        let mut stream = rec(BOF, &[0x00, 0x06, 0x05, 0x00]);
        stream.extend(rec(SST, &sst));
        stream.extend(rec(EOF, &[]));
        stream.extend(rec(BOF, &[0x00, 0x06, 0x10, 0x00]));
        for row in 0..100u16 {
            let mut b = row.to_le_bytes().to_vec();
            b.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
            stream.extend(rec(LABELSST, &b));
        }
        stream.extend(rec(EOF, &[]));
        let limits = crate::Limits { max_total_bytes: 100_000, ..crate::Limits::default() };
        let err = read_workbook(&stream, true, &mut Ctx::new(&limits, None, None)).unwrap_err();
        assert!(matches!(err, Error::Limit(crate::LimitKind::TotalBytes { max: 100_000 })), "{err}");
        let limits = crate::Limits::default();
        let doc = read_workbook(&stream, true, &mut Ctx::new(&limits, None, None)).unwrap();
        assert_eq!(doc.text().len(), 100 * 5001);
    }
}
