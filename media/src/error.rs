//! The one error type of the crate.

use thiserror::Error;

/// What went wrong in a codec call or with its input.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum MediaError {
    /// A libvpx call failed. `op` is the call, `code` libvpx's `vpx_codec_err_t` value,
    /// `message` its text and libvpx's detail when it gave one.
    #[error("libvpx {op} failed ({code}): {message}")]
    Vpx {
        op: &'static str,
        code: i32,
        message: String,
    },
    /// A libopus call failed. `code` is libopus's (negative) error code.
    #[error("libopus {op} failed ({code}): {message}")]
    Opus {
        op: &'static str,
        code: i32,
        message: String,
    },
    /// A call into the WebRTC audio-processing module (echo cancellation, noise
    /// suppression) failed. `op` is the call, `code` the library's `AudioProcessing::Error`
    /// value (0 .. -13), or -1000 for a C++ exception caught in the shim, -1001 for an
    /// argument the shim refused.
    #[error("audio processing {op} failed ({code}: {})", crate::echo::apm_error_name(*.code))]
    AudioProcessing { op: &'static str, code: i32 },
    /// Width or height zero, odd (I420 needs even sizes here) or too large.
    #[error("invalid picture size {width}x{height}: {reason}")]
    InvalidSize {
        width: u32,
        height: u32,
        reason: &'static str,
    },
    /// A buffer had the wrong length for the size it was given with.
    #[error("{what}: expected {expected} values, got {got}")]
    BufferLength {
        what: &'static str,
        expected: usize,
        got: usize,
    },
    /// A setting outside what the codec accepts.
    #[error("invalid setting: {0}")]
    InvalidConfig(String),
    /// The decoder was handed an empty packet.
    #[error("empty packet")]
    EmptyPacket,
    /// The decoder produced a picture it cannot convert (not 8-bit I420).
    #[error("decoder produced an unsupported picture: {0}")]
    UnsupportedPicture(String),
}
