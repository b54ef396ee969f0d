//! Values as the application shows them, in files generated at run time: xlsx number
//! formats against a table of Excel's displayed values, hidden sheets, the 1904 date
//! system; docx headers, footers, comments, moved text, SmartArt and chart titles.

use doctext::{Block, Options, Part};
use std::io::Write;

/// A zip of `(name, contents)` parts, deflated.
fn zip_of(parts: &[(&str, &str)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, body) in parts {
        w.start_file(*name, opts).expect("start a zip entry");
        w.write_all(body.as_bytes()).expect("write a zip entry");
    }
    w.finish().expect("finish the zip").into_inner()
}

const XLSX_TYPES: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/></Types>"#;
const ROOT_RELS_XL: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#;

/// (value as stored, format: a built-in id or a custom code, what Excel shows).
enum Fmt {
    Id(u32),
    Code(&'static str),
}

/// Excel's displayed values (Korean Excel 365 for the locale-dependent short date).
const TABLE: &[(&str, Fmt, &str)] = &[
    ("0.30000000000000004", Fmt::Id(0), "0.3"),
    ("45352", Fmt::Id(0), "45352"),
    ("0.48851347410198098", Fmt::Id(0), "0.488513474101981"),
    ("123456789012345678", Fmt::Id(0), "1.23456789012346E+17"),
    ("-2.5E-3", Fmt::Id(0), "-0.0025"),
    ("2.5", Fmt::Id(1), "3"),
    ("0.30000000000000004", Fmt::Id(2), "0.30"),
    ("1234567.891", Fmt::Id(3), "1,234,568"),
    ("1234567.891", Fmt::Id(4), "1,234,567.89"),
    ("0.85", Fmt::Id(9), "85%"),
    ("0.8567", Fmt::Id(10), "85.67%"),
    ("12345.678", Fmt::Id(11), "1.23E+04"),
    ("45352", Fmt::Id(14), "2024-03-01"),
    ("45352", Fmt::Id(15), "1-Mar-24"),
    ("45352", Fmt::Id(16), "1-Mar"),
    ("45352", Fmt::Id(17), "Mar-24"),
    ("0.75", Fmt::Id(18), "6:00 PM"),
    ("0.7503472222222222", Fmt::Id(19), "6:00:30 PM"),
    ("0.75", Fmt::Id(20), "18:00"),
    ("0.7503472222222222", Fmt::Id(21), "18:00:30"),
    ("45352.5", Fmt::Id(22), "2024-03-01 12:00"),
    ("-1234.5", Fmt::Id(37), "(1,235)"),
    ("1234.5", Fmt::Id(39), "1,234.50"),
    ("0.000694444444444444", Fmt::Id(45), "01:00"),
    ("1.5", Fmt::Id(46), "36:00:00"),
    ("12345", Fmt::Id(48), "12.3E+3"),
    ("45352", Fmt::Code("yyyy\"년\" m\"월\" d\"일\""), "2024년 3월 1일"),
    ("45352", Fmt::Code("[$-412]yyyy\"년\" mm\"월\" dd\"일\" aaaa"), "2024년 03월 01일 금요일"),
    ("45352.25", Fmt::Code("[$-412]AM/PM h:mm"), "오전 6:00"),
    ("45352", Fmt::Code("mmmm d, yyyy"), "March 1, 2024"),
    ("45352", Fmt::Code("dddd"), "Friday"),
    ("45352.75", Fmt::Code("yyyy-mm-dd hh:mm:ss"), "2024-03-01 18:00:00"),
    ("1000", Fmt::Code("[$₩-412]#,##0"), "₩1,000"),
    ("-5", Fmt::Code("[Blue]0.00;[Red]-0.00;\"zero\""), "-5.00"),
    ("0", Fmt::Code("[Blue]0.00;[Red]-0.00;\"zero\""), "zero"),
    ("42", Fmt::Code("\"점수: \"0\"점\""), "점수: 42점"),
    ("1234567", Fmt::Code("#,##0.0,,\"M\""), "1.2M"),
    ("5551234", Fmt::Code("000-0000"), "555-1234"),
    ("0.5", Fmt::Code("#.##"), ".5"),
    ("1.25", Fmt::Code("0.0#"), "1.25"),
    ("0.1234", Fmt::Code("0.0%"), "12.3%"),
    ("2.675", Fmt::Code("0.00"), "2.68"),
];

/// A workbook: sheet "값" with one value per row in column A (row k styled with format
/// k), a hidden sheet, `date1904` as given.
fn workbook(date1904: bool, rows: &[(&str, u32)], custom: &[(u32, &str)]) -> Vec<u8> {
    let esc = |s: &str| s.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;");
    let mut num_fmts = String::new();
    for (id, code) in custom {
        num_fmts.push_str(&format!(r#"<numFmt numFmtId="{id}" formatCode="{}"/>"#, esc(code)));
    }
    let mut xfs = String::from(r#"<xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>"#);
    let mut sheet = String::new();
    for (k, (v, id)) in rows.iter().enumerate() {
        xfs.push_str(&format!(r#"<xf numFmtId="{id}" fontId="0" fillId="0" borderId="0" applyNumberFormat="1"/>"#));
        sheet.push_str(&format!(r#"<row r="{r}"><c r="A{r}" s="{s}"><v>{v}</v></c><c r="B{r}" t="s"><v>0</v></c></row>"#, r = k + 1, s = k + 1));
    }
    let styles = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><numFmts count="{}">{num_fmts}</numFmts><cellStyleXfs count="1"><xf numFmtId="0"/></cellStyleXfs><cellXfs count="{}">{xfs}</cellXfs></styleSheet>"#,
        custom.len(),
        rows.len() + 1
    );
    let workbook = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><workbookPr{}/><sheets><sheet name="값" sheetId="1" r:id="rId1"/><sheet name="숨김" sheetId="2" state="hidden" r:id="rId2"/></sheets></workbook>"#,
        if date1904 { r#" date1904="1""# } else { "" }
    );
    let rels = r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet2.xml"/><Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/><Relationship Id="rId4" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>"#;
    let ws = |data: &str| format!(r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>{data}</sheetData></worksheet>"#);
    let sst = r#"<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="2" uniqueCount="2"><si><t>표시</t></si><si><t>숨은 답</t></si></sst>"#;
    zip_of(&[
        ("[Content_Types].xml", XLSX_TYPES),
        ("_rels/.rels", ROOT_RELS_XL),
        ("xl/workbook.xml", &workbook),
        ("xl/_rels/workbook.xml.rels", rels),
        ("xl/styles.xml", &styles),
        ("xl/sharedStrings.xml", sst),
        ("xl/worksheets/sheet1.xml", &ws(&sheet)),
        ("xl/worksheets/sheet2.xml", &ws(r#"<row r="1"><c r="A1" t="s"><v>1</v></c></row>"#)),
    ])
}

fn sheet_tables(data: &[u8]) -> Vec<(Vec<Vec<String>>, doctext::Origin)> {
    let doc = doctext::extract_bytes(data, "values.xlsx", &Options::default()).expect("the workbook reads");
    doc.blocks
        .into_iter()
        .filter_map(|b| match b {
            Block::Table { rows, origin } => Some((rows, origin)),
            _ => None,
        })
        .collect()
}

#[test]
fn xlsx_numbers_show_as_excel_shows_them() {
    let mut custom: Vec<(u32, &str)> = Vec::new();
    let rows: Vec<(&str, u32)> = TABLE
        .iter()
        .map(|(v, f, _)| match f {
            Fmt::Id(id) => (*v, *id),
            Fmt::Code(code) => {
                let id = match custom.iter().find(|(_, c)| c == code) {
                    Some((id, _)) => *id,
                    None => {
                        let id = 164 + custom.len() as u32;
                        custom.push((id, code));
                        id
                    }
                };
                (*v, id)
            }
        })
        .collect();
    let tables = sheet_tables(&workbook(false, &rows, &custom));
    let (rows_out, origin) = &tables[0];
    assert_eq!(origin.part, Part::Sheet("값".into()));
    assert!(!origin.hidden);
    let mut bad = Vec::new();
    for (k, (v, f, want)) in TABLE.iter().enumerate() {
        let got = rows_out.get(k).and_then(|r| r.first()).map(String::as_str).unwrap_or("");
        if got != *want {
            let f = match f {
                Fmt::Id(id) => format!("built-in {id}"),
                Fmt::Code(c) => format!("{c:?}"),
            };
            bad.push(format!("{v} with {f}: got {got:?}, Excel shows {want:?}"));
        }
    }
    println!("{} of {} formatted values as Excel shows them", TABLE.len() - bad.len(), TABLE.len());
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn xlsx_hidden_sheets_are_marked_and_date1904_is_respected() {
    let tables = sheet_tables(&workbook(true, &[("43890", 14), ("0", 14)], &[]));
    assert_eq!(tables.len(), 2);
    assert_eq!(tables[0].0[0][0], "2024-03-01", "1904 system: 43890 is 2024-03-01");
    assert_eq!(tables[0].0[1][0], "1904-01-01");
    let (rows, origin) = &tables[1];
    assert_eq!(origin.part, Part::Sheet("숨김".into()));
    assert!(origin.hidden, "the second sheet is hidden");
    assert_eq!(rows[0][0], "숨은 답");
    // The flag is in the JSON only when set.
    let doc = doctext::extract_bytes(&workbook(true, &[("1", 0)], &[]), "h.xlsx", &Options::default()).unwrap();
    let json = serde_json::to_value(&doc).unwrap();
    assert_eq!(json["blocks"][1]["origin"]["hidden"], true);
    assert!(json["blocks"][0]["origin"].get("hidden").is_none());
}

const DOCX_TYPES: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"#;
const W: &str = r#"xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships""#;

fn para(text: &str) -> String {
    format!("<w:p><w:r><w:t>{text}</w:t></w:r></w:p>")
}

/// A docx with two sections sharing one header, a footer, a comment, a moved
/// paragraph, a SmartArt diagram and a chart.
fn docx_with_parts() -> Vec<u8> {
    let rel = |id: &str, kind: &str, target: &str| {
        format!(r#"<Relationship Id="{id}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/{kind}" Target="{target}"/>"#)
    };
    let document = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><w:document {W}><w:body>{}
        <w:p><w:moveFrom w:id="1" w:author="a"><w:r><w:t>옮긴 문장</w:t></w:r></w:moveFrom></w:p>
        {}
        <w:p><w:moveTo w:id="2" w:author="a"><w:r><w:t>옮긴 문장</w:t></w:r></w:moveTo></w:p>
        <w:p><w:del w:id="3" w:author="a"><w:r><w:delText>지운 문장</w:delText></w:r></w:del><w:r><w:commentReference w:id="0"/></w:r></w:p>
        <w:p><w:pPr><w:sectPr><w:headerReference w:type="default" r:id="rH"/><w:footerReference w:type="default" r:id="rF"/></w:sectPr></w:pPr></w:p>
        <w:sectPr><w:headerReference w:type="default" r:id="rH"/><w:headerReference w:type="first" r:id="rH2"/><w:footerReference w:type="default" r:id="rF"/></w:sectPr>
        </w:body></w:document>"#,
        para("본문 첫 문단"),
        para("본문 둘째 문단")
    );
    let rels = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{}{}{}{}{}{}</Relationships>"#,
        rel("rH", "header", "header1.xml"),
        rel("rH2", "header", "header1.xml"),
        rel("rF", "footer", "footer1.xml"),
        rel("rC", "comments", "comments.xml"),
        rel("rD", "diagramData", "diagrams/data1.xml"),
        rel("rG", "chart", "charts/chart1.xml"),
    );
    let header = format!(r#"<?xml version="1.0" encoding="UTF-8"?><w:hdr {W}>{}</w:hdr>"#, para("머리글 퀴즈"));
    let footer = format!(r#"<?xml version="1.0" encoding="UTF-8"?><w:ftr {W}>{}</w:ftr>"#, para("바닥글 1쪽"));
    let comments = format!(r#"<?xml version="1.0" encoding="UTF-8"?><w:comments {W}><w:comment w:id="0" w:author="교사">{}</w:comment></w:comments>"#, para("정답 확인 필요"));
    let diagram = r#"<?xml version="1.0" encoding="UTF-8"?><dgm:dataModel xmlns:dgm="http://schemas.openxmlformats.org/drawingml/2006/diagram" xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"><dgm:ptLst><dgm:pt modelId="1"><dgm:t><a:bodyPr/><a:p><a:r><a:t>스마트아트 단계</a:t></a:r></a:p></dgm:t></dgm:pt></dgm:ptLst></dgm:dataModel>"#;
    let chart = r#"<?xml version="1.0" encoding="UTF-8"?><c:chartSpace xmlns:c="http://schemas.openxmlformats.org/drawingml/2006/chart" xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"><c:chart><c:title><c:tx><c:rich><a:p><a:r><a:t>점수 차트</a:t></a:r></a:p></c:rich></c:tx></c:title><c:plotArea><c:barChart><c:ser><c:tx><c:v>계열 이름</c:v></c:tx></c:ser></c:barChart></c:plotArea></c:chart></c:chartSpace>"#;
    zip_of(&[
        ("[Content_Types].xml", DOCX_TYPES),
        ("_rels/.rels", r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>"#),
        ("word/document.xml", &document),
        ("word/_rels/document.xml.rels", &rels),
        ("word/header1.xml", &header),
        ("word/footer1.xml", &footer),
        ("word/comments.xml", &comments),
        ("word/diagrams/data1.xml", diagram),
        ("word/charts/chart1.xml", chart),
    ])
}

#[test]
fn docx_headers_footers_comments_are_their_own_blocks_once() {
    let doc = doctext::extract_bytes(&docx_with_parts(), "parts.docx", &Options::default()).expect("reads");
    let with = |part: Part| -> Vec<String> {
        doc.blocks
            .iter()
            .filter(|b| b.origin().part == part)
            .map(|b| match b {
                Block::Paragraph { text, .. } => text.clone(),
                Block::Table { rows, .. } => format!("{rows:?}"),
            })
            .collect()
    };
    assert_eq!(with(Part::Header), ["머리글 퀴즈"], "one header part referenced three times: once");
    assert_eq!(with(Part::Footer), ["바닥글 1쪽"]);
    assert_eq!(with(Part::Comment), ["정답 확인 필요"]);
    let body = with(Part::Body);
    assert_eq!(body, ["본문 첫 문단", "본문 둘째 문단", "옮긴 문장", "스마트아트 단계", "점수 차트"]);
    let text = doc.text();
    assert_eq!(text.matches("옮긴 문장").count(), 1, "moved text once: {text}");
    assert!(!text.contains("지운 문장"));
    assert!(!text.contains("계열 이름"), "only chart titles, not series names");
}

#[test]
fn pptx_smartart_and_chart_titles_come_with_their_slide() {
    let rels = r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/diagramData" Target="../diagrams/data1.xml"/><Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/chart" Target="../charts/chart1.xml"/></Relationships>"#;
    let diagram = r#"<?xml version="1.0" encoding="UTF-8"?><dgm:dataModel xmlns:dgm="http://schemas.openxmlformats.org/drawingml/2006/diagram" xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"><dgm:ptLst><dgm:pt modelId="1"><dgm:t><a:p><a:r><a:t>1단계: 준비</a:t></a:r></a:p></dgm:t></dgm:pt><dgm:pt modelId="2"><dgm:t><a:p><a:r><a:t>2단계: 동작</a:t></a:r></a:p></dgm:t></dgm:pt></dgm:ptLst></dgm:dataModel>"#;
    let chart = r#"<?xml version="1.0" encoding="UTF-8"?><c:chartSpace xmlns:c="http://schemas.openxmlformats.org/drawingml/2006/chart" xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"><c:chart><c:title><c:tx><c:rich><a:p><a:r><a:t>팀별 점수</a:t></a:r></a:p></c:rich></c:tx></c:title></c:chart></c:chartSpace>"#;
    let pptx = zip_of(&[
        ("[Content_Types].xml", r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/ppt/presentation.xml" ContentType="application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml"/></Types>"#),
        ("_rels/.rels", r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="ppt/presentation.xml"/></Relationships>"#),
        ("ppt/presentation.xml", r#"<?xml version="1.0" encoding="UTF-8"?><p:presentation xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><p:sldIdLst><p:sldId id="256" r:id="rId1"/></p:sldIdLst></p:presentation>"#),
        ("ppt/_rels/presentation.xml.rels", r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/slide" Target="slides/slide1.xml"/></Relationships>"#),
        ("ppt/slides/slide1.xml", r#"<?xml version="1.0" encoding="UTF-8"?><p:sld xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main" xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"><p:cSld><p:spTree><p:sp><p:txBody><a:p><a:r><a:t>루틴 소개</a:t></a:r></a:p></p:txBody></p:sp></p:spTree></p:cSld></p:sld>"#),
        ("ppt/slides/_rels/slide1.xml.rels", rels),
        ("ppt/diagrams/data1.xml", diagram),
        ("ppt/charts/chart1.xml", chart),
    ]);
    let doc = doctext::extract_bytes(&pptx, "smartart.pptx", &Options::default()).expect("reads");
    let lines: Vec<(String, Part)> = doc
        .blocks
        .iter()
        .filter_map(|b| match b {
            Block::Paragraph { text, origin } => Some((text.clone(), origin.part.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        lines,
        [
            ("루틴 소개".to_string(), Part::Slide(1)),
            ("1단계: 준비".to_string(), Part::Slide(1)),
            ("2단계: 동작".to_string(), Part::Slide(1)),
            ("팀별 점수".to_string(), Part::Slide(1)),
        ]
    );
}

/// An archive holding a document and a video: the video is never inflated (here it would
/// break the ratio limit), the document is read.
#[test]
fn archive_media_entries_are_not_inflated() {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let deflated = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    w.start_file("수업/영상.mp4", deflated).unwrap();
    w.write_all(&vec![0u8; 4 << 20]).unwrap();
    w.start_file("수업/표.docx", deflated).unwrap();
    w.write_all(&docx_with_parts()).unwrap();
    let archive = w.finish().unwrap().into_inner();
    let mut opts = Options::default();
    opts.limits.ratio_floor = 1 << 20;
    let doc = doctext::extract_bytes(&archive, "lesson.zip", &opts).expect("the video is skipped");
    assert!(doc.text().contains("본문 첫 문단"), "{}", doc.text());
    assert!(doc.blocks.iter().all(|b| b.origin().entry == ["수업/표.docx"]));
    // The same bytes under a name that is not media are inflated, and stopped.
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file("zeros.dat", deflated).unwrap();
    w.write_all(&vec![0u8; 4 << 20]).unwrap();
    let archive = w.finish().unwrap().into_inner();
    let err = doctext::extract_bytes(&archive, "zeros.zip", &opts).expect_err("a bomb by its ratio");
    assert!(matches!(err, doctext::Error::Limit(doctext::LimitKind::Ratio { .. })), "{err}");
}
