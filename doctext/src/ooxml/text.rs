//! One walker for the text flow of WordprocessingML (docx bodies) and DrawingML (pptx
//! shapes): paragraphs, runs, breaks, tables (nested ones are folded into their cell),
//! and text boxes. Names are matched by local name, so prefixes do not matter.

use crate::flow::append_line;
use crate::error::Result;
use crate::limits::Ctx;
use crate::model::{Document, Format, Origin};
use crate::xml::{XmlReader, XmlSource, local, local_end, push_ref};
use quick_xml::events::Event;

/// Nested tables deeper than this are read as plain text of their outer cell.
const MAX_TABLE_NESTING: usize = 32;

enum Frame {
    Table { rows: Vec<Vec<String>>, row: Vec<String> },
    Cell(String),
}

/// Walks one XML part and appends its paragraphs and tables to `doc` with `origin`.
pub(crate) fn walk(xml: &str, format: Format, origin: &Origin, doc: &mut Document, ctx: &Ctx) -> Result<()> {
    walk_events(&mut XmlReader::new(xml, format), origin, doc, ctx)
}

/// [`walk`] over any XML source (a part streamed from its zip entry included).
pub(crate) fn walk_events(r: &mut impl XmlSource, origin: &Origin, doc: &mut Document, ctx: &Ctx) -> Result<()> {
    let mut frames: Vec<Frame> = Vec::new();
    // Paragraphs nest through text boxes anchored inside a paragraph.
    let mut paras: Vec<String> = Vec::new();
    let mut in_text = 0usize;
    // Tables beyond MAX_TABLE_NESTING are ignored as structure (their text still flows).
    let mut flat_tables = 0usize;
    loop {
        match r.event(ctx)? {
            Event::Start(e) => match local(&e) {
                "t" => in_text += 1,
                "p" => paras.push(String::new()),
                // Alternate renderings (VML text boxes repeating the DrawingML ones),
                // deleted revisions, field instructions: not document text.
                // Tab-stop lists hold `tab` elements that are not tabs in the text.
                // Moved text appears twice: where it went (`moveTo`, kept) and where it
                // came from (`moveFrom`, left out like deleted text).
                "Fallback" | "delText" | "instrText" | "tabs" | "tabLst" | "moveFrom" | "del" => {
                    let name = e.name().0.to_owned();
                    r.skip_name(&name)?
                }
                "tbl" => {
                    if table_depth(&frames) >= MAX_TABLE_NESTING {
                        flat_tables += 1;
                    } else {
                        frames.push(Frame::Table { rows: Vec::new(), row: Vec::new() });
                    }
                }
                "tr" if flat_tables == 0 => {
                    if let Some(Frame::Table { row, .. }) = frames.last_mut() {
                        row.clear();
                    }
                }
                "tc" if flat_tables == 0 => frames.push(Frame::Cell(String::new())),
                "tab" | "br" | "cr" => push_break(&mut paras, local(&e)),
                _ => {}
            },
            Event::Empty(e) => match local(&e) {
                "tab" | "br" | "cr" => push_break(&mut paras, local(&e)),
                // An empty cell still takes its column.
                "tc" if flat_tables == 0 => {
                    if let Some(Frame::Table { row, .. }) = frames.last_mut() {
                        row.push(String::new());
                    }
                }
                _ => {}
            },
            Event::Text(t) if in_text > 0 => {
                if let Some(p) = paras.last_mut() {
                    p.push_str(&t.xml10_content());
                }
            }
            Event::CData(t) if in_text > 0 => {
                if let Some(p) = paras.last_mut() {
                    p.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(g) if in_text > 0 => {
                if let Some(p) = paras.last_mut() {
                    push_ref(p, &g);
                }
            }
            Event::End(e) => match local_end(&e) {
                "t" => in_text = in_text.saturating_sub(1),
                "p" => {
                    if let Some(text) = paras.pop() {
                        emit_text(&mut frames, doc, origin, text);
                    }
                }
                "tbl" => {
                    if flat_tables > 0 {
                        flat_tables -= 1;
                    } else if let Some(Frame::Table { mut rows, row }) = pop_table(&mut frames) {
                        if !row.is_empty() {
                            rows.push(row);
                        }
                        match frames.last_mut() {
                            Some(Frame::Cell(cell)) => {
                                for r in rows {
                                    append_line(cell, &r.join("\t"));
                                }
                            }
                            _ => doc.push_table(rows, origin.clone()),
                        }
                    }
                }
                "tr" if flat_tables == 0 => {
                    if let Some(Frame::Table { rows, row }) = frames.last_mut() {
                        rows.push(std::mem::take(row));
                    }
                }
                "tc" if flat_tables == 0 => {
                    if let Some(Frame::Cell(text)) = frames.last() {
                        let text = text.clone();
                        frames.pop();
                        match frames.last_mut() {
                            Some(Frame::Table { row, .. }) => row.push(text),
                            _ => emit_text(&mut frames, doc, origin, text),
                        }
                    }
                }
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    // Unclosed elements (the reader tolerates a truncated tail): keep what was read.
    while let Some(text) = paras.pop() {
        emit_text(&mut frames, doc, origin, text);
    }
    Ok(())
}

fn table_depth(frames: &[Frame]) -> usize {
    frames.iter().filter(|f| matches!(f, Frame::Table { .. })).count()
}

/// Pops the innermost table, dropping any unclosed cell above it.
fn pop_table(frames: &mut Vec<Frame>) -> Option<Frame> {
    while let Some(f) = frames.pop() {
        if matches!(f, Frame::Table { .. }) {
            return Some(f);
        }
    }
    None
}

fn push_break(paras: &mut [String], name: &str) {
    if let Some(p) = paras.last_mut() {
        p.push(if name == "tab" { '\t' } else { '\n' });
    }
}

/// A finished paragraph goes into the enclosing cell, or into the document.
fn emit_text(frames: &mut [Frame], doc: &mut Document, origin: &Origin, text: String) {
    match frames.last_mut() {
        Some(Frame::Cell(cell)) => append_line(cell, &text),
        _ => doc.push_paragraph(text, origin.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::Limits;
    use crate::model::Block;

    fn run(xml: &str) -> Document {
        let limits = Limits::default();
        let ctx = Ctx::new(&limits, None, None);
        let mut doc = Document::new(Format::Docx);
        walk(xml, Format::Docx, &Origin::default(), &mut doc, &ctx).unwrap();
        doc
    }

    #[test]
    fn paragraphs_tables_nested_tables_and_text_boxes() {
        let xml = r#"<w:document xmlns:w="w"><w:body>
            <w:p><w:r><w:t>Hello</w:t><w:tab/><w:t xml:space="preserve"> world</w:t></w:r>
              <w:r><mc:AlternateContent><mc:Choice><w:txbxContent><w:p><w:r><w:t>in box</w:t></w:r></w:p></w:txbxContent></mc:Choice>
              <mc:Fallback><w:txbxContent><w:p><w:r><w:t>in box</w:t></w:r></w:p></w:txbxContent></mc:Fallback></mc:AlternateContent></w:r></w:p>
            <w:tbl><w:tr><w:tc><w:p><w:r><w:t>a</w:t></w:r></w:p></w:tc><w:tc/>
              <w:tc><w:tbl><w:tr><w:tc><w:p><w:r><w:t>x</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>y</w:t></w:r></w:p></w:tc></w:tr></w:tbl></w:tc></w:tr></w:tbl>
            <w:p><w:del><w:r><w:delText>gone</w:delText></w:r></w:del><w:r><w:t>kept</w:t></w:r></w:p>
            </w:body></w:document>"#;
        let doc = run(xml);
        let texts: Vec<String> = doc.blocks.iter().map(Block::test_text).collect();
        assert_eq!(
            texts,
            vec![
                "in box".to_string(),
                "Hello\t world".to_string(),
                r#"[["a", "", "x\ty"]]"#.to_string(),
                "kept".to_string()
            ]
        );
    }
}
