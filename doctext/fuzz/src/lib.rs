//! Shared set-up of the doctext fuzz targets.

/// libFuzzer's panic hook aborts on every panic, even one that is caught. doctext runs
/// the third-party PDF parser on a thread named `doctext-pdf` and turns its panics into
/// `Error::PdfFailed` by design; those are let through (and counted as ordinary results),
/// while a panic anywhere else — doctext's own code — still aborts as a crash.
pub fn contain_pdf_parser_panics() {
    let abort_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().name() == Some("doctext-pdf") {
            return;
        }
        abort_hook(info);
    }));
}

/// Options with small limits so each execution stays short; hitting one is a valid outcome.
pub fn options(password: Option<&str>) -> doctext::Options {
    let mut opts = doctext::Options { password: password.map(str::to_owned), ..Default::default() };
    opts.limits.max_entry_bytes = 8 << 20;
    opts.limits.max_total_bytes = 32 << 20;
    opts.limits.max_time = std::time::Duration::from_secs(5);
    opts
}
