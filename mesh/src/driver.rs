//! The mesh task: one loop that owns the websocket, every link and the clock, and turns
//! commands, server frames and link events into actions and [`Event`]s.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use shared::protocol::peer::{Channel, PeerMsg};
use shared::protocol::signal::{
    ClientMsg, ErrorCode, IceServer, LeaveReason, PROTOCOL_VERSION, PeerId, RoomSnapshot, ServerMsg, SignalPayload,
};
use shared::protocol::{decode, encode};
use tokio::sync::mpsc;
use tokio::task::{JoinError, JoinHandle};
use webrtc::peer_connection::{RTCIceCandidateInit, RTCPeerConnectionState};

use crate::link::{Link, LinkEvent, LinkEventKind, LinkSetup};
use crate::signaling::{Incoming, ServerLink, SignalError};
use crate::{Command, Config, Event, LinkInfo, LinkState, Shared};

/// How often timers are checked.
const TICK: Duration = Duration::from_millis(50);
/// Quick clock probes right after connecting, before settling to `probe_interval`.
const FAST_PROBES: u32 = 5;
const FAST_PROBE_INTERVAL: Duration = Duration::from_millis(150);
/// Reliable messages held for a peer whose link is not open yet.
const MAX_BACKLOG: usize = 4096;
/// How often an unanswered [`PeerMsg::LinkUp`] is repeated.
const LINK_UP_INTERVAL: Duration = Duration::from_millis(200);
/// Server requests kept while the server connection is being restored (oldest dropped).
const MAX_QUEUED: usize = 256;
/// Pauses between reconnect attempts: doubling from the first, up to the last.
const RECONNECT_FIRST: Duration = Duration::from_millis(250);
const RECONNECT_MOST: Duration = Duration::from_secs(4);

/// Why the session ended.
#[derive(Debug, thiserror::Error)]
enum SessionError {
    #[error(transparent)]
    Signal(#[from] SignalError),
    #[error("the server did not answer within {0:?} — check the address and that the server is running")]
    Timeout(Duration),
    #[error("the server refused the connection: {0}")]
    Refused(String),
    /// The connection ended and is not restored (reconnecting is off, or the server said it
    /// is shutting down).
    #[error("{0}")]
    Closed(String),
    #[error("{reason}; it could not be restored within {window:?} (last try: {last})")]
    GaveUp { reason: String, window: Duration, last: String },
}

/// A connection the server accepted.
struct Welcomed {
    link: ServerLink,
    peer_id: PeerId,
    token: String,
    ice_servers: Vec<IceServer>,
    /// The server did not know the token it was given: this is a new session.
    stale_token: bool,
}

/// Connects, says `Hello` (with `token` to reclaim a seat) and waits for the `Welcome`.
async fn handshake(
    url: String,
    ca_cert: Option<std::path::PathBuf>,
    name: String,
    token: Option<String>,
    timeout: Duration,
    shared: Arc<Shared>,
) -> Result<Welcomed, SessionError> {
    let mut link = tokio::time::timeout(timeout, ServerLink::connect(&url, ca_cert.as_deref()))
        .await
        .map_err(|_| SessionError::Timeout(timeout))??;
    link.send(&ClientMsg::Hello { protocol_version: PROTOCOL_VERSION, name, reconnect_token: token }).await?;
    let deadline = tokio::time::Instant::now() + timeout;
    let mut stale_token = false;
    loop {
        let incoming =
            tokio::time::timeout_at(deadline, link.next()).await.map_err(|_| SessionError::Timeout(timeout))??;
        match incoming {
            Incoming::Msg(ServerMsg::Welcome { peer_id, reconnect_token, server_time_ms, ice_servers }) => {
                shared.with_clock(|c| c.add_coarse(server_time_ms, Instant::now()));
                return Ok(Welcomed { link, peer_id, token: reconnect_token, ice_servers, stale_token });
            }
            // The token was not known: a new session follows (its Welcome comes next).
            Incoming::Msg(ServerMsg::Error { code: ErrorCode::StaleToken, message }) => {
                tracing::info!("{message}");
                stale_token = true;
            }
            Incoming::Msg(ServerMsg::Error { code, message }) => {
                return Err(SessionError::Refused(format!("{code:?}: {message}")));
            }
            Incoming::Closed(reason) => {
                return Err(SessionError::Refused(reason.unwrap_or_else(|| "connection closed".into())));
            }
            Incoming::Msg(other) => tracing::debug!("ignoring {other:?} before Welcome"),
            Incoming::Undecodable(e) => tracing::warn!("undecodable frame from the server: {e}"),
            Incoming::Ignored => {}
        }
    }
}

/// The server connection is down and being restored.
struct Outage {
    since: Instant,
    reason: String,
    /// Failed attempts so far, and why the last one failed.
    failures: u32,
    last_error: String,
    next_try: Instant,
    attempt: Option<JoinHandle<Result<Welcomed, SessionError>>>,
}

/// The next frame from the server; never resolves while there is no connection.
async fn next_from(server: &mut Option<ServerLink>) -> Result<Incoming, SignalError> {
    match server {
        Some(server) => server.next().await,
        None => std::future::pending().await,
    }
}

/// The running reconnect attempt's outcome; never resolves while none runs.
async fn attempt_done(outage: &mut Option<Outage>) -> Result<Result<Welcomed, SessionError>, JoinError> {
    match outage.as_mut().and_then(|o| o.attempt.as_mut()) {
        Some(attempt) => attempt.await,
        None => std::future::pending().await,
    }
}

pub(crate) async fn run(
    config: Config,
    mut commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<Event>,
    shared: Arc<Shared>,
) {
    let reason = match session(config, &mut commands, &events, &shared).await {
        Ok(reason) => reason,
        Err(e) => {
            tracing::warn!("mesh stopped: {e}");
            e.to_string()
        }
    };
    let _ = events.send(Event::Disconnected { reason });
}

/// Binds loopback only when the server is on loopback (all players are on this machine).
fn default_udp_bind(server_url: &str) -> Vec<SocketAddr> {
    let rest = server_url.split("://").nth(1).unwrap_or("");
    let authority = rest.split('/').next().unwrap_or("");
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    let ip = if loopback { IpAddr::V4(Ipv4Addr::LOCALHOST) } else { IpAddr::V4(Ipv4Addr::UNSPECIFIED) };
    vec![SocketAddr::new(ip, 0)]
}

async fn session(
    config: Config,
    commands: &mut mpsc::UnboundedReceiver<Command>,
    events: &mpsc::UnboundedSender<Event>,
    shared: &Arc<Shared>,
) -> Result<String, SessionError> {
    let Welcomed { link: server, peer_id: me, token, ice_servers, .. } = handshake(
        config.server_url.clone(),
        config.ca_cert.clone(),
        config.name.clone(),
        config.reconnect_token.clone(),
        config.connect_timeout,
        shared.clone(),
    )
    .await?;
    shared.with_status(|s| {
        s.peer_id = Some(me);
        s.server_up = true;
    });
    let _ = events.send(Event::Welcome { peer_id: me, reconnect_token: token.clone() });
    tracing::info!(peer_id = me, "connected to {}", config.server_url);

    let (link_tx, mut link_rx) = mpsc::unbounded_channel();
    let setup = LinkSetup {
        ice_servers,
        udp_bind: config.udp_bind.clone().unwrap_or_else(|| default_udp_bind(&config.server_url)),
        rewrite: config.candidate_rewrite.clone(),
        events: link_tx,
        skipped_live: shared.skipped_live.clone(),
        relay_only: config.ice_relay_only,
        video: config.video,
        voice: config.voice,
    };
    let mut driver = Driver {
        config,
        events: events.clone(),
        shared: shared.clone(),
        server: Some(server),
        outage: None,
        token,
        queued: VecDeque::new(),
        server_shutdown: false,
        reported_paths: None,
        me,
        setup,
        slots: HashMap::new(),
        names: HashMap::new(),
        generation: 0,
        probes_sent: 0,
        next_probe: Instant::now(),
        next_link_up: Instant::now(),
        ping_nonce: 0,
    };
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let result = loop {
        tokio::select! {
            command = commands.recv() => match command {
                None | Some(Command::Shutdown) => break Ok("shut down by the client".to_owned()),
                Some(command) => driver.command(command).await?,
            },
            incoming = next_from(&mut driver.server) => match incoming {
                Ok(Incoming::Msg(msg)) => driver.server_msg(msg).await?,
                Ok(Incoming::Undecodable(e)) => tracing::warn!("undecodable frame from the server: {e}"),
                Ok(Incoming::Ignored) => {}
                Ok(Incoming::Closed(reason)) => {
                    driver.lost(reason.unwrap_or_else(|| "the server closed the connection".to_owned()))?
                }
                Err(e) => driver.lost(e.to_string())?,
            },
            joined = attempt_done(&mut driver.outage) => driver.attempt_finished(joined).await?,
            Some(event) = link_rx.recv() => driver.link_event(event).await?,
            _ = tick.tick() => driver.tick().await?,
        }
    };
    driver.close_all();
    if let Some(outage) = driver.outage.take()
        && let Some(attempt) = outage.attempt
    {
        attempt.abort();
    }
    if let Some(mut server) = driver.server.take() {
        server.close().await;
    }
    result
}

/// One remote peer: its current link (if any) and what we know of it.
struct Slot {
    link: Option<Link>,
    generation: u32,
    state: LinkState,
    /// When the current attempt started (for the timeout).
    started: Instant,
    /// When a lost ICE connection was first seen.
    disconnected_since: Option<Instant>,
    open: [bool; 2],
    /// The peer said both its channels are open ([`PeerMsg::LinkUp`]).
    peer_up: bool,
    attempts: u32,
    rtt: Option<Duration>,
    connected_in: Option<Duration>,
    retry_at: Option<Instant>,
    backlog: Vec<Vec<u8>>,
    /// Selected candidate pair of each part, once read from the stats.
    paths: [Option<crate::LinkPath>; 2],
}

impl Slot {
    fn new(now: Instant) -> Self {
        Self {
            link: None,
            generation: 0,
            state: LinkState::Connecting,
            started: now,
            disconnected_since: None,
            open: [false; 2],
            peer_up: false,
            attempts: 0,
            rtt: None,
            connected_in: None,
            retry_at: None,
            backlog: Vec::new(),
            paths: [None; 2],
        }
    }
}

struct Driver {
    config: Config,
    events: mpsc::UnboundedSender<Event>,
    shared: Arc<Shared>,
    /// The websocket; `None` while it is being restored (`outage`).
    server: Option<ServerLink>,
    outage: Option<Outage>,
    /// The newest reconnect token.
    token: String,
    /// Server requests made while the connection is down, sent once it is back.
    queued: VecDeque<ClientMsg>,
    /// The server said it is shutting down: a closed connection is not restored.
    server_shutdown: bool,
    /// The last [`ClientMsg::LinkPaths`] sent (direct, relayed).
    reported_paths: Option<(u8, u8)>,
    me: PeerId,
    setup: LinkSetup,
    slots: HashMap<PeerId, Slot>,
    names: HashMap<PeerId, String>,
    generation: u32,
    probes_sent: u32,
    next_probe: Instant,
    next_link_up: Instant,
    ping_nonce: u32,
}

impl Driver {
    fn emit(&self, event: Event) {
        let _ = self.events.send(event);
    }

    fn is_offerer(&self, peer: PeerId) -> bool {
        self.me < peer
    }

    fn publish_status(&self) {
        let mut links: Vec<LinkInfo> = self
            .slots
            .iter()
            .map(|(&peer, s)| LinkInfo {
                peer,
                state: s.state,
                rtt: s.rtt,
                attempts: s.attempts,
                connected_in: s.connected_in,
                paths: s.paths,
            })
            .collect();
        links.sort_by_key(|l| l.peer);
        self.shared.with_status(|s| s.links = links);
    }

    fn set_state(&mut self, peer: PeerId, state: LinkState) {
        if let Some(slot) = self.slots.get_mut(&peer)
            && slot.state != state
        {
            slot.state = state;
            // Status first, so a caller reacting to the event sees it in `status()`.
            self.publish_status();
            self.emit(Event::LinkState { peer, state });
        }
    }

    /// Sends to the server, or keeps the request for when the connection is back (clock
    /// probes are not kept: they would be stale).
    async fn send_server(&mut self, msg: ClientMsg) -> Result<(), SessionError> {
        if let Some(server) = &mut self.server {
            match server.send(&msg).await {
                Ok(()) => return Ok(()),
                Err(e) => self.lost(e.to_string())?,
            }
        }
        if matches!(msg, ClientMsg::Ping { .. }) {
            return Ok(());
        }
        if self.queued.len() >= MAX_QUEUED {
            tracing::warn!("server still unreachable: dropping the oldest waiting request");
            self.queued.pop_front();
        }
        self.queued.push_back(msg);
        Ok(())
    }

    /// The server connection broke: restore it with the reconnect token, unless reconnecting
    /// is off or the server said it is shutting down (then the session ends with `reason`).
    fn lost(&mut self, reason: String) -> Result<(), SessionError> {
        let Some(_) = self.server.take() else { return Ok(()) };
        if self.server_shutdown || self.config.reconnect_window.is_zero() {
            return Err(SessionError::Closed(reason));
        }
        tracing::warn!("server connection lost ({reason}); reconnecting");
        let now = Instant::now();
        self.outage = Some(Outage {
            since: now,
            reason: reason.clone(),
            failures: 0,
            last_error: String::new(),
            next_try: now,
            attempt: None,
        });
        self.shared.with_status(|s| s.server_up = false);
        self.emit(Event::ServerLost { reason });
        Ok(())
    }

    /// Starts a reconnect attempt when one is due; gives up after the reconnect window.
    fn reconnect_tick(&mut self, now: Instant) -> Result<(), SessionError> {
        let window = self.config.reconnect_window;
        let Some(outage) = &mut self.outage else { return Ok(()) };
        if outage.attempt.is_some() {
            return Ok(());
        }
        if now.duration_since(outage.since) > window {
            return Err(SessionError::GaveUp {
                reason: outage.reason.clone(),
                window,
                last: outage.last_error.clone(),
            });
        }
        if now >= outage.next_try {
            let config = &self.config;
            outage.attempt = Some(tokio::spawn(handshake(
                config.server_url.clone(),
                config.ca_cert.clone(),
                config.name.clone(),
                Some(self.token.clone()),
                config.connect_timeout.min(window),
                self.shared.clone(),
            )));
        }
        Ok(())
    }

    /// A reconnect attempt ended: back online, or another try after a pause.
    async fn attempt_finished(
        &mut self,
        joined: Result<Result<Welcomed, SessionError>, JoinError>,
    ) -> Result<(), SessionError> {
        let Some(outage) = &mut self.outage else { return Ok(()) };
        outage.attempt = None;
        let welcomed = match joined {
            Ok(Ok(welcomed)) => welcomed,
            Ok(Err(e)) => {
                self.attempt_failed(e.to_string());
                return Ok(());
            }
            Err(e) => {
                self.attempt_failed(format!("the attempt stopped: {e}"));
                return Ok(());
            }
        };
        let after = outage.since.elapsed();
        self.outage = None;
        let Welcomed { link, peer_id, token, ice_servers, stale_token } = welcomed;
        self.server = Some(link);
        self.token = token.clone();
        // Fresh TURN credentials for the links made from now on.
        self.setup.ice_servers = ice_servers;
        let seat_kept = !stale_token && peer_id == self.me;
        self.emit(Event::Welcome { peer_id, reconnect_token: token });
        if !seat_kept {
            tracing::warn!(old = self.me, new = peer_id, "the server no longer knew this player: the seat is gone");
            self.queued.clear();
            let peers: Vec<PeerId> = self.slots.keys().copied().collect();
            for peer in peers {
                self.drop_peer(peer);
            }
            self.me = peer_id;
            self.emit(Event::LeftRoom(LeaveReason::ConnectionLost));
        }
        tracing::info!(?after, seat_kept, "server connection restored");
        self.shared.with_status(|s| {
            s.peer_id = Some(peer_id);
            s.server_up = true;
            s.server_reconnects += 1;
        });
        self.emit(Event::ServerResumed { seat_kept, after });
        // Re-sync the clock quickly, and tell the (possibly new) session the link paths.
        self.probes_sent = 0;
        self.next_probe = Instant::now();
        self.reported_paths = None;
        while let Some(msg) = self.queued.pop_front() {
            self.send_server(msg).await?;
            if self.server.is_none() {
                break; // lost again: the rest stays queued
            }
        }
        Ok(())
    }

    fn attempt_failed(&mut self, error: String) {
        let Some(outage) = &mut self.outage else { return };
        outage.failures += 1;
        let pause = RECONNECT_FIRST.saturating_mul(1 << outage.failures.min(5)).min(RECONNECT_MOST);
        tracing::info!(failures = outage.failures, ?pause, "reconnect attempt failed: {error}");
        outage.last_error = error;
        outage.next_try = Instant::now() + pause;
    }

    /// Tells the server how the links this player offers go, when that changed.
    async fn report_paths(&mut self) -> Result<(), SessionError> {
        if self.server.is_none() {
            return Ok(());
        }
        let mut counts = (0u8, 0u8);
        for (&peer, slot) in &self.slots {
            if !self.is_offerer(peer) || slot.state != LinkState::Open || slot.paths.iter().any(Option::is_none) {
                continue;
            }
            if slot.paths.iter().flatten().any(crate::LinkPath::relayed) {
                counts.1 = counts.1.saturating_add(1);
            } else {
                counts.0 = counts.0.saturating_add(1);
            }
        }
        if self.reported_paths != Some(counts) {
            self.reported_paths = Some(counts);
            self.send_server(ClientMsg::LinkPaths { direct: counts.0, relayed: counts.1 }).await?;
        }
        Ok(())
    }

    async fn command(&mut self, command: Command) -> Result<(), SessionError> {
        let msg = match command {
            Command::CreateRoom(settings) => ClientMsg::CreateRoom { settings },
            Command::JoinRoom(code) => ClientMsg::JoinRoom { code },
            Command::QuickMatch => ClientMsg::QuickMatch,
            Command::LeaveRoom => ClientMsg::LeaveRoom,
            Command::UpdateSettings(settings) => ClientMsg::UpdateSettings { settings },
            Command::SetLoading { stage, progress } => ClientMsg::SetLoading { stage, progress },
            Command::SetReady(ready) => ClientMsg::SetReady { ready },
            Command::StartGame { force } => ClientMsg::StartGame { force },
            Command::ReportResult(report) => ClientMsg::ReportResult { report },
            Command::BackToLobby => ClientMsg::BackToLobby,
            Command::History { limit } => ClientMsg::History { limit },
            Command::HistoryPage { before, limit } => ClientMsg::HistoryPage { before, limit },
            Command::SetVisibility(visibility) => ClientMsg::SetVisibility { visibility },
            Command::SetLocalSeats(names) => ClientMsg::SetLocalSeats { names },
            Command::SendReliable(msg) => {
                self.broadcast(Channel::Reliable, &msg);
                return Ok(());
            }
            Command::SendUnreliable(msg) => {
                self.broadcast(Channel::Unreliable, &msg);
                return Ok(());
            }
            Command::SendTo { to, channel, msg } => {
                if let Some(bytes) = encode_peer(&msg) {
                    self.send_bytes(to, channel, bytes);
                }
                return Ok(());
            }
            Command::SendVideo { frame, keyframe: _, duration } => {
                self.send_video(frame, duration);
                return Ok(());
            }
            Command::SendVoice { packet, duration } => {
                self.send_voice(packet, duration);
                return Ok(());
            }
            Command::Shutdown => return Ok(()),
        };
        self.send_server(msg).await
    }

    /// The links that are open, with their peers.
    fn open_links(&self) -> impl Iterator<Item = (PeerId, &Link)> {
        self.slots.iter().filter(|(_, slot)| slot.state == LinkState::Open).filter_map(|(&peer, slot)| Some((peer, slot.link.as_ref()?)))
    }

    /// A VP8 frame to every open link's video track.
    fn send_video(&mut self, frame: Vec<u8>, duration: Duration) {
        if !self.config.video {
            return;
        }
        let frame = bytes::Bytes::from(frame);
        let (mut sent, mut dropped) = (0, 0);
        for (peer, link) in self.open_links() {
            match link.send_video(frame.clone(), duration) {
                Some(true) => sent += 1,
                Some(false) => {
                    // The peer's decoder now misses a reference: start over with a keyframe.
                    dropped += 1;
                    tracing::debug!(peer, "video writer backed up; frame dropped");
                    let _ = self.events.send(Event::KeyframeRequested { by: peer });
                }
                None => {}
            }
        }
        self.shared.with_status(|s| {
            s.video_sent += sent;
            s.video_dropped += dropped;
        });
    }

    /// An Opus packet to every open link's voice track.
    fn send_voice(&mut self, packet: Vec<u8>, duration: Duration) {
        if !self.config.voice {
            return;
        }
        let packet = bytes::Bytes::from(packet);
        let mut sent = 0;
        for (peer, link) in self.open_links() {
            match link.send_voice(packet.clone(), duration) {
                Some(true) => sent += 1,
                Some(false) => tracing::debug!(peer, "voice writer backed up; packet dropped"),
                None => {}
            }
        }
        self.shared.with_status(|s| s.voice_sent += sent);
    }

    fn broadcast(&mut self, channel: Channel, msg: &PeerMsg) {
        let Some(bytes) = encode_peer(msg) else { return };
        let peers: Vec<PeerId> = self.slots.keys().copied().collect();
        for peer in peers {
            self.send_bytes(peer, channel, bytes.clone());
        }
    }

    /// Sends on an open link; reliable messages to a link that is not open yet wait in its
    /// backlog, unreliable ones are dropped (they would be stale by then).
    fn send_bytes(&mut self, peer: PeerId, channel: Channel, bytes: Vec<u8>) {
        let Some(slot) = self.slots.get_mut(&peer) else { return };
        match (&slot.link, slot.state, channel) {
            (Some(link), LinkState::Open, _) => {
                if link.send(channel, &bytes) {
                    self.shared.with_status(|s| s.sent += 1);
                }
            }
            (_, _, Channel::Reliable) => {
                if slot.backlog.len() < MAX_BACKLOG {
                    slot.backlog.push(bytes);
                } else {
                    tracing::warn!(peer, "reliable backlog full; dropping a message");
                }
            }
            (_, _, Channel::Unreliable) => {}
        }
    }

    async fn server_msg(&mut self, msg: ServerMsg) -> Result<(), SessionError> {
        match msg {
            ServerMsg::Welcome { .. } => tracing::debug!("ignoring a second Welcome"),
            ServerMsg::Room(snapshot) => {
                self.follow_room(&snapshot).await;
                self.emit(Event::Room(snapshot));
            }
            ServerMsg::LeftRoom { reason } => {
                if reason == LeaveReason::ServerShutdown {
                    self.server_shutdown = true;
                }
                let peers: Vec<PeerId> = self.slots.keys().copied().collect();
                for peer in peers {
                    self.drop_peer(peer);
                }
                self.emit(Event::LeftRoom(reason));
            }
            ServerMsg::GameStarting { start_at_ms, round_seed, mode, duration_ms, players } => {
                let start_at = self
                    .shared
                    .with_clock(|c| c.to_local(start_at_ms))
                    .unwrap_or_else(Instant::now);
                self.emit(Event::GameStarting {
                    start_at,
                    start_at_ms,
                    round_seed,
                    mode,
                    duration: Duration::from_millis(u64::from(duration_ms)),
                    players,
                });
            }
            ServerMsg::Pong { client_time_ms, server_time_ms, .. } => {
                self.shared.with_clock(|c| {
                    let now = c.local_ms(Instant::now());
                    c.add_sample(client_time_ms, server_time_ms, now);
                });
            }
            ServerMsg::Signal { from, payload } => self.signal(from, payload).await?,
            ServerMsg::ResultRecorded { match_id, agreed, status } => {
                self.emit(Event::ResultRecorded { match_id, agreed, status })
            }
            ServerMsg::History { matches } => self.emit(Event::History(matches)),
            ServerMsg::HistoryPage { matches, next_before } => self.emit(Event::HistoryPage { matches, next_before }),
            ServerMsg::Error { code, message } => self.emit(Event::ServerError { code, message }),
        }
        Ok(())
    }

    /// Links follow the room: a link to every other device, none to anyone else.
    async fn follow_room(&mut self, snapshot: &RoomSnapshot) {
        let now = Instant::now();
        let present: HashMap<PeerId, &str> = snapshot
            .players
            .iter()
            // Local seats play on their device's link: no link of their own.
            .filter(|p| p.id != self.me && p.device.is_none())
            .map(|p| (p.id, p.name.as_str()))
            .collect();
        let gone: Vec<PeerId> = self.slots.keys().filter(|p| !present.contains_key(p)).copied().collect();
        for peer in gone {
            self.drop_peer(peer);
        }
        let mut new: Vec<PeerId> = present.keys().filter(|p| !self.slots.contains_key(p)).copied().collect();
        new.sort_unstable();
        for peer in new {
            let name = present.get(&peer).copied().unwrap_or_default().to_owned();
            self.names.insert(peer, name.clone());
            self.slots.insert(peer, Slot::new(now));
            self.emit(Event::PeerJoined { peer, name });
            self.emit(Event::LinkState { peer, state: LinkState::Connecting });
            if self.is_offerer(peer) {
                self.start_offer(peer).await;
            }
        }
        self.publish_status();
    }

    fn drop_peer(&mut self, peer: PeerId) {
        if let Some(slot) = self.slots.remove(&peer) {
            if let Some(link) = slot.link {
                link.close();
            }
            self.names.remove(&peer);
            self.publish_status();
            self.emit(Event::LinkState { peer, state: LinkState::Closed });
            self.emit(Event::PeerLeft { peer });
        }
    }

    fn close_all(&mut self) {
        for (_, slot) in self.slots.drain() {
            if let Some(link) = slot.link {
                link.close();
            }
        }
    }

    /// A TURN server came with the `Welcome`.
    fn has_turn(&self) -> bool {
        self.setup.ice_servers.iter().any(|s| s.urls.iter().any(|u| u.starts_with("turn:") || u.starts_with("turns:")))
    }

    /// Replaces the slot's link with a fresh one (new generation). Returns the generation.
    async fn new_link(&mut self, peer: PeerId) -> Option<u32> {
        self.generation += 1;
        let generation = self.generation;
        // Every second attempt uses relayed candidates only, when a TURN server is known: with
        // host, reflexive and relayed candidates mixed, this WebRTC stack (webrtc 0.21.1) failed
        // to bring up relay pairs between two symmetric NATs (tests/nat.rs), while relay-only
        // links came up at once. Both sides count attempts alike, so they switch together.
        let attempt = self.slots.get(&peer).map_or(0, |s| s.attempts) + 1;
        let fallback = attempt.is_multiple_of(2) && self.has_turn();
        let built = if fallback && !self.setup.relay_only {
            tracing::info!(peer, attempt, "negotiating with relayed candidates only");
            let mut setup = self.setup.clone();
            setup.relay_only = true;
            Link::build(peer, generation, &setup).await
        } else {
            Link::build(peer, generation, &self.setup).await
        };
        let slot = self.slots.get_mut(&peer)?;
        if let Some(old) = slot.link.take() {
            old.close();
        }
        slot.generation = generation;
        slot.open = [false; 2];
        slot.paths = [None; 2];
        slot.peer_up = false;
        slot.started = Instant::now();
        slot.disconnected_since = None;
        slot.retry_at = None;
        slot.attempts += 1;
        match built {
            Ok(link) => {
                slot.link = Some(link);
                Some(generation)
            }
            Err(e) => {
                tracing::warn!(peer, "could not create a peer connection: {e}");
                slot.retry_at = Some(Instant::now() + self.config.link_retry_delay);
                None
            }
        }
    }

    async fn start_offer(&mut self, peer: PeerId) {
        if self.new_link(peer).await.is_none() {
            self.set_state(peer, LinkState::Retrying);
            return;
        }
        self.set_state(peer, LinkState::Connecting);
        let offer = match self.slots.get(&peer).and_then(|s| s.link.as_ref()) {
            Some(link) => link.offer().await,
            None => return,
        };
        match offer {
            Ok(sdp) => {
                if let Err(e) = self.send_server(ClientMsg::Signal { to: peer, payload: SignalPayload::Offer { sdp } }).await {
                    tracing::warn!(peer, "could not send the offer: {e}");
                }
            }
            Err(e) => {
                tracing::warn!(peer, "could not create an offer: {e}");
                self.retry(peer);
            }
        }
    }

    async fn signal(&mut self, from: PeerId, payload: SignalPayload) -> Result<(), SessionError> {
        // The offer may overtake the room snapshot that introduces its sender.
        self.slots.entry(from).or_insert_with(|| Slot::new(Instant::now()));
        match payload {
            SignalPayload::Offer { sdp } => {
                if self.new_link(from).await.is_none() {
                    self.set_state(from, LinkState::Retrying);
                    return Ok(());
                }
                self.set_state(from, LinkState::Connecting);
                let answer = match self.slots.get_mut(&from).and_then(|s| s.link.as_mut()) {
                    Some(link) => link.answer(&sdp).await,
                    None => return Ok(()),
                };
                match answer {
                    Ok(sdp) => {
                        self.send_server(ClientMsg::Signal { to: from, payload: SignalPayload::Answer { sdp } }).await?
                    }
                    Err(e) => {
                        tracing::warn!(peer = from, "could not answer the offer: {e}");
                        self.retry(from);
                    }
                }
            }
            SignalPayload::Answer { sdp } => {
                let result = match self.slots.get_mut(&from).and_then(|s| s.link.as_mut()) {
                    Some(link) => link.accept_answer(&sdp).await,
                    None => return Ok(()),
                };
                if let Err(e) = result {
                    tracing::warn!(peer = from, "could not accept the answer: {e}");
                    self.retry(from);
                }
            }
            SignalPayload::IceCandidate { candidate, sdp_mid, sdp_mline_index } => {
                if let Some(link) = self.slots.get_mut(&from).and_then(|s| s.link.as_mut()) {
                    link.add_remote_candidate(RTCIceCandidateInit {
                        candidate,
                        sdp_mid,
                        sdp_mline_index,
                        username_fragment: None,
                        url: None,
                    })
                    .await;
                }
            }
        }
        Ok(())
    }

    /// Tears the link down; the offerer negotiates again after a pause, the answerer waits
    /// for that new offer.
    fn retry(&mut self, peer: PeerId) {
        let delay = self.config.link_retry_delay;
        if let Some(slot) = self.slots.get_mut(&peer) {
            if let Some(link) = slot.link.take() {
                link.close();
            }
            slot.open = [false; 2];
            slot.peer_up = false;
            slot.retry_at = Some(Instant::now() + delay);
        }
        self.set_state(peer, LinkState::Retrying);
    }

    async fn link_event(&mut self, event: LinkEvent) -> Result<(), SessionError> {
        let LinkEvent { peer, generation, kind } = event;
        let Some(slot) = self.slots.get_mut(&peer) else { return Ok(()) };
        if slot.generation != generation || slot.link.is_none() {
            return Ok(()); // a late event of a link already replaced
        }
        match kind {
            LinkEventKind::LocalCandidate(init) => {
                self.send_server(ClientMsg::Signal {
                    to: peer,
                    payload: SignalPayload::IceCandidate {
                        candidate: init.candidate,
                        sdp_mid: init.sdp_mid,
                        sdp_mline_index: init.sdp_mline_index,
                    },
                })
                .await?;
            }
            LinkEventKind::State(part, state) => {
                tracing::debug!(peer, ?part, ?state, "peer connection state");
                match state {
                    RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed => self.retry(peer),
                    RTCPeerConnectionState::Disconnected => {
                        slot.disconnected_since.get_or_insert_with(Instant::now);
                    }
                    RTCPeerConnectionState::Connected => slot.disconnected_since = None,
                    _ => {}
                }
            }
            LinkEventKind::ChannelOpen(channel) => {
                slot.open[usize::from(channel.stream_id())] = true;
                if let Some(link) = &slot.link {
                    link.query_paths(peer, generation, &self.setup.events);
                }
                if slot.open == [true, true] {
                    self.send_link_up(peer, false);
                    self.maybe_open(peer);
                }
            }
            LinkEventKind::Path(channel, path) => {
                let index = usize::from(channel.stream_id());
                if slot.paths[index] != Some(path) {
                    slot.paths[index] = Some(path);
                    tracing::info!(peer, ?channel, %path, relayed = path.relayed(), "link path");
                    self.publish_status();
                    self.emit(Event::LinkPath { peer, channel, path });
                }
            }
            LinkEventKind::VideoFrame { data, keyframe } => {
                self.shared.with_status(|s| s.video_received += 1);
                self.emit(Event::VideoFrame { from: peer, data, keyframe });
            }
            LinkEventKind::KeyframeRequest => {
                tracing::debug!(peer, "keyframe requested");
                self.emit(Event::KeyframeRequested { by: peer });
            }
            LinkEventKind::VideoReport { fraction_lost, jitter } => {
                self.emit(Event::VideoReport { by: peer, fraction_lost, jitter });
            }
            LinkEventKind::Voice { sequence, timestamp, data } => {
                self.shared.with_status(|s| s.voice_received += 1);
                self.emit(Event::VoicePacket { from: peer, sequence, timestamp, data });
            }
            LinkEventKind::ChannelClosed(channel) => {
                tracing::debug!(peer, ?channel, "data channel closed");
                self.retry(peer);
            }
            LinkEventKind::Message(channel, bytes) => {
                self.shared.with_status(|s| s.received += 1);
                match decode::<PeerMsg>(&bytes) {
                    Ok(PeerMsg::LinkUp { open }) => {
                        slot.peer_up = true;
                        self.maybe_open(peer);
                        let open_here = self.slots.get(&peer).is_some_and(|s| s.state == LinkState::Open);
                        if !open && open_here {
                            self.send_link_up(peer, true);
                        }
                    }
                    Ok(PeerMsg::Ping { nonce, sent_us }) => {
                        if let Some(bytes) = encode_peer(&PeerMsg::Pong { nonce, sent_us }) {
                            self.send_bytes(peer, Channel::Unreliable, bytes);
                        }
                    }
                    Ok(PeerMsg::Pong { sent_us, .. }) => {
                        let now_us = self.shared.with_clock(|c| c.epoch()).elapsed().as_micros() as u64;
                        if let Some(rtt_us) = now_us.checked_sub(sent_us) {
                            let rtt = Duration::from_micros(rtt_us);
                            slot.rtt = Some(match slot.rtt {
                                Some(old) => old.mul_f64(0.8) + rtt.mul_f64(0.2),
                                None => rtt,
                            });
                            self.emit(Event::LinkRtt { peer, rtt });
                            self.publish_status();
                        }
                    }
                    Ok(msg) => self.emit(Event::PeerMessage { from: peer, channel, msg }),
                    Err(e) => {
                        tracing::debug!(peer, ?channel, "dropping an undecodable peer message: {e}");
                        self.shared.with_status(|s| s.undecodable += 1);
                    }
                }
            }
        }
        Ok(())
    }

    /// Sends [`PeerMsg::LinkUp`] on the reliable channel, whatever the link state.
    fn send_link_up(&self, peer: PeerId, open: bool) {
        if let (Some(link), Some(bytes)) =
            (self.slots.get(&peer).and_then(|s| s.link.as_ref()), encode_peer(&PeerMsg::LinkUp { open }))
        {
            link.send(Channel::Reliable, &bytes);
        }
    }

    /// The link is open once both local channels are open and the peer said the same.
    fn maybe_open(&mut self, peer: PeerId) {
        let Some(slot) = self.slots.get_mut(&peer) else { return };
        if slot.open != [true, true] || !slot.peer_up || slot.state == LinkState::Open {
            return;
        }
        let elapsed = slot.started.elapsed();
        slot.connected_in = Some(elapsed);
        tracing::info!(peer, ?elapsed, "link open");
        let backlog = std::mem::take(&mut slot.backlog);
        let generation = slot.generation;
        if let Some(link) = &mut slot.link {
            link.start_media(peer, generation, &self.setup.events);
        }
        self.set_state(peer, LinkState::Open);
        for bytes in backlog {
            self.send_bytes(peer, Channel::Reliable, bytes);
        }
        self.probe_link(peer);
    }

    fn probe_link(&mut self, peer: PeerId) {
        self.ping_nonce = self.ping_nonce.wrapping_add(1);
        let sent_us = self.shared.with_clock(|c| c.epoch()).elapsed().as_micros() as u64;
        if let Some(bytes) = encode_peer(&PeerMsg::Ping { nonce: self.ping_nonce, sent_us }) {
            self.send_bytes(peer, Channel::Unreliable, bytes);
        }
    }

    async fn tick(&mut self) -> Result<(), SessionError> {
        let now = Instant::now();
        self.reconnect_tick(now)?;
        self.report_paths().await?;
        if now >= self.next_probe {
            self.probes_sent += 1;
            self.next_probe = now
                + if self.probes_sent < FAST_PROBES { FAST_PROBE_INTERVAL } else { self.config.probe_interval };
            let client_time_ms = self.shared.with_clock(|c| c.local_ms(now));
            self.ping_nonce = self.ping_nonce.wrapping_add(1);
            self.send_server(ClientMsg::Ping { nonce: self.ping_nonce, client_time_ms }).await?;
            let open: Vec<PeerId> =
                self.slots.iter().filter(|(_, s)| s.state == LinkState::Open).map(|(&p, _)| p).collect();
            for peer in open {
                self.probe_link(peer);
                if let Some(slot) = self.slots.get(&peer)
                    && let Some(link) = &slot.link
                {
                    link.query_paths(peer, slot.generation, &self.setup.events);
                }
            }
        }
        // Repeat the link handshake until the peer answers (its first copy may be dropped).
        if now >= self.next_link_up {
            self.next_link_up = now + LINK_UP_INTERVAL;
            let waiting: Vec<PeerId> = self
                .slots
                .iter()
                .filter(|(_, s)| s.open == [true, true] && s.state != LinkState::Open)
                .map(|(&p, _)| p)
                .collect();
            for peer in waiting {
                self.send_link_up(peer, false);
            }
        }
        let mut to_retry = Vec::new();
        let mut to_offer = Vec::new();
        for (&peer, slot) in &self.slots {
            let offerer = self.me < peer;
            if let Some(at) = slot.retry_at {
                if now >= at && offerer {
                    to_offer.push(peer);
                }
                continue;
            }
            let timed_out = offerer && slot.state != LinkState::Open && now - slot.started > self.config.link_timeout;
            let lost = slot.disconnected_since.is_some_and(|t| now - t > self.config.link_timeout / 2);
            if timed_out || lost {
                to_retry.push(peer);
            }
        }
        for peer in to_retry {
            tracing::info!(peer, "link did not come up in time; negotiating again");
            self.retry(peer);
        }
        for peer in to_offer {
            self.start_offer(peer).await;
        }
        Ok(())
    }
}

fn encode_peer(msg: &PeerMsg) -> Option<Vec<u8>> {
    match encode(msg) {
        Ok(bytes) => Some(bytes),
        Err(e) => {
            tracing::warn!("peer message not sent: {e}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_servers_bind_loopback() {
        let lo = vec![SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0)];
        let any = vec![SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)];
        assert_eq!(default_udp_bind("ws://127.0.0.1:7878/ws"), lo);
        assert_eq!(default_udp_bind("ws://localhost/ws"), lo);
        assert_eq!(default_udp_bind("ws://[::1]:7878/ws"), lo);
        assert_eq!(default_udp_bind("wss://party.example.org/ws"), any);
        assert_eq!(default_udp_bind("ws://192.168.1.20:7878/ws"), any);
    }
}
