//! Pictures and helpers shared by the media tests.
#![allow(dead_code)]

use media::{EncodedFrame, MediaError, Vp8Decoder, Vp8Encoder, downscale_rgb, psnr};

/// The scikit-image astronaut photo (512×512), beside the repository like the vision tests'.
pub const ASTRONAUT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/testdata/images/astronaut.png"
);

/// The astronaut photo as RGB8, 512×512.
pub fn astronaut_512() -> Vec<u8> {
    image::open(ASTRONAUT)
        .expect("reading astronaut.png (../shared/testdata/images)")
        .to_rgb8()
        .into_raw()
}

/// A 4:3 window of the 512×512 photo (512×384 starting at row `top`, 0..=128) scaled
/// to `w`×`h` — a camera-shaped picture of the astronaut.
pub fn astronaut(w: u32, h: u32, top: u32) -> Vec<u8> {
    let full = astronaut_512();
    let top = top.min(128) as usize;
    let window = &full[top * 512 * 3..(top + 384) * 512 * 3];
    downscale_rgb(window, 512, 384, w, h).expect("scaling the astronaut")
}

/// A moving synthetic picture, frame `i`: a textured background (a diagonal pattern of
/// waves, scrolling 2 px per frame) and a checkered 64×64 square crossing it (4 px/frame).
pub fn moving(w: u32, h: u32, i: u32) -> Vec<u8> {
    let (w, h) = (w as i64, h as i64);
    let shift = 2 * i as i64;
    // Even positions: the square's red/blue cells then never share a 2×2 chroma block, so
    // what is measured is the codec, not 4:2:0 subsampling of saturated edges.
    let sq_x = ((4 * i as i64) % (w - 64).max(1)) & !1;
    let sq_y = (h / 2 - 32 + ((i as f64 * 0.3).sin() * 30.0) as i64) & !1;
    let mut out = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            let (xs, ys) = ((x + shift) as f64, y as f64);
            let px = if (sq_x..sq_x + 64).contains(&x) && (sq_y..sq_y + 64).contains(&y) {
                if ((x - sq_x) / 8 + (y - sq_y) / 8) % 2 == 0 {
                    [230, 40, 40]
                } else {
                    [30, 30, 200]
                }
            } else {
                let r = 128.0 + 60.0 * (xs * 0.07).sin() + 30.0 * ((xs + ys) * 0.21).sin();
                let g = 128.0 + 60.0 * (ys * 0.05 + xs * 0.02).cos() + 25.0 * (xs * 0.33).sin();
                let b = 100.0 + 80.0 * ((xs - ys) * 0.04).sin();
                [r as u8, g as u8, b as u8]
            };
            out.extend(px);
        }
    }
    out
}

/// Encodes one picture and expects exactly one frame out (no lookahead, no dropping).
pub fn encode_one(enc: &mut Vp8Encoder, rgb: &[u8], force_keyframe: bool) -> EncodedFrame {
    let mut frames = enc.encode(rgb, force_keyframe).expect("encode");
    assert_eq!(frames.len(), 1, "one frame per picture");
    frames.remove(0)
}

/// Decodes a packet and returns the PSNR against `sent` (an error passes through).
pub fn decode_psnr(dec: &mut Vp8Decoder, packet: &[u8], sent: &[u8]) -> Result<f64, MediaError> {
    match dec.decode(packet)? {
        Some(img) => Ok(psnr(&img.rgb, sent)),
        None => Ok(f64::NAN),
    }
}

/// kbit/s of the given packets at `fps`.
pub fn kbps(frames: &[EncodedFrame], fps: u32) -> f64 {
    let bytes: usize = frames.iter().map(|f| f.data.len()).sum();
    bytes as f64 * 8.0 / (frames.len() as f64 / fps as f64) / 1000.0
}
