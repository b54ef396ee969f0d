//! Corpus tests for the formats read outside `cfb` (docx, xlsx, pptx, pdf, zip archives,
//! encrypted OOXML, malformed files).

mod common;

use common::*;

#[test]
fn helpers_self_check() {
    assert_eq!(normalize(" a\u{3000}b\tc\n"), "abc");
    // NFD 가 (U+1100 U+1161) composes to U+AC00.
    assert_eq!(normalize("\u{1100}\u{1161}"), "\u{AC00}");
    let units = vec![normalize("Hello World"), normalize("서울")];
    assert!(coverage(&units, "xx Hello  World yy 서 울").all());
    let c = coverage(&units, "Hello");
    assert_eq!((c.found, c.total), (0, 2));
    let m = manifest();
    assert!(m.iter().any(|e| e.group == "encrypted" && e.password.as_deref() == Some("Secret123")));
    let wrong = entry("malformed/WRONG_password_agile.docx");
    assert!(wrong.expected().expect_line().is_some_and(|l| l.contains("wrong-password")));
}
