//! One Euro filter (Casiez et al. 2012) for landmark smoothing, as MediaPipe uses for pose.
//!
//! Values are divided by the object's scale before filtering (so the same settings work
//! for near and far people) and multiplied back afterwards.

use shared::pose::{LANDMARK_COUNT, Landmark};

/// Filter settings; the defaults are MediaPipe's for pose landmarks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OneEuroParams {
    /// Cut-off frequency (Hz) at zero speed: lower = smoother when still.
    pub min_cutoff: f32,
    /// Speed coefficient: higher = less lag when moving fast.
    pub beta: f32,
    /// Cut-off frequency (Hz) for the speed estimate.
    pub d_cutoff: f32,
}

impl Default for OneEuroParams {
    fn default() -> Self {
        OneEuroParams { min_cutoff: 0.05, beta: 80.0, d_cutoff: 1.0 }
    }
}

fn alpha(cutoff: f32, dt: f32) -> f32 {
    let tau = 1.0 / (2.0 * std::f32::consts::PI * cutoff);
    1.0 / (1.0 + tau / dt)
}

/// One scalar One Euro filter.
#[derive(Debug, Clone, Copy, Default)]
pub struct OneEuro {
    prev: Option<(f32, f32)>, // (filtered value, filtered derivative)
}

impl OneEuro {
    /// Filters `x` observed `dt` seconds after the previous value.
    pub fn filter(&mut self, x: f32, dt: f32, p: &OneEuroParams) -> f32 {
        let Some((prev_x, prev_dx)) = self.prev else {
            self.prev = Some((x, 0.0));
            return x;
        };
        if dt <= 0.0 || !dt.is_finite() || !x.is_finite() {
            return prev_x;
        }
        let dx = (x - prev_x) / dt;
        let a_d = alpha(p.d_cutoff, dt);
        let edx = prev_dx + a_d * (dx - prev_dx);
        let cutoff = p.min_cutoff + p.beta * edx.abs();
        let a = alpha(cutoff, dt);
        let out = prev_x + a * (x - prev_x);
        self.prev = Some((out, edx));
        out
    }
}

/// Smooths the x, y, z of all 33 landmarks.
#[derive(Debug, Clone)]
pub struct LandmarkSmoother {
    params: OneEuroParams,
    filters: [[OneEuro; 3]; LANDMARK_COUNT],
}

impl LandmarkSmoother {
    pub fn new(params: OneEuroParams) -> Self {
        LandmarkSmoother { params, filters: [[OneEuro::default(); 3]; LANDMARK_COUNT] }
    }

    /// Forgets the history (call when tracking is lost).
    pub fn reset(&mut self) {
        self.filters = [[OneEuro::default(); 3]; LANDMARK_COUNT];
    }

    /// Smooths landmarks in place. `scale` is the object's size in the landmarks' units.
    pub fn apply(&mut self, landmarks: &mut [Landmark; LANDMARK_COUNT], dt: f32, scale: f32) {
        let inv = if scale > 1e-6 && scale.is_finite() { 1.0 / scale } else { 1.0 };
        for (lm, f) in landmarks.iter_mut().zip(self.filters.iter_mut()) {
            lm.x = f[0].filter(lm.x * inv, dt, &self.params) / inv;
            lm.y = f[1].filter(lm.y * inv, dt, &self.params) / inv;
            lm.z = f[2].filter(lm.z * inv, dt, &self.params) / inv;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn still_noisy_signal_is_smoothed_and_steps_are_followed() {
        let p = OneEuroParams::default();
        let mut f = OneEuro::default();
        let dt = 1.0 / 30.0;
        // Jitter of ±0.01 around 0.5: the output must jitter far less.
        let mut max_dev = 0.0f32;
        for i in 0..60 {
            let x = 0.5 + if i % 2 == 0 { 0.01 } else { -0.01 };
            let y = f.filter(x, dt, &p);
            if i > 10 {
                max_dev = max_dev.max((y - 0.5).abs());
            }
        }
        assert!(max_dev < 0.005, "jitter not reduced: {max_dev}");
        // A big, fast move must be followed within a few frames (beta makes the filter fast).
        let mut y = 0.0;
        for _ in 0..5 {
            y = f.filter(0.9, dt, &p);
        }
        assert!((y - 0.9).abs() < 0.05, "lagging: {y}");
    }

    #[test]
    fn first_value_passes_and_zero_dt_holds() {
        let p = OneEuroParams::default();
        let mut f = OneEuro::default();
        assert_eq!(f.filter(3.0, 0.1, &p), 3.0);
        assert_eq!(f.filter(7.0, 0.0, &p), 3.0);
    }
}
