//! Zip archives holding documents (and archives), nested up to `Limits::max_depth`.
//!
//! Every entry is read by content, like a top-level file. An entry that is not a
//! document, or that is damaged, is skipped with a warning so one bad file does not hide
//! the rest; running out of the file's budget (limits, time, cancellation) stops the whole
//! archive.

use crate::error::{Error, Result};
use crate::limits::Ctx;
use crate::model::{Document, Format};
use crate::zipio::ZipPackage;

pub(crate) fn extract(pkg: &mut ZipPackage<'_>, ctx: &mut Ctx) -> Result<Document> {
    let mut doc = Document::new(Format::Zip);
    let names: Vec<String> = pkg.names().to_vec();
    let mut read_any = false;
    let mut last_err = None;
    for (i, name) in names.iter().enumerate() {
        if pkg.is_dir(i) {
            continue;
        }
        // Pictures, videos, fonts: not documents, and never inflated.
        if crate::zipio::is_textless(name) {
            tracing::debug!(entry = %name, "skipping an entry that carries no text");
            continue;
        }
        let data = pkg.read_index(i, ctx)?;
        match crate::extract_nested(&data, name, ctx) {
            Ok(inner) => {
                read_any = true;
                doc.append_from_entry(name, inner);
            }
            Err(e) if stops_archive(&e) => return Err(e),
            Err(e) => {
                tracing::warn!(entry = %name, error = %e, "skipping an archive entry");
                last_err = Some(e);
            }
        }
    }
    match (read_any, last_err) {
        (false, Some(e)) => Err(e),
        _ => Ok(doc),
    }
}

/// Errors that concern the whole top-level file, not just one entry.
fn stops_archive(e: &Error) -> bool {
    matches!(e, Error::Limit(_) | Error::Cancelled | Error::Panicked(_))
}
