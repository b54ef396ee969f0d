//! `framebench --video 3`: the frame loop with the video call running — pose inference on
//! the camera (astronaut.png at 30 fps), our own picture encoded at 15 fps (as in a room of
//! four), and N peers' pictures arriving at 15 fps each (VP8, 320 wide, encoded once before
//! the run and replayed as `NetEvent::VideoFrame`s, looping on a keyframe) and decoded by
//! the call plugin. Printed beside the same loop without the call, in one run: frame-loop
//! FPS, frame times, pose inference p50, pictures decoded and sent.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bevy::prelude::*;
use client::call::{Call, CallPlugin, VIDEO_FPS, video_size};
use client::session::{Connection, NetEvent, Session, SessionPlugin};
use client::state::{InferencePlacement, ModelChoice, ModelStatus};
use shared::protocol::signal::{LoadingStage, PlayerInfo, RoomPhase, RoomSettings, RoomSnapshot, RoomVisibility};

use crate::{Args, FrameStats, measure, pose_app};

struct Outcome {
    stats: FrameStats,
    decoded_per_s: f64,
    sent_per_s: f64,
}

/// `frames` VP8 frames of the picture in `dir`, the first a keyframe (so the loop restarts
/// on one).
/// Encoded frames and the picture size.
type Stream = (Vec<Vec<u8>>, (u32, u32));

fn encoded_stream(dir: &Path, frames: usize) -> Result<Stream> {
    let path = dir.join("0001.png");
    let frame = vision::Frame::load(&path).with_context(|| format!("loading {}", path.display()))?;
    let (w, h) = video_size(frame.width, frame.height);
    let small = media::downscale_rgb(&frame.data, frame.width, frame.height, w, h)?;
    let config = media::EncoderConfig { width: w, height: h, fps: VIDEO_FPS, bitrate_kbps: client::call::VIDEO_KBPS, keyframe_interval: 0 };
    let mut encoder = media::Vp8Encoder::new(config)?;
    let mut out = Vec::new();
    for i in 0..frames {
        // A little movement so the deltas are not empty: shift the picture a pixel a frame.
        let mut moved = small.clone();
        moved.rotate_left(3 * (i % 8));
        for f in encoder.encode(&moved, i == 0)? {
            out.push(f.data);
        }
    }
    Ok((out, (w, h)))
}

fn room(peers: usize) -> RoomSnapshot {
    let player = |id: u32| PlayerInfo {
        id,
        name: format!("p{id}"),
        connected: true,
        stage: LoadingStage::Done,
        progress: 1.0,
        ready: true,
        device: None,
    };
    RoomSnapshot {
        code: "VIDEOS".into(),
        host: 1,
        settings: RoomSettings::default(),
        phase: RoomPhase::Lobby,
        players: (1..=1 + peers as u32).map(player).collect(),
        cap: 8,
        visibility: RoomVisibility::Private,
    }
}

fn run(dir: &Path, placement: InferencePlacement, peers: usize, stream: &[Vec<u8>], args: &Args) -> Result<Outcome> {
    let mut app = pose_app(dir, 30.0, ModelChoice::Lite, placement);
    app.add_plugins(SessionPlugin);
    if peers > 0 {
        app.add_plugins(CallPlugin::default());
        let mut session = app.world_mut().resource_mut::<Session>();
        session.connection = Connection::Online { my_id: 1 };
        session.room = Some(room(peers));
    }
    crate::wait_for_first_skeleton(&mut app, args)?;
    let (mut next_video, mut index) = (Instant::now(), 0usize);
    let stats = measure(&mut app, args, |app, elapsed| {
        if peers > 0 && Instant::now() >= next_video && !stream.is_empty() {
            next_video += Duration::from_secs(1) / VIDEO_FPS;
            let data = &stream[index % stream.len()];
            index += 1;
            for peer in 0..peers {
                let from = 2 + peer as u32;
                app.world_mut().write_message(NetEvent::VideoFrame { from, data: data.clone(), keyframe: false });
            }
        }
        elapsed.as_secs_f64() < args.seconds
    });
    // The measured stretch, from its frame count and rate.
    let elapsed = (stats.frames.len() as f64 / stats.fps).max(1e-9);
    if let Some(e) = app.world().resource::<ModelStatus>().error() {
        bail!("the pose model failed: {e}");
    }
    let (decoded, sent) = app.world().get_resource::<Call>().map_or((0, 0), |c| (c.peers.values().map(|v| v.frames).sum::<u64>(), c.sent));
    Ok(Outcome { stats, decoded_per_s: decoded as f64 / elapsed, sent_per_s: sent as f64 / elapsed })
}

pub fn bench(dir: &Path, peers: usize, args: &Args) -> Result<()> {
    let (stream, (w, h)) = encoded_stream(dir, 60)?;
    let bytes: usize = stream.iter().map(Vec::len).sum();
    let mut columns = Vec::new();
    for placement in [InferencePlacement::Frame, InferencePlacement::Pool] {
        for n in [0, peers] {
            columns.push((placement, n, run(dir, placement, n, &stream, args)?));
        }
    }
    let ms = |d: Duration| format!("{:.1}", d.as_secs_f64() * 1000.0);
    println!(
        "\nThe frame loop with the video call (lite model, camera 30 fps, paced at {} Hz, {} s per column); each peer sends 15 fps VP8 at {w}×{h} (~{:.0} kbit/s)\n",
        args.fps,
        args.seconds,
        bytes as f64 * 8.0 / (stream.len() as f64 / f64::from(VIDEO_FPS)) / 1000.0
    );
    let head: Vec<String> = columns
        .iter()
        .map(|(p, n, _)| if *n == 0 { format!("{p:?}, no call") } else { format!("{p:?}, {n} streams in + ours out") }.to_lowercase())
        .collect();
    println!("| measure | {} |", head.join(" | "));
    println!("|---|{}", "---:|".repeat(columns.len()));
    let line = |name: &str, f: &dyn Fn(&Outcome) -> String| {
        println!("| {name} | {} |", columns.iter().map(|(_, _, o)| f(o)).collect::<Vec<_>>().join(" | "));
    };
    line("frame-loop FPS", &|o| format!("{:.1}", o.stats.fps));
    line("frame time p50 / p95 (ms)", &|o| format!("{} / {}", ms(o.stats.p50), ms(o.stats.p95)));
    line("pose inference p50 (ms)", &|o| ms(o.stats.inference_p50));
    line("pictures decoded per second (all peers)", &|o| format!("{:.1}", o.decoded_per_s));
    line("our pictures encoded per second", &|o| format!("{:.1}", o.sent_per_s));
    for pair in columns.chunks(2) {
        if let [(p, _, off), (_, _, on)] = pair {
            let growth = on.stats.inference_p50.as_secs_f64() / off.stats.inference_p50.as_secs_f64().max(1e-9) - 1.0;
            println!("{p:?}: pose inference p50 {:+.0} % with the call; frame loop {:.1} FPS (goal ≥ 30, inference growth ≤ 20 %)", growth * 100.0, on.stats.fps);
        }
    }
    Ok(())
}
