//! Korean text shown with a predefined CMap and no embedded font.
//!
//! A Type0 font whose `/Encoding` names one of the Adobe-Korea1 CMaps (`UniKS-UCS2-H`,
//! `KSCms-UHC-H`, …) has codes that *are* text in a known encoding: UCS-2/UTF-16BE,
//! UTF-8, or CP949 (EUC-KR and its Unified Hangul Code extension). pdf-extract knows only
//! `Identity-H` by name and panics on the others. Before extraction, each such font gets
//! an embedded CMap stream with the named CMap's code space (one- and two-byte codes for
//! CP949, …) mapping each code to itself as CID, and, when it has none, a `ToUnicode`
//! stream from those codes to Unicode (generated with `encoding_rs` for CP949). The
//! document is changed in memory only.
//!
//! Not covered: `KSC-Johab-H` (Johab has no decoder in `encoding_rs`; such a file still
//! fails, as a clear error) and UTF-16 surrogate pairs (characters outside the BMP).

use pdf_extract::{Dictionary, Document, Object, ObjectId, Stream};
use std::collections::HashMap;
use std::fmt::Write as _;

/// How a predefined CMap encodes text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    /// Two-byte big-endian UCS-2 / UTF-16 (BMP only).
    Ucs2,
    /// UTF-8, one to three bytes.
    Utf8,
    /// CP949: ASCII bytes, two-byte codes with leads 0x81–0xFE (UHC).
    Uhc,
    /// EUC-KR (KS X 1001): ASCII bytes, two-byte codes 0xA1A1–0xFEFE.
    Euc,
}

fn kind(name: &[u8]) -> Option<Kind> {
    let name = std::str::from_utf8(name).ok()?;
    let base = name.strip_suffix("-H").or_else(|| name.strip_suffix("-V"))?;
    Some(match base {
        "UniKS-UCS2" | "UniKS-UTF16" => Kind::Ucs2,
        "UniKS-UTF8" => Kind::Utf8,
        "KSCms-UHC" | "KSCms-UHC-HW" => Kind::Uhc,
        "KSC-EUC" | "KSCpc-EUC" => Kind::Euc,
        _ => return None,
    })
}

/// Rewrites the fonts of `doc` that name a Korean predefined CMap; returns how many.
pub(crate) fn patch_predefined_cmaps(doc: &mut Document) -> usize {
    let fonts: Vec<(ObjectId, Kind, bool)> = doc
        .objects
        .iter()
        .filter_map(|(id, obj)| {
            let dict = obj.as_dict().ok()?;
            if dict.get(b"Subtype").and_then(Object::as_name).ok()? != b"Type0" {
                return None;
            }
            let kind = kind(dict.get(b"Encoding").and_then(Object::as_name).ok()?)?;
            Some((*id, kind, dict.has(b"ToUnicode")))
        })
        .collect();
    let mut made: HashMap<Kind, (ObjectId, ObjectId)> = HashMap::new();
    for &(id, kind, has_to_unicode) in &fonts {
        let (encoding, to_unicode) = *made.entry(kind).or_insert_with(|| {
            let enc = doc.add_object(Stream::new(cmap_dict(), encoding_cmap(kind).into_bytes()));
            let uni = doc.add_object(Stream::new(Dictionary::new(), to_unicode_cmap(kind).into_bytes()));
            (enc, uni)
        });
        if let Ok(Object::Dictionary(dict)) = doc.get_object_mut(id) {
            dict.set("Encoding", Object::Reference(encoding));
            if !has_to_unicode {
                dict.set("ToUnicode", Object::Reference(to_unicode));
            }
        }
    }
    fonts.len()
}

fn cmap_dict() -> Dictionary {
    let mut d = Dictionary::new();
    d.set("Type", Object::Name(b"CMap".to_vec()));
    d
}

/// The code space of `kind`, every code mapped to the CID of the same number (so the
/// ToUnicode map, which pdf-extract looks up by CID, is keyed by code).
fn encoding_cmap(kind: Kind) -> String {
    let ranges: &[(&str, &str)] = match kind {
        Kind::Ucs2 => &[("0000", "FFFF")],
        Kind::Utf8 => &[("00", "7F"), ("C280", "DFBF"), ("E08080", "EFBFBF")],
        Kind::Uhc => &[("00", "80"), ("8141", "FEFE")],
        Kind::Euc => &[("00", "80"), ("A1A1", "FEFE")],
    };
    let mut s = String::from("/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n");
    let _ = writeln!(s, "{} begincodespacerange", ranges.len());
    for (lo, hi) in ranges {
        // pdf-extract (adobe-cmap-parser 0.4) takes a range's code width as half its
        // number of bytes, so an n-byte range is written with n leading zero bytes.
        let pad = "00".repeat(lo.len() / 2);
        let _ = writeln!(s, "<{pad}{lo}> <{pad}{hi}>");
    }
    // One range only: pdf-extract's CMap parser reads the first of several wrongly.
    s.push_str("endcodespacerange\n1 begincidrange\n<00000000> <FFFFFFFF> 0\nendcidrange\nendcmap\nend\nend\n");
    s
}

/// A ToUnicode CMap from the codes of `kind` to UTF-16BE.
fn to_unicode_cmap(kind: Kind) -> String {
    // (first code, code bytes, first UTF-16 unit, count): consecutive codes to
    // consecutive characters.
    let mut runs: Vec<(u32, usize, u16, u32)> = Vec::new();
    let mut push = |code: u32, width: usize, unit: u16| {
        if let Some(last) = runs.last_mut()
            && last.1 == width
            && last.0 + last.3 == code
            && u32::from(last.2) + last.3 == u32::from(unit)
            // A range stays within one last byte.
            && (code & 0xFF) != 0
        {
            last.3 += 1;
            return;
        }
        runs.push((code, width, unit, 1));
    };
    match kind {
        Kind::Ucs2 => {
            for hi in (0u32..=0xFF).filter(|h| !(0xD8..=0xDF).contains(h)) {
                for lo in 0..=0xFF {
                    let c = (hi << 8) | lo;
                    push(c, 2, c as u16);
                }
            }
        }
        Kind::Utf8 => {
            for c in 0u32..=0xFFFF {
                let Some(ch) = char::from_u32(c) else { continue };
                let mut buf = [0u8; 4];
                let bytes = ch.encode_utf8(&mut buf).as_bytes();
                let code = bytes.iter().fold(0u32, |a, &b| (a << 8) | u32::from(b));
                push(code, bytes.len(), c as u16);
            }
        }
        Kind::Uhc | Kind::Euc => {
            for b in 0u32..=0x7F {
                push(b, 1, b as u16);
            }
            let (leads, trails) = if kind == Kind::Uhc { (0x81u32..=0xFE, 0x41u32..=0xFE) } else { (0xA1..=0xFE, 0xA1..=0xFE) };
            for lead in leads {
                for trail in trails.clone() {
                    let pair = [lead as u8, trail as u8];
                    let (text, had_errors) = encoding_rs::EUC_KR.decode_without_bom_handling(&pair);
                    let mut units = text.encode_utf16();
                    if let (false, Some(unit), None) = (had_errors, units.next(), units.next()) {
                        push((lead << 8) | trail, 2, unit);
                    }
                }
            }
        }
    }
    let mut s = String::from("/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n");
    for block in runs.chunks(100) {
        let _ = writeln!(s, "{} beginbfrange", block.len());
        for &(code, width, unit, count) in block {
            let hex = |c: u32| format!("{:0w$X}", c, w = width * 2);
            let _ = writeln!(s, "<{}> <{}> <{unit:04X}>", hex(code), hex(code + count - 1));
        }
        s.push_str("endbfrange\n");
    }
    s.push_str("endcmap\nend\nend\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_maps() {
        assert_eq!(kind(b"UniKS-UCS2-H"), Some(Kind::Ucs2));
        assert_eq!(kind(b"KSCms-UHC-HW-V"), Some(Kind::Uhc));
        assert_eq!(kind(b"KSC-Johab-H"), None);
        assert_eq!(kind(b"Identity-H"), None);
        let uhc = to_unicode_cmap(Kind::Uhc);
        // 한 is C7D1 in CP949, U+D55C.
        let map = adobe_lookup(&uhc);
        assert_eq!(map.get(&0xC7D1).map(String::as_str), Some("한"));
        assert_eq!(map.get(&0x41).map(String::as_str), Some("A"));
        // 똠 (U+B620) is only in the UHC extension: 0x8C63.
        assert_eq!(map.get(&0x8C63).map(String::as_str), Some("똠"));
        let utf8 = adobe_lookup(&to_unicode_cmap(Kind::Utf8));
        assert_eq!(utf8.get(&0xED959C).map(String::as_str), Some("한"));
        let ucs2 = adobe_lookup(&to_unicode_cmap(Kind::Ucs2));
        assert_eq!(ucs2.get(&0xAE00).map(String::as_str), Some("글"));
    }

    /// The ToUnicode map as a reader would build it from our bfranges.
    fn adobe_lookup(cmap: &str) -> HashMap<u32, String> {
        let mut out = HashMap::new();
        for line in cmap.lines() {
            let parts: Vec<&str> = line.split_whitespace().collect();
            if parts.len() != 3 || !parts[0].starts_with('<') {
                continue;
            }
            let hex = |s: &str| u32::from_str_radix(s.trim_matches(|c| c == '<' || c == '>'), 16).unwrap();
            let (lo, hi, dst) = (hex(parts[0]), hex(parts[1]), hex(parts[2]));
            for c in lo..=hi {
                let unit = (dst + c - lo) as u16;
                out.insert(c, String::from_utf16_lossy(&[unit]));
            }
        }
        out
    }
}
