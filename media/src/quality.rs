//! Measures and test signals for the codecs: PSNR of pictures, tones, a speech-like noise,
//! and the dominant frequency of a signal (an in-crate radix-2 FFT; no dependency).

use std::f64::consts::PI;

/// The PSNR [`psnr`] reports for identical inputs: infinite (no error at all).
pub const PSNR_IDENTICAL: f64 = f64::INFINITY;

/// Peak signal-to-noise ratio in dB between two 8-bit buffers of the same length (two RGB8
/// pictures: over all channels together), with peak 255. Identical buffers give
/// [`PSNR_IDENTICAL`] (+∞); buffers of different length or empty ones give NaN (which fails
/// every comparison, so a test cannot pass on it by accident).
pub fn psnr(a: &[u8], b: &[u8]) -> f64 {
    if a.len() != b.len() || a.is_empty() {
        return f64::NAN;
    }
    let sse: u64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (x as i64 - y as i64).pow(2) as u64)
        .sum();
    if sse == 0 {
        return PSNR_IDENTICAL;
    }
    let mse = sse as f64 / a.len() as f64;
    10.0 * (255.0f64 * 255.0 / mse).log10()
}

/// `n` samples of a sine at `freq_hz`, peak `amplitude` as a fraction of full scale (0..=1).
pub fn tone(freq_hz: f32, sample_rate: u32, n: usize, amplitude: f32) -> Vec<i16> {
    let amp = amplitude.clamp(0.0, 1.0) as f64 * i16::MAX as f64;
    let step = 2.0 * PI * freq_hz as f64 / sample_rate as f64;
    (0..n)
        .map(|i| (amp * (step * i as f64).sin()).round() as i16)
        .collect()
}

/// A deterministic speech-like signal: noise band-limited to roughly 200–3500 Hz with a
/// voiced buzz (a 120 Hz pulse train through the same filter) under a ~4 Hz syllable
/// envelope with short pauses. Not speech, but it exercises a voice codec the way speech
/// does (bursts, pauses, energy where voices have it). `seed` picks the noise.
pub fn speech_like_noise(sample_rate: u32, n: usize, seed: u64) -> Vec<i16> {
    let mut state = seed ^ 0x9E37_79B9_7F4A_7C15;
    let mut rand = move || {
        // xorshift64*: a small deterministic generator, good enough for test noise.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    };
    let fs = sample_rate as f64;
    // One-pole low-pass at 3.5 kHz and high-pass at 200 Hz.
    let a_lp = (-2.0 * PI * 3500.0 / fs).exp();
    let a_hp = (-2.0 * PI * 200.0 / fs).exp();
    let (mut lp, mut hp_prev_in, mut hp) = (0.0f64, 0.0f64, 0.0f64);
    let pitch_period = (fs / 120.0).max(1.0) as usize;
    (0..n)
        .map(|i| {
            let t = i as f64 / fs;
            let syllable = (t * 4.0).fract();
            // Voiced for the first 70% of each syllable, a pause after.
            let env = if syllable < 0.7 {
                (PI * syllable / 0.7).sin().powi(2)
            } else {
                0.0
            };
            let buzz = if i % pitch_period == 0 { 4.0 } else { 0.0 };
            let x = 0.6 * rand() + buzz;
            lp = (1.0 - a_lp) * x + a_lp * lp;
            hp = a_hp * (hp + lp - hp_prev_in);
            hp_prev_in = lp;
            (env * hp * 0.5 * i16::MAX as f64).clamp(i16::MIN as f64, i16::MAX as f64) as i16
        })
        .collect()
}

/// In-place iterative radix-2 FFT (`re.len()` a power of two).
fn fft(re: &mut [f64], im: &mut [f64]) {
    let n = re.len();
    let mut j = 0;
    for i in 1..n {
        let mut bit = n >> 1;
        while j & bit != 0 {
            j ^= bit;
            bit >>= 1;
        }
        j |= bit;
        if i < j {
            re.swap(i, j);
            im.swap(i, j);
        }
    }
    let mut len = 2;
    while len <= n {
        let ang = -2.0 * PI / len as f64;
        let (wr, wi) = (ang.cos(), ang.sin());
        for start in (0..n).step_by(len) {
            let (mut cr, mut ci) = (1.0, 0.0);
            for k in 0..len / 2 {
                let (a, b) = (start + k, start + k + len / 2);
                let tr = re[b] * cr - im[b] * ci;
                let ti = re[b] * ci + im[b] * cr;
                re[b] = re[a] - tr;
                im[b] = im[a] - ti;
                re[a] += tr;
                im[a] += ti;
                let nr = cr * wr - ci * wi;
                ci = cr * wi + ci * wr;
                cr = nr;
            }
        }
        len <<= 1;
    }
}

/// The frequency (Hz) with the most energy: mean removed, Hann window, zero-padded FFT (to
/// at least 2¹⁵ points, ≤1.5 Hz bins at 48 kHz), the peak refined by a parabola through
/// its neighbours' log magnitudes. `0.0` for empty or silent input.
pub fn dominant_frequency(samples: &[i16], sample_rate: u32) -> f32 {
    let n = samples.len();
    if n < 4 {
        return 0.0;
    }
    let mean = samples.iter().map(|&s| s as f64).sum::<f64>() / n as f64;
    let size = n.next_power_of_two().max(1 << 15);
    let mut re = vec![0.0; size];
    let mut im = vec![0.0; size];
    for (i, (&s, r)) in samples.iter().zip(re.iter_mut()).enumerate() {
        let w = 0.5 - 0.5 * (2.0 * PI * i as f64 / (n - 1) as f64).cos();
        *r = (s as f64 - mean) * w;
    }
    fft(&mut re, &mut im);
    let mag: Vec<f64> = re[..size / 2]
        .iter()
        .zip(&im[..size / 2])
        .map(|(r, i)| (r * r + i * i).sqrt())
        .collect();
    let Some((peak, &peak_mag)) = mag
        .iter()
        .enumerate()
        .skip(1)
        .max_by(|a, b| a.1.total_cmp(b.1))
    else {
        return 0.0;
    };
    if peak_mag <= 0.0 {
        return 0.0;
    }
    let mut bin = peak as f64;
    if peak + 1 < mag.len() {
        let (a, b, c) = (
            mag[peak - 1].max(1e-12).ln(),
            peak_mag.ln(),
            mag[peak + 1].max(1e-12).ln(),
        );
        let denom = a - 2.0 * b + c;
        if denom.abs() > 1e-12 {
            bin += (0.5 * (a - c) / denom).clamp(-0.5, 0.5);
        }
    }
    (bin * sample_rate as f64 / size as f64) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psnr_edges() {
        assert_eq!(psnr(&[1, 2, 3], &[1, 2, 3]), f64::INFINITY);
        assert!(psnr(&[1, 2], &[1, 2, 3]).is_nan());
        assert!(psnr(&[], &[]).is_nan());
        // MSE 1 → 48.13 dB.
        assert!((psnr(&[0, 0], &[1, 1]) - 48.1308).abs() < 1e-3);
    }

    #[test]
    fn finds_tone_frequencies() {
        for f in [100.0f32, 440.0, 1000.0, 3150.5] {
            let x = tone(f, 48_000, 9600, 0.5);
            let d = dominant_frequency(&x, 48_000);
            assert!((d - f).abs() < 1.0, "{f} → {d}");
        }
        assert_eq!(dominant_frequency(&[0; 1000], 48_000), 0.0);
    }

    #[test]
    fn speech_like_noise_has_pauses_and_voice_band_energy() {
        let x = speech_like_noise(48_000, 48_000, 7);
        assert_eq!(x, speech_like_noise(48_000, 48_000, 7));
        let peak = x.iter().map(|s| s.unsigned_abs()).max().unwrap();
        assert!(peak > 3000, "peak {peak}");
        // The pause at 70–100% of each 250 ms syllable is silent.
        assert!(
            x[48_000 * 200 / 1000..48_000 * 240 / 1000]
                .iter()
                .all(|&s| s == 0)
        );
        let d = dominant_frequency(&x, 48_000);
        assert!((100.0..3500.0).contains(&d), "dominant {d}");
    }
}
