//! Encrypted OOXML: arbitrary compound files read with a password (seeds: the corpus's
//! Agile and Standard files). The verifier must reject wrong keys; nothing may panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut opts = doctext::Options::default().with_password("Secret123");
    opts.limits.max_entry_bytes = 8 << 20;
    opts.limits.max_total_bytes = 32 << 20;
    let _ = doctext::extract_bytes(data, "fuzz", &opts);
});
