//! Headless flow tests: the real client plugins (MinimalPlugins + StatesPlugin) from the menu
//! through a whole Pose Rush round to the results and back to the lobby; a Motion Quiz round
//! on a deck imported from a real document (the real `doctext` reader); the deck import's
//! password and error paths; the host's deck shared with the other sessions in chunks.
//!
//! The network is played by an in-process fake speaking the `client::session` contract: it
//! reads the [`NetCommand`]s the game writes and answers with the [`NetEvent`]s a server and
//! a second player would send. (The end-to-end test with the real server and mesh is in the
//! `e2e` crate.) The player's skeleton is scripted: after a reaction time it shows the
//! current target pose, as the pose plugin would report it.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bevy::ecs::message::{MessageCursor, Messages};
use bevy::prelude::*;
use bevy::time::TimeUpdateStrategy;
use client::app::{AppMode, Io, build_app_with};
use client::cli::ClientConfig;
use client::deck::{ActiveDeck, DeckOrigin, DeckRequest, DeckShare, ImportStatus};
use client::flow::MenuAction;
use client::game::{FinalBoard, GameFeed, Play, Round};
use client::state::{ModelStatus, PlayerPose, Screen};
use client::session::{LinkState, MeshCommand, NetCommand, NetEvent, RoundInfo};
use shared::protocol::peer::{Channel, GameEvent, GameEventKind, PeerMsg, ScoreTotals};
use shared::protocol::signal::{
    GameMode, LoadingStage, PeerId, PlayerInfo, RoomPhase, RoomSettings, RoomSnapshot,
};
use shared::rules::{QuizEvent, RushEvent};
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
        Self::with_config(tag, |_| {})
    }

    fn with_config(tag: &str, configure: impl FnOnce(&mut ClientConfig)) -> Self {
        let dir = std::env::temp_dir().join(format!("poseparty-flow-{tag}-{}", std::process::id()));
        let mut config = ClientConfig { config_dir: Some(dir), name: Some("민수".into()), ..ClientConfig::default() };
        configure(&mut config);
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

    /// Shows the target pose (Pose Rush) or the pose of an answer (Motion Quiz: the right
    /// one, except for [`answers_wrong`] questions) 0.5 s after it appears; otherwise stands
    /// still.
    fn script_player(&mut self) {
        let target = self.app.world().get_resource::<Round>().and_then(|r| match &r.play {
            Play::Rush(rush) => rush.current_target().map(|(i, p, _)| (i, p)),
            Play::Quiz { round, deck } => {
                let index = round.current()?;
                let q = deck.questions.get(index)?;
                let pick = if answers_wrong(index) { (q.correct + 1) % q.choices.len() } else { q.correct };
                Some((u32::try_from(index).ok()?, q.layout().slots().get(pick)?.pose()))
            }
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
        let msg = PeerMsg::Game(GameEvent { round_seed: SEED, seat: 0, seq: self.peer_seq, round_ms: 0, kind, totals });
        self.send(NetEvent::Peer { from: PEER, msg });
    }
}

fn room(phase: RoomPhase, players: &[(PeerId, &str, bool)]) -> RoomSnapshot {
    RoomSnapshot {
        code: "HK7PAX".into(),
        host: ME,
        settings: RoomSettings { mode: GameMode::PoseRush, duration_secs: 12, routine: None },
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
                device: None,
            })
            .collect(),
        cap: 8,
        visibility: shared::protocol::signal::RoomVisibility::Private,
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
            ModelStatus { stage, progress, ..ModelStatus::default() };
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
    h.send(NetEvent::ResultRecorded { match_id: 1, agreed: true, status: shared::protocol::signal::MatchStatus::Verified });
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

// ---------------------------------------------------------------------------------------
// Motion Quiz with an imported deck, and the deck shared between two sessions.

fn testdata(rel: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/testdata/docs")).join(rel)
}

/// The questions answered wrong on purpose by the scripted player.
fn answers_wrong(index: usize) -> bool {
    index % 4 == 3
}

/// Steps (with a little real time for the reader thread) until `done`, at most 60 s.
fn wait_for(h: &mut Harness, what: &str, mut done: impl FnMut(&Harness) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done(h) {
        assert!(Instant::now() < deadline, "{what}: not reached in 60 s (status {:?})", h.import_status());
        h.step();
        std::thread::sleep(Duration::from_millis(2));
    }
}

impl Harness {
    fn import_status(&self) -> ImportStatus {
        self.app.world().resource::<ImportStatus>().clone()
    }

    fn deck(&self) -> &ActiveDeck {
        self.app.world().resource::<ActiveDeck>()
    }

    fn request_deck(&mut self, rel: &str, password: Option<&str>) {
        let path = testdata(rel);
        self.app.world_mut().write_message(DeckRequest::Import { path, password: password.map(String::from) });
    }
}

fn start_quiz(h: &mut Harness) {
    h.send(NetEvent::GameStarting(RoundInfo {
        start_in_ms: 3000,
        round_seed: SEED,
        mode: GameMode::MotionQuiz,
        duration_ms: 60_000,
        players: vec![ME, PEER],
    }));
    h.until(5, "game", |h, _| h.screen() == Screen::Game);
}

/// `--deck` imports the corpus' Korean quiz (xlsx) through the real document reader; the
/// round plays its 20 questions, the scripted player answers with the body (every fourth
/// answer wrong on purpose), and the scoreboard counts exactly the right answers.
#[test]
fn motion_quiz_round_with_an_imported_deck() {
    let mut h = Harness::with_config("quiz", |c| c.deck = Some(testdata("base/quiz_ko.xlsx")));
    wait_for(&mut h, "deck imported", |h| matches!(h.deck().origin, DeckOrigin::Imported { .. }));
    assert!(matches!(h.import_status(), ImportStatus::Imported { ref message } if message.contains("20")));
    let deck = h.deck().deck.clone();
    assert_eq!(deck.questions.len(), 20);
    assert_eq!(deck.questions[0].choices[deck.questions[0].correct], "서울");

    to_ready(&mut h);
    start_quiz(&mut h);
    // The HUD's state: a quiz round on the imported deck.
    match h.app.world().get_resource::<Round>().map(|r| &r.play) {
        Some(Play::Quiz { deck: playing, .. }) => assert_eq!(playing, &deck),
        other => panic!("not a quiz round: {other:?}"),
    }
    let mut saw_question = false;
    h.until(4000, "our quiz to finish", |h, _| {
        // The HUD's question and its clock follow the rules' current question.
        if let Some(r) = h.app.world().get_resource::<Round>()
            && let Play::Quiz { round, .. } = &r.play
        {
            let shown = r.question.map(|(i, _)| i as usize);
            if round.current().is_some() {
                assert_eq!(shown, round.current(), "HUD question at {} ms", r.t_ms);
                assert!(r.question_left_ms().is_some_and(|ms| ms <= 10_000));
                saw_question = true;
            }
        }
        h.events.iter().any(|e| matches!(e, GameFeed::Quiz(QuizEvent::Finished { .. })))
    });
    assert!(saw_question, "a question was on screen");
    let peer_totals = ScoreTotals { points: 900, hits: 9, streak: 0, best_streak: 4 };
    h.peer_event(GameEventKind::Finished, peer_totals);
    h.until(5, "results", |h, _| h.screen() == Screen::Results);

    // Every question answered by the body, right or wrong as scripted, scored only if right.
    let answers: Vec<(u32, usize, bool, u32)> = h
        .events
        .iter()
        .filter_map(|e| match e {
            GameFeed::Quiz(QuizEvent::Answered { index, choice, correct, points }) => {
                Some((*index, *choice, *correct, *points))
            }
            _ => None,
        })
        .collect();
    assert_eq!(answers.len(), 20, "{answers:?}");
    for &(index, choice, correct, points) in &answers {
        let q = &deck.questions[index as usize];
        assert_eq!(correct, !answers_wrong(index as usize), "question {index}");
        assert_eq!(correct, choice == q.correct, "question {index}");
        assert_eq!(points > 0, correct, "question {index}: {points} points");
    }
    assert!(!h.events.iter().any(|e| matches!(e, GameFeed::Quiz(QuizEvent::TimeUp { .. }))));
    let right = answers.iter().filter(|a| a.2).count();
    let points: u32 = answers.iter().map(|a| a.3).sum();

    // The peers were told each answer; the scoreboard has our right answers and points.
    let told = h
        .sent
        .iter()
        .filter(|c| {
            matches!(c, NetCommand::Mesh(MeshCommand::SendReliable(PeerMsg::Game(GameEvent { kind: GameEventKind::Answer { .. }, .. }))))
        })
        .count();
    assert_eq!(told, 20);
    let report = h.app.world().resource::<FinalBoard>().report.clone().expect("report");
    let mine = report.scores.iter().find(|s| s.player == ME).expect("my line");
    assert_eq!((mine.hits as usize, mine.points), (right, points));
    assert_eq!(report.scores.iter().find(|s| s.player == PEER).map(|s| s.points), Some(900));
    assert_eq!(h.app.world().resource::<FinalBoard>().mode, Some(GameMode::MotionQuiz));
}

/// An encrypted deck asks for its password; a wrong one says so; a file without questions
/// fails with a clear message — and through all of it the previous deck stays active.
#[test]
fn deck_import_asks_for_the_password_and_keeps_the_deck_on_failure() {
    let mut h = Harness::new("deckpw");
    h.step();
    let sample = h.deck().digest();
    let file = "quiz_ko_agile_pw-Secret123.docx";
    let rel = format!("encrypted/{file}");

    h.request_deck(&rel, None);
    wait_for(&mut h, "password asked", |h| matches!(h.import_status(), ImportStatus::NeedsPassword { .. }));
    h.request_deck(&rel, Some("WrongPass"));
    wait_for(&mut h, "wrong password", |h| {
        matches!(h.import_status(), ImportStatus::NeedsPassword { ref message, .. } if message.contains("wrong password"))
    });
    let ImportStatus::NeedsPassword { message, .. } = h.import_status() else { unreachable!() };
    assert!(message.contains(&format!("wrong password for {file} — try again")), "{message}");
    assert_eq!(h.deck().digest(), sample, "the sample deck stays");

    h.request_deck(&rel, Some("Secret123"));
    wait_for(&mut h, "imported", |h| matches!(h.import_status(), ImportStatus::Imported { .. }));
    assert_eq!(h.deck().origin, DeckOrigin::Imported { file: file.into() });
    assert_eq!(h.deck().deck.questions.len(), 20);
    let imported = h.deck().digest();

    h.request_deck("base/plain_en.docx", None);
    wait_for(&mut h, "failed", |h| matches!(h.import_status(), ImportStatus::Failed { .. }));
    let ImportStatus::Failed { message } = h.import_status() else { unreachable!() };
    assert!(message.contains("no questions found in plain_en.docx"), "{message}");
    assert_eq!(h.deck().digest(), imported, "the imported deck stays");

    // Cancelling an import leaves the deck as it was, and the cancelled read is ignored.
    h.request_deck("base/quiz_ko.ppt", None);
    h.app.world_mut().write_message(DeckRequest::Cancel);
    for _ in 0..30 {
        h.step();
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(h.import_status(), ImportStatus::Idle);
    assert_eq!(h.deck().digest(), imported);
}

/// Deck chunks a harness's host sent to `to`, as `NetEvent`s from `from`.
fn chunks_for(new: &[NetCommand], to: PeerId, from: PeerId) -> Vec<NetEvent> {
    new.iter()
        .filter_map(|c| match c {
            NetCommand::Mesh(MeshCommand::SendTo { to: t, channel: Channel::Reliable, msg: msg @ PeerMsg::DeckChunk(_) })
                if *t == to =>
            {
                Some(NetEvent::Peer { from, msg: msg.clone() })
            }
            _ => None,
        })
        .collect()
}

fn link_open(peer: PeerId) -> NetEvent {
    NetEvent::Link { peer, state: LinkState::Open, rtt_ms: Some(20) }
}

/// Two sessions over the fake network: the host imports a deck and sends it in chunks on
/// the reliable channel; the guest reassembles it and plays it. A player whose link opens
/// later gets it too; chunks from a non-host or damaged chunks are counted and dropped.
#[test]
fn the_hosts_deck_reaches_every_player() {
    const LATE: PeerId = 3;
    let mut host = Harness::with_config("share-host", |c| c.deck = Some(testdata("base/quiz_ko.docx")));
    let mut guest = Harness::new("share-guest");
    wait_for(&mut host, "deck imported", |h| matches!(h.deck().origin, DeckOrigin::Imported { .. }));
    let shared_deck = host.deck().deck.clone();

    let players = [(ME, "민수", false), (PEER, "지은", false)];
    host.send(NetEvent::Connected { my_id: ME });
    host.send(NetEvent::Room(room(RoomPhase::Lobby, &players)));
    guest.send(NetEvent::Connected { my_id: PEER });
    guest.send(NetEvent::Room(room(RoomPhase::Lobby, &players)));
    guest.step();
    assert_eq!(guest.deck().origin, DeckOrigin::Sample);

    // Nothing is sent before the link is open.
    assert!(chunks_for(&host.step(), PEER, ME).is_empty());
    host.send(link_open(PEER));
    let chunks = chunks_for(&host.step(), PEER, ME);
    assert!(!chunks.is_empty(), "the deck goes out once the link is open");
    // A second frame sends nothing new: the peer has this deck.
    assert!(chunks_for(&host.step(), PEER, ME).is_empty());

    // A chunk from a player who is not the host is dropped and counted.
    if let Some(NetEvent::Peer { msg, .. }) = chunks.first() {
        guest.send(NetEvent::Peer { from: LATE, msg: msg.clone() });
    }
    guest.step();
    assert_eq!(guest.app.world().resource::<DeckShare>().bad_chunks, 1);
    for ev in chunks.clone() {
        guest.send(ev);
    }
    let replies = guest.step();
    assert_eq!(guest.deck().origin, DeckOrigin::Host { from: ME });
    assert_eq!(guest.deck().deck, shared_deck);
    assert_eq!(guest.deck().digest(), host.deck().digest());
    assert_eq!(guest.app.world().resource::<DeckShare>().decks_received, 1);

    // The guest tells the host it has the deck; the host's lobby shows it.
    let digest = host.deck().digest();
    let have = PeerMsg::DeckHave { digest };
    assert!(replies.contains(&MeshCommand::SendTo { to: ME, channel: Channel::Reliable, msg: have.clone() }.into()));
    assert!(!host.app.world().resource::<DeckShare>().has_deck(PEER, digest));
    host.send(NetEvent::Peer { from: PEER, msg: have });
    host.step();
    assert!(host.app.world().resource::<DeckShare>().has_deck(PEER, digest));

    // A damaged transfer (a byte flipped in the last chunk) is refused: the deck stays.
    let mut damaged = chunks.clone();
    if let Some(NetEvent::Peer { msg: PeerMsg::DeckChunk(c), .. }) = damaged.last_mut()
        && let Some(b) = c.bytes.first_mut()
    {
        *b ^= 0x40;
    }
    for ev in damaged {
        guest.send(ev);
    }
    guest.step();
    assert_eq!(guest.app.world().resource::<DeckShare>().bad_chunks, 2);
    assert_eq!(guest.deck().deck, shared_deck);

    // A player joining later gets the deck when their link opens.
    let three = [(ME, "민수", false), (PEER, "지은", false), (LATE, "하늘", false)];
    host.send(NetEvent::Room(room(RoomPhase::Lobby, &three)));
    assert!(chunks_for(&host.step(), LATE, ME).is_empty());
    host.send(link_open(LATE));
    let late_chunks = chunks_for(&host.step(), LATE, ME);
    let mut late = Harness::new("share-late");
    late.send(NetEvent::Connected { my_id: LATE });
    late.send(NetEvent::Room(room(RoomPhase::Lobby, &three)));
    for ev in late_chunks {
        late.send(ev);
    }
    late.step();
    assert_eq!(late.deck().deck, shared_deck);

    // The guest plays the shared deck in a Motion Quiz round.
    guest.send(NetEvent::Room(room(RoomPhase::Loading, &players)));
    guest.step();
    guest.send(NetEvent::GameStarting(RoundInfo {
        start_in_ms: 1000,
        round_seed: SEED,
        mode: GameMode::MotionQuiz,
        duration_ms: 60_000,
        players: vec![ME, PEER],
    }));
    guest.until(5, "game", |h, _| h.screen() == Screen::Game);
    match guest.app.world().get_resource::<Round>().map(|r| &r.play) {
        Some(Play::Quiz { deck, .. }) => assert_eq!(deck, &shared_deck),
        other => panic!("not a quiz round on the shared deck: {other:?}"),
    }
}
