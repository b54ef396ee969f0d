//! The HWPX section walker on arbitrary text (paragraphs, runs, tables with cell
//! addresses, skipped headers and tracked deletions).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = doctext::fuzzing::hwpx_section(&text);
});
