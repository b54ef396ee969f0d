//! Load generator: N websocket clients on loopback in rooms of 4, relaying `Signal`
//! messages at a set total rate, measuring relay latency and the server's memory.
//!
//! By default it starts the `server` binary next to itself as a child process, so the
//! server's RSS is measured alone: `cargo run --release -p server --bin loadgen -- --clients 10000`.
//! With `--url` it drives a running server instead (give `--server-pid` to read its RSS).
//!
//! Clients connect from many loopback addresses (127.1.x.y, 32 per address) so that the
//! server's per-address connection cap, at its default, is not what is measured.
//!
//! `--hostile` runs the same load twice, each against a fresh server: clean, then with
//! attackers added while the honest clients play — 10 % more clients that join rooms and
//! stop reading, 1 000 slowloris sockets (700 half-sent HTTP heads, 300 websockets holding
//! an unfinished fragmented message; each reconnects when the server cuts it off) and a
//! forged-report loop — and prints the honest clients' latency and the server's memory
//! side by side.
//!
//! `--nodes 1,2,3` runs the load against a cluster of that many nodes for each count (each a
//! `server` process with `--redis`, sharing a `redis-server` the run starts): clients are
//! spread round-robin over the nodes and every room of 4 spans nodes (its members connect
//! to consecutive nodes), so most signals cross nodes through Redis. One row per node count:
//! connected clients, relay p50/p99, messages/s, RSS per node and per idle client, Redis CPU.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use futures_util::{SinkExt as _, StreamExt as _};
use rand::Rng as _;
use server::harness::ws_frame;
use shared::protocol::signal::{
    ClientMsg, ErrorCode, MatchReport, PROTOCOL_VERSION, PeerId, RoomSettings, ScoreLine, ServerMsg, SignalPayload,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::WebSocketStream;

type Ws = WebSocketStream<TcpStream>;

#[derive(Debug, Parser)]
#[command(about = "Opens N websocket clients against the PoseParty server and measures relay latency and memory")]
struct Args {
    /// Number of clients.
    #[arg(long, default_value_t = 1000)]
    clients: usize,
    /// Players per room.
    #[arg(long, default_value_t = 4)]
    room_size: usize,
    /// Total Signal messages per second across all clients during the load phase.
    #[arg(long, default_value_t = 2000)]
    rate: u32,
    /// Length of the load phase, seconds.
    #[arg(long, default_value_t = 10)]
    duration_secs: u64,
    /// Pause between connecting everyone and measuring idle memory, seconds.
    #[arg(long, default_value_t = 3)]
    settle_secs: u64,
    /// Rooms being set up at once while connecting.
    #[arg(long, default_value_t = 64)]
    connect_concurrency: usize,
    /// Drive this server instead of starting one (e.g. ws://127.0.0.1:7878/ws).
    #[arg(long)]
    url: Option<String>,
    /// With --url: the server's process id, to read its memory from /proc.
    #[arg(long)]
    server_pid: Option<u32>,
    /// The server binary to start (default: `server` next to this executable).
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Bytes of padding in each signal (an SDP offer is typically 0.5–3 KiB).
    #[arg(long, default_value_t = 200)]
    payload_bytes: usize,
    /// Run clean, then again with non-reading clients, slowloris sockets and forged
    /// reports added, and print both.
    #[arg(long)]
    hostile: bool,
    /// With --hostile: slowloris sockets.
    #[arg(long, default_value_t = 1000)]
    slowloris: usize,
    /// With --hostile: connections running the forged-report loop.
    #[arg(long, default_value_t = 4)]
    forgers: usize,
    /// Cluster runs: node counts, comma-separated (e.g. 1,2,3); one row each.
    #[arg(long, value_delimiter = ',')]
    nodes: Vec<usize>,
}

/// Counters shared by all client tasks.
#[derive(Default)]
struct Stats {
    sent: AtomicU64,
    received: AtomicU64,
    connect_errors: AtomicU64,
    protocol_errors: AtomicU64,
    closed_early: AtomicU64,
    /// Attackers: sockets the server cut off, reports refused, reports sent.
    slowloris_cut: AtomicU64,
    reports_refused: AtomicU64,
    reports_sent: AtomicU64,
    non_readers: AtomicU64,
}

/// The load generator's own clock: signal payloads carry micros since `EPOCH`.
fn micros_since(epoch: Instant) -> u64 {
    epoch.elapsed().as_micros() as u64
}

fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(4096).max_write_buffer_size(256 * 1024)
}

fn encode(msg: &ClientMsg) -> anyhow::Result<Message> {
    Ok(Message::Binary(shared::protocol::encode(msg)?.into()))
}

async fn next_msg(ws: &mut Ws) -> anyhow::Result<ServerMsg> {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(30), ws.next()).await.context("server silent for 30 s")?;
        match frame {
            Some(Ok(Message::Binary(b))) => return Ok(shared::protocol::decode(&b)?),
            Some(Ok(Message::Close(f))) => bail!("server closed the connection: {f:?}"),
            Some(Ok(_)) => continue,
            Some(Err(e)) => bail!("websocket error: {e}"),
            None => bail!("connection ended"),
        }
    }
}

async fn expect<T>(ws: &mut Ws, what: &str, mut pick: impl FnMut(ServerMsg) -> Option<T>) -> anyhow::Result<T> {
    loop {
        let msg = next_msg(ws).await?;
        if let ServerMsg::Error { code, message } = &msg {
            bail!("server refused while waiting for {what}: {code:?}: {message}");
        }
        if let Some(v) = pick(msg) {
            return Ok(v);
        }
    }
}

/// Loopback source addresses: `count` sockets per address, from 127.`net`.0.1 on.
fn source_ip(net: u8, index: usize, per_address: usize) -> IpAddr {
    let k = index / per_address.max(1) + 1;
    IpAddr::V4(Ipv4Addr::new(127, net, (k >> 8) as u8, (k & 0xff) as u8))
}

fn server_addr(url: &str) -> anyhow::Result<SocketAddr> {
    let host = url.strip_prefix("ws://").and_then(|r| r.split('/').next()).context("a ws:// URL")?;
    host.parse().with_context(|| format!("{host} is not an IP:port"))
}

async fn tcp_from(url: &str, from: IpAddr, rcvbuf: Option<u32>) -> anyhow::Result<TcpStream> {
    let sock = TcpSocket::new_v4()?;
    sock.bind(SocketAddr::new(from, 0)).with_context(|| format!("binding {from}"))?;
    if let Some(n) = rcvbuf {
        sock.set_recv_buffer_size(n)?;
    }
    let stream = tokio::time::timeout(Duration::from_secs(10), sock.connect(server_addr(url)?))
        .await
        .with_context(|| format!("connecting to {url} from {from}: no answer in 10 s"))?
        .with_context(|| format!("connecting to {url} from {from}"))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

async fn connect(url: &str, name: &str, from: IpAddr) -> anyhow::Result<(Ws, PeerId)> {
    connect_with(url, name, from, None).await
}

async fn connect_with(url: &str, name: &str, from: IpAddr, rcvbuf: Option<u32>) -> anyhow::Result<(Ws, PeerId)> {
    let tcp = tcp_from(url, from, rcvbuf).await?;
    let (mut ws, _) = tokio_tungstenite::client_async_with_config(url, tcp, Some(ws_config()))
        .await
        .with_context(|| format!("connecting to {url}"))?;
    let hello = ClientMsg::Hello { protocol_version: PROTOCOL_VERSION, name: name.into(), reconnect_token: None };
    ws.send(encode(&hello)?).await?;
    let id = expect(&mut ws, "Welcome", |m| match m {
        ServerMsg::Welcome { peer_id, .. } => Some(peer_id),
        _ => None,
    })
    .await?;
    Ok((ws, id))
}

/// Connects one room's clients: the first creates the room, the rest join by code. With
/// `non_reader`, one more client joins and is returned apart (it will stop reading).
async fn connect_room(urls: &[String], first: usize, size: usize, non_reader: Option<usize>) -> anyhow::Result<(Vec<(Ws, PeerId)>, Option<(Ws, PeerId)>)> {
    // Client i connects to node i mod n: a room's members sit on consecutive nodes.
    let url = urls.first().context("no server URL")?;
    let mut members = Vec::with_capacity(size);
    for i in first..first + size {
        members.push(connect(&urls[i % urls.len()], &format!("bot{i}"), source_ip(1, i, 32)).await?);
    }
    let Some((host, _)) = members.first_mut() else { return Ok((members, None)) };
    host.send(encode(&ClientMsg::CreateRoom { settings: RoomSettings::default() })?).await?;
    let code = expect(host, "the room", |m| match m {
        ServerMsg::Room(r) => Some(r.code),
        _ => None,
    })
    .await?;
    for (ws, id) in members.iter_mut().skip(1) {
        ws.send(encode(&ClientMsg::JoinRoom { code: code.clone() })?).await?;
        let id = *id;
        expect(ws, "the joined room", |m| match m {
            ServerMsg::Room(r) if r.players.iter().any(|p| p.id == id) => Some(()),
            _ => None,
        })
        .await?;
    }
    let mut silent = None;
    if let Some(n) = non_reader {
        let (mut ws, id) = connect_with(url, &format!("mute{n}"), source_ip(3, n, 32), Some(4096)).await?;
        ws.send(encode(&ClientMsg::JoinRoom { code: code.clone() })?).await?;
        expect(&mut ws, "the joined room", |m| match m {
            ServerMsg::Room(r) if r.players.iter().any(|p| p.id == id) => Some(()),
            _ => None,
        })
        .await?;
        silent = Some((ws, id));
    }
    Ok((members, silent))
}

/// One client during the idle and load phases. Returns its latency samples (µs).
#[allow(clippy::too_many_arguments)]
async fn run_client(
    mut ws: Ws,
    peers: Vec<PeerId>,
    mute: Option<PeerId>,
    period: Duration,
    epoch: Instant,
    mut phase: watch::Receiver<Phase>,
    stats: Arc<Stats>,
    padding: Arc<str>,
) -> Vec<u32> {
    let mut samples = Vec::new();
    let far = tokio::time::Instant::now() + Duration::from_secs(86_400);
    let mut next_send = far;
    loop {
        tokio::select! {
            changed = phase.changed() => {
                if changed.is_err() { break; }
                match *phase.borrow_and_update() {
                    Phase::Load => {
                        // Spread the first sends over one period.
                        let offset = rand::rng().random_range(0.0..1.0) * period.as_secs_f64();
                        next_send = tokio::time::Instant::now() + Duration::from_secs_f64(offset);
                    }
                    Phase::Drain => next_send = far,
                    Phase::Stop => break,
                    Phase::Idle => {}
                }
            }
            () = tokio::time::sleep_until(next_send), if !peers.is_empty() => {
                next_send += period;
                // In a room with a client that stopped reading, one signal in five goes to it
                // (not counted: it is never received).
                let to_mute = mute.filter(|_| rand::rng().random_range(0..5) == 0);
                let to = to_mute.unwrap_or_else(|| peers[rand::rng().random_range(0..peers.len())]);
                let sdp = format!("{} {padding}", micros_since(epoch));
                let msg = ClientMsg::Signal { to, payload: SignalPayload::Offer { sdp } };
                let Ok(frame) = encode(&msg) else { continue };
                if ws.send(frame).await.is_err() {
                    stats.closed_early.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                if to_mute.is_none() {
                    stats.sent.fetch_add(1, Ordering::Relaxed);
                }
            }
            frame = ws.next() => match frame {
                Some(Ok(Message::Binary(b))) => match shared::protocol::decode::<ServerMsg>(&b) {
                    Ok(ServerMsg::Signal { payload: SignalPayload::Offer { sdp }, .. }) => {
                        let now = micros_since(epoch);
                        if let Some(sent) = sdp.split(' ').next().and_then(|t| t.parse::<u64>().ok()) {
                            samples.push(u32::try_from(now.saturating_sub(sent)).unwrap_or(u32::MAX));
                        }
                        stats.received.fetch_add(1, Ordering::Relaxed);
                    }
                    // A signal to a peer the server has just dropped (it stopped reading).
                    Ok(ServerMsg::Error { code: ErrorCode::UnknownPeer, .. }) => {}
                    Ok(ServerMsg::Error { .. }) | Err(_) => {
                        stats.protocol_errors.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(_) => {}
                },
                Some(Ok(_)) => {}
                Some(Err(_)) | None => {
                    stats.closed_early.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            }
        }
    }
    let _ = ws.close(None).await;
    samples
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle,
    Load,
    Drain,
    Stop,
}

/// Resident set size of a process, bytes (Linux /proc).
fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

struct ChildServer {
    child: Child,
    url: String,
    _db_dir: PathBuf,
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        // SIGTERM for a graceful stop, then make sure it is gone.
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: sending a signal to our own child process has no memory effects.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                let _ = std::fs::remove_dir_all(&self._db_dir);
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self._db_dir);
    }
}

async fn start_server(bin: Option<PathBuf>, extra: &[String]) -> anyhow::Result<ChildServer> {
    let bin = match bin {
        Some(b) => b,
        None => std::env::current_exe()?.with_file_name(format!("server{}", std::env::consts::EXE_SUFFIX)),
    };
    if !bin.exists() {
        bail!("server binary {} not found — build it first (cargo build --release -p server) or pass --server-bin", bin.display());
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let db_dir = std::env::temp_dir().join(format!("poseparty-loadgen-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&db_dir)?;
    let child = Command::new(&bin)
        .args(["--bind", &format!("127.0.0.1:{port}"), "--stun-port", "0"])
        .arg("--db")
        .arg(db_dir.join("history.sqlite3"))
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let server = ChildServer { child, url: format!("ws://127.0.0.1:{port}/ws"), _db_dir: db_dir };
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        if Instant::now() > deadline {
            bail!("the server did not start listening on port {port} within 20 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(server)
}

/// The server's relay latency histogram from `/metrics`: (upper bound in ms, cumulative count).
async fn server_histogram(ws_url: &str) -> Option<Vec<(f64, u64)>> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let host = ws_url.strip_prefix("ws://")?.split('/').next()?;
    let mut stream = TcpStream::connect(host).await.ok()?;
    let req = format!("GET /metrics HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).await.ok()?;
    let mut body = String::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut body)).await.ok()?.ok()?;
    let buckets = body
        .lines()
        .filter_map(|l| l.strip_prefix("poseparty_relay_latency_seconds_bucket{le=\""))
        .filter_map(|l| {
            let (le, count) = l.split_once("\"} ")?;
            let le = if le == "+Inf" { f64::INFINITY } else { le.parse::<f64>().ok()? * 1000.0 };
            Some((le, count.trim().parse().ok()?))
        })
        .collect::<Vec<_>>();
    (!buckets.is_empty()).then_some(buckets)
}

/// "≤ X ms" for quantile `q` of the histogram difference `after - before`.
fn histogram_quantile(before: &[(f64, u64)], after: &[(f64, u64)], q: f64) -> String {
    let diff: Vec<(f64, u64)> =
        after.iter().map(|(le, n)| (*le, n - before.iter().find(|(b, _)| b == le).map_or(0, |(_, m)| *m))).collect();
    let total = diff.last().map_or(0, |(_, n)| *n);
    if total == 0 {
        return "n/a".into();
    }
    let target = (total as f64 * q).ceil() as u64;
    match diff.iter().find(|(_, n)| *n >= target) {
        Some((le, _)) if le.is_finite() => format!("<= {le} ms"),
        _ => "> 250 ms".into(),
    }
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() - 1) as f64 * p).round() as usize;
    f64::from(sorted[idx.min(sorted.len() - 1)]) / 1000.0
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Until `phase` says Stop: a half-sent HTTP head trickled a byte a second, reconnected
/// whenever the server cuts it off.
async fn slowloris_http(url: String, index: usize, stats: Arc<Stats>, mut phase: watch::Receiver<Phase>) {
    while *phase.borrow() != Phase::Stop {
        let Ok(mut s) = tcp_from(&url, source_ip(2, index, 16), None).await else {
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        let _ = s.write_all(b"GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n").await;
        let mut buf = [0u8; 512];
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                r = s.read(&mut buf) => if matches!(r, Ok(0) | Err(_)) {
                    stats.slowloris_cut.fetch_add(1, Ordering::Relaxed);
                    break;
                },
                _ = tick.tick() => { let _ = s.write_all(b"X").await; }
                _ = phase.changed() => if *phase.borrow() == Phase::Stop { return },
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Until Stop: a websocket that says Hello, starts a fragmented message and never finishes
/// it (answering with pongs so it never looks idle); reconnected when cut off.
async fn slowloris_ws(url: String, index: usize, stats: Arc<Stats>, mut phase: watch::Receiver<Phase>) {
    while *phase.borrow() != Phase::Stop {
        let Ok(mut s) = tcp_from(&url, source_ip(4, index, 16), None).await else {
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        let req = "GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
        let hello = ClientMsg::Hello { protocol_version: PROTOCOL_VERSION, name: format!("loris{index}"), reconnect_token: None };
        let Ok(hello) = shared::protocol::encode(&hello) else { return };
        let mut first = ws_frame(true, 2, &hello);
        first.extend(ws_frame(false, 2, &[0u8; 1000]));
        let _ = s.write_all(req.as_bytes()).await;
        let _ = s.write_all(&first).await;
        let mut buf = [0u8; 2048];
        let mut tick = tokio::time::interval(Duration::from_secs(2));
        loop {
            tokio::select! {
                r = s.read(&mut buf) => if matches!(r, Ok(0) | Err(_)) {
                    stats.slowloris_cut.fetch_add(1, Ordering::Relaxed);
                    break;
                },
                _ = tick.tick() => { let _ = s.write_all(&ws_frame(true, 0xA, b"")).await; }
                _ = phase.changed() => if *phase.borrow() == Phase::Stop { return },
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Until Stop: a solo room whose round is started, then 20 forged reports a second of
/// 1 360 lines with impossible points (the attack).
async fn forger(url: String, index: usize, stats: Arc<Stats>, mut phase: watch::Receiver<Phase>) {
    let Ok((mut ws, me)) = connect(&url, &format!("forger{index}"), source_ip(5, index, 1)).await else { return };
    let mut seed = 0;
    let setup = [ClientMsg::CreateRoom { settings: RoomSettings::default() }, ClientMsg::StartGame { force: false }, ClientMsg::SetReady { ready: true }];
    for msg in &setup {
        let Ok(m) = encode(msg) else { return };
        if ws.send(m).await.is_err() {
            return;
        }
    }
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let mut scores: Vec<ScoreLine> = (0..1360)
                    .map(|i| ScoreLine { player: me + i, name: format!("x{i}"), points: 999_999, hits: 9_999, best_streak: 9_999, dropped: false })
                    .collect();
                scores.truncate(if rand::rng().random_range(0..2) == 0 { 1 } else { 1360 });
                let Ok(m) = encode(&ClientMsg::ReportResult { report: MatchReport { round_seed: seed, scores } }) else { continue };
                if ws.send(m).await.is_err() { return; }
                stats.reports_sent.fetch_add(1, Ordering::Relaxed);
            }
            frame = ws.next() => match frame {
                Some(Ok(Message::Binary(b))) => match shared::protocol::decode::<ServerMsg>(&b) {
                    Ok(ServerMsg::GameStarting { round_seed, .. }) => seed = round_seed,
                    Ok(ServerMsg::Error { code: ErrorCode::RoundNotOver | ErrorCode::InvalidReport | ErrorCode::WrongPhase | ErrorCode::TooLarge | ErrorCode::RateLimited, .. }) => {
                        stats.reports_refused.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {}
                },
                Some(Ok(_)) => {}
                _ => return,
            },
            _ = phase.changed() => if *phase.borrow() == Phase::Stop { return },
        }
    }
}

/// `/metrics` as text.
async fn metrics_text(ws_url: &str) -> String {
    let Some(host) = ws_url.strip_prefix("ws://").and_then(|r| r.split('/').next()) else { return String::new() };
    let Ok(mut stream) = TcpStream::connect(host).await else { return String::new() };
    let req = format!("GET /metrics HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    if stream.write_all(req.as_bytes()).await.is_err() {
        return String::new();
    }
    let mut body = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut body)).await;
    body
}

fn metric_value(text: &str, prefix: &str) -> u64 {
    text.lines().find_map(|l| l.strip_prefix(prefix)).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}

/// What one run measured.
#[derive(Default)]
struct Outcome {
    rows: Vec<(String, String)>,
}

impl Outcome {
    fn row(&mut self, name: &str, value: String) {
        self.rows.push((name.to_owned(), value));
    }
}

async fn run(args: &Args, hostile: bool) -> anyhow::Result<Outcome> {
    let child = match &args.url {
        Some(_) => None,
        None => Some(start_server(args.server_bin.clone(), &[]).await?),
    };
    let url = args.url.clone().or_else(|| child.as_ref().map(|c| c.url.clone())).context("no server URL")?;
    let pid = args.server_pid.or_else(|| child.as_ref().map(|c| c.child.id()));
    let (outcome, _) = run_on(args, hostile, &[url], &pid.into_iter().collect::<Vec<_>>(), None).await?;
    drop(child);
    Ok(outcome)
}

/// One cluster run: `n` nodes sharing a fresh redis-server.
async fn run_cluster(args: &Args, n: usize) -> anyhow::Result<ClusterRow> {
    let redis = server::harness::RedisServer::start().map_err(anyhow::Error::msg)?;
    let mut nodes = Vec::new();
    for _ in 0..n {
        nodes.push(start_server(args.server_bin.clone(), &["--redis".into(), redis.url()]).await?);
    }
    let urls: Vec<String> = nodes.iter().map(|c| c.url.clone()).collect();
    let pids: Vec<u32> = nodes.iter().map(|c| c.child.id()).collect();
    let (outcome, figures) = run_on(args, false, &urls, &pids, redis.pid()).await?;
    drop(nodes);
    Ok(ClusterRow { nodes: n, outcome, figures })
}

/// Figures of one run for the cluster table.
#[derive(Debug, Default)]
struct Figures {
    connected: usize,
    p50_ms: f64,
    p99_ms: f64,
    msgs_per_s: f64,
    rss_idle_mib: Vec<f64>,
    per_idle_client_kib: f64,
    redis_cpu_pct: Option<f64>,
    lost: u64,
}

struct ClusterRow {
    nodes: usize,
    #[allow(dead_code)]
    outcome: Outcome,
    figures: Figures,
}

/// CPU time (user + system) of a process, seconds (Linux /proc).
fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // SAFETY: sysconf has no memory effects.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    Some(ticks / if hz > 0 { hz as f64 } else { 100.0 })
}

/// The load itself against `urls` (the servers' processes `pids`, and Redis's).
async fn run_on(args: &Args, hostile: bool, urls: &[String], pids: &[u32], redis_pid: Option<u32>) -> anyhow::Result<(Outcome, Figures)> {
    let url = urls.first().cloned().context("no server URL")?;
    let urls: Arc<[String]> = urls.into();
    let pid = pids.first().copied();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Every node's memory; the first node's is the single server's row.
    let rss_bases: Vec<Option<u64>> = pids.iter().map(|p| rss_bytes(*p)).collect();
    let rss_base = rss_bases.first().copied().flatten();

    let stats = Arc::new(Stats::default());
    let epoch = Instant::now();
    let (phase_tx, phase_rx) = watch::channel(Phase::Idle);
    let period = Duration::from_secs_f64(args.clients as f64 / f64::from(args.rate.max(1)));
    let padding: Arc<str> = "x".repeat(args.payload_bytes).into();

    // Connect everyone, room by room; with --hostile, every tenth client (in total) joins a
    // room as an extra member that will stop reading.
    let connect_start = Instant::now();
    let gate = Arc::new(Semaphore::new(args.connect_concurrency.max(1)));
    let mut setups = Vec::new();
    let mut mutes_left = if hostile { args.clients / 10 } else { 0 };
    let rooms_total = args.clients.div_ceil(args.room_size);
    for (r, first) in (0..args.clients).step_by(args.room_size).enumerate() {
        let size = args.room_size.min(args.clients - first);
        // Spread the non-readers over the rooms.
        let mute = (mutes_left > 0 && (r * (args.clients / 10)) / rooms_total.max(1) != ((r + 1) * (args.clients / 10)) / rooms_total.max(1))
            .then(|| {
                mutes_left -= 1;
                r
            });
        let (urls, gate) = (urls.clone(), Arc::clone(&gate));
        setups.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await;
            connect_room(&urls, first, size, mute).await
        }));
    }
    let mut clients = Vec::new();
    let mut mutes = Vec::new();
    let mut rooms = 0;
    let mut first_error = None;
    for setup in setups {
        match setup.await {
            Ok(Ok((members, mute))) => {
                rooms += 1;
                let ids: Vec<PeerId> = members.iter().map(|(_, id)| *id).collect();
                let mute_id = mute.as_ref().map(|(_, id)| *id);
                if let Some((ws, _)) = mute {
                    mutes.push(ws);
                    stats.non_readers.fetch_add(1, Ordering::Relaxed);
                }
                for (ws, id) in members {
                    let peers: Vec<PeerId> = ids.iter().copied().filter(|p| *p != id).collect();
                    clients.push(tokio::spawn(run_client(
                        ws,
                        peers,
                        mute_id,
                        period,
                        epoch,
                        phase_rx.clone(),
                        Arc::clone(&stats),
                        Arc::clone(&padding),
                    )));
                }
            }
            Ok(Err(e)) => {
                stats.connect_errors.fetch_add(1, Ordering::Relaxed);
                first_error.get_or_insert(format!("{e:#}"));
            }
            Err(e) => {
                stats.connect_errors.fetch_add(1, Ordering::Relaxed);
                first_error.get_or_insert(e.to_string());
            }
        }
    }
    let connected = clients.len();
    let connect_time = connect_start.elapsed();
    if let Some(e) = &first_error {
        eprintln!("first connection error: {e}");
    }

    tokio::time::sleep(Duration::from_secs(args.settle_secs)).await;
    let rss_idles: Vec<Option<u64>> = pids.iter().map(|p| rss_bytes(*p)).collect();
    let rss_idle = rss_idles.first().copied().flatten();
    let redis_cpu_before = redis_pid.and_then(cpu_secs);

    // The attackers start with the load.
    let mut attackers = Vec::new();
    if hostile {
        let loris_http = args.slowloris * 7 / 10;
        for i in 0..args.slowloris {
            let (url, stats, phase) = (url.clone(), Arc::clone(&stats), phase_rx.clone());
            attackers.push(if i < loris_http {
                tokio::spawn(slowloris_http(url, i, stats, phase))
            } else {
                tokio::spawn(slowloris_ws(url, i, stats, phase))
            });
        }
        for i in 0..args.forgers {
            attackers.push(tokio::spawn(forger(url.clone(), i, Arc::clone(&stats), phase_rx.clone())));
        }
    }

    let hist_before = server_histogram(&url).await;
    let _ = phase_tx.send(Phase::Load);
    let load_start = Instant::now();
    let sent_before = stats.sent.load(Ordering::Relaxed);
    let mut rss_load = None;
    let mut rss_load_max = 0;
    while load_start.elapsed() < Duration::from_secs(args.duration_secs) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if let Some(r) = pid.and_then(rss_bytes) {
            rss_load_max = rss_load_max.max(r);
            rss_load = Some(rss_load_max);
        }
    }
    let load_time = load_start.elapsed();
    let sent_in_load = stats.sent.load(Ordering::Relaxed) - sent_before;
    let redis_cpu = match (redis_cpu_before, redis_pid.and_then(cpu_secs)) {
        (Some(b), Some(a)) => Some((a - b) / load_time.as_secs_f64() * 100.0),
        _ => None,
    };
    let _ = phase_tx.send(Phase::Drain);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let hist_after = server_histogram(&url).await;
    let metrics = metrics_text(&url).await;
    let _ = phase_tx.send(Phase::Stop);

    let mut samples = Vec::new();
    for c in clients {
        if let Ok(s) = c.await {
            samples.extend(s);
        }
    }
    for a in attackers {
        // An attacker stuck in a connect is not waited for.
        let abort = a.abort_handle();
        if tokio::time::timeout(Duration::from_secs(5), a).await.is_err() {
            abort.abort();
        }
    }
    drop(mutes);
    samples.sort_unstable();

    let sent = stats.sent.load(Ordering::Relaxed);
    let received = stats.received.load(Ordering::Relaxed);
    let per_client = |rss: Option<u64>| match (rss, rss_base) {
        (Some(r), Some(b)) if connected > 0 => format!("{:.2} KiB", r.saturating_sub(b) as f64 / 1024.0 / connected as f64),
        _ => "n/a".into(),
    };
    let fmt_rss = |rss: Option<u64>| rss.map_or_else(|| "n/a".into(), |r| format!("{:.1} MiB", mib(r)));

    let mut o = Outcome::default();
    o.row("clients requested / connected", format!("{} / {}", args.clients, connected));
    o.row("rooms", rooms.to_string());
    o.row("connect + join time", format!("{:.2} s", connect_time.as_secs_f64()));
    o.row("target relay rate", format!("{} msg/s for {:.1} s", args.rate, load_time.as_secs_f64()));
    o.row("achieved send rate", format!("{:.0} msg/s", sent_in_load as f64 / load_time.as_secs_f64()));
    o.row("signals sent / received", format!("{sent} / {received}"));
    o.row("relay latency p50", format!("{:.3} ms", percentile(&samples, 0.50)));
    o.row("relay latency p90", format!("{:.3} ms", percentile(&samples, 0.90)));
    o.row("relay latency p99", format!("{:.3} ms", percentile(&samples, 0.99)));
    o.row("relay latency max", format!("{:.3} ms", percentile(&samples, 1.0)));
    if let (Some(b), Some(a)) = (&hist_before, &hist_after) {
        o.row("server-side relay (read → written)", format!("p50 {} / p99 {}", histogram_quantile(b, a, 0.5), histogram_quantile(b, a, 0.99)));
    }
    o.row("server RSS before clients", fmt_rss(rss_base));
    o.row("server RSS idle", fmt_rss(rss_idle));
    o.row("server RSS per idle client", per_client(rss_idle));
    o.row("server RSS under load (peak)", fmt_rss(rss_load));
    o.row("server RSS per client under load", per_client(rss_load));
    o.row(
        "errors",
        format!(
            "connect {} / protocol {} / closed early {} / lost {}",
            stats.connect_errors.load(Ordering::Relaxed),
            stats.protocol_errors.load(Ordering::Relaxed),
            stats.closed_early.load(Ordering::Relaxed),
            sent.saturating_sub(received)
        ),
    );
    let lim = |name: &str| metric_value(&metrics, &format!("poseparty_limit_total{{limit=\"{name}\"}} "));
    o.row("non-reading clients / dropped as slow", format!("{} / {}", stats.non_readers.load(Ordering::Relaxed), metric_value(&metrics, "poseparty_slow_clients_dropped_total ")));
    o.row(
        "slowloris sockets cut off (head / unfinished msg)",
        format!("{} ({} / {})", stats.slowloris_cut.load(Ordering::Relaxed), lim("header_read_timeout"), lim("unfinished_message")),
    );
    o.row(
        "forged reports sent / refused / recorded",
        format!(
            "{} / {} / {}",
            stats.reports_sent.load(Ordering::Relaxed),
            stats.reports_refused.load(Ordering::Relaxed),
            metric_value(&metrics, "poseparty_matches_recorded_total ")
        ),
    );
    o.row("connections refused at accept", format!("{}", lim("connections_per_ip") + lim("connections_total")));
    let grown: u64 = rss_idles.iter().zip(&rss_bases).map(|(i, b)| i.unwrap_or(0).saturating_sub(b.unwrap_or(0))).sum();
    let figures = Figures {
        connected,
        p50_ms: percentile(&samples, 0.50),
        p99_ms: percentile(&samples, 0.99),
        msgs_per_s: sent_in_load as f64 / load_time.as_secs_f64(),
        rss_idle_mib: rss_idles.iter().map(|r| r.map_or(f64::NAN, mib)).collect(),
        per_idle_client_kib: if connected > 0 { grown as f64 / 1024.0 / connected as f64 } else { f64::NAN },
        redis_cpu_pct: redis_cpu,
        lost: sent.saturating_sub(received),
    };
    Ok((o, figures))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.room_size == 0 || args.clients == 0 {
        bail!("--clients and --room-size must be at least 1");
    }
    let fd_limit = rlimit::increase_nofile_limit(u64::MAX).context("raising the open-files limit")?;
    let need = args.clients + if args.hostile { args.clients / 10 + args.slowloris + args.forgers } else { 0 } + 64;
    if (fd_limit as usize) < need {
        eprintln!("warning: open-files limit is {fd_limit}, fewer than the {need} sockets need");
    }
    if !args.nodes.is_empty() {
        if args.url.is_some() || args.hostile {
            bail!("--nodes starts its own nodes: it goes without --url and --hostile");
        }
        let mut rows = Vec::new();
        for &n in &args.nodes {
            if n == 0 {
                bail!("--nodes: a cluster has at least 1 node");
            }
            rows.push(run_cluster(&args, n).await?);
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        println!("PoseParty cluster load test: {} clients in rooms of {} spanning nodes, {} signals/s for {} s", args.clients, args.room_size, args.rate, args.duration_secs);
        println!("| nodes | connected | relay p50 | relay p99 | msg/s | RSS idle per node (MiB) | RSS per idle client | Redis CPU | lost |");
        println!("|---:|---:|---:|---:|---:|---|---:|---:|---:|");
        for r in rows {
            let f = &r.figures;
            let rss: Vec<String> = f.rss_idle_mib.iter().map(|m| format!("{m:.1}")).collect();
            println!(
                "| {} | {} | {:.3} ms | {:.3} ms | {:.0} | {} | {:.2} KiB | {} | {} |",
                r.nodes,
                f.connected,
                f.p50_ms,
                f.p99_ms,
                f.msgs_per_s,
                rss.join(" / "),
                f.per_idle_client_kib,
                f.redis_cpu_pct.map_or_else(|| "n/a".into(), |c| format!("{c:.0} %")),
                f.lost
            );
        }
        return Ok(());
    }
    let clean = run(&args, false).await?;
    let hostile = if args.hostile {
        // Let the first server's sockets drain before the second run.
        tokio::time::sleep(Duration::from_secs(2)).await;
        Some(run(&args, true).await?)
    } else {
        None
    };

    println!("PoseParty server load test");
    match hostile {
        None => {
            for (name, value) in &clean.rows {
                println!("{name:<50} {value}");
            }
        }
        Some(h) => {
            println!("{:<50} {:<34} hostile", "", "clean");
            for ((name, c), (_, v)) in clean.rows.iter().zip(&h.rows) {
                println!("{name:<50} {c:<34} {v}");
            }
        }
    }
    Ok(())
}
