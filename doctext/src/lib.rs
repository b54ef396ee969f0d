//! Structured text from office documents.
//!
//! Formats: docx, xlsx, pptx (OOXML through `zip` + `quick-xml`), doc, xls, ppt, hwp
//! (OLE compound files through `cfb`), pdf, and zip archives of any of these.
//! Password-protected OOXML (Agile and Standard encryption) opens with its password.

pub mod error;
pub mod limits;
pub mod model;

pub use error::{Error, LimitKind, Result};
pub use limits::{Ctx, Limits};
pub use model::{Block, Document, Format, Origin, Part};

mod cfb;
