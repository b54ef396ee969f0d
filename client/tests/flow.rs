//! Headless flow test: the real client plugins (MinimalPlugins + StatesPlugin) from the menu
//! through a whole Pose Rush round to the results and back to the lobby.
//!
//! The network is played by an in-process fake speaking the `client::session` contract: it
//! reads the [`NetCommand`]s the game writes and answers with the [`NetEvent`]s a server and
//! a second player would send. (The end-to-end test with the real server and mesh is in the
//! `e2e` crate.) The player's skeleton is scripted: after a reaction time it shows the
//! current target pose, as the pose plugin would report it.

use std::time::Duration;

use bevy::ecs::message::{MessageCursor, Messages};
use bevy::prelude::*;
use bevy::time::TimeUpdateStrategy;
use client::app::{AppMode, Io, build_app_with};
use client::cli::ClientConfig;
use client::flow::{MenuAction, Screen};
use client::game::{FinalBoard, GameFeed, ModelStatus, Play, PlayerPose, Round};
use client::session::{MeshCommand, NetCommand, NetEvent, RoundInfo};
use shared::protocol::peer::{GameEvent, GameEventKind, PeerMsg, ScoreTotals};
use shared::protocol::signal::{
    GameMode, LoadingStage, PeerId, PlayerInfo, RoomPhase, RoomSettings, RoomSnapshot,
};
use shared::rules::RushEvent;
use shared::rules::fixtures::pose_skeleton;

const ME: PeerId = 1;
const PEER: PeerId = 2;
const FRAME: Duration = Duration::from_millis(33);
const SEED: u64 = 0xC0FFEE;

struct Harness {
    app: App,
    commands: MessageCursor<NetCommand>,
    feed: MessageCursor<GameFeed>,
    /// Every command the game sent, in order.
    sent: Vec<NetCommand>,
    /// Every game event of the local round.
    events: Vec<GameFeed>,
    /// When the current target appeared (frame count), to script a reaction time.
    target_seen: Option<(u32, u32)>,
    frame: u32,
    peer_seq: u32,
}

impl Harness {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("poseparty-flow-{tag}-{}", std::process::id()));
        let config = ClientConfig { config_dir: Some(dir), name: Some("민수".into()), ..ClientConfig::default() };
        let mut app = build_app_with(config, AppMode::Headless, Io::NONE);
        app.insert_resource(TimeUpdateStrategy::ManualDuration(FRAME));
        Self {
            app,
            commands: MessageCursor::default(),
            feed: MessageCursor::default(),
            sent: Vec::new(),
            events: Vec::new(),
            target_seen: None,
            frame: 0,
            peer_seq: 0,
        }
    }

    fn screen(&self) -> Screen {
        *self.app.world().resource::<State<Screen>>().get()
    }

    fn send(&mut self, ev: NetEvent) {
        self.app.world_mut().write_message(ev);
    }

    /// One frame: the scripted player poses, the app updates, new commands are collected.
    /// Returns the commands written in this frame.
    fn step(&mut self) -> Vec<NetCommand> {
        self.frame += 1;
        self.script_player();
        self.app.update();
        let world = self.app.world();
        let new: Vec<NetCommand> =
            self.commands.read(world.resource::<Messages<NetCommand>>()).cloned().collect();
        let feed: Vec<GameFeed> = self.feed.read(world.resource::<Messages<GameFeed>>()).cloned().collect();
        self.events.extend(feed);
        self.sent.extend(new.iter().cloned());
        new
    }

    /// Steps until `done` holds (checked after every frame), at most `max` frames.
    fn until(&mut self, max: u32, what: &str, mut done: impl FnMut(&Self, &[NetCommand]) -> bool) {
        for _ in 0..max {
            let new = self.step();
            if done(self, &new) {
                return;
            }
        }
        panic!("{what}: not reached in {max} frames (screen {:?})", self.screen());
    }

    /// Shows the target pose 0.5 s after it appears; otherwise stands still.
    fn script_player(&mut self) {
        let target = self.app.world().get_resource::<Round>().and_then(|r| match &r.play {
            Play::Rush(rush) => rush.current_target().map(|(i, p, _)| (i, p)),
            Play::Quiz { .. } => None,
        });
        let skeleton = match target {
            Some((index, pose)) => {
                let seen = match self.target_seen {
                    Some((i, at)) if i == index => at,
                    _ => {
                        self.target_seen = Some((index, self.frame));
                        self.frame
                    }
                };
                if self.frame - seen >= 15 { pose_skeleton(Some(pose)) } else { pose_skeleton(None) }
            }
            None => pose_skeleton(None),
        };
        self.app.world_mut().resource_mut::<PlayerPose>().skeleton = Some(skeleton);
    }

    fn peer_event(&mut self, kind: GameEventKind, totals: ScoreTotals) {
        self.peer_seq += 1;
        let msg = PeerMsg::Game(GameEvent { round_seed: SEED, seq: self.peer_seq, round_ms: 0, kind, totals });
        self.send(NetEvent::Peer { from: PEER, msg });
    }
}

fn room(phase: RoomPhase, players: &[(PeerId, &str, bool)]) -> RoomSnapshot {
    RoomSnapshot {
        code: "HK7PAX".into(),
        host: ME,
        settings: RoomSettings { mode: GameMode::PoseRush, duration_secs: 12 },
        phase,
        players: players
            .iter()
            .map(|(id, name, ready)| PlayerInfo {
                id: *id,
                name: name.to_string(),
                connected: true,
                stage: if *ready { LoadingStage::Done } else { LoadingStage::Idle },
                progress: if *ready { 1.0 } else { 0.0 },
                ready: *ready,
            })
            .collect(),
        cap: 8,
    }
}

const BOTH: &[(PeerId, &str, bool)] = &[(ME, "민수", false), (PEER, "지은", false)];
const BOTH_READY: &[(PeerId, &str, bool)] = &[(ME, "민수", true), (PEER, "지은", true)];

/// Menu → connect → create room → lobby → loading → ready. Returns in the Loading screen
/// with the ready sent.
fn to_ready(h: &mut Harness) {
    h.step();
    assert_eq!(h.screen(), Screen::Menu);

    h.app.world_mut().write_message(MenuAction::Create);
    h.until(5, "connect", |_, new| {
        new.iter().any(|c| matches!(c, NetCommand::Connect { name, .. } if name == "민수"))
    });
    h.send(NetEvent::Connected { my_id: ME });
    h.until(5, "create room after connecting", |_, new| {
        new.iter().any(|c| matches!(c, NetCommand::Mesh(MeshCommand::CreateRoom(_))))
    });
    h.send(NetEvent::Room(room(RoomPhase::Lobby, BOTH)));
    h.until(5, "lobby", |h, _| h.screen() == Screen::Lobby);

    // The host presses Start; the server moves the room to loading.
    h.app.world_mut().write_message(NetCommand::from(MeshCommand::StartGame { force: false }));
    h.send(NetEvent::Room(room(RoomPhase::Loading, BOTH)));
    h.until(5, "loading", |h, _| h.screen() == Screen::Loading);

    // The pose plugin loads the model in stages; each is reported, then ready.
    for (stage, progress) in [
        (LoadingStage::ReadingModel, 0.5),
        (LoadingStage::BuildingSession, 0.0),
        (LoadingStage::WarmingUp, 0.0),
        (LoadingStage::Done, 1.0),
    ] {
        *h.app.world_mut().resource_mut::<ModelStatus>() =
            ModelStatus { stage, progress, detail: String::new() };
        h.until(3, "loading stage reported", |_, new| {
            new.iter().any(|c| matches!(c, NetCommand::Mesh(MeshCommand::SetLoading { stage: s, .. }) if *s == stage))
        });
    }
    h.until(3, "ready", |h, _| h.sent.contains(&MeshCommand::SetReady(true).into()));
    assert_eq!(h.sent.iter().filter(|c| **c == MeshCommand::SetReady(true).into()).count(), 1);
    h.send(NetEvent::Room(room(RoomPhase::Loading, BOTH_READY)));
}

fn start_round(h: &mut Harness) {
    h.send(NetEvent::GameStarting(RoundInfo {
        start_in_ms: 3000,
        round_seed: SEED,
        mode: GameMode::PoseRush,
        duration_ms: 12_000,
        players: vec![ME, PEER],
    }));
    h.until(5, "game", |h, _| h.screen() == Screen::Game);
}

fn my_hits(h: &Harness) -> Vec<u32> {
    h.sent
        .iter()
        .filter_map(|c| match c {
            NetCommand::Mesh(MeshCommand::SendReliable(PeerMsg::Game(GameEvent { kind: GameEventKind::Hit { points, .. }, .. }))) => {
                Some(*points)
            }
            _ => None,
        })
        .collect()
}

#[test]
fn menu_to_results_and_back_to_the_lobby() {
    let mut h = Harness::new("full");
    to_ready(&mut h);
    start_round(&mut h);

    // The other player scores during the round and finishes.
    let peer_totals = ScoreTotals { points: 640, hits: 3, streak: 3, best_streak: 3 };
    h.peer_event(GameEventKind::Hit { target: 0, points: 640 }, peer_totals);
    // 3 s countdown + 12 s round at 30 fps.
    h.until(600, "our round to finish", |h, _| {
        h.events.iter().any(|e| matches!(e, GameFeed::Rush(RushEvent::Finished { .. })))
    });
    assert_eq!(h.screen(), Screen::Game, "waits for the other player's last event");
    h.peer_event(GameEventKind::Finished, peer_totals);
    h.until(5, "results", |h, _| h.screen() == Screen::Results);

    // The countdown ticked, the round started, targets came and were hit (audio cues).
    let ticks = h.events.iter().filter(|e| matches!(e, GameFeed::Rush(RushEvent::Countdown { .. }))).count();
    assert_eq!(ticks, 3);
    assert!(h.events.contains(&GameFeed::Rush(RushEvent::Go)));
    let hits = my_hits(&h);
    assert!(hits.len() >= 4, "only {} hits in a 12 s round", hits.len());

    // Every scoring event went to the peers with increasing sequence numbers and totals.
    let events: Vec<&GameEvent> = h
        .sent
        .iter()
        .filter_map(|c| match c {
            NetCommand::Mesh(MeshCommand::SendReliable(PeerMsg::Game(ev))) => Some(ev),
            _ => None,
        })
        .collect();
    for w in events.windows(2) {
        assert_eq!(w[1].seq, w[0].seq + 1);
        assert!(w[1].totals.points >= w[0].totals.points);
    }
    let last = events.last().expect("game events sent");
    assert_eq!(last.kind, GameEventKind::Finished);
    assert_eq!(last.totals.points, hits.iter().sum::<u32>());
    assert!(h.sent.iter().any(|c| matches!(c, NetCommand::Mesh(MeshCommand::SendUnreliable(PeerMsg::Pose(_))))));

    // The reported scoreboard: both players, sorted by points, our totals and the peer's.
    let report = h
        .sent
        .iter()
        .find_map(|c| match c {
            NetCommand::Mesh(MeshCommand::ReportResult(r)) => Some(r.clone()),
            _ => None,
        })
        .expect("result reported");
    assert_eq!(report.round_seed, SEED);
    assert_eq!(report.scores.len(), 2);
    assert!(report.scores[0].points >= report.scores[1].points);
    let mine = report.scores.iter().find(|s| s.player == ME).expect("my line");
    assert_eq!((mine.points, mine.hits as usize, mine.name.as_str()), (last.totals.points, hits.len(), "민수"));
    let theirs = report.scores.iter().find(|s| s.player == PEER).expect("peer line");
    assert_eq!((theirs.points, theirs.hits, theirs.dropped), (640, 3, false));
    assert!(h.sent.contains(&MeshCommand::SendReliable(PeerMsg::Final(report.clone())).into()));
    assert_eq!(h.app.world().resource::<FinalBoard>().report.as_ref(), Some(&report));

    // The host goes back to the lobby: the server's snapshot moves the screen.
    h.send(NetEvent::ResultRecorded { match_id: 1, agreed: true });
    h.send(NetEvent::Room(room(RoomPhase::Results, BOTH_READY)));
    h.step();
    assert_eq!(h.screen(), Screen::Results);
    h.send(NetEvent::Room(room(RoomPhase::Lobby, BOTH)));
    h.until(5, "back in the lobby", |h, _| h.screen() == Screen::Lobby);
    assert!(h.app.world().get_resource::<Round>().is_none());
}

#[test]
fn a_player_who_leaves_mid_round_is_marked_dropped() {
    let mut h = Harness::new("drop");
    to_ready(&mut h);
    start_round(&mut h);
    let totals = ScoreTotals { points: 200, hits: 1, streak: 1, best_streak: 1 };
    h.peer_event(GameEventKind::Hit { target: 0, points: 200 }, totals);
    // A few seconds in, the other player disappears from the room.
    for _ in 0..150 {
        h.step();
    }
    h.send(NetEvent::Room(room(RoomPhase::Playing { start_at_ms: 0, round_seed: SEED }, &[(ME, "민수", true)])));
    // No waiting for the departed player: the results follow the end of our round at once.
    h.until(450, "results", |h, _| h.screen() == Screen::Results);
    let report = h.app.world().resource::<FinalBoard>().report.clone().expect("report");
    let theirs = report.scores.iter().find(|s| s.player == PEER).expect("peer line");
    assert!(theirs.dropped);
    assert_eq!(theirs.points, 200);
    assert!(!report.scores.iter().find(|s| s.player == ME).expect("mine").dropped);
}
