//! Geometry of the pipeline: affine maps between model-input pixels and image pixels, the
//! rotated region of interest, and a bilinear affine warp into a preallocated tensor.
//!
//! Convention: continuous pixel coordinates, pixel `i` covers `[i, i+1)`, so its centre is
//! `i + 0.5`. Model outputs (crop pixels) use the same convention.

use std::f32::consts::PI;

/// `src = A · dst + t`: maps a point of a model input (tensor pixels) to image pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Affine {
    /// Row-major 2×2 matrix `[m00, m01, m10, m11]`.
    pub m: [f32; 4],
    pub t: [f32; 2],
}

impl Affine {
    pub fn apply(&self, x: f32, y: f32) -> (f32, f32) {
        let [a, b, c, d] = self.m;
        (a * x + b * y + self.t[0], c * x + d * y + self.t[1])
    }

    /// The inverse map, `None` when the matrix is singular.
    pub fn inverse(&self) -> Option<Affine> {
        let [a, b, c, d] = self.m;
        let det = a * d - b * c;
        if det.abs() < 1e-12 || !det.is_finite() {
            return None;
        }
        let m = [d / det, -b / det, -c / det, a / det];
        let t = [-(m[0] * self.t[0] + m[1] * self.t[1]), -(m[2] * self.t[0] + m[3] * self.t[1])];
        Some(Affine { m, t })
    }

    /// Uniform scale factor (length of the first column).
    pub fn scale(&self) -> f32 {
        self.m[0].hypot(self.m[2])
    }
}

/// Letterbox: the whole `width × height` image centred in an `out × out` square, aspect kept.
pub fn letterbox(width: u32, height: u32, out: u32) -> Affine {
    let (w, h) = (width as f32, height as f32);
    let side = w.max(h);
    let s = side / out as f32;
    Affine { m: [s, 0.0, 0.0, s], t: [-(side - w) / 2.0, -(side - h) / 2.0] }
}

/// A rotated square region of the image, in image pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Roi {
    pub cx: f32,
    pub cy: f32,
    /// Side length in image pixels.
    pub size: f32,
    /// Radians; the crop's "up" points along image direction `(sin r, −cos r)`.
    pub rotation: f32,
}

impl Roi {
    /// The region BlazePose uses: centred on `center` (hip centre), side `2·|scale_pt − center|·expand`,
    /// rotated so that the `center → scale_pt` direction points up in the crop.
    pub fn from_alignment(center: (f32, f32), scale_pt: (f32, f32), expand: f32) -> Roi {
        let (dx, dy) = (scale_pt.0 - center.0, scale_pt.1 - center.1);
        let rotation = normalize_angle(PI / 2.0 - (-dy).atan2(dx));
        Roi { cx: center.0, cy: center.1, size: 2.0 * dx.hypot(dy) * expand, rotation }
    }

    /// Maps `out × out` crop pixels to image pixels.
    pub fn crop_to_image(&self, out: u32) -> Affine {
        let (sin, cos) = self.rotation.sin_cos();
        let s = self.size / out as f32;
        let m = [cos * s, -sin * s, sin * s, cos * s];
        let h = self.size / 2.0;
        Affine { m, t: [self.cx - (cos * h - sin * h), self.cy - (sin * h + cos * h)] }
    }

    /// A usable region: finite and not degenerate.
    pub fn is_valid(&self) -> bool {
        self.cx.is_finite() && self.cy.is_finite() && self.rotation.is_finite() && self.size.is_finite() && self.size > 1.0
    }
}

/// Angle in `[−π, π)`.
pub fn normalize_angle(a: f32) -> f32 {
    a - 2.0 * PI * ((a + PI) / (2.0 * PI)).floor()
}

/// How to turn a byte into a tensor value: `value = byte · scale + offset`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Normalize {
    pub scale: f32,
    pub offset: f32,
}

impl Normalize {
    /// Bytes to `[0, 1]`.
    pub const UNIT: Normalize = Normalize { scale: 1.0 / 255.0, offset: 0.0 };
    /// Bytes to `[−1, 1]`.
    pub const SIGNED: Normalize = Normalize { scale: 2.0 / 255.0, offset: -1.0 };
}

/// Fills `out` (an `out_size × out_size × 3` NHWC tensor) by sampling the RGB8 image
/// (`width × height`) bilinearly at `map(tensor pixel centre)`. Points outside the image
/// get the value of a black pixel. Does nothing if the buffers have the wrong sizes.
///
/// Written for speed (it runs on every frame): the source position moves by a constant step
/// along a tensor row, and pixels whose 2×2 neighbourhood lies inside the image (nearly all)
/// read it as two 6-byte slices, without per-sample clamping or bounds checks.
pub fn warp_rgb(
    image: &[u8],
    width: u32,
    height: u32,
    map: &Affine,
    out: &mut [f32],
    out_size: u32,
    norm: Normalize,
) {
    let (w, h, n) = (width as usize, height as usize, out_size as usize);
    if w == 0 || h == 0 || image.len() != w * h * 3 || out.len() != n * n * 3 {
        return;
    }
    let (wf, hf) = (w as f32, h as f32);
    let (last_x, last_y) = (w as i64 - 1, h as i64 - 1);
    let [a, b, c, d] = map.m;
    let Normalize { scale, offset } = norm;
    let mix = |p00: u8, p01: u8, p10: u8, p11: u8, fx: f32, fy: f32| {
        let top = f32::from(p00) + (f32::from(p01) - f32::from(p00)) * fx;
        let bottom = f32::from(p10) + (f32::from(p11) - f32::from(p10)) * fx;
        (top + (bottom - top) * fy) * scale + offset
    };
    for (j, row) in out.chunks_exact_mut(n * 3).enumerate() {
        let v = j as f32 + 0.5;
        // Image coordinate of tensor pixel (0.5, v), shifted so that integer = pixel centre.
        let mut sx = a * 0.5 + b * v + map.t[0] - 0.5;
        let mut sy = c * 0.5 + d * v + map.t[1] - 0.5;
        for px in row.chunks_exact_mut(3) {
            if !(sx >= -0.5 && sy >= -0.5 && sx <= wf - 0.5 && sy <= hf - 0.5) {
                // Outside the image (or not a number).
                px.fill(offset);
            } else {
                // floor(), valid because both are ≥ −0.5 here.
                let (x0, y0) = ((sx + 1.0) as i64 - 1, (sy + 1.0) as i64 - 1);
                let (fx, fy) = (sx - x0 as f32, sy - y0 as f32);
                let i0 = (y0.max(0) as usize * w + x0.max(0) as usize) * 3;
                let inner = x0 >= 0 && y0 >= 0 && x0 < last_x && y0 < last_y;
                let quad = inner
                    .then(|| Some((image.get(i0..i0 + 6)?, image.get(i0 + w * 3..i0 + w * 3 + 6)?)))
                    .flatten()
                    .and_then(|(t, b)| Some((<&[u8; 6]>::try_from(t).ok()?, <&[u8; 6]>::try_from(b).ok()?)));
                if let Some((t, b)) = quad {
                    for (ch, o) in px.iter_mut().enumerate().take(3) {
                        *o = mix(t[ch], t[ch + 3], b[ch], b[ch + 3], fx, fy);
                    }
                } else {
                    // At the border: neighbours outside the image repeat the edge pixel.
                    let cx = |x: i64| x.clamp(0, last_x) as usize;
                    let cy = |y: i64| y.clamp(0, last_y) as usize * w;
                    let (r0, r1) = (cy(y0), cy(y0 + 1));
                    let (c0, c1) = (cx(x0), cx(x0 + 1));
                    let at = |r: usize, col: usize, ch: usize| image.get((r + col) * 3 + ch).copied().unwrap_or(0);
                    for (ch, o) in px.iter_mut().enumerate() {
                        *o = mix(at(r0, c0, ch), at(r0, c1, ch), at(r1, c0, ch), at(r1, c1, ch), fx, fy);
                    }
                }
            }
            sx += a;
            sy += c;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: (f32, f32), b: (f32, f32), tol: f32) -> bool {
        (a.0 - b.0).abs() < tol && (a.1 - b.1).abs() < tol
    }

    #[test]
    fn upright_alignment_has_no_rotation() {
        // Head straight above the hips: no rotation; side = 2 · distance · 1.25.
        let roi = Roi::from_alignment((100.0, 200.0), (100.0, 120.0), 1.25);
        assert!(roi.rotation.abs() < 1e-6);
        assert!((roi.size - 200.0).abs() < 1e-4);
        // Head to the right of the hips: rotated a quarter turn, crop "up" = image +x.
        let roi = Roi::from_alignment((100.0, 200.0), (180.0, 200.0), 1.25);
        assert!((roi.rotation - PI / 2.0).abs() < 1e-5);
        let map = roi.crop_to_image(256);
        let top_centre = map.apply(128.0, 0.0);
        assert!(close(top_centre, (200.0, 200.0), 1e-3), "{top_centre:?}");
        assert!(close(map.apply(128.0, 128.0), (100.0, 200.0), 1e-3));
    }

    #[test]
    fn roi_round_trips_image_crop_image() {
        for (i, rot) in [-3.0f32, -1.2, 0.0, 0.4, 2.5].into_iter().enumerate() {
            let roi = Roi { cx: 300.0 + i as f32 * 7.0, cy: 210.0, size: 150.0 + i as f32 * 40.0, rotation: rot };
            let to_img = roi.crop_to_image(256);
            let to_crop = to_img.inverse().unwrap();
            for p in [(10.0, 20.0), (0.0, 0.0), (256.0, 256.0), (128.0, 64.0)] {
                let img = to_img.apply(p.0, p.1);
                assert!(close(to_crop.apply(img.0, img.1), p, 1e-2), "rot {rot}: {p:?}");
            }
            assert!(close(to_img.apply(128.0, 128.0), (roi.cx, roi.cy), 1e-3));
            assert!((to_img.scale() * 256.0 - roi.size).abs() < 1e-2);
        }
    }

    #[test]
    fn warp_moves_a_bright_dot_where_the_map_says() {
        // A white 3×3 dot on black; after a rotated crop the brightest tensor pixel, mapped
        // back to the image, must land on the dot.
        let (w, h) = (320u32, 240u32);
        let mut img = vec![0u8; (w * h * 3) as usize];
        let dot = (201usize, 87usize);
        for y in dot.1 - 1..=dot.1 + 1 {
            for x in dot.0 - 1..=dot.0 + 1 {
                let i = (y * w as usize + x) * 3;
                img[i..i + 3].fill(255);
            }
        }
        let roi = Roi { cx: 180.0, cy: 110.0, size: 120.0, rotation: 0.7 };
        let map = roi.crop_to_image(128);
        let mut out = vec![0f32; 128 * 128 * 3];
        warp_rgb(&img, w, h, &map, &mut out, 128, Normalize::UNIT);
        let best = (0..128 * 128).max_by(|&a, &b| out[a * 3].total_cmp(&out[b * 3])).unwrap();
        let (u, v) = ((best % 128) as f32 + 0.5, (best / 128) as f32 + 0.5);
        let back = map.apply(u, v);
        assert!(close(back, (dot.0 as f32 + 0.5, dot.1 as f32 + 0.5), 1.5), "{back:?}");
        assert!(out[best * 3] > 0.9);
    }

    /// Straightforward bilinear sampling, one tensor pixel at a time (the warp's definition).
    fn reference_warp(image: &[u8], w: usize, h: usize, map: &Affine, n: usize, norm: Normalize) -> Vec<f32> {
        let mut out = vec![0f32; n * n * 3];
        for j in 0..n {
            for i in 0..n {
                let (x, y) = map.apply(i as f32 + 0.5, j as f32 + 0.5);
                let (sx, sy) = (x - 0.5, y - 0.5);
                let o = &mut out[(j * n + i) * 3..(j * n + i) * 3 + 3];
                if sx < -0.5 || sy < -0.5 || sx > w as f32 - 0.5 || sy > h as f32 - 0.5 {
                    o.fill(norm.offset);
                    continue;
                }
                let (x0, y0) = (sx.floor(), sy.floor());
                let (fx, fy) = (sx - x0, sy - y0);
                let px = |x: f32, y: f32, ch: usize| {
                    let (x, y) = ((x.max(0.0) as usize).min(w - 1), (y.max(0.0) as usize).min(h - 1));
                    image[(y * w + x) * 3 + ch] as f32
                };
                for (ch, v) in o.iter_mut().enumerate() {
                    let val = px(x0, y0, ch) * (1.0 - fx) * (1.0 - fy)
                        + px(x0 + 1.0, y0, ch) * fx * (1.0 - fy)
                        + px(x0, y0 + 1.0, ch) * (1.0 - fx) * fy
                        + px(x0 + 1.0, y0 + 1.0, ch) * fx * fy;
                    *v = val * norm.scale + norm.offset;
                }
            }
        }
        out
    }

    #[test]
    fn fast_warp_matches_plain_bilinear_sampling() {
        // Pseudo-random picture; crops inside, across the border, rotated, up- and down-scaled.
        let (w, h) = (97usize, 61usize);
        let mut state = 0x2545_f491u32;
        let img: Vec<u8> = (0..w * h * 3)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state >> 24) as u8
            })
            .collect();
        let maps = [
            letterbox(w as u32, h as u32, 64),
            Roi { cx: 48.0, cy: 30.0, size: 40.0, rotation: 0.3 }.crop_to_image(64),
            Roi { cx: 10.0, cy: 55.0, size: 70.0, rotation: -2.2 }.crop_to_image(48),
            Roi { cx: 90.0, cy: 5.0, size: 150.0, rotation: 1.0 }.crop_to_image(32),
            Affine { m: [0.25, 0.0, 0.0, 0.25], t: [0.0, 0.0] },
        ];
        for (k, map) in maps.iter().enumerate() {
            for norm in [Normalize::UNIT, Normalize::SIGNED] {
                let n = 64;
                let mut out = vec![f32::NAN; n * n * 3];
                warp_rgb(&img, w as u32, h as u32, map, &mut out, n as u32, norm);
                let want = reference_warp(&img, w, h, map, n, norm);
                let worst = out.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
                // Float rounding only (the warp steps incrementally): well under a byte level.
                assert!(worst < norm.scale * 0.1, "map {k}: differs by {} byte levels", worst / norm.scale);
            }
        }
    }

    #[test]
    fn letterbox_pads_and_centres() {
        let map = letterbox(640, 480, 224);
        // Tensor centre = image centre; the top 1/8 of the tensor is padding (above y = 0).
        assert!(close(map.apply(112.0, 112.0), (320.0, 240.0), 1e-3));
        assert!(map.apply(0.0, 27.9).1 < 0.0 && map.apply(0.0, 28.1).1 > 0.0);
        let img = vec![255u8; 640 * 480 * 3];
        let mut out = vec![0f32; 224 * 224 * 3];
        warp_rgb(&img, 640, 480, &map, &mut out, 224, Normalize::SIGNED);
        assert_eq!(out[0], -1.0); // padding is black
        assert!((out[112 * 224 * 3] - 1.0).abs() < 1e-5); // white picture
    }
}
