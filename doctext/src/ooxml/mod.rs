//! Office Open XML packages: docx, xlsx, pptx.
//!
//! A package is a zip with `[Content_Types].xml`; its main part is found through
//! `_rels/.rels` (the officeDocument relationship) and its kind through the main part's
//! content type. Parts are inflated under the limits and parsed with quick-xml's
//! borrowing reader.

mod docx;
mod pptx;
mod text;
mod xlsx;

use crate::error::{Error, Result};
use crate::limits::Ctx;
use crate::model::{Document, Format};
use crate::xml::{self, XmlReader, attr, local};
use crate::zipio::ZipPackage;
use quick_xml::events::Event;

/// A relationship of a part.
#[derive(Debug, Clone)]
pub(crate) struct Rel {
    pub id: String,
    /// The type URI's last path segment (`officeDocument`, `slide`, `notesSlide`, ...).
    pub kind: String,
    /// Target resolved to a package path (no leading '/'); empty for external targets.
    pub target: String,
}

/// Which OOXML kind a zip is, or `None` when it is not an OOXML package we read.
pub(crate) fn kind(pkg: &mut ZipPackage<'_>, ctx: &mut Ctx) -> Result<Option<(Format, String)>> {
    if !pkg.contains("[Content_Types].xml") {
        return Ok(None);
    }
    let main = rels(pkg, "", ctx)?
        .into_iter()
        .find(|r| r.kind == "officeDocument")
        .map(|r| r.target);
    let Some(main) = main else { return Ok(None) };
    let ct = content_type(pkg, &main, ctx)?.unwrap_or_default();
    let format = if ct.contains("wordprocessingml") {
        Format::Docx
    } else if ct.contains("spreadsheetml") {
        Format::Xlsx
    } else if ct.contains("presentationml") {
        Format::Pptx
    } else if main.starts_with("word/") {
        Format::Docx
    } else if main.starts_with("xl/") {
        Format::Xlsx
    } else if main.starts_with("ppt/") {
        Format::Pptx
    } else {
        return Ok(None);
    };
    Ok(Some((format, main)))
}

/// Reads an OOXML package whose kind and main part are known.
pub(crate) fn extract(pkg: &mut ZipPackage<'_>, format: Format, main: &str, ctx: &mut Ctx) -> Result<Document> {
    match format {
        Format::Docx => docx::extract(pkg, main, ctx),
        Format::Xlsx => xlsx::extract(pkg, main, ctx),
        Format::Pptx => pptx::extract(pkg, main, ctx),
        other => Err(Error::Unsupported(format!("{other} is not an OOXML format"))),
    }
}

/// Fuzzing hook: the shared text walker.
pub(crate) fn fuzz_walk(xml: &str, format: Format, origin: &crate::Origin, doc: &mut Document, ctx: &Ctx) -> Result<()> {
    text::walk(xml, format, origin, doc, ctx)
}

/// Fuzzing hook: the xlsx readers on one text; returns how many strings and rows it saw.
pub(crate) fn fuzz_xlsx(xml: &str, ctx: &Ctx) -> Result<usize> {
    xlsx::fuzz(xml, ctx)
}

/// The content type of a part: its Override, else the Default for its extension.
fn content_type(pkg: &mut ZipPackage<'_>, part: &str, ctx: &mut Ctx) -> Result<Option<String>> {
    let data = pkg.read_required("[Content_Types].xml", ctx)?;
    let text = xml::decode(&data);
    let mut r = XmlReader::new(&text, Format::Zip);
    let want = format!("/{part}");
    let ext = part.rsplit('.').next().unwrap_or("");
    let mut default = None;
    loop {
        match r.next(ctx)? {
            Event::Start(e) | Event::Empty(e) => match local(&e) {
                "Override" if attr(&e, "PartName").is_some_and(|p| p.eq_ignore_ascii_case(&want)) => {
                    return Ok(attr(&e, "ContentType"));
                }
                "Default" if attr(&e, "Extension").is_some_and(|x| x.eq_ignore_ascii_case(ext)) => {
                    default = attr(&e, "ContentType");
                }
                _ => {}
            },
            Event::Eof => return Ok(default),
            _ => {}
        }
    }
}

/// The text of the SmartArt diagrams (`diagramData` parts) and the chart titles
/// (`chart` parts) a part relates to, appended with `origin`.
pub(crate) fn graphics(pkg: &mut ZipPackage<'_>, part_rels: &[Rel], origin: &crate::Origin, doc: &mut Document, ctx: &mut Ctx) -> Result<()> {
    let format = doc.format;
    for rel in part_rels {
        if rel.target.is_empty() {
            continue;
        }
        match rel.kind.as_str() {
            "diagramData" => {
                if let Some(data) = pkg.read(&rel.target, ctx)? {
                    text::walk(&xml::decode(&data), format, origin, doc, ctx)?;
                }
            }
            "chart" => {
                if let Some(data) = pkg.read(&rel.target, ctx)? {
                    for title in chart_titles(&xml::decode(&data), ctx)? {
                        doc.push_paragraph(title, origin.clone());
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// The titles of a chart (`c:title`: the chart's and its axes'), each as one line.
fn chart_titles(xml_text: &str, ctx: &Ctx) -> Result<Vec<String>> {
    let mut r = XmlReader::new(xml_text, Format::Zip);
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut cur = String::new();
    let mut in_text = false;
    loop {
        match r.next(ctx)? {
            Event::Start(e) => match local(&e) {
                "title" => {
                    if depth == 0 {
                        cur.clear();
                    }
                    depth += 1;
                }
                "t" | "v" if depth > 0 => in_text = true,
                "p" if depth > 0 && !cur.is_empty() => cur.push('\n'),
                _ => {}
            },
            Event::Text(t) if in_text => cur.push_str(&t.xml10_content()),
            Event::GeneralRef(g) if in_text => xml::push_ref(&mut cur, &g),
            Event::End(e) => match xml::local_end(&e) {
                "title" if depth > 0 => {
                    depth -= 1;
                    if depth == 0 && !cur.trim().is_empty() {
                        out.push(std::mem::take(&mut cur));
                    }
                }
                "t" | "v" => in_text = false,
                _ => {}
            },
            Event::Eof => return Ok(out),
            _ => {}
        }
    }
}

/// The relationships of a part (`""` for the package itself), targets resolved.
pub(crate) fn rels(pkg: &mut ZipPackage<'_>, part: &str, ctx: &mut Ctx) -> Result<Vec<Rel>> {
    let (dir, file) = match part.rfind('/') {
        Some(i) => (&part[..i], &part[i + 1..]),
        None => ("", part),
    };
    let rels_path = if dir.is_empty() { format!("_rels/{file}.rels") } else { format!("{dir}/_rels/{file}.rels") };
    let Some(data) = pkg.read(&rels_path, ctx)? else { return Ok(Vec::new()) };
    let text = xml::decode(&data);
    let mut r = XmlReader::new(&text, Format::Zip);
    let mut out = Vec::new();
    loop {
        match r.next(ctx)? {
            Event::Start(e) | Event::Empty(e) if local(&e) == "Relationship" => {
                let (Some(id), Some(ty), Some(target)) = (attr(&e, "Id"), attr(&e, "Type"), attr(&e, "Target")) else {
                    continue;
                };
                let external = attr(&e, "TargetMode").is_some_and(|m| m.eq_ignore_ascii_case("External"));
                let kind = ty.rsplit('/').next().unwrap_or_default().to_string();
                let target = if external { String::new() } else { resolve(dir, &target) };
                out.push(Rel { id, kind, target });
            }
            Event::Eof => return Ok(out),
            _ => {}
        }
    }
}

/// Resolves a relationship target against the source part's folder.
pub(crate) fn resolve(dir: &str, target: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    let joined;
    let path = if let Some(abs) = target.strip_prefix('/') {
        abs
    } else {
        joined = if dir.is_empty() { target.to_string() } else { format!("{dir}/{target}") };
        joined.as_str()
    };
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::resolve;

    #[test]
    fn targets_resolve() {
        assert_eq!(resolve("ppt", "slides/slide1.xml"), "ppt/slides/slide1.xml");
        assert_eq!(resolve("ppt/slides", "../notesSlides/n1.xml"), "ppt/notesSlides/n1.xml");
        assert_eq!(resolve("", "word/document.xml"), "word/document.xml");
        assert_eq!(resolve("xl", "/xl/worksheets/sheet1.xml"), "xl/worksheets/sheet1.xml");
        assert_eq!(resolve("a", "../../../x"), "x");
    }
}
