//! The video call's transport: two meshes with `Config::video` (and one test with
//! `Config::voice`) through the real server on loopback. A encodes the astronaut photo (a 4:3 window panning one row a frame, 320×240)
//! with libvpx and sends the frames on its video track; B decodes what arrives and compares
//! it with what was sent. Figures print with `-- --nocapture`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use media::{EncoderConfig, Vp8Decoder, Vp8Encoder, downscale_rgb, psnr};
use mesh::harness::form_room;
use mesh::relay::LossyRelays;
use mesh::{Command, Config, Event, MeshHandle, PeerId};
use shared::protocol::signal::RoomSettings;

const TIMEOUT: Duration = Duration::from_secs(30);
const W: u32 = 320;
const H: u32 = 240;
const FPS: u32 = 30;

/// `n` camera-like pictures: a 512×384 window of the 512×512 photo starting at row `i`
/// (modulo 129), scaled to 320×240.
fn pictures(n: usize) -> Vec<Vec<u8>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/testdata/images/astronaut.png");
    let full = image::open(path).expect("reading astronaut.png (/work/shared/testdata/images)").to_rgb8().into_raw();
    (0..n)
        .map(|i| {
            // Every 12 consecutive pictures differ (the matching in `decode_and_compare`).
            let top = i % 129;
            downscale_rgb(&full[top * 512 * 3..(top + 384) * 512 * 3], 512, 384, W, H).expect("scaling")
        })
        .collect()
}

struct Sent {
    /// Keyframe requests A saw (from B), and when the first came after the start.
    requests: u32,
    first_request: Option<Duration>,
    keyframes: u32,
    bytes: usize,
    frames: usize,
}

/// A encodes and sends `pictures[skip..]` at 30 fps; the first `skip` are encoded but not
/// sent (B joins the stream mid-way, without its keyframe). A keyframe request from B makes
/// the next frame a keyframe.
fn send(mut a: MeshHandle, pics: Arc<Vec<Vec<u8>>>, skip: usize, from: PeerId) -> tokio::task::JoinHandle<(Sent, MeshHandle)> {
    tokio::spawn(async move {
        let mut enc = Vp8Encoder::new(EncoderConfig { width: W, height: H, fps: FPS, bitrate_kbps: 800, keyframe_interval: 0 })
            .expect("encoder");
        let mut sent = Sent { requests: 0, first_request: None, keyframes: 0, bytes: 0, frames: 0 };
        let start = Instant::now();
        let mut tick = tokio::time::interval(Duration::from_secs(1) / FPS);
        let mut force = false;
        for (i, pic) in pics.iter().enumerate() {
            tick.tick().await;
            while let Some(event) = a.try_recv() {
                if let Event::KeyframeRequested { by } = event {
                    assert_eq!(by, from);
                    sent.requests += 1;
                    sent.first_request.get_or_insert(start.elapsed());
                    force = true;
                }
            }
            for frame in enc.encode(pic, force && i >= skip).expect("encoding") {
                if i < skip {
                    continue;
                }
                if force {
                    assert!(frame.keyframe, "a forced frame is a keyframe");
                }
                force = false;
                sent.keyframes += u32::from(frame.keyframe);
                sent.bytes += frame.data.len();
                sent.frames += 1;
                a.send(Command::SendVideo { frame: frame.data, keyframe: frame.keyframe, duration: Duration::from_secs(1) / FPS });
            }
        }
        (sent, a)
    })
}

struct Received {
    frames: Vec<(Duration, Vec<u8>, bool)>,
}

/// B collects A's video frames until `expect` arrived or the stream has been quiet for 2 s.
async fn receive(b: &mut MeshHandle, from: PeerId, expect: usize, deadline: Duration) -> Received {
    let start = Instant::now();
    let mut frames = Vec::new();
    let end = tokio::time::Instant::now() + deadline;
    while frames.len() < expect {
        let quiet = tokio::time::Instant::now() + Duration::from_secs(2);
        match tokio::time::timeout_at(end.min(quiet), b.recv()).await {
            Ok(Some(Event::VideoFrame { from: f, data, keyframe })) => {
                assert_eq!(f, from);
                frames.push((start.elapsed(), data, keyframe));
            }
            Ok(Some(Event::Disconnected { reason })) => panic!("b disconnected: {reason}"),
            Ok(Some(_)) => {}
            Ok(None) => panic!("mesh b stopped"),
            Err(_) => break,
        }
    }
    Received { frames }
}

/// Decodes what B received and matches each picture to the sent one it is closest to (the
/// next few after the last match): PSNRs in order, and how many failed to decode.
fn decode_and_compare(received: &Received, pics: &[Vec<u8>]) -> (Vec<f64>, usize) {
    let mut dec = Vp8Decoder::new().expect("decoder");
    let mut psnrs = Vec::new();
    let mut errors = 0;
    let mut last: Option<usize> = None;
    for (_, data, _) in &received.frames {
        match dec.decode(data) {
            Ok(Some(img)) => {
                assert_eq!((img.width, img.height), (W, H));
                let from = last.map_or(0, |l| l + 1);
                let best = (from..(from + 12).min(pics.len()))
                    .map(|i| (i, psnr(&img.rgb, &pics[i])))
                    .max_by(|x, y| x.1.total_cmp(&y.1));
                if let Some((i, p)) = best {
                    if p < 30.0 {
                        eprintln!("received frame {} ({} bytes) best matches sent {i} at {p:.2} dB", psnrs.len(), data.len());
                    }
                    last = Some(i);
                    psnrs.push(p);
                }
            }
            Ok(None) => {}
            Err(_) => errors += 1,
        }
    }
    (psnrs, errors)
}

fn report(name: &str, sent: &Sent, received: &Received, psnrs: &[f64]) {
    let span = match (received.frames.first(), received.frames.last()) {
        (Some(a), Some(b)) if b.0 > a.0 => (b.0 - a.0).as_secs_f64(),
        _ => 0.0,
    };
    let bytes: usize = received.frames.iter().map(|f| f.1.len()).sum();
    let fps = if span > 0.0 { (received.frames.len() - 1) as f64 / span } else { 0.0 };
    let (min, mean) = (
        psnrs.iter().copied().fold(f64::INFINITY, f64::min),
        psnrs.iter().sum::<f64>() / psnrs.len().max(1) as f64,
    );
    eprintln!(
        "{name}: A sent {} frames ({} keyframes, {} bytes, {:.0} kbit/s); B got {} frames ({} keyframes, {bytes} bytes) at {fps:.1} fps; PSNR min {min:.2} dB, mean {mean:.2} dB; keyframe requests at A: {} (first after {:?})",
        sent.frames,
        sent.keyframes,
        sent.bytes,
        sent.bytes as f64 * 8.0 / 1000.0 / (sent.frames as f64 / f64::from(FPS)),
        received.frames.len(),
        received.frames.iter().filter(|f| f.2).count(),
        sent.requests,
        sent.first_request,
    );
}

fn video_config(url: &str, i: usize) -> Config {
    let mut config = Config::new(url.to_owned(), format!("p{i}"));
    config.video = true;
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_sixty_frames_arrive_and_decode_above_30_db() {
    let server = server::spawn(server::Config::ephemeral()).await.unwrap();
    let url = server.ws_url();
    let mut peers = form_room(2, RoomSettings::default(), TIMEOUT, |i| video_config(&url, i)).await.unwrap();
    let (id_b, mut b) = peers.pop().unwrap();
    let (id_a, a) = peers.pop().unwrap();
    let pics = Arc::new(pictures(60));
    let sender = send(a, pics.clone(), 0, id_b);
    let received = receive(&mut b, id_a, 60, TIMEOUT).await;
    let (sent, a) = sender.await.unwrap();
    let (psnrs, errors) = decode_and_compare(&received, &pics);
    report("clean", &sent, &received, &psnrs);
    assert!(received.frames.len() >= 50, "only {} of 60 frames arrived", received.frames.len());
    assert!(received.frames[0].2, "the first frame B gets is a keyframe");
    assert_eq!(errors, 0, "frames failed to decode");
    assert!(psnrs.len() >= 50, "only {} pictures decoded", psnrs.len());
    let min = psnrs.iter().copied().fold(f64::INFINITY, f64::min);
    assert!(min >= 30.0, "PSNR down to {min:.2} dB");
    assert_eq!(b.status().video_received as usize, received.frames.len());
    drop((a, b));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_joining_mid_stream_asks_for_a_keyframe() {
    let server = server::spawn(server::Config::ephemeral()).await.unwrap();
    let url = server.ws_url();
    let mut peers = form_room(2, RoomSettings::default(), TIMEOUT, |i| video_config(&url, i)).await.unwrap();
    let (id_b, mut b) = peers.pop().unwrap();
    let (id_a, a) = peers.pop().unwrap();
    // A's first 5 frames (its keyframe among them) never go out: B starts on delta frames.
    let pics = Arc::new(pictures(65));
    let sender = send(a, pics.clone(), 5, id_b);
    let received = receive(&mut b, id_a, 60, TIMEOUT).await;
    let (sent, a) = sender.await.unwrap();
    let (psnrs, errors) = decode_and_compare(&received, &pics);
    report("mid-stream", &sent, &received, &psnrs);
    assert!(sent.requests >= 1, "A got no keyframe request");
    assert!(sent.keyframes >= 1, "A sent no keyframe");
    assert!(!received.frames.is_empty() && received.frames[0].2, "B's first frame is the requested keyframe");
    assert!(received.frames.len() >= 50, "only {} frames arrived", received.frames.len());
    assert_eq!(errors, 0);
    let min = psnrs.iter().copied().fold(f64::INFINITY, f64::min);
    assert!(min >= 30.0, "PSNR down to {min:.2} dB");
    drop((a, b));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_recovers_at_five_percent_loss() {
    let server = server::spawn(server::Config::ephemeral()).await.unwrap();
    let url = server.ws_url();
    let relays = LossyRelays::new(0.0, 0x71de0);
    let mut peers = form_room(2, RoomSettings::default(), TIMEOUT, |i| {
        let mut config = video_config(&url, i);
        config.candidate_rewrite = Some(relays.candidate_rewrite());
        config
    })
    .await
    .unwrap();
    let (id_b, mut b) = peers.pop().unwrap();
    let (id_a, a) = peers.pop().unwrap();
    relays.set_loss(0.05);
    let (_, dropped_before) = relays.stats().get();
    let n = 150;
    let pics = Arc::new(pictures(n));
    let sender = send(a, pics.clone(), 0, id_b);
    let received = receive(&mut b, id_a, n, TIMEOUT).await;
    let (sent, a) = sender.await.unwrap();
    let (forwarded, dropped) = relays.stats().get();
    let (psnrs, errors) = decode_and_compare(&received, &pics);
    report("5 % loss", &sent, &received, &psnrs);
    eprintln!("relay dropped {} of {} datagrams", dropped - dropped_before, forwarded + dropped);
    assert!(dropped > dropped_before, "the relay dropped nothing: traffic bypassed it");
    assert!(received.frames.len() * 10 >= n * 7, "only {} of {n} frames arrived", received.frames.len());
    assert!(received.frames[0].2, "the first frame B gets is a keyframe");
    assert_eq!(errors, 0, "a frame handed out was not decodable");
    let min = psnrs.iter().copied().fold(f64::INFINITY, f64::min);
    assert!(min >= 30.0, "PSNR down to {min:.2} dB");
    // The last frames arrive: the stream never stalled for good.
    let last_at = received.frames.last().map(|f| f.0).unwrap_or_default();
    assert!(last_at >= Duration::from_secs(4), "the stream stopped after {last_at:?}");
    drop((a, b));
    server.shutdown().await;
}

/// The voice track: A sends two seconds of a 700 Hz tone as 20 ms Opus packets (in real time)
/// through a relay that drops 5 % of the datagrams; B feeds what arrives, as it arrives, to a
/// jitter buffer pulled at the sound card's pace. The tone comes out at its pitch; the lost
/// packets are concealed (FEC or PLC), none is played twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_voice_arrives_at_its_pitch_and_losses_are_concealed() {
    let server = server::spawn(server::Config::ephemeral()).await.unwrap();
    let url = server.ws_url();
    let relays = LossyRelays::new(0.0, 0x0ce5);
    let mut peers = form_room(2, RoomSettings::default(), TIMEOUT, |i| {
        let mut config = Config::new(url.clone(), format!("voice{i}"));
        config.voice = true;
        config.candidate_rewrite = Some(relays.candidate_rewrite());
        config
    })
    .await
    .unwrap();
    let (_, mut b) = peers.pop().unwrap();
    let (id_a, a) = peers.pop().unwrap();
    relays.set_loss(0.05);
    let frames = 100; // 2 s
    let tone = media::tone(700.0, media::SAMPLE_RATE, media::FRAME_SAMPLES * frames, 0.3);
    let sender = tokio::spawn(async move {
        let mut enc = media::OpusEncoder::new(32_000).expect("an Opus encoder");
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        for frame in tone.chunks(media::FRAME_SAMPLES) {
            tick.tick().await;
            a.send(Command::SendVoice { packet: enc.encode(frame).expect("encoding"), duration: Duration::from_millis(20) });
        }
        a
    });
    // B: packets into the jitter buffer as they come; 20 ms pulled every 20 ms.
    let mut rx = media::VoiceReceiver::new().expect("a voice receiver");
    let mut heard: Vec<i16> = Vec::new();
    let mut packets = 0;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let deadline = Instant::now() + Duration::from_secs(6);
    while Instant::now() < deadline {
        tick.tick().await;
        while let Some(event) = b.try_recv() {
            if let Event::VoicePacket { from, sequence, data, .. } = event {
                assert_eq!(from, id_a);
                packets += 1;
                rx.push(sequence, data);
            }
        }
        let mut out = vec![0i16; media::FRAME_SAMPLES];
        rx.pull(&mut out);
        heard.extend(out);
    }
    let a = sender.await.unwrap();
    let stats = rx.stats();
    let (_, dropped) = relays.stats().get();
    eprintln!("voice: {packets} of {frames} packets arrived, relay dropped {dropped} datagrams, {stats:?}");
    assert!(dropped > 0, "the relay dropped nothing: traffic bypassed it");
    assert!(packets >= frames * 8 / 10 && packets <= frames, "{packets} of {frames} packets");
    let loud: Vec<i16> = heard.iter().copied().skip_while(|s| s.unsigned_abs() < 1000).take(media::SAMPLE_RATE as usize).collect();
    let f = media::dominant_frequency(&loud, media::SAMPLE_RATE);
    assert!((f - 700.0).abs() <= 10.0, "heard the tone at {f} Hz");
    // Every packet missing in the middle of the talk was concealed (a late one counts as
    // missing: its tick had passed), and no packet played twice.
    let missing = frames as u64 - stats.jitter.played;
    assert!(stats.fec_frames + stats.plc_frames >= missing.saturating_sub(STOP_MARGIN), "{stats:?}");
    assert!(stats.jitter.played + stats.jitter.late <= stats.jitter.received, "{stats:?}");
    drop((a, b));
    server.shutdown().await;
}

/// Packets lost at the very end of the talk are not concealed (the sender stopped).
const STOP_MARGIN: u64 = 6;
