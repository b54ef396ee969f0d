//! The codec foundation of PoseParty's coming video call: each player's camera picture as
//! VP8 video, their voice as Opus — no networking and no Bevy here; the mesh (WebRTC tracks)
//! and the client (capture, a background decode thread, drawing) use this later.
//!
//! Why VP8 through libvpx: VP8 is royalty-free and is the one video codec every WebRTC
//! browser must decode (RFC 7742), so a browser peer could join the call unchanged; libvpx
//! is its reference implementation, packaged by Debian (`libvpx-dev`, 1.12 on Debian 12).
//! Opus likewise: royalty-free, the mandatory WebRTC voice codec (RFC 7874), Debian's
//! `libopus-dev` (1.3.1). Echo cancellation: the WebRTC audio-processing module (the AEC,
//! noise suppression and high-pass filter WebRTC browsers use), Debian's
//! `libwebrtc-audio-processing-dev` (0.3).
//!
//! - [`video`]: [`Vp8Encoder`] (RGB8 in, realtime CBR, [`Vp8Encoder::set_bitrate`] for
//!   adaptation, forced keyframes for a receiver's PLI) and [`Vp8Decoder`] (packets in, RGB8
//!   out; corrupt packets are errors and decoding resumes at the next keyframe).
//! - [`convert`]: RGB8 ↔ I420 (BT.601 limited range, what VP8 and browsers assume) and
//!   [`downscale_rgb`] (area averaging, e.g. 640×480 → 320×240).
//! - [`audio`]: [`OpusEncoder`] / [`OpusDecoder`], 48 kHz mono, 20 ms frames (960 samples),
//!   with packet-loss concealment ([`OpusDecoder::decode_lost`]).
//! - [`jitter`]: [`JitterBuffer`] (RTP order, adaptive 40–200 ms playout delay) and
//!   [`VoiceReceiver`] (jitter buffer + decoder: FEC or concealment for a missing packet).
//! - [`echo`]: [`EchoCanceller`], acoustic echo cancellation + noise suppression of the
//!   microphone with the game's own output as the far end ([`EchoCanceller::render`] the
//!   played audio, [`EchoCanceller::capture`] the microphone; 48 kHz mono, 10 ms frames).
//! - [`quality`]: [`psnr`], [`tone`], [`speech_like_noise`], [`dominant_frequency`].
//!
//! Bindings: libvpx through `env-libvpx-sys` (pre-generated bindings matched to the libvpx
//! version pkg-config reports; linked through pkg-config); libopus through a handful of
//! hand-written declarations (opaque pointers and integers), linked by this crate's
//! `build.rs` through pkg-config; the audio-processing module (C++) through a small shim with
//! a plain C API (`src/echo_shim.cc`, compiled by `build.rs` with the `cc` crate against the
//! headers pkg-config reports; no C++ exception crosses into Rust). All three libraries come
//! from `./scripts/setup.sh`.
//!
//! Tests: `cargo test -p media` (prints PSNRs, packet sizes and bitrates with
//! `-- --nocapture`). Speed, in release:
//!
//! ```sh
//! cargo test -p media --release --test bench -- --ignored --nocapture
//! ```

pub mod audio;
pub mod convert;
pub mod echo;
pub mod error;
pub mod jitter;
pub mod quality;
pub mod video;

pub use audio::{FRAME_SAMPLES, OpusDecoder, OpusEncoder, SAMPLE_RATE};
pub use convert::{downscale_rgb, i420_len, i420_to_rgb, rgb_to_i420};
pub use echo::{
    ECHO_FRAME_SAMPLES, EchoCanceller, EchoConfig, EchoStats, EchoSuppression, NoiseSuppression,
};
pub use error::MediaError;
pub use jitter::{JitterBuffer, JitterStats, Playout, VoiceReceiver, VoiceStats};
pub use quality::{PSNR_IDENTICAL, dominant_frequency, psnr, speech_like_noise, tone};
pub use video::{EncodedFrame, EncoderConfig, RgbImage, Vp8Decoder, Vp8Encoder, is_vp8_keyframe};
