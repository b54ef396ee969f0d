//! Load generator: N websocket clients on loopback in rooms of 4, relaying `Signal`
//! messages at a set total rate, measuring relay latency and the server's memory.
//!
//! By default it starts the `server` binary next to itself as a child process, so the
//! server's RSS is measured alone: `cargo run --release -p server --bin loadgen -- --clients 10000`.
//! With `--url` it drives a running server instead (give `--server-pid` to read its RSS).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use futures_util::{SinkExt as _, StreamExt as _};
use rand::Rng as _;
use shared::protocol::signal::{ClientMsg, PROTOCOL_VERSION, PeerId, RoomSettings, ServerMsg, SignalPayload};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

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
}

/// Counters shared by all client tasks.
#[derive(Default)]
struct Stats {
    sent: AtomicU64,
    received: AtomicU64,
    connect_errors: AtomicU64,
    protocol_errors: AtomicU64,
    closed_early: AtomicU64,
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

async fn connect(url: &str, name: &str) -> anyhow::Result<(Ws, PeerId)> {
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(url, Some(ws_config()), true)
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

/// Connects one room's clients: the first creates the room, the rest join by code.
async fn connect_room(url: &str, first: usize, size: usize) -> anyhow::Result<Vec<(Ws, PeerId)>> {
    let mut members = Vec::with_capacity(size);
    for i in first..first + size {
        members.push(connect(url, &format!("bot{i}")).await?);
    }
    let Some((host, _)) = members.first_mut() else { return Ok(members) };
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
    Ok(members)
}

/// One client during the idle and load phases. Returns its latency samples (µs).
async fn run_client(
    mut ws: Ws,
    peers: Vec<PeerId>,
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
                let to = peers[rand::rng().random_range(0..peers.len())];
                let sdp = format!("{} {padding}", micros_since(epoch));
                let msg = ClientMsg::Signal { to, payload: SignalPayload::Offer { sdp } };
                let Ok(frame) = encode(&msg) else { continue };
                if ws.send(frame).await.is_err() {
                    stats.closed_early.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                stats.sent.fetch_add(1, Ordering::Relaxed);
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

async fn start_server(bin: Option<PathBuf>) -> anyhow::Result<ChildServer> {
    let bin = match bin {
        Some(b) => b,
        None => std::env::current_exe()?.with_file_name(format!("server{}", std::env::consts::EXE_SUFFIX)),
    };
    if !bin.exists() {
        bail!("server binary {} not found — build it first (cargo build --release -p server) or pass --server-bin", bin.display());
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let db_dir = std::env::temp_dir().join(format!("poseparty-loadgen-{}", std::process::id()));
    std::fs::create_dir_all(&db_dir)?;
    let child = Command::new(&bin)
        .args(["--bind", &format!("127.0.0.1:{port}"), "--stun-port", "0"])
        .arg("--db")
        .arg(db_dir.join("history.sqlite3"))
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.room_size == 0 || args.clients == 0 {
        bail!("--clients and --room-size must be at least 1");
    }
    let fd_limit = rlimit::increase_nofile_limit(u64::MAX).context("raising the open-files limit")?;
    if (fd_limit as usize) < args.clients + 64 {
        eprintln!("warning: open-files limit is {fd_limit}, fewer than the {} clients need", args.clients);
    }

    let child = match &args.url {
        Some(_) => None,
        None => Some(start_server(args.server_bin.clone()).await?),
    };
    let url = args.url.clone().or_else(|| child.as_ref().map(|c| c.url.clone())).context("no server URL")?;
    let pid = args.server_pid.or_else(|| child.as_ref().map(|c| c.child.id()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_base = pid.and_then(rss_bytes);

    let stats = Arc::new(Stats::default());
    let epoch = Instant::now();
    let (phase_tx, phase_rx) = watch::channel(Phase::Idle);
    let period = Duration::from_secs_f64(args.clients as f64 / f64::from(args.rate.max(1)));
    let padding: Arc<str> = "x".repeat(args.payload_bytes).into();

    // Connect everyone, room by room.
    let connect_start = Instant::now();
    let gate = Arc::new(Semaphore::new(args.connect_concurrency.max(1)));
    let mut setups = Vec::new();
    for first in (0..args.clients).step_by(args.room_size) {
        let size = args.room_size.min(args.clients - first);
        let (url, gate) = (url.clone(), Arc::clone(&gate));
        setups.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await;
            connect_room(&url, first, size).await
        }));
    }
    let mut clients = Vec::new();
    let mut rooms = 0;
    let mut first_error = None;
    for setup in setups {
        match setup.await {
            Ok(Ok(members)) => {
                rooms += 1;
                let ids: Vec<PeerId> = members.iter().map(|(_, id)| *id).collect();
                for (ws, id) in members {
                    let peers: Vec<PeerId> = ids.iter().copied().filter(|p| *p != id).collect();
                    clients.push(tokio::spawn(run_client(
                        ws,
                        peers,
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
    let rss_idle = pid.and_then(rss_bytes);

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
    let _ = phase_tx.send(Phase::Drain);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let hist_after = server_histogram(&url).await;
    let _ = phase_tx.send(Phase::Stop);

    let mut samples = Vec::new();
    for c in clients {
        if let Ok(s) = c.await {
            samples.extend(s);
        }
    }
    samples.sort_unstable();
    drop(child);

    let sent = stats.sent.load(Ordering::Relaxed);
    let received = stats.received.load(Ordering::Relaxed);
    let per_client = |rss: Option<u64>| match (rss, rss_base) {
        (Some(r), Some(b)) if connected > 0 => format!("{:.2} KiB", r.saturating_sub(b) as f64 / 1024.0 / connected as f64),
        _ => "n/a".into(),
    };
    let fmt_rss = |rss: Option<u64>| rss.map_or_else(|| "n/a".into(), |r| format!("{:.1} MiB", mib(r)));

    println!("PoseParty server load test");
    println!("{:<34} {} / {}", "clients requested / connected", args.clients, connected);
    println!("{:<34} {}", "rooms", rooms);
    println!("{:<34} {:.2} s", "connect + join time", connect_time.as_secs_f64());
    println!("{:<34} {} msg/s for {:.1} s", "target relay rate", args.rate, load_time.as_secs_f64());
    println!("{:<34} {:.0} msg/s", "achieved send rate", sent_in_load as f64 / load_time.as_secs_f64());
    println!("{:<34} {} / {}", "signals sent / received", sent, received);
    println!("{:<34} {:.3} ms", "relay latency p50", percentile(&samples, 0.50));
    println!("{:<34} {:.3} ms", "relay latency p90", percentile(&samples, 0.90));
    println!("{:<34} {:.3} ms", "relay latency p99", percentile(&samples, 0.99));
    println!("{:<34} {:.3} ms", "relay latency max", percentile(&samples, 1.0));
    if let (Some(b), Some(a)) = (&hist_before, &hist_after) {
        println!("{:<34} p50 {} / p99 {}", "server-side relay (read → written)", histogram_quantile(b, a, 0.5), histogram_quantile(b, a, 0.99));
    }
    println!("{:<34} {}", "server RSS before clients", fmt_rss(rss_base));
    println!("{:<34} {}", "server RSS idle", fmt_rss(rss_idle));
    println!("{:<34} {}", "server RSS per idle client", per_client(rss_idle));
    println!("{:<34} {}", "server RSS under load (peak)", fmt_rss(rss_load));
    println!("{:<34} {}", "server RSS per client under load", per_client(rss_load));
    println!(
        "{:<34} connect {} / protocol {} / closed early {} / lost {}",
        "errors",
        stats.connect_errors.load(Ordering::Relaxed),
        stats.protocol_errors.load(Ordering::Relaxed),
        stats.closed_early.load(Ordering::Relaxed),
        sent.saturating_sub(received)
    );
    Ok(())
}
