//! The text readers on arbitrary bytes: encoding detection (UTF-8 ±BOM, UTF-16, CP949),
//! then CSV / TSV (delimiter detection, RFC 4180 quoting), plain text (tab tables) or
//! Markdown (pipe tables, inline markup), chosen by the first byte.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some((&kind, rest)) = data.split_first() {
        let _ = doctext::fuzzing::text(rest, kind);
    }
});
