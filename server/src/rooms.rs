//! Rooms: codes, membership, host, cap, phases, readiness, rounds and their reports.
//!
//! Each [`Room`] has its own mutex; nothing here blocks or awaits while holding it. Every
//! change is broadcast to the members as a full [`RoomSnapshot`], encoded once and pushed
//! to each member's [`Outbox`].

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use bytes::Bytes;
use rand::Rng;
use shared::protocol::signal::{
    ErrorCode, LeaveReason, LoadingStage, MatchReport, MatchStatus, PeerId, PlayerInfo, ROOM_CODE_ALPHABET,
    ROOM_CODE_LEN, RoomPhase, RoomSettings, RoomSnapshot, RoomVisibility, ScoreLine, ServerMsg,
};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use crate::cluster::wire::{NodeId, NodeMsg, RECORD_VERSION, RoomRecord, SeatRecord};
use crate::metrics::{ErrorKind, Limit, Metrics};
use crate::store::NewMatch;

/// Round lengths the protocol allows, seconds (a server may lower the shortest with
/// `--min-round-secs`, e.g. for tests).
pub use shared::protocol::signal::ROUND_SECS;

/// Longest round the host may set, seconds.
pub const MAX_ROUND_SECS: u16 = *ROUND_SECS.end();

/// A frame queued for one connection.
#[derive(Debug)]
pub enum Outbound {
    Frame(Bytes),
    /// A relayed `Signal`, with the instant its original was read (for the latency metric).
    Relay { frame: Bytes, received: Instant },
    /// A websocket keep-alive ping.
    Ping,
}

impl Outbound {
    /// Bytes this holds in an outbox.
    pub fn len(&self) -> usize {
        match self {
            Outbound::Frame(f) | Outbound::Relay { frame: f, .. } => f.len(),
            Outbound::Ping => 0,
        }
    }
}

/// Frames waiting to be written to one connection.
///
/// A plain locked queue plus a `Notify` rather than a channel: an idle connection's queue
/// holds no allocation at all, which matters with thousands of idle clients.
///
/// Bounded twice: by frames and by bytes. A push that would overflow either bound does not
/// queue; it marks the queue overflowed and kicks the connection (see [`Outbox::push`]).
#[derive(Debug)]
pub struct Queue {
    frames: Mutex<Frames>,
    ready: Notify,
    cap: usize,
    max_bytes: usize,
    overflowed: AtomicBool,
    /// A player connected to another node of the cluster: its frames go there instead.
    /// (Here rather than in [`Outbox`], which is copied into the session and the seat.)
    remote: Option<Box<RemoteOutbox>>,
}

#[derive(Debug, Default)]
struct Frames {
    queue: VecDeque<Outbound>,
    bytes: usize,
}

impl Queue {
    pub fn new(cap: usize, max_bytes: usize) -> Self {
        Self {
            frames: Mutex::new(Frames::default()),
            ready: Notify::new(),
            cap: cap.max(1),
            max_bytes: max_bytes.max(shared::protocol::MAX_FRAME_BYTES),
            overflowed: AtomicBool::new(false),
            remote: None,
        }
    }

    fn frames(&self) -> MutexGuard<'_, Frames> {
        self.frames.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether a push was refused because the queue was full (the connection is too slow).
    pub fn overflowed(&self) -> bool {
        self.overflowed.load(Ordering::Relaxed)
    }

    /// Puts a frame before everything queued (the handshake's own replies), unbounded.
    pub fn push_front(&self, out: Outbound, metrics: &Metrics) {
        let mut f = self.frames();
        f.bytes += out.len();
        metrics.outbox_grew(out.len());
        f.queue.push_front(out);
        drop(f);
        self.ready.notify_one();
    }

    /// Drops everything queued; returns the bytes given back.
    pub fn clear(&self, metrics: &Metrics) {
        let mut f = self.frames();
        metrics.outbox_shrank(f.bytes);
        f.bytes = 0;
        f.queue = VecDeque::new();
    }

    /// Resolves when frames may be waiting (a push since the last wait).
    pub async fn wait(&self) {
        self.ready.notified().await;
    }

    /// The oldest queued frame; gives memory back once the queue has drained.
    pub fn pop(&self, metrics: &Metrics) -> Option<Outbound> {
        let mut frames = self.frames();
        let out = frames.queue.pop_front();
        match &out {
            Some(o) => {
                frames.bytes -= o.len();
                metrics.outbox_shrank(o.len());
            }
            None if frames.queue.capacity() > 16 => frames.queue.shrink_to_fit(),
            None => {}
        }
        out
    }
}

/// The sending side of one connection: its queue, and a token that drops it.
#[derive(Debug, Clone)]
pub struct Outbox {
    pub conn_id: u64,
    queue: Arc<Queue>,
    kick: CancellationToken,
}

/// Where a remote player's frames go: its gateway node.
#[derive(Debug)]
pub struct RemoteOutbox {
    pub gateway: NodeId,
    pub peer: PeerId,
    tx: mpsc::UnboundedSender<(NodeId, NodeMsg)>,
}

impl Outbox {
    pub fn new(conn_id: u64, queue: Arc<Queue>, kick: CancellationToken) -> Self {
        Self { conn_id, queue, kick }
    }

    /// The outbox of `peer`, connected to the node `gateway` (cluster mode).
    pub fn remote(conn_id: u64, gateway: NodeId, peer: PeerId, tx: mpsc::UnboundedSender<(NodeId, NodeMsg)>) -> Self {
        let queue = Queue { remote: Some(Box::new(RemoteOutbox { gateway, peer, tx })), ..Queue::new(1, 0) };
        Self { conn_id, queue: Arc::new(queue), kick: CancellationToken::new() }
    }

    /// The node the player is connected to, when it is not this one.
    pub fn gateway(&self) -> Option<&str> {
        self.queue.remote.as_ref().map(|r| r.gateway.as_str())
    }

    /// Queues a frame without waiting. A connection whose queue is full is too slow to
    /// keep up and is dropped (its seat stays for the reconnect grace period).
    pub fn push(&self, out: Outbound, metrics: &Metrics) {
        if let Some(r) = &self.queue.remote {
            if let Outbound::Frame(frame) | Outbound::Relay { frame, .. } = out {
                let _ = r.tx.send((r.gateway.clone(), NodeMsg::Deliver { peer: r.peer, frame: frame.to_vec() }));
            }
            return;
        }
        let mut frames = self.queue.frames();
        if frames.queue.len() >= self.queue.cap || frames.bytes + out.len() > self.queue.max_bytes {
            drop(frames);
            if !self.queue.overflowed.swap(true, Ordering::Relaxed) {
                metrics.error(ErrorKind::SlowConsumer);
                metrics.limit(Limit::OutboxFull);
                tracing::warn!(conn = self.conn_id, "outbox full: dropping a connection that does not keep up");
            }
            self.kick.cancel();
            return;
        }
        frames.bytes += out.len();
        metrics.outbox_grew(out.len());
        frames.queue.push_back(out);
        drop(frames);
        self.queue.ready.notify_one();
    }

    /// Tells the player why its request was refused.
    pub fn refuse(&self, refusal: Refusal, metrics: &Metrics) {
        self.send(&ServerMsg::Error { code: refusal.code, message: refusal.message }, metrics);
    }

    pub fn send(&self, msg: &ServerMsg, metrics: &Metrics) {
        if let Some(frame) = encode(msg) {
            self.push(Outbound::Frame(frame), metrics);
        }
    }

    pub fn kick(&self) {
        if let Some(r) = &self.queue.remote {
            let _ = r.tx.send((r.gateway.clone(), NodeMsg::Kick { peer: r.peer }));
        }
        self.kick.cancel();
    }
}

/// Encodes a server message; the server's own messages always fit, so a failure is a bug
/// that is logged rather than sent.
pub fn encode(msg: &ServerMsg) -> Option<Bytes> {
    match shared::protocol::encode(msg) {
        Ok(v) => Some(Bytes::from(v)),
        Err(e) => {
            tracing::error!(error = %e, "could not encode a server message");
            None
        }
    }
}

/// A refused request, sent back as `ServerMsg::Error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: ErrorCode,
    pub message: String,
}

impl Refusal {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }

    /// A join refused for this room only (full, playing, gone, the name taken there): quick
    /// match tries another room.
    pub fn another_room_may_do(&self) -> bool {
        matches!(self.code, ErrorCode::RoomFull | ErrorCode::WrongPhase | ErrorCode::RoomNotFound | ErrorCode::NameTaken)
    }
}

/// Draws a room code from the CSPRNG.
pub fn new_code() -> String {
    let mut rng = rand::rng();
    (0..ROOM_CODE_LEN)
        .map(|_| char::from(ROOM_CODE_ALPHABET[rng.random_range(0..ROOM_CODE_ALPHABET.len())]))
        .collect()
}

/// Upper-cases a typed code and checks it could be one; `None` when it cannot.
pub fn normalize_code(code: &str) -> Option<String> {
    let code = code.trim().to_ascii_uppercase();
    (code.len() == ROOM_CODE_LEN && code.bytes().all(|b| ROOM_CODE_ALPHABET.contains(&b))).then_some(code)
}

pub fn validate_settings(settings: &RoomSettings, min_secs: u16) -> Result<(), Refusal> {
    if !(min_secs..=MAX_ROUND_SECS).contains(&settings.duration_secs) {
        return Err(Refusal::new(
            ErrorCode::InvalidSettings,
            format!(
                "a round lasts {min_secs}–{MAX_ROUND_SECS} s, not {} s — pick a duration in that range",
                settings.duration_secs
            ),
        ));
    }
    Ok(())
}

#[derive(Debug)]
pub struct Seat {
    pub id: PeerId,
    pub name: String,
    pub stage: LoadingStage,
    pub progress: f32,
    pub ready: bool,
    /// `None` while the player's connection is down.
    pub outbox: Option<Outbox>,
    /// Other people playing in front of this player's camera, in seat order (1, 2, 3).
    pub locals: Vec<LocalSeat>,
}

/// A local seat: a player without a connection of its own (see `PlayerInfo::device`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalSeat {
    pub id: PeerId,
    pub name: String,
}

impl Seat {
    /// This member's player and its local seats: (id, name).
    pub fn players(&self) -> impl Iterator<Item = (PeerId, &str)> + Clone {
        std::iter::once((self.id, self.name.as_str())).chain(self.locals.iter().map(|l| (l.id, l.name.as_str())))
    }
}

pub use crate::round::Round;

#[derive(Debug)]
pub struct RoomState {
    pub host: PeerId,
    pub settings: RoomSettings,
    pub phase: RoomPhase,
    pub seats: Vec<Seat>,
    pub cap: u8,
    /// Set when the last player left: the room is (being) removed from the index.
    pub closed: bool,
    pub round: Option<Round>,
    /// Bumped on each entry into the loading phase, so an old ready timer does nothing.
    pub loading_gen: u64,
    pub visibility: RoomVisibility,
    /// When a loading/readiness snapshot was last sent, and whether a later one is due.
    pub last_fanout: Option<Instant>,
    pub fanout_due: bool,
}

impl RoomState {
    /// Seats taken: every member and its local seats (what the cap counts).
    pub fn taken(&self) -> usize {
        self.seats.iter().map(|s| 1 + s.locals.len()).sum()
    }

    /// Public, in the lobby, with a free seat: quick match may bring someone in.
    pub fn open_to_quick_match(&self) -> bool {
        !self.closed && self.visibility == RoomVisibility::Public && self.phase == RoomPhase::Lobby && self.taken() < usize::from(self.cap)
    }

    /// Every name in the room (members and local seats).
    pub fn names(&self) -> impl Iterator<Item = &str> + Clone {
        self.seats.iter().flat_map(Seat::players).map(|(_, name)| name)
    }
}

#[derive(Debug)]
pub struct Room {
    pub code: String,
    state: Mutex<RoomState>,
    /// Lock-free hints for quick match: seat count and "in the lobby with room to spare".
    seats_hint: AtomicUsize,
    open_hint: AtomicBool,
    /// Cluster mode: told the room's code after every change, to mirror it to Redis.
    mirror: std::sync::OnceLock<mpsc::UnboundedSender<String>>,
}

/// The room, locked. Dropping it publishes the quick-match hints.
pub struct RoomGuard<'a> {
    room: &'a Room,
    pub state: MutexGuard<'a, RoomState>,
    /// The room changed under this lock (a snapshot went out, or [`RoomGuard::mark_changed`]):
    /// cluster mode mirrors it when the lock is released.
    changed: bool,
}

impl Drop for RoomGuard<'_> {
    fn drop(&mut self) {
        let s = &self.state;
        self.room.seats_hint.store(s.taken(), Ordering::Relaxed);
        self.room.open_hint.store(s.open_to_quick_match(), Ordering::Relaxed);
        if self.changed
            && let Some(mirror) = self.room.mirror.get()
        {
            let _ = mirror.send(self.room.code.clone());
        }
    }
}

impl Room {
    pub fn new(code: String, host: Seat, settings: RoomSettings, cap: u8, visibility: RoomVisibility) -> Self {
        let state = RoomState {
            host: host.id,
            settings,
            phase: RoomPhase::Lobby,
            seats: vec![host],
            cap,
            closed: false,
            round: None,
            loading_gen: 0,
            visibility,
            last_fanout: None,
            fanout_due: false,
        };
        let open = cap > 1 && visibility == RoomVisibility::Public;
        Self::with_state(code, state, open)
    }

    fn with_state(code: String, state: RoomState, open: bool) -> Self {
        let seats = state.taken();
        Self {
            code,
            state: Mutex::new(state),
            seats_hint: AtomicUsize::new(seats),
            open_hint: AtomicBool::new(open),
            mirror: std::sync::OnceLock::new(),
        }
    }

    /// Cluster mode: every change of this room is announced on `mirror`.
    pub fn set_mirror(&self, mirror: mpsc::UnboundedSender<String>) {
        let _ = self.mirror.set(mirror);
    }

    /// The room as its record for Redis, each seat with the node its player is connected to
    /// (`me`, this node's id, for a local connection); and, when it is open to quick match,
    /// its seats taken.
    pub fn record(&self, me: &str) -> (RoomRecord, Option<usize>) {
        let g = self.lock();
        let s = &g.state;
        let seats = s
            .seats
            .iter()
            .map(|seat| SeatRecord {
                id: seat.id,
                name: seat.name.clone(),
                stage: seat.stage,
                progress: seat.progress,
                ready: seat.ready,
                gateway: seat.outbox.as_ref().map(|o| o.gateway().unwrap_or(me).to_owned()),
                locals: seat.locals.iter().map(|l| (l.id, l.name.clone())).collect(),
            })
            .collect();
        let round = s.round.clone();
        let record = RoomRecord {
            version: RECORD_VERSION,
            code: self.code.clone(),
            host: s.host,
            settings: s.settings.clone(),
            phase: s.phase,
            cap: s.cap,
            visibility: s.visibility,
            loading_gen: s.loading_gen,
            seats,
            round,
        };
        let open = s.open_to_quick_match().then(|| s.taken());
        (record, open)
    }

    /// A room rebuilt from its record (taking it over from a node that stopped); each
    /// seat's connection comes from `outbox_of` (`None`: waiting for its player).
    pub fn from_record(record: RoomRecord, mut outbox_of: impl FnMut(&SeatRecord) -> Option<Outbox>) -> Self {
        let seats = record
            .seats
            .iter()
            .map(|s| Seat {
                id: s.id,
                name: s.name.clone(),
                stage: s.stage,
                progress: s.progress,
                ready: s.ready,
                outbox: outbox_of(s),
                locals: s.locals.iter().map(|(id, name)| LocalSeat { id: *id, name: name.clone() }).collect(),
            })
            .collect();
        let round = record.round;
        let state = RoomState {
            host: record.host,
            settings: record.settings,
            phase: record.phase,
            seats,
            cap: record.cap,
            closed: false,
            round,
            loading_gen: record.loading_gen,
            visibility: record.visibility,
            last_fanout: None,
            fanout_due: false,
        };
        let open = state.open_to_quick_match();
        Self::with_state(record.code, state, open)
    }

    pub fn lock(&self) -> RoomGuard<'_> {
        // A panic while holding the lock leaves plain data behind; keep serving it.
        let state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        RoomGuard { room: self, state, changed: false }
    }

    /// Seats taken, without locking (may be slightly stale).
    pub fn seats_hint(&self) -> usize {
        self.seats_hint.load(Ordering::Relaxed)
    }

    /// Public, in the lobby with a free seat, without locking (may be slightly stale).
    pub fn open_hint(&self) -> bool {
        self.open_hint.load(Ordering::Relaxed)
    }
}

impl RoomGuard<'_> {
    pub fn code(&self) -> &str {
        &self.room.code
    }

    pub fn seat(&self, id: PeerId) -> Option<&Seat> {
        self.state.seats.iter().find(|s| s.id == id)
    }

    pub fn seat_mut(&mut self, id: PeerId) -> Option<&mut Seat> {
        self.state.seats.iter_mut().find(|s| s.id == id)
    }

    pub fn is_member(&self, id: PeerId) -> bool {
        self.seat(id).is_some()
    }

    pub fn require_host(&self, id: PeerId) -> Result<(), Refusal> {
        if self.state.host == id {
            Ok(())
        } else {
            Err(Refusal::new(ErrorCode::NotHost, "only the host can do this — ask the host"))
        }
    }

    pub fn snapshot(&self) -> RoomSnapshot {
        let s = &self.state;
        RoomSnapshot {
            code: self.room.code.clone(),
            host: s.host,
            settings: s.settings.clone(),
            phase: s.phase,
            players: s
                .seats
                .iter()
                .flat_map(|seat| {
                    seat.players().map(|(id, name)| PlayerInfo {
                        id,
                        name: name.to_owned(),
                        connected: seat.outbox.is_some(),
                        stage: seat.stage,
                        progress: seat.progress,
                        ready: seat.ready,
                        device: (id != seat.id).then_some(seat.id),
                    })
                })
                .collect(),
            cap: s.cap,
            visibility: s.visibility,
        }
    }

    /// Sends `msg` to every connected member.
    pub fn broadcast(&self, msg: &ServerMsg, metrics: &Metrics) {
        let Some(frame) = encode(msg) else { return };
        for outbox in self.state.seats.iter().filter_map(|s| s.outbox.as_ref()) {
            outbox.push(Outbound::Frame(frame.clone()), metrics);
        }
    }

    /// Sends the full room snapshot to every connected member.
    pub fn broadcast_snapshot(&mut self, metrics: &Metrics) {
        self.changed = true;
        self.state.fanout_due = false;
        self.broadcast(&ServerMsg::Room(self.snapshot()), metrics);
    }

    /// The room changed without a snapshot going out (a report came in): it is mirrored.
    pub fn mark_changed(&mut self) {
        self.changed = true;
    }

    /// Removes a player; hands the host role over and closes the room when it empties.
    /// Returns the removed seat.
    pub fn remove(&mut self, id: PeerId) -> Option<Seat> {
        let idx = self.state.seats.iter().position(|s| s.id == id)?;
        let seat = self.state.seats.remove(idx);
        if self.state.seats.is_empty() {
            self.state.closed = true;
        } else if self.state.host == id {
            // Prefer a connected player, in join order.
            let next = self.state.seats.iter().find(|s| s.outbox.is_some()).or(self.state.seats.first());
            if let Some(next) = next {
                self.state.host = next.id;
            }
        }
        Some(seat)
    }

    /// Starts the round for every seated player.
    pub fn start_round(&mut self, start_at_ms: u64, metrics: &Metrics) {
        let seed: u64 = rand::rng().random();
        let mode = self.state.settings.mode;
        let duration_ms = u32::from(self.state.settings.duration_secs) * 1000;
        let players: Vec<PeerId> = self.state.seats.iter().flat_map(Seat::players).map(|(id, _)| id).collect();
        let reporters: Vec<PeerId> = self.state.seats.iter().map(|s| s.id).collect();
        let names = self.state.seats.iter().flat_map(Seat::players).map(|(id, name)| (id, name.to_owned())).collect();
        self.state.phase = RoomPhase::Playing { start_at_ms, round_seed: seed };
        self.state.round = Some(Round {
            seed,
            mode,
            start_at_ms,
            duration_ms,
            players: players.clone(),
            reporters,
            names,
            reports: Vec::new(),
            recorded: false,
        });
        self.broadcast(&ServerMsg::GameStarting { start_at_ms, round_seed: seed, mode, duration_ms, players }, metrics);
        self.broadcast_snapshot(metrics);
    }

    /// Removes every player that is not ready, telling each why; returns their ids.
    pub fn drop_unready(&mut self, metrics: &Metrics) -> Vec<PeerId> {
        let unready: Vec<PeerId> = self.state.seats.iter().filter(|s| !s.ready).map(|s| s.id).collect();
        for id in &unready {
            if let Some(seat) = self.remove(*id)
                && let Some(outbox) = &seat.outbox {
                    outbox.send(&ServerMsg::LeftRoom { reason: LeaveReason::NotReady }, metrics);
                }
        }
        unready
    }

    pub fn all_ready(&self) -> bool {
        !self.state.seats.is_empty() && self.state.seats.iter().all(|s| s.ready)
    }

    /// When every remaining (seated and connected) player of the round has reported,
    /// marks the round recorded and returns what to write: verified when two or more
    /// reported and every report carries the same scoreboard.
    pub fn finished_round(&mut self) -> Option<NewMatch> {
        self.take_round(false)
    }

    /// On shutdown: the round's reports so far — an incomplete match unless every player of
    /// the round had reported (`None` when there are none or it was already recorded).
    pub fn cut_round(&mut self) -> Option<NewMatch> {
        self.take_round(true)
    }

    fn take_round(&mut self, cut: bool) -> Option<NewMatch> {
        let code = self.room.code.clone();
        let state = &mut *self.state;
        let seats = &state.seats;
        let round = state.round.as_mut().filter(|r| !r.recorded)?;
        let remaining: Vec<PeerId> = round
            .reporters
            .iter()
            .copied()
            .filter(|id| seats.iter().any(|s| s.id == *id && s.outbox.is_some()))
            .collect();
        let reports: Vec<(PeerId, MatchReport)> = if cut {
            round.reports.clone()
        } else {
            round.reports.iter().filter(|(by, _)| remaining.contains(by)).cloned().collect()
        };
        if cut {
            if reports.is_empty() {
                return None;
            }
        } else if remaining.is_empty() || reports.len() < remaining.len() {
            return None;
        }
        round.recorded = true;
        let same = reports.windows(2).all(|w| w[0].1.scores == w[1].1.scores);
        // Cut by a shutdown: complete only if every player of the round had reported.
        let everyone = round.reporters.iter().all(|p| reports.iter().any(|(by, _)| by == p));
        let status = if cut && !everyone {
            MatchStatus::Incomplete
        } else if !same {
            MatchStatus::Disagreed
        } else if reports.len() < 2 {
            MatchStatus::SinglePlayer
        } else {
            MatchStatus::Verified
        };
        let agreed = status.is_verified();
        let mut scores = majority_scores(&reports);
        for line in &mut scores {
            if let Some((_, name)) = round.names.iter().find(|(id, _)| *id == line.player) {
                line.name.clone_from(name);
            }
        }
        Some(NewMatch {
            room_code: code,
            mode: round.mode,
            started_at_ms: round.start_at_ms,
            round_seed: round.seed,
            agreed,
            status,
            scores,
            reports,
        })
    }
}

/// The scoreboard most reporters gave (ties: the one reported first).
fn majority_scores(reports: &[(PeerId, MatchReport)]) -> Vec<ScoreLine> {
    let mut best: Option<(&Vec<ScoreLine>, usize)> = None;
    for (_, r) in reports {
        let votes = reports.iter().filter(|(_, o)| o.scores == r.scores).count();
        if best.is_none_or(|(_, b)| votes > b) {
            best = Some((&r.scores, votes));
        }
    }
    best.map(|(s, _)| s.clone()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seat(id: PeerId) -> Seat {
        Seat { id, name: format!("p{id}"), stage: LoadingStage::Idle, progress: 0.0, ready: false, outbox: None, locals: Vec::new() }
    }

    #[test]
    fn codes_use_the_alphabet_and_normalize() {
        for _ in 0..200 {
            let code = new_code();
            assert_eq!(code.len(), ROOM_CODE_LEN);
            assert!(code.bytes().all(|b| ROOM_CODE_ALPHABET.contains(&b)), "{code}");
            assert_eq!(normalize_code(&code.to_lowercase()).as_deref(), Some(code.as_str()));
        }
        assert_eq!(normalize_code("abcdef"), None, "B is not in the alphabet");
        assert_eq!(normalize_code("ACDEF"), None);
        assert_eq!(normalize_code(" acdefg "), Some("ACDEFG".into()));
    }

    #[test]
    fn host_passes_to_next_and_room_closes_when_empty() {
        let room = Room::new("ACDEFG".into(), seat(1), RoomSettings::default(), 8, RoomVisibility::Private);
        let mut g = room.lock();
        g.state.seats.push(seat(2));
        g.state.seats.push(seat(3));
        assert!(g.remove(1).is_some());
        assert_eq!(g.state.host, 2);
        assert!(g.remove(3).is_some());
        assert_eq!(g.state.host, 2);
        assert!(!g.state.closed);
        assert!(g.remove(2).is_some());
        assert!(g.state.closed);
        assert!(g.remove(2).is_none());
    }

    #[test]
    fn a_full_outbox_drops_the_slow_connection_not_the_sender() {
        let metrics = Metrics::default();
        let queue = Arc::new(Queue::new(2, 1 << 20));
        let kick = CancellationToken::new();
        let outbox = Outbox::new(7, Arc::clone(&queue), kick.clone());
        outbox.push(Outbound::Frame(Bytes::from_static(b"a")), &metrics);
        outbox.push(Outbound::Frame(Bytes::from_static(b"b")), &metrics);
        assert!(!kick.is_cancelled());
        outbox.push(Outbound::Frame(Bytes::from_static(b"c")), &metrics);
        assert!(kick.is_cancelled(), "the third frame overflows a 2-frame outbox");
        assert!(metrics.render(0).contains("poseparty_errors_total{kind=\"slow_consumer\"} 1"));
        let order: Vec<_> = std::iter::from_fn(|| queue.pop(&metrics))
            .filter_map(|o| match o {
                Outbound::Frame(b) | Outbound::Relay { frame: b, .. } => Some(b),
                Outbound::Ping => None,
            })
            .collect();
        assert_eq!(order, [Bytes::from_static(b"a"), Bytes::from_static(b"b")]);
    }

    #[test]
    fn majority_wins_ties_go_to_first() {
        let line = |p| ScoreLine { player: p, name: String::new(), points: p, hits: 0, best_streak: 0, dropped: false };
        let a = MatchReport { round_seed: 1, scores: vec![line(1)] };
        let b = MatchReport { round_seed: 1, scores: vec![line(2)] };
        assert_eq!(majority_scores(&[(1, a.clone()), (2, b.clone()), (3, b.clone())]), b.scores);
        assert_eq!(majority_scores(&[(1, a.clone()), (2, b)]), a.scores);
    }
}
