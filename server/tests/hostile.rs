//! Issue 18: the server under hostile clients, over real sockets. Every test asserts
//! behaviour (who gets dropped, refused, slowed, what is stored), with generous timeouts, so
//! a loaded machine makes them slower, not flaky.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use common::{Client, closed, hello, http_get, recv_raw, send_raw, start};
use futures_util::{SinkExt as _, StreamExt as _};
use server::Config;
use server::config::HttpHistory;
use server::harness::ws_frame;
use shared::protocol::signal::{
    ClientMsg, ErrorCode, LoadingStage, MatchReport, MatchStatus, MatchSummary, PROTOCOL_VERSION, PeerId, RoomPhase,
    RoomSettings, RoomVisibility, ScoreLine, ServerMsg, SignalPayload,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

fn config() -> Config {
    common::config()
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

fn loopback(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

/// A TCP connection to the server from `from` (any 127.x address), with a small receive
/// buffer when `rcvbuf` is given (so a client that stops reading fills up quickly).
async fn tcp_from(server: SocketAddr, from: IpAddr, rcvbuf: Option<u32>) -> std::io::Result<TcpStream> {
    let sock = TcpSocket::new_v4()?;
    sock.bind(SocketAddr::new(from, 0))?;
    if let Some(n) = rcvbuf {
        sock.set_recv_buffer_size(n)?;
    }
    sock.connect(server).await
}

type RawWs = WebSocketStream<TcpStream>;

/// A websocket client from `from` that said Hello and got Welcome; returns it and its id.
async fn ws_from(server: &server::RunningServer, from: IpAddr, name: &str, rcvbuf: Option<u32>) -> (RawWs, PeerId) {
    let tcp = tcp_from(server.local_addr(), from, rcvbuf).await.unwrap_or_else(|e| panic!("connect: {e}"));
    let (mut ws, _) = tokio_tungstenite::client_async(server.ws_url(), tcp).await.unwrap_or_else(|e| panic!("upgrade: {e}"));
    let hello = shared::protocol::encode(&hello(name, None)).unwrap_or_else(|e| panic!("{e}"));
    ws.send(Message::Binary(hello.into())).await.unwrap_or_else(|e| panic!("{e}"));
    loop {
        match next_msg(&mut ws).await {
            Some(ServerMsg::Welcome { peer_id, .. }) => return (ws, peer_id),
            Some(_) => continue,
            None => panic!("closed before Welcome"),
        }
    }
}

async fn next_msg(ws: &mut RawWs) -> Option<ServerMsg> {
    loop {
        match tokio::time::timeout(common::WAIT, ws.next()).await.ok()?? {
            Ok(Message::Binary(b)) => return shared::protocol::decode(&b).ok(),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}

async fn send_to(ws: &mut RawWs, msg: &ClientMsg) {
    let bytes = shared::protocol::encode(msg).unwrap_or_else(|e| panic!("{e}"));
    ws.send(Message::Binary(bytes.into())).await.unwrap_or_else(|e| panic!("send: {e}"));
}

/// A counter from `/metrics`.
async fn metric(server: &server::RunningServer, line_prefix: &str) -> u64 {
    let (_, m) = http_get(server, "/metrics").await;
    m.lines()
        .find_map(|l| l.strip_prefix(line_prefix).map(str::trim))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {line_prefix} in {m}"))
}

async fn limit(server: &server::RunningServer, name: &str) -> u64 {
    metric(server, &format!("poseparty_limit_total{{limit=\"{name}\"}} ")).await
}

/// Polls `cond` until it holds (at most `within`).
async fn eventually<F: std::future::Future<Output = bool>>(what: &str, within: Duration, mut cond: impl FnMut() -> F) {
    let deadline = Instant::now() + within;
    while !cond().await {
        assert!(Instant::now() < deadline, "{what} did not happen within {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn offer(len: usize) -> SignalPayload {
    SignalPayload::Offer { sdp: "x".repeat(len) }
}

// ---- non-reading clients -------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_non_reading_client_is_dropped_shown_as_dropped_and_the_round_still_recorded() {
    let server = start(Config {
        min_round_secs: 1,
        start_delay_ms: 300,
        msg_rate: 1000,
        msg_burst: 1000,
        outbox_bytes: 256 * 1024,
        write_timeout_ms: 1_000,
        ..config()
    })
    .await;
    let mut a = Client::connect(&server, "a").await;
    let mut c = Client::connect(&server, "c").await;
    let code = a.create().await;
    let settings = RoomSettings { duration_secs: 1, ..RoomSettings::default() };
    a.send(ClientMsg::UpdateSettings { settings: settings.clone() }).await;
    a.room_where("1 s rounds", |r| r.settings == settings).await;
    c.join(&code).await;
    // The victim reads nothing after joining, through a 4 KiB receive buffer.
    let (mut victim, victim_id) = ws_from(&server, loopback(1), "victim", Some(4096)).await;
    send_to(&mut victim, &ClientMsg::JoinRoom { code: code.clone() }).await;
    send_to(&mut victim, &ClientMsg::SetReady { ready: true }).await;
    a.room_where("victim in", |r| r.players.iter().any(|p| p.id == victim_id && p.ready)).await;

    a.send(ClientMsg::StartGame { force: false }).await;
    a.send(ClientMsg::SetReady { ready: true }).await;
    c.send(ClientMsg::SetReady { ready: true }).await;
    let (start_at, seed) = match a.recv_until("GameStarting", |m| matches!(m, ServerMsg::GameStarting { .. })).await {
        ServerMsg::GameStarting { start_at_ms, round_seed, .. } => (start_at_ms, round_seed),
        _ => unreachable!(),
    };

    // 32 KiB signals to the victim until the server drops it (it never reads).
    let mut sent = 0;
    let flood = async {
        loop {
            a.send(ClientMsg::Signal { to: victim_id, payload: offer(32 * 1024) }).await;
            sent += 1;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    let dropped = c.room_where("victim shown as dropped", |r| r.players.iter().any(|p| p.id == victim_id && !p.connected));
    tokio::select! {
        r = dropped => assert!(r.players.len() == 3, "the seat is kept for the reconnect grace"),
        () = flood => unreachable!(),
    }
    // The outbox (512 KiB) fills once the kernel's loopback socket buffers (which autotune to
    // several MB) are full; on a busy machine that takes a few hundred frames.
    assert!(sent < 1_500, "dropped after {sent} large frames");
    assert!(metric(&server, "poseparty_slow_clients_dropped_total ").await >= 1);
    let queued = metric(&server, "poseparty_outbox_bytes ").await;
    assert!(queued <= 2 * 256 * 1024, "outboxes hold {queued} bytes after the drop");
    drop(victim);

    // The round is still recorded: the two connected players report.
    let end = start_at + 1_000;
    if end > now_ms() {
        tokio::time::sleep(Duration::from_millis(end - now_ms() + 50)).await;
    }
    let lines: Vec<ScoreLine> = [(a.id, 150), (c.id, 0), (victim_id, 0)]
        .iter()
        .map(|&(player, points)| ScoreLine {
            player,
            name: String::new(),
            points,
            hits: u32::from(points > 0),
            best_streak: u32::from(points > 0),
            dropped: player == victim_id,
        })
        .collect();
    let report = MatchReport { round_seed: seed, scores: lines };
    a.send(ClientMsg::ReportResult { report: report.clone() }).await;
    c.send(ClientMsg::ReportResult { report }).await;
    match c.recv_until("ResultRecorded", |m| matches!(m, ServerMsg::ResultRecorded { .. })).await {
        ServerMsg::ResultRecorded { status, agreed, .. } => assert_eq!((status, agreed), (MatchStatus::Verified, true)),
        _ => unreachable!(),
    }
    server.shutdown().await;
}

/// With an outbox too large to overflow, the write deadline is what drops a client whose
/// socket does not drain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_socket_that_does_not_drain_is_dropped_by_the_write_deadline() {
    let server = start(Config {
        msg_rate: 1000,
        msg_burst: 1000,
        outbox_frames: 1_000_000,
        outbox_bytes: 1 << 30,
        write_timeout_ms: 500,
        ..config()
    })
    .await;
    let mut a = Client::connect(&server, "a").await;
    let code = a.create().await;
    let (mut victim, victim_id) = ws_from(&server, loopback(2), "victim", Some(4096)).await;
    send_to(&mut victim, &ClientMsg::JoinRoom { code }).await;
    a.room_where("victim in", |r| r.players.len() == 2).await;
    let flood = async {
        loop {
            a.send(ClientMsg::Signal { to: victim_id, payload: offer(32 * 1024) }).await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::select! {
        () = eventually("the write deadline drops the victim", Duration::from_secs(30), || async {
            limit(&server, "write_timeout").await >= 1
        }) => {}
        () = flood => unreachable!(),
    }
    assert_eq!(limit(&server, "outbox_full").await, 0);
    a.room_where("victim shown as dropped", |r| r.players.iter().any(|p| p.id == victim_id && !p.connected)).await;
    drop(victim);
    server.shutdown().await;
}

/// Resident set size of a process, bytes.
fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 = status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

struct Child(std::process::Child);
impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The measurement (50 non-reading clients took RSS from 13 to 427 MB) against the
/// real binary with its default limits.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_fifty_non_readers_keep_the_server_rss_bounded() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(0);
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_server"))
        .args(["--bind", &format!("127.0.0.1:{port}"), "--stun-port", "0", "--db"])
        .arg(dir.path().join("h.sqlite3"))
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting the server: {e}"));
    let child = Child(child);
    let pid = child.0.id();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(addr).await.is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let url = format!("ws://{addr}/ws");
    let rss_before = rss_bytes(pid).unwrap_or(0);

    let connect = |from: IpAddr, name: String, rcvbuf: Option<u32>| {
        let url = url.clone();
        async move {
            let tcp = tcp_from(addr, from, rcvbuf).await.unwrap_or_else(|e| panic!("{e}"));
            let (mut ws, _) = tokio_tungstenite::client_async(url, tcp).await.unwrap_or_else(|e| panic!("{e}"));
            send_to(&mut ws, &ClientMsg::Hello { protocol_version: PROTOCOL_VERSION, name, reconnect_token: None }).await;
            let id = loop {
                match next_msg(&mut ws).await {
                    Some(ServerMsg::Welcome { peer_id, .. }) => break peer_id,
                    Some(_) => {}
                    None => panic!("no welcome"),
                }
            };
            (ws, id)
        }
    };
    let mut victims = Vec::new();
    let mut flooders = Vec::new();
    for i in 0..50u8 {
        // Two addresses per pair keep under the per-address cap.
        let (mut f, _) = connect(loopback(10 + i / 20), format!("f{i}"), None).await;
        send_to(&mut f, &ClientMsg::CreateRoom { settings: RoomSettings::default() }).await;
        let code = loop {
            if let Some(ServerMsg::Room(r)) = next_msg(&mut f).await {
                break r.code;
            }
        };
        let (mut v, vid) = connect(loopback(40 + i / 20), format!("v{i}"), Some(4096)).await;
        send_to(&mut v, &ClientMsg::JoinRoom { code }).await;
        loop {
            if let Some(ServerMsg::Room(r)) = next_msg(&mut f).await
                && r.players.len() == 2
            {
                break;
            }
        }
        victims.push(v);
        flooders.push((f, vid));
    }
    // Each flooder sends 60 KiB signals at its message rate (50/s, burst 100) to its victim.
    let mut tasks = Vec::new();
    for (mut f, vid) in flooders {
        tasks.push(tokio::spawn(async move {
            let payload = offer(60 * 1024);
            let bytes = shared::protocol::encode(&ClientMsg::Signal { to: vid, payload }).unwrap_or_default();
            for _ in 0..100 {
                if f.send(Message::Binary(bytes.clone().into())).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            f
        }));
    }
    let mut peak = 0;
    let metrics_url = format!("http://{addr}");
    let dropped = async {
        loop {
            peak = peak.max(rss_bytes(pid).unwrap_or(0));
            let body = raw_http_get(addr, "/metrics").await;
            let n: u64 = body
                .lines()
                .find_map(|l| l.strip_prefix("poseparty_slow_clients_dropped_total "))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if n >= 50 {
                return n;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    let n = tokio::time::timeout(Duration::from_secs(60), dropped).await.unwrap_or_else(|_| panic!("not every non-reader was dropped ({metrics_url})"));
    for t in tasks {
        let _ = t.await;
    }
    peak = peak.max(rss_bytes(pid).unwrap_or(0));
    let growth = peak.saturating_sub(rss_before);
    eprintln!("50 non-readers: {n} dropped; server RSS {} MiB before, peak {} MiB", rss_before >> 20, peak >> 20);
    assert!(growth < 120 << 20, "RSS grew by {} MiB", growth >> 20);
    drop(victims);
}

async fn raw_http_get(addr: SocketAddr, path: &str) -> String {
    let Ok(mut s) = TcpStream::connect(addr).await else { return String::new() };
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).await.is_err() {
        return String::new();
    }
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf)).await;
    String::from_utf8_lossy(&buf).into_owned()
}

// ---- slowloris -------------------------------------------------------------------------

/// Reads until the server closes; true when it did within `within`.
async fn server_closes(s: &mut TcpStream, within: Duration) -> (bool, Vec<u8>) {
    let mut got = Vec::new();
    let r = tokio::time::timeout(within, async {
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    (r.is_ok(), got)
}

#[tokio::test]
async fn hostile_slowloris_http_head_is_timed_out() {
    let server = start(Config { header_read_timeout_ms: 300, http_timeout_ms: 2_000, ..config() }).await;
    // Half a head, then silence; and one that trickles a header byte every 100 ms.
    let mut silent = Vec::new();
    for _ in 0..20 {
        let mut s = TcpStream::connect(server.local_addr()).await.unwrap_or_else(|e| panic!("{e}"));
        s.write_all(b"GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n").await.unwrap_or_else(|e| panic!("{e}"));
        silent.push(s);
    }
    let mut trickle = TcpStream::connect(server.local_addr()).await.unwrap_or_else(|e| panic!("{e}"));
    trickle.write_all(b"GET /health HTTP/1.1\r\n").await.unwrap_or_else(|e| panic!("{e}"));
    let started = Instant::now();
    let trickling = async {
        for _ in 0..100 {
            if trickle.write_all(b"X").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(8), trickling).await;
    assert!(started.elapsed() < Duration::from_secs(8), "the trickling head was cut off");
    for s in &mut silent {
        assert!(server_closes(s, Duration::from_secs(5)).await.0, "a half head stayed open");
    }
    assert!(limit(&server, "header_read_timeout").await >= 20);
    // A head over the buffer limit is refused outright.
    let mut big = TcpStream::connect(server.local_addr()).await.unwrap_or_else(|e| panic!("{e}"));
    let head = format!("GET /health HTTP/1.1\r\nX-Pad: {}\r\n\r\n", "a".repeat(64 * 1024));
    let _ = big.write_all(head.as_bytes()).await;
    let (closed, bytes) = server_closes(&mut big, Duration::from_secs(5)).await;
    assert!(closed, "an oversized head stayed open");
    assert!(!String::from_utf8_lossy(&bytes).contains("200 OK"));
    // Honest requests still work.
    assert_eq!(http_get(&server, "/health").await.0, 200);
    server.shutdown().await;
}

/// A hand-made websocket that has said Hello (its Welcome is left unread).
async fn raw_ws_after_hello(server: &server::RunningServer) -> TcpStream {
    let mut s = TcpStream::connect(server.local_addr()).await.unwrap_or_else(|e| panic!("{e}"));
    let req = "GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
               Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    s.write_all(req.as_bytes()).await.unwrap_or_else(|e| panic!("{e}"));
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(common::WAIT, s.read(&mut byte)).await.unwrap_or_else(|_| panic!("no 101")).unwrap_or(0);
        assert_eq!(n, 1, "closed during the upgrade");
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&head));
    let hello = shared::protocol::encode(&hello("slow", None)).unwrap_or_default();
    s.write_all(&ws_frame(true, 2, &hello)).await.unwrap_or_else(|e| panic!("{e}"));
    s
}

/// The close code 1008 (policy) in a server close frame.
fn has_policy_close(bytes: &[u8]) -> bool {
    bytes.windows(4).any(|w| w[0] == 0x88 && w[2] == 0x03 && w[3] == 0xF0)
}

#[tokio::test]
async fn hostile_slowloris_fragmented_message_is_timed_out() {
    let server = start(Config { unfinished_message_timeout_ms: 500, max_fragments: 8, ..config() }).await;

    // The first fragment of a message, then only pongs (which keep the idle timer happy).
    let mut s = raw_ws_after_hello(&server).await;
    s.write_all(&ws_frame(false, 2, &[0u8; 100])).await.unwrap_or_else(|e| panic!("{e}"));
    let pongs = async {
        for _ in 0..50 {
            if s.write_all(&ws_frame(true, 0xA, b"")).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(6), pongs).await;
    let (closed, bytes) = server_closes(&mut s, Duration::from_secs(5)).await;
    assert!(closed && has_policy_close(&bytes), "the unfinished message was not cut off");

    // Half a frame head, then silence.
    let mut s = raw_ws_after_hello(&server).await;
    s.write_all(&[0x82, 0xFE]).await.unwrap_or_else(|e| panic!("{e}"));
    let (closed, bytes) = server_closes(&mut s, Duration::from_secs(10)).await;
    assert!(closed && has_policy_close(&bytes), "half a frame head stayed open");

    // Many tiny fragments.
    let mut s = raw_ws_after_hello(&server).await;
    s.write_all(&ws_frame(false, 2, b"a")).await.unwrap_or_else(|e| panic!("{e}"));
    for _ in 0..20 {
        let _ = s.write_all(&ws_frame(false, 0, b"a")).await;
    }
    let (closed, bytes) = server_closes(&mut s, Duration::from_secs(10)).await;
    assert!(closed && has_policy_close(&bytes), "too many fragments were accepted");

    assert!(limit(&server, "unfinished_message").await >= 2);
    assert_eq!(limit(&server, "too_many_fragments").await, 1);
    // An honest client is unaffected.
    Client::connect(&server, "fine").await.assert_alive().await;
    server.shutdown().await;
}

// ---- connection caps ----------------------------------------------------------------

/// True when the server closed the socket at once (refused at accept).
async fn refused(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 1];
    matches!(tokio::time::timeout(Duration::from_millis(1_500), s.read(&mut b)).await, Ok(Ok(0) | Err(_)))
}

#[tokio::test]
async fn hostile_connection_caps_per_address_and_in_total() {
    let server = start(Config { max_connections_per_ip: 5, max_connections: 8, header_read_timeout_ms: 30_000, http_timeout_ms: 30_000, ..config() }).await;
    let addr = server.local_addr();
    let mut first = Vec::new();
    for _ in 0..5 {
        first.push(tcp_from(addr, loopback(21), None).await.unwrap_or_else(|e| panic!("{e}")));
    }
    let mut sixth = tcp_from(addr, loopback(21), None).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(refused(&mut sixth).await, "a sixth connection from one address was kept");
    let mut other = Vec::new();
    for _ in 0..3 {
        other.push(tcp_from(addr, loopback(22), None).await.unwrap_or_else(|e| panic!("{e}")));
    }
    let mut ninth = tcp_from(addr, loopback(23), None).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(refused(&mut ninth).await, "a ninth connection in total was kept");
    // The held ones are still open.
    for s in first.iter_mut().chain(other.iter_mut()).take(2) {
        assert!(!refused(s).await);
    }
    drop(first);
    drop(other);
    drop(sixth);
    drop(ninth);
    // The server notices the closed sockets when their (silent) requests fail.
    tokio::time::sleep(Duration::from_millis(500)).await;
    eventually("the places are given back", Duration::from_secs(10), || async {
        metric(&server, "poseparty_tcp_connections ").await <= 1
    })
    .await;
    assert_eq!(limit(&server, "connections_per_ip").await, 1);
    assert_eq!(limit(&server, "connections_total").await, 1);
    Client::connect(&server, "after").await.assert_alive().await;
    server.shutdown().await;
}

// ---- results ---------------------------------------------------------------------------

async fn short_room(server: &server::RunningServer, names: &[&str]) -> Vec<Client> {
    let mut cs = Vec::new();
    for n in names {
        cs.push(Client::connect(server, n).await);
    }
    let code = cs[0].create().await;
    let settings = RoomSettings { duration_secs: 1, ..RoomSettings::default() };
    cs[0].send(ClientMsg::UpdateSettings { settings: settings.clone() }).await;
    cs[0].room_where("1 s rounds", |r| r.settings == settings).await;
    for c in cs.iter_mut().skip(1) {
        c.join(&code).await;
    }
    let n = cs.len();
    if n > 1 {
        cs[0].room_where("everyone", |r| r.players.len() == n).await;
    }
    cs
}

/// Starts a round; returns (start_at_ms, seed).
async fn start_round(cs: &mut [Client]) -> (u64, u64) {
    cs[0].send(ClientMsg::StartGame { force: false }).await;
    for c in cs.iter_mut() {
        c.send(ClientMsg::SetReady { ready: true }).await;
    }
    let mut got = (0, 0);
    for c in cs.iter_mut() {
        got = match c.recv_until("GameStarting", |m| matches!(m, ServerMsg::GameStarting { .. })).await {
            ServerMsg::GameStarting { start_at_ms, round_seed, .. } => (start_at_ms, round_seed),
            _ => unreachable!(),
        };
    }
    got
}

async fn sleep_until_ms(t: u64) {
    let now = now_ms();
    if t > now {
        tokio::time::sleep(Duration::from_millis(t - now + 30)).await;
    }
}

fn line(player: PeerId, points: u32, hits: u32, best_streak: u32) -> ScoreLine {
    ScoreLine { player, name: "anything".into(), points, hits, best_streak, dropped: false }
}

#[tokio::test]
async fn hostile_forged_early_oversized_and_impossible_reports_are_refused() {
    let server = start(Config { min_round_secs: 1, start_delay_ms: 1_000, report_early_ms: 100, ..config() }).await;
    let mut cs = short_room(&server, &["a", "b"]).await;
    let (a, b) = (cs[0].id, cs[1].id);
    let (start_at, seed) = start_round(&mut cs).await;
    let good = MatchReport { round_seed: seed, scores: vec![line(a, 150, 1, 1), line(b, 0, 0, 0)] };

    // Early: the round has not even started.
    cs[0].send(ClientMsg::ReportResult { report: good.clone() }).await;
    assert_eq!(cs[0].error().await.0, ErrorCode::RoundNotOver);
    sleep_until_ms(start_at + 1_000).await;

    let forged = [
        // Oversized: a scoreboard of 1360 lines.
        (1..=1360).map(|p| line(p, 0, 0, 0)).collect::<Vec<_>>(),
        // Impossible numbers in a 1 s round.
        vec![line(a, 1_000_000, 1, 1), line(b, 0, 0, 0)],
        vec![line(a, 4_000, 10, 10), line(b, 0, 0, 0)],
        vec![line(a, 150, 1, 5), line(b, 0, 0, 0)],
        // Not exactly the room's players: one missing, one twice, a stranger.
        vec![line(a, 150, 1, 1)],
        vec![line(a, 150, 1, 1), line(a, 150, 1, 1)],
        vec![line(a, 150, 1, 1), line(b, 0, 0, 0), line(9_999, 0, 0, 0)],
    ];
    for scores in forged {
        cs[0].send(ClientMsg::ReportResult { report: MatchReport { round_seed: seed, scores } }).await;
        assert_eq!(cs[0].error().await.0, ErrorCode::InvalidReport);
    }
    cs[0].send(ClientMsg::ReportResult { report: good.clone() }).await;
    cs[0].assert_alive().await;
    // Once per player.
    cs[0].send(ClientMsg::ReportResult { report: good.clone() }).await;
    assert_eq!(cs[0].error().await.0, ErrorCode::AlreadyReported);
    cs[1].send(ClientMsg::ReportResult { report: good }).await;
    match cs[1].recv_until("ResultRecorded", |m| matches!(m, ServerMsg::ResultRecorded { .. })).await {
        ServerMsg::ResultRecorded { status, agreed, .. } => assert_eq!((status, agreed), (MatchStatus::Verified, true)),
        _ => unreachable!(),
    }
    assert!(limit(&server, "report_refused").await >= 9);
    server.shutdown().await;
}

#[tokio::test]
async fn hostile_solo_round_loop_is_rate_limited_and_marked_unverified() {
    let server = start(Config {
        min_round_secs: 1,
        start_delay_ms: 100,
        report_early_ms: 0,
        rounds_burst: 3,
        rounds_per_min: 2,
        http_history: HttpHistory::Open,
        ..config()
    })
    .await;
    let mut cs = short_room(&server, &["solo"]).await;
    let me = cs[0].id;
    let mut recorded = 0;
    let mut refused_at = None;
    for round in 0..10 {
        cs[0].send(ClientMsg::StartGame { force: false }).await;
        cs[0].send(ClientMsg::SetReady { ready: true }).await;
        let msg = cs[0]
            .recv_until("GameStarting or a refusal", |m| {
                matches!(m, ServerMsg::GameStarting { .. } | ServerMsg::Error { code: ErrorCode::RateLimited, .. })
            })
            .await;
        let ServerMsg::GameStarting { start_at_ms, round_seed, .. } = msg else {
            refused_at = Some(round);
            break;
        };
        sleep_until_ms(start_at_ms + 1_000).await;
        let report = MatchReport { round_seed, scores: vec![line(me, 200, 1, 1)] };
        cs[0].send(ClientMsg::ReportResult { report }).await;
        match cs[0].recv_until("ResultRecorded", |m| matches!(m, ServerMsg::ResultRecorded { .. })).await {
            ServerMsg::ResultRecorded { status, agreed, .. } => assert_eq!((status, agreed), (MatchStatus::SinglePlayer, false)),
            _ => unreachable!(),
        }
        recorded += 1;
        cs[0].send(ClientMsg::BackToLobby).await;
        cs[0].room_where("lobby", |r| r.phase == RoomPhase::Lobby).await;
    }
    assert_eq!(refused_at, Some(3), "the fourth round in a row is refused ({recorded} recorded)");
    let (_, body) = http_get(&server, "/history").await;
    let matches: Vec<MatchSummary> = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(matches.len(), 3);
    assert!(matches.iter().all(|m| m.status == MatchStatus::SinglePlayer && !m.agreed), "{matches:?}");
    assert!(limit(&server, "rounds_limited").await >= 1);
    server.shutdown().await;
}

#[tokio::test]
async fn hostile_history_pages_fit_a_frame_and_http_history_is_restricted() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let db = dir.path().join("h.sqlite3");
    // A history as the old server let it be written: 40 matches of 1360 lines each.
    {
        let conn = rusqlite_free_fill(&db);
        assert!(conn, "could not prepare the database");
    }
    let server = start(Config { db: db.clone(), history_max_bytes: 32 * 1024, ..config() }).await;
    let mut c = Client::connect(&server, "victim").await;
    c.send(ClientMsg::History { limit: 100 }).await;
    match c.recv_until("History", |m| matches!(m, ServerMsg::History { .. })).await {
        ServerMsg::History { matches } => assert!(!matches.is_empty(), "a page, not silence"),
        _ => unreachable!(),
    }
    let mut pages = 0;
    let mut before = None;
    let mut seen = 0;
    loop {
        c.send(ClientMsg::HistoryPage { before, limit: 100 }).await;
        let answer = c
            .recv_until("HistoryPage", |m| {
                matches!(m, ServerMsg::HistoryPage { .. } | ServerMsg::Error { code: ErrorCode::RateLimited, .. })
            })
            .await;
        if matches!(answer, ServerMsg::Error { .. }) {
            // History requests are limited per connection: wait and ask again.
            tokio::time::sleep(Duration::from_millis(600)).await;
            continue;
        }
        match answer {
            ServerMsg::HistoryPage { matches, next_before } => {
                pages += 1;
                seen += matches.len();
                assert!(matches.iter().all(|m| m.status == MatchStatus::Unchecked && !m.agreed));
                match next_before {
                    Some(n) => before = Some(n),
                    None => break,
                }
            }
            _ => unreachable!(),
        }
        assert!(pages < 100);
    }
    assert_eq!(seen, 40, "every match reached in {pages} pages");
    // Asking far faster than that is refused (each request is a database query).
    for _ in 0..30 {
        c.send(ClientMsg::HistoryPage { before: None, limit: 1 }).await;
    }
    c.recv_until("a RateLimited", |m| matches!(m, ServerMsg::Error { code: ErrorCode::RateLimited, .. })).await;
    // /history: token mode (the default) wants a live session's token.
    assert_eq!(http_get(&server, "/history").await.0, 403);
    let (status, body) = http_get(&server, &format!("/history?token={}", c.token)).await;
    assert_eq!(status, 200);
    assert!(body.len() <= 32 * 1024, "{} bytes", body.len());
    server.shutdown().await;
    let server = start(Config { db, http_history: HttpHistory::Off, ..config() }).await;
    assert_eq!(http_get(&server, "/history").await.0, 404);
    server.shutdown().await;
}

/// Writes 40 protocol-1-style matches of 1360 lines each for player "victim" through a
/// server with lax limits: report checks did not exist then, so the rows go in directly.
fn rusqlite_free_fill(db: &std::path::Path) -> bool {
    // The server's own schema, without the status column (as protocol 1 wrote it).
    let sql = {
        let mut s = String::from(
            "CREATE TABLE matches (id INTEGER PRIMARY KEY AUTOINCREMENT, room_code TEXT NOT NULL, mode TEXT NOT NULL,
               started_at_ms INTEGER NOT NULL, round_seed INTEGER NOT NULL, agreed INTEGER NOT NULL,
               recorded_at INTEGER NOT NULL DEFAULT (unixepoch()));
             CREATE TABLE match_scores (match_id INTEGER NOT NULL REFERENCES matches(id), position INTEGER NOT NULL,
               player INTEGER NOT NULL, name TEXT NOT NULL, points INTEGER NOT NULL, hits INTEGER NOT NULL,
               best_streak INTEGER NOT NULL, dropped INTEGER NOT NULL, PRIMARY KEY (match_id, position));
             BEGIN;",
        );
        for m in 1..=40 {
            s.push_str(&format!("INSERT INTO matches VALUES ({m}, 'ACDEFG', 'pose_rush', 0, 0, 1, 0);"));
            s.push_str("WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 1359) ");
            s.push_str(&format!(
                "INSERT INTO match_scores SELECT {m}, i, i, CASE i WHEN 0 THEN 'victim' ELSE 'p' || i END, 99999, 9, 9, 0 FROM n;"
            ));
        }
        s.push_str("COMMIT;");
        s
    };
    rusqlite::Connection::open(db).and_then(|c| c.execute_batch(&sql)).is_ok()
}

// ---- rooms and joins --------------------------------------------------------------------

#[tokio::test]
async fn hostile_quick_match_skips_private_rooms() {
    let server = start(config()).await;
    let mut friend = Client::connect(&server, "friend").await;
    friend.send(ClientMsg::CreateRoom { settings: RoomSettings::default() }).await;
    let r = friend.room_where("own room", |_| true).await;
    let private = r.code.clone();
    assert_eq!(r.visibility, RoomVisibility::Private);

    let mut stranger = Client::connect(&server, "stranger").await;
    stranger.send(ClientMsg::QuickMatch).await;
    let r = stranger.room_where("a quick room", |_| true).await;
    assert_ne!(r.code, private, "quick match entered a private room");
    assert_eq!(r.visibility, RoomVisibility::Public);
    assert_eq!(r.players.len(), 1);
    friend.expect_silence(Duration::from_millis(200)).await;

    // Another stranger lands in the public room, not the private one.
    let mut s2 = Client::connect(&server, "s2").await;
    s2.send(ClientMsg::QuickMatch).await;
    let id = s2.id;
    assert_eq!(s2.room_where("joined", |r| r.players.iter().any(|p| p.id == id)).await.code, r.code);

    // Only the host switches; a public room can be made private again.
    s2.send(ClientMsg::SetVisibility { visibility: RoomVisibility::Private }).await;
    assert_eq!(s2.error().await.0, ErrorCode::NotHost);
    stranger.send(ClientMsg::SetVisibility { visibility: RoomVisibility::Private }).await;
    s2.room_where("now private", |r| r.visibility == RoomVisibility::Private).await;
    let mut s3 = Client::connect(&server, "s3").await;
    s3.send(ClientMsg::QuickMatch).await;
    let r3 = s3.room_where("a room", |_| true).await;
    assert!(r3.code != r.code && r3.code != private && r3.players.len() == 1);
    server.shutdown().await;
}

/// A brute-force script against the codes, from one address with as many connections as
/// the cap allows, while a friend at the same address joins with the right code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_brute_force_is_slowed_but_the_right_code_from_the_same_address_gets_in() {
    const CONNS: usize = 12;
    let (free, step, max_delay) = (5u32, 100u64, 500u64);
    let server = start(Config {
        failed_joins: free,
        failed_join_step_ms: step,
        failed_join_max_delay_ms: max_delay,
        max_connections_per_ip: CONNS + 4,
        ..config()
    })
    .await;
    let mut host = Client::connect(&server, "host").await;
    let code = host.create().await;
    let guessed = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let attack_for = Duration::from_secs(4);
    let started = Instant::now();
    let mut attackers = Vec::new();
    for i in 0..CONNS {
        let mut c = Client::connect(&server, &format!("bot{i}")).await;
        let (guessed, code) = (std::sync::Arc::clone(&guessed), code.clone());
        attackers.push(tokio::spawn(async move {
            let alphabet = shared::protocol::signal::ROOM_CODE_ALPHABET;
            let mut n = i as u64 * 7919;
            while started.elapsed() < attack_for {
                n = n.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let guess: String = (0..6).map(|k| char::from(alphabet[((n >> (k * 8)) % alphabet.len() as u64) as usize])).collect();
                if guess == code {
                    continue;
                }
                c.send(ClientMsg::JoinRoom { code: guess }).await;
                assert_eq!(c.error().await.0, ErrorCode::RoomNotFound, "a guess was refused instead of slowed");
                guessed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }));
    }
    // Mid-attack, a friend at the same address with the right code.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut friend = Client::connect(&server, "friend").await;
    let asked = Instant::now();
    friend.join(&code).await;
    let waited = asked.elapsed();
    for a in attackers {
        a.await.unwrap_or_else(|e| panic!("attacker: {e}"));
    }
    let elapsed = started.elapsed().as_secs_f64();
    let guesses = guessed.load(std::sync::atomic::Ordering::Relaxed);
    let rate = guesses as f64 / elapsed;
    // Once past the free guesses every guess waits the full delay, per connection.
    let bound = f64::from(free) + 2.0 * CONNS as f64 + CONNS as f64 * elapsed * 1000.0 / max_delay as f64;
    let space = (shared::protocol::signal::ROOM_CODE_ALPHABET.len() as f64).powi(6);
    let defaults_rate = 64.0 / 10.0; // 64 connections per address, 10 s delay
    eprintln!(
        "brute force: {guesses} guesses in {elapsed:.1} s = {rate:.1}/s from {CONNS} connections (bound {:.1}/s); \
         the friend waited {waited:?}. With the default limits one address guesses ≤ {defaults_rate:.1}/s: \
         expected time to hit one given room = {:.0} days, one of 1000 open rooms = {:.1} h",
        bound / elapsed,
        space / 2.0 / defaults_rate / 86_400.0,
        space / 2.0 / 1000.0 / defaults_rate / 3_600.0,
    );
    assert!((guesses as f64) <= bound, "{guesses} guesses > bound {bound:.0}");
    assert!(waited < Duration::from_millis(max_delay) + Duration::from_secs(3), "the friend waited {waited:?}");
    assert!(limit(&server, "join_delayed").await > 0);
    server.shutdown().await;
}

#[tokio::test]
async fn hostile_names_are_normalized_checked_and_unique_in_a_room() {
    let server = start(config()).await;
    for bad in ["a\u{200B}b", "\u{202E}evil", "\u{FEFF}bom", "x\u{2066}y", "tab\there", "🦀".repeat(25).as_str()] {
        let mut ws = common::raw(&server).await;
        send_raw(&mut ws, &hello(bad, None)).await;
        match recv_raw(&mut ws).await {
            Ok(ServerMsg::Error { code: ErrorCode::InvalidName, .. }) => {}
            other => panic!("{bad:?}: expected InvalidName, got {other:?}"),
        }
        assert_eq!(closed(&mut ws).await, Some(1008));
    }
    // 24 Hangul syllables: 24 characters however they are typed.
    let jamo = "\u{1100}\u{1161}".repeat(24); // decomposed 가 × 24
    let mut k = Client::connect(&server, &jamo).await;
    k.send(ClientMsg::CreateRoom { settings: RoomSettings::default() }).await;
    let me = k.id;
    let r = k.room_where("own", |_| true).await;
    let code = r.code.clone();
    assert_eq!(r.players.iter().find(|p| p.id == me).map(|p| p.name.clone()), Some("가".repeat(24)), "NFC");

    let mut ana = Client::connect(&server, "Ana").await;
    ana.join(&code).await;
    let mut ana2 = Client::connect(&server, "Ana").await;
    let r = ana2.join(&code).await;
    let names: Vec<_> = r.players.iter().map(|p| p.name.as_str()).collect();
    assert!(names.contains(&"Ana") && names.contains(&"Ana (2)"), "{names:?}");
    for lookalike in ["Ａｎａ", "ana", "Аna"] {
        let mut c = Client::connect(&server, lookalike).await;
        c.send(ClientMsg::JoinRoom { code: code.clone() }).await;
        assert_eq!(c.error().await.0, ErrorCode::NameTaken, "{lookalike:?} joined");
    }
    assert!(limit(&server, "name_refused").await >= 9);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_loading_fanout_is_coalesced() {
    let server = start(Config { loading_fanout_ms: 250, msg_rate: 200, msg_burst: 200, ..config() }).await;
    let mut cs = Vec::new();
    for i in 0..8 {
        cs.push(Client::connect(&server, &format!("p{i}")).await);
    }
    let code = cs[0].create().await;
    for c in cs.iter_mut().skip(1) {
        c.join(&code).await;
    }
    cs[0].room_where("full", |r| r.players.len() == 8).await;
    let mut observer = cs.remove(0);
    let out_before = metric(&server, "poseparty_messages_out_total ").await;
    let started = Instant::now();
    // Seven players send 50 progress updates each as fast as they can.
    let mut senders = Vec::new();
    for mut c in cs {
        senders.push(tokio::spawn(async move {
            for i in 1..=50 {
                c.send(ClientMsg::SetLoading { stage: LoadingStage::WarmingUp, progress: i as f32 / 50.0 }).await;
            }
            c
        }));
    }
    let mut cs = Vec::new();
    for s in senders {
        cs.push(s.await.unwrap_or_else(|e| panic!("{e}")));
    }
    // Count the snapshots the observer gets until everyone shows 100 %.
    let mut snapshots = 0;
    loop {
        match observer.recv().await {
            ServerMsg::Room(r) => {
                snapshots += 1;
                if r.players.iter().filter(|p| p.progress == 1.0).count() == 7 {
                    break;
                }
            }
            _ => continue,
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    observer.expect_silence(Duration::from_millis(400)).await;
    let out = metric(&server, "poseparty_messages_out_total ").await - out_before;
    eprintln!("350 SetLoading → {snapshots} snapshots to one member in {elapsed:.2} s; {out} frames out in total (uncoalesced: 2800)");
    assert!(f64::from(snapshots) <= elapsed * 4.0 + 3.0, "{snapshots} snapshots in {elapsed:.2} s");
    assert!(out < 8 * (elapsed * 4.0 + 4.0) as u64 + 20, "{out} frames out");
    drop(cs);
    server.shutdown().await;
}

// ---- shutdown ----------------------------------------------------------------------------

#[tokio::test]
async fn hostile_shutdown_during_reporting_keeps_reports_as_incomplete() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let db = dir.path().join("h.sqlite3");
    let cfg = Config { db: db.clone(), min_round_secs: 1, start_delay_ms: 200, report_early_ms: 0, http_history: HttpHistory::Open, ..config() };
    // One round per server run: some of the three players report, then the server stops
    // at once.
    let runs = [1usize, 3, 2, 1, 3];
    for reporters in runs {
        let server = start(cfg.clone()).await;
        let mut cs = short_room(&server, &["a", "b", "c"]).await;
        let (start_at, seed) = start_round(&mut cs).await;
        sleep_until_ms(start_at + 1_000).await;
        let ids: Vec<PeerId> = cs.iter().map(|c| c.id).collect();
        let report = MatchReport { round_seed: seed, scores: vec![line(ids[0], 150, 1, 1), line(ids[1], 0, 0, 0), line(ids[2], 0, 0, 0)] };
        for c in cs.iter_mut().take(reporters) {
            c.send(ClientMsg::ReportResult { report: report.clone() }).await;
        }
        // The reports are read before the shutdown starts (a ping answered after each).
        for c in cs.iter_mut().take(reporters) {
            c.assert_alive().await;
        }
        server.shutdown().await;
    }
    let server = start(cfg).await;
    let (_, body) = http_get(&server, "/history").await;
    let matches: Vec<MatchSummary> = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(matches.len(), runs.len(), "a round was lost: {matches:?}");
    // Newest first.
    for (m, reporters) in matches.iter().zip(runs.iter().rev()) {
        if *reporters == 3 {
            assert!(m.status == MatchStatus::Verified && m.agreed, "all three reported: {m:?}");
        } else {
            assert_eq!((m.status, m.agreed), (MatchStatus::Incomplete, false), "cut by the shutdown: {m:?}");
        }
        assert_eq!(m.scores[0].points, 150, "the received report is kept");
    }
    server.shutdown().await;
}

// ---- STUN ---------------------------------------------------------------------------------

fn stun_request(txid: [u8; 12]) -> Vec<u8> {
    let mut r = Vec::new();
    r.extend_from_slice(&server::stun::BINDING_REQUEST.to_be_bytes());
    r.extend_from_slice(&0u16.to_be_bytes());
    r.extend_from_slice(&server::stun::MAGIC_COOKIE.to_be_bytes());
    r.extend_from_slice(&txid);
    r
}

async fn count_replies(sock: &tokio::net::UdpSocket, within: Duration) -> usize {
    let mut n = 0;
    let mut buf = [0u8; 512];
    while let Ok(Ok(_)) = tokio::time::timeout(within, sock.recv_from(&mut buf)).await {
        n += 1;
    }
    n
}

#[tokio::test]
async fn hostile_stun_is_rate_limited_and_ignores_malformed_requests() {
    let server = start(Config { stun_rate: 5, stun_burst: 10, ..config() }).await;
    let bind = |ip: IpAddr| async move { tokio::net::UdpSocket::bind(SocketAddr::new(ip, 0)).await.unwrap_or_else(|e| panic!("{e}")) };
    let flood = bind(loopback(31)).await;
    let started = Instant::now();
    for i in 0..200u8 {
        flood.send_to(&stun_request([i; 12]), server.stun_addr()).await.unwrap_or_else(|e| panic!("{e}"));
    }
    let answered = count_replies(&flood, Duration::from_millis(500)).await;
    let elapsed = started.elapsed().as_secs_f64();
    assert!(answered >= 1, "nothing answered");
    assert!(answered as f64 <= 10.0 + 5.0 * elapsed + 1.0, "{answered} answers in {elapsed:.2} s");

    // Malformed: an indication, a trailing byte, a broken attribute, a wrong fingerprint.
    let other = bind(loopback(32)).await;
    let mut indication = stun_request([1; 12]);
    indication[1] = 0x11;
    let mut trailing = stun_request([2; 12]);
    trailing.push(0);
    let mut broken = stun_request([3; 12]);
    broken[3] = 8;
    broken.extend_from_slice(&[0x00, 0x06, 0x00, 0x20, 1, 2, 3, 4]);
    let mut fingerprint = stun_request([4; 12]);
    fingerprint[3] = 8;
    fingerprint.extend_from_slice(&[0x80, 0x28, 0x00, 0x04, 0xde, 0xad, 0xbe, 0xef]);
    for bad in [indication, trailing, broken, fingerprint] {
        other.send_to(&bad, server.stun_addr()).await.unwrap_or_else(|e| panic!("{e}"));
    }
    assert_eq!(count_replies(&other, Duration::from_millis(500)).await, 0, "a malformed request was answered");
    // Another source is still served.
    other.send_to(&stun_request([9; 12]), server.stun_addr()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(count_replies(&other, Duration::from_millis(1_000)).await, 1);
    assert!(limit(&server, "stun_rate_limited").await >= 100);
    assert_eq!(limit(&server, "stun_malformed").await, 4);
    server.shutdown().await;
}
