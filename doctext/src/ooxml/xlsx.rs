//! xlsx: sheets in workbook order, each as one table; cells placed by their reference.

use super::rels;
use crate::error::Result;
use crate::limits::Ctx;
use crate::model::{Document, Format, Origin, Part};
use crate::xml::{self, XmlReader, attr, attr_ns, local, local_end, push_ref, read_text};
use crate::zipio::ZipPackage;
use quick_xml::events::Event;

/// Columns past this are dropped (Excel's own maximum is 16 384).
const MAX_COLS: usize = 16_384;

pub(crate) fn extract(pkg: &mut ZipPackage<'_>, main: &str, ctx: &mut Ctx) -> Result<Document> {
    let wb_rels = rels(pkg, main, ctx)?;
    let shared = match wb_rels.iter().find(|r| r.kind == "sharedStrings") {
        Some(r) => match pkg.read(&r.target.clone(), ctx)? {
            Some(data) => shared_strings(&xml::decode(&data), ctx)?,
            None => Vec::new(),
        },
        None => Vec::new(),
    };
    let workbook = pkg.read_required(main, ctx)?;
    let sheets = sheet_list(&xml::decode(&workbook), ctx)?;
    drop(workbook);
    let mut doc = Document::new(Format::Xlsx);
    for (name, rid) in sheets {
        let Some(rel) = wb_rels.iter().find(|r| r.id == rid && !r.target.is_empty()) else { continue };
        // Chart sheets and dialog sheets have no cells.
        if rel.kind != "worksheet" {
            continue;
        }
        let Some(data) = pkg.read(&rel.target, ctx)? else { continue };
        let rows = sheet_rows(&xml::decode(&data), &shared, ctx)?;
        doc.push_table(rows, Origin { entry: Vec::new(), part: Part::Sheet(name) });
    }
    Ok(doc)
}

/// Fuzzing hook: every xlsx XML reader on the same text.
pub(crate) fn fuzz(xml_text: &str, ctx: &Ctx) -> Result<usize> {
    let sheets = sheet_list(xml_text, ctx)?;
    let shared = shared_strings(xml_text, ctx)?;
    let rows = sheet_rows(xml_text, &shared, ctx)?;
    Ok(sheets.len() + shared.len() + rows.len())
}

/// `(name, r:id)` of every sheet, in workbook order.
fn sheet_list(xml_text: &str, ctx: &Ctx) -> Result<Vec<(String, String)>> {
    let mut r = XmlReader::new(xml_text, Format::Xlsx);
    let mut out = Vec::new();
    loop {
        match r.next(ctx)? {
            Event::Start(e) | Event::Empty(e) if local(&e) == "sheet" => {
                if let (Some(name), Some(id)) = (attr(&e, "name"), attr_ns(&e, "id")) {
                    out.push((name, id));
                }
            }
            Event::Eof => return Ok(out),
            _ => {}
        }
    }
}

/// The shared-string table: each `si` is the concatenation of its `t` runs, phonetic
/// guides (`rPh`) excluded.
fn shared_strings(xml_text: &str, ctx: &Ctx) -> Result<Vec<String>> {
    let mut r = XmlReader::new(xml_text, Format::Xlsx);
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    loop {
        match r.next(ctx)? {
            Event::Start(e) => match local(&e) {
                "si" => cur = Some(String::new()),
                "rPh" => r.skip(&e)?,
                "t" => {
                    if let Some(s) = cur.as_mut() {
                        read_text(&mut r, ctx, s)?;
                    }
                }
                _ => {}
            },
            Event::Empty(e) if local(&e) == "si" => out.push(String::new()),
            Event::End(e) if local_end(&e) == "si" => out.push(cur.take().unwrap_or_default()),
            Event::Eof => return Ok(out),
            _ => {}
        }
    }
}

/// Zero-based column of a cell reference such as `AB12`.
fn column_of(reference: &str) -> Option<usize> {
    let mut col = 0usize;
    let mut any = false;
    for b in reference.bytes() {
        if b.is_ascii_alphabetic() {
            col = col.checked_mul(26)?.checked_add((b.to_ascii_uppercase() - b'A' + 1) as usize)?;
            any = true;
        } else {
            break;
        }
    }
    if any { Some(col - 1) } else { None }
}

fn sheet_rows(xml_text: &str, shared: &[String], ctx: &Ctx) -> Result<Vec<Vec<String>>> {
    let mut r = XmlReader::new(xml_text, Format::Xlsx);
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut row: Vec<String> = Vec::new();
    let mut in_row = false;
    // The current cell: column, type, value text, inline text.
    let mut cell: Option<(usize, String, String, String)> = None;
    loop {
        match r.next(ctx)? {
            Event::Start(e) => match local(&e) {
                "row" => {
                    in_row = true;
                    row.clear();
                }
                "c" => {
                    let col = attr(&e, "r").and_then(|c| column_of(&c)).unwrap_or(row.len());
                    cell = Some((col, attr(&e, "t").unwrap_or_default(), String::new(), String::new()));
                }
                "v" => {
                    if let Some(c) = cell.as_mut() {
                        read_text(&mut r, ctx, &mut c.2)?;
                    }
                }
                "rPh" => r.skip(&e)?,
                "t" => {
                    if let Some(c) = cell.as_mut() {
                        read_text(&mut r, ctx, &mut c.3)?;
                    }
                }
                // Formulas are not text the author typed.
                "f" => r.skip(&e)?,
                _ => {}
            },
            Event::End(e) => match local_end(&e) {
                "c" => {
                    if let Some((col, ty, v, inline)) = cell.take() {
                        let text = cell_text(&ty, v, inline, shared);
                        if col < MAX_COLS && !text.is_empty() {
                            if row.len() <= col {
                                row.resize(col + 1, String::new());
                            }
                            row[col] = text;
                        }
                    }
                }
                "row" => {
                    in_row = false;
                    if !row.is_empty() {
                        rows.push(std::mem::take(&mut row));
                    }
                }
                _ => {}
            },
            Event::GeneralRef(g) => {
                // References directly in <v> are handled by read_text; this covers stray text.
                if let Some(c) = cell.as_mut() {
                    push_ref(&mut c.2, &g);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if in_row && !row.is_empty() {
        rows.push(row);
    }
    Ok(rows)
}

fn cell_text(ty: &str, v: String, inline: String, shared: &[String]) -> String {
    match ty {
        "s" => v.trim().parse::<usize>().ok().and_then(|i| shared.get(i)).cloned().unwrap_or_default(),
        "inlineStr" => inline,
        "b" => match v.trim() {
            "1" => "TRUE".to_string(),
            "0" => "FALSE".to_string(),
            other => other.to_string(),
        },
        "n" | "" => {
            if v.is_empty() {
                inline
            } else {
                number_text(v)
            }
        }
        _ => {
            if v.is_empty() {
                inline
            } else {
                v
            }
        }
    }
}

/// A number as its shortest round-trip form (Excel stores 17 significant digits:
/// `0.48851347410198098` reads as `0.488513474101981`); integers without a fraction.
fn number_text(v: String) -> String {
    match v.trim().parse::<f64>() {
        Ok(f) if f.is_finite() && f.abs() < 1e16 => format!("{f}"),
        _ => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::Limits;

    #[test]
    fn columns_and_cells() {
        assert_eq!(column_of("A1"), Some(0));
        assert_eq!(column_of("AB12"), Some(27));
        assert_eq!(column_of("12"), None);
        let limits = Limits::default();
        let ctx = Ctx::new(&limits, None, None);
        let xml = r#"<worksheet><sheetData><row r="1"><c r="A1" t="s"><v>1</v></c><c r="C1" t="inlineStr"><is><t>&#54620;x</t></is></c></row>
            <row r="2"><c r="B2"><v>3.5</v></c><c r="C2" t="b"><v>1</v></c><c r="D2" t="str"><f>A1</f><v>calc</v></c></row></sheetData></worksheet>"#;
        let shared = vec!["zero".to_string(), "one".to_string()];
        let rows = sheet_rows(xml, &shared, &ctx).unwrap();
        assert_eq!(rows, vec![vec!["one", "", "한x"], vec!["", "3.5", "TRUE", "calc"]]);
        assert_eq!(number_text("0.48851347410198098".into()), "0.488513474101981");
        assert_eq!(number_text("1592".into()), "1592");
        assert_eq!(number_text("-2.5E-3".into()), "-0.0025");
    }
}
