//! xlsx: sheets in workbook order, each as one table; cells placed by their reference.
//!
//! Numbers are shown as Excel shows them: the cell's style (`s`, an index into
//! `styles.xml`'s `cellXfs`) names a number format (built-in id or a custom `numFmt`),
//! applied by [`crate::numfmt`] with the workbook's date system (`date1904`). Sheets and
//! the shared strings are parsed as they stream out of the zip. Hidden sheets are read
//! and marked hidden in their origin.

use super::rels;
use crate::error::Result;
use crate::limits::Ctx;
use crate::model::{Document, Format, Origin, Part};
use crate::numfmt::NumFmt;
use crate::xml::{self, XmlReader, XmlSource, attr, attr_ns, local, local_end, push_ref, read_text};
use crate::zipio::ZipPackage;
use quick_xml::events::Event;

/// Columns past this are dropped (Excel's own maximum is 16 384).
const MAX_COLS: usize = 16_384;

/// A sheet of the workbook.
struct SheetRef {
    name: String,
    rid: String,
    hidden: bool,
}

/// The number formats of a workbook: each cell style's format code, and the date system.
#[derive(Default)]
pub(crate) struct Styles {
    /// Number format of each `cellXfs/xf`, by style index (`None`: General).
    xf_formats: Vec<Option<XfFormat>>,
    date1904: bool,
}

/// A style's number format: built-in (parsed once per process) or the workbook's own.
enum XfFormat {
    Builtin(&'static NumFmt),
    Custom(std::rc::Rc<NumFmt>),
}

impl Styles {
    /// A numeric cell's value as shown with style `s`.
    fn show(&self, v: &str, s: Option<usize>) -> String {
        let Ok(f) = v.trim().parse::<f64>() else { return v.to_string() };
        match s.and_then(|i| self.xf_formats.get(i)).and_then(Option::as_ref) {
            Some(XfFormat::Builtin(fmt)) => fmt.show(f, self.date1904),
            Some(XfFormat::Custom(fmt)) => fmt.show(f, self.date1904),
            None => crate::numfmt::general(f),
        }
    }
}

pub(crate) fn extract(pkg: &mut ZipPackage<'_>, main: &str, ctx: &mut Ctx) -> Result<Document> {
    let wb_rels = rels(pkg, main, ctx)?;
    let shared = match wb_rels.iter().find(|r| r.kind == "sharedStrings") {
        Some(r) => pkg.stream_xml(&r.target.clone(), ctx, |s, ctx| shared_strings(s, ctx))?.unwrap_or_default(),
        None => Vec::new(),
    };
    let workbook = pkg.read_required(main, ctx)?;
    let (sheets, date1904) = sheet_list(&xml::decode(&workbook), ctx)?;
    drop(workbook);
    let mut styles = match wb_rels.iter().find(|r| r.kind == "styles") {
        Some(r) => match pkg.read(&r.target.clone(), ctx)? {
            Some(data) => styles(&xml::decode(&data), ctx)?,
            None => Styles::default(),
        },
        None => Styles::default(),
    };
    styles.date1904 = date1904;
    let mut doc = Document::new(Format::Xlsx);
    for sheet in sheets {
        let Some(rel) = wb_rels.iter().find(|r| r.id == sheet.rid && !r.target.is_empty()) else { continue };
        // Chart sheets and dialog sheets have no cells.
        if rel.kind != "worksheet" {
            continue;
        }
        let target = rel.target.clone();
        let Some(rows) = pkg.stream_xml(&target, ctx, |s, ctx| sheet_rows(s, &shared, &styles, ctx))? else { continue };
        doc.push_table(rows, Origin { part: Part::Sheet(sheet.name), hidden: sheet.hidden, ..Origin::default() });
    }
    Ok(doc)
}

/// Fuzzing hook: every xlsx XML reader on the same text.
pub(crate) fn fuzz(xml_text: &str, ctx: &Ctx) -> Result<usize> {
    let (sheets, _) = sheet_list(xml_text, ctx)?;
    let shared = shared_strings(&mut XmlReader::new(xml_text, Format::Xlsx), ctx)?;
    let styles = styles(xml_text, ctx)?;
    let rows = sheet_rows(&mut XmlReader::new(xml_text, Format::Xlsx), &shared, &styles, ctx)?;
    Ok(sheets.len() + shared.len() + rows.len())
}

/// Every sheet in workbook order, and whether dates count from 1904.
fn sheet_list(xml_text: &str, ctx: &Ctx) -> Result<(Vec<SheetRef>, bool)> {
    let mut r = XmlReader::new(xml_text, Format::Xlsx);
    let mut out = Vec::new();
    let mut date1904 = false;
    loop {
        match r.next(ctx)? {
            Event::Start(e) | Event::Empty(e) => match local(&e) {
                "sheet" => {
                    if let (Some(name), Some(rid)) = (attr(&e, "name"), attr_ns(&e, "id")) {
                        let hidden = attr(&e, "state").is_some_and(|s| s == "hidden" || s == "veryHidden");
                        out.push(SheetRef { name, rid, hidden });
                    }
                }
                "workbookPr" => date1904 = attr(&e, "date1904").is_some_and(|v| v == "1" || v == "true"),
                _ => {}
            },
            Event::Eof => return Ok((out, date1904)),
            _ => {}
        }
    }
}

/// The number format code of every cell style (`cellXfs`), from `numFmts` and the
/// built-in ids.
fn styles(xml_text: &str, ctx: &Ctx) -> Result<Styles> {
    let mut r = XmlReader::new(xml_text, Format::Xlsx);
    let mut custom: Vec<(u32, String)> = Vec::new();
    let mut xf_ids: Vec<u32> = Vec::new();
    let mut in_cell_xfs = false;
    loop {
        match r.next(ctx)? {
            Event::Start(e) | Event::Empty(e) => match local(&e) {
                "numFmt" => {
                    if let (Some(id), Some(code)) = (attr(&e, "numFmtId").and_then(|i| i.parse().ok()), attr(&e, "formatCode")) {
                        custom.push((id, code));
                    }
                }
                "cellXfs" => in_cell_xfs = true,
                "xf" if in_cell_xfs => xf_ids.push(attr(&e, "numFmtId").and_then(|i| i.parse().ok()).unwrap_or(0)),
                _ => {}
            },
            Event::End(e) if local_end(&e) == "cellXfs" => in_cell_xfs = false,
            Event::Eof => break,
            _ => {}
        }
    }
    // Each custom format parsed once, shared by the styles that use it.
    let parsed: Vec<(u32, std::rc::Rc<NumFmt>)> =
        custom.iter().rev().map(|(id, code)| (*id, std::rc::Rc::new(NumFmt::parse(code)))).collect();
    let xf_formats = xf_ids
        .into_iter()
        .map(|id| match parsed.iter().find(|(c, _)| *c == id) {
            Some((_, fmt)) => (!fmt.is_general()).then(|| XfFormat::Custom(fmt.clone())),
            None => NumFmt::builtin(id).filter(|f| !f.is_general()).map(XfFormat::Builtin),
        })
        .collect();
    Ok(Styles { xf_formats, date1904: false })
}

/// The shared-string table: each `si` is the concatenation of its `t` runs, phonetic
/// guides (`rPh`) excluded.
fn shared_strings(r: &mut impl XmlSource, ctx: &Ctx) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    loop {
        match r.event(ctx)? {
            Event::Start(e) => match local(&e) {
                "si" => cur = Some(String::new()),
                "rPh" => {
                    let name = e.name().0.to_owned();
                    r.skip_name(&name)?
                }
                "t" => {
                    if let Some(s) = cur.as_mut() {
                        read_text(r, ctx, s)?;
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

fn sheet_rows(r: &mut impl XmlSource, shared: &[String], styles: &Styles, ctx: &Ctx) -> Result<Vec<Vec<String>>> {
    // The cells' text counts against what is left of the file's total: one long shared
    // string referenced by a million small cells must not become a terabyte of text.
    let budget = ctx.limits.max_total_bytes.saturating_sub(ctx.inflated());
    let mut text_bytes: u64 = 0;
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut row: Vec<String> = Vec::new();
    let mut in_row = false;
    // The current cell: column, type, style, value text, inline text.
    let mut cell: Option<(usize, &'static str, Option<usize>, String, String)> = None;
    loop {
        match r.event(ctx)? {
            Event::Start(e) => match local(&e) {
                "row" => {
                    in_row = true;
                    row.clear();
                }
                "c" => {
                    let (col, ty, style) = cell_attrs(&e);
                    cell = Some((col.unwrap_or(row.len()), ty, style, String::new(), String::new()));
                }
                "v" => {
                    if let Some(c) = cell.as_mut() {
                        read_text(r, ctx, &mut c.3)?;
                    }
                }
                "t" => {
                    if let Some(c) = cell.as_mut() {
                        read_text(r, ctx, &mut c.4)?;
                    }
                }
                // Formulas are not text the author typed; phonetic guides repeat the text.
                "f" | "rPh" => {
                    let name = e.name().0.to_owned();
                    r.skip_name(&name)?
                }
                _ => {}
            },
            Event::End(e) => match local_end(&e) {
                "c" => {
                    if let Some((col, ty, style, v, inline)) = cell.take() {
                        let text = cell_text(ty, v, inline, shared, styles, style);
                        text_bytes += text.len() as u64;
                        if text_bytes > budget {
                            return Err(crate::Error::Limit(crate::LimitKind::TotalBytes { max: ctx.limits.max_total_bytes }));
                        }
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
                    push_ref(&mut c.3, &g);
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

/// A cell's column (from `r`), type (`t`) and style (`s`), in one pass over its
/// attributes, without allocating.
fn cell_attrs(e: &quick_xml::events::BytesStart<'_>) -> (Option<usize>, &'static str, Option<usize>) {
    let (mut col, mut ty, mut style) = (None, "", None);
    for a in e.attributes().with_checks(false).flatten() {
        let value: &str = &a.value;
        match a.key.0 {
            "r" => col = column_of(value),
            "s" => style = value.trim().parse().ok(),
            "t" => {
                ty = match value.trim() {
                    "s" => "s",
                    "inlineStr" => "inlineStr",
                    "b" => "b",
                    "n" => "n",
                    "" => "",
                    // str, e, d and anything else: the value as written.
                    _ => "str",
                }
            }
            _ => {}
        }
    }
    (col, ty, style)
}

fn cell_text(ty: &str, v: String, inline: String, shared: &[String], styles: &Styles, style: Option<usize>) -> String {
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
                styles.show(&v, style)
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
        let rows = sheet_rows(&mut XmlReader::new(xml, Format::Xlsx), &shared, &Styles::default(), &ctx).unwrap();
        assert_eq!(rows, vec![vec!["one", "", "한x"], vec!["", "3.5", "TRUE", "calc"]]);
        // Copies of a shared string count against the total.
        let many: String = (0..1000).map(|k| format!(r#"<row><c r="A{k}" t="s"><v>0</v></c></row>"#)).collect();
        let big = vec!["x".repeat(10_000)];
        let tight = Limits { max_total_bytes: 1_000_000, ..Limits::default() };
        let tctx = Ctx::new(&tight, None, None);
        let err = sheet_rows(&mut XmlReader::new(&many, Format::Xlsx), &big, &Styles::default(), &tctx).unwrap_err();
        assert!(matches!(err, crate::Error::Limit(crate::LimitKind::TotalBytes { .. })), "{err}");
        let general = Styles::default();
        assert_eq!(general.show("0.48851347410198098", None), "0.488513474101981");
        assert_eq!(general.show("1592", Some(3)), "1592");
        assert_eq!(general.show("-2.5E-3", None), "-0.0025");
        assert_eq!(general.show("0.30000000000000004", None), "0.3");
    }
}
