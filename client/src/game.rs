//! The round: feeds the player's skeleton to the pure rules of `shared::rules` on the shared
//! clock, publishes score events and live poses to the peers, and builds the final scoreboard.
//!
//! Inputs: [`PlayerPose`] (filled earlier in the same update by the pose plugin, or a scripted
//! source: the game runs in `ClientSet::Game`, after `ClientSet::Pose`) and the
//! round announced in [`Session::round`]. Outputs: [`GameFeed`] messages (the HUD and audio
//! react to them), `MeshCommand::SendReliable(PeerMsg::Game(..))` per scoring event,
//! `SendUnreliable` live poses and scores at ~30 Hz, and at the end the [`FinalBoard`] plus
//! `MeshCommand::ReportResult` (all sent as [`NetCommand`]s).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bevy::prelude::*;
use shared::deck::Deck;
use shared::pose::Skeleton;
use shared::protocol::peer::{
    GameEvent, GameEventKind, LivePose, LiveScore, PeerMsg, QuantizedSkeleton, ScoreTotals,
};
use shared::protocol::signal::{GameMode, MatchReport, PeerId, ScoreLine};
use shared::rules::{
    PoseRush, QuizConfig, QuizEvent, QuizRound, RushConfig, RushEvent, Tally,
};

use crate::deck::ActiveDeck;
use crate::session::{MeshCommand, NetCommand, PeerBoard, RoundInfo, Session};
use crate::state::{ClientSet, PlayerPose, Screen, SeatPoses};

/// Something that happened in the local round.
#[derive(Debug, Clone, PartialEq, Message)]
pub enum GameFeed {
    Rush(RushEvent),
    Quiz(QuizEvent),
}

/// The mode-specific rules of a round.
#[derive(Debug, Clone)]
pub enum Play {
    Rush(PoseRush),
    Quiz { round: QuizRound, deck: Deck },
}

impl Play {
    pub fn tally(&self) -> Tally {
        match self {
            Play::Rush(r) => r.tally(),
            Play::Quiz { round, .. } => round.tally(),
        }
    }

    pub fn is_finished(&self) -> bool {
        match self {
            Play::Rush(r) => r.is_finished(),
            Play::Quiz { round, .. } => round.is_finished(),
        }
    }
}

/// Timings of one hit, from the camera's capture timestamps to the moment the rules counted
/// it (`framebench --latency` prints them; a scripted skeleton has none).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HitLatency {
    /// Capture of the frame whose skeleton completed the hold → that skeleton ready.
    pub capture_to_skeleton: Duration,
    /// Skeleton ready → the rules' decision (the update that counted the hit).
    pub skeleton_to_decision: Duration,
    /// Capture of that frame → the hit counted (the two above together).
    pub capture_to_hit: Duration,
    /// Capture of the first frame of the hold → capture of the frame that completed it: the
    /// holding the rules require, reported apart from the pipeline's latency.
    pub hold: Duration,
    /// Frames the hold took (the frames seen from its first to its last).
    pub hold_frames: u32,
}

/// The latency of every hit of the local player, and the recent frames the rules saw.
#[derive(Debug, Clone, Default, Resource)]
pub struct LatencyLog {
    pub hits: Vec<HitLatency>,
    /// Frames the rules saw lately: (round time of the update that first saw the frame, its
    /// sequence number, its capture time).
    recent: VecDeque<(i64, u64, Instant)>,
}

/// How much round time of frames [`LatencyLog`] keeps to look a hold's first frame up.
const RECENT_FRAMES_MS: i64 = 15_000;

impl LatencyLog {
    /// Notes the frame the rules see at round time `t_ms` (once per frame).
    fn saw(&mut self, t_ms: i64, pose: &PlayerPose) {
        let (Some(seq), Some(captured)) = (pose.frame_seq, pose.captured) else { return };
        if self.recent.back().is_some_and(|&(_, last, _)| last == seq) {
            return;
        }
        self.recent.push_back((t_ms, seq, captured));
        while self.recent.front().is_some_and(|&(t, _, _)| t < t_ms - RECENT_FRAMES_MS) {
            self.recent.pop_front();
        }
    }

    /// Records a hit counted at `decided` on the skeleton in `pose`, whose hold began at round
    /// time `held_from_ms`.
    fn hit(&mut self, held_from_ms: i64, pose: &PlayerPose, decided: Instant) {
        let (Some(seq), Some(captured), Some(inferred)) = (pose.frame_seq, pose.captured, pose.inferred_at) else {
            return;
        };
        // The hold began on the frame the rules were looking at then: the newest one seen at
        // or before that update.
        let Some(&(_, first_seq, first_captured)) = self.recent.iter().rev().find(|&&(t, _, _)| t <= held_from_ms) else {
            return;
        };
        let skeleton_to_decision = decided.saturating_duration_since(inferred);
        let capture_to_skeleton = inferred.saturating_duration_since(captured);
        self.hits.push(HitLatency {
            capture_to_skeleton,
            skeleton_to_decision,
            capture_to_hit: decided.saturating_duration_since(captured),
            hold: captured.saturating_duration_since(first_captured),
            hold_frames: self.recent.iter().filter(|&&(_, s, _)| s >= first_seq && s <= seq).count() as u32,
        });
    }
}

/// How long to wait for the other players' last events after our round ended.
pub const FINISH_GRACE_S: f64 = 5.0;
/// Live pose / score rate.
pub const LIVE_HZ: f64 = 30.0;

/// The round being played.
#[derive(Debug, Clone, Resource)]
pub struct Round {
    pub info: RoundInfo,
    /// Real time (seconds since app start) of the round's start.
    pub start_s: f64,
    pub play: Play,
    /// The routine Pose Rush plays (its name), if any.
    pub routine: Option<String>,
    /// Round time of the last update, ms (negative during the countdown).
    pub t_ms: i64,
    /// The last hit or answer, for the HUD: (text, points, round time).
    pub flash: Option<(String, u32, i64)>,
    /// Motion Quiz: the question on screen and its deadline (round time, ms).
    pub question: Option<(u32, i64)>,
    /// The camera frame of the skeleton the rules saw in the last update (`None`: scripted or
    /// no skeleton yet).
    pub pose_frame: Option<u64>,
    event_seq: u32,
    live_seq: u32,
    last_live_s: f64,
    finished_at_s: Option<f64>,
    /// The device's local seats (couch play), each scored on its own.
    pub locals: Vec<SeatRound>,
}

/// A local seat's part of the round: the same targets or questions, its own skeleton
/// ([`SeatPoses`]) and score, sent to the peers with its seat number.
#[derive(Debug, Clone)]
pub struct SeatRound {
    pub seat: u8,
    pub player: PeerId,
    pub play: Play,
    /// The last hit or answer: (text, points, round time).
    pub flash: Option<(String, u32, i64)>,
    event_seq: u32,
}

impl SeatRound {
    pub fn totals(&self) -> ScoreTotals {
        totals(self.play.tally())
    }
}

impl Round {
    /// The round `info` announces, starting `info.start_in_ms` after `now_s`. Pose Rush
    /// plays the deck's routine number `routine` when there is one, else random targets.
    pub fn new(info: RoundInfo, now_s: f64, deck: &Deck, routine: Option<u16>) -> Self {
        let chosen = routine.and_then(|i| deck.routines.get(usize::from(i)));
        let play = Self::new_play(&info, deck, routine);
        let routine = match info.mode {
            GameMode::PoseRush => chosen.map(|r| r.name.clone()),
            GameMode::MotionQuiz => None,
        };
        Self {
            start_s: now_s + info.start_in_ms as f64 / 1000.0,
            info,
            play,
            routine,
            t_ms: i64::MIN,
            flash: None,
            question: None,
            pose_frame: None,
            event_seq: 0,
            live_seq: 0,
            last_live_s: f64::NEG_INFINITY,
            finished_at_s: None,
            locals: Vec::new(),
        }
    }

    /// Adds local seats (seat number, player id) that play this round beside the device's
    /// player.
    pub fn with_locals(mut self, seats: impl IntoIterator<Item = (u8, PeerId)>, deck: &Deck, routine: Option<u16>) -> Self {
        for (seat, player) in seats {
            let play = Self::new_play(&self.info, deck, routine);
            self.locals.push(SeatRound { seat, player, play, flash: None, event_seq: 0 });
        }
        self
    }

    /// The rules of one player's round: every seat plays the same targets or questions.
    fn new_play(info: &RoundInfo, deck: &Deck, routine: Option<u16>) -> Play {
        let chosen = routine.and_then(|i| deck.routines.get(usize::from(i)));
        match info.mode {
            GameMode::PoseRush => {
                let cfg = RushConfig { duration_ms: info.duration_ms, ..RushConfig::default() };
                Play::Rush(match chosen {
                    Some(r) => PoseRush::with_routine(r.steps.clone(), cfg),
                    None => PoseRush::new(info.round_seed, cfg),
                })
            }
            GameMode::MotionQuiz => Play::Quiz {
                round: QuizRound::new(
                    deck.questions.iter().map(|q| q.to_item()).collect(),
                    QuizConfig::default(),
                ),
                deck: deck.clone(),
            },
        }
    }

    /// Every seat of this device has finished its round.
    pub fn all_finished(&self) -> bool {
        self.play.is_finished() && self.locals.iter().all(|l| l.play.is_finished())
    }

    /// The totals of `player` if it plays on this device (`me` is seat 0).
    pub fn totals_of(&self, player: PeerId, me: Option<PeerId>) -> Option<ScoreTotals> {
        if Some(player) == me {
            return Some(self.totals());
        }
        self.locals.iter().find(|l| l.player == player).map(SeatRound::totals)
    }

    /// True when `player` is one of this device's local seats.
    pub fn is_local_seat(&self, player: PeerId) -> bool {
        self.locals.iter().any(|l| l.player == player)
    }

    pub fn totals(&self) -> ScoreTotals {
        totals(self.play.tally())
    }

    /// Milliseconds left to answer the quiz question on screen.
    pub fn question_left_ms(&self) -> Option<u32> {
        let (_, deadline) = self.question?;
        Some(u32::try_from((deadline - self.t_ms.max(0)).max(0)).unwrap_or(0))
    }

    /// Milliseconds left in the round.
    pub fn remaining_ms(&self) -> u32 {
        let elapsed = self.t_ms.max(0);
        u32::try_from((i64::from(self.info.duration_ms) - elapsed).max(0)).unwrap_or(0)
    }

    fn next_event(&mut self, kind: GameEventKind) -> PeerMsg {
        self.event_seq += 1;
        PeerMsg::Game(GameEvent {
            round_seed: self.info.round_seed,
            seat: 0,
            seq: self.event_seq,
            round_ms: u32::try_from(self.t_ms.max(0)).unwrap_or(u32::MAX),
            kind,
            totals: self.totals(),
        })
    }
}

fn totals(t: Tally) -> ScoreTotals {
    ScoreTotals { points: t.points, hits: t.hits, streak: t.streak, best_streak: t.best_streak }
}

/// The agreed scoreboard of the last round.
#[derive(Debug, Clone, Default, Resource)]
pub struct FinalBoard {
    pub report: Option<MatchReport>,
    pub mode: Option<GameMode>,
}

/// Plays rounds.
pub struct GamePlugin;

impl Plugin for GamePlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<FinalBoard>()
            .init_resource::<LatencyLog>()
            .add_message::<GameFeed>()
            .add_systems(OnEnter(Screen::Game), start_round)
            .add_systems(
                Update,
                (tick_round, publish_live, finish_round)
                    .chain()
                    .in_set(ClientSet::Game)
                    .run_if(in_state(Screen::Game).and_then(resource_exists::<Round>)),
            );
    }
}

fn start_round(
    mut commands: Commands,
    session: Res<Session>,
    deck: Res<ActiveDeck>,
    time: Res<Time<Real>>,
    mut next: ResMut<NextState<Screen>>,
) {
    let Some(info) = session.round.clone() else {
        warn!("the game screen opened without a round announced; back to the lobby");
        next.set(Screen::Lobby);
        return;
    };
    let routine = session.room.as_ref().and_then(|r| r.settings.routine);
    info!(seed = info.round_seed, mode = ?info.mode, ?routine, "round starts in {} ms", info.start_in_ms);
    // This device's local seats that play this round (couch play), in seat order.
    let locals: Vec<(u8, PeerId)> = match (session.room.as_ref(), session.my_id()) {
        (Some(room), Some(me)) => room
            .local_seats(me)
            .enumerate()
            .filter(|(_, p)| info.players.contains(&p.id))
            .filter_map(|(i, p)| Some((u8::try_from(i + 1).ok()?, p.id)))
            .collect(),
        _ => Vec::new(),
    };
    let round = Round::new(info, time.elapsed_secs_f64(), &deck.deck, routine).with_locals(locals, &deck.deck, routine);
    commands.insert_resource(round);
    commands.insert_resource(LatencyLog::default());
}

pub(crate) fn tick_round(
    mut round: ResMut<Round>,
    pose: Res<PlayerPose>,
    seat_poses: Res<SeatPoses>,
    mut latency: ResMut<LatencyLog>,
    time: Res<Time<Real>>,
    mut feed: MessageWriter<GameFeed>,
    mut net: MessageWriter<NetCommand>,
) {
    let round = &mut *round;
    let t_ms = ((time.elapsed_secs_f64() - round.start_s) * 1000.0).round() as i64;
    round.t_ms = t_ms;
    round.pose_frame = pose.frame_seq;
    latency.saw(t_ms, &pose);
    let skeleton = pose.skeleton.as_ref();
    let mut out = Vec::new();
    match &mut round.play {
        Play::Rush(rush) => {
            for ev in rush.update(t_ms, skeleton) {
                if let RushEvent::Hit { held_from_ms, .. } = &ev {
                    latency.hit(*held_from_ms, &pose, Instant::now());
                }
                let (kind, flash) = rush_outcome(&ev);
                if let Some((text, points)) = flash {
                    round.flash = Some((text, points, t_ms));
                }
                out.push((GameFeed::Rush(ev), kind));
            }
        }
        Play::Quiz { round: quiz, deck } => {
            for ev in quiz.update(t_ms, skeleton) {
                round.question = match &ev {
                    QuizEvent::Question { index, deadline_ms } => Some((*index, *deadline_ms)),
                    _ => None,
                };
                let (kind, flash) = quiz_outcome(&ev, deck);
                if let Some((text, points)) = flash {
                    round.flash = Some((text, points, t_ms));
                }
                out.push((GameFeed::Quiz(ev), kind));
            }
        }
    }
    for (ev, kind) in out {
        feed.write(ev);
        if let Some(kind) = kind {
            net.write(MeshCommand::SendReliable(round.next_event(kind)).into());
        }
    }
    let round_seed = round.info.round_seed;
    for local in &mut round.locals {
        let skeleton = seat_poses.0.get(usize::from(local.seat) - 1).and_then(Option::as_ref);
        for kind in tick_seat(local, t_ms, skeleton) {
            local.event_seq += 1;
            net.write(
                MeshCommand::SendReliable(PeerMsg::Game(GameEvent {
                    round_seed,
                    seat: local.seat,
                    seq: local.event_seq,
                    round_ms: u32::try_from(t_ms.max(0)).unwrap_or(u32::MAX),
                    kind,
                    totals: local.totals(),
                }))
                .into(),
            );
        }
    }
}

/// Runs a local seat's rules on its skeleton; returns the events to send.
fn tick_seat(local: &mut SeatRound, t_ms: i64, skeleton: Option<&Skeleton>) -> Vec<GameEventKind> {
    let outcomes: Vec<Outcome> = match &mut local.play {
        Play::Rush(rush) => rush.update(t_ms, skeleton).iter().map(rush_outcome).collect(),
        Play::Quiz { round: quiz, deck } => quiz.update(t_ms, skeleton).iter().map(|ev| quiz_outcome(ev, deck)).collect(),
    };
    let mut kinds = Vec::new();
    for (kind, flash) in outcomes {
        if let Some((text, points)) = flash {
            local.flash = Some((text, points, t_ms));
        }
        kinds.extend(kind);
    }
    kinds
}

/// What a rules event means for the peers (the game event to send, if any) and for the
/// screen (the flash: text and points, for a hit or an answer).
type Outcome = (Option<GameEventKind>, Option<(String, u32)>);

fn rush_outcome(ev: &RushEvent) -> Outcome {
    match ev {
        RushEvent::Hit { index, pose: target, points, .. } => (
            Some(GameEventKind::Hit { target: clamp_u16(*index), points: *points }),
            Some((target.name_ko().to_string(), *points)),
        ),
        RushEvent::Miss { index, .. } => (Some(GameEventKind::Miss { target: clamp_u16(*index) }), None),
        RushEvent::Finished { .. } => (Some(GameEventKind::Finished), None),
        _ => (None, None),
    }
}

fn quiz_outcome(ev: &QuizEvent, deck: &Deck) -> Outcome {
    match ev {
        QuizEvent::Answered { index, choice, correct, points } => {
            let text = deck.questions.get(*index as usize).and_then(|q| q.choices.get(*choice)).cloned().unwrap_or_default();
            let kind = GameEventKind::Answer {
                question: clamp_u16(*index),
                choice: u8::try_from(*choice).ok(),
                correct: *correct,
                points: *points,
            };
            (Some(kind), Some((text, *points)))
        }
        QuizEvent::TimeUp { index } => (
            Some(GameEventKind::Answer { question: clamp_u16(*index), choice: None, correct: false, points: 0 }),
            None,
        ),
        QuizEvent::Finished { .. } => (Some(GameEventKind::Finished), None),
        QuizEvent::Question { .. } => (None, None),
    }
}

fn clamp_u16(v: u32) -> u16 {
    u16::try_from(v).unwrap_or(u16::MAX)
}

/// Sends our skeleton and running score to the peers at [`LIVE_HZ`].
fn publish_live(
    mut round: ResMut<Round>,
    pose: Res<PlayerPose>,
    seat_poses: Res<SeatPoses>,
    time: Res<Time<Real>>,
    mut net: MessageWriter<NetCommand>,
) {
    let now = time.elapsed_secs_f64();
    if now - round.last_live_s < 1.0 / LIVE_HZ || round.all_finished() {
        return;
    }
    round.last_live_s = now;
    round.live_seq += 1;
    let seq = round.live_seq;
    net.write(MeshCommand::SendUnreliable(PeerMsg::Pose(LivePose {
        seat: 0,
        seq,
        round_ms: u32::try_from(round.t_ms.max(0)).unwrap_or(0),
        skeleton: pose.skeleton.as_ref().map(QuantizedSkeleton::from_skeleton),
    })).into());
    net.write(MeshCommand::SendUnreliable(PeerMsg::Score(LiveScore { seat: 0, seq, totals: round.totals() })).into());
    let round_ms = u32::try_from(round.t_ms.max(0)).unwrap_or(0);
    for local in &round.locals {
        let skeleton = seat_poses.0.get(usize::from(local.seat) - 1).and_then(Option::as_ref);
        net.write(MeshCommand::SendUnreliable(PeerMsg::Pose(LivePose {
            seat: local.seat,
            seq,
            round_ms,
            skeleton: skeleton.map(QuantizedSkeleton::from_skeleton),
        })).into());
        net.write(MeshCommand::SendUnreliable(PeerMsg::Score(LiveScore { seat: local.seat, seq, totals: local.totals() })).into());
    }
}

/// The scoreboard from our own totals and the last totals each peer sent. Sorted by points
/// (highest first), ties by player id, so every client that saw the same events builds the
/// same board.
pub fn build_report(
    round: &Round,
    my_id: Option<PeerId>,
    session: &Session,
    board: &PeerBoard,
) -> MatchReport {
    let in_room = |id: PeerId| {
        session
            .room
            .as_ref()
            .is_some_and(|r| r.players.iter().any(|p| p.id == id && p.connected))
    };
    let mut scores: Vec<ScoreLine> = round
        .info
        .players
        .iter()
        .map(|&id| {
            let (t, dropped) = if let Some(t) = round.totals_of(id, my_id) {
                (t, false)
            } else {
                let peer = board.peers.get(&id);
                let finished = peer.is_some_and(|p| p.finished);
                (peer.map(|p| p.totals).unwrap_or_default(), !finished || !in_room(id))
            };
            ScoreLine {
                player: id,
                name: session.player_name(id),
                points: t.points,
                hits: t.hits,
                best_streak: t.best_streak,
                dropped,
            }
        })
        .collect();
    scores.sort_by(|a, b| b.points.cmp(&a.points).then(a.player.cmp(&b.player)));
    MatchReport { round_seed: round.info.round_seed, scores }
}

/// After our round ends: wait for every other player's `Finished` (or for them to leave,
/// or the grace time), then report the scoreboard and show the results.
#[allow(clippy::too_many_arguments)]
fn finish_round(
    mut commands: Commands,
    mut round: ResMut<Round>,
    session: Res<Session>,
    board: Res<PeerBoard>,
    time: Res<Time<Real>>,
    mut final_board: ResMut<FinalBoard>,
    mut net: MessageWriter<NetCommand>,
    mut next: ResMut<NextState<Screen>>,
) {
    if !round.all_finished() {
        return;
    }
    let now = time.elapsed_secs_f64();
    let finished_at = *round.finished_at_s.get_or_insert(now);
    let me = session.my_id();
    let still_playing = round.info.players.iter().any(|&id| {
        Some(id) != me
            && !round.is_local_seat(id)
            && !board.peers.get(&id).is_some_and(|p| p.finished)
            && session
                .room
                .as_ref()
                .is_some_and(|r| r.players.iter().any(|p| p.id == id && p.connected))
    });
    if still_playing && now - finished_at < FINISH_GRACE_S {
        return;
    }
    let report = build_report(&round, me, &session, &board);
    info!(seed = report.round_seed, "round over: {:?}", report.scores);
    net.write(MeshCommand::SendReliable(PeerMsg::Final(report.clone())).into());
    net.write(MeshCommand::ReportResult(report.clone()).into());
    final_board.report = Some(report);
    final_board.mode = Some(round.info.mode);
    commands.remove_resource::<Round>();
    next.set(Screen::Results);
}

#[cfg(test)]
mod tests {
    use super::*;
    use bevy::state::app::StatesPlugin;
    use shared::rules::fixtures::pose_skeleton;

    use crate::session::SessionPlugin;
    use crate::state::{ClientSet, StatePlugin};

    /// Capture and inference delays the fake camera reports for every frame.
    const CAPTURE_AGO: Duration = Duration::from_millis(40);
    const INFERRED_AGO: Duration = Duration::from_millis(10);

    /// A new frame every update, captured 40 ms ago, its skeleton ready 10 ms ago, showing the
    /// current target.
    fn fake_camera(round: Option<Res<Round>>, time: Res<Time<Real>>, mut pose: ResMut<PlayerPose>) {
        // The instant the round's clock reads this update (so capture times and round times
        // advance together, however late this system runs on a busy machine).
        let now = time.last_update().unwrap_or_else(Instant::now);
        let target = round.and_then(|r| match &r.play {
            Play::Rush(rush) => rush.current_target().map(|(_, p, _)| p),
            Play::Quiz { .. } => None,
        });
        pose.skeleton = Some(pose_skeleton(target));
        pose.frame_seq = Some(pose.frame_seq.map_or(0, |s| s + 1));
        pose.captured = now.checked_sub(CAPTURE_AGO);
        pose.inferred_at = now.checked_sub(INFERRED_AGO);
    }

    /// With timestamps known in advance, each hit's latency splits exactly into capture →
    /// skeleton (30 ms), skeleton → decision (at least 10 ms) and the hold the rules require.
    #[test]
    fn latency_of_each_hit_comes_from_the_frames_timestamps() {
        let mut app = App::new();
        app.add_plugins((MinimalPlugins, StatesPlugin, StatePlugin))
            .add_plugins((SessionPlugin, GamePlugin))
            .init_resource::<ActiveDeck>()
            .add_systems(Update, fake_camera.in_set(ClientSet::Pose))
            .insert_state(Screen::Game);
        app.world_mut().resource_mut::<Session>().round = Some(RoundInfo {
            start_in_ms: 0,
            round_seed: 3,
            mode: GameMode::PoseRush,
            duration_ms: 60_000,
            players: vec![1],
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        while app.world().resource::<LatencyLog>().hits.len() < 3 {
            assert!(Instant::now() < deadline, "no hits: {:?}", app.world().resource::<LatencyLog>());
            app.update();
            std::thread::sleep(Duration::from_millis(5));
        }
        let hold_ms = RushConfig::default().hold_ms;
        for hit in &app.world().resource::<LatencyLog>().hits {
            assert_eq!(hit.capture_to_skeleton, CAPTURE_AGO - INFERRED_AGO, "{hit:?}");
            assert!(hit.skeleton_to_decision >= INFERRED_AGO, "{hit:?}");
            assert_eq!(hit.capture_to_hit, hit.capture_to_skeleton + hit.skeleton_to_decision, "{hit:?}");
            assert!(hit.capture_to_hit < CAPTURE_AGO + Duration::from_secs(1), "{hit:?}");
            // The hold spans the frames from its first to the one that completed it.
            assert!(hit.hold >= Duration::from_millis(u64::from(hold_ms) - 5), "{hit:?}");
            assert!(hit.hold < Duration::from_millis(u64::from(hold_ms) + 1_000), "{hit:?}");
            assert!(hit.hold_frames >= 2, "{hit:?}");
        }
    }
}
