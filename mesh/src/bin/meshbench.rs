//! Mesh benchmark: an embedded server on 127.0.0.1 and N players in one room, all in this
//! process. Prints, per room size and packet-loss rate, the link connect time (offer → both
//! channels open) and the one-way latency of live poses sent by every player to every other
//! at 30 Hz.
//!
//! With a loss rate above 0, every datagram between players crosses a loopback relay that
//! drops that share of them (`mesh::relay`); links are formed without loss, then the relay
//! starts dropping, so the loss rows measure the channels, not the handshake.
//!
//! `cargo run --release -p mesh --bin meshbench -- --peers 2,4 --loss 0,0.1 --seconds 5`
//!
//! `--nat` (root; `ip`, `nft`, `turnserver`): the players sit in network namespaces behind
//! NATs (`mesh::netlab`), the server and coturn in another; rows for direct links
//! (port-preserving NATs) and relayed ones (symmetric NATs, UDP between the players dropped),
//! with the loss rates applied by nftables at each player's NAT.
//!
//! `--media` (defaults `--peers 2,4 --loss 0,0.05 --seconds 8`): the video call instead of
//! poses. Every player sends VP8 video (a 4:3 window panning across `--picture`, the
//! astronaut of `shared/testdata/images` by default, scaled to 320×240, 15 fps, ~400 kbit/s
//! realtime, a keyframe when a peer asks) and Opus voice (a tone of its own frequency with a
//! louder 20 ms burst every 500 ms, 20 ms packets at 32 kbit/s) to every other; every
//! player decodes each peer's video with its own decoder and plays each peer's voice through
//! a `media::jitter::VoiceReceiver` pulled 10 ms every 10 ms. Each player's media work runs
//! on its own threads (`p{i}-cam`, `-mic`, `-recv`, `-play`, and its mesh's runtime
//! `p{i}-net`). One row per (players, loss): received fps and bitrate, glass-to-glass latency
//! (capture → decoded picture, the frame identified by its number drawn into the picture as
//! black/white blocks), PSNR against the sent picture of that number, freezes (no new
//! picture for > 500 ms), CPU per player (its threads' utime+stime from /proc/self/task over
//! the sending time), and for voice the mouth-to-ear latency (burst start → the playout pull
//! that plays it; the burst's frequency tells which of 4 it was), the clicks heard, the
//! PLC+FEC frames, and whether the dominant frequency heard is the sender's tone.
//!
//! `cargo run --release -p mesh --bin meshbench -- --media`

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use mesh::harness::form_room;
use mesh::relay::LossyRelays;
use mesh::{Command, Config, Event, MeshHandle, PeerId, PeerMsg};
use shared::pose::Skeleton;
use shared::protocol::peer::{LivePose, QuantizedSkeleton};
use shared::protocol::signal::RoomSettings;

#[derive(Parser, Debug)]
#[command(about = "Connect time and live-message latency of the PoseParty WebRTC mesh on loopback")]
struct Args {
    /// Room sizes to measure, comma-separated.
    #[arg(long, env = "MESHBENCH_PEERS", value_delimiter = ',', default_value = "2,4")]
    peers: Vec<usize>,
    /// Seconds of live traffic per room size [default: 5; with --media 8].
    #[arg(long = "seconds", env = "MESHBENCH_SECONDS")]
    seconds_arg: Option<u64>,
    #[arg(skip)]
    seconds: u64,
    /// Live messages per second per player.
    #[arg(long, env = "MESHBENCH_RATE", default_value_t = 30)]
    rate: u64,
    /// Shares of datagrams dropped between players (0 ≤ loss < 1), comma-separated
    /// [default: 0,0.1; with --media 0,0.05].
    #[arg(long = "loss", env = "MESHBENCH_LOSS", value_delimiter = ',')]
    loss_arg: Vec<f64>,
    #[arg(skip)]
    loss: Vec<f64>,
    /// Measure across NATs in network namespaces: direct vs relayed (TURN) links.
    #[arg(long)]
    nat: bool,
    /// Measure the video call instead: every player sends VP8 video and Opus voice to every
    /// other, on loopback (see the module docs).
    #[arg(long, conflicts_with = "nat")]
    media: bool,
    /// The picture the --media players film (any PNG; a 4:3 window pans across it).
    #[arg(long, env = "MESHBENCH_PICTURE", default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/testdata/images/astronaut.png"))]
    picture: std::path::PathBuf,
}

struct Row {
    path: &'static str,
    /// From the first join until every link of the room was open.
    linked: Duration,
    peers: usize,
    loss: f64,
    links: usize,
    connect: Vec<Duration>,
    sent: usize,
    received: usize,
    latency: Vec<Duration>,
}

fn pct(sorted: &[Duration], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

type SendLog = Arc<Mutex<HashMap<(PeerId, u32), Instant>>>;

async fn receive(mut mesh: MeshHandle, stop: Instant, log: SendLog) -> (MeshHandle, Vec<Duration>) {
    let mut latencies = Vec::new();
    while let Ok(Some(event)) = tokio::time::timeout_at(stop.into(), mesh.recv()).await {
        if let Event::PeerMessage { from, msg: PeerMsg::Pose(p), .. } = event {
            let now = Instant::now();
            if let Some(sent) = log.lock().ok().and_then(|l| l.get(&(from, p.seq)).copied()) {
                latencies.push(now - sent);
            }
        }
    }
    (mesh, latencies)
}

async fn run(n: usize, loss: f64, args: &Args, url: &str) -> anyhow::Result<Row> {
    let relays = (loss > 0.0).then(|| LossyRelays::new(0.0, 0xbe9c));
    let peers = form_room(n, RoomSettings::default(), Duration::from_secs(30), |i| {
        let mut config = Config::new(url.to_owned(), format!("bench{i}"));
        config.candidate_rewrite = relays.as_ref().map(LossyRelays::candidate_rewrite);
        config
    })
    .await
    .with_context(|| format!("forming a room of {n}"))?;
    if let Some(relays) = &relays {
        relays.set_loss(loss);
    }
    let connect: Vec<Duration> = peers
        .iter()
        .flat_map(|(_, m)| m.status().links.into_iter().filter_map(|l| l.connected_in))
        .collect();
    let links = connect.len();

    let (sent, latency) = measure(peers, args, n).await?;
    Ok(Row { path: "loopback", linked: Duration::ZERO, peers: n, loss, links, connect, sent, received: latency.len(), latency })
}

/// Live poses at `args.rate` from every player to every other; returns (sent, latencies).
async fn measure(peers: Vec<(PeerId, MeshHandle)>, args: &Args, n: usize) -> anyhow::Result<(usize, Vec<Duration>)> {
    let log: SendLog = Arc::default();
    let traffic = Duration::from_secs(args.seconds);
    let stop = Instant::now() + traffic + Duration::from_millis(500);
    let skeleton = QuantizedSkeleton::from_skeleton(&Skeleton::default());
    let period = Duration::from_micros(1_000_000 / args.rate.max(1));
    let count = (traffic.as_micros() / period.as_micros()) as u32;
    let mut tasks = Vec::new();
    for (id, mesh) in peers {
        let commands = mesh.command_sender();
        let sender_log = log.clone();
        tasks.push(tokio::spawn(receive(mesh, stop, log.clone())));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            for seq in 0..count {
                tick.tick().await;
                if let Ok(mut l) = sender_log.lock() {
                    l.insert((id, seq), Instant::now());
                }
                let pose = LivePose { seat: 0, seq, round_ms: 0, skeleton: Some(skeleton) };
                commands.send(Command::SendUnreliable(PeerMsg::Pose(pose)));
            }
        });
    }
    let mut latency = Vec::new();
    let mut meshes = Vec::new();
    for t in tasks {
        let (mesh, l) = t.await?;
        latency.extend(l);
        meshes.push(mesh);
    }
    drop(meshes);
    latency.sort_unstable();
    let sent = count as usize * n * (n - 1);
    Ok((sent, latency))
}


/// Every (room size, loss rate) to measure, checked: rooms of at least 2, loss in [0, 1).
fn cases(args: &Args) -> anyhow::Result<Vec<(usize, f64)>> {
    let mut out = Vec::new();
    for &n in &args.peers {
        anyhow::ensure!(n >= 2, "a room needs at least 2 peers (got {n})");
        for &loss in &args.loss {
            anyhow::ensure!((0.0..1.0).contains(&loss), "a loss rate is a share in [0, 1) (got {loss})");
            out.push((n, loss));
        }
    }
    Ok(out)
}

/// Waits for the mesh's Welcome, then creates a room (`create`) or joins `code`; returns the
/// player's id and the room's code.
async fn take_seat(mesh: &mut MeshHandle, create: bool, code: &str, timeout: Duration) -> anyhow::Result<(PeerId, String)> {
    let id = mesh::harness::wait_for(mesh, timeout, "Welcome", |e| match e {
        Event::Welcome { peer_id, .. } => Some(*peer_id),
        _ => None,
    })
    .await?;
    mesh.send(if create { Command::CreateRoom(RoomSettings::default()) } else { Command::JoinRoom(code.to_owned()) });
    let room = mesh::harness::wait_for(mesh, timeout, "room", |e| match e {
        Event::Room(r) if r.players.iter().any(|p| p.id == id) => Some(r.code.clone()),
        _ => None,
    })
    .await?;
    Ok((id, room))
}

fn main() -> anyhow::Result<()> {
    let mut args = Args::parse();
    args.seconds = args.seconds_arg.unwrap_or(if args.media { 8 } else { 5 });
    args.loss = if args.loss_arg.is_empty() {
        if args.media { vec![0.0, 0.05] } else { vec![0.0, 0.1] }
    } else {
        args.loss_arg.clone()
    };
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    if args.media {
        return call::main(&args);
    }
    if args.nat {
        return nat::main(&args);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let server = server::spawn(server::Config::ephemeral()).await.context("starting the embedded server")?;
        let url = server.ws_url();
        let mut rows = Vec::new();
        for (n, loss) in cases(&args)? {
            rows.push(run(n, loss, &args, &url).await?);
        }
        print_rows(&mut rows);
        println!("({} Hz per player for {} s, loopback, one process)", args.rate, args.seconds);
        server.shutdown().await;
        anyhow::Ok(())
    })
}

fn print_rows(rows: &mut [Row]) {
        println!(
            "| path | peers | packet loss | links | room linked in | connect p50 | connect max | live msgs sent | received | lost | latency p50 | latency p99 |"
        );
        println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
        for r in rows.iter_mut() {
            r.connect.sort_unstable();
            println!(
                "| {} | {} | {:.0} % | {} | {} | {} | {} | {} | {} | {:.2} % | {} | {} |",
                r.path,
                r.peers,
                r.loss * 100.0,
                r.links,
                ms(r.linked),
                ms(pct(&r.connect, 50)),
                ms(r.connect.last().copied().unwrap_or_default()),
                r.sent,
                r.received,
                100.0 * (1.0 - r.received as f64 / r.sent.max(1) as f64),
                ms(pct(&r.latency, 50)),
                ms(pct(&r.latency, 99)),
            );
        }
}

mod nat {
    //! `--nat`: the same measurement across NATs in network namespaces.
    use super::*;
    use mesh::netlab::{Lab, LabOptions, SERVER_IP, TURN_IP};
    use mesh::{LinkState, Mesh};

    const TURN_PORT: u16 = 3479;
    const SECRET: &str = "meshbench-secret";

    pub fn main(args: &Args) -> anyhow::Result<()> {
        Lab::check().map_err(|why| anyhow::anyhow!("--nat needs network namespaces: {why}"))?;
        let mut rows = Vec::new();
        let cases = crate::cases(args)?;
        for &n in &args.peers {
            for relayed in [false, true] {
                for &(_, loss) in cases.iter().filter(|(m, _)| *m == n) {
                    rows.push(run(n, relayed, loss, args)?);
                }
            }
        }
        print_rows(&mut rows);
        println!(
            "({} Hz per player for {} s; each player behind its own NAT in a network namespace; loss dropped by nftables at each NAT, one point per one-way path)",
            args.rate, args.seconds
        );
        Ok(())
    }

    fn run(n: usize, relayed: bool, loss: f64, args: &Args) -> anyhow::Result<Row> {
        let lab = Lab::new(LabOptions { clients: n, random_ports: relayed, drop_udp_between_clients: relayed })?;
        let dir = tempfile_dir()?;
        let _coturn = lab.start_coturn(&dir, TURN_PORT, SECRET)?;
        let srv_rt = lab.runtime(&lab.server_ns())?;
        let mut cfg = server::Config::ephemeral();
        cfg.bind = (SERVER_IP, 0).into();
        cfg.turn_urls = vec![format!("turn:{TURN_IP}:{TURN_PORT}?transport=udp")];
        cfg.turn_secret = Some(server::turn::Secret::new(SECRET));
        let server = srv_rt.block_on(srv_rt.spawn(server::spawn(cfg)))??;
        let url = server.ws_url();
        let orchestra = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
        let mut runtimes = Vec::new();
        let row = orchestra.block_on(async {
            let started = Instant::now();
            let mut peers = Vec::new();
            let mut code = String::new();
            for i in 1..=n {
                let rt = lab.runtime(&lab.client_ns(i))?;
                let mut mesh = Mesh::start_on(rt.handle(), Config::new(url.clone(), format!("bench{i}")))?;
                runtimes.push(rt);
                let (id, room) = take_seat(&mut mesh, i == 1, &code, Duration::from_secs(30)).await?;
                if i == 1 {
                    code = room;
                }
                peers.push((id, mesh));
            }
            for (_, mesh) in &mut peers {
                mesh::harness::wait_links_open(mesh, n - 1, Duration::from_secs(60)).await?;
            }
            let linked = started.elapsed();
            let connect: Vec<Duration> = peers
                .iter()
                .flat_map(|(_, m)| m.status().links.into_iter().filter(|l| l.state == LinkState::Open).filter_map(|l| l.connected_in))
                .collect();
            let links = connect.len();
            lab.set_loss((loss * 100.0).round() as u32)?;
            let (sent, latency) = measure(peers, args, n).await?;
            anyhow::Ok(Row {
                path: if relayed { "relayed (TURN)" } else { "direct (NAT)" },
                linked,
                peers: n,
                loss,
                links,
                connect,
                sent,
                received: latency.len(),
                latency,
            })
        })?;
        drop(runtimes);
        srv_rt.block_on(srv_rt.spawn(server.shutdown()))?;
        let _ = std::fs::remove_dir_all(&dir);
        Ok(row)
    }

    fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
        let dir = std::env::temp_dir().join(format!("meshbench-nat-{}-{}", std::process::id(), rand_suffix()));
        std::fs::create_dir_all(&dir)?;
        Ok(dir)
    }

    fn rand_suffix() -> u64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
    }
}

mod call {
    //! `--media`: the video call. Every player films a picture (a 4:3 window panning across
    //! `--picture`, 320×240, its frame number drawn into the top rows as black/white blocks)
    //! at 15 fps into VP8 (~400 kbit/s realtime, a keyframe when a peer asks), and speaks a
    //! tone of its own frequency (20 ms Opus packets at 32 kbit/s) with a short louder burst
    //! every 500 ms — the burst's frequency says which burst it is (modulo 4). Every player
    //! decodes every peer's video with a decoder of its own and plays every peer's voice
    //! through a `VoiceReceiver` pulled 10 ms every 10 ms, like a sound card.
    //!
    //! Threads: player `i` has `p{i}-net` (its mesh's tokio runtime, with the loss relays its
    //! candidates create), `p{i}-cam` (capture + VP8 encode), `p{i}-mic` (tone + Opus),
    //! `p{i}-recv` (events, VP8 decode, voice packets into the jitter buffers) and
    //! `p{i}-play` (playout + click detection); CPU per player sums their utime+stime from
    //! /proc/self/task. PSNR against the sent picture is computed off the players' threads
    //! (`bench-psnr`).
    use super::*;
    use std::path::Path;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Condvar, PoisonError, mpsc};
    use std::thread;

    use media::{
        EncoderConfig, FRAME_SAMPLES, OpusEncoder, SAMPLE_RATE, VoiceReceiver, Vp8Decoder, Vp8Encoder, dominant_frequency,
        downscale_rgb, psnr,
    };
    use mesh::{CommandSender, Mesh};

    const W: u32 = 320;
    const H: u32 = 240;
    const FPS: u32 = 15;
    const VIDEO_KBPS: u32 = 400;
    const VOICE_BPS: i32 = 32_000;
    const MIC_FRAME: Duration = Duration::from_millis(20);
    /// Samples the playout pulls per tick (10 ms).
    const BLOCK: usize = 480;
    const BLOCK_TIME: Duration = Duration::from_millis(10);
    /// A burst every 25 mic frames (500 ms), in frame 12 of each 25.
    const BURST_EVERY: u64 = 25;
    const BURST_AT: u64 = 12;
    const TONE_AMP: f64 = 0.08;
    const BURST_AMP: f64 = 0.7;
    /// A sample louder than this (the tone never is) starts a burst.
    const ONSET: i32 = (0.35 * 32767.0) as i32;
    /// Side of a marker block, and the bits of the frame number.
    const MARK: usize = 16;
    const MARK_BITS: usize = 16;
    const FREEZE: Duration = Duration::from_millis(500);
    /// How long receivers keep going after the senders stopped.
    const GRACE: Duration = Duration::from_millis(800);
    /// Positions of the panning window.
    const CROPS: usize = 129;

    fn tone_hz(player: usize) -> f64 {
        300.0 + 125.0 * player as f64
    }

    fn burst_hz(k: u64) -> f64 {
        1500.0 + 500.0 * (k % 4) as f64
    }

    fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        m.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn sleep_until(at: Instant) {
        let now = Instant::now();
        if at > now {
            thread::sleep(at - now);
        }
    }

    /// The camera: the picture at `CROPS` window positions, scaled to 320×240.
    pub struct Pictures {
        crops: Vec<Vec<u8>>,
    }

    impl Pictures {
        pub fn load(path: &Path) -> anyhow::Result<Self> {
            let img = image::open(path)
                .with_context(|| {
                    format!("reading the test picture {} (the astronaut of shared/testdata/images; or pass --picture)", path.display())
                })?
                .to_rgb8();
            let (w, h) = (img.width() as usize, img.height() as usize);
            anyhow::ensure!(w >= 64 && h >= 64, "the test picture {} is only {w}×{h}", path.display());
            // The largest 4:3 window inside, 7/8 of it, so that it can move both ways.
            let (cw, ch) = if w * 3 <= h * 4 { (w * 7 / 8, w * 7 / 8 * 3 / 4) } else { (h * 7 / 8 * 4 / 3, h * 7 / 8) };
            let full = img.into_raw();
            let mut crops = Vec::with_capacity(CROPS);
            let mut window = vec![0u8; cw * ch * 3];
            for k in 0..CROPS {
                let (x0, y0) = ((w - cw) * k / (CROPS - 1), (h - ch) * k / (CROPS - 1));
                for y in 0..ch {
                    let src = ((y0 + y) * w + x0) * 3;
                    window[y * cw * 3..(y + 1) * cw * 3].copy_from_slice(&full[src..src + cw * 3]);
                }
                crops.push(downscale_rgb(&window, cw as u32, ch as u32, W, H).context("scaling the test picture")?);
            }
            Ok(Self { crops })
        }

        /// Player `player`'s picture `frame`: the window moving back and forth (each player
        /// at its own phase), the frame number drawn in.
        fn frame(&self, player: usize, frame: usize) -> Vec<u8> {
            let period = 2 * (CROPS - 1);
            let m = (frame + 31 * player) % period;
            let mut rgb = self.crops[if m < CROPS { m } else { period - m }].clone();
            draw_marker(&mut rgb, frame as u32);
            rgb
        }
    }

    /// The frame number in two rows of 16×16 blocks at the top: bit b white or black, and
    /// below it the opposite (a check that the blocks were read right).
    fn draw_marker(rgb: &mut [u8], frame: u32) {
        let w = W as usize;
        for b in 0..MARK_BITS {
            let bit = (frame >> b) & 1 == 1;
            for (row, on) in [(0, bit), (1, !bit)] {
                let v = if on { 255 } else { 0 };
                for y in row * MARK..(row + 1) * MARK {
                    let at = (y * w + b * MARK) * 3;
                    rgb[at..at + MARK * 3].fill(v);
                }
            }
        }
    }

    /// The frame number drawn by `draw_marker`, if every block reads clearly.
    fn read_marker(rgb: &[u8]) -> Option<usize> {
        let w = W as usize;
        if rgb.len() != w * H as usize * 3 {
            return None;
        }
        let mean = |bx: usize, row: usize| {
            let mut sum = 0u32;
            for y in row * MARK + 4..row * MARK + 12 {
                for x in bx * MARK + 4..bx * MARK + 12 {
                    let at = (y * w + x) * 3;
                    sum += u32::from(rgb[at]) + u32::from(rgb[at + 1]) + u32::from(rgb[at + 2]);
                }
            }
            sum / (64 * 3)
        };
        let mut frame = 0;
        for b in 0..MARK_BITS {
            let (top, below) = (mean(b, 0), mean(b, 1));
            let bit = match (top, below) {
                (t, u) if t > 192 && u < 64 => 1,
                (t, u) if t < 64 && u > 192 => 0,
                _ => return None,
            };
            frame |= bit << b;
        }
        Some(frame)
    }

    /// PSNR over the picture below the marker rows.
    fn picture_psnr(decoded: &[u8], sent: &[u8]) -> f64 {
        let skip = 2 * MARK * W as usize * 3;
        if decoded.len() != sent.len() || decoded.len() <= skip {
            return f64::NAN;
        }
        psnr(&decoded[skip..], &sent[skip..]).min(99.0)
    }

    /// CPU ticks (utime + stime) of this process's threads, per player (`p{i}-…` threads)
    /// and for everything else (`None`).
    fn cpu_ticks() -> anyhow::Result<HashMap<Option<usize>, u64>> {
        let mut out = HashMap::new();
        for task in std::fs::read_dir("/proc/self/task").context("listing /proc/self/task")? {
            let Ok(task) = task else { continue };
            // A thread may end between the listing and the read: skip it.
            let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else { continue };
            let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else { continue };
            let comm = &stat[open + 1..close];
            let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
            // Fields 14 and 15 of stat (utime, stime); the slice starts at field 3.
            let (Some(u), Some(s)) = (fields.get(11), fields.get(12)) else { continue };
            let ticks = u.parse::<u64>().unwrap_or(0) + s.parse::<u64>().unwrap_or(0);
            let player = comm.strip_prefix('p').and_then(|r| r.split_once('-')).and_then(|(i, _)| i.parse().ok());
            *out.entry(player).or_insert(0) += ticks;
        }
        Ok(out)
    }

    fn clock_ticks_per_second() -> f64 {
        // SAFETY: sysconf only reads a configuration value.
        let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        if t > 0 { t as f64 } else { 100.0 }
    }

    /// Where every player's threads wait after their work, so that the CPU figures are read
    /// while they all still exist.
    #[derive(Default)]
    struct Gate {
        released: Mutex<bool>,
        changed: Condvar,
    }

    impl Gate {
        /// A thread's work is done: wait (at most 60 s) until the CPU figures were read.
        fn finish(&self) {
            let mut released = lock(&self.released);
            let deadline = Instant::now() + Duration::from_secs(60);
            while !*released && Instant::now() < deadline {
                released = self.changed.wait_timeout(released, Duration::from_millis(200)).unwrap_or_else(PoisonError::into_inner).0;
            }
        }

        fn release(&self) {
            *lock(&self.released) = true;
            self.changed.notify_all();
        }
    }

    /// What the players share: capture times of every frame and burst, per sender.
    struct Shared {
        t0: Instant,
        /// When the senders stop; the receivers go on for `GRACE`.
        stop_send: Instant,
        stop: Instant,
        frames: Vec<Mutex<Vec<Instant>>>,
        bursts: Vec<Mutex<Vec<Instant>>>,
        gate: Gate,
    }

    #[derive(Default)]
    struct CamStats {
        frames: u64,
        keyframes: u64,
    }

    fn camera(me: usize, pictures: Arc<Pictures>, commands: CommandSender, keyframe: Arc<AtomicBool>, shared: Arc<Shared>) -> anyhow::Result<CamStats> {
        let mut enc = Vp8Encoder::new(EncoderConfig { width: W, height: H, fps: FPS, bitrate_kbps: VIDEO_KBPS, keyframe_interval: 0 })
            .context("starting a VP8 encoder")?;
        let period = Duration::from_secs(1) / FPS;
        let mut stats = CamStats::default();
        for i in 0..(1usize << MARK_BITS) {
            let at = shared.t0 + period * i as u32;
            if at >= shared.stop_send {
                break;
            }
            sleep_until(at);
            lock(&shared.frames[me]).push(Instant::now());
            let picture = pictures.frame(me, i);
            let force = keyframe.swap(false, Ordering::Relaxed);
            for frame in enc.encode(&picture, force).context("encoding VP8")? {
                stats.frames += 1;
                stats.keyframes += u64::from(frame.keyframe);
                commands.send(Command::SendVideo { frame: frame.data, keyframe: frame.keyframe, duration: period });
            }
        }
        Ok(stats)
    }

    fn microphone(me: usize, commands: CommandSender, shared: Arc<Shared>) -> anyhow::Result<()> {
        let mut enc = OpusEncoder::new(VOICE_BPS).context("starting an Opus encoder")?;
        let step = 2.0 * std::f64::consts::PI / f64::from(SAMPLE_RATE);
        let mut pcm = vec![0i16; FRAME_SAMPLES];
        for j in 0u64.. {
            // Frame j holds the 20 ms before its tick.
            let at = shared.t0 + MIC_FRAME * (j as u32 + 1);
            if at >= shared.stop_send {
                break;
            }
            let burst = (j % BURST_EVERY == BURST_AT).then_some(j / BURST_EVERY);
            for (k, s) in pcm.iter_mut().enumerate() {
                let n = (j as usize * FRAME_SAMPLES + k) as f64;
                let mut v = TONE_AMP * (step * tone_hz(me) * n).sin();
                if let Some(b) = burst {
                    v += BURST_AMP * (step * burst_hz(b) * k as f64).sin();
                }
                *s = (v * 32767.0).round() as i16;
            }
            sleep_until(at);
            let ready = Instant::now();
            if burst.is_some() {
                // The burst started at the frame's first sample, 20 ms before it was ready.
                lock(&shared.bursts[me]).push(ready - MIC_FRAME);
            }
            let packet = enc.encode(&pcm).context("encoding Opus")?;
            commands.send(Command::SendVoice { packet, duration: MIC_FRAME });
        }
        Ok(())
    }

    #[derive(Default)]
    struct VideoIn {
        pictures: u64,
        bytes: u64,
        latencies: Vec<Duration>,
        freezes: u32,
        last: Option<Instant>,
        unreadable: u64,
        undecodable: u64,
        psnr_skipped: u64,
    }

    type Voices = Vec<(usize, Arc<Mutex<VoiceReceiver>>)>;
    type PsnrJob = (usize, usize, usize, Vec<u8>);

    #[allow(clippy::too_many_arguments)]
    fn receive(
        me: usize,
        mut mesh: MeshHandle,
        rt: tokio::runtime::Handle,
        who: Arc<HashMap<PeerId, usize>>,
        voices: Voices,
        keyframe: Arc<AtomicBool>,
        psnr_jobs: mpsc::SyncSender<PsnrJob>,
        shared: Arc<Shared>,
    ) -> anyhow::Result<(HashMap<usize, VideoIn>, MeshHandle)> {
        let mut decoders = HashMap::new();
        let mut streams: HashMap<usize, VideoIn> = HashMap::new();
        for &s in who.values().filter(|&&s| s != me) {
            decoders.insert(s, Vp8Decoder::new().context("starting a VP8 decoder")?);
            streams.insert(s, VideoIn::default());
        }
        let voices: HashMap<usize, Arc<Mutex<VoiceReceiver>>> = voices.into_iter().collect();
        loop {
            let now = Instant::now();
            if now >= shared.stop {
                break;
            }
            let wait = (shared.stop - now).min(Duration::from_millis(50));
            let event = match rt.block_on(async { tokio::time::timeout(wait, mesh.recv()).await }) {
                Err(_) => continue,
                Ok(None) => anyhow::bail!("player {me}'s mesh stopped"),
                Ok(Some(e)) => e,
            };
            match event {
                Event::VideoFrame { from, data, .. } => {
                    let Some(&s) = who.get(&from) else { continue };
                    let (Some(dec), Some(stream)) = (decoders.get_mut(&s), streams.get_mut(&s)) else { continue };
                    stream.bytes += data.len() as u64;
                    match dec.decode(&data) {
                        Ok(Some(img)) => {
                            let at = Instant::now();
                            stream.pictures += 1;
                            if at - stream.last.unwrap_or(shared.t0) > FREEZE {
                                stream.freezes += 1;
                            }
                            stream.last = Some(at);
                            match read_marker(&img.rgb) {
                                Some(n) => {
                                    if let Some(&captured) = lock(&shared.frames[s]).get(n) {
                                        stream.latencies.push(at - captured);
                                    } else {
                                        stream.unreadable += 1;
                                    }
                                    if psnr_jobs.try_send((me, s, n, img.rgb)).is_err() {
                                        stream.psnr_skipped += 1;
                                    }
                                }
                                None => stream.unreadable += 1,
                            }
                        }
                        Ok(None) => {}
                        Err(_) => stream.undecodable += 1,
                    }
                }
                Event::KeyframeRequested { .. } => keyframe.store(true, Ordering::Relaxed),
                Event::VoicePacket { from, sequence, data, .. } => {
                    if let Some(v) = who.get(&from).and_then(|s| voices.get(s)) {
                        lock(v).push(sequence, data);
                    }
                }
                Event::Disconnected { reason } => anyhow::bail!("player {me} disconnected: {reason}"),
                _ => {}
            }
        }
        for stream in streams.values_mut() {
            // A picture stuck until the senders stopped is a freeze too.
            if shared.stop_send.saturating_duration_since(stream.last.unwrap_or(shared.t0)) > FREEZE {
                stream.freezes += 1;
            }
        }
        Ok((streams, mesh))
    }

    #[derive(Default)]
    struct VoiceIn {
        latencies: Vec<Duration>,
        /// Bursts heard whose frequency named none of the four, or no burst sent before.
        unidentified: u64,
        /// The bursts heard (by number), and onsets matched to one heard already (the tail
        /// of a burst concealed after a loss, heard as a second onset).
        heard: std::collections::HashSet<usize>,
        again: u64,
        /// The samples of the burst being heard (until a block's worth for its frequency).
        burst: Option<(Instant, Vec<i16>)>,
        loud: bool,
        /// Tone samples between bursts, for its dominant frequency.
        tone: Vec<i16>,
        /// PLC + FEC frames up to the last packet played (the silence after the sender
        /// stopped is concealed too, and left out).
        concealed: u64,
        played: u64,
        frequency: f32,
    }

    fn playout(voices: Voices, shared: Arc<Shared>) -> HashMap<usize, VoiceIn> {
        let mut streams: HashMap<usize, VoiceIn> = voices.iter().map(|(s, _)| (*s, VoiceIn::default())).collect();
        let mut block = vec![0i16; BLOCK];
        for tick in 0u32.. {
            let at = shared.t0 + BLOCK_TIME * tick;
            if at >= shared.stop {
                break;
            }
            sleep_until(at);
            let now = Instant::now();
            for (s, voice) in &voices {
                let stats = {
                    let mut voice = lock(voice);
                    voice.pull(&mut block);
                    voice.stats()
                };
                let Some(stream) = streams.get_mut(s) else { continue };
                if stats.jitter.played > stream.played {
                    stream.played = stats.jitter.played;
                    stream.concealed = stats.plc_frames + stats.fec_frames;
                }
                let onset = block.iter().position(|&x| i32::from(x).abs() > ONSET);
                match (&mut stream.burst, onset) {
                    (Some((_, samples)), _) => samples.extend_from_slice(&block),
                    (None, Some(i)) if !stream.loud => {
                        // The sound card plays the block from `now`: sample i a little later.
                        let heard = now + Duration::from_secs_f64(i as f64 / f64::from(SAMPLE_RATE));
                        stream.burst = Some((heard, block[i..].to_vec()));
                    }
                    _ => {}
                }
                stream.loud = onset.is_some();
                if let Some((heard, samples)) = stream.burst.take_if(|(_, b)| b.len() >= BLOCK) {
                    let f = f64::from(dominant_frequency(&samples[..BLOCK], SAMPLE_RATE));
                    match (0..4u64).find(|&k| (f - burst_hz(k)).abs() < 150.0) {
                        Some(class) => {
                            let bursts = lock(&shared.bursts[*s]);
                            let sent = bursts.iter().enumerate().rev().find(|(k, t)| *k as u64 % 4 == class && **t <= heard);
                            match sent {
                                Some((k, _)) if !stream.heard.insert(k) => stream.again += 1,
                                Some((_, &t)) => stream.latencies.push(heard - t),
                                None => stream.unidentified += 1,
                            }
                        }
                        None => stream.unidentified += 1,
                    }
                } else if onset.is_none() && stream.burst.is_none() && now >= shared.t0 + Duration::from_secs(1) && stream.tone.len() < 1 << 16 {
                    let rms = (block.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / BLOCK as f64).sqrt();
                    if rms > 0.02 * 32767.0 {
                        stream.tone.extend_from_slice(&block);
                    }
                }
            }
        }
        for stream in streams.values_mut() {
            stream.frequency = dominant_frequency(&stream.tone, SAMPLE_RATE);
        }
        streams
    }

    pub struct MediaRow {
        peers: usize,
        /// (receiver, sender) of each entry of `video` and `psnr`.
        streams: Vec<(usize, usize)>,
        loss: f64,
        dropped: Option<(u64, u64)>,
        cams: Vec<CamStats>,
        video: Vec<VideoIn>,
        /// Mean PSNR of each stream, and the pictures compared.
        psnr: Vec<(f64, u64)>,
        cpu: Vec<f64>,
        other_cpu: f64,
        voice: Vec<(usize, VoiceIn)>,
        bursts_sent: usize,
    }

    /// Forms a room of `n` players, each mesh on its own runtime (`p{i}-net`).
    async fn form(n: usize, url: &str, relays: Option<&Arc<LossyRelays>>, runtimes: &[tokio::runtime::Runtime]) -> anyhow::Result<Vec<(PeerId, MeshHandle)>> {
        let mut peers = Vec::new();
        let mut code = String::new();
        let timeout = Duration::from_secs(30);
        for (i, rt) in runtimes.iter().enumerate().take(n) {
            let mut config = Config::new(url.to_owned(), format!("p{i}"));
            config.video = true;
            config.voice = true;
            config.candidate_rewrite = relays.map(LossyRelays::candidate_rewrite);
            let mut mesh = Mesh::start_on(rt.handle(), config)?;
            let (id, room) = crate::take_seat(&mut mesh, i == 0, &code, timeout).await?;
            if i == 0 {
                code = room;
            }
            peers.push((id, mesh));
        }
        for (_, mesh) in &mut peers {
            mesh::harness::wait_links_open(mesh, n - 1, Duration::from_secs(60)).await?;
        }
        Ok(peers)
    }

    fn run(n: usize, loss: f64, seconds: u64, url: &str, main_rt: &tokio::runtime::Runtime, pictures: &Arc<Pictures>) -> anyhow::Result<MediaRow> {
        let relays = (loss > 0.0).then(|| LossyRelays::new(0.0, 0x3d1a));
        let runtimes = (0..n)
            .map(|i| {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .thread_name(format!("p{i}-net"))
                    .enable_all()
                    .build()
                    .context("starting a player's runtime")
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let peers = main_rt.block_on(form(n, url, relays.as_ref(), &runtimes)).with_context(|| format!("forming a room of {n} with video and voice"))?;
        let relayed_before = relays.as_ref().map(|r| r.stats().get());
        if let Some(relays) = &relays {
            relays.set_loss(loss);
        }
        let who: Arc<HashMap<PeerId, usize>> = Arc::new(peers.iter().enumerate().map(|(i, (id, _))| (*id, i)).collect());
        let t0 = Instant::now() + Duration::from_millis(300);
        let stop_send = t0 + Duration::from_secs(seconds);
        let shared = Arc::new(Shared {
            t0,
            stop_send,
            stop: stop_send + GRACE,
            frames: (0..n).map(|_| Mutex::default()).collect(),
            bursts: (0..n).map(|_| Mutex::default()).collect(),
            gate: Gate::default(),
        });

        // PSNR against the sent picture of the same number, off the players' threads.
        let (psnr_tx, psnr_rx) = mpsc::sync_channel::<PsnrJob>(64);
        let psnr_pictures = pictures.clone();
        let psnr_thread = thread::Builder::new().name("bench-psnr".into()).spawn(move || {
            let mut sums: HashMap<(usize, usize), (f64, u64)> = HashMap::new();
            for (me, s, n, rgb) in psnr_rx {
                let p = picture_psnr(&rgb, &psnr_pictures.frame(s, n));
                let e = sums.entry((me, s)).or_default();
                e.0 += p;
                e.1 += 1;
            }
            sums
        })?;

        let mut cams = Vec::new();
        let mut mics = Vec::new();
        let mut recvs = Vec::new();
        let mut plays = Vec::new();
        let mut failure: Option<anyhow::Error> = None;
        for (me, (_, mesh)) in peers.into_iter().enumerate() {
            let keyframe = Arc::new(AtomicBool::new(false));
            let voices: Voices = match (0..n)
                .filter(|&s| s != me)
                .map(|s| Ok((s, Arc::new(Mutex::new(VoiceReceiver::new()?)))))
                .collect::<Result<_, media::MediaError>>()
            {
                Ok(v) => v,
                Err(e) => {
                    failure = Some(anyhow::Error::from(e).context("starting a voice receiver"));
                    break;
                }
            };
            let (sh, pics, cmd, kf) = (shared.clone(), pictures.clone(), mesh.command_sender(), keyframe.clone());
            let spawned = thread::Builder::new().name(format!("p{me}-cam")).spawn(move || {
                let r = camera(me, pics, cmd, kf, sh.clone());
                sh.gate.finish();
                r
            });
            match spawned {
                Ok(h) => cams.push(h),
                Err(e) => failure = Some(e.into()),
            }
            let (sh, cmd) = (shared.clone(), mesh.command_sender());
            let spawned = thread::Builder::new().name(format!("p{me}-mic")).spawn(move || {
                let r = microphone(me, cmd, sh.clone());
                sh.gate.finish();
                r
            });
            match spawned {
                Ok(h) => mics.push(h),
                Err(e) => failure = Some(e.into()),
            }
            let (sh, rt, w, v, tx) = (shared.clone(), runtimes[me].handle().clone(), who.clone(), voices.clone(), psnr_tx.clone());
            let spawned = thread::Builder::new().name(format!("p{me}-recv")).spawn(move || {
                let r = receive(me, mesh, rt, w, v, keyframe, tx, sh.clone());
                sh.gate.finish();
                r
            });
            match spawned {
                Ok(h) => recvs.push(h),
                Err(e) => failure = Some(e.into()),
            }
            let sh = shared.clone();
            let spawned = thread::Builder::new().name(format!("p{me}-play")).spawn(move || {
                let r = playout(voices, sh.clone());
                sh.gate.finish();
                r
            });
            match spawned {
                Ok(h) => plays.push(h),
                Err(e) => failure = Some(e.into()),
            }
        }
        drop(psnr_tx);

        // CPU over the senders' window, read while every player thread still exists (the
        // ones done wait at the gate).
        sleep_until(t0);
        let before = cpu_ticks();
        sleep_until(stop_send);
        let after = cpu_ticks();
        shared.gate.release();
        let wall = (stop_send - t0).as_secs_f64();

        let joined = |what: &str| anyhow::anyhow!("a {what} thread panicked");
        let mut cam_stats = Vec::new();
        for h in cams {
            cam_stats.push(h.join().map_err(|_| joined("camera"))?);
        }
        for h in mics {
            h.join().map_err(|_| joined("microphone"))??;
        }
        let mut video = Vec::new();
        let mut meshes = Vec::new();
        for (me, h) in recvs.into_iter().enumerate() {
            let (streams, mesh) = h.join().map_err(|_| joined("receiver"))??;
            meshes.push(mesh);
            let mut streams: Vec<_> = streams.into_iter().collect();
            streams.sort_by_key(|(s, _)| *s);
            video.extend(streams.into_iter().map(|(s, v)| ((me, s), v)));
        }
        let mut voice = Vec::new();
        for h in plays {
            let mut streams: Vec<_> = h.join().map_err(|_| joined("playout"))?.into_iter().collect();
            streams.sort_by_key(|(s, _)| *s);
            voice.extend(streams);
        }
        let sums = psnr_thread.join().map_err(|_| joined("PSNR"))?;
        if let Some(e) = failure {
            return Err(e.context("starting a player's thread"));
        }
        let cams = cam_stats.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
        let dropped = match (&relays, relayed_before) {
            (Some(r), Some((f0, d0))) => {
                let (f, d) = r.stats().get();
                Some((d - d0, f - f0 + d - d0))
            }
            _ => None,
        };
        drop(meshes);
        for rt in runtimes {
            rt.shutdown_timeout(Duration::from_millis(500));
        }
        let (before, after) = (before?, after?);
        let hz = clock_ticks_per_second();
        let share = |k: Option<usize>| {
            let t = after.get(&k).copied().unwrap_or(0).saturating_sub(before.get(&k).copied().unwrap_or(0));
            100.0 * t as f64 / hz / wall
        };
        let bursts_sent = shared.bursts.iter().map(|b| lock(b).len()).sum::<usize>() * (n - 1);
        Ok(MediaRow {
            peers: n,
            loss,
            dropped,
            cams,
            streams: video.iter().map(|(k, _)| *k).collect(),
            psnr: video.iter().map(|(k, _)| sums.get(k).map_or((f64::NAN, 0), |&(sum, c)| (sum / c.max(1) as f64, c))).collect(),
            video: video.into_iter().map(|(_, v)| v).collect(),
            cpu: (0..n).map(|i| share(Some(i))).collect(),
            other_cpu: share(None),
            voice,
            bursts_sent,
        })
    }

    fn mean(v: impl IntoIterator<Item = f64>) -> f64 {
        let (s, c) = v.into_iter().fold((0.0, 0usize), |(s, c), x| (s + x, c + 1));
        if c == 0 { f64::NAN } else { s / c as f64 }
    }

    fn min(v: impl IntoIterator<Item = f64>) -> f64 {
        v.into_iter().fold(f64::NAN, f64::min)
    }

    fn max(v: impl IntoIterator<Item = f64>) -> f64 {
        v.into_iter().fold(f64::NAN, f64::max)
    }

    fn print_rows(rows: &[MediaRow]) {
        println!(
            "| players | loss | video fps avg (worst) | kbit/s avg (worst) | glass-to-glass p50 / p99 | PSNR dB avg (worst) | freezes total (worst) | keyframes sent | CPU/player avg (max) | mouth-to-ear p50 / p99 | clicks heard | PLC+FEC frames total (worst) | tone matched |"
        );
        println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        for r in rows {
            // Over the time the sender filmed: its frames sent / 15 fps.
            let span = |s: usize| r.cams.get(s).map_or(f64::NAN, |c| c.frames as f64 / f64::from(FPS));
            let fps: Vec<f64> = r.video.iter().zip(&r.streams).map(|(v, &(_, s))| v.pictures as f64 / span(s)).collect();
            let kbps: Vec<f64> = r.video.iter().zip(&r.streams).map(|(v, &(_, s))| v.bytes as f64 * 8.0 / 1000.0 / span(s)).collect();
            let mut g2g: Vec<Duration> = r.video.iter().flat_map(|v| v.latencies.iter().copied()).collect();
            g2g.sort_unstable();
            let psnrs: Vec<f64> = r.psnr.iter().map(|p| p.0).collect();
            let mut m2e: Vec<Duration> = r.voice.iter().flat_map(|(_, v)| v.latencies.iter().copied()).collect();
            m2e.sort_unstable();
            let concealed: Vec<f64> = r.voice.iter().map(|(_, v)| v.concealed as f64).collect();
            let matched = r.voice.iter().filter(|(s, v)| (f64::from(v.frequency) - tone_hz(*s)).abs() < tone_hz(*s) * 0.01).count();
            let loss = match r.dropped {
                Some((d, of)) => format!("{:.0} % ({d}/{of} dropped)", r.loss * 100.0),
                None => format!("{:.0} %", r.loss * 100.0),
            };
            println!(
                "| {} | {} | {:.1} ({:.1}) | {:.0} ({:.0}) | {} / {} | {:.2} ({:.2}) | {} ({}) | {} | {:.0} % ({:.0} %) | {} / {} | {}/{} | {} ({}) | {}/{} |",
                r.peers,
                loss,
                mean(fps.iter().copied()),
                min(fps.iter().copied()),
                mean(kbps.iter().copied()),
                min(kbps.iter().copied()),
                ms(pct(&g2g, 50)),
                ms(pct(&g2g, 99)),
                mean(psnrs.iter().copied()),
                min(psnrs.iter().copied()),
                r.video.iter().map(|v| v.freezes).sum::<u32>(),
                r.video.iter().map(|v| v.freezes).max().unwrap_or(0),
                r.cams.iter().map(|c| c.keyframes).sum::<u64>(),
                mean(r.cpu.iter().copied()),
                max(r.cpu.iter().copied()),
                ms(pct(&m2e, 50)),
                ms(pct(&m2e, 99)),
                m2e.len(),
                r.bursts_sent,
                concealed.iter().sum::<f64>(),
                max(concealed.iter().copied()),
                matched,
                r.voice.len(),
            );
        }
        for r in rows {
            let bad: u64 = r.video.iter().map(|v| v.unreadable + v.undecodable).sum();
            let skipped: u64 = r.video.iter().map(|v| v.psnr_skipped).sum();
            let compared: u64 = r.psnr.iter().map(|p| p.1).sum();
            let unidentified: u64 = r.voice.iter().map(|(_, v)| v.unidentified).sum();
            let again: u64 = r.voice.iter().map(|(_, v)| v.again).sum();
            let freqs: Vec<String> = r.voice.iter().map(|(s, v)| format!("{:.1}/{:.0}", v.frequency, tone_hz(*s))).collect();
            println!(
                "({} players, {:.0} % loss: {} frames sent; {bad} pictures unreadable or undecodable; PSNR of {compared} pictures ({skipped} skipped); {unidentified} click onsets unidentified, {again} heard twice; other threads {:.0} % CPU; tones heard/sent Hz {})",
                r.peers,
                r.loss * 100.0,
                r.cams.iter().map(|c| c.frames).sum::<u64>(),
                r.other_cpu,
                freqs.join(" "),
            );
        }
    }

    fn loadavg() -> String {
        std::fs::read_to_string("/proc/loadavg").map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" ")).unwrap_or_else(|_| "unknown".into())
    }

    pub fn main(args: &Args) -> anyhow::Result<()> {
        anyhow::ensure!(args.seconds >= 2 && args.seconds <= 3600, "--seconds must be 2–3600 with --media (got {})", args.seconds);
        let pictures = Arc::new(Pictures::load(&args.picture)?);
        let load_before = loadavg();
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).thread_name("bench-main").enable_all().build()?;
        let server = runtime.block_on(server::spawn(server::Config::ephemeral())).context("starting the embedded server")?;
        let url = server.ws_url();
        let mut rows = Vec::new();
        for (n, loss) in crate::cases(args)? {
            rows.push(run(n, loss, args.seconds, &url, &runtime, &pictures)?);
        }
        print_rows(&rows);
        println!(
            "({} s of media per row, loopback, one process; load average {load_before} before, {} after; {})",
            args.seconds,
            loadavg(),
            std::env::args().collect::<Vec<_>>().join(" ")
        );
        runtime.block_on(server.shutdown());
        Ok(())
    }
}
