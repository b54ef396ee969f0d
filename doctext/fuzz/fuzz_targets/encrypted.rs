//! Encrypted OOXML: arbitrary compound files read with a password (seeds: the corpus's
//! Agile and Standard files). The verifier must reject wrong keys; nothing may panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: doctext_fuzz::contain_pdf_parser_panics(), |data: &[u8]| {
    let _ = doctext::extract_bytes(data, "fuzz", &doctext_fuzz::options(Some("Secret123")));
});
