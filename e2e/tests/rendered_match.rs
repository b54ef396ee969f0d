//! End to end with rendered people: a real server on 127.0.0.1 and three headless bots, each
//! watching a `frames:` folder of rendered sequences (assets/testdata/rendered/sequences,
//! made by scripts/rendered/generate.py) through the real BlazePose model. Each bot
//! "performs" its own routine of three poses in a loop; every target of the Pose Rush round
//! that is in a bot's routine must be hit by it, every other target missed, and the three
//! scoreboards must agree.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bevy::app::AppExit;
use bevy::prelude::*;
use client::app::headless_bot_app;
use client::bot::{BotPlugin, BotReport};
use client::cli::SourceSpec;
use client::game::{FinalBoard, GameFeed};
use client::session::Session;
use client::state::JoinIntent;
use shared::protocol::signal::MatchReport;
use shared::rules::{PoseId, RushEvent};

const SET: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../assets/testdata/rendered/sequences");
/// The rendered sequences' rate.
const FPS: f32 = 15.0;
/// Long enough for a few targets per bot.
const ROUND_SECS: u16 = 20;
const DEADLINE: Duration = Duration::from_secs(300);

/// Each bot's routine: three poses in a loop of ~4 s, shorter than the 6 s a target waits,
/// so a target in the routine is always performed in time. Three routines of three leave
/// three of the twelve poses to nobody: heart, O and X, whose targets must be missed by all
/// three (a first run with O in a routine missed it).
const ROUTINES: [(&str, [PoseId; 3]); 3] = [
    ("ana", [PoseId::HandsUp, PoseId::Squat, PoseId::Muscle]),
    ("bora", [PoseId::TPose, PoseId::LeftArmUp, PoseId::LeanRight]),
    ("chul", [PoseId::Star, PoseId::RightArmUp, PoseId::LeanLeft]),
];

/// Rush events the bot's own round produced.
#[derive(Debug, Default, Resource)]
struct Feed(Vec<RushEvent>);

fn record(mut feed: MessageReader<GameFeed>, mut log: ResMut<Feed>) {
    for f in feed.read() {
        if let GameFeed::Rush(e) = f {
            log.0.push(e.clone());
        }
    }
}

/// A folder playing the routine: each pose's movement and hold frames (the rendered
/// sequence without its neutral start), the hold stretched to 1 s.
fn routine_folder(dir: &Path, poses: &[PoseId]) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let mut n = 0;
    for pose in poses {
        let src = Path::new(SET).join(pose.key());
        let mut files: Vec<PathBuf> = std::fs::read_dir(&src)
            .unwrap_or_else(|e| panic!("{}: {e}", src.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
            .collect();
        files.sort();
        let last = files.last().cloned().expect("frames");
        let frames = files.into_iter().skip(3).chain(std::iter::repeat_n(last, 6));
        for f in frames {
            std::fs::copy(&f, dir.join(format!("{n:05}.jpg"))).unwrap();
            n += 1;
        }
    }
    dir.to_path_buf()
}

struct Bot {
    name: String,
    poses: Vec<PoseId>,
    app: App,
    exit: Option<AppExit>,
}

fn run(bots: &mut [Bot]) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let mut running = 0;
        for bot in bots.iter_mut() {
            if bot.exit.is_some() {
                continue;
            }
            bot.app.update();
            bot.exit = bot.app.should_exit();
            running += 1;
        }
        if let Some(b) = bots.iter().find(|b| matches!(b.exit, Some(AppExit::Error(_)))) {
            panic!("bot {} gave up: {}", b.name, b.app.world().resource::<BotReport>());
        }
        if running == 0 {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
        assert!(Instant::now() < deadline, "the bots did not finish within {DEADLINE:?}");
    }
}

#[test]
fn rendered_bots_hit_the_poses_they_perform() {
    assert!(Path::new(SET).is_dir(), "rendered sequences missing: {SET}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(server::spawn(server::Config::ephemeral())).unwrap();
    let url = server.ws_url();
    let tmp = std::env::temp_dir().join(format!("poseparty-e2e-rendered-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);

    let make = |name: &str, poses: &[PoseId], join: JoinIntent| {
        let frames = routine_folder(&tmp.join(format!("{name}-frames")), poses);
        let source = SourceSpec::Pictures(vision::SourceConfig::Folder { path: frames, fps: FPS });
        let plugin = BotPlugin { min_players: ROUTINES.len(), round_secs: Some(ROUND_SECS), ..BotPlugin::default() };
        let mut app = headless_bot_app(&url, name, join, source, &tmp.join(name), plugin);
        app.init_resource::<Feed>().add_systems(Update, record);
        Bot { name: name.to_string(), poses: poses.to_vec(), app, exit: None }
    };
    let (host, host_poses) = ROUTINES[0];
    let mut bots = vec![make(host, &host_poses, JoinIntent::Create)];
    // The others join the host's room by its code.
    let code = {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            bots[0].app.update();
            if let Some(room) = &bots[0].app.world().resource::<Session>().room {
                break room.code.clone();
            }
            assert!(Instant::now() < deadline, "no room after 30 s");
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    for (name, poses) in &ROUTINES[1..] {
        bots.push(make(name, poses, JoinIntent::Code(code.clone())));
    }
    run(&mut bots);

    let mut problems = Vec::new();
    let mut boards: Vec<MatchReport> = Vec::new();
    for bot in &bots {
        let feed = &bot.app.world().resource::<Feed>().0;
        let (mut hits, mut misses) = (Vec::new(), Vec::new());
        for e in feed {
            match e {
                RushEvent::Hit { pose, reaction_ms, .. } => hits.push((*pose, *reaction_ms)),
                RushEvent::Miss { pose, .. } => misses.push(*pose),
                _ => {}
            }
        }
        eprintln!(
            "{} performs {:?}: hits {:?}, misses {:?} ({})",
            bot.name,
            bot.poses.iter().map(|p| p.key()).collect::<Vec<_>>(),
            hits.iter().map(|(p, ms)| format!("{} after {ms} ms", p.key())).collect::<Vec<_>>(),
            misses.iter().map(|p| p.key()).collect::<Vec<_>>(),
            bot.app.world().resource::<BotReport>()
        );
        for (p, _) in &hits {
            if !bot.poses.contains(p) {
                problems.push(format!("{} hit {} without performing it", bot.name, p.key()));
            }
        }
        for p in &misses {
            if bot.poses.contains(p) {
                problems.push(format!("{} missed {}, which it performs", bot.name, p.key()));
            }
        }
        if hits.is_empty() && misses.is_empty() {
            problems.push(format!("{} had no target end in its round", bot.name));
        }
        let board = bot.app.world().resource::<FinalBoard>().report.clone();
        let Some(board) = board else { panic!("bot {} has no final scoreboard", bot.name) };
        let line = board.scores.iter().find(|l| l.name == bot.name).expect("own line");
        if line.hits as usize != hits.len() {
            problems.push(format!("{}: board says {} hits, the round {}", bot.name, line.hits, hits.len()));
        }
        assert_eq!(bot.exit, Some(AppExit::Success), "{}", bot.name);
        boards.push(board);
    }
    for b in &boards[1..] {
        assert_eq!(b, &boards[0], "the scoreboards differ");
    }
    rt.block_on(server.shutdown());
    let _ = std::fs::remove_dir_all(&tmp);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
