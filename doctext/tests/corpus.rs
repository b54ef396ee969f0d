//! Corpus tests for the formats read outside `cfb` (docx, xlsx, pptx, pdf, zip archives,
//! encrypted OOXML, malformed files).

mod common;

use common::*;

#[test]
fn helpers_self_check() {
    assert_eq!(normalize(" a\u{3000}b\tc\n"), "abc");
    // NFD 가 (U+1100 U+1161) composes to U+AC00.
    assert_eq!(normalize("\u{1100}\u{1161}"), "\u{AC00}");
    let units = vec![normalize("Hello World"), normalize("서울")];
    assert!(coverage(&units, "xx Hello  World yy 서 울").all());
    let c = coverage(&units, "Hello");
    assert_eq!((c.found, c.total), (0, 2));
    let m = manifest();
    assert!(m.iter().any(|e| e.group == "encrypted" && e.password.as_deref() == Some("Secret123")));
    let wrong = entry("malformed/WRONG_password_agile.docx");
    assert!(wrong.expected().expect_line().is_some_and(|l| l.contains("wrong-password")));
}

use doctext::{Error, LimitKind, Options};

fn extract(e: &Entry, opts: &Options) -> doctext::Result<doctext::Document> {
    doctext::extract_file(e.abs_path(), opts)
}

/// Every ground-truth unit of every base file of these formats.
fn base_all_units(formats: &[&str]) {
    for e in entries("base", formats) {
        let doc = extract(&e, &Options::default()).unwrap_or_else(|err| panic!("{}: {err}", e.path));
        assert_eq!(doc.format.name(), e.format, "{}: detected format", e.path);
        assert_all_units(&e.path, &e.expected().units, &doc.text());
    }
}

/// The reference units with each number replaced by the number the text shows for it
/// when that is the same value rounded to fewer places. The references of the realworld
/// sheets come from openpyxl, which gives the stored value (`0.71852083941501133`);
/// Excel, and doctext, show it through the cell's format (`0.00000` → `0.71852`).
fn as_shown(units: Vec<String>, text: &str) -> Vec<String> {
    let shown: Vec<&str> = text
        .split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
        .filter(|t| t.parse::<f64>().is_ok())
        .collect();
    units
        .into_iter()
        .map(|u| {
            let Ok(v) = u.parse::<f64>() else { return u };
            let same = shown.iter().find(|t| {
                let places = t.split_once('.').map_or(0, |(_, f)| f.len()) as i32;
                if places == 0 && v.fract() != 0.0 {
                    return false;
                }
                let scale = 10f64.powi(places);
                t.parse::<f64>().is_ok_and(|s| ((v * scale).round() - s * scale).abs() < 0.5)
            });
            same.map_or(u, |t| normalize(t))
        })
        .collect()
}

/// At least 95 % of the reference units of every realworld file of these formats.
fn realworld_units(formats: &[&str]) {
    for e in entries("realworld", formats) {
        let doc = extract(&e, &Options::default()).unwrap_or_else(|err| panic!("{}: {err}", e.path));
        let units = e.expected().units;
        let units = if e.format == "xlsx" { as_shown(units, &doc.text()) } else { units };
        if units.is_empty() {
            // A reference tool that found no text: we must not invent any error either.
            continue;
        }
        assert_units_ratio(&e.path, &units, &doc.text(), 0.95);
    }
}

#[test]
fn docx_base_all_units() {
    base_all_units(&["docx"]);
}

#[test]
fn xlsx_base_all_units() {
    base_all_units(&["xlsx"]);
}

#[test]
fn pptx_base_all_units() {
    base_all_units(&["pptx"]);
}

#[test]
fn ooxml_realworld_95_percent() {
    realworld_units(&["docx", "xlsx", "pptx"]);
}

#[test]
fn xlsx_sheets_are_tables_named_after_their_sheets() {
    let doc = doctext::extract_file(corpus_path("base/quiz_ko.xlsx"), &Options::default()).unwrap();
    let sheets: Vec<&doctext::Part> = doc.blocks.iter().map(|b| &b.origin().part).collect();
    assert!(!sheets.is_empty());
    assert!(sheets.iter().all(|p| matches!(p, doctext::Part::Sheet(_))), "{sheets:?}");
    assert!(doc.blocks.iter().any(|b| matches!(b, doctext::Block::Table { rows, .. } if rows.len() >= 21)));
}

#[test]
fn pptx_slides_in_order_with_notes() {
    let doc = doctext::extract_file(corpus_path("base/quiz_ko.pptx"), &Options::default()).unwrap();
    let mut last = 0;
    for b in &doc.blocks {
        if let doctext::Part::Slide(n) = b.origin().part {
            assert!(n >= last, "slides out of order: {n} after {last}");
            last = n;
        }
    }
    assert!(last >= 2, "expected several slides, last was {last}");
}

/// The tables of a document, each cell normalized (NFC, whitespace removed).
fn normalized_tables(rel: &str) -> Vec<Vec<Vec<String>>> {
    let doc = doctext::extract_file(corpus_path(rel), &Options::default()).unwrap();
    doc.blocks
        .iter()
        .filter_map(|b| match b {
            doctext::Block::Table { rows, .. } => Some(rows.iter().map(|r| r.iter().map(|c| normalize(c)).collect()).collect()),
            _ => None,
        })
        .collect()
}

#[test]
fn docx_tables_keep_rows_and_cells() {
    let tables = normalized_tables("base/quiz_ko.docx");
    let table = tables.first().expect("the quiz deck has a table");
    assert_eq!(table.len(), 21, "header + 20 questions");
    assert_eq!(table[0].concat(), normalize("번호문제정답오답1오답2"));
}

#[test]
fn pdf_tables_are_rebuilt_cell_for_cell() {
    // The same quiz printed to PDF by LibreOffice: one table over two pages, question 13
    // cut by the page break, cells filled to their column's edge (questions 4 and 19).
    let pdf = normalized_tables("base/quiz_ko.pdf");
    assert_eq!(pdf.len(), 1, "{pdf:?}");
    assert_eq!(pdf, normalized_tables("base/quiz_ko.docx"));
}

#[test]
fn billion_laughs_does_not_expand_entities() {
    let e = entry("malformed/billion_laughs.docx");
    assert!(e.expected().expect_line().is_some_and(|l| l.contains("must not expand")));
    match extract(&e, &Options::default()) {
        Ok(doc) => {
            let text = doc.text();
            assert!(!text.contains("lollol"), "entities were expanded");
            assert!(text.len() < 100_000, "output of {} bytes", text.len());
        }
        Err(err) => assert!(matches!(err, Error::Malformed { .. }), "{err}"),
    }
}

#[test]
fn xxe_never_reads_files() {
    let e = entry("malformed/xxe_external_entity.docx");
    assert!(e.expected().expect_line().is_some_and(|l| l.contains("/etc/passwd")));
    match extract(&e, &Options::default()) {
        Ok(doc) => {
            let text = doc.text();
            assert!(!text.contains("root:"), "an external entity was read: {text}");
            assert!(normalize(&text).contains(&normalize("외부 엔티티 없음")), "{text}");
        }
        Err(err) => assert!(matches!(err, Error::Malformed { .. }), "{err}"),
    }
}

#[test]
fn bomb_is_refused_by_the_entry_limit() {
    let e = entry("malformed/bomb_ratio_1GiB.docx");
    assert!(e.expected().expect_line().is_some_and(|l| l.starts_with("reject")));
    let err = extract(&e, &Options::default()).expect_err("a 1 GiB entry must be refused");
    // The document part streams (it is not held whole), so its ratio is what stops it,
    // after a few megabytes, and the message says so.
    assert!(matches!(err, Error::Limit(LimitKind::Ratio { .. })), "{err}");
    assert!(err.to_string().contains("times its compressed size"), "{err}");
    // A total budget smaller than one entry stops it too, and says so.
    let mut opts = Options::default();
    opts.limits.max_total_bytes = 1 << 20;
    let err = extract(&e, &opts).expect_err("the total limit must stop it");
    assert!(matches!(err, Error::Limit(LimitKind::TotalBytes { .. })), "{err}");
}

#[test]
fn truncated_docx_is_a_clear_error_or_partial_text() {
    let e = entry("malformed/truncated_60pct.docx");
    assert!(e.expected().expect_line().is_some_and(|l| l.contains("must not panic")));
    match extract(&e, &Options::default()) {
        Ok(doc) => assert!(!doc.blocks.is_empty(), "partial text expected when no error"),
        Err(err) => assert!(matches!(err, Error::Malformed { .. }), "{err}"),
    }
}

#[test]
fn unknown_bytes_are_unknown_format() {
    // Text has no signature: without a text file's name it is not read.
    let err = doctext::extract_bytes(b"hello, not a document", "x.docx", &Options::default()).unwrap_err();
    assert!(matches!(err, Error::UnknownFormat), "{err}");
    assert!(err.to_string().contains("hwpx") && err.to_string().contains("csv"), "the message lists the formats: {err}");
}

#[test]
fn encrypted_files_open_with_their_password_and_equal_their_base_file() {
    for e in entries("encrypted", &["docx", "xlsx"]) {
        let password = e.password.clone().expect("encrypted rows carry a password");
        let doc = extract(&e, &Options::default().with_password(password))
            .unwrap_or_else(|err| panic!("{}: {err}", e.path));
        assert_eq!(doc.format.name(), e.format, "{}", e.path);
        assert_all_units(&e.path, &e.expected().units, &doc.text());
    }
}

#[test]
fn encrypted_files_without_a_password_ask_for_one() {
    for e in entries("encrypted", &["docx", "xlsx"]) {
        let err = extract(&e, &Options::default()).expect_err("no password given");
        assert!(matches!(err, Error::PasswordRequired), "{}: {err}", e.path);
    }
}

#[test]
fn wrong_password_is_wrong_password_never_garbage() {
    let e = entry("malformed/WRONG_password_agile.docx");
    assert!(e.expected().expect_line().is_some_and(|l| l.contains("wrong-password")));
    let password = e.password.clone().expect("the manifest gives the wrong password");
    let err = extract(&e, &Options::default().with_password(password)).expect_err("wrong password");
    assert!(matches!(err, Error::WrongPassword), "{err}");
    // The Standard-encrypted file too.
    let std = entry("encrypted/quiz_ko_loStandard_pw-Secret123.docx");
    let err = extract(&std, &Options::default().with_password("secret123")).expect_err("wrong password");
    assert!(matches!(err, Error::WrongPassword), "{err}");
}

/// The text of the blocks that came from archive entries whose path ends with `suffix`.
fn entry_text(doc: &doctext::Document, suffix: &str) -> String {
    let mut d = doctext::Document::new(doc.format);
    d.blocks = doc
        .blocks
        .iter()
        .filter(|b| b.origin().entry.last().is_some_and(|e| e.ends_with(suffix)))
        .cloned()
        .collect();
    d.text()
}

#[test]
fn archive_entries_keep_their_paths_and_text() {
    let doc = doctext::extract_file(corpus_path("archives/bundle_ko.zip"), &Options::default()).unwrap();
    assert_eq!(doc.format, doctext::Format::Zip);
    // The Korean folder name is decoded and recorded.
    assert!(
        doc.blocks.iter().any(|b| b.origin().entry == ["발표자료/퀴즈_슬라이드.pptx"]),
        "entry paths: {:?}",
        doc.blocks.iter().map(|b| &b.origin().entry).collect::<std::collections::BTreeSet<_>>()
    );
    for (suffix, base) in [("docx", "base/quiz_ko.docx"), ("xlsx", "base/quiz_ko.xlsx"), ("pptx", "base/quiz_ko.pptx")] {
        let units = read_expected(&format!("{base}.expected.txt")).units;
        assert_all_units(&format!("bundle_ko.zip *.{suffix}"), &units, &entry_text(&doc, suffix));
    }
    let nested = doctext::extract_file(corpus_path("archives/nested_ko_3levels.zip"), &Options::default()).unwrap();
    assert!(nested.blocks.iter().any(|b| b.origin().entry == ["readme_en.docx"]));
    assert_all_units("nested readme_en.docx", &read_expected("base/plain_en.docx.expected.txt").units, &entry_text(&nested, "readme_en.docx"));
}

#[test]
fn archive_nesting_is_bounded_by_max_depth() {
    let mut opts = Options::default();
    opts.limits.max_depth = 1;
    let err = doctext::extract_file(corpus_path("archives/nested_ko_3levels.zip"), &opts).expect_err("3 levels > 1");
    assert!(matches!(err, Error::Limit(LimitKind::Depth { max: 1 })), "{err}");
    let mut opts = Options::default();
    opts.limits.max_entries = 1;
    let err = doctext::extract_file(corpus_path("archives/bundle_ko.zip"), &opts).expect_err("5 entries > 1");
    assert!(matches!(err, Error::Limit(LimitKind::Entries { max: 1 })), "{err}");
}

/// Characters of the ground truth that base/quiz_ko.pdf does not hold: LibreOffice 7.4 had
/// no glyph for 🏆 (U+1F3C6) and wrote only the two spaces around it. No font's ToUnicode
/// map reaches U+1F3C6 (🎮 beside it is mapped, as `<26> <D83CDFAE>` in DejaVuSerif's),
/// and the page has no ActualText, so no reader can give it back. The rest of the unit
/// must still be there.
const PDF_TEXT_LAYER_LACKS: [(&str, char); 1] = [("Emoji outside the BMP: 🎮 게임 🏆 트로피.", '🏆')];

/// The expected units as the PDF can hold them (see [`PDF_TEXT_LAYER_LACKS`]).
fn pdf_units(units: Vec<String>) -> Vec<String> {
    units
        .into_iter()
        .map(|u| match PDF_TEXT_LAYER_LACKS.iter().find(|(unit, _)| normalize(unit) == u) {
            Some((_, absent)) => u.replace(*absent, ""),
            None => u,
        })
        .collect()
}

#[test]
fn pdf_base_units() {
    for e in entries("base", &["pdf"]) {
        let doc = extract(&e, &Options::default()).unwrap_or_else(|err| panic!("{}: {err}", e.path));
        assert_eq!(doc.format, doctext::Format::Pdf);
        assert_all_units(&e.path, &pdf_units(e.expected().units), &doc.text());
    }
}

#[test]
fn pdf_realworld_95_percent() {
    // The reference (pdftotext) keeps some ligatures (ﬀ) and spells out others (ﬁ):
    // compare compatibility-normalized text (NFKC) on both sides for these files.
    use unicode_normalization::UnicodeNormalization;
    let nfkc = |s: &str| -> String { s.nfkc().collect() };
    let (mut found, mut total) = (0, 0);
    for e in entries("realworld", &["pdf"]) {
        let doc = extract(&e, &Options::default()).unwrap_or_else(|err| panic!("{}: {err}", e.path));
        let units: Vec<String> = e.expected().units.iter().map(|u| nfkc(u)).collect();
        let c = coverage(&units, &nfkc(&doc.text()));
        assert!(c.ratio() >= 0.90, "{}: {}/{} units; missing {:?}", e.path, c.found, c.total, c.missing);
        found += c.found;
        total += c.total;
    }
    assert!(found as f64 >= 0.95 * total as f64, "realworld pdf: {found}/{total} units");
}

#[test]
fn pdf_lines_carry_their_page() {
    let doc = doctext::extract_file(corpus_path("realworld/example.pdf"), &Options::default()).unwrap();
    assert!(doc.blocks.iter().all(|b| matches!(b.origin().part, doctext::Part::Page(n) if n >= 1)));
}

#[test]
fn damaged_pdf_is_an_error_not_a_panic() {
    let data = std::fs::read(corpus_path("base/quiz_ko.pdf")).unwrap();
    for cut in [16, data.len() / 3, data.len() * 2 / 3] {
        match doctext::extract_bytes(&data[..cut], "cut.pdf", &Options::default()) {
            Ok(_) => {}
            Err(e) => assert!(matches!(e, Error::Malformed { .. } | Error::PdfFailed { .. }), "{e}"),
        }
    }
}

#[test]
fn archives_every_unit() {
    // Every unit of both archives, whose entries include legacy formats (doc, xls, ppt, hwp)
    // and a PDF. The PDF entry's own units are checked by `pdf_base_units`.
    for e in entries("archives", &["zip"]) {
        let doc = extract(&e, &Options::default()).unwrap_or_else(|err| panic!("{}: {err}", e.path));
        assert_all_units(&e.path, &e.expected().units, &doc.text());
    }
}

#[test]
fn pool_reports_progress_and_limit_errors_per_file() {
    let mut pool = doctext::Pool::new(2);
    let bomb = pool.submit_file(corpus_path("malformed/bomb_ratio_1GiB.docx"), Options::default());
    let good = pool.submit_file(corpus_path("base/quiz_ko.docx"), Options::default());
    let (mut started, mut progress) = (0, 0);
    let mut done = Vec::new();
    while let Some(ev) = pool.recv() {
        match ev {
            doctext::PoolEvent::Started { .. } => started += 1,
            doctext::PoolEvent::Progress { id, inflated } => {
                assert_eq!(id, bomb, "only the bomb inflates past 256 KiB");
                assert!(inflated > 0);
                progress += 1;
            }
            doctext::PoolEvent::Done { id, result, .. } => done.push((id, result)),
        }
    }
    assert_eq!(started, 2);
    assert!(progress > 10, "{progress} progress events");
    assert_eq!(done[0].0, bomb);
    assert!(matches!(done[0].1, Err(Error::Limit(LimitKind::Ratio { .. }))), "{:?}", done[0].1);
    assert_eq!(done[1].0, good);
    let doc = done[1].1.as_ref().expect("the good file reads");
    assert_all_units("pool docx", &read_expected("base/quiz_ko.docx.expected.txt").units, &doc.text());
}

#[test]
fn time_limit_stops_a_file() {
    let mut opts = Options::default();
    opts.limits.max_time = std::time::Duration::ZERO;
    for f in ["base/quiz_ko.docx", "base/quiz_ko.pdf", "encrypted/quiz_ko_agile_pw-Secret123.docx"] {
        let err = doctext::extract_file(corpus_path(f), &opts.clone().with_password("Secret123")).expect_err(f);
        assert!(matches!(err, Error::Limit(LimitKind::Time { .. })), "{f}: {err}");
    }
    // The PDF parser runs on its own thread; the caller gives up when the time is over
    // (a debug build needs far more than a millisecond for this file).
    opts.limits.max_time = std::time::Duration::from_millis(1);
    let start = std::time::Instant::now();
    let err = doctext::extract_file(corpus_path("base/quiz_ko.pdf"), &opts).expect_err("1 ms is too short");
    assert!(matches!(err, Error::Limit(LimitKind::Time { .. })), "{err}");
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn pdf_parser_panics_become_errors() {
    // Found by the pdf fuzz target: two bytes of crazyones.pdf changed make pdf-extract
    // panic on a dangling object reference. The panic stays on the reader thread.
    let mut data = std::fs::read(corpus_path("realworld/crazyones.pdf")).unwrap();
    data[1460] = b'v';
    data[10608] = b'9';
    match doctext::extract_bytes(&data, "fuzzed.pdf", &Options::default()) {
        Err(e @ Error::PdfFailed { .. }) => {
            let msg = e.to_string();
            assert!(msg.starts_with("could not read this PDF"), "{msg}");
            assert!(msg.contains("missing object reference"), "{msg}");
        }
        Err(Error::Malformed { .. }) | Ok(_) => {}
        Err(other) => panic!("unexpected error: {other}"),
    }
    // The next PDF on this thread is read by a sound reader.
    let doc = doctext::extract_file(corpus_path("realworld/crazyones.pdf"), &Options::default()).expect("the intact file reads");
    assert!(doc.text().contains("crazy"), "{}", doc.text());
}

/// The xls and xlsx of the same workbook give the same cells (numbers through the same
/// formatter), trailing empty cells aside (xls rows are aligned to the sheet's width).
#[test]
fn xls_and_xlsx_of_the_same_workbook_agree() {
    let tables = |rel: &str| -> Vec<Vec<Vec<String>>> {
        let doc = doctext::extract_file(corpus_path(rel), &Options::default()).unwrap();
        doc.blocks
            .iter()
            .filter_map(|b| match b {
                doctext::Block::Table { rows, .. } => Some(
                    rows.iter()
                        .map(|r| {
                            let mut r = r.clone();
                            while r.last().is_some_and(|c| c.is_empty()) {
                                r.pop();
                            }
                            r
                        })
                        .collect(),
                ),
                _ => None,
            })
            .collect()
    };
    for name in ["plain_en", "quiz_ko"] {
        let xls = tables(&format!("base/{name}.xls"));
        assert!(!xls.is_empty());
        assert_eq!(xls, tables(&format!("base/{name}.xlsx")), "{name}");
    }
}
