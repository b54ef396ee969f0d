//! One task per websocket connection: handshake, then a loop that reads client frames,
//! writes queued frames, keeps the connection alive and enforces the limits.
//!
//! Writes never block the loop: everything for the client (room changes, relayed signals,
//! the connection's own replies, pings) goes through its bounded [`Queue`], and one writer
//! future, polled beside the reads, drains it with a deadline. A client whose queue
//! overflows or whose socket does not take a batch within `--write-timeout-ms` is dropped
//! (`TooSlow`), and the room sees it as disconnected.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt as _, StreamExt as _};
use hyper_util::rt::TokioIo;
use shared::protocol::signal::{ClientMsg, ErrorCode, PROTOCOL_VERSION, PeerId, ServerMsg};
use shared::protocol::{self, CodecError, MAX_FRAME_BYTES};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_util::sync::CancellationToken;

use crate::hub::{Hub, now_ms};
use crate::metrics::{ErrorKind, Limit};
use crate::net::{FrameWatch, SlotHandle, WatchIo};
use crate::rooms::{Outbound, Outbox, Queue, Refusal};

pub(crate) type Ws = WebSocketStream<WatchIo<TokioIo<hyper::upgrade::Upgraded>>>;
type Sink = SplitSink<Ws, Message>;
type Stream = SplitStream<Ws>;

/// Websocket close codes (RFC 6455 §7.4.1).
mod close {
    pub const GOING_AWAY: u16 = 1001;
    pub const UNSUPPORTED: u16 = 1003;
    pub const POLICY: u16 = 1008;
    pub const TOO_BIG: u16 = 1009;
    /// RFC 6455 "try again later" (a cluster node that cannot reach Redis).
    pub const TRY_AGAIN: u16 = 1013;
}

/// How long a closing connection waits for the client's close reply.
const CLOSE_LINGER: Duration = Duration::from_millis(500);
/// Most frames written in one batch before flushing (and re-arming the write deadline).
const WRITE_BATCH: usize = 64;
/// History requests per second one connection may make (each is a database query), and
/// their burst.
const HISTORY_RATE: u32 = 2;
const HISTORY_BURST: u32 = 10;

/// Why the read loop stopped.
enum Exit {
    /// The client closed or the socket failed: nothing more to send.
    Gone,
    /// Close with this frame (after sending an error, when there is one).
    Close { error: Option<(ErrorCode, String)>, code: u16, reason: &'static str },
    /// The client does not take its messages: close without waiting on it.
    Slow(Limit),
}

impl Exit {
    fn refuse(code: ErrorCode, message: impl Into<String>, close_code: u16, reason: &'static str) -> Self {
        Exit::Close { error: Some((code, message.into())), code: close_code, reason }
    }
}

/// Token bucket for the per-connection message rate limit.
struct RateLimit {
    tokens: f64,
    rate: f64,
    burst: f64,
    last: Instant,
    /// Messages dropped since the last accepted one.
    dropped: u32,
    last_warning: Option<Instant>,
}

impl RateLimit {
    fn new(rate: u32, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        Self { tokens: burst, rate: f64::from(rate), burst, last: Instant::now(), dropped: 0, last_warning: None }
    }

    fn take(&mut self) -> bool {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * self.rate).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            self.dropped = 0;
            true
        } else {
            self.dropped += 1;
            false
        }
    }

    /// Whether to tell the client (at most once a second).
    fn should_warn(&mut self) -> bool {
        let now = Instant::now();
        let warn = self.last_warning.is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1));
        if warn {
            self.last_warning = Some(now);
        }
        warn
    }
}

/// Serves one upgraded websocket until it closes. The socket is split before the returned
/// future is made, so that future holds only the connection's state (it is what stays
/// resident per idle client).
pub fn serve(hub: Arc<Hub>, ws: Ws, ip: IpAddr, watch: Arc<FrameWatch>, slot: SlotHandle) -> impl Future<Output = ()> + Send {
    hub.metrics.connection_opened();
    let (sink, stream) = ws.split();
    let mut conn = Conn { hub, sink, stream, ip, watch };
    async move {
        conn.run().await;
        conn.hub.metrics.connection_closed();
        drop(slot);
    }
}

/// A 16-byte rate limit (generic cell rate algorithm) for rarely used, costly requests.
#[derive(Default)]
struct Gcra {
    /// When the next request would be on schedule; `None` before the first.
    tat: Option<Instant>,
}

impl Gcra {
    fn take(&mut self, per_sec: u32, burst: u32) -> bool {
        let now = Instant::now();
        let interval = Duration::from_secs(1) / per_sec.max(1);
        let tat = self.tat.map_or(now, |t| t.max(now));
        if tat > now + interval * burst.max(1).saturating_sub(1) {
            return false;
        }
        self.tat = Some(tat + interval);
        true
    }
}

struct Conn {
    hub: Arc<Hub>,
    sink: Sink,
    stream: Stream,
    ip: IpAddr,
    watch: Arc<FrameWatch>,
}

fn decode_error(e: &CodecError) -> Exit {
    match e {
        CodecError::TooLarge { len, max } => Exit::refuse(
            ErrorCode::TooLarge,
            format!("frame of {len} bytes is over the {max}-byte limit"),
            close::TOO_BIG,
            "frame too large",
        ),
        other => Exit::refuse(ErrorCode::Malformed, format!("{other} — is the client up to date?"), close::POLICY, "malformed frame"),
    }
}

fn limit_exit(limit: Limit) -> Exit {
    match limit {
        Limit::TooManyFragments => Exit::refuse(
            ErrorCode::Malformed,
            "a message came in too many fragments — send each message as one frame",
            close::POLICY,
            "too many fragments",
        ),
        _ => Exit::refuse(
            ErrorCode::Malformed,
            "a frame was started but not finished in time",
            close::POLICY,
            "unfinished message",
        ),
    }
}

fn transport_error(hub: &Hub, ip: IpAddr, e: &tungstenite::Error) -> Exit {
    // The websocket layer refuses frames over its own size cap before we see them.
    if matches!(e, tungstenite::Error::Capacity(_)) {
        return Exit::refuse(ErrorCode::TooLarge, format!("frame is over the {MAX_FRAME_BYTES}-byte limit"), close::TOO_BIG, "frame too large");
    }
    hub.metrics.error(ErrorKind::Transport);
    tracing::debug!(error = %e, %ip, "websocket error");
    Exit::Gone
}

/// What handling one client message needs (no socket: replies go through the outbox).
struct Ctx<'a> {
    hub: &'a Arc<Hub>,
    ip: IpAddr,
    peer: PeerId,
    outbox: &'a Outbox,
}

impl Conn {
    /// The connection's life. Only [`Conn::session`] stays resident while a client idles,
    /// so everything else (handshake, per-frame work, closing) runs in boxed futures that
    /// exist only while they run: this keeps each idle connection's task small.
    async fn run(&mut self) {
        let (name, token) = match Box::pin(self.handshake()).await {
            Ok(hello) => hello,
            Err(exit) => return Box::pin(self.finish(exit)).await,
        };
        // Boxed, like the handshake: an idle connection's task does not carry its state.
        let Some((peer, conn_id, queue, outbox, kick)) = Box::pin(self.open_session(name, token)).await else { return };
        let exit = self.session(peer, &queue, &outbox, &kick).await;
        self.hub.detach(peer, conn_id);
        Box::pin(async {
            if let Exit::Close { .. } = exit {
                // Flush what the room already queued for us (e.g. LeftRoom on shutdown).
                let _ = tokio::time::timeout(self.hub.config.write_timeout().min(Duration::from_secs(1)), async {
                    while let Some(out) = queue.pop(&self.hub.metrics) {
                        if self.sink.feed(to_message(out)).await.is_err() {
                            break;
                        }
                    }
                    let _ = self.sink.flush().await;
                })
                .await;
            }
            queue.clear(&self.hub.metrics);
            self.finish(exit).await;
        })
        .await;
    }

    /// Waits for a valid `Hello`; returns the checked name and the reconnect token.
    async fn handshake(&mut self) -> Result<(String, Option<String>), Exit> {
        let hub = Arc::clone(&self.hub);
        let hello = tokio::select! {
            r = tokio::time::timeout(hub.config.handshake_timeout(), self.read_msg()) => r,
            () = hub.shutdown.cancelled() => return Err(Exit::Close { error: None, code: close::GOING_AWAY, reason: "server shutting down" }),
        };
        match hello {
            Err(_) => Err(Exit::refuse(ErrorCode::BadHandshake, "no Hello within the handshake timeout", close::POLICY, "handshake timeout")),
            Ok(Err(exit)) => Err(exit),
            Ok(Ok(ClientMsg::Hello { protocol_version, name, reconnect_token })) => {
                if protocol_version != PROTOCOL_VERSION {
                    let msg = format!(
                        "this server speaks protocol {PROTOCOL_VERSION}, the client speaks {protocol_version} — update the game so both match"
                    );
                    return Err(Exit::refuse(ErrorCode::BadVersion, msg, close::POLICY, "protocol version mismatch"));
                }
                match crate::names::normalize(&name) {
                    Ok(name) => Ok((name, reconnect_token)),
                    Err(msg) => {
                        hub.metrics.limit(Limit::NameRefused);
                        Err(Exit::refuse(ErrorCode::InvalidName, msg, close::POLICY, "invalid name"))
                    }
                }
            }
            Ok(Ok(_)) => Err(Exit::refuse(ErrorCode::BadHandshake, "the first message must be Hello", close::POLICY, "no handshake")),
        }
    }

    /// Cluster mode's preparation (a token from another node, a cluster-wide id), then
    /// [`Conn::welcome`]; `None` once the connection was refused (the cluster cannot give
    /// an id) and closed.
    async fn open_session(&mut self, name: String, token: Option<String>) -> Option<(PeerId, u64, Arc<Queue>, Outbox, CancellationToken)> {
        match self.hub.cluster_prepare(token.as_deref()).await {
            Ok(new_id) => Some(self.welcome(name, token, new_id)),
            Err(message) => {
                self.finish(Exit::refuse(ErrorCode::Internal, message, close::TRY_AGAIN, "cluster unavailable")).await;
                None
            }
        }
    }

    /// Attaches the session and queues `Welcome` first in line.
    fn welcome(&mut self, name: String, token: Option<String>, new_id: Option<PeerId>) -> (PeerId, u64, Arc<Queue>, Outbox, CancellationToken) {
        let hub = Arc::clone(&self.hub);
        let conn_id = hub.next_conn_id();
        let queue = Arc::new(Queue::new(hub.config.outbox_frames, hub.config.outbox_bytes));
        let kick = hub.shutdown.child_token();
        let outbox = Outbox::new(conn_id, Arc::clone(&queue), kick.clone());

        // Anything the room sends after attaching is queued behind Welcome (pushed to the
        // front below), so Welcome precedes the snapshot a resumed seat gets.
        let attached = hub.attach_as(name, token, outbox.clone(), new_id);
        let welcome = ServerMsg::Welcome {
            peer_id: attached.peer_id,
            reconnect_token: attached.token,
            server_time_ms: now_ms(),
            // Fresh TURN credentials with every Welcome, so a reconnect renews them.
            ice_servers: crate::turn::ice_servers(
                &hub.ice_servers,
                &hub.config.turn_urls,
                hub.config.turn_secret.as_ref(),
                std::time::Duration::from_secs(hub.config.turn_ttl_secs),
                attached.peer_id,
            ),
        };
        if let Some(frame) = crate::rooms::encode(&welcome) {
            queue.push_front(Outbound::Frame(frame), &hub.metrics);
        }
        if attached.stale_token {
            hub.metrics.error(ErrorKind::Code(ErrorCode::StaleToken));
            let message = "the reconnect token is unknown or expired: your seat is gone — you join as a new player".to_owned();
            if let Some(frame) = crate::rooms::encode(&ServerMsg::Error { code: ErrorCode::StaleToken, message }) {
                queue.push_front(Outbound::Frame(frame), &hub.metrics);
            }
        }
        tracing::debug!(peer = attached.peer_id, conn = conn_id, ip = %self.ip, "connected");
        (attached.peer_id, conn_id, queue, outbox, kick)
    }

    async fn session(&mut self, peer: PeerId, queue: &Queue, outbox: &Outbox, kick: &CancellationToken) -> Exit {
        let hub = Arc::clone(&self.hub);
        let mut rate = RateLimit::new(hub.config.msg_rate, hub.config.msg_burst);
        let mut history_rate = Gcra::default();
        let mut keepalive = tokio::time::interval_at(tokio::time::Instant::now() + hub.config.ping_interval(), hub.config.ping_interval());
        keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_seen = Instant::now();
        let unfinished_limit = hub.config.unfinished_message_timeout();
        let Conn { sink, stream, watch, ip, .. } = self;
        let ctx = Ctx { hub: &hub, ip: *ip, peer, outbox };
        let writer = write_loop(sink, queue, &hub);
        tokio::pin!(writer);
        let kicked = || {
            if hub.shutdown.is_cancelled() {
                hub.notify_shutdown(peer);
                return Exit::Close { error: None, code: close::GOING_AWAY, reason: "server shutting down" };
            }
            if queue.overflowed() {
                return Exit::Slow(Limit::OutboxFull);
            }
            Exit::Close { error: None, code: close::POLICY, reason: "connection replaced" }
        };
        loop {
            tokio::select! {
                biased;
                () = kick.cancelled() => return kicked(),
                exit = &mut writer => return exit,
                limit = watch.tripped(unfinished_limit) => {
                    hub.metrics.limit(limit);
                    return limit_exit(limit);
                }
                frame = stream.next() => {
                    last_seen = Instant::now();
                    let handling = Box::pin(on_frame(&ctx, frame, &mut rate, &mut history_rate));
                    tokio::pin!(handling);
                    // Keep writing (and noticing kicks) while the frame is handled: a join
                    // may wait on purpose.
                    let done = tokio::select! {
                        biased;
                        () = kick.cancelled() => return kicked(),
                        exit = &mut writer => return exit,
                        done = &mut handling => done,
                    };
                    if let Some(exit) = done {
                        return exit;
                    }
                }
                _ = keepalive.tick() => {
                    if last_seen.elapsed() >= hub.config.idle_timeout() {
                        tracing::debug!(peer, "idle timeout");
                        return Exit::Close { error: None, code: close::GOING_AWAY, reason: "idle timeout" };
                    }
                    outbox.push(Outbound::Ping, &hub.metrics);
                }
            }
        }
    }

    /// Reads the next protocol message (handshake only: no rate limit, no queue).
    async fn read_msg(&mut self) -> Result<ClientMsg, Exit> {
        loop {
            match self.stream.next().await {
                None | Some(Ok(Message::Close(_))) => return Err(Exit::Gone),
                Some(Err(e)) => return Err(transport_error(&self.hub, self.ip, &e)),
                Some(Ok(Message::Binary(b))) => {
                    self.hub.metrics.message_in();
                    return protocol::decode::<ClientMsg>(&b).map_err(|e| decode_error(&e));
                }
                Some(Ok(Message::Text(_))) => {
                    return Err(Exit::refuse(ErrorCode::Malformed, "text frames are not part of the protocol — send binary frames", close::UNSUPPORTED, "text frame"));
                }
                Some(Ok(_)) => {}
            }
        }
    }

    /// Sends the error (if any) and a close frame, then waits briefly for the client's
    /// close reply so the error is not lost to a connection reset. Every write has a
    /// deadline: a client that does not read cannot hold the task here.
    async fn finish(&mut self, exit: Exit) {
        let hub = Arc::clone(&self.hub);
        let deadline = hub.config.write_timeout().min(Duration::from_secs(1));
        let (error, code, reason) = match exit {
            Exit::Gone => return,
            Exit::Close { error, code, reason } => (error, code, reason),
            Exit::Slow(limit) => {
                hub.metrics.slow_dropped();
                if limit == Limit::WriteTimeout {
                    hub.metrics.limit(Limit::WriteTimeout);
                }
                tracing::info!(ip = %self.ip, ?limit, "dropping a client that does not take its messages");
                let message = "you did not take your messages fast enough — the connection is closed".to_owned();
                (Some((ErrorCode::TooSlow, message)), close::POLICY, "too slow")
            }
        };
        let sent = tokio::time::timeout(deadline, async {
            if let Some((code, message)) = error {
                hub.metrics.error(ErrorKind::Code(code));
                if let Some(frame) = crate::rooms::encode(&ServerMsg::Error { code, message }) {
                    self.sink.feed(Message::Binary(frame)).await?;
                }
            }
            let frame = CloseFrame { code: CloseCode::from(code), reason: reason.into() };
            self.sink.send(Message::Close(Some(frame))).await
        })
        .await;
        if !matches!(sent, Ok(Ok(()))) {
            return;
        }
        let _ = tokio::time::timeout(CLOSE_LINGER, async {
            while let Some(Ok(msg)) = self.stream.next().await {
                if matches!(msg, Message::Close(_)) {
                    break;
                }
            }
        })
        .await;
    }
}

fn to_message(out: Outbound) -> Message {
    match out {
        Outbound::Frame(frame) | Outbound::Relay { frame, .. } => Message::Binary(frame),
        Outbound::Ping => Message::Ping(Bytes::new()),
    }
}

/// Drains the queue into the socket for as long as the connection lives. Each batch must be
/// written within the write timeout, or the client counts as too slow.
async fn write_loop(sink: &mut Sink, queue: &Queue, hub: &Hub) -> Exit {
    let deadline = hub.config.write_timeout();
    let mut relayed: Vec<Instant> = Vec::new();
    loop {
        // Boxed: the batch (its timer and the pending write) exists only while it runs, so
        // an idle connection's task stays small.
        let batch = Box::pin(tokio::time::timeout(deadline, async {
            let mut wrote = 0;
            while wrote < WRITE_BATCH {
                let Some(out) = queue.pop(&hub.metrics) else { break };
                if let Outbound::Relay { received, .. } = &out {
                    relayed.push(*received);
                }
                sink.feed(to_message(out)).await?;
                wrote += 1;
            }
            if wrote > 0 {
                sink.flush().await?;
            }
            Ok::<usize, tungstenite::Error>(wrote)
        }))
        .await;
        match batch {
            Err(_) => return Exit::Slow(Limit::WriteTimeout),
            Ok(Err(_)) => return Exit::Gone,
            Ok(Ok(wrote)) => {
                for _ in 0..wrote {
                    hub.metrics.message_out();
                }
                for received in relayed.drain(..) {
                    hub.metrics.relay_latency(received.elapsed());
                }
                if relayed.capacity() > 64 {
                    relayed.shrink_to_fit();
                }
                if wrote == WRITE_BATCH {
                    continue;
                }
            }
        }
        queue.wait().await;
    }
}

/// Handles one frame from the client; `Some` ends the session.
async fn on_frame(
    ctx: &Ctx<'_>,
    frame: Option<Result<Message, tungstenite::Error>>,
    rate: &mut RateLimit,
    history_rate: &mut Gcra,
) -> Option<Exit> {
    let hub = ctx.hub;
    let bytes = match frame {
        None => return Some(Exit::Gone),
        Some(Err(e)) => return Some(transport_error(hub, ctx.ip, &e)),
        Some(Ok(Message::Binary(b))) => b,
        Some(Ok(Message::Text(_))) => {
            return Some(Exit::refuse(
                ErrorCode::Malformed,
                "text frames are not part of the protocol — send binary frames",
                close::UNSUPPORTED,
                "text frame",
            ));
        }
        Some(Ok(Message::Close(_))) => return Some(Exit::Gone),
        Some(Ok(_)) => return None,
    };
    hub.metrics.message_in();
    if !rate.take() {
        hub.metrics.error(ErrorKind::Code(ErrorCode::RateLimited));
        if rate.dropped > hub.config.msg_burst.saturating_mul(10).max(100) {
            return Some(Exit::refuse(ErrorCode::RateLimited, "far too many messages — slow down", close::POLICY, "rate limit"));
        }
        if rate.should_warn() {
            let message = format!("more than {} messages per second — this one was dropped, slow down", hub.config.msg_rate);
            ctx.outbox.send(&ServerMsg::Error { code: ErrorCode::RateLimited, message }, &hub.metrics);
        }
        return None;
    }
    let msg = match protocol::decode::<ClientMsg>(&bytes) {
        Ok(msg) => msg,
        Err(e) => return Some(decode_error(&e)),
    };
    if matches!(msg, ClientMsg::History { .. } | ClientMsg::HistoryPage { .. }) && !history_rate.take(HISTORY_RATE, HISTORY_BURST) {
        hub.metrics.error(ErrorKind::Code(ErrorCode::RateLimited));
        let message = format!("at most {HISTORY_RATE} history requests a second — wait a moment");
        ctx.outbox.send(&ServerMsg::Error { code: ErrorCode::RateLimited, message }, &hub.metrics);
        return None;
    }
    if let Err(refusal) = dispatch(ctx, msg).await {
        hub.metrics.error(ErrorKind::Code(refusal.code));
        ctx.outbox.refuse(refusal, &hub.metrics);
    }
    None
}

async fn dispatch(ctx: &Ctx<'_>, msg: ClientMsg) -> Result<(), Refusal> {
    let (hub, peer) = (ctx.hub, ctx.peer);
    if let ClientMsg::JoinRoom { .. } = msg {
        // Wrong codes from this address slow every join from it down (a right code
        // still gets in, only later): guessing is limited, nobody is locked out.
        let wait = hub.join_delay(ctx.ip);
        if !wait.is_zero() {
            hub.metrics.limit(Limit::JoinDelayed);
            tokio::time::sleep(wait).await;
        }
    }
    // Cluster mode: a room homed on another node is handled there.
    if let Some(result) = hub.route(peer, &msg, ctx.ip).await {
        return result;
    }
    match msg {
        ClientMsg::Ping { nonce, client_time_ms } => {
            ctx.outbox.send(&ServerMsg::Pong { nonce, client_time_ms, server_time_ms: now_ms() }, &hub.metrics);
            Ok(())
        }
        ClientMsg::History { limit } => {
            let (matches, _) = hub.history_of(peer, None, limit).await?;
            ctx.outbox.send(&ServerMsg::History { matches }, &hub.metrics);
            Ok(())
        }
        ClientMsg::HistoryPage { before, limit } => {
            let (matches, next_before) = hub.history_of(peer, before, limit).await?;
            ctx.outbox.send(&ServerMsg::HistoryPage { matches, next_before }, &hub.metrics);
            Ok(())
        }
        msg => hub.apply(peer, msg, ctx.ip),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcra_allows_burst_then_refuses() {
        let mut g = Gcra::default();
        assert_eq!((0..20).filter(|_| g.take(2, 10)).count(), 10);
    }

    #[test]
    fn rate_limit_allows_burst_then_refuses() {
        let mut r = RateLimit::new(1, 5);
        assert!((0..5).all(|_| r.take()));
        assert!(!r.take());
        assert_eq!(r.dropped, 1);
        assert!(r.should_warn());
        assert!(!r.should_warn());
    }
}
