//! Zip containers (OOXML packages and plain archives) read under the limits.
//!
//! The central directory's sizes are only hints: every entry is inflated through a
//! counting reader that stops at `Limits::max_entry_bytes` and charges the per-file
//! total as it goes, so a bomb is refused after at most one limit's worth of work.

use crate::error::{Error, LimitKind, Result};
use crate::limits::Ctx;
use crate::model::Format;
use std::io::{Cursor, Read};
use zip::ZipArchive;

/// Bit 11 of the general-purpose flags: names are UTF-8.
const FLAG_UTF8: u16 = 1 << 11;
const CHUNK: u64 = 64 * 1024;

/// An opened zip with its entry names decoded.
pub(crate) struct ZipPackage<'d> {
    archive: ZipArchive<Cursor<&'d [u8]>>,
    /// Decoded names by index.
    names: Vec<String>,
    format: Format,
}

impl<'d> ZipPackage<'d> {
    /// Opens a zip; `format` names the file kind in errors (docx, zip, ...).
    pub(crate) fn open(data: &'d [u8], format: Format, ctx: &Ctx) -> Result<Self> {
        let archive = ZipArchive::new(Cursor::new(data))
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
    pub(crate) fn read_index(&mut self, index: usize, ctx: &mut Ctx) -> Result<Vec<u8>> {
        ctx.check()?;
        let format = self.format;
        let max = ctx.limits.max_entry_bytes;
        let mut file = self
            .archive
            .by_index(index)
            .map_err(|e| Error::malformed(format, format!("cannot open zip entry {index}: {e}")))?;
        if file.encrypted() {
            return Err(Error::Unsupported("a zip entry encrypted with a zip password".into()));
        }
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

    #[test]
    fn cp949_names_decode() {
        // "퀴즈" in CP949.
        assert_eq!(decode_name(&[0xC4, 0xFB, 0xC1, 0xEE], false), "퀴즈");
        assert_eq!(decode_name("퀴즈".as_bytes(), true), "퀴즈");
        assert_eq!(decode_name(b"a/b.docx", false), "a/b.docx");
    }
}
