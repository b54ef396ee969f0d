//! Speed of the video path (ignored by default; run in release):
//!
//! ```sh
//! cargo test -p media --release --test bench -- --ignored --nocapture
//! ```
//!
//! A camera-like sequence: the astronaut photo at 640×480, panned a little every frame,
//! scaled down to the send size, encoded, decoded. Prints milliseconds per frame for each
//! step (single-threaded libvpx, realtime speed -6), the bitrate reached and the PSNR.

mod common;

use std::time::Instant;

use media::{EncoderConfig, Vp8Decoder, Vp8Encoder, downscale_rgb, psnr};

#[test]
#[ignore = "a benchmark: run in release with --ignored --nocapture"]
fn vp8_ms_per_frame() {
    let full = common::astronaut_512();
    let frames = 150u32;
    // 640×480 camera pictures: a 4:3 window of the photo moving 1 row per frame, upscaled.
    let camera: Vec<Vec<u8>> = (0..frames)
        .map(|i| {
            let top = (i % 128) as usize;
            downscale_rgb(
                &full[top * 512 * 3..(top + 384) * 512 * 3],
                512,
                384,
                640,
                480,
            )
            .unwrap()
        })
        .collect();
    for (w, h, kbps) in [(320u32, 240u32, 500u32), (480, 360, 800)] {
        let fps = 30;
        let mut enc = Vp8Encoder::new(EncoderConfig {
            width: w,
            height: h,
            fps,
            bitrate_kbps: kbps,
            keyframe_interval: 300,
        })
        .unwrap();
        let mut dec = Vp8Decoder::new().unwrap();
        let (mut t_scale, mut t_enc, mut t_dec) = (0.0, 0.0, 0.0);
        let (mut bytes, mut psnr_sum) = (0usize, 0.0);
        for pic in &camera {
            let t = Instant::now();
            let small = downscale_rgb(pic, 640, 480, w, h).unwrap();
            t_scale += t.elapsed().as_secs_f64();
            let t = Instant::now();
            let out = enc.encode(&small, false).unwrap();
            t_enc += t.elapsed().as_secs_f64();
            for f in out {
                bytes += f.data.len();
                let t = Instant::now();
                let img = dec.decode(&f.data).unwrap().unwrap();
                t_dec += t.elapsed().as_secs_f64();
                psnr_sum += psnr(&img.rgb, &small);
            }
        }
        let n = frames as f64;
        println!(
            "{w}x{h} @ {fps} fps, {kbps} kbit/s: downscale 640x480→{w}x{h} {:.2} ms, encode (incl. RGB→I420) {:.2} ms, \
             decode (incl. I420→RGB) {:.2} ms per frame; {:.0} kbit/s reached, mean PSNR {:.2} dB",
            t_scale / n * 1e3,
            t_enc / n * 1e3,
            t_dec / n * 1e3,
            bytes as f64 * 8.0 / (n / fps as f64) / 1000.0,
            psnr_sum / n
        );
    }
}
