//! Korean PDFs whose CID font is not embedded and names a predefined Adobe-Korea1 CMap
//! (`UniKS-UCS2-H`, `KSCms-UHC-H`, …): generated at run time, read to the right Unicode.

mod common;

use doctext::Options;

const TEXT: &str = "퀴즈 1번: 한글 똠방각하";

/// The codes of `text` in the encoding the CMap `name` names.
fn encode(name: &str, text: &str) -> Vec<u8> {
    if name.starts_with("UniKS-UCS2") || name.starts_with("UniKS-UTF16") {
        text.encode_utf16().flat_map(u16::to_be_bytes).collect()
    } else if name.starts_with("UniKS-UTF8") {
        text.as_bytes().to_vec()
    } else {
        let (bytes, _, errors) = encoding_rs::EUC_KR.encode(text);
        assert!(!errors, "{text} in CP949");
        bytes.into_owned()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// One page showing `text` with a Type0 font whose encoding is the CMap `name`, without
/// a font file or a ToUnicode map.
fn korean_pdf(name: &str, text: &str) -> Vec<u8> {
    let content = format!("BT /F1 14 Tf 72 720 Td <{}> Tj ET", hex(&encode(name, text)));
    common::pdf_of(&[
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_vec(),
        common::pdf_stream("", content.as_bytes()),
        format!("<< /Type /Font /Subtype /Type0 /BaseFont /HYGoThic-Medium-Acro /Encoding /{name} /DescendantFonts [6 0 R] >>").into_bytes(),
        b"<< /Type /Font /Subtype /CIDFontType0 /BaseFont /HYGoThic-Medium-Acro /CIDSystemInfo << /Registry (Adobe) /Ordering (Korea1) /Supplement 2 >> /FontDescriptor 7 0 R /DW 1000 >>".to_vec(),
        b"<< /Type /FontDescriptor /FontName /HYGoThic-Medium-Acro /Flags 6 /FontBBox [-6 -145 1003 880] /ItalicAngle 0 /Ascent 880 /Descent -120 /CapHeight 880 /StemV 93 >>".to_vec(),
    ])
}

fn squash(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

#[test]
fn korean_predefined_cmaps_decode_without_the_font() {
    let names = [
        "UniKS-UCS2-H",
        "UniKS-UCS2-V",
        "UniKS-UTF16-H",
        "UniKS-UTF8-H",
        "KSCms-UHC-H",
        "KSCms-UHC-HW-H",
        "KSCms-UHC-V",
        "KSC-EUC-H",
        "KSCpc-EUC-H",
    ];
    let mut bad = Vec::new();
    for name in names {
        // EUC-KR (KS X 1001) has no 똠: the EUC files show the rest.
        let text = if name.contains("EUC") { "퀴즈 1번: 한글 방각하" } else { TEXT };
        match doctext::extract_bytes(&korean_pdf(name, text), "korean.pdf", &Options::default()) {
            Ok(doc) if squash(&doc.text()) == squash(text) => {}
            Ok(doc) => bad.push(format!("{name}: {:?}", doc.text())),
            Err(e) => bad.push(format!("{name}: {e}")),
        }
    }
    println!("{} of {} predefined CMaps read right", names.len() - bad.len(), names.len());
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn an_unsupported_cmap_is_a_clear_error_with_its_page() {
    let err = doctext::extract_bytes(&korean_pdf("KSC-Johab-H", "AB"), "johab.pdf", &Options::default()).expect_err("Johab is not decoded");
    let msg = err.to_string();
    assert!(matches!(err, doctext::Error::PdfFailed { .. }), "{msg}");
    assert!(msg.starts_with("could not read this PDF (page 1)"), "{msg}");
    assert!(!msg.contains("internal error"), "{msg}");
}
