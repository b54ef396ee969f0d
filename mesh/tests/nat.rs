//! Play across NATs: networks built inside the test with Linux network namespaces, veth pairs
//! and nftables (addresses only from 198.18.0.0/15, see `mesh::netlab`), the server and
//! coturn in one namespace, each client behind its own NAT.
//!
//! The tests skip (printing why) only where namespaces cannot be created (not root, no
//! `ip`/`nft`); a missing coturn is a failure.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use mesh::harness::wait_for;
use mesh::netlab::{Lab, LabError, LabOptions, SERVER_IP, TURN_IP};
use mesh::{Command, Config, Event, LinkState, Mesh, MeshHandle, PeerId, PeerMsg};
use shared::protocol::peer::ScoreTotals;
use shared::protocol::signal::{MatchReport, RoomSettings, ScoreLine};

const TIMEOUT: Duration = Duration::from_secs(40);
const TURN_PORT: u16 = 3479;
const SECRET: &str = "nat-test-secret";

fn lab_or_skip(options: LabOptions, test: &str) -> Option<Lab> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    match Lab::new(options) {
        Ok(lab) => Some(lab),
        Err(LabError::Unavailable(why)) => {
            eprintln!("SKIPPED {test}: {why}");
            None
        }
        Err(e) => panic!("{test}: could not build the test network: {e}"),
    }
}

/// What one scenario does.
#[derive(Clone, Copy)]
struct Scenario {
    relay_only: bool,
    /// Every part of every link is relayed (`Some(true)`), none is (`Some(false)`).
    expect_relay: Option<bool>,
    /// Drop every packet of this client (1-based) for 3 s during the round.
    block: Option<usize>,
    round_secs: u16,
}

struct Player {
    id: PeerId,
    name: String,
    mesh: MeshHandle,
    _rt: tokio::runtime::Runtime,
}

fn hit(round_seed: u64, seq: u32, points: u32) -> PeerMsg {
    mesh::harness::hit(round_seed, seq, seq * 500, points)
}

/// Waits until every link of `p` has both paths known; returns them.
async fn paths_known(p: &mut Player, links: usize) -> Vec<mesh::LinkInfo> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let status = p.mesh.status();
        let known: Vec<_> = status.links.iter().filter(|l| l.paths.iter().all(Option::is_some)).cloned().collect();
        if known.len() >= links {
            return known;
        }
        assert!(Instant::now() < deadline, "{}: paths not known in 15 s: {:?}", p.name, status.links);
        // Keep the event queue short while waiting.
        while p.mesh.try_recv().is_some() {}
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Prints coturn's log when the test fails.
struct LogOnPanic<'a>(&'a mesh::netlab::Coturn);

impl Drop for LogOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = self.0.log_text();
            let tail: Vec<&str> = log.lines().rev().take(80).collect();
            eprintln!("--- coturn log (last 80 lines) ---");
            for line in tail.into_iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}

/// Builds the lab's server + coturn, connects every client, plays one round and checks it.
fn play(lab: &Lab, scenario: Scenario) {
    let dir = tempfile::tempdir().expect("temp dir");
    let coturn = lab.start_coturn(dir.path(), TURN_PORT, SECRET).expect("coturn");
    let _log_guard = LogOnPanic(&coturn);
    let srv_rt = lab.runtime(&lab.server_ns()).expect("server runtime");
    let mut cfg = server::Config::ephemeral();
    cfg.bind = (SERVER_IP, 0).into();
    cfg.start_delay_ms = 1500;
    cfg.turn_urls = vec![
        format!("turn:{TURN_IP}:{TURN_PORT}?transport=udp"),
        format!("turn:{TURN_IP}:{TURN_PORT}?transport=tcp"),
    ];
    cfg.turn_secret = Some(server::turn::Secret::new(SECRET));
    let server = srv_rt
        .block_on(srv_rt.spawn(server::spawn(cfg)))
        .expect("server task")
        .expect("server starts");
    let url = server.ws_url();

    let orchestra = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let result = orchestra.block_on(async {
        let n = lab.options.clients;
        let mut players: Vec<Player> = Vec::new();
        let mut code = String::new();
        for i in 1..=n {
            let rt = lab.runtime(&lab.client_ns(i)).expect("client runtime");
            let name = format!("nat{i}");
            let mut config = Config::new(url.clone(), name.clone());
            config.ice_relay_only = scenario.relay_only;
            let mut mesh = Mesh::start_on(rt.handle(), config).expect("mesh");
            let id = wait_for(&mut mesh, TIMEOUT, "Welcome", |e| match e {
                Event::Welcome { peer_id, .. } => Some(*peer_id),
                _ => None,
            })
            .await
            .expect("welcome");
            let settings = RoomSettings { duration_secs: scenario.round_secs, ..RoomSettings::default() };
            mesh.send(if i == 1 { Command::CreateRoom(settings) } else { Command::JoinRoom(code.clone()) });
            let room = wait_for(&mut mesh, TIMEOUT, "room", |e| match e {
                Event::Room(r) if r.players.iter().any(|p| p.id == id) => Some(r.code.clone()),
                _ => None,
            })
            .await
            .expect("room");
            if i == 1 {
                code = room;
            }
            players.push(Player { id, name, mesh, _rt: rt });
        }
        let started = Instant::now();
        for p in &mut players {
            mesh::harness::wait_links_open(&mut p.mesh, n - 1, TIMEOUT).await.expect("links open");
        }
        eprintln!("all {n} clients linked in {:?}", started.elapsed());

        // The selected candidate pairs, from the WebRTC stack's stats.
        for p in &mut players {
            let links = paths_known(p, n - 1).await;
            for l in &links {
                eprintln!("{} → {}: reliable {:?}, unreliable {:?}", p.name, l.peer, l.paths[0], l.paths[1]);
                match scenario.expect_relay {
                    Some(true) => assert!(
                        l.paths.iter().flatten().all(mesh::LinkPath::relayed),
                        "{}: link to {} is not relayed: {:?}",
                        p.name,
                        l.peer,
                        l.paths
                    ),
                    Some(false) => assert!(
                        l.paths.iter().flatten().all(|path| !path.relayed()),
                        "{}: link to {} is relayed: {:?}",
                        p.name,
                        l.peer,
                        l.paths
                    ),
                    None => {}
                }
                if scenario.relay_only {
                    assert!(
                        l.paths.iter().flatten().all(|p| p.local == mesh::CandidateKind::Relay),
                        "relay-only: the local candidate must be relay: {:?}",
                        l.paths
                    );
                }
            }
        }

        // The server's /metrics counts each link once (its offerer reports it), by path.
        let links = n * (n - 1) / 2;
        let want = match (scenario.expect_relay, scenario.relay_only) {
            (Some(true), _) | (_, true) => Some((0, links)),
            (Some(false), false) => Some((links, 0)),
            (None, false) => None,
        };
        if let Some((direct, relayed)) = want {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let text = srv_rt.spawn(metrics_text(server.local_addr())).await.expect("metrics task");
                let seen = (peer_links(&text, "direct"), peer_links(&text, "relayed"));
                if seen == (Some(direct), Some(relayed)) {
                    eprintln!("/metrics: {direct} direct, {relayed} relayed links");
                    break;
                }
                assert!(Instant::now() < deadline, "/metrics shows {seen:?} (direct, relayed), want {:?}", (direct, relayed));
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }

        // A round: everyone ready, the host starts.
        for p in &players {
            p.mesh.send(Command::SetReady(true));
        }
        players[0].mesh.send(Command::StartGame { force: false });
        let mut round = None;
        for p in &mut players {
            let r = wait_for(&mut p.mesh, TIMEOUT, "GameStarting", |e| match e {
                Event::GameStarting { start_at, round_seed, duration, players, .. } => {
                    Some((*start_at, *round_seed, *duration, players.clone()))
                }
                _ => None,
            })
            .await
            .expect("game starting");
            round = Some(r);
        }
        let (start_at, seed, duration, ids) = round.expect("a round");
        let names: HashMap<PeerId, String> = players.iter().map(|p| (p.id, p.name.clone())).collect();
        tokio::time::sleep_until(tokio::time::Instant::from_std(start_at)).await;
        let end = start_at + duration;

        // Each player scores one hit every 1.5 s — no faster than the rules allow a round
        // (the server refuses impossible reports) — (player k scores k × 100 per hit), sends its
        // totals to everyone reliably, and tallies the others' totals.
        let mut tallies: Vec<HashMap<PeerId, ScoreTotals>> = vec![HashMap::new(); players.len()];
        let mut seq = 0u32;
        let mut next_hit = Instant::now();
        let mut blocked_at: Option<Instant> = None;
        let mut unblocked_at: Option<Instant> = None;
        // After the unblock: the first probe answer over each link of the blocked client.
        let mut back: HashMap<(usize, PeerId), Duration> = HashMap::new();
        while Instant::now() < end {
            if Instant::now() >= next_hit && Instant::now() + Duration::from_millis(1500) < end {
                seq += 1;
                next_hit += Duration::from_millis(1500);
                for (k, p) in players.iter().enumerate() {
                    let points = seq * 100 * (k as u32 + 1);
                    p.mesh.send(Command::SendReliable(hit(seed, seq, points)));
                    tallies[k].insert(p.id, ScoreTotals { points, hits: seq, streak: seq, best_streak: seq });
                }
            }
            if let Some(c) = scenario.block {
                let since = Instant::now() - start_at;
                if blocked_at.is_none() && since >= Duration::from_secs(2) {
                    lab.block(c, true).expect("block");
                    blocked_at = Some(Instant::now());
                    eprintln!("client {c}: all traffic dropped");
                } else if let (Some(at), None) = (blocked_at, unblocked_at)
                    && at.elapsed() >= Duration::from_secs(3)
                {
                    lab.block(c, false).expect("unblock");
                    unblocked_at = Some(Instant::now());
                    eprintln!("client {c}: traffic flows again");
                }
            }
            for (k, p) in players.iter_mut().enumerate() {
                while let Some(event) = p.mesh.try_recv() {
                    match event {
                        Event::PeerMessage { from, msg: PeerMsg::Game(g), .. } if g.round_seed == seed => {
                            let t = tallies[k].entry(from).or_default();
                            if g.totals.points >= t.points {
                                *t = g.totals;
                            }
                        }
                        Event::LinkRtt { peer, .. } => {
                            if let (Some(c), Some(at)) = (scenario.block, unblocked_at) {
                                let blocked_id = ids.get(c - 1).copied();
                                let involved = k + 1 == c || Some(peer) == blocked_id;
                                if involved {
                                    back.entry((k, peer)).or_insert_with(|| at.elapsed());
                                }
                            }
                        }
                        Event::Disconnected { reason } => panic!("{} disconnected mid-round: {reason}", p.name),
                        _ => {}
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if let Some(c) = scenario.block {
            assert!(unblocked_at.is_some(), "the round ended before the unblock");
            // Every link of the blocked client answered a probe again, within 5 s.
            let expected = 2 * (n - 1);
            eprintln!("links back after the unblock: {back:?}");
            assert_eq!(back.len(), expected, "not every link of client {c} came back: {back:?}");
            for (&(k, peer), &after) in &back {
                assert!(after <= Duration::from_secs(5), "link {k}→{peer} came back only after {after:?}");
            }
        }

        // Late messages (retransmitted after the drop) still count; then everyone reports.
        let settle = Instant::now() + Duration::from_secs(if scenario.block.is_some() { 8 } else { 2 });
        while Instant::now() < settle {
            for (k, p) in players.iter_mut().enumerate() {
                while let Some(event) = p.mesh.try_recv() {
                    if let Event::PeerMessage { from, msg: PeerMsg::Game(g), .. } = event
                        && g.round_seed == seed
                    {
                        let t = tallies[k].entry(from).or_default();
                        if g.totals.points >= t.points {
                            *t = g.totals;
                        }
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut reports = Vec::new();
        for (k, p) in players.iter().enumerate() {
            let mut scores: Vec<ScoreLine> = ids
                .iter()
                .map(|id| {
                    let t = tallies[k].get(id).copied().unwrap_or_default();
                    ScoreLine {
                        player: *id,
                        name: names.get(id).cloned().unwrap_or_default(),
                        points: t.points,
                        hits: t.hits,
                        best_streak: t.best_streak,
                        dropped: false,
                    }
                })
                .collect();
            scores.sort_by(|a, b| b.points.cmp(&a.points).then(a.player.cmp(&b.player)));
            let report = MatchReport { round_seed: seed, scores };
            p.mesh.send(Command::ReportResult(report.clone()));
            reports.push(report);
        }
        for r in &reports[1..] {
            assert_eq!(r, &reports[0], "the scoreboards differ");
        }
        assert!(reports[0].scores.iter().all(|s| s.points > 0), "someone's hits never arrived: {:?}", reports[0]);
        let mut match_id = 0;
        for p in &mut players {
            let (id, agreed) = wait_for(&mut p.mesh, TIMEOUT, "ResultRecorded", |e| match e {
                Event::ResultRecorded { match_id, agreed, .. } => Some((*match_id, *agreed)),
                _ => None,
            })
            .await
            .expect("result recorded");
            assert!(agreed, "the server saw disagreeing reports");
            match_id = id;
        }
        players[0].mesh.send(Command::History { limit: 5 });
        let history = wait_for(&mut players[0].mesh, TIMEOUT, "history", |e| match e {
            Event::History(m) => Some(m.clone()),
            _ => None,
        })
        .await
        .expect("history");
        assert!(history.iter().any(|m| m.match_id == match_id && m.agreed), "the match is not in the history: {history:?}");
        // Links stayed up (or came back) to the end.
        for p in &players {
            let status = p.mesh.status();
            assert!(status.links.iter().all(|l| l.state == LinkState::Open), "{}: {:?}", p.name, status.links);
        }
        for p in &players {
            p.mesh.send(Command::Shutdown);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        players
    });
    drop(result);
    srv_rt.block_on(srv_rt.spawn(server.shutdown())).expect("server shutdown");
    let log = coturn.log_text();
    if scenario.expect_relay == Some(true) || scenario.relay_only {
        assert!(log.contains("ALLOCATE processed, success"), "coturn made no allocation; log:\n{log}");
    }
}

/// The server's `/metrics` page (plain HTTP, from inside the server's namespace).
async fn metrics_text(addr: std::net::SocketAddr) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect for /metrics");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: poseparty\r\nConnection: close\r\n\r\n")
        .await
        .expect("send the request");
    let mut text = String::new();
    stream.read_to_string(&mut text).await.expect("read /metrics");
    text
}

/// The value of `poseparty_peer_links{path="…"}`.
fn peer_links(text: &str, path: &str) -> Option<usize> {
    let key = format!("poseparty_peer_links{{path=\"{path}\"}} ");
    text.lines().find_map(|l| l.strip_prefix(key.as_str())).and_then(|v| v.trim().parse().ok())
}

#[test]
fn nat_relay_when_udp_between_clients_is_dropped() {
    let options = LabOptions { clients: 3, random_ports: true, drop_udp_between_clients: true };
    let Some(lab) = lab_or_skip(options, "nat_relay_when_udp_between_clients_is_dropped") else { return };
    play(&lab, Scenario { relay_only: false, expect_relay: Some(true), block: None, round_secs: 10 });
}

#[test]
fn nat_direct_pairs_without_the_drop_rule() {
    let options = LabOptions { clients: 2, random_ports: false, drop_udp_between_clients: false };
    let Some(lab) = lab_or_skip(options, "nat_direct_pairs_without_the_drop_rule") else { return };
    play(&lab, Scenario { relay_only: false, expect_relay: Some(false), block: None, round_secs: 10 });
}

#[test]
fn nat_relay_only_flag_forces_relay() {
    let options = LabOptions { clients: 2, random_ports: false, drop_udp_between_clients: false };
    let Some(lab) = lab_or_skip(options, "nat_relay_only_flag_forces_relay") else { return };
    play(&lab, Scenario { relay_only: true, expect_relay: Some(true), block: None, round_secs: 10 });
}

#[test]
fn nat_links_come_back_after_a_3s_drop_mid_round() {
    let options = LabOptions { clients: 3, random_ports: true, drop_udp_between_clients: true };
    let Some(lab) = lab_or_skip(options, "nat_links_come_back_after_a_3s_drop_mid_round") else { return };
    play(&lab, Scenario { relay_only: false, expect_relay: Some(true), block: Some(3), round_secs: 14 });
}

// --- TURN credentials at coturn -----------------------------------------------------------

/// A minimal STUN/TURN Allocate exchange (RFC 5766 long-term credentials): the first request
/// draws a 401 with realm and nonce, the second carries `username`/`password`. Returns the
/// response class (`Ok(())` for success) or the error code.
fn allocate(server: std::net::SocketAddr, username: &str, password: &str) -> Result<(), u16> {
    // A fresh socket each time: an allocation is per 5-tuple.
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").expect("udp");
    socket.set_read_timeout(Some(Duration::from_millis(500))).expect("timeout");
    let socket = &socket;
    use hmac::{Hmac, Mac};
    use md5::{Digest, Md5};
    const MAGIC: u32 = 0x2112_A442;
    fn attr(buf: &mut Vec<u8>, kind: u16, value: &[u8]) {
        buf.extend_from_slice(&kind.to_be_bytes());
        buf.extend_from_slice(&(value.len() as u16).to_be_bytes());
        buf.extend_from_slice(value);
        while !buf.len().is_multiple_of(4) {
            buf.push(0);
        }
    }
    fn header(body_len: usize, tid: &[u8; 12]) -> Vec<u8> {
        let mut h = Vec::new();
        h.extend_from_slice(&0x0003u16.to_be_bytes());
        h.extend_from_slice(&(body_len as u16).to_be_bytes());
        h.extend_from_slice(&MAGIC.to_be_bytes());
        h.extend_from_slice(tid);
        h
    }
    /// (message type, attributes)
    type Stun = (u16, Vec<(u16, Vec<u8>)>);
    fn parse(buf: &[u8]) -> Option<Stun> {
        let kind = u16::from_be_bytes([*buf.first()?, *buf.get(1)?]);
        let len = usize::from(u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?]));
        let body = buf.get(20..20 + len)?;
        let mut attrs = Vec::new();
        let mut i = 0;
        while i + 4 <= body.len() {
            let t = u16::from_be_bytes([body[i], body[i + 1]]);
            let l = usize::from(u16::from_be_bytes([body[i + 2], body[i + 3]]));
            let v = body.get(i + 4..i + 4 + l)?.to_vec();
            attrs.push((t, v));
            i += 4 + l.div_ceil(4) * 4;
        }
        Some((kind, attrs))
    }
    fn exchange(socket: &std::net::UdpSocket, server: std::net::SocketAddr, msg: &[u8]) -> Stun {
        let mut buf = [0u8; 1500];
        for _ in 0..5 {
            socket.send_to(msg, server).expect("send");
            if let Ok((n, _)) = socket.recv_from(&mut buf)
                && let Some(parsed) = parse(&buf[..n])
            {
                return parsed;
            }
        }
        panic!("no answer from coturn at {server}");
    }
    let error_code = |attrs: &[(u16, Vec<u8>)]| {
        attrs.iter().find(|(t, _)| *t == 0x0009).and_then(|(_, v)| Some(u16::from(*v.get(2)?) * 100 + u16::from(*v.get(3)?)))
    };
    let transport = [17u8, 0, 0, 0];
    let mut body = Vec::new();
    attr(&mut body, 0x0019, &transport);
    let tid: [u8; 12] = rand::random();
    let mut first = header(body.len(), &tid);
    first.extend_from_slice(&body);
    let (kind, attrs) = exchange(socket, server, &first);
    assert_eq!(kind, 0x0113, "an unauthenticated Allocate must be refused");
    let realm = attrs.iter().find(|(t, _)| *t == 0x0014).map(|(_, v)| v.clone()).expect("realm");
    let nonce = attrs.iter().find(|(t, _)| *t == 0x0015).map(|(_, v)| v.clone()).expect("nonce");

    let mut body = Vec::new();
    attr(&mut body, 0x0019, &transport);
    attr(&mut body, 0x0006, username.as_bytes());
    attr(&mut body, 0x0014, &realm);
    attr(&mut body, 0x0015, &nonce);
    let tid: [u8; 12] = rand::random();
    // MESSAGE-INTEGRITY covers the message with its length already counting the MI attribute.
    let mut msg = header(body.len() + 24, &tid);
    msg.extend_from_slice(&body);
    let mut key_src = Vec::new();
    key_src.extend_from_slice(username.as_bytes());
    key_src.push(b':');
    key_src.extend_from_slice(&realm);
    key_src.push(b':');
    key_src.extend_from_slice(password.as_bytes());
    let key = Md5::digest(&key_src);
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(&key).expect("hmac key");
    mac.update(&msg);
    let integrity = mac.finalize().into_bytes();
    attr(&mut msg, 0x0008, &integrity);
    let (kind, attrs) = exchange(socket, server, &msg);
    match kind {
        0x0103 => Ok(()),
        _ => Err(error_code(&attrs).unwrap_or(0)),
    }
}

#[test]
fn nat_turn_refuses_expired_and_forged_credentials() {
    let options = LabOptions { clients: 1, random_ports: false, drop_udp_between_clients: false };
    let Some(lab) = lab_or_skip(options, "nat_turn_refuses_expired_and_forged_credentials") else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let coturn = lab.start_coturn(dir.path(), TURN_PORT, SECRET).expect("coturn");
    let turn: std::net::SocketAddr = (TURN_IP, TURN_PORT).into();
    let secret = server::turn::Secret::new(SECRET);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
    // Run the exchanges on a thread of the client's namespace (behind its NAT).
    let outcome = mesh::netlab::run_in(&lab.client_ns(1), move || {
            let good = server::turn::credential(&secret, 7, now + 600);
            let expired = server::turn::credential(&secret, 7, now - 60);
            let forged = server::turn::credential(&server::turn::Secret::new("not-the-secret"), 7, now + 600);
            let mut tampered = server::turn::credential(&secret, 7, now + 600);
            tampered.username = format!("{}:8", now + 600); // another peer's name, same password
            [
                allocate(turn, &good.username, &good.password),
                allocate(turn, &expired.username, &expired.password),
                allocate(turn, &forged.username, &forged.password),
                allocate(turn, &tampered.username, &tampered.password),
            ]
        })
        .expect("allocation thread");
    let log = coturn.log_text();
    assert_eq!(outcome[0], Ok(()), "valid credentials must get an allocation; log:\n{log}");
    assert_eq!(outcome[1], Err(401), "expired credentials must be refused; log:\n{log}");
    assert_eq!(outcome[2], Err(401), "credentials signed with another secret must be refused; log:\n{log}");
    assert_eq!(outcome[3], Err(401), "a username changed after signing must be refused; log:\n{log}");
}
