//! Acoustic echo cancellation and noise suppression for the voice of the call, over the
//! WebRTC audio-processing module 0.3 (Debian's `libwebrtc-audio-processing-dev`) through a
//! small C++ shim (`echo_shim.cc`, a plain C API compiled by `build.rs`).
//!
//! The game's own output — music, effects, the other players' voices — is the far end: hand
//! every 10 ms of it to [`EchoCanceller::render`] as it goes to the speaker, and every 10 ms
//! of microphone input to [`EchoCanceller::capture`], which removes what of the far end came
//! back through the room (and, if enabled, steady background noise) in place. 48 kHz mono,
//! 16-bit samples, like the rest of the crate.

use std::os::raw::c_int;
use std::ptr::NonNull;

use crate::audio::SAMPLE_RATE;
use crate::error::MediaError;

/// Samples in one 10 ms mono frame at 48 kHz: the unit the audio-processing module works
/// in. [`EchoCanceller::render`] and [`EchoCanceller::capture`] take any whole number of
/// these.
pub const ECHO_FRAME_SAMPLES: usize = SAMPLE_RATE as usize / 100;

/// The longest delay hint the library takes (it clamps larger ones).
pub const MAX_DELAY_MS: u16 = 500;

/// How hard steady background noise (fans, hum, hiss) is suppressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoiseSuppression {
    Off,
    Low,
    Moderate,
    High,
    VeryHigh,
}

/// How hard the echo canceller's non-linear stage suppresses what echo the adaptive filter
/// leaves (higher: less residual echo, more clipping of the near end during double talk).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EchoSuppression {
    Low,
    Moderate,
    High,
}

/// Settings of an [`EchoCanceller`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EchoConfig {
    pub noise_suppression: NoiseSuppression,
    pub echo_suppression: EchoSuppression,
    /// The expected time (ms) from a far-end frame being handed to
    /// [`EchoCanceller::render`] to its sound reaching [`EchoCanceller::capture`] (output
    /// buffering + room + input buffering). With `delay_agnostic` it is only a start.
    /// At most [`MAX_DELAY_MS`] (larger values are clamped).
    pub delay_ms: u16,
    /// Let the canceller estimate the delay itself (WebRTC's "delay agnostic" AEC): what
    /// the game wants, since its output and input buffering are not known exactly.
    pub delay_agnostic: bool,
    /// The longer adaptive filter (copes with more reverberation and delay error).
    pub extended_filter: bool,
    /// Remove rumble below ~80 Hz from the microphone.
    pub high_pass_filter: bool,
}

/// What `media/tests/echo.rs` checks: low echo suppression (ducks the near end least during
/// double talk), moderate noise suppression (also removes the canceller's comfort noise),
/// delay-agnostic with the extended filter, a 50 ms start hint, the high-pass filter.
impl Default for EchoConfig {
    fn default() -> Self {
        EchoConfig {
            noise_suppression: NoiseSuppression::Moderate,
            echo_suppression: EchoSuppression::Low,
            delay_ms: 50,
            delay_agnostic: true,
            extended_filter: true,
            high_pass_filter: true,
        }
    }
}

/// The canceller's own estimates, from [`EchoCanceller::stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EchoStats {
    /// Its long-term average echo return loss enhancement (dB).
    pub erle_db: i32,
    /// Median and standard deviation of the echo delay it measured (ms); -1 until it has
    /// one.
    pub delay_median_ms: i32,
    pub delay_std_ms: i32,
}

#[repr(C)]
struct PpEcho {
    _opaque: [u8; 0],
}

/// Codes of the shim itself (the library's are 0 .. -13).
const PP_ECHO_EXCEPTION: c_int = -1000;
const PP_ECHO_BAD_ARGUMENT: c_int = -1001;

// Compiled and linked by build.rs (echo_shim.cc, webrtc-audio-processing through pkg-config).
unsafe extern "C" {
    fn pp_echo_create(
        ns_level: c_int,
        aec_level: c_int,
        delay_agnostic: c_int,
        extended_filter: c_int,
        high_pass: c_int,
        out: *mut *mut PpEcho,
    ) -> c_int;
    fn pp_echo_destroy(e: *mut PpEcho);
    fn pp_echo_render(e: *mut PpEcho, far: *const i16, n: usize) -> c_int;
    fn pp_echo_capture(
        e: *mut PpEcho,
        near: *mut i16,
        n: usize,
        delay_ms: c_int,
        has_echo: *mut c_int,
    ) -> c_int;
    fn pp_echo_stats(
        e: *mut PpEcho,
        erle_db: *mut c_int,
        delay_median_ms: *mut c_int,
        delay_std_ms: *mut c_int,
    ) -> c_int;
}

/// The name of an error code of the audio-processing module (or of the shim).
pub(crate) fn apm_error_name(code: i32) -> &'static str {
    match code {
        -1 => "unspecified error",
        -2 => "creation failed",
        -3 => "unsupported component",
        -4 => "unsupported function",
        -5 => "null pointer",
        -6 => "bad parameter",
        -7 => "bad sample rate",
        -8 => "bad data length",
        -9 => "bad number of channels",
        -10 => "file error",
        -11 => "stream parameter not set",
        -12 => "not enabled",
        -13 => "bad stream parameter",
        PP_ECHO_EXCEPTION => "C++ exception",
        PP_ECHO_BAD_ARGUMENT => "bad argument to the shim",
        _ => "unknown error",
    }
}

fn check(op: &'static str, code: c_int) -> Result<(), MediaError> {
    if code == 0 {
        Ok(())
    } else {
        Err(MediaError::AudioProcessing { op, code })
    }
}

/// Checks that `len` is a whole number of 10 ms frames.
fn check_len(what: &'static str, len: usize) -> Result<(), MediaError> {
    if len.is_multiple_of(ECHO_FRAME_SAMPLES) {
        Ok(())
    } else {
        // The nearest whole number of frames at or below `len`, at least one frame.
        let expected = (len / ECHO_FRAME_SAMPLES).max(1) * ECHO_FRAME_SAMPLES;
        Err(MediaError::BufferLength {
            what,
            expected,
            got: len,
        })
    }
}

/// Echo cancellation (+ noise suppression, high-pass filter) for one 48 kHz mono voice
/// stream. Feed it in real order: each far-end frame with [`render`](Self::render) as it is
/// played, each microphone frame with [`capture`](Self::capture) as it is recorded.
#[derive(Debug)]
pub struct EchoCanceller {
    raw: NonNull<PpEcho>,
    delay_ms: u16,
    has_echo: bool,
}

// SAFETY: the shim's state (an AudioProcessing object and two buffers) is owned by this value
// alone and is only touched through `&mut self` (or in Drop); the library keeps no
// thread-affine state, so the whole may move to another thread.
unsafe impl Send for EchoCanceller {}

impl EchoCanceller {
    /// A canceller with `config` (48 kHz mono, AEC on with metrics and delay logging).
    pub fn new(config: EchoConfig) -> Result<Self, MediaError> {
        let ns_level = match config.noise_suppression {
            NoiseSuppression::Off => -1,
            NoiseSuppression::Low => 0,
            NoiseSuppression::Moderate => 1,
            NoiseSuppression::High => 2,
            NoiseSuppression::VeryHigh => 3,
        };
        let aec_level = match config.echo_suppression {
            EchoSuppression::Low => 0,
            EchoSuppression::Moderate => 1,
            EchoSuppression::High => 2,
        };
        let mut raw = std::ptr::null_mut();
        // SAFETY: `raw` is a valid out-pointer; the shim checks the levels and catches any
        // C++ exception, and sets `raw` only on success.
        let code = unsafe {
            pp_echo_create(
                ns_level,
                aec_level,
                config.delay_agnostic as c_int,
                config.extended_filter as c_int,
                config.high_pass_filter as c_int,
                &mut raw,
            )
        };
        check("create", code)?;
        let raw = NonNull::new(raw).ok_or(MediaError::AudioProcessing {
            op: "create",
            code: -2,
        })?;
        Ok(EchoCanceller {
            raw,
            delay_ms: config.delay_ms.min(MAX_DELAY_MS),
            has_echo: false,
        })
    }

    /// Hands far-end audio (what is being played through the speaker) to the canceller:
    /// any whole number of 10 ms frames ([`ECHO_FRAME_SAMPLES`] each; empty is nothing to
    /// do). Any other length is a [`MediaError::BufferLength`] error and nothing is used.
    pub fn render(&mut self, far: &[i16]) -> Result<(), MediaError> {
        check_len("echo render", far.len())?;
        for frame in far.chunks_exact(ECHO_FRAME_SAMPLES) {
            // SAFETY: `raw` is live; `frame` holds exactly the 480 samples the shim reads.
            let code = unsafe { pp_echo_render(self.raw.as_ptr(), frame.as_ptr(), frame.len()) };
            check("render", code)?;
        }
        Ok(())
    }

    /// Removes echo (and noise, if enabled) from microphone audio in place: any whole
    /// number of 10 ms frames ([`ECHO_FRAME_SAMPLES`] each). Any other length is a
    /// [`MediaError::BufferLength`] error and the buffer is left as it was. A library error
    /// in a later frame leaves the earlier frames processed.
    pub fn capture(&mut self, near: &mut [i16]) -> Result<(), MediaError> {
        check_len("echo capture", near.len())?;
        for frame in near.chunks_exact_mut(ECHO_FRAME_SAMPLES) {
            let mut has_echo: c_int = 0;
            // SAFETY: `raw` is live; `frame` holds exactly the 480 samples the shim reads and
            // writes; `has_echo` is a valid out-pointer.
            let code = unsafe {
                pp_echo_capture(
                    self.raw.as_ptr(),
                    frame.as_mut_ptr(),
                    frame.len(),
                    c_int::from(self.delay_ms),
                    &mut has_echo,
                )
            };
            check("capture", code)?;
            self.has_echo = has_echo != 0;
        }
        Ok(())
    }

    /// Changes the delay hint (see [`EchoConfig::delay_ms`]; clamped to [`MAX_DELAY_MS`]).
    pub fn set_delay_ms(&mut self, delay_ms: u16) {
        self.delay_ms = delay_ms.min(MAX_DELAY_MS);
    }

    /// The current delay hint (ms).
    pub fn delay_ms(&self) -> u16 {
        self.delay_ms
    }

    /// Whether the canceller judged the last captured frame to hold echo.
    pub fn stream_has_echo(&self) -> bool {
        self.has_echo
    }

    /// The canceller's own estimates of how it is doing.
    pub fn stats(&mut self) -> Result<EchoStats, MediaError> {
        let (mut erle_db, mut delay_median_ms, mut delay_std_ms) = (0, 0, 0);
        // SAFETY: `raw` is live; the three out-pointers are valid.
        let code = unsafe {
            pp_echo_stats(
                self.raw.as_ptr(),
                &mut erle_db,
                &mut delay_median_ms,
                &mut delay_std_ms,
            )
        };
        check("stats", code)?;
        Ok(EchoStats {
            erle_db,
            delay_median_ms,
            delay_std_ms,
        })
    }
}

impl Drop for EchoCanceller {
    fn drop(&mut self) {
        // SAFETY: `raw` came from pp_echo_create and is destroyed exactly once, here.
        unsafe { pp_echo_destroy(self.raw.as_ptr()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_whole_frames() {
        assert!(check_len("x", 0).is_ok());
        assert!(check_len("x", 480).is_ok());
        assert!(check_len("x", 4800).is_ok());
        assert_eq!(
            check_len("x", 479),
            Err(MediaError::BufferLength {
                what: "x",
                expected: 480,
                got: 479
            })
        );
        assert_eq!(
            check_len("x", 1000),
            Err(MediaError::BufferLength {
                what: "x",
                expected: 960,
                got: 1000
            })
        );
    }

    #[test]
    fn error_codes_have_names() {
        assert_eq!(apm_error_name(-11), "stream parameter not set");
        assert_eq!(apm_error_name(PP_ECHO_EXCEPTION), "C++ exception");
        assert_eq!(apm_error_name(7), "unknown error");
    }
}
