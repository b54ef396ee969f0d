//! RGB8 ↔ I420 (BT.601, limited "studio" range, what VP8 and browsers assume) and an area
//! (box) scaler for RGB8 pictures.

use crate::error::MediaError;

/// Checks a picture size for I420: both sides non-zero and even, and the RGB buffer size
/// computable without overflow. Returns the number of pixels.
pub(crate) fn check_i420_size(width: u32, height: u32) -> Result<usize, MediaError> {
    let err = |reason| MediaError::InvalidSize {
        width,
        height,
        reason,
    };
    if width == 0 || height == 0 {
        return Err(err("zero side"));
    }
    if !width.is_multiple_of(2) || !height.is_multiple_of(2) {
        return Err(err("I420 needs even width and height"));
    }
    if width > 16384 || height > 16384 {
        return Err(err("larger than 16384"));
    }
    Ok(width as usize * height as usize)
}

/// The length of an I420 buffer (Y plane, then U, then V, no padding) for an even size.
pub fn i420_len(width: u32, height: u32) -> usize {
    let (w, h) = (width as usize, height as usize);
    w * h + 2 * (w / 2) * (h / 2)
}

#[inline]
fn clamp_u8(v: i32) -> u8 {
    v.clamp(0, 255) as u8
}

/// Converts packed RGB8 (`width*height*3` bytes) into I420 (`i420_len` bytes: Y, U, V planes
/// without padding). BT.601 limited range; each chroma sample is the mean of its 2×2 block.
pub fn rgb_to_i420(
    rgb: &[u8],
    width: u32,
    height: u32,
    out: &mut Vec<u8>,
) -> Result<(), MediaError> {
    let pixels = check_i420_size(width, height)?;
    if rgb.len() != pixels * 3 {
        return Err(MediaError::BufferLength {
            what: "RGB8 picture",
            expected: pixels * 3,
            got: rgb.len(),
        });
    }
    let (w, h) = (width as usize, height as usize);
    let (cw, ch) = (w / 2, h / 2);
    out.clear();
    out.resize(i420_len(width, height), 0);
    let (y_plane, uv) = out.split_at_mut(w * h);
    let (u_plane, v_plane) = uv.split_at_mut(cw * ch);
    for (row, y_row) in rgb.chunks_exact(w * 3).zip(y_plane.chunks_exact_mut(w)) {
        for (px, y) in row.chunks_exact(3).zip(y_row.iter_mut()) {
            let (r, g, b) = (px[0] as i32, px[1] as i32, px[2] as i32);
            *y = clamp_u8(((66 * r + 129 * g + 25 * b + 128) >> 8) + 16);
        }
    }
    for cy in 0..ch {
        let top = &rgb[(2 * cy) * w * 3..(2 * cy + 1) * w * 3];
        let bottom = &rgb[(2 * cy + 1) * w * 3..(2 * cy + 2) * w * 3];
        for cx in 0..cw {
            let (mut r, mut g, mut b) = (0i32, 0i32, 0i32);
            for row in [top, bottom] {
                let p = &row[cx * 6..cx * 6 + 6];
                r += p[0] as i32 + p[3] as i32;
                g += p[1] as i32 + p[4] as i32;
                b += p[2] as i32 + p[5] as i32;
            }
            // Sums of four samples: scale the 8-bit coefficients by 4 more bits (>> 10).
            u_plane[cy * cw + cx] = clamp_u8(((-38 * r - 74 * g + 112 * b + 512) >> 10) + 128);
            v_plane[cy * cw + cx] = clamp_u8(((112 * r - 94 * g - 18 * b + 512) >> 10) + 128);
        }
    }
    Ok(())
}

/// Three planes with their strides, as a decoder hands them out.
pub(crate) struct Planes<'a> {
    pub y: &'a [u8],
    pub u: &'a [u8],
    pub v: &'a [u8],
    pub y_stride: usize,
    pub uv_stride: usize,
}

/// Converts I420 planes (with strides) into packed RGB8. `width`/`height` may be odd here
/// (chroma is `(w+1)/2` wide); the caller has checked the planes are long enough.
pub(crate) fn i420_planes_to_rgb(p: &Planes<'_>, width: usize, height: usize, out: &mut Vec<u8>) {
    out.clear();
    out.resize(width * height * 3, 0);
    for (yy, out_row) in out.chunks_exact_mut(width * 3).enumerate() {
        let y_row = &p.y[yy * p.y_stride..yy * p.y_stride + width];
        let u_row = &p.u[(yy / 2) * p.uv_stride..];
        let v_row = &p.v[(yy / 2) * p.uv_stride..];
        for (xx, (px, &yv)) in out_row.chunks_exact_mut(3).zip(y_row).enumerate() {
            let c = 298 * (yv as i32 - 16);
            let d = u_row[xx / 2] as i32 - 128;
            let e = v_row[xx / 2] as i32 - 128;
            px[0] = clamp_u8((c + 409 * e + 128) >> 8);
            px[1] = clamp_u8((c - 100 * d - 208 * e + 128) >> 8);
            px[2] = clamp_u8((c + 516 * d + 128) >> 8);
        }
    }
}

/// Converts a packed I420 buffer (as [`rgb_to_i420`] makes) back to RGB8.
pub fn i420_to_rgb(i420: &[u8], width: u32, height: u32) -> Result<Vec<u8>, MediaError> {
    check_i420_size(width, height)?;
    let expected = i420_len(width, height);
    if i420.len() != expected {
        return Err(MediaError::BufferLength {
            what: "I420 picture",
            expected,
            got: i420.len(),
        });
    }
    let (w, h) = (width as usize, height as usize);
    let (y, uv) = i420.split_at(w * h);
    let (u, v) = uv.split_at((w / 2) * (h / 2));
    let mut out = Vec::new();
    i420_planes_to_rgb(
        &Planes {
            y,
            u,
            v,
            y_stride: w,
            uv_stride: w / 2,
        },
        w,
        h,
        &mut out,
    );
    Ok(out)
}

/// For each destination index, the source indices it covers and their weights (summing to 1):
/// the destination cell `[i*s/d, (i+1)*s/d)` in source coordinates, each source cell weighted
/// by its overlap. Downscaling averages whole areas; upscaling picks (or blends at cell edges)
/// the covering source pixel.
fn area_weights(src: usize, dst: usize) -> Vec<Vec<(usize, f32)>> {
    let scale = src as f64 / dst as f64;
    (0..dst)
        .map(|i| {
            let x0 = i as f64 * scale;
            let x1 = ((i + 1) as f64 * scale).min(src as f64);
            let mut taps = Vec::new();
            let mut s = x0.floor() as usize;
            while (s as f64) < x1 && s < src {
                let overlap = (x1.min(s as f64 + 1.0) - x0.max(s as f64)).max(0.0);
                if overlap > 1e-9 {
                    taps.push((s, (overlap / (x1 - x0)) as f32));
                }
                s += 1;
            }
            taps
        })
        .collect()
}

/// Scales a packed RGB8 picture to `dst_w`×`dst_h` by area averaging (each destination pixel
/// is the mean of the source area it covers, fractional pixels weighted by coverage) — the
/// right filter for shrinking a camera picture (640×480 → 320×240 or 480×360) without
/// aliasing. Separable: a vertical then a horizontal pass; exact integer factors (640×480 →
/// 320×240) take an all-integer box path.
pub fn downscale_rgb(
    src: &[u8],
    w: u32,
    h: u32,
    dst_w: u32,
    dst_h: u32,
) -> Result<Vec<u8>, MediaError> {
    if w == 0 || h == 0 {
        return Err(MediaError::InvalidSize {
            width: w,
            height: h,
            reason: "zero side",
        });
    }
    if dst_w == 0 || dst_h == 0 {
        return Err(MediaError::InvalidSize {
            width: dst_w,
            height: dst_h,
            reason: "zero side",
        });
    }
    let (w, h, dw, dh) = (w as usize, h as usize, dst_w as usize, dst_h as usize);
    let expected =
        w.checked_mul(h)
            .and_then(|p| p.checked_mul(3))
            .ok_or(MediaError::InvalidSize {
                width: w as u32,
                height: h as u32,
                reason: "too large",
            })?;
    if src.len() != expected {
        return Err(MediaError::BufferLength {
            what: "RGB8 picture",
            expected,
            got: src.len(),
        });
    }
    if w % dw == 0 && h % dh == 0 {
        return Ok(box_shrink(src, w, dw, dh, w / dw, h / dh));
    }
    let xw = area_weights(w, dw);
    let yw = area_weights(h, dh);
    // Vertical pass first, one output row at a time (contiguous, vectorises), then the
    // horizontal pass over that row only.
    let mut out = vec![0u8; dw * dh * 3];
    let mut row = vec![0f32; w * 3];
    for (taps_y, out_row) in yw.iter().zip(out.chunks_exact_mut(dw * 3)) {
        row.iter_mut().for_each(|r| *r = 0.0);
        for &(s, wt) in taps_y {
            for (r, &p) in row.iter_mut().zip(&src[s * w * 3..(s + 1) * w * 3]) {
                *r += p as f32 * wt;
            }
        }
        for (taps_x, o) in xw.iter().zip(out_row.chunks_exact_mut(3)) {
            let mut a = [0f32; 3];
            for &(s, wt) in taps_x {
                let px = &row[s * 3..s * 3 + 3];
                a[0] += px[0] * wt;
                a[1] += px[1] * wt;
                a[2] += px[2] * wt;
            }
            for (o, a) in o.iter_mut().zip(a) {
                // `as u8` saturates (and maps NaN to 0); weights are non-negative, so +0.5 rounds.
                *o = (a + 0.5) as u8;
            }
        }
    }
    Ok(out)
}

/// The exact-factor case of [`downscale_rgb`] (e.g. 640×480 → 320×240): each output pixel is
/// the rounded mean of a `kx`×`ky` block, in integers — the same result as the general path
/// (up to rounding), several times faster.
fn box_shrink(src: &[u8], w: usize, dw: usize, dh: usize, kx: usize, ky: usize) -> Vec<u8> {
    let n = (kx * ky) as u32;
    let mut out = vec![0u8; dw * dh * 3];
    let mut acc = vec![0u32; dw * 3];
    for (oy, out_row) in out.chunks_exact_mut(dw * 3).enumerate() {
        acc.iter_mut().for_each(|a| *a = 0);
        for row in src[oy * ky * w * 3..(oy + 1) * ky * w * 3].chunks_exact(w * 3) {
            for (a, block) in acc.chunks_exact_mut(3).zip(row.chunks_exact(kx * 3)) {
                for px in block.chunks_exact(3) {
                    a[0] += px[0] as u32;
                    a[1] += px[1] as u32;
                    a[2] += px[2] as u32;
                }
            }
        }
        for (o, a) in out_row.iter_mut().zip(&acc) {
            *o = ((a + n / 2) / n) as u8;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grey_round_trips_exactly_enough() {
        let rgb: Vec<u8> = (0..16 * 8).flat_map(|i| [(i * 2) as u8; 3]).collect();
        let mut yuv = Vec::new();
        rgb_to_i420(&rgb, 16, 8, &mut yuv).unwrap();
        let back = i420_to_rgb(&yuv, 16, 8).unwrap();
        for (a, b) in rgb.iter().zip(&back) {
            assert!((*a as i32 - *b as i32).abs() <= 2, "{a} vs {b}");
        }
    }

    #[test]
    fn primaries_map_to_bt601_values() {
        let red = [255u8, 0, 0].repeat(4);
        let mut yuv = Vec::new();
        rgb_to_i420(&red, 2, 2, &mut yuv).unwrap();
        // BT.601 limited range red: Y 82, U 90, V 240.
        assert_eq!(&yuv[..4], &[82; 4]);
        assert!(
            (yuv[4] as i32 - 90).abs() <= 1 && (yuv[5] as i32 - 240).abs() <= 1,
            "{yuv:?}"
        );
    }

    #[test]
    fn odd_and_wrong_sizes_are_errors() {
        let mut yuv = Vec::new();
        assert!(rgb_to_i420(&[0; 9], 3, 1, &mut yuv).is_err());
        assert!(rgb_to_i420(&[0; 11], 2, 2, &mut yuv).is_err());
        assert!(downscale_rgb(&[0; 11], 2, 2, 1, 1).is_err());
        assert!(downscale_rgb(&[0; 12], 2, 2, 0, 1).is_err());
    }

    #[test]
    fn downscale_averages_areas() {
        // 4×2 picture: left half black, right half white → 2×1: black, white.
        let mut src = Vec::new();
        for _ in 0..2 {
            src.extend([0u8; 6]);
            src.extend([255u8; 6]);
        }
        assert_eq!(
            downscale_rgb(&src, 4, 2, 2, 1).unwrap(),
            vec![0, 0, 0, 255, 255, 255]
        );
        // 3 → 2: the middle pixel is split between both outputs.
        let src = [0u8, 0, 0, 90, 90, 90, 180, 180, 180];
        assert_eq!(
            downscale_rgb(&src, 3, 1, 2, 1).unwrap(),
            vec![30, 30, 30, 150, 150, 150]
        );
        // The exact-factor path agrees with the general one (within rounding).
        let src: Vec<u8> = (0..8 * 6 * 3).map(|i| (i * 37 % 251) as u8).collect();
        let fast = downscale_rgb(&src, 8, 6, 4, 3).unwrap();
        assert_eq!(
            fast[..3],
            [
                ((src[0] as u32 + src[3] as u32 + src[24] as u32 + src[27] as u32 + 2) / 4) as u8,
                ((src[1] as u32 + src[4] as u32 + src[25] as u32 + src[28] as u32 + 2) / 4) as u8,
                ((src[2] as u32 + src[5] as u32 + src[26] as u32 + src[29] as u32 + 2) / 4) as u8
            ]
        );
        let xw = area_weights(8, 4);
        assert!(
            xw.iter()
                .all(|t| t.len() == 2 && t.iter().all(|&(_, w)| (w - 0.5).abs() < 1e-6))
        );
        // Same size is the identity.
        let src: Vec<u8> = (0..5 * 3 * 3).map(|i| i as u8).collect();
        assert_eq!(downscale_rgb(&src, 5, 3, 5, 3).unwrap(), src);
    }
}
