//! The video track of a link (with [`crate::Config::video`]): one VP8 track, sendrecv, on
//! the unreliable part's peer connection.
//!
//! - Sending: the caller's encoded VP8 frames go to a per-link writer task, which hands each
//!   to the stack's [`TrackLocalStaticSample`] — the stack's VP8 payloader splits it into RTP
//!   packets (≤ 1200 bytes), numbers and timestamps them (90 kHz, advanced by the frame's
//!   duration); the NACK responder of the default interceptors keeps them for retransmission.
//! - Receiving: the remote track's RTP packets go through [`Vp8Assembler`], which puts them
//!   back in order, waits a little for retransmissions (the default interceptors' NACK
//!   generator asks for lost packets), strips the VP8 payload descriptor (RFC 7741) and
//!   hands out whole frames — only decodable ones: from a keyframe on, with no frame missing.
//! - Keyframe requests: when a frame is lost for good, or the stream starts without a
//!   keyframe, the assembler asks for a keyframe and the reader sends an RTCP PLI (at most
//!   every [`PLI_INTERVAL`]). On the sending side, the stack's interceptor chain ends inbound
//!   RTCP before the application unless an interceptor marks it
//!   `Attribute::DeliverToApplication`: [`KeyframeRequestForwarder`] marks PLI and FIR, which
//!   then reach the local track as `TrackLocalEvent::OnRtcpPacket`, and the link reports a
//!   keyframe request.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rtc::interceptor::{Attribute, Interceptor, Packet, Registry, Slot, StreamInfo, TaggedPacket};
use rtc::media::Sample;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::interceptor_registry::register_default_interceptors;
use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_VP8, MediaEngine};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::sansio::Protocol;
use tokio::sync::mpsc;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::PeerConnection;
use webrtc::rtp_transceiver::RtpSender;

use webrtc::error::Error as RtcError;

/// The RTP payload type offered for VP8 (dynamic range; the answer may pick another).
const VP8_PAYLOAD_TYPE: u8 = 96;

/// Least time between two keyframe requests from one receiver.
pub(crate) const PLI_INTERVAL: Duration = Duration::from_millis(300);

/// How long the assembler waits for a missing packet (a NACK retransmission) before it gives
/// the frame up and asks for a keyframe.
pub(crate) const MAX_PACKET_WAIT: Duration = Duration::from_millis(250);

/// Packets held waiting for a missing one, at most (beyond this the gap is given up at once).
const MAX_HELD_PACKETS: usize = 1024;

/// Frames queued for one link's writer; beyond this a frame is dropped (and a keyframe asked
/// for, since the peer's decoder now misses a reference).
const SEND_QUEUE: usize = 16;

fn vp8_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_VP8.to_owned(),
        clock_rate: 90_000,
        channels: 0,
        sdp_fmtp_line: String::new(),
        rtcp_feedback: vec![],
    }
}

/// The media engine (VP8 only) and interceptors (the stack's defaults — NACK generator and
/// responder, RTCP reports, TWCC receiver — plus [`KeyframeRequestForwarder`]) of a peer
/// connection that carries video.
pub(crate) fn media_setup() -> Result<(MediaEngine, Registry), RtcError> {
    let mut engine = MediaEngine::default();
    engine.register_codec(
        RTCRtpCodecParameters { rtp_codec: vp8_codec(), payload_type: VP8_PAYLOAD_TYPE },
        RtpCodecKind::Video,
    )?;
    let registry = register_default_interceptors(Registry::new(), &mut engine)?;
    // After every stock interceptor on the read path (they have all seen the packet).
    let registry = registry.with(Slot::from(14_000), KeyframeRequestForwarder::default());
    Ok((engine, registry))
}

fn is_keyframe_request(packet: &dyn rtc::rtcp::Packet) -> bool {
    let any = packet.as_any();
    any.is::<PictureLossIndication>() || any.is::<FullIntraRequest>()
}

/// Lets inbound PLI and FIR through to the application (the chain's end drops all inbound
/// RTCP otherwise). Packets without one pass on unmarked; the compound packet is cut down to
/// the requests so the stack routes it by the request's media SSRC (our sender's).
#[derive(Default)]
pub(crate) struct KeyframeRequestForwarder {
    read: VecDeque<TaggedPacket>,
    write: VecDeque<TaggedPacket>,
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for KeyframeRequestForwarder {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = rtc::shared::error::Error;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet
            && packets.iter().any(|p| is_keyframe_request(p.as_ref()))
        {
            let requests = packets.iter().filter(|p| is_keyframe_request(p.as_ref())).cloned().collect();
            msg.message.packet = Packet::Rtcp(requests);
            msg.message.add(Attribute::DeliverToApplication);
        }
        self.read.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<TaggedPacket> {
        self.read.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.write.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<TaggedPacket> {
        self.write.pop_front()
    }
}

impl Interceptor for KeyframeRequestForwarder {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}

/// One frame for the writer.
pub(crate) struct OutFrame {
    pub data: Bytes,
    pub duration: Duration,
}

/// The sending half of a link's video track.
pub(crate) struct VideoSend {
    track: Arc<TrackLocalStaticSample>,
    frames: mpsc::Sender<OutFrame>,
    rx: Option<mpsc::Receiver<OutFrame>>,
    sender: Arc<dyn RtpSender>,
    ssrc: u32,
    closed: Arc<AtomicBool>,
}

/// Adds the local VP8 track (sendrecv transceiver) to `pc`, before the offer or answer.
pub(crate) async fn add_track(pc: &Arc<dyn PeerConnection>) -> Result<VideoSend, RtcError> {
    let ssrc = rand::random::<u32>();
    // Track ids must differ between the two ends: the stack routes RTCP to a remote track
    // first when a local and a remote track share an id.
    let tag = rand::random::<u64>();
    let track = Arc::new(TrackLocalStaticSample::new(
        Instant::now(),
        MediaStreamTrack::new(
            format!("poseparty-{tag:016x}"),
            format!("camera-{tag:016x}"),
            "camera".to_owned(),
            RtpCodecKind::Video,
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters { ssrc: Some(ssrc), ..Default::default() },
                codec: vp8_codec(),
                ..Default::default()
            }],
        ),
    )?);
    let sender = pc.add_track(track.clone() as Arc<dyn TrackLocal>).await?;
    let (frames, rx) = mpsc::channel(SEND_QUEUE);
    Ok(VideoSend { track, frames, rx: Some(rx), sender, ssrc, closed: Arc::default() })
}

impl VideoSend {
    /// Starts the writer task and the keyframe-request watcher (once the link is negotiated;
    /// later calls do nothing). `on_request` runs for each PLI/FIR the peer sends.
    pub(crate) fn start(&mut self, on_request: impl Fn() + Send + Sync + 'static) {
        let Some(mut rx) = self.rx.take() else { return };
        let (track, sender, ssrc) = (self.track.clone(), self.sender.clone(), self.ssrc);
        tokio::spawn(async move {
            let mut payload_type = None;
            while let Some(frame) = rx.recv().await {
                let pt = match payload_type {
                    Some(pt) => pt,
                    None => match sender.get_parameters().await.map(|p| p.rtp_parameters.codecs.first().map(|c| c.payload_type)) {
                        Ok(Some(pt)) => *payload_type.insert(pt),
                        Ok(None) => {
                            tracing::debug!("video sender has no negotiated codec; frame dropped");
                            continue;
                        }
                        Err(e) => {
                            tracing::debug!("video sender parameters: {e}; frame dropped");
                            continue;
                        }
                    },
                };
                let sample = Sample { data: frame.data, duration: frame.duration, ..Sample::new(Instant::now()) };
                if let Err(e) = track.sample_writer(ssrc, pt).write_sample(&sample).await {
                    tracing::debug!("writing a video frame: {e}");
                }
            }
        });
        let track = self.track.clone();
        let closed = self.closed.clone();
        tokio::spawn(async move {
            // `poll` returns None at once while the track is not bound yet, and for good once
            // the connection is closed.
            let mut idle = 0;
            while !closed.load(Ordering::Relaxed) && idle < 200 {
                match track.poll().await {
                    Some(TrackLocalEvent::OnRtcpPacket(packets)) => {
                        idle = 0;
                        if packets.iter().any(|p| is_keyframe_request(p.as_ref())) {
                            on_request();
                        }
                    }
                    Some(_) => {}
                    None => {
                        idle += 1;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        });
    }

    /// Queues a frame; false when the queue is full (the frame is dropped).
    pub(crate) fn send(&self, frame: OutFrame) -> bool {
        self.frames.try_send(frame).is_ok()
    }

    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
    }
}

/// What the remote track's reader reports.
pub(crate) enum VideoIn {
    Frame { data: Vec<u8>, keyframe: bool },
}

/// Reads a remote video track until it ends: whole frames go to `emit`, keyframe requests go
/// back to the sender as PLI.
pub(crate) fn spawn_reader(track: Arc<dyn TrackRemote>, emit: impl Fn(VideoIn) + Send + 'static) {
    tokio::spawn(async move {
        let mut assembler = Vp8Assembler::default();
        while let Some(event) = track.poll().await {
            match event {
                TrackRemoteEvent::OnRtpPacket(packet) => {
                    let now = Instant::now();
                    let h = &packet.header;
                    for frame in assembler.push(now, h.sequence_number, h.timestamp, h.marker, &packet.payload) {
                        emit(VideoIn::Frame { data: frame.data, keyframe: frame.keyframe });
                    }
                    if assembler.wants_keyframe(now) {
                        let pli = PictureLossIndication { sender_ssrc: 0, media_ssrc: h.ssrc };
                        tracing::debug!(ssrc = h.ssrc, "asking for a keyframe");
                        if let Err(e) = track.write_rtcp(vec![Box::new(pli)]).await {
                            tracing::debug!("sending a PLI: {e}");
                        }
                    }
                }
                TrackRemoteEvent::OnEnded | TrackRemoteEvent::OnError => break,
                _ => {}
            }
        }
    });
}

/// True when a VP8 frame (RFC 6386 §9.1) is a keyframe: the inverse key-frame bit clear and
/// the start code after the 3-byte tag.
pub fn is_keyframe(frame: &[u8]) -> bool {
    frame.len() >= 10 && frame[0] & 1 == 0 && frame[3..6] == [0x9d, 0x01, 0x2a]
}

/// A VP8 payload descriptor (RFC 7741 §4.2): whether the packet starts a frame (S = 1 and
/// partition 0) and where the VP8 data begins. `None` for a malformed descriptor.
fn parse_descriptor(payload: &[u8]) -> Option<(bool, usize)> {
    let first = *payload.first()?;
    let start = first & 0x10 != 0 && first & 0x07 == 0;
    let mut at = 1;
    if first & 0x80 != 0 {
        let ext = *payload.get(at)?;
        at += 1;
        if ext & 0x80 != 0 {
            // PictureID, 7 or 15 bits (M bit).
            at += if *payload.get(at)? & 0x80 != 0 { 2 } else { 1 };
        }
        if ext & 0x40 != 0 {
            at += 1; // TL0PICIDX
        }
        if ext & 0x30 != 0 {
            at += 1; // TID/Y/KEYIDX
        }
    }
    (at < payload.len()).then_some((start, at))
}

struct Held {
    timestamp: u32,
    marker: bool,
    start: bool,
    data: Bytes,
}

/// A whole VP8 frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Frame {
    pub data: Vec<u8>,
    pub keyframe: bool,
}

/// Puts VP8 RTP packets back into whole, decodable frames (see the module docs).
#[derive(Default)]
pub(crate) struct Vp8Assembler {
    /// Packets not consumed yet, by extended sequence number.
    held: BTreeMap<u64, Held>,
    highest: Option<u64>,
    /// The first sequence number not consumed.
    next: Option<u64>,
    /// Frames since the last keyframe are all here: the decoder can follow.
    synced: bool,
    /// Since when `next` (or a packet of its frame) has been missing.
    waiting_since: Option<Instant>,
    need_keyframe: bool,
    last_request: Option<Instant>,
    /// Frames handed out / dropped (undecodable), keyframe requests, malformed packets.
    pub frames: u64,
    pub dropped_frames: u64,
    pub requests: u64,
    pub malformed: u64,
}

impl Vp8Assembler {
    fn extend(&self, seq: u16) -> u64 {
        let Some(highest) = self.highest else { return (1 << 32) | u64::from(seq) };
        let base = highest & !0xffff;
        let candidates = [base.wrapping_sub(0x1_0000), base, base + 0x1_0000].map(|b| b | u64::from(seq));
        candidates.into_iter().min_by_key(|c| c.abs_diff(highest)).unwrap_or(base | u64::from(seq))
    }

    /// Takes one RTP packet; returns the frames it completed, in order.
    pub(crate) fn push(&mut self, now: Instant, seq: u16, timestamp: u32, marker: bool, payload: &Bytes) -> Vec<Frame> {
        let Some((start, at)) = parse_descriptor(payload) else {
            self.malformed += 1;
            return Vec::new();
        };
        let ext = self.extend(seq);
        if self.next.is_some_and(|next| ext < next) {
            return Vec::new(); // late (already given up) or duplicate
        }
        self.held.insert(ext, Held { timestamp, marker, start, data: payload.slice(at..) });
        self.highest = Some(self.highest.map_or(ext, |h| h.max(ext)));
        let mut next = *self.next.get_or_insert(ext);
        let mut out = Vec::new();
        loop {
            match self.take_frame(next) {
                Taken::Frame(end, frame) => {
                    next = end + 1;
                    self.waiting_since = None;
                    if frame.keyframe {
                        self.synced = true;
                        self.need_keyframe = false;
                    }
                    if self.synced {
                        self.frames += 1;
                        out.push(frame);
                    } else {
                        self.dropped_frames += 1;
                        self.need_keyframe = true;
                    }
                }
                Taken::NotAStart => {
                    // The middle of a frame whose start was given up: useless.
                    self.held.remove(&next);
                    next += 1;
                    self.lost();
                }
                Taken::Incomplete => {
                    if self.held.is_empty() {
                        self.waiting_since = None; // nothing in flight: no gap
                        break;
                    }
                    let since = *self.waiting_since.get_or_insert(now);
                    if now.duration_since(since) < MAX_PACKET_WAIT && self.held.len() < MAX_HELD_PACKETS {
                        break;
                    }
                    // Give the gap up: resume at the next frame start after it.
                    self.waiting_since = None;
                    self.lost();
                    let resume = self.held.iter().find(|(s, h)| **s > next && h.start).map(|(s, _)| *s);
                    match resume {
                        Some(s) => {
                            self.held.retain(|k, _| *k >= s);
                            next = s;
                        }
                        None => {
                            next = self.highest.map_or(next, |h| h + 1);
                            self.held.clear();
                            break;
                        }
                    }
                }
            }
        }
        self.next = Some(next);
        out
    }

    fn lost(&mut self) {
        if self.synced {
            self.dropped_frames += 1;
        }
        self.synced = false;
        self.need_keyframe = true;
    }

    fn take_frame(&mut self, next: u64) -> Taken {
        let Some(first) = self.held.get(&next) else { return Taken::Incomplete };
        if !first.start {
            return Taken::NotAStart;
        }
        let timestamp = first.timestamp;
        let mut end = next;
        loop {
            let Some(p) = self.held.get(&end) else { return Taken::Incomplete };
            if p.timestamp != timestamp {
                // The previous packet ended the frame without a marker.
                end -= 1;
                break;
            }
            if p.marker {
                break;
            }
            end += 1;
        }
        let mut data = Vec::new();
        for s in next..=end {
            if let Some(p) = self.held.remove(&s) {
                data.extend_from_slice(&p.data);
            }
        }
        let keyframe = is_keyframe(&data);
        Taken::Frame(end, Frame { data, keyframe })
    }

    /// True when a keyframe should be asked for now (rate-limited to [`PLI_INTERVAL`]).
    pub(crate) fn wants_keyframe(&mut self, now: Instant) -> bool {
        if !self.need_keyframe || self.last_request.is_some_and(|t| now.duration_since(t) < PLI_INTERVAL) {
            return false;
        }
        self.last_request = Some(now);
        self.requests += 1;
        true
    }
}

enum Taken {
    Frame(u64, Frame),
    NotAStart,
    Incomplete,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake keyframe / delta frame of `len` bytes.
    fn frame(key: bool, len: usize, fill: u8) -> Vec<u8> {
        let mut f = vec![fill; len.max(10)];
        f[0] = if key { 0x10 } else { 0x11 };
        f[3..6].copy_from_slice(&[0x9d, 0x01, 0x2a]);
        f
    }

    /// Packetizes like the stack: 1-byte descriptor (S on the first), marker on the last.
    fn packets(f: &[u8], mtu: usize) -> Vec<(bool, Bytes)> {
        let chunks: Vec<&[u8]> = f.chunks(mtu).collect();
        let n = chunks.len();
        chunks
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                let mut p = vec![if i == 0 { 0x10 } else { 0x00 }];
                p.extend_from_slice(c);
                (i + 1 == n, Bytes::from(p))
            })
            .collect()
    }

    struct Stream {
        seq: u16,
        ts: u32,
        pending: Vec<(u16, u32, bool, Bytes)>,
    }

    impl Stream {
        fn frame(&mut self, f: &[u8]) {
            for (marker, p) in packets(f, 100) {
                self.pending.push((self.seq, self.ts, marker, p));
                self.seq = self.seq.wrapping_add(1);
            }
            self.ts = self.ts.wrapping_add(3000);
        }
    }

    #[test]
    fn frames_reassemble_in_order_across_a_sequence_wrap_and_reordering() {
        let mut s = Stream { seq: 65_530, ts: 7, pending: Vec::new() };
        let frames = [frame(true, 350, 1), frame(false, 120, 2), frame(false, 5, 3), frame(false, 260, 4)];
        for f in &frames {
            s.frame(f);
        }
        s.pending.swap(1, 3); // reordered within the keyframe
        let mut a = Vp8Assembler::default();
        let now = Instant::now();
        let mut got = Vec::new();
        for (seq, ts, m, p) in s.pending {
            got.extend(a.push(now, seq, ts, m, &p));
        }
        assert_eq!(got.iter().map(|f| f.data.clone()).collect::<Vec<_>>(), frames.to_vec());
        assert!(got[0].keyframe && !got[1].keyframe);
        assert!(!a.wants_keyframe(now));
    }

    #[test]
    fn a_lost_packet_waits_for_a_retransmission_then_gives_up_and_asks_for_a_keyframe() {
        let mut s = Stream { seq: 100, ts: 0, pending: Vec::new() };
        s.frame(&frame(true, 300, 1));
        s.frame(&frame(false, 300, 2)); // packets 104..=107
        s.frame(&frame(false, 300, 3));
        let lost = s.pending.remove(5);
        let mut a = Vp8Assembler::default();
        let t0 = Instant::now();
        let mut got = Vec::new();
        for (seq, ts, m, p) in s.pending.clone() {
            got.extend(a.push(t0, seq, ts, m, &p));
        }
        assert_eq!(got.len(), 1, "only the keyframe so far");
        // The retransmission arrives in time: everything comes out.
        let mut b = Vp8Assembler::default();
        let mut all = Vec::new();
        for (seq, ts, m, p) in s.pending.iter().cloned().chain([lost]) {
            all.extend(b.push(t0, seq, ts, m, &p));
        }
        assert_eq!(all.len(), 3);
        // It does not: after MAX_PACKET_WAIT the frames are dropped and a keyframe asked for.
        let later = t0 + MAX_PACKET_WAIT + Duration::from_millis(1);
        s.frame(&frame(false, 50, 4));
        let (seq, ts, m, p) = s.pending.last().cloned().unwrap_or_else(|| unreachable!());
        assert!(a.push(later, seq, ts, m, &p).is_empty());
        assert!(a.wants_keyframe(later));
        assert!(!a.wants_keyframe(later), "rate-limited");
        s.pending.clear();
        s.frame(&frame(true, 200, 5));
        let mut after = Vec::new();
        for (seq, ts, m, p) in s.pending.clone() {
            after.extend(a.push(later, seq, ts, m, &p));
        }
        assert_eq!(after.len(), 1);
        assert!(after[0].keyframe);
        assert!(!a.wants_keyframe(later + PLI_INTERVAL));
    }

    #[test]
    fn a_stream_joined_mid_way_asks_for_a_keyframe_and_drops_deltas() {
        let mut s = Stream { seq: 1, ts: 0, pending: Vec::new() };
        s.frame(&frame(false, 150, 1));
        s.frame(&frame(false, 150, 2));
        let mut a = Vp8Assembler::default();
        let now = Instant::now();
        for (seq, ts, m, p) in s.pending.clone() {
            assert!(a.push(now, seq, ts, m, &p).is_empty());
        }
        assert!(a.wants_keyframe(now));
        assert_eq!(a.dropped_frames, 2);
    }

    #[test]
    fn descriptors_with_extensions_parse() {
        // X, I with a 15-bit picture id, L, T: 1 + 1 + 2 + 1 + 1 bytes of descriptor.
        let p = [0x90, 0xe0, 0x80, 0x01, 0x05, 0x20, 0xaa];
        assert_eq!(parse_descriptor(&p), Some((true, 6)));
        assert_eq!(parse_descriptor(&[0x10]), None);
        assert_eq!(parse_descriptor(&[0x00, 0x42]), Some((false, 1)));
        assert_eq!(parse_descriptor(&[0x90, 0x80]), None);
    }
}
