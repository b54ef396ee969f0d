//! Word 97–2003 documents (`.doc`).
//!
//! The `WordDocument` stream starts with the FIB: flags (encrypted, which table stream),
//! the character counts of each story and the offsets of structures in the table stream
//! (`0Table` or `1Table`). The text is assembled from the piece table in the CLX: each
//! piece maps a character range to bytes of `WordDocument`, either 8-bit Windows-1252
//! ("compressed") or UTF-16LE. Paragraphs end with `\r`; a table cell ends with `\x07`,
//! and a row with one more `\x07` whose paragraph properties (from the PAPX pages of
//! `PlcBtePapx`) mark it as a row end. Field codes (`\x13` code `\x14` result `\x15`)
//! keep only their result.

use super::Ole;
use super::bytes::{Reader, cp1252, u16_at, u32_at, utf16le};
use crate::error::{Error, Result};
use crate::limits::Ctx;
use crate::model::{Document, Format, Origin};

const WORD_IDENT: u16 = 0xA5EC;
/// wIdent of Word 6.0/95 documents.
const WORD6_IDENT: u16 = 0xA5DC;
/// The highest nFib of Word 6/95, which keep text differently from Word 97 and later.
const NFIB_WORD95_MAX: u16 = 105;
const F_ENCRYPTED: u16 = 0x0100;
const F_WHICH_TBL_STM: u16 = 0x0200;
const F_OBFUSCATED: u16 = 0x8000;

/// Index of `fcClx` and `fcPlcfBtePapx` in FibRgFcLcb (pairs of u32).
const FC_CLX: usize = 33;
const FC_PLCF_BTE_PAPX: usize = 13;

const SPRM_P_FIN_TABLE: u16 = 0x2416;
const SPRM_P_FTTP: u16 = 0x2417;
const SPRM_P_FINNER_TTP: u16 = 0x244C;

fn malformed(reason: impl Into<String>) -> Error {
    Error::malformed(Format::Doc, reason)
}

pub(super) fn extract(ole: &mut Ole, ctx: &mut Ctx) -> Result<Document> {
    let word = ole.read("WordDocument", ctx)?;
    let fib = Fib::parse(&word)?;
    let table_name = if fib.flags & F_WHICH_TBL_STM != 0 { "1Table" } else { "0Table" };
    let table = ole.read(table_name, ctx)?;
    let clx = fib.slice(&table, FC_CLX, table_name)?;
    let pieces = parse_clx(clx, word.len())?;
    let papx = fib
        .slice(&table, FC_PLCF_BTE_PAPX, table_name)
        .ok()
        .map(|plc| ParaRuns::parse(plc, &word))
        .unwrap_or_default();

    let mut doc = Document::new(Format::Doc);
    let mut builder = Builder::new(&papx);
    for (start, len) in fib.stories() {
        ctx.check()?;
        for_each_char(&word, &pieces, start, len, ctx, |c, fc| builder.push(c, fc, &mut doc))?;
        builder.finish(&mut doc);
    }
    Ok(doc)
}

/// The parts of the FIB this reader needs.
struct Fib<'a> {
    flags: u16,
    /// ccpText, ccpFtn, ccpHdd, ccpMcr, ccpAtn, ccpEdn, ccpTxbx, ccpHdrTxbx.
    ccp: [u32; 8],
    fc_lcb: &'a [u8],
}

impl<'a> Fib<'a> {
    fn parse(word: &'a [u8]) -> Result<Self> {
        let short = || malformed("the FIB is cut short");
        let old_word = || {
            Error::Unsupported("a Word 6.0/95 document (only Word 97 and later .doc are read) — save it as .docx".into())
        };
        let mut r = Reader::new(word);
        match r.u16() {
            Some(WORD_IDENT) => {}
            Some(WORD6_IDENT) => return Err(old_word()),
            _ => return Err(malformed("the WordDocument stream lacks the Word signature")),
        }
        let nfib = r.u16().ok_or_else(short)?;
        if nfib <= NFIB_WORD95_MAX {
            return Err(old_word());
        }
        let flags = u16_at(word, 0x0A).ok_or_else(short)?;
        // Only FibBase is in the clear in an encrypted file: check before reading on.
        if flags & F_ENCRYPTED != 0 {
            let how = if flags & F_OBFUSCATED != 0 { "XOR obfuscation" } else { "RC4 encryption" };
            return Err(Error::Unsupported(format!(
                "password-protected doc ({how}) — remove the password in Word, or save it as .docx with a password"
            )));
        }
        r = Reader::new(word.get(32..).ok_or_else(short)?);
        let csw = r.u16().ok_or_else(short)?;
        r.skip(usize::from(csw) * 2).ok_or_else(short)?;
        let cslw = r.u16().ok_or_else(short)?;
        let rglw = r.bytes(usize::from(cslw) * 4).ok_or_else(short)?;
        let mut ccp = [0u32; 8];
        for (k, slot) in ccp.iter_mut().enumerate() {
            *slot = u32_at(rglw, (3 + k) * 4).unwrap_or(0);
        }
        let cb = r.u16().ok_or_else(short)?;
        let fc_lcb = r.bytes(usize::from(cb) * 8).ok_or_else(short)?;
        Ok(Self { flags, ccp, fc_lcb })
    }

    /// The bytes of structure `index` of FibRgFcLcb inside `table`.
    fn slice<'t>(&self, table: &'t [u8], index: usize, table_name: &str) -> Result<&'t [u8]> {
        let fc = u32_at(self.fc_lcb, index * 8).unwrap_or(0) as usize;
        let lcb = u32_at(self.fc_lcb, index * 8 + 4).unwrap_or(0) as usize;
        fc.checked_add(lcb)
            .and_then(|end| table.get(fc..end))
            .filter(|s| !s.is_empty())
            .ok_or_else(|| malformed(format!("a FIB offset points outside {table_name}")))
    }

    /// (first character, length) of the stories read: main text, footnotes, comments,
    /// endnotes and text boxes; headers are skipped (page furniture).
    fn stories(&self) -> Vec<(u32, u32)> {
        let mut out = Vec::new();
        let mut start = 0u32;
        for (k, &len) in self.ccp.iter().enumerate() {
            if matches!(k, 0 | 1 | 4 | 5 | 6) && len > 0 {
                out.push((start, len));
            }
            start = start.saturating_add(len);
        }
        out
    }
}

/// One piece of the piece table: characters [cp, cp + len) stored at byte `fc`.
struct Piece {
    cp: u32,
    len: u32,
    fc: usize,
    compressed: bool,
}

/// Reads the piece table from the CLX, checking every piece lies inside `WordDocument`.
fn parse_clx(clx: &[u8], word_len: usize) -> Result<Vec<Piece>> {
    let mut r = Reader::new(clx);
    let short = || malformed("the piece table is cut short");
    loop {
        match r.u8().ok_or_else(short)? {
            1 => {
                let n = r.u16().ok_or_else(short)?;
                r.skip(usize::from(n)).ok_or_else(short)?;
            }
            2 => break,
            other => return Err(malformed(format!("unknown CLX entry {other:#04x}"))),
        }
    }
    let lcb = r.u32().ok_or_else(short)? as usize;
    let plc = r.bytes(lcb).ok_or_else(short)?;
    // (n + 1) CPs of 4 bytes, then n PCDs of 8 bytes.
    if plc.len() < 4 || !(plc.len() - 4).is_multiple_of(12) {
        return Err(malformed("the piece table has an impossible size"));
    }
    let n = (plc.len() - 4) / 12;
    let mut pieces = Vec::with_capacity(n);
    for k in 0..n {
        let (Some(cp), Some(next)) = (u32_at(plc, k * 4), u32_at(plc, k * 4 + 4)) else { break };
        let raw_fc = u32_at(plc, (n + 1) * 4 + k * 8 + 2).ok_or_else(short)?;
        let len = next.checked_sub(cp).ok_or_else(|| malformed("the piece table goes backwards"))?;
        let compressed = raw_fc & 0x4000_0000 != 0;
        let fc = (raw_fc & 0x3FFF_FFFF) as usize;
        let fc = if compressed { fc / 2 } else { fc };
        let bytes = len as usize * if compressed { 1 } else { 2 };
        if fc.checked_add(bytes).is_none_or(|end| end > word_len) {
            return Err(malformed("a piece of text lies outside the WordDocument stream"));
        }
        pieces.push(Piece { cp, len, fc, compressed });
    }
    Ok(pieces)
}

/// Calls `f(char, fc)` for each character in [start, start + len), in order.
fn for_each_char(
    word: &[u8],
    pieces: &[Piece],
    start: u32,
    len: u32,
    ctx: &mut Ctx,
    mut f: impl FnMut(char, usize),
) -> Result<()> {
    let end = start.saturating_add(len);
    for p in pieces {
        let p_end = p.cp.saturating_add(p.len);
        let (from, to) = (start.max(p.cp), end.min(p_end));
        if from >= to {
            continue;
        }
        ctx.check()?;
        let (skip, count) = ((from - p.cp) as usize, (to - from) as usize);
        // Pieces may point at the same bytes over and over: count what comes out.
        ctx.charge(count as u64)?;
        if p.compressed {
            let bytes = word.get(p.fc + skip..p.fc + skip + count).unwrap_or(&[]);
            for (k, c) in cp1252(bytes).chars().enumerate() {
                f(c, p.fc + skip + k);
            }
        } else {
            let at = p.fc + skip * 2;
            let bytes = word.get(at..at + count * 2).unwrap_or(&[]);
            let mut fc = at;
            for c in utf16le(bytes).chars() {
                f(c, fc);
                fc += 2 * c.len_utf16();
            }
        }
    }
    Ok(())
}

/// Paragraph properties by byte range of `WordDocument`: (fc start, fc end, in table,
/// row end), sorted.
#[derive(Default)]
struct ParaRuns {
    runs: Vec<(usize, usize, bool, bool)>,
}

impl ParaRuns {
    /// Reads `PlcBtePapx` and the PAPX FKP pages it points to. Damaged pages are skipped:
    /// the text still comes out, only table structure is lost.
    fn parse(plc: &[u8], word: &[u8]) -> Self {
        let mut runs = Vec::new();
        if plc.len() < 4 {
            return Self { runs };
        }
        let n = (plc.len() - 4) / 8;
        // Each page is read once, however often the table names it: the runs stay
        // bounded by the size of the WordDocument stream.
        let mut seen = std::collections::HashSet::new();
        for k in 0..n {
            let Some(pn) = u32_at(plc, (n + 1) * 4 + k * 4) else { break };
            if !seen.insert(pn & 0x3F_FFFF) {
                continue;
            }
            let at = (pn & 0x3F_FFFF) as usize * 512;
            let Some(page) = word.get(at..at + 512) else { continue };
            let crun = usize::from(page[511]);
            // (crun + 1) FCs and crun 13-byte BxPap must fit in the page.
            if (crun + 1) * 4 + crun * 13 > 511 {
                continue;
            }
            for i in 0..crun {
                let (Some(start), Some(end)) = (u32_at(page, i * 4), u32_at(page, i * 4 + 4)) else { break };
                let bx = (crun + 1) * 4 + i * 13;
                let Some(&offset) = page.get(bx) else { break };
                let (in_table, ttp) = papx_flags(page, usize::from(offset) * 2);
                runs.push((start as usize, end as usize, in_table, ttp));
            }
        }
        runs.sort_unstable_by_key(|r| r.0);
        Self { runs }
    }

    /// (in table, row end) of the paragraph whose mark is at byte `fc`.
    fn at(&self, fc: usize) -> Option<(bool, bool)> {
        let i = self.runs.partition_point(|r| r.0 <= fc).checked_sub(1)?;
        let r = self.runs.get(i)?;
        (fc < r.1).then_some((r.2, r.3))
    }
}

/// Reads the table flags from the PapxInFkp at `at` in an FKP page (0 means no
/// properties).
fn papx_flags(page: &[u8], at: usize) -> (bool, bool) {
    if at == 0 {
        return (false, false);
    }
    let Some(&cb) = page.get(at) else { return (false, false) };
    let (start, len) = if cb == 0 {
        (at + 2, usize::from(page.get(at + 1).copied().unwrap_or(0)) * 2)
    } else {
        (at + 1, usize::from(cb) * 2 - 1)
    };
    // grpprlInPapx: istd (u16), then sprms.
    let Some(grpprl) = page.get(start..(start + len).min(page.len())).and_then(|g| g.get(2..)) else {
        return (false, false);
    };
    let (mut in_table, mut ttp) = (false, false);
    let mut r = Reader::new(grpprl);
    while let Some(op) = r.u16() {
        let size = match op >> 13 {
            0 | 1 => 1,
            2 | 4 | 5 => 2,
            3 => 4,
            7 => 3,
            _ => match r.u8() {
                Some(n) => usize::from(n),
                None => break,
            },
        };
        let Some(arg) = r.bytes(size) else { break };
        let on = arg.first().is_some_and(|&b| b != 0);
        match op {
            SPRM_P_FIN_TABLE => in_table = on,
            SPRM_P_FTTP | SPRM_P_FINNER_TTP => ttp |= on,
            _ => {}
        }
    }
    (in_table, ttp)
}

/// Turns the character stream of a story into paragraphs and tables.
struct Builder<'p> {
    papx: &'p ParaRuns,
    /// The paragraph being read.
    para: String,
    /// The cell being read (its finished paragraphs, one per line).
    cell: String,
    row: Vec<String>,
    rows: Vec<Vec<String>>,
    /// Open fields: `true` while in the field's code (before its separator).
    fields: Vec<bool>,
    /// The previous paragraph mark was a cell mark (for the no-PAPX fallback).
    after_cell_mark: bool,
}

impl<'p> Builder<'p> {
    fn new(papx: &'p ParaRuns) -> Self {
        Self {
            papx,
            para: String::new(),
            cell: String::new(),
            row: Vec::new(),
            rows: Vec::new(),
            fields: Vec::new(),
            after_cell_mark: false,
        }
    }

    fn push(&mut self, c: char, fc: usize, doc: &mut Document) {
        match c {
            '\u{13}' => self.fields.push(true),
            '\u{14}' => {
                if let Some(top) = self.fields.last_mut() {
                    *top = false;
                }
            }
            '\u{15}' => {
                self.fields.pop();
            }
            _ if self.fields.iter().any(|&code| code) => {}
            '\r' => self.paragraph_end(fc, doc),
            '\u{7}' => self.cell_mark(fc),
            '\u{b}' => self.para.push('\n'),
            '\u{c}' => self.paragraph_end(fc, doc),
            '\t' => self.para.push('\t'),
            '\u{1e}' => self.para.push('-'),
            '\u{a0}' => self.para.push(' '),
            '\u{1f}' => {}
            c if (c as u32) < 0x20 => {}
            c => self.para.push(c),
        }
    }

    fn paragraph_end(&mut self, fc: usize, doc: &mut Document) {
        let para = std::mem::take(&mut self.para);
        if self.papx.at(fc).is_some_and(|(in_table, _)| in_table) {
            push_line(&mut self.cell, &para);
        } else {
            self.flush_table(doc);
            doc.push_paragraph(para, Origin::default());
        }
        self.after_cell_mark = false;
    }

    fn cell_mark(&mut self, fc: usize) {
        let row_end = match self.papx.at(fc) {
            Some((_, ttp)) => ttp,
            // Without paragraph properties: an empty paragraph right after a cell mark
            // ends the row.
            None => self.after_cell_mark && self.para.is_empty() && self.cell.is_empty(),
        };
        if row_end {
            self.para.clear();
            self.rows.push(std::mem::take(&mut self.row));
            self.after_cell_mark = false;
        } else {
            let para = std::mem::take(&mut self.para);
            push_line(&mut self.cell, &para);
            self.row.push(std::mem::take(&mut self.cell));
            self.after_cell_mark = true;
        }
    }

    fn flush_table(&mut self, doc: &mut Document) {
        if !self.cell.is_empty() {
            self.row.push(std::mem::take(&mut self.cell));
        }
        if !self.row.is_empty() {
            self.rows.push(std::mem::take(&mut self.row));
        }
        if !self.rows.is_empty() {
            doc.push_table(std::mem::take(&mut self.rows), Origin::default());
        }
    }

    /// Ends a story: whatever is pending becomes a paragraph or a table.
    fn finish(&mut self, doc: &mut Document) {
        let para = std::mem::take(&mut self.para);
        self.flush_table(doc);
        doc.push_paragraph(para, Origin::default());
        self.fields.clear();
        self.after_cell_mark = false;
    }
}

fn push_line(cell: &mut String, line: &str) {
    if !cell.is_empty() {
        cell.push('\n');
    }
    cell.push_str(line);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cfb::test_support::{corpus, edited, missing_units, run};
    use crate::model::Block;

    #[test]
    fn corpus_files_have_every_unit() {
        for rel in ["base/plain_en.doc", "base/quiz_ko.doc", "realworld/test-ole-file.doc"] {
            let doc = run(&corpus(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
            assert_eq!(doc.format, Format::Doc);
            let (n, missing) = missing_units(rel, &doc);
            assert!(n > 0);
            assert!(missing.is_empty(), "{rel}: missing {missing:?}\n{}", doc.text());
        }
    }

    #[test]
    fn quiz_table_is_a_table() {
        let doc = run(&corpus("base/quiz_ko.doc")).unwrap();
        let rows = doc
            .blocks
            .iter()
            .find_map(|b| match b {
                Block::Table { rows, .. } => Some(rows),
                _ => None,
            })
            .expect("a table");
        assert_eq!(rows.len(), 21, "{rows:?}");
        assert_eq!(rows[0], ["번호", "문제", "정답", "오답1", "오답2"]);
        assert_eq!(rows[1], ["1", "대한민국의 수도는?", "서울", "부산", "인천"]);
    }

    #[test]
    fn fields_keep_their_result_and_tables_fall_back_without_papx() {
        let papx = ParaRuns::default();
        let mut b = Builder::new(&papx);
        let mut doc = Document::new(Format::Doc);
        for c in "see \u{13}HYPERLINK \"x\"\u{14}the site\u{15}.\ra\u{7}b\u{7}\u{7}c\u{7}d\u{7}\u{7}end\r".chars() {
            b.push(c, 0, &mut doc);
        }
        b.finish(&mut doc);
        assert_eq!(doc.text(), "see the site.\na\tb\nc\td\nend\n");
    }

    #[test]
    fn encrypted_doc_is_unsupported() {
        for (flags, how) in [(F_ENCRYPTED, "RC4"), (F_ENCRYPTED | F_OBFUSCATED, "XOR")] {
            let file = edited("base/plain_en.doc", "WordDocument", |w| {
                let old = u16::from_le_bytes([w[0x0A], w[0x0B]]);
                w[0x0A..0x0C].copy_from_slice(&(old | flags).to_le_bytes());
            });
            let err = run(&file).unwrap_err();
            assert!(matches!(&err, Error::Unsupported(m) if m.contains("password-protected doc") && m.contains(how)), "{err}");
        }
    }

    #[test]
    fn word6_is_unsupported() {
        let file = edited("base/plain_en.doc", "WordDocument", |w| w[..2].copy_from_slice(&WORD6_IDENT.to_le_bytes()));
        assert!(matches!(run(&file), Err(Error::Unsupported(m)) if m.contains("Word 6.0/95")));
    }
}
