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
