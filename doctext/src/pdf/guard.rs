//! Bounds on what a PDF's streams decode to, checked before the PDF library sees them.
//!
//! `lopdf` (under `pdf-extract`) decodes a stream whole into memory, with no bound: object
//! and cross-reference streams while loading, page contents, forms, fonts and colour
//! profiles while extracting. A 2 MB file with a Flate stream that inflates to 2 GiB took
//! 4.1 GiB. So every stream of the file is first decoded here, by counting only: through
//! the same filters lopdf applies (`FlateDecode`, `LZWDecode`, `ASCII85Decode`, in
//! order), into a small scratch buffer, stopping as soon as the stream passes
//! `Limits::max_entry_bytes` or `Limits::max_ratio` (past `ratio_floor`), or all streams
//! together pass `max_total_bytes`. A file that passes can then be decoded by lopdf with
//! memory bounded by those limits.
//!
//! The scan reads the raw file: each `stream` keyword after a dictionary, the stream's
//! `/Length` (direct, or an indirect object found by its `N G obj` header; else up to
//! `endstream`) and its `/Filter`. Images are skipped: pdf-extract never decodes them.
//! So is a stream too small to reach the ratio floor through its filters' largest
//! possible expansion, unless it is an object or cross-reference stream (lopdf keeps
//! those decoded); pdf-extract decodes the others one at a time and drops them.
//! An encrypted file's streams are checked again after decryption, from lopdf's objects
//! (still encoded: lopdf decrypts but does not decode when loading).

use crate::error::{Error, LimitKind, Result};
use crate::limits::Limits;
use std::io::Read;

/// Scratch space for counting decoded bytes.
const SCRATCH: usize = 64 * 1024;

/// Decoded bytes so far, for the whole file.
pub(crate) struct Budget<'l> {
    limits: &'l Limits,
    total: u64,
    streams: usize,
    /// Reused from stream to stream.
    scratch: Vec<u8>,
}

/// The most one encoded byte can decode to through a filter: deflate's maximum ratio is
/// about 1032:1, LZW's (12-bit codes, strings up to 4096 bytes) about 2731:1, ASCII85's
/// 4:1 (`z`).
fn max_expansion(filter: &[u8]) -> u64 {
    match filter {
        b"FlateDecode" | b"Fl" => 1100,
        b"LZWDecode" | b"LZW" => 2800,
        _ => 4,
    }
}

impl<'l> Budget<'l> {
    pub(crate) fn new(limits: &'l Limits) -> Self {
        Self { limits, total: 0, streams: 0, scratch: Vec::new() }
    }

    /// Checks one stream, unless it is too small to reach the ratio floor through any
    /// decoding and is not an object stream (which lopdf keeps decoded): then it cannot
    /// pass a limit on its own, and pdf-extract decodes it only for a moment.
    pub(crate) fn check_unless_small(&mut self, raw: &[u8], filters: &[Vec<u8>], object_stream: bool) -> Result<()> {
        let bound = filters.iter().fold(raw.len() as u64, |b, f| b.saturating_mul(max_expansion(f)));
        if !object_stream && bound <= self.limits.ratio_floor.min(self.limits.max_entry_bytes) {
            return Ok(());
        }
        self.check(raw, filters)
    }

    /// Streams checked so far.
    #[cfg(test)]
    pub(crate) fn streams(&self) -> usize {
        self.streams
    }

    /// Bytes decoded so far.
    #[cfg(test)]
    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    /// Checks one stream: `raw` encoded with `filters` (in decoding order).
    pub(crate) fn check(&mut self, raw: &[u8], filters: &[Vec<u8>]) -> Result<()> {
        self.streams += 1;
        // Only the filters lopdf decodes; anything after an unknown filter stays encoded.
        let known: Vec<&[u8]> = filters
            .iter()
            .map(Vec::as_slice)
            .take_while(|f| matches!(*f, b"FlateDecode" | b"Fl" | b"LZWDecode" | b"LZW" | b"ASCII85Decode" | b"A85"))
            .collect();
        if known.is_empty() {
            return Ok(());
        }
        let max = self.limits.max_entry_bytes;
        // Every stage but the last is kept (bounded by `max`) as the next one's input.
        let mut input: std::borrow::Cow<'_, [u8]> = std::borrow::Cow::Borrowed(raw);
        // Decoding stops just past the bytes or the ratio, whichever comes first.
        let raw_len = raw.len() as u64;
        let cap = max.min(self.limits.ratio_floor.max(raw_len.saturating_mul(self.limits.max_ratio.saturating_add(1))));
        for (i, f) in known.iter().enumerate() {
            let keep = i + 1 < known.len();
            let mut kept = Vec::new();
            let n = decode(f, &input, cap, keep.then_some(&mut kept), &mut self.scratch)?;
            if n > max {
                return Err(Error::Limit(LimitKind::StreamBytes { max }));
            }
            self.limits.check_ratio(n, raw_len)?;
            if !keep {
                self.total = self.total.saturating_add(n);
                if self.total > self.limits.max_total_bytes {
                    return Err(Error::Limit(LimitKind::TotalBytes { max: self.limits.max_total_bytes }));
                }
            }
            input = std::borrow::Cow::Owned(kept);
        }
        Ok(())
    }
}

/// Decodes `input` with one filter, counting the output and stopping just past `max`
/// (or past the ratio); the output is kept in `out` when given. Damaged data ends the
/// stream (lopdf keeps what decoded, or the raw bytes).
fn decode(filter: &[u8], input: &[u8], max: u64, mut out: Option<&mut Vec<u8>>, scratch: &mut Vec<u8>) -> Result<u64> {
    scratch.resize(SCRATCH, 0);
    let mut n: u64 = 0;
    let mut emit = |chunk: &[u8], n: &mut u64| -> bool {
        *n += chunk.len() as u64;
        if let Some(o) = out.as_deref_mut() {
            o.extend_from_slice(chunk);
        }
        *n <= max
    };
    match filter {
        b"FlateDecode" | b"Fl" => {
            // lopdf tries zlib, then raw deflate when the zlib header is wrong.
            let zlib = input.len() >= 2 && (u16::from(input[0]) << 8 | u16::from(input[1])) % 31 == 0 && input[0] & 0x0F == 8;
            let mut reader: Box<dyn Read> = if zlib {
                Box::new(flate2::read::ZlibDecoder::new(input))
            } else {
                Box::new(flate2::read::DeflateDecoder::new(input))
            };
            loop {
                match reader.read(scratch) {
                    Ok(0) | Err(_) => break,
                    Ok(k) => {
                        if !emit(&scratch[..k], &mut n) {
                            break;
                        }
                    }
                }
            }
        }
        b"LZWDecode" | b"LZW" => {
            // As lopdf: MSB first, codes from 9 bits, early change (the PDF default).
            let mut decoder = weezl::decode::Decoder::with_tiff_size_switch(weezl::BitOrder::Msb, 8);
            let mut rest = input;
            loop {
                let r = decoder.decode_bytes(rest, scratch);
                rest = &rest[r.consumed_in.min(rest.len())..];
                if r.consumed_out > 0 && !emit(&scratch[..r.consumed_out], &mut n) {
                    break;
                }
                match r.status {
                    Ok(weezl::LzwStatus::Ok) if r.consumed_in > 0 || r.consumed_out > 0 => {}
                    _ => break,
                }
            }
        }
        b"ASCII85Decode" | b"A85" => {
            let mut group = [0u8; 5];
            let mut len = 0;
            let mut buf: Vec<u8> = Vec::with_capacity(SCRATCH);
            for &c in input {
                match c {
                    b'~' => break,
                    b'z' if len == 0 => buf.extend_from_slice(&[0; 4]),
                    b'!'..=b'u' => {
                        group[len] = c - b'!';
                        len += 1;
                        if len == 5 {
                            let v = group.iter().fold(0u64, |a, &d| a * 85 + u64::from(d));
                            buf.extend_from_slice(&(v as u32).to_be_bytes());
                            len = 0;
                        }
                    }
                    _ => {}
                }
                if buf.len() >= SCRATCH {
                    if !emit(&buf, &mut n) {
                        return Ok(n);
                    }
                    buf.clear();
                }
            }
            if len > 1 {
                for g in group.iter_mut().skip(len) {
                    *g = 84;
                }
                let v = group.iter().fold(0u64, |a, &d| a * 85 + u64::from(d));
                buf.extend_from_slice(&(v as u32).to_be_bytes()[..len - 1]);
            }
            emit(&buf, &mut n);
        }
        _ => {}
    }
    Ok(n)
}

/// Checks every stream of a raw PDF file (see the module documentation).
pub(crate) fn scan(data: &[u8], budget: &mut Budget<'_>, check: &dyn Fn() -> Result<()>) -> Result<()> {
    let mut from = 0;
    let mut seen = 0u32;
    while let Some(k) = find(&data[from..], b"stream") {
        let at = from + k;
        from = at + 6;
        // Time and cancellation, every 64 streams (decoding one is bounded anyway).
        seen = seen.wrapping_add(1);
        if seen.is_multiple_of(64) {
            check()?;
        }
        // Not `endstream`, and right after a dictionary's `>>`.
        if at >= 3 && &data[at - 3..at] == b"end" {
            continue;
        }
        let before = trim_end(&data[..at]);
        if !before.ends_with(b">>") {
            continue;
        }
        let Some(dict_start) = dict_start(before) else { continue };
        let dict = &data[dict_start..before.len()];
        if has_name(dict, b"/Subtype", b"/Image") {
            continue;
        }
        let filters = filters(dict);
        if filters.is_empty() {
            continue;
        }
        // The data starts after the end of line that follows the keyword.
        let mut start = at + 6;
        if data.get(start) == Some(&b'\r') {
            start += 1;
        }
        if data.get(start) == Some(&b'\n') {
            start += 1;
        }
        let end = match length(dict, data) {
            Some(len) if start.saturating_add(len) <= data.len() => start + len,
            _ => find(&data[start..], b"endstream").map_or(data.len(), |e| start + e),
        };
        let object_stream = has_name(dict, b"/Type", b"/ObjStm") || has_name(dict, b"/Type", b"/XRef");
        budget.check_unless_small(&data[start..end], &filters, object_stream)?;
        from = end.max(from);
    }
    Ok(())
}

/// Whether the raw file names an encryption dictionary (its streams are encrypted there).
pub(crate) fn mentions_encryption(data: &[u8]) -> bool {
    find(data, b"/Encrypt").is_some()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn trim_end(b: &[u8]) -> &[u8] {
    let n = b.iter().rposition(|c| !c.is_ascii_whitespace()).map_or(0, |p| p + 1);
    &b[..n]
}

/// Where the dictionary that ends `before` (with `>>`) starts, matching nested `<<`/`>>`
/// within the last 64 KiB.
fn dict_start(before: &[u8]) -> Option<usize> {
    let floor = before.len().saturating_sub(64 * 1024);
    let mut depth = 0usize;
    let mut i = before.len();
    while i >= floor + 2 {
        let pair = &before[i - 2..i];
        if pair == b">>" {
            depth += 1;
            i -= 2;
        } else if pair == b"<<" {
            depth = depth.checked_sub(1)?;
            i -= 2;
            if depth == 0 {
                return Some(i);
            }
        } else {
            i -= 1;
        }
    }
    None
}

/// The token after `key` in a dictionary (a name, number or `[` array start), with its
/// position.
fn value_after<'a>(dict: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    let mut from = 0;
    while let Some(k) = find(&dict[from..], key) {
        let at = from + k + key.len();
        // The whole key, not a prefix of a longer name (/Length vs /Length1).
        if dict.get(at).is_some_and(|c| c.is_ascii_alphanumeric()) {
            from = at;
            continue;
        }
        let rest = &dict[at..];
        let skip = rest.iter().position(|c| !c.is_ascii_whitespace()).unwrap_or(rest.len());
        return Some(&rest[skip..]);
    }
    None
}

fn has_name(dict: &[u8], key: &[u8], name: &[u8]) -> bool {
    value_after(dict, key).is_some_and(|v| v.starts_with(name) && !v.get(name.len()).is_some_and(|c| c.is_ascii_alphanumeric()))
}

/// The names of `/Filter`: one name or an array of names.
fn filters(dict: &[u8]) -> Vec<Vec<u8>> {
    let Some(v) = value_after(dict, b"/Filter") else { return Vec::new() };
    let list = if v.first() == Some(&b'[') {
        let end = v.iter().position(|&c| c == b']').unwrap_or(v.len());
        &v[1..end]
    } else {
        let end = v.iter().skip(1).position(|&c| c == b'/' || c == b'>' || c.is_ascii_whitespace()).map_or(v.len(), |p| p + 1);
        &v[..end]
    };
    list.split(|&c| c == b'/' || c.is_ascii_whitespace())
        .filter(|n| !n.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

fn number(b: &[u8]) -> Option<(u64, &[u8])> {
    let end = b.iter().position(|c| !c.is_ascii_digit()).unwrap_or(b.len());
    let n = std::str::from_utf8(&b[..end]).ok()?.parse().ok()?;
    Some((n, &b[end..]))
}

/// `/Length`: a direct number, or `N G R` resolved through the object's header.
fn length(dict: &[u8], data: &[u8]) -> Option<usize> {
    let v = value_after(dict, b"/Length")?;
    let (n, rest) = number(v)?;
    let rest_t = rest.trim_ascii_start();
    if let Some((generation, after)) = number(rest_t)
        && after.trim_ascii_start().starts_with(b"R")
    {
        let header = format!("{n} {generation} obj");
        let mut from = 0;
        while let Some(k) = find(&data[from..], header.as_bytes()) {
            let at = from + k;
            from = at + header.len();
            // The header starts a line (or the file), not inside a longer number.
            if at > 0 && data[at - 1].is_ascii_digit() {
                continue;
            }
            let (len, _) = number(data[from..].trim_ascii_start())?;
            return usize::try_from(len).ok();
        }
        return None;
    }
    usize::try_from(n).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn dictionaries_lengths_and_filters() {
        let body = zlib(b"BT (hi) Tj ET");
        let mut pdf = b"%PDF-1.4\n1 0 obj\n<< /Length 2 0 R /Filter [/FlateDecode] >>\nstream\n".to_vec();
        pdf.extend_from_slice(&body);
        pdf.extend_from_slice(b"\nendstream\nendobj\n");
        pdf.extend_from_slice(format!("2 0 obj\n{}\nendobj\n", body.len()).as_bytes());
        pdf.extend_from_slice(b"3 0 obj\n<< /Subtype /Image /Filter /FlateDecode /Length 4 >>\nstream\nxxxx\nendstream\nendobj\n");
        let no = || Ok(());
        // With the default floor this stream is too small to be worth decoding.
        let limits = Limits::default();
        let mut b = Budget::new(&limits);
        scan(&pdf, &mut b, &no).unwrap();
        assert_eq!(b.streams(), 0, "small streams are not decoded");
        let limits = Limits { ratio_floor: 0, ..Limits::default() };
        let mut b = Budget::new(&limits);
        scan(&pdf, &mut b, &no).unwrap();
        assert_eq!(b.streams(), 1, "the image is skipped");
        assert_eq!(b.total(), 13);
        assert_eq!(filters(b"<< /Filter /FlateDecode/Length 3 >>"), [b"FlateDecode".to_vec()]);
        assert_eq!(filters(b"<</Filter[/ASCII85Decode /LZWDecode]>>"), [b"ASCII85Decode".to_vec(), b"LZWDecode".to_vec()]);
        assert_eq!(length(b"<< /Length1 9 /Length 12 >>", b""), Some(12));
    }

    /// Damaged files (every cut of a real PDF's head, bytes flipped all over) scan
    /// without a panic.
    #[test]
    fn damaged_files_scan_without_panicking() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/testdata/docs/realworld/crazyones.pdf");
        let pdf = std::fs::read(path).expect("corpus file");
        let limits = Limits { ratio_floor: 0, ..Limits::default() };
        let ok = || Ok(());
        for cut in (0..pdf.len()).step_by(97) {
            let _ = scan(&pdf[..cut], &mut Budget::new(&limits), &ok);
        }
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        for _ in 0..300 {
            let mut bad = pdf.clone();
            for _ in 0..8 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let at = (x % bad.len() as u64) as usize;
                bad[at] = b"<>/ 0123456789streamendobjR[]"[(x >> 32) as usize % 29];
            }
            let _ = scan(&bad, &mut Budget::new(&limits), &ok);
        }
    }

    #[test]
    fn a_flate_bomb_stops_at_the_limits() {
        let bomb = zlib(&vec![0u8; 4 << 20]);
        let limits = Limits { ratio_floor: 1 << 20, ..Limits::default() };
        let err = Budget::new(&limits).check(&bomb, &[b"FlateDecode".to_vec()]).unwrap_err();
        assert!(matches!(err, Error::Limit(LimitKind::Ratio { .. })), "{err}");
        let loose = Limits { max_ratio: u64::MAX, max_entry_bytes: 1 << 20, ..Limits::default() };
        let err = Budget::new(&loose).check(&bomb, &[b"FlateDecode".to_vec()]).unwrap_err();
        assert!(matches!(err, Error::Limit(LimitKind::StreamBytes { max }) if max == 1 << 20), "{err}");
        // Under the limits, the whole stream is counted.
        Budget::new(&Limits::default()).check(&bomb, &[b"FlateDecode".to_vec()]).expect("4 MiB is fine");
        // Through ASCII85 first, as lopdf would decode it.
        let mut a85 = Vec::new();
        for chunk in bomb.chunks(4) {
            let mut g = [0u8; 4];
            g[..chunk.len()].copy_from_slice(chunk);
            let mut v = u32::from_be_bytes(g) as u64;
            let mut digits = [0u8; 5];
            for d in digits.iter_mut().rev() {
                *d = (v % 85) as u8 + b'!';
                v /= 85;
            }
            a85.extend_from_slice(&digits[..chunk.len() + 1]);
        }
        a85.extend_from_slice(b"~>");
        let err = Budget::new(&loose).check(&a85, &[b"ASCII85Decode".to_vec(), b"FlateDecode".to_vec()]).unwrap_err();
        assert!(matches!(err, Error::Limit(LimitKind::StreamBytes { .. })), "{err}");
    }
}
