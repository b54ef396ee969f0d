//! PowerPoint 97–2003 presentations (`.ppt`).
//!
//! `Current User` gives the offset of the newest `UserEditAtom` in the `PowerPoint
//! Document` stream. Edits are appended, so the live objects are found through the
//! persist directories of that edit and the older ones it chains to (newer entries win),
//! which skips text that was edited or deleted since. The document container's
//! `SlideListWithText` lists the slides in presentation order, each with the text of its
//! placeholders; the slide container itself holds the other text boxes and points at
//! placeholder text with `OutlineTextRefAtom`. Text is in `TextCharsAtom` (UTF-16) or
//! `TextBytesAtom` (8-bit) records.

use super::Ole;
use super::bytes::{Reader, u16_at, u32_at, utf16le};
use crate::error::{Error, Result};
use crate::limits::Ctx;
use crate::model::{Document, Format, Origin, Part};
use std::collections::{HashMap, HashSet};

const RT_DOCUMENT: u16 = 0x03E8;
const RT_SLIDE_ATOM: u16 = 0x03EF;
const RT_SLIDE_PERSIST_ATOM: u16 = 0x03F3;
const RT_OUTLINE_TEXT_REF_ATOM: u16 = 0x0F9E;
const RT_TEXT_CHARS_ATOM: u16 = 0x0FA0;
const RT_TEXT_BYTES_ATOM: u16 = 0x0FA8;
const RT_SLIDE_LIST_WITH_TEXT: u16 = 0x0FF0;
const RT_USER_EDIT_ATOM: u16 = 0x0FF5;
const RT_CURRENT_USER_ATOM: u16 = 0x0FF6;
const RT_PERSIST_DIRECTORY_ATOM: u16 = 0x1772;

const RT_GROUP: u16 = 0xF003;
const RT_SHAPE: u16 = 0xF004;
const RT_FOPT: u16 = 0xF00B;
const RT_TERTIARY_FOPT: u16 = 0xF122;
const RT_CLIENT_TEXTBOX: u16 = 0xF00D;
const RT_CHILD_ANCHOR: u16 = 0xF00F;
/// The `tableProperties` shape property: marks a group shape as a table.
const PROP_TABLE: u16 = 0x039F;

const HEADER_TOKEN_ENCRYPTED: u32 = 0xF3D1_C4DF;
/// Containers nest this deep at most before the rest is ignored.
const MAX_DEPTH: u32 = 32;
/// User edits followed at most (each one adds a persist directory).
const MAX_EDITS: usize = 4096;

fn malformed(reason: impl Into<String>) -> Error {
    Error::malformed(Format::Ppt, reason)
}

fn encrypted() -> Error {
    Error::Unsupported(
        "password-protected ppt (RC4 encryption) — remove the password in PowerPoint, or save it as .pptx with a password".into(),
    )
}

pub(super) fn extract(ole: &mut Ole, ctx: &mut Ctx) -> Result<Document> {
    let stream = ole.read("PowerPoint Document", ctx)?;
    let current = if ole.is_stream("Current User") { ole.read("Current User", ctx)? } else { Vec::new() };
    let mut doc = Document::new(Format::Ppt);
    match Live::find(&current, &stream, ctx)? {
        Some(live) => live.read(&stream, &mut doc, ctx)?,
        None => {
            // No usable edit chain: every text atom of the stream, stale ones included.
            tracing::warn!("ppt without a usable Current User / UserEditAtom chain: reading all text atoms");
            let mut texts = Vec::new();
            walk(&stream, 0, &mut |rec| {
                if let Some(t) = text_of(&rec) {
                    texts.push(t);
                }
            });
            for t in texts {
                push_text(&mut doc, &t, Part::Slide(1));
            }
        }
    }
    Ok(doc)
}

/// One record: header (version, instance, type, length) and body.
struct Rec<'a> {
    version: u16,
    instance: u16,
    kind: u16,
    body: &'a [u8],
}

impl<'a> Rec<'a> {
    fn read(r: &mut Reader<'a>) -> Option<Self> {
        let vi = r.u16()?;
        let kind = r.u16()?;
        let len = r.u32()? as usize;
        let body = r.bytes(len)?;
        Some(Self { version: vi & 0xF, instance: vi >> 4, kind, body })
    }

    fn at(stream: &'a [u8], offset: u32) -> Option<Self> {
        Self::read(&mut Reader::new(stream.get(offset as usize..)?))
    }

    fn is_container(&self) -> bool {
        self.version == 0xF
    }

    fn children(&self) -> impl Iterator<Item = Rec<'a>> {
        let mut r = Reader::new(if self.is_container() { self.body } else { &[] });
        std::iter::from_fn(move || Rec::read(&mut r))
    }
}

/// Calls `f` on every record in `data`, depth first, in file order.
fn walk<'a>(data: &'a [u8], depth: u32, f: &mut impl FnMut(Rec<'a>)) {
    let mut r = Reader::new(data);
    while let Some(rec) = Rec::read(&mut r) {
        if rec.is_container() {
            if depth < MAX_DEPTH {
                walk(rec.body, depth + 1, f);
            }
        } else {
            f(rec);
        }
    }
}

/// The text of a text atom.
fn text_of(rec: &Rec) -> Option<String> {
    match rec.kind {
        RT_TEXT_CHARS_ATOM => Some(utf16le(rec.body)),
        // 8-bit text holds the low bytes of UTF-16 code units, i.e. Latin-1.
        RT_TEXT_BYTES_ATOM => Some(rec.body.iter().map(|&b| char::from(b)).collect()),
        _ => None,
    }
}

/// Adds one text body: `\r` separates paragraphs, `\v` is a line break.
fn push_text(doc: &mut Document, text: &str, part: Part) {
    for para in text.split('\r') {
        doc.push_paragraph(para.replace('\u{b}', "\n"), Origin { part: part.clone(), ..Origin::default() });
    }
}

/// The live state of the presentation: the persist directory and the document
/// container's persist id.
struct Live {
    persist: HashMap<u32, u32>,
    document: u32,
}

impl Live {
    /// Follows Current User → UserEditAtom → older edits. `None` when the chain cannot
    /// be read at all.
    fn find(current: &[u8], stream: &[u8], ctx: &Ctx) -> Result<Option<Self>> {
        let cu = Rec::read(&mut Reader::new(current)).filter(|r| r.kind == RT_CURRENT_USER_ATOM);
        if let Some(cu) = &cu
            && u32_at(cu.body, 4) == Some(HEADER_TOKEN_ENCRYPTED)
        {
            return Err(encrypted());
        }
        let named = cu
            .as_ref()
            .and_then(|cu| u32_at(cu.body, 8))
            .filter(|&at| Rec::at(stream, at).is_some_and(|r| r.kind == RT_USER_EDIT_ATOM));
        // Without a usable Current User, the last edit in the stream is the current one.
        let Some(mut offset) = named.or_else(|| last_user_edit(stream)) else {
            if !current.is_empty() && cu.is_none() {
                // PowerPoint 95 and older keep a plain user name there and no edit atoms.
                return Err(Error::Unsupported(
                    "a PowerPoint 95 or older presentation (only PowerPoint 97 and later .ppt are read) — save it as .pptx"
                        .into(),
                ));
            }
            return Ok(None);
        };
        let mut persist = HashMap::new();
        let mut document = None;
        let mut seen = HashSet::new();
        while seen.insert(offset) && seen.len() <= MAX_EDITS {
            ctx.check()?;
            let Some(edit) = Rec::at(stream, offset).filter(|r| r.kind == RT_USER_EDIT_ATOM) else { break };
            let b = edit.body;
            if document.is_none() {
                document = u32_at(b, 16);
                // An encryptSessionPersistIdRef after the common fields means RC4.
                if b.len() >= 32 && u32_at(b, 28).is_some_and(|id| id != 0) {
                    return Err(encrypted());
                }
            }
            if let Some(dir) = u32_at(b, 12).and_then(|at| Rec::at(stream, at)).filter(|r| r.kind == RT_PERSIST_DIRECTORY_ATOM) {
                read_persist_directory(dir.body, &mut persist);
            }
            match u32_at(b, 8) {
                Some(older) if older != 0 => offset = older,
                _ => break,
            }
        }
        Ok(document.map(|document| Self { persist, document }))
    }

    fn record<'a>(&self, stream: &'a [u8], id: u32) -> Option<Rec<'a>> {
        Rec::at(stream, *self.persist.get(&id)?)
    }

    fn read(&self, stream: &[u8], doc: &mut Document, ctx: &mut Ctx) -> Result<()> {
        let container = self
            .record(stream, self.document)
            .filter(|r| r.kind == RT_DOCUMENT)
            .ok_or_else(|| malformed("the current edit does not lead to the document container"))?;
        let slides = slide_list(&container, 0);
        // Notes pages by notes id (what a SlideAtom refers to).
        let notes: HashMap<u32, ListedPage> = slide_list(&container, 2).into_iter().map(|p| (p.id, p)).collect();
        // A slide or notes page listed twice is read once (the text would repeat).
        let mut seen = HashSet::new();
        for (n, slide) in slides.iter().enumerate() {
            ctx.check()?;
            let n = u32::try_from(n + 1).unwrap_or(u32::MAX);
            if !seen.insert(slide.persist) {
                continue;
            }
            let notes_id = self.read_page(stream, slide, Part::Slide(n), doc, ctx)?;
            if let Some(page) = notes_id.and_then(|id| notes.get(&id))
                && seen.insert(page.persist)
            {
                self.read_page(stream, page, Part::Notes(n), doc, ctx)?;
            }
        }
        Ok(())
    }

    /// Reads one slide or notes page into `doc`; returns the notes id the page refers to.
    fn read_page(
        &self,
        stream: &[u8],
        page: &ListedPage,
        part: Part,
        doc: &mut Document,
        ctx: &mut Ctx,
    ) -> Result<Option<u32>> {
        let placeholders = &page.texts;
        let mut shapes = Shapes { placeholders, used: vec![false; placeholders.len()], notes: 0 };
        let mut items = Vec::new();
        if let Some(container) = self.record(stream, page.persist) {
            shapes.collect(container.body, 0, &mut items);
        }
        let unused = placeholders.iter().zip(&shapes.used).filter(|(_, u)| !**u);
        items.extend(unused.map(|(t, _)| Item::Text(t.clone())));
        let origin = Origin { part: part.clone(), ..Origin::default() };
        for item in items {
            match item {
                Item::Text(t) => {
                    ctx.charge(t.len() as u64)?;
                    push_text(doc, &t, part.clone());
                }
                Item::Table(rows) => {
                    ctx.charge(rows.iter().flatten().map(|c| c.len() as u64).sum())?;
                    doc.push_table(rows, origin.clone());
                }
            }
        }
        Ok((shapes.notes != 0).then_some(shapes.notes))
    }
}

/// A page listed in a `SlideListWithText`: its persist id, its slide or notes id, and
/// the placeholder texts stored with it.
struct ListedPage {
    persist: u32,
    id: u32,
    texts: Vec<String>,
}

/// The pages of the document's `SlideListWithText` of `instance` (0 slides, 2 notes),
/// in order.
fn slide_list(container: &Rec, instance: u16) -> Vec<ListedPage> {
    let mut pages: Vec<ListedPage> = Vec::new();
    for list in container.children().filter(|r| r.kind == RT_SLIDE_LIST_WITH_TEXT && r.instance == instance) {
        for rec in list.children() {
            if rec.kind == RT_SLIDE_PERSIST_ATOM {
                let persist = u32_at(rec.body, 0).unwrap_or(0);
                let id = u32_at(rec.body, 12).unwrap_or(0);
                pages.push(ListedPage { persist, id, texts: Vec::new() });
            } else if let (Some(t), Some(page)) = (text_of(&rec), pages.last_mut()) {
                page.texts.push(t);
            }
        }
    }
    pages
}

/// What a slide shows, in drawing order.
enum Item {
    Text(String),
    Table(Vec<Vec<String>>),
}

/// Walks a slide's drawing: text boxes, placeholders (by `OutlineTextRefAtom` into the
/// slide's `SlideListWithText` texts) and tables (groups flagged with the
/// `tableProperties` shape property, whose cells are laid out by their anchors).
struct Shapes<'p> {
    placeholders: &'p [String],
    used: Vec<bool>,
    /// Persist id of the slide's notes (0: none).
    notes: u32,
}

impl Shapes<'_> {
    fn collect(&mut self, data: &[u8], depth: u32, out: &mut Vec<Item>) {
        let mut r = Reader::new(data);
        while let Some(rec) = Rec::read(&mut r) {
            match rec.kind {
                RT_GROUP if is_table(&rec) && depth < MAX_DEPTH => match self.table(&rec, depth) {
                    Some(rows) => out.push(Item::Table(rows)),
                    None => self.collect(rec.body, depth + 1, out),
                },
                _ if rec.is_container() => {
                    if depth < MAX_DEPTH {
                        self.collect(rec.body, depth + 1, out);
                    }
                }
                RT_OUTLINE_TEXT_REF_ATOM => {
                    let k = u32_at(rec.body, 0).unwrap_or(u32::MAX) as usize;
                    // Each placeholder text shows once, however often it is referenced.
                    if let (Some(t), Some(u)) = (self.placeholders.get(k), self.used.get_mut(k))
                        && !*u
                    {
                        out.push(Item::Text(t.clone()));
                        *u = true;
                    }
                }
                RT_SLIDE_ATOM => self.notes = u32_at(rec.body, 16).unwrap_or(0),
                _ => out.extend(text_of(&rec).map(Item::Text)),
            }
        }
    }

    /// The cells of a table group as rows, or `None` when the cells do not form a grid.
    fn table(&mut self, group: &Rec, depth: u32) -> Option<Vec<Vec<String>>> {
        let mut cells: Vec<(i32, i32, String)> = Vec::new();
        for shape in group.children().filter(|r| r.kind == RT_SHAPE) {
            let Some(anchor) = shape.children().find(|r| r.kind == RT_CHILD_ANCHOR) else { continue };
            if !shape.children().any(|r| r.kind == RT_CLIENT_TEXTBOX) {
                continue;
            }
            let (left, top) = (u32_at(anchor.body, 0)? as i32, u32_at(anchor.body, 4)? as i32);
            let mut items = Vec::new();
            self.collect(shape.body, depth + 1, &mut items);
            let text: Vec<String> = items
                .into_iter()
                .filter_map(|i| match i {
                    Item::Text(t) => Some(t.replace(['\r', '\u{b}'], "\n")),
                    Item::Table(_) => None,
                })
                .collect();
            cells.push((top, left, text.join("\n")));
        }
        let mut tops: Vec<i32> = cells.iter().map(|c| c.0).collect();
        let mut lefts: Vec<i32> = cells.iter().map(|c| c.1).collect();
        for v in [&mut tops, &mut lefts] {
            v.sort_unstable();
            v.dedup();
        }
        if cells.is_empty() || tops.len().saturating_mul(lefts.len()) > 1 << 16 {
            return None;
        }
        let mut rows = vec![vec![String::new(); lefts.len()]; tops.len()];
        for (top, left, text) in cells {
            let (r, c) = (tops.binary_search(&top).ok()?, lefts.binary_search(&left).ok()?);
            *rows.get_mut(r)?.get_mut(c)? = text;
        }
        Some(rows)
    }
}

/// Whether a group shape is a table: its first shape carries the `tableProperties`
/// property (in its primary or tertiary property table).
fn is_table(group: &Rec) -> bool {
    let Some(first) = group.children().find(|r| r.kind == RT_SHAPE) else { return false };
    first.children().filter(|r| r.kind == RT_FOPT || r.kind == RT_TERTIARY_FOPT).any(|opt| {
        let count = usize::from(opt.instance);
        (0..count).any(|k| u16_at(opt.body, k * 6).is_some_and(|id| id & 0x3FFF == PROP_TABLE))
    })
}

/// The offset of the last top-level `UserEditAtom` of the stream.
fn last_user_edit(stream: &[u8]) -> Option<u32> {
    let mut r = Reader::new(stream);
    let mut last = None;
    loop {
        let at = r.pos();
        match Rec::read(&mut r) {
            Some(rec) if rec.kind == RT_USER_EDIT_ATOM => last = u32::try_from(at).ok(),
            Some(_) => {}
            None => return last,
        }
    }
}

/// Adds the entries of a `PersistDirectoryAtom` body that are not known yet (the newer
/// edit was read first).
fn read_persist_directory(body: &[u8], persist: &mut HashMap<u32, u32>) {
    let mut r = Reader::new(body);
    while let Some(head) = r.u32() {
        let (first, count) = (head & 0xF_FFFF, head >> 20);
        for k in 0..count {
            let Some(offset) = r.u32() else { return };
            persist.entry(first.saturating_add(k)).or_insert(offset);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cfb::test_support::{cfb_file, corpus, missing_units, run};

    #[test]
    fn base_files_have_every_unit() {
        for rel in ["base/plain_en.ppt", "base/quiz_ko.ppt"] {
            let doc = run(&corpus(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
            assert_eq!(doc.format, Format::Ppt);
            let (n, missing) = missing_units(rel, &doc);
            assert!(n > 0);
            assert!(missing.is_empty(), "{rel}: missing {missing:?}\n{}", doc.text());
        }
    }

    #[test]
    fn corpus_files_have_a_live_edit_chain() {
        for rel in ["base/plain_en.ppt", "base/quiz_ko.ppt"] {
            let data = corpus(rel);
            let limits = crate::Limits::default();
            let ctx = Ctx::new(&limits, None, None);
            let mut ole = Ole::open(&data, &ctx).unwrap();
            let stream = ole.read("PowerPoint Document", &ctx).unwrap();
            let current = ole.read("Current User", &ctx).unwrap();
            let live = Live::find(&current, &stream, &ctx).unwrap().expect("an edit chain");
            assert!(live.record(&stream, live.document).is_some_and(|r| r.kind == RT_DOCUMENT), "{rel}");
        }
    }

    #[test]
    fn tables_are_tables() {
        let doc = run(&corpus("base/quiz_ko.ppt")).unwrap();
        let (rows, origin) = doc
            .blocks
            .iter()
            .find_map(|b| match b {
                crate::model::Block::Table { rows, origin } => Some((rows, origin)),
                _ => None,
            })
            .expect("a table");
        assert_eq!(origin.part, Part::Slide(2));
        assert_eq!(rows.len(), 21, "{rows:?}");
        assert_eq!(rows[0], ["번호", "문제", "정답", "오답1", "오답2"]);
        assert_eq!(rows[1], ["1", "대한민국의 수도는?", "서울", "부산", "인천"]);
    }

    #[test]
    fn slides_are_numbered_in_order() {
        let doc = run(&corpus("base/quiz_ko.ppt")).unwrap();
        let slides: Vec<u32> = doc
            .blocks
            .iter()
            .filter_map(|b| match b.origin().part {
                Part::Slide(n) => Some(n),
                _ => None,
            })
            .collect();
        assert!(slides.windows(2).all(|w| w[0] <= w[1]), "{slides:?}");
        assert!(slides.last().copied().unwrap_or(0) >= 2, "{slides:?}");
        assert_eq!(doc.blocks.first().map(|b| b.origin().part.clone()), Some(Part::Slide(1)));
    }

    fn rec(version: u16, kind: u16, body: &[u8]) -> Vec<u8> {
        let mut out = version.to_le_bytes().to_vec();
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(body);
        out
    }

    fn chars(text: &str) -> Vec<u8> {
        rec(0, RT_TEXT_CHARS_ATOM, &text.encode_utf16().flat_map(u16::to_le_bytes).collect::<Vec<_>>())
    }

    fn user_edit(document: u32, last_edit: u32, persist_dir: u32) -> Vec<u8> {
        let mut b = vec![0u8; 28];
        b[8..12].copy_from_slice(&last_edit.to_le_bytes());
        b[12..16].copy_from_slice(&persist_dir.to_le_bytes());
        b[16..20].copy_from_slice(&document.to_le_bytes());
        rec(0, RT_USER_EDIT_ATOM, &b)
    }

    fn persist_dir(entries: &[(u32, u32)]) -> Vec<u8> {
        let body: Vec<u8> = entries.iter().flat_map(|&(id, at)| [(1 << 20) | id, at]).flat_map(u32::to_le_bytes).collect();
        rec(0, RT_PERSIST_DIRECTORY_ATOM, &body)
    }

    /// A presentation edited once: slide 1 was first "stale text", the second save
    /// appended a new slide container (with notes) and a persist directory pointing at it.
    #[test]
    fn edited_text_is_skipped() {
        let mut s = Vec::new();
        let old_slide = s.len() as u32;
        s.extend(rec(0xF, 0x03EE, &chars("stale text")));
        let document = s.len() as u32;
        let mut persist_atom = vec![0u8; 20];
        persist_atom[..4].copy_from_slice(&2u32.to_le_bytes());
        // The slide is listed twice (a damaged or hostile list): it is read once.
        let slwt = rec(
            0xF,
            RT_SLIDE_LIST_WITH_TEXT,
            &[rec(0, RT_SLIDE_PERSIST_ATOM, &persist_atom), chars("title"), rec(0, RT_SLIDE_PERSIST_ATOM, &persist_atom)]
                .concat(),
        );
        // The notes list: notes page persist id 3, notes id 0x100.
        let mut notes_atom = vec![0u8; 20];
        notes_atom[..4].copy_from_slice(&3u32.to_le_bytes());
        notes_atom[12..16].copy_from_slice(&0x100u32.to_le_bytes());
        let notes_slwt = rec(0xF | (2 << 4), RT_SLIDE_LIST_WITH_TEXT, &rec(0, RT_SLIDE_PERSIST_ATOM, &notes_atom));
        s.extend(rec(0xF, RT_DOCUMENT, &[slwt, notes_slwt].concat()));
        let dir1 = s.len() as u32;
        s.extend(persist_dir(&[(1, document), (2, old_slide)]));
        let edit1 = s.len() as u32;
        s.extend(user_edit(1, 0, dir1));
        let notes = s.len() as u32;
        s.extend(rec(0xF, 0x03F0, &chars("speaker note")));
        let new_slide = s.len() as u32;
        let mut slide_atom = vec![0u8; 24];
        slide_atom[16..20].copy_from_slice(&0x100u32.to_le_bytes());
        let mut body = rec(2, RT_SLIDE_ATOM, &slide_atom);
        body.extend(rec(0, RT_OUTLINE_TEXT_REF_ATOM, &0u32.to_le_bytes()));
        body.extend(chars("fresh text"));
        s.extend(rec(0xF, 0x03EE, &body));
        let dir2 = s.len() as u32;
        s.extend(persist_dir(&[(2, new_slide), (3, notes)]));
        let edit2 = s.len() as u32;
        s.extend(user_edit(1, edit1, dir2));
        let mut cu = vec![0u8; 20];
        cu[0..4].copy_from_slice(&0x14u32.to_le_bytes());
        cu[4..8].copy_from_slice(&0xE391_C05Fu32.to_le_bytes());
        cu[8..12].copy_from_slice(&edit2.to_le_bytes());
        let file = cfb_file(&[("PowerPoint Document", s.clone()), ("Current User", rec(0, RT_CURRENT_USER_ATOM, &cu))]);
        let doc = run(&file).unwrap();
        assert_eq!(doc.text(), "title\nfresh text\nspeaker note\n");
        let parts: Vec<Part> = doc.blocks.iter().map(|b| b.origin().part.clone()).collect();
        assert_eq!(parts, [Part::Slide(1), Part::Slide(1), Part::Notes(1)]);

        // Without Current User the last UserEditAtom of the stream is the current edit.
        let doc = run(&cfb_file(&[("PowerPoint Document", s.clone())])).unwrap();
        assert_eq!(doc.text(), "title\nfresh text\nspeaker note\n");
        // A PowerPoint 95 file: a plain user name in Current User, no edit atoms.
        let pp95 = cfb_file(&[("PowerPoint Document", chars("x")), ("Current User", b"\x05\0\0\0Kim".to_vec())]);
        assert!(matches!(run(&pp95), Err(Error::Unsupported(m)) if m.contains("PowerPoint 95")));

        // The encrypted header token is refused.
        cu[4..8].copy_from_slice(&HEADER_TOKEN_ENCRYPTED.to_le_bytes());
        let file = cfb_file(&[("PowerPoint Document", Vec::new()), ("Current User", rec(0, RT_CURRENT_USER_ATOM, &cu))]);
        assert!(matches!(run(&file), Err(Error::Unsupported(m)) if m.contains("password-protected ppt")));
    }
}
