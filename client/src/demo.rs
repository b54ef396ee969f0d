//! `--screen NAME`: open a screen filled with demo data (a room of four, a round in
//! progress, a scoreboard, a history) without a server, for screenshots and UI work. With a
//! picture folder as source the real camera and pose plugins run on it; otherwise the
//! player's skeleton in the demo round is scripted (the current target pose, a little noisy).
//! `--screen game --deck FILE` shows a Motion Quiz round on that deck instead (read while
//! the app is built, before the first frame, so the round opens on it).

use bevy::ecs::system::RunSystemOnce;
use bevy::prelude::*;
use shared::protocol::peer::{PeerMsg, ScoreTotals};
use shared::protocol::signal::{
    GameMode, LoadingStage, MatchReport, MatchStatus, MatchSummary, PlayerInfo, RoomPhase, RoomSettings, RoomVisibility,
    RoomSnapshot, ScoreLine,
};
use shared::rules::PoseId;
use shared::rules::fixtures::{pose_skeleton, with_noise};

use std::path::PathBuf;

use crate::call::Call;
use crate::media_state::PeerMedia;
use shared::protocol::peer::{DeviceState, MediaState};
use crate::couch::Couch;
use crate::deck::{ActiveDeck, DeckOrigin, Outcome, outcome};
use crate::game::{FinalBoard, Play, Round};
use crate::session::{Connection, LinkState, LinkView, NetEvent, PeerBoard, PeerLive, RoundInfo, Session};
use crate::state::{ClientSet, LatestFrame, ModelStatus, PlayerPose, Screen};

const ME: u32 = 1;
const PLAYERS: [(u32, &str); 4] = [(1, "민수"), (2, "지은"), (3, "Alex"), (4, "하늘")];
/// How far into the round the demo game screen opens, ms.
const DEMO_ROUND_MS: i64 = 21_700;

/// Fills the resources of the `--screen` with demo data.
#[derive(Debug, Clone)]
pub struct DemoPlugin {
    /// The screen shown.
    pub screen: Screen,
    /// `--screen game --deck FILE`: a Motion Quiz round on that deck.
    pub deck: Option<PathBuf>,
    /// Script the player's skeleton (when no pose model runs).
    pub script_player: bool,
}

/// What the demo shows ([`DemoPlugin`]'s fields, for its systems).
#[derive(Debug, Clone, Resource)]
struct Demo {
    screen: Screen,
    deck: Option<PathBuf>,
}

impl Plugin for DemoPlugin {
    fn build(&self, app: &mut App) {
        app.insert_resource(Demo { screen: self.screen, deck: self.deck.clone() });
        // Filled now, while building: the first screen's OnEnter runs before any startup
        // system and needs the data.
        if let Err(e) = app.world_mut().run_system_once(fill_demo) {
            error!("could not fill the demo data: {e}");
        }
        app.add_systems(Update, prime_demo_round.in_set(ClientSet::Pose).run_if(in_state(Screen::Game)))
            .add_systems(
                Update,
                (
                    own_loading_row.run_if(in_state(Screen::Loading).and_then(resource_changed::<ModelStatus>)),
                    peers_confirm_deck.run_if(in_state(Screen::Lobby).and_then(resource_changed::<ActiveDeck>)),
                ),
            );
        // The call's tiles: the linked demo players "send" the camera's picture.
        app.add_systems(Update, demo_videos.in_set(ClientSet::Ui).run_if(resource_exists::<Call>));
        if self.script_player {
            app.add_systems(
                Update,
                script_player.in_set(ClientSet::Pose).after(prime_demo_round).run_if(in_state(Screen::Game)),
            );
        }
    }
}

fn room(phase: RoomPhase, screen: Screen, mode: GameMode) -> RoomSnapshot {
    let players = PLAYERS
        .iter()
        .enumerate()
        .map(|(i, (id, name))| {
            let (stage, progress, ready) = match (screen, i) {
                (Screen::Loading, 0) => (LoadingStage::BuildingSession, 0.6, false),
                (Screen::Loading, 1) => (LoadingStage::Done, 1.0, true),
                (Screen::Loading, 2) => (LoadingStage::WarmingUp, 0.3, false),
                (Screen::Loading, _) => (LoadingStage::ReadingModel, 0.45, false),
                _ => (LoadingStage::Idle, 0.0, false),
            };
            PlayerInfo { id: *id, name: name.to_string(), connected: true, stage, progress, ready, device: None }
        })
        .collect();
    RoomSnapshot {
        code: "HK7PAX".into(),
        host: ME,
        settings: RoomSettings { mode, duration_secs: 60, routine: None },
        phase,
        players,
        cap: 8,
        visibility: RoomVisibility::Private,
    }
}

fn fill_demo(
    demo: Res<Demo>,
    mut session: ResMut<Session>,
    mut model: ResMut<ModelStatus>,
    mut board: ResMut<PeerBoard>,
    mut final_board: ResMut<FinalBoard>,
    mut active: ResMut<ActiveDeck>,
    couch: Option<Res<Couch>>,
) {
    let screen = demo.screen;
    let mode = match (&demo.deck, screen) {
        (Some(path), Screen::Game) => match demo_deck(path) {
            Some(deck) => {
                *active = deck;
                GameMode::MotionQuiz
            }
            None => GameMode::PoseRush,
        },
        _ => GameMode::PoseRush,
    };
    session.connection = Connection::Online { my_id: ME };
    let phase = match screen {
        Screen::Loading => RoomPhase::Loading,
        Screen::Game => RoomPhase::Playing { start_at_ms: 0, round_seed: 7 },
        Screen::Results => RoomPhase::Results,
        _ => RoomPhase::Lobby,
    };
    let mut players: Vec<u32> = PLAYERS.iter().map(|(id, _)| *id).collect();
    if screen != Screen::Menu {
        let mut room = room(phase, screen, mode);
        // Couch play (`--couch`): the local seats sit right after this device's player.
        if let Some(couch) = couch.as_ref().filter(|c| !c.names.is_empty()) {
            let me = room.players.iter().find(|p| p.id == ME).cloned();
            for (i, name) in couch.names.iter().enumerate() {
                let id = 10 + i as u32;
                if let Some(me) = &me {
                    room.players.insert(1 + i, PlayerInfo { id, name: name.clone(), device: Some(ME), ..me.clone() });
                }
                players.insert(1 + i, id);
            }
        }
        session.room = Some(room);
    }
    session.links.insert(2, LinkView { state: LinkState::Open, rtt_ms: Some(23), was_open: true });
    session.links.insert(3, LinkView { state: LinkState::Open, rtt_ms: Some(41), was_open: true });
    session.links.insert(4, LinkView { state: LinkState::Connecting, rtt_ms: None, was_open: false });
    *model = ModelStatus {
        stage: LoadingStage::BuildingSession,
        progress: 0.6,
        detail: "라이트 모델 / lite model · pose_landmark_lite.onnx".into(),
        ..ModelStatus::default()
    };
    let info = RoundInfo {
        start_in_ms: -DEMO_ROUND_MS,
        round_seed: 7,
        mode,
        duration_ms: 60_000,
        players,
    };
    session.round = Some(info);
    board.reset(7);
    let peer_poses = [PoseId::TPose, PoseId::HandsUp, PoseId::Star];
    for ((id, _), (pose, points)) in PLAYERS.iter().skip(1).zip(peer_poses.into_iter().zip([1480, 960, 2210])) {
        board.peers.insert(
            *id,
            PeerLive {
                totals: ScoreTotals { points, hits: points / 180, streak: 2, best_streak: 4 },
                skeleton: Some(with_noise(&pose_skeleton(Some(pose)), u64::from(*id), 0.004)),
                ..PeerLive::default()
            },
        );
    }
    let line = |id: u32, name: &str, points, hits, best_streak, dropped| ScoreLine {
        player: id,
        name: name.into(),
        points,
        hits,
        best_streak,
        dropped,
    };
    let scores = vec![
        line(3, "Alex", 3120, 14, 7, false),
        line(1, "민수", 2890, 13, 5, false),
        line(2, "지은", 2455, 12, 6, false),
        line(4, "하늘", 940, 5, 2, true),
    ];
    final_board.report = Some(MatchReport { round_seed: 7, scores: scores.clone() });
    final_board.mode = Some(GameMode::PoseRush);
    session.recorded = Some((42, true));
    session.recorded_status = Some(MatchStatus::Verified);
    session.history = Some(vec![
        MatchSummary {
            match_id: 42,
            room_code: "HK7PAX".into(),
            mode: GameMode::PoseRush,
            started_at_ms: 1_795_000_000_000,
            agreed: true,
            scores,
            status: MatchStatus::Verified,
        },
        MatchSummary {
            match_id: 41,
            room_code: "QT3MWE".into(),
            mode: GameMode::MotionQuiz,
            started_at_ms: 1_794_990_000_000,
            agreed: false,
            scores: vec![line(1, "민수", 1450, 6, 4, false), line(2, "지은", 1200, 5, 3, false)],
            status: MatchStatus::Disagreed,
        },
    ]);
}

/// Plays the server for the demo's own row of the loading list: our stage, progress and
/// readiness as the pose plugin (or the demo data) reports them, so the list and the
/// "my pose model" bars never disagree.
fn own_loading_row(model: Res<ModelStatus>, mut session: ResMut<Session>) {
    let Some(room) = session.room.as_mut() else { return };
    // This device's row and its local seats' rows (their readiness is the device's).
    for p in room.players.iter_mut().filter(|p| p.id == ME || p.device == Some(ME)) {
        p.stage = model.stage;
        p.progress = model.progress;
        p.ready = model.stage == LoadingStage::Done;
    }
}

/// The deck of the quiz demo, read now (the demo's first screen needs it).
fn demo_deck(path: &std::path::Path) -> Option<ActiveDeck> {
    let file = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    match outcome(&file, doctext::extract_file(path, &doctext::Options::default())) {
        Outcome::Deck(deck) => Some(ActiveDeck::new(deck, DeckOrigin::Imported { file })),
        other => {
            error!("the demo deck {} cannot be used: {other:?}", path.display());
            None
        }
    }
}

/// Plays the linked players of the demo room: they confirm the host's deck, as real clients
/// do once a transfer is complete.
fn peers_confirm_deck(deck: Res<ActiveDeck>, session: Res<Session>, mut events: MessageWriter<NetEvent>) {
    for (&peer, _) in session.links.iter().filter(|(_, l)| l.state == LinkState::Open) {
        events.write(NetEvent::Peer { from: peer, msg: PeerMsg::DeckHave { digest: deck.digest() } });
    }
}

/// Plays the demo round from its start up to now with a player who matches each target (or
/// gives the right answer) after 0.9 s, so the HUD opens mid-round with a score and a streak.
fn prime_demo_round(round: Option<ResMut<Round>>, mut primed: Local<bool>) {
    let Some(mut round) = round else { return };
    if *primed {
        return;
    }
    *primed = true;
    let rush = match &mut round.play {
        Play::Rush(rush) => rush,
        Play::Quiz { round: quiz, deck } => {
            let question = prime_quiz(quiz, deck);
            round.question = question;
            return;
        }
    };
    prime_rush(rush);
    for local in &mut round.locals {
        if let Play::Rush(rush) = &mut local.play {
            prime_rush(rush);
        }
    }
}

/// Plays a Pose Rush from its start up to the demo's round time (see [`prime_demo_round`]).
fn prime_rush(rush: &mut shared::rules::PoseRush) {
    let mut shown_at = 0;
    let mut last_target = None;
    for t in (-3000..DEMO_ROUND_MS - 1500).step_by(33) {
        let target = rush.current_target().map(|(i, p, _)| (i, p));
        if target != last_target {
            last_target = target;
            shown_at = t;
        }
        let skeleton = match target {
            Some((_, pose)) if t - shown_at > 900 => pose_skeleton(Some(pose)),
            _ => pose_skeleton(None),
        };
        rush.update(t, Some(&skeleton));
    }
}

/// Plays the quiz up to now; returns the question on screen and its deadline.
fn prime_quiz(quiz: &mut shared::rules::QuizRound, deck: &shared::deck::Deck) -> Option<(u32, i64)> {
    let mut on_screen = None;
    let mut shown: Option<(usize, i64)> = None;
    for t in (-3000..DEMO_ROUND_MS - 1500).step_by(33) {
        let current = quiz.current();
        if current != shown.map(|(i, _)| i) {
            shown = current.map(|i| (i, t));
        }
        let answer = shown.filter(|(_, at)| t - at > 900).and_then(|(i, _)| {
            let q = deck.questions.get(i)?;
            q.layout().slots().get(q.correct).map(|a| a.pose())
        });
        for ev in quiz.update(t, Some(&pose_skeleton(answer))) {
            on_screen = match ev {
                shared::rules::QuizEvent::Question { index, deadline_ms } => Some((index, deadline_ms)),
                _ => None,
            };
        }
    }
    on_screen
}

/// The demo player holds the current target pose (with a little noise).
fn script_player(round: Option<Res<Round>>, mut pose: ResMut<PlayerPose>, mut frame: Local<u64>) {
    *frame += 1;
    let target = round.and_then(|r| match &r.play {
        Play::Rush(rush) => rush.current_target().map(|(_, p, _)| p),
        Play::Quiz { .. } => None,
    });
    pose.skeleton = Some(with_noise(&pose_skeleton(target), *frame, 0.003));
}

/// Plays the call for the demo: each linked player's tile shows the camera's picture (a
/// different crop each, as the real call's 320-wide pictures), refreshed with the camera —
/// but the second, who has no camera and muted the microphone (its tile shows the skeleton
/// and says so).
fn demo_videos(
    latest: Res<LatestFrame>,
    session: Res<Session>,
    mut call: ResMut<Call>,
    mut media: Option<ResMut<PeerMedia>>,
    mut images: Option<ResMut<Assets<Image>>>,
) {
    let (true, Some(frame)) = (latest.fresh, &latest.frame) else { return };
    let linked: Vec<u32> = session.links.iter().filter(|(_, l)| l.state == LinkState::Open).map(|(id, _)| *id).collect();
    for (i, peer) in linked.into_iter().enumerate() {
        if i == 1 {
            if let Some(media) = media.as_deref_mut() {
                media.peers.insert(peer, MediaState { camera: DeviceState::Missing, microphone: DeviceState::Off });
            }
            continue;
        }
        // A 4:3 crop, shifted per player, scaled to 320×240 like a webcam's picture.
        let w = frame.width.min(frame.height * 4 / 3);
        let h = w * 3 / 4;
        let x0 = (i as u32 * w / 6).min(frame.width - w);
        let mut crop = Vec::with_capacity((w * h * 3) as usize);
        for y in 0..h {
            let start = ((y * frame.width + x0) * 3) as usize;
            crop.extend_from_slice(frame.data.get(start..start + (w * 3) as usize).unwrap_or_default());
        }
        let Ok(rgb) = media::downscale_rgb(&crop, w, h, 320, 240) else { continue };
        call.set_picture(peer, media::RgbImage { width: 320, height: 240, rgb }, images.as_deref_mut());
    }
}

