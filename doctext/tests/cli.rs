//! The `doctext` binary: plain and JSON output, password errors and exit codes.

mod common;

use common::*;
use std::process::Command;

fn doctext(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_doctext")).args(args).output().expect("run the doctext binary")
}

#[test]
fn prints_the_text_of_several_files_in_order() {
    let docx = corpus_path("base/quiz_ko.docx");
    let xlsx = corpus_path("base/plain_en.xlsx");
    let out = doctext(&["--jobs", "2", docx.to_str().unwrap(), xlsx.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let first = text.find("== quiz_ko.docx").expect("header of the first file");
    let second = text.find("== plain_en.xlsx").expect("header of the second file");
    assert!(first < second);
    assert_all_units("cli docx", &read_expected("base/quiz_ko.docx.expected.txt").units, &text[..second]);
    assert_all_units("cli xlsx", &read_expected("base/plain_en.xlsx.expected.txt").units, &text[second..]);
}

#[test]
fn json_output_is_one_object_per_file() {
    let pptx = corpus_path("base/quiz_ko.pptx");
    let out = doctext(&["--json", pptx.to_str().unwrap()]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    assert_eq!(v["document"]["format"], "pptx");
    let blocks = v["document"]["blocks"].as_array().expect("blocks");
    assert!(blocks.iter().any(|b| b["origin"]["part"]["slide"] == 1), "{blocks:?}");
}

#[test]
fn password_errors_say_what_to_do_and_fail_the_run() {
    let enc = corpus_path("encrypted/quiz_ko_agile_pw-Secret123.xlsx");
    let out = doctext(&[enc.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--password"));
    let out = doctext(&["--password", "nope", enc.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrong password"));
    let out = doctext(&["--password", "Secret123", enc.to_str().unwrap()]);
    assert!(out.status.success());
    assert_all_units("cli decrypted xlsx", &read_expected("base/quiz_ko.xlsx.expected.txt").units, &String::from_utf8_lossy(&out.stdout));
}

/// A docx of `paragraphs` paragraphs, written to `path`.
fn write_big_docx(path: &std::path::Path, paragraphs: usize) {
    use std::io::Write;
    let mut body = String::new();
    for k in 0..paragraphs {
        body.push_str(&format!("<w:p><w:r><w:t>문단 {k}: 닫힌 파이프에도 조용히 끝나야 합니다.</w:t></w:r></w:p>"));
    }
    let document = format!(r#"<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>{body}</w:body></w:document>"#);
    let parts = [
        ("[Content_Types].xml", r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"#.to_string()),
        ("_rels/.rels", r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>"#.to_string()),
        ("word/document.xml", document),
    ];
    let mut w = zip::ZipWriter::new(std::fs::File::create(path).expect("create"));
    for (name, text) in parts {
        w.start_file(name, zip::write::SimpleFileOptions::default()).expect("entry");
        w.write_all(text.as_bytes()).expect("write");
    }
    w.finish().expect("finish");
}

/// `doctext big.docx | head -1`: the reader closes the pipe after one line; doctext
/// ends quietly with status 0.
#[test]
fn a_closed_pipe_ends_the_run_quietly() {
    use std::io::{BufRead, BufReader, Read};
    let dir = std::env::temp_dir().join(format!("doctext-pipe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("big.docx");
    // About 5 MB of text: far more than a pipe buffer holds.
    write_big_docx(&path, 80_000);
    let mut child = Command::new(env!("CARGO_BIN_EXE_doctext"))
        .arg(&path)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run the doctext binary");
    let mut first = String::new();
    {
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        out.read_line(&mut first).expect("the first line");
        // `out` is dropped here: the pipe closes with most of the text unread.
    }
    let mut stderr = String::new();
    child.stderr.take().expect("stderr").read_to_string(&mut stderr).expect("stderr");
    let status = child.wait().expect("wait");
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(first.trim_end(), "문단 0: 닫힌 파이프에도 조용히 끝나야 합니다.");
    assert_eq!(status.code(), Some(0), "stderr: {stderr}");
    assert!(stderr.trim().is_empty(), "nothing on stderr: {stderr}");
}
