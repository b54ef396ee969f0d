//! pptx: slides (streamed from their entries) in presentation order (`p:sldIdLst` through the presentation's
//! relationships), their text and tables, then each slide's notes.

use super::{rels, text};
use crate::error::Result;
use crate::limits::Ctx;
use crate::model::{Document, Format, Origin, Part};
use crate::xml::{self, XmlReader, attr, attr_ns, local, local_end};
use crate::zipio::ZipPackage;
use quick_xml::events::Event;

pub(crate) fn extract(pkg: &mut ZipPackage<'_>, main: &str, ctx: &mut Ctx) -> Result<Document> {
    let pres_rels = rels(pkg, main, ctx)?;
    let pres = pkg.read_required(main, ctx)?;
    let order = slide_ids(&xml::decode(&pres), ctx)?;
    drop(pres);
    let mut doc = Document::new(Format::Pptx);
    let slides = order
        .iter()
        .filter_map(|id| pres_rels.iter().find(|r| &r.id == id && r.kind == "slide" && !r.target.is_empty()));
    for (i, rel) in slides.enumerate() {
        let n = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let origin = Origin { part: Part::Slide(n), ..Origin::default() };
        let target = rel.target.clone();
        if pkg.stream_xml(&target, ctx, |s, ctx| text::walk_events(s, &origin, &mut doc, ctx))?.is_none() {
            continue;
        }
        let slide_rels = rels(pkg, &rel.target, ctx)?;
        super::graphics(pkg, &slide_rels, &origin, &mut doc, ctx)?;
        let notes = slide_rels.into_iter().find(|r| r.kind == "notesSlide" && !r.target.is_empty());
        let Some(notes) = notes else { continue };
        if let Some(data) = pkg.read(&notes.target, ctx)? {
            let origin = Origin { part: Part::Notes(n), ..Origin::default() };
            notes_text(&xml::decode(&data), &origin, &mut doc, ctx)?;
        }
    }
    Ok(doc)
}

/// The relationship ids of `p:sldId` elements, in order.
fn slide_ids(xml_text: &str, ctx: &Ctx) -> Result<Vec<String>> {
    let mut r = XmlReader::new(xml_text, Format::Pptx);
    let mut out = Vec::new();
    loop {
        match r.next(ctx)? {
            Event::Start(e) | Event::Empty(e) if local(&e) == "sldId" => {
                if let Some(rid) = attr_ns(&e, "id") {
                    out.push(rid);
                }
            }
            Event::Eof => return Ok(out),
            _ => {}
        }
    }
}

/// The notes page's text without its slide-image and slide-number placeholders: only
/// shapes whose placeholder type is `body` (or that are not placeholders) are read.
fn notes_text(xml_text: &str, origin: &Origin, doc: &mut Document, ctx: &Ctx) -> Result<()> {
    let mut r = XmlReader::new(xml_text, Format::Pptx);
    // The source ranges of the shapes to keep, walked afterwards as one fragment.
    let mut kept = String::new();
    let mut depth_in_sp = 0usize;
    let mut sp_start = 0usize;
    let mut skip_sp = false;
    loop {
        let before = r.position();
        match r.next(ctx)? {
            Event::Start(e) if local(&e) == "sp" => {
                if depth_in_sp == 0 {
                    sp_start = before;
                    skip_sp = false;
                }
                depth_in_sp += 1;
            }
            Event::Start(e) | Event::Empty(e) if local(&e) == "ph" && depth_in_sp > 0 => {
                let ty = attr(&e, "type").unwrap_or_else(|| "body".to_string());
                if ty != "body" {
                    skip_sp = true;
                }
            }
            Event::End(e) if local_end(&e) == "sp" && depth_in_sp > 0 => {
                depth_in_sp -= 1;
                if let Some(s) = xml_text.get(sp_start..r.position()).filter(|_| depth_in_sp == 0 && !skip_sp) {
                    kept.push_str(s);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    text::walk(&format!("<r>{kept}</r>"), Format::Pptx, origin, doc, ctx)
}
