//! The OpenDocument walker on arbitrary text as content.xml (paragraphs, tables with
//! repeated rows and cells, slides, notes, skipped parts).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = doctext::fuzzing::odf_content(&text);
});
