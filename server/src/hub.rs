//! The shared state of a running server and the operations connections perform on it.
//!
//! Locking: the room index, sessions, tokens and failed-join windows are sharded
//! `DashMap`s; each room has its own mutex. Lock order is always *room, then map shard*;
//! a map guard is never held while a room is locked (values are cloned out first), and the
//! quick-match scan reads lock-free hints instead of locking rooms.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use rand::Rng;
use shared::protocol::signal::{
    ErrorCode, IceServer, LeaveReason, LoadingStage, MatchReport, MatchSummary, PeerId, RoomPhase, RoomSettings,
    ServerMsg, SignalPayload,
};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::metrics::{ErrorKind, Metrics};
use crate::rooms::{self, Outbound, Outbox, Refusal, Room, Seat};
use crate::store::Store;

/// Server clock, milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

#[derive(Debug)]
struct Session {
    name: String,
    token: String,
    /// The connection that owns this session, `None` while dropped.
    outbox: Option<Outbox>,
    room: Option<Arc<Room>>,
    /// Bumped on every drop, so an old grace timer does nothing.
    drop_gen: u64,
}

#[derive(Debug, Clone, Copy)]
struct FailWindow {
    started: Instant,
    failures: u32,
}

/// What a `Hello` got.
#[derive(Debug)]
pub struct Attached {
    pub peer_id: PeerId,
    pub token: String,
    /// The `Hello` carried a token that is unknown or expired; this is a new session.
    pub stale_token: bool,
}

/// Everything a running server shares between its tasks.
#[derive(Debug)]
pub struct Hub {
    pub config: Config,
    pub metrics: Metrics,
    pub store: Store,
    pub ice_servers: Vec<IceServer>,
    pub shutdown: CancellationToken,
    /// Connection tasks and history writes, awaited on shutdown.
    pub tasks: TaskTracker,
    rooms: DashMap<String, Arc<Room>>,
    sessions: DashMap<PeerId, Session>,
    tokens: DashMap<String, PeerId>,
    failed_joins: DashMap<IpAddr, FailWindow>,
    next_peer: AtomicU32,
    next_conn: AtomicU64,
    /// Held only while a quick match finds no open room and creates one, so that
    /// simultaneous quick matches on an empty server meet in one room.
    quick_create: std::sync::Mutex<()>,
}

fn new_token() -> String {
    let bytes: [u8; 16] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Hub {
    pub fn new(config: Config, store: Store, ice_servers: Vec<IceServer>, shutdown: CancellationToken) -> Self {
        Self {
            config,
            metrics: Metrics::default(),
            store,
            ice_servers,
            shutdown,
            tasks: TaskTracker::new(),
            rooms: DashMap::new(),
            sessions: DashMap::new(),
            tokens: DashMap::new(),
            failed_joins: DashMap::new(),
            next_peer: AtomicU32::new(1),
            next_conn: AtomicU64::new(1),
            quick_create: std::sync::Mutex::new(()),
        }
    }

    pub fn room_count(&self) -> usize {
        self.rooms.len()
    }

    pub fn next_conn_id(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    fn room_of(&self, peer: PeerId) -> Option<Arc<Room>> {
        self.sessions.get(&peer).and_then(|s| s.room.clone())
    }

    fn set_room(&self, peer: PeerId, room: Option<Arc<Room>>) {
        if let Some(mut s) = self.sessions.get_mut(&peer) {
            s.room = room;
        }
    }

    fn outbox_of(&self, peer: PeerId) -> Option<Outbox> {
        self.sessions.get(&peer).and_then(|s| s.outbox.clone())
    }

    fn name_of(&self, peer: PeerId) -> Option<String> {
        self.sessions.get(&peer).map(|s| s.name.clone())
    }

    /// The room `peer` is in, checked against the room itself.
    fn current_room(&self, peer: PeerId) -> Result<Arc<Room>, Refusal> {
        self.room_of(peer).ok_or_else(|| Refusal::new(ErrorCode::NotInRoom, "you are not in a room — create or join one first"))
    }

    fn not_in_room() -> Refusal {
        Refusal::new(ErrorCode::NotInRoom, "you are not in a room — create or join one first")
    }

    // ---- sessions -------------------------------------------------------------------

    /// Binds a connection to a session: the one `token` names (reclaiming its seat), or a
    /// new one. A session still held by another connection is taken over (that connection
    /// is dropped): the usual case is a client whose old socket the server has not noticed
    /// dying yet.
    pub fn attach(self: &Arc<Self>, name: String, token: Option<String>, outbox: Outbox) -> Attached {
        if let Some(token) = token {
            let peer = self.tokens.remove(&token).map(|(_, p)| p);
            let resumed = peer.and_then(|peer| {
                let mut s = self.sessions.get_mut(&peer)?;
                if let Some(old) = s.outbox.replace(outbox.clone()) {
                    old.kick();
                }
                s.drop_gen += 1;
                s.name = name.clone();
                s.token = new_token();
                Some((peer, s.token.clone(), s.room.clone()))
            });
            if let Some((peer_id, token, room)) = resumed {
                self.tokens.insert(token.clone(), peer_id);
                if let Some(room) = room {
                    let mut g = room.lock();
                    if let Some(seat) = g.seat_mut(peer_id) {
                        seat.outbox = Some(outbox);
                        g.broadcast_snapshot(&self.metrics);
                    } else {
                        drop(g);
                        self.set_room(peer_id, None);
                    }
                }
                tracing::info!(peer = peer_id, "session resumed");
                return Attached { peer_id, token, stale_token: false };
            }
            return Attached { stale_token: true, ..self.new_session(name, outbox) };
        }
        self.new_session(name, outbox)
    }

    fn new_session(&self, name: String, outbox: Outbox) -> Attached {
        let peer_id = self.next_peer.fetch_add(1, Ordering::Relaxed);
        let token = new_token();
        self.tokens.insert(token.clone(), peer_id);
        self.sessions.insert(peer_id, Session { name, token: token.clone(), outbox: Some(outbox), room: None, drop_gen: 0 });
        Attached { peer_id, token, stale_token: false }
    }

    /// The connection `conn_id` of `peer` ended: its seat shows as disconnected and is
    /// kept for the reconnect grace period, after which the player leaves for good.
    pub fn detach(self: &Arc<Self>, peer: PeerId, conn_id: u64) {
        let (room, drop_gen) = {
            let Some(mut s) = self.sessions.get_mut(&peer) else { return };
            if s.outbox.as_ref().is_none_or(|o| o.conn_id != conn_id) {
                return; // taken over by a newer connection
            }
            s.outbox = None;
            s.drop_gen += 1;
            (s.room.clone(), s.drop_gen)
        };
        if let Some(room) = room {
            let mut g = room.lock();
            if let Some(seat) = g.seat_mut(peer).filter(|s| s.outbox.as_ref().is_some_and(|o| o.conn_id == conn_id)) {
                seat.outbox = None;
                g.broadcast_snapshot(&self.metrics);
                self.after_membership_change(&room, &mut g);
            }
        }
        let hub = Arc::clone(self);
        let grace = self.config.reconnect_grace();
        tokio::spawn(async move {
            tokio::select! {
                () = tokio::time::sleep(grace) => hub.expire(peer, drop_gen),
                () = hub.shutdown.cancelled() => {}
            }
        });
    }

    fn expire(self: &Arc<Self>, peer: PeerId, drop_gen: u64) {
        let room = {
            let Some(s) = self.sessions.get(&peer) else { return };
            if s.outbox.is_some() || s.drop_gen != drop_gen {
                return;
            }
            s.room.clone()
        };
        if let Some(room) = room {
            self.remove_from_room(&room, peer, None);
        }
        if let Some((_, s)) = self.sessions.remove_if(&peer, |_, s| s.outbox.is_none() && s.drop_gen == drop_gen) {
            self.tokens.remove(&s.token);
            tracing::info!(peer, "reconnect grace over: session removed");
        }
    }

    // ---- rooms ----------------------------------------------------------------------

    fn new_seat(&self, peer: PeerId) -> Result<Seat, Refusal> {
        let (name, outbox) = {
            let s = self.sessions.get(&peer).ok_or_else(|| Refusal::new(ErrorCode::Internal, "session vanished — reconnect"))?;
            if s.room.is_some() {
                return Err(Refusal::new(ErrorCode::AlreadyInRoom, "you are already in a room — leave it first"));
            }
            (s.name.clone(), s.outbox.clone())
        };
        Ok(Seat { id: peer, name, stage: LoadingStage::Idle, progress: 0.0, ready: false, outbox })
    }

    pub fn create_room(&self, peer: PeerId, settings: RoomSettings) -> Result<(), Refusal> {
        rooms::validate_settings(&settings)?;
        let seat = self.new_seat(peer)?;
        let room = loop {
            let code = rooms::new_code();
            if let Entry::Vacant(v) = self.rooms.entry(code.clone()) {
                let room = Arc::new(Room::new(code, seat, settings, self.config.room_cap));
                v.insert(Arc::clone(&room));
                break room;
            }
        };
        self.set_room(peer, Some(Arc::clone(&room)));
        room.lock().broadcast_snapshot(&self.metrics);
        tracing::info!(peer, code = %room.code, "room created");
        Ok(())
    }

    pub fn join_room(&self, peer: PeerId, code: &str, ip: IpAddr) -> Result<(), Refusal> {
        if self.room_of(peer).is_some() {
            return Err(Refusal::new(ErrorCode::AlreadyInRoom, "you are already in a room — leave it first"));
        }
        self.check_failed_joins(ip)?;
        let room = rooms::normalize_code(code).and_then(|c| self.rooms.get(&c).map(|r| Arc::clone(r.value())));
        let Some(room) = room else {
            self.record_failed_join(ip);
            return Err(Refusal::new(ErrorCode::RoomNotFound, format!("no room has the code {code:?} — check the code and try again")));
        };
        self.join(peer, &room)
    }

    fn join(&self, peer: PeerId, room: &Arc<Room>) -> Result<(), Refusal> {
        let seat = self.new_seat(peer)?;
        let mut g = room.lock();
        if g.state.closed {
            return Err(Refusal::new(ErrorCode::RoomNotFound, "that room has just closed — create a new one"));
        }
        if g.state.phase != RoomPhase::Lobby {
            return Err(Refusal::new(ErrorCode::WrongPhase, "that room is already playing — wait for the round to end"));
        }
        if g.state.seats.len() >= usize::from(g.state.cap) {
            return Err(Refusal::new(ErrorCode::RoomFull, format!("room {} is full ({} players)", g.code(), g.state.cap)));
        }
        g.state.seats.push(seat);
        self.set_room(peer, Some(Arc::clone(room)));
        g.broadcast_snapshot(&self.metrics);
        Ok(())
    }

    pub fn quick_match(&self, peer: PeerId) -> Result<(), Refusal> {
        if self.join_open_room(peer)? {
            return Ok(());
        }
        // No open room: the scan and the creation happen under one lock, so a second quick
        // match arriving meanwhile finds the room this one creates. Joins stay lock-free.
        let _creating = self.quick_create.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.join_open_room(peer)? {
            return Ok(());
        }
        self.create_room(peer, RoomSettings::default())
    }

    /// Joins the fullest open room; `Ok(false)` when there is none left to join.
    fn join_open_room(&self, peer: PeerId) -> Result<bool, Refusal> {
        for _ in 0..4 {
            // Collect first, lock later: never lock a room while iterating the index.
            let best = self
                .rooms
                .iter()
                .filter(|r| r.open_hint())
                .max_by_key(|r| r.seats_hint())
                .map(|r| Arc::clone(r.value()));
            let Some(room) = best else { return Ok(false) };
            match self.join(peer, &room) {
                Ok(()) => return Ok(true),
                Err(r) if matches!(r.code, ErrorCode::RoomFull | ErrorCode::WrongPhase | ErrorCode::RoomNotFound) => continue,
                Err(r) => return Err(r),
            }
        }
        Ok(false)
    }

    pub fn leave_room(self: &Arc<Self>, peer: PeerId) -> Result<(), Refusal> {
        let room = self.current_room(peer)?;
        self.remove_from_room(&room, peer, Some(LeaveReason::Requested));
        Ok(())
    }

    /// Takes `peer` out of `room`, telling it why when `reason` is given.
    fn remove_from_room(self: &Arc<Self>, room: &Arc<Room>, peer: PeerId, reason: Option<LeaveReason>) {
        let mut g = room.lock();
        let removed = g.remove(peer);
        self.set_room(peer, None);
        if let (Some(seat), Some(reason)) = (&removed, reason)
            && let Some(outbox) = &seat.outbox {
                outbox.send(&ServerMsg::LeftRoom { reason }, &self.metrics);
            }
        if removed.is_some() {
            g.broadcast_snapshot(&self.metrics);
            self.after_membership_change(room, &mut g);
        }
    }

    /// Consequences of a player leaving or dropping: the empty room goes, a loading room
    /// may now be all ready, a finished round may now have every remaining report.
    fn after_membership_change(self: &Arc<Self>, room: &Arc<Room>, g: &mut rooms::RoomGuard<'_>) {
        if g.state.closed {
            let code = room.code.clone();
            let this = Arc::clone(room);
            // Removing takes an index shard lock: fine while holding the room (room → shard).
            self.rooms.remove_if(&code, |_, r| Arc::ptr_eq(r, &this));
            tracing::info!(code = %code, "room removed (empty)");
            return;
        }
        match g.state.phase {
            RoomPhase::Loading if g.all_ready() => self.start(g),
            RoomPhase::Playing { .. } | RoomPhase::Results => self.maybe_record(room, g),
            _ => {}
        }
    }

    fn with_room<T>(&self, peer: PeerId, f: impl FnOnce(&mut rooms::RoomGuard<'_>) -> Result<T, Refusal>) -> Result<T, Refusal> {
        let room = self.current_room(peer)?;
        let mut g = room.lock();
        if !g.is_member(peer) {
            drop(g);
            self.set_room(peer, None);
            return Err(Self::not_in_room());
        }
        f(&mut g)
    }

    pub fn update_settings(&self, peer: PeerId, settings: RoomSettings) -> Result<(), Refusal> {
        rooms::validate_settings(&settings)?;
        self.with_room(peer, |g| {
            g.require_host(peer)?;
            if g.state.phase != RoomPhase::Lobby {
                return Err(Refusal::new(ErrorCode::WrongPhase, "settings can only change in the lobby"));
            }
            g.state.settings = settings;
            g.broadcast_snapshot(&self.metrics);
            Ok(())
        })
    }

    pub fn set_loading(&self, peer: PeerId, stage: LoadingStage, progress: f32) -> Result<(), Refusal> {
        let progress = if progress.is_finite() { progress.clamp(0.0, 1.0) } else { 0.0 };
        self.with_room(peer, |g| {
            if let Some(seat) = g.seat_mut(peer) {
                seat.stage = stage;
                seat.progress = progress;
            }
            g.broadcast_snapshot(&self.metrics);
            Ok(())
        })
    }

    pub fn set_ready(self: &Arc<Self>, peer: PeerId, ready: bool) -> Result<(), Refusal> {
        self.with_room(peer, |g| {
            if !matches!(g.state.phase, RoomPhase::Lobby | RoomPhase::Loading) {
                return Err(Refusal::new(ErrorCode::WrongPhase, "readiness only counts before the round starts"));
            }
            if let Some(seat) = g.seat_mut(peer) {
                seat.ready = ready;
            }
            g.broadcast_snapshot(&self.metrics);
            if g.state.phase == RoomPhase::Loading && g.all_ready() {
                self.start(g);
            }
            Ok(())
        })
    }

    pub fn start_game(self: &Arc<Self>, peer: PeerId, force: bool) -> Result<(), Refusal> {
        let room = self.current_room(peer)?;
        let mut g = room.lock();
        if !g.is_member(peer) {
            return Err(Self::not_in_room());
        }
        g.require_host(peer)?;
        match g.state.phase {
            RoomPhase::Lobby => {
                g.state.phase = RoomPhase::Loading;
                g.state.loading_gen += 1;
                let gen_ = g.state.loading_gen;
                g.broadcast_snapshot(&self.metrics);
                // Armed in every case: it does nothing once the round has started.
                self.arm_ready_timeout(&room, gen_);
                if g.all_ready() {
                    self.start(&mut g);
                    Ok(())
                } else if force {
                    self.force_start(&mut g)
                } else {
                    Ok(())
                }
            }
            RoomPhase::Loading if force => self.force_start(&mut g),
            RoomPhase::Loading => Ok(()),
            _ => Err(Refusal::new(ErrorCode::WrongPhase, "a round is already on — go back to the lobby first")),
        }
    }

    fn force_start(&self, g: &mut rooms::RoomGuard<'_>) -> Result<(), Refusal> {
        if !g.state.seats.iter().any(|s| s.ready) {
            return Err(Refusal::new(ErrorCode::WrongPhase, "nobody is ready yet — wait for at least one player"));
        }
        for id in g.drop_unready(&self.metrics) {
            self.set_room(id, None);
        }
        self.start(g);
        Ok(())
    }

    fn start(&self, g: &mut rooms::RoomGuard<'_>) {
        let start_at = now_ms() + self.config.start_delay_ms;
        g.start_round(start_at, &self.metrics);
        tracing::info!(code = %g.code(), players = g.state.seats.len(), start_at, "round starting");
    }

    fn arm_ready_timeout(self: &Arc<Self>, room: &Arc<Room>, gen_: u64) {
        let hub = Arc::clone(self);
        let room = Arc::clone(room);
        let timeout = self.config.ready_timeout();
        tokio::spawn(async move {
            tokio::select! {
                () = tokio::time::sleep(timeout) => {}
                () = hub.shutdown.cancelled() => return,
            }
            let mut g = room.lock();
            if g.state.closed || g.state.phase != RoomPhase::Loading || g.state.loading_gen != gen_ {
                return;
            }
            if hub.force_start(&mut g).is_err() {
                // Nobody made it: back to the lobby.
                g.state.phase = RoomPhase::Lobby;
                g.broadcast_snapshot(&hub.metrics);
            }
            hub.after_membership_change(&room, &mut g);
        });
    }

    pub fn report_result(self: &Arc<Self>, peer: PeerId, report: MatchReport) -> Result<(), Refusal> {
        let room = self.current_room(peer)?;
        let mut g = room.lock();
        if !g.is_member(peer) {
            return Err(Self::not_in_room());
        }
        let round = g.state.round.as_mut().filter(|r| !r.recorded && r.players.contains(&peer));
        let Some(round) = round else {
            return Err(Refusal::new(ErrorCode::WrongPhase, "there is no round of yours waiting for results"));
        };
        if report.round_seed != round.seed {
            return Err(Refusal::new(ErrorCode::WrongPhase, "this report is for another round — report the round that just ended"));
        }
        if report.scores.iter().any(|l| !round.players.contains(&l.player)) {
            return Err(Refusal::new(ErrorCode::InvalidSettings, "the report lists a player who was not in the round"));
        }
        round.reports.retain(|(by, _)| *by != peer);
        round.reports.push((peer, report));
        if matches!(g.state.phase, RoomPhase::Playing { .. }) {
            g.state.phase = RoomPhase::Results;
            g.broadcast_snapshot(&self.metrics);
        }
        self.maybe_record(&room, &mut g);
        Ok(())
    }

    /// Writes the round to the history once every remaining player has reported, then
    /// tells the room.
    fn maybe_record(self: &Arc<Self>, room: &Arc<Room>, g: &mut rooms::RoomGuard<'_>) {
        let Some(m) = g.finished_round() else { return };
        let hub = Arc::clone(self);
        let room = Arc::clone(room);
        self.tasks.spawn(async move {
            let agreed = m.agreed;
            match hub.store.record(m).await {
                Ok(match_id) => {
                    hub.metrics.match_recorded();
                    tracing::info!(code = %room.code, match_id, agreed, "match recorded");
                    room.lock().broadcast(&ServerMsg::ResultRecorded { match_id, agreed }, &hub.metrics);
                }
                Err(e) => {
                    hub.metrics.error(ErrorKind::Database);
                    tracing::error!(code = %room.code, error = %e, "could not record a match");
                    let msg = ServerMsg::Error { code: ErrorCode::Internal, message: format!("the match could not be saved: {e}") };
                    room.lock().broadcast(&msg, &hub.metrics);
                }
            }
        });
    }

    pub fn back_to_lobby(&self, peer: PeerId) -> Result<(), Refusal> {
        self.with_room(peer, |g| {
            g.require_host(peer)?;
            if !matches!(g.state.phase, RoomPhase::Playing { .. } | RoomPhase::Results) {
                return Err(Refusal::new(ErrorCode::WrongPhase, "the room is not in a round"));
            }
            g.state.phase = RoomPhase::Lobby;
            for seat in &mut g.state.seats {
                seat.ready = false;
            }
            g.broadcast_snapshot(&self.metrics);
            Ok(())
        })
    }

    /// Relays a `Signal` to another member of the sender's room.
    pub fn relay(&self, from: PeerId, to: PeerId, payload: SignalPayload, received: Instant) -> Result<(), Refusal> {
        let unknown = || Refusal::new(ErrorCode::UnknownPeer, format!("peer {to} is not in your room"));
        if to == from {
            return Err(unknown());
        }
        let room = self.current_room(from)?;
        let Some(frame) = rooms::encode(&ServerMsg::Signal { from, payload }) else {
            return Err(Refusal::new(ErrorCode::Internal, "could not encode the signal"));
        };
        let g = room.lock();
        if !g.is_member(from) {
            return Err(Self::not_in_room());
        }
        let seat = g.seat(to).ok_or_else(unknown)?;
        let outbox = seat.outbox.as_ref().ok_or_else(|| Refusal::new(ErrorCode::UnknownPeer, format!("peer {to} is reconnecting — try again shortly")))?;
        outbox.push(Outbound::Relay { frame, received }, &self.metrics);
        Ok(())
    }

    pub async fn history_of(&self, peer: PeerId, limit: u16) -> Result<Vec<MatchSummary>, Refusal> {
        let name = self.name_of(peer);
        self.store.history(name, u32::from(limit.min(100))).await.map_err(|e| {
            self.metrics.error(ErrorKind::Database);
            Refusal::new(ErrorCode::Internal, format!("match history is unavailable: {e}"))
        })
    }

    /// Tells `peer`'s room it is leaving because the server shuts down.
    pub fn notify_shutdown(&self, peer: PeerId) {
        if self.room_of(peer).is_some()
            && let Some(outbox) = self.outbox_of(peer) {
                outbox.send(&ServerMsg::LeftRoom { reason: LeaveReason::ServerShutdown }, &self.metrics);
            }
    }

    // ---- failed joins ---------------------------------------------------------------

    fn check_failed_joins(&self, ip: IpAddr) -> Result<(), Refusal> {
        let window = self.config.failed_join_window();
        if let Some(w) = self.failed_joins.get(&ip) {
            let left = window.saturating_sub(w.started.elapsed());
            if !left.is_zero() && w.failures >= self.config.failed_joins {
                return Err(Refusal::new(
                    ErrorCode::TooManyFailedJoins,
                    format!("too many wrong room codes from your address — wait {} s and try again", left.as_secs().max(1)),
                ));
            }
        }
        Ok(())
    }

    fn record_failed_join(&self, ip: IpAddr) {
        let window = self.config.failed_join_window();
        let mut w = self.failed_joins.entry(ip).or_insert(FailWindow { started: Instant::now(), failures: 0 });
        if w.started.elapsed() >= window {
            *w = FailWindow { started: Instant::now(), failures: 0 };
        }
        w.failures += 1;
    }

    /// Forgets failed-join windows that are over (run periodically).
    pub fn prune_failed_joins(&self) {
        let window = self.config.failed_join_window();
        self.failed_joins.retain(|_, w| w.started.elapsed() < window);
    }

    pub fn janitor_period(&self) -> Duration {
        self.config.failed_join_window()
    }
}
