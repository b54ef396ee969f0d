//! The hub's side of cluster mode (see [`crate::cluster`]): forwarding a gateway's players'
//! messages to their room's home, serving players of other gateways in the rooms homed here,
//! mirroring rooms to Redis, reconnect tokens in Redis, and taking over the rooms of a node
//! that stopped.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use shared::protocol::signal::{ClientMsg, ErrorCode, LeaveReason, PeerId, RoomPhase, RoomSettings, RoomVisibility, ServerMsg};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{Bucket, Hub, Session};
use crate::cluster::wire::{self, NodeId, NodeMsg, RECORD_VERSION, RoomRecord, TokenRecord};
use crate::cluster::{Cluster, HEARTBEAT, NODE_TTL, QuickChoice, ROOM_REFRESH};

/// How long until every node knows a killed node is gone: its key expires, then a watch.
const NODE_GONE: Duration = Duration::from_millis(NODE_TTL.as_millis() as u64 + 2 * HEARTBEAT.as_millis() as u64);
use crate::rooms::{self, Outbound, Outbox, Refusal, Room};

/// How often a node looks for nodes that stopped, and publishes its counts.
const WATCH_EVERY: Duration = Duration::from_secs(1);
const COUNTS_EVERY: u32 = 5;
/// How often the tokens of this node's sessions are refreshed in Redis.
const TOKEN_REFRESH_EVERY: Duration = Duration::from_secs(20);
/// Quick-match attempts before giving up with an error.
const QUICK_ATTEMPTS: u8 = 4;

/// A session's token and what Redis keeps for it (its room, local or homed elsewhere);
/// `None` for a session without a token of its own (a player of another gateway).
fn token_record(peer: PeerId, s: &Session, node: &str) -> Option<(String, TokenRecord)> {
    if s.token.is_empty() {
        return None;
    }
    let room = s.room.as_ref().map(|r| r.code.clone()).or_else(|| s.cl().remote.as_ref().map(|(c, _)| c.clone()));
    Some((s.token.clone(), TokenRecord { version: RECORD_VERSION, peer, name: s.name.clone(), room, node: node.to_owned() }))
}

/// The player's address key another node sent (unspecified if it is unreadable: it only
/// keys the failed-join and round limits).
fn node_ip(ip: &str) -> IpAddr {
    ip.parse().unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
}

/// Writes a room's record to Redis, registering the room first with `register`; false when
/// it could not be registered (nothing was written).
async fn mirror(cluster: &Cluster, room: &Room, register: bool) -> bool {
    if register && let Err(e) = cluster.register_room(&room.code).await {
        tracing::warn!(code = %room.code, "registering a room: {e}");
        return false;
    }
    let (record, open) = room.record(&cluster.node);
    if let Some(bytes) = wire::encode(&record)
        && let Err(e) = cluster.write_room(&room.code, &bytes, open).await
    {
        tracing::warn!(code = %room.code, "mirroring a room: {e}");
    }
    true
}

fn unavailable(e: &crate::cluster::ClusterError) -> Refusal {
    Refusal::new(ErrorCode::Internal, format!("the server cluster is unavailable right now ({e}) — try again in a moment"))
}

impl Hub {
    pub fn cluster(&self) -> Option<&Arc<Cluster>> {
        self.cluster.get()
    }

    /// Makes this hub a node of `cluster` and starts the node's tasks.
    pub fn join_cluster(self: &Arc<Self>, cluster: Arc<Cluster>) -> Vec<JoinHandle<()>> {
        if self.cluster.set(Arc::clone(&cluster)).is_err() {
            return Vec::new();
        }
        let (mirror_tx, mirror_rx) = mpsc::unbounded_channel();
        let _ = self.mirror.set(mirror_tx);
        let hub = Arc::downgrade(self);
        let deliver = move |msg: NodeMsg| {
            if let Some(hub) = hub.upgrade() {
                hub.on_node_msg(msg);
            }
        };
        let hub = Arc::downgrade(self);
        let undelivered = move |node: NodeId, msg: NodeMsg| {
            if let Some(hub) = hub.upgrade() {
                hub.undelivered(&node, msg);
            }
        };
        let mut tasks = vec![
            cluster.spawn_publisher(self.shutdown.clone(), undelivered),
            cluster.spawn_subscriber(self.shutdown.clone(), deliver),
            cluster.spawn_token_writer(self.shutdown.clone()),
        ];
        tasks.push(tokio::spawn(Arc::clone(self).watch_nodes()));
        tasks.push(tokio::spawn(Arc::clone(self).mirror_rooms(mirror_rx)));
        tasks.push(tokio::spawn(Arc::clone(self).refresh_tokens()));
        tasks
    }

    // ---- sessions and tokens ----------------------------------------------------------

    /// Before a connection attaches: a token this node does not know may be another
    /// node's (the player's node stopped, or the load balancer sent it here): it is taken
    /// from Redis and its session prepared here, so the attach resumes it. Returns a
    /// cluster-unique id for the case a new session is made (`None` outside cluster mode);
    /// an error for the player when Redis cannot be reached (no id can be given safely).
    pub async fn cluster_prepare(self: &Arc<Self>, token: Option<&str>) -> Result<Option<PeerId>, String> {
        let Some(cluster) = self.cluster.get() else { return Ok(None) };
        if let Some(token) = token.filter(|t| !self.tokens.contains_key(*t)) {
            match cluster.take_token(token).await {
                Ok(Some(record)) => self.adopt_session(token, record).await,
                Ok(None) => {}
                Err(e) => tracing::warn!("reconnect token lookup failed: {e}"),
            }
        }
        match cluster.new_peer_id(self.highest_peer.load(Ordering::Relaxed)).await {
            Ok(id) => {
                self.highest_peer.fetch_max(id, Ordering::Relaxed);
                Ok(Some(id))
            }
            Err(e) => {
                tracing::warn!("a connection was refused: no cluster peer id ({e})");
                Err(unavailable(&e).message)
            }
        }
    }

    /// A session whose token came from Redis: made here without a connection (the attach
    /// that follows gives it one), in its room if the room still has its seat.
    async fn adopt_session(self: &Arc<Self>, token: &str, record: TokenRecord) {
        let Some(cluster) = self.cluster.get() else { return };
        let peer = record.peer;
        let mut session = Session::new(record.name.clone(), token.to_owned(), None, Bucket::full(self.config.rounds_burst));
        if record.room.is_none() && record.node != cluster.node {
            // The token was written before its room was: ask the node that held the session.
            session.cl_mut().remote = Some((String::new(), record.node.clone()));
        }
        if let Some(code) = &record.room {
            if let Some(room) = self.rooms.get(code).map(|r| Arc::clone(r.value())) {
                if room.lock().is_member(peer) {
                    session.room = Some(room);
                }
            } else {
                match cluster.home_of(code).await {
                    Ok(Some(home)) if home != cluster.node => session.cl_mut().remote = Some((code.clone(), home)),
                    Ok(Some(_)) => {}
                    // Not in Redis (yet): the node that held the session knows.
                    Ok(None) if record.node != cluster.node => session.cl_mut().remote = Some((code.clone(), record.node.clone())),
                    Ok(None) => {}
                    Err(e) => tracing::warn!(peer, "room of a reconnecting player not found: {e}"),
                }
            }
        }
        // A proxy of this player (its room is homed here, its old gateway was another node)
        // becomes its own session.
        if let Some(mut existing) = self.sessions.get_mut(&peer) {
            existing.token = token.to_owned();
            existing.cl_mut().remote = session.cl_mut().remote.take();
            existing.name = record.name;
        } else {
            self.sessions.insert(peer, session);
        }
        self.tokens.insert(token.to_owned(), peer);
        tracing::info!(peer, "session taken over from another node");
    }

    /// After a session got `peer`'s (new) token: Redis learns it; `old` is forgotten. A
    /// player in a room homed elsewhere is announced to the home as connected here.
    pub(super) fn token_renewed(self: &Arc<Self>, peer: PeerId, old: &str) {
        let Some(cluster) = self.cluster.get() else { return };
        if !old.is_empty() {
            self.token_dropped(old);
        }
        self.save_token(peer);
        let (remote, name) = match self.sessions.get(&peer) {
            Some(s) => (s.cl().remote.clone(), s.name.clone()),
            None => return,
        };
        if let Some((code, home)) = remote {
            let room = Some(code).filter(|c| !c.is_empty());
            cluster.send(&home, NodeMsg::Reattach { peer, gateway: cluster.node.clone(), name, room });
        }
    }

    pub(super) fn token_dropped(&self, token: &str) {
        if let Some(cluster) = self.cluster.get().filter(|_| !token.is_empty()) {
            cluster.queue_token(token.to_owned(), None, self.config.reconnect_grace());
        }
    }

    /// Writes `peer`'s token record (with its room) to Redis.
    fn save_token(&self, peer: PeerId) {
        let Some(cluster) = self.cluster.get() else { return };
        let Some((token, record)) = self.sessions.get(&peer).and_then(|s| token_record(peer, &s, &cluster.node)) else { return };
        cluster.queue_token(token, Some(record), self.config.reconnect_grace());
    }

    /// `peer`'s room changed (its session's room was set): its token record follows; on a
    /// room's home, the player's gateway is told, and a player of another gateway that is in
    /// no room here any more is forgotten.
    pub(super) fn room_changed(&self, peer: PeerId) {
        let Some(cluster) = self.cluster.get() else { return };
        let (gateway, room, announced) = match self.sessions.get(&peer) {
            Some(s) => (
                s.outbox.as_ref().and_then(|o| o.gateway().map(str::to_owned)),
                s.room.as_ref().map(|r| r.code.clone()),
                s.cl().announced.clone(),
            ),
            None => return,
        };
        let Some(gateway) = gateway else {
            self.save_token(peer);
            return;
        };
        if room != announced {
            if let Some(mut s) = self.sessions.get_mut(&peer) {
                s.cl_mut().announced = room.clone();
            }
            cluster.send(&gateway, NodeMsg::InRoom { peer, room: room.clone().map(|c| (c, cluster.node.clone())) });
        }
        if room.is_none() {
            self.sessions.remove_if(&peer, |_, s| s.room.is_none() && s.token.is_empty());
        }
    }

    async fn refresh_tokens(self: Arc<Self>) {
        let Some(cluster) = self.cluster.get().cloned() else { return };
        let mut tick = tokio::time::interval(TOKEN_REFRESH_EVERY);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = self.token_refresh.notified() => {}
                () = self.shutdown.cancelled() => return,
            }
            let tokens: Vec<(String, TokenRecord)> = self.sessions.iter().filter_map(|s| token_record(*s.key(), &s, &cluster.node)).collect();
            for chunk in tokens.chunks(1000) {
                if let Err(e) = cluster.store_tokens(chunk, self.config.reconnect_grace()).await {
                    tracing::warn!("refreshing reconnect tokens: {e}");
                    break;
                }
            }
        }
    }

    // ---- routing a gateway's messages ---------------------------------------------------

    /// Cluster mode: handles `msg` of `peer` when it concerns a room homed on another node
    /// (forwarded there), or needs the cluster (a join by a code this node does not hold,
    /// quick match). `None`: handle it here as on a single server.
    pub async fn route(self: &Arc<Self>, peer: PeerId, msg: &ClientMsg, ip: IpAddr) -> Option<Result<(), Refusal>> {
        let cluster = self.cluster.get()?;
        let (remote, name, local_room) = {
            let s = self.sessions.get(&peer)?;
            (s.cl().remote.clone(), s.name.clone(), s.room.is_some())
        };
        match (msg, remote) {
            (ClientMsg::Hello { .. } | ClientMsg::Ping { .. } | ClientMsg::History { .. } | ClientMsg::HistoryPage { .. }, _) => None,
            (ClientMsg::CreateRoom { .. } | ClientMsg::JoinRoom { .. } | ClientMsg::QuickMatch, Some(_)) => {
                Some(Err(Refusal::new(ErrorCode::AlreadyInRoom, "you are already in a room — leave it first")))
            }
            (_, Some((_, home))) => {
                let op = NodeMsg::Op { peer, gateway: cluster.node.clone(), name, ip: ip.to_string(), msg: msg.clone(), quick: None };
                let held = self.sessions.get_mut(&peer).filter(|s| s.cl().rehoming).map(|mut s| s.cl_mut().held.push(op.clone())).is_some();
                if !held {
                    cluster.send(&home, op);
                }
                Some(Ok(()))
            }
            (ClientMsg::JoinRoom { code }, None) if !local_room => {
                let code = rooms::normalize_code(code)?;
                // A room made a moment ago may not be in Redis yet: look twice more.
                for attempt in 0..3 {
                    if self.rooms.contains_key(&code) {
                        return None;
                    }
                    match cluster.home_of(&code).await {
                        Ok(Some(home)) if home != cluster.node => {
                            let msg = ClientMsg::JoinRoom { code };
                            cluster.send(&home, NodeMsg::Op { peer, gateway: cluster.node.clone(), name, ip: ip.to_string(), msg, quick: None });
                            return Some(Ok(()));
                        }
                        Ok(Some(_)) => return None,
                        Ok(None) if attempt < 2 => tokio::time::sleep(Duration::from_millis(50)).await,
                        Ok(None) => return None,
                        Err(e) => return Some(Err(unavailable(&e))),
                    }
                }
                None
            }
            (ClientMsg::QuickMatch, None) if !local_room => Some(self.quick_match_cluster(peer, ip, 0).await),
            _ => None,
        }
    }

    /// Quick match across the cluster: the fullest open public room of any node, or a new
    /// public room here (one node at a time creates, so simultaneous quick matches meet).
    fn quick_match_cluster(self: &Arc<Self>, peer: PeerId, ip: IpAddr, attempt: u8) -> futures_util::future::BoxFuture<'static, Result<(), Refusal>> {
        let hub = Arc::clone(self);
        Box::pin(async move {
            let Some(cluster) = hub.cluster.get().cloned() else { return hub.quick_match(peer) };
            for attempt in attempt..QUICK_ATTEMPTS {
                match cluster.quick_choice(hub.config.room_cap).await.map_err(|e| unavailable(&e))? {
                    QuickChoice::Join(code) => match cluster.home_of(&code).await.map_err(|e| unavailable(&e))? {
                        Some(home) if home == cluster.node => match hub.join_room(peer, &code, ip) {
                            Ok(()) => return Ok(()),
                            Err(r) if r.another_room_may_do() => continue,
                            Err(r) => return Err(r),
                        },
                        Some(home) => {
                            let name = hub.sessions.get(&peer).map(|s| s.name.clone()).unwrap_or_default();
                            let msg = ClientMsg::JoinRoom { code };
                            let op = NodeMsg::Op { peer, gateway: cluster.node.clone(), name, ip: ip.to_string(), msg, quick: Some(attempt) };
                            cluster.send(&home, op);
                            return Ok(());
                        }
                        None => {
                            // Gone (its record expired with a cluster that stopped): out of the pool.
                            if let Err(e) = cluster.forget_quick(&code).await {
                                tracing::debug!(code = %code, "forgetting a stale quick-match room: {e}");
                            }
                            continue;
                        }
                    },
                    QuickChoice::Create => {
                        let created = hub.create_room_as(peer, RoomSettings::default(), RoomVisibility::Public);
                        if created.is_ok()
                            && let Some(room) = hub.room_of(peer)
                        {
                            hub.mirror_now(&room).await;
                        }
                        if let Err(e) = cluster.quick_created().await {
                            tracing::warn!("releasing the quick-match lock: {e}");
                        }
                        return created;
                    }
                }
            }
            Err(Refusal::new(ErrorCode::RoomFull, "every open room filled up meanwhile — try quick match again"))
        })
    }

    /// One client message about rooms, applied here (for a local connection, or a remote
    /// player of a room homed here).
    pub fn apply(self: &Arc<Self>, peer: PeerId, msg: ClientMsg, ip: IpAddr) -> Result<(), Refusal> {
        match msg {
            ClientMsg::Hello { .. } => Err(Refusal::new(ErrorCode::BadHandshake, "Hello was already received on this connection")),
            ClientMsg::CreateRoom { settings } => self.create_room(peer, settings),
            ClientMsg::JoinRoom { code } => self.join_room(peer, &code, ip),
            ClientMsg::QuickMatch => self.quick_match(peer),
            ClientMsg::LeaveRoom => self.leave_room(peer),
            ClientMsg::UpdateSettings { settings } => self.update_settings(peer, settings),
            ClientMsg::SetVisibility { visibility } => self.set_visibility(peer, visibility),
            ClientMsg::SetLoading { stage, progress } => self.set_loading(peer, stage, progress),
            ClientMsg::SetReady { ready } => self.set_ready(peer, ready),
            ClientMsg::StartGame { force } => self.start_game(peer, force, ip),
            ClientMsg::ReportResult { report } => self.report_result(peer, report),
            ClientMsg::BackToLobby => self.back_to_lobby(peer),
            ClientMsg::Signal { to, payload } => self.relay(peer, to, payload, Instant::now()),
            ClientMsg::LinkPaths { direct, relayed } => self.link_paths(peer, direct, relayed),
            ClientMsg::SetLocalSeats { names } => self.set_local_seats(peer, names),
            // Answered by the connection itself.
            ClientMsg::Ping { .. } | ClientMsg::History { .. } | ClientMsg::HistoryPage { .. } => Ok(()),
        }
    }

    // ---- messages from other nodes ------------------------------------------------------

    fn on_node_msg(self: &Arc<Self>, msg: NodeMsg) {
        let Some(cluster) = self.cluster.get().cloned() else { return };
        match msg {
            NodeMsg::Op { peer, gateway, name, ip, msg, quick } => {
                let outbox = self.proxy(peer, &gateway, &name, &cluster);
                let result = self.apply(peer, msg, node_ip(&ip));
                if let Err(refusal) = result {
                    match quick {
                        Some(attempt) if refusal.another_room_may_do() => {
                            cluster.send(&gateway, NodeMsg::QuickRetry { peer, attempt: attempt + 1 });
                        }
                        _ => outbox.refuse(refusal, &self.metrics),
                    }
                }
                self.room_changed(peer);
            }
            NodeMsg::Reattach { peer, gateway, name, room: had_room } => {
                let room = self.room_of(peer).filter(|r| r.lock().is_member(peer));
                let Some(room) = room else {
                    // This node held the player's session as its gateway: pass it on to the
                    // room's home and forget the session here (the player moved).
                    let (remote, local) = match self.sessions.get(&peer) {
                        Some(s) => (s.cl().remote.clone(), s.outbox.as_ref().is_none_or(|o| o.gateway().is_none())),
                        None => (None, false),
                    };
                    let onward = remote.filter(|(_, home)| *home != cluster.node);
                    // The player's old session here (as its gateway, or without a room) moved.
                    if (onward.is_some() || local)
                        && let Some((_, s)) = self.sessions.remove(&peer)
                    {
                        self.tokens.remove(&s.token);
                    }
                    if let Some((code, home)) = onward {
                        cluster.send(&home, NodeMsg::Reattach { peer, gateway, name, room: Some(code) });
                        return;
                    }
                    cluster.send(&gateway, NodeMsg::InRoom { peer, room: None });
                    if had_room.is_some()
                        && let Some(frame) = rooms::encode(&ServerMsg::LeftRoom { reason: LeaveReason::ConnectionLost })
                    {
                        cluster.send(&gateway, NodeMsg::Deliver { peer, frame: frame.to_vec() });
                    }
                    return;
                };
                let old_token = self.sessions.get_mut(&peer).map(|mut s| std::mem::take(&mut s.token)).unwrap_or_default();
                if !old_token.is_empty() {
                    // The player's old local connection was here: its token is used up, and
                    // the session is now the proxy of a player of another gateway.
                    self.tokens.remove(&old_token);
                }
                let outbox = Outbox::remote(self.next_conn_id(), gateway.clone(), peer, cluster.sender());
                if let Some(mut s) = self.sessions.get_mut(&peer) {
                    s.outbox = Some(outbox.clone());
                    s.drop_gen = s.drop_gen.wrapping_add(1);
                    s.name = name;
                    s.cl_mut().announced = None;
                }
                {
                    let mut g = room.lock();
                    if let Some(seat) = g.seat_mut(peer) {
                        seat.outbox = Some(outbox);
                    }
                    g.broadcast_snapshot(&self.metrics);
                }
                tracing::info!(peer, gateway = %gateway, "player reconnected through another node");
                self.room_changed(peer);
            }
            NodeMsg::Gone { peer, gateway } => {
                let conn = self.sessions.get(&peer).and_then(|s| s.outbox.as_ref().filter(|o| o.gateway() == Some(gateway.as_str())).map(|o| o.conn_id));
                if let Some(conn_id) = conn {
                    self.detach(peer, conn_id);
                }
            }
            NodeMsg::Deliver { peer, frame } => {
                if let Some(outbox) = self.outbox_of(peer).filter(|o| o.gateway().is_none()) {
                    outbox.push(Outbound::Frame(bytes::Bytes::from(frame)), &self.metrics);
                }
            }
            NodeMsg::InRoom { peer, room } => {
                if let Some(mut s) = self.sessions.get_mut(&peer) {
                    s.cl_mut().remote = room.filter(|(_, home)| *home != cluster.node);
                }
                self.save_token(peer);
            }
            NodeMsg::Kick { peer } => {
                if let Some(outbox) = self.outbox_of(peer).filter(|o| o.gateway().is_none()) {
                    outbox.kick();
                }
            }
            NodeMsg::QuickRetry { peer, attempt } => {
                let hub = Arc::clone(self);
                let ip = IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);
                tokio::spawn(async move {
                    if let Err(refusal) = hub.quick_match_cluster(peer, ip, attempt).await
                        && let Some(outbox) = hub.outbox_of(peer)
                    {
                        outbox.refuse(refusal, &hub.metrics);
                    }
                });
            }
        }
    }

    /// A message no node received: its node stopped. A player's message to its room's home
    /// waits until the room's new home is known ([`Hub::rehome`]).
    fn undelivered(self: &Arc<Self>, node: &str, msg: NodeMsg) {
        let peer = match &msg {
            NodeMsg::Op { peer, .. } | NodeMsg::Reattach { peer, .. } => *peer,
            _ => return,
        };
        let start = match self.sessions.get_mut(&peer) {
            Some(mut s) if s.cl().remote.as_ref().is_some_and(|(_, home)| home == node) => {
                if matches!(msg, NodeMsg::Op { .. }) {
                    s.cl_mut().held.push(msg);
                }
                !std::mem::replace(&mut s.cl_mut().rehoming, true)
            }
            _ => false,
        };
        if start {
            tracing::info!(peer, home = node, "the room's home does not answer: waiting for the node that takes it over");
            tokio::spawn(Arc::clone(self).rehome(peer, node.to_owned()));
        }
    }

    /// Finds the new home of `peer`'s room after `old` stopped (polling Redis until another
    /// node took the room over), reattaches the player there and sends what waited.
    async fn rehome(self: Arc<Self>, peer: PeerId, old: NodeId) {
        let Some(cluster) = self.cluster.get().cloned() else { return };
        let deadline = Instant::now() + NODE_GONE + Duration::from_secs(5);
        while Instant::now() < deadline && !self.shutdown.is_cancelled() {
            let Some((code, name)) = self.sessions.get(&peer).and_then(|s| s.cl().remote.as_ref().map(|(c, _)| (c.clone(), s.name.clone()))) else {
                return;
            };
            let home = if code.is_empty() { Ok(None) } else { cluster.home_of(&code).await };
            match home {
                Ok(Some(home)) if home != old => {
                    let held = match self.sessions.get_mut(&peer) {
                        Some(mut s) => {
                            s.cl_mut().rehoming = false;
                            s.cl_mut().remote = (home != cluster.node).then(|| (code.clone(), home.clone()));
                            if home == cluster.node {
                                s.room = self.rooms.get(&code).map(|r| Arc::clone(r.value()));
                            }
                            std::mem::take(&mut s.cl_mut().held)
                        }
                        None => return,
                    };
                    tracing::info!(peer, code = %code, home = %home, held = held.len(), "the room has a new home");
                    if home == cluster.node {
                        // Taken over by this node: the player's seat gets its connection here.
                        self.reconnect_local_seat(peer);
                        for msg in held {
                            if let NodeMsg::Op { msg, ip, .. } = msg
                                && let Err(refusal) = self.apply(peer, msg, node_ip(&ip))
                                    && let Some(outbox) = self.outbox_of(peer)
                                {
                                    outbox.refuse(refusal, &self.metrics);
                                }
                        }
                    } else {
                        cluster.send(&home, NodeMsg::Reattach { peer, gateway: cluster.node.clone(), name, room: Some(code) });
                        for msg in held {
                            cluster.send(&home, msg);
                        }
                    }
                    return;
                }
                Ok(None) if code.is_empty() => break,
                Ok(_) => {}
                Err(e) => tracing::debug!(peer, "looking for a room's new home: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        if let Some(mut s) = self.sessions.get_mut(&peer) {
            s.cl_mut().rehoming = false;
            s.cl_mut().remote = None;
            s.cl_mut().held.clear();
        }
        tracing::warn!(peer, "the room's home stopped and no node took the room over");
        if let Some(outbox) = self.outbox_of(peer) {
            outbox.send(&ServerMsg::LeftRoom { reason: LeaveReason::ConnectionLost }, &self.metrics);
        }
    }

    /// `peer` is connected here and its room is now homed here: its seat gets this
    /// connection.
    fn reconnect_local_seat(&self, peer: PeerId) {
        let (Some(room), Some(outbox)) = (self.room_of(peer), self.outbox_of(peer).filter(|o| o.gateway().is_none())) else { return };
        let mut g = room.lock();
        if let Some(seat) = g.seat_mut(peer) {
            seat.outbox = Some(outbox);
            g.broadcast_snapshot(&self.metrics);
        }
    }

    /// The session of `peer`, a player connected at `gateway`, on its room's home: made on
    /// its first message here, its outbox pointed at the gateway.
    fn proxy(&self, peer: PeerId, gateway: &NodeId, name: &str, cluster: &Cluster) -> Outbox {
        if let Some(mut s) = self.sessions.get_mut(&peer) {
            if let Some(outbox) = s.outbox.as_ref().filter(|o| o.gateway() == Some(gateway.as_str())) {
                return outbox.clone();
            }
            if let Some(local) = s.outbox.as_ref().filter(|o| o.gateway().is_none()) {
                // Connected here too (it moved back): the local connection wins.
                return local.clone();
            }
            let outbox = Outbox::remote(self.next_conn_id(), gateway.clone(), peer, cluster.sender());
            s.outbox = Some(outbox.clone());
            return outbox;
        }
        let outbox = Outbox::remote(self.next_conn_id(), gateway.clone(), peer, cluster.sender());
        self.sessions.insert(peer, Session::new(name.to_owned(), String::new(), Some(outbox.clone()), Bucket::full(self.config.rounds_burst)));
        outbox
    }

    // ---- mirroring rooms ------------------------------------------------------------------

    /// Called for every new room: it will be mirrored.
    pub(super) fn watch_room(&self, room: &Room) {
        if let Some(mirror) = self.mirror.get() {
            room.set_mirror(mirror.clone());
        }
    }

    /// Writes one room's record now (quick match: before other nodes may pick it).
    async fn mirror_now(&self, room: &Arc<Room>) {
        if let Some(cluster) = self.cluster.get() {
            mirror(cluster, room, true).await;
        }
    }

    /// Mirrors changed rooms to Redis (coalescing bursts of changes), and forgets the
    /// rooms that closed.
    async fn mirror_rooms(self: Arc<Self>, mut changed: mpsc::UnboundedReceiver<String>) {
        let Some(cluster) = self.cluster.get().cloned() else { return };
        let mut registered: HashSet<String> = HashSet::new();
        loop {
            let first = tokio::select! {
                c = changed.recv() => c,
                () = self.shutdown.cancelled() => None,
            };
            let Some(first) = first else { return };
            let mut codes: HashSet<String> = HashSet::from([first]);
            tokio::time::sleep(Duration::from_millis(2)).await;
            while let Ok(c) = changed.try_recv() {
                codes.insert(c);
            }
            // "" asks to register every room again (Redis came back, maybe empty).
            if codes.remove("") {
                registered.clear();
            }
            for code in codes {
                let room = self.rooms.get(&code).map(|r| Arc::clone(r.value()));
                match room {
                    Some(room) => {
                        if mirror(&cluster, &room, !registered.contains(&code)).await {
                            registered.insert(code);
                        }
                    }
                    None => {
                        registered.remove(&code);
                        if let Err(e) = cluster.remove_room(&code).await {
                            tracing::warn!(code = %code, "forgetting a room: {e}");
                        }
                    }
                }
            }
        }
    }

    // ---- nodes that stop ------------------------------------------------------------------

    async fn watch_nodes(self: Arc<Self>) {
        let Some(cluster) = self.cluster.get().cloned() else { return };
        let mut tick = tokio::time::interval(WATCH_EVERY);
        let mut n = 0u32;
        let mut redis_was_down = false;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = self.shutdown.cancelled() => return,
            }
            match cluster.heartbeat().await {
                Ok(true) => {}
                Ok(false) => redis_was_down = true,
                Err(e) => {
                    tracing::warn!("cluster heartbeat: {e}");
                    redis_was_down = true;
                    continue;
                }
            }
            // Ids in use here include other nodes' players (seats of rooms homed here).
            let highest = self.sessions.iter().map(|s| *s.key()).max().unwrap_or(0);
            self.highest_peer.fetch_max(highest, Ordering::Relaxed);
            if let Err(e) = cluster.raise_peer_seq(highest).await {
                tracing::warn!("cluster peer ids: {e}");
            }
            if std::mem::take(&mut redis_was_down) {
                // Redis may have lost everything: write every room and token again.
                tracing::info!("Redis is back: mirroring this node's rooms and tokens again");
                if let Some(mirror) = self.mirror.get() {
                    let _ = mirror.send(String::new());
                    for room in self.rooms.iter() {
                        let _ = mirror.send(room.key().clone());
                    }
                }
                self.token_refresh.notify_one();
            }
            match cluster.dead_nodes().await {
                Ok(dead) => {
                    for node in dead {
                        self.node_stopped(&cluster, &node).await;
                    }
                }
                Err(e) => tracing::warn!("looking for stopped nodes: {e}"),
            }
            n += 1;
            if n.is_multiple_of(ROOM_REFRESH.as_secs() as u32) {
                let codes: Vec<String> = self.rooms.iter().map(|r| r.key().clone()).collect();
                for chunk in codes.chunks(1000) {
                    if let Err(e) = cluster.refresh_rooms(chunk).await {
                        tracing::warn!("refreshing room records: {e}");
                        break;
                    }
                }
            }
            if n.is_multiple_of(COUNTS_EVERY) {
                let players = self.sessions.iter().filter(|s| s.outbox.as_ref().is_some_and(|o| o.gateway().is_none())).count();
                if let Err(e) = cluster.publish_counts(players as u64).await {
                    tracing::debug!("cluster counts: {e}");
                }
            }
        }
    }

    /// `node` stopped: the players it connected wait for their reconnect here, and the
    /// rooms it was home to are taken over (by whichever node is first, per room).
    async fn node_stopped(self: &Arc<Self>, cluster: &Arc<Cluster>, node: &str) {
        // Players connected here whose room was homed there: find the new home.
        let homeless: Vec<PeerId> = self
            .sessions
            .iter_mut()
            .filter(|s| s.cl().remote.as_ref().is_some_and(|(_, home)| home == node))
            .filter_map(|mut s| (!std::mem::replace(&mut s.cl_mut().rehoming, true)).then(|| *s.key()))
            .collect();
        for peer in homeless {
            tokio::spawn(Arc::clone(self).rehome(peer, node.to_owned()));
        }
        let stranded: Vec<(PeerId, u64)> = self
            .sessions
            .iter()
            .filter_map(|s| s.outbox.as_ref().filter(|o| o.gateway() == Some(node)).map(|o| (*s.key(), o.conn_id)))
            .collect();
        for (peer, conn_id) in stranded {
            self.detach(peer, conn_id);
        }
        match cluster.rooms_of(node).await {
            Ok(codes) => {
                for code in codes {
                    match cluster.take_over(&code, node).await {
                        Ok(Some(bytes)) => match wire::decode::<RoomRecord>(&bytes).filter(|r| r.version == RECORD_VERSION) {
                            Some(record) => self.adopt_room(cluster, record, node),
                            None => tracing::error!(code = %code, "the room's record is unreadable; it is lost"),
                        },
                        Ok(None) => {}
                        Err(e) => tracing::warn!(code = %code, "taking over a room: {e}"),
                    }
                }
            }
            Err(e) => tracing::warn!(node, "rooms of a stopped node: {e}"),
        }
        if let Err(e) = cluster.forget_node(node).await {
            tracing::debug!(node, "forgetting a node: {e}");
        }
        let _ = cluster.forget_counts(node).await;
        tracing::info!(node, "node stopped; its rooms and players were taken over");
    }

    /// Rebuilds a room taken over from `dead`: seats whose player is connected here or at
    /// a live node go on, the others wait for their player's reconnect; timers are armed
    /// again.
    fn adopt_room(self: &Arc<Self>, cluster: &Arc<Cluster>, record: RoomRecord, dead: &str) {
        let code = record.code.clone();
        let me = cluster.node.clone();
        let mut gateways: Vec<(PeerId, Option<NodeId>)> = Vec::new();
        let room = Arc::new(Room::from_record(record.clone(), |seat| {
            let local = self.sessions.get(&seat.id).and_then(|s| s.outbox.clone().filter(|o| o.gateway().is_none()));
            let outbox = match (&seat.gateway, local) {
                (_, Some(local)) => Some(local),
                (Some(g), None) if *g != me && g != dead => Some(Outbox::remote(self.next_conn_id(), g.clone(), seat.id, cluster.sender())),
                _ => None,
            };
            gateways.push((seat.id, outbox.as_ref().map(|o| o.gateway().unwrap_or(&me).to_owned())));
            outbox
        }));
        self.watch_room(&room);
        self.rooms.insert(code.clone(), Arc::clone(&room));
        for seat in &record.seats {
            let outbox = room.lock().seat(seat.id).and_then(|s| s.outbox.clone());
            match self.sessions.get_mut(&seat.id) {
                Some(mut s) => {
                    s.room = Some(Arc::clone(&room));
                    s.cl_mut().remote = None;
                    s.cl_mut().announced = None;
                    if s.outbox.as_ref().is_none_or(|o| o.gateway().is_some()) {
                        s.outbox = outbox.clone();
                    }
                }
                None => {
                    let mut s = Session::new(seat.name.clone(), String::new(), outbox.clone(), Bucket::full(self.config.rounds_burst));
                    s.room = Some(Arc::clone(&room));
                    self.sessions.insert(seat.id, s);
                }
            }
            if outbox.is_none() {
                self.arm_grace(seat.id);
            }
            self.room_changed(seat.id);
        }
        tracing::info!(code = %code, from = dead, seats = record.seats.len(), ?gateways, "room taken over");
        let mut g = room.lock();
        g.broadcast_snapshot(&self.metrics);
        if g.state.phase == RoomPhase::Loading {
            let gen_ = g.state.loading_gen;
            drop(g);
            self.arm_ready_timeout(&room, gen_);
        } else {
            self.after_membership_change(&room, &mut g);
        }
    }

    // ---- stopping ----------------------------------------------------------------------------

    /// A clean stop in cluster mode: every room is mirrored once more and this node leaves
    /// the cluster, so the others take its rooms over at once; its players are not told to
    /// leave their rooms (they reconnect through the load balancer to another node).
    pub async fn leave_cluster(&self) {
        let Some(cluster) = self.cluster.get() else { return };
        let rooms: Vec<Arc<Room>> = self.rooms.iter().map(|r| Arc::clone(r.value())).collect();
        for room in &rooms {
            self.mirror_now(room).await;
        }
        match cluster.leave().await {
            Ok(()) => tracing::info!(node = %cluster.node, rooms = rooms.len(), "left the cluster; its rooms go to the other nodes"),
            Err(e) => tracing::warn!("leaving the cluster: {e} (the others take over when this node's key expires)"),
        }
    }

    /// Cluster mode: why this node is unhealthy, if it is.
    pub fn cluster_problem(&self) -> Option<String> {
        self.cluster.get().and_then(|c| c.health_problem())
    }
}
