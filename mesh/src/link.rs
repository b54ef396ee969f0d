//! The link to one other player: its two data channels, each in a peer connection of its own.
//!
//! Why two peer connections: all channels of one peer connection share one SCTP association,
//! and its congestion control treats them as one flow. When a reliable message is lost, the
//! association may wait for a retransmission timeout (at least 1 s in this SCTP stack) with
//! its window full, and every live pose queued behind it arrives a second late. With the
//! unreliable channel alone on its association, a lost pose is simply abandoned.
//!
//! Each part carries one pre-negotiated channel, created identically on both sides:
//! [`Channel::Reliable`] on SCTP stream 0 (reliable, ordered) and [`Channel::Unreliable`] on
//! stream 1 (unordered, `maxRetransmits = 0`).
//!
//! Signaling for both parts travels in one exchange: an offer or answer carries both SDPs
//! joined by [`SDP_SEPARATOR`], and a trickled ICE candidate names its part in
//! `sdp_mline_index` (0 reliable, 1 unreliable), restored to 0 when it is added.
//!
//! A [`Link`] reports everything that happens on it as [`LinkEvent`]s tagged with the peer
//! and the link's generation, so the driver can ignore late events of a link it already
//! replaced.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use shared::protocol::peer::Channel;
use shared::protocol::signal::{IceServer, PeerId};
use tokio::sync::mpsc;
use webrtc::data_channel::{DataChannel, DataChannelEvent, RTCDataChannelInit};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCConfigurationBuilder,
    RTCIceCandidateInit, RTCIceServer, RTCPeerConnectionIceEvent, RTCPeerConnectionState,
    RTCIceCandidateType, RTCIceTransportPolicy, RTCSessionDescription, RTCStatsReportEntry, SettingEngineBuilder,
    StatsSelector,
};

use crate::CandidateRewrite;
use crate::track::{self, Feedback, TrackSend};
use crate::video;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use webrtc::media_stream::track_remote::TrackRemote;
// mDNS candidates are of no use between our own clients, and mDNS binds a fixed port that
// several peer connections in one process would fight over.
use rtc::ice::mdns::MulticastDnsMode;

pub(crate) use webrtc::error::Error as RtcError;

/// Joins the two SDPs of one offer or answer (a NUL never occurs in an SDP).
pub(crate) const SDP_SEPARATOR: char = '\0';

/// What a link reports to the driver.
#[derive(Debug)]
pub(crate) enum LinkEventKind {
    /// A local ICE candidate to send to the peer (already rewritten and tagged).
    LocalCandidate(RTCIceCandidateInit),
    State(Channel, RTCPeerConnectionState),
    ChannelOpen(Channel),
    ChannelClosed(Channel),
    Message(Channel, BytesMut),
    /// The selected candidate pair of a part, read from its stats.
    Path(Channel, crate::LinkPath),
    /// A whole VP8 frame from the peer's video track (decodable from the last keyframe on).
    VideoFrame { data: Vec<u8>, keyframe: bool },
    /// The peer asked for a keyframe (RTCP PLI or FIR on our video track).
    KeyframeRequest,
    /// The peer's reception report on our video track.
    VideoReport { fraction_lost: f32, jitter: u32 },
    /// One Opus packet from the peer's voice track.
    Voice { sequence: u16, timestamp: u32, data: Vec<u8> },
}

#[derive(Debug)]
pub(crate) struct LinkEvent {
    pub peer: PeerId,
    pub generation: u32,
    pub kind: LinkEventKind,
}

/// Everything a link needs to be built.
#[derive(Clone)]
pub(crate) struct LinkSetup {
    pub ice_servers: Vec<IceServer>,
    pub udp_bind: Vec<SocketAddr>,
    pub rewrite: Option<CandidateRewrite>,
    pub events: mpsc::UnboundedSender<LinkEvent>,
    /// Live messages skipped because the unreliable channel was backed up.
    pub skipped_live: Arc<AtomicU64>,
    /// Gather relay candidates only.
    pub relay_only: bool,
    /// Negotiate a VP8 video track on the unreliable part.
    pub video: bool,
    /// Negotiate an Opus voice track on the unreliable part.
    pub voice: bool,
}

/// Why signaling from the peer could not be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LinkError {
    #[error(transparent)]
    Rtc(#[from] RtcError),
    #[error("the peer's session description does not have two parts")]
    BadBundle,
}

struct Handler {
    peer: PeerId,
    generation: u32,
    part: Channel,
    rewrite: Option<CandidateRewrite>,
    events: mpsc::UnboundedSender<LinkEvent>,
}

impl Handler {
    fn emit(&self, kind: LinkEventKind) {
        let _ = self.events.send(LinkEvent { peer: self.peer, generation: self.generation, kind });
    }
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        match event.candidate.to_json() {
            Ok(mut init) => {
                if let Some(rewrite) = &self.rewrite {
                    match rewrite(&init.candidate) {
                        Some(c) => init.candidate = c,
                        None => return,
                    }
                }
                init.sdp_mline_index = Some(self.part.stream_id());
                self.emit(LinkEventKind::LocalCandidate(init));
            }
            Err(e) => tracing::warn!(peer = self.peer, "local ICE candidate not serializable: {e}"),
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        self.emit(LinkEventKind::State(self.part, state));
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let (peer, generation, events) = (self.peer, self.generation, self.events.clone());
        let kind = track.kind().await;
        if kind == RtpCodecKind::Audio {
            track::spawn_voice_reader(track, move |packet| {
                let kind = LinkEventKind::Voice { sequence: packet.sequence, timestamp: packet.timestamp, data: packet.data };
                let _ = events.send(LinkEvent { peer, generation, kind });
            });
            return;
        }
        if kind != RtpCodecKind::Video {
            tracing::debug!(peer = self.peer, ?kind, "ignoring a remote track of an unknown kind");
            return;
        }
        video::spawn_reader(track, move |incoming| {
            let kind = match incoming {
                video::VideoIn::Frame { data, keyframe } => LinkEventKind::VideoFrame { data, keyframe },
            };
            let _ = events.send(LinkEvent { peer, generation, kind });
        });
    }
}

/// One of the two peer connections of a link.
struct Part {
    pc: Arc<dyn PeerConnection>,
    remote_set: bool,
    pending_remote: Vec<RTCIceCandidateInit>,
}

/// A live link: two peer connections and a writer task.
pub(crate) struct Link {
    parts: [Part; 2],
    out: mpsc::UnboundedSender<(Channel, BytesMut)>,
    rewrite: Option<CandidateRewrite>,
    /// The local video track (on the unreliable part), with [`LinkSetup::video`].
    video: Option<TrackSend>,
    /// The local voice track (on the unreliable part), with [`LinkSetup::voice`].
    voice: Option<TrackSend>,
}

fn channel_init(channel: Channel) -> RTCDataChannelInit {
    match channel {
        Channel::Reliable => RTCDataChannelInit {
            ordered: true,
            negotiated: Some(channel.stream_id()),
            ..Default::default()
        },
        Channel::Unreliable => RTCDataChannelInit {
            ordered: false,
            max_retransmits: Some(0),
            negotiated: Some(channel.stream_id()),
            ..Default::default()
        },
    }
}

fn label(channel: Channel) -> &'static str {
    match channel {
        Channel::Reliable => "reliable",
        Channel::Unreliable => "unreliable",
    }
}

/// How long a newly opened channel waits before it is reported open: time for the peer
/// connection's driver to flush the channel's local stream setup (see [`flush_stream_setup`]).
const STREAM_SETUP_SETTLE: Duration = Duration::from_millis(5);

/// Makes the peer connection apply the channel's own SCTP stream settings before anything
/// can arrive on the stream.
///
/// `webrtc` 0.21.1 reports a pre-negotiated channel open as soon as the SCTP association is
/// up, but the write that creates the local SCTP stream with the channel's settings
/// (unordered, `maxRetransmits = 0`) only sits in a queue until the connection's driver next
/// flushes its writes — and the driver, idle, wakes for an incoming datagram first. If the
/// peer's first message on the channel arrives in that window, the stack creates the stream
/// for it with default settings (ordered, fully reliable) and then refuses our own setup
/// ("there already exists a stream with identifier"): the "unreliable" channel retransmits
/// every lost pose and delivers them in order, seconds late. This happened in 3 of 6 runs of
/// the loss test. Setting a buffered-amount threshold wakes the driver's write path, which
/// flushes the queued setup first; the short settle covers the driver's scheduling. The peer
/// sends nothing on a channel before our `LinkUp`, which goes out only after this.
async fn flush_stream_setup(dc: &Arc<dyn DataChannel>) {
    match dc.buffered_amount_low_threshold().await {
        Ok(threshold) => {
            if let Err(e) = dc.set_buffered_amount_low_threshold(threshold).await {
                tracing::debug!("could not wake the data channel's writer: {e}");
            }
        }
        Err(e) => tracing::debug!("could not read the data channel's threshold: {e}"),
    }
    tokio::time::sleep(STREAM_SETUP_SETTLE).await;
}

/// Forwards one channel's events to the driver until it closes.
fn spawn_reader(dc: Arc<dyn DataChannel>, channel: Channel, handler: Arc<Handler>) {
    tokio::spawn(async move {
        while let Some(event) = dc.poll().await {
            match event {
                DataChannelEvent::OnOpen => {
                    flush_stream_setup(&dc).await;
                    handler.emit(LinkEventKind::ChannelOpen(channel));
                }
                DataChannelEvent::OnMessage(msg) => {
                    handler.emit(LinkEventKind::Message(channel, msg.data))
                }
                DataChannelEvent::OnClose => {
                    handler.emit(LinkEventKind::ChannelClosed(channel));
                    break;
                }
                _ => {}
            }
        }
    });
}

/// The SCTP packet budget of the unreliable part, which also sets its congestion-window
/// floor (4 × budget in fast recovery, 1 × after a retransmission timeout).
///
/// The stack abandons a lost live pose (`maxRetransmits = 0`) only when it would retransmit
/// it. While the association is in fast recovery it counts no new loss reports unless the
/// cumulative ack advances, and with nothing retransmitted it never does: every pose lost
/// after the first one stays "in flight" until the retransmission timer fires (≥ 1 s, then
/// doubling). With the default budget (1191 bytes) four such poses fill the window, the
/// sender stops, and everyone's skeleton freezes for 1–7 s. Measured with the loss test
/// (10 % of datagrams dropped, 30 and 120 poses per second): at the default budget, 11 of 24
/// runs had a live-pose p99 ≥ 100 ms, 4 of them 1–3 s; with 4, 8 or 16 KiB, none of 24 runs
/// went above a p99 of 6.6 ms (slowest pose 15 ms). The cost: should several live messages queue up at once they are
/// bundled into one datagram of up to this size, which the IP layer fragments on a
/// 1500-byte path. Live messages go out one at a time as they are made, so this is rare.
pub(crate) const UNRELIABLE_SCTP_MTU: u32 = 4096;

/// Unacknowledged live data beyond which new live messages are skipped instead of queued: a
/// backstop for a peer that stopped acknowledging (a dying link), not a latency control —
/// SCTP abandons a lost live message itself (`maxRetransmits = 0`). It must stay far above
/// what a single loss holds back: a lost chunk is only abandoned (and the data after it
/// released) once later packets have drawn SACKs reporting the gap. With a 1 KiB limit the
/// sender stopped after three poses, no more SACKs came, and every loss turned into a
/// retransmission-timeout stall of ≥ 1 s (30–80 % of live poses lost at 10 % packet loss).
/// 64 KiB is about 8 s of poses at 30 Hz.
pub(crate) const LIVE_BACKLOG_BYTES: usize = 64 * 1024;

/// Sends queued messages in order. A live message is skipped while the unreliable channel
/// is backed up; a failed unreliable send is dropped; a failed reliable send ends the writer
/// (the link is failing and will be replaced).
fn spawn_writer(
    reliable: Arc<dyn DataChannel>,
    unreliable: Arc<dyn DataChannel>,
    mut rx: mpsc::UnboundedReceiver<(Channel, BytesMut)>,
    peer: PeerId,
    skipped: Arc<AtomicU64>,
) {
    tokio::spawn(async move {
        while let Some((channel, bytes)) = rx.recv().await {
            let dc = match channel {
                Channel::Reliable => &reliable,
                Channel::Unreliable => &unreliable,
            };
            if channel == Channel::Unreliable
                && dc.outstanding_bytes().await.unwrap_or(0) > LIVE_BACKLOG_BYTES
            {
                skipped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            if let Err(e) = dc.send(bytes).await {
                tracing::debug!(peer, ?channel, "data channel send failed: {e}");
                if channel == Channel::Reliable {
                    break;
                }
            }
        }
    });
}

fn kind_of(t: RTCIceCandidateType) -> crate::CandidateKind {
    use crate::CandidateKind as K;
    match t {
        RTCIceCandidateType::Host => K::Host,
        RTCIceCandidateType::Srflx => K::Srflx,
        RTCIceCandidateType::Prflx => K::Prflx,
        RTCIceCandidateType::Relay => K::Relay,
        _ => K::Unknown,
    }
}

/// The selected candidate pair in a stats report: transport → selected pair → its local and
/// remote candidates. `None` before a pair is selected.
fn selected_path(report: &webrtc::peer_connection::RTCStatsReport) -> Option<crate::LinkPath> {
    let pair_id = report.transport().map(|t| t.selected_candidate_pair_id.clone()).filter(|id| !id.is_empty());
    let pair = match pair_id {
        Some(id) => match report.get(&id) {
            Some(RTCStatsReportEntry::IceCandidatePair(pair)) => pair,
            _ => return None,
        },
        // Some stacks leave the transport's id empty: fall back to the nominated pair.
        None => report.candidate_pairs().find(|p| p.nominated)?,
    };
    // The pair names candidates by their ICE id; their stats entries are
    // `RTCLocalIceCandidate_<id>` / `RTCRemoteIceCandidate_<id>`.
    let find = |id: &str, local: bool| {
        report.iter().find_map(|entry| match entry {
            RTCStatsReportEntry::LocalCandidate(c) if local && (c.stats.id == id || c.stats.id.ends_with(&format!("_{id}"))) => {
                Some(kind_of(c.candidate_type))
            }
            RTCStatsReportEntry::RemoteCandidate(c) if !local && (c.stats.id == id || c.stats.id.ends_with(&format!("_{id}"))) => {
                Some(kind_of(c.candidate_type))
            }
            _ => None,
        })
    };
    let local = find(&pair.local_candidate_id, true).unwrap_or(crate::CandidateKind::Unknown);
    // A remote candidate the peer never signalled was learnt from its checks: peer-reflexive.
    let remote = find(&pair.remote_candidate_id, false).unwrap_or(crate::CandidateKind::Prflx);
    Some(crate::LinkPath { local, remote })
}

/// Rewrites (or drops) the `a=candidate:` lines of an SDP.
fn rewrite_sdp(sdp: &str, rewrite: &Option<CandidateRewrite>) -> String {
    let Some(rewrite) = rewrite else { return sdp.to_owned() };
    let mut out = String::with_capacity(sdp.len());
    for line in sdp.split_inclusive('\n') {
        let body = line.trim_end_matches(['\r', '\n']);
        let ending = &line[body.len()..];
        match body.strip_prefix("a=") {
            Some(cand) if cand.starts_with("candidate:") => {
                if let Some(new) = rewrite(cand) {
                    out.push_str("a=");
                    out.push_str(&new);
                    out.push_str(ending);
                }
            }
            _ => out.push_str(line),
        }
    }
    out
}

/// Splits a bundle into its two SDPs.
fn split_bundle(bundle: &str) -> Result<[String; 2], LinkError> {
    let mut parts = bundle.split(SDP_SEPARATOR);
    match (parts.next(), parts.next(), parts.next()) {
        (Some(a), Some(b), None) if !a.is_empty() && !b.is_empty() => Ok([a.to_owned(), b.to_owned()]),
        _ => Err(LinkError::BadBundle),
    }
}

async fn build_part(
    peer: PeerId,
    generation: u32,
    part: Channel,
    setup: &LinkSetup,
) -> Result<(Part, Arc<dyn DataChannel>, [Option<TrackSend>; 2]), RtcError> {
    let handler = Arc::new(Handler {
        peer,
        generation,
        part,
        rewrite: setup.rewrite.clone(),
        events: setup.events.clone(),
    });
    let ice_servers = setup
        .ice_servers
        .iter()
        .map(|s| RTCIceServer {
            urls: s.urls.clone(),
            username: s.username.clone().unwrap_or_default(),
            credential: s.credential.clone().unwrap_or_default(),
        })
        .collect();
    let policy = if setup.relay_only { RTCIceTransportPolicy::Relay } else { RTCIceTransportPolicy::All };
    let config = RTCConfigurationBuilder::default().with_ice_servers(ice_servers).with_ice_transport_policy(policy).build();
    let mut setting_engine = SettingEngineBuilder::new()
        .with_multicast_dns_mode(MulticastDnsMode::Disabled)
        // Loopback candidates only help players on this machine; offered to a remote peer they
        // make its TURN client ask the relay for a permission to 127.0.0.1, which the relay
        // refuses — together with the rest of that request.
        .with_include_loopback_candidate(setup.udp_bind.iter().all(|a| a.ip().is_loopback()));
    if part == Channel::Unreliable {
        setting_engine = setting_engine.with_sctp_mtu(UNRELIABLE_SCTP_MTU);
    }
    let setting_engine = setting_engine.build();
    let with_video = setup.video && part == Channel::Unreliable;
    let with_voice = setup.voice && part == Channel::Unreliable;
    let mut builder = PeerConnectionBuilder::new()
        .with_configuration(config)
        .with_setting_engine(setting_engine)
        .with_handler(handler.clone() as Arc<dyn PeerConnectionEventHandler>)
        .with_udp_addrs(setup.udp_bind.clone());
    if with_video || with_voice {
        let (engine, registry) = track::media_setup(with_video, with_voice)?;
        builder = builder.with_media_engine(engine).with_interceptor_registry(registry);
    }
    let pc: Arc<dyn PeerConnection> = Arc::new(builder.build().await?);
    let dc = pc.create_data_channel(label(part), Some(channel_init(part))).await?;
    spawn_reader(dc.clone(), part, handler);
    let mut tracks = [None, None];
    for (slot, (wanted, kind)) in tracks.iter_mut().zip([(with_video, track::Kind::Video), (with_voice, track::Kind::Voice)]) {
        if !wanted {
            continue;
        }
        match track::add_track(&pc, kind).await {
            Ok(t) => *slot = Some(t),
            Err(e) => {
                let _ = pc.close().await;
                return Err(e);
            }
        }
    }
    Ok((Part { pc, remote_set: false, pending_remote: Vec::new() }, dc, tracks))
}

impl Part {
    async fn set_remote(&mut self, desc: RTCSessionDescription) -> Result<(), RtcError> {
        self.pc.set_remote_description(desc).await?;
        self.remote_set = true;
        for candidate in std::mem::take(&mut self.pending_remote) {
            add_candidate(&self.pc, candidate).await;
        }
        Ok(())
    }

    async fn local_sdp(&self, created: RTCSessionDescription) -> Result<String, RtcError> {
        self.pc.set_local_description(created.clone()).await?;
        Ok(self.pc.local_description().await.map(|d| d.sdp).unwrap_or(created.sdp))
    }
}

async fn add_candidate(pc: &Arc<dyn PeerConnection>, candidate: RTCIceCandidateInit) {
    if let Err(e) = pc.add_ice_candidate(candidate).await {
        tracing::debug!("remote ICE candidate refused: {e}");
    }
}

impl Link {
    /// Builds both peer connections and their channels.
    pub(crate) async fn build(peer: PeerId, generation: u32, setup: &LinkSetup) -> Result<Self, RtcError> {
        let (reliable, rel_dc, _) = build_part(peer, generation, Channel::Reliable, setup).await?;
        let (unreliable, unrel_dc, [video, voice]) = match build_part(peer, generation, Channel::Unreliable, setup).await {
            Ok(part) => part,
            Err(e) => {
                let _ = reliable.pc.close().await;
                return Err(e);
            }
        };
        let (out, rx) = mpsc::unbounded_channel();
        spawn_writer(rel_dc, unrel_dc, rx, peer, setup.skipped_live.clone());
        Ok(Self { parts: [reliable, unreliable], out, rewrite: setup.rewrite.clone(), video, voice })
    }

    /// Starts sending media and watching the peer's feedback on it (once the link is open;
    /// later calls do nothing). Without media tracks, nothing.
    pub(crate) fn start_media(&mut self, peer: PeerId, generation: u32, events: &mpsc::UnboundedSender<LinkEvent>) {
        if let Some(video) = &mut self.video {
            let events = events.clone();
            video.start(move |feedback| {
                let kind = match feedback {
                    Feedback::KeyframeRequest => LinkEventKind::KeyframeRequest,
                    Feedback::Report { fraction_lost, jitter } => LinkEventKind::VideoReport { fraction_lost, jitter },
                };
                let _ = events.send(LinkEvent { peer, generation, kind });
            });
        }
        if let Some(voice) = &mut self.voice {
            voice.start(|_| {});
        }
    }

    /// Queues an encoded VP8 frame for the video track; never waits. `None` without video,
    /// `Some(false)` when the frame was dropped (the writer is backed up).
    pub(crate) fn send_video(&self, data: bytes::Bytes, duration: Duration) -> Option<bool> {
        self.video.as_ref().map(|v| v.send(track::OutFrame { data, duration }))
    }

    /// Queues an Opus packet for the voice track; never waits. `None` without voice,
    /// `Some(false)` when the packet was dropped (the writer is backed up).
    pub(crate) fn send_voice(&self, data: bytes::Bytes, duration: Duration) -> Option<bool> {
        self.voice.as_ref().map(|v| v.send(track::OutFrame { data, duration }))
    }

    fn bundle(&self, sdps: [String; 2]) -> String {
        let [a, b] = sdps.map(|sdp| rewrite_sdp(&sdp, &self.rewrite));
        format!("{a}{SDP_SEPARATOR}{b}")
    }

    /// Offerer side: creates the offers and returns them bundled (rewritten) for the peer.
    pub(crate) async fn offer(&self) -> Result<String, LinkError> {
        let mut sdps = [String::new(), String::new()];
        for (part, sdp) in self.parts.iter().zip(sdps.iter_mut()) {
            let offer = part.pc.create_offer(None).await?;
            *sdp = part.local_sdp(offer).await?;
        }
        Ok(self.bundle(sdps))
    }

    /// Answerer side: takes the peer's offers, returns the answers bundled (rewritten).
    pub(crate) async fn answer(&mut self, offer: &str) -> Result<String, LinkError> {
        let offers = split_bundle(offer)?;
        let mut sdps = [String::new(), String::new()];
        for ((part, offer), sdp) in self.parts.iter_mut().zip(offers).zip(sdps.iter_mut()) {
            part.set_remote(RTCSessionDescription::offer(offer)?).await?;
            let answer = part.pc.create_answer(None).await?;
            *sdp = part.local_sdp(answer).await?;
        }
        Ok(self.bundle(sdps))
    }

    /// Offerer side: takes the peer's answers.
    pub(crate) async fn accept_answer(&mut self, answer: &str) -> Result<(), LinkError> {
        let answers = split_bundle(answer)?;
        for (part, answer) in self.parts.iter_mut().zip(answers) {
            part.set_remote(RTCSessionDescription::answer(answer)?).await?;
        }
        Ok(())
    }

    /// A remote candidate (tagged with its part); held back until that part's remote
    /// description is set.
    pub(crate) async fn add_remote_candidate(&mut self, mut candidate: RTCIceCandidateInit) {
        let index = candidate.sdp_mline_index.unwrap_or(0);
        let Some(part) = self.parts.get_mut(usize::from(index)) else {
            tracing::debug!("remote ICE candidate for unknown part {index}");
            return;
        };
        candidate.sdp_mline_index = Some(0);
        if part.remote_set {
            add_candidate(&part.pc, candidate).await;
        } else {
            part.pending_remote.push(candidate);
        }
    }

    /// Reads the selected candidate pair of both parts from their stats, in the background;
    /// each known one comes back as a [`LinkEventKind::Path`].
    pub(crate) fn query_paths(&self, peer: PeerId, generation: u32, events: &mpsc::UnboundedSender<LinkEvent>) {
        for (part, channel) in self.parts.iter().zip([Channel::Reliable, Channel::Unreliable]) {
            let pc = part.pc.clone();
            let events = events.clone();
            tokio::spawn(async move {
                let report = pc.get_stats(std::time::Instant::now(), StatsSelector::None).await;
                if let Some(path) = selected_path(&report) {
                    let _ = events.send(LinkEvent { peer, generation, kind: LinkEventKind::Path(channel, path) });
                }
            });
        }
    }

    /// Queues a message; never waits.
    pub(crate) fn send(&self, channel: Channel, bytes: &[u8]) -> bool {
        self.out.send((channel, BytesMut::from(bytes))).is_ok()
    }

    /// Closes both connections in the background.
    pub(crate) fn close(self) {
        for track in self.video.iter().chain(&self.voice) {
            track.close();
        }
        for part in self.parts {
            let pc = part.pc;
            tokio::spawn(async move {
                if let Err(e) = pc.close().await {
                    tracing::debug!("closing a peer connection: {e}");
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdp_candidates_are_rewritten_or_dropped() {
        let sdp = "v=0\r\na=candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host\r\na=candidate:2 1 udp 2130706431 10.0.0.1 5001 typ host\r\na=end\r\n";
        let rewrite: Option<CandidateRewrite> = Some(Arc::new(|c: &str| {
            if c.contains("10.0.0.1") { None } else { Some(c.replace(" 5000 ", " 6000 ")) }
        }));
        assert_eq!(
            rewrite_sdp(sdp, &rewrite),
            "v=0\r\na=candidate:1 1 udp 2130706431 127.0.0.1 6000 typ host\r\na=end\r\n"
        );
        assert_eq!(rewrite_sdp(sdp, &None), sdp);
    }
}

#[cfg(test)]
mod pair_tests {
    use super::*;
    use std::time::Duration;

    fn setup(events: mpsc::UnboundedSender<LinkEvent>) -> LinkSetup {
        LinkSetup {
            ice_servers: Vec::new(),
            udp_bind: vec!["127.0.0.1:0".parse().unwrap()],
            rewrite: None,
            events,
            skipped_live: Arc::default(),
            relay_only: false,
            video: false,
            voice: false,
        }
    }

    /// Two links in one process, signaling by hand: both channels open on both sides and
    /// carry messages each way.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_links_open_both_channels_and_exchange_messages() {
        let (tx_a, mut rx_a) = mpsc::unbounded_channel();
        let (tx_b, mut rx_b) = mpsc::unbounded_channel();
        let a = Link::build(2, 1, &setup(tx_a)).await.unwrap();
        let mut b = Link::build(1, 1, &setup(tx_b)).await.unwrap();
        let offer = a.offer().await.unwrap();
        let answer = b.answer(&offer).await.unwrap();
        let mut a = a;
        a.accept_answer(&answer).await.unwrap();

        let mut open_a = 0;
        let mut open_b = 0;
        let mut got_a = Vec::new();
        let mut got_b = Vec::new();
        let mut sent = false;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while got_a.len() < 2 || got_b.len() < 2 {
            tokio::select! {
                Some(ev) = rx_a.recv() => match ev.kind {
                    LinkEventKind::LocalCandidate(c) => b.add_remote_candidate(c).await,
                    LinkEventKind::ChannelOpen(_) => open_a += 1,
                    LinkEventKind::Message(ch, bytes) => got_a.push((ch, bytes.to_vec())),
                    _ => {}
                },
                Some(ev) = rx_b.recv() => match ev.kind {
                    LinkEventKind::LocalCandidate(c) => a.add_remote_candidate(c).await,
                    LinkEventKind::ChannelOpen(_) => open_b += 1,
                    LinkEventKind::Message(ch, bytes) => got_b.push((ch, bytes.to_vec())),
                    _ => {}
                },
                _ = tokio::time::sleep_until(deadline) => panic!("timed out: open {open_a}/{open_b}, got {got_a:?} {got_b:?}"),
            }
            if open_a == 2 && open_b == 2 && !sent {
                sent = true;
                // (The driver waits for the peer's LinkUp before using the unreliable
                // channel; this test gives the peer a moment instead.)
                tokio::time::sleep(Duration::from_millis(200)).await;
                assert!(a.send(Channel::Reliable, b"a-rel"));
                assert!(a.send(Channel::Unreliable, b"a-unrel"));
                assert!(b.send(Channel::Reliable, b"b-rel"));
                assert!(b.send(Channel::Unreliable, b"b-unrel"));
            }
        }
        got_a.sort();
        got_b.sort();
        assert_eq!(got_a, vec![(Channel::Reliable, b"b-rel".to_vec()), (Channel::Unreliable, b"b-unrel".to_vec())]);
        assert_eq!(got_b, vec![(Channel::Reliable, b"a-rel".to_vec()), (Channel::Unreliable, b"a-unrel".to_vec())]);
        a.close();
        b.close();
    }
}

#[cfg(test)]
mod bundle_tests {
    use super::*;

    #[test]
    fn bundles_split_into_exactly_two_sdps() {
        let joined = format!("v=0 a{SDP_SEPARATOR}v=0 b");
        assert_eq!(split_bundle(&joined).unwrap(), ["v=0 a".to_owned(), "v=0 b".to_owned()]);
        assert!(matches!(split_bundle("v=0 only one"), Err(LinkError::BadBundle)));
        let three = format!("a{SDP_SEPARATOR}b{SDP_SEPARATOR}c");
        assert!(matches!(split_bundle(&three), Err(LinkError::BadBundle)));
        assert!(matches!(split_bundle(&format!("{SDP_SEPARATOR}b")), Err(LinkError::BadBundle)));
    }
}
