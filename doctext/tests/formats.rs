//! The newer formats — hwpx, odt, ods, odp, csv, tsv, txt, md — on the quiz
//! files in `tests/data` (written by `tests/data/make_quiz.py`): each imports as the same
//! deck as `../shared/testdata/docs/base/quiz_ko.docx`, through `shared::deck` as the game
//! does. Plus detection (signature, content, name), encodings and delimiters, quoting,
//! and clear errors for damaged and foreign files.

mod common;

use common::*;
use doctext::{Block, Document, Error, Format, Options, Part};
use shared::deck::{Deck, parse_document};
use std::path::{Path, PathBuf};

fn data(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data")).join(name)
}

fn read(name: &str) -> Document {
    doctext::extract_file(data(name), &Options::default()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The client's `deck_from_document` (client/src/deck.rs), which this crate cannot depend
/// on: tables and paragraph lines to `shared::deck::parse_document`; the title is the first
/// short paragraph, else a sheet's single-cell first row, else the file's stem.
fn deck_from_document(file: &str, doc: &Document) -> Deck {
    let mut tables = Vec::new();
    let mut lines = Vec::new();
    for block in &doc.blocks {
        match block {
            Block::Table { rows, .. } => tables.push(rows.clone()),
            Block::Paragraph { text, .. } => {
                lines.extend(text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from));
            }
        }
    }
    let stem = Path::new(file).file_stem().map_or_else(|| file.to_string(), |s| s.to_string_lossy().into_owned());
    let sheet_title = tables.first().and_then(|rows: &Vec<Vec<String>>| rows.first()).and_then(|row| {
        let mut cells = row.iter().map(|c| c.trim()).filter(|c| !c.is_empty());
        match (cells.next(), cells.next()) {
            (Some(only), None) => Some(only.to_string()),
            _ => None,
        }
    });
    let title = lines.first().cloned().or(sheet_title).filter(|l| l.chars().count() <= 80).unwrap_or(stem);
    parse_document(&title, &tables, &lines).unwrap_or_else(|e| panic!("{file}: no deck: {e}"))
}

fn docx_deck() -> Deck {
    let doc = doctext::extract_file(corpus_path("base/quiz_ko.docx"), &Options::default()).expect("quiz_ko.docx");
    let deck = deck_from_document("quiz_ko.docx", &doc);
    assert_eq!(deck.questions.len(), 20);
    deck
}

/// Whether the file keeps the docx's title line.
#[derive(PartialEq)]
enum Title {
    Same,
    FileStem,
}

/// Reads `name`, checks its detected format, and compares its deck with the docx's:
/// every question, choice and answer (and the title where the format holds it).
fn same_deck_as_docx(name: &str, format: Format, title: Title) -> Document {
    let doc = read(name);
    assert_eq!(doc.format, format, "{name}: detected format");
    let deck = deck_from_document(name, &doc);
    let want = docx_deck();
    assert_eq!(deck.questions.len(), 20, "{name}");
    for (k, (got, want)) in deck.questions.iter().zip(&want.questions).enumerate() {
        assert_eq!(got, want, "{name}: question {}", k + 1);
    }
    assert_eq!(deck.questions, want.questions, "{name}");
    assert_eq!(deck.routines, want.routines, "{name}");
    match title {
        Title::Same => assert_eq!(deck.title, want.title, "{name}: title"),
        Title::FileStem => assert_eq!(deck.title, Path::new(name).file_stem().unwrap().to_string_lossy(), "{name}: title"),
    }
    doc
}

/// Every unit of quiz_ko.docx's ground truth is in the document's text.
fn has_every_docx_unit(name: &str, doc: &Document) {
    assert_all_units(name, &read_expected("base/quiz_ko.docx.expected.txt").units, &doc.text());
}

/// The document's only table, normalized like the docx's.
fn only_table(doc: &Document) -> Vec<Vec<String>> {
    let tables: Vec<&Vec<Vec<String>>> = doc
        .blocks
        .iter()
        .filter_map(|b| match b {
            Block::Table { rows, .. } => Some(rows),
            _ => None,
        })
        .collect();
    assert_eq!(tables.len(), 1, "one table expected");
    tables[0].iter().map(|r| r.iter().map(|c| normalize(c)).collect()).collect()
}

fn docx_table() -> Vec<Vec<String>> {
    only_table(&doctext::extract_file(corpus_path("base/quiz_ko.docx"), &Options::default()).unwrap())
}

#[test]
fn hwpx_imports_as_the_docx_deck() {
    let doc = same_deck_as_docx("quiz_ko.hwpx", Format::Hwpx, Title::Same);
    has_every_docx_unit("quiz_ko.hwpx", &doc);
    assert_eq!(only_table(&doc), docx_table());
    // Two sections in spine order; the page header is not text.
    let sections: Vec<&Part> = doc.blocks.iter().map(|b| &b.origin().part).collect();
    assert_eq!(sections.first(), Some(&&Part::Section(0)));
    assert_eq!(sections.last(), Some(&&Part::Section(1)));
    assert!(!doc.text().contains("머리말"), "the page header leaked into the text");
}

#[test]
fn odt_imports_as_the_docx_deck() {
    let doc = same_deck_as_docx("quiz_ko.odt", Format::Odt, Title::Same);
    has_every_docx_unit("quiz_ko.odt", &doc);
    assert_eq!(only_table(&doc), docx_table());
}

#[test]
fn ods_imports_as_the_docx_deck() {
    let doc = same_deck_as_docx("quiz_ko.ods", Format::Ods, Title::Same);
    // The sheet repeats empty cells to column 16 384 and rows to 1 048 576: none is kept.
    let Block::Table { rows, origin } = &doc.blocks[0] else { panic!("a sheet is a table") };
    assert_eq!(origin.part, Part::Sheet("퀴즈".into()));
    assert_eq!(rows.len(), 23, "title, blank row, header and 20 questions");
    assert!(rows.iter().all(|r| r.len() <= 5), "trailing empty cells are dropped");
    assert_eq!(doc.blocks.len(), 1, "the empty second sheet adds nothing");
}

#[test]
fn odp_imports_as_the_docx_deck() {
    let doc = same_deck_as_docx("quiz_ko.odp", Format::Odp, Title::Same);
    has_every_docx_unit("quiz_ko.odp", &doc);
    let parts: Vec<&Part> = doc.blocks.iter().map(|b| &b.origin().part).collect();
    assert!(parts.contains(&&Part::Notes(2)), "{parts:?}");
    assert_eq!(parts.last(), Some(&&Part::Slide(3)));
}

#[test]
fn csv_utf8_bom_imports_as_the_docx_deck() {
    let doc = same_deck_as_docx("quiz_ko.csv", Format::Csv, Title::FileStem);
    assert_eq!(only_table(&doc), docx_table());
}

#[test]
fn csv_cp949_imports_as_the_docx_deck() {
    let doc = same_deck_as_docx("quiz_ko_cp949.csv", Format::Csv, Title::Same);
    let table = only_table(&doc);
    assert_eq!(table[1..], docx_table()[..], "title row, then the docx's table");
}

#[test]
fn tsv_imports_as_the_docx_deck() {
    let doc = same_deck_as_docx("quiz_ko.tsv", Format::Tsv, Title::FileStem);
    assert_eq!(only_table(&doc), docx_table());
}

#[test]
fn utf16_unicode_text_imports_as_the_docx_deck() {
    // Excel's "Unicode text": UTF-16 LE, tab-separated, named .txt.
    let doc = same_deck_as_docx("quiz_ko_utf16.txt", Format::Txt, Title::FileStem);
    assert_eq!(only_table(&doc), docx_table());
}

#[test]
fn txt_question_lines_import_as_the_docx_deck() {
    let doc = same_deck_as_docx("quiz_ko.txt", Format::Txt, Title::Same);
    assert!(doc.blocks.iter().all(|b| matches!(b, Block::Paragraph { .. })));
}

#[test]
fn md_imports_as_the_docx_deck() {
    let doc = same_deck_as_docx("quiz_ko.md", Format::Md, Title::Same);
    has_every_docx_unit("quiz_ko.md", &doc);
    assert_eq!(only_table(&doc), docx_table());
    assert!(!doc.text().contains("**") && !doc.text().contains("# "), "markup left: {}", doc.text());
}

#[test]
fn a_zip_of_new_formats_reads_each_entry() {
    let doc = read("quiz_ko_new_formats.zip");
    assert_eq!(doc.format, Format::Zip);
    let want = docx_deck();
    for entry in ["한글/퀴즈.hwpx", "quiz_ko.odt", "엑셀/퀴즈.csv", "notes/quiz_ko.md"] {
        let mut part = Document::new(doc.format);
        part.blocks = doc.blocks.iter().filter(|b| b.origin().entry == [entry]).cloned().collect();
        assert!(!part.blocks.is_empty(), "no blocks from {entry}");
        assert_eq!(deck_from_document(entry, &part).questions, want.questions, "{entry}");
    }
}

#[test]
fn the_pool_reads_new_formats_by_path() {
    let mut pool = doctext::Pool::new(2);
    let names = ["quiz_ko.hwpx", "quiz_ko_cp949.csv", "quiz_ko.md", "quiz_ko.ods"];
    for n in names {
        pool.submit_file(data(n), Options::default());
    }
    let done = pool.finish();
    for ((_, name, result), want) in done.iter().zip(names) {
        assert_eq!(name, want);
        let doc = result.as_ref().unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(deck_from_document(name, doc).questions, docx_deck().questions, "{name}");
    }
}

fn bytes(data: &[u8], name: &str) -> doctext::Result<Document> {
    doctext::extract_bytes(data, name, &Options::default())
}

fn rows_of(doc: &Document) -> Vec<Vec<String>> {
    match doc.blocks.as_slice() {
        [Block::Table { rows, .. }] => rows.clone(),
        other => panic!("one table expected, got {other:?}"),
    }
}

#[test]
fn delimiters_and_encodings_are_detected() {
    let table = vec![vec!["번호".to_string(), "문제".into(), "정답".into()], vec!["1".into(), "수도는?".into(), "서울".into()]];
    let utf16le = |s: &str| -> Vec<u8> { [0xFF, 0xFE].into_iter().chain(s.encode_utf16().flat_map(u16::to_le_bytes)).collect() };
    let utf16be = |s: &str| -> Vec<u8> { [0xFE, 0xFF].into_iter().chain(s.encode_utf16().flat_map(u16::to_be_bytes)).collect() };
    let cp949 = |s: &str| -> Vec<u8> { encoding_cp949(s) };
    let cases: Vec<(Vec<u8>, &str, Format)> = vec![
        (b"\xEF\xBB\xBF".iter().copied().chain("번호,문제,정답\r\n1,수도는?,서울\r\n".bytes()).collect(), "a.csv", Format::Csv),
        ("번호;문제;정답\n1;수도는?;서울\n".into(), "a.csv", Format::Csv),
        ("번호\t문제\t정답\n1\t수도는?\t서울".into(), "a.csv", Format::Tsv),
        ("번호,문제,정답\n1,수도는?,서울\n".into(), "a.tsv", Format::Csv),
        (utf16le("번호\t문제\t정답\r\n1\t수도는?\t서울\r\n"), "a.txt", Format::Txt),
        (utf16be("번호,문제,정답\n1,수도는?,서울\n"), "a.csv", Format::Csv),
        (cp949("번호,문제,정답\r\n1,수도는?,서울\r\n"), "a.CSV", Format::Csv),
        (cp949("번호\t문제\t정답\r\n1\t수도는?\t서울\r\n"), "엑셀.tab", Format::Tsv),
    ];
    for (k, (data, name, format)) in cases.iter().enumerate() {
        let doc = bytes(data, name).unwrap_or_else(|e| panic!("case {k} ({name}): {e}"));
        assert_eq!(doc.format, *format, "case {k}");
        assert_eq!(rows_of(&doc), table, "case {k}");
    }
    let enc = |data: &[u8]| doctext::Encoding::detect(data);
    assert_eq!(enc(&cp949("가")), Some(doctext::Encoding::Cp949));
    assert_eq!(enc("가".as_bytes()), Some(doctext::Encoding::Utf8));
    assert_eq!(enc(&utf16le("가")), Some(doctext::Encoding::Utf16Le));
    assert_eq!(enc(b"\x80\xFF"), None);
}

/// CP949 bytes of `s` (encoding_rs's EUC-KR is the WHATWG one: Windows code page 949).
fn encoding_cp949(s: &str) -> Vec<u8> {
    let (bytes, _, unmappable) = encoding_rs::EUC_KR.encode(s);
    assert!(!unmappable, "{s} has no CP949 form");
    bytes.into_owned()
}

#[test]
fn quoted_fields_hold_delimiters_quotes_and_line_breaks() {
    let csv = "문제,정답,오답1,오답2\r\n\"두 줄\r\n질문, 쉼표도?\",\"\"\"따옴표\"\"\",b,c\r\nx,y,z,w";
    let doc = bytes(csv.as_bytes(), "q.csv").unwrap();
    let rows = rows_of(&doc);
    assert_eq!(rows[1], ["두 줄\r\n질문, 쉼표도?", "\"따옴표\"", "b", "c"]);
    assert_eq!(rows[2], ["x", "y", "z", "w"]);
    // A quote never closed is an error that says where, not one endless cell.
    let err = bytes(b"a,b\n1,\"open\n2,3\n", "q.csv").unwrap_err();
    assert!(matches!(err, Error::Malformed { format: Format::Csv, .. }), "{err}");
    assert!(err.to_string().contains("line 2"), "{err}");
}

#[test]
fn text_that_is_no_known_encoding_is_a_clear_error() {
    // 0x80 and 0xFF begin no character in UTF-8, UTF-16 (no BOM, no zero bytes) or CP949.
    let err = bytes(b"a,b\n\x80\xFF\xFF,c\n", "quiz.csv").unwrap_err();
    assert!(matches!(err, Error::Malformed { format: Format::Csv, .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("UTF-8") && msg.contains("CP949") && msg.contains("offset 4"), "{msg}");
    // A NUL byte: binary, not text.
    let err = bytes(b"ab\0\0\0\x01\x02cd", "notes.txt").unwrap_err();
    assert!(err.to_string().contains("binary data"), "{err}");
    // UTF-16 marked by its BOM but cut in half a character.
    let err = bytes(b"\xFF\xFEa\0b", "quiz.txt").unwrap_err();
    assert!(err.to_string().contains("UTF-16"), "{err}");
}

#[test]
fn truncated_packages_are_clear_errors() {
    for name in ["quiz_ko.hwpx", "quiz_ko.odt", "quiz_ko.ods", "quiz_ko.odp"] {
        let full = std::fs::read(data(name)).unwrap();
        for cut in [full.len() / 4, full.len() * 3 / 5, full.len() - 10] {
            match bytes(&full[..cut], name) {
                Err(Error::Malformed { format, reason }) => {
                    assert_eq!(format.name(), name.rsplit('.').next().unwrap(), "{name} cut at {cut}: {reason}");
                }
                Err(e) => panic!("{name} cut at {cut}: unexpected error {e}"),
                Ok(doc) => panic!("{name} cut at {cut}: read {} blocks from a zip without its directory", doc.blocks.len()),
            }
        }
    }
}

/// A zip of `entries`, the first stored (as mimetype entries are).
fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    use std::io::Write;
    let mut buf = std::io::Cursor::new(Vec::new());
    let mut w = zip::ZipWriter::new(&mut buf);
    for (k, (name, content)) in entries.iter().enumerate() {
        let method = if k == 0 { zip::CompressionMethod::Stored } else { zip::CompressionMethod::Deflated };
        let opts = zip::write::SimpleFileOptions::default().compression_method(method);
        w.start_file(*name, opts).unwrap();
        w.write_all(content).unwrap();
    }
    w.finish().unwrap();
    buf.into_inner()
}

#[test]
fn bad_xml_in_a_package_is_a_clear_error() {
    let odt = zip_of(&[
        ("mimetype", b"application/vnd.oasis.opendocument.text"),
        ("content.xml", b"<office:document-content><office:body><office:text><text:p>a</text:span></office:text>"),
    ]);
    let err = bytes(&odt, "x.odt").unwrap_err();
    assert!(matches!(err, Error::Malformed { format: Format::Odt, .. }), "{err}");
    assert!(err.to_string().contains("XML error"), "{err}");
    let hwpx = zip_of(&[("mimetype", b"application/hwp+zip"), ("Contents/section0.xml", b"<hs:sec><hp:p><hp:run><hp:t>a</hp:p></hs:sec>")]);
    let err = bytes(&hwpx, "x.hwpx").unwrap_err();
    assert!(matches!(err, Error::Malformed { format: Format::Hwpx, .. }), "{err}");
    // A package without its content part.
    let err = bytes(&zip_of(&[("mimetype", b"application/vnd.oasis.opendocument.spreadsheet")]), "x.ods").unwrap_err();
    assert!(err.to_string().contains("content.xml is missing"), "{err}");
    let err = bytes(&zip_of(&[("mimetype", b"application/hwp+zip"), ("version.xml", b"<v/>")]), "x.hwpx").unwrap_err();
    assert!(matches!(err, Error::Malformed { format: Format::Hwpx, .. }), "{err}");
}

#[test]
fn password_protected_packages_say_so() {
    let manifest = br#"<manifest:manifest><manifest:file-entry manifest:full-path="content.xml"><manifest:encryption-data manifest:checksum-type="SHA1/1K"/></manifest:file-entry></manifest:manifest>"#;
    let odt = zip_of(&[("mimetype", b"application/vnd.oasis.opendocument.text"), ("META-INF/manifest.xml", manifest), ("content.xml", b"\x8f\x01binary")]);
    let err = bytes(&odt, "secret.odt").unwrap_err();
    assert!(matches!(err, Error::Unsupported(_)) && err.to_string().contains("password-protected odt"), "{err}");
    let hwpx = zip_of(&[("mimetype", b"application/hwp+zip"), ("META-INF/manifest.xml", manifest), ("Contents/section0.xml", b"\x8f")]);
    let err = bytes(&hwpx, "secret.hwpx").unwrap_err();
    assert!(matches!(err, Error::Unsupported(_)) && err.to_string().contains("encrypted HWPX"), "{err}");
}

#[test]
fn odf_repeats_cannot_blow_up_memory() {
    // One cell repeated to every column of every row: 17 billion cells if materialized.
    let content = br#"<office:document-content><office:body><office:spreadsheet><table:table table:name="S">
<table:table-row table:number-rows-repeated="1048576"><table:table-cell table:number-columns-repeated="16384"><text:p>x</text:p></table:table-cell></table:table-row>
</table:table></office:spreadsheet></office:body></office:document-content>"#;
    let ods = zip_of(&[("mimetype", b"application/vnd.oasis.opendocument.spreadsheet"), ("content.xml", content)]);
    let err = bytes(&ods, "bomb.ods").unwrap_err();
    assert!(matches!(err, Error::Limit(doctext::LimitKind::TotalBytes { .. })), "{err}");
}

#[test]
fn unknown_files_are_named_by_their_signature() {
    let epub = zip_of(&[("mimetype", b"application/epub+zip"), ("META-INF/container.xml", b"<container/>")]);
    let odg = zip_of(&[("mimetype", b"application/vnd.oasis.opendocument.graphics"), ("content.xml", b"<x/>")]);
    let cases: Vec<(Vec<u8>, &str, &str)> = vec![
        (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec(), "quiz.docx", "a PNG image"),
        (b"\xFF\xD8\xFF\xE0\0\x10JFIF\0".to_vec(), "quiz.csv", "a JPEG image"),
        (b"7z\xBC\xAF\x27\x1C\0\x04rest".to_vec(), "quiz.7z", "a 7z archive"),
        (b"{\\rtf1\\ansi\\deff0 {\\fonttbl}}".to_vec(), "quiz.txt", "an RTF document"),
        (b"Rar!\x1A\x07\x01\0".to_vec(), "quiz.rar", "a RAR archive"),
        (b"\x1F\x8B\x08\0\0\0\0\0".to_vec(), "quiz.csv.gz", "a gzip-compressed file"),
        (b"HWP Document File V3.00 \x1A\x01\x02\x03\x04\x05".to_vec(), "old.hwp", "Hangul 97"),
        (epub, "book.epub", "an EPUB e-book"),
        (odg, "drawing.odg", "an OpenDocument drawing"),
        (b"<!DOCTYPE html><html><body>quiz</body></html>".to_vec(), "quiz.md", "a web page (HTML)"),
        (Vec::new(), "empty.csv", "empty"),
    ];
    for (data, name, what) in cases {
        let err = bytes(&data, name).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, Error::NotADocument(_)), "{name}: {msg}");
        assert!(msg.contains(what), "{name}: {msg}");
        assert!(msg.contains(doctext::SUPPORTED), "{name}: the message lists what is supported: {msg}");
    }
    // Without a signature or a text file's name, the generic message, with the list.
    let err = bytes(b"\x00\x01\x02\x03 binary", "blob.bin").unwrap_err();
    assert!(matches!(err, Error::UnknownFormat), "{err}");
    assert!(err.to_string().contains("hwpx, odt, ods, odp"), "{err}");
}

#[test]
fn tab_separated_text_named_xls_is_read_as_a_table() {
    // What many web apps' "export to Excel" downloads.
    let doc = bytes("번호\t문제\t정답\n1\t수도는?\t서울\n".as_bytes(), "export.xls").unwrap();
    assert_eq!(doc.format, Format::Tsv);
    assert_eq!(rows_of(&doc)[1], ["1", "수도는?", "서울"]);
    // Not text: still unknown.
    let err = bytes(b"\x00\x01\x02\x03\x04", "export.xls").unwrap_err();
    assert!(matches!(err, Error::UnknownFormat), "{err}");
}

#[test]
fn flat_odf_xml_is_read() {
    let fodt = r#"<?xml version="1.0" encoding="UTF-8"?>
<office:document xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" office:mimetype="application/vnd.oasis.opendocument.text" office:version="1.3">
<office:meta/><office:body><office:text><text:p>평면 문서</text:p></office:text></office:body></office:document>"#;
    let doc = bytes(fodt.as_bytes(), "flat.fodt").unwrap();
    assert_eq!(doc.format, Format::Odt);
    assert_eq!(doc.text(), "평면 문서\n");
}

#[test]
fn markdown_and_text_details() {
    let md = "# 퀴즈\n\n1. 수도는?\n- 부산\n* **서울**\n- [ ] 대구\n정답: B\n";
    let doc = bytes(md.as_bytes(), "q.md").unwrap();
    assert_eq!(doc.text(), "퀴즈\n1. 수도는?\n- 부산\n- 서울\n- 대구\n정답: B\n");
    let deck = deck_from_document("q.md", &doc);
    assert_eq!(deck.questions[0].choices, ["부산", "서울", "대구"]);
    assert_eq!(deck.questions[0].correct, 1);
    // A checked task item marks the right choice.
    let md = "Q. 수도는?\n- [ ] 부산\n- [x] 서울\n";
    let deck = deck_from_document("q.md", &bytes(md.as_bytes(), "q.md").unwrap());
    assert_eq!(deck.questions[0].correct, 1);
    // Text lines are paragraphs; CRLF and trailing spaces go.
    let doc = bytes("첫 줄  \r\n\r\n둘째 줄\r\n".as_bytes(), "a.txt").unwrap();
    assert_eq!(doc.text(), "첫 줄\n둘째 줄\n");
}

#[test]
fn damaged_copies_never_panic() {
    // A small deterministic fuzz over every quiz file: flipped bytes and cut tails. Any
    // outcome but a panic (or a hang past the time limit) is fine.
    let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut opts = Options::default();
    opts.limits.max_time = std::time::Duration::from_secs(5);
    for entry in std::fs::read_dir(data("")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".py") {
            continue;
        }
        let original = std::fs::read(&path).unwrap();
        for round in 0..150 {
            let mut bytes = original.clone();
            if round % 5 == 4 {
                bytes.truncate((next() % original.len() as u64) as usize);
            } else if round % 5 == 3 {
                // Tokens the text readers act on, spliced in anywhere (also inside a
                // multi-byte character).
                const TOKENS: [&[u8]; 14] = [
                    b",", b"\"", b"\r\n", b"sep=", "sep=한".as_bytes(), b"|", b"|---|", b"# ", b"<br>", b"\t", b"\xEF\xBB\xBF", b"`", b"[x](", "퀴".as_bytes(),
                ];
                for _ in 0..1 + next() % 6 {
                    let at = (next() % (bytes.len() as u64 + 1)) as usize;
                    let token = TOKENS[(next() % TOKENS.len() as u64) as usize];
                    bytes.splice(at..at, token.iter().copied());
                }
            } else {
                for _ in 0..1 + next() % 8 {
                    let at = (next() % bytes.len() as u64) as usize;
                    bytes[at] = next() as u8;
                }
            }
            match doctext::extract_bytes(&bytes, &name, &opts) {
                Err(Error::Panicked(msg)) => panic!("{name} round {round}: a reader panicked: {msg}"),
                Err(Error::Limit(doctext::LimitKind::Time { .. })) => panic!("{name} round {round}: took over 5 s"),
                _ => {}
            }
        }
    }
}

#[test]
fn fuzz_entry_points_take_any_input() {
    // What the fuzz targets text, odf and hwpx call (doctext/fuzz/fuzz_targets), so they
    // keep compiling and a crash found there can be replayed here.
    for kind in 0..4u8 {
        for input in [&b""[..], b"\"", b"a,\"b\n", b"| a |\n|---|\n| b |", b"\xFF\xFE\x00", b"sep=", "sep=한\n".as_bytes(), b"\xEF\xBB\xBF\xE0"] {
            let _ = doctext::fuzzing::text(input, kind);
        }
    }
    for xml in ["", "<", "<office:body><office:spreadsheet><table:table><table:table-row table:number-rows-repeated=\"99999999999\"><table:table-cell table:number-columns-repeated=\"99999999999\"><text:p>x</text:p></table:table-cell></table:table-row>"] {
        let _ = doctext::fuzzing::odf_content(xml);
    }
    for xml in ["", "<hp:tc><hp:cellAddr colAddr=\"99999999999\"/></hp:tc>", "<hp:tbl><hp:tr><hp:tc><hp:subList><hp:p><hp:run><hp:t>a"] {
        let _ = doctext::fuzzing::hwpx_section(xml);
    }
}
