//! docx: the main document part (streamed from its entry), its SmartArt text and chart
//! titles, then footnotes and endnotes, then each header and footer part once and the
//! comments, each with its own part in the origin.

use super::{Rel, rels, text};
use crate::error::Result;
use crate::limits::Ctx;
use crate::model::{Document, Format, Origin, Part};
use crate::xml;
use crate::zipio::ZipPackage;

pub(crate) fn extract(pkg: &mut ZipPackage<'_>, main: &str, ctx: &mut Ctx) -> Result<Document> {
    let mut doc = Document::new(Format::Docx);
    let origin = Origin::default();
    let found = pkg.stream_xml(main, ctx, |s, ctx| text::walk_events(s, &origin, &mut doc, ctx))?;
    if found.is_none() {
        return Err(crate::Error::malformed(Format::Docx, format!("the part {main} is missing")));
    }
    let main_rels = rels(pkg, main, ctx)?;
    super::graphics(pkg, &main_rels, &origin, &mut doc, ctx)?;
    // Notes follow the body, in the order Word lists them.
    for kind in ["footnotes", "endnotes"] {
        part_of_kind(pkg, &main_rels, kind, &origin, &mut doc, ctx)?;
    }
    for (kind, part) in [("header", Part::Header), ("footer", Part::Footer), ("comments", Part::Comment)] {
        let origin = Origin { part, ..Origin::default() };
        part_of_kind(pkg, &main_rels, kind, &origin, &mut doc, ctx)?;
    }
    Ok(doc)
}

/// Every part the main part relates to with `kind`, each target once.
fn part_of_kind(pkg: &mut ZipPackage<'_>, rels: &[Rel], kind: &str, origin: &Origin, doc: &mut Document, ctx: &mut Ctx) -> Result<()> {
    let mut seen: Vec<&str> = Vec::new();
    for rel in rels.iter().filter(|r| r.kind == kind && !r.target.is_empty()) {
        if seen.contains(&rel.target.as_str()) {
            continue;
        }
        seen.push(&rel.target);
        if let Some(data) = pkg.read(&rel.target, ctx)? {
            text::walk(&xml::decode(&data), Format::Docx, origin, doc, ctx)?;
        }
    }
    Ok(())
}
