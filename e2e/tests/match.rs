//! End to end: a real server on 127.0.0.1 and three headless bot clients in one room, each
//! built like `client --headless --bot` (network, camera and pose plugins).
//!
//! - The match: every bot watches the astronaut picture folder through the real BlazePose
//!   model (ONNX Runtime), so each one loads its own model in stages before readying.
//! - The dropped player: two scripted bots (`script:hit` / `script:miss`, no model), whose
//!   outcome is known in advance, and a model-driven one that is killed mid-round.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bevy::app::AppExit;
use bevy::prelude::App;
use client::app::{bot_app, bot_config, headless_couch_bot_app};
use client::bot::{BotPlugin, BotReport, CONFIDENT_POSE, Script};
use client::cli::{ClientConfig, SourceSpec};
use client::game::FinalBoard;
use client::pose::PoseStats;
use client::couch::Couch;
use client::state::{JoinIntent, ModelStatus, PlayerPose, Screen, SeatPoses};
use shared::pose::Joint;
use client::session::{PeerBoard, Session};
use mesh::harness::wait_for;
use mesh::{Command, Config, Event, Mesh};
use shared::protocol::signal::{LoadingStage, MatchReport, MatchSummary};

/// The picture folder the model-driven bots watch (one astronaut photo).
const IMAGES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/testdata/images");
/// Picture rate of the folder source: enough skeletons to play with, little debug-build work.
const FPS: f32 = 4.0;
/// The shortest round the server allows.
const ROUND_SECS: u16 = 10;
/// Loading three models in a debug build on a busy machine, a round and the results.
const DEADLINE: Duration = Duration::from_secs(150);

/// A running server and its tokio runtime.
struct Server {
    rt: tokio::runtime::Runtime,
    server: Option<server::RunningServer>,
    url: String,
    dir: PathBuf,
}

impl Server {
    fn start(tag: &str) -> Server {
        let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
        let server = rt.block_on(server::spawn(server::Config::ephemeral())).expect("the server starts");
        let url = server.ws_url();
        let dir = std::env::temp_dir().join(format!("poseparty-e2e-{tag}-{}", std::process::id()));
        Server { rt, server: Some(server), url, dir }
    }

    /// A bot app going to a room on this server; its settings live in a folder of its own.
    fn bot(&self, name: &str, join: JoinIntent, source: SourceSpec, players: usize) -> Bot {
        self.bot_with(name, join, source, self.bot_plugin(players))
    }

    /// The bot settings of these tests: start with `players`, the shortest round.
    fn bot_plugin(&self, players: usize) -> BotPlugin {
        BotPlugin { min_players: players, round_secs: Some(ROUND_SECS), ..BotPlugin::default() }
    }

    fn bot_with(&self, name: &str, join: JoinIntent, source: SourceSpec, plugin: BotPlugin) -> Bot {
        self.couch_bot(name, join, source, plugin, &[])
    }

    /// A bot in the call: its camera picture and a synthetic microphone playing `tone_hz`
    /// go to the others, whose pictures and voices it decodes.
    fn call_bot(&self, name: &str, join: JoinIntent, source: SourceSpec, players: usize, tone_hz: f32) -> Bot {
        let config = ClientConfig {
            video: true,
            voice: true,
            mic_tone: Some(tone_hz),
            ..bot_config(&self.url, name, join, source, &self.dir.join(name))
        };
        Bot { name: name.to_string(), app: Some(bot_app(config, self.bot_plugin(players))), exit: None }
    }

    /// A bot with other people in front of its camera (`--couch`), each a local seat.
    fn couch_bot(&self, name: &str, join: JoinIntent, source: SourceSpec, plugin: BotPlugin, couch: &[&str]) -> Bot {
        let app = headless_couch_bot_app(&self.url, name, join, source, &self.dir.join(name), plugin, couch);
        Bot { name: name.to_string(), app: Some(app), exit: None }
    }

    /// The server's match history, as a new connection under `player`'s name sees it.
    fn history(&self, player: &str) -> Vec<MatchSummary> {
        self.rt.block_on(async {
            let mut m = Mesh::start_on(self.rt.handle(), Config::new(self.url.clone(), player)).expect("a mesh");
            wait_for(&mut m, Duration::from_secs(10), "Welcome", |e| matches!(e, Event::Welcome { .. }).then_some(()))
                .await
                .expect("the server welcomes a new connection");
            m.send(Command::History { limit: 10 });
            wait_for(&mut m, Duration::from_secs(10), "History", |e| match e {
                Event::History(h) => Some(h.clone()),
                _ => None,
            })
            .await
            .expect("the server answers a history request")
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            self.rt.block_on(server.shutdown());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One bot: its app (gone once killed) and how it exited.
struct Bot {
    name: String,
    app: Option<App>,
    exit: Option<AppExit>,
}

impl Bot {
    fn app(&self) -> &App {
        self.app.as_ref().unwrap_or_else(|| panic!("bot {} was killed", self.name))
    }

    fn report(&self) -> BotReport {
        self.app().world().resource::<BotReport>().clone()
    }

    fn board(&self) -> MatchReport {
        let board = self.app().world().resource::<FinalBoard>().report.clone();
        board.unwrap_or_else(|| panic!("bot {} has no final scoreboard ({})", self.name, self.report()))
    }

    /// "name: exit, report" for failure messages.
    fn describe(&self) -> String {
        match &self.app {
            None => format!("{}: killed", self.name),
            Some(app) => {
                let report = app.world().resource::<BotReport>();
                let state = match &self.exit {
                    None => format!("still running on {:?}", report.screen()),
                    Some(exit) => format!("exited {exit:?}"),
                };
                format!("{}: {state}; {report}", self.name)
            }
        }
    }
}

fn describe_all(bots: &[Bot]) -> String {
    bots.iter().map(Bot::describe).collect::<Vec<_>>().join("\n  ")
}

/// Steps every bot until all have exited (or `kill` says to drop one). Panics, naming each
/// bot's state, when one exits with an error or the deadline passes.
fn run(bots: &mut [Bot], mut kill: impl FnMut(&str, &App) -> bool) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let mut running = 0;
        for bot in bots.iter_mut() {
            let Some(app) = &mut bot.app else { continue };
            if bot.exit.is_some() {
                continue;
            }
            if kill(&bot.name, app) {
                bot.app = None;
                continue;
            }
            app.update();
            bot.exit = app.should_exit();
            running += 1;
        }
        if let Some(failed) = bots.iter().find(|b| matches!(b.exit, Some(AppExit::Error(_)))) {
            panic!("bot {} gave up:\n  {}", failed.name, describe_all(bots));
        }
        if running == 0 {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
        assert!(Instant::now() < deadline, "the bots did not finish within {DEADLINE:?}:\n  {}", describe_all(bots));
    }
}

/// Steps a bot until it is in a room; returns the room's code.
fn room_code(bot: &mut Bot) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let app = bot.app.as_mut().unwrap_or_else(|| panic!("bot {} was killed", bot.name));
        app.update();
        if let Some(room) = &app.world().resource::<Session>().room {
            return room.code.clone();
        }
        assert!(app.should_exit().is_none(), "bot {} exited before it had a room: {}", bot.name, bot.describe());
        assert!(Instant::now() < deadline, "bot {} has no room after 30 s: {}", bot.name, bot.describe());
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The bots that finished agree on one scoreboard, recorded by the server as agreed.
fn agreed_board(bots: &[Bot]) -> MatchReport {
    let finished: Vec<&Bot> = bots.iter().filter(|b| b.app.is_some()).collect();
    let board = finished[0].board();
    for bot in &finished {
        assert_eq!(bot.exit, Some(AppExit::Success), "{}", describe_all(bots));
        assert_eq!(bot.board(), board, "bot {} disagrees with bot {}", bot.name, finished[0].name);
        let recorded = bot.app().world().resource::<Session>().recorded;
        assert_eq!(recorded.map(|(_, agreed)| agreed), Some(true), "bot {}: the server's verdict was {recorded:?}", bot.name);
    }
    board
}

fn images() -> SourceSpec {
    let dir = Path::new(IMAGES);
    assert!(dir.join("astronaut.png").is_file(), "test pictures missing: {}", dir.display());
    SourceSpec::Pictures(vision::SourceConfig::Folder { path: dir.to_path_buf(), fps: FPS })
}

#[test]
fn three_bots_with_the_real_model_play_a_match_and_agree() {
    let server = Server::start("match");
    let names = ["ana", "bora", "chul"];
    let started = Instant::now();
    // The host creates a room; the others join it by its code.
    let mut bots = vec![server.bot(names[0], JoinIntent::Create, images(), names.len())];
    let code = room_code(&mut bots[0]);
    bots.extend(names[1..].iter().map(|n| server.bot(n, JoinIntent::Code(code.clone()), images(), names.len())));
    run(&mut bots, |_, _| false);
    let took = started.elapsed();

    for bot in &bots {
        let report = bot.report();
        let why = || format!("bot {}: {report}", bot.name);
        assert!(
            report.passed_through(&[Screen::Lobby, Screen::Loading, Screen::Game, Screen::Results]),
            "{}",
            why()
        );
        // Its own model loaded in stages, then ran on the pictures.
        let first = report.model_stages.first().copied();
        assert!(
            matches!(first, Some(LoadingStage::ReadingModel | LoadingStage::BuildingSession | LoadingStage::WarmingUp)),
            "the model was not seen loading: {}",
            why()
        );
        assert_eq!(report.model_stages.last(), Some(&LoadingStage::Done), "{}", why());
        let world = bot.app().world();
        assert!(world.resource::<ModelStatus>().is_ready(), "{}", why());
        let stats = world.resource::<PoseStats>();
        assert!(stats.inferences > 0 && stats.errors == 0, "bot {}: {stats:?}", bot.name);
        // The astronaut was seen, confidently, during the round ...
        assert!(report.confident_poses > 0, "no skeleton of score ≥ {CONFIDENT_POSE} in the round: {}", why());
        // ... and the others' live skeletons arrived over the mesh.
        let peers = &world.resource::<PeerBoard>().peers;
        assert_eq!(peers.len(), names.len() - 1, "bot {}: {peers:#?}", bot.name);
        for (id, live) in peers {
            let score = live.skeleton.as_ref().map(|s| s.score);
            assert!(
                live.pose_seq > 0 && score.is_some_and(|s| s >= CONFIDENT_POSE),
                "bot {} got no live skeleton from peer {id} (last pose #{}, score {score:?})",
                bot.name,
                live.pose_seq
            );
        }
        eprintln!(
            "{}: {report}; first skeleton {:?} after loading started; {} inferences, last {:?}, longest {:?}",
            bot.name,
            world.resource::<ModelStatus>().first_skeleton_after,
            stats.inferences,
            stats.last_inference,
            stats.longest_inference
        );
    }
    eprintln!("match done in {took:?}");

    // The host starts without forcing, so the round began only once all three were ready
    // (an unready player would have been dropped from the room, and from this board).
    let board = agreed_board(&bots);
    let mut on_board: Vec<&str> = board.scores.iter().map(|l| l.name.as_str()).collect();
    on_board.sort_unstable();
    assert_eq!(on_board, names, "{board:?}");
    assert!(board.scores.iter().all(|l| !l.dropped), "{board:?}");

    let history = server.history(names[0]);
    assert!(history.iter().any(|m| m.agreed && m.scores == board.scores), "history lacks the match: {history:#?}");
}

/// Couch play: one device whose camera shows two people (`two_people.png`: the astronaut
/// twice, one mirrored) seats both — its own player and a local seat — and plays with a
/// remote bot; the board has three players, everyone agrees, the history has each seat.
#[test]
fn couch_two_local_seats_and_a_remote_bot_play_a_match_and_agree() {
    let server = Server::start("couch");
    let pictures = server.dir.join("two_people");
    std::fs::create_dir_all(&pictures).expect("a picture folder");
    std::fs::copy(Path::new(IMAGES).join("two_people.png"), pictures.join("0001.png")).expect("copy two_people.png");
    let sofa = SourceSpec::Pictures(vision::SourceConfig::Folder { path: pictures, fps: FPS });
    let mut bots = vec![server.couch_bot("sofa", JoinIntent::Create, sofa, server.bot_plugin(3), &["sofa2"])];
    let code = room_code(&mut bots[0]);
    bots.push(server.bot("remote", JoinIntent::Code(code), images(), 3));
    run(&mut bots, |_, _| false);

    let board = agreed_board(&bots);
    let mut on_board: Vec<&str> = board.scores.iter().map(|l| l.name.as_str()).collect();
    on_board.sort_unstable();
    assert_eq!(on_board, ["remote", "sofa", "sofa2"], "{board:?}");
    assert!(board.scores.iter().all(|l| !l.dropped), "{board:?}");

    // Both people were seen and seated, one on each half of the picture.
    let world = bots[0].app().world();
    let couch = world.resource::<Couch>();
    assert!(couch.seats.iter().all(Option::is_some), "not everyone seated: {couch:?}");
    let seat0 = world.resource::<PlayerPose>().skeleton.clone().expect("seat 0 has a skeleton");
    let seat1 = world.resource::<SeatPoses>().0.first().cloned().flatten().expect("seat 1 has a skeleton");
    let (x0, x1) = (seat0.get(Joint::Nose).x, seat1.get(Joint::Nose).x);
    assert!((x0 < 0.5) != (x1 < 0.5), "both seats on one half: noses at x {x0:.2} and {x1:.2}");
    // The remote bot saw both seats' live skeletons, each under its own player.
    let sofa2 = board.scores.iter().find(|l| l.name == "sofa2").map(|l| l.player).expect("the local seat is on the board");
    let remote_board = &bots[1].app().world().resource::<PeerBoard>().peers;
    assert!(
        remote_board.get(&sofa2).is_some_and(|l| l.pose_seq > 0 && l.skeleton.is_some()),
        "the remote bot got no live skeleton of the local seat: {remote_board:#?}"
    );
    let history = server.history("sofa2");
    assert!(history.iter().any(|m| m.agreed && m.scores == board.scores), "history lacks the seat's match: {history:#?}");
}

/// The call: three bots with the real model, each watching the astronaut picture and
/// singing its own tone into a synthetic microphone, play a match. During it every bot
/// shows both others' pictures (VP8 over their links' video tracks) at ≥ 30 dB PSNR against
/// the picture sent, and hears both others' voices (Opus over the voice tracks, through the
/// jitter buffer and the mix) at the sender's tone.
#[test]
fn call_three_bots_see_and_hear_each_other_during_a_match() {
    use client::call::{Call, video_size};
    use client::voice::Sound;

    let server = Server::start("call");
    let pictures = server.dir.join("astronaut");
    std::fs::create_dir_all(&pictures).expect("a picture folder");
    std::fs::copy(Path::new(IMAGES).join("astronaut.png"), pictures.join("0001.png")).expect("copy astronaut.png");
    let source = || SourceSpec::Pictures(vision::SourceConfig::Folder { path: pictures.clone(), fps: FPS });
    let frame = vision::Frame::load(&pictures.join("0001.png")).expect("the astronaut picture");
    let (w, h) = video_size(frame.width, frame.height);
    let sent = media::downscale_rgb(&frame.data, frame.width, frame.height, w, h).expect("downscale");

    let tones = [("ana", 440.0f32), ("bora", 660.0), ("chul", 880.0)];
    let mut bots = vec![server.call_bot(tones[0].0, JoinIntent::Create, source(), tones.len(), tones[0].1)];
    let code = room_code(&mut bots[0]);
    bots.extend(tones[1..].iter().map(|&(n, hz)| server.call_bot(n, JoinIntent::Code(code.clone()), source(), tones.len(), hz)));

    // What each bot saw and heard of each other bot, checked while they play (once a player
    // leaves the room at the end, its picture and voice go).
    #[derive(Debug, Default, Clone)]
    struct Got {
        psnr: f64,
        frames: u64,
        tone: f32,
    }
    let mut got: std::collections::BTreeMap<(String, String), Got> = Default::default();
    let mut ids: std::collections::BTreeMap<String, u32> = Default::default();
    run(&mut bots, |name, app| {
        let world = app.world();
        if let Some(me) = world.resource::<Session>().my_id() {
            ids.insert(name.to_owned(), me);
        }
        let (Some(call), Some(sound)) = (world.get_resource::<Call>(), world.get_resource::<Sound>()) else { return false };
        for &(other, hz) in tones.iter().filter(|(n, _)| *n != name) {
            let Some(&peer) = ids.get(other) else { continue };
            let entry = got.entry((name.to_owned(), other.to_owned())).or_default();
            if let Some(video) = call.peers.get(&peer).filter(|v| v.frames >= 5 && v.frames > entry.frames) {
                entry.frames = video.frames;
                entry.psnr = media::psnr(&video.picture.rgb, &sent);
            }
            let heard = sound.mixer().heard(peer);
            // A full second of voice (the newest): its pitch.
            if heard.len() >= 48_000 && heard[heard.len() - 48_000..].iter().any(|&s| s.unsigned_abs() > 1000) {
                let f = media::dominant_frequency(&heard[heard.len() - 48_000..], 48_000);
                if (f - hz).abs() < (entry.tone - hz).abs() || entry.tone == 0.0 {
                    entry.tone = f;
                }
            }
        }
        false
    });
    let board = agreed_board(&bots);
    assert_eq!(board.scores.len(), 3, "{board:?}");
    for (name, _) in tones {
        for (other, hz) in tones.iter().filter(|(n, _)| *n != name) {
            let g = got.get(&(name.to_owned(), (*other).to_owned())).cloned().unwrap_or_default();
            eprintln!("{name} ← {other}: {} pictures, PSNR {:.1} dB, voice at {:.0} Hz (sent {hz} Hz)", g.frames, g.psnr, g.tone);
            assert!(g.frames >= 5, "{name} showed {} pictures of {other}", g.frames);
            assert!(g.psnr >= 30.0, "{name} ← {other}: PSNR {:.1} dB", g.psnr);
            assert!((g.tone - hz).abs() <= 10.0, "{name} heard {other} at {:.0} Hz, sent {hz} Hz", g.tone);
        }
    }
}

/// Cluster mode: three server nodes sharing a real redis-server; three scripted bots (the
/// real headless client) each connect to a different node, meet in one room (made on the
/// first node, joined by code through the others), play a match and agree, and the room's
/// home records it.
#[test]
fn cluster_three_bots_on_three_nodes_play_a_match_and_agree() {
    let redis = server::harness::RedisServer::start().unwrap_or_else(|e| panic!("{e}"));
    let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let nodes: Vec<server::RunningServer> = (0..3)
        .map(|_| {
            let config = server::Config { redis: Some(redis.url()), ..server::Config::ephemeral() };
            rt.block_on(server::spawn(config)).expect("a node starts")
        })
        .collect();
    let dir = std::env::temp_dir().join(format!("poseparty-e2e-cluster-{}", std::process::id()));
    let bot = |i: usize, name: &str, join: JoinIntent| {
        let plugin = BotPlugin { min_players: 3, round_secs: Some(ROUND_SECS), ..BotPlugin::default() };
        let app = client::app::headless_bot_app(&nodes[i].ws_url(), name, join, SourceSpec::Script(Script::Hit), &dir.join(name), plugin);
        Bot { name: name.to_string(), app: Some(app), exit: None }
    };
    let mut bots = vec![bot(0, "n0", JoinIntent::Create)];
    let code = room_code(&mut bots[0]);
    bots.push(bot(1, "n1", JoinIntent::Code(code.clone())));
    bots.push(bot(2, "n2", JoinIntent::Code(code)));
    run(&mut bots, |_, _| false);
    let board = agreed_board(&bots);
    assert_eq!(board.scores.len(), 3, "{board:?}");
    assert!(board.scores.iter().all(|l| l.hits > 0 && !l.dropped), "{board:?}");
    drop(bots);
    for node in nodes {
        rt.block_on(node.shutdown());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A real nginx as the load balancer (websocket upgrade, next upstream on a refused
/// connection), with its own folder and port; stopped on drop.
struct Nginx {
    child: std::process::Child,
    port: u16,
    dir: PathBuf,
}

impl Nginx {
    fn start(upstreams: &[std::net::SocketAddr], dir: &Path) -> Nginx {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port");
        std::fs::create_dir_all(dir.join("logs")).expect("nginx folder");
        let servers: String = upstreams.iter().map(|a| format!("        server {a} max_fails=1 fail_timeout=10s;\n")).collect();
        let d = dir.display();
        let conf = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\nerror_log {d}/logs/error.log warn;\npid {d}/nginx.pid;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n    access_log off;\n    client_body_temp_path {d}/body;\n    proxy_temp_path {d}/proxy;\n\
                 fastcgi_temp_path {d}/fcgi;\n    uwsgi_temp_path {d}/uwsgi;\n    scgi_temp_path {d}/scgi;\n\
                 upstream poseparty {{\n{servers}    }}\n\
                 server {{\n        listen 127.0.0.1:{port};\n        location / {{\n            proxy_pass http://poseparty;\n\
                             proxy_http_version 1.1;\n            proxy_set_header Upgrade $http_upgrade;\n\
                             proxy_set_header Connection \"upgrade\";\n            proxy_read_timeout 120s;\n\
                             proxy_connect_timeout 1s;\n            proxy_next_upstream error timeout;\n        }}\n    }}\n}}\n"
        );
        std::fs::write(dir.join("nginx.conf"), conf).expect("nginx.conf");
        let bin = std::env::var("POSEPARTY_NGINX").unwrap_or_else(|_| "/usr/sbin/nginx".to_owned());
        let child = std::process::Command::new(&bin)
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{bin} did not start ({e}) — run ./scripts/setup.sh (Debian package nginx-light)"));
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            let log = std::fs::read_to_string(dir.join("logs/error.log")).unwrap_or_default();
            assert!(Instant::now() < deadline, "nginx did not listen within 10 s: {log}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Nginx { child, port, dir: dir.to_path_buf() }
    }

    fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/ws", self.port)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The home node of `code`, as Redis says (`HGET pp:room:<code> home`, spoken by hand).
fn home_of(redis: &server::harness::RedisServer, code: &str) -> Option<String> {
    use std::io::{BufRead, BufReader, Write};
    let addr = redis.url().trim_start_matches("redis://").trim_end_matches('/').to_owned();
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    let key = format!("pp:room:{code}");
    write!(s, "*3\r\n$4\r\nHGET\r\n${}\r\n{key}\r\n$4\r\nhome\r\n", key.len()).ok()?;
    let mut r = BufReader::new(s);
    let mut head = String::new();
    r.read_line(&mut head).ok()?;
    head.starts_with('$').then_some(())?;
    let mut value = String::new();
    r.read_line(&mut value).ok()?;
    Some(value.trim_end().to_owned()).filter(|v| !v.is_empty())
}

/// Cluster mode behind a real load balancer: three nodes (each on a runtime of its own),
/// nginx in front, three scripted bots connected through nginx. Mid-round the room's home
/// node crashes (its runtime is dropped: sockets closed, nothing said to Redis). Another
/// node takes the room over; the bot that was connected to the crashed node reconnects
/// through nginx with its token (the client's own reconnect) and keeps its seat; the round
/// ends and all three agree.
#[test]
fn cluster_bots_behind_nginx_finish_the_match_when_the_home_node_crashes() {
    let redis = server::harness::RedisServer::start().unwrap_or_else(|e| panic!("{e}"));
    let mut nodes: Vec<Option<(tokio::runtime::Runtime, server::RunningServer)>> = (0..3)
        .map(|_| {
            let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
            let config = server::Config { redis: Some(redis.url()), ..server::Config::ephemeral() };
            let node = rt.block_on(server::spawn(config)).expect("a node starts");
            Some((rt, node))
        })
        .collect();
    let addrs: Vec<std::net::SocketAddr> = nodes.iter().flatten().map(|(_, n)| n.local_addr()).collect();
    let dir = std::env::temp_dir().join(format!("poseparty-e2e-nginx-{}", std::process::id()));
    let nginx = Nginx::start(&addrs, &dir.join("nginx"));
    let bot = |name: &str, join: JoinIntent| {
        let plugin = BotPlugin { min_players: 3, round_secs: Some(ROUND_SECS), ..BotPlugin::default() };
        let app = client::app::headless_bot_app(&nginx.ws_url(), name, join, SourceSpec::Script(Script::Hit), &dir.join(name), plugin);
        Bot { name: name.to_string(), app: Some(app), exit: None }
    };
    let mut bots = vec![bot("lb0", JoinIntent::Create)];
    let code = room_code(&mut bots[0]);
    bots.push(bot("lb1", JoinIntent::Code(code.clone())));
    bots.push(bot("lb2", JoinIntent::Code(code.clone())));

    let mut in_game: std::collections::BTreeSet<String> = Default::default();
    let mut playing_since: Option<Instant> = None;
    let mut crashed: Option<String> = None;
    run(&mut bots, |name, app| {
        if app.world().resource::<BotReport>().screen() == Some(Screen::Game) {
            in_game.insert(name.to_owned());
        }
        if in_game.len() == 3 && crashed.is_none() {
            let since = *playing_since.get_or_insert_with(Instant::now);
            if since.elapsed() > Duration::from_secs(2)
                && let Some(home) = home_of(&redis, &code)
                && let Some(slot) = nodes.iter_mut().find(|n| n.as_ref().is_some_and(|(_, s)| s.cluster_node().as_deref() == Some(home.as_str())))
                && let Some((rt, node)) = slot.take()
            {
                // A crash: every task of the node stops at once; it says goodbye to nobody.
                rt.shutdown_background();
                drop(node);
                eprintln!("crashed node {home}, the room's home, mid-round");
                crashed = Some(home);
            }
        }
        false
    });
    assert!(crashed.is_some(), "the home node was never crashed (bots in the game: {in_game:?})");
    let board = agreed_board(&bots);
    assert_eq!(board.scores.len(), 3, "{board:?}");
    assert!(board.scores.iter().all(|l| l.hits > 0 && !l.dropped), "nobody lost their seat: {board:?}");
    // The creator was connected to the room's home: it came back through nginx.
    let reconnects: u32 = bots.iter().map(|b| b.app().world().resource::<Session>().reconnects).sum();
    eprintln!("server reconnections seen by the bots: {reconnects}");
    assert!(reconnects >= 1, "no bot reconnected");
    drop(bots);
    for (rt, node) in nodes.into_iter().flatten() {
        rt.block_on(node.shutdown());
    }
    drop(nginx);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A scripted hitter, a scripted idler and a model-driven bot; the model-driven one is
/// killed mid-round (its app, pose model and connections torn down at once).
#[test]
fn a_player_killed_mid_round_is_marked_dropped() {
    let server = Server::start("drop");
    let sources = [
        ("hitter", SourceSpec::Script(Script::Hit)),
        ("watcher", images()),
        ("idler", SourceSpec::Script(Script::Miss)),
    ];
    let players = sources.len();
    // Quick match: the first one in opens a room, the others are put in it.
    let mut bots: Vec<Bot> =
        sources.into_iter().map(|(n, source)| server.bot(n, JoinIntent::Quick, source, players)).collect();
    // Kill "watcher" once it has played with a few skeletons of its own.
    run(&mut bots, |name, app| name == "watcher" && app.world().resource::<BotReport>().confident_poses >= 5);
    assert!(bots[1].app.is_none(), "watcher was never killed:\n  {}", describe_all(&bots));

    let board = agreed_board(&bots);
    let line = |name: &str| {
        board.scores.iter().find(|l| l.name == name).unwrap_or_else(|| panic!("{name} not on {board:?}")).clone()
    };
    assert!(line("watcher").dropped, "{board:?}");
    assert!(!line("hitter").dropped && !line("idler").dropped, "{board:?}");
    // The scripts played as written: the hitter hit, the idler never did.
    assert!(line("hitter").hits > 0 && line("hitter").points > 0, "{board:?}");
    assert_eq!(line("idler").hits, 0, "{board:?}");
    let history = server.history("idler");
    assert!(history.iter().any(|m| m.agreed && m.scores == board.scores), "history lacks the match: {history:#?}");
}

/// The routine deck a party host would type in Word (`e2e/tests/data/make_routine_deck.py`).
const ROUTINE_DECK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/routine_ko.docx");

/// The host imports a deck with a routine (as the lobby does with a dropped file) and plays
/// its first routine in Pose Rush; the two others join by code. The host starts only once
/// both have confirmed the deck. Every bot shows each target as it comes, so each hits the
/// routine's poses in the routine's order (from the first again after the last), and the
/// three agree on the scoreboard.
#[test]
fn routine_three_bots_play_an_imported_routine_and_agree() {
    use client::deck::{ActiveDeck, DeckOrigin, DeckRequest};
    use shared::rules::PoseId;

    let server = Server::start("routine");
    let names = ["host", "guest1", "guest2"];
    let routine_host = BotPlugin { routine: Some(0), ..server.bot_plugin(names.len()) };
    let mut host = server.bot_with(names[0], JoinIntent::Create, SourceSpec::Script(Script::Hit), routine_host);
    if let Some(app) = host.app.as_mut() {
        app.world_mut().write_message(DeckRequest::Import { path: ROUTINE_DECK.into(), password: None });
    }
    let code = room_code(&mut host);
    let mut bots = vec![host];
    bots.extend(
        names[1..].iter().map(|n| server.bot(n, JoinIntent::Code(code.clone()), SourceSpec::Script(Script::Hit), names.len())),
    );
    run(&mut bots, |_, _| false);

    let deck = bots[0].app().world().resource::<ActiveDeck>().clone();
    assert!(matches!(deck.origin, DeckOrigin::Imported { .. }), "the host imported the deck: {:?}", deck.origin);
    let routine: Vec<PoseId> = deck.deck.routines[0].steps.iter().map(|s| s.pose).collect();
    assert_eq!(routine, [PoseId::HandsUp, PoseId::TPose, PoseId::Squat, PoseId::Star]);
    for bot in &bots {
        let got = bot.app().world().resource::<ActiveDeck>();
        assert_eq!(got.digest(), deck.digest(), "{} plays another deck", bot.name);
        let hits = bot.report().hits;
        assert!(hits.len() >= routine.len(), "{}: {hits:?}", bot.name);
        let expected: Vec<PoseId> = routine.iter().copied().cycle().take(hits.len()).collect();
        assert_eq!(hits, expected, "{} did not play the routine in order", bot.name);
    }
    let board = agreed_board(&bots);
    assert!(board.scores.iter().all(|l| l.hits >= 4 && !l.dropped), "{board:?}");
}
