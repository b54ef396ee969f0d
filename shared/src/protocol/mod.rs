//! Wire messages and their codec.
//!
//! - [`signal`]: server⇄client messages over the websocket.
//! - [`peer`]: peer⇄peer messages over the WebRTC data channels.
//!
//! Every frame is one bincode 2 value (standard config, serde) of at most
//! [`MAX_FRAME_BYTES`]. Decoding never trusts the input: the byte limit is enforced by the
//! decoder itself, trailing bytes are refused, and every failure is a [`CodecError`].

pub mod peer;
pub mod signal;

use serde::{Serialize, de::DeserializeOwned};

/// Largest frame either side accepts (64 KiB).
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

/// Why a frame could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("frame of {len} bytes is larger than the {max}-byte limit")]
    TooLarge { len: usize, max: usize },
    #[error("frame could not be decoded: {0}")]
    Decode(String),
    #[error("frame has {0} trailing bytes after the message")]
    TrailingBytes(usize),
    #[error("message could not be encoded: {0}")]
    Encode(String),
}

/// The bincode 2 codec with a byte limit: [`encode`] / [`decode`] use it with
/// [`MAX_FRAME_BYTES`] for one wire frame; a shared deck uses it with its own, larger limit
/// (`peer::MAX_DECK_BYTES`). The limit is enforced by the decoder itself (no allocation past
/// it), and trailing bytes are refused.
pub struct Codec<const LIMIT: usize>;

impl<const LIMIT: usize> Codec<LIMIT> {
    fn config() -> impl bincode::config::Config {
        bincode::config::standard().with_limit::<LIMIT>()
    }

    /// Encodes one value; more than `LIMIT` bytes is an error.
    pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, CodecError> {
        let bytes = bincode::serde::encode_to_vec(value, Self::config())
            .map_err(|e| CodecError::Encode(e.to_string()))?;
        if bytes.len() > LIMIT {
            return Err(CodecError::TooLarge { len: bytes.len(), max: LIMIT });
        }
        Ok(bytes)
    }

    /// Decodes one value. Any byte string gives `Ok` or `Err`, never a panic.
    pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
        if bytes.len() > LIMIT {
            return Err(CodecError::TooLarge { len: bytes.len(), max: LIMIT });
        }
        let (value, used) = bincode::serde::decode_from_slice(bytes, Self::config())
            .map_err(|e| CodecError::Decode(e.to_string()))?;
        if used != bytes.len() {
            return Err(CodecError::TrailingBytes(bytes.len() - used));
        }
        Ok(value)
    }
}

/// Encodes one message as a frame.
pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, CodecError> {
    Codec::<MAX_FRAME_BYTES>::encode(msg)
}

/// Decodes one frame into a message. Any byte string gives `Ok` or `Err`, never a panic.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    Codec::<MAX_FRAME_BYTES>::decode(bytes)
}

#[cfg(test)]
mod tests {
    use super::signal::{ClientMsg, ServerMsg};
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

        /// Whatever arrives on the socket, decoding returns instead of panicking.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode::<ClientMsg>(&bytes);
            let _ = decode::<ServerMsg>(&bytes);
        }

        /// Valid frames with a byte flipped or cut short still decode to `Ok` or `Err` only.
        #[test]
        fn mutated_valid_frames_never_panic(name in ".{0,30}", cut in 0usize..64, flip in 0usize..64, bit in 0u8..8) {
            let msg = ClientMsg::Hello { protocol_version: signal::PROTOCOL_VERSION, name, reconnect_token: Some("t".into()) };
            let mut bytes = encode(&msg).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(decode::<ClientMsg>(&bytes).ok(), Some(msg));
            if let Some(b) = bytes.get_mut(flip) {
                *b ^= 1 << bit;
            }
            let _ = decode::<ClientMsg>(&bytes);
            bytes.truncate(cut);
            let _ = decode::<ClientMsg>(&bytes);
        }
    }

    #[test]
    fn oversized_and_trailing_bytes_are_refused() {
        let big = vec![0u8; MAX_FRAME_BYTES + 1];
        assert!(matches!(decode::<ClientMsg>(&big), Err(CodecError::TooLarge { .. })));
        let mut bytes = encode(&ClientMsg::QuickMatch).unwrap_or_default();
        bytes.push(0);
        assert!(matches!(decode::<ClientMsg>(&bytes), Err(CodecError::TrailingBytes(1))));
    }

    #[test]
    fn huge_length_prefix_does_not_allocate_or_panic() {
        // Hello (variant 0), version 1, then a name claiming ~2^63 bytes (varint 0xfd + u64).
        let bytes = [0, 1, 0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, b'a'];
        assert!(matches!(decode::<ClientMsg>(&bytes), Err(CodecError::Decode(_))));
    }
}
