//! Rooms, matchmaking, relay, reconnect, limits: the real server over loopback websockets.

mod common;

use std::time::Duration;

use common::{Client, closed, config, hello, raw, recv_raw, send_raw, start};
use futures_util::SinkExt as _;
use server::Config;
use shared::protocol::signal::{ClientMsg, ErrorCode, LeaveReason, RoomSettings, ServerMsg, SignalPayload};
use tokio_tungstenite::tungstenite::Message;

fn offer(sdp: &str) -> SignalPayload {
    SignalPayload::Offer { sdp: sdp.into() }
}

#[tokio::test]
async fn create_then_join_by_code_case_insensitive() {
    let server = start(config()).await;
    let mut a = Client::connect(&server, "Ana").await;
    let mut b = Client::connect(&server, "Bo").await;
    assert_ne!(a.id, b.id);

    let code = a.create().await;
    assert_eq!(code.len(), 6);
    let joined = b.join(&code.to_lowercase()).await;
    assert_eq!(joined.code, code);
    assert_eq!(joined.host, a.id);
    assert_eq!(joined.cap, 8);
    let names: Vec<_> = joined.players.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["Ana", "Bo"]);

    let seen_by_host = a.room_where("B in the room", |r| r.players.len() == 2).await;
    assert_eq!(seen_by_host, joined);

    // Creating or joining again while in a room is refused.
    b.send(ClientMsg::CreateRoom { settings: RoomSettings::default() }).await;
    assert_eq!(b.error().await.0, ErrorCode::AlreadyInRoom);
    server.shutdown().await;
}

#[tokio::test]
async fn quick_match_prefers_the_fullest_open_room_else_creates() {
    let server = start(config()).await;
    let mut lone = Client::connect(&server, "lone").await;
    lone.send(ClientMsg::QuickMatch).await;
    let created = lone.room_where("a created room", |_| true).await;
    assert_eq!(created.players.len(), 1);

    let mut h = Client::connect(&server, "host").await;
    let mut g = Client::connect(&server, "guest").await;
    let full_code = h.create().await;
    // Rooms made by code are private; the host opens this one to quick match.
    h.send(ClientMsg::SetVisibility { visibility: shared::protocol::signal::RoomVisibility::Public }).await;
    h.room_where("public", |r| r.visibility == shared::protocol::signal::RoomVisibility::Public).await;
    g.join(&full_code).await;

    let mut q = Client::connect(&server, "quick").await;
    q.send(ClientMsg::QuickMatch).await;
    let id = q.id;
    let r = q.room_where("the quick-matched room", |r| r.players.iter().any(|p| p.id == id)).await;
    assert_eq!(r.code, full_code, "joined the 2-player room, not the 1-player one");
    assert_eq!(r.players.len(), 3);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn simultaneous_quick_matches_on_an_empty_server_meet_in_one_room() {
    for round in 0..5 {
        let server = start(config()).await;
        let mut clients = Vec::new();
        for i in 0..6 {
            clients.push(Client::connect(&server, &format!("q{i}")).await);
        }
        // Everyone asks at once, each from its own task.
        let tasks: Vec<_> = clients
            .into_iter()
            .map(|mut c| {
                tokio::spawn(async move {
                    c.send(ClientMsg::QuickMatch).await;
                    let id = c.id;
                    c.room_where("own quick-matched room", |r| r.players.iter().any(|p| p.id == id)).await.code
                })
            })
            .collect();
        let mut codes = std::collections::BTreeSet::new();
        for t in tasks {
            codes.insert(t.await.expect("quick-match task"));
        }
        assert_eq!(codes.len(), 1, "round {round}: six simultaneous quick matches landed in rooms {codes:?}");
        server.shutdown().await;
    }
}

#[tokio::test]
async fn full_room_and_unknown_code_are_refused() {
    let server = start(Config { room_cap: 2, ..config() }).await;
    let mut a = Client::connect(&server, "a").await;
    let mut b = Client::connect(&server, "b").await;
    let mut c = Client::connect(&server, "c").await;
    let code = a.create().await;
    b.join(&code).await;

    c.send(ClientMsg::JoinRoom { code: code.clone() }).await;
    assert_eq!(c.error().await.0, ErrorCode::RoomFull);
    c.send(ClientMsg::JoinRoom { code: "QQQQQQ".into() }).await;
    let (err, msg) = c.error().await;
    assert_eq!(err, ErrorCode::RoomNotFound);
    assert!(msg.contains("QQQQQQ"), "{msg}");
    c.send(ClientMsg::JoinRoom { code: "not a code".into() }).await;
    assert_eq!(c.error().await.0, ErrorCode::RoomNotFound);

    // Quick match skips the full room and makes a new one.
    c.send(ClientMsg::QuickMatch).await;
    let r = c.room_where("a new room", |_| true).await;
    assert_ne!(r.code, code);
    server.shutdown().await;
}

#[tokio::test]
async fn failed_joins_are_limited_per_address() {
    // Issue 18: wrong codes slow joins from the address down instead of locking it out,
    // so a friend behind the same address with the right code still gets in.
    let server = start(Config { failed_joins: 3, failed_join_step_ms: 100, failed_join_max_delay_ms: 300, ..config() }).await;
    let mut host = Client::connect(&server, "host").await;
    let code = host.create().await;
    let mut guesser = Client::connect(&server, "guesser").await;
    for guess in ["AAAAAA", "CCCCCC", "DDDDDD", "EEEEEE"] {
        guesser.send(ClientMsg::JoinRoom { code: guess.into() }).await;
        assert_eq!(guesser.error().await.0, ErrorCode::RoomNotFound);
    }
    let (_, m) = common::http_get(&server, "/metrics").await;
    assert!(m.contains("poseparty_limit_total{limit=\"join_delayed\"} 1"), "the fourth guess waited: {m}");
    // The right code works, from the guessing connection and from another one.
    let mut other = Client::connect(&server, "other").await;
    other.join(&code).await;
    guesser.join(&code).await;
    server.shutdown().await;
}

#[tokio::test]
async fn signals_reach_only_peers_of_the_same_room() {
    let server = start(config()).await;
    let mut a = Client::connect(&server, "a").await;
    let mut b = Client::connect(&server, "b").await;
    let mut c = Client::connect(&server, "c").await;
    let code = a.create().await;
    b.join(&code).await;
    a.room_where("b joined", |r| r.players.len() == 2).await;
    c.create().await;

    a.send(ClientMsg::Signal { to: b.id, payload: offer("v=0 a→b") }).await;
    let got = b.recv_until("the relayed signal", |m| matches!(m, ServerMsg::Signal { .. })).await;
    assert_eq!(got, ServerMsg::Signal { from: a.id, payload: offer("v=0 a→b") });

    a.send(ClientMsg::Signal { to: c.id, payload: offer("v=0 a→c") }).await;
    assert_eq!(a.error().await.0, ErrorCode::UnknownPeer);
    c.send(ClientMsg::Signal { to: a.id, payload: offer("v=0 c→a") }).await;
    assert_eq!(c.error().await.0, ErrorCode::UnknownPeer);
    c.expect_silence(Duration::from_millis(200)).await;
    a.expect_silence(Duration::from_millis(50)).await;

    // Outside any room there is nobody to signal.
    let mut d = Client::connect(&server, "d").await;
    d.send(ClientMsg::Signal { to: a.id, payload: offer("x") }).await;
    assert_eq!(d.error().await.0, ErrorCode::NotInRoom);
    server.shutdown().await;
}

#[tokio::test]
async fn host_leaving_hands_over_and_empty_room_is_removed() {
    let server = start(config()).await;
    let mut a = Client::connect(&server, "a").await;
    let mut b = Client::connect(&server, "b").await;
    let code = a.create().await;
    b.join(&code).await;

    // Only the host changes settings.
    let quiz = RoomSettings { mode: shared::protocol::signal::GameMode::MotionQuiz, duration_secs: 90, routine: None };
    b.send(ClientMsg::UpdateSettings { settings: quiz.clone() }).await;
    assert_eq!(b.error().await.0, ErrorCode::NotHost);
    a.send(ClientMsg::UpdateSettings { settings: RoomSettings { duration_secs: 1, ..quiz.clone() } }).await;
    assert_eq!(a.error().await.0, ErrorCode::InvalidSettings);
    a.send(ClientMsg::UpdateSettings { settings: quiz.clone() }).await;
    b.room_where("new settings", |r| r.settings == quiz).await;

    a.send(ClientMsg::LeaveRoom).await;
    a.recv_until("LeftRoom", |m| *m == ServerMsg::LeftRoom { reason: LeaveReason::Requested }).await;
    let r = b.room_where("a gone", |r| r.players.len() == 1).await;
    assert_eq!(r.host, b.id);

    b.send(ClientMsg::LeaveRoom).await;
    b.recv_until("LeftRoom", |m| matches!(m, ServerMsg::LeftRoom { .. })).await;
    a.send(ClientMsg::JoinRoom { code }).await;
    assert_eq!(a.error().await.0, ErrorCode::RoomNotFound, "the empty room was removed");
    let (_, metrics) = common::http_get(&server, "/metrics").await;
    assert!(metrics.contains("\nposeparty_rooms 0\n"), "{metrics}");
    server.shutdown().await;
}

#[tokio::test]
async fn reconnect_with_token_keeps_the_seat_and_old_tokens_are_stale() {
    let server = start(Config { reconnect_grace_ms: 400, ..config() }).await;
    let mut a = Client::connect(&server, "a").await;
    let mut b = Client::connect(&server, "b").await;
    let code = a.create().await;
    b.join(&code).await;
    let (a_id, a_token) = (a.id, a.token.clone());

    drop(a);
    let r = b.room_where("a disconnected", |r| r.players.iter().any(|p| p.id == a_id && !p.connected)).await;
    assert_eq!(r.players.len(), 2, "the seat is kept");

    let mut a2 = Client::connect_with(&server, "a", Some(a_token.clone())).await;
    assert_eq!(a2.id, a_id, "same peer id");
    assert_ne!(a2.token, a_token, "the token is rotated");
    let r = a2.room_where("the room back", |r| r.players.iter().all(|p| p.connected)).await;
    assert_eq!(r.code, code);
    b.room_where("a back", |r| r.players.iter().all(|p| p.connected)).await;

    // The old token is stale now: error, then a fresh identity.
    let mut ws = raw(&server).await;
    send_raw(&mut ws, &hello("a", Some(a_token))).await;
    assert!(matches!(recv_raw(&mut ws).await, Ok(ServerMsg::Error { code: ErrorCode::StaleToken, .. })));
    match recv_raw(&mut ws).await {
        Ok(ServerMsg::Welcome { peer_id, .. }) => assert_ne!(peer_id, a_id),
        other => panic!("expected a fresh Welcome, got {other:?}"),
    }

    // After the grace period the seat is gone and the token with it.
    let b_token = b.token.clone();
    let b_id = b.id;
    drop(b);
    a2.room_where("b dropped", |r| r.players.iter().any(|p| p.id == b_id && !p.connected)).await;
    a2.room_where("b's seat released", |r| r.players.len() == 1).await;
    let mut ws = raw(&server).await;
    send_raw(&mut ws, &hello("b", Some(b_token))).await;
    assert!(matches!(recv_raw(&mut ws).await, Ok(ServerMsg::Error { code: ErrorCode::StaleToken, .. })));
    server.shutdown().await;
}

#[tokio::test]
async fn malformed_and_oversized_frames_close_only_that_socket() {
    let server = start(config()).await;
    let mut a = Client::connect(&server, "a").await;
    let mut b = Client::connect(&server, "b").await;
    let code = a.create().await;
    b.join(&code).await;

    let mut bad = Client::connect(&server, "bad").await;
    bad.ws.send(Message::Binary(vec![0xff, 0xfe, 0xfd, 0x00, 0x13].into())).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(bad.error().await.0, ErrorCode::Malformed);
    assert_eq!(closed(&mut bad.ws).await, Some(1008));

    let mut big = Client::connect(&server, "big").await;
    big.ws.send(Message::Binary(vec![0u8; 100 * 1024].into())).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(big.error().await.0, ErrorCode::TooLarge);
    assert_eq!(closed(&mut big.ws).await, Some(1009));

    // Far over the limit: cut off by the websocket layer, still answered and closed.
    let mut huge = Client::connect(&server, "huge").await;
    huge.ws.send(Message::Binary(vec![0u8; 1024 * 1024].into())).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(huge.error().await.0, ErrorCode::TooLarge);

    let mut text = Client::connect(&server, "text").await;
    text.ws.send(Message::Text("hello".into())).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(text.error().await.0, ErrorCode::Malformed);

    // A room member sending garbage leaves; the other member is unaffected.
    let a_id = a.id;
    a.ws.send(Message::Binary(vec![9; 3].into())).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(a.error().await.0, ErrorCode::Malformed);
    b.room_where("a disconnected", |r| r.players.iter().any(|p| p.id == a_id && !p.connected)).await;
    b.assert_alive().await;
    server.shutdown().await;
}

#[tokio::test]
async fn handshake_is_required_and_versioned() {
    let server = start(config()).await;
    let mut ws = raw(&server).await;
    send_raw(&mut ws, &ClientMsg::Hello { protocol_version: 999, name: "old".into(), reconnect_token: None }).await;
    match recv_raw(&mut ws).await {
        Ok(ServerMsg::Error { code: ErrorCode::BadVersion, message }) => assert!(message.contains("999"), "{message}"),
        other => panic!("expected BadVersion, got {other:?}"),
    }
    assert_eq!(closed(&mut ws).await, Some(1008));

    let mut ws = raw(&server).await;
    send_raw(&mut ws, &ClientMsg::QuickMatch).await;
    assert!(matches!(recv_raw(&mut ws).await, Ok(ServerMsg::Error { code: ErrorCode::BadHandshake, .. })));

    let mut ws = raw(&server).await;
    send_raw(&mut ws, &hello("   ", None)).await;
    assert!(matches!(recv_raw(&mut ws).await, Ok(ServerMsg::Error { code: ErrorCode::InvalidName, .. })));

    let c = Client::connect(&server, "민수").await;
    let ServerMsg::Welcome { ice_servers, server_time_ms, .. } = &c.welcome else { unreachable!() };
    assert!(*server_time_ms > 1_600_000_000_000);
    assert_eq!(ice_servers[0].urls, [format!("stun:127.0.0.1:{}", server.stun_addr().port())]);
    server.shutdown().await;
}

#[tokio::test]
async fn message_rate_is_limited_per_connection() {
    let server = start(Config { msg_rate: 5, msg_burst: 5, ..config() }).await;
    let mut calm = Client::connect(&server, "calm").await;
    let mut flood = Client::connect(&server, "flood").await;
    for nonce in 0..20 {
        flood.send(ClientMsg::Ping { nonce, client_time_ms: 0 }).await;
    }
    let mut pongs = 0;
    loop {
        match flood.recv().await {
            ServerMsg::Pong { .. } => pongs += 1,
            ServerMsg::Error { code: ErrorCode::RateLimited, .. } => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!((5..=10).contains(&pongs), "the burst is served, then refused ({pongs} pongs)");
    calm.assert_alive().await;
    server.shutdown().await;
}

#[tokio::test]
async fn idle_connections_are_closed() {
    let server = start(Config { ping_interval_ms: 50, idle_timeout_ms: 200, ..config() }).await;
    let mut c = Client::connect(&server, "sleepy").await;
    // Not reading means not answering the server's pings either.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(closed(&mut c.ws).await, Some(1001));
    server.shutdown().await;
}

#[tokio::test]
async fn shutdown_sends_going_away_to_everyone() {
    let server = start(config()).await;
    let mut a = Client::connect(&server, "a").await;
    a.create().await;
    let mut idle = Client::connect(&server, "idle").await;
    server.shutdown().await;
    a.recv_until("LeftRoom", |m| *m == ServerMsg::LeftRoom { reason: LeaveReason::ServerShutdown }).await;
    assert_eq!(closed(&mut a.ws).await, Some(1001));
    assert_eq!(closed(&mut idle.ws).await, Some(1001));
}

#[tokio::test]
async fn a_token_used_while_the_old_socket_lives_takes_the_seat_over() {
    let server = start(config()).await;
    let mut a = Client::connect(&server, "a").await;
    let code = a.create().await;
    // The client thinks its socket died; the server has not noticed yet.
    let mut a2 = Client::connect_with(&server, "a", Some(a.token.clone())).await;
    assert_eq!(a2.id, a.id);
    assert_eq!(a2.room_where("the room", |_| true).await.code, code);
    assert_eq!(closed(&mut a.ws).await, Some(1008), "the old socket is dropped");
    a2.assert_alive().await;
    // The old socket's end does not mark the seat as disconnected.
    a2.expect_silence(Duration::from_millis(200)).await;
    server.shutdown().await;
}

#[tokio::test]
async fn silent_connections_get_no_session() {
    let server = start(Config { handshake_timeout_ms: 150, ..config() }).await;
    let mut ws = raw(&server).await;
    match recv_raw(&mut ws).await {
        Ok(ServerMsg::Error { code: ErrorCode::BadHandshake, .. }) => {}
        other => panic!("expected BadHandshake, got {other:?}"),
    }
    assert_eq!(closed(&mut ws).await, Some(1008));
    server.shutdown().await;
}
