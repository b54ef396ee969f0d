//! OpenDocument text, spreadsheets and presentations (odt, ods, odp; their templates; and
//! flat single-file XML, fodt/fods/fodp).
//!
//! A package is a zip whose first entry, `mimetype`, names its kind; all its text is in
//! `content.xml` under `office:body`: `office:text` (paragraphs `text:p`, headings
//! `text:h`, lists, tables), `office:spreadsheet` (one `table:table` per sheet) or
//! `office:presentation` (a `draw:page` per slide, in order, with their speaker notes in
//! `presentation:notes`). Tables are `table:table-row`s of `table:table-cell`s; spans
//! leave `table:covered-table-cell`s, which keep their column. Repeated rows and cells
//! (`number-rows-repeated`, `number-columns-repeated`, which a spreadsheet writes for
//! its million empty rows) are bounded by [`crate::flow`].
//!
//! Password-protected packages are refused with a message saying so.
//!
//! Left out: tracked deletions (`text:tracked-changes`), comments (`office:annotation`),
//! footnote citation marks, and shapes' alternative text.

use crate::error::{Error, Result};
use crate::flow::Flow;
use crate::limits::Ctx;
use crate::model::{Document, Format, Origin, Part};
use crate::xml::{self, XmlReader, attr, local, local_end, push_ref};
use crate::zipio::ZipPackage;
use quick_xml::events::{BytesStart, Event};

/// Spaces one `text:s` may stand for.
const MAX_SPACES: usize = 1024;

/// Reads an OpenDocument package; `format`: its kind from the `mimetype` entry, if any.
pub(crate) fn extract(pkg: &mut ZipPackage<'_>, format: Option<Format>, ctx: &mut Ctx) -> Result<Document> {
    let named = format.unwrap_or(Format::Odt);
    pkg.set_format(named);
    // A password-protected package encrypts content.xml and says so in its manifest.
    if let Some(manifest) = pkg.read("META-INF/manifest.xml", ctx)?
        && xml::decode(&manifest).contains("encryption-data")
    {
        return Err(Error::Unsupported(format!(
            "a password-protected {named} file — save it without a password (File ▸ Properties ▸ Security)"
        )));
    }
    let Some(content) = pkg.read("content.xml", ctx)? else {
        return Err(Error::malformed(named, "the part content.xml is missing"));
    };
    let text = xml::decode(&content);
    read_xml(&text, format, ctx)
}

/// Reads `content.xml` (or a flat ODF document): the kind comes from `format`, else from
/// the body element.
pub(crate) fn read_xml(text: &str, format: Option<Format>, ctx: &mut Ctx) -> Result<Document> {
    let named = format.unwrap_or(Format::Odt);
    let mut doc = Document::new(named);
    let mut r = XmlReader::new(text, named);
    let mut flow = Flow::new(Origin::default());
    let mut body: Option<Format> = None;
    let mut slide = 0u32;
    let mut ref_buf = String::new();
    loop {
        match r.next(ctx)? {
            Event::Start(e) => {
                if skipped(&e) {
                    r.skip(&e)?;
                    continue;
                }
                match e.name().0 {
                    "office:text" => body = body.or(Some(Format::Odt)),
                    "office:spreadsheet" => body = body.or(Some(Format::Ods)),
                    "office:presentation" => body = body.or(Some(Format::Odp)),
                    _ => {}
                }
                match local(&e) {
                    "p" | "h" => flow.open_paragraph(),
                    "table" => open_table(&mut flow, &e, body),
                    "table-row" => flow.open_row(repeat(&e, "table:number-rows-repeated")),
                    "table-cell" | "covered-table-cell" => open_cell(&mut flow, &e),
                    "page" => {
                        slide += 1;
                        flow.origin = Origin { entry: Vec::new(), part: Part::Slide(slide), hidden: false };
                    }
                    "notes" => flow.origin = Origin { entry: Vec::new(), part: Part::Notes(slide.max(1)), hidden: false },
                    "s" => spaces(&mut flow, &e),
                    "tab" => flow.push_char('\t'),
                    "line-break" => flow.push_char('\n'),
                    _ => {}
                }
            }
            Event::Empty(e) => match local(&e) {
                "s" => spaces(&mut flow, &e),
                "tab" => flow.push_char('\t'),
                "line-break" => flow.push_char('\n'),
                "table-cell" | "covered-table-cell" => {
                    open_cell(&mut flow, &e);
                    flow.close_cell(&mut doc, ctx)?;
                }
                "table-row" => {
                    flow.open_row(repeat(&e, "table:number-rows-repeated"));
                    flow.close_row(ctx)?;
                }
                _ => {}
            },
            Event::Text(t) if flow.in_paragraph() => flow.text(&t.xml10_content()),
            Event::CData(t) if flow.in_paragraph() => flow.text(&t.xml10_content()),
            Event::GeneralRef(g) if flow.in_paragraph() => {
                ref_buf.clear();
                push_ref(&mut ref_buf, &g);
                flow.text(&ref_buf);
            }
            Event::End(e) => match local_end(&e) {
                "p" | "h" => flow.close_paragraph(&mut doc),
                "table" => flow.close_table(&mut doc),
                "table-row" => flow.close_row(ctx)?,
                "table-cell" | "covered-table-cell" => flow.close_cell(&mut doc, ctx)?,
                "notes" => flow.origin = Origin { entry: Vec::new(), part: Part::Slide(slide.max(1)), hidden: false },
                "page" => flow.origin = Origin::default(),
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    flow.finish(&mut doc);
    if format.is_none() {
        match body {
            Some(kind) => doc.format = kind,
            None => return Err(Error::malformed(named, "content.xml has no office:body with text, a spreadsheet or a presentation")),
        }
    }
    Ok(doc)
}

/// Elements whose text is not document text.
fn skipped(e: &BytesStart<'_>) -> bool {
    matches!(
        e.name().0,
        "text:tracked-changes"
            | "office:annotation"
            | "office:annotation-end"
            | "text:note-citation"
            | "office:automatic-styles"
            | "office:font-face-decls"
            | "office:scripts"
            | "office:forms"
            | "office:styles"
            | "office:master-styles"
            | "office:meta"
            | "office:settings"
            | "text:sequence-decls"
            | "table:named-expressions"
            | "table:database-ranges"
            | "table:content-validations"
            | "table:table-source"
            | "svg:title"
            | "svg:desc"
    )
}

/// A sheet's table takes the sheet's name; other tables take the flow's current place.
fn open_table(flow: &mut Flow, e: &BytesStart<'_>, body: Option<Format>) {
    if body == Some(Format::Ods) && e.name().0 == "table:table" && !flow.in_paragraph() {
        let name = attr(e, "table:name").unwrap_or_default();
        flow.origin = Origin { entry: Vec::new(), part: Part::Sheet(name), hidden: false };
    }
    flow.open_table();
}

/// A cell, with its typed value as the text to use if it has no paragraph (writers other
/// than office suites sometimes give only `office:value`).
fn open_cell(flow: &mut Flow, e: &BytesStart<'_>) {
    flow.open_cell(repeat(e, "table:number-columns-repeated"), None);
    let value = ["office:value", "office:date-value", "office:time-value", "office:boolean-value", "office:string-value"]
        .iter()
        .find_map(|name| attr(e, name));
    if let Some(v) = value.filter(|v| !v.is_empty()) {
        flow.cell_fallback(v);
    }
}

fn repeat(e: &BytesStart<'_>, name: &str) -> u64 {
    attr(e, name).and_then(|v| v.trim().parse::<u64>().ok()).unwrap_or(1).max(1)
}

fn spaces(flow: &mut Flow, e: &BytesStart<'_>) {
    let n = attr(e, "text:c").and_then(|v| v.trim().parse::<usize>().ok()).unwrap_or(1).min(MAX_SPACES);
    for _ in 0..n {
        flow.push_char(' ');
    }
}

/// Whether decoded text is a flat (single-file) OpenDocument, and of which kind.
pub(crate) fn flat_kind(head: &str) -> Option<Option<Format>> {
    let head = head.get(..head.len().min(4096)).or_else(|| {
        // Cut at a character boundary.
        let mut k = 4096.min(head.len());
        while !head.is_char_boundary(k) {
            k -= 1;
        }
        head.get(..k)
    })?;
    if !head.contains("<office:document ") && !head.contains("<office:document>") {
        return None;
    }
    Some(if head.contains("opendocument.text") {
        Some(Format::Odt)
    } else if head.contains("opendocument.spreadsheet") {
        Some(Format::Ods)
    } else if head.contains("opendocument.presentation") {
        Some(Format::Odp)
    } else {
        None
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Limits;
    use crate::model::Block;

    fn read(xml: &str) -> Document {
        let limits = Limits::default();
        let mut ctx = Ctx::new(&limits, None, None);
        read_xml(xml, None, &mut ctx).unwrap()
    }

    fn texts(doc: &Document) -> Vec<String> {
        doc.blocks.iter().map(Block::test_text).collect()
    }

    #[test]
    fn text_documents() {
        let xml = r#"<office:document-content xmlns:office="o" xmlns:text="t" xmlns:table="tb"><office:automatic-styles><style:style><text:p>no</text:p></style:style></office:automatic-styles>
<office:body><office:text><text:sequence-decls><text:sequence-decl/></text:sequence-decls>
<text:h text:outline-level="1">제목 &amp; <text:span>부제</text:span></text:h>
<text:p>a<text:s text:c="3"/>b<text:tab/>c<text:line-break/>d<text:note><text:note-citation>1</text:note-citation><text:note-body><text:p>각주</text:p></text:note-body></text:note></text:p>
<text:p>kept<office:annotation><text:p>comment</text:p></office:annotation></text:p>
<text:tracked-changes><text:changed-region><text:deletion><text:p>deleted</text:p></text:deletion></text:changed-region></text:tracked-changes>
<text:list><text:list-item><text:p>항목</text:p></text:list-item></text:list>
<table:table table:name="T"><table:table-column table:number-columns-repeated="3"/><table:table-header-rows><table:table-row><table:table-cell table:number-columns-spanned="2"><text:p>머리</text:p></table:table-cell><table:covered-table-cell/><table:table-cell><text:p>x</text:p><text:p>y</text:p></table:table-cell></table:table-row></table:table-header-rows>
<table:table-row><table:table-cell/><table:table-cell><table:table><table:table-row><table:table-cell><text:p>in</text:p></table:table-cell><table:table-cell><text:p>ner</text:p></table:table-cell></table:table-row></table:table></table:table-cell></table:table-row></table:table>
</office:text></office:body></office:document-content>"#;
        let doc = read(xml);
        assert_eq!(doc.format, Format::Odt);
        assert_eq!(
            texts(&doc),
            vec![
                "제목 & 부제",
                "각주",
                "a   b\tc\nd",
                "kept",
                "항목",
                r#"[["머리", "", "x\ny"], ["", "in\tner"]]"#
            ]
        );
    }

    #[test]
    fn spreadsheets_bound_their_repeats_and_name_their_sheets() {
        let xml = r#"<office:document-content><office:body><office:spreadsheet>
<table:table table:name="퀴즈"><table:table-column table:number-columns-repeated="1024"/>
<table:table-row><table:table-cell office:value-type="float" office:value="1"><text:p>1</text:p></table:table-cell><table:table-cell table:number-columns-repeated="2"><text:p>같음</text:p></table:table-cell><table:table-cell table:number-columns-repeated="16381"/></table:table-row>
<table:table-row table:number-rows-repeated="1048575"><table:table-cell table:number-columns-repeated="16384"/></table:table-row>
</table:table><table:table table:name="빈 시트"><table:table-row table:number-rows-repeated="1048576"><table:table-cell table:number-columns-repeated="16384"/></table:table-row></table:table>
<table:table table:name="둘째"><table:table-row><table:table-cell><text:p>b</text:p></table:table-cell><table:table-cell office:value-type="float" office:value="0.5"/><table:table-cell office:value-type="percentage" office:value="0.85"><text:p>85%</text:p></table:table-cell></table:table-row></table:table>
</office:spreadsheet></office:body></office:document-content>"#;
        let doc = read(xml);
        assert_eq!(doc.format, Format::Ods);
        assert_eq!(texts(&doc), vec![r#"[["1", "같음", "같음"]]"#, r#"[["b", "0.5", "85%"]]"#]);
        assert_eq!(doc.blocks[0].origin().part, Part::Sheet("퀴즈".into()));
        assert_eq!(doc.blocks[1].origin().part, Part::Sheet("둘째".into()));
    }

    #[test]
    fn presentations_keep_slide_order_and_notes() {
        let xml = r#"<office:document-content><office:body><office:presentation>
<draw:page draw:name="p1"><draw:frame><draw:text-box><text:p>첫 슬라이드</text:p></draw:text-box></draw:frame>
<presentation:notes><draw:frame><draw:text-box><text:p>메모</text:p></draw:text-box></draw:frame></presentation:notes></draw:page>
<draw:page draw:name="p2"><draw:frame><svg:title>alt</svg:title><table:table><table:table-row><table:table-cell><text:p>a</text:p></table:table-cell></table:table-row></table:table></draw:frame></draw:page>
</office:presentation></office:body></office:document-content>"#;
        let doc = read(xml);
        assert_eq!(doc.format, Format::Odp);
        let parts: Vec<&Part> = doc.blocks.iter().map(|b| &b.origin().part).collect();
        assert_eq!(parts, vec![&Part::Slide(1), &Part::Notes(1), &Part::Slide(2)]);
        assert_eq!(texts(&doc), vec!["첫 슬라이드", "메모", r#"[["a"]]"#]);
    }

    #[test]
    fn bad_xml_is_a_clear_error() {
        let limits = Limits::default();
        let mut ctx = Ctx::new(&limits, None, None);
        let err = read_xml("<office:document-content><office:body><office:text><text:p>a</text:q>", Some(Format::Odt), &mut ctx).unwrap_err();
        assert!(matches!(err, Error::Malformed { format: Format::Odt, .. }), "{err}");
        assert!(err.to_string().contains("XML error"), "{err}");
    }
}
