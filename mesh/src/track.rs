//! The media tracks of a link (with [`crate::Config::video`] / [`crate::Config::audio`]):
//! one VP8 video track and one Opus voice track, both sendrecv, on the unreliable part's peer
//! connection.
//!
//! - Sending: the caller's encoded frames (a VP8 frame, or a 20 ms Opus packet) go to a
//!   per-track writer task, which hands each to the stack's [`TrackLocalStaticSample`] — its
//!   payloader splits a VP8 frame into RTP packets (≤ 1200 bytes) or puts an Opus packet in
//!   one, numbers and timestamps them (90 kHz video / 48 kHz voice, advanced by the frame's
//!   duration). For video the default interceptors' NACK responder keeps the packets for
//!   retransmission; voice is not retransmitted (a late voice packet is useless; the
//!   receiver conceals the loss).
//! - Receiving: see [`crate::video`] for video; voice packets go out as they come, with their
//!   RTP sequence number and timestamp, to the caller's jitter buffer.
//! - Feedback: the stack's interceptor chain ends inbound RTCP before the application unless
//!   an interceptor marks it `Attribute::DeliverToApplication`: [`RtcpForwarder`] marks PLI,
//!   FIR and receiver reports, which then reach the local track as
//!   `TrackLocalEvent::OnRtcpPacket`: the link reports keyframe requests and the peer's loss
//!   figures (for the sender's adaptation).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rtc::interceptor::{Attribute, Interceptor, Packet, Registry, Slot, StreamInfo, TaggedPacket};
use rtc::media::Sample;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::interceptor_registry::register_default_interceptors;
use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_OPUS, MIME_TYPE_VP8, MediaEngine};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::rtcp::sender_report::SenderReport;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::sansio::Protocol;
use tokio::sync::mpsc;
use webrtc::error::Error as RtcError;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::PeerConnection;
use webrtc::rtp_transceiver::RtpSender;

/// The RTP payload types offered (dynamic range; the answer may pick others).
const VP8_PAYLOAD_TYPE: u8 = 96;
const OPUS_PAYLOAD_TYPE: u8 = 111;

/// Frames queued for one track's writer; beyond this a frame is dropped (for video a
/// keyframe is then asked for, since the peer's decoder now misses a reference).
const SEND_QUEUE: usize = 16;

/// Which track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Video,
    Voice,
}

fn codec(kind: Kind) -> RTCRtpCodec {
    match kind {
        Kind::Video => RTCRtpCodec {
            mime_type: MIME_TYPE_VP8.to_owned(),
            clock_rate: 90_000,
            channels: 0,
            sdp_fmtp_line: String::new(),
            rtcp_feedback: vec![],
        },
        // RFC 7587: always "opus/48000/2" in SDP, whatever is sent (we send mono).
        Kind::Voice => RTCRtpCodec {
            mime_type: MIME_TYPE_OPUS.to_owned(),
            clock_rate: 48_000,
            channels: 2,
            sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
            rtcp_feedback: vec![],
        },
    }
}

/// The media engine (VP8 and/or Opus) and interceptors (the stack's defaults — NACK
/// generator and responder, RTCP reports, TWCC receiver — plus [`RtcpForwarder`]) of a peer
/// connection that carries media.
pub(crate) fn media_setup(video: bool, voice: bool) -> Result<(MediaEngine, Registry), RtcError> {
    let mut engine = MediaEngine::default();
    if video {
        engine.register_codec(
            RTCRtpCodecParameters { rtp_codec: codec(Kind::Video), payload_type: VP8_PAYLOAD_TYPE },
            RtpCodecKind::Video,
        )?;
    }
    if voice {
        engine.register_codec(
            RTCRtpCodecParameters { rtp_codec: codec(Kind::Voice), payload_type: OPUS_PAYLOAD_TYPE },
            RtpCodecKind::Audio,
        )?;
    }
    let registry = register_default_interceptors(Registry::new(), &mut engine)?;
    // After every stock interceptor on the read path (they have all seen the packet).
    let registry = registry.with(Slot::from(14_000), RtcpForwarder::default());
    Ok((engine, registry))
}

fn is_keyframe_request(packet: &dyn rtc::rtcp::Packet) -> bool {
    let any = packet.as_any();
    any.is::<PictureLossIndication>() || any.is::<FullIntraRequest>()
}

/// The RTCP packets the application wants: keyframe requests and reception reports (a
/// receiver report, or the reports a sender report carries).
fn is_forwarded(packet: &dyn rtc::rtcp::Packet) -> bool {
    let any = packet.as_any();
    is_keyframe_request(packet) || any.is::<ReceiverReport>() || any.is::<SenderReport>()
}

/// Lets inbound PLI, FIR and reception reports through to the application (the chain's end
/// drops all inbound RTCP otherwise). Packets without one pass on unmarked; the compound
/// packet is cut down to them so the stack routes it by their media SSRC (our sender's).
#[derive(Default)]
pub(crate) struct RtcpForwarder {
    read: VecDeque<TaggedPacket>,
    write: VecDeque<TaggedPacket>,
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for RtcpForwarder {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = rtc::shared::error::Error;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet
            && packets.iter().any(|p| is_forwarded(p.as_ref()))
        {
            let wanted = packets.iter().filter(|p| is_forwarded(p.as_ref())).cloned().collect();
            msg.message.packet = Packet::Rtcp(wanted);
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

impl Interceptor for RtcpForwarder {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}

/// One frame for a writer.
pub(crate) struct OutFrame {
    pub data: Bytes,
    pub duration: Duration,
}

/// What the peer's RTCP told the sending side of a track.
pub(crate) enum Feedback {
    /// A PLI or FIR.
    KeyframeRequest,
    /// A reception report about our stream: the fraction lost since the last report (0–1)
    /// and the interarrival jitter in RTP clock units.
    Report { fraction_lost: f32, jitter: u32 },
}

/// The sending half of a link's media track.
pub(crate) struct TrackSend {
    kind: Kind,
    track: Arc<TrackLocalStaticSample>,
    frames: mpsc::Sender<OutFrame>,
    rx: Option<mpsc::Receiver<OutFrame>>,
    sender: Arc<dyn RtpSender>,
    ssrc: u32,
    closed: Arc<AtomicBool>,
}

/// Adds a local track (sendrecv transceiver) of `kind` to `pc`, before the offer or answer.
pub(crate) async fn add_track(pc: &Arc<dyn PeerConnection>, kind: Kind) -> Result<TrackSend, RtcError> {
    let ssrc = rand::random::<u32>();
    // Track ids must differ between the two ends: the stack routes RTCP to a remote track
    // first when a local and a remote track share an id.
    let tag = rand::random::<u64>();
    let (label, rtp_kind) = match kind {
        Kind::Video => ("camera", RtpCodecKind::Video),
        Kind::Voice => ("microphone", RtpCodecKind::Audio),
    };
    let track = Arc::new(TrackLocalStaticSample::new(
        Instant::now(),
        MediaStreamTrack::new(
            format!("poseparty-{tag:016x}"),
            format!("{label}-{tag:016x}"),
            label.to_owned(),
            rtp_kind,
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters { ssrc: Some(ssrc), ..Default::default() },
                codec: codec(kind),
                ..Default::default()
            }],
        ),
    )?);
    let sender = pc.add_track(track.clone() as Arc<dyn TrackLocal>).await?;
    let (frames, rx) = mpsc::channel(SEND_QUEUE);
    Ok(TrackSend { kind, track, frames, rx: Some(rx), sender, ssrc, closed: Arc::default() })
}

impl TrackSend {
    /// Starts the writer task and the RTCP watcher (once the link is negotiated; later calls
    /// do nothing). `on_feedback` runs for each keyframe request and reception report about
    /// this track's stream.
    pub(crate) fn start(&mut self, on_feedback: impl Fn(Feedback) + Send + Sync + 'static) {
        let Some(mut rx) = self.rx.take() else { return };
        let (track, sender, ssrc, kind) = (self.track.clone(), self.sender.clone(), self.ssrc, self.kind);
        tokio::spawn(async move {
            let mut payload_type = None;
            while let Some(frame) = rx.recv().await {
                let pt = match payload_type {
                    Some(pt) => pt,
                    None => match sender.get_parameters().await.map(|p| p.rtp_parameters.codecs.first().map(|c| c.payload_type)) {
                        Ok(Some(pt)) => *payload_type.insert(pt),
                        Ok(None) => {
                            tracing::debug!(?kind, "sender has no negotiated codec; frame dropped");
                            continue;
                        }
                        Err(e) => {
                            tracing::debug!(?kind, "sender parameters: {e}; frame dropped");
                            continue;
                        }
                    },
                };
                let sample = Sample { data: frame.data, duration: frame.duration, ..Sample::new(Instant::now()) };
                if let Err(e) = track.sample_writer(ssrc, pt).write_sample(&sample).await {
                    tracing::debug!(?kind, "writing a frame: {e}");
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
                        for packet in &packets {
                            for feedback in feedback_of(packet.as_ref(), ssrc) {
                                on_feedback(feedback);
                            }
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

/// What one RTCP packet says about our stream `ssrc`.
fn feedback_of(packet: &dyn rtc::rtcp::Packet, ssrc: u32) -> Vec<Feedback> {
    if is_keyframe_request(packet) {
        return vec![Feedback::KeyframeRequest];
    }
    let any = packet.as_any();
    let reports = if let Some(rr) = any.downcast_ref::<ReceiverReport>() {
        &rr.reports
    } else if let Some(sr) = any.downcast_ref::<SenderReport>() {
        &sr.reports
    } else {
        return Vec::new();
    };
    reports
        .iter()
        .filter(|r| r.ssrc == ssrc)
        .map(|r| Feedback::Report { fraction_lost: f32::from(r.fraction_lost) / 256.0, jitter: r.jitter })
        .collect()
}

/// One voice packet as it arrived.
pub(crate) struct VoiceIn {
    pub sequence: u16,
    pub timestamp: u32,
    pub data: Vec<u8>,
}

/// Reads a remote voice track until it ends; every packet with a payload goes to `emit`.
pub(crate) fn spawn_voice_reader(track: Arc<dyn TrackRemote>, emit: impl Fn(VoiceIn) + Send + 'static) {
    tokio::spawn(async move {
        while let Some(event) = track.poll().await {
            match event {
                TrackRemoteEvent::OnRtpPacket(packet) if !packet.payload.is_empty() => emit(VoiceIn {
                    sequence: packet.header.sequence_number,
                    timestamp: packet.header.timestamp,
                    data: packet.payload.to_vec(),
                }),
                TrackRemoteEvent::OnEnded | TrackRemoteEvent::OnError => break,
                _ => {}
            }
        }
    });
}
