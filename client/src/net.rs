//! Net plugin: Bevy glue over the `mesh` crate (server websocket + WebRTC mesh).
//!
//! The mesh runs on a small tokio runtime owned by [`NetRuntime`]; this plugin only moves
//! values between it and Bevy, never blocking the frame:
//! - [`NetCommand`]s written by the game and the UI go to the mesh (`Connect` starts it, the
//!   others carry a `mesh::Command`), in `PostUpdate`, so commands of this frame leave this
//!   frame;
//! - `mesh::Event`s are drained into [`NetEvent`]s in `First`, before anything reads them.
//!
//! With `local` (`--local`) the first `Connect` also starts an embedded server on 127.0.0.1 (ports
//! picked by the OS, history in memory) on the same runtime and connects to it, whatever
//! address was asked for.

use std::collections::HashMap;
use std::time::Instant;

use bevy::prelude::*;
use mesh::{Config, Event, Mesh, MeshHandle, PeerId};

use crate::session::{LinkState, NetCommand, NetEvent, RoundInfo};

/// Adds the network: reads [`NetCommand`]s, writes [`NetEvent`]s.
#[derive(Debug, Clone, Copy, Default)]
pub struct NetPlugin {
    /// Start an embedded server on the first `Connect` and connect to it (`--local`).
    pub local: bool,
}

/// Network options from the command line (`--ice-relay-only`, `--ca-cert`, `--no-video`,
/// `--no-voice`).
#[derive(Debug, Clone, Default, Resource)]
pub struct NetOptions {
    pub ice_relay_only: bool,
    pub ca_cert: Option<std::path::PathBuf>,
    /// Negotiate a video track on every link (the call; `--no-video` turns it off).
    pub video: bool,
    /// Negotiate a voice track on every link (`--no-voice` turns it off).
    pub voice: bool,
}

/// Whether the net plugin starts an embedded server ([`NetPlugin::local`]).
#[derive(Debug, Clone, Copy, Resource)]
struct LocalServer(bool);

impl Plugin for NetPlugin {
    fn build(&self, app: &mut App) {
        app.insert_resource(LocalServer(self.local))
            .add_message::<NetCommand>()
            .add_message::<NetEvent>()
            .init_resource::<NetConnection>()
            .add_systems(First, pump_events)
            .add_systems(PostUpdate, handle_commands);
    }
}

/// The tokio runtime the mesh (and an embedded server) run on, created on first use.
#[derive(Resource)]
pub struct NetRuntime(pub tokio::runtime::Runtime);

/// The live connection, if any.
#[derive(Resource, Default)]
pub struct NetConnection {
    mesh: Option<MeshHandle>,
    #[cfg(feature = "local-server")]
    embedded: Option<server::RunningServer>,
    /// Last link state per peer, so an RTT update carries it too.
    links: HashMap<PeerId, LinkState>,
}

impl NetConnection {
    /// The mesh, while connected (status panels: link RTTs, counters, clock).
    pub fn mesh(&self) -> Option<&MeshHandle> {
        self.mesh.as_ref()
    }

    /// The embedded server's websocket URL (`--local`).
    pub fn embedded_url(&self) -> Option<String> {
        #[cfg(feature = "local-server")]
        return self.embedded.as_ref().map(|s| s.ws_url());
        #[cfg(not(feature = "local-server"))]
        None
    }
}

impl Drop for NetConnection {
    fn drop(&mut self) {
        // The mesh first, so it can say goodbye to a still-running embedded server.
        self.mesh = None;
    }
}

fn runtime(commands: &mut Commands, existing: Option<&NetRuntime>) -> Result<tokio::runtime::Handle, String> {
    if let Some(rt) = existing {
        return Ok(rt.0.handle().clone());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("net")
        .enable_all()
        .build()
        .map_err(|e| format!("could not start the network runtime: {e}"))?;
    let handle = rt.handle().clone();
    commands.insert_resource(NetRuntime(rt));
    Ok(handle)
}

/// Starts the embedded server (once) and returns its URL.
#[cfg(feature = "local-server")]
fn start_embedded(conn: &mut NetConnection, rt: &tokio::runtime::Handle) -> Result<String, String> {
    if let Some(url) = conn.embedded_url() {
        return Ok(url);
    }
    let server = rt
        .block_on(server::spawn(server::Config::ephemeral()))
        .map_err(|e| format!("could not start the local server: {e}"))?;
    let url = server.ws_url();
    info!("embedded server listening at {url}");
    conn.embedded = Some(server);
    Ok(url)
}

/// A build without the `local-server` feature has no server to embed.
#[cfg(not(feature = "local-server"))]
fn start_embedded(_conn: &mut NetConnection, _rt: &tokio::runtime::Handle) -> Result<String, String> {
    Err("this build has no embedded server (built without the `local-server` feature) — \
         start `server` and connect with --server ws://HOST:7878/ws"
        .to_string())
}

fn connect(
    commands: &mut Commands,
    existing: Option<&NetRuntime>,
    conn: &mut NetConnection,
    local: bool,
    server_url: String,
    name: String,
    options: &NetOptions,
) -> Result<(), String> {
    let rt = runtime(commands, existing)?;
    let url = if local { start_embedded(conn, &rt)? } else { server_url };
    conn.mesh = None;
    conn.links.clear();
    let mut config = Config::new(url, name);
    config.ice_relay_only = options.ice_relay_only;
    config.ca_cert = options.ca_cert.clone();
    config.video = options.video;
    config.voice = options.voice;
    let mesh = Mesh::start_on(&rt, config).map_err(|e| e.to_string())?;
    conn.mesh = Some(mesh);
    Ok(())
}

fn handle_commands(
    mut commands: Commands,
    mut incoming: MessageReader<NetCommand>,
    mut events: MessageWriter<NetEvent>,
    mut conn: ResMut<NetConnection>,
    runtime: Option<Res<NetRuntime>>,
    local: Res<LocalServer>,
    options: Option<Res<NetOptions>>,
) {
    let default_options = NetOptions::default();
    let options = options.as_deref().unwrap_or(&default_options);
    for command in incoming.read() {
        match command.clone() {
            NetCommand::Connect { server, name } => {
                if let Err(reason) =
                    connect(&mut commands, runtime.as_deref(), &mut conn, local.0, server, name, options)
                {
                    warn!("{reason}");
                    events.write(NetEvent::Disconnected { reason });
                }
            }
            NetCommand::Mesh(command) => {
                let sent = conn.mesh.as_ref().is_some_and(|m| m.send(command));
                if !sent {
                    debug!("network command dropped: not connected");
                }
            }
        }
    }
}

fn pump_events(mut conn: ResMut<NetConnection>, mut events: MessageWriter<NetEvent>) {
    let conn = &mut *conn;
    let Some(mesh) = conn.mesh.as_mut() else { return };
    let mut disconnected = false;
    while let Some(event) = mesh.try_recv() {
        let out = match event {
            Event::Welcome { peer_id, .. } => NetEvent::Connected { my_id: peer_id },
            Event::Room(room) => NetEvent::Room(room),
            Event::LeftRoom(reason) => NetEvent::LeftRoom(reason),
            Event::GameStarting { start_at, round_seed, mode, duration, players, .. } => {
                let now = Instant::now();
                let start_in_ms = if start_at >= now {
                    (start_at - now).as_millis() as i64
                } else {
                    -((now - start_at).as_millis() as i64)
                };
                NetEvent::GameStarting(RoundInfo {
                    start_in_ms,
                    round_seed,
                    mode,
                    duration_ms: u32::try_from(duration.as_millis()).unwrap_or(u32::MAX),
                    players,
                })
            }
            Event::PeerJoined { .. } | Event::PeerLeft { .. } => continue,
            Event::VideoFrame { from, data, keyframe } => NetEvent::VideoFrame { from, data, keyframe },
            Event::VideoReport { by, fraction_lost, .. } => NetEvent::VideoReport { by, fraction_lost },
            Event::VoicePacket { from, sequence, data, .. } => NetEvent::VoicePacket { from, sequence, data },
            Event::KeyframeRequested { by } => NetEvent::KeyframeRequested { by },
            Event::LinkPath { peer, channel, path } => {
                tracing::info!(peer, ?channel, %path, relayed = path.relayed(), "link path");
                continue;
            }
            Event::LinkState { peer, state } => {
                if state == LinkState::Closed {
                    conn.links.remove(&peer);
                } else {
                    conn.links.insert(peer, state);
                }
                NetEvent::Link { peer, state, rtt_ms: None }
            }
            Event::LinkRtt { peer, rtt } => NetEvent::Link {
                peer,
                state: conn.links.get(&peer).copied().unwrap_or(LinkState::Open),
                rtt_ms: Some(u32::try_from(rtt.as_millis()).unwrap_or(u32::MAX)),
            },
            Event::PeerMessage { from, msg, .. } => NetEvent::Peer { from, msg },
            Event::ResultRecorded { match_id, agreed, status } => NetEvent::ResultRecorded { match_id, agreed, status },
            Event::History(matches) => NetEvent::History(matches),
            Event::HistoryPage { matches, next_before } => NetEvent::HistoryPage { matches, next_before },
            Event::ServerError { code, message } => NetEvent::ServerError { code, message },
            Event::ServerLost { reason } => NetEvent::ServerLost { reason },
            Event::ServerResumed { seat_kept, after } => {
                info!(?after, seat_kept, "server connection restored");
                NetEvent::ServerResumed { seat_kept }
            }
            Event::Disconnected { reason } => {
                disconnected = true;
                NetEvent::Disconnected { reason }
            }
        };
        events.write(out);
    }
    if disconnected {
        conn.mesh = None;
        conn.links.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::SessionPlugin;
    use crate::state::StatePlugin;
    use bevy::state::app::StatesPlugin;
    use std::time::Duration;

    /// A deck of `n` questions with long texts, so it travels in several chunks.
    fn big_deck(n: usize) -> shared::deck::Deck {
        let rows: Vec<Vec<String>> = (0..n)
            .map(|i| {
                let long = |what: &str| format!("{what} {i} — {}", "가나다라마바사아자차카타파하 ".repeat(8));
                vec![long("질문"), long("보기 A"), long("보기 B"), long("보기 C"), "2".into()]
            })
            .collect();
        shared::deck::parse_rows("큰 덱 / Big deck", &rows).expect("valid deck")
    }

    fn step(app: &mut App) {
        app.update();
        std::thread::sleep(Duration::from_millis(10));
    }

    /// Two headless apps with the net plugin (and `add`'s plugins) and an embedded server:
    /// the host creates a room (then `before_join` runs on it), the guest joins by code,
    /// both see the link open. Returns (host, guest, room code).
    fn two_linked_apps(
        add: impl Fn(&mut App),
        options: NetOptions,
        before_join: impl FnOnce(&mut App),
        deadline: Instant,
    ) -> (App, App, String) {
        let mut host = App::new();
        host.add_plugins((MinimalPlugins, StatesPlugin, StatePlugin, SessionPlugin)).add_plugins(NetPlugin { local: true });
        host.insert_resource(options.clone());
        add(&mut host);
        host.world_mut()
            .write_message(NetCommand::Connect { server: "ws://unused.invalid/ws".into(), name: "호스트".into() });
        let code = loop {
            step(&mut host);
            let session = host.world().resource::<crate::session::Session>();
            if session.my_id().is_some() && session.room.is_none() {
                host.world_mut().write_message(NetCommand::from(mesh::Command::CreateRoom(Default::default())));
                step(&mut host);
            }
            if let Some(room) = &host.world().resource::<crate::session::Session>().room {
                break room.code.clone();
            }
            assert!(Instant::now() < deadline, "host never got a room");
        };
        let url = host.world().resource::<NetConnection>().embedded_url().unwrap();
        before_join(&mut host);

        let mut guest = App::new();
        guest.add_plugins((MinimalPlugins, StatesPlugin, StatePlugin, SessionPlugin)).add_plugins(NetPlugin::default());
        guest.insert_resource(options);
        add(&mut guest);
        guest.world_mut().write_message(NetCommand::Connect { server: url, name: "손님".into() });
        let mut joined = false;
        loop {
            step(&mut host);
            step(&mut guest);
            let g = guest.world().resource::<crate::session::Session>();
            if g.my_id().is_some() && !joined {
                joined = true;
                guest.world_mut().write_message(NetCommand::from(mesh::Command::JoinRoom(code.clone().to_lowercase())));
            }
            let open = |app: &App| {
                app.world()
                    .resource::<crate::session::Session>()
                    .links
                    .values()
                    .any(|l| l.state == LinkState::Open)
            };
            if open(&host) && open(&guest) {
                return (host, guest, code);
            }
            assert!(Instant::now() < deadline, "links never opened");
        }
    }

    /// Two headless apps with the net plugin and an embedded server: the first creates a
    /// room, the second joins by code, both see each other's link open; then the host's deck
    /// crosses the real data channel in several chunks and becomes the guest's deck.
    #[test]
    fn two_apps_meet_through_the_embedded_server() {
        use crate::deck::{ActiveDeck, DeckOrigin, DeckPlugin, DeckShare};
        let deadline = Instant::now() + Duration::from_secs(30);
        let deck = big_deck(150);
        let bytes = deck.to_bytes().expect("encode").len();
        assert!(bytes > 2 * shared::protocol::peer::DECK_CHUNK_BYTES, "{bytes} bytes: more than two chunks");
        let shared_deck = deck.clone();
        let (mut host, mut guest, code) = two_linked_apps(
            |app| {
                app.add_plugins(DeckPlugin::default());
            },
            NetOptions::default(),
            move |host| {
                host.insert_resource(ActiveDeck::new(shared_deck, DeckOrigin::Imported { file: "big.xlsx".into() }));
            },
            deadline,
        );
        let g = guest.world().resource::<crate::session::Session>();
        assert_eq!(g.room.as_ref().map(|r| r.players.len()), Some(2));
        assert_eq!(g.room.as_ref().map(|r| r.code.clone()), Some(code));

        let host_id = host.world().resource::<crate::session::Session>().my_id();
        while guest.world().resource::<ActiveDeck>().deck != deck {
            step(&mut host);
            step(&mut guest);
            assert!(Instant::now() < deadline, "the deck never arrived");
        }
        let got = guest.world().resource::<ActiveDeck>();
        assert_eq!(Some(&got.origin), host_id.map(|from| DeckOrigin::Host { from }).as_ref());
        let share = guest.world().resource::<DeckShare>();
        assert_eq!((share.decks_received, share.bad_chunks), (1, 0));
        assert_eq!(host.world().resource::<DeckShare>().transfers_sent, 1);
        // The guest's confirmation comes back over the mesh.
        let guest_id = guest.world().resource::<crate::session::Session>().my_id().expect("guest id");
        let digest = host.world().resource::<ActiveDeck>().digest();
        while !host.world().resource::<DeckShare>().has_deck(guest_id, digest) {
            step(&mut host);
            step(&mut guest);
            assert!(Instant::now() < deadline, "the host never heard that the guest has the deck");
        }
    }

    /// The call between two apps: the host's camera (the astronaut picture, fed as the
    /// newest frame) reaches the guest as a video track, decoded at ≥ 30 dB against the
    /// picture the host sent; turning the camera off stops the sending.
    #[test]
    fn call_the_camera_picture_reaches_the_other_player() {
        use crate::call::{Call, CallPlugin, video_size};
        use crate::state::LatestFrame;
        let deadline = Instant::now() + Duration::from_secs(60);
        let options = NetOptions { video: true, ..NetOptions::default() };
        let (mut host, mut guest, _) = two_linked_apps(|app| { app.add_plugins(CallPlugin::default()); }, options, |_| {}, deadline);
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/testdata/images/astronaut.png");
        let frame = vision::Frame::load(std::path::Path::new(path)).expect("the astronaut picture");
        let (w, h) = video_size(frame.width, frame.height);
        let sent = media::downscale_rgb(&frame.data, frame.width, frame.height, w, h).expect("downscale");
        let host_id = host.world().resource::<crate::session::Session>().my_id().expect("host id");
        let mut seq = 0;
        let mut feed = |app: &mut App| {
            seq += 1;
            let mut latest = app.world_mut().resource_mut::<LatestFrame>();
            latest.frame = Some(frame.clone().restamped(seq, Instant::now()));
            latest.fresh = true;
        };
        // Until the guest has shown 10 of the host's pictures.
        loop {
            feed(&mut host);
            step(&mut host);
            step(&mut guest);
            let frames = guest.world().resource::<Call>().peers.get(&host_id).map_or(0, |v| v.frames);
            if frames >= 10 {
                break;
            }
            assert!(Instant::now() < deadline, "only {frames} pictures arrived; host sent {}", host.world().resource::<Call>().sent);
        }
        let call = guest.world().resource::<Call>();
        let video = call.peers.get(&host_id).expect("the host's picture");
        assert_eq!((video.picture.width, video.picture.height), (w, h));
        let psnr = media::psnr(&video.picture.rgb, &sent);
        assert!(psnr >= 30.0, "PSNR {psnr:.1} dB");
        assert!(video.is_fresh());
        assert_eq!(call.decode_errors, 0);

        // Camera off: the host stops sending within a second (a frame already with the
        // encoder may still go), and the guest's picture goes stale.
        host.world_mut().resource_mut::<Call>().camera_on = false;
        let off_at = Instant::now();
        let (mut sent, mut last_sent) = (host.world().resource::<Call>().sent, Duration::ZERO);
        let (mut got, mut last_got) = (guest.world().resource::<Call>().received, Duration::ZERO);
        while off_at.elapsed() < crate::call::FRESH_FOR + Duration::from_millis(500) {
            feed(&mut host);
            step(&mut host);
            step(&mut guest);
            let now_sent = host.world().resource::<Call>().sent;
            if now_sent != sent {
                (sent, last_sent) = (now_sent, off_at.elapsed());
            }
            // What arrives over the video track: the packets themselves stopping.
            let now_got = guest.world().resource::<Call>().received;
            if now_got != got {
                (got, last_got) = (now_got, off_at.elapsed());
            }
        }
        eprintln!("camera off: the last video frame arrived {last_got:?} after it");
        assert!(last_got < Duration::from_secs(1), "video still arrived {last_got:?} after the camera went off");
        if last_sent.is_zero() {
            eprintln!("camera off: no frame sent after it");
        } else {
            eprintln!("camera off: the last frame was sent {last_sent:?} after it");
        }
        assert!(last_sent < Duration::from_secs(1), "frames were still sent {last_sent:?} after the camera went off");
        let stale = guest.world().resource::<Call>().peers.get(&host_id).is_some_and(|v| !v.is_fresh());
        assert!(stale, "the guest still shows a fresh picture");
    }

    /// The call's labels and voice between two apps: the guest has no camera and no
    /// microphone, the host both (a synthetic microphone). Each sees the other's state; the
    /// host's mute and camera buttons show on the guest's side; the host's voice reaches
    /// the guest at its tone.
    #[test]
    fn call_a_player_without_camera_or_microphone_is_labelled_and_voices_flow() {
        use crate::call::CallPlugin;
        use crate::media_state::{MediaStatePlugin, PeerMedia};
        use crate::voice::{MicSource, Sound, SpeakerSink, VoicePlugin};
        use shared::protocol::peer::{DeviceState, MediaState};
        let deadline = Instant::now() + Duration::from_secs(60);
        let options = NetOptions { video: true, voice: true, ..NetOptions::default() };
        let first = std::cell::Cell::new(true);
        let (mut host, mut guest, _) = two_linked_apps(
            |app| {
                // The first app built is the host: camera and microphone; the guest: neither.
                let host = first.replace(false);
                let mic = if host { MicSource::Tone(550.0) } else { MicSource::Off };
                if host {
                    app.insert_resource(crate::camera::CameraStatus::default());
                }
                app.add_plugins((CallPlugin::default(), VoicePlugin { speaker: SpeakerSink::Clock, mic, voice: true }, MediaStatePlugin));
            },
            options,
            |_| {},
            deadline,
        );
        let id = |app: &App| app.world().resource::<crate::session::Session>().my_id().expect("an id");
        let (host_id, guest_id) = (id(&host), id(&guest));
        let seen = |app: &App, of| app.world().resource::<PeerMedia>().peers.get(&of).copied();
        let both_on = MediaState { camera: DeviceState::On, microphone: DeviceState::On };
        let neither = MediaState { camera: DeviceState::Missing, microphone: DeviceState::Missing };
        let wait = |host: &mut App, guest: &mut App, what: &str, done: &dyn Fn(&App, &App) -> bool| {
            while !done(host, guest) {
                step(host);
                step(guest);
                assert!(Instant::now() < deadline, "{what}: host sees {:?}, guest sees {:?}", seen(host, guest_id), seen(guest, host_id));
            }
        };
        wait(&mut host, &mut guest, "states", &|h, g| seen(h, guest_id) == Some(neither) && seen(g, host_id) == Some(both_on));
        // The host's voice reaches the guest (a second of it, at the tone).
        wait(&mut host, &mut guest, "voice", &|_, g| g.world().resource::<Sound>().mixer().heard(host_id).len() >= 48_000);
        let heard = guest.world().resource::<Sound>().mixer().heard(host_id);
        let f = media::dominant_frequency(&heard[heard.len() - 48_000..], 48_000);
        assert!((f - 550.0).abs() <= 10.0, "the guest heard the host at {f} Hz");
        // Mute and camera off show on the other side.
        host.world().resource::<Sound>().set_mic_on(false);
        host.world_mut().resource_mut::<crate::call::Call>().camera_on = false;
        let off = MediaState { camera: DeviceState::Off, microphone: DeviceState::Off };
        wait(&mut host, &mut guest, "mute", &|_, g| seen(g, host_id) == Some(off));
        assert_eq!(host.world().resource::<PeerMedia>().mine, off);
    }
}
