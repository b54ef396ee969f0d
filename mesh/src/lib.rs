//! Networking core of PoseParty, without Bevy: the websocket to the matchmaking server, a
//! full WebRTC mesh among the players of a room, and an estimate of the server clock.
//!
//! Designed like `matchbox_socket`: [`Mesh::start`] spawns the async machinery on a tokio
//! runtime owned by the returned [`MeshHandle`] (or on a runtime you pass to
//! [`Mesh::start_on`]); the caller talks to it through non-blocking channels — it queues
//! [`Command`]s with [`MeshHandle::send`] and drains [`Event`]s with
//! [`MeshHandle::try_recv`] once per frame. Nothing here blocks the caller.
//!
//! ```no_run
//! # fn main() -> Result<(), mesh::Error> {
//! let mut mesh = mesh::Mesh::start(mesh::Config::new("ws://127.0.0.1:7878/ws", "민수"))?;
//! mesh.send(mesh::Command::QuickMatch);
//! loop {
//!     while let Some(event) = mesh.try_recv() {
//!         // update the UI from `event`
//! #       let _ = event;
//!     }
//!     // … render a frame …
//! #   break;
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # The mesh
//! Every pair of players in a room has two WebRTC peer connections, one per data channel:
//! a reliable, ordered one (stream 0: game events, final scores, decks) and an unordered one
//! without retransmissions (stream 1: live poses and scores; see
//! [`shared::protocol::peer::Channel`]). They are separate SCTP associations because one
//! association stalls all its streams after a loss. Each channel is pre-negotiated, created
//! identically on both sides. The player with the lower [`PeerId`] makes the offers (so two
//! offers never cross); SDP and ICE candidates travel through the server's signaling relay.
//! A link that fails or does not come up in time is torn down and negotiated again. Links
//! follow the room snapshot: a player who appears gets a link, one who leaves loses it.
//!
//! # The clock
//! The server is the clock. [`ClockSync`] keeps recent ping/pong samples and trusts the one
//! with the smallest round trip; [`MeshHandle::server_now_ms`] and
//! [`Event::GameStarting`]'s local `start_at` come from it.

mod clock;
mod driver;
pub mod harness;
mod link;
pub mod netlab;
pub mod relay;
mod signaling;
mod track;
mod video;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

pub use clock::ClockSync;
pub use video::is_keyframe as is_vp8_keyframe;
pub use shared::protocol::peer::{Channel, PeerMsg};
pub use shared::protocol::signal::PeerId;
use shared::protocol::signal::{
    ErrorCode, GameMode, LeaveReason, LoadingStage, MatchReport, MatchStatus, MatchSummary, RoomSettings,
    RoomSnapshot, RoomVisibility,
};
use tokio::sync::mpsc;

/// Rewrites an ICE candidate line (`candidate:…`) before it is sent to a peer, or drops it
/// (`None`). For tests and benchmarks that route traffic through a relay
/// ([`relay::LossyRelay`]); applied to trickled candidates and to `a=candidate` lines of the
/// SDP alike.
pub type CandidateRewrite = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// How to reach the server and how to behave.
#[derive(Clone)]
pub struct Config {
    /// Websocket URL of the server, e.g. `ws://127.0.0.1:7878/ws`.
    pub server_url: String,
    /// Player name shown to the others (at most
    /// [`shared::protocol::signal::MAX_NAME_CHARS`] characters).
    pub name: String,
    /// Token from an earlier [`Event::Welcome`] to reclaim a seat after a dropped connection.
    pub reconnect_token: Option<String>,
    /// Local UDP addresses the WebRTC sockets bind. `None` picks: `127.0.0.1:0` when the
    /// server is on a loopback address (every player is on this machine), else `0.0.0.0:0`
    /// (every non-loopback interface).
    pub udp_bind: Option<Vec<SocketAddr>>,
    /// See [`CandidateRewrite`]. `None` sends candidates as gathered.
    pub candidate_rewrite: Option<CandidateRewrite>,
    /// How long a link may take from its offer to both channels open before it is torn down
    /// and negotiated again.
    pub link_timeout: Duration,
    /// Pause before a failed link is negotiated again.
    pub link_retry_delay: Duration,
    /// How often the server clock and every link's round trip are probed once settled.
    pub probe_interval: Duration,
    /// How long to wait for the websocket and the `Welcome`.
    pub connect_timeout: Duration,
    /// Use only relayed (TURN) candidates: for testing the relay path, or to hide this
    /// player's addresses from the others. Needs a TURN server in the `Welcome`.
    pub ice_relay_only: bool,
    /// A PEM file of extra certificates to trust for `wss://` (e.g. a self-signed server
    /// certificate), on top of the system's roots.
    pub ca_cert: Option<std::path::PathBuf>,
    /// How long to keep trying to reconnect, with the reconnect token, after the server
    /// connection broke (the peer links stay up meanwhile). The server keeps a dropped seat
    /// for 30 s by default. Zero: a broken connection ends the mesh at once.
    pub reconnect_window: Duration,
    /// Negotiate a VP8 video track on every link (the video call's transport): frames go out
    /// with [`Command::SendVideo`], arrive as [`Event::VideoFrame`]. Off by default.
    pub video: bool,
    /// Negotiate an Opus voice track on every link: packets go out with
    /// [`Command::SendVoice`], arrive as [`Event::VoicePacket`]. Off by default.
    pub voice: bool,
}

impl Config {
    /// A config with default timings.
    pub fn new(server_url: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            server_url: server_url.into(),
            name: name.into(),
            reconnect_token: None,
            udp_bind: None,
            candidate_rewrite: None,
            link_timeout: Duration::from_secs(10),
            link_retry_delay: Duration::from_millis(500),
            probe_interval: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(10),
            ice_relay_only: false,
            ca_cert: None,
            reconnect_window: Duration::from_secs(30),
            video: false,
            voice: false,
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("server_url", &self.server_url)
            .field("name", &self.name)
            .field("reconnect_token", &self.reconnect_token.as_ref().map(|_| "…"))
            .field("udp_bind", &self.udp_bind)
            .field("candidate_rewrite", &self.candidate_rewrite.is_some())
            .field("link_timeout", &self.link_timeout)
            .field("link_retry_delay", &self.link_retry_delay)
            .field("probe_interval", &self.probe_interval)
            .field("connect_timeout", &self.connect_timeout)
            .field("ice_relay_only", &self.ice_relay_only)
            .field("ca_cert", &self.ca_cert)
            .field("reconnect_window", &self.reconnect_window)
            .field("video", &self.video)
            .field("voice", &self.voice)
            .finish()
    }
}

/// What the caller asks of the mesh. Server requests map one-to-one onto
/// [`shared::protocol::signal::ClientMsg`]; the answers come back as [`Event`]s.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    CreateRoom(RoomSettings),
    /// Join by code (case-insensitive).
    JoinRoom(String),
    QuickMatch,
    LeaveRoom,
    /// Host only, in the lobby.
    UpdateSettings(RoomSettings),
    /// This player's model loading stage and its progress (0–1).
    SetLoading { stage: LoadingStage, progress: f32 },
    SetReady(bool),
    /// Host only: start (with `force`, without the players that are not ready).
    StartGame { force: bool },
    ReportResult(MatchReport),
    /// Host only: from the results back to the lobby.
    BackToLobby,
    /// Ask for this player's match history (answered by [`Event::History`]).
    History { limit: u16 },
    /// One page of this player's history, older than match `before` (answered by
    /// [`Event::HistoryPage`]).
    HistoryPage { before: Option<i64>, limit: u16 },
    /// Host only: private (joined by code) or public (quick match may fill it).
    SetVisibility(RoomVisibility),
    /// In the lobby: the other people playing in front of this camera (local seats 1–3).
    SetLocalSeats(Vec<String>),
    /// To every linked peer on the reliable channel.
    SendReliable(PeerMsg),
    /// To every linked peer on the unreliable channel.
    SendUnreliable(PeerMsg),
    /// To one peer.
    SendTo { to: PeerId, channel: Channel, msg: PeerMsg },
    /// One encoded VP8 frame (e.g. from `media::Vp8Encoder`) to every open link's video
    /// track (with [`Config::video`]; otherwise ignored). `duration` is the time until the
    /// next frame (1/fps), which advances the RTP timestamp. A link that joins mid-stream, or
    /// loses a frame, asks for a keyframe ([`Event::KeyframeRequested`]); `keyframe` is for
    /// the caller's bookkeeping and logs — the mesh reads the frame itself.
    SendVideo { frame: Vec<u8>, keyframe: bool, duration: Duration },
    /// One encoded Opus packet (e.g. 20 ms from `media::OpusEncoder`) to every open link's
    /// voice track (with [`Config::voice`]; otherwise ignored). `duration` is the audio it
    /// holds, which advances the RTP timestamp (48 kHz clock).
    SendVoice { packet: Vec<u8>, duration: Duration },
    /// Close every link and the websocket; [`Event::Disconnected`] follows.
    Shutdown,
}

/// State of the link to one peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LinkState {
    /// Offer/answer and ICE in progress.
    #[default]
    Connecting,
    /// Both data channels are open.
    Open,
    /// The link failed or timed out; it is negotiated again after a short pause.
    Retrying,
    /// The peer left; the link is gone.
    Closed,
}

/// What the mesh reports to the caller.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The server accepted the connection (again after a reconnect, with a new token).
    Welcome { peer_id: PeerId, reconnect_token: String },
    /// The room this player is in changed (full snapshot).
    Room(RoomSnapshot),
    /// This player is no longer in a room.
    LeftRoom(LeaveReason),
    /// The round starts at `start_at_ms` on the server clock, which is `start_at` on ours.
    GameStarting {
        start_at: Instant,
        start_at_ms: u64,
        round_seed: u64,
        mode: GameMode,
        duration: Duration,
        players: Vec<PeerId>,
    },
    /// A player appeared in the room (a link to them is being set up).
    PeerJoined { peer: PeerId, name: String },
    /// A player left the room (their link is closed).
    PeerLeft { peer: PeerId },
    /// The link to `peer` changed state.
    LinkState { peer: PeerId, state: LinkState },
    /// A fresh round-trip measurement of the link to `peer`.
    LinkRtt { peer: PeerId, rtt: Duration },
    /// The ICE candidate pair the link to `peer` uses on `channel`'s connection (read from
    /// the WebRTC stack's stats once the channel opened, and again whenever it changes).
    LinkPath { peer: PeerId, channel: Channel, path: LinkPath },
    /// A message from another player.
    PeerMessage { from: PeerId, channel: Channel, msg: PeerMsg },
    /// The server's verdict on the round's reports: `agreed` only when `status` is
    /// `Verified`; a solo round is `SinglePlayer`, a round cut by a shutdown `Incomplete`.
    ResultRecorded { match_id: i64, agreed: bool, status: MatchStatus },
    History(Vec<MatchSummary>),
    /// A page of history; `next_before` asks for the next (older) one, `None` at the end.
    HistoryPage { matches: Vec<MatchSummary>, next_before: Option<i64> },
    /// The server refused something.
    ServerError { code: ErrorCode, message: String },
    /// The connection to the server broke; the mesh is reconnecting with the reconnect token
    /// (for up to [`Config::reconnect_window`]). Peer links and messages go on meanwhile;
    /// server requests wait until it is back.
    ServerLost { reason: String },
    /// The server connection is back after `after`. With `seat_kept` false the server no
    /// longer knew this player (the grace period was over, or the server restarted): a
    /// [`Event::Welcome`] with the new id and [`Event::LeftRoom`] came first.
    ServerResumed { seat_kept: bool, after: Duration },
    /// The connection to the server is gone (the mesh has stopped). `reason` says why.
    Disconnected { reason: String },
    /// A whole VP8 frame from `from`'s video track (with [`Config::video`]). Frames come in
    /// order and decodable: from a keyframe on, none missing in between (after a loss the
    /// mesh drops frames and asks for a keyframe).
    VideoFrame { from: PeerId, data: Vec<u8>, keyframe: bool },
    /// `by` needs a keyframe (its decoder joined mid-stream or lost a frame, or a frame to
    /// it had to be dropped here): encode the next frame as a keyframe.
    KeyframeRequested { by: PeerId },
    /// `by`'s reception report on this player's video (RTCP, about once a second): the
    /// fraction of packets lost since its last report (0–1) and the interarrival jitter
    /// (90 kHz units). For the sender's adaptation.
    VideoReport { by: PeerId, fraction_lost: f32, jitter: u32 },
    /// One Opus packet from `from`'s voice track (with [`Config::voice`]), as it arrived:
    /// packets may be lost, late or reordered — `sequence` and `timestamp` (RTP, 48 kHz)
    /// are for the receiver's jitter buffer.
    VoicePacket { from: PeerId, sequence: u16, timestamp: u32, data: Vec<u8> },
}

/// Why the mesh could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("could not start the network runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("server address {url:?} is not a ws:// or wss:// URL — use e.g. ws://127.0.0.1:7878/ws")]
    BadUrl { url: String },
}

/// The type of an ICE candidate (RFC 8445): how the packets travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CandidateKind {
    /// The machine's own address.
    Host,
    /// The address a NAT maps it to, as a STUN server saw it.
    Srflx,
    /// An address learnt from the peer's checks.
    Prflx,
    /// An address on a TURN relay: every packet goes through the relay.
    Relay,
    Unknown,
}

impl CandidateKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Host => "host",
            Self::Srflx => "srflx",
            Self::Prflx => "prflx",
            Self::Relay => "relay",
            Self::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for CandidateKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The selected candidate pair of one peer connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LinkPath {
    pub local: CandidateKind,
    pub remote: CandidateKind,
}

impl LinkPath {
    /// True when either end is a TURN relay.
    pub fn relayed(&self) -> bool {
        self.local == CandidateKind::Relay || self.remote == CandidateKind::Relay
    }
}

impl std::fmt::Display for LinkPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}→{}", self.local, self.remote)
    }
}

/// One link as last seen, for a status panel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkInfo {
    pub peer: PeerId,
    pub state: LinkState,
    /// Smoothed round-trip time; `None` before the first probe came back.
    pub rtt: Option<Duration>,
    /// Times the link was (re)negotiated.
    pub attempts: u32,
    /// How long the last successful attempt took from its start (the offer, or receiving
    /// it) until both channels were open.
    pub connected_in: Option<Duration>,
    /// Selected candidate pair of each part (index = [`Channel::stream_id`]), once known.
    pub paths: [Option<LinkPath>; 2],
}

impl LinkInfo {
    /// True when a known path of this link goes through a TURN relay.
    pub fn relayed(&self) -> bool {
        self.paths.iter().flatten().any(LinkPath::relayed)
    }
}

/// Counters and state shared between the mesh task and the handle.
#[derive(Debug, Clone, Default)]
pub struct Status {
    pub peer_id: Option<PeerId>,
    pub links: Vec<LinkInfo>,
    /// Data-channel messages that failed to decode (dropped).
    pub undecodable: u64,
    /// Messages sent / received on the data channels.
    pub sent: u64,
    pub received: u64,
    /// Live (unreliable) messages not sent because the link was backed up: the newest pose
    /// replaces them.
    pub skipped_live: u64,
    /// False while the server connection is being restored (see [`Event::ServerLost`]).
    pub server_up: bool,
    /// Times the server connection was restored.
    pub server_reconnects: u32,
    /// Video frames queued to links / received whole / dropped because a link's video
    /// writer was backed up.
    pub video_sent: u64,
    pub video_received: u64,
    pub video_dropped: u64,
    /// Voice packets queued to links / received.
    pub voice_sent: u64,
    pub voice_received: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub clock: Mutex<ClockSync>,
    pub status: Mutex<Status>,
    pub skipped_live: Arc<std::sync::atomic::AtomicU64>,
}

impl Shared {
    pub(crate) fn with_clock<R>(&self, f: impl FnOnce(&mut ClockSync) -> R) -> R {
        f(&mut self.clock.lock().unwrap_or_else(PoisonError::into_inner))
    }
    pub(crate) fn with_status<R>(&self, f: impl FnOnce(&mut Status) -> R) -> R {
        f(&mut self.status.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// Entry point: see [`Mesh::start`].
pub struct Mesh;

impl Mesh {
    /// Starts the mesh on a small tokio runtime owned by the returned handle.
    pub fn start(config: Config) -> Result<MeshHandle, Error> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("mesh")
            .enable_all()
            .build()
            .map_err(Error::Runtime)?;
        let mut handle = Self::start_on(runtime.handle(), config)?;
        handle.runtime = Some(runtime);
        Ok(handle)
    }

    /// Starts the mesh as a task on an existing tokio runtime.
    pub fn start_on(runtime: &tokio::runtime::Handle, config: Config) -> Result<MeshHandle, Error> {
        if !(config.server_url.starts_with("ws://") || config.server_url.starts_with("wss://")) {
            return Err(Error::BadUrl { url: config.server_url });
        }
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (event_tx, event_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared::default());
        let epoch = shared.with_clock(|c| c.epoch());
        runtime.spawn(driver::run(config, cmd_rx, event_tx, shared.clone()));
        Ok(MeshHandle { commands: cmd_tx, events: event_rx, shared, epoch, runtime: None })
    }
}

/// Queues commands on a mesh from anywhere; see [`MeshHandle::command_sender`].
#[derive(Clone, Debug)]
pub struct CommandSender(mpsc::UnboundedSender<Command>);

impl CommandSender {
    /// Queues a command. Returns false when the mesh has already stopped.
    pub fn send(&self, command: Command) -> bool {
        self.0.send(command).is_ok()
    }
}

/// The caller's side of a running mesh. Dropping it shuts the mesh down.
pub struct MeshHandle {
    commands: mpsc::UnboundedSender<Command>,
    events: mpsc::UnboundedReceiver<Event>,
    shared: Arc<Shared>,
    epoch: Instant,
    runtime: Option<tokio::runtime::Runtime>,
}

impl MeshHandle {
    /// Queues a command. Returns false when the mesh has already stopped.
    pub fn send(&self, command: Command) -> bool {
        self.commands.send(command).is_ok()
    }

    /// A cloneable sender of commands, for other threads or tasks.
    pub fn command_sender(&self) -> CommandSender {
        CommandSender(self.commands.clone())
    }

    /// The next event, if one is waiting. Never blocks.
    pub fn try_recv(&mut self) -> Option<Event> {
        self.events.try_recv().ok()
    }

    /// Waits for the next event; `None` once the mesh has stopped and every event was taken.
    pub async fn recv(&mut self) -> Option<Event> {
        self.events.recv().await
    }

    /// The server's clock now, in ms since the Unix epoch; `None` before the first estimate.
    pub fn server_now_ms(&self) -> Option<u64> {
        self.shared.with_clock(|c| c.server_now_ms())
    }

    /// The local instant at which the server clock reads `server_ms`.
    pub fn to_local(&self, server_ms: u64) -> Option<Instant> {
        self.shared.with_clock(|c| c.to_local(server_ms))
    }

    /// Round trip of the best clock sample so far.
    pub fn server_rtt(&self) -> Option<Duration> {
        self.shared.with_clock(|c| c.best_rtt())
    }

    /// Links, counters and this player's id, as of now.
    pub fn status(&self) -> Status {
        let mut status = self.shared.with_status(|s| s.clone());
        status.skipped_live = self.shared.skipped_live.load(std::sync::atomic::Ordering::Relaxed);
        status
    }

    /// The instant the mesh measures its local clock from.
    pub fn epoch(&self) -> Instant {
        self.epoch
    }
}

impl Drop for MeshHandle {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Shutdown);
        if let Some(runtime) = self.runtime.take() {
            // Give the mesh a moment to say goodbye, but never block inside an async caller.
            if tokio::runtime::Handle::try_current().is_ok() {
                runtime.shutdown_background();
            } else {
                runtime.shutdown_timeout(Duration::from_millis(200));
            }
        }
    }
}
