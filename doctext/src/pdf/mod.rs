//! PDF through `pdf-extract` (fonts, CMaps, CID fonts) with our own layout pass.
//!
//! `pdf-extract` hands every glyph to an output device with its text-rendering matrix. We
//! collect a page's glyphs and lay them out as lines cut into cells ([`layout`]), then
//! rebuild tables from cells that line up in columns ([`table`]). A page is held back
//! until the next one is laid out, because a table row cut by the page break goes on there.
//!
//! Guarding: the parser runs on a reader thread of its own (kept from one PDF to the next,
//! see [`Reader`]). The caller checks the time limit and cancellation, then waits for the
//! result in short slices; when either fires, the parser is told to stop at its next
//! glyph and the caller returns at once. A panic inside the third-party parser becomes
//! [`Error::PdfFailed`], with the page it was on.
//!
//! Memory: before the library sees the file, every stream is decoded by counting only
//! ([`guard`]), so what the library later decodes is bounded by the limits.

use crate::error::{Error, LimitKind, Result};
use crate::limits::Ctx;
use crate::model::{Document, Format, Origin, Part};
use layout::{Glyph, lay_out, unligature};
use pdf_extract::{MediaBox, OutputDev, OutputError, Transform};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;
use table::{Item, Out, continue_table, find_tables, items_out};

mod cmap;
mod guard;
mod layout;
mod table;

/// How often the waiting caller checks time and cancellation.
const POLL: Duration = Duration::from_millis(20);

/// Finished pages: each page's paragraphs and tables in reading order.
type Pages = Vec<(u32, Vec<Out>)>;

pub(crate) fn extract(data: &[u8], ctx: &mut Ctx) -> Result<Document> {
    // Every stream decodes within the limits before the library decodes any. (On this
    // thread: a bug here is ours, and must not be taken for a PDF-library panic.)
    guard::scan(data, &mut guard::Budget::new(ctx.limits), &|| ctx.check())?;
    let abort = Arc::new(AtomicBool::new(false));
    let (reply, rx) = crossbeam_channel::bounded(1);
    let job = Job {
        data: data.to_vec(),
        password: ctx.password.map(str::to_owned),
        max_text: ctx.limits.max_entry_bytes,
        limits: ctx.limits.clone(),
        abort: abort.clone(),
        page: Arc::new(AtomicU32::new(0)),
        reply,
    };
    let reader = Reader::take_or_start(job)?;
    let pages = loop {
        if let Err(e) = ctx.check() {
            // The reader stops at its next glyph; it is not put back, so it ends once it
            // notices, and this thread's next PDF gets a fresh one.
            abort.store(true, Ordering::Relaxed);
            return Err(e);
        }
        match rx.recv_timeout(POLL) {
            Ok(r) => {
                // The reader is idle again: keep it for this thread's next PDF, unless it
                // caught a panic (then it has ended).
                if !matches!(r, Err(Error::PdfFailed { .. })) {
                    reader.put_back();
                }
                break r?;
            }
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                return Err(Error::Panicked("the PDF reader thread ended without a result".into()));
            }
        }
    };
    let mut doc = Document::new(Format::Pdf);
    for (page, items) in pages {
        let origin = || Origin { part: Part::Page(page), ..Origin::default() };
        for item in items {
            match item {
                Out::Paragraph(text) => {
                    ctx.charge(text.len() as u64)?;
                    doc.push_paragraph(text, origin());
                }
                Out::Table(rows) => {
                    ctx.charge(rows.iter().flatten().map(|c| c.len() as u64).sum())?;
                    doc.push_table(rows, origin());
                }
            }
        }
    }
    Ok(doc)
}

/// One PDF for the reader thread.
struct Job {
    data: Vec<u8>,
    password: Option<String>,
    max_text: u64,
    limits: crate::Limits,
    abort: Arc<AtomicBool>,
    /// The page being read (0 before the first), for the error when the library panics.
    page: Arc<AtomicU32>,
    reply: crossbeam_channel::Sender<Result<Pages>>,
}

/// A thread that reads PDFs for one calling thread (a pool worker, the CLI), one at a time.
///
/// It outlives a file: starting a thread per PDF, with fresh allocator caches, cost about
/// 6 % of the reading time in the benchmark. A reader that is abandoned mid-file (time
/// limit, cancellation) or that caught a panic is not reused; it ends when its job channel
/// closes, which also happens when the calling thread exits.
struct Reader {
    jobs: crossbeam_channel::Sender<Job>,
}

thread_local! {
    /// This thread's idle reader, if it has one.
    static IDLE_READER: std::cell::RefCell<Option<Reader>> = const { std::cell::RefCell::new(None) };
}

#[cfg(test)]
thread_local! {
    /// Readers started for this thread (tests check that one is reused).
    static READERS_STARTED: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

impl Reader {
    /// Hands `job` to this thread's idle reader, or to a new one.
    fn take_or_start(job: Job) -> Result<Reader> {
        let idle = IDLE_READER.with(|r| r.borrow_mut().take());
        let job = match idle {
            Some(reader) => match reader.jobs.send(job) {
                Ok(()) => return Ok(reader),
                // It ended (it only does after a panic); start another.
                Err(crossbeam_channel::SendError(job)) => job,
            },
            None => job,
        };
        let (jobs, rx) = crossbeam_channel::bounded::<Job>(1);
        #[cfg(test)]
        READERS_STARTED.with(|n| n.set(n.get() + 1));
        std::thread::Builder::new()
            .name("doctext-pdf".into())
            .spawn(move || {
                for job in rx {
                    let r = catch_unwind(AssertUnwindSafe(|| read(&job)));
                    let panicked = r.is_err();
                    let _ = job.reply.send(r.unwrap_or_else(|p| {
                        let page = job.page.load(Ordering::Relaxed);
                        Err(Error::PdfFailed { page: (page > 0).then_some(page), reason: crate::panic_message(p.as_ref()) })
                    }));
                    if panicked {
                        // Third-party state after a panic is not trusted for the next file.
                        break;
                    }
                }
            })
            .map_err(Error::Io)?;
        let reader = Reader { jobs };
        reader.jobs.send(job).map_err(|_| Error::Panicked("the PDF reader thread ended before its first file".into()))?;
        Ok(reader)
    }

    /// Keeps this reader for the calling thread's next PDF.
    fn put_back(self) {
        IDLE_READER.with(|r| *r.borrow_mut() = Some(self));
    }
}

/// Parses the PDF and lays out its pages (runs on the reader thread).
fn read(job: &Job) -> Result<Pages> {
    let (data, password, abort, max_text) = (&job.data[..], job.password.as_deref(), &*job.abort, job.max_text);
    let mut doc = pdf_extract::Document::load_mem(data).map_err(|e| Error::malformed(Format::Pdf, e.to_string()))?;
    // lopdf decrypts a file whose user password is empty while loading it, and then no
    // longer calls it encrypted: the raw file says whether it was.
    let encrypted = doc.is_encrypted() || guard::mentions_encryption(data);
    if doc.is_encrypted() {
        // Many PDFs are encrypted with an empty user password (permissions only).
        if doc.decrypt("").is_err() {
            let password = password.ok_or(Error::PasswordRequired)?;
            doc.decrypt(password).map_err(|e| match e {
                pdf_extract::Error::Decryption(pdf_extract::encryption::DecryptionError::IncorrectPassword) => {
                    Error::WrongPassword
                }
                other => Error::Unsupported(format!("this PDF's encryption ({other})")),
            })?;
        }
    }
    if encrypted {
        // The raw scan saw these streams encrypted: check them again as lopdf now holds
        // them (decrypted, still encoded). (lopdf has already unpacked the object streams
        // by then, unbounded: a gap for encrypted files only.)
        let mut budget = guard::Budget::new(&job.limits);
        for obj in doc.objects.values() {
            if let pdf_extract::Object::Stream(stream) = obj {
                let image = stream.dict.get(b"Subtype").and_then(pdf_extract::Object::as_name).is_ok_and(|n| n == b"Image");
                if !image && let Ok(filters) = stream.filters() {
                    let filters: Vec<Vec<u8>> = filters.into_iter().map(<[u8]>::to_vec).collect();
                    budget.check_unless_small(&stream.content, &filters, false)?;
                }
            }
        }
    }
    // Korean fonts named by a predefined CMap (no font file) get their code space and a
    // ToUnicode map, which pdf-extract knows how to use.
    cmap::patch_predefined_cmaps(&mut doc);
    let mut dev = Layout { abort: Some(abort), page_no: Some(&job.page), max_text, ..Layout::default() };
    match pdf_extract::output_doc(&doc, &mut dev) {
        Ok(()) => {}
        Err(_) if dev.stopped.is_some() => {}
        Err(e) => {
            // Keep the pages read before the damage, if any.
            if dev.pages.is_empty() && dev.held.is_none() && dev.glyphs.is_empty() {
                return Err(Error::malformed(Format::Pdf, e.to_string()));
            }
            tracing::warn!(error = %e, "PDF partly read");
        }
    }
    if let Some(e) = dev.stopped.take() {
        return Err(e);
    }
    dev.finish_page();
    dev.release_held();
    Ok(dev.pages)
}

#[derive(Default)]
struct Layout<'a> {
    abort: Option<&'a AtomicBool>,
    page_no: Option<&'a AtomicU32>,
    max_text: u64,
    text_bytes: u64,
    page: u32,
    page_height: f64,
    glyphs: Vec<Glyph>,
    /// The last laid-out page, kept back until the next one shows whether a table row at
    /// its foot continues there.
    held: Option<(u32, Vec<Item>)>,
    pages: Pages,
    stopped: Option<Error>,
}

impl Layout<'_> {
    fn keep_going(&mut self) -> std::result::Result<(), OutputError> {
        if self.abort.is_some_and(|a| a.load(Ordering::Relaxed)) {
            self.stopped = Some(Error::Cancelled);
        } else if self.text_bytes > self.max_text {
            self.stopped = Some(Error::Limit(LimitKind::EntryBytes { max: self.max_text }));
        }
        match self.stopped {
            Some(_) => Err(OutputError::FormatError(std::fmt::Error)),
            None => Ok(()),
        }
    }

    fn finish_page(&mut self) {
        if !self.glyphs.is_empty() {
            let mut blocks = lay_out(std::mem::take(&mut self.glyphs));
            if let Some((page, mut prev)) = self.held.take() {
                continue_table(&mut prev, &mut blocks);
                self.pages.push((page, items_out(prev)));
            }
            self.held = Some((self.page, find_tables(blocks)));
        }
    }

    fn release_held(&mut self) {
        if let Some((page, items)) = self.held.take() {
            self.pages.push((page, items_out(items)));
        }
    }
}

impl OutputDev for Layout<'_> {
    fn begin_page(&mut self, page_num: u32, media_box: &MediaBox, _: Option<(f64, f64, f64, f64)>) -> std::result::Result<(), OutputError> {
        self.finish_page();
        self.page = page_num;
        if let Some(p) = self.page_no {
            p.store(page_num, Ordering::Relaxed);
        }
        self.page_height = media_box.ury - media_box.lly;
        self.keep_going()
    }

    fn end_page(&mut self) -> std::result::Result<(), OutputError> {
        self.finish_page();
        Ok(())
    }

    fn output_character(&mut self, trm: &Transform, width: f64, _spacing: f64, font_size: f64, text: &str) -> std::result::Result<(), OutputError> {
        self.keep_going()?;
        // Font size in device space: the side of the square with the area the text
        // matrix gives a font_size × font_size square.
        let vx = font_size * (trm.m11 + trm.m21);
        let vy = font_size * (trm.m12 + trm.m22);
        let size = (vx * vy).abs().sqrt().max(0.1);
        let x = trm.m31;
        let y = self.page_height - trm.m32;
        if !(x.is_finite() && y.is_finite() && size.is_finite()) {
            return Ok(());
        }
        let text = unligature(text);
        self.text_bytes += text.len() as u64;
        let end = x + (width * size).max(0.0);
        let seq = self.glyphs.len();
        self.glyphs.push(Glyph { seq, x, y, end, size, text });
        Ok(())
    }

    fn begin_word(&mut self) -> std::result::Result<(), OutputError> {
        Ok(())
    }

    fn end_word(&mut self) -> std::result::Result<(), OutputError> {
        Ok(())
    }

    fn end_line(&mut self) -> std::result::Result<(), OutputError> {
        self.keep_going()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus(name: &str) -> Vec<u8> {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata/docs").join(name);
        std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    fn extract_with(data: &[u8], limits: crate::limits::Limits) -> Result<Document> {
        let abort = AtomicBool::new(false);
        let mut ctx = Ctx::new(&limits, None, Some(&abort));
        extract(data, &mut ctx)
    }

    #[test]
    fn the_reader_thread_is_reused_and_replaced_after_a_time_out() {
        std::thread::spawn(|| {
            let pdf = corpus("base/plain_en.pdf");
            let first = extract_with(&pdf, Default::default()).expect("reads");
            let second = extract_with(&pdf, Default::default()).expect("reads again");
            assert_eq!(first.text(), second.text());
            assert!(!first.text().trim().is_empty());
            assert_eq!(READERS_STARTED.with(|n| n.get()), 1, "the second PDF reuses the reader");
            // A time-out abandons the reader; the next PDF gets a new one and reads whole.
            let no_time = crate::limits::Limits { max_time: Duration::ZERO, ..Default::default() };
            let err = extract_with(&pdf, no_time).expect_err("no time to read");
            assert!(matches!(err, Error::Limit(LimitKind::Time { .. })), "{err}");
            let third = extract_with(&pdf, Default::default()).expect("reads after the time-out");
            assert_eq!(first.text(), third.text());
            assert_eq!(READERS_STARTED.with(|n| n.get()), 2, "the abandoned reader is not reused");
        })
        .join()
        .expect("test thread");
    }
}
