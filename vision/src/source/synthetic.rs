//! Deterministic drawn frames: a stick figure waving its arms, or noise.

use std::time::Instant;

use super::{FrameSource, check_fps, pace};
use crate::{Frame, SourceError};

/// What the synthetic source draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    /// A stick figure on a gradient background, arms swinging with the frame number.
    Figure,
    /// Uniform random noise (seeded by the frame number, so frames are reproducible).
    Noise,
}

impl std::str::FromStr for Pattern {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "figure" => Ok(Pattern::Figure),
            "noise" => Ok(Pattern::Noise),
            other => Err(format!("unknown synthetic pattern \"{other}\" — use figure or noise")),
        }
    }
}

/// Draws frame `seq` of `pattern` (pure function of its arguments).
pub fn draw(width: u32, height: u32, pattern: Pattern, seq: u64) -> Vec<u8> {
    let (w, h) = (width as usize, height as usize);
    let mut px = vec![0u8; w * h * 3];
    match pattern {
        Pattern::Noise => {
            let mut state = seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            for b in px.iter_mut() {
                // xorshift64*
                state ^= state >> 12;
                state ^= state << 25;
                state ^= state >> 27;
                *b = (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8;
            }
        }
        Pattern::Figure => {
            for (y, row) in px.chunks_exact_mut(w * 3).enumerate() {
                let g = (60 + 120 * y / h.max(1)) as u8;
                for p in row.chunks_exact_mut(3) {
                    p.copy_from_slice(&[g / 2, g / 2, g]);
                }
            }
            let s = w.min(h) as f32;
            let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
            let swing = ((seq as f32) * 0.15).sin() * 0.8;
            let pt = |dx: f32, dy: f32| (cx + dx * s, cy + dy * s);
            let (neck, hip) = (pt(0.0, -0.15), pt(0.0, 0.12));
            let (sl, sr) = (pt(-0.08, -0.14), pt(0.08, -0.14));
            let arm = |sx: f32, side: f32| {
                let a = std::f32::consts::FRAC_PI_2 + side * (0.6 + swing);
                (sx, -0.14, sx + side * 0.18 * a.sin().abs(), -0.14 - 0.18 * a.cos())
            };
            let mut thick = |a: (f32, f32), b: (f32, f32), r: f32, c: [u8; 3]| line(&mut px, w, h, a, b, r, c);
            let skin = [230, 190, 160];
            let suit = [220, 90, 40];
            thick(neck, hip, s * 0.04, suit);
            thick(sl, sr, s * 0.03, suit);
            for (sx, side) in [(-0.08, -1.0), (0.08, 1.0)] {
                let (x0, y0, x1, y1) = arm(sx, side);
                thick(pt(x0, y0), pt(x1, y1), s * 0.02, skin);
                thick(hip, pt(side * 0.07, 0.4), s * 0.025, [40, 40, 120]);
            }
            thick(pt(0.0, -0.22), pt(0.0, -0.22), s * 0.06, skin);
        }
    }
    px
}

/// Draws a thick segment (a capsule of radius `r`).
fn line(px: &mut [u8], w: usize, h: usize, a: (f32, f32), b: (f32, f32), r: f32, c: [u8; 3]) {
    let (minx, maxx) = ((a.0.min(b.0) - r).max(0.0) as usize, ((a.0.max(b.0) + r).max(0.0) as usize).min(w));
    let (miny, maxy) = ((a.1.min(b.1) - r).max(0.0) as usize, ((a.1.max(b.1) + r).max(0.0) as usize).min(h));
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len2 = (dx * dx + dy * dy).max(1e-6);
    for y in miny..maxy {
        for x in minx..maxx {
            let (px_, py) = (x as f32 + 0.5, y as f32 + 0.5);
            let t = (((px_ - a.0) * dx + (py - a.1) * dy) / len2).clamp(0.0, 1.0);
            let (qx, qy) = (a.0 + t * dx, a.1 + t * dy);
            if (px_ - qx).hypot(py - qy) <= r {
                let i = (y * w + x) * 3;
                if let Some(p) = px.get_mut(i..i + 3) {
                    p.copy_from_slice(&c);
                }
            }
        }
    }
}

/// A source of drawn frames at a fixed rate.
pub struct SyntheticSource {
    width: u32,
    height: u32,
    fps: f32,
    pattern: Pattern,
    seq: u64,
    start: Instant,
}

impl SyntheticSource {
    pub fn new(width: u32, height: u32, fps: f32, pattern: Pattern) -> Result<Self, SourceError> {
        if width == 0 || height == 0 || width > 8192 || height > 8192 {
            return Err(SourceError::Config(format!("synthetic size {width}×{height} is out of range (1–8192)")));
        }
        Ok(SyntheticSource { width, height, fps: check_fps(fps)?, pattern, seq: 0, start: Instant::now() })
    }
}

impl FrameSource for SyntheticSource {
    fn name(&self) -> String {
        format!("synthetic {:?} {}×{} @ {} fps", self.pattern, self.width, self.height, self.fps)
    }

    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        pace(self.start, self.seq, self.fps);
        let data = draw(self.width, self.height, self.pattern, self.seq);
        let frame = Frame::from_rgb(self.width, self.height, data, self.seq, Instant::now())
            .ok_or_else(|| SourceError::Config("synthetic frame size mismatch".into()))?;
        self.seq += 1;
        Ok(Some(frame))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_deterministic_and_change_over_time() {
        for p in [Pattern::Figure, Pattern::Noise] {
            assert_eq!(draw(64, 48, p, 7), draw(64, 48, p, 7));
            assert_ne!(draw(64, 48, p, 7), draw(64, 48, p, 20));
        }
    }
}
