//! One task per websocket connection: handshake, then a loop that reads client frames,
//! writes queued frames, keeps the connection alive and enforces the limits.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use shared::protocol::signal::{ClientMsg, ErrorCode, MAX_NAME_CHARS, PROTOCOL_VERSION, PeerId, ServerMsg};
use shared::protocol::{self, CodecError, MAX_FRAME_BYTES};

use tokio_util::sync::CancellationToken;

use crate::hub::{Hub, now_ms};
use crate::metrics::ErrorKind;
use crate::rooms::{Outbound, Outbox, Queue, Refusal};

/// Websocket close codes (RFC 6455 §7.4.1).
mod close {
    pub const GOING_AWAY: u16 = 1001;
    pub const UNSUPPORTED: u16 = 1003;
    pub const POLICY: u16 = 1008;
    pub const TOO_BIG: u16 = 1009;
}

/// How long a closing connection waits for the client's close reply.
const CLOSE_LINGER: Duration = Duration::from_millis(500);

/// Why the read loop stopped.
enum Exit {
    /// The client closed or the socket failed: nothing more to send.
    Gone,
    /// Close with this frame (after sending an error, when there is one).
    Close { error: Option<(ErrorCode, String)>, code: u16, reason: &'static str },
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

struct Conn {
    hub: Arc<Hub>,
    ws: WebSocket,
    ip: IpAddr,
}

/// Serves one upgraded websocket until it closes.
pub async fn serve(hub: Arc<Hub>, ws: WebSocket, ip: IpAddr) {
    hub.metrics.connection_opened();
    let mut conn = Conn { hub: Arc::clone(&hub), ws, ip };
    conn.run().await;
    hub.metrics.connection_closed();
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

impl Conn {
    /// The connection's life. Only [`Conn::session`] stays resident while a client idles,
    /// so everything else (handshake, per-frame work, closing) runs in boxed futures that
    /// exist only while they run: this keeps each idle connection's task small.
    async fn run(&mut self) {
        let (name, token) = match Box::pin(self.handshake()).await {
            Ok(hello) => hello,
            Err(exit) => return Box::pin(self.finish(exit)).await,
        };
        let Some((peer, conn_id, queue, kick)) = Box::pin(self.welcome(name, token)).await else { return };
        let exit = self.session(peer, &queue, &kick).await;
        self.hub.detach(peer, conn_id);
        Box::pin(async {
            if let Exit::Close { .. } = exit {
                // Flush what the room already queued for us (e.g. LeftRoom on shutdown).
                while let Some(out) = queue.pop() {
                    if !self.write(out).await {
                        break;
                    }
                }
            }
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
                match valid_name(&name) {
                    Ok(name) => Ok((name, reconnect_token)),
                    Err(msg) => Err(Exit::refuse(ErrorCode::InvalidName, msg, close::POLICY, "invalid name")),
                }
            }
            Ok(Ok(_)) => Err(Exit::refuse(ErrorCode::BadHandshake, "the first message must be Hello", close::POLICY, "no handshake")),
        }
    }

    /// Attaches the session and sends `Welcome`; `None` when the socket already failed.
    async fn welcome(&mut self, name: String, token: Option<String>) -> Option<(PeerId, u64, Arc<Queue>, CancellationToken)> {
        let hub = Arc::clone(&self.hub);
        let conn_id = hub.next_conn_id();
        let queue = Arc::new(Queue::new(hub.config.outbox_frames));
        let kick = hub.shutdown.child_token();
        let outbox = Outbox::new(conn_id, Arc::clone(&queue), kick.clone());

        // Anything the room sends after attaching is queued, so Welcome (sent directly
        // below) precedes the snapshot a resumed seat gets.
        let attached = hub.attach(name, token, outbox);
        if attached.stale_token {
            hub.metrics.error(ErrorKind::Code(ErrorCode::StaleToken));
            let message = "the reconnect token is unknown or expired: your seat is gone — you join as a new player".to_owned();
            self.send_now(&ServerMsg::Error { code: ErrorCode::StaleToken, message }).await;
        }
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
        if !self.send_now(&welcome).await {
            hub.detach(attached.peer_id, conn_id);
            return None;
        }
        tracing::debug!(peer = attached.peer_id, conn = conn_id, ip = %self.ip, "connected");
        Some((attached.peer_id, conn_id, queue, kick))
    }

    async fn session(&mut self, peer: PeerId, queue: &Queue, kick: &CancellationToken) -> Exit {
        let hub = Arc::clone(&self.hub);
        let mut rate = RateLimit::new(hub.config.msg_rate, hub.config.msg_burst);
        let mut keepalive = tokio::time::interval_at(tokio::time::Instant::now() + hub.config.ping_interval(), hub.config.ping_interval());
        keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_seen = Instant::now();
        loop {
            tokio::select! {
                biased;
                () = kick.cancelled() => {
                    if hub.shutdown.is_cancelled() {
                        hub.notify_shutdown(peer);
                        return Exit::Close { error: None, code: close::GOING_AWAY, reason: "server shutting down" };
                    }
                    return Exit::Close { error: None, code: close::POLICY, reason: "connection replaced or too slow" };
                }
                () = queue.wait() => {
                    while let Some(out) = queue.pop() {
                        if !self.write(out).await {
                            return Exit::Gone;
                        }
                    }
                }
                frame = self.ws.recv() => {
                    last_seen = Instant::now();
                    if let Some(exit) = Box::pin(self.on_frame(peer, frame, &mut rate)).await {
                        return exit;
                    }
                }
                _ = keepalive.tick() => {
                    if last_seen.elapsed() >= hub.config.idle_timeout() {
                        tracing::debug!(peer, "idle timeout");
                        return Exit::Close { error: None, code: close::GOING_AWAY, reason: "idle timeout" };
                    }
                    if self.ws.send(Message::Ping(Default::default())).await.is_err() {
                        return Exit::Gone;
                    }
                }
            }
        }
    }

    /// Handles one frame from the client; `Some` ends the session.
    async fn on_frame(&mut self, peer: PeerId, frame: Option<Result<Message, axum::Error>>, rate: &mut RateLimit) -> Option<Exit> {
        let hub = Arc::clone(&self.hub);
        let bytes = match frame {
            None => return Some(Exit::Gone),
            Some(Err(e)) => return Some(self.transport_error(&e)),
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
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => return None,
        };
        hub.metrics.message_in();
        if !rate.take() {
            hub.metrics.error(ErrorKind::Code(ErrorCode::RateLimited));
            if rate.dropped > hub.config.msg_burst.saturating_mul(10).max(100) {
                return Some(Exit::refuse(ErrorCode::RateLimited, "far too many messages — slow down", close::POLICY, "rate limit"));
            }
            if rate.should_warn() {
                let message = format!("more than {} messages per second — this one was dropped, slow down", hub.config.msg_rate);
                self.send_now(&ServerMsg::Error { code: ErrorCode::RateLimited, message }).await;
            }
            return None;
        }
        let msg = match protocol::decode::<ClientMsg>(&bytes) {
            Ok(msg) => msg,
            Err(e) => return Some(decode_error(&e)),
        };
        if let Err(refusal) = self.dispatch(peer, msg).await {
            hub.metrics.error(ErrorKind::Code(refusal.code));
            self.send_now(&ServerMsg::Error { code: refusal.code, message: refusal.message }).await;
        }
        None
    }

    async fn dispatch(&mut self, peer: PeerId, msg: ClientMsg) -> Result<(), Refusal> {
        let hub = &self.hub;
        match msg {
            ClientMsg::Hello { .. } => Err(Refusal::new(ErrorCode::BadHandshake, "Hello was already received on this connection")),
            ClientMsg::CreateRoom { settings } => hub.create_room(peer, settings),
            ClientMsg::JoinRoom { code } => hub.join_room(peer, &code, self.ip),
            ClientMsg::QuickMatch => hub.quick_match(peer),
            ClientMsg::LeaveRoom => hub.leave_room(peer),
            ClientMsg::UpdateSettings { settings } => hub.update_settings(peer, settings),
            ClientMsg::SetLoading { stage, progress } => hub.set_loading(peer, stage, progress),
            ClientMsg::SetReady { ready } => hub.set_ready(peer, ready),
            ClientMsg::StartGame { force } => hub.start_game(peer, force),
            ClientMsg::ReportResult { report } => hub.report_result(peer, report),
            ClientMsg::BackToLobby => hub.back_to_lobby(peer),
            ClientMsg::Ping { nonce, client_time_ms } => {
                self.send_now(&ServerMsg::Pong { nonce, client_time_ms, server_time_ms: now_ms() }).await;
                Ok(())
            }
            ClientMsg::Signal { to, payload } => hub.relay(peer, to, payload, Instant::now()),
            ClientMsg::History { limit } => {
                let matches = hub.history_of(peer, limit).await?;
                self.send_now(&ServerMsg::History { matches }).await;
                Ok(())
            }
        }
    }

    /// Reads the next protocol message (handshake only: no rate limit, no queue).
    async fn read_msg(&mut self) -> Result<ClientMsg, Exit> {
        loop {
            match self.ws.recv().await {
                None | Some(Ok(Message::Close(_))) => return Err(Exit::Gone),
                Some(Err(e)) => return Err(self.transport_error(&e)),
                Some(Ok(Message::Binary(b))) => {
                    self.hub.metrics.message_in();
                    return protocol::decode::<ClientMsg>(&b).map_err(|e| decode_error(&e));
                }
                Some(Ok(Message::Text(_))) => {
                    return Err(Exit::refuse(ErrorCode::Malformed, "text frames are not part of the protocol — send binary frames", close::UNSUPPORTED, "text frame"));
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            }
        }
    }

    fn transport_error(&self, e: &axum::Error) -> Exit {
        use std::error::Error as _;
        use tokio_tungstenite::tungstenite;
        // The websocket layer refuses frames over its own size cap before we see them.
        let too_large = e
            .source()
            .and_then(|s| s.downcast_ref::<tungstenite::Error>())
            .is_some_and(|t| matches!(t, tungstenite::Error::Capacity(_)));
        if too_large {
            return Exit::refuse(ErrorCode::TooLarge, format!("frame is over the {MAX_FRAME_BYTES}-byte limit"), close::TOO_BIG, "frame too large");
        }
        self.hub.metrics.error(ErrorKind::Transport);
        tracing::debug!(error = %e, ip = %self.ip, "websocket error");
        Exit::Gone
    }

    async fn write(&mut self, out: Outbound) -> bool {
        let (frame, received) = match out {
            Outbound::Frame(frame) => (frame, None),
            Outbound::Relay { frame, received } => (frame, Some(received)),
        };
        if self.ws.send(Message::Binary(frame)).await.is_err() {
            return false;
        }
        self.hub.metrics.message_out();
        if let Some(received) = received {
            self.hub.metrics.relay_latency(received.elapsed());
        }
        true
    }

    async fn send_now(&mut self, msg: &ServerMsg) -> bool {
        match crate::rooms::encode(msg) {
            Some(frame) => self.write(Outbound::Frame(frame)).await,
            None => false,
        }
    }

    /// Sends the error (if any) and a close frame, then waits briefly for the client's
    /// close reply so the error is not lost to a connection reset.
    async fn finish(&mut self, exit: Exit) {
        let Exit::Close { error, code, reason } = exit else { return };
        if let Some((code, message)) = error {
            self.hub.metrics.error(ErrorKind::Code(code));
            self.send_now(&ServerMsg::Error { code, message }).await;
        }
        let frame = CloseFrame { code, reason: reason.into() };
        if self.ws.send(Message::Close(Some(frame))).await.is_err() {
            return;
        }
        let _ = tokio::time::timeout(CLOSE_LINGER, async {
            while let Some(Ok(msg)) = self.ws.recv().await {
                if matches!(msg, Message::Close(_)) {
                    break;
                }
            }
        })
        .await;
    }
}

/// Trims a player name and checks it: 1 to [`MAX_NAME_CHARS`] characters, no control
/// characters.
pub fn valid_name(name: &str) -> Result<String, String> {
    let name = name.trim();
    let chars = name.chars().count();
    if chars == 0 {
        return Err("the name is empty — type a name".into());
    }
    if chars > MAX_NAME_CHARS {
        return Err(format!("the name has {chars} characters; at most {MAX_NAME_CHARS} are allowed"));
    }
    if name.chars().any(char::is_control) {
        return Err("the name contains control characters — use letters, digits and spaces".into());
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_checked() {
        assert_eq!(valid_name("  민수 ").as_deref(), Ok("민수"));
        assert!(valid_name("   ").is_err());
        assert!(valid_name(&"가".repeat(MAX_NAME_CHARS)).is_ok());
        assert!(valid_name(&"가".repeat(MAX_NAME_CHARS + 1)).is_err());
        assert!(valid_name("a\u{0}b").is_err());
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
