//! Echo cancellation through the WebRTC audio-processing module: a far-end signal played
//! "through the speaker" comes back through a simulated room (delay, attenuation, two
//! decaying reflections) into the microphone together with a near-end tone; the canceller
//! must take the echo down by ≥ 20 dB and leave the tone. Figures print with
//! `-- --nocapture`. Everything is sample-driven (10 ms frames in real order), no clock.

use media::{
    ECHO_FRAME_SAMPLES, EchoCanceller, EchoConfig, EchoSuppression, MediaError, NoiseSuppression,
    SAMPLE_RATE, dominant_frequency, speech_like_noise, tone,
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
    let taps = [
        (ms(delay_ms), 0.5),
        (ms(delay_ms + 7), 0.2),
        (ms(delay_ms + 16), 0.1),
    ];
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

/// A talker's on/off pattern: 400 ms on, 200 ms off, 20 ms raised-cosine ramps.
fn talk_envelope(i: usize) -> f64 {
    let t = i % ms(600);
    let ramp = ms(20) as f64;
    if t >= ms(400) {
        0.0
    } else {
        let edge = (t as f64).min((ms(400) - t) as f64);
        if edge >= ramp {
            1.0
        } else {
            0.5 - 0.5 * (std::f64::consts::PI * edge / ramp).cos()
        }
    }
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
fn run(far_kind: &str, config: EchoConfig, room_delay_ms: usize) -> Figures {
    let n = ms(9_500);
    let mut far = match far_kind {
        "speech" => speech_like_noise(SAMPLE_RATE, n, 11),
        "music" => music_like(n),
        _ => unreachable!(),
    };
    far[ms(8_000)..].fill(0);
    let echo = room(&far, room_delay_ms);
    // The near-end talker: a 440 Hz tone at 0.1 of full scale (9 dB above the echo at the
    // microphone: the talker sits closer to it than the speaker), switched on and off like
    // speech. A *steady* tone is what noise suppression is made to remove (it loses ~6 dB
    // within a second or two with NoiseSuppression::Moderate), so it would measure the
    // noise suppressor rather than the echo canceller.
    let mut near_tone = tone(NEAR_HZ, SAMPLE_RATE, n, 0.1);
    for (i, s) in near_tone.iter_mut().enumerate() {
        *s = (*s as f64 * talk_envelope(i)).round() as i16;
    }
    let mic: Vec<i16> = (0..n)
        .map(|i| {
            let near = if i >= ms(6_000) {
                near_tone[i] as f64
            } else {
                0.0
            };
            (echo[i] + near)
                .round()
                .clamp(i16::MIN as f64, i16::MAX as f64) as i16
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

/// The settings the game uses (and [`EchoConfig::default`]): low echo suppression, which
/// ducks the near end least during double talk (Moderate took the tone down by 12 dB
/// instead of 6 dB against speech, 24 dB instead of 12 dB against music), and moderate noise
/// suppression, which also removes the AEC's comfort noise (without it the output keeps a
/// steady floor ~19 dB under the echo even in the far end's pauses, and the ERLE stops at
/// ~19 dB).
fn game_config(delay_ms: u16) -> EchoConfig {
    EchoConfig {
        noise_suppression: NoiseSuppression::Moderate,
        echo_suppression: EchoSuppression::Low,
        delay_ms,
        delay_agnostic: true,
        extended_filter: true,
        high_pass_filter: true,
    }
}

/// The checks of the issue: echo down ≥ 20 dB; the near-end tone is the dominant frequency
/// (±10 Hz) in double talk and alone; alone it keeps its level within 3 dB (measured
/// −0.6..+0.3 dB); in double talk the canceller's non-linear stage ducks it by a measured
/// ~6 dB (speech) / ~12 dB (music), bounded here with 3–4 dB of margin.
fn check(f: &Figures, min_double_talk_db: f64) {
    assert!(f.erle_db >= 20.0, "ERLE {:.1} dB < 20 dB", f.erle_db);
    assert!(
        (f.double_talk_hz - NEAR_HZ).abs() <= 10.0,
        "double talk dominant {:.1} Hz",
        f.double_talk_hz
    );
    assert!(
        (f.near_alone_hz - NEAR_HZ).abs() <= 10.0,
        "near end alone dominant {:.1} Hz",
        f.near_alone_hz
    );
    assert!(
        f.near_alone_tone_db.abs() <= 3.0,
        "near end alone: tone {:+.1} dB",
        f.near_alone_tone_db
    );
    assert!(
        f.double_talk_tone_db >= min_double_talk_db,
        "double talk: tone {:+.1} dB < {min_double_talk_db} dB",
        f.double_talk_tone_db
    );
}

#[test]
fn echo_speech_far_end_is_cancelled_and_near_tone_survives() {
    let f = run("speech", game_config(40), 40);
    check(&f, -10.0);
}

#[test]
fn echo_music_far_end_is_cancelled_and_near_tone_survives() {
    let f = run("music", game_config(40), 40);
    check(&f, -16.0);
}

/// The game does not know its output and input buffering exactly: a hint 40 ms off (0 ms for
/// a 40 ms echo path) gives the same figures: the delay-agnostic canceller finds the delay.
#[test]
fn echo_wrong_delay_hint_is_found() {
    let f = run("speech", game_config(0), 40);
    check(&f, -10.0);
}

#[test]
fn echo_default_config_is_the_tested_one() {
    assert_eq!(EchoConfig::default(), game_config(50));
}

#[test]
fn echo_wrong_buffer_length_is_an_error() {
    let mut aec = EchoCanceller::new(EchoConfig::default()).expect("create");
    let far = vec![0i16; ECHO_FRAME_SAMPLES + 1];
    assert_eq!(
        aec.render(&far),
        Err(MediaError::BufferLength {
            what: "echo render",
            expected: ECHO_FRAME_SAMPLES,
            got: ECHO_FRAME_SAMPLES + 1
        })
    );
    let mut near = vec![7i16; 100];
    assert!(matches!(
        aec.capture(&mut near),
        Err(MediaError::BufferLength { got: 100, .. })
    ));
    assert!(
        near.iter().all(|&s| s == 7),
        "a refused buffer is left as it was"
    );
    // Whole frames, several at once, and nothing at all are fine.
    aec.render(&vec![0; 3 * ECHO_FRAME_SAMPLES])
        .expect("3 frames");
    aec.capture(&mut vec![0; 3 * ECHO_FRAME_SAMPLES])
        .expect("3 frames");
    aec.render(&[]).expect("no frames");
    aec.capture(&mut []).expect("no frames");
}

/// Steady white noise alone (no far end) at −30 dBFS RMS: after 2 s the noise suppressor has
/// taken it down by a measured 12.4 dB; asserted ≥ 6 dB.
#[test]
fn echo_noise_suppression_reduces_steady_noise() {
    let n = ms(4_000);
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let noise: Vec<i16> = (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // Uniform in ±1037: RMS 1037/√3 ≈ 599 ≈ −35 dBFS.
            ((state >> 11) as f64 / (1u64 << 53) as f64 * 2074.0 - 1037.0).round() as i16
        })
        .collect();
    let mut aec = EchoCanceller::new(EchoConfig::default()).expect("create");
    let mut out = noise.clone();
    let silence = [0i16; ECHO_FRAME_SAMPLES];
    for frame in out.chunks_exact_mut(ECHO_FRAME_SAMPLES) {
        aec.render(&silence).expect("render");
        aec.capture(frame).expect("capture");
    }
    let last = ms(2_000)..n;
    let reduction = db(energy(&noise[last.clone()]) / energy(&out[last]).max(1.0));
    println!(
        "steady white noise (−35 dBFS), NoiseSuppression::Moderate: reduced by {reduction:.1} dB"
    );
    assert!(reduction >= 6.0, "noise reduced by only {reduction:.1} dB");
}

#[test]
fn echo_canceller_is_send() {
    fn send<T: Send>() {}
    send::<EchoCanceller>();
}
