//! Whole files through detection: OLE compound files, doc/xls/ppt/hwp (seeds: corpus legacy files).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: doctext_fuzz::contain_pdf_parser_panics(), |data: &[u8]| {
    let _ = doctext::extract_bytes(data, "fuzz", &doctext_fuzz::options(None));
});
