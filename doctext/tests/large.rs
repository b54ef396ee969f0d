//! Large files and bombs, generated at run time in a temp dir and read by the `doctext`
//! binary in a child process whose peak RSS (`wait4` → `ru_maxrss`) is measured and
//! printed. The large files take a while to write, so these tests are opt-in:
//!
//! ```sh
//! cargo test -p doctext --test large -- --ignored --nocapture
//! ```
//!
//! (A debug build reads the 250 000 rows in about 20 s, near the 30 s default time limit
//! on a loaded machine; `cargo test --release …` takes about 1 s.)
//!
//! The PDF bomb is small and quick, and runs with the other tests.

mod common;

use common::generated::{flate_bomb_pdf, run_doctext, write_pptx_with_video, write_xlsx_rows, zlib_zeros};
use std::io::Read;
use std::path::{Path, PathBuf};

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("doctext-large-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

#[test]
#[ignore = "writes a 300 MB file; run with --ignored"]
fn large_pptx_with_a_video_reads_under_300_mb() {
    let dir = temp_dir("pptx");
    let path = dir.join("lesson_with_video.pptx");
    write_pptx_with_video(&path, 300 << 20);
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let run = run_doctext(Path::new(env!("CARGO_BIN_EXE_doctext")), &path);
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
    let run = run_doctext(Path::new(env!("CARGO_BIN_EXE_doctext")), &path);
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
    let run = run_doctext(Path::new(env!("CARGO_BIN_EXE_doctext")), &path);
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

/// The same bomb in a PDF encrypted with an empty user password (RC4, as many
/// "permissions only" PDFs are): the raw scan sees only encrypted bytes, so the streams
/// are checked again after decryption, before any is decoded.
#[test]
fn encrypted_pdf_flate_bomb_is_refused() {
    use pdf_extract::encryption::{EncryptionState, EncryptionVersion, Permissions};
    let mut doc = pdf_extract::Document::load_mem(&flate_bomb_pdf()).expect("lopdf loads the bomb (it decodes nothing)");
    let id = pdf_extract::Object::String(b"doctext-bomb-0001".to_vec(), pdf_extract::StringFormat::Literal);
    doc.trailer.set("ID", pdf_extract::Object::Array(vec![id.clone(), id]));
    let state = EncryptionState::try_from(EncryptionVersion::V1 {
        document: &doc,
        owner_password: "owner",
        user_password: "",
        permissions: Permissions::default(),
    })
    .expect("an RC4 encryption state");
    doc.encrypt(&state).expect("encrypt");
    let mut pdf = Vec::new();
    doc.save_to(&mut pdf).expect("save");
    let err = doctext::extract_bytes(&pdf, "encrypted_bomb.pdf", &doctext::Options::default()).expect_err("refused");
    println!("encrypted PDF flate bomb: {:.1} MB file: {err}", mb(pdf.len() as u64));
    assert!(matches!(err, doctext::Error::Limit(_)), "{err}");
}

