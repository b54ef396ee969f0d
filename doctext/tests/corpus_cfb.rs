//! The OLE compound-file formats (doc, xls, ppt, hwp) over the corpus in
//! ../shared/testdata/docs, through the public API.

mod common;

use common::{assert_all_units, assert_units_ratio, entries, entry};
use doctext::{Block, Error, Format, Options, Part, extract_bytes, extract_file};

const CFB_FORMATS: &[&str] = &["doc", "xls", "ppt", "hwp"];

fn format_of(name: &str) -> Format {
    match name {
        "doc" => Format::Doc,
        "xls" => Format::Xls,
        "ppt" => Format::Ppt,
        "hwp" => Format::Hwp,
        other => panic!("not a compound-file format: {other}"),
    }
}

#[test]
fn base_files_have_every_unit() {
    let files = entries("base", CFB_FORMATS);
    assert!(files.len() >= 9, "{files:?}");
    for e in files {
        let doc = extract_file(e.abs_path(), &Options::default()).unwrap_or_else(|err| panic!("{}: {err}", e.path));
        assert_eq!(doc.format, format_of(&e.format), "{}", e.path);
        assert_all_units(&e.path, &e.expected().units, &doc.text());
    }
}

#[test]
fn realworld_files_have_95_percent_of_units() {
    for e in entries("realworld", CFB_FORMATS) {
        let doc = extract_file(e.abs_path(), &Options::default()).unwrap_or_else(|err| panic!("{}: {err}", e.path));
        assert_eq!(doc.format, format_of(&e.format), "{}", e.path);
        let units = e.expected().units;
        if units.is_empty() {
            // The reference tool found no text (an outline-only file): reading it must
            // still succeed, which the unwrap above checked.
            continue;
        }
        assert_units_ratio(&e.path, &units, &doc.text(), 0.95);
    }
}

#[test]
fn quiz_tables_come_out_as_tables() {
    for rel in ["base/quiz_ko.doc", "base/quiz_ko.xls", "base/quiz_ko.ppt"] {
        let doc = extract_file(entry(rel).abs_path(), &Options::default()).unwrap();
        let rows = doc
            .blocks
            .iter()
            .find_map(|b| match b {
                Block::Table { rows, .. } => Some(rows),
                _ => None,
            })
            .unwrap_or_else(|| panic!("{rel}: no table"));
        let header = rows.iter().position(|r| r.first().is_some_and(|c| c == "번호")).expect("header row");
        assert_eq!(rows[header], ["번호", "문제", "정답", "오답1", "오답2"], "{rel}");
        assert_eq!(rows[header + 1], ["1", "대한민국의 수도는?", "서울", "부산", "인천"], "{rel}");
        assert_eq!(rows.len() - header, 21, "{rel}");
    }
}

#[test]
fn origins_name_sheets_slides_and_sections() {
    let open = |rel: &str| extract_file(entry(rel).abs_path(), &Options::default()).unwrap();
    assert!(open("base/quiz_ko.xls").blocks.iter().all(|b| matches!(&b.origin().part, Part::Sheet(n) if !n.is_empty())));
    let ppt = open("base/quiz_ko.ppt");
    assert_eq!(ppt.blocks.first().map(|b| b.origin().part.clone()), Some(Part::Slide(1)));
    assert!(ppt.blocks.iter().any(|b| b.origin().part == Part::Slide(2)));
    assert!(open("base/quiz_ko.hwp").blocks.iter().all(|b| b.origin().part == Part::Section(0)));
}

#[test]
fn bad_magic_is_an_error() {
    let e = entry("malformed/cfb_bad_magic.doc");
    assert!(e.expected().expect_line().is_some_and(|l| l.contains("not a CFB file")));
    let err = extract_file(e.abs_path(), &Options::default()).unwrap_err();
    // Detected as a damaged compound file from the half signature it keeps, not as an
    // unknown format; the format named is the one its bytes suggest.
    assert!(matches!(err, Error::Malformed { .. }), "{err:?}");
    assert!(err.to_string().contains("not a CFB file"), "{err}");
}

#[test]
fn bad_deflate_is_a_clear_error() {
    let e = entry("malformed/hwp_bad_deflate.hwp");
    assert!(e.expected().expect_line().is_some_and(|l| l.contains("invalid deflate data")));
    let err = extract_file(e.abs_path(), &Options::default()).unwrap_err();
    assert!(matches!(err, Error::Malformed { format: Format::Hwp, .. }), "{err:?}");
    assert!(err.to_string().contains("invalid deflate data in BodyText/Section0"), "{err}");
}

/// Truncated and bit-flipped copies of every compound file: an error or partial text,
/// never a panic (which the public API would report as `Error::Panicked`).
#[test]
fn damaged_copies_never_panic() {
    let mut files = entries("base", CFB_FORMATS);
    files.extend(entries("realworld", CFB_FORMATS));
    files.push(entry("malformed/cfb_bad_magic.doc"));
    files.push(entry("malformed/hwp_bad_deflate.hwp"));
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for e in files {
        let data = std::fs::read(e.abs_path()).unwrap();
        let mut damaged: Vec<(String, Vec<u8>)> =
            [5, 50, 95].iter().map(|p| (format!("first {p} %"), data[..data.len() * p / 100].to_vec())).collect();
        for k in 0..8 {
            let mut v = data.clone();
            for _ in 0..4 {
                let at = (next() % v.len() as u64) as usize;
                v[at] ^= 1 << (next() % 8);
            }
            damaged.push((format!("flips {k}"), v));
        }
        for (what, v) in damaged {
            if let Err(Error::Panicked(msg)) = extract_bytes(&v, &e.path, &Options::default()) {
                panic!("{} ({what}): a reader panicked: {msg}", e.path);
            }
        }
    }
}
