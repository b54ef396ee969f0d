//! Password-protected OOXML (ECMA-376 / MS-OFFCRYPTO): an OLE compound file holding
//! `EncryptionInfo` and `EncryptedPackage`.
//!
//! - Agile (version 4.4): the key-derivation hash (SHA-512 for Office 2010+) is spun
//!   `spinCount` times over salt ‖ UTF-16LE password; three block keys derive the keys
//!   for the verifier input, the verifier hash and the package key; the package is
//!   AES-CBC in 4096-byte segments with IV = hash(keyData salt ‖ LE32(segment)).
//! - Standard (versions 2/3/4 .2): SHA-1 spun 50 000 times, the 0x36/0x5C key derivation,
//!   AES-ECB over the package.
//!
//! The password verifier is checked before anything else is decrypted: a wrong password
//! is [`Error::WrongPassword`], never garbage.

use crate::error::{Error, LimitKind, Result};
use crate::limits::Ctx;
use crate::model::Format;
use crate::xml::{XmlReader, attr, local};
use aes::cipher::{BlockDecryptMut, KeyInit, KeyIvInit, block_padding::NoPadding};
use base64::Engine as _;
use quick_xml::events::Event;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};
use std::io::{Cursor, Read};

const SEGMENT: usize = 4096;
const BLOCK_VERIFIER_INPUT: [u8; 8] = [0xFE, 0xA7, 0xD2, 0x76, 0x3B, 0x4B, 0x9E, 0x79];
const BLOCK_VERIFIER_VALUE: [u8; 8] = [0xD7, 0xAA, 0x0F, 0x6D, 0x30, 0x61, 0x34, 0x4E];
const BLOCK_KEY_VALUE: [u8; 8] = [0x14, 0x6E, 0x0B, 0xE7, 0xAB, 0xAC, 0xD0, 0xD6];
const STANDARD_SPINS: u32 = 50_000;
/// Spin counts above this are refused (Office writes 100 000).
const MAX_SPINS: u32 = 10_000_000;

/// The two streams of an encrypted OOXML file, if this compound file is one.
pub(crate) struct Encrypted {
    info: Vec<u8>,
    package: Vec<u8>,
}

/// The compound file's encryption streams when both exist; `Ok(None)` for any other
/// compound file.
pub(crate) fn encrypted_streams(cf: &mut cfb::CompoundFile<Cursor<&[u8]>>, ctx: &mut Ctx) -> Result<Option<Encrypted>> {
    if !(cf.is_stream("EncryptionInfo") && cf.is_stream("EncryptedPackage")) {
        return Ok(None);
    }
    let mut read = |name: &str, ctx: &mut Ctx| -> Result<Vec<u8>> {
        let stream = cf
            .open_stream(name)
            .map_err(|e| Error::malformed(Format::Docx, format!("cannot open the {name} stream: {e}")))?;
        let max = ctx.limits.max_entry_bytes;
        let mut out = Vec::new();
        stream
            .take(max.saturating_add(1))
            .read_to_end(&mut out)
            .map_err(|e| Error::malformed(Format::Docx, format!("cannot read the {name} stream: {e}")))?;
        if out.len() as u64 > max {
            return Err(Error::Limit(LimitKind::EntryBytes { max }));
        }
        ctx.charge(out.len() as u64)?;
        Ok(out)
    };
    let info = read("EncryptionInfo", ctx)?;
    let package = read("EncryptedPackage", ctx)?;
    Ok(Some(Encrypted { info, package }))
}

impl Encrypted {
    /// Checks the password and decrypts the package (a zip).
    pub(crate) fn decrypt(self, ctx: &mut Ctx) -> Result<Vec<u8>> {
        let password = ctx.password.ok_or(Error::PasswordRequired)?;
        let (major, minor) = match self.info.get(..4) {
            Some(h) => (u16::from_le_bytes([h[0], h[1]]), u16::from_le_bytes([h[2], h[3]])),
            None => return Err(bad("EncryptionInfo is shorter than its version header")),
        };
        match (major, minor) {
            (4, 4) => {
                let xml = self.info.get(8..).ok_or_else(|| bad("Agile EncryptionInfo has no XML"))?;
                let agile = AgileInfo::parse(xml, ctx)?;
                let key = agile.package_key(password, ctx)?;
                decrypt_agile_package(&agile, &key, &self.package, ctx)
            }
            (2..=4, 2) => {
                let std = StandardInfo::parse(&self.info)?;
                let key = std.key(password, ctx)?;
                decrypt_ecb_package(&key, &self.package, ctx)
            }
            (4, 3) | (3, 3) => Err(Error::Unsupported("extensible encryption (EncryptionInfo 3.3/4.3)".into())),
            _ => Err(Error::Unsupported(format!("document encryption version {major}.{minor}"))),
        }
    }
}

fn bad(reason: impl Into<String>) -> Error {
    Error::malformed(Format::Docx, format!("encryption header: {}", reason.into()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HashAlg {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl HashAlg {
    fn from_name(name: &str) -> Result<Self> {
        match name.to_ascii_uppercase().replace('-', "").as_str() {
            "SHA1" => Ok(Self::Sha1),
            "SHA256" => Ok(Self::Sha256),
            "SHA384" => Ok(Self::Sha384),
            "SHA512" => Ok(Self::Sha512),
            other => Err(Error::Unsupported(format!("the {other} hash in document encryption"))),
        }
    }

    /// Hash of the concatenation of `parts`.
    fn hash(self, parts: &[&[u8]]) -> Vec<u8> {
        fn h<D: Digest>(parts: &[&[u8]]) -> Vec<u8> {
            let mut d = D::new();
            for p in parts {
                d.update(p);
            }
            d.finalize().to_vec()
        }
        match self {
            Self::Sha1 => h::<Sha1>(parts),
            Self::Sha256 => h::<Sha256>(parts),
            Self::Sha384 => h::<Sha384>(parts),
            Self::Sha512 => h::<Sha512>(parts),
        }
    }

    /// H0 = H(salt ‖ password), Hi = H(LE32(i) ‖ Hi−1) for `spins` rounds.
    fn spin(self, salt: &[u8], password: &[u16], spins: u32, ctx: &Ctx) -> Result<Vec<u8>> {
        fn run<D: Digest + sha2::digest::FixedOutputReset>(salt: &[u8], password: &[u16], spins: u32, ctx: &Ctx) -> Result<Vec<u8>> {
            let mut d = D::new();
            Digest::update(&mut d, salt);
            for u in password {
                Digest::update(&mut d, u.to_le_bytes());
            }
            let mut h = Digest::finalize_reset(&mut d);
            for i in 0..spins {
                if i % 8192 == 0 {
                    ctx.check()?;
                }
                Digest::update(&mut d, i.to_le_bytes());
                Digest::update(&mut d, &h);
                Digest::finalize_into_reset(&mut d, &mut h);
            }
            Ok(h.to_vec())
        }
        match self {
            Self::Sha1 => run::<Sha1>(salt, password, spins, ctx),
            Self::Sha256 => run::<Sha256>(salt, password, spins, ctx),
            Self::Sha384 => run::<Sha384>(salt, password, spins, ctx),
            Self::Sha512 => run::<Sha512>(salt, password, spins, ctx),
        }
    }
}

fn utf16(password: &str) -> Vec<u16> {
    password.encode_utf16().collect()
}

/// Decrypts `buf` in place with AES-CBC (key of 16, 24 or 32 bytes, no padding).
fn aes_cbc_decrypt(key: &[u8], iv: &[u8], buf: &mut [u8]) -> Result<()> {
    fn run<C: BlockDecryptMut + KeyIvInit>(key: &[u8], iv: &[u8], buf: &mut [u8]) -> Result<()> {
        let dec = C::new_from_slices(key, iv).map_err(|_| bad("bad AES key or IV length"))?;
        dec.decrypt_padded_mut::<NoPadding>(buf).map_err(|_| bad("data is not a whole number of AES blocks"))?;
        Ok(())
    }
    match key.len() {
        16 => run::<cbc::Decryptor<aes::Aes128>>(key, iv, buf),
        24 => run::<cbc::Decryptor<aes::Aes192>>(key, iv, buf),
        32 => run::<cbc::Decryptor<aes::Aes256>>(key, iv, buf),
        n => Err(bad(format!("an AES key of {n} bytes"))),
    }
}

/// Decrypts `buf` in place with AES-ECB.
fn aes_ecb_decrypt(key: &[u8], buf: &mut [u8]) -> Result<()> {
    fn run<C: BlockDecryptMut + KeyInit>(key: &[u8], buf: &mut [u8]) -> Result<()> {
        let dec = C::new_from_slice(key).map_err(|_| bad("bad AES key length"))?;
        dec.decrypt_padded_mut::<NoPadding>(buf).map_err(|_| bad("data is not a whole number of AES blocks"))?;
        Ok(())
    }
    match key.len() {
        16 => run::<ecb::Decryptor<aes::Aes128>>(key, buf),
        24 => run::<ecb::Decryptor<aes::Aes192>>(key, buf),
        32 => run::<ecb::Decryptor<aes::Aes256>>(key, buf),
        n => Err(bad(format!("an AES key of {n} bytes"))),
    }
}

/// `bytes` cut or padded with 0x36 to `len`.
fn fit(mut bytes: Vec<u8>, len: usize) -> Vec<u8> {
    bytes.resize(len, 0x36);
    bytes
}

/// The package's declared size (first 8 bytes) and the encrypted rest.
fn package_parts<'p>(package: &'p [u8], ctx: &Ctx) -> Result<(usize, &'p [u8])> {
    let head: [u8; 8] = package
        .get(..8)
        .and_then(|h| h.try_into().ok())
        .ok_or_else(|| bad("EncryptedPackage is shorter than its size field"))?;
    let size = u64::from_le_bytes(head);
    let max = ctx.limits.max_entry_bytes;
    if size > max {
        return Err(Error::Limit(LimitKind::EntryBytes { max }));
    }
    let body = &package[8..];
    if size > body.len() as u64 {
        return Err(bad(format!("EncryptedPackage declares {size} bytes but holds {}", body.len())));
    }
    Ok((size as usize, body))
}

// ---------------------------------------------------------------------------------
// Agile

#[derive(Debug, Default)]
struct AgileInfo {
    // keyData
    data_salt: Vec<u8>,
    data_block: usize,
    data_key_bits: usize,
    data_hash: Option<HashAlg>,
    // the password key encryptor
    spins: u32,
    key_salt: Vec<u8>,
    key_bits: usize,
    key_hash: Option<HashAlg>,
    hash_size: usize,
    verifier_input: Vec<u8>,
    verifier_value: Vec<u8>,
    key_value: Vec<u8>,
    found_password_encryptor: bool,
}

impl AgileInfo {
    fn parse(xml: &[u8], ctx: &Ctx) -> Result<Self> {
        let text = crate::xml::decode(xml);
        let mut r = XmlReader::new(&text, Format::Docx);
        let mut info = AgileInfo::default();
        let b64 = |v: Option<String>, what: &str| -> Result<Vec<u8>> {
            let v = v.ok_or_else(|| bad(format!("missing {what}")))?;
            base64::engine::general_purpose::STANDARD
                .decode(v.trim())
                .map_err(|_| bad(format!("{what} is not base64")))
        };
        let num = |v: Option<String>, what: &str| -> Result<usize> {
            v.and_then(|v| v.trim().parse().ok()).ok_or_else(|| bad(format!("missing or bad {what}")))
        };
        let check_cipher = |e: &quick_xml::events::BytesStart<'_>| -> Result<()> {
            let alg = attr(e, "cipherAlgorithm").unwrap_or_default();
            let chain = attr(e, "cipherChaining").unwrap_or_default();
            if alg != "AES" || chain != "ChainingModeCBC" {
                return Err(Error::Unsupported(format!("document encryption with {alg} {chain}")));
            }
            Ok(())
        };
        loop {
            match r.next(ctx)? {
                Event::Start(e) | Event::Empty(e) => match local(&e) {
                    "keyData" => {
                        check_cipher(&e)?;
                        info.data_salt = b64(attr(&e, "saltValue"), "keyData saltValue")?;
                        info.data_block = num(attr(&e, "blockSize"), "keyData blockSize")?;
                        info.data_key_bits = num(attr(&e, "keyBits"), "keyData keyBits")?;
                        info.data_hash = Some(HashAlg::from_name(&attr(&e, "hashAlgorithm").unwrap_or_default())?);
                    }
                    "encryptedKey" if !info.found_password_encryptor => {
                        check_cipher(&e)?;
                        info.found_password_encryptor = true;
                        let spins = num(attr(&e, "spinCount"), "spinCount")?;
                        info.spins = u32::try_from(spins).ok().filter(|s| *s <= MAX_SPINS).ok_or_else(|| {
                            Error::Unsupported(format!("a password spin count of {spins} (at most {MAX_SPINS})"))
                        })?;
                        info.key_salt = b64(attr(&e, "saltValue"), "saltValue")?;
                        info.key_bits = num(attr(&e, "keyBits"), "keyBits")?;
                        info.hash_size = num(attr(&e, "hashSize"), "hashSize")?;
                        info.key_hash = Some(HashAlg::from_name(&attr(&e, "hashAlgorithm").unwrap_or_default())?);
                        info.verifier_input = b64(attr(&e, "encryptedVerifierHashInput"), "encryptedVerifierHashInput")?;
                        info.verifier_value = b64(attr(&e, "encryptedVerifierHashValue"), "encryptedVerifierHashValue")?;
                        info.key_value = b64(attr(&e, "encryptedKeyValue"), "encryptedKeyValue")?;
                    }
                    _ => {}
                },
                Event::Eof => break,
                _ => {}
            }
        }
        if !info.found_password_encryptor {
            return Err(Error::Unsupported("encryption with a certificate, not a password".into()));
        }
        if info.data_hash.is_none() {
            return Err(bad("missing keyData"));
        }
        if !matches!(info.key_bits, 128 | 192 | 256) || !matches!(info.data_key_bits, 128 | 192 | 256) {
            return Err(bad(format!("AES key of {} bits", info.key_bits)));
        }
        if info.data_block != 16 || info.key_salt.len() < 16 || info.data_salt.is_empty() {
            return Err(bad("unexpected block or salt size"));
        }
        Ok(info)
    }

    /// Derives the key from the password, checks the verifier, and returns the package key.
    fn package_key(&self, password: &str, ctx: &Ctx) -> Result<Vec<u8>> {
        let hash = self.key_hash.unwrap_or(HashAlg::Sha512);
        let h = hash.spin(&self.key_salt, &utf16(password), self.spins, ctx)?;
        let key_len = self.key_bits / 8;
        let iv = &self.key_salt[..16];
        let block_key = |block: &[u8]| fit(hash.hash(&[&h, block]), key_len);
        let decrypt = |block: &[u8], data: &[u8]| -> Result<Vec<u8>> {
            let mut buf = data.to_vec();
            aes_cbc_decrypt(&block_key(block), iv, &mut buf)?;
            Ok(buf)
        };
        let input = decrypt(&BLOCK_VERIFIER_INPUT, &self.verifier_input)?;
        let value = decrypt(&BLOCK_VERIFIER_VALUE, &self.verifier_value)?;
        let input = input.get(..self.key_salt.len().min(input.len())).unwrap_or_default();
        let expected = hash.hash(&[input]);
        let n = self.hash_size.min(expected.len());
        if value.get(..n) != expected.get(..n) || n == 0 {
            return Err(Error::WrongPassword);
        }
        let key = decrypt(&BLOCK_KEY_VALUE, &self.key_value)?;
        let data_len = self.data_key_bits / 8;
        key.get(..data_len).map(<[u8]>::to_vec).ok_or_else(|| bad("encrypted key too short"))
    }
}

fn decrypt_agile_package(info: &AgileInfo, key: &[u8], package: &[u8], ctx: &mut Ctx) -> Result<Vec<u8>> {
    let (size, body) = package_parts(package, ctx)?;
    let hash = info.data_hash.unwrap_or(HashAlg::Sha512);
    let mut out = Vec::with_capacity(size.next_multiple_of(16));
    for (i, seg) in body.chunks(SEGMENT).enumerate() {
        if out.len() >= size {
            break;
        }
        if i % 64 == 0 {
            ctx.check()?;
        }
        let idx = u32::try_from(i).map_err(|_| bad("too many segments"))?;
        let iv = fit(hash.hash(&[&info.data_salt, &idx.to_le_bytes()]), info.data_block);
        let start = out.len();
        out.extend_from_slice(seg);
        // A final partial block (should not happen) is dropped rather than misread.
        let whole = (out.len() - start) / 16 * 16;
        out.truncate(start + whole);
        aes_cbc_decrypt(key, &iv, &mut out[start..])?;
    }
    finish_package(out, size, ctx)
}

fn finish_package(mut out: Vec<u8>, size: usize, ctx: &mut Ctx) -> Result<Vec<u8>> {
    if out.len() < size {
        return Err(bad("EncryptedPackage is shorter than declared"));
    }
    out.truncate(size);
    ctx.charge(size as u64)?;
    Ok(out)
}

// ---------------------------------------------------------------------------------
// Standard

#[derive(Debug)]
struct StandardInfo {
    key_bits: usize,
    salt: Vec<u8>,
    verifier: Vec<u8>,
    verifier_hash: Vec<u8>,
    verifier_hash_size: usize,
}

/// Little-endian u32 at `off`.
fn u32_at(b: &[u8], off: usize) -> Result<u32> {
    b.get(off..off + 4)
        .and_then(|s| s.try_into().ok())
        .map(u32::from_le_bytes)
        .ok_or_else(|| bad("truncated Standard EncryptionInfo"))
}

fn slice_at(b: &[u8], off: usize, len: usize) -> Result<&[u8]> {
    b.get(off..off.checked_add(len).ok_or_else(|| bad("bad length"))?)
        .ok_or_else(|| bad("truncated Standard EncryptionInfo"))
}

impl StandardInfo {
    fn parse(info: &[u8]) -> Result<Self> {
        const ALG_AES128: u32 = 0x660E;
        const ALG_AES192: u32 = 0x660F;
        const ALG_AES256: u32 = 0x6610;
        const ALG_RC4: u32 = 0x6801;
        const HASH_SHA1: u32 = 0x8004;
        let header_size = u32_at(info, 8)? as usize;
        let h = 12;
        let alg = u32_at(info, h + 8)?;
        let alg_hash = u32_at(info, h + 12)?;
        let key_bits = u32_at(info, h + 16)? as usize;
        match alg {
            ALG_AES128 | ALG_AES192 | ALG_AES256 => {}
            ALG_RC4 => return Err(Error::Unsupported("RC4 CryptoAPI encryption".into())),
            other => return Err(Error::Unsupported(format!("encryption algorithm 0x{other:04X}"))),
        }
        if alg_hash != HASH_SHA1 && alg_hash != 0 {
            return Err(Error::Unsupported(format!("encryption hash 0x{alg_hash:04X}")));
        }
        if !matches!(key_bits, 128 | 192 | 256) {
            return Err(bad(format!("AES key of {key_bits} bits")));
        }
        let v = h.checked_add(header_size).ok_or_else(|| bad("bad header size"))?;
        let salt_size = u32_at(info, v)? as usize;
        if salt_size != 16 {
            return Err(bad(format!("salt of {salt_size} bytes")));
        }
        let salt = slice_at(info, v + 4, 16)?.to_vec();
        let verifier = slice_at(info, v + 20, 16)?.to_vec();
        let verifier_hash_size = u32_at(info, v + 36)? as usize;
        let verifier_hash = slice_at(info, v + 40, 32)?.to_vec();
        Ok(Self { key_bits, salt, verifier, verifier_hash, verifier_hash_size })
    }

    /// Derives the key and checks it against the verifier.
    fn key(&self, password: &str, ctx: &Ctx) -> Result<Vec<u8>> {
        let h = HashAlg::Sha1.spin(&self.salt, &utf16(password), STANDARD_SPINS, ctx)?;
        let hf = HashAlg::Sha1.hash(&[&h, &0u32.to_le_bytes()]);
        let derive = |fill: u8| {
            let mut buf = [fill; 64];
            for (b, x) in buf.iter_mut().zip(&hf) {
                *b ^= x;
            }
            HashAlg::Sha1.hash(&[&buf])
        };
        let mut x = derive(0x36);
        x.extend(derive(0x5C));
        x.truncate(self.key_bits / 8);
        let mut verifier = self.verifier.clone();
        aes_ecb_decrypt(&x, &mut verifier)?;
        let mut vhash = self.verifier_hash.clone();
        aes_ecb_decrypt(&x, &mut vhash)?;
        let expected = HashAlg::Sha1.hash(&[&verifier]);
        let n = self.verifier_hash_size.min(expected.len());
        if n == 0 || vhash.get(..n) != expected.get(..n) {
            return Err(Error::WrongPassword);
        }
        Ok(x)
    }
}

fn decrypt_ecb_package(key: &[u8], package: &[u8], ctx: &mut Ctx) -> Result<Vec<u8>> {
    let (size, body) = package_parts(package, ctx)?;
    let len = size.next_multiple_of(16).min(body.len() / 16 * 16);
    let mut out = body[..len].to_vec();
    for chunk in out.chunks_mut(1 << 20) {
        ctx.check()?;
        aes_ecb_decrypt(key, chunk)?;
    }
    finish_package(out, size, ctx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::Limits;

    #[test]
    fn fit_pads_with_0x36_and_cuts() {
        assert_eq!(fit(vec![1, 2], 4), vec![1, 2, 0x36, 0x36]);
        assert_eq!(fit(vec![1, 2, 3], 2), vec![1, 2]);
    }

    #[test]
    fn spin_matches_the_definition() {
        let limits = Limits::default();
        let ctx = Ctx::new(&limits, None, None);
        let salt = [7u8; 16];
        let pw = utf16("pw");
        let mut h = {
            let mut d = Sha512::new();
            d.update(salt);
            d.update([b'p', 0, b'w', 0]);
            d.finalize().to_vec()
        };
        for i in 0u32..3 {
            let mut d = Sha512::new();
            d.update(i.to_le_bytes());
            d.update(&h);
            h = d.finalize().to_vec();
        }
        assert_eq!(HashAlg::Sha512.spin(&salt, &pw, 3, &ctx).unwrap(), h);
    }

    #[test]
    fn short_headers_are_errors_not_panics() {
        let limits = Limits::default();
        let mut ctx = Ctx::new(&limits, Some("x"), None);
        for info in [vec![], vec![4, 0, 4, 0], vec![3, 0, 2, 0, 0, 0, 0, 0], vec![9, 0, 9, 0, 1, 2]] {
            let e = Encrypted { info, package: vec![0; 8] };
            assert!(e.decrypt(&mut ctx).is_err());
        }
    }
}
