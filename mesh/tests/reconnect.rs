//! The server connection breaks while the peer links stay up: the mesh reconnects with its
//! reconnect token and keeps its seat; a server that no longer knows the token gives a new
//! session and says the room is gone; an unreachable server ends the mesh after the window.
//!
//! Player A reaches the server through a TCP forwarder the test can cut (every connection
//! through it closes at once, like a NAT that lost its mapping or a Wi-Fi change); player B
//! connects directly.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mesh::harness::{wait_for, wait_links_open};
use mesh::{Command, Config, Event, LinkState, Mesh, MeshHandle, PeerId, PeerMsg};
use shared::protocol::signal::{LeaveReason, RoomSettings, RoomSnapshot};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

const TIMEOUT: Duration = Duration::from_secs(30);

/// Forwards TCP connections to `target`; [`Forwarder::cut`] closes every open one, and
/// [`Forwarder::set_target`] / `refuse` decide where new ones go.
struct Forwarder {
    addr: SocketAddr,
    state: Arc<Mutex<ForwardState>>,
    accept: JoinHandle<()>,
}

struct ForwardState {
    target: Option<SocketAddr>,
    open: Vec<JoinHandle<()>>,
}

impl Forwarder {
    async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the forwarder");
        let addr = listener.local_addr().expect("forwarder address");
        let state = Arc::new(Mutex::new(ForwardState { target: Some(target), open: Vec::new() }));
        let shared = state.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = shared.lock().expect("forwarder state").target;
                let Some(target) = target else { continue }; // refused: dropped at once
                let pipe = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                shared.lock().expect("forwarder state").open.push(pipe);
            }
        });
        Self { addr, state, accept }
    }

    fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// Closes every connection through the forwarder.
    fn cut(&self) {
        for pipe in self.state.lock().expect("forwarder state").open.drain(..) {
            pipe.abort();
        }
    }

    fn set_target(&self, target: Option<SocketAddr>) {
        self.state.lock().expect("forwarder state").target = target;
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

fn hit(seq: u32) -> PeerMsg {
    mesh::harness::hit(1, seq, seq * 100, seq * 100)
}

async fn welcome(mesh: &mut MeshHandle) -> PeerId {
    wait_for(mesh, TIMEOUT, "Welcome", |e| match e {
        Event::Welcome { peer_id, .. } => Some(*peer_id),
        _ => None,
    })
    .await
    .expect("welcome")
}

async fn room_where(mesh: &mut MeshHandle, what: &'static str, f: impl Fn(&RoomSnapshot) -> bool) -> RoomSnapshot {
    wait_for(mesh, TIMEOUT, what, |e| match e {
        Event::Room(r) if f(r) => Some(r.clone()),
        _ => None,
    })
    .await
    .expect(what)
}

/// A (through the forwarder) hosts, B (direct) joins; both links open.
async fn pair(server_url: &str, forwarder: &Forwarder) -> (PeerId, MeshHandle, PeerId, MeshHandle) {
    let mut a = Mesh::start(Config::new(forwarder.url(), "a")).expect("mesh a");
    let id_a = welcome(&mut a).await;
    a.send(Command::CreateRoom(RoomSettings::default()));
    let code = room_where(&mut a, "A's room", |r| r.players.iter().any(|p| p.id == id_a)).await.code;
    let mut b = Mesh::start(Config::new(server_url, "b")).expect("mesh b");
    let id_b = welcome(&mut b).await;
    b.send(Command::JoinRoom(code));
    room_where(&mut b, "B in the room", |r| r.players.len() == 2).await;
    wait_links_open(&mut a, 1, TIMEOUT).await.expect("A's link");
    wait_links_open(&mut b, 1, TIMEOUT).await.expect("B's link");
    (id_a, a, id_b, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_keeps_the_seat_and_the_links_when_the_server_connection_breaks() {
    let server = server::spawn(server::Config::ephemeral()).await.expect("server");
    let forwarder = Forwarder::start(server.local_addr()).await;
    let (id_a, mut a, id_b, mut b) = pair(&server.ws_url(), &forwarder).await;

    // Refuse new connections for a moment, then cut A's connection.
    forwarder.set_target(None);
    forwarder.cut();
    let cut_at = Instant::now();
    let reason = wait_for(&mut a, TIMEOUT, "ServerLost", |e| match e {
        Event::ServerLost { reason } => Some(reason.clone()),
        Event::Disconnected { reason } => panic!("the mesh stopped instead of reconnecting: {reason}"),
        _ => None,
    })
    .await
    .expect("server lost");
    eprintln!("A lost the server after {:?}: {reason}", cut_at.elapsed());
    assert!(!a.status().server_up);
    // The server shows A's seat as disconnected to B.
    room_where(&mut b, "A shown disconnected", |r| r.players.iter().any(|p| p.id == id_a && !p.connected)).await;

    // Meanwhile the peer link carries the game, and A's server request waits.
    a.send(Command::SendReliable(hit(1)));
    a.send(Command::SetReady(true));
    let got = wait_for(&mut b, TIMEOUT, "A's hit during the outage", |e| match e {
        Event::PeerMessage { from, msg, .. } if *from == id_a => Some(msg.clone()),
        _ => None,
    })
    .await
    .expect("hit over the link");
    assert_eq!(got, hit(1));

    // The way to the server opens again: A is back in its seat with the same id.
    tokio::time::sleep(Duration::from_millis(800)).await;
    forwarder.set_target(Some(server.local_addr()));
    let mut new_token = None;
    let (seat_kept, after) = wait_for(&mut a, TIMEOUT, "ServerResumed", |e| match e {
        Event::Welcome { peer_id, reconnect_token } => {
            assert_eq!(*peer_id, id_a, "a resumed session keeps its id");
            new_token = Some(reconnect_token.clone());
            None
        }
        Event::ServerResumed { seat_kept, after } => Some((*seat_kept, *after)),
        Event::LeftRoom(reason) => panic!("A left the room on reconnecting: {reason:?}"),
        _ => None,
    })
    .await
    .expect("server resumed");
    eprintln!("A back after {after:?}");
    assert!(seat_kept, "the seat was lost");
    assert!(new_token.is_some(), "no new reconnect token");
    assert!(a.status().server_up);
    assert_eq!(a.status().server_reconnects, 1);
    // The request made during the outage arrived: B sees A connected and ready.
    room_where(&mut b, "A back and ready", |r| r.players.iter().any(|p| p.id == id_a && p.connected && p.ready)).await;
    // The link never went down.
    for (mesh, peer) in [(&a, id_b), (&b, id_a)] {
        let link = mesh.status().links.into_iter().find(|l| l.peer == peer).expect("link");
        assert_eq!(link.state, LinkState::Open);
        assert_eq!(link.attempts, 1, "the link was negotiated again: {link:?}");
    }
    drop((a, b));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_to_a_server_that_lost_the_session_leaves_the_room_with_a_reason() {
    let first = server::spawn(server::Config::ephemeral()).await.expect("first server");
    let forwarder = Forwarder::start(first.local_addr()).await;
    let (_, mut a, _, b) = pair(&first.ws_url(), &forwarder).await;

    // A "restarted" server: a fresh process that never saw A's token.
    let second = server::spawn(server::Config::ephemeral()).await.expect("second server");
    forwarder.set_target(Some(second.local_addr()));
    forwarder.cut();
    let mut events = Vec::new();
    wait_for(&mut a, TIMEOUT, "ServerResumed", |e| {
        events.push(e.clone());
        match e {
            Event::ServerResumed { seat_kept, .. } => Some(*seat_kept),
            Event::Disconnected { reason } => panic!("the mesh stopped: {reason}"),
            _ => None,
        }
    })
    .await
    .expect("resumed");
    let new_id = events.iter().find_map(|e| match e {
        Event::Welcome { peer_id, .. } => Some(*peer_id),
        _ => None,
    });
    assert!(new_id.is_some(), "no Welcome before ServerResumed: {events:?}");
    assert!(
        events.contains(&Event::LeftRoom(LeaveReason::ConnectionLost)),
        "the room loss was not reported: {events:?}"
    );
    assert!(matches!(events.last(), Some(Event::ServerResumed { seat_kept: false, .. })), "{events:?}");
    // The links of the lost room are closed, and A can play again on the new server.
    assert!(a.status().links.is_empty(), "links of the old room remain: {:?}", a.status().links);
    a.send(Command::CreateRoom(RoomSettings::default()));
    room_where(&mut a, "a new room", |r| Some(r.host) == new_id).await;
    drop((a, b));
    first.shutdown().await;
    second.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_gives_up_after_the_window_with_a_clear_reason() {
    let server = server::spawn(server::Config::ephemeral()).await.expect("server");
    let forwarder = Forwarder::start(server.local_addr()).await;
    let mut config = Config::new(forwarder.url(), "a");
    config.reconnect_window = Duration::from_secs(2);
    let mut a = Mesh::start(config).expect("mesh");
    welcome(&mut a).await;
    forwarder.set_target(None);
    forwarder.cut();
    let started = Instant::now();
    let reason = wait_for(&mut a, TIMEOUT, "Disconnected", |e| match e {
        Event::Disconnected { reason } => Some(reason.clone()),
        _ => None,
    })
    .await
    .expect("disconnected");
    let took = started.elapsed();
    eprintln!("gave up after {took:?}: {reason}");
    assert!(reason.contains("could not be restored"), "unclear reason: {reason}");
    assert!(took >= Duration::from_secs(2), "gave up before the window: {took:?}");
    drop(a);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_is_not_tried_after_the_server_said_it_shuts_down() {
    let server = server::spawn(server::Config::ephemeral()).await.expect("server");
    let mut a = Mesh::start(Config::new(server.ws_url(), "a")).expect("mesh");
    let id = welcome(&mut a).await;
    a.send(Command::CreateRoom(RoomSettings::default()));
    room_where(&mut a, "room", |r| r.host == id).await;
    let started = Instant::now();
    server.shutdown().await;
    let mut lost = false;
    wait_for(&mut a, TIMEOUT, "Disconnected", |e| match e {
        Event::ServerLost { .. } => {
            lost = true;
            None
        }
        Event::Disconnected { .. } => Some(()),
        _ => None,
    })
    .await
    .expect("disconnected");
    assert!(!lost, "the mesh tried to reconnect to a server that said it shuts down");
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
}
