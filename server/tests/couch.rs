//! Couch play on the server: local seats (several people in front of one device's camera)
//! are players of the room — counted by the cap, started, scored and recorded on their own —
//! without a connection of their own.

mod common;

use std::time::Duration;

use common::{Client, start};
use server::Config;
use shared::protocol::signal::{
    ClientMsg, ErrorCode, MatchReport, MatchStatus, PeerId, RoomPhase, RoomSettings, RoomSnapshot, ScoreLine, ServerMsg,
};

fn config() -> Config {
    Config { min_round_secs: 1, room_cap: 4, ..common::config() }
}

fn seats(names: &[&str]) -> ClientMsg {
    ClientMsg::SetLocalSeats { names: names.iter().map(|n| (*n).to_owned()).collect() }
}

fn names(r: &RoomSnapshot) -> Vec<(&str, Option<PeerId>)> {
    r.players.iter().map(|p| (p.name.as_str(), p.device)).collect()
}

#[tokio::test]
async fn couch_local_seats_are_players_of_the_room_and_count_against_the_cap() {
    let server = start(config()).await;
    let mut sofa = Client::connect(&server, "민수").await;
    let code = sofa.create().await;
    sofa.send(seats(&["지연", "하준"])).await;
    let r = sofa.room_where("three seats", |r| r.players.len() == 3).await;
    let device = Some(sofa.id);
    assert_eq!(names(&r), [("민수", None), ("지연", device), ("하준", device)]);
    assert_eq!(r.seats(), 3);
    let (jiyeon, hajun) = (r.players[1].id, r.players[2].id);
    assert_ne!(jiyeon, sofa.id);
    assert_eq!(r.seat_player(sofa.id, 1), Some(jiyeon));
    assert_eq!(r.seat_player(sofa.id, 2), Some(hajun));
    assert_eq!(r.seat_player(sofa.id, 3), None);
    assert!(r.players.iter().all(|p| p.connected), "local seats share the device's connection");

    // One more player fits the cap of 4; a fifth does not.
    let mut guest = Client::connect(&server, "Bo").await;
    guest.join(&code).await;
    let mut late = Client::connect(&server, "Late").await;
    late.send(ClientMsg::JoinRoom { code: code.clone() }).await;
    assert_eq!(late.error().await.0, ErrorCode::RoomFull);
    // Nor may the device add a fourth person now: the change is refused as a whole.
    sofa.send(seats(&["지연", "하준", "서윤"])).await;
    assert_eq!(sofa.error().await.0, ErrorCode::RoomFull);

    // Renaming keeps the seats' ids; a seat's name must not clash with anyone's.
    sofa.send(seats(&["지연", "Bo"])).await;
    let r = sofa.room_where("a second Bo", |r| r.players.iter().any(|p| p.device.is_some() && p.name.starts_with("Bo"))).await;
    assert_eq!(names(&r)[2], ("Bo (2)", device), "a seat named like a member is told apart");
    sofa.send(seats(&["지연이", "하준"])).await;
    let renamed = sofa.room_where("renamed", |r| r.players.iter().any(|p| p.name == "지연이")).await;
    assert_eq!(renamed.seat_player(sofa.id, 1), Some(jiyeon), "a renamed seat keeps its id");
    // Too many, or a bad name, is refused with a clear code.
    sofa.send(seats(&["a", "b", "c", "d"])).await;
    assert_eq!(sofa.error().await.0, ErrorCode::InvalidSettings);
    sofa.send(seats(&["\u{202e}evil"])).await;
    assert_eq!(sofa.error().await.0, ErrorCode::InvalidName);

    // Fewer seats free room again; the guest's view follows.
    sofa.send(seats(&[])).await;
    let r = guest.room_where("only two", |r| r.players.len() == 2).await;
    assert!(r.players.iter().all(|p| p.device.is_none()));
    late.join(&code).await;
    server.shutdown().await;
}

#[tokio::test]
async fn couch_seats_play_a_round_and_are_recorded_each_as_a_player() {
    let server = start(config()).await;
    let mut sofa = Client::connect(&server, "Ana").await;
    let mut guest = Client::connect(&server, "Bo").await;
    let code = sofa.create().await;
    let settings = RoomSettings { duration_secs: 1, ..RoomSettings::default() };
    sofa.send(ClientMsg::UpdateSettings { settings: settings.clone() }).await;
    sofa.send(seats(&["Cy"])).await;
    let r = sofa.room_where("two seats", |r| r.players.len() == 2 && r.settings == settings).await;
    let cy = r.players[1].id;
    guest.join(&code).await;

    // Seats change only in the lobby.
    sofa.send(ClientMsg::StartGame { force: false }).await;
    sofa.room_where("loading", |r| r.phase == RoomPhase::Loading).await;
    sofa.send(seats(&["Cy", "Di"])).await;
    assert_eq!(sofa.error().await.0, ErrorCode::WrongPhase);

    // Readiness is the device's: two connections ready start a round of three players.
    sofa.send(ClientMsg::SetReady { ready: true }).await;
    guest.send(ClientMsg::SetReady { ready: true }).await;
    let mut start = None;
    for c in [&mut sofa, &mut guest] {
        if let ServerMsg::GameStarting { players, start_at_ms, duration_ms, round_seed, .. } =
            c.recv_until("GameStarting", |m| matches!(m, ServerMsg::GameStarting { .. })).await
        {
            start = Some((players, start_at_ms + u64::from(duration_ms), round_seed));
        }
    }
    let Some((players, end_ms, seed)) = start else { panic!("no GameStarting") };
    assert_eq!(players, [sofa.id, cy, guest.id]);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    tokio::time::sleep(Duration::from_millis(end_ms.saturating_sub(now) + 20)).await;

    // Both devices report the same board of three; the local seat never reports itself.
    let line = |player, name: &str, points| ScoreLine { player, name: name.into(), points, hits: u32::from(points > 0), best_streak: u32::from(points > 0), dropped: false };
    let board = vec![line(cy, "Cy", 150), line(sofa.id, "Ana", 120), line(guest.id, "Bo", 0)];
    let report = MatchReport { round_seed: seed, scores: board.clone() };
    sofa.send(ClientMsg::ReportResult { report: report.clone() }).await;
    guest.send(ClientMsg::ReportResult { report }).await;
    let status = match sofa.recv_until("ResultRecorded", |m| matches!(m, ServerMsg::ResultRecorded { .. })).await {
        ServerMsg::ResultRecorded { status, .. } => status,
        _ => unreachable!(),
    };
    assert_eq!(status, MatchStatus::Verified);

    // The local seat's name has its own history line.
    let mut cy_later = Client::connect(&server, "Cy").await;
    cy_later.send(ClientMsg::History { limit: 5 }).await;
    match cy_later.recv_until("History", |m| matches!(m, ServerMsg::History { .. })).await {
        ServerMsg::History { matches } => {
            assert_eq!(matches.len(), 1, "{matches:?}");
            assert_eq!(matches[0].scores, board);
        }
        _ => unreachable!(),
    }
    server.shutdown().await;
}

#[tokio::test]
async fn couch_a_local_seat_cannot_be_signalled_and_leaves_with_its_device() {
    let server = start(config()).await;
    let mut sofa = Client::connect(&server, "Ana").await;
    let mut guest = Client::connect(&server, "Bo").await;
    let code = sofa.create().await;
    sofa.send(seats(&["Cy"])).await;
    let r = sofa.room_where("two seats", |r| r.players.len() == 2).await;
    let cy = r.players[1].id;
    guest.join(&code).await;
    guest.send(ClientMsg::Signal { to: cy, payload: shared::protocol::signal::SignalPayload::Offer { sdp: "x".into() } }).await;
    assert_eq!(guest.error().await.0, ErrorCode::UnknownPeer);
    sofa.send(ClientMsg::LeaveRoom).await;
    let r = guest.room_where("alone", |r| r.players.len() == 1).await;
    assert_eq!(r.players[0].id, guest.id);
    server.shutdown().await;
}
