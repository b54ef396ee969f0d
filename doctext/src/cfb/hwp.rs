//! Hangul Word Processor 5.x (`.hwp`).
//!
//! `FileHeader` holds the signature and flags (bit 0 compressed, bit 1 password, bit 2
//! distribution document). The text lives in `BodyText/SectionN` (or, for distribution
//! documents, in `ViewText/SectionN`, scrambled and AES-encrypted — see [`undistribute`]),
//! each a sequence of records, raw-deflated when the file is compressed. A record header
//! is one u32: tag (10 bits) | level (10) | size (12; 0xFFF means the size follows as a
//! u32). Paragraph text is in `PARA_TEXT` records; a table is a `CTRL_HEADER` with the
//! id `tbl `, followed one level deeper by a `TABLE` record and one `LIST_HEADER` per cell,
//! each followed by the cell's paragraphs.

use super::Ole;
use super::bytes::{Reader, decode_utf16, inflate_raw, u16_at, u32_at};
use crate::error::{Error, Result};
use crate::limits::Ctx;
use crate::model::{Document, Format, Origin, Part};
use aes::cipher::{BlockDecrypt, KeyInit, generic_array::GenericArray};

const SIGNATURE: &[u8] = b"HWP Document File";
const FLAG_COMPRESSED: u32 = 1;
const FLAG_PASSWORD: u32 = 1 << 1;
const FLAG_DISTRIBUTION: u32 = 1 << 2;

const TAG_DISTRIBUTE_DOC_DATA: u16 = 16 + 12;
const TAG_PARA_TEXT: u16 = 16 + 51;
const TAG_CTRL_HEADER: u16 = 16 + 55;
const TAG_LIST_HEADER: u16 = 16 + 56;
const TAG_TABLE: u16 = 16 + 61;

/// The control id of a table, as stored (a big-endian "tbl " read as a little-endian u32).
const CTRL_TABLE: u32 = u32::from_be_bytes(*b"tbl ");

/// Cells a table may span (rows × columns) before its layout is ignored and its cells are
/// laid out in reading order instead.
const MAX_GRID: usize = 1 << 16;
/// Tables nested deeper than this are read as plain text of the enclosing cell (each
/// level copies its text into the level above).
const MAX_NESTED_TABLES: usize = 8;

pub(super) fn extract(ole: &mut Ole, ctx: &mut Ctx) -> Result<Document> {
    let header = ole.read("FileHeader", ctx)?;
    if !header.starts_with(SIGNATURE) {
        return Err(Error::malformed(Format::Hwp, "FileHeader lacks the \"HWP Document File\" signature"));
    }
    let version = u32_at(&header, 32).ok_or_else(|| Error::malformed(Format::Hwp, "FileHeader is truncated"))?;
    let flags = u32_at(&header, 36).ok_or_else(|| Error::malformed(Format::Hwp, "FileHeader is truncated"))?;
    if version >> 24 != 5 {
        return Err(Error::Unsupported(format!(
            "hwp version {}.{} (only hwp 5.x is read) — save it again from a current Hangul",
            version >> 24,
            (version >> 16) & 0xFF
        )));
    }
    if flags & FLAG_PASSWORD != 0 {
        return Err(Error::Unsupported(
            "password-protected hwp — save it without a password in Hangul".into(),
        ));
    }
    let compressed = flags & FLAG_COMPRESSED != 0;
    let distributed = flags & FLAG_DISTRIBUTION != 0;
    let storage = if distributed { "ViewText" } else { "BodyText" };

    let mut sections: Vec<(u32, String)> = ole
        .stream_names(storage)
        .into_iter()
        .filter_map(|name| Some((name.strip_prefix("Section")?.parse().ok()?, name)))
        .collect();
    sections.sort();
    if sections.is_empty() {
        return Err(Error::malformed(Format::Hwp, format!("no {storage}/Section streams")));
    }

    let mut doc = Document::new(Format::Hwp);
    for (n, name) in sections {
        ctx.check()?;
        let path = format!("{storage}/{name}");
        let mut data = ole.read(&path, ctx)?;
        if distributed {
            data = undistribute(&data, ctx, &path)?;
        }
        if compressed {
            data = inflate_raw(&data, ctx, Format::Hwp, &path)?;
        }
        read_section(&data, n, &mut doc, ctx)?;
    }
    Ok(doc)
}

/// One record of a section stream.
struct Record<'a> {
    tag: u16,
    level: u16,
    body: &'a [u8],
}

/// Reads the next record; `None` at the end, an error when the record is cut short.
fn next_record<'a>(r: &mut Reader<'a>) -> Result<Option<Record<'a>>> {
    if r.is_empty() {
        return Ok(None);
    }
    let truncated = || Error::malformed(Format::Hwp, "a record in a section is cut short");
    let head = r.u32().ok_or_else(truncated)?;
    let tag = (head & 0x3FF) as u16;
    let level = ((head >> 10) & 0x3FF) as u16;
    let mut size = (head >> 20) as usize;
    if size == 0xFFF {
        size = r.u32().ok_or_else(truncated)? as usize;
    }
    let body = r.bytes(size).ok_or_else(truncated)?;
    Ok(Some(Record { tag, level, body }))
}

/// A table being collected: the level of its control header, its declared size, and its
/// cells so far.
struct TableBuild {
    level: u16,
    rows: usize,
    cols: usize,
    cells: Vec<Cell>,
    /// The `TABLE` record was seen: list headers before it belong to the caption.
    started: bool,
    caption: Option<String>,
}

struct Cell {
    /// (row, column) as the cell declares it.
    at: Option<(usize, usize)>,
    text: String,
}

impl TableBuild {
    /// Where paragraph text goes now: the caption before the table starts, then the
    /// current cell.
    fn text_target(&mut self) -> Option<&mut String> {
        if self.started {
            self.cells.last_mut().map(|c| &mut c.text)
        } else {
            self.caption.as_mut()
        }
    }

    /// Lays the cells out as rows: by their declared addresses when those are coherent,
    /// otherwise in reading order, `cols` to a row.
    fn into_rows(self) -> Vec<Vec<String>> {
        let fits = self.rows.checked_mul(self.cols).is_some_and(|n| n > 0 && n <= MAX_GRID)
            && self.cells.iter().all(|c| c.at.is_some_and(|(r, k)| r < self.rows && k < self.cols));
        if fits {
            let mut grid = vec![vec![String::new(); self.cols]; self.rows];
            for cell in self.cells {
                if let Some((r, k)) = cell.at
                    && let Some(slot) = grid.get_mut(r).and_then(|row| row.get_mut(k))
                {
                    *slot = cell.text;
                }
            }
            grid
        } else {
            let cols = self.cols.max(1);
            let mut rows: Vec<Vec<String>> = Vec::new();
            for (i, cell) in self.cells.into_iter().enumerate() {
                if i % cols == 0 {
                    rows.push(Vec::with_capacity(cols));
                }
                if let Some(row) = rows.last_mut() {
                    row.push(cell.text);
                }
            }
            rows
        }
    }
}

/// Appends `text` to `cell`, one paragraph per line.
fn append_line(cell: &mut String, text: &str) {
    if !cell.is_empty() {
        cell.push('\n');
    }
    cell.push_str(text);
}

/// Reads one decompressed, decrypted section into `doc`.
fn read_section(data: &[u8], n: u32, doc: &mut Document, ctx: &Ctx) -> Result<()> {
    let origin = Origin { part: Part::Section(n), ..Origin::default() };
    let mut tables: Vec<TableBuild> = Vec::new();
    let mut r = Reader::new(data);
    let mut count = 0u32;
    while let Some(rec) = next_record(&mut r)? {
        count = count.wrapping_add(1);
        if count.is_multiple_of(1024) {
            ctx.check()?;
        }
        while tables.last().is_some_and(|t| rec.level <= t.level) {
            finish_table(&mut tables, doc, &origin);
        }
        match rec.tag {
            TAG_CTRL_HEADER if u32_at(rec.body, 0) == Some(CTRL_TABLE) && tables.len() < MAX_NESTED_TABLES => {
                tables.push(TableBuild {
                    level: rec.level,
                    rows: 0,
                    cols: 0,
                    cells: Vec::new(),
                    started: false,
                    caption: None,
                });
            }
            TAG_TABLE => {
                if let Some(t) = tables.last_mut().filter(|t| rec.level == t.level + 1) {
                    t.rows = u16_at(rec.body, 4).unwrap_or(0) as usize;
                    t.cols = u16_at(rec.body, 6).unwrap_or(0) as usize;
                    t.started = true;
                }
            }
            TAG_LIST_HEADER => {
                if let Some(t) = tables.last_mut().filter(|t| rec.level == t.level + 1) {
                    if t.started {
                        let at = u16_at(rec.body, 8).zip(u16_at(rec.body, 10)).map(|(c, r)| (r as usize, c as usize));
                        t.cells.push(Cell { at, text: String::new() });
                    } else {
                        t.caption = Some(String::new());
                    }
                }
            }
            TAG_PARA_TEXT => {
                let text = para_text(rec.body);
                match tables.last_mut().and_then(TableBuild::text_target) {
                    Some(target) => append_line(target, &text),
                    None => doc.push_paragraph(text, origin.clone()),
                }
            }
            _ => {}
        }
    }
    while !tables.is_empty() {
        finish_table(&mut tables, doc, &origin);
    }
    Ok(())
}

/// Closes the innermost table: into its parent's current cell when nested, else into the
/// document.
fn finish_table(tables: &mut Vec<TableBuild>, doc: &mut Document, origin: &Origin) {
    let Some(mut table) = tables.pop() else { return };
    let caption = table.caption.take();
    let rows = table.into_rows();
    match tables.last_mut().and_then(TableBuild::text_target) {
        Some(target) => {
            for line in caption.iter().cloned().chain(rows.iter().map(|row| row.join("\t"))) {
                append_line(target, &line);
            }
        }
        None => {
            if let Some(caption) = caption {
                doc.push_paragraph(caption, origin.clone());
            }
            doc.push_table(rows, origin.clone());
        }
    }
}

/// Decodes a `PARA_TEXT` body: UTF-16LE with inline controls. Codes 0, 10, 13 and 24–31
/// are one unit; every other code below 32 starts an 8-unit control (tab is one of them).
fn para_text(body: &[u8]) -> String {
    let mut units: Vec<u16> = Vec::with_capacity(body.len() / 2);
    let mut i = 0;
    let all: Vec<u16> = body.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
    while let Some(&u) = all.get(i) {
        i += 1;
        match u {
            0 | 13 => {}
            10 => units.push(u16::from(b'\n')),
            24 => units.push(u16::from(b'-')),
            25..=31 => units.push(u16::from(b' ')),
            9 => {
                units.push(u16::from(b'\t'));
                i += 7;
            }
            1..=31 => i += 7,
            _ => units.push(u),
        }
    }
    let count = units.len();
    decode_utf16(units, count)
}

/// MSVC's `rand()`: the generator Hangul seeds to scramble distribution documents.
struct MsvcRand(u32);

impl MsvcRand {
    fn next(&mut self) -> u32 {
        self.0 = self.0.wrapping_mul(214_013).wrapping_add(2_531_011);
        (self.0 >> 16) & 0x7FFF
    }
}

/// XORs bytes 4.. of a 256-byte `DISTRIBUTE_DOC_DATA` payload with the keystream seeded by
/// its first u32 (the same operation scrambles and unscrambles).
fn descramble(payload: &mut [u8; 256]) {
    let seed = u32::from_le_bytes([payload[0], payload[1], payload[2], payload[3]]);
    let mut rng = MsvcRand(seed);
    let (mut key, mut run) = (0u8, 0u32);
    for (i, b) in payload.iter_mut().enumerate() {
        if run == 0 {
            key = (rng.next() & 0xFF) as u8;
            run = (rng.next() & 0xF) + 1;
        }
        if i >= 4 {
            *b ^= key;
        }
        run -= 1;
    }
}

/// Opens a distribution document's `ViewText/SectionN`: a `DISTRIBUTE_DOC_DATA` record
/// whose descrambled payload holds the AES-128 key at 4 + (seed & 0xF), then the section
/// encrypted with AES-128-ECB (still compressed when the file is).
fn undistribute(data: &[u8], ctx: &mut Ctx, path: &str) -> Result<Vec<u8>> {
    let mut r = Reader::new(data);
    let rec = next_record(&mut r)?
        .ok_or_else(|| Error::malformed(Format::Hwp, format!("{path} is empty")))?;
    let mut payload: [u8; 256] = match (rec.tag, rec.body.try_into()) {
        (TAG_DISTRIBUTE_DOC_DATA, Ok(p)) => p,
        _ => {
            return Err(Error::malformed(
                Format::Hwp,
                format!("{path} of a distribution document does not start with its 256-byte key record"),
            ));
        }
    };
    descramble(&mut payload);
    let at = 4 + (payload[0] & 0xF) as usize;
    let key = GenericArray::clone_from_slice(&payload[at..at + 16]);
    let cipher = aes::Aes128::new(&key);
    let tail = r.rest();
    let whole = tail.len() - tail.len() % 16;
    ctx.charge(whole as u64)?;
    let mut out = tail[..whole].to_vec();
    for block in out.chunks_exact_mut(16) {
        cipher.decrypt_block(GenericArray::from_mut_slice(block));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cfb::test_support::{cfb_file, corpus, missing_units, run};
    use aes::cipher::BlockEncrypt;
    use std::io::Write;

    fn assert_all_units(rel: &str) {
        let doc = run(&corpus(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert_eq!(doc.format, Format::Hwp);
        let (n, missing) = missing_units(rel, &doc);
        // Ground truth always has text; a reference expectation may be empty (an outline).
        assert!(n > 0 || rel.starts_with("realworld/"), "{rel}: no expected units");
        assert!(missing.is_empty(), "{rel}: {} of {n} units missing: {missing:?}\n{}", missing.len(), doc.text());
    }

    #[test]
    fn base_files_have_every_unit() {
        for rel in ["base/plain_en.hwp", "base/quiz_ko.hwp", "base/quiz_ko_uncompressed.hwp"] {
            assert_all_units(rel);
        }
    }

    #[test]
    fn realworld_files_have_every_unit() {
        for rel in [
            "realworld/naver_documents__work_report.hwp",
            "realworld/project__hello_world.hwp",
            "realworld/project__outline.hwp",
            "realworld/project__range.hwp",
        ] {
            assert_all_units(rel);
        }
    }

    #[test]
    fn tables_keep_their_cells() {
        let doc = run(&corpus("realworld/naver_documents__work_report.hwp")).unwrap();
        let tables: Vec<_> = doc
            .blocks
            .iter()
            .filter_map(|b| match b {
                crate::model::Block::Table { rows, .. } => Some(rows),
                _ => None,
            })
            .collect();
        assert!(tables.len() >= 3, "{tables:?}");
        assert_eq!(tables[0][0][0], "주간업무보고서");
        assert_eq!(tables[1][1], ["업무내용", "완결여부", "산출물", "비고"]);
        assert_eq!(tables[1].len(), 9);
    }

    #[test]
    fn bad_deflate_is_a_clear_error() {
        let err = run(&corpus("malformed/hwp_bad_deflate.hwp")).unwrap_err();
        assert!(err.to_string().contains("invalid deflate data in BodyText/Section0"), "{err}");
    }

    #[test]
    fn para_text_controls() {
        let mut body = Vec::new();
        let mut put = |units: &[u16]| units.iter().for_each(|u| body.extend_from_slice(&u.to_le_bytes()));
        put(&[u16::from(b'A'), 9, 0, 0, 0, 0, 0, 0, 9, u16::from(b'B')]);
        put(&[11, 0x6c74, 0x6273, 0, 0, 0, 0, 11]); // extended control ("tbl "), 8 units
        put(&[u16::from(b'C'), 10, 0xD83C, 0xDFAE, 30, u16::from(b'D'), 13]);
        assert_eq!(para_text(&body), "A\tBC\n🎮 D");
        assert_eq!(para_text(&[0x41]), ""); // odd trailing byte
        assert_eq!(para_text(&[0x0b, 0x00]), ""); // control cut short
    }

    /// Encodes one record header + body.
    fn record(tag: u16, level: u16, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let size = body.len() as u32;
        let small = size.min(0xFFF);
        out.extend_from_slice(&(u32::from(tag) | u32::from(level) << 10 | small << 20).to_le_bytes());
        if small == 0xFFF {
            out.extend_from_slice(&size.to_le_bytes());
        }
        out.extend_from_slice(body);
        out
    }

    fn utf16(s: &str) -> Vec<u8> {
        s.encode_utf16().chain([13]).flat_map(u16::to_le_bytes).collect()
    }

    /// A compound file with a FileHeader and the given section streams.
    fn hwp_file(flags: u32, sections: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let mut header = vec![0u8; 256];
        header[..SIGNATURE.len()].copy_from_slice(SIGNATURE);
        header[32..36].copy_from_slice(&0x0500_0000u32.to_le_bytes());
        header[36..40].copy_from_slice(&flags.to_le_bytes());
        let mut streams = vec![("FileHeader", header)];
        streams.extend(sections.iter().cloned());
        cfb_file(&streams)
    }

    fn deflate(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    /// Our own distribution encoder: key record (scrambled), then AES-128-ECB of the
    /// (compressed, zero-padded) section.
    fn distribute(section: &[u8], seed: u32, key: [u8; 16]) -> Vec<u8> {
        let mut payload = [0u8; 256];
        for (i, b) in payload.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(37).wrapping_add(11);
        }
        payload[..4].copy_from_slice(&seed.to_le_bytes());
        let at = 4 + (seed & 0xF) as usize;
        payload[at..at + 16].copy_from_slice(&key);
        descramble(&mut payload);
        let mut body = section.to_vec();
        body.resize(body.len().div_ceil(16) * 16, 0);
        let cipher = aes::Aes128::new(&GenericArray::from(key));
        for block in body.chunks_exact_mut(16) {
            cipher.encrypt_block(GenericArray::from_mut_slice(block));
        }
        let mut out = record(TAG_DISTRIBUTE_DOC_DATA, 0, &payload);
        out.extend_from_slice(&body);
        out
    }

    /// A section with a paragraph and a 2×2 table (with a long cell, to exercise the
    /// extended size field).
    fn sample_section() -> Vec<u8> {
        let long = "긴 셀 ".repeat(700);
        let mut s = record(66, 0, &[0; 22]);
        s.extend(record(TAG_PARA_TEXT, 1, &utf16("배포용 문서 본문")));
        s.extend(record(TAG_CTRL_HEADER, 1, &CTRL_TABLE.to_le_bytes()));
        // A caption comes before the TABLE record.
        s.extend(record(TAG_LIST_HEADER, 2, &[0; 12]));
        s.extend(record(66, 2, &[0; 22]));
        s.extend(record(TAG_PARA_TEXT, 3, &utf16("표 캡션")));
        let mut table = vec![0u8; 4];
        table.extend_from_slice(&2u16.to_le_bytes());
        table.extend_from_slice(&2u16.to_le_bytes());
        s.extend(record(TAG_TABLE, 2, &table));
        for (row, col, text) in [(0u16, 0u16, "문제"), (0, 1, "정답"), (1, 0, long.as_str()), (1, 1, "서울")] {
            let mut lh = vec![0u8; 8];
            lh.extend_from_slice(&col.to_le_bytes());
            lh.extend_from_slice(&row.to_le_bytes());
            s.extend(record(TAG_LIST_HEADER, 2, &lh));
            s.extend(record(66, 2, &[0; 22]));
            s.extend(record(TAG_PARA_TEXT, 3, &utf16(text)));
        }
        s.extend(record(66, 0, &[0; 22]));
        s.extend(record(TAG_PARA_TEXT, 1, &utf16("끝")));
        s
    }

    #[test]
    fn distribution_document_round_trip() {
        let section = sample_section();
        for (seed, compressed) in [(0x1234_5678u32, true), (0xFFFF_FFFF, false), (7, true)] {
            let key = *b"0123456789abcdef";
            let body = if compressed { deflate(&section) } else { section.clone() };
            let flags = FLAG_DISTRIBUTION | if compressed { FLAG_COMPRESSED } else { 0 };
            let file = hwp_file(flags, &[("ViewText/Section0", distribute(&body, seed, key))]);
            let doc = run(&file).unwrap_or_else(|e| panic!("seed {seed:#x}: {e}"));
            let text = doc.text();
            assert!(text.starts_with("배포용 문서 본문\n표 캡션\n문제\t정답\n긴 셀"), "{text}");
            assert!(text.ends_with("\t서울\n끝\n"), "{text}");
            assert!(matches!(&doc.blocks[2], crate::model::Block::Table { rows, .. } if rows.len() == 2));
        }
    }

    #[test]
    fn distribution_without_key_record_is_an_error() {
        let file = hwp_file(FLAG_DISTRIBUTION, &[("ViewText/Section0", sample_section())]);
        let err = run(&file).unwrap_err();
        assert!(err.to_string().contains("key record"), "{err}");
    }

    #[test]
    fn password_protected_is_unsupported() {
        let file = hwp_file(FLAG_PASSWORD | FLAG_COMPRESSED, &[("BodyText/Section0", Vec::new())]);
        let err = run(&file).unwrap_err();
        assert!(matches!(&err, Error::Unsupported(m) if m.contains("password-protected hwp")), "{err}");
    }

    #[test]
    fn sections_are_read_in_numeric_order() {
        let sec = |t: &str| record(TAG_PARA_TEXT, 0, &utf16(t));
        let file = hwp_file(0, &[("BodyText/Section10", sec("ten")), ("BodyText/Section2", sec("two"))]);
        let doc = run(&file).unwrap();
        assert_eq!(doc.text(), "two\nten\n");
        assert_eq!(doc.blocks[1].origin().part, Part::Section(10));
    }
}
