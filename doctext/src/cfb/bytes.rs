//! Bounds-checked little-endian reading, text decoding and raw inflate shared by the
//! compound-file formats. Nothing here panics on short or hostile input.

use crate::error::{Error, LimitKind, Result};
use crate::limits::Ctx;
use crate::model::Format;
use std::io::Read;

/// A cursor over a byte slice; every read returns `None` past the end.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The unread rest.
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.data.get(self.pos..).unwrap_or(&[])
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let out = self.data.get(self.pos..end)?;
        self.pos = end;
        Some(out)
    }

    pub(crate) fn skip(&mut self, n: usize) -> Option<()> {
        self.bytes(n).map(|_| ())
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        self.bytes(1).map(|b| b[0])
    }

    pub(crate) fn u16(&mut self) -> Option<u16> {
        self.bytes(2).map(|b| u16::from_le_bytes([b[0], b[1]]))
    }

    pub(crate) fn u32(&mut self) -> Option<u32> {
        self.bytes(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// The little-endian u16 at `off`, if the slice is long enough.
pub(crate) fn u16_at(data: &[u8], off: usize) -> Option<u16> {
    Reader::new(data.get(off..)?).u16()
}

/// The little-endian u32 at `off`, if the slice is long enough.
pub(crate) fn u32_at(data: &[u8], off: usize) -> Option<u32> {
    Reader::new(data.get(off..)?).u32()
}

/// Decodes UTF-16LE, replacing unpaired surrogates (a trailing odd byte is dropped).
pub(crate) fn utf16le(bytes: &[u8]) -> String {
    let mut out = String::new();
    push_utf16le(bytes, &mut out);
    out
}

/// [`utf16le`] appended to `out`, with no intermediate string.
pub(crate) fn push_utf16le(bytes: &[u8], out: &mut String) {
    // Most text is ASCII or Hangul (3 UTF-8 bytes per 2-byte unit): one unit per byte is
    // a reservation that rarely needs to grow and never wastes much.
    out.reserve(bytes.len());
    for (k, pair) in bytes.chunks_exact(2).enumerate() {
        // Every unit outside the surrogate range is a character of its own.
        match char::from_u32(u32::from(u16::from_le_bytes([pair[0], pair[1]]))) {
            Some(c) => out.push(c),
            None => {
                // From the first surrogate on, the general decoder takes the rest.
                let rest = bytes.get(k * 2..).unwrap_or_default();
                let units = rest.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]]));
                out.extend(char::decode_utf16(units).map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER)));
                return;
            }
        }
    }
}

/// Decodes UTF-16 code units (about `count` of them), replacing unpaired surrogates.
pub(crate) fn decode_utf16(units: impl IntoIterator<Item = u16>, count: usize) -> String {
    // One unit becomes at most three UTF-8 bytes: reserve once instead of growing.
    let mut out = String::with_capacity(count.saturating_mul(3));
    out.extend(char::decode_utf16(units).map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER)));
    out
}

/// Decodes 8-bit text as Windows-1252 (which Office's "compressed" 8-bit text is).
pub(crate) fn cp1252(bytes: &[u8]) -> String {
    encoding_rs::WINDOWS_1252.decode_without_bom_handling(bytes).0.into_owned()
}

/// Inflates a raw deflate stream (no zlib header), refusing to grow past the per-entry
/// limit and charging the output to `ctx`. `what` names the stream in errors.
pub(crate) fn inflate_raw(data: &[u8], ctx: &mut Ctx, format: Format, what: &str) -> Result<Vec<u8>> {
    let max = ctx.limits.max_entry_bytes;
    let mut out = Vec::with_capacity(data.len().saturating_mul(4).min(max as usize));
    let mut decoder = flate2::read::DeflateDecoder::new(data).take(max.saturating_add(1));
    let mut buf = [0u8; 32 * 1024];
    loop {
        ctx.check()?;
        let n = match decoder.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => return Err(Error::malformed(format, format!("invalid deflate data in {what}: {e}"))),
        };
        ctx.charge(n as u64)?;
        out.extend_from_slice(&buf[..n]);
        if out.len() as u64 > max {
            return Err(Error::Limit(LimitKind::EntryBytes { max }));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::Limits;
    use std::io::Write;

    #[test]
    fn reader_stops_at_the_end() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(r.u16(), Some(0x0201));
        assert_eq!(r.u16(), None);
        assert_eq!(r.u8(), Some(3));
        assert!(r.is_empty());
        assert_eq!(u32_at(&[1, 2, 3], 0), None);
        assert_eq!(u16_at(&[1, 2, 3], usize::MAX), None);
    }

    /// The fast path (ASCII, two- and three-byte characters, buffer refills) and the
    /// surrogate fallback agree with the standard decoder.
    #[test]
    fn utf16le_matches_the_standard_decoder() {
        let mut units: Vec<u16> = "a é 가 ß €".encode_utf16().cycle().take(400).collect();
        let long: String = char::decode_utf16(units.iter().copied()).map(Result::unwrap).collect();
        let bytes: Vec<u8> = units.iter().flat_map(|u| u.to_le_bytes()).collect();
        assert_eq!(utf16le(&bytes), long);
        // A pair, a lone high and a lone low surrogate, then more text; an odd last byte.
        units.extend([0xD83D, 0xDE00, 0xD800, 0x0041, 0xDC00, 0xAC00]);
        let mut bytes: Vec<u8> = units.iter().flat_map(|u| u.to_le_bytes()).collect();
        bytes.push(0x41);
        let expected = format!("{long}😀\u{FFFD}A\u{FFFD}가");
        assert_eq!(utf16le(&bytes), expected);
    }

    #[test]
    fn inflate_respects_the_entry_limit() {
        let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&vec![b'a'; 100_000]).unwrap();
        let packed = enc.finish().unwrap();
        let limits = Limits { max_entry_bytes: 1000, ..Limits::default() };
        let mut ctx = Ctx::new(&limits, None, None);
        let err = inflate_raw(&packed, &mut ctx, Format::Hwp, "x").unwrap_err();
        assert!(matches!(err, Error::Limit(LimitKind::EntryBytes { max: 1000 })), "{err}");

        let limits = Limits::default();
        let mut ctx = Ctx::new(&limits, None, None);
        assert_eq!(inflate_raw(&packed, &mut ctx, Format::Hwp, "x").unwrap().len(), 100_000);
        assert_eq!(ctx.inflated(), 100_000);
        let err = inflate_raw(b"\xff\xff\xff", &mut ctx, Format::Hwp, "BodyText/Section0").unwrap_err();
        assert!(err.to_string().contains("invalid deflate data in BodyText/Section0"), "{err}");
    }
}
