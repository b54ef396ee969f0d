//! Rounds, results and history, the HTTP endpoints and the STUN responder.

mod common;

use std::time::Duration;

use common::{Client, http_get, start};
use server::Config;
use shared::protocol::signal::{
    ClientMsg, ErrorCode, GameMode, LeaveReason, LoadingStage, MatchReport, MatchStatus, MatchSummary, PeerId, RoomPhase,
    RoomSettings, ScoreLine, ServerMsg,
};

/// Reports are only taken once a round has ended on the server clock: these tests play
/// one-second rounds.
const ROUND_SECS: u16 = 1;

fn config() -> Config {
    Config { min_round_secs: 1, ..common::config() }
}

/// Creates a room with `names` and one-second rounds; the first is the host.
async fn room_of(server: &server::RunningServer, names: &[&str]) -> Vec<Client> {
    let mut clients = Vec::new();
    for name in names {
        clients.push(Client::connect(server, name).await);
    }
    let code = clients[0].create().await;
    let settings = RoomSettings { duration_secs: ROUND_SECS, ..RoomSettings::default() };
    clients[0].send(ClientMsg::UpdateSettings { settings: settings.clone() }).await;
    clients[0].room_where("short rounds", |r| r.settings == settings).await;
    for c in clients.iter_mut().skip(1) {
        c.join(&code).await;
    }
    let n = names.len();
    // The last joiner already saw the full room in its join snapshot.
    for c in clients.iter_mut().take(n - 1) {
        c.room_where("everyone in", |r| r.players.len() == n).await;
    }
    clients
}

struct Start {
    start_at_ms: u64,
    duration_ms: u32,
    round_seed: u64,
    players: Vec<PeerId>,
}

async fn game_starting(c: &mut Client) -> Start {
    match c.recv_until("GameStarting", |m| matches!(m, ServerMsg::GameStarting { .. })).await {
        ServerMsg::GameStarting { start_at_ms, round_seed, mode, duration_ms, players } => {
            assert_eq!(mode, GameMode::PoseRush);
            assert_eq!(duration_ms, u32::from(ROUND_SECS) * 1000);
            Start { start_at_ms, duration_ms, round_seed, players }
        }
        _ => unreachable!(),
    }
}

fn scores(clients: &[Client], points: &[u32]) -> Vec<ScoreLine> {
    clients
        .iter()
        .zip(points)
        .map(|(c, p)| {
            // One hit is what a one-second round allows (100–200 points).
            let hits = u32::from(*p > 0);
            ScoreLine { player: c.id, name: c.name.clone(), points: *p, hits, best_streak: hits, dropped: false }
        })
        .collect()
}

#[tokio::test]
async fn everyone_ready_gives_one_identical_game_starting() {
    let server = start(config()).await;
    let mut cs = room_of(&server, &["h", "x", "y"]).await;
    cs[1].send(ClientMsg::StartGame { force: false }).await;
    assert_eq!(cs[1].error().await.0, ErrorCode::NotHost);

    cs[0].send(ClientMsg::StartGame { force: false }).await;
    for c in &mut cs {
        c.room_where("loading", |r| r.phase == RoomPhase::Loading).await;
    }
    // Loading progress is visible to everyone.
    cs[1].send(ClientMsg::SetLoading { stage: LoadingStage::WarmingUp, progress: 0.5 }).await;
    let x = cs[1].id;
    cs[2]
        .room_where("x warming up", |r| r.players.iter().any(|p| p.id == x && p.stage == LoadingStage::WarmingUp && p.progress == 0.5))
        .await;

    let before = shared_now();
    for c in &mut cs {
        c.send(ClientMsg::SetReady { ready: true }).await;
    }
    let mut starts = Vec::new();
    for c in &mut cs {
        starts.push(game_starting(c).await);
    }
    let first = &starts[0];
    assert!(first.start_at_ms >= before + 1_000, "start is a few seconds ahead on the server clock");
    for s in &starts {
        assert_eq!((s.start_at_ms, s.round_seed), (first.start_at_ms, first.round_seed));
        assert_eq!(s.players, cs.iter().map(|c| c.id).collect::<Vec<_>>());
    }
    for c in &mut cs {
        let r = c.room_where("playing", |r| matches!(r.phase, RoomPhase::Playing { .. })).await;
        assert_eq!(r.phase, RoomPhase::Playing { start_at_ms: first.start_at_ms, round_seed: first.round_seed });
        c.expect_silence(Duration::from_millis(30)).await;
    }
    // Exactly one GameStarting each: nothing more arrives.
    server.shutdown().await;
}

fn shared_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

#[tokio::test]
async fn forced_start_and_ready_timeout_drop_unready_players() {
    let server = start(Config { ready_timeout_ms: 300, ..config() }).await;
    let mut cs = room_of(&server, &["h", "ready", "slow"]).await;
    cs[0].send(ClientMsg::SetReady { ready: true }).await;
    cs[1].send(ClientMsg::SetReady { ready: true }).await;
    cs[0].send(ClientMsg::StartGame { force: true }).await;
    cs[2].recv_until("NotReady", |m| *m == ServerMsg::LeftRoom { reason: LeaveReason::NotReady }).await;
    let s = game_starting(&mut cs[0]).await;
    assert_eq!(s.players, vec![cs[0].id, cs[1].id]);
    assert_eq!(game_starting(&mut cs[1]).await.start_at_ms, s.start_at_ms);

    // The timeout does the same without the host.
    let mut ds = room_of(&server, &["h2", "ready2", "slow2"]).await;
    ds[0].send(ClientMsg::SetReady { ready: true }).await;
    ds[1].send(ClientMsg::SetReady { ready: true }).await;
    ds[0].send(ClientMsg::StartGame { force: false }).await;
    ds[2].recv_until("NotReady", |m| *m == ServerMsg::LeftRoom { reason: LeaveReason::NotReady }).await;
    assert_eq!(game_starting(&mut ds[1]).await.players, vec![ds[0].id, ds[1].id]);
    server.shutdown().await;
}

/// Plays a round and waits until it has ended on the (shared) clock.
async fn play_round(cs: &mut [Client]) -> u64 {
    cs[0].send(ClientMsg::StartGame { force: false }).await;
    for c in cs.iter_mut() {
        c.send(ClientMsg::SetReady { ready: true }).await;
    }
    let mut start = None;
    for c in cs.iter_mut() {
        start = Some(game_starting(c).await);
    }
    let Some(start) = start else { panic!("no players") };
    let end = start.start_at_ms + u64::from(start.duration_ms);
    let now = shared_now();
    if end > now {
        tokio::time::sleep(Duration::from_millis(end - now + 20)).await;
    }
    start.round_seed
}

async fn recorded(c: &mut Client) -> (i64, bool) {
    match c.recv_until("ResultRecorded", |m| matches!(m, ServerMsg::ResultRecorded { .. })).await {
        ServerMsg::ResultRecorded { match_id, agreed, .. } => (match_id, agreed),
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn agreeing_reports_are_recorded_and_kept_across_a_restart() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let db = dir.path().join("nested").join("history.sqlite3");
    let cfg = Config { db: db.clone(), http_history: server::config::HttpHistory::Open, ..config() };
    let server = start(cfg.clone()).await;
    let mut cs = room_of(&server, &["Ana", "Bo"]).await;

    // A report before any round is refused.
    let early = MatchReport { round_seed: 1, scores: vec![] };
    cs[0].send(ClientMsg::ReportResult { report: early }).await;
    assert_eq!(cs[0].error().await.0, ErrorCode::WrongPhase);

    let seed = play_round(&mut cs).await;
    let board = scores(&cs, &[120, 0]);
    let report = MatchReport { round_seed: seed, scores: board.clone() };
    // A report for another round is refused; an outsider cannot report at all.
    cs[0].send(ClientMsg::ReportResult { report: MatchReport { round_seed: seed ^ 1, ..report.clone() } }).await;
    assert_eq!(cs[0].error().await.0, ErrorCode::WrongPhase);
    let mut outsider = Client::connect(&server, "Eve").await;
    outsider.send(ClientMsg::ReportResult { report: report.clone() }).await;
    assert_eq!(outsider.error().await.0, ErrorCode::NotInRoom);

    cs[0].send(ClientMsg::ReportResult { report: report.clone() }).await;
    cs[1].room_where("results", |r| r.phase == RoomPhase::Results).await;
    cs[1].send(ClientMsg::ReportResult { report: report.clone() }).await;
    let (id0, agreed0) = recorded(&mut cs[0]).await;
    assert_eq!(recorded(&mut cs[1]).await, (id0, agreed0));
    assert!(agreed0);

    // A second round whose reports disagree is recorded as such.
    cs[0].send(ClientMsg::BackToLobby).await;
    cs[1].room_where("lobby", |r| r.phase == RoomPhase::Lobby && r.players.iter().all(|p| !p.ready)).await;
    let seed2 = play_round(&mut cs).await;
    let (mine, theirs) = (scores(&cs, &[0, 110]), scores(&cs, &[0, 150]));
    cs[0].send(ClientMsg::ReportResult { report: MatchReport { round_seed: seed2, scores: mine } }).await;
    cs[1].send(ClientMsg::ReportResult { report: MatchReport { round_seed: seed2, scores: theirs } }).await;
    let (id1, agreed1) = recorded(&mut cs[1]).await;
    assert!(id1 > id0);
    assert!(!agreed1);

    cs[0].send(ClientMsg::History { limit: 10 }).await;
    match cs[0].recv_until("History", |m| matches!(m, ServerMsg::History { .. })).await {
        ServerMsg::History { matches } => {
            assert_eq!(matches.iter().map(|m| (m.match_id, m.agreed)).collect::<Vec<_>>(), [(id1, false), (id0, true)]);
            assert_eq!(matches.iter().map(|m| m.status).collect::<Vec<_>>(), [MatchStatus::Disagreed, MatchStatus::Verified]);
            assert_eq!(matches[1].scores, board);
        }
        _ => unreachable!(),
    }
    drop(cs);
    server.shutdown().await;
    assert!(db.exists(), "the database file was created");

    let server = start(cfg).await;
    let (status, body) = http_get(&server, "/history?name=Ana").await;
    assert_eq!(status, 200, "{body}");
    let matches: Vec<MatchSummary> = serde_json::from_str(&body).unwrap_or_else(|e| panic!("history JSON: {e}: {body}"));
    assert_eq!(matches.len(), 2);
    assert_eq!(matches[1].match_id, id0);
    assert_eq!(matches[1].scores, board);
    assert_eq!(matches[1].mode, GameMode::PoseRush);
    let (_, none) = http_get(&server, "/history?name=Nobody").await;
    assert_eq!(none.trim(), "[]");
    server.shutdown().await;
}

#[tokio::test]
async fn a_player_leaving_mid_round_does_not_block_the_record() {
    let server = start(config()).await;
    let mut cs = room_of(&server, &["a", "b", "c"]).await;
    let seed = play_round(&mut cs).await;
    let report = MatchReport { round_seed: seed, scores: scores(&cs, &[150, 120, 0]) };
    cs[0].send(ClientMsg::ReportResult { report: report.clone() }).await;
    cs[1].send(ClientMsg::ReportResult { report }).await;
    cs[2].send(ClientMsg::LeaveRoom).await;
    assert!(recorded(&mut cs[0]).await.1);
    server.shutdown().await;
}

#[tokio::test]
async fn health_and_metrics_answer() {
    let server = start(config()).await;
    let (status, body) = http_get(&server, "/health").await;
    assert_eq!((status, body.trim()), (200, "ok"));

    let mut cs = room_of(&server, &["a", "b"]).await;
    let to = cs[1].id;
    cs[0].send(ClientMsg::Signal { to, payload: shared::protocol::signal::SignalPayload::Answer { sdp: "s".into() } }).await;
    cs[1].recv_until("signal", |m| matches!(m, ServerMsg::Signal { .. })).await;
    cs[0].send(ClientMsg::JoinRoom { code: "XXXXXX".into() }).await;
    cs[0].error().await;

    let (status, m) = http_get(&server, "/metrics").await;
    assert_eq!(status, 200);
    assert!(m.contains("\nposeparty_connections 2\n"), "{m}");
    assert!(m.contains("\nposeparty_rooms 1\n"), "{m}");
    assert!(m.contains("poseparty_errors_total{kind=\"already_in_room\"} 1"), "{m}");
    assert!(m.contains("poseparty_relay_latency_seconds_count 1"), "{m}");
    let messages_in: u64 = m
        .lines()
        .find_map(|l| l.strip_prefix("poseparty_messages_in_total "))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no messages_in: {m}"));
    assert!(messages_in >= 5, "{m}");
    server.shutdown().await;
}

#[tokio::test]
async fn stun_binding_round_trip() {
    let server = start(config()).await;
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("{e}"));
    let me = sock.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let txid: [u8; 12] = *b"poseparty-tx";
    let mut req = Vec::new();
    req.extend_from_slice(&server::stun::BINDING_REQUEST.to_be_bytes());
    req.extend_from_slice(&0u16.to_be_bytes());
    req.extend_from_slice(&server::stun::MAGIC_COOKIE.to_be_bytes());
    req.extend_from_slice(&txid);
    // Garbage first: ignored, the server keeps answering.
    sock.send_to(b"not stun", server.stun_addr()).await.unwrap_or_else(|e| panic!("{e}"));
    sock.send_to(&req, server.stun_addr()).await.unwrap_or_else(|e| panic!("{e}"));
    let mut buf = [0u8; 256];
    let (n, from) = tokio::time::timeout(common::WAIT, sock.recv_from(&mut buf))
        .await
        .unwrap_or_else(|_| panic!("no STUN answer"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(from, server.stun_addr());
    let resp = &buf[..n];
    assert_eq!(u16::from_be_bytes([resp[0], resp[1]]), server::stun::BINDING_SUCCESS);
    assert_eq!(&resp[8..20], &txid);
    assert_eq!(u16::from_be_bytes([resp[20], resp[21]]), server::stun::ATTR_XOR_MAPPED_ADDRESS);
    let cookie = server::stun::MAGIC_COOKIE.to_be_bytes();
    let port = u16::from_be_bytes([resp[26], resp[27]]) ^ u16::from_be_bytes([cookie[0], cookie[1]]);
    let ip: Vec<u8> = resp[28..32].iter().zip(cookie).map(|(a, k)| a ^ k).collect();
    assert_eq!(port, me.port());
    assert_eq!(ip, [127, 0, 0, 1]);
    server.shutdown().await;
}

#[tokio::test]
async fn ready_timeout_with_nobody_ready_goes_back_to_the_lobby() {
    let server = start(Config { ready_timeout_ms: 200, ..config() }).await;
    let mut cs = room_of(&server, &["h", "g"]).await;
    cs[0].send(ClientMsg::StartGame { force: false }).await;
    cs[1].room_where("loading", |r| r.phase == RoomPhase::Loading).await;
    let r = cs[1].room_where("back in the lobby", |r| r.phase == RoomPhase::Lobby).await;
    assert_eq!(r.players.len(), 2, "nobody is dropped when nobody was ready");
    cs[0].send(ClientMsg::StartGame { force: true }).await;
    assert_eq!(cs[0].error().await.0, ErrorCode::WrongPhase, "forcing needs at least one ready player");
    server.shutdown().await;
}
