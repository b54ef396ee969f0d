//! The contract between the game/UI and the network glue (`net::NetPlugin`).
//!
//! The UI and the game never talk to the network directly. They write [`NetCommand`]s and
//! read [`NetEvent`]s (Bevy messages); the net plugin hands the commands to the `mesh` crate
//! and turns mesh events into [`NetEvent`]s, once per frame, without blocking. A command is
//! either `Connect` (which starts the mesh) or a [`MeshCommand`] passed through as it is —
//! there is no second copy of the mesh's command set to keep in step:
//!
//! ```text
//! net.write(MeshCommand::StartGame { force: false }.into());
//! ```
//!
//! | `mesh::Event`                   | [`NetEvent`]                    |
//! |---------------------------------|---------------------------------|
//! | `Welcome { peer_id, .. }`       | `Connected { my_id }`           |
//! | `GameStarting { start_at, .. }` | `GameStarting(RoundInfo)` with `start_in_ms` = `start_at − now` (may be negative) |
//! | `LinkState` / `LinkRtt`         | `Link { peer, state, rtt_ms }`  |
//! | `PeerMessage { from, msg, .. }` | `Peer { from, msg }`            |
//! | `ServerResumed { seat_kept, .. }` | `ServerResumed { seat_kept }` |
//! | others                          | same variant                    |
//!
//! [`SessionPlugin`] folds the events into the [`Session`] and [`PeerBoard`] resources that
//! the screens draw; the flow (`crate::flow`) moves between screens on them. A test or a demo
//! can stand in for the network by writing [`NetEvent`]s and reading [`NetCommand`]s.

use std::collections::BTreeMap;

use bevy::prelude::*;
use shared::pose::Skeleton;
use shared::protocol::peer::{GameEventKind, PeerMsg, ScoreTotals};
use shared::protocol::signal::{
    ErrorCode, GameMode, LeaveReason, MatchReport, MatchStatus, MatchSummary, PeerId, PlayerInfo, RoomSnapshot,
};

/// What the mesh is asked to do: room requests (one-to-one with
/// `shared::protocol::signal::ClientMsg`), messages to the peers, `Shutdown`.
pub use mesh::Command as MeshCommand;

/// What the game and the UI ask of the network.
// The mesh variant holds a live pose (~270 bytes), like `PeerMsg` itself; commands are
// short-lived values, boxing would only add an allocation per pose.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Message)]
pub enum NetCommand {
    /// Open the connection to the server (the net plugin drops an older one first).
    Connect { server: String, name: String },
    /// Anything else, handed to the mesh as it is (dropped while not connected).
    Mesh(MeshCommand),
}

impl From<MeshCommand> for NetCommand {
    fn from(command: MeshCommand) -> Self {
        NetCommand::Mesh(command)
    }
}

/// State of the link to one peer, as the mesh reports it.
pub use mesh::LinkState;

/// A round about to start, as the server announced it.
#[derive(Debug, Clone, PartialEq)]
pub struct RoundInfo {
    /// Milliseconds from the moment the event was written until the round starts on the
    /// server clock (negative when it already started).
    pub start_in_ms: i64,
    pub round_seed: u64,
    pub mode: GameMode,
    pub duration_ms: u32,
    pub players: Vec<PeerId>,
}

/// What the network reports to the game and the UI.
#[derive(Debug, Clone, PartialEq, Message)]
pub enum NetEvent {
    /// The server accepted the connection.
    Connected { my_id: PeerId },
    /// The room this player is in changed (full snapshot).
    Room(RoomSnapshot),
    /// This player is no longer in a room.
    LeftRoom(LeaveReason),
    GameStarting(RoundInfo),
    /// The link to `peer` changed, or a new round-trip time was measured.
    Link { peer: PeerId, state: LinkState, rtt_ms: Option<u32> },
    /// A message from another player.
    Peer { from: PeerId, msg: PeerMsg },
    ResultRecorded { match_id: i64, agreed: bool, status: MatchStatus },
    History(Vec<MatchSummary>),
    /// A page of history older than the last one; `next_before` asks for the page after it.
    HistoryPage { matches: Vec<MatchSummary>, next_before: Option<i64> },
    /// The server refused something; `message` is for the player.
    ServerError { code: ErrorCode, message: String },
    /// The server connection broke and is being restored (the game and the peer links go
    /// on meanwhile); `reason` is for the log.
    ServerLost { reason: String },
    /// The server connection is back; with `seat_kept` false the room was lost meanwhile
    /// (a `LeftRoom` came first).
    ServerResumed { seat_kept: bool },
    /// A whole VP8 frame of `from`'s camera picture (the call decodes it).
    VideoFrame { from: PeerId, data: Vec<u8>, keyframe: bool },
    /// A peer lost our picture and asks for a keyframe.
    KeyframeRequested { by: PeerId },
    /// A peer's reception report on our picture: the share of packets lost lately (0–1).
    VideoReport { by: PeerId, fraction_lost: f32 },
    /// One Opus packet of `from`'s voice (the voice plugin's jitter buffer orders them).
    VoicePacket { from: PeerId, sequence: u16, data: Vec<u8> },
    /// The connection is gone; `reason` is for the player.
    Disconnected { reason: String },
}

/// Connection to the server, as the UI shows it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Connection {
    #[default]
    Offline,
    Connecting,
    Online { my_id: PeerId },
}

/// One peer's link, as the lobby shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LinkView {
    pub state: LinkState,
    pub rtt_ms: Option<u32>,
    /// The link was open once (so a state other than open means it is being restored).
    pub was_open: bool,
}

/// Everything the screens show about the server side of the game.
#[derive(Debug, Clone, Default, Resource)]
pub struct Session {
    pub connection: Connection,
    pub room: Option<RoomSnapshot>,
    pub links: BTreeMap<PeerId, LinkView>,
    /// The round being played or last played.
    pub round: Option<RoundInfo>,
    pub history: Option<Vec<MatchSummary>>,
    /// The last result the server recorded: (match id, all reports agreed).
    pub recorded: Option<(i64, bool)>,
    /// How far the server trusts that result (anything but `Verified` is unverified).
    pub recorded_status: Option<MatchStatus>,
    /// The `before` of the next (older) history page, if there is one.
    pub history_next: Option<i64>,
    /// A message for the player (errors, "you left the room"), shown until dismissed.
    pub notice: Option<String>,
    /// The server connection is being restored.
    pub reconnecting: bool,
    /// Times the server connection was restored (with the seat kept or not).
    pub reconnects: u32,
}

impl Session {
    pub fn my_id(&self) -> Option<PeerId> {
        match self.connection {
            Connection::Online { my_id } => Some(my_id),
            _ => None,
        }
    }

    /// Another device is in this player's room (someone to send the call to; local seats
    /// share this device's camera and microphone).
    pub fn has_other_devices(&self) -> bool {
        matches!((&self.room, self.my_id()), (Some(r), Some(me)) if r.players.iter().any(|p| p.id != me && p.device.is_none()))
    }

    pub fn is_host(&self) -> bool {
        matches!((&self.room, self.my_id()), (Some(r), Some(me)) if r.host == me)
    }

    pub fn me(&self) -> Option<&PlayerInfo> {
        let me = self.my_id()?;
        self.room.as_ref()?.players.iter().find(|p| p.id == me)
    }

    /// The player is out of touch: the link to them is being negotiated again after it was
    /// up, or their server connection is down. Their tile says "reconnecting…".
    pub fn peer_reconnecting(&self, id: PeerId) -> bool {
        let server_down = self
            .room
            .as_ref()
            .and_then(|r| r.players.iter().find(|p| p.id == id))
            .is_some_and(|p| !p.connected);
        let link_down = self.links.get(&id).is_some_and(|l| l.was_open && l.state != LinkState::Open);
        server_down || link_down
    }

    pub fn player_name(&self, id: PeerId) -> String {
        self.room
            .as_ref()
            .and_then(|r| r.players.iter().find(|p| p.id == id))
            .map_or_else(|| format!("#{id}"), |p| p.name.clone())
    }
}

/// One other player during a round.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PeerLive {
    /// Totals of the last reliable game event (the authoritative stream).
    pub totals: ScoreTotals,
    /// Highest game-event sequence seen (older ones are ignored).
    pub event_seq: u32,
    /// Highest live-pose sequence seen.
    pub pose_seq: u32,
    pub skeleton: Option<Skeleton>,
    /// The peer sent its `Finished` event.
    pub finished: bool,
    /// The peer's final scoreboard, if it sent one.
    pub report: Option<MatchReport>,
}

/// Other players' live state in the current round, keyed by player id (a peer's local
/// seats have their own entries).
#[derive(Debug, Clone, Default, Resource)]
pub struct PeerBoard {
    pub round_seed: u64,
    pub peers: BTreeMap<PeerId, PeerLive>,
}

impl PeerBoard {
    /// Clears the board for a new round.
    pub fn reset(&mut self, round_seed: u64) {
        self.round_seed = round_seed;
        self.peers.clear();
    }

    /// Applies one peer message from device `from`; stale or foreign-round messages are
    /// ignored. A message about a local seat (`seat` > 0) goes to that seat's player, looked
    /// up in `room`; a seat the room does not give `from` is dropped (a peer scores only for
    /// the people in front of its own camera).
    pub fn apply(&mut self, from: PeerId, msg: &PeerMsg, room: Option<&RoomSnapshot>) {
        let seat = match msg {
            PeerMsg::Game(ev) => ev.seat,
            PeerMsg::Pose(p) => p.seat,
            PeerMsg::Score(s) => s.seat,
            _ => 0,
        };
        let player = match (seat, room) {
            (0, _) => from,
            (n, Some(room)) => match room.seat_player(from, n) {
                Some(player) => player,
                None => {
                    debug!(from, seat = n, "a message for a seat this peer does not have; dropped");
                    return;
                }
            },
            (_, None) => return,
        };
        let round_seed = self.round_seed;
        let peer = self.peers.entry(player).or_default();
        match msg {
            PeerMsg::Game(ev) if ev.round_seed == round_seed && ev.seq > peer.event_seq => {
                peer.event_seq = ev.seq;
                peer.totals = ev.totals;
                if ev.kind == GameEventKind::Finished {
                    peer.finished = true;
                }
            }
            PeerMsg::Pose(p) if p.seq > peer.pose_seq || p.seq == 0 => {
                peer.pose_seq = p.seq;
                peer.skeleton = p.skeleton.as_ref().map(|q| q.to_skeleton());
            }
            PeerMsg::Score(s) if peer.event_seq == 0 => {
                // Live scores only fill in until the first reliable event arrives.
                peer.totals = s.totals;
            }
            PeerMsg::Final(report) if report.round_seed == round_seed => {
                peer.report = Some(report.clone());
                peer.finished = true;
            }
            _ => {}
        }
    }
}

/// Folds [`NetEvent`]s into [`Session`] and [`PeerBoard`].
pub struct SessionPlugin;

impl Plugin for SessionPlugin {
    fn build(&self, app: &mut App) {
        app.add_message::<NetCommand>()
            .add_message::<NetEvent>()
            .init_resource::<Session>()
            .init_resource::<PeerBoard>()
            // Before `Update`: every stage of the frame sees the session as of this frame's events.
            .add_systems(PreUpdate, apply_net_events);
    }
}

fn apply_net_events(
    mut events: MessageReader<NetEvent>,
    mut session: ResMut<Session>,
    mut board: ResMut<PeerBoard>,
) {
    for ev in events.read() {
        match ev {
            NetEvent::Connected { my_id } => session.connection = Connection::Online { my_id: *my_id },
            NetEvent::Room(snapshot) => {
                session.links.retain(|id, _| snapshot.players.iter().any(|p| p.id == *id));
                session.room = Some(snapshot.clone());
            }
            NetEvent::LeftRoom(reason) => {
                session.room = None;
                session.links.clear();
                session.notice = match reason {
                    LeaveReason::Requested => None,
                    LeaveReason::NotReady => Some(
                        "방장이 준비되지 않은 플레이어 없이 시작했어요 / The host started without you (not ready in time)".into(),
                    ),
                    LeaveReason::ServerShutdown => {
                        Some("서버가 종료되었어요 / The server shut down".into())
                    }
                    LeaveReason::ConnectionLost => Some(
                        "서버 연결이 너무 오래 끊겨 방을 나왔어요 / The connection was lost too long: you left the room"
                            .into(),
                    ),
                };
            }
            NetEvent::GameStarting(info) => {
                board.reset(info.round_seed);
                session.round = Some(info.clone());
            }
            NetEvent::Link { peer, state, rtt_ms } => {
                let link = session.links.entry(*peer).or_default();
                link.state = *state;
                link.was_open |= *state == LinkState::Open;
                if rtt_ms.is_some() {
                    link.rtt_ms = *rtt_ms;
                }
            }
            NetEvent::Peer { from, msg } => board.apply(*from, msg, session.room.as_ref()),
            NetEvent::ResultRecorded { match_id, agreed, status } => {
                session.recorded = Some((*match_id, *agreed));
                session.recorded_status = Some(*status);
            }
            NetEvent::History(matches) => session.history = Some(matches.clone()),
            NetEvent::HistoryPage { matches, next_before } => {
                // Pages come newest first: a page older than what is shown extends it, any
                // other (a first page, a refresh) replaces it.
                let oldest_shown = session.history.as_ref().and_then(|h| h.last()).map(|m| m.match_id);
                let older = matches.first().map(|m| m.match_id);
                match (&mut session.history, oldest_shown, older) {
                    (Some(shown), Some(oldest), Some(first)) if first < oldest => shown.extend(matches.iter().cloned()),
                    _ => session.history = Some(matches.clone()),
                }
                session.history_next = *next_before;
            }
            NetEvent::ServerError { code, message } => {
                session.notice = Some(format!("{message} ({code:?})"));
            }
            NetEvent::ServerLost { reason } => {
                info!("server connection lost ({reason}); reconnecting");
                session.reconnecting = true;
            }
            NetEvent::ServerResumed { .. } => {
                session.reconnecting = false;
                session.reconnects += 1;
            }
            // The call plugin's.
            NetEvent::VideoFrame { .. }
            | NetEvent::KeyframeRequested { .. }
            | NetEvent::VideoReport { .. }
            | NetEvent::VoicePacket { .. } => {}
            NetEvent::Disconnected { reason } => {
                session.reconnecting = false;
                session.connection = Connection::Offline;
                session.room = None;
                session.links.clear();
                session.notice = Some(format!("서버 연결 끊김 / Disconnected: {reason}"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::protocol::signal::{LoadingStage, RoomPhase, RoomSettings, RoomVisibility};

    fn player(id: PeerId, connected: bool) -> PlayerInfo {
        PlayerInfo { id, name: format!("p{id}"), connected, stage: LoadingStage::Done, progress: 1.0, ready: false, device: None }
    }

    fn app() -> App {
        let mut app = App::new();
        app.add_plugins(SessionPlugin);
        app
    }

    fn send(app: &mut App, event: NetEvent) {
        app.world_mut().write_message(event);
        app.update();
    }

    #[test]
    fn a_peer_tile_says_reconnecting_when_its_link_or_server_connection_is_down() {
        let mut app = app();
        send(&mut app, NetEvent::Connected { my_id: 1 });
        let room = RoomSnapshot {
            code: "ACDEFG".into(),
            host: 1,
            settings: RoomSettings::default(),
            phase: RoomPhase::Lobby,
            players: vec![player(1, true), player(2, true), player(3, true)],
            cap: 4,
            visibility: RoomVisibility::Private,
        };
        send(&mut app, NetEvent::Room(room.clone()));
        // A link still coming up the first time is "connecting", not "reconnecting".
        send(&mut app, NetEvent::Link { peer: 2, state: LinkState::Connecting, rtt_ms: None });
        send(&mut app, NetEvent::Link { peer: 3, state: LinkState::Open, rtt_ms: None });
        let session = app.world().resource::<Session>();
        assert!(!session.peer_reconnecting(2));
        assert!(!session.peer_reconnecting(3));
        // Player 3's link fails and is negotiated again.
        send(&mut app, NetEvent::Link { peer: 3, state: LinkState::Retrying, rtt_ms: None });
        assert!(app.world().resource::<Session>().peer_reconnecting(3));
        send(&mut app, NetEvent::Link { peer: 3, state: LinkState::Open, rtt_ms: Some(20) });
        assert!(!app.world().resource::<Session>().peer_reconnecting(3));
        // Player 2's server connection drops (the server keeps the seat).
        let mut dropped = room;
        dropped.players[1].connected = false;
        send(&mut app, NetEvent::Room(dropped));
        assert!(app.world().resource::<Session>().peer_reconnecting(2));
    }

    #[test]
    fn the_session_shows_the_server_reconnecting_and_a_lost_seat() {
        let mut app = app();
        send(&mut app, NetEvent::Connected { my_id: 4 });
        send(&mut app, NetEvent::ServerLost { reason: "reset".into() });
        let session = app.world().resource::<Session>();
        assert!(session.reconnecting);
        assert_eq!(session.my_id(), Some(4), "still the same player while reconnecting");
        send(&mut app, NetEvent::ServerResumed { seat_kept: true });
        assert!(!app.world().resource::<Session>().reconnecting);
        // Back, but the server had forgotten us: the room is gone, with a notice saying so.
        send(&mut app, NetEvent::ServerLost { reason: "reset".into() });
        send(&mut app, NetEvent::Connected { my_id: 9 });
        send(&mut app, NetEvent::LeftRoom(LeaveReason::ConnectionLost));
        send(&mut app, NetEvent::ServerResumed { seat_kept: false });
        let session = app.world().resource::<Session>();
        assert!(!session.reconnecting);
        assert_eq!(session.my_id(), Some(9));
        assert!(session.room.is_none());
        assert!(session.notice.as_deref().is_some_and(|n| n.contains("lost too long")), "{:?}", session.notice);
    }
}
