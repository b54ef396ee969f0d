//! Cluster mode (`--redis`): three nodes sharing a real `redis-server` (started by the test on
//! its own port, `common/redis.rs`) and, where history matters, a real PostgreSQL
//! (`common/postgres.rs`). Players of one room sit on different nodes; quick match across
//! nodes; the races; Redis going away and coming back; bad URLs and tokens. The node killed
//! with SIGKILL is in `cluster_kill.rs` (nodes as processes).

mod common;
#[path = "common/postgres.rs"]
mod pg;
#[path = "common/redis.rs"]
mod redis_server;

use std::time::Duration;

use common::{Client, http_get, start};
use redis_server::TestRedis;
use server::{Config, RunningServer};
use shared::protocol::signal::{ClientMsg, ErrorCode, MatchReport, PeerId, RoomSettings, RoomVisibility, ScoreLine, ServerMsg, SignalPayload};

/// A node of the cluster: short timeouts, one-second rounds, sharing `redis` (and `db`).
fn node_config(redis: &TestRedis, db: Option<&str>) -> Config {
    Config {
        redis: Some(redis.url()),
        min_round_secs: 1,
        db: db.map_or_else(|| std::path::PathBuf::from(":memory:"), std::path::PathBuf::from),
        ..common::config()
    }
}

async fn nodes(redis: &TestRedis, db: Option<&str>, n: usize) -> Vec<RunningServer> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(start(node_config(redis, db)).await);
    }
    out
}

async fn stop(nodes: Vec<RunningServer>) {
    for n in nodes {
        n.shutdown().await;
    }
}

fn server_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Players on nodes 0, 1, 2 in one room made on node 0; each sees the others; a Signal
/// crosses nodes both ways; they ready up, play a round and report; the home records the
/// match once (PostgreSQL shared by the nodes).
#[tokio::test]
async fn cluster_players_on_three_nodes_share_a_room_and_play_a_match() {
    let redis = TestRedis::start();
    let Some(pg) = pg::TestPostgres::start("cluster_players_on_three_nodes_share_a_room_and_play_a_match") else { return };
    let db = pg.url();
    let nodes = nodes(&redis, Some(&db), 3).await;
    let mut cs = [
        Client::connect(&nodes[0], "ana").await,
        Client::connect(&nodes[1], "bora").await,
        Client::connect(&nodes[2], "chul").await,
    ];
    let ids: Vec<PeerId> = cs.iter().map(|c| c.id).collect();
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!(unique.len(), 3, "peer ids are unique across nodes: {ids:?}");
    let code = cs[0].create().await;
    let settings = RoomSettings { duration_secs: 1, ..RoomSettings::default() };
    cs[0].send(ClientMsg::UpdateSettings { settings: settings.clone() }).await;
    cs[0].room_where("short rounds", |r| r.settings == settings).await;
    // Joins from the other nodes (the code is looked up in Redis), lower case as typed.
    cs[1].join(&code.to_lowercase()).await;
    cs[2].join(&code).await;
    for c in cs.iter_mut().take(2) {
        c.room_where("all three", |r| r.players.len() == 3).await;
    }
    // Signaling crosses nodes: chul (node 2) → ana (node 0) and back.
    cs[2].send(ClientMsg::Signal { to: ids[0], payload: SignalPayload::Offer { sdp: "v=0 from chul".into() } }).await;
    let got = cs[0].recv_until("chul's offer", |m| matches!(m, ServerMsg::Signal { .. })).await;
    assert_eq!(got, ServerMsg::Signal { from: ids[2], payload: SignalPayload::Offer { sdp: "v=0 from chul".into() } });
    cs[0].send(ClientMsg::Signal { to: ids[2], payload: SignalPayload::Answer { sdp: "v=0 from ana".into() } }).await;
    cs[2].recv_until("ana's answer", |m| matches!(m, ServerMsg::Signal { from, .. } if *from == ids[0])).await;

    // A round: start, everyone ready, one GameStarting each, reports after the end.
    cs[0].send(ClientMsg::StartGame { force: false }).await;
    for c in cs.iter_mut() {
        c.send(ClientMsg::SetReady { ready: true }).await;
    }
    let mut starts = Vec::new();
    for c in cs.iter_mut() {
        match c.recv_until("GameStarting", |m| matches!(m, ServerMsg::GameStarting { .. })).await {
            ServerMsg::GameStarting { start_at_ms, round_seed, duration_ms, .. } => starts.push((start_at_ms, round_seed, duration_ms)),
            _ => unreachable!(),
        }
    }
    assert!(starts.windows(2).all(|w| w[0] == w[1]), "one round for all: {starts:?}");
    let (start_at, seed, duration) = starts[0];
    let end = start_at + u64::from(duration);
    tokio::time::sleep(Duration::from_millis(end.saturating_sub(server_now()) + 50)).await;
    let scores: Vec<ScoreLine> = cs
        .iter()
        .zip([200, 150, 100])
        .map(|(c, p)| ScoreLine { player: c.id, name: c.name.clone(), points: p, hits: 1, best_streak: 1, dropped: false })
        .collect();
    let report = MatchReport { round_seed: seed, scores };
    for c in cs.iter_mut() {
        c.send(ClientMsg::ReportResult { report: report.clone() }).await;
    }
    let mut ids_recorded = Vec::new();
    for c in cs.iter_mut() {
        match c.recv_until("ResultRecorded", |m| matches!(m, ServerMsg::ResultRecorded { .. })).await {
            ServerMsg::ResultRecorded { match_id, agreed, .. } => {
                assert!(agreed);
                ids_recorded.push(match_id);
            }
            _ => unreachable!(),
        }
    }
    assert!(ids_recorded.windows(2).all(|w| w[0] == w[1]), "{ids_recorded:?}");
    // Stored once: every node's history shows it once.
    for (i, node) in nodes.iter().enumerate() {
        let mut c = Client::connect(node, "bora").await;
        c.send(ClientMsg::History { limit: 10 }).await;
        match c.recv_until("History", |m| matches!(m, ServerMsg::History { .. })).await {
            ServerMsg::History { matches } => {
                let ours: Vec<_> = matches.iter().filter(|m| m.room_code == code).collect();
                assert_eq!(ours.len(), 1, "node {i}: {matches:#?}");
            }
            _ => unreachable!(),
        }
    }
    let (status, metrics) = http_get(&nodes[1], "/metrics").await;
    assert_eq!(status, 200);
    let line = metrics.lines().find(|l| l.starts_with("poseparty_cluster_messages_out_total")).unwrap_or_default();
    let sent: u64 = line.rsplit(' ').next().and_then(|v| v.parse().ok()).unwrap_or(0);
    assert!(sent > 0, "node 1 sent messages to the home: {line:?}");
    assert!(metrics.contains("poseparty_redis_rtt_seconds_count"), "{metrics}");
    stop(nodes).await;
}

/// Six players quick-match at once, two on each node: they meet in one room.
#[tokio::test]
async fn cluster_quick_match_across_nodes_fills_one_room() {
    let redis = TestRedis::start();
    let nodes = nodes(&redis, None, 3).await;
    let mut cs = Vec::new();
    for i in 0..6 {
        cs.push(Client::connect(&nodes[i % 3], &format!("q{i}")).await);
    }
    for c in cs.iter_mut() {
        c.send(ClientMsg::QuickMatch).await;
    }
    let mut codes = Vec::new();
    for c in cs.iter_mut() {
        let id = c.id;
        let room = c.room_where("a quick-match room", |r| r.players.iter().any(|p| p.id == id)).await;
        assert_eq!(room.visibility, RoomVisibility::Public);
        // Everyone ends up seeing the full room (the last one in may already have).
        if room.players.len() < 6 {
            c.room_where("all six", |r| r.players.len() == 6).await;
        }
        codes.push(room.code);
    }
    codes.dedup();
    assert_eq!(codes.len(), 1, "everyone in one room: {codes:?}");
    stop(nodes).await;
}

/// Two joins, from two other nodes, race for the last seat: one gets it, the other is told
/// the room is full; the room holds exactly its cap.
#[tokio::test]
async fn cluster_two_joins_to_the_last_seat_end_with_one_winner() {
    let redis = TestRedis::start();
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(start(Config { room_cap: 2, ..node_config(&redis, None) }).await);
    }
    let mut host = Client::connect(&nodes[0], "host").await;
    let code = host.create().await;
    let mut a = Client::connect(&nodes[1], "a").await;
    let mut b = Client::connect(&nodes[2], "b").await;
    a.send(ClientMsg::JoinRoom { code: code.clone() }).await;
    b.send(ClientMsg::JoinRoom { code: code.clone() }).await;
    let outcome = |m: &ServerMsg| matches!(m, ServerMsg::Room(_) | ServerMsg::Error { .. });
    let (ra, rb) = (a.recv_until("join outcome", outcome).await, b.recv_until("join outcome", outcome).await);
    let won = |m: &ServerMsg| matches!(m, ServerMsg::Room(r) if r.players.len() == 2);
    let full = |m: &ServerMsg| matches!(m, ServerMsg::Error { code: ErrorCode::RoomFull, .. });
    assert!((won(&ra) && full(&rb)) || (won(&rb) && full(&ra)), "one winner: a got {ra:?}, b got {rb:?}");
    let room = host.room_where("two players", |r| r.players.len() == 2).await;
    assert_eq!(room.players.len(), 2);
    stop(nodes).await;
}

/// The host (node 0) leaves while a player on node 1 joins: either the joiner got in first
/// (and is now the host, alone) or the room was gone (RoomNotFound) — never a room with a
/// host that left, and never both.
#[tokio::test]
async fn cluster_host_leaving_while_another_joins_ends_consistently() {
    let redis = TestRedis::start();
    let nodes = nodes(&redis, None, 2).await;
    for round in 0..4 {
        let mut host = Client::connect(&nodes[0], "host").await;
        let code = host.create().await;
        let mut joiner = Client::connect(&nodes[1], "joiner").await;
        let (_, ()) = tokio::join!(joiner.send(ClientMsg::JoinRoom { code: code.clone() }), host.send(ClientMsg::LeaveRoom));
        let got = joiner.recv_until("join outcome", |m| matches!(m, ServerMsg::Room(_) | ServerMsg::Error { .. })).await;
        match got {
            ServerMsg::Room(r) => {
                // In first; the host left after: the joiner is alone and the host.
                let r = if r.players.len() == 1 { r } else { joiner.room_where("host gone", |r| r.players.len() == 1).await };
                assert_eq!((r.host, r.players.len()), (joiner.id, 1), "round {round}: {r:?}");
                joiner.send(ClientMsg::LeaveRoom).await;
            }
            ServerMsg::Error { code: e, .. } => assert_eq!(e, ErrorCode::RoomNotFound, "round {round}"),
            _ => unreachable!(),
        }
    }
    stop(nodes).await;
}

/// Redis stops: the nodes say so on /health (503, why) and a join by a code of another
/// node is refused with a clear error, without hanging; Redis comes back empty: the nodes
/// write their rooms again, report healthy, and new rooms work across nodes.
#[tokio::test]
async fn cluster_redis_restart_errors_meanwhile_then_new_rooms_work() {
    let mut redis = TestRedis::start();
    let nodes = nodes(&redis, None, 2).await;
    let mut host = Client::connect(&nodes[0], "host").await;
    let code = host.create().await;
    let mut guest = Client::connect(&nodes[1], "guest").await;
    assert_eq!(http_get(&nodes[1], "/health").await.0, 200);
    redis.stop();
    // Within a few heartbeats both nodes report it.
    let mut health = (0, String::new());
    for _ in 0..60 {
        health = http_get(&nodes[1], "/health").await;
        if health.0 == 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(health.0, 503, "{health:?}");
    assert!(health.1.contains("Redis"), "/health says why: {:?}", health.1);
    // A new connection is refused with the reason (no id can be given safely meanwhile).
    let mut ws = common::raw(&nodes[1]).await;
    common::send_raw(&mut ws, &common::hello("late", None)).await;
    match common::recv_raw(&mut ws).await {
        Ok(ServerMsg::Error { code: ErrorCode::Internal, message }) => assert!(message.contains("cluster"), "{message}"),
        other => panic!("expected a clear refusal, got {other:?}"),
    }
    let asked = std::time::Instant::now();
    guest.send(ClientMsg::JoinRoom { code: code.clone() }).await;
    let (e, message) = guest.error().await;
    assert_eq!(e, ErrorCode::Internal);
    assert!(message.contains("cluster"), "{message}");
    assert!(asked.elapsed() < Duration::from_secs(5), "answered in {:?}", asked.elapsed());

    redis.start_again();
    let mut back = false;
    for _ in 0..80 {
        if http_get(&nodes[1], "/health").await.0 == 200 && http_get(&nodes[0], "/health").await.0 == 200 {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(back, "the nodes report healthy again");
    // The old room is written again by its home; a new room works too.
    let mut old_joined = None;
    for _ in 0..40 {
        guest.send(ClientMsg::JoinRoom { code: code.clone() }).await;
        match guest.recv_until("join outcome", |m| matches!(m, ServerMsg::Room(_) | ServerMsg::Error { .. })).await {
            ServerMsg::Room(r) => {
                old_joined = Some(r);
                break;
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    assert!(old_joined.is_some(), "the room made before the restart is found again");
    let mut h2 = Client::connect(&nodes[1], "h2").await;
    let new_code = h2.create().await;
    let mut g2 = Client::connect(&nodes[0], "g2").await;
    g2.join(&new_code).await;
    stop(nodes).await;
}

/// A wrong Redis URL or an unreachable Redis stops the node at start with a clear error.
#[tokio::test]
async fn cluster_bad_redis_url_or_unreachable_redis_fails_with_a_clear_error() {
    let bad = server::spawn(Config { redis: Some("http://nope".into()), ..common::config() }).await;
    let msg = bad.map(|_| ()).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(msg.contains("Redis URL") && msg.contains("redis://"), "{msg}");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        l.local_addr().map(|a| a.port()).unwrap_or(1)
    };
    let started = std::time::Instant::now();
    let away = server::spawn(Config { redis: Some(format!("redis://127.0.0.1:{port}/")), ..common::config() }).await;
    let msg = away.map(|_| ()).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(msg.contains("cannot reach Redis") && msg.contains("redis-server"), "{msg}");
    assert!(started.elapsed() < Duration::from_secs(10), "failed in {:?}", started.elapsed());
}

/// A forged token and a token whose session expired are refused on every node (a new
/// session with StaleToken); a live token moves to another node and keeps the seat.
#[tokio::test]
async fn cluster_tokens_move_between_nodes_and_forged_or_expired_ones_are_refused() {
    let _ = tracing_subscriber::fmt().with_env_filter("server=debug").with_test_writer().try_init();
    let redis = TestRedis::start();
    let mut nodes = Vec::new();
    for _ in 0..2 {
        nodes.push(start(Config { reconnect_grace_ms: 1_000, ..node_config(&redis, None) }).await);
    }
    let mut host = Client::connect(&nodes[0], "host").await;
    let code = host.create().await;
    let mut guest = Client::connect(&nodes[0], "guest").await;
    guest.join(&code).await;
    // The guest's connection moves to node 1 with its token: same id, still in the room.
    let (id, token) = (guest.id, guest.token.clone());
    drop(guest);
    let mut moved = Client::connect_url(&nodes[1].ws_url(), "guest", Some(token)).await;
    assert_eq!(moved.id, id, "the seat is kept on another node");
    let room = moved.room_where("the room again", |r| r.players.iter().any(|p| p.id == id && p.connected)).await;
    assert_eq!(room.code, code);
    // Forged: refused on both nodes.
    for node in &nodes {
        let mut ws = common::raw(node).await;
        common::send_raw(&mut ws, &common::hello("mallory", Some("00".repeat(16)))).await;
        let first = common::recv_raw(&mut ws).await;
        let second = common::recv_raw(&mut ws).await;
        let stale = [&first, &second].iter().any(|m| matches!(m, Ok(ServerMsg::Error { code: ErrorCode::StaleToken, .. })));
        assert!(stale, "forged token accepted: {first:?} {second:?}");
    }
    // Expired: the host leaves for longer than the grace; its token is refused on node 1.
    let host_token = host.token.clone();
    drop(host);
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let mut ws = common::raw(&nodes[1]).await;
    common::send_raw(&mut ws, &common::hello("host", Some(host_token))).await;
    let first = common::recv_raw(&mut ws).await;
    let second = common::recv_raw(&mut ws).await;
    let stale = [&first, &second].iter().any(|m| matches!(m, Ok(ServerMsg::Error { code: ErrorCode::StaleToken, .. })));
    assert!(stale, "expired token accepted: {first:?} {second:?}");
    stop(nodes).await;
}
