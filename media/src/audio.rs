//! Opus voice over the system libopus (a few functions declared by hand: the API is opaque
//! pointers and integers, stable since libopus 1.0): 48 kHz mono, 20 ms frames.

use std::ffi::CStr;
use std::os::raw::{c_char, c_int};
use std::ptr::NonNull;

use crate::error::MediaError;

/// Sample rate of everything here (Opus's native rate, and WebRTC's).
pub const SAMPLE_RATE: u32 = 48_000;
/// Samples in one 20 ms mono frame at 48 kHz.
pub const FRAME_SAMPLES: usize = 960;
/// The largest packet the encoder writes (a 20 ms voice frame is ~50–200 bytes).
const MAX_PACKET: usize = 1500;
/// The longest frame Opus can carry (120 ms), for decoding packets from other encoders.
const MAX_FRAME_SAMPLES: usize = 5760;

#[repr(C)]
struct OpusEncoderRaw {
    _opaque: [u8; 0],
}
#[repr(C)]
struct OpusDecoderRaw {
    _opaque: [u8; 0],
}

const OPUS_OK: c_int = 0;
const OPUS_APPLICATION_VOIP: c_int = 2048;
const OPUS_SET_BITRATE_REQUEST: c_int = 4002;
const OPUS_SET_COMPLEXITY_REQUEST: c_int = 4010;
const OPUS_SET_INBAND_FEC_REQUEST: c_int = 4012;
const OPUS_SET_PACKET_LOSS_PERC_REQUEST: c_int = 4014;
const OPUS_SET_SIGNAL_REQUEST: c_int = 4024;
const OPUS_SIGNAL_VOICE: c_int = 3001;

// Linked by build.rs (pkg-config opus).
unsafe extern "C" {
    fn opus_encoder_create(
        fs: i32,
        channels: c_int,
        application: c_int,
        error: *mut c_int,
    ) -> *mut OpusEncoderRaw;
    fn opus_encode(
        st: *mut OpusEncoderRaw,
        pcm: *const i16,
        frame_size: c_int,
        data: *mut u8,
        max_data_bytes: i32,
    ) -> i32;
    fn opus_encode_float(
        st: *mut OpusEncoderRaw,
        pcm: *const f32,
        frame_size: c_int,
        data: *mut u8,
        max_data_bytes: i32,
    ) -> i32;
    fn opus_encoder_ctl(st: *mut OpusEncoderRaw, request: c_int, ...) -> c_int;
    fn opus_encoder_destroy(st: *mut OpusEncoderRaw);
    fn opus_decoder_create(fs: i32, channels: c_int, error: *mut c_int) -> *mut OpusDecoderRaw;
    fn opus_decode(
        st: *mut OpusDecoderRaw,
        data: *const u8,
        len: i32,
        pcm: *mut i16,
        frame_size: c_int,
        decode_fec: c_int,
    ) -> c_int;
    fn opus_decoder_destroy(st: *mut OpusDecoderRaw);
    fn opus_strerror(error: c_int) -> *const c_char;
}

fn opus_error(op: &'static str, code: c_int) -> MediaError {
    // SAFETY: opus_strerror returns a pointer to a static NUL-terminated string for any
    // code ("unknown error" for codes it does not know); checked for NULL anyway.
    let message = unsafe {
        let p = opus_strerror(code);
        if p.is_null() {
            "unknown error".to_owned()
        } else {
            CStr::from_ptr(p).to_string_lossy().into_owned()
        }
    };
    MediaError::Opus { op, code, message }
}

/// An Opus voice encoder: 48 kHz mono, 20 ms frames, VoIP mode, in-band FEC on.
pub struct OpusEncoder {
    st: NonNull<OpusEncoderRaw>,
    out: Vec<u8>,
}

// SAFETY: a libopus encoder state is plain memory with no thread affinity; `&mut self`
// on every call keeps it to one thread at a time.
unsafe impl Send for OpusEncoder {}

impl OpusEncoder {
    /// A voice encoder at `bitrate_bps` (6000..=510000; 24–32 kbit/s is good speech).
    pub fn new(bitrate_bps: i32) -> Result<Self, MediaError> {
        if !(6000..=510_000).contains(&bitrate_bps) {
            return Err(MediaError::InvalidConfig(format!(
                "Opus bitrate {bitrate_bps} bit/s (6000..=510000)"
            )));
        }
        let mut err: c_int = 0;
        // SAFETY: valid rate/channels/application constants; `err` is a writable int.
        let st =
            unsafe { opus_encoder_create(SAMPLE_RATE as i32, 1, OPUS_APPLICATION_VOIP, &mut err) };
        let st = match NonNull::new(st) {
            Some(st) if err == OPUS_OK => st,
            Some(st) => {
                // SAFETY: created just above and not used again.
                unsafe { opus_encoder_destroy(st.as_ptr()) };
                return Err(opus_error("opus_encoder_create", err));
            }
            None => return Err(opus_error("opus_encoder_create", err)),
        };
        let mut enc = OpusEncoder {
            st,
            out: vec![0; MAX_PACKET],
        };
        enc.ctl("OPUS_SET_BITRATE", OPUS_SET_BITRATE_REQUEST, bitrate_bps)?;
        enc.ctl(
            "OPUS_SET_SIGNAL",
            OPUS_SET_SIGNAL_REQUEST,
            OPUS_SIGNAL_VOICE,
        )?;
        enc.ctl("OPUS_SET_COMPLEXITY", OPUS_SET_COMPLEXITY_REQUEST, 8)?;
        // FEC lets a receiver rebuild a lost frame from the next packet (later, in the mesh).
        enc.ctl("OPUS_SET_INBAND_FEC", OPUS_SET_INBAND_FEC_REQUEST, 1)?;
        enc.ctl(
            "OPUS_SET_PACKET_LOSS_PERC",
            OPUS_SET_PACKET_LOSS_PERC_REQUEST,
            5,
        )?;
        Ok(enc)
    }

    fn ctl(&mut self, name: &'static str, request: c_int, value: c_int) -> Result<(), MediaError> {
        // SAFETY: live encoder; each SET request used here takes exactly one `opus_int32`
        // (= c_int on every platform libopus supports) through the variadic call.
        let r = unsafe { opus_encoder_ctl(self.st.as_ptr(), request, value) };
        if r == OPUS_OK {
            Ok(())
        } else {
            Err(opus_error(name, r))
        }
    }

    /// Changes the bitrate (bit/s) from the next frame on.
    pub fn set_bitrate(&mut self, bitrate_bps: i32) -> Result<(), MediaError> {
        if !(6000..=510_000).contains(&bitrate_bps) {
            return Err(MediaError::InvalidConfig(format!(
                "Opus bitrate {bitrate_bps} bit/s (6000..=510000)"
            )));
        }
        self.ctl("OPUS_SET_BITRATE", OPUS_SET_BITRATE_REQUEST, bitrate_bps)
    }

    fn check_len(len: usize) -> Result<(), MediaError> {
        if len != FRAME_SAMPLES {
            return Err(MediaError::BufferLength {
                what: "Opus frame (20 ms at 48 kHz mono)",
                expected: FRAME_SAMPLES,
                got: len,
            });
        }
        Ok(())
    }

    fn finish(&self, n: i32) -> Result<Vec<u8>, MediaError> {
        if n < 0 {
            return Err(opus_error("opus_encode", n));
        }
        Ok(self.out[..n as usize].to_vec())
    }

    /// Encodes one 20 ms frame of 960 samples into one packet.
    pub fn encode(&mut self, pcm: &[i16]) -> Result<Vec<u8>, MediaError> {
        Self::check_len(pcm.len())?;
        // SAFETY: live encoder; `pcm` holds exactly FRAME_SAMPLES readable samples (mono);
        // `out` has MAX_PACKET writable bytes, the limit passed.
        let n = unsafe {
            opus_encode(
                self.st.as_ptr(),
                pcm.as_ptr(),
                FRAME_SAMPLES as c_int,
                self.out.as_mut_ptr(),
                MAX_PACKET as i32,
            )
        };
        self.finish(n)
    }

    /// Encodes one 20 ms frame of 960 float samples (full scale ±1.0).
    pub fn encode_f32(&mut self, pcm: &[f32]) -> Result<Vec<u8>, MediaError> {
        Self::check_len(pcm.len())?;
        // SAFETY: as in `encode`, with float samples.
        let n = unsafe {
            opus_encode_float(
                self.st.as_ptr(),
                pcm.as_ptr(),
                FRAME_SAMPLES as c_int,
                self.out.as_mut_ptr(),
                MAX_PACKET as i32,
            )
        };
        self.finish(n)
    }
}

impl Drop for OpusEncoder {
    fn drop(&mut self) {
        // SAFETY: created by opus_encoder_create, destroyed exactly once, here.
        unsafe { opus_encoder_destroy(self.st.as_ptr()) };
    }
}

/// An Opus decoder: 48 kHz mono.
pub struct OpusDecoder {
    st: NonNull<OpusDecoderRaw>,
    pcm: Vec<i16>,
}

// SAFETY: as for OpusEncoder.
unsafe impl Send for OpusDecoder {}

impl OpusDecoder {
    pub fn new() -> Result<Self, MediaError> {
        let mut err: c_int = 0;
        // SAFETY: valid rate and channel count; `err` is a writable int.
        let st = unsafe { opus_decoder_create(SAMPLE_RATE as i32, 1, &mut err) };
        match NonNull::new(st) {
            Some(st) if err == OPUS_OK => Ok(OpusDecoder {
                st,
                pcm: vec![0; MAX_FRAME_SAMPLES],
            }),
            Some(st) => {
                // SAFETY: created just above and not used again.
                unsafe { opus_decoder_destroy(st.as_ptr()) };
                Err(opus_error("opus_decoder_create", err))
            }
            None => Err(opus_error("opus_decoder_create", err)),
        }
    }

    /// Decodes one packet into its samples (960 for this crate's encoder). A corrupt packet
    /// is an error ("corrupted stream", "invalid argument").
    pub fn decode(&mut self, packet: &[u8]) -> Result<Vec<i16>, MediaError> {
        self.run("opus_decode", Some(packet), MAX_FRAME_SAMPLES, false)
    }

    /// Packet-loss concealment: a 20 ms frame (960 samples) standing in for a lost packet.
    pub fn decode_lost(&mut self) -> Result<Vec<i16>, MediaError> {
        self.run("opus_decode (loss concealment)", None, FRAME_SAMPLES, false)
    }

    /// Forward error correction: the 20 ms frame *before* `next_packet`, rebuilt from the
    /// redundancy the encoder put in `next_packet` (in-band FEC; concealment when it holds
    /// none). For a lost packet whose successor has arrived.
    pub fn decode_fec(&mut self, next_packet: &[u8]) -> Result<Vec<i16>, MediaError> {
        self.run("opus_decode (FEC)", Some(next_packet), FRAME_SAMPLES, true)
    }

    /// One `opus_decode` call: `packet` (`None`: conceal a loss) into at most `frame_size`
    /// samples, from the packet's FEC data with `fec`.
    fn run(&mut self, op: &'static str, packet: Option<&[u8]>, frame_size: usize, fec: bool) -> Result<Vec<i16>, MediaError> {
        let (data, len) = match packet {
            Some([]) => return Err(MediaError::EmptyPacket),
            Some(p) => (p.as_ptr(), i32::try_from(p.len()).map_err(|_| opus_error(op, -1))?),
            None => (std::ptr::null(), 0),
        };
        // SAFETY: live decoder; `data` is `len` readable bytes (or NULL with 0 for loss
        // concealment); `pcm` holds MAX_FRAME_SAMPLES samples and `frame_size` is at most
        // that, so the decoder writes within it.
        let n = unsafe {
            opus_decode(self.st.as_ptr(), data, len, self.pcm.as_mut_ptr(), frame_size.min(MAX_FRAME_SAMPLES) as c_int, c_int::from(fec))
        };
        if n < 0 {
            return Err(opus_error(op, n));
        }
        Ok(self.pcm[..n as usize].to_vec())
    }
}

impl Drop for OpusDecoder {
    fn drop(&mut self) {
        // SAFETY: created by opus_decoder_create, destroyed exactly once, here.
        unsafe { opus_decoder_destroy(self.st.as_ptr()) };
    }
}
