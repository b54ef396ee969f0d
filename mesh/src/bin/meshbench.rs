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
    /// Seconds of live traffic per room size.
    #[arg(long, env = "MESHBENCH_SECONDS", default_value_t = 5)]
    seconds: u64,
    /// Live messages per second per player.
    #[arg(long, env = "MESHBENCH_RATE", default_value_t = 30)]
    rate: u64,
    /// Shares of datagrams dropped between players (0 ≤ loss < 1), comma-separated.
    #[arg(long, env = "MESHBENCH_LOSS", value_delimiter = ',', default_value = "0,0.1")]
    loss: Vec<f64>,
    /// Measure across NATs in network namespaces: direct vs relayed (TURN) links.
    #[arg(long)]
    nat: bool,
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
        if let Some(relays) = &relays {
            let relays = relays.clone();
            config.candidate_rewrite = Some(Arc::new(move |c: &str| relays.rewrite(c)));
        }
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


fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    if args.nat {
        return nat::main(&args);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let server = server::spawn(server::Config::ephemeral()).await.context("starting the embedded server")?;
        let url = server.ws_url();
        let mut rows = Vec::new();
        for &n in &args.peers {
            anyhow::ensure!(n >= 2, "a room needs at least 2 peers (got {n})");
            for &loss in &args.loss {
                anyhow::ensure!((0.0..1.0).contains(&loss), "a loss rate is a share in [0, 1) (got {loss})");
                rows.push(run(n, loss, &args, &url).await?);
            }
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
        for &n in &args.peers {
            anyhow::ensure!(n >= 2, "a room needs at least 2 peers (got {n})");
            for relayed in [false, true] {
                for &loss in &args.loss {
                    anyhow::ensure!((0.0..1.0).contains(&loss), "a loss rate is a share in [0, 1) (got {loss})");
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
                let id = mesh::harness::wait_for(&mut mesh, Duration::from_secs(30), "Welcome", |e| match e {
                    Event::Welcome { peer_id, .. } => Some(*peer_id),
                    _ => None,
                })
                .await?;
                mesh.send(if i == 1 { Command::CreateRoom(RoomSettings::default()) } else { Command::JoinRoom(code.clone()) });
                let room = mesh::harness::wait_for(&mut mesh, Duration::from_secs(30), "room", |e| match e {
                    Event::Room(r) if r.players.iter().any(|p| p.id == id) => Some(r.code.clone()),
                    _ => None,
                })
                .await?;
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
