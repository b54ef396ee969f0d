//! Zip containers (OOXML packages and plain archives) read under the limits.
//!
//! The central directory's sizes are only hints: every entry is inflated through a
//! counting reader that stops at `Limits::max_entry_bytes` and charges the per-file
//! total as it goes, so a bomb is refused after at most one limit's worth of work.

use crate::error::{Error, LimitKind, Result};
use crate::limits::Ctx;
use crate::model::Format;
use std::io::{Cursor, Read, Seek, SeekFrom};
use zip::ZipArchive;

/// Bit 11 of the general-purpose flags: names are UTF-8.
const FLAG_UTF8: u16 = 1 << 11;
const CHUNK: u64 = 64 * 1024;

/// Where a zip's bytes are: in memory, or in a file on disk (never read whole, so a
/// large package costs only the parts that are read).
pub(crate) enum Src<'d> {
    Mem(Cursor<&'d [u8]>),
    File(std::io::BufReader<std::fs::File>),
}

impl Read for Src<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Src::Mem(c) => c.read(buf),
            Src::File(f) => f.read(buf),
        }
    }
}

impl Seek for Src<'_> {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        match self {
            Src::Mem(c) => c.seek(pos),
            Src::File(f) => f.seek(pos),
        }
    }
}

pub(crate) use crate::limits::LimitHit;

/// Progress callback, the bytes inflated before this entry, the next report.
type Progress<'z> = (&'z (dyn Fn(u64) + Sync), u64, u64);

/// An entry being inflated, counted: it stops with a [`LimitHit`] past `max` bytes or
/// past the ratio to its compressed size.
pub(crate) struct EntryReader<'z, R: Read> {
    inner: R,
    inflated: u64,
    compressed: u64,
    max: u64,
    max_kind: LimitKind,
    limits: &'z crate::Limits,
    progress: Option<Progress<'z>>,
}

impl<R: Read> EntryReader<'_, R> {
    /// Bytes inflated so far.
    pub(crate) fn inflated(&self) -> u64 {
        self.inflated
    }
}

impl<R: Read> Read for EntryReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.inflated += n as u64;
        if self.inflated > self.max {
            return Err(std::io::Error::other(LimitHit(self.max_kind.clone())));
        }
        if let Err(Error::Limit(kind)) = self.limits.check_ratio(self.inflated, self.compressed) {
            return Err(std::io::Error::other(LimitHit(kind)));
        }
        if let Some((report, base, next)) = &mut self.progress
            && self.inflated >= *next
        {
            *next = self.inflated + (256 << 10);
            report(*base + self.inflated);
        }
        Ok(n)
    }
}

/// Whether an entry carries no text, by its extension: pictures, audio, video, fonts,
/// embedded binaries. Such entries are never inflated. (Folder names are not used: a
/// user's folder called `media` may well hold documents. The OOXML readers only ever
/// open the parts their relationships name as text.)
pub(crate) fn is_textless(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    let ext = lower.rsplit_once('.').map_or("", |(_, e)| e);
    matches!(
        ext,
        "bin" | "odttf" | "ttf" | "otf" | "ttc" | "woff" | "woff2" | "fntdata" | "png" | "jpg" | "jpeg" | "gif" | "bmp" | "tif"
            | "tiff" | "emf" | "wmf" | "wdp" | "heic" | "webp" | "svg" | "mp4" | "m4v" | "mov" | "avi" | "wmv" | "mpg" | "mpeg"
            | "mkv" | "webm" | "mp3" | "wav" | "m4a" | "wma" | "ogg" | "aac" | "flac"
    )
}

/// An XML part streaming out of its entry.
pub(crate) type PartStream<'z> =
    crate::xml::XmlStream<std::io::BufReader<LossyUtf8<std::io::BufReader<EntryReader<'z, Box<dyn Read + 'z>>>>>>;

/// Bytes decoded as they are read into valid UTF-8: malformed sequences become U+FFFD,
/// a UTF-8 BOM is dropped and a UTF-16 BOM switches to UTF-16 (`encoding_rs` sniffing).
pub(crate) struct LossyUtf8<R> {
    inner: R,
    decoder: encoding_rs::Decoder,
    pending: Vec<u8>,
    at: usize,
    done: bool,
}

impl<R: std::io::BufRead> Read for LossyUtf8<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if self.at < self.pending.len() {
                let n = out.len().min(self.pending.len() - self.at);
                out[..n].copy_from_slice(&self.pending[self.at..self.at + n]);
                self.at += n;
                return Ok(n);
            }
            if self.done || out.is_empty() {
                return Ok(0);
            }
            let input = self.inner.fill_buf()?;
            let last = input.is_empty();
            // Room for the worst case of a whole input buffer of invalid bytes, 3 bytes each.
            self.pending.resize(3 * input.len().max(1) + 16, 0);
            let (_, read, written, _) = self.decoder.decode_to_utf8(input, &mut self.pending, last);
            self.inner.consume(read);
            self.pending.truncate(written);
            self.at = 0;
            self.done = last;
        }
    }
}

/// An opened zip with its entry names decoded.
pub(crate) struct ZipPackage<'d> {
    archive: ZipArchive<Src<'d>>,
    /// Decoded names by index.
    names: Vec<String>,
    format: Format,
}

impl<'d> ZipPackage<'d> {
    /// Opens a zip; `format` names the file kind in errors (docx, zip, ...).
    pub(crate) fn open(data: &'d [u8], format: Format, ctx: &Ctx) -> Result<Self> {
        Self::open_src(Src::Mem(Cursor::new(data)), format, ctx)
    }

    /// Opens a zip file on disk, reading only its directory.
    pub(crate) fn open_file(file: std::fs::File, format: Format, ctx: &Ctx) -> Result<ZipPackage<'static>> {
        ZipPackage::open_src(Src::File(std::io::BufReader::with_capacity(64 * 1024, file)), format, ctx)
    }

    fn open_src(src: Src<'d>, format: Format, ctx: &Ctx) -> Result<Self> {
        let archive = ZipArchive::new(src)
            .map_err(|e| Error::malformed(format, format!("cannot read the zip directory: {e}")))?;
        if archive.len() > ctx.limits.max_entries {
            return Err(Error::Limit(LimitKind::Entries { max: ctx.limits.max_entries }));
        }
        let mut names = Vec::with_capacity(archive.len());
        for i in 0..archive.len() {
            let entry = archive
                .by_index_data(i)
                .map_err(|e| Error::malformed(format, format!("bad zip entry {i}: {e}")))?;
            names.push(decode_name(entry.name_raw(), entry.flags().as_u16() & FLAG_UTF8 != 0));
        }
        Ok(Self { archive, names, format })
    }

    /// Streams an XML part out of its entry into `f`, which parses it as it inflates
    /// (bounded memory). The part counts against the file's total (and its ratio) as it
    /// streams; a part in UTF-16 is read whole and re-encoded first. `Ok(None)` when there
    /// is no such entry.
    pub(crate) fn stream_xml<T>(
        &mut self,
        name: &str,
        ctx: &mut Ctx,
        f: impl FnOnce(&mut PartStream<'_>, &Ctx) -> Result<T>,
    ) -> Result<Option<T>> {
        let Some(index) = self.index_of(name) else { return Ok(None) };
        ctx.check()?;
        let format = self.format;
        let limits = ctx.limits;
        let left = limits.max_total_bytes.saturating_sub(ctx.inflated());
        let file = self.open_entry(index)?;
        let compressed = file.compressed_size();
        let reader = EntryReader {
            inner: Box::new(file) as Box<dyn Read + '_>,
            inflated: 0,
            compressed,
            max: left,
            max_kind: LimitKind::TotalBytes { max: limits.max_total_bytes },
            limits,
            progress: ctx.progress_hook().map(|p| (p, ctx.inflated(), 256 << 10)),
        };
        // Bytes → text that is always valid UTF-8 (a stray invalid byte becomes U+FFFD, as
        // when a part is read whole; a UTF-16 part with its BOM is transcoded) → XML.
        let text = LossyUtf8 {
            inner: std::io::BufReader::with_capacity(32 * 1024, reader),
            decoder: encoding_rs::UTF_8.new_decoder(),
            pending: Vec::new(),
            at: 0,
            done: false,
        };
        let mut stream = crate::xml::XmlStream::new(std::io::BufReader::with_capacity(32 * 1024, text), format);
        let r = f(&mut stream, ctx);
        let inflated = stream.get_ref().get_ref().inner.get_ref().inflated();
        drop(stream);
        ctx.charge(inflated)?;
        r.map(Some)
    }

    /// The format named in errors from now on.
    pub(crate) fn set_format(&mut self, format: Format) {
        self.format = format;
    }

    pub(crate) fn names(&self) -> &[String] {
        &self.names
    }

    /// Index of an entry by exact name, or case-insensitively (some writers differ in case).
    pub(crate) fn index_of(&self, name: &str) -> Option<usize> {
        let name = name.trim_start_matches('/');
        self.names
            .iter()
            .position(|n| n == name)
            .or_else(|| self.names.iter().position(|n| n.eq_ignore_ascii_case(name)))
    }

    pub(crate) fn contains(&self, name: &str) -> bool {
        self.index_of(name).is_some()
    }

    /// Whether the entry is a directory (its name ends with '/').
    pub(crate) fn is_dir(&self, index: usize) -> bool {
        self.names.get(index).is_some_and(|n| n.ends_with('/'))
    }

    /// Inflates an entry under the per-entry and per-file limits.
    /// Opens entry `index` for reading; an entry encrypted with a zip password is refused.
    fn open_entry(&mut self, index: usize) -> Result<zip::read::ZipFile<'_, Src<'d>>> {
        let format = self.format;
        let file = self
            .archive
            .by_index(index)
            .map_err(|e| Error::malformed(format, format!("cannot open zip entry {index}: {e}")))?;
        if file.encrypted() {
            return Err(Error::Unsupported("a zip entry encrypted with a zip password".into()));
        }
        Ok(file)
    }

    pub(crate) fn read_index(&mut self, index: usize, ctx: &mut Ctx) -> Result<Vec<u8>> {
        ctx.check()?;
        let format = self.format;
        let max = ctx.limits.max_entry_bytes;
        let mut file = self.open_entry(index)?;
        let compressed = file.compressed_size();
        // The declared size is a hint for the first allocation only.
        let hint = file.size().min(max).min(16 << 20) as usize;
        let mut out = Vec::with_capacity(hint);
        loop {
            // Inflate straight into `out`, one chunk at a time, counting as we go.
            let n = (&mut file)
                .take(CHUNK)
                .read_to_end(&mut out)
                .map_err(|e| Error::malformed(format, format!("cannot inflate zip entry {index}: {e}")))?;
            if n == 0 {
                break;
            }
            if out.len() as u64 > max {
                return Err(Error::Limit(LimitKind::EntryBytes { max }));
            }
            ctx.limits.check_ratio(out.len() as u64, compressed)?;
            ctx.charge(n as u64)?;
            ctx.check()?;
        }
        Ok(out)
    }

    /// Inflates an entry by name; `Ok(None)` when there is no such entry.
    pub(crate) fn read(&mut self, name: &str, ctx: &mut Ctx) -> Result<Option<Vec<u8>>> {
        match self.index_of(name) {
            Some(i) => self.read_index(i, ctx).map(Some),
            None => Ok(None),
        }
    }

    /// Inflates an entry that must exist.
    pub(crate) fn read_required(&mut self, name: &str, ctx: &mut Ctx) -> Result<Vec<u8>> {
        let format = self.format;
        self.read(name, ctx)?
            .ok_or_else(|| Error::malformed(format, format!("the part {name} is missing")))
    }
}

/// Decodes an entry name: UTF-8 when the flag says so (or when the bytes are valid UTF-8
/// anyway), otherwise CP949, the code page Korean Windows zips use.
pub(crate) fn decode_name(raw: &[u8], utf8_flag: bool) -> String {
    if utf8_flag {
        return String::from_utf8_lossy(raw).into_owned();
    }
    match std::str::from_utf8(raw) {
        Ok(s) => s.to_string(),
        Err(_) => {
            let (text, _, _) = encoding_rs::EUC_KR.decode(raw);
            text.into_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lossy(bytes: &[u8]) -> String {
        let mut r = LossyUtf8 {
            inner: std::io::BufReader::with_capacity(5, bytes),
            decoder: encoding_rs::UTF_8.new_decoder(),
            pending: Vec::new(),
            at: 0,
            done: false,
        };
        let mut out = Vec::new();
        // Small reads, to cross buffer boundaries inside characters.
        let mut buf = [0u8; 3];
        loop {
            let n = r.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        String::from_utf8(out).expect("always valid UTF-8")
    }

    #[test]
    fn parts_stream_as_valid_utf8() {
        assert_eq!(lossy("<t>한글 ok</t>".as_bytes()), "<t>한글 ok</t>");
        assert_eq!(lossy(b"<t>a\xFFb\xED\x95</t>"), "<t>a\u{FFFD}b\u{FFFD}</t>");
        assert_eq!(lossy("\u{FEFF}<t/>".as_bytes()), "<t/>");
        let utf16: Vec<u8> = [0xFF, 0xFE].into_iter().chain("<t>퀴즈</t>".encode_utf16().flat_map(u16::to_le_bytes)).collect();
        assert_eq!(lossy(&utf16), "<t>퀴즈</t>");
    }

    #[test]
    fn cp949_names_decode() {
        // "퀴즈" in CP949.
        assert_eq!(decode_name(&[0xC4, 0xFB, 0xC1, 0xEE], false), "퀴즈");
        assert_eq!(decode_name("퀴즈".as_bytes(), true), "퀴즈");
        assert_eq!(decode_name(b"a/b.docx", false), "a/b.docx");
    }
}
