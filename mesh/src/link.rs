//! One WebRTC peer connection to one other player, with its two pre-negotiated data channels.
//!
//! A [`Link`] reports everything that happens on it as [`LinkEvent`]s tagged with the peer
//! and the link's generation, so the driver can ignore late events of a link it already
//! replaced.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;
use shared::protocol::peer::Channel;
use shared::protocol::signal::{IceServer, PeerId};
use tokio::sync::mpsc;
use webrtc::data_channel::{DataChannel, DataChannelEvent, RTCDataChannelInit};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCConfigurationBuilder,
    RTCIceCandidateInit, RTCIceServer, RTCPeerConnectionIceEvent, RTCPeerConnectionState,
    RTCSessionDescription, SettingEngineBuilder,
};

use crate::CandidateRewrite;
// mDNS candidates are of no use between our own clients, and mDNS binds a fixed port that
// several peer connections in one process would fight over.
use rtc::ice::mdns::MulticastDnsMode;

pub(crate) use webrtc::error::Error as RtcError;

/// What a link reports to the driver.
#[derive(Debug)]
pub(crate) enum LinkEventKind {
    /// A local ICE candidate to send to the peer (already rewritten).
    LocalCandidate(RTCIceCandidateInit),
    State(RTCPeerConnectionState),
    ChannelOpen(Channel),
    ChannelClosed(Channel),
    Message(Channel, BytesMut),
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
}

struct Handler {
    peer: PeerId,
    generation: u32,
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
                self.emit(LinkEventKind::LocalCandidate(init));
            }
            Err(e) => tracing::warn!(peer = self.peer, "local ICE candidate not serializable: {e}"),
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        self.emit(LinkEventKind::State(state));
    }
}

/// A live peer connection.
pub(crate) struct Link {
    pc: Arc<dyn PeerConnection>,
    out: mpsc::UnboundedSender<(Channel, BytesMut)>,
    rewrite: Option<CandidateRewrite>,
    remote_set: bool,
    pending_remote: Vec<RTCIceCandidateInit>,
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

/// Forwards one channel's events to the driver until it closes.
fn spawn_reader(dc: Arc<dyn DataChannel>, channel: Channel, handler: Arc<Handler>) {
    tokio::spawn(async move {
        while let Some(event) = dc.poll().await {
            match event {
                DataChannelEvent::OnOpen => handler.emit(LinkEventKind::ChannelOpen(channel)),
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

/// Sends queued messages in order; a failed unreliable send is dropped, a failed reliable
/// send ends the writer (the link is failing and will be replaced).
fn spawn_writer(
    reliable: Arc<dyn DataChannel>,
    unreliable: Arc<dyn DataChannel>,
    mut rx: mpsc::UnboundedReceiver<(Channel, BytesMut)>,
    peer: PeerId,
) {
    tokio::spawn(async move {
        while let Some((channel, bytes)) = rx.recv().await {
            let dc = match channel {
                Channel::Reliable => &reliable,
                Channel::Unreliable => &unreliable,
            };
            if let Err(e) = dc.send(bytes).await {
                tracing::debug!(peer, ?channel, "data channel send failed: {e}");
                if channel == Channel::Reliable {
                    break;
                }
            }
        }
    });
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

impl Link {
    /// Builds the peer connection and both channels.
    pub(crate) async fn build(peer: PeerId, generation: u32, setup: &LinkSetup) -> Result<Self, RtcError> {
        let handler = Arc::new(Handler {
            peer,
            generation,
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
        let config = RTCConfigurationBuilder::default().with_ice_servers(ice_servers).build();
        let setting_engine = SettingEngineBuilder::new()
            .with_multicast_dns_mode(MulticastDnsMode::Disabled)
            .with_include_loopback_candidate(true)
            .build();
        let pc = PeerConnectionBuilder::new()
            .with_configuration(config)
            .with_setting_engine(setting_engine)
            .with_handler(handler.clone() as Arc<dyn PeerConnectionEventHandler>)
            .with_udp_addrs(setup.udp_bind.clone())
            .build()
            .await?;
        let pc: Arc<dyn PeerConnection> = Arc::new(pc);
        let reliable = pc.create_data_channel(label(Channel::Reliable), Some(channel_init(Channel::Reliable))).await?;
        let unreliable =
            pc.create_data_channel(label(Channel::Unreliable), Some(channel_init(Channel::Unreliable))).await?;
        spawn_reader(reliable.clone(), Channel::Reliable, handler.clone());
        spawn_reader(unreliable.clone(), Channel::Unreliable, handler);
        let (out, rx) = mpsc::unbounded_channel();
        spawn_writer(reliable, unreliable, rx, peer);
        Ok(Self { pc, out, rewrite: setup.rewrite.clone(), remote_set: false, pending_remote: Vec::new() })
    }

    /// Offerer side: creates the offer and returns its SDP (rewritten) for the peer.
    pub(crate) async fn offer(&self) -> Result<String, RtcError> {
        let offer = self.pc.create_offer(None).await?;
        self.pc.set_local_description(offer.clone()).await?;
        let sdp = self.pc.local_description().await.map(|d| d.sdp).unwrap_or(offer.sdp);
        Ok(rewrite_sdp(&sdp, &self.rewrite))
    }

    /// Answerer side: takes the peer's offer, returns the answer SDP (rewritten).
    pub(crate) async fn answer(&mut self, offer_sdp: String) -> Result<String, RtcError> {
        self.pc.set_remote_description(RTCSessionDescription::offer(offer_sdp)?).await?;
        self.remote_description_set().await;
        let answer = self.pc.create_answer(None).await?;
        self.pc.set_local_description(answer.clone()).await?;
        let sdp = self.pc.local_description().await.map(|d| d.sdp).unwrap_or(answer.sdp);
        Ok(rewrite_sdp(&sdp, &self.rewrite))
    }

    /// Offerer side: takes the peer's answer.
    pub(crate) async fn accept_answer(&mut self, answer_sdp: String) -> Result<(), RtcError> {
        self.pc.set_remote_description(RTCSessionDescription::answer(answer_sdp)?).await?;
        self.remote_description_set().await;
        Ok(())
    }

    async fn remote_description_set(&mut self) {
        self.remote_set = true;
        for candidate in std::mem::take(&mut self.pending_remote) {
            self.add_candidate_now(candidate).await;
        }
    }

    /// A remote candidate; held back until the remote description is set.
    pub(crate) async fn add_remote_candidate(&mut self, candidate: RTCIceCandidateInit) {
        if self.remote_set {
            self.add_candidate_now(candidate).await;
        } else {
            self.pending_remote.push(candidate);
        }
    }

    async fn add_candidate_now(&self, candidate: RTCIceCandidateInit) {
        if let Err(e) = self.pc.add_ice_candidate(candidate).await {
            tracing::debug!("remote ICE candidate refused: {e}");
        }
    }

    /// Queues a message; never waits.
    pub(crate) fn send(&self, channel: Channel, bytes: &[u8]) -> bool {
        self.out.send((channel, BytesMut::from(bytes))).is_ok()
    }

    /// Closes the connection in the background.
    pub(crate) fn close(self) {
        let pc = self.pc;
        tokio::spawn(async move {
            if let Err(e) = pc.close().await {
                tracing::debug!("closing a peer connection: {e}");
            }
        });
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
        let answer = b.answer(offer).await.unwrap();
        let mut a = a;
        a.accept_answer(answer).await.unwrap();

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
