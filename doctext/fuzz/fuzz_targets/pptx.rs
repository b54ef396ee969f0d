//! The pptx XML walker on arbitrary text (paragraphs, tables, text boxes, entities).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = doctext::fuzzing::pptx_part(&text);
});
