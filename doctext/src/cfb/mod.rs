//! OLE compound-file formats: doc, xls, ppt, hwp.
//!
//! [`extract`] opens the compound file with the `cfb` crate and dispatches on the
//! streams it holds: `WordDocument` → Word 97–2003, `Workbook`/`Book` → Excel BIFF8,
//! `PowerPoint Document` → PowerPoint 97–2003, `FileHeader` with the Hangul signature →
//! hwp 5.x. Every stream is read whole (a compound file's streams cannot be larger than
//! the file) after checking its size against the limits; decompressed or decrypted data
//! is charged to the [`Ctx`].

mod bytes;
mod doc;
mod hwp;
mod ppt;
mod xls;

use crate::error::{Error, LimitKind, Result};
use crate::limits::Ctx;
use crate::model::{Document, Format};
use std::io::{Cursor, Read};

/// The eight bytes every compound file starts with.
const CFB_MAGIC: [u8; 8] = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

/// Reads a non-encrypted OLE compound file (doc, xls, ppt or hwp), already opened (the
/// caller opens it once to look for encryption streams first).
pub(crate) fn extract(mut ole: Ole<'_>, ctx: &mut Ctx) -> Result<Document> {
    if ole.is_stream("WordDocument") {
        ole.format = Format::Doc;
        doc::extract(&mut ole, ctx)
    } else if let Some(stream) = ["Workbook", "Book"].into_iter().find(|s| ole.is_stream(s)) {
        // Excel 97 and later write "Workbook", Excel 5.0/95 "Book".
        ole.format = Format::Xls;
        xls::extract(&mut ole, stream, ctx)
    } else if ole.is_stream("PowerPoint Document") {
        ole.format = Format::Ppt;
        ppt::extract(&mut ole, ctx)
    } else if ole.is_stream("FileHeader") {
        ole.format = Format::Hwp;
        hwp::extract(&mut ole, ctx)
    } else {
        Err(Error::Unsupported(
            "an OLE compound file that holds no Word, Excel, PowerPoint or Hangul document".into(),
        ))
    }
}

/// The format a compound file probably holds, for errors raised before its directory is
/// read: by the UTF-16 stream names in its bytes; Word when none is found.
fn guess_format(data: &[u8]) -> Format {
    let has = |name: &str| {
        let needle: Vec<u8> = name.encode_utf16().flat_map(u16::to_le_bytes).collect();
        data.windows(needle.len()).any(|w| w == needle.as_slice())
    };
    if has("Workbook") || has("Book") {
        Format::Xls
    } else if has("PowerPoint Document") {
        Format::Ppt
    } else if has("FileHeader") || has("BodyText") {
        Format::Hwp
    } else {
        Format::Doc
    }
}

/// An opened compound file over the caller's bytes, plus the format being read (for
/// error messages).
pub(crate) struct Ole<'a> {
    cf: cfb::CompoundFile<Cursor<&'a [u8]>>,
    file_len: u64,
    format: Format,
}

impl<'a> Ole<'a> {
    /// Opens `data` as a compound file. Not a CFB → [`Error::Malformed`].
    pub(crate) fn open(data: &'a [u8], ctx: &Ctx) -> Result<Self> {
        // Errors before the directory is read name the format the bytes suggest (a scan
        // done only on that path).
        if !data.starts_with(&CFB_MAGIC) {
            return Err(Error::malformed(
                guess_format(data),
                "not a CFB file (the OLE compound-file signature is missing) — save it again from its application",
            ));
        }
        let cf = cfb::CompoundFile::open(Cursor::new(data))
            .map_err(|e| Error::malformed(guess_format(data), format!("not a CFB file: {e}")))?;
        // Every directory entry takes 128 bytes of the file: a file smaller than the limit
        // times that cannot exceed it, and the walk (which builds a path per entry) is
        // only needed for larger ones.
        let max = ctx.limits.max_entries;
        if data.len() / 128 > max && cf.walk().nth(max).is_some() {
            return Err(Error::Limit(LimitKind::Entries { max }));
        }
        // Set by `extract` once the streams tell the format.
        Ok(Self { cf, file_len: data.len() as u64, format: Format::Doc })
    }

    /// The compound file itself, for the encryption check.
    pub(crate) fn compound_file(&mut self) -> &mut cfb::CompoundFile<Cursor<&'a [u8]>> {
        &mut self.cf
    }

    pub(crate) fn is_stream(&self, path: &str) -> bool {
        self.cf.is_stream(path)
    }

    /// Names of the streams directly inside storage `path`.
    pub(crate) fn stream_names(&self, path: &str) -> Vec<String> {
        match self.cf.read_storage(path) {
            Ok(entries) => entries.filter(|e| e.is_stream()).map(|e| e.name().to_string()).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Reads the whole stream at `path`.
    pub(crate) fn read(&mut self, path: &str, ctx: &Ctx) -> Result<Vec<u8>> {
        let format = self.format;
        // One directory look-up: the opened stream knows its length.
        let mut stream = self.cf.open_stream(path).map_err(|e| {
            let what = if e.kind() == std::io::ErrorKind::NotFound { "missing stream" } else { "cannot open stream" };
            Error::malformed(format, format!("{what} {path}: {e}"))
        })?;
        let len = stream.len();
        if len > self.file_len {
            return Err(Error::malformed(
                format,
                format!("stream {path} claims {len} bytes, more than the whole file"),
            ));
        }
        let max = ctx.limits.max_entry_bytes;
        if len > max {
            return Err(Error::Limit(LimitKind::EntryBytes { max }));
        }
        let mut out = Vec::with_capacity(len as usize);
        (&mut stream)
            .take(len)
            .read_to_end(&mut out)
            .map_err(|e| Error::malformed(format, format!("cannot read stream {path}: {e}")))?;
        Ok(out)
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;
    use crate::limits::Limits;

    /// Reads a corpus file.
    pub(crate) fn corpus(rel: &str) -> Vec<u8> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/testdata/docs/").to_string() + rel;
        std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
    }

    /// An in-memory compound file holding `streams` (storages are created as needed).
    pub(crate) fn cfb_file(streams: &[(&str, Vec<u8>)]) -> Vec<u8> {
        use std::io::Write;
        let mut cf = cfb::CompoundFile::create(Cursor::new(Vec::new())).expect("create cfb");
        for (path, data) in streams {
            if let Some((parent, _)) = path.rsplit_once('/')
                && !cf.exists(parent)
            {
                cf.create_storage_all(parent).expect("create storage");
            }
            cf.create_stream(path).expect("create stream").write_all(data).expect("write stream");
        }
        cf.flush().expect("flush cfb");
        cf.into_inner().into_inner()
    }

    /// Extracts with default limits.
    pub(crate) fn run(data: &[u8]) -> Result<Document> {
        let limits = Limits::default();
        open_and_extract(data, &mut Ctx::new(&limits, None, None))
    }

    /// Opens and extracts, as the crate's entry point does for a non-encrypted file.
    pub(crate) fn open_and_extract(data: &[u8], ctx: &mut Ctx) -> Result<Document> {
        let ole = Ole::open(data, ctx)?;
        extract(ole, ctx)
    }

    /// NFC is not needed for our own comparisons: the corpus text is already composed.
    /// Whitespace is removed on both sides, as the corpus README prescribes.
    pub(crate) fn squash(s: &str) -> String {
        s.chars().filter(|c| !c.is_whitespace()).collect()
    }

    /// Every expected unit of `rel`'s expected text must appear in `doc`.
    pub(crate) fn missing_units(rel: &str, doc: &Document) -> (usize, Vec<String>) {
        let expected = String::from_utf8(corpus(&format!("{rel}.expected.txt"))).expect("utf-8 expectations");
        let got = squash(&doc.text());
        let units: Vec<String> =
            expected.lines().filter(|l| !l.starts_with("# ")).map(squash).filter(|l| !l.is_empty()).collect();
        let missing = units.iter().filter(|u| !got.contains(u.as_str())).cloned().collect();
        (units.len(), missing)
    }

    #[test]
    fn bad_magic_is_not_a_cfb_file() {
        let err = run(&corpus("malformed/cfb_bad_magic.doc")).unwrap_err();
        assert!(matches!(err, Error::Malformed { .. }), "{err}");
        assert!(err.to_string().contains("not a CFB file"), "{err}");
    }

    /// The streams of a corpus file, by path.
    pub(crate) fn streams(rel: &str) -> Vec<(String, Vec<u8>)> {
        let data = corpus(rel);
        let limits = Limits::default();
        let ctx = Ctx::new(&limits, None, None);
        let mut ole = Ole::open(&data, &ctx).expect("corpus file opens");
        let paths: Vec<String> = ole
            .cf
            .walk()
            .filter(|e| e.is_stream())
            .map(|e| e.path().to_string_lossy().trim_start_matches('/').to_string())
            .collect();
        paths.into_iter().map(|p| (p.clone(), ole.read(&p, &ctx).expect("stream reads"))).collect()
    }

    /// A corpus file rebuilt with stream `name` changed by `edit`.
    pub(crate) fn edited(rel: &str, name: &str, edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut all = streams(rel);
        let stream = all.iter_mut().find(|(p, _)| p == name).map(|(_, d)| d).expect("stream exists");
        edit(stream);
        let refs: Vec<(&str, Vec<u8>)> = all.iter().map(|(p, d)| (p.as_str(), d.clone())).collect();
        cfb_file(&refs)
    }

    #[test]
    fn limits_and_cancellation_are_enforced() {
        let data = corpus("base/quiz_ko.doc");
        let small = Limits { max_entry_bytes: 1000, ..Limits::default() };
        let err = open_and_extract(&data, &mut Ctx::new(&small, None, None)).unwrap_err();
        assert!(matches!(err, Error::Limit(LimitKind::EntryBytes { max: 1000 })), "{err}");
        let few = Limits { max_entries: 2, ..Limits::default() };
        let err = open_and_extract(&data, &mut Ctx::new(&few, None, None)).unwrap_err();
        assert!(matches!(err, Error::Limit(LimitKind::Entries { max: 2 })), "{err}");
        // Inflated hwp sections count against the per-file total.
        let tiny_total = Limits { max_total_bytes: 100, ..Limits::default() };
        let err = open_and_extract(&corpus("base/quiz_ko.hwp"), &mut Ctx::new(&tiny_total, None, None)).unwrap_err();
        assert!(matches!(err, Error::Limit(LimitKind::TotalBytes { max: 100 })), "{err}");
        let cancel = std::sync::atomic::AtomicBool::new(true);
        let limits = Limits::default();
        let err = open_and_extract(&corpus("base/quiz_ko.hwp"), &mut Ctx::new(&limits, None, Some(&cancel))).unwrap_err();
        assert!(matches!(err, Error::Cancelled), "{err}");
    }

    #[test]
    fn damaged_containers_name_their_probable_format() {
        let mut xls = corpus("base/quiz_ko.xls");
        xls[0] = 0;
        assert!(matches!(run(&xls), Err(Error::Malformed { format: Format::Xls, .. })));
        // An impossible sector size: the container itself fails to open.
        let mut hwp = corpus("base/quiz_ko.hwp");
        hwp[0x1E] = 0x20;
        assert!(matches!(run(&hwp), Err(Error::Malformed { format: Format::Hwp, .. })));
    }

    #[test]
    fn empty_and_tiny_inputs_are_errors() {
        for data in [&[][..], &CFB_MAGIC[..], &[0u8; 512][..]] {
            assert!(run(data).is_err());
        }
    }
}

/// Damaged inputs: every reader must return (an error or partial text), never panic.
#[cfg(test)]
mod corruption {
    use super::test_support::{cfb_file, corpus, run, streams};
    use super::*;
    use crate::limits::Limits;

    const FILES: &[&str] = &[
        "base/plain_en.doc",
        "base/quiz_ko.doc",
        "realworld/test-ole-file.doc",
        "base/plain_en.xls",
        "base/quiz_ko.xls",
        "base/plain_en.ppt",
        "base/quiz_ko.ppt",
        "base/plain_en.hwp",
        "base/quiz_ko.hwp",
        "base/quiz_ko_uncompressed.hwp",
        "realworld/naver_documents__work_report.hwp",
        "malformed/hwp_bad_deflate.hwp",
        "malformed/cfb_bad_magic.doc",
    ];

    /// A small deterministic generator (xorshift64*).
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    /// Runs `data` and turns a panic into a test failure naming the variant.
    fn survives(data: &[u8], what: &str) {
        let r = std::panic::catch_unwind(|| run(data));
        assert!(r.is_ok(), "panic on {what}");
    }

    /// Damaged copies of `data`: truncations, flipped bits, overwritten runs of 0x00/0xFF.
    fn variants(data: &[u8], rng: &mut Rng, flips: usize) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        for pct in [1, 10, 35, 60, 90, 99] {
            out.push((format!("truncated to {pct} %"), data[..data.len() * pct / 100].to_vec()));
        }
        for k in 0..flips {
            let mut v = data.to_vec();
            let n = 1 + rng.below(8);
            for _ in 0..n {
                let at = rng.below(v.len());
                if let Some(b) = v.get_mut(at) {
                    *b ^= 1 << rng.below(8);
                }
            }
            out.push((format!("bit flip set {k}"), v));
        }
        for k in 0..flips / 2 {
            let mut v = data.to_vec();
            let at = rng.below(v.len());
            let len = 1 + rng.below(64);
            let fill = if k % 2 == 0 { 0x00 } else { 0xFF };
            for b in v.iter_mut().skip(at).take(len) {
                *b = fill;
            }
            out.push((format!("run of {fill:#04x} at {at}"), v));
        }
        out
    }

    #[test]
    fn damaged_files_never_panic() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for rel in FILES {
            let data = corpus(rel);
            for (what, v) in variants(&data, &mut rng, 24) {
                survives(&v, &format!("{rel}: {what}"));
            }
        }
    }

    /// Damage inside the streams, with a valid container around them: this reaches the
    /// format parsers rather than the compound-file layer. Compressed hwp sections are
    /// damaged before compression so the record parser sees them.
    #[test]
    fn damaged_streams_never_panic() {
        let mut rng = Rng(0xD1B5_4A32_D192_ED03);
        let limits = Limits::default();
        for rel in FILES.iter().filter(|f| !f.starts_with("malformed/")) {
            let streams = streams(rel);
            let compressed_hwp = streams
                .iter()
                .any(|(p, d)| p == "FileHeader" && d.get(36).is_some_and(|f| f & 1 != 0));
            for target in 0..streams.len() {
                let (name, original) = &streams[target];
                let is_section = name.starts_with("BodyText/");
                let interesting = matches!(
                    name.as_str(),
                    "WordDocument" | "0Table" | "1Table" | "Workbook" | "PowerPoint Document" | "Current User" | "FileHeader"
                ) || is_section;
                if !interesting {
                    continue;
                }
                let plain = if compressed_hwp && is_section {
                    let mut c = Ctx::new(&limits, None, None);
                    bytes::inflate_raw(original, &mut c, Format::Hwp, name).expect("corpus section inflates")
                } else {
                    original.clone()
                };
                for (what, damaged) in variants(&plain, &mut rng, 10) {
                    let damaged = if compressed_hwp && is_section { deflate(&damaged) } else { damaged };
                    let mut files: Vec<(&str, Vec<u8>)> =
                        streams.iter().map(|(p, d)| (p.as_str(), d.clone())).collect();
                    files[target].1 = damaged;
                    survives(&cfb_file(&files), &format!("{rel}: stream {name}: {what}"));
                }
            }
        }
    }

    fn deflate(data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(data).expect("deflate to memory");
        enc.finish().expect("deflate to memory")
    }
}
