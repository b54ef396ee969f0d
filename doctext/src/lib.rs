//! Structured text from office documents.
//!
//! Formats: docx, xlsx, pptx (OOXML through `zip` + `quick-xml`), doc, xls, ppt, hwp
//! (OLE compound files through `cfb`), hwpx (OWPML), odt, ods, odp (OpenDocument, also
//! flat XML), pdf, csv and tsv, plain text and Markdown, and zip archives of any of these.
//! Password-protected OOXML (Agile and Standard encryption) opens with its password.
//!
//! The format is detected from the content: zip → an OOXML package (by
//! `[Content_Types].xml` and its main part), an OpenDocument or HWPX package (by its
//! `mimetype` entry, else its main parts), or an archive; an OLE compound file →
//! encrypted OOXML (`EncryptionInfo` + `EncryptedPackage`) or a legacy document; `%PDF` →
//! PDF. Text has no signature: a file whose name ends in `.csv`, `.tsv`, `.txt` or `.md`
//! (the name is only a hint; also `.xls` holding text, as web exports write) is read as
//! text, its encoding and delimiter detected, unless its bytes are something else. A file that is none of these is refused with an error
//! naming what its signature says it is ("a PNG image", "a 7z archive") where it can.
//!
//! ```no_run
//! let doc = doctext::extract_file("quiz.docx", &doctext::Options::default())?;
//! println!("{}", doc.text());
//! # Ok::<(), doctext::Error>(())
//! ```

pub mod error;
pub mod limits;
pub mod model;

mod archive;
mod cfb;
mod crypto;
mod flow;
mod hwpx;
mod numfmt;
/// The calendar the date formats use: (year, month, day) of a count of days since 1970-01-01
/// (proleptic Gregorian), also for callers that show dates.
pub use numfmt::civil_from_days;
mod odf;
mod ooxml;
mod pdf;
mod pool;
mod sniff;
mod textfile;
mod xml;
mod zipio;

pub use error::{Error, LimitKind, Result, SUPPORTED};
pub use textfile::Encoding;
pub use limits::{Ctx, Limits};
pub use model::{Block, Document, Format, Origin, Part};
pub use pool::{JobId, Pool, PoolEvent};

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::atomic::AtomicBool;

/// How to read a file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    pub limits: Limits,
    /// Password for encrypted documents (also used for encrypted entries of archives).
    pub password: Option<String>,
}

impl Options {
    pub fn with_password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }
}

/// Reads a file from disk and extracts its text.
///
/// A zip (docx, xlsx, pptx, archives) larger than 16 MiB is read from the file as needed,
/// never whole: a 300 MB deck whose size is a video costs the memory of its slides. Other
/// files are read into memory, up to `Limits::max_file_bytes`.
pub fn extract_file(path: impl AsRef<Path>, opts: &Options) -> Result<Document> {
    let name = path.as_ref().file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    run_path(path.as_ref(), &name, opts, None, None, &mut Vec::new())
}

/// Zips up to this size are read into memory whole; larger ones through the file.
const ZIP_IN_MEMORY_MAX: u64 = 16 << 20;

/// Reads a file on disk: a large zip through the file itself, anything else through `buf`.
pub(crate) fn run_path(
    path: &Path,
    name_hint: &str,
    opts: &Options,
    cancel: Option<&AtomicBool>,
    progress: Option<&(dyn Fn(u64) + Sync)>,
    buf: &mut Vec<u8>,
) -> Result<Document> {
    use std::io::{Read, Seek};
    let mut file = std::fs::File::open(path)?;
    let mut head = [0u8; 4];
    let mut n = 0;
    while n < head.len() {
        match file.read(&mut head[n..])? {
            0 => break,
            k => n += k,
        }
    }
    // A small zip is cheaper to read whole than through seeks on the file.
    let large = file.metadata()?.len() > ZIP_IN_MEMORY_MAX;
    if large && detect(&head[..n]) == Detected::Zip {
        file.rewind()?;
        let mut ctx = Ctx::new(&opts.limits, opts.password.as_deref(), cancel);
        if let Some(p) = progress {
            ctx = ctx.with_progress(p);
        }
        return guarded(
            || {
                let mut pkg = zipio::ZipPackage::open_file(file, zip_format_for_name(name_hint), &ctx)?;
                extract_package(&mut pkg, &mut ctx)
            },
            name_hint,
        );
    }
    drop(file);
    read_file_into(path, &opts.limits, buf)?;
    run(buf, name_hint, opts, cancel, progress)
}

/// Extracts the text of a file held in memory. The format is detected from the bytes;
/// `name_hint` (a file name) is used in logs and, for text files, which have no
/// signature, says whether the bytes are CSV, TSV, plain text or Markdown.
pub fn extract_bytes(data: &[u8], name_hint: &str, opts: &Options) -> Result<Document> {
    extract_with_cancel(data, name_hint, opts, None)
}

/// [`extract_bytes`] with a cancellation flag, checked in every long loop.
pub fn extract_with_cancel(data: &[u8], name_hint: &str, opts: &Options, cancel: Option<&AtomicBool>) -> Result<Document> {
    run(data, name_hint, opts, cancel, None)
}

/// One guarded top-level extraction with optional cancellation and progress reports.
pub(crate) fn run(
    data: &[u8],
    name_hint: &str,
    opts: &Options,
    cancel: Option<&AtomicBool>,
    progress: Option<&(dyn Fn(u64) + Sync)>,
) -> Result<Document> {
    let mut ctx = Ctx::new(&opts.limits, opts.password.as_deref(), cancel);
    if let Some(p) = progress {
        ctx = ctx.with_progress(p);
    }
    guarded(|| extract_any(data, name_hint, &mut ctx), name_hint)
}

/// Reads a file into `buf` (cleared first; pool workers reuse one buffer), refusing a file
/// larger than `max_file_bytes`, also one that grows past it while being read.
pub(crate) fn read_file_into(path: &Path, limits: &Limits, buf: &mut Vec<u8>) -> Result<()> {
    use std::io::Read;
    let too_big = || Error::Limit(LimitKind::FileBytes { max: limits.max_file_bytes });
    let file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    if len > limits.max_file_bytes {
        return Err(too_big());
    }
    buf.clear();
    buf.reserve(usize::try_from(len).unwrap_or(usize::MAX));
    file.take(limits.max_file_bytes.saturating_add(1)).read_to_end(buf)?;
    if buf.len() as u64 > limits.max_file_bytes {
        return Err(too_big());
    }
    Ok(())
}

/// Runs `f`, turning a panic (from our code or a third-party parser) into an error.
pub(crate) fn guarded<T>(f: impl FnOnce() -> Result<T>, name_hint: &str) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let msg = panic_message(payload.as_ref());
            tracing::error!(file = %name_hint, panic = %msg, "a reader panicked");
            Err(Error::Panicked(msg))
        }
    }
}

/// The message of a panic payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string())
}

/// Entry points for the fuzz targets (doctext/fuzz): the XML walkers of each OOXML,
/// OpenDocument and HWPX format on raw text, without a zip around them, and the text
/// readers. Not a stable API.
#[doc(hidden)]
pub mod fuzzing {
    use crate::{Ctx, Document, Format, Limits, Origin, Result};

    /// The docx body walker on one XML part.
    pub fn docx_part(xml: &str) -> Result<Document> {
        walk(xml, Format::Docx)
    }

    /// The pptx slide walker on one XML part.
    pub fn pptx_part(xml: &str) -> Result<Document> {
        walk(xml, Format::Pptx)
    }

    /// The xlsx readers on one XML text used as workbook, shared strings and sheet.
    pub fn xlsx_parts(xml: &str) -> Result<usize> {
        let limits = Limits::default();
        let ctx = Ctx::new(&limits, None, None);
        crate::ooxml::fuzz_xlsx(xml, &ctx)
    }

    /// The text readers (encoding detection, then CSV / TSV / plain text / Markdown by
    /// `kind % 4`) on raw bytes.
    pub fn text(data: &[u8], kind: u8) -> Result<Document> {
        let format = [Format::Csv, Format::Tsv, Format::Txt, Format::Md][usize::from(kind % 4)];
        let limits = Limits::default();
        let mut ctx = Ctx::new(&limits, None, None);
        crate::textfile::extract(data, format, &mut ctx)
    }

    /// The OpenDocument walker on one `content.xml` (kind from the body element).
    pub fn odf_content(xml: &str) -> Result<Document> {
        let limits = Limits { max_total_bytes: 32 << 20, ..Limits::default() };
        let mut ctx = Ctx::new(&limits, None, None);
        crate::odf::read_xml(xml, None, &mut ctx)
    }

    /// The HWPX walker on one `Contents/sectionN.xml`.
    pub fn hwpx_section(xml: &str) -> Result<Document> {
        let limits = Limits { max_total_bytes: 32 << 20, ..Limits::default() };
        let mut ctx = Ctx::new(&limits, None, None);
        let mut doc = Document::new(Format::Hwpx);
        crate::hwpx::walk(xml, Origin::default(), &mut doc, &mut ctx)?;
        Ok(doc)
    }

    fn walk(xml: &str, format: Format) -> Result<Document> {
        let limits = Limits::default();
        let ctx = Ctx::new(&limits, None, None);
        let mut doc = Document::new(format);
        crate::ooxml::fuzz_walk(xml, format, &Origin::default(), &mut doc, &ctx)?;
        Ok(doc)
    }
}

/// What the first bytes say a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detected {
    Zip,
    Cfb,
    Pdf,
    Unknown,
}

/// Detects the container kind from the first bytes.
pub fn detect(data: &[u8]) -> Detected {
    const CFB_MAGIC: [u8; 8] = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
    if data.starts_with(b"PK\x03\x04") || data.starts_with(b"PK\x05\x06") {
        Detected::Zip
    } else if data.starts_with(&CFB_MAGIC[..4]) {
        // The first half of the signature is enough to call it a (possibly damaged)
        // compound file: its reader then says precisely what is wrong with it.
        Detected::Cfb
    } else if data.get(..1024.min(data.len())).is_some_and(|head| head.windows(5).any(|w| w == b"%PDF-")) {
        Detected::Pdf
    } else {
        Detected::Unknown
    }
}

/// Reads any supported file at the current depth; `name` (the file or entry name) is a
/// hint for text files and for naming the format of a damaged zip.
pub(crate) fn extract_any(data: &[u8], name: &str, ctx: &mut Ctx) -> Result<Document> {
    ctx.check()?;
    match detect(data) {
        Detected::Zip => {
            let mut pkg = zipio::ZipPackage::open(data, zip_format_for_name(name), ctx)?;
            extract_package(&mut pkg, ctx)
        }
        Detected::Cfb => {
            let mut ole = cfb::Ole::open(data, ctx)?;
            match crypto::encrypted_streams(ole.compound_file(), ctx)? {
                Some(enc) => {
                    let package = enc.decrypt(ctx)?;
                    // The package must be a zip; anything else (e.g. another compound file)
                    // is refused rather than recursed into.
                    if detect(&package) != Detected::Zip {
                        return Err(Error::malformed(Format::Docx, "the decrypted package is not a zip"));
                    }
                    extract_any(&package, name, ctx)
                }
                None => cfb::extract(ole, ctx),
            }
        }
        Detected::Pdf => pdf::extract(data, ctx),
        Detected::Unknown => {
            if let Some((text, format)) = flat_odf(data) {
                return odf::read_xml(text, format, ctx);
            }
            if let Some(what) = sniff::identify(data) {
                return Err(Error::NotADocument(what.to_string()));
            }
            match textfile::format_for_name(name) {
                Some(format) => textfile::extract(data, format, ctx),
                // Web apps' "export to Excel" often writes CSV or TSV text named .xls.
                None if textfile::is_text_named_xls(data, name) => textfile::extract(data, Format::Csv, ctx),
                None => Err(Error::UnknownFormat),
            }
        }
    }
}

/// Reads an opened zip: an OOXML, OpenDocument or HWPX package, a package of a kind we
/// name but do not read, or else an archive of documents.
pub(crate) fn extract_package(pkg: &mut zipio::ZipPackage<'_>, ctx: &mut Ctx) -> Result<Document> {
    match ooxml::kind(pkg, ctx)? {
        Some((format, main)) => {
            pkg.set_format(format);
            ooxml::extract(pkg, format, &main, ctx)
        }
        None => match sniff::zip_kind(pkg, ctx)? {
            Some(sniff::ZipKind::Odf(format)) => odf::extract(pkg, format, ctx),
            Some(sniff::ZipKind::Hwpx) => hwpx::extract(pkg, ctx),
            Some(sniff::ZipKind::Foreign(what)) => Err(Error::NotADocument(what.to_string())),
            None => archive::extract(pkg, ctx),
        },
    }
}

/// Reads an archive entry one level deeper.
pub(crate) fn extract_nested(data: &[u8], name: &str, ctx: &mut Ctx) -> Result<Document> {
    if ctx.depth >= ctx.limits.max_depth {
        return Err(Error::Limit(LimitKind::Depth { max: ctx.limits.max_depth }));
    }
    ctx.depth += 1;
    let r = extract_any(data, name, ctx);
    ctx.depth -= 1;
    tracing::debug!(entry = %name, ok = r.is_ok(), "archive entry read");
    r
}

/// A flat (single XML file) OpenDocument: its text and kind.
fn flat_odf(data: &[u8]) -> Option<(&str, Option<Format>)> {
    let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    if !data.starts_with(b"<?xml") && !data.starts_with(b"<office:document") {
        return None;
    }
    let text = std::str::from_utf8(data).ok()?;
    Some((text, odf::flat_kind(text)?))
}

/// The format a zip's name claims, named when its directory cannot be read.
fn zip_format_for_name(name: &str) -> Format {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match ext.as_str() {
        "docx" | "docm" => Format::Docx,
        "xlsx" | "xlsm" => Format::Xlsx,
        "pptx" | "pptm" => Format::Pptx,
        "hwpx" => Format::Hwpx,
        "odt" | "ott" => Format::Odt,
        "ods" | "ots" => Format::Ods,
        "odp" | "otp" => Format::Odp,
        _ => Format::Zip,
    }
}
