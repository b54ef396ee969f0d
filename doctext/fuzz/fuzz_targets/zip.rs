//! Whole files through detection: zip packages and archives (seeds: corpus docx/xlsx/pptx/zip).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut opts = doctext::Options::default();
    // Small limits keep each execution short; hitting them is a valid outcome.
    opts.limits.max_entry_bytes = 8 << 20;
    opts.limits.max_total_bytes = 32 << 20;
    opts.limits.max_time = std::time::Duration::from_secs(5);
    let _ = doctext::extract_bytes(data, "fuzz", &opts);
});
