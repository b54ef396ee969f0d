//! HWPX: Hangul 2014+ documents (OWPML, KS X 6101), a zip whose first entry `mimetype`
//! is `application/hwp+zip`.
//!
//! `Contents/content.hpf` is an OPF package: its manifest lists the parts and its spine
//! their reading order; the body is in the spine's `Contents/sectionN.xml` parts (when the
//! package file is missing or lists none, every `Contents/sectionN.xml` in number order).
//! A section is paragraphs `hp:p` of runs `hp:run` whose text is in `hp:t` (with `hp:tab`,
//! `hp:lineBreak` and special spaces inside); tables `hp:tbl` of rows `hp:tr` of cells
//! `hp:tc` sit inside a run and hold paragraphs in `hp:subList`; a cell's column is its
//! `hp:cellAddr colAddr`, so merged cells keep the others in place. Text boxes and
//! footnotes are paragraphs of their own.
//!
//! Left out: headers and footers (page furniture, not the flow), hidden comments,
//! tracked deletions (between `hp:deleteBegin` and `hp:deleteEnd`) and the fallback
//! branch of `hp:switch`. Encrypted (password or distribution) packages are refused.

use crate::error::{Error, Result};
use crate::flow::Flow;
use crate::limits::Ctx;
use crate::model::{Document, Format, Origin, Part};
use crate::xml::{self, XmlReader, attr, local, local_end, push_ref};
use crate::zipio::ZipPackage;
use quick_xml::events::Event;

const CONTENT_HPF: &str = "Contents/content.hpf";

pub(crate) fn extract(pkg: &mut ZipPackage<'_>, ctx: &mut Ctx) -> Result<Document> {
    pkg.set_format(Format::Hwpx);
    if let Some(manifest) = pkg.read("META-INF/manifest.xml", ctx)?
        && xml::decode(&manifest).contains("encryption-data")
    {
        return Err(Error::Unsupported(
            "an encrypted HWPX document (password or distribution 배포용) — save it without protection".into(),
        ));
    }
    let sections = section_parts(pkg, ctx)?;
    if sections.is_empty() {
        return Err(Error::malformed(Format::Hwpx, "no Contents/sectionN.xml part"));
    }
    let mut doc = Document::new(Format::Hwpx);
    for (number, part) in sections {
        let data = pkg.read_required(&part, ctx)?;
        let origin = Origin { entry: Vec::new(), part: Part::Section(number), hidden: false };
        walk(&xml::decode(&data), origin, &mut doc, ctx)?;
    }
    Ok(doc)
}

/// `(N, path)` of the section parts in reading order.
fn section_parts(pkg: &mut ZipPackage<'_>, ctx: &mut Ctx) -> Result<Vec<(u32, String)>> {
    let mut out = Vec::new();
    if let Some(hpf) = pkg.read(CONTENT_HPF, ctx)? {
        for href in spine(&xml::decode(&hpf), ctx)? {
            let Some(number) = section_number(&href) else { continue };
            // Hancom writes hrefs from the package root; OPF says relative to the .hpf.
            let path = [href.trim_start_matches('/').to_string(), format!("Contents/{href}")]
                .into_iter()
                .find(|p| pkg.contains(p));
            if let Some(path) = path
                && !out.iter().any(|(_, p)| *p == path)
            {
                out.push((number, path));
            }
        }
    }
    if out.is_empty() {
        out = pkg
            .names()
            .iter()
            .filter(|n| n.starts_with("Contents/"))
            .filter_map(|n| Some((section_number(n)?, n.clone())))
            .collect();
        out.sort();
    }
    Ok(out)
}

/// The number of a `sectionN.xml` part.
fn section_number(path: &str) -> Option<u32> {
    let file = path.rsplit('/').next()?.to_ascii_lowercase();
    file.strip_prefix("section")?.strip_suffix(".xml")?.parse().ok()
}

/// The hrefs of the spine's items, in spine order; the manifest's order when the spine
/// names none.
fn spine(hpf: &str, ctx: &Ctx) -> Result<Vec<String>> {
    let mut r = XmlReader::new(hpf, Format::Hwpx);
    let mut items: Vec<(String, String)> = Vec::new();
    let mut order: Vec<String> = Vec::new();
    loop {
        match r.next(ctx)? {
            Event::Start(e) | Event::Empty(e) => match local(&e) {
                "item" => {
                    if let (Some(id), Some(href)) = (attr(&e, "id"), attr(&e, "href")) {
                        items.push((id, href));
                    }
                }
                "itemref" => {
                    if let Some(id) = attr(&e, "idref") {
                        order.push(id);
                    }
                }
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    if order.is_empty() {
        return Ok(items.into_iter().map(|(_, href)| href).collect());
    }
    Ok(order.iter().filter_map(|id| items.iter().find(|(i, _)| i == id).map(|(_, h)| h.clone())).collect())
}

/// Walks one section.
pub(crate) fn walk(xml_text: &str, origin: Origin, doc: &mut Document, ctx: &mut Ctx) -> Result<()> {
    let mut r = XmlReader::new(xml_text, Format::Hwpx);
    let mut flow = Flow::new(origin);
    let mut in_text = 0usize;
    let mut deleting = false;
    let mut ref_buf = String::new();
    loop {
        match r.next(ctx)? {
            Event::Start(e) => match local(&e) {
                "header" | "footer" | "hiddenComment" | "default" => r.skip(&e)?,
                "p" => flow.open_paragraph(),
                "t" => in_text += 1,
                "tbl" => flow.open_table(),
                "tr" => flow.open_row(1),
                "tc" => flow.open_cell(1, None),
                name => special(&mut flow, name, in_text > 0 && !deleting),
            },
            Event::Empty(e) => match local(&e) {
                "cellAddr" => {
                    if let Some(col) = attr(&e, "colAddr").and_then(|c| c.trim().parse::<usize>().ok()) {
                        flow.cell_column(col);
                    }
                }
                "tc" => {
                    flow.open_cell(1, None);
                    flow.close_cell(doc, ctx)?;
                }
                "deleteBegin" => deleting = true,
                "deleteEnd" => deleting = false,
                name => special(&mut flow, name, in_text > 0 && !deleting),
            },
            Event::Text(t) if in_text > 0 && !deleting => flow.text(&t.xml10_content()),
            Event::CData(t) if in_text > 0 && !deleting => flow.text(&t.xml10_content()),
            Event::GeneralRef(g) if in_text > 0 && !deleting => {
                ref_buf.clear();
                push_ref(&mut ref_buf, &g);
                flow.text(&ref_buf);
            }
            Event::End(e) => match local_end(&e) {
                "p" => flow.close_paragraph(doc),
                "t" => in_text = in_text.saturating_sub(1),
                "tbl" => flow.close_table(doc),
                "tr" => flow.close_row(ctx)?,
                "tc" => flow.close_cell(doc, ctx)?,
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    flow.finish(doc);
    Ok(())
}

/// Characters written as elements inside `hp:t`.
fn special(flow: &mut Flow, name: &str, in_text: bool) {
    if !in_text {
        return;
    }
    match name {
        "tab" => flow.push_char('\t'),
        "lineBreak" => flow.push_char('\n'),
        "nbSpace" | "fwSpace" => flow.push_char(' '),
        "hyphen" => flow.push_char('-'),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Limits;
    use crate::model::Block;

    #[test]
    fn sections_paragraphs_tables_and_what_is_left_out() {
        let xml = r#"<hs:sec xmlns:hs="s" xmlns:hp="p">
<hp:p><hp:run><hp:secPr/><hp:ctrl><hp:header><hp:subList><hp:p><hp:run><hp:t>머리말</hp:t></hp:run></hp:p></hp:subList></hp:header></hp:ctrl><hp:t>제목 &amp; <hp:tab/>끝<hp:lineBreak/>둘째 줄</hp:t></hp:run></hp:p>
<hp:p><hp:run><hp:t>지운 <hp:deleteBegin Id="1"/>글자<hp:deleteEnd Id="1"/>남김</hp:t></hp:run></hp:p>
<hp:p><hp:run><hp:tbl rowCnt="2" colCnt="3"><hp:tr>
<hp:tc><hp:subList><hp:p><hp:run><hp:t>번호</hp:t></hp:run></hp:p></hp:subList><hp:cellAddr colAddr="0" rowAddr="0"/></hp:tc>
<hp:tc><hp:subList><hp:p><hp:run><hp:t>문제</hp:t></hp:run></hp:p><hp:p><hp:run><hp:t>둘째</hp:t></hp:run></hp:p></hp:subList><hp:cellAddr colAddr="1" rowAddr="0"/><hp:cellSpan colSpan="2" rowSpan="1"/></hp:tc>
</hp:tr><hp:tr><hp:tc><hp:subList><hp:p><hp:run><hp:t>1</hp:t></hp:run></hp:p></hp:subList><hp:cellAddr colAddr="0" rowAddr="1"/></hp:tc>
<hp:tc><hp:subList><hp:p><hp:run><hp:t>셋째 칸</hp:t></hp:run></hp:p></hp:subList><hp:cellAddr colAddr="2" rowAddr="1"/></hp:tc></hp:tr></hp:tbl><hp:t/></hp:run></hp:p>
<hp:p><hp:run><hp:switch><hp:case><hp:t>case</hp:t></hp:case><hp:default><hp:t>default</hp:t></hp:default></hp:switch></hp:run></hp:p>
</hs:sec>"#;
        let limits = Limits::default();
        let mut ctx = Ctx::new(&limits, None, None);
        let mut doc = Document::new(Format::Hwpx);
        walk(xml, Origin::default(), &mut doc, &mut ctx).unwrap();
        let texts: Vec<String> = doc.blocks.iter().map(Block::test_text).collect();
        assert_eq!(
            texts,
            vec![
                "제목 & \t끝\n둘째 줄",
                "지운 남김",
                r#"[["번호", "문제\n둘째"], ["1", "", "셋째 칸"]]"#,
                "case"
            ]
        );
    }

    #[test]
    fn spine_order_wins_over_file_names() {
        let hpf = r#"<opf:package xmlns:opf="o"><opf:manifest>
<opf:item id="header" href="Contents/header.xml" media-type="application/xml"/>
<opf:item id="section0" href="Contents/section0.xml" media-type="application/xml"/>
<opf:item id="section1" href="Contents/section1.xml" media-type="application/xml"/>
</opf:manifest><opf:spine><opf:itemref idref="header" linear="yes"/><opf:itemref idref="section1"/><opf:itemref idref="section0"/></opf:spine></opf:package>"#;
        let limits = Limits::default();
        let ctx = Ctx::new(&limits, None, None);
        assert_eq!(spine(hpf, &ctx).unwrap(), ["Contents/header.xml", "Contents/section1.xml", "Contents/section0.xml"]);
        assert_eq!(section_number("Contents/section12.xml"), Some(12));
        assert_eq!(section_number("Contents/header.xml"), None);
    }
}
