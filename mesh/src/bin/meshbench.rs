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
}

struct Row {
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
                let pose = LivePose { seq, round_ms: 0, skeleton: Some(skeleton) };
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
    Ok(Row { peers: n, loss, links, connect, sent, received: latency.len(), latency })
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
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
        println!(
            "| peers | packet loss | links | connect p50 | connect max | live msgs sent | received | lost | latency p50 | latency p99 |"
        );
        println!("|---|---|---|---|---|---|---|---|---|---|");
        for r in &mut rows {
            r.connect.sort_unstable();
            println!(
                "| {} | {:.0} % | {} | {} | {} | {} | {} | {:.2} % | {} | {} |",
                r.peers,
                r.loss * 100.0,
                r.links,
                ms(pct(&r.connect, 50)),
                ms(r.connect.last().copied().unwrap_or_default()),
                r.sent,
                r.received,
                100.0 * (1.0 - r.received as f64 / r.sent.max(1) as f64),
                ms(pct(&r.latency, 50)),
                ms(pct(&r.latency, 99)),
            );
        }
        println!("({} Hz per player for {} s, loopback, one process)", args.rate, args.seconds);
        server.shutdown().await;
        anyhow::Ok(())
    })
}
