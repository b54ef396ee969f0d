//! Echo cancellation through the WebRTC audio-processing module: a far-end signal played
//! "through the speaker" comes back through a simulated room (delay, attenuation, two
//! decaying reflections) into the microphone together with a near-end tone; the canceller
//! must take the echo down by ≥ 20 dB and leave the tone. Figures print with
//! `-- --nocapture`. Everything is sample-driven (10 ms frames in real order), no clock.

use media::{
    ECHO_FRAME_SAMPLES, EchoCanceller, EchoConfig, EchoSuppression, MediaError,
    NoiseSuppression, SAMPLE_RATE, dominant_frequency, speech_like_noise, tone,
};

const FS: usize = SAMPLE_RATE as usize;
const NEAR_HZ: f32 = 440.0;

fn ms(n: usize) -> usize {
    n * FS / 1000
}

fn energy(x: &[i16]) -> f64 {
    x.iter().map(|&s| (s as f64).powi(2)).sum::<f64>()
}

fn db(ratio: f64) -> f64 {
    10.0 * ratio.log10()
}

/// Amplitude of the `freq` component of `x` (a lock-in: projection on sin and cos).
fn tone_amplitude(x: &[i16], freq: f32) -> f64 {
    let w = 2.0 * std::f64::consts::PI * freq as f64 / FS as f64;
    let (mut s, mut c) = (0.0, 0.0);
    for (i, &v) in x.iter().enumerate() {
        s += v as f64 * (w * i as f64).sin();
        c += v as f64 * (w * i as f64).cos();
    }
    2.0 * (s * s + c * c).sqrt() / x.len() as f64
}

/// The room from speaker to microphone: the direct path after `delay_ms` at −6 dB, and two
/// decaying reflections 7 ms and 16 ms later (−14 dB and −20 dB).
fn room(far: &[i16], delay_ms: usize) -> Vec<f64> {
    let taps = [(ms(delay_ms), 0.5), (ms(delay_ms + 7), 0.2), (ms(delay_ms + 16), 0.1)];
    let mut out = vec![0.0; far.len()];
    for (d, g) in taps {
        for i in d..far.len() {
            out[i] += g * far[i - d] as f64;
        }
    }
    out
}

/// A music-like far end: major-triad chords (no A, so nothing at the near-end 440 Hz) that
/// change every 500 ms, each note with a short attack and an exponential decay.
fn music_like(n: usize) -> Vec<i16> {
    let chords: [[f64; 3]; 4] = [
        [261.63, 329.63, 392.00], // C
        [349.23, 523.25, 659.26], // F (an octave-up C and E)
        [392.00, 493.88, 587.33], // G
        [329.63, 392.00, 523.25], // C, first inversion
    ];
    let note = ms(500);
    (0..n)
        .map(|i| {
            let chord = &chords[(i / note) % chords.len()];
            let t = (i % note) as f64 / FS as f64;
            let env = (t / 0.01).min(1.0) * (-t * 3.0).exp();
            let x: f64 = chord
                .iter()
                .map(|f| (2.0 * std::f64::consts::PI * f * i as f64 / FS as f64).sin())
                .sum();
            (0.15 * env * x * i16::MAX as f64) as i16
        })
        .collect()
}

struct Figures {
    /// Mic-in vs processed-out energy over the far-only measurement section (dB).
    erle_db: f64,
    /// Dominant frequency of the output during double talk and near-end alone.
    double_talk_hz: f32,
    near_alone_hz: f32,
    /// The 440 Hz component of the output relative to the tone put in (dB).
    double_talk_tone_db: f64,
    near_alone_tone_db: f64,
}

/// Runs the scenario: 0–3 s far end alone (convergence), 3–6 s far end alone (ERLE measured),
/// 6–8 s far end + near-end tone (double talk, measured from 6.5 s), 8–9.5 s near-end tone
/// alone (measured from 8.5 s).
fn run(far_kind: &str, config: EchoConfig, room_delay_ms: usize, tone_amp: f32) -> Figures {
    let n = ms(9_500);
    let mut far = match far_kind {
        "speech" => speech_like_noise(SAMPLE_RATE, n, 11),
        "music" => music_like(n),
        _ => unreachable!(),
    };
    far[ms(8_000)..].fill(0);
    let echo = room(&far, room_delay_ms);
    let near_tone = tone(NEAR_HZ, SAMPLE_RATE, n, tone_amp);
    let mic: Vec<i16> = (0..n)
        .map(|i| {
            let near = if i >= ms(6_000) { near_tone[i] as f64 } else { 0.0 };
            (echo[i] + near).round().clamp(i16::MIN as f64, i16::MAX as f64) as i16
        })
        .collect();

    let mut aec = EchoCanceller::new(config).expect("create");
    let mut out = mic.clone();
    for (far_frame, mic_frame) in far
        .chunks_exact(ECHO_FRAME_SAMPLES)
        .zip(out.chunks_exact_mut(ECHO_FRAME_SAMPLES))
    {
        aec.render(far_frame).expect("render");
        aec.capture(mic_frame).expect("capture");
    }
    let stats = aec.stats().expect("stats");
    if let Ok(dir) = std::env::var("ECHO_DUMP") {
        let b = |x: &[i16]| x.iter().flat_map(|s| s.to_le_bytes()).collect::<Vec<u8>>();
        std::fs::write(format!("{dir}/mic.raw"), b(&mic)).unwrap();
        std::fs::write(format!("{dir}/out.raw"), b(&out)).unwrap();
        std::fs::write(format!("{dir}/far.raw"), b(&far)).unwrap();
    }
    if std::env::var("ECHO_DIAG").is_ok() {
        let blocks: Vec<String> = (0..19)
            .map(|b| {
                let r = ms(b * 500)..ms(b * 500 + 500);
                format!("{:.1}", db(energy(&mic[r.clone()]) / energy(&out[r]).max(1.0)))
            })
            .collect();
        let rms = |x: &[i16]| (energy(x) / x.len() as f64).sqrt();
        println!(
            "  per-500ms in/out dB: {}; echo rms {:.0}, tone rms {:.0}, out rms 3-6s {:.1}",
            blocks.join(" "),
            rms(&mic[ms(3000)..ms(6000)]),
            tone_amp as f64 * 32767.0 / 2f64.sqrt(),
            rms(&out[ms(3000)..ms(6000)])
        );
        // Residual above 8 kHz (first difference as a crude high-pass) vs total.
        let hp: Vec<i16> = out[ms(3000)..ms(6000)].windows(2).map(|w| (w[1] as i32 - w[0] as i32).clamp(-32768, 32767) as i16).collect();
        let hpi: Vec<i16> = mic[ms(3000)..ms(6000)].windows(2).map(|w| (w[1] as i32 - w[0] as i32).clamp(-32768, 32767) as i16).collect();
        println!("  differenced (HF-weighted) in/out dB: {:.1}, out dominant {:.0} Hz", db(energy(&hpi) / energy(&hp).max(1.0)), dominant_frequency(&out[ms(3000)..ms(6000)], SAMPLE_RATE));
    }

    let far_only = ms(3_000)..ms(6_000);
    let double_talk = ms(6_500)..ms(8_000);
    let near_alone = ms(8_500)..ms(9_500);
    let tone_in = tone_amplitude(&near_tone[double_talk.clone()], NEAR_HZ);
    let f = Figures {
        erle_db: db(energy(&mic[far_only.clone()]) / energy(&out[far_only]).max(1.0)),
        double_talk_hz: dominant_frequency(&out[double_talk.clone()], SAMPLE_RATE),
        near_alone_hz: dominant_frequency(&out[near_alone.clone()], SAMPLE_RATE),
        double_talk_tone_db: db((tone_amplitude(&out[double_talk], NEAR_HZ) / tone_in).powi(2)),
        near_alone_tone_db: db((tone_amplitude(&out[near_alone], NEAR_HZ) / tone_in).powi(2)),
    };
    println!(
        "{far_kind} far end, room delay {room_delay_ms} ms, hint {} ms, {:?}/{:?}: \
         ERLE {:.1} dB (library's own estimate {} dB, delay median {} ms); \
         double talk: dominant {:.1} Hz, 440 Hz component {:+.1} dB; \
         near end alone: dominant {:.1} Hz, 440 Hz component {:+.1} dB",
        config.delay_ms,
        config.echo_suppression,
        config.noise_suppression,
        f.erle_db,
        stats.erle_db,
        stats.delay_median_ms,
        f.double_talk_hz,
        f.double_talk_tone_db,
        f.near_alone_hz,
        f.near_alone_tone_db,
    );
    f
}

#[test]
fn echo_explore() {
    for (da, ef, hint) in [(true, true, 40)] {
        let config = EchoConfig {
            noise_suppression: NoiseSuppression::Off,
            echo_suppression: EchoSuppression::Moderate,
            delay_ms: hint,
            delay_agnostic: da,
            extended_filter: ef,
            ..EchoConfig::default()
        };
        println!("delay agnostic {da}, extended {ef}");
        run("speech", config, 40, 0.1);
    }
}
