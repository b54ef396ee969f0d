//! A websocket test client and small HTTP/STUN helpers for driving the real server.
#![allow(dead_code)]

use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use server::{Config, RunningServer};
use shared::protocol::signal::{ClientMsg, ErrorCode, PROTOCOL_VERSION, PeerId, RoomSettings, RoomSnapshot, ServerMsg};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long a test waits for a message that must come.
pub const WAIT: Duration = Duration::from_secs(5);

/// Short timeouts so nothing in a test waits for long.
pub fn config() -> Config {
    Config {
        ping_interval_ms: 1_000,
        idle_timeout_ms: 10_000,
        reconnect_grace_ms: 5_000,
        ready_timeout_ms: 5_000,
        start_delay_ms: 1_500,
        shutdown_grace_ms: 2_000,
        ..Config::ephemeral()
    }
}

pub async fn start(config: Config) -> RunningServer {
    match server::spawn(config).await {
        Ok(s) => s,
        Err(e) => panic!("server did not start: {e}"),
    }
}

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How a connection ended.
#[derive(Debug)]
pub enum Closed {
    Frame(Option<CloseFrame>),
    Eof,
    Error(String),
}

pub struct Client {
    pub ws: Ws,
    pub id: PeerId,
    pub name: String,
    pub token: String,
    pub welcome: ServerMsg,
}

pub async fn raw(server: &RunningServer) -> Ws {
    raw_url(&server.ws_url()).await
}

pub async fn raw_url(url: &str) -> Ws {
    match tokio_tungstenite::connect_async(url).await {
        Ok((ws, _)) => ws,
        Err(e) => panic!("websocket connect failed: {e}"),
    }
}

pub async fn send_raw(ws: &mut Ws, msg: &ClientMsg) {
    let bytes = shared::protocol::encode(msg).unwrap_or_else(|e| panic!("encode: {e}"));
    ws.send(Message::Binary(bytes.into())).await.unwrap_or_else(|e| panic!("send: {e}"));
}

/// The next protocol message; `Err` when the connection closed first.
pub async fn recv_raw(ws: &mut Ws) -> Result<ServerMsg, Closed> {
    loop {
        let next = tokio::time::timeout(WAIT, ws.next()).await.unwrap_or_else(|_| panic!("no message within {WAIT:?}"));
        match next {
            None => return Err(Closed::Eof),
            Some(Err(e)) => return Err(Closed::Error(e.to_string())),
            Some(Ok(Message::Binary(b))) => {
                return Ok(shared::protocol::decode(&b).unwrap_or_else(|e| panic!("server sent an undecodable frame: {e}")));
            }
            Some(Ok(Message::Close(f))) => return Err(Closed::Frame(f)),
            Some(Ok(_)) => continue,
        }
    }
}

pub fn hello(name: &str, token: Option<String>) -> ClientMsg {
    ClientMsg::Hello { protocol_version: PROTOCOL_VERSION, name: name.into(), reconnect_token: token }
}

impl Client {
    pub async fn connect(server: &RunningServer, name: &str) -> Client {
        Self::connect_with(server, name, None).await
    }

    /// Connects and says Hello (with `token` when given); returns once Welcome arrived,
    /// skipping a StaleToken error that may precede it.
    pub async fn connect_with(server: &RunningServer, name: &str, token: Option<String>) -> Client {
        Self::connect_url(&server.ws_url(), name, token).await
    }

    /// [`Client::connect_with`] by URL (a server in another process).
    pub async fn connect_url(url: &str, name: &str, token: Option<String>) -> Client {
        let mut ws = raw_url(url).await;
        send_raw(&mut ws, &hello(name, token)).await;
        loop {
            match recv_raw(&mut ws).await {
                Ok(welcome @ ServerMsg::Welcome { .. }) => {
                    let ServerMsg::Welcome { peer_id, ref reconnect_token, .. } = welcome else { unreachable!() };
                    let token = reconnect_token.clone();
                    return Client { ws, id: peer_id, name: name.to_owned(), token, welcome };
                }
                Ok(ServerMsg::Error { code: ErrorCode::StaleToken, .. }) => continue,
                other => panic!("expected Welcome, got {other:?}"),
            }
        }
    }

    pub async fn send(&mut self, msg: ClientMsg) {
        send_raw(&mut self.ws, &msg).await;
    }

    pub async fn recv(&mut self) -> ServerMsg {
        match recv_raw(&mut self.ws).await {
            Ok(m) => m,
            Err(c) => panic!("connection closed while waiting: {c:?}"),
        }
    }

    /// Skips messages until one matches.
    pub async fn recv_until(&mut self, what: &str, mut pred: impl FnMut(&ServerMsg) -> bool) -> ServerMsg {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let msg = tokio::time::timeout(left, self.recv()).await.unwrap_or_else(|_| panic!("no {what} within {WAIT:?}"));
            if pred(&msg) {
                return msg;
            }
        }
    }

    /// The next room snapshot that satisfies `pred`.
    pub async fn room_where(&mut self, what: &str, mut pred: impl FnMut(&RoomSnapshot) -> bool) -> RoomSnapshot {
        match self.recv_until(what, |m| matches!(m, ServerMsg::Room(r) if pred(r))).await {
            ServerMsg::Room(r) => r,
            _ => unreachable!(),
        }
    }

    pub async fn error(&mut self) -> (ErrorCode, String) {
        match self.recv_until("an Error", |m| matches!(m, ServerMsg::Error { .. })).await {
            ServerMsg::Error { code, message } => (code, message),
            _ => unreachable!(),
        }
    }

    /// Creates a room and returns its code.
    pub async fn create(&mut self) -> String {
        self.send(ClientMsg::CreateRoom { settings: RoomSettings::default() }).await;
        self.room_where("the new room", |_| true).await.code
    }

    /// Joins by code and returns the snapshot that includes this client.
    pub async fn join(&mut self, code: &str) -> RoomSnapshot {
        self.send(ClientMsg::JoinRoom { code: code.into() }).await;
        let id = self.id;
        self.room_where("the joined room", |r| r.players.iter().any(|p| p.id == id)).await
    }

    /// Asserts that no protocol message arrives for `dur`.
    pub async fn expect_silence(&mut self, dur: Duration) {
        let r = tokio::time::timeout(dur, async {
            loop {
                match self.ws.next().await {
                    Some(Ok(Message::Binary(b))) => return Some(b),
                    Some(Ok(_)) => continue,
                    _ => return None,
                }
            }
        })
        .await;
        if let Ok(Some(b)) = r {
            let msg: Result<ServerMsg, _> = shared::protocol::decode(&b);
            panic!("expected silence, got {msg:?}");
        }
    }

    /// A ping/pong round trip: the connection is alive and served.
    pub async fn assert_alive(&mut self) {
        self.send(ClientMsg::Ping { nonce: 77, client_time_ms: 1 }).await;
        self.recv_until("a Pong", |m| matches!(m, ServerMsg::Pong { nonce: 77, .. })).await;
    }
}

/// Reads until the connection ends; returns the close frame's code when one came.
pub async fn closed(ws: &mut Ws) -> Option<u16> {
    loop {
        match recv_raw(ws).await {
            Ok(_) => continue,
            Err(Closed::Frame(f)) => return f.map(|f| u16::from(f.code)),
            Err(_) => return None,
        }
    }
}

/// Plain HTTP/1.1 GET; returns (status, body).
pub async fn http_get(server: &RunningServer, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(server.local_addr()).await.unwrap_or_else(|e| panic!("connect: {e}"));
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).await.unwrap_or_else(|e| panic!("write: {e}"));
    let mut buf = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut buf))
        .await
        .unwrap_or_else(|_| panic!("no HTTP answer"))
        .unwrap_or_else(|e| panic!("read: {e}"));
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("bad HTTP response {text:?}"));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("bad status line {head:?}"));
    (status, body.to_owned())
}
