//! VP8 over libvpx (the system library, through `env-libvpx-sys`'s bindings): a realtime
//! encoder from RGB8 pictures and a decoder to RGB8 pictures.
//!
//! Every libvpx call sits in its own small `unsafe` block with the reasoning that makes it
//! sound; every failure comes back as [`MediaError::Vpx`] with libvpx's message. A decoder
//! that failed on a packet starts afresh on the next keyframe, so a lost or corrupt packet
//! costs pictures only until the sender's next keyframe (what a PLI asks for).

use std::ffi::CStr;
use std::mem::MaybeUninit;
use std::os::raw::{c_int, c_long, c_uint, c_ulong};
use std::ptr;

use vpx_sys as vpx;

use crate::convert::{Planes, check_i420_size, i420_planes_to_rgb, rgb_to_i420};
use crate::error::MediaError;

/// How to encode: picture size, frame rate, target bitrate, and the longest run of frames
/// between automatic keyframes (`0`: keyframes only when asked for).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncoderConfig {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub bitrate_kbps: u32,
    pub keyframe_interval: u32,
}

/// One compressed VP8 frame, as it goes into an RTP payload (the VP8 payload descriptor is
/// the packetizer's business, not this crate's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedFrame {
    pub data: Vec<u8>,
    pub keyframe: bool,
    /// Presentation time in frames (the encoder's time base is `1/fps`).
    pub pts: i64,
}

/// A packed RGB8 picture (`rgb.len() == width * height * 3`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbImage {
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
}

/// The highest bitrate accepted, in kbit/s (far above anything a call sends).
pub const MAX_BITRATE_KBPS: u32 = 100_000;

/// Turns a libvpx status into a `Result`, with libvpx's message and, when a context is
/// given, its detail text.
fn check(
    op: &'static str,
    code: vpx::vpx_codec_err_t,
    ctx: Option<&mut vpx::vpx_codec_ctx_t>,
) -> Result<(), MediaError> {
    if code == vpx::vpx_codec_err_t::VPX_CODEC_OK {
        return Ok(());
    }
    // SAFETY: vpx_codec_err_to_string returns a pointer to a static NUL-terminated string
    // for every error value (an "Unrecognized error code" string for unknown ones).
    let text = unsafe { cstr_or(vpx::vpx_codec_err_to_string(code), "unknown error") };
    let detail = match ctx {
        // SAFETY: the context is initialised (callers pass only contexts whose init
        // succeeded); the detail is NULL or a NUL-terminated string owned by the context,
        // valid until the next call on it — copied out right here.
        Some(ctx) => unsafe { cstr_or(vpx::vpx_codec_error_detail(ctx), "") },
        None => String::new(),
    };
    let message = if detail.is_empty() {
        text
    } else {
        format!("{text}: {detail}")
    };
    Err(MediaError::Vpx {
        op,
        code: code as i32,
        message,
    })
}

/// Copies a C string, or `fallback` when the pointer is NULL.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string valid for the duration of the call.
unsafe fn cstr_or(p: *const std::os::raw::c_char, fallback: &str) -> String {
    if p.is_null() {
        fallback.to_owned()
    } else {
        // SAFETY: non-NULL and NUL-terminated per this function's contract.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }
}

fn validate(cfg: &EncoderConfig) -> Result<(), MediaError> {
    check_i420_size(cfg.width, cfg.height)?;
    if cfg.fps == 0 || cfg.fps > 240 {
        return Err(MediaError::InvalidConfig(format!(
            "fps {} (1..=240)",
            cfg.fps
        )));
    }
    validate_bitrate(cfg.bitrate_kbps)
}

fn validate_bitrate(kbps: u32) -> Result<(), MediaError> {
    if kbps == 0 || kbps > MAX_BITRATE_KBPS {
        return Err(MediaError::InvalidConfig(format!(
            "bitrate {kbps} kbit/s (1..={MAX_BITRATE_KBPS})"
        )));
    }
    Ok(())
}

/// A realtime VP8 encoder (one pass, CBR, no lookahead, speed -6 — the settings WebRTC's
/// own libvpx wrapper uses for a camera).
pub struct Vp8Encoder {
    // Boxed: libvpx keeps the context's address in nothing we know of, but a context that
    // never moves after init costs nothing and rules the question out.
    ctx: Box<vpx::vpx_codec_ctx_t>,
    cfg: vpx::vpx_codec_enc_cfg_t,
    config: EncoderConfig,
    pts: i64,
    i420: Vec<u8>,
}

// SAFETY: a libvpx codec context has no thread affinity (no thread-local state); it only
// must not be used from two threads at once, which `&mut self` on every call guarantees.
unsafe impl Send for Vp8Encoder {}

impl Vp8Encoder {
    pub fn new(config: EncoderConfig) -> Result<Self, MediaError> {
        validate(&config)?;
        let mut cfg = MaybeUninit::<vpx::vpx_codec_enc_cfg_t>::uninit();
        // SAFETY: vpx_codec_vp8_cx returns a pointer to libvpx's static VP8 encoder
        // interface; vpx_codec_enc_config_default writes a complete configuration into `cfg`
        // (a valid, writable, properly sized place) when it returns VPX_CODEC_OK.
        let code = unsafe {
            vpx::vpx_codec_enc_config_default(vpx::vpx_codec_vp8_cx(), cfg.as_mut_ptr(), 0)
        };
        check("vpx_codec_enc_config_default", code, None)?;
        // SAFETY: filled by the successful call above.
        let mut cfg = unsafe { cfg.assume_init() };

        cfg.g_w = config.width;
        cfg.g_h = config.height;
        cfg.g_timebase = vpx::vpx_rational {
            num: 1,
            den: config.fps as c_int,
        };
        cfg.g_threads = 1;
        cfg.g_lag_in_frames = 0;
        cfg.g_pass = vpx::vpx_enc_pass::VPX_RC_ONE_PASS;
        // Entropy contexts are reset each frame: a lost frame damages less of what follows.
        cfg.g_error_resilient = vpx::VPX_ERROR_RESILIENT_DEFAULT;
        cfg.rc_end_usage = vpx::vpx_rc_mode::VPX_CBR;
        cfg.rc_target_bitrate = config.bitrate_kbps;
        // Every input picture comes out as a frame (no dropping), so callers see one packet
        // per encode; the sender adapts through set_bitrate instead.
        cfg.rc_dropframe_thresh = 0;
        cfg.rc_resize_allowed = 0;
        cfg.rc_min_quantizer = 2;
        cfg.rc_max_quantizer = 56;
        cfg.rc_undershoot_pct = 100;
        cfg.rc_overshoot_pct = 15;
        cfg.rc_buf_initial_sz = 500;
        cfg.rc_buf_optimal_sz = 600;
        cfg.rc_buf_sz = 1000;
        if config.keyframe_interval == 0 {
            cfg.kf_mode = vpx::vpx_kf_mode::VPX_KF_FIXED; // == VPX_KF_DISABLED
        } else {
            cfg.kf_mode = vpx::vpx_kf_mode::VPX_KF_AUTO;
            cfg.kf_min_dist = 0;
            cfg.kf_max_dist = config.keyframe_interval;
        }

        // Zeroed is a valid "not initialised" context (all pointers NULL, err == OK).
        // SAFETY: every field of vpx_codec_ctx_t is a pointer, an integer, or an enum whose
        // zero value (VPX_CODEC_OK) exists.
        let mut ctx: Box<vpx::vpx_codec_ctx_t> =
            Box::new(unsafe { MaybeUninit::zeroed().assume_init() });
        // SAFETY: ctx points to writable context storage, cfg is a complete configuration
        // that outlives the call (libvpx copies it), and the ABI version is the one of the
        // headers the bindings were made from (checked equal to Debian 12's 1.12 headers).
        let code = unsafe {
            vpx::vpx_codec_enc_init_ver(
                &mut *ctx,
                vpx::vpx_codec_vp8_cx(),
                &cfg,
                0,
                vpx::VPX_ENCODER_ABI_VERSION as c_int,
            )
        };
        // On failure libvpx has already released what it allocated: nothing to destroy.
        check("vpx_codec_enc_init", code, None)?;
        let mut enc = Vp8Encoder {
            ctx,
            cfg,
            config,
            pts: 0,
            i420: Vec::new(),
        };

        // Realtime speed (-6: WebRTC's desktop choice), no denoiser (a webcam picture is
        // small and the denoiser costs time), skip static blocks, and cap keyframes at
        // ~0.5 s of buffer worth of bits (WebRTC's formula) so they do not burst.
        enc.control(
            "VP8E_SET_CPUUSED",
            vpx::vp8e_enc_control_id::VP8E_SET_CPUUSED as c_int,
            -6,
        )?;
        enc.control(
            "VP8E_SET_NOISE_SENSITIVITY",
            vpx::vp8e_enc_control_id::VP8E_SET_NOISE_SENSITIVITY as c_int,
            0,
        )?;
        enc.control(
            "VP8E_SET_STATIC_THRESHOLD",
            vpx::vp8e_enc_control_id::VP8E_SET_STATIC_THRESHOLD as c_int,
            1,
        )?;
        let max_intra_pct =
            (cfg.rc_buf_optimal_sz as f64 * 0.5 * config.fps as f64 / 10.0).max(300.0) as c_int;
        enc.control(
            "VP8E_SET_MAX_INTRA_BITRATE_PCT",
            vpx::vp8e_enc_control_id::VP8E_SET_MAX_INTRA_BITRATE_PCT as c_int,
            max_intra_pct,
        )?;
        Ok(enc)
    }

    /// One `int`-valued encoder control.
    fn control(&mut self, name: &'static str, id: c_int, value: c_int) -> Result<(), MediaError> {
        // SAFETY: the context is initialised; each control used here takes exactly one
        // `int` argument, which is what is passed through the variadic call.
        let code = unsafe { vpx::vpx_codec_control_(&mut *self.ctx, id, value) };
        check(name, code, Some(&mut self.ctx))
    }

    pub fn config(&self) -> EncoderConfig {
        self.config
    }

    /// Encodes one RGB8 picture (`width*height*3` bytes, the configured size). Returns the
    /// frames libvpx produced for it — one in practice (no lookahead, no frame dropping).
    pub fn encode(
        &mut self,
        rgb: &[u8],
        force_keyframe: bool,
    ) -> Result<Vec<EncodedFrame>, MediaError> {
        let (w, h) = (self.config.width, self.config.height);
        rgb_to_i420(rgb, w, h, &mut self.i420)?;
        let mut img = MaybeUninit::<vpx::vpx_image_t>::uninit();
        // SAFETY: vpx_img_wrap clears and fills the image descriptor `img` (writable) and
        // points its planes into `self.i420`, which holds exactly one packed I420 picture of
        // w×h (even sizes, alignment 1: Y stride w, U/V stride w/2 — our layout). The buffer
        // is not touched again until vpx_codec_encode below has returned (libvpx copies the
        // picture into its own buffers during that call).
        let wrapped = unsafe {
            vpx::vpx_img_wrap(
                img.as_mut_ptr(),
                vpx::vpx_img_fmt::VPX_IMG_FMT_I420,
                w,
                h,
                1,
                self.i420.as_mut_ptr(),
            )
        };
        if wrapped.is_null() {
            return Err(MediaError::Vpx {
                op: "vpx_img_wrap",
                code: -1,
                message: "could not describe the picture".into(),
            });
        }
        let flags: vpx::vpx_enc_frame_flags_t = if force_keyframe {
            vpx::VPX_EFLAG_FORCE_KF as vpx::vpx_enc_frame_flags_t
        } else {
            0
        };
        // SAFETY: initialised context; `wrapped` describes a valid picture of the configured
        // size (see above); duration 1 in the 1/fps time base; realtime deadline.
        let code = unsafe {
            vpx::vpx_codec_encode(
                &mut *self.ctx,
                wrapped,
                self.pts,
                1,
                flags,
                vpx::VPX_DL_REALTIME as c_ulong,
            )
        };
        check("vpx_codec_encode", code, Some(&mut self.ctx))?;
        self.pts += 1;

        let mut frames = Vec::new();
        let mut iter: vpx::vpx_codec_iter_t = ptr::null();
        loop {
            // SAFETY: initialised context; `iter` starts NULL and is only advanced by libvpx.
            let pkt = unsafe { vpx::vpx_codec_get_cx_data(&mut *self.ctx, &mut iter) };
            if pkt.is_null() {
                break;
            }
            // SAFETY: a non-NULL packet is valid until the next get_cx_data/encode call on
            // this context; nothing else touches the context meanwhile.
            let pkt = unsafe { &*pkt };
            if pkt.kind != vpx::vpx_codec_cx_pkt_kind::VPX_CODEC_CX_FRAME_PKT {
                continue;
            }
            // SAFETY: `kind` is FRAME_PKT, so `frame` is the union member libvpx wrote.
            let f = unsafe { pkt.data.frame };
            let data = if f.buf.is_null() || f.sz == 0 {
                Vec::new()
            } else {
                // SAFETY: libvpx's frame packet: `buf` points to `sz` initialised bytes that
                // stay valid while `pkt` does; copied out immediately.
                unsafe { std::slice::from_raw_parts(f.buf as *const u8, f.sz as usize) }.to_vec()
            };
            frames.push(EncodedFrame {
                data,
                keyframe: f.flags & vpx::VPX_FRAME_IS_KEY != 0,
                pts: f.pts,
            });
        }
        Ok(frames)
    }

    /// Changes the target bitrate from the next frame on (congestion control, a receiver's
    /// REMB/TWCC estimate).
    pub fn set_bitrate(&mut self, kbps: u32) -> Result<(), MediaError> {
        validate_bitrate(kbps)?;
        let mut cfg = self.cfg;
        cfg.rc_target_bitrate = kbps;
        // SAFETY: initialised context; `cfg` is the complete configuration the encoder was
        // made with (only the bitrate changed), valid for the call (libvpx copies it).
        let code = unsafe { vpx::vpx_codec_enc_config_set(&mut *self.ctx, &cfg) };
        check("vpx_codec_enc_config_set", code, Some(&mut self.ctx))?;
        self.cfg = cfg;
        self.config.bitrate_kbps = kbps;
        Ok(())
    }
}

impl Drop for Vp8Encoder {
    fn drop(&mut self) {
        // SAFETY: the context was initialised successfully (a Vp8Encoder exists only then)
        // and is destroyed exactly once, here. Its status has no use at this point.
        unsafe { vpx::vpx_codec_destroy(&mut *self.ctx) };
    }
}

/// Whether a VP8 packet is a keyframe: frame tag bit 0 clear and the keyframe start code
/// `9d 01 2a` (RFC 6386 §9.1). Cheap; a receiver uses it to know when to stop asking for one.
pub fn is_vp8_keyframe(packet: &[u8]) -> bool {
    packet.len() >= 10 && packet[0] & 1 == 0 && packet[3..6] == [0x9d, 0x01, 0x2a]
}

/// A VP8 decoder to RGB8 pictures.
pub struct Vp8Decoder {
    ctx: Box<vpx::vpx_codec_ctx_t>,
    /// The last packet failed: the next keyframe is decoded by a fresh context.
    failed: bool,
}

// SAFETY: as for Vp8Encoder — no thread affinity, and `&mut self` serialises every use.
unsafe impl Send for Vp8Decoder {}

impl Vp8Decoder {
    pub fn new() -> Result<Self, MediaError> {
        Ok(Vp8Decoder {
            ctx: Self::init_ctx()?,
            failed: false,
        })
    }

    fn init_ctx() -> Result<Box<vpx::vpx_codec_ctx_t>, MediaError> {
        // SAFETY: as in Vp8Encoder::new — zero is a valid uninitialised context.
        let mut ctx: Box<vpx::vpx_codec_ctx_t> =
            Box::new(unsafe { MaybeUninit::zeroed().assume_init() });
        let cfg = vpx::vpx_codec_dec_cfg_t {
            threads: 1,
            w: 0,
            h: 0,
        };
        // SAFETY: writable context storage, a valid configuration for the call's duration,
        // the static VP8 decoder interface and the bindings' decoder ABI version.
        let code = unsafe {
            vpx::vpx_codec_dec_init_ver(
                &mut *ctx,
                vpx::vpx_codec_vp8_dx(),
                &cfg,
                0,
                vpx::VPX_DECODER_ABI_VERSION as c_int,
            )
        };
        check("vpx_codec_dec_init", code, None)?;
        Ok(ctx)
    }

    /// Decodes one VP8 packet. `Ok(None)` when libvpx produced no picture for it. A corrupt
    /// or truncated packet is an error; after one, the next keyframe is decoded by a fresh
    /// decoder, so pictures resume with it.
    pub fn decode(&mut self, packet: &[u8]) -> Result<Option<RgbImage>, MediaError> {
        if packet.is_empty() {
            return Err(MediaError::EmptyPacket);
        }
        let len = c_uint::try_from(packet.len())
            .map_err(|_| MediaError::InvalidConfig(format!("packet of {} bytes", packet.len())))?;
        if self.failed && is_vp8_keyframe(packet) {
            let fresh = Self::init_ctx()?;
            // Dropping the old Box would leak its codec: destroy it first.
            // SAFETY: the old context is initialised and destroyed exactly once, here; it is
            // replaced right after.
            unsafe { vpx::vpx_codec_destroy(&mut *self.ctx) };
            self.ctx = fresh;
            self.failed = false;
        }
        // SAFETY: initialised context; `packet` is `len` readable bytes for the duration of
        // the call (libvpx does not keep the pointer); no user data; deadline 0 (best).
        let code = unsafe {
            vpx::vpx_codec_decode(
                &mut *self.ctx,
                packet.as_ptr(),
                len,
                ptr::null_mut(),
                0 as c_long,
            )
        };
        if let Err(e) = check("vpx_codec_decode", code, Some(&mut self.ctx)) {
            self.failed = true;
            return Err(e);
        }

        let mut iter: vpx::vpx_codec_iter_t = ptr::null();
        let mut last: Option<RgbImage> = None;
        loop {
            // SAFETY: initialised context; `iter` starts NULL and is only advanced by libvpx.
            let img = unsafe { vpx::vpx_codec_get_frame(&mut *self.ctx, &mut iter) };
            if img.is_null() {
                break;
            }
            // SAFETY: a non-NULL image stays valid until the next decode call on this
            // context; read (and converted) before that.
            let img = unsafe { &*img };
            last = Some(image_to_rgb(img)?);
        }
        Ok(last)
    }
}

/// Converts a decoder's I420 picture to RGB8, checking its description first.
fn image_to_rgb(img: &vpx::vpx_image_t) -> Result<RgbImage, MediaError> {
    if img.fmt != vpx::vpx_img_fmt::VPX_IMG_FMT_I420 || img.bit_depth != 8 {
        return Err(MediaError::UnsupportedPicture(format!(
            "format {:?}, {} bit",
            img.fmt, img.bit_depth
        )));
    }
    let (w, h) = (img.d_w as usize, img.d_h as usize);
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let ys = usize::try_from(img.stride[0]).unwrap_or(0);
    let us = usize::try_from(img.stride[1]).unwrap_or(0);
    let vs = usize::try_from(img.stride[2]).unwrap_or(0);
    if w == 0
        || h == 0
        || ys < w
        || us < cw
        || us != vs
        || img.planes[..3].iter().any(|p| p.is_null())
    {
        return Err(MediaError::UnsupportedPicture(format!(
            "{w}x{h}, strides {:?}",
            img.stride
        )));
    }
    // SAFETY: libvpx's decoded picture: each plane holds `rows` rows of `stride` bytes of
    // which the first `width` are the picture; the slices end at the last visible byte.
    let (y, u, v) = unsafe {
        (
            std::slice::from_raw_parts(img.planes[0], ys * (h - 1) + w),
            std::slice::from_raw_parts(img.planes[1], us * (ch - 1) + cw),
            std::slice::from_raw_parts(img.planes[2], vs * (ch - 1) + cw),
        )
    };
    let mut rgb = Vec::new();
    i420_planes_to_rgb(
        &Planes {
            y,
            u,
            v,
            y_stride: ys,
            uv_stride: us,
        },
        w,
        h,
        &mut rgb,
    );
    Ok(RgbImage {
        width: w as u32,
        height: h as u32,
        rgb,
    })
}

impl Drop for Vp8Decoder {
    fn drop(&mut self) {
        // SAFETY: initialised (a Vp8Decoder exists only then; a failed re-init above leaves
        // the old, still initialised context in place) and destroyed exactly once, here.
        unsafe { vpx::vpx_codec_destroy(&mut *self.ctx) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bindings are pre-generated, not made from the installed headers: their layouts
    /// must match what C sees. Sizes from a C program built against Debian 12's libvpx-dev
    /// 1.12 on x86_64 (`sizeof` of each type, and two offsets inside the encoder config).
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    #[test]
    fn binding_layouts_match_the_c_headers() {
        use std::mem::{offset_of, size_of};
        assert_eq!(size_of::<vpx::vpx_codec_enc_cfg_t>(), 504);
        assert_eq!(size_of::<vpx::vpx_image_t>(), 136);
        assert_eq!(size_of::<vpx::vpx_codec_cx_pkt_t>(), 136);
        assert_eq!(size_of::<vpx::vpx_codec_ctx_t>(), 56);
        assert_eq!(offset_of!(vpx::vpx_codec_enc_cfg_t, kf_max_dist), 168);
        assert_eq!(offset_of!(vpx::vpx_codec_enc_cfg_t, rc_target_bitrate), 112);
        assert_eq!(vpx::VPX_ENCODER_ABI_VERSION, 25);
        assert_eq!(vpx::VPX_DECODER_ABI_VERSION, 12);
    }

    #[test]
    fn keyframe_detection() {
        assert!(is_vp8_keyframe(&[
            0x50, 0x42, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00
        ]));
        assert!(!is_vp8_keyframe(&[
            0x51, 0x42, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00
        ]));
        assert!(!is_vp8_keyframe(&[0x50, 0x42, 0x00, 0x9d, 0x01]));
    }
}
