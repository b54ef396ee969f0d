//! Opus through libopus: tones keep their pitch through encode/decode, loss concealment
//! gives a full frame, bad input gives errors. Figures print with `-- --nocapture`.

use media::{
    FRAME_SAMPLES, MediaError, OpusDecoder, OpusEncoder, SAMPLE_RATE, dominant_frequency,
    speech_like_noise, tone,
};

fn rms(x: &[i16]) -> f64 {
    (x.iter().map(|&s| (s as f64).powi(2)).sum::<f64>() / x.len().max(1) as f64).sqrt()
}

/// Encodes `input` frame by frame and decodes it; returns (decoded samples, packet sizes).
fn round_trip(input: &[i16], bitrate: i32) -> (Vec<i16>, Vec<usize>) {
    let mut enc = OpusEncoder::new(bitrate).unwrap();
    let mut dec = OpusDecoder::new().unwrap();
    let mut out = Vec::new();
    let mut sizes = Vec::new();
    for frame in input.chunks_exact(FRAME_SAMPLES) {
        let packet = enc.encode(frame).unwrap();
        sizes.push(packet.len());
        let pcm = dec.decode(&packet).unwrap();
        assert_eq!(pcm.len(), FRAME_SAMPLES);
        out.extend(pcm);
    }
    (out, sizes)
}

fn tone_keeps_its_pitch(freq: f32) {
    let input = tone(freq, SAMPLE_RATE, SAMPLE_RATE as usize, 0.5); // 1 s, 50 frames
    let (out, sizes) = round_trip(&input, 32_000);
    // Skip the first 100 ms (the codec's look-ahead delay and start-up).
    let settled = &out[5 * FRAME_SAMPLES..];
    let f = dominant_frequency(settled, SAMPLE_RATE);
    let ratio = rms(settled) / rms(&input[5 * FRAME_SAMPLES..]);
    let bytes: usize = sizes.iter().sum();
    println!(
        "{freq} Hz tone at 32 kbit/s: decoded dominant {f:.2} Hz, level {ratio:.3}× the input, \
         packets {}..{} bytes ({:.1} kbit/s)",
        sizes.iter().min().unwrap(),
        sizes.iter().max().unwrap(),
        bytes as f64 * 8.0 / 1000.0
    );
    assert!((f - freq).abs() <= 10.0, "{freq} Hz came back as {f} Hz");
    assert!((0.5..1.5).contains(&ratio), "level {ratio}");
}

#[test]
fn opus_440hz_tone_keeps_its_pitch() {
    tone_keeps_its_pitch(440.0);
}

#[test]
fn opus_1khz_tone_keeps_its_pitch() {
    tone_keeps_its_pitch(1000.0);
}

#[test]
fn opus_float_input_matches_the_tone() {
    let input: Vec<f32> = tone(440.0, SAMPLE_RATE, 25 * FRAME_SAMPLES, 0.5)
        .iter()
        .map(|&s| s as f32 / 32768.0)
        .collect();
    let mut enc = OpusEncoder::new(32_000).unwrap();
    let mut dec = OpusDecoder::new().unwrap();
    let mut out = Vec::new();
    for frame in input.chunks_exact(FRAME_SAMPLES) {
        out.extend(dec.decode(&enc.encode_f32(frame).unwrap()).unwrap());
    }
    let f = dominant_frequency(&out[5 * FRAME_SAMPLES..], SAMPLE_RATE);
    assert!((f - 440.0).abs() <= 10.0, "{f}");
}

#[test]
fn opus_decode_lost_conceals_a_whole_frame() {
    let input = tone(440.0, SAMPLE_RATE, 20 * FRAME_SAMPLES, 0.5);
    let mut enc = OpusEncoder::new(32_000).unwrap();
    let mut dec = OpusDecoder::new().unwrap();
    let mut last = Vec::new();
    for frame in input.chunks_exact(FRAME_SAMPLES) {
        last = dec.decode(&enc.encode(frame).unwrap()).unwrap();
    }
    let lost = dec.decode_lost().unwrap();
    assert_eq!(lost.len(), FRAME_SAMPLES);
    let f = dominant_frequency(&lost, SAMPLE_RATE);
    println!(
        "concealed frame: {} samples, level {:.0} (last real frame {:.0}), dominant {f:.1} Hz",
        lost.len(),
        rms(&lost),
        rms(&last)
    );
    assert!(
        rms(&lost) > 0.1 * rms(&last),
        "concealment continues the sound"
    );
    // A second loss in a row, then real packets again.
    assert_eq!(dec.decode_lost().unwrap().len(), FRAME_SAMPLES);
    assert_eq!(
        dec.decode(&enc.encode(&input[..FRAME_SAMPLES]).unwrap())
            .unwrap()
            .len(),
        FRAME_SAMPLES
    );
    // A fresh decoder conceals with silence, still a whole frame.
    assert_eq!(
        OpusDecoder::new().unwrap().decode_lost().unwrap(),
        vec![0; FRAME_SAMPLES]
    );
}

#[test]
fn opus_speech_like_noise_bitrate() {
    let input = speech_like_noise(SAMPLE_RATE, 2 * SAMPLE_RATE as usize, 3);
    for bitrate in [16_000, 32_000] {
        let (out, sizes) = round_trip(&input, bitrate);
        let kbps = sizes.iter().sum::<usize>() as f64 * 8.0 / 2.0 / 1000.0;
        let ratio = rms(&out) / rms(&input);
        println!(
            "speech-like noise, 2 s at {bitrate} bit/s: {kbps:.1} kbit/s sent, decoded level {ratio:.2}× the input"
        );
        assert!(kbps < bitrate as f64 / 1000.0 * 1.5, "{kbps} kbit/s");
        assert!((0.5..1.5).contains(&ratio), "level {ratio}");
    }
}

#[test]
fn opus_bad_input_gives_errors() {
    let mut enc = OpusEncoder::new(32_000).unwrap();
    assert!(matches!(
        enc.encode(&[0; 100]),
        Err(MediaError::BufferLength {
            expected: 960,
            got: 100,
            ..
        })
    ));
    assert!(matches!(
        enc.encode_f32(&[0.0; 961]),
        Err(MediaError::BufferLength { .. })
    ));
    assert!(matches!(
        OpusEncoder::new(100),
        Err(MediaError::InvalidConfig(_))
    ));
    assert!(enc.set_bitrate(24_000).is_ok());
    let mut dec = OpusDecoder::new().unwrap();
    assert_eq!(dec.decode(&[]), Err(MediaError::EmptyPacket));
    // TOC code 3 ("arbitrary number of frames") with a frame count of 0 is invalid.
    let err = dec.decode(&[0x03, 0x00]).unwrap_err();
    println!("invalid packet: {err}");
    assert!(matches!(err, MediaError::Opus { code: -4, .. }), "{err:?}");
    // Random bytes: most are valid Opus (the format has little redundancy); never a panic,
    // and the decoder keeps working.
    let mut s = 0x1234_5678_9abc_def1u64;
    let (mut ok, mut bad) = (0, 0);
    for n in 1..60 {
        let junk: Vec<u8> = (0..n * 7)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                s as u8
            })
            .collect();
        match dec.decode(&junk) {
            Ok(_) => ok += 1,
            Err(_) => bad += 1,
        }
    }
    println!("random packets: {ok} decoded, {bad} errors");
    assert_eq!(
        dec.decode(&enc.encode(&[0; FRAME_SAMPLES]).unwrap())
            .unwrap()
            .len(),
        FRAME_SAMPLES
    );
}
