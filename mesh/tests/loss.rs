//! Two peers whose traffic crosses a loopback relay that drops 10 % of the datagrams.
//!
//! - The unreliable channel loses about as many live poses as the network drops (they are
//!   never retransmitted) and never stalls: p99 latency of the poses that arrive < 50 ms.
//! - The reliable channel delivers everything, in order.
//!
//! Two defects of the `webrtc` 0.21.1 stack made this fail before, each in about half of the
//! runs; both are worked around in `mesh::link` and this test catches either coming back:
//! - the unreliable channel silently came up ordered and fully reliable (its SCTP stream was
//!   created by the peer's first message before our own setup was applied): ~0 % lost, p99
//!   0.5–3 s (`flush_stream_setup`);
//! - lost poses that SCTP only abandons at a ≥ 1 s retransmission timeout filled the default
//!   congestion window and froze the sender: p99 0.1–3 s (`UNRELIABLE_SCTP_MTU`).
//!
//! Poses go out at 120 Hz, four times the game's rate, so the run is short and the sender
//! meets more losses per second than in play.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use mesh::harness::form_room;
use mesh::relay::LossyRelays;
use mesh::{Command, Config, Event, PeerMsg};
use shared::pose::Skeleton;
use shared::protocol::peer::{GameEvent, GameEventKind, LivePose, QuantizedSkeleton, ScoreTotals};
use shared::protocol::signal::RoomSettings;

const TIMEOUT: Duration = Duration::from_secs(30);
const LIVE: u32 = 600;
const RELIABLE: u32 = 200;
const RATE_HZ: u64 = 120;
const LOSS: f64 = 0.10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_percent_loss_unreliable_loses_some_reliable_loses_none() {
    let _ = tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).with_writer(std::io::stderr).try_init();
    let server = server::spawn(server::Config::ephemeral()).await.unwrap();
    let url = server.ws_url();
    // The links come up without loss (this test is about the channels, not the handshake)…
    let relays = LossyRelays::new(0.0, 0x5eed);
    let mut peers = form_room(2, RoomSettings::default(), TIMEOUT, |i| {
        let mut config = Config::new(url.clone(), format!("p{i}"));
        config.candidate_rewrite = Some(relays.candidate_rewrite());
        config
    })
    .await
    .unwrap();
    let (_, mut b) = peers.pop().unwrap();
    let (_, a) = peers.pop().unwrap();
    // …then every datagram between the two peers crosses a relay that drops 10 %.
    relays.set_loss(LOSS);
    let (_, dropped_before) = relays.stats().get();

    let epoch = Instant::now();
    let skeleton = QuantizedSkeleton::from_skeleton(&Skeleton::default());
    let sender = tokio::spawn(async move {
        let mut sent_at = HashMap::new();
        let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / RATE_HZ));
        for seq in 0..LIVE {
            tick.tick().await;
            sent_at.insert(seq, epoch.elapsed());
            a.send(Command::SendUnreliable(PeerMsg::Pose(LivePose { seat: 0, seq, round_ms: 0, skeleton: Some(skeleton) })));
            if seq % (LIVE / RELIABLE) == 0 {
                let n = seq / (LIVE / RELIABLE);
                a.send(Command::SendReliable(PeerMsg::Game(GameEvent {
                    round_seed: 1,
                    seat: 0,
                    seq: n,
                    round_ms: n,
                    kind: GameEventKind::Hit { target: 0, points: 1 },
                    totals: ScoreTotals::default(),
                })));
            }
        }
        (a, sent_at)
    });

    let mut live_arrivals = HashMap::new();
    let mut reliable = Vec::new();
    // Everything is sent after LIVE / RATE_HZ seconds; allow the reliable channel time to
    // recover the last losses, and stragglers a moment to arrive.
    let send_time = Duration::from_millis(u64::from(LIVE) * 1000 / RATE_HZ);
    let deadline = tokio::time::Instant::now() + send_time + Duration::from_secs(10);
    loop {
        let done = reliable.len() == RELIABLE as usize && epoch.elapsed() > send_time + Duration::from_millis(500);
        if done {
            break;
        }
        let event = match tokio::time::timeout_at(deadline, b.recv()).await {
            Ok(Some(event)) => event,
            Ok(None) => panic!("mesh b stopped"),
            Err(_) => break,
        };
        match event {
            Event::PeerMessage { msg: PeerMsg::Pose(p), .. } => {
                live_arrivals.insert(p.seq, epoch.elapsed());
            }
            Event::PeerMessage { msg: PeerMsg::Game(g), .. } => reliable.push(g.seq),
            Event::Disconnected { reason } => panic!("b disconnected: {reason}"),
            _ => {}
        }
    }
    let (a, sent_at) = sender.await.unwrap();

    let (forwarded, dropped) = relays.stats().get();
    let lost = 1.0 - live_arrivals.len() as f64 / f64::from(LIVE);
    let mut latencies: Vec<Duration> = live_arrivals
        .iter()
        .map(|(seq, at)| at.saturating_sub(sent_at[seq]))
        .collect();
    latencies.sort_unstable();
    let p99 = latencies[latencies.len() * 99 / 100];
    eprintln!(
        "unreliable: {} of {LIVE} arrived ({:.1} % lost), p50 {:?}, p99 {:?}; relay dropped {dropped} of {}",
        live_arrivals.len(),
        lost * 100.0,
        latencies[latencies.len() / 2],
        p99,
        forwarded + dropped
    );
    eprintln!(
        "reliable: {} of {RELIABLE}; live p95 {:?}, max {:?}; live messages skipped by the sender: {}",
        reliable.len(),
        latencies[latencies.len() * 95 / 100],
        latencies.last(),
        a.status().skipped_live
    );
    assert!(dropped > dropped_before, "the relay dropped nothing: traffic bypassed it ({forwarded} forwarded)");
    assert_eq!(reliable, (0..RELIABLE).collect::<Vec<_>>(), "reliable channel lost or reordered messages");

    assert!(lost >= 0.04, "only {:.1} % of live messages lost at 10 % packet loss: are they retransmitted?", lost * 100.0);
    assert!(lost <= 0.20, "{:.1} % of live messages lost at 10 % packet loss: the unreliable channel stalled", lost * 100.0);
    assert!(p99 < Duration::from_millis(50), "live messages stalled: p99 {p99:?} at 10 % packet loss");
    drop((a, b));
    server.shutdown().await;
}
