//! Files generated at run time for the large-file tests and the benchmark (included
//! with `#[path]` by `tests/common` and `benches/compare.rs`): PDFs written object by
//! object, a pptx with a video part, a workbook of many rows, a Flate bomb; and a run
//! of the `doctext` binary with its peak RSS.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

/// A PDF file of `objects` (the bodies of objects 1, 2, …; object 1 is the catalog),
/// with a correct cross-reference table.
pub fn pdf_of(objects: &[Vec<u8>]) -> Vec<u8> {
    let mut out = b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n".to_vec();
    let mut offsets = Vec::new();
    for (k, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", k + 1).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for off in offsets {
        out.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1).as_bytes());
    out
}

/// A stream object's body: its dictionary entries (without `/Length`) and its data.
pub fn pdf_stream(dict: &str, data: &[u8]) -> Vec<u8> {
    let mut out = format!("<< {dict} /Length {} >>\nstream\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\nendstream");
    out
}

/// What a run of the `doctext` binary did.
pub struct Run {
    pub code: i32,
    pub stdout_bytes: usize,
    pub stdout_head: String,
    pub stderr: String,
    pub peak_rss_mb: f64,
    pub secs: f64,
}

/// Runs the `doctext` binary on `file`, draining its output, and measures its peak RSS.
pub fn run_doctext(bin: &Path, file: &Path) -> Run {
    let start = Instant::now();
    #[allow(clippy::zombie_processes)]
    let mut child = Command::new(bin)
        .arg(file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the doctext binary");
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let mut stdout_bytes = 0usize;
    let mut head = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match out.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if head.len() < 4096 {
                    head.extend_from_slice(&buf[..n.min(4096 - head.len())]);
                }
                stdout_bytes += n;
            }
        }
    }
    // Reaped with `wait4` below (for its resource usage), not `Child::wait`.
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: `rusage` is plain old data, zeroed is a valid value; `wait4` fills it for
    // our own child, which `std` has not reaped (we never call `wait` on it).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4 failed");
    let code = if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { -1 };
    Run {
        code,
        stdout_bytes,
        stdout_head: String::from_utf8_lossy(&head).into_owned(),
        stderr: err_thread.join().unwrap_or_default(),
        // ru_maxrss is in KiB on Linux.
        peak_rss_mb: usage.ru_maxrss as f64 / 1024.0,
        secs: start.elapsed().as_secs_f64(),
    }
}

/// A pptx of one slide (with speaker-visible text) and a `size`-byte video part,
/// stored as video usually is (it does not compress).
pub fn write_pptx_with_video(path: &Path, size: u64) {
    let file = std::fs::File::create(path).expect("create the pptx");
    let mut w = zip::ZipWriter::new(std::io::BufWriter::new(file));
    let deflated = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let stored = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored).large_file(size >= u32::MAX as u64);
    let parts: [(&str, &str); 6] = [
        ("[Content_Types].xml", r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Default Extension="mp4" ContentType="video/mp4"/><Override PartName="/ppt/presentation.xml" ContentType="application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml"/></Types>"#),
        ("_rels/.rels", r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="ppt/presentation.xml"/></Relationships>"#),
        ("ppt/presentation.xml", r#"<?xml version="1.0" encoding="UTF-8"?><p:presentation xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><p:sldIdLst><p:sldId id="256" r:id="rId1"/></p:sldIdLst></p:presentation>"#),
        ("ppt/_rels/presentation.xml.rels", r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/slide" Target="slides/slide1.xml"/></Relationships>"#),
        ("ppt/slides/slide1.xml", r#"<?xml version="1.0" encoding="UTF-8"?><p:sld xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main" xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"><p:cSld><p:spTree><p:sp><p:txBody><a:p><a:r><a:t>동영상 수업 슬라이드</a:t></a:r></a:p></p:txBody></p:sp></p:spTree></p:cSld></p:sld>"#),
        ("ppt/slides/_rels/slide1.xml.rels", r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/video" Target="../media/media1.mp4"/></Relationships>"#),
    ];
    for (name, body) in parts {
        w.start_file(name, deflated).expect("entry");
        w.write_all(body.as_bytes()).expect("write");
    }
    w.start_file("ppt/media/media1.mp4", stored).expect("video entry");
    // Bytes that look like compressed video: a xorshift stream.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut chunk = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        for b in chunk.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b.copy_from_slice(&x.to_le_bytes());
        }
        let n = left.min(chunk.len() as u64) as usize;
        w.write_all(&chunk[..n]).expect("write the video");
        left -= n as u64;
    }
    w.finish().expect("finish the pptx");
}

/// An xlsx of `rows` rows × 5 columns: a number, a shared string, a date, a percent and
/// an inline string, written as Excel does (shared strings, styles).
pub fn write_xlsx_rows(path: &Path, rows: usize) {
    let file = std::fs::File::create(path).expect("create the xlsx");
    let mut w = zip::ZipWriter::new(std::io::BufWriter::new(file));
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated).large_file(true);
    let small: [(&str, String); 5] = [
        ("[Content_Types].xml", r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/></Types>"#.into()),
        ("_rels/.rels", r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#.into()),
        ("xl/workbook.xml", r#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="큰 시트" sheetId="1" r:id="rId1"/></sheets></workbook>"#.into()),
        ("xl/_rels/workbook.xml.rels", r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/><Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>"#.into()),
        ("xl/styles.xml", r#"<?xml version="1.0" encoding="UTF-8"?><styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><cellXfs count="3"><xf numFmtId="0"/><xf numFmtId="14" applyNumberFormat="1"/><xf numFmtId="9" applyNumberFormat="1"/></cellXfs></styleSheet>"#.into()),
    ];
    for (name, body) in &small {
        w.start_file(*name, opts).expect("entry");
        w.write_all(body.as_bytes()).expect("write");
    }
    // One shared string per 10 rows (as a column of repeated answers would be).
    let strings = rows / 10 + 1;
    w.start_file("xl/sharedStrings.xml", opts).expect("sst");
    write!(w, r#"<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="{rows}" uniqueCount="{strings}">"#).expect("write");
    for k in 0..strings {
        write!(w, "<si><t>문제 {k}번의 정답</t></si>").expect("write");
    }
    w.write_all(b"</sst>").expect("write");
    w.start_file("xl/worksheets/sheet1.xml", opts).expect("sheet");
    w.write_all(br#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>"#).expect("write");
    let mut line = String::new();
    for r in 1..=rows {
        line.clear();
        use std::fmt::Write as _;
        let _ = write!(
            line,
            r#"<row r="{r}" spans="1:5"><c r="A{r}"><v>{}</v></c><c r="B{r}" t="s"><v>{}</v></c><c r="C{r}" s="1"><v>{}</v></c><c r="D{r}" s="2"><v>{}</v></c><c r="E{r}" t="inlineStr"><is><t>행 {r}</t></is></c></row>"#,
            r as f64 * 0.1,
            r / 10,
            45_000 + r % 1000,
            (r % 100) as f64 / 100.0
        );
        w.write_all(line.as_bytes()).expect("write a row");
    }
    w.write_all(b"</sheetData></worksheet>").expect("write");
    w.finish().expect("finish the xlsx");
}

/// A zlib stream of `gib` GiB of zeros, about 1 KB per MiB, built without inflating it
/// here: one sync-flushed deflate block for 1 MiB of zeros, repeated (its back references
/// only reach zeros), then a final empty block and the Adler-32 of the whole.
pub fn zlib_zeros(gib: u64) -> Vec<u8> {
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(&vec![0u8; 1 << 20]).expect("deflate");
    enc.flush().expect("sync flush");
    let block = enc.get_ref().clone();
    let mut out = vec![0x78, 0xDA];
    for _ in 0..(gib << 10) {
        out.extend_from_slice(&block);
    }
    // BFINAL=1, fixed Huffman, end of block.
    out.extend_from_slice(&[0x03, 0x00]);
    // Adler-32 of n zeros: a = 1, b = n mod 65521.
    let n = gib << 30;
    out.extend_from_slice(&((((n % 65_521) as u32) << 16) | 1).to_be_bytes());
    out
}

/// A small PDF (about 2 MB) whose one page's content stream inflates to 2 GiB.
pub fn flate_bomb_pdf() -> Vec<u8> {
    pdf_of(&[
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << >> >>".to_vec(),
        pdf_stream("/Filter /FlateDecode", &zlib_zeros(2)),
    ])
}

