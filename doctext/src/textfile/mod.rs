//! Text files: CSV and TSV (one table), plain text (a paragraph per line, or a table when
//! every line holds the same number of tabs, as a table pasted from a spreadsheet does)
//! and Markdown (paragraphs, pipe tables).
//!
//! Text has no signature, so a file is read as text when its name says so (`.csv`, `.tsv`,
//! `.tab`, `.txt`, `.text`, `.md`, `.markdown`) and no binary signature says otherwise;
//! which of them it really is, and its delimiter, come from the content.
//!
//! Encodings: UTF-8 with or without a BOM, UTF-16 LE/BE with a BOM (Excel's "Unicode
//! text") or without one when every other byte is zero, and CP949 / EUC-KR (what Korean
//! Excel and Notepad write). Bytes that are none of these, or that hold binary control
//! characters, are an error that says so.

pub(crate) mod csv;
pub(crate) mod markdown;

use crate::error::{Error, Result};
use crate::limits::Ctx;
use crate::model::{Document, Format, Origin};
use std::borrow::Cow;

/// The text format a file name's extension asks for.
pub(crate) fn format_for_name(name: &str) -> Option<Format> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let (_, ext) = base.rsplit_once('.')?;
    match ext.to_ascii_lowercase().as_str() {
        "csv" => Some(Format::Csv),
        "tsv" | "tab" => Some(Format::Tsv),
        "txt" | "text" => Some(Format::Txt),
        "md" | "markdown" | "mdown" | "mkd" => Some(Format::Md),
        _ => None,
    }
}

/// A file named `.xls` whose bytes are text in one of our encodings (what many web
/// apps' "export to Excel" writes): it is read as delimited text.
pub(crate) fn is_text_named_xls(data: &[u8], name: &str) -> bool {
    name.rsplit_once('.').is_some_and(|(_, ext)| ext.eq_ignore_ascii_case("xls")) && decode(data).is_ok()
}

/// The encoding a text file was decoded from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    Utf8Bom,
    Utf16Le,
    Utf16Be,
    /// CP949 (Windows Korean, a superset of EUC-KR).
    Cp949,
}

impl Encoding {
    /// The encoding doctext would read `data` in as text, or `None` when the bytes are
    /// not text in any of them.
    pub fn detect(data: &[u8]) -> Option<Encoding> {
        decode(data).ok().map(|(_, enc)| enc)
    }
}

/// Decodes a text file, detecting its encoding; the error says why it is not text.
pub(crate) fn decode(data: &[u8]) -> std::result::Result<(Cow<'_, str>, Encoding), String> {
    let (text, enc) = if let Some(rest) = data.strip_prefix(b"\xEF\xBB\xBF") {
        match std::str::from_utf8(rest) {
            Ok(s) => (Cow::Borrowed(s), Encoding::Utf8Bom),
            Err(e) if e.error_len().is_none() => (String::from_utf8_lossy(rest), Encoding::Utf8Bom),
            Err(e) => return Err(format!("it starts with a UTF-8 mark but has an invalid byte at offset {}", e.valid_up_to() + 3)),
        }
    } else if let Some(rest) = data.strip_prefix(b"\xFF\xFE") {
        (utf16(rest, encoding_rs::UTF_16LE)?, Encoding::Utf16Le)
    } else if let Some(rest) = data.strip_prefix(b"\xFE\xFF") {
        (utf16(rest, encoding_rs::UTF_16BE)?, Encoding::Utf16Be)
    } else if let Some((text, enc)) = utf16_without_bom(data).and_then(|le| {
        let (encoding, enc) = if le { (encoding_rs::UTF_16LE, Encoding::Utf16Le) } else { (encoding_rs::UTF_16BE, Encoding::Utf16Be) };
        // Not valid UTF-16 after all: the checks below say what it is.
        utf16(data, encoding).ok().map(|t| (t, enc))
    }) {
        (text, enc)
    } else {
        match std::str::from_utf8(data) {
            Ok(s) => (Cow::Borrowed(s), Encoding::Utf8),
            // UTF-8 cut inside its last character (a cut download): the rest is UTF-8,
            // not CP949 that happens to decode.
            Err(e) if e.error_len().is_none() && e.valid_up_to() > 0 => {
                (String::from_utf8_lossy(data), Encoding::Utf8)
            }
            Err(e) => match encoding_rs::EUC_KR.decode_without_bom_handling_and_without_replacement(data) {
                Some(s) => (s, Encoding::Cp949),
                None => {
                    let at = e.valid_up_to();
                    let byte = data.get(at).copied().unwrap_or_default();
                    return Err(format!(
                        "it is not text in UTF-8 (invalid byte 0x{byte:02X} at offset {at}), UTF-16 or CP949 (EUC-KR) — save it as UTF-8"
                    ));
                }
            },
        }
    };
    // NUL and the other C0 controls (but tab, line breaks, form feed and a trailing
    // Ctrl-Z) do not occur in text files.
    // They are single bytes in UTF-8, never part of a longer sequence.
    if let Some(at) = first_control(text.as_bytes()) {
        let c = text.as_bytes()[at];
        return Err(format!("it holds binary data (control character U+{c:04X} at byte {at} of the text), not text"));
    }
    Ok((text, enc))
}

/// The first C0 control byte other than tab, line breaks, form feed and Ctrl-Z; checked
/// 64 bytes at a time without branches, so the compiler can vectorize it.
fn first_control(b: &[u8]) -> Option<usize> {
    let bad = |x: u8| (x < 0x20) & (x != b'\t') & (x != b'\n') & (x != b'\r') & (x != 0x0C) & (x != 0x1A);
    let mut off = 0;
    for chunk in b.chunks(64) {
        if chunk.iter().fold(false, |acc, &x| acc | bad(x)) {
            return chunk.iter().position(|&x| bad(x)).map(|k| off + k);
        }
        off += chunk.len();
    }
    None
}

fn utf16<'a>(data: &'a [u8], encoding: &'static encoding_rs::Encoding) -> std::result::Result<Cow<'a, str>, String> {
    encoding
        .decode_without_bom_handling_and_without_replacement(data)
        .map(|s| Cow::Owned(s.into_owned()))
        .ok_or_else(|| format!("it is marked as {} but is not valid {}", encoding.name(), encoding.name()))
}

/// UTF-16 without a BOM: UTF-8 and CP949 text has no zero bytes, UTF-16 has one in every
/// ASCII character (digits, commas, line breaks), always on the same side of its pair.
/// `Some(true)` for little-endian, `Some(false)` for big-endian.
fn utf16_without_bom(data: &[u8]) -> Option<bool> {
    let sample = &data[..data.len().min(4096) & !1];
    if sample.len() < 4 {
        return None;
    }
    let pairs = sample.len() / 2;
    let zeros = |parity: usize| sample.iter().skip(parity).step_by(2).filter(|&&b| b == 0).count();
    let (even, odd) = (zeros(0), zeros(1));
    if odd * 10 >= pairs && even == 0 {
        Some(true)
    } else if even * 10 >= pairs && odd == 0 {
        Some(false)
    } else {
        None
    }
}

/// Reads a text file of the kind its name suggests (`hint`).
pub(crate) fn extract(data: &[u8], hint: Format, ctx: &mut Ctx) -> Result<Document> {
    ctx.check()?;
    let (text, _enc) = decode(data).map_err(|reason| Error::malformed(hint, reason))?;
    if let Cow::Owned(s) = &text {
        ctx.charge(s.len() as u64)?;
    }
    read_text(&text, hint, ctx)
}

/// Reads decoded text as `hint` (the content may make a `.txt` a table, or a `.csv` a TSV).
pub(crate) fn read_text(text: &str, hint: Format, ctx: &mut Ctx) -> Result<Document> {
    match hint {
        Format::Csv | Format::Tsv => {
            let prefer = if hint == Format::Tsv { b'\t' } else { b',' };
            // Excel's `sep=;` first line names the delimiter.
            let (text, named) = csv::sep_line(text);
            let delim = named.unwrap_or_else(|| csv::detect_delimiter(text, prefer));
            let rows = csv::parse(text, delim, usize::MAX, ctx).map_err(|e| e.into_error(hint))?;
            let mut doc = Document::new(if delim == b'\t' { Format::Tsv } else { Format::Csv });
            doc.push_table(rows, Origin::default());
            Ok(doc)
        }
        Format::Md => markdown::read(text, ctx),
        _ => {
            let mut doc = Document::new(Format::Txt);
            if let Some(rows) = csv::tab_table(text, ctx)? {
                doc.push_table(rows, Origin::default());
                return Ok(doc);
            }
            for (i, line) in text.lines().enumerate() {
                if i % 4096 == 4095 {
                    ctx.check()?;
                }
                doc.push_paragraph(line.trim_end(), Origin::default());
            }
            Ok(doc)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_are_detected() {
        let ko = "번호,문제\n1,수도는?\n";
        assert_eq!(decode(ko.as_bytes()).unwrap(), (Cow::Borrowed(ko), Encoding::Utf8));
        let bom = [b"\xEF\xBB\xBF".as_slice(), ko.as_bytes()].concat();
        assert_eq!(decode(&bom).unwrap().1, Encoding::Utf8Bom);
        let (cp949, _, _) = encoding_rs::EUC_KR.encode(ko);
        assert_eq!(decode(&cp949).unwrap(), (Cow::Owned(ko.to_string()), Encoding::Cp949));
        let le: Vec<u8> = [0xFF, 0xFE].into_iter().chain(ko.encode_utf16().flat_map(u16::to_le_bytes)).collect();
        assert_eq!(decode(&le).unwrap(), (Cow::Owned(ko.to_string()), Encoding::Utf16Le));
        let be: Vec<u8> = [0xFE, 0xFF].into_iter().chain(ko.encode_utf16().flat_map(u16::to_be_bytes)).collect();
        assert_eq!(decode(&be).unwrap(), (Cow::Owned(ko.to_string()), Encoding::Utf16Be));
        let ascii = "No,Question\n1,Capital?\n";
        let le_nobom: Vec<u8> = ascii.encode_utf16().flat_map(u16::to_le_bytes).collect();
        assert_eq!(decode(&le_nobom).unwrap(), (Cow::Owned(ascii.to_string()), Encoding::Utf16Le));
        // Mostly Hangul (no zero bytes in its code units): the ASCII among it decides.
        let be_nobom: Vec<u8> = ko.encode_utf16().flat_map(u16::to_be_bytes).collect();
        assert_eq!(decode(&be_nobom).unwrap(), (Cow::Owned(ko.to_string()), Encoding::Utf16Be));
        // 0x80 and 0xFF start no character in UTF-8 or CP949.
        let err = decode(b"abc\x80\xFF\xFFdef").unwrap_err();
        assert!(err.contains("invalid byte 0x80 at offset 3"), "{err}");
        // UTF-8 cut inside its last character stays UTF-8.
        let cut = &"가나".as_bytes()[..5];
        assert_eq!(decode(cut).unwrap(), (Cow::Owned("가\u{FFFD}".to_string()), Encoding::Utf8));
        let err = decode(b"abc\0\0\x01\x02").unwrap_err();
        assert!(err.contains("binary data"), "{err}");
    }

    #[test]
    fn names_choose_the_text_format() {
        assert_eq!(format_for_name("퀴즈.CSV"), Some(Format::Csv));
        assert_eq!(format_for_name("a/b.tab"), Some(Format::Tsv));
        assert_eq!(format_for_name("README.markdown"), Some(Format::Md));
        assert_eq!(format_for_name("notes.txt"), Some(Format::Txt));
        assert_eq!(format_for_name("quiz.docx"), None);
        assert_eq!(format_for_name("csv"), None);
        assert_eq!(format_for_name("dir.csv/file"), None);
    }
}
