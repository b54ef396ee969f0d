//! The video call: every player's camera picture, as the other players see it.
//!
//! - Sending: while this device is in a room with other devices and the camera is on
//!   ([`Call::camera_on`], key `C` or the HUD button), the newest camera frame goes, at most
//!   [`VIDEO_FPS`] times a second, to an encoder thread that downscales it to
//!   [`VIDEO_WIDTH`] wide and encodes it as VP8 (`media`). The encoded frames go to every
//!   peer's video track (`MeshCommand::SendVideo`); a peer's keyframe request forces the next
//!   frame to be a keyframe. The game comes first: when the encoder is still busy with the
//!   last frame, the new one is skipped.
//! - Adaptation ([`Adaptation`]): the sender steps down a ladder of [`Quality`] — frame rate,
//!   then bitrate, then size — when a peer reports loss (RTCP reception reports), when the
//!   encoder falls behind, or (with [`CallPlugin::watch_frame_time`], in the window) when a
//!   game frame took too long; it steps back up after a calm spell.
//! - Receiving: each peer's frames go to a decoder thread (one VP8 decoder per peer); the
//!   newest decoded picture of each peer becomes [`PeerVideo`] (and a texture when the app
//!   renders). A tile shows it while it is fresh ([`PeerVideo::is_fresh`]), else the
//!   peer's live skeleton, as before.
//! - What each player's camera and microphone are doing goes to the peers: see
//!   [`crate::media_state`].

use std::collections::BTreeMap;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bevy::asset::RenderAssetUsages;
use bevy::prelude::*;
use bevy::render::render_resource::{Extent3d, TextureDimension, TextureFormat};
use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};
use media::{EncoderConfig, RgbImage, Vp8Decoder, Vp8Encoder};
use shared::protocol::signal::PeerId;
use vision::Frame;

use crate::session::{MeshCommand, NetCommand, NetEvent, Session};
use crate::state::{ClientSet, LatestFrame};

/// Frames sent per second.
pub const VIDEO_FPS: u32 = 15;
/// Width of the sent picture (the height keeps the camera's aspect, rounded to even).
pub const VIDEO_WIDTH: u32 = 320;
/// Target bitrate, kbit/s.
pub const VIDEO_KBPS: u32 = 400;
/// A picture older than this is not shown any more (the peer's camera is off or its
/// frames stopped): its tile falls back to the skeleton.
pub const FRESH_FOR: Duration = Duration::from_millis(1_000);

/// Adds the video call.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallPlugin {
    /// Lower the video when a game frame takes too long (the windowed game; headless apps
    /// and tests step at their own pace).
    pub watch_frame_time: bool,
}

/// One rung of the sender's ladder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quality {
    /// Widest picture sent (the height keeps the camera's aspect).
    pub width: u32,
    pub fps: u32,
    pub kbps: u32,
}

/// From the best to the least the sender sends.
pub const LADDER: [Quality; 4] = [
    Quality { width: VIDEO_WIDTH, fps: VIDEO_FPS, kbps: VIDEO_KBPS },
    Quality { width: VIDEO_WIDTH, fps: 10, kbps: 250 },
    Quality { width: 240, fps: 10, kbps: 160 },
    Quality { width: 160, fps: 8, kbps: 90 },
];

/// Reported loss above which the sender steps down.
pub const LOSS_DOWN: f32 = 0.10;
/// Reported loss below which a calm spell counts.
pub const LOSS_CALM: f32 = 0.02;
/// A game frame longer than this is a missed frame (the game's floor is 30 FPS).
pub const SLOW_FRAME: Duration = Duration::from_millis(40);
/// Pressure signals within [`PRESSURE_WINDOW`] that step down.
const PRESSURE_COUNT: usize = 3;
const PRESSURE_WINDOW: Duration = Duration::from_secs(2);
/// Least time between two steps, and the calm spell before stepping up.
pub const STEP_INTERVAL: Duration = Duration::from_millis(1_500);
pub const CALM_BEFORE_UP: Duration = Duration::from_secs(10);

/// What the sender learns about how its video is doing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Signal {
    /// A peer's reception report: the share of packets it lost lately.
    Loss(f32),
    /// A game frame took this long.
    FrameTime(Duration),
    /// The encoder was still busy when a frame was due (it was skipped).
    EncoderBusy,
}

/// Chooses the rung of [`LADDER`] (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct Adaptation {
    /// Index into [`LADDER`] (0: the best).
    pub level: usize,
    last_step: Option<Instant>,
    /// Since when nothing has pressed (no loss above [`LOSS_CALM`], no slow frame).
    calm_since: Option<Instant>,
    pressure: Vec<Instant>,
    /// Steps down / up so far.
    pub downs: u32,
    pub ups: u32,
}

impl Adaptation {
    pub fn quality(&self) -> Quality {
        LADDER[self.level.min(LADDER.len() - 1)]
    }

    /// Takes one signal; returns true when the rung changed.
    pub fn observe(&mut self, now: Instant, signal: Signal) -> bool {
        let pressed = match signal {
            Signal::Loss(loss) if loss > LOSS_DOWN => {
                // One report is enough: it already sums a second of packets.
                return self.step_down(now);
            }
            Signal::Loss(loss) => loss > LOSS_CALM,
            Signal::FrameTime(t) => t > SLOW_FRAME,
            Signal::EncoderBusy => true,
        };
        if pressed {
            self.calm_since = None;
            if !matches!(signal, Signal::Loss(_)) {
                self.pressure.retain(|&t| now.duration_since(t) < PRESSURE_WINDOW);
                self.pressure.push(now);
                if self.pressure.len() >= PRESSURE_COUNT {
                    return self.step_down(now);
                }
            }
            return false;
        }
        let calm_since = *self.calm_since.get_or_insert(now);
        let rested = self.last_step.is_none_or(|t| now.duration_since(t) >= CALM_BEFORE_UP);
        if self.level > 0 && now.duration_since(calm_since) >= CALM_BEFORE_UP && rested {
            self.level -= 1;
            self.ups += 1;
            self.last_step = Some(now);
            self.calm_since = Some(now);
            return true;
        }
        false
    }

    fn step_down(&mut self, now: Instant) -> bool {
        self.calm_since = None;
        self.pressure.clear();
        if self.level + 1 >= LADDER.len() || self.last_step.is_some_and(|t| now.duration_since(t) < STEP_INTERVAL) {
            return false;
        }
        self.level += 1;
        self.downs += 1;
        self.last_step = Some(now);
        true
    }
}

/// One peer's newest picture.
#[derive(Debug, Clone)]
pub struct PeerVideo {
    pub picture: RgbImage,
    /// Its texture (when the app renders).
    pub image: Option<Handle<Image>>,
    pub received: Instant,
    pub frames: u64,
}

impl PeerVideo {
    /// Recent enough to show.
    pub fn is_fresh(&self) -> bool {
        self.received.elapsed() < FRESH_FOR
    }
}

/// The call's state.
#[derive(Resource)]
pub struct Call {
    /// Send our camera picture.
    pub camera_on: bool,
    pub peers: BTreeMap<PeerId, PeerVideo>,
    /// Frames encoded and handed to the mesh / skipped because the encoder was busy.
    pub sent: u64,
    pub skipped: u64,
    /// Frames that arrived / failed to decode.
    pub received: u64,
    pub decode_errors: u64,
    /// The sender's rung of [`LADDER`].
    pub adaptation: Adaptation,
    /// Lower the video on slow game frames ([`CallPlugin::watch_frame_time`]).
    watch_frame_time: bool,
    last_capture: Option<Instant>,
    encoder: Worker<EncodeJob, Result<media::EncodedFrame, String>>,
    decoder: Worker<(PeerId, Vec<u8>), Decoded>,
}

/// A decoder thread's answer: whose frame, and its picture (`None`: nothing to show yet).
type Decoded = (PeerId, Result<Option<RgbImage>, String>);

/// A thread with a bounded queue in and a queue out.
struct Worker<I, O> {
    tx: Option<Sender<I>>,
    rx: Receiver<O>,
    thread: Option<JoinHandle<()>>,
}

impl<I, O> Drop for Worker<I, O> {
    fn drop(&mut self) {
        self.tx = None; // the thread's loop ends when its queue closes
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            error!("a video thread panicked");
        }
    }
}

enum EncodeJob {
    Frame(Frame, Quality),
    Keyframe,
}

fn spawn<I: Send + 'static, O: Send + 'static>(
    name: &str,
    queue: usize,
    work: impl FnOnce(Receiver<I>, Sender<O>) + Send + 'static,
) -> Worker<I, O> {
    let (tx, jobs) = bounded(queue);
    let (results, rx) = bounded(64);
    let thread = std::thread::Builder::new().name(name.into()).spawn(move || work(jobs, results));
    match thread {
        Ok(thread) => Worker { tx: Some(tx), rx, thread: Some(thread) },
        Err(e) => {
            error!("could not start the {name} thread: {e}; no video");
            Worker { tx: None, rx, thread: None }
        }
    }
}

/// The picture size sent for a `width × height` camera: [`VIDEO_WIDTH`] wide (or less for
/// a smaller camera), the aspect kept, both even (I420 needs it).
pub fn video_size(width: u32, height: u32) -> (u32, u32) {
    video_size_within(VIDEO_WIDTH, width, height)
}

/// [`video_size`] for a rung of at most `max_width`.
pub fn video_size_within(max_width: u32, width: u32, height: u32) -> (u32, u32) {
    let w = max_width.min(width) & !1;
    let h = ((u64::from(height) * u64::from(w) / u64::from(width.max(1))) as u32) & !1;
    (w.max(2), h.max(2))
}

/// The encoder thread: downscale, encode; a new encoder when the size or frame rate changes
/// (the camera's, or the rung's), a new bitrate for the same encoder.
fn encode_loop(jobs: Receiver<EncodeJob>, out: Sender<Result<media::EncodedFrame, String>>) {
    let mut encoder: Option<(Vp8Encoder, (u32, u32, u32))> = None;
    let mut keyframe = false;
    for job in jobs {
        let frame = match job {
            EncodeJob::Keyframe => {
                keyframe = true;
                continue;
            }
            EncodeJob::Frame(frame, quality) => (frame, quality),
        };
        let (frame, quality) = frame;
        let (w, h) = video_size_within(quality.width, frame.width, frame.height);
        if let Some((enc, _)) = encoder.as_mut().filter(|(e, shape)| *shape == (w, h, quality.fps) && e.config().bitrate_kbps != quality.kbps)
            && let Err(e) = enc.set_bitrate(quality.kbps)
        {
            warn!("video bitrate {} kbit/s refused: {e}", quality.kbps);
        }
        if encoder.as_ref().is_none_or(|(_, shape)| *shape != (w, h, quality.fps)) {
            let config = EncoderConfig { width: w, height: h, fps: quality.fps, bitrate_kbps: quality.kbps, keyframe_interval: quality.fps * 4 };
            match Vp8Encoder::new(config) {
                Ok(e) => encoder = Some((e, (w, h, quality.fps))),
                Err(e) => {
                    let _ = out.send(Err(format!("cannot start the video encoder: {e}")));
                    continue;
                }
            }
        }
        let Some((enc, _)) = encoder.as_mut() else { continue };
        let encoded = media::downscale_rgb(&frame.data, frame.width, frame.height, w, h)
            .and_then(|small| enc.encode(&small, std::mem::take(&mut keyframe)));
        match encoded {
            Ok(frames) => {
                for f in frames {
                    if out.send(Ok(f)).is_err() {
                        return;
                    }
                }
            }
            Err(e) => {
                if out.send(Err(e.to_string())).is_err() {
                    return;
                }
            }
        }
    }
}

/// The decoder thread: one VP8 decoder per peer.
fn decode_loop(jobs: Receiver<(PeerId, Vec<u8>)>, out: Sender<Decoded>) {
    let mut decoders: BTreeMap<PeerId, Vp8Decoder> = BTreeMap::new();
    for (peer, data) in jobs {
        let decoder = match decoders.entry(peer) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(v) => match Vp8Decoder::new() {
                Ok(d) => v.insert(d),
                Err(e) => {
                    let _ = out.send((peer, Err(format!("cannot start a video decoder: {e}"))));
                    continue;
                }
            },
        };
        let result = decoder.decode(&data).map_err(|e| e.to_string());
        if out.send((peer, result)).is_err() {
            return;
        }
    }
}

impl Default for Call {
    fn default() -> Self {
        Call {
            camera_on: true,
            peers: BTreeMap::new(),
            sent: 0,
            skipped: 0,
            received: 0,
            decode_errors: 0,
            adaptation: Adaptation::default(),
            watch_frame_time: false,
            last_capture: None,
            encoder: spawn("video-encoder", 1, encode_loop),
            decoder: spawn("video-decoder", 32, decode_loop),
        }
    }
}

impl Plugin for CallPlugin {
    fn build(&self, app: &mut App) {
        app.insert_resource(Call { watch_frame_time: self.watch_frame_time, ..Call::default() }).add_systems(
            Update,
            (
                toggle_camera.run_if(resource_exists::<ButtonInput<KeyCode>>).in_set(ClientSet::Input),
                (receive, capture, send_encoded).chain().in_set(ClientSet::Net),
                show.in_set(ClientSet::Ui),
            ),
        );
    }
}

fn toggle_camera(keys: Res<ButtonInput<KeyCode>>, mut call: ResMut<Call>) {
    if keys.just_pressed(KeyCode::KeyC) {
        call.camera_on = !call.camera_on;
        info!(camera_on = call.camera_on, "camera picture to the others");
    }
}

/// Peers' frames to the decoder; keyframe requests to the encoder.
fn receive(mut events: MessageReader<NetEvent>, mut call: ResMut<Call>) {
    for event in events.read() {
        match event {
            NetEvent::VideoFrame { from, data, .. } => {
                call.received += 1;
                if let Some(tx) = &call.decoder.tx
                    && let Err(TrySendError::Full(_)) = tx.try_send((*from, data.clone()))
                {
                    // A decoder that cannot keep up loses frames; the next keyframe repairs it.
                    call.decode_errors += 1;
                }
            }
            NetEvent::KeyframeRequested { by } => {
                debug!(by, "keyframe requested");
                if let Some(tx) = &call.encoder.tx {
                    let _ = tx.try_send(EncodeJob::Keyframe);
                }
            }
            NetEvent::VideoReport { by, fraction_lost } if call.adaptation.observe(Instant::now(), Signal::Loss(*fraction_lost)) => {
                info!(by, loss = fraction_lost, quality = ?call.adaptation.quality(), "video quality changed (loss)");
            }
            _ => {}
        }
    }
}

/// The newest camera frame to the encoder, at most [`VIDEO_FPS`] a second, while someone
/// else is in the room and the camera is on.
fn capture(latest: Res<LatestFrame>, session: Res<Session>, time: Res<Time>, mut call: ResMut<Call>) {
    if call.watch_frame_time
        && call.adaptation.observe(Instant::now(), Signal::FrameTime(time.delta()))
    {
        info!(frame = ?time.delta(), quality = ?call.adaptation.quality(), "video quality changed (slow frames)");
    }
    let (true, Some(frame)) = (latest.fresh, &latest.frame) else { return };
    if !call.camera_on || !session.has_other_devices() {
        return;
    }
    let now = Instant::now();
    let quality = call.adaptation.quality();
    if call.last_capture.is_some_and(|t| now - t < Duration::from_secs(1) / quality.fps) {
        return;
    }
    call.last_capture = Some(now);
    let Some(tx) = &call.encoder.tx else { return };
    if tx.try_send(EncodeJob::Frame(frame.clone(), quality)).is_err() {
        call.skipped += 1;
        if call.adaptation.observe(now, Signal::EncoderBusy) {
            info!(quality = ?call.adaptation.quality(), "video quality changed (encoder busy)");
        }
    }
}

/// Encoded frames to the peers.
fn send_encoded(mut call: ResMut<Call>, mut net: MessageWriter<NetCommand>) {
    while let Ok(result) = call.encoder.rx.try_recv() {
        match result {
            Ok(frame) => {
                call.sent += 1;
                let duration = Duration::from_secs(1) / call.adaptation.quality().fps;
                net.write(MeshCommand::SendVideo { frame: frame.data, keyframe: frame.keyframe, duration }.into());
            }
            Err(e) => warn!("video: {e}"),
        }
    }
}

/// The newest decoded picture of each peer (and its texture when the app renders).
fn show(mut call: ResMut<Call>, mut images: Option<ResMut<Assets<Image>>>) {
    let mut newest: BTreeMap<PeerId, RgbImage> = BTreeMap::new();
    while let Ok((peer, result)) = call.decoder.rx.try_recv() {
        match result {
            Ok(Some(picture)) => {
                newest.insert(peer, picture);
            }
            Ok(None) => {}
            Err(e) => {
                call.decode_errors += 1;
                debug!(peer, "a video frame did not decode: {e}");
            }
        }
    }
    for (peer, picture) in newest {
        call.set_picture(peer, picture, images.as_deref_mut());
    }
}

impl Call {
    /// Makes `picture` the newest of `peer` (and its texture, when `images` is given).
    pub fn set_picture(&mut self, peer: PeerId, picture: RgbImage, images: Option<&mut Assets<Image>>) {
        let previous = self.peers.remove(&peer);
        let frames = previous.as_ref().map_or(0, |p| p.frames) + 1;
        let image = images.map(|images| {
            let mut data = Vec::with_capacity(picture.rgb.len() / 3 * 4);
            for p in picture.rgb.chunks_exact(3) {
                data.extend_from_slice(&[p[0], p[1], p[2], 255]);
            }
            // Reuse the texture while the size stays.
            let same_size = |p: &&PeerVideo| p.picture.width == picture.width && p.picture.height == picture.height;
            if let Some(handle) = previous.as_ref().filter(same_size).and_then(|p| p.image.clone())
                && let Some(mut existing) = images.get_mut(&handle)
            {
                existing.data = Some(data);
                return handle;
            }
            images.add(Image::new(
                Extent3d { width: picture.width, height: picture.height, depth_or_array_layers: 1 },
                TextureDimension::D2,
                data,
                TextureFormat::Rgba8UnormSrgb,
                RenderAssetUsages::RENDER_WORLD | RenderAssetUsages::MAIN_WORLD,
            ))
        });
        self.peers.insert(peer, PeerVideo { picture, image, received: Instant::now(), frames });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adaptation_steps_down_on_loss_slow_frames_and_a_busy_encoder_and_back_up_when_calm() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut a = Adaptation::default();
        assert_eq!(a.quality(), LADDER[0]);
        // Heavy loss: one report steps down; the next within the interval does not.
        assert!(a.observe(at(0), Signal::Loss(0.2)));
        assert!(!a.observe(at(500), Signal::Loss(0.2)));
        assert_eq!(a.level, 1);
        // A little loss is neither pressure nor calm enough... it just isn't calm.
        assert!(!a.observe(at(2_000), Signal::Loss(0.05)));
        // Slow frames: three within two seconds step down; one alone does not.
        assert!(!a.observe(at(3_000), Signal::FrameTime(Duration::from_millis(50))));
        assert!(!a.observe(at(3_100), Signal::FrameTime(Duration::from_millis(16))));
        assert!(!a.observe(at(3_200), Signal::FrameTime(Duration::from_millis(60))));
        assert!(a.observe(at(3_300), Signal::FrameTime(Duration::from_millis(45))));
        assert_eq!(a.level, 2);
        // A busy encoder likewise, down to the last rung and no further.
        for ms in [5_000, 5_100, 5_200] {
            a.observe(at(ms), Signal::EncoderBusy);
        }
        assert_eq!(a.quality(), LADDER[3]);
        for ms in [7_000, 7_100, 7_200] {
            assert!(!a.observe(at(ms), Signal::EncoderBusy));
        }
        // Calm: a step up after ten seconds of it, one step per calm spell.
        let mut ups = 0;
        for s in 0..=40u64 {
            if a.observe(at(8_000 + s * 1_000), Signal::Loss(0.0)) {
                ups += 1;
            }
        }
        assert_eq!((ups, a.level), (3, 0), "{a:?}");
        assert_eq!((a.downs, a.ups), (3, 3));
    }

    #[test]
    fn the_sent_picture_keeps_the_cameras_aspect_with_even_sides() {
        assert_eq!(video_size(640, 480), (320, 240));
        assert_eq!(video_size(1280, 720), (320, 180));
        assert_eq!(video_size(512, 512), (320, 320));
        assert_eq!(video_size(1024, 512), (320, 160));
        // A small camera is not upscaled; odd sides are made even.
        assert_eq!(video_size(161, 121), (160, 120));
        // The lower rungs.
        assert_eq!(video_size_within(160, 640, 480), (160, 120));
        assert_eq!(video_size_within(240, 1280, 720), (240, 134));
    }
}
