//! VP8 through libvpx: round trips on a real photo and on a moving synthetic picture,
//! bitrate adaptation, loss and keyframe recovery, corrupt input. Deterministic (libvpx's
//! one-pass realtime encoder gives the same bytes for the same input); no timing asserts.
//! Figures print with `cargo test -p media --test video -- --nocapture`.

mod common;

use common::*;
use media::{
    EncoderConfig, MediaError, Vp8Decoder, Vp8Encoder, i420_to_rgb, is_vp8_keyframe, psnr,
    rgb_to_i420,
};

fn config(width: u32, height: u32, fps: u32, bitrate_kbps: u32) -> EncoderConfig {
    EncoderConfig {
        width,
        height,
        fps,
        bitrate_kbps,
        keyframe_interval: 300,
    }
}

#[test]
fn vp8_round_trip_on_the_astronaut_320x240() {
    let (w, h) = (320, 240);
    let picture = astronaut(w, h, 32);
    let raw = picture.len();
    // The colour conversion alone (4:2:0 chroma) is the ceiling for any codec here.
    let mut yuv = Vec::new();
    rgb_to_i420(&picture, w, h, &mut yuv).unwrap();
    let ceiling = psnr(&i420_to_rgb(&yuv, w, h).unwrap(), &picture);
    println!("astronaut {w}x{h}: RGB→I420→RGB alone {ceiling:.2} dB; raw RGB frame {raw} bytes");

    let mut enc = Vp8Encoder::new(config(w, h, 30, 500)).unwrap();
    let mut dec = Vp8Decoder::new().unwrap();
    let mut sizes = Vec::new();
    for i in 0..30 {
        let f = encode_one(&mut enc, &picture, false);
        assert_eq!(f.pts, i);
        if i == 0 {
            assert!(
                f.keyframe && is_vp8_keyframe(&f.data),
                "the first frame is a keyframe"
            );
        } else {
            assert!(
                !f.keyframe && !is_vp8_keyframe(&f.data),
                "frame {i} is a delta frame"
            );
        }
        let img = dec.decode(&f.data).unwrap().expect("a picture per packet");
        assert_eq!((img.width, img.height), (w, h));
        let p = psnr(&img.rgb, &picture);
        println!(
            "frame {i:2}: {:6} bytes ({}), PSNR {p:.2} dB",
            f.data.len(),
            if f.keyframe { "key" } else { "delta" }
        );
        if i >= 3 {
            assert!(p >= 30.0, "frame {i}: PSNR {p:.2} dB < 30");
        }
        sizes.push(f.data.len());
    }
    let total: usize = sizes.iter().sum();
    println!(
        "30 frames: {total} bytes ({:.0} per frame, keyframe {}), raw {} — {:.0}× smaller",
        total as f64 / 30.0,
        sizes[0],
        raw * 30,
        (raw * 30) as f64 / total as f64
    );
    assert!(
        sizes[0] * 10 < raw,
        "keyframe {} bytes vs raw {raw}",
        sizes[0]
    );
    assert!(
        total * 50 < raw * 30,
        "30 packets {total} bytes vs raw {}",
        raw * 30
    );
}

#[test]
fn vp8_moving_picture_at_15fps_hits_quality_and_bitrate() {
    let (w, h, fps, target) = (320, 240, 15, 400);
    let mut enc = Vp8Encoder::new(config(w, h, fps, target)).unwrap();
    let mut dec = Vp8Decoder::new().unwrap();
    let mut frames = Vec::new();
    let mut psnrs = Vec::new();
    for i in 0..90 {
        let picture = moving(w, h, i);
        let f = encode_one(&mut enc, &picture, false);
        let p = decode_psnr(&mut dec, &f.data, &picture).unwrap();
        psnrs.push(p);
        frames.push(f);
    }
    let min_after = psnrs[3..].iter().cloned().fold(f64::INFINITY, f64::min);
    let mean = psnrs.iter().sum::<f64>() / psnrs.len() as f64;
    let all = kbps(&frames, fps);
    let steady = kbps(&frames[15..], fps);
    println!(
        "moving {w}x{h} @ {fps} fps, target {target} kbit/s: {all:.0} kbit/s over 6 s (keyframe {} bytes), \
         {steady:.0} kbit/s after the first second; PSNR mean {mean:.2} dB, min after frame 3 {min_after:.2} dB",
        frames[0].data.len()
    );
    for (i, (f, p)) in frames.iter().zip(&psnrs).enumerate().step_by(10) {
        println!("  frame {i:2}: {:5} bytes, PSNR {p:.2} dB", f.data.len());
    }
    assert!(min_after >= 30.0, "PSNR fell to {min_after:.2} dB");
    assert!(
        (0.6 * target as f64..=1.4 * target as f64).contains(&steady),
        "steady bitrate {steady:.0} kbit/s vs target {target}"
    );
}

#[test]
fn lowering_the_bitrate_lowers_the_bytes_per_frame() {
    let (w, h, fps) = (320, 240, 30);
    let mut high = Vp8Encoder::new(config(w, h, fps, 800)).unwrap();
    let mut lowered = Vp8Encoder::new(config(w, h, fps, 800)).unwrap();
    let mut dec_high = Vp8Decoder::new().unwrap();
    let mut dec_low = Vp8Decoder::new().unwrap();
    let (mut fh, mut fl, mut ph, mut pl) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 0..120 {
        if i == 30 {
            lowered.set_bitrate(200).unwrap();
            assert_eq!(lowered.config().bitrate_kbps, 200);
        }
        let picture = moving(w, h, i);
        let a = encode_one(&mut high, &picture, false);
        let b = encode_one(&mut lowered, &picture, false);
        ph.push(decode_psnr(&mut dec_high, &a.data, &picture).unwrap());
        pl.push(decode_psnr(&mut dec_low, &b.data, &picture).unwrap());
        fh.push(a);
        fl.push(b);
    }
    let bytes = |f: &[media::EncodedFrame]| {
        f.iter().map(|f| f.data.len()).sum::<usize>() as f64 / f.len() as f64
    };
    let mean = |p: &[f64]| p.iter().sum::<f64>() / p.len() as f64;
    println!(
        "frames 0..30, both at 800 kbit/s: {:.0} vs {:.0} bytes/frame",
        bytes(&fh[..30]),
        bytes(&fl[..30])
    );
    println!(
        "frames 60..120, 800 vs lowered to 200 kbit/s: {:.0} vs {:.0} bytes/frame ({:.0} vs {:.0} kbit/s), PSNR {:.2} vs {:.2} dB",
        bytes(&fh[60..]),
        bytes(&fl[60..]),
        kbps(&fh[60..], fps),
        kbps(&fl[60..], fps),
        mean(&ph[60..]),
        mean(&pl[60..])
    );
    assert_eq!(
        bytes(&fh[..30]),
        bytes(&fl[..30]),
        "identical until the change"
    );
    assert!(
        bytes(&fl[60..]) < 0.5 * bytes(&fh[60..]),
        "lowered bitrate must shrink the frames"
    );
    assert!(
        Vp8Encoder::new(config(w, h, fps, 800))
            .unwrap()
            .set_bitrate(0)
            .is_err()
    );
}

#[test]
fn a_lost_delta_frame_is_repaired_by_a_forced_keyframe() {
    let (w, h, fps) = (320, 240, 15);
    let mut enc = Vp8Encoder::new(config(w, h, fps, 500)).unwrap();
    let mut dec = Vp8Decoder::new().unwrap();
    let lost = 10;
    let keyframe_at = 16;
    for i in 0..26 {
        let picture = moving(w, h, i);
        let f = encode_one(&mut enc, &picture, i == keyframe_at);
        if i == lost {
            println!("frame {i}: {} bytes — dropped", f.data.len());
            continue;
        }
        let r = decode_psnr(&mut dec, &f.data, &picture);
        match &r {
            Ok(p) => println!(
                "frame {i}: {} bytes{}, PSNR {p:.2} dB",
                f.data.len(),
                if f.keyframe { " (key)" } else { "" }
            ),
            Err(e) => println!("frame {i}: {} bytes, decode error: {e}", f.data.len()),
        }
        if i < lost {
            let p = r.unwrap();
            assert!(i < 3 || p >= 30.0, "frame {i}: PSNR {p:.2} dB");
        } else if i >= keyframe_at {
            assert_eq!(f.keyframe, i == keyframe_at, "frame {i}");
            let p = r.expect("decoding resumes at the keyframe");
            assert!(p >= 30.0, "frame {i} after the keyframe: PSNR {p:.2} dB");
        }
        // Between the loss and the keyframe either outcome is allowed (error or a picture
        // built on a stale reference); what matters is no panic and recovery after.
    }
}

/// A small deterministic generator for corrupt input.
fn noise(seed: u64, n: usize) -> Vec<u8> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 24) as u8
        })
        .collect()
}

#[test]
fn corrupt_and_truncated_packets_are_errors_not_panics() {
    let (w, h) = (320, 240);
    let picture = astronaut(w, h, 32);
    let mut enc = Vp8Encoder::new(config(w, h, 30, 500)).unwrap();
    let key = encode_one(&mut enc, &picture, false);
    let delta = encode_one(&mut enc, &picture, false);
    assert!(key.keyframe);

    // A fresh decoder: random bytes, including ones posing as a keyframe.
    for seed in 0..20u64 {
        let mut dec = Vp8Decoder::new().unwrap();
        let mut junk = noise(seed, 50 + seed as usize * 97);
        if seed % 2 == 0 {
            junk[0] &= !1; // frame tag says "keyframe"
            junk[3..6].copy_from_slice(&[0x9d, 0x01, 0x2a]); // with a valid start code
        }
        let r = dec.decode(&junk);
        assert!(
            r.is_err(),
            "seed {seed}: random bytes gave {:?}",
            r.map(|o| o.map(|i| (i.width, i.height)))
        );
    }
    let mut dec = Vp8Decoder::new().unwrap();
    assert_eq!(dec.decode(&[]), Err(MediaError::EmptyPacket));

    // Truncated keyframes.
    let n = key.data.len();
    for cut in [1, 3, 6, 9, 10, 20, 100, n / 4, n / 2] {
        let r = dec.decode(&key.data[..cut]);
        println!(
            "keyframe cut to {cut}/{n} bytes: {}",
            match &r {
                Ok(_) => "a picture".to_owned(),
                Err(e) => format!("error: {e}"),
            }
        );
        assert!(
            r.is_err(),
            "a keyframe cut to {cut} of {n} bytes must be an error"
        );
    }
    // The decoder still works on the whole keyframe and the delta after it.
    let p = decode_psnr(&mut dec, &key.data, &picture).unwrap();
    assert!(p >= 30.0, "after corrupt input: PSNR {p:.2}");
    let p = decode_psnr(&mut dec, &delta.data, &picture).unwrap();
    assert!(p >= 30.0, "delta after recovery: PSNR {p:.2}");

    // A working decoder fed junk and damaged deltas: errors or pictures, never a panic;
    // then the next keyframe brings the picture back.
    let mut outcomes = (0, 0);
    for seed in 0..20u64 {
        let mut bad = if seed % 2 == 0 {
            noise(seed + 100, 30 + seed as usize * 50)
        } else {
            delta.data.clone()
        };
        if seed % 2 == 1 {
            for (k, b) in noise(seed, bad.len()).iter().enumerate().skip(3) {
                if k % 3 == 0 {
                    bad[k] ^= b;
                }
            }
        }
        match dec.decode(&bad) {
            Ok(_) => outcomes.0 += 1,
            Err(_) => outcomes.1 += 1,
        }
    }
    println!(
        "junk and damaged deltas to a working decoder: {} pictures, {} errors",
        outcomes.0, outcomes.1
    );
    let key2 = encode_one(&mut enc, &picture, true);
    assert!(key2.keyframe);
    let after_junk = dec.decode(&key2.data).unwrap().expect("a picture");
    let fresh = Vp8Decoder::new()
        .unwrap()
        .decode(&key2.data)
        .unwrap()
        .expect("a picture");
    println!(
        "keyframe after the junk: PSNR {:.2} dB vs the source (a keyframe forced right after the first one gets few bits)",
        psnr(&after_junk.rgb, &picture)
    );
    assert_eq!(
        after_junk, fresh,
        "after junk the keyframe decodes exactly as on a fresh decoder"
    );
}

#[test]
fn bad_encoder_settings_and_inputs_are_errors() {
    assert!(matches!(
        Vp8Encoder::new(config(321, 240, 30, 500)),
        Err(MediaError::InvalidSize { .. })
    ));
    assert!(matches!(
        Vp8Encoder::new(config(0, 240, 30, 500)),
        Err(MediaError::InvalidSize { .. })
    ));
    assert!(matches!(
        Vp8Encoder::new(config(320, 240, 0, 500)),
        Err(MediaError::InvalidConfig(_))
    ));
    assert!(matches!(
        Vp8Encoder::new(config(320, 240, 30, 0)),
        Err(MediaError::InvalidConfig(_))
    ));
    let mut enc = Vp8Encoder::new(config(64, 48, 30, 100)).unwrap();
    assert!(matches!(
        enc.encode(&[0; 100], false),
        Err(MediaError::BufferLength { .. })
    ));
    // Still fine afterwards.
    assert_eq!(enc.encode(&vec![128; 64 * 48 * 3], false).unwrap().len(), 1);
}

#[test]
fn keyframe_interval_zero_means_only_forced_keyframes() {
    let (w, h) = (64, 48);
    let mut enc = Vp8Encoder::new(EncoderConfig {
        width: w,
        height: h,
        fps: 30,
        bitrate_kbps: 100,
        keyframe_interval: 0,
    })
    .unwrap();
    let mut auto = Vp8Encoder::new(EncoderConfig {
        width: w,
        height: h,
        fps: 30,
        bitrate_kbps: 100,
        keyframe_interval: 10,
    })
    .unwrap();
    let (mut keys, mut auto_keys) = (Vec::new(), Vec::new());
    for i in 0..40 {
        let picture = moving(w, h, i);
        if encode_one(&mut enc, &picture, i == 25).keyframe {
            keys.push(i);
        }
        if encode_one(&mut auto, &picture, false).keyframe {
            auto_keys.push(i);
        }
    }
    println!("keyframes, interval 0 (forced at 25): {keys:?}; interval 10: {auto_keys:?}");
    assert_eq!(keys, vec![0, 25]);
    assert!(auto_keys.len() >= 4, "{auto_keys:?}");
}

#[test]
fn codecs_move_to_a_background_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<Vp8Encoder>();
    assert_send::<Vp8Decoder>();
    assert_send::<media::OpusEncoder>();
    assert_send::<media::OpusDecoder>();
    // The client's shape: packets in over a channel, pictures out, on a decode thread.
    let (w, h) = (64, 48);
    let mut enc = Vp8Encoder::new(config(w, h, 30, 200)).unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    let mut dec = Vp8Decoder::new().unwrap();
    let worker = std::thread::spawn(move || {
        let mut n = 0;
        for packet in rx {
            if dec.decode(&packet).unwrap().is_some() {
                n += 1;
            }
        }
        n
    });
    for i in 0..10 {
        tx.send(encode_one(&mut enc, &moving(w, h, i), false).data)
            .unwrap();
    }
    drop(tx);
    assert_eq!(worker.join().unwrap(), 10);
}
