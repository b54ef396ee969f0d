//! Server⇄client messages over the websocket: matchmaking, room state, clock, results,
//! and the WebRTC signaling relay.
//!
//! A connection starts with [`ClientMsg::Hello`], answered by [`ServerMsg::Welcome`] (or an
//! [`ServerMsg::Error`] with [`ErrorCode::BadVersion`] and a close). After that the client
//! may create, join or quick-match into a room; every change of the room is broadcast to its
//! members as a full [`ServerMsg::Room`] snapshot, so a late joiner sees everything.
//!
//! Times are milliseconds on the server's clock (Unix epoch). Clients estimate their offset
//! with [`ClientMsg::Ping`] / [`ServerMsg::Pong`].

use serde::{Deserialize, Serialize};

/// Bumped on every incompatible change of [`ClientMsg`] / [`ServerMsg`] or the peer messages.
pub const PROTOCOL_VERSION: u16 = 3;

/// Longest player name, in grapheme clusters (what a reader counts as characters).
pub const MAX_NAME_CHARS: usize = 24;

/// Length of a room code.
pub const ROOM_CODE_LEN: usize = 6;

/// The alphabet room codes are drawn from: no 0/O, 1/I/L, 2/Z, 5/S, 8/B lookalikes.
pub const ROOM_CODE_ALPHABET: &[u8] = b"ACDEFGHJKMNPQRTUVWXY34679";

/// A player's id, unique per server run.
pub type PeerId = u32;

/// Client → server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ClientMsg {
    /// First message on every connection.
    Hello {
        protocol_version: u16,
        name: String,
        /// A token from an earlier [`ServerMsg::Welcome`] to reclaim a seat after a drop.
        /// A valid token gives back the same `peer_id` and seat (and a new token: each token
        /// works once). An unknown or expired one is answered with
        /// `Error { code: StaleToken }` followed by a `Welcome` as a new player.
        reconnect_token: Option<String>,
    },
    CreateRoom { settings: RoomSettings },
    /// Join by code (case-insensitive).
    JoinRoom { code: String },
    /// Join the fullest open *public* room still in the lobby, or create a public one.
    /// Private rooms (the default for [`ClientMsg::CreateRoom`]) are only joined by code.
    QuickMatch,
    LeaveRoom,
    /// Host only, in the lobby.
    UpdateSettings { settings: RoomSettings },
    /// This player's own model loading stage and its progress (0–1).
    SetLoading { stage: LoadingStage, progress: f32 },
    /// Ready (or not) for the round to start.
    SetReady { ready: bool },
    /// Host only. Moves the lobby to loading; once everyone is ready (or the host forces it
    /// with `force`, dropping players that are not ready) the server sends
    /// [`ServerMsg::GameStarting`].
    StartGame { force: bool },
    /// This player's view of the final scoreboard of the round that just ended.
    ReportResult { report: MatchReport },
    /// Back from the results to the lobby (host only).
    BackToLobby,
    /// Clock probe; answered by [`ServerMsg::Pong`].
    Ping { nonce: u32, client_time_ms: u64 },
    /// WebRTC signaling to another member of the same room.
    Signal { to: PeerId, payload: SignalPayload },
    /// Match history of this player (by name), newest first. Answered by
    /// [`ServerMsg::History`] with the newest matches that fit one frame (at most `limit`,
    /// at most 100); for further pages use [`ClientMsg::HistoryPage`].
    History { limit: u16 },
    /// Host only, in the lobby: make the room private (joined by code only) or public
    /// (quick match may put strangers in it). Every member gets the new [`RoomSnapshot`].
    SetVisibility { visibility: RoomVisibility },
    /// One page of this player's match history, newest first: matches with an id below
    /// `before` (all when `None`), at most `limit` (at most 100) and at most what fits one
    /// frame. Answered by [`ServerMsg::HistoryPage`].
    HistoryPage { before: Option<i64>, limit: u16 },
    /// How this client's links go, counted over the links it offers (one end of each link
    /// reports it): `direct` pairs and pairs through a TURN `relayed` one. Sent when the
    /// counts change; the server only counts them for `/metrics`.
    LinkPaths { direct: u8, relayed: u8 },
    /// In the lobby: the other people playing in front of this device's camera, by name, in
    /// seat order (seats 1, 2, 3; at most [`MAX_LOCAL_SEATS`]; empty: only this player).
    /// Each becomes a player of the room ([`PlayerInfo::device`] = this player) with its own
    /// id, counted by the room cap, scored and recorded on its own. Refused with `RoomFull`
    /// when the seats do not fit, `InvalidName` / `NameTaken` for a bad name.
    SetLocalSeats { names: Vec<String> },
}

/// Server → client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ServerMsg {
    Welcome {
        peer_id: PeerId,
        /// Keep it to reclaim the seat (within 30 s) after a dropped connection.
        reconnect_token: String,
        server_time_ms: u64,
        ice_servers: Vec<IceServer>,
    },
    /// The room this client is in, sent on every change.
    Room(RoomSnapshot),
    /// This client is no longer in a room.
    LeftRoom { reason: LeaveReason },
    /// The round starts at `start_at_ms` (server clock) for `players`.
    GameStarting {
        start_at_ms: u64,
        round_seed: u64,
        mode: GameMode,
        duration_ms: u32,
        players: Vec<PeerId>,
    },
    Pong { nonce: u32, client_time_ms: u64, server_time_ms: u64 },
    /// Signaling relayed from another member of the same room.
    Signal { from: PeerId, payload: SignalPayload },
    /// The server's verdict on the reports of a round. `agreed` is true only for a
    /// [`MatchStatus::Verified`] match.
    ResultRecorded { match_id: i64, agreed: bool, status: MatchStatus },
    /// Answer to [`ClientMsg::History`]: the newest matches that fit one frame.
    History { matches: Vec<MatchSummary> },
    Error { code: ErrorCode, message: String },
    /// Answer to [`ClientMsg::HistoryPage`]. `next_before` is the `before` of the next
    /// (older) page, `None` when this was the last one.
    HistoryPage { matches: Vec<MatchSummary>, next_before: Option<i64> },
}

/// A STUN/TURN server for the WebRTC ICE agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    pub urls: Vec<String>,
    pub username: Option<String>,
    pub credential: Option<String>,
}

/// WebRTC signaling, relayed as-is by the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SignalPayload {
    Offer { sdp: String },
    Answer { sdp: String },
    IceCandidate { candidate: String, sdp_mid: Option<String>, sdp_mline_index: Option<u16> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum GameMode {
    PoseRush,
    MotionQuiz,
}

/// Round lengths a room accepts, in seconds (the server checks them, the client's
/// `--round-secs` and the lobby offer only these).
pub const ROUND_SECS: std::ops::RangeInclusive<u16> = 10..=600;

/// Settings the host controls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomSettings {
    pub mode: GameMode,
    /// Round length in seconds.
    pub duration_secs: u16,
    /// Pose Rush: play the routine with this index in the room's deck (in its order and
    /// timing) instead of random targets. The host shares the deck; every player confirms it
    /// before the round can start.
    pub routine: Option<u16>,
}

impl Default for RoomSettings {
    fn default() -> Self {
        Self { mode: GameMode::PoseRush, duration_secs: 60, routine: None }
    }
}

/// Where a room is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RoomPhase {
    Lobby,
    /// Everyone loads their model; the round starts when all are ready.
    Loading,
    Playing { start_at_ms: u64, round_seed: u64 },
    Results,
}

/// A player's model-loading stage, shown to everyone on the loading screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LoadingStage {
    Idle,
    ReadingModel,
    BuildingSession,
    WarmingUp,
    Done,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlayerInfo {
    pub id: PeerId,
    pub name: String,
    /// False while the player's connection is down (its seat is kept for 30 s).
    pub connected: bool,
    pub stage: LoadingStage,
    /// Progress of `stage`, 0–1.
    pub progress: f32,
    pub ready: bool,
    /// `Some(id)`: a local seat — another person playing in front of player `id`'s camera
    /// (couch play, [`ClientMsg::SetLocalSeats`]). It has no connection or links of its own:
    /// its device's player sends its events (with their seat number), and its connection,
    /// loading and readiness are the device's. `None`: a player with its own device.
    pub device: Option<PeerId>,
}

impl RoomSnapshot {
    /// Seats taken (players with a device and local seats alike): what the room cap counts.
    pub fn seats(&self) -> usize {
        self.players.len()
    }

    /// The local seats played on `device`, in seat order (seat 1, 2, 3).
    pub fn local_seats(&self, device: PeerId) -> impl Iterator<Item = &PlayerInfo> {
        self.players.iter().filter(move |p| p.device == Some(device))
    }

    /// The player of seat `seat` on `device` (seat 0 is the device's own player).
    pub fn seat_player(&self, device: PeerId, seat: u8) -> Option<PeerId> {
        match seat {
            0 => self.players.iter().find(|p| p.id == device && p.device.is_none()).map(|p| p.id),
            n => self.local_seats(device).nth(usize::from(n) - 1).map(|p| p.id),
        }
    }
}

/// Most local seats one device may add besides its own player (four people on one camera).
pub const MAX_LOCAL_SEATS: usize = 3;

/// Who may enter a room without being given its code.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RoomVisibility {
    /// Joined by code only (rooms made with [`ClientMsg::CreateRoom`] start private).
    #[default]
    Private,
    /// Quick match may fill it (rooms made by [`ClientMsg::QuickMatch`] start public).
    Public,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoomSnapshot {
    /// Six characters from [`ROOM_CODE_ALPHABET`].
    pub code: String,
    pub host: PeerId,
    pub settings: RoomSettings,
    pub phase: RoomPhase,
    pub players: Vec<PlayerInfo>,
    /// Most players the room takes.
    pub cap: u8,
    /// Private (by code) or public (quick match); the host switches it with
    /// [`ClientMsg::SetVisibility`].
    pub visibility: RoomVisibility,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LeaveReason {
    /// The client asked to leave.
    Requested,
    /// The host started without this player, who was not ready in time.
    NotReady,
    /// The server is shutting down.
    ServerShutdown,
    /// The connection to the server was lost for longer than the reconnect grace period:
    /// the seat is gone. Never sent by the server; the client concludes it on reconnecting.
    ConnectionLost,
}

/// One player's line on a final scoreboard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScoreLine {
    pub player: PeerId,
    pub name: String,
    pub points: u32,
    pub hits: u32,
    pub best_streak: u32,
    /// The player left or lost the connection during the round.
    pub dropped: bool,
}

/// A player's view of the final scoreboard of one round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchReport {
    /// The seed of the round, as given in [`ServerMsg::GameStarting`].
    pub round_seed: u64,
    /// Sorted by points, highest first; ties by player id.
    pub scores: Vec<ScoreLine>,
}

/// A recorded match, from the server's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchSummary {
    pub match_id: i64,
    pub room_code: String,
    pub mode: GameMode,
    /// Server time the round started, ms.
    pub started_at_ms: u64,
    /// True only for a [`MatchStatus::Verified`] match: at least two players, every one
    /// of them reported, all reports the same.
    pub agreed: bool,
    pub scores: Vec<ScoreLine>,
    /// How far the result can be trusted; anything but `Verified` is shown as unverified.
    pub status: MatchStatus,
}

/// How far a recorded result can be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MatchStatus {
    /// Two or more players, every remaining one reported, all reports identical.
    Verified,
    /// Only one player reported (a solo round): nobody confirms it.
    SinglePlayer,
    /// The reports differ; the scoreboard most reporters gave is kept.
    Disagreed,
    /// The server shut down before every report came in; the reports received are kept.
    Incomplete,
    /// Recorded by a server before results were checked (protocol 1).
    Unchecked,
}

impl MatchStatus {
    pub fn is_verified(self) -> bool {
        self == MatchStatus::Verified
    }
}

/// Why the server refused something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorCode {
    /// The `Hello` carried another protocol version.
    BadVersion,
    /// A message came before `Hello`, or `Hello` came twice.
    BadHandshake,
    /// The frame could not be decoded (the socket is closed).
    Malformed,
    /// The frame was larger than the limit (the socket is closed).
    TooLarge,
    /// Too many messages too fast.
    RateLimited,
    /// Too many failed joins from this address; wait before trying again.
    TooManyFailedJoins,
    RoomNotFound,
    RoomFull,
    /// The room is not in a phase that allows this.
    WrongPhase,
    NotInRoom,
    AlreadyInRoom,
    NotHost,
    InvalidName,
    InvalidSettings,
    /// The reconnect token is unknown or expired.
    StaleToken,
    /// `Signal` to a peer that is not in the same room.
    UnknownPeer,
    Internal,
    /// `ReportResult` before the round has ended on the server's clock.
    RoundNotOver,
    /// `ReportResult` a second time for the same round.
    AlreadyReported,
    /// `ReportResult` whose scoreboard is not exactly the round's players, or whose points,
    /// hits or streaks are impossible in that round.
    InvalidReport,
    /// The name looks like another player's in that room (e.g. `Ａｎａ` vs `Ana`).
    NameTaken,
    /// The connection did not take its messages fast enough and is closed.
    TooSlow,
}
