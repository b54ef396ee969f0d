//! What a file is, from its first bytes, when it is not a document doctext reads: images,
//! audio and video, other archives, programs, other document kinds. The answer names the
//! file in the error ("this file is a PNG image, not a supported document …"), so the
//! user knows what they picked instead of a generic "unknown format".
//!
//! Every signature checked here holds a byte no text file has (a NUL, a control byte or
//! an invalid UTF-8 sequence), or a text prefix no quiz starts with (`{\rtf`, `%!PS`,
//! `<html`), so a CSV or text file is never taken for one of them.
//!
//! Zip packages are told apart by their entries in [`zip_kind`]: OpenDocument and HWPX
//! (read), EPUB, Apple iWork and other ODF kinds (named).

use crate::error::Result;
use crate::limits::Ctx;
use crate::model::Format;
use crate::zipio::ZipPackage;

/// A short description of a file that is not a document we read ("a PNG image"), or
/// `None` when its first bytes are not a known foreign signature.
pub(crate) fn identify(data: &[u8]) -> Option<&'static str> {
    let at = |off: usize, sig: &[u8]| data.get(off..off + sig.len()) == Some(sig);
    if data.is_empty() {
        return Some("empty (0 bytes)");
    }
    // Images.
    if at(0, b"\x89PNG\r\n\x1a\n") {
        return Some("a PNG image");
    }
    if at(0, b"\xFF\xD8\xFF") {
        return Some("a JPEG image");
    }
    if at(0, b"GIF87a") || at(0, b"GIF89a") {
        return Some("a GIF image");
    }
    if at(0, b"BM") && data.len() >= 26 && data[6..10] == [0, 0, 0, 0] {
        return Some("a BMP image");
    }
    if at(0, b"II*\0") || at(0, b"MM\0*") {
        return Some("a TIFF image");
    }
    if at(0, b"RIFF") && at(8, b"WEBP") {
        return Some("a WebP image");
    }
    if at(0, b"\0\0\x01\0") && data.len() >= 6 {
        return Some("an icon (ICO) image");
    }
    if at(0, b"8BPS\0\x01") {
        return Some("a Photoshop (PSD) image");
    }
    // ISO base media (MP4, MOV, HEIC, AVIF, M4A): a box size, then `ftyp` and a brand.
    if at(4, b"ftyp") && data[..4].contains(&0) {
        let brand = data.get(8..12).unwrap_or_default();
        return Some(match brand {
            b"heic" | b"heix" | b"hevc" | b"mif1" | b"msf1" => "a HEIC image",
            b"avif" | b"avis" => "an AVIF image",
            b"qt  " => "a QuickTime (MOV) video",
            b"M4A " | b"M4B " => "an M4A audio file",
            _ => "an MP4 video",
        });
    }
    // Audio and video.
    if at(0, b"\x1A\x45\xDF\xA3") {
        return Some("a Matroska / WebM video");
    }
    if at(0, b"RIFF") && at(8, b"WAVE") {
        return Some("a WAV audio file");
    }
    if at(0, b"RIFF") && at(8, b"AVI ") {
        return Some("an AVI video");
    }
    if at(0, b"ID3") && data.get(3).is_some_and(|v| (2..=4).contains(v)) || (data.len() >= 4 && data[0] == 0xFF && [0xFB, 0xFA, 0xF3, 0xF2, 0xE3, 0xE2].contains(&data[1])) {
        return Some("an MP3 audio file");
    }
    if at(0, b"OggS\0") {
        return Some("an Ogg audio or video file");
    }
    if at(0, b"fLaC\0") {
        return Some("a FLAC audio file");
    }
    if at(0, b"MThd\0\0\0\x06") {
        return Some("a MIDI file");
    }
    // Other archives and compressed files.
    if at(0, b"7z\xBC\xAF\x27\x1C") {
        return Some("a 7z archive");
    }
    if at(0, b"Rar!\x1A\x07") {
        return Some("a RAR archive");
    }
    if at(0, b"\x1F\x8B") {
        return Some("a gzip-compressed file");
    }
    if at(0, b"BZh") && at(4, b"\x31\x41\x59\x26\x53\x59") {
        return Some("a bzip2-compressed file");
    }
    if at(0, b"\xFD7zXZ\0") {
        return Some("an xz-compressed file");
    }
    if at(0, b"\x28\xB5\x2F\xFD") {
        return Some("a Zstandard-compressed file");
    }
    if at(0, b"MSCF\0\0\0\0") {
        return Some("a Windows cabinet (CAB) archive");
    }
    if at(257, b"ustar") {
        return Some("a tar archive");
    }
    // Programs and databases.
    if at(0, b"MZ") && pe_header(data) {
        return Some("a Windows program (EXE or DLL)");
    }
    if at(0, b"\x7FELF") {
        return Some("a Linux program (ELF)");
    }
    if at(0, b"\xCA\xFE\xBA\xBE") {
        return Some("a Java class file or a macOS program");
    }
    if at(0, b"\xFE\xED\xFA\xCE") || at(0, b"\xFE\xED\xFA\xCF") || at(0, b"\xCE\xFA\xED\xFE") || at(0, b"\xCF\xFA\xED\xFE") {
        return Some("a macOS program (Mach-O)");
    }
    if at(0, b"\0asm") {
        return Some("a WebAssembly module");
    }
    if at(0, b"SQLite format 3\0") {
        return Some("an SQLite database");
    }
    // Fonts.
    if at(0, b"\0\x01\0\0\0") {
        return Some("a TrueType font");
    }
    if at(0, b"OTTO\0") {
        return Some("an OpenType font");
    }
    if at(0, b"wOFF\0") || at(0, b"wOF2\0") {
        return Some("a web font (WOFF)");
    }
    // Other documents.
    if at(0, b"HWP Document File V") {
        return Some("an old Hangul 97 (HWP 3) document — open it in Hangul and save it as .hwp or .hwpx");
    }
    if at(0, b"{\\rtf") {
        return Some("an RTF document — save it as .docx or .txt");
    }
    if at(0, b"%!PS") {
        return Some("a PostScript file");
    }
    if at(0, b"AT&TFORM") {
        return Some("a DjVu document");
    }
    let head = text_head(data);
    if head.starts_with("<!doctype html") || head.starts_with("<html") {
        return Some("a web page (HTML) — save it as .docx or .txt");
    }
    if head.starts_with("<?xml") || head.starts_with("<svg") {
        return Some(if head.contains("<svg") { "an SVG image" } else { "an XML file" });
    }
    None
}

/// The first bytes as lowercase ASCII text, a BOM and leading whitespace skipped.
fn text_head(data: &[u8]) -> String {
    let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    let head = &data[..data.len().min(512)];
    let start = head.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(head.len());
    head[start..].iter().map(|b| b.to_ascii_lowercase() as char).collect()
}

/// Whether an `MZ` file has a PE header where its DOS header points.
fn pe_header(data: &[u8]) -> bool {
    let Some(off) = data.get(0x3C..0x40) else { return false };
    let off = u32::from_le_bytes([off[0], off[1], off[2], off[3]]) as usize;
    data.get(off..off.saturating_add(4)) == Some(b"PE\0\0")
}

/// What a zip that is not an OOXML package holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ZipKind {
    /// An OpenDocument package; the format from its `mimetype` (None: no mimetype entry,
    /// the body element of `content.xml` decides).
    Odf(Option<Format>),
    Hwpx,
    /// A package of a kind we do not read.
    Foreign(&'static str),
}

/// Tells OpenDocument, HWPX and other packages from a plain zip archive (`None`), by the
/// `mimetype` entry their specifications put first, else by their main parts.
pub(crate) fn zip_kind(pkg: &mut ZipPackage<'_>, ctx: &mut Ctx) -> Result<Option<ZipKind>> {
    if let Some(i) = pkg.index_of("mimetype") {
        // A mimetype entry is one short line; a large one is not a package's.
        let mime = pkg.read_index(i, ctx)?;
        if mime.len() <= 256 {
            let mime = String::from_utf8_lossy(&mime);
            let mime = mime.trim();
            let kind = match mime.strip_prefix("application/vnd.oasis.opendocument.") {
                Some("text" | "text-template" | "text-master" | "text-web") => Some(ZipKind::Odf(Some(Format::Odt))),
                Some("spreadsheet" | "spreadsheet-template") => Some(ZipKind::Odf(Some(Format::Ods))),
                Some("presentation" | "presentation-template") => Some(ZipKind::Odf(Some(Format::Odp))),
                Some(k) if k.starts_with("graphics") => Some(ZipKind::Foreign("an OpenDocument drawing (odg)")),
                Some(k) if k.starts_with("formula") => Some(ZipKind::Foreign("an OpenDocument formula (odf)")),
                Some(k) if k.starts_with("database") => Some(ZipKind::Foreign("an OpenDocument database (odb)")),
                Some(k) if k.starts_with("chart") => Some(ZipKind::Foreign("an OpenDocument chart (odc)")),
                Some(_) => Some(ZipKind::Foreign("an OpenDocument file of a kind that holds no text")),
                None => match mime {
                    "application/hwp+zip" | "application/haansofthwpx" => Some(ZipKind::Hwpx),
                    "application/epub+zip" => Some(ZipKind::Foreign("an EPUB e-book")),
                    _ => None,
                },
            };
            if kind.is_some() {
                return Ok(kind);
            }
        }
    }
    if pkg.contains("Contents/content.hpf") || pkg.contains("Contents/section0.xml") {
        return Ok(Some(ZipKind::Hwpx));
    }
    if pkg.contains("content.xml") && pkg.contains("META-INF/manifest.xml") {
        return Ok(Some(ZipKind::Odf(None)));
    }
    if pkg.contains("Index/Document.iwa") {
        return Ok(Some(ZipKind::Foreign("an Apple Pages, Keynote or Numbers file — export it as docx, pptx or xlsx")));
    }
    if pkg.contains("META-INF/container.xml") && pkg.names().iter().any(|n| n.ends_with(".opf")) {
        return Ok(Some(ZipKind::Foreign("an EPUB e-book")));
    }
    if pkg.contains("AndroidManifest.xml") && pkg.contains("classes.dex") {
        return Ok(Some(ZipKind::Foreign("an Android app (APK)")));
    }
    if pkg.contains("META-INF/MANIFEST.MF") && pkg.names().iter().any(|n| n.ends_with(".class")) {
        return Ok(Some(ZipKind::Foreign("a Java archive (JAR)")));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::identify;

    #[test]
    fn signatures_are_named_and_text_is_not() {
        let mut tar = vec![b'a'; 600];
        tar[257..262].copy_from_slice(b"ustar");
        for (data, what) in [
            (&b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"[..], "a PNG image"),
            (b"\xFF\xD8\xFF\xE0\0\x10JFIF", "a JPEG image"),
            (b"7z\xBC\xAF\x27\x1C\0\x04", "a 7z archive"),
            (b"Rar!\x1A\x07\x01\0", "a RAR archive"),
            (b"\0\0\0\x18ftypmp42", "an MP4 video"),
            (b"\0\0\0\x18ftypheic", "a HEIC image"),
            (b"ID3\x04\0\0\0\0", "an MP3 audio file"),
            (b"SQLite format 3\0", "an SQLite database"),
            (&tar, "a tar archive"),
            (b"", "empty (0 bytes)"),
        ] {
            assert_eq!(identify(data), Some(what));
        }
        assert!(identify(b"{\\rtf1\\ansi hello}").is_some_and(|w| w.starts_with("an RTF document")));
        assert!(identify(b"\xEF\xBB\xBF  <!DOCTYPE html><html>").is_some_and(|w| w.contains("HTML")));
        // Text that starts like a signature's letters is still text.
        for text in ["MZ,모델,가격\nA1,x,3\n", "BM,1,2\n", "ID3 is a tag\n", "번호,문제\n1,a\n", "OTTO,1\n"] {
            assert_eq!(identify(text.as_bytes()), None, "{text}");
        }
    }
}
