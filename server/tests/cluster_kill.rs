//! Cluster nodes as real processes (the `server` binary), sharing a real `redis-server` and
//! a real PostgreSQL started by the test: the node that is home to a room in mid-round is
//! killed with SIGKILL. Its player reconnects to another node with its token and keeps its
//! seat, another node takes the room over, the round ends, and the match is stored once.
//! Then a node stopped with SIGTERM drains: its player reconnects elsewhere, the room goes on.

mod common;
#[path = "common/postgres.rs"]
mod pg;
#[path = "common/redis.rs"]
mod redis_server;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Client;
use redis_server::TestRedis;
use shared::protocol::signal::{ClientMsg, MatchReport, RoomSettings, ScoreLine, ServerMsg};

/// A node process; killed on drop.
struct Node {
    child: Child,
    port: u16,
    log: std::path::PathBuf,
}

impl Node {
    fn start(redis: &TestRedis, db: &str, dir: &std::path::Path, n: usize) -> Node {
        let port = pg::free_port();
        let log = dir.join(format!("node{n}.log"));
        let out = std::fs::File::create(&log).unwrap_or_else(|e| panic!("log file: {e}"));
        let err = out.try_clone().unwrap_or_else(|e| panic!("log file: {e}"));
        let child = Command::new(env!("CARGO_BIN_EXE_server"))
            .args(["--bind", &format!("127.0.0.1:{port}"), "--stun-port", "0", "--redis", &redis.url(), "--db", db])
            .args(["--min-round-secs", "1", "--reconnect-grace-ms", "20000", "--start-delay-ms", "1000", "--shutdown-grace-ms", "1500"])
            .env("RUST_LOG", "server=info")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("the server binary did not start: {e}"));
        let node = Node { child, port, log };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !node.healthy() {
            assert!(Instant::now() < deadline, "node {n} not healthy within 20 s:\n{}", node.log_text());
            std::thread::sleep(Duration::from_millis(50));
        }
        node
    }

    fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/ws", self.port)
    }

    fn healthy(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else { return false };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        if s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").is_err() {
            return false;
        }
        let mut body = String::new();
        let _ = s.read_to_string(&mut body);
        body.starts_with("HTTP/1.1 200")
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn signal(&self, sig: &str) {
        let status = Command::new("kill").args([sig, &self.child.id().to_string()]).status();
        assert!(matches!(status, Ok(s) if s.success()), "kill {sig} failed: {status:?}");
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Waits for a message for up to `within` (the common helpers wait 5 s; a takeover takes a
/// few seconds more).
async fn wait_for(c: &mut Client, what: &str, within: Duration, mut pred: impl FnMut(&ServerMsg) -> bool) -> ServerMsg {
    let deadline = Instant::now() + within;
    loop {
        assert!(Instant::now() < deadline, "{}: no {what} within {within:?}", c.name);
        match tokio::time::timeout(Duration::from_millis(4_500), common::recv_raw(&mut c.ws)).await {
            Ok(Ok(m)) if pred(&m) => return m,
            Ok(Ok(_)) | Err(_) => continue,
            Ok(Err(closed)) => panic!("{}: connection closed waiting for {what}: {closed:?}", c.name),
        }
    }
}

#[tokio::test]
async fn cluster_home_node_killed_mid_round_its_player_moves_and_the_match_is_stored_once() {
    let redis = TestRedis::start();
    let Some(pg) = pg::TestPostgres::start("cluster_home_node_killed_mid_round") else { return };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let db = pg.url();
    let mut nodes: Vec<Option<Node>> = (0..3).map(|n| Some(Node::start(&redis, &db, dir.path(), n))).collect();
    let url = |nodes: &[Option<Node>], i: usize| nodes[i].as_ref().map(Node::url).unwrap_or_default();

    // The room is homed on node 0 (its host is connected there); guests on nodes 1 and 2.
    let mut host = Client::connect_url(&url(&nodes, 0), "host", None).await;
    let mut g1 = Client::connect_url(&url(&nodes, 1), "g1", None).await;
    let mut g2 = Client::connect_url(&url(&nodes, 2), "g2", None).await;
    let code = host.create().await;
    let settings = RoomSettings { duration_secs: 8, ..RoomSettings::default() };
    host.send(ClientMsg::UpdateSettings { settings: settings.clone() }).await;
    host.room_where("8 s rounds", |r| r.settings == settings).await;
    g1.join(&code).await;
    g2.join(&code).await;
    host.room_where("all three", |r| r.players.len() == 3).await;

    host.send(ClientMsg::StartGame { force: false }).await;
    for c in [&mut host, &mut g1, &mut g2] {
        c.send(ClientMsg::SetReady { ready: true }).await;
    }
    let mut round = None;
    for c in [&mut host, &mut g1, &mut g2] {
        if let ServerMsg::GameStarting { start_at_ms, round_seed, duration_ms, .. } =
            c.recv_until("GameStarting", |m| matches!(m, ServerMsg::GameStarting { .. })).await
        {
            round = Some((start_at_ms, round_seed, duration_ms));
        }
    }
    let Some((start_at, seed, duration)) = round else { panic!("no round") };

    // Mid-round (a second in): the home node dies at once. (A change made in the last
    // milliseconds before a kill, not yet mirrored to Redis, would be lost.)
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let killed_at = Instant::now();
    if let Some(mut node) = nodes[0].take() {
        let _ = node.child.kill(); // SIGKILL
        let _ = node.child.wait();
    }
    // Its player reconnects (through a load balancer: here, straight to node 1) with its
    // token: same id, and once another node took the room over, its seat connected again.
    let (id, token) = (host.id, host.token.clone());
    let mut host = Client::connect_url(&url(&nodes, 1), "host", Some(token)).await;
    assert_eq!(host.id, id, "the seat is kept");
    let back = wait_for(&mut host, "its seat connected again", Duration::from_secs(15), |m| {
        matches!(m, ServerMsg::Room(r) if r.code == code && r.players.iter().any(|p| p.id == id && p.connected))
    })
    .await;
    let taken_over_in = killed_at.elapsed();
    eprintln!("room taken over and the host's seat back {taken_over_in:?} after the kill: {back:?}");

    // The round ends; everyone reports; the match is recorded once, agreed.
    let end = start_at + u64::from(duration);
    tokio::time::sleep(Duration::from_millis(end.saturating_sub(now_ms()) + 100)).await;
    let ids = [host.id, g1.id, g2.id];
    let scores: Vec<ScoreLine> = [(ids[0], "host", 200), (ids[1], "g1", 150), (ids[2], "g2", 100)]
        .into_iter()
        .map(|(player, name, points)| ScoreLine { player, name: name.into(), points, hits: 1, best_streak: 1, dropped: false })
        .collect();
    let report = MatchReport { round_seed: seed, scores };
    for c in [&mut host, &mut g1, &mut g2] {
        c.send(ClientMsg::ReportResult { report: report.clone() }).await;
    }
    let mut match_ids = Vec::new();
    for c in [&mut host, &mut g1, &mut g2] {
        match wait_for(c, "ResultRecorded", Duration::from_secs(15), |m| matches!(m, ServerMsg::ResultRecorded { .. })).await {
            ServerMsg::ResultRecorded { match_id, agreed, .. } => {
                assert!(agreed, "{}: not agreed", c.name);
                match_ids.push(match_id);
            }
            _ => unreachable!(),
        }
    }
    assert!(match_ids.windows(2).all(|w| w[0] == w[1]), "{match_ids:?}");
    let mut viewer = Client::connect_url(&url(&nodes, 2), "g2", None).await;
    viewer.send(ClientMsg::History { limit: 20 }).await;
    match viewer.recv_until("History", |m| matches!(m, ServerMsg::History { .. })).await {
        ServerMsg::History { matches } => {
            let ours: Vec<_> = matches.iter().filter(|m| m.room_code == code).collect();
            assert_eq!(ours.len(), 1, "stored once: {matches:#?}");
        }
        _ => unreachable!(),
    }

    // SIGTERM drains: whichever node is the room's home now stops cleanly; the players it
    // connected reconnect to the last node and the room goes on there.
    let survivor = 2;
    let draining = 1;
    if let Some(node) = nodes[draining].as_ref() {
        node.signal("-TERM");
    }
    let (id, token) = (host.id, host.token.clone());
    // The drain closes the host's connection (no "server shutting down" leave: it moves).
    let closed = tokio::time::timeout(Duration::from_secs(10), common::closed(&mut host.ws)).await;
    assert!(closed.is_ok(), "the draining node closed its connections");
    let mut host = Client::connect_url(&url(&nodes, survivor), "host", Some(token)).await;
    assert_eq!(host.id, id);
    wait_for(&mut host, "the room on the last node", Duration::from_secs(15), |m| {
        matches!(m, ServerMsg::Room(r) if r.code == code && r.players.iter().any(|p| p.id == id && p.connected))
    })
    .await;
    if let Some(mut node) = nodes[draining].take() {
        let status = node.child.wait();
        assert!(matches!(status, Ok(s) if s.success()), "the draining node exits cleanly: {status:?}\n{}", node.log_text());
    }
}
