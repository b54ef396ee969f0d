//! Large files and bombs, generated at run time in a temp dir and read by the `doctext`
//! binary in a child process whose peak RSS (`wait4` → `ru_maxrss`) is measured and
//! printed. The large files take a while to write, so these tests are opt-in:
//!
//! ```sh
//! cargo test -p doctext --test large -- --ignored --nocapture
//! ```
//!
//! The PDF bomb is small and quick, and runs with the other tests.

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// What a run of the `doctext` binary did.
struct Run {
    code: i32,
    stdout_bytes: usize,
    stdout_head: String,
    stderr: String,
    peak_rss_mb: f64,
    secs: f64,
}

/// Runs the `doctext` binary on `file`, draining its output, and measures its peak RSS.
fn run_doctext(file: &Path) -> Run {
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_doctext"))
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

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("doctext-large-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
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

#[test]
#[ignore = "writes a 300 MB file; run with --ignored"]
fn large_pptx_with_a_video_reads_under_300_mb() {
    let dir = temp_dir("pptx");
    let path = dir.join("lesson_with_video.pptx");
    write_pptx_with_video(&path, 300 << 20);
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let run = run_doctext(&path);
    std::fs::remove_dir_all(&dir).ok();
    println!(
        "pptx with a video: {:.0} MB file, exit {}, {:.2} s, peak RSS {:.1} MB, {} bytes of text",
        mb(size),
        run.code,
        run.secs,
        run.peak_rss_mb,
        run.stdout_bytes
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout_head.contains("동영상 수업 슬라이드"), "{}", run.stdout_head);
    assert!(run.peak_rss_mb < 300.0, "peak RSS {:.1} MB", run.peak_rss_mb);
}

#[test]
#[ignore = "writes a 250 000-row workbook; run with --ignored"]
fn xlsx_of_250_000_rows_reads_under_300_mb() {
    let dir = temp_dir("xlsx");
    let path = dir.join("rows_250k.xlsx");
    write_xlsx_rows(&path, 250_000);
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let run = run_doctext(&path);
    std::fs::remove_dir_all(&dir).ok();
    println!(
        "xlsx of 250 000 rows: {:.1} MB file, exit {}, {:.2} s, peak RSS {:.1} MB, {:.1} MB of text",
        mb(size),
        run.code,
        run.secs,
        run.peak_rss_mb,
        mb(run.stdout_bytes as u64)
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let first: String = run.stdout_head.lines().take(2).collect::<Vec<_>>().join("\n");
    assert_eq!(first, "0.1\t문제 0번의 정답\t2023-03-16\t1%\t행 1\n0.2\t문제 0번의 정답\t2023-03-17\t2%\t행 2");
    assert!(run.peak_rss_mb < 300.0, "peak RSS {:.1} MB", run.peak_rss_mb);
}

/// A zlib stream of `gib` GiB of zeros, about 1 KB per MiB, built without inflating it
/// here: one sync-flushed deflate block for 1 MiB of zeros, repeated (its back references
/// only reach zeros), then a final empty block and the Adler-32 of the whole.
fn zlib_zeros(gib: u64) -> Vec<u8> {
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
fn flate_bomb_pdf() -> Vec<u8> {
    common::pdf_of(&[
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << >> >>".to_vec(),
        common::pdf_stream("/Filter /FlateDecode", &zlib_zeros(2)),
    ])
}

#[test]
fn pdf_flate_bomb_is_refused_under_256_mb() {
    let dir = temp_dir("pdfbomb");
    let path = dir.join("bomb_2GiB.pdf");
    let pdf = flate_bomb_pdf();
    // It is a real bomb: its stream inflates cleanly well past the per-stream limit.
    let bomb = zlib_zeros(2);
    let mut inflated = 0u64;
    let mut d = flate2::read::ZlibDecoder::new(&bomb[..]);
    let mut buf = vec![0u8; 1 << 20];
    while inflated < 80 << 20 {
        match d.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => inflated += n as u64,
            Err(e) => panic!("the bomb is not valid zlib: {e}"),
        }
    }
    assert!(inflated >= 80 << 20);
    std::fs::write(&path, &pdf).expect("write the bomb");
    let run = run_doctext(&path);
    std::fs::remove_dir_all(&dir).ok();
    println!(
        "PDF flate bomb: {:.1} MB file inflating to 2 GiB, exit {}, {:.2} s, peak RSS {:.1} MB: {}",
        mb(pdf.len() as u64),
        run.code,
        run.secs,
        run.peak_rss_mb,
        run.stderr.trim()
    );
    assert_eq!(run.code, 1, "refused: {}", run.stderr);
    assert!(run.stderr.contains("refused"), "{}", run.stderr);
    assert!(run.stderr.contains("times its compressed size") || run.stderr.contains("PDF stream decodes to more than"), "{}", run.stderr);
    assert!(run.peak_rss_mb < 256.0, "peak RSS {:.1} MB", run.peak_rss_mb);
    // The library gives the same error.
    let err = doctext::extract_bytes(&pdf, "bomb.pdf", &doctext::Options::default()).expect_err("refused");
    assert!(matches!(err, doctext::Error::Limit(_)), "{err}");
}
