//! The xlsx readers (workbook sheet list, shared strings, cells) on arbitrary text.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = doctext::fuzzing::xlsx_parts(&text);
});
