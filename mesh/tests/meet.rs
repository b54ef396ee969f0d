//! Peers meet through the real server on 127.0.0.1 and talk over both data channels.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mesh::harness::{form_room, wait_for};
use mesh::{Channel, Command, Config, Event, PeerMsg};
use shared::protocol::peer::{LivePose, QuantizedSkeleton};
use shared::protocol::signal::RoomSettings;
use shared::pose::Skeleton;

const TIMEOUT: Duration = Duration::from_secs(30);

fn game_event(seq: u32) -> PeerMsg {
    mesh::harness::hit(9, seq, seq * 100, seq * 100)
}

fn pose(seq: u32) -> PeerMsg {
    PeerMsg::Pose(LivePose {
        seat: 0,
        seq,
        round_ms: 0,
        skeleton: Some(QuantizedSkeleton::from_skeleton(&Skeleton::default())),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_peers_meet_and_use_both_channels() {
    let server = server::spawn(server::Config::ephemeral()).await.unwrap();
    let url = server.ws_url();
    let mut peers = form_room(2, RoomSettings::default(), TIMEOUT, |i| Config::new(url.clone(), format!("p{i}")))
        .await
        .unwrap();
    let (id_b, mut b) = peers.pop().unwrap();
    let (id_a, mut a) = peers.pop().unwrap();

    // The clock estimate agrees with this machine's wall clock (same machine as the server).
    let wall = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
    let est = a.server_now_ms().unwrap() as i64;
    assert!((est - wall).abs() < 1_000, "server clock estimate off by {} ms", est - wall);

    a.send(Command::SendReliable(game_event(1)));
    a.send(Command::SendUnreliable(pose(1)));
    b.send(Command::SendTo { to: id_a, channel: Channel::Reliable, msg: game_event(2) });

    let mut got_b = Vec::new();
    while got_b.len() < 2 {
        let m = wait_for(&mut b, TIMEOUT, "messages from a", |e| match e {
            Event::PeerMessage { from, channel, msg } => Some((*from, *channel, msg.clone())),
            _ => None,
        })
        .await
        .unwrap();
        got_b.push(m);
    }
    assert!(got_b.contains(&(id_a, Channel::Reliable, game_event(1))), "{got_b:?}");
    assert!(got_b.contains(&(id_a, Channel::Unreliable, pose(1))), "{got_b:?}");
    let got_a = wait_for(&mut a, TIMEOUT, "a message from b", |e| match e {
        Event::PeerMessage { from, channel, msg } => Some((*from, *channel, msg.clone())),
        _ => None,
    })
    .await
    .unwrap();
    assert_eq!(got_a, (id_b, Channel::Reliable, game_event(2)));

    // Links measure their round trip.
    let rtt = wait_for(&mut a, TIMEOUT, "a link RTT", |e| match e {
        Event::LinkRtt { peer, rtt } if *peer == id_b => Some(*rtt),
        _ => None,
    })
    .await
    .unwrap();
    assert!(rtt < Duration::from_secs(1), "{rtt:?}");

    // Leaving closes the link on the other side.
    b.send(Command::LeaveRoom);
    let left = wait_for(&mut a, TIMEOUT, "PeerLeft", |e| match e {
        Event::PeerLeft { peer } => Some(*peer),
        _ => None,
    })
    .await
    .unwrap();
    assert_eq!(left, id_b);
    assert!(a.status().links.is_empty());
    drop((a, b));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_peers_form_a_full_mesh() {
    let server = server::spawn(server::Config::ephemeral()).await.unwrap();
    let url = server.ws_url();
    let mut peers = form_room(3, RoomSettings::default(), TIMEOUT, |i| Config::new(url.clone(), format!("p{i}")))
        .await
        .unwrap();
    for (i, (_, mesh)) in peers.iter().enumerate() {
        mesh.send(Command::SendReliable(game_event(i as u32 + 1)));
    }
    let ids: Vec<_> = peers.iter().map(|(id, _)| *id).collect();
    for (me, mesh) in &mut peers {
        let mut from = Vec::new();
        while from.len() < 2 {
            let (sender, msg) = wait_for(mesh, TIMEOUT, "messages from both others", |e| match e {
                Event::PeerMessage { from, msg, .. } => Some((*from, msg.clone())),
                _ => None,
            })
            .await
            .unwrap();
            let index = ids.iter().position(|id| *id == sender).unwrap();
            assert_eq!(msg, game_event(index as u32 + 1));
            from.push(sender);
        }
        from.sort_unstable();
        let mut others: Vec<_> = ids.iter().copied().filter(|id| id != me).collect();
        others.sort_unstable();
        assert_eq!(from, others);
    }
    drop(peers);
    server.shutdown().await;
}
