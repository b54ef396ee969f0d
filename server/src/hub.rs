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
    ErrorCode, GameMode, IceServer, LeaveReason, LoadingStage, MatchReport, MatchSummary, PeerId, RoomPhase,
    MAX_LOCAL_SEATS, RoomSettings, RoomVisibility, ServerMsg, SignalPayload,
};
use shared::rules::limits::{quiz_limits, quiz_min_round_ms, rush_limits};
use shared::rules::{QuizConfig, RushConfig};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::metrics::{ErrorKind, Limit, Metrics};
use crate::addr::{ConnCounts, ip_key};
use crate::rooms::{self, Outbound, Outbox, Refusal, Room, Seat};
use crate::store::Store;

/// `GET /history` requests served at once; more are answered 503.
pub const HTTP_HISTORY_AT_ONCE: usize = 4;

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
    drop_gen: u32,
    /// Rounds this player may still start (refilled over time).
    rounds: Bucket,
    /// The client's last [`ClientMsg::LinkPaths`]: (direct, relayed) links it offers.
    links: (u8, u8),
    /// Cluster mode only (boxed: a single server's idle sessions stay small).
    cl: Option<Box<ClusterSession>>,
}

/// What a session needs in cluster mode.
#[derive(Debug, Default)]
struct ClusterSession {
    /// On the player's gateway: its room lives on another node (code, home).
    remote: Option<(String, crate::cluster::wire::NodeId)>,
    /// On a room's home: the room the player's gateway was last told about.
    announced: Option<String>,
    /// On the gateway: the room's home stopped; messages wait here until the node that
    /// takes the room over is known.
    rehoming: bool,
    held: Vec<crate::cluster::wire::NodeMsg>,
}

static NO_CLUSTER: ClusterSession = ClusterSession { remote: None, announced: None, rehoming: false, held: Vec::new() };

impl Session {
    fn new(name: String, token: String, outbox: Option<Outbox>, rounds: Bucket) -> Self {
        Session {
            name,
            token,
            outbox,
            room: None,
            drop_gen: 0,
            rounds,
            links: (0, 0),
            cl: None,
        }
    }

    fn cl(&self) -> &ClusterSession {
        self.cl.as_deref().unwrap_or(&NO_CLUSTER)
    }

    fn cl_mut(&mut self) -> &mut ClusterSession {
        self.cl.get_or_insert_with(Box::default)
    }
}

/// A token bucket refilled at `per_min` tokens a minute, up to `burst`.
#[derive(Debug, Clone, Copy)]
pub struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    pub fn full(burst: u32) -> Self {
        Self { tokens: f64::from(burst), last: Instant::now() }
    }

    /// Takes a token; `Err(wait)` when none is left.
    pub fn take(&mut self, per_min: u32, burst: u32) -> Result<(), Duration> {
        let rate = f64::from(per_min) / 60.0;
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * rate).min(f64::from(burst.max(1)));
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else if rate > 0.0 {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / rate))
        } else {
            Err(Duration::from_secs(3600))
        }
    }
}

/// How a history page is measured against its byte bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageSize {
    /// Bincode, for a websocket frame.
    Frame,
    /// JSON, for `GET /history`.
    Json,
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
    /// Rounds started per address key.
    ip_rounds: DashMap<IpAddr, Bucket>,
    /// Open TCP connections per address key.
    pub conns: ConnCounts,
    /// `GET /history` queries running at once (each is a database query).
    pub http_history_slots: tokio::sync::Semaphore,
    next_peer: AtomicU32,
    next_conn: AtomicU64,
    /// Held only while a quick match finds no open room and creates one, so that
    /// simultaneous quick matches on an empty server meet in one room.
    quick_create: std::sync::Mutex<()>,
    /// Cluster mode (`--redis`): this node's handle on the others.
    cluster: std::sync::OnceLock<Arc<crate::cluster::Cluster>>,
    /// Cluster mode: rooms whose change is to be mirrored to Redis.
    mirror: std::sync::OnceLock<tokio::sync::mpsc::UnboundedSender<String>>,
    /// Cluster mode: write every token to Redis now (it came back after an outage).
    token_refresh: tokio::sync::Notify,
    /// Cluster mode: the highest peer id in use here (from the last scan of the sessions,
    /// and every id handed out since), so a new connection does not scan them all.
    highest_peer: AtomicU32,
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
            ip_rounds: DashMap::new(),
            conns: ConnCounts::default(),
            http_history_slots: tokio::sync::Semaphore::new(HTTP_HISTORY_AT_ONCE),
            next_peer: AtomicU32::new(1),
            next_conn: AtomicU64::new(1),
            quick_create: std::sync::Mutex::new(()),
            cluster: std::sync::OnceLock::new(),
            mirror: std::sync::OnceLock::new(),
            token_refresh: tokio::sync::Notify::new(),
            highest_peer: AtomicU32::new(0),
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
        self.room_changed(peer);
    }

    fn outbox_of(&self, peer: PeerId) -> Option<Outbox> {
        self.sessions.get(&peer).and_then(|s| s.outbox.clone())
    }

    fn name_of(&self, peer: PeerId) -> Option<String> {
        self.sessions.get(&peer).map(|s| s.name.clone())
    }

    /// The name of the live session whose reconnect token this is.
    pub fn name_for_token(&self, token: &str) -> Option<String> {
        let peer = *self.tokens.get(token)?;
        self.name_of(peer)
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
        self.attach_as(name, token, outbox, None)
    }

    /// [`Hub::attach`]; a new session gets the id `new_id` when given (cluster mode: a
    /// cluster-unique id).
    pub fn attach_as(self: &Arc<Self>, name: String, token: Option<String>, outbox: Outbox, new_id: Option<PeerId>) -> Attached {
        if let Some(token) = token {
            let old_token = token.clone();
            let peer = self.tokens.remove(&token).map(|(_, p)| p);
            let resumed = peer.and_then(|peer| {
                let mut s = self.sessions.get_mut(&peer)?;
                if let Some(old) = s.outbox.replace(outbox.clone()) {
                    old.kick();
                }
                s.drop_gen = s.drop_gen.wrapping_add(1);
                s.name = name.clone();
                s.token = new_token();
                Some((peer, s.token.clone(), s.room.clone()))
            });
            if let Some((peer_id, token, room)) = resumed {
                self.tokens.insert(token.clone(), peer_id);
                self.token_renewed(peer_id, &old_token);
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
            return Attached { stale_token: true, ..self.new_session(name, outbox, new_id) };
        }
        self.new_session(name, outbox, new_id)
    }

    fn new_session(self: &Arc<Self>, name: String, outbox: Outbox, id: Option<PeerId>) -> Attached {
        let peer_id = id.unwrap_or_else(|| self.next_peer.fetch_add(1, Ordering::Relaxed));
        let token = new_token();
        self.tokens.insert(token.clone(), peer_id);
        self.sessions.insert(peer_id, Session::new(name, token.clone(), Some(outbox), Bucket::full(self.config.rounds_burst)));
        self.token_renewed(peer_id, "");
        Attached { peer_id, token, stale_token: false }
    }

    /// The connection `conn_id` of `peer` ended: its seat shows as disconnected and is
    /// kept for the reconnect grace period, after which the player leaves for good.
    pub fn detach(self: &Arc<Self>, peer: PeerId, conn_id: u64) {
        let (room, remote) = {
            let Some(mut s) = self.sessions.get_mut(&peer) else { return };
            if s.outbox.as_ref().is_none_or(|o| o.conn_id != conn_id) {
                return; // taken over by a newer connection
            }
            s.outbox = None;
            (s.room.clone(), s.cl().remote.clone())
        };
        if let (Some(cluster), Some((_, home))) = (self.cluster.get(), remote) {
            cluster.send(&home, crate::cluster::wire::NodeMsg::Gone { peer, gateway: cluster.node.clone() });
        }
        if let Some(room) = room {
            let mut g = room.lock();
            if let Some(seat) = g.seat_mut(peer).filter(|s| s.outbox.as_ref().is_some_and(|o| o.conn_id == conn_id)) {
                seat.outbox = None;
                g.broadcast_snapshot(&self.metrics);
                self.after_membership_change(&room, &mut g);
            }
        }
        self.arm_grace(peer);
    }

    /// Starts the reconnect grace of a session without a connection: when it is over and
    /// nobody came back, the player leaves for good.
    fn arm_grace(self: &Arc<Self>, peer: PeerId) {
        let Some(drop_gen) = self.sessions.get_mut(&peer).map(|mut s| {
            s.drop_gen = s.drop_gen.wrapping_add(1);
            s.drop_gen
        }) else {
            return;
        };
        let hub = Arc::clone(self);
        let grace = self.config.reconnect_grace();
        tokio::spawn(async move {
            tokio::select! {
                () = tokio::time::sleep(grace) => hub.expire(peer, drop_gen),
                () = hub.shutdown.cancelled() => {}
            }
        });
    }

    fn expire(self: &Arc<Self>, peer: PeerId, drop_gen: u32) {
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
            self.token_dropped(&s.token);
            self.metrics.link_paths(s.links, (0, 0));
            tracing::info!(peer, "reconnect grace over: session removed");
        }
    }

    /// A client's count of its direct and relayed links (for `/metrics`). Counts above the
    /// room's size are cut to it: a client cannot inflate the figures.
    pub fn link_paths(&self, peer: PeerId, direct: u8, relayed: u8) -> Result<(), Refusal> {
        let most = self.config.room_cap.saturating_sub(1);
        let new = (direct.min(most), relayed.min(most.saturating_sub(direct.min(most))));
        let mut s = self.sessions.get_mut(&peer).ok_or_else(|| Refusal::new(ErrorCode::Internal, "session vanished — reconnect"))?;
        let old = std::mem::replace(&mut s.links, new);
        drop(s);
        if old != new {
            tracing::info!(peer, direct = new.0, relayed = new.1, "link paths");
            self.metrics.link_paths(old, new);
        }
        Ok(())
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
        Ok(Seat { id: peer, name, stage: LoadingStage::Idle, progress: 0.0, ready: false, outbox, locals: Vec::new() })
    }

    pub fn create_room(&self, peer: PeerId, settings: RoomSettings) -> Result<(), Refusal> {
        self.create_room_as(peer, settings, RoomVisibility::Private)
    }

    fn create_room_as(&self, peer: PeerId, settings: RoomSettings, visibility: RoomVisibility) -> Result<(), Refusal> {
        rooms::validate_settings(&settings, self.config.min_round_secs)?;
        let seat = self.new_seat(peer)?;
        let room = loop {
            let code = rooms::new_code();
            if let Entry::Vacant(v) = self.rooms.entry(code.clone()) {
                let room = Arc::new(Room::new(code, seat, settings, self.config.room_cap, visibility));
                self.watch_room(&room);
                v.insert(Arc::clone(&room));
                break room;
            }
        };
        self.set_room(peer, Some(Arc::clone(&room)));
        room.lock().broadcast_snapshot(&self.metrics);
        tracing::info!(peer, code = %room.code, ?visibility, "room created");
        Ok(())
    }

    pub fn join_room(&self, peer: PeerId, code: &str, ip: IpAddr) -> Result<(), Refusal> {
        if self.room_of(peer).is_some() {
            return Err(Refusal::new(ErrorCode::AlreadyInRoom, "you are already in a room — leave it first"));
        }
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
        if g.state.taken() >= usize::from(g.state.cap) {
            return Err(Refusal::new(ErrorCode::RoomFull, format!("room {} is full ({} players)", g.code(), g.state.cap)));
        }
        let mut seat = seat;
        match crate::names::name_in_room(&seat.name, g.state.names()) {
            Ok(name) => seat.name = name,
            Err(message) => {
                self.metrics.limit(Limit::NameRefused);
                return Err(Refusal::new(ErrorCode::NameTaken, message));
            }
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
        self.create_room_as(peer, RoomSettings::default(), RoomVisibility::Public)
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
                Err(r) if r.another_room_may_do() => continue,
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

    /// Host only: private (by code) or public (quick match).
    pub fn set_visibility(&self, peer: PeerId, visibility: RoomVisibility) -> Result<(), Refusal> {
        self.with_room(peer, |g| {
            g.require_host(peer)?;
            if g.state.visibility != visibility {
                g.state.visibility = visibility;
                g.broadcast_snapshot(&self.metrics);
                tracing::info!(code = %g.code(), ?visibility, "room visibility changed");
            }
            Ok(())
        })
    }

    pub fn update_settings(&self, peer: PeerId, settings: RoomSettings) -> Result<(), Refusal> {
        rooms::validate_settings(&settings, self.config.min_round_secs)?;
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

    pub fn set_loading(self: &Arc<Self>, peer: PeerId, stage: LoadingStage, progress: f32) -> Result<(), Refusal> {
        let progress = if progress.is_finite() { progress.clamp(0.0, 1.0) } else { 0.0 };
        let room = self.current_room(peer)?;
        let mut g = room.lock();
        if !g.is_member(peer) {
            return Err(Self::not_in_room());
        }
        if let Some(seat) = g.seat_mut(peer) {
            if seat.stage == stage && seat.progress == progress {
                return Ok(());
            }
            seat.stage = stage;
            seat.progress = progress;
        }
        self.coalesced_snapshot(&room, &mut g);
        Ok(())
    }

    /// Sends the room's snapshot now if none went out within `--loading-fanout-ms`,
    /// otherwise once that time is up (one snapshot for every change meanwhile).
    fn coalesced_snapshot(self: &Arc<Self>, room: &Arc<Room>, g: &mut rooms::RoomGuard<'_>) {
        let every = self.config.loading_fanout();
        let now = Instant::now();
        let next_at = g.state.last_fanout.map(|t| t + every);
        match next_at {
            Some(at) if at > now => {
                self.metrics.limit(Limit::SnapshotCoalesced);
                if g.state.fanout_due {
                    return; // a flush is already scheduled
                }
                g.state.fanout_due = true;
                let hub = Arc::clone(self);
                let room = Arc::clone(room);
                tokio::spawn(async move {
                    tokio::select! {
                        () = tokio::time::sleep_until(at.into()) => {}
                        () = hub.shutdown.cancelled() => return,
                    }
                    let mut g = room.lock();
                    if g.state.fanout_due && !g.state.closed {
                        g.state.last_fanout = Some(Instant::now());
                        g.broadcast_snapshot(&hub.metrics);
                    }
                });
            }
            _ => {
                g.state.last_fanout = Some(now);
                g.broadcast_snapshot(&self.metrics);
            }
        }
    }

    /// The other people playing on `peer`'s camera (couch play), in the lobby. Seats that
    /// keep their position keep their id; the whole change fits the room cap or nothing
    /// changes.
    pub fn set_local_seats(&self, peer: PeerId, names: Vec<String>) -> Result<(), Refusal> {
        if names.len() > MAX_LOCAL_SEATS {
            return Err(Refusal::new(
                ErrorCode::InvalidSettings,
                format!("at most {} players on one camera — {} asked", MAX_LOCAL_SEATS + 1, names.len() + 1),
            ));
        }
        let mut normalized = Vec::with_capacity(names.len());
        for name in &names {
            match crate::names::normalize(name) {
                Ok(name) => normalized.push(name),
                Err(message) => {
                    self.metrics.limit(Limit::NameRefused);
                    return Err(Refusal::new(ErrorCode::InvalidName, message));
                }
            }
        }
        self.with_room(peer, |g| {
            if g.state.phase != RoomPhase::Lobby {
                return Err(Refusal::new(ErrorCode::WrongPhase, "seats change only in the lobby — wait for the round to end"));
            }
            let old = g.seat(peer).map_or(0, |s| s.locals.len());
            let taken = g.state.taken() - old + normalized.len();
            if taken > usize::from(g.state.cap) {
                return Err(Refusal::new(
                    ErrorCode::RoomFull,
                    format!("room {} has {} seats; {} more players do not fit", g.code(), g.state.cap, normalized.len()),
                ));
            }
            // Each name must be unlike every other name in the room, the new ones included.
            let others: Vec<String> = g
                .state
                .seats
                .iter()
                .flat_map(|s| s.players().filter(|(id, _)| s.id != peer || *id == peer).map(|(_, n)| n.to_owned()))
                .collect();
            let mut accepted: Vec<String> = Vec::with_capacity(normalized.len());
            for name in &normalized {
                let taken = others.iter().chain(accepted.iter()).map(String::as_str);
                match crate::names::name_in_room(name, taken) {
                    Ok(name) => accepted.push(name),
                    Err(message) => {
                        self.metrics.limit(Limit::NameRefused);
                        return Err(Refusal::new(ErrorCode::NameTaken, message));
                    }
                }
            }
            let Some(seat) = g.seat_mut(peer) else { return Err(Self::not_in_room()) };
            let mut locals = Vec::with_capacity(accepted.len());
            for (i, name) in accepted.into_iter().enumerate() {
                let id = seat.locals.get(i).map_or_else(|| self.next_peer.fetch_add(1, Ordering::Relaxed), |l| l.id);
                locals.push(rooms::LocalSeat { id, name });
            }
            if seat.locals == locals {
                return Ok(());
            }
            seat.locals = locals;
            tracing::info!(peer, seats = seat.locals.len() + 1, "local seats");
            g.broadcast_snapshot(&self.metrics);
            Ok(())
        })
    }

    pub fn set_ready(self: &Arc<Self>, peer: PeerId, ready: bool) -> Result<(), Refusal> {
        let room = self.current_room(peer)?;
        let mut g = room.lock();
        if !g.is_member(peer) {
            return Err(Self::not_in_room());
        }
        if !matches!(g.state.phase, RoomPhase::Lobby | RoomPhase::Loading) {
            return Err(Refusal::new(ErrorCode::WrongPhase, "readiness only counts before the round starts"));
        }
        if let Some(seat) = g.seat_mut(peer) {
            if seat.ready == ready {
                return Ok(());
            }
            seat.ready = ready;
        }
        if g.state.phase == RoomPhase::Loading && g.all_ready() {
            // The round starts now; its snapshot carries the readiness too.
            self.start(&mut g);
        } else {
            self.coalesced_snapshot(&room, &mut g);
        }
        Ok(())
    }

    /// Takes one round start from the player's and the address's allowances.
    fn take_round(&self, peer: PeerId, ip: IpAddr) -> Result<(), Refusal> {
        let (per_min, burst) = (self.config.rounds_per_min, self.config.rounds_burst);
        let mine = match self.sessions.get_mut(&peer) {
            Some(mut s) => s.rounds.take(per_min, burst),
            None => Ok(()),
        };
        let ip_rate = self.config.ip_rounds_per_min;
        let theirs = mine.and_then(|()| self.ip_rounds.entry(ip_key(ip)).or_insert_with(|| Bucket::full(ip_rate)).take(ip_rate, ip_rate));
        theirs.map_err(|wait| {
            self.metrics.limit(Limit::RoundsLimited);
            Refusal::new(
                ErrorCode::RateLimited,
                format!("too many rounds started in a short time — wait {} s before the next", wait.as_secs().max(1)),
            )
        })
    }

    pub fn start_game(self: &Arc<Self>, peer: PeerId, force: bool, ip: IpAddr) -> Result<(), Refusal> {
        let room = self.current_room(peer)?;
        let mut g = room.lock();
        if !g.is_member(peer) {
            return Err(Self::not_in_room());
        }
        g.require_host(peer)?;
        if g.state.phase == RoomPhase::Lobby {
            self.take_round(peer, ip)?;
        }
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
        let round = g.state.round.as_mut().filter(|r| !r.recorded && r.reporters.contains(&peer));
        let Some(round) = round else {
            return Err(Refusal::new(ErrorCode::WrongPhase, "there is no round of yours waiting for results"));
        };
        if report.round_seed != round.seed {
            return Err(Refusal::new(ErrorCode::WrongPhase, "this report is for another round — report the round that just ended"));
        }
        let refused = if round.reports.iter().any(|(by, _)| *by == peer) {
            Err(Refusal::new(ErrorCode::AlreadyReported, "you already reported this round — one report per player"))
        } else {
            check_report(round, &report, now_ms(), self.config.report_early_ms)
        };
        if let Err(refusal) = refused {
            self.metrics.limit(Limit::ReportRefused);
            tracing::info!(peer, code = ?refusal.code, reason = %refusal.message, "report refused");
            return Err(refusal);
        }
        round.reports.push((peer, report));
        g.mark_changed();
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
        // While shutting down, players leave because the server goes, not because they
        // quit: what was reported is stored by `record_cut_rounds`, as incomplete.
        if self.shutdown.is_cancelled() {
            return;
        }
        let Some(m) = g.finished_round() else { return };
        let hub = Arc::clone(self);
        let room = Arc::clone(room);
        self.tasks.spawn(async move {
            let (agreed, status) = (m.agreed, m.status);
            match hub.store.record(m).await {
                Ok(match_id) => {
                    hub.metrics.match_recorded();
                    tracing::info!(code = %room.code, match_id, ?status, "match recorded");
                    room.lock().broadcast(&ServerMsg::ResultRecorded { match_id, agreed, status }, &hub.metrics);
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

    /// One page of `peer`'s history that fits a websocket frame.
    pub async fn history_of(&self, peer: PeerId, before: Option<i64>, limit: u16) -> Result<(Vec<MatchSummary>, Option<i64>), Refusal> {
        let name = self.name_of(peer);
        // Room for the message around the list (variant tags, lengths, the cursor).
        let budget = shared::protocol::MAX_FRAME_BYTES - 64;
        self.history_page(name, before, u32::from(limit.clamp(1, 100)), budget, PageSize::Frame).await
    }

    /// Matches newest first (below `before`), at most `limit` and at most `max_bytes` as
    /// measured by `size`; with the `before` of the next page when more are left. A match
    /// too big on its own has its score lines cut to fit.
    pub async fn history_page(
        &self,
        name: Option<String>,
        before: Option<i64>,
        limit: u32,
        max_bytes: usize,
        size: PageSize,
    ) -> Result<(Vec<MatchSummary>, Option<i64>), Refusal> {
        let rows = self.store.history(name, before, limit.saturating_add(1)).await.map_err(|e| {
            self.metrics.error(ErrorKind::Database);
            Refusal::new(ErrorCode::Internal, format!("match history is unavailable: {e}"))
        })?;
        let measure = |m: &MatchSummary| match size {
            PageSize::Frame => shared::protocol::encode(m).map_or(usize::MAX, |b| b.len()),
            PageSize::Json => serde_json::to_vec(m).map_or(usize::MAX, |b| b.len() + 1),
        };
        let more = rows.len() > limit as usize;
        let mut page = Vec::new();
        let mut used = 16;
        let mut truncated = false;
        for mut m in rows.into_iter().take(limit as usize) {
            let mut len = measure(&m);
            if page.is_empty() {
                while used + len > max_bytes && !m.scores.is_empty() {
                    let keep = m.scores.len() / 2;
                    m.scores.truncate(keep);
                    len = measure(&m);
                    truncated = true;
                }
            }
            if used + len > max_bytes {
                truncated = true;
                break;
            }
            used += len;
            page.push(m);
        }
        if size == PageSize::Frame {
            // The receiver's decoder limits what it allocates, which can be more than the
            // encoded bytes: keep the page only as large as a client can decode.
            while !page.is_empty() && !frame_decodes(&page) {
                truncated = true;
                if page.len() > 1 {
                    page.pop();
                } else if let Some(m) = page.first_mut() {
                    let keep = m.scores.len() / 2;
                    m.scores.truncate(keep);
                    if keep == 0 {
                        break;
                    }
                }
            }
        }
        if truncated {
            self.metrics.limit(Limit::HistoryTruncated);
        }
        let next = if more || truncated { page.last().map(|m| m.match_id) } else { None };
        Ok((page, next))
    }

    /// On shutdown, after the connections closed: every round with reports not yet stored
    /// is stored now, as incomplete.
    pub async fn record_cut_rounds(&self) {
        if self.cluster().is_some() {
            return; // the rounds go on at the nodes that take the rooms over
        }
        let rooms: Vec<Arc<Room>> = self.rooms.iter().map(|r| Arc::clone(r.value())).collect();
        for room in rooms {
            let cut = room.lock().cut_round();
            if let Some(m) = cut {
                match self.store.record(m).await {
                    Ok(match_id) => {
                        self.metrics.match_recorded();
                        tracing::info!(code = %room.code, match_id, "match cut by the shutdown recorded as incomplete");
                    }
                    Err(e) => {
                        self.metrics.error(ErrorKind::Database);
                        tracing::error!(code = %room.code, error = %e, "could not record a match cut by the shutdown");
                    }
                }
            }
        }
    }

    /// Tells `peer`'s room it is leaving because the server shuts down.
    pub fn notify_shutdown(&self, peer: PeerId) {
        // A cluster node that stops hands its rooms to the others: its players reconnect
        // through the load balancer and keep their seats.
        if self.cluster().is_none()
            && self.room_of(peer).is_some()
            && let Some(outbox) = self.outbox_of(peer) {
                outbox.send(&ServerMsg::LeftRoom { reason: LeaveReason::ServerShutdown }, &self.metrics);
            }
    }

    // ---- failed joins ---------------------------------------------------------------

    /// How long a join from `ip` waits before its code is looked at: nothing for the first
    /// `--failed-joins` wrong codes in a window, then `--failed-join-step-ms` more per wrong
    /// code, up to `--failed-join-max-delay-ms`. Every join waits the same, right code or
    /// wrong, so the wait says nothing about the code, and nobody is refused: guessing is
    /// slowed to (connections per address) / (max delay), a friend is only delayed.
    pub fn join_delay(&self, ip: IpAddr) -> Duration {
        let window = self.config.failed_join_window();
        let Some(w) = self.failed_joins.get(&ip_key(ip)) else { return Duration::ZERO };
        if w.started.elapsed() >= window || w.failures < self.config.failed_joins {
            return Duration::ZERO;
        }
        let over = u64::from(w.failures - self.config.failed_joins + 1);
        Duration::from_millis(over.saturating_mul(self.config.failed_join_step_ms).min(self.config.failed_join_max_delay_ms))
    }

    fn record_failed_join(&self, ip: IpAddr) {
        let window = self.config.failed_join_window();
        let mut w = self.failed_joins.entry(ip_key(ip)).or_insert(FailWindow { started: Instant::now(), failures: 0 });
        if w.started.elapsed() >= window {
            *w = FailWindow { started: Instant::now(), failures: 0 };
        }
        w.failures += 1;
    }

    /// Forgets failed-join windows that are over (run periodically).
    pub fn prune_failed_joins(&self) {
        let window = self.config.failed_join_window();
        self.failed_joins.retain(|_, w| w.started.elapsed() < window);
        let full = Duration::from_secs(60);
        self.ip_rounds.retain(|_, b| b.last.elapsed() < full);
    }

    pub fn janitor_period(&self) -> Duration {
        self.config.failed_join_window()
    }
}

/// Checks a report against the round the server started: after its end on the server
/// clock, once per player, exactly the round's players, and numbers the rules allow.
fn check_report(round: &rooms::Round, report: &MatchReport, now: u64, early_ms: u64) -> Result<(), Refusal> {
    let end = match round.mode {
        GameMode::PoseRush => round.start_at_ms + u64::from(round.duration_ms),
        GameMode::MotionQuiz => round.start_at_ms + quiz_min_round_ms(&QuizConfig::default()),
    };
    if now + early_ms < end {
        return Err(Refusal::new(
            ErrorCode::RoundNotOver,
            format!("the round ends in {} ms on the server clock — report after it ends", end - now),
        ));
    }
    let mut listed: Vec<PeerId> = report.scores.iter().map(|l| l.player).collect();
    listed.sort_unstable();
    let mut players = round.players.clone();
    players.sort_unstable();
    if listed != players {
        return Err(Refusal::new(
            ErrorCode::InvalidReport,
            format!("the report must list each of the round's {} players exactly once", players.len()),
        ));
    }
    let (limits, scoring) = match round.mode {
        GameMode::PoseRush => {
            let cfg = RushConfig { duration_ms: round.duration_ms, ..RushConfig::default() };
            (rush_limits(&cfg), cfg.scoring)
        }
        GameMode::MotionQuiz => {
            let cfg = QuizConfig::default();
            let elapsed = now.saturating_sub(round.start_at_ms);
            let max_questions = u32::try_from(shared::deck::MAX_QUESTIONS).unwrap_or(u32::MAX);
            (quiz_limits(&cfg, elapsed, max_questions), cfg.scoring)
        }
    };
    for line in &report.scores {
        limits.check(line.points, line.hits, line.best_streak, &scoring).map_err(|e| {
            Refusal::new(ErrorCode::InvalidReport, format!("the line of player {} is impossible in this round: {e}", line.player))
        })?;
    }
    Ok(())
}

/// Whether a page, sent as either history message, decodes within the frame limits.
fn frame_decodes(page: &[MatchSummary]) -> bool {
    let msg = ServerMsg::HistoryPage { matches: page.to_vec(), next_before: Some(i64::MAX) };
    shared::protocol::encode(&msg).is_ok_and(|bytes| shared::protocol::decode::<ServerMsg>(&bytes).is_ok())
}

#[path = "hub_cluster.rs"]
mod cluster_glue;
