//! Wire messages and their codec.
//!
//! - [`signal`]: server⇄client messages over the websocket (issue 2).
//! - [`peer`]: peer⇄peer messages over the WebRTC data channels (issue 4).
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

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_FRAME_BYTES>()
}

/// Encodes one message as a frame.
pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, CodecError> {
    let bytes =
        bincode::serde::encode_to_vec(msg, config()).map_err(|e| CodecError::Encode(e.to_string()))?;
    if bytes.len() > MAX_FRAME_BYTES {
        return Err(CodecError::TooLarge { len: bytes.len(), max: MAX_FRAME_BYTES });
    }
    Ok(bytes)
}

/// Decodes one frame into a message. Any byte string gives `Ok` or `Err`, never a panic.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    if bytes.len() > MAX_FRAME_BYTES {
        return Err(CodecError::TooLarge { len: bytes.len(), max: MAX_FRAME_BYTES });
    }
    let (msg, used) = bincode::serde::decode_from_slice(bytes, config())
        .map_err(|e| CodecError::Decode(e.to_string()))?;
    if used != bytes.len() {
        return Err(CodecError::TrailingBytes(bytes.len() - used));
    }
    Ok(msg)
}
