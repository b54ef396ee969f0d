//! docx: the main document part, then footnotes and endnotes if present.

use super::{rels, text};
use crate::error::Result;
use crate::limits::Ctx;
use crate::model::{Document, Format, Origin};
use crate::xml;
use crate::zipio::ZipPackage;

pub(crate) fn extract(pkg: &mut ZipPackage<'_>, main: &str, ctx: &mut Ctx) -> Result<Document> {
    let mut doc = Document::new(Format::Docx);
    let origin = Origin::default();
    let data = pkg.read_required(main, ctx)?;
    text::walk(&xml::decode(&data), Format::Docx, &origin, &mut doc, ctx)?;
    drop(data);
    // Notes follow the body, in the order Word lists them.
    for rel in rels(pkg, main, ctx)? {
        if !matches!(rel.kind.as_str(), "footnotes" | "endnotes") || rel.target.is_empty() {
            continue;
        }
        if let Some(data) = pkg.read(&rel.target, ctx)? {
            text::walk(&xml::decode(&data), Format::Docx, &origin, &mut doc, ctx)?;
        }
    }
    Ok(doc)
}
