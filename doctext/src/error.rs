//! The one error type of the crate.

use crate::model::Format;
use std::time::Duration;

/// Which limit a document ran into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitKind {
    /// One stream or archive entry inflated past `max` bytes.
    EntryBytes { max: u64 },
    /// Everything inflated from one file passed `max` bytes.
    TotalBytes { max: u64 },
    /// More than `max` archive entries or container streams.
    Entries { max: usize },
    /// Archives nested deeper than `max`.
    Depth { max: u32 },
    /// One PDF stream decoded to more than `max` bytes.
    StreamBytes { max: u64 },
    /// An entry or stream inflated to more than `max` times its compressed size.
    Ratio { max: u64 },
    /// A file to be read into memory is larger than `max` bytes.
    FileBytes { max: u64 },
    /// The file took longer than `max` to read.
    Time { max: Duration },
}

impl std::fmt::Display for LimitKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LimitKind::EntryBytes { max } => write!(f, "an entry inflates to more than {max} bytes"),
            LimitKind::TotalBytes { max } => write!(f, "the file inflates to more than {max} bytes in total"),
            LimitKind::Entries { max } => write!(f, "more than {max} entries"),
            LimitKind::Depth { max } => write!(f, "archives nested deeper than {max} levels"),
            LimitKind::StreamBytes { max } => write!(f, "a PDF stream decodes to more than {max} bytes"),
            LimitKind::Ratio { max } => write!(f, "a part inflates to more than {max} times its compressed size"),
            LimitKind::FileBytes { max } => write!(f, "the file is larger than {max} bytes"),
            LimitKind::Time { max } => write!(f, "reading took longer than {:.1} s", max.as_secs_f64()),
        }
    }
}

/// The formats doctext reads, as listed in messages.
pub const SUPPORTED: &str =
    "docx, xlsx, pptx, doc, xls, ppt, hwp, hwpx, odt, ods, odp, pdf, csv, tsv, txt, md, or a zip of them";

/// Everything that can go wrong while reading a document.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("could not read the file: {0}")]
    Io(#[from] std::io::Error),
    #[error("not a supported document (supported: {})", SUPPORTED)]
    UnknownFormat,
    /// The file's signature says what it is, and it is not a document doctext reads
    /// ("a PNG image", "an EPUB e-book", "a 7z archive").
    #[error("this file is {0}, not a supported document (supported: {supported})", supported = SUPPORTED)]
    NotADocument(String),
    #[error("this {format} file is damaged or not really a {format} file: {reason}")]
    Malformed { format: Format, reason: String },
    #[error("{0} — this kind of file cannot be imported")]
    Unsupported(String),
    #[error("the file is password-protected — give its password")]
    PasswordRequired,
    #[error("wrong password — try again")]
    WrongPassword,
    #[error("refused: {0} (limit reached, the file may be a decompression bomb)")]
    Limit(LimitKind),
    #[error("cancelled")]
    Cancelled,
    #[error("internal error while reading the file: {0}")]
    Panicked(String),
    /// The PDF library failed (it panicked) on this file, on `page` if it had begun one.
    #[error("could not read this PDF{}: the PDF reader failed ({reason})", .page.map(|p| format!(" (page {p})")).unwrap_or_default())]
    PdfFailed { page: Option<u32>, reason: String },
}

impl Error {
    /// Shorthand for [`Error::Malformed`].
    pub fn malformed(format: Format, reason: impl Into<String>) -> Self {
        Error::Malformed { format, reason: reason.into() }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
