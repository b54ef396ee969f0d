//! Headless bot mode (`--headless --bot`): joins or creates a room (through the usual
//! `--create` / `--room` / `--quick` flags and the screen flow; quick match when none is
//! given), readies up once its model is loaded, plays one round and leaves.
//!
//! The host bot sets the round length (`--round-secs`) and starts the game once
//! `--bot-players` players are in the room. With a picture source (`frames:DIR`, `synthetic`,
//! a webcam) the bot plays through the real camera and pose plugins: the model loads in
//! stages like any player's, and whatever skeleton it sees is the bot's move.
//! With a `script:SPEC` source no model is loaded; the bot feeds the player's skeleton itself
//! from the pose library, with a little noise, so a test can make a bot hit or miss on
//! purpose:
//! - `script:hit` — shows the current target pose (every target is hit);
//! - `script:miss` — stands still in a neutral pose (every target is missed).
//!
//! What the bot went through is kept in [`BotReport`] (and logged when it exits): the
//! screens it passed, the model loading stages it saw, how many confident skeletons it
//! played with, or why it gave up. A model or camera that fails, or a room left before the
//! results, ends the bot with an error exit.

use std::fmt;
use std::str::FromStr;

use bevy::app::AppExit;
use bevy::prelude::*;
use shared::protocol::signal::{LoadingStage, RoomPhase, RoomSettings};
use shared::rules::fixtures::{pose_skeleton, with_noise};
use shared::rules::{PoseId, RushEvent};

use crate::camera::CameraStatus;
use crate::deck::{ActiveDeck, DeckShare, start_blocked};
use crate::game::{GameFeed, Play, Round};
use crate::session::{MeshCommand, NetCommand, Session};
use crate::state::{ClientSet, ModelStatus, PlayerPose, Screen};

/// A skeleton at least this confident counts as the bot really being seen.
pub const CONFIDENT_POSE: f32 = 0.5;

/// What a scripted bot does in front of its (absent) camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Script {
    Hit,
    Miss,
}

impl FromStr for Script {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "hit" => Ok(Script::Hit),
            "miss" => Ok(Script::Miss),
            other => Err(format!("unknown bot script {other:?} — use script:hit or script:miss")),
        }
    }
}

/// Plays one round automatically; added by the app builder with `--bot`.
#[derive(Debug, Clone)]
pub struct BotPlugin {
    /// Scripted skeletons instead of a pose model (`--source script:…`).
    pub script: Option<Script>,
    /// The host starts once this many players are in the room.
    pub min_players: usize,
    /// Round length the host sets before starting (seconds; the server's limits apply).
    pub round_secs: Option<u16>,
    /// The host plays the deck's routine with this index (Pose Rush); it starts once every
    /// player has confirmed the deck.
    pub routine: Option<u16>,
    /// Seconds to wait on the results for the server's verdict before leaving anyway.
    pub results_timeout_s: f64,
}

impl Default for BotPlugin {
    fn default() -> Self {
        Self { script: None, min_players: 1, round_secs: None, routine: None, results_timeout_s: 10.0 }
    }
}

/// What a bot went through, for tests, load runs and the log.
#[derive(Debug, Clone, Default, Resource)]
pub struct BotReport {
    /// The screens shown, in order (a screen shown again is listed again).
    pub screens: Vec<Screen>,
    /// The model loading stages seen, in order, without repeats.
    pub model_stages: Vec<LoadingStage>,
    /// Updates spent on the game screen.
    pub game_updates: u64,
    /// New skeletons (from the model or the script) during the game with a score of at least
    /// [`CONFIDENT_POSE`].
    pub confident_poses: u64,
    /// New skeletons during the game that were missing or less confident.
    pub weak_poses: u64,
    /// The poses this bot hit, in order (Pose Rush).
    pub hits: Vec<PoseId>,
    /// Why the bot gave up, if it did.
    pub failure: Option<String>,
}

impl BotReport {
    /// The screen on show last.
    pub fn screen(&self) -> Option<Screen> {
        self.screens.last().copied()
    }

    /// Whether the screens include `want` in that order (other screens may come between).
    pub fn passed_through(&self, want: &[Screen]) -> bool {
        let mut shown = self.screens.iter();
        want.iter().all(|w| shown.any(|s| s == w))
    }
}

impl fmt::Display for BotReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let screens: Vec<String> = self.screens.iter().map(|s| format!("{s:?}")).collect();
        let stages: Vec<String> = self.model_stages.iter().map(|s| format!("{s:?}")).collect();
        write!(
            f,
            "screens {}; model {}; {} game updates, {} confident / {} weak poses",
            screens.join(" → "),
            if stages.is_empty() { "-".to_string() } else { stages.join(" → ") },
            self.game_updates,
            self.confident_poses,
            self.weak_poses
        )?;
        if let Some(failure) = &self.failure {
            write!(f, "; FAILED: {failure}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Resource)]
struct Bot {
    config: BotPlugin,
    script: Option<Script>,
    started: bool,
    results_since: Option<f64>,
    left_at: Option<f64>,
    frame: u64,
}

impl Plugin for BotPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<BotReport>()
            .insert_resource(Bot {
                config: self.clone(),
                script: self.script,
                started: false,
                results_since: None,
                left_at: None,
                frame: 0,
            })
            .add_systems(
                Update,
                (scripted_model, scripted_pose.run_if(in_state(Screen::Game)))
                    .run_if(is_scripted)
                    .in_set(ClientSet::Pose),
            )
            .add_systems(Update, host_starts.run_if(in_state(Screen::Lobby)).in_set(ClientSet::Net))
            .add_systems(Update, (keep_report, give_up, leave_after_results).chain().in_set(ClientSet::Ui));
    }
}

fn is_scripted(bot: Res<Bot>) -> bool {
    bot.script.is_some()
}

/// A scripted source has no model to load: report it loaded at once.
fn scripted_model(mut model: ResMut<ModelStatus>) {
    if model.stage != LoadingStage::Done {
        *model = ModelStatus {
            stage: LoadingStage::Done,
            progress: 1.0,
            detail: "scripted skeletons".into(),
            ..ModelStatus::default()
        };
    }
}

fn scripted_pose(mut bot: ResMut<Bot>, round: Option<Res<Round>>, mut pose: ResMut<PlayerPose>) {
    bot.frame += 1;
    let target = match bot.script {
        Some(Script::Hit) => round.and_then(|r| match &r.play {
            Play::Rush(rush) => rush.current_target().map(|(_, p, _)| p),
            Play::Quiz { .. } => None,
        }),
        _ => None,
    };
    pose.skeleton = Some(with_noise(&pose_skeleton(target), bot.frame, 0.003));
}

/// The host sets the round length (and routine) and starts once enough players are in the
/// lobby and nothing blocks the start (every player has the deck a routine or quiz needs).
fn host_starts(
    mut bot: ResMut<Bot>,
    session: Res<Session>,
    deck: Res<ActiveDeck>,
    share: Res<DeckShare>,
    mut commands: MessageWriter<NetCommand>,
) {
    let Some(room) = session.room.as_ref() else { return };
    if bot.started || !session.is_host() || room.phase != RoomPhase::Lobby {
        return;
    }
    let present = room.players.iter().filter(|p| p.connected).count();
    if present < bot.config.min_players {
        return;
    }
    let wanted = RoomSettings {
        duration_secs: bot.config.round_secs.unwrap_or(room.settings.duration_secs),
        routine: bot.config.routine,
        ..room.settings.clone()
    };
    if wanted != room.settings {
        commands.write(MeshCommand::UpdateSettings(wanted).into());
        return; // start once the snapshot shows the new settings
    }
    if let Some(why) = start_blocked(&session, &share, &deck) {
        debug!("bot host waits: {why}");
        return;
    }
    info!(players = present, "bot host starts the game");
    bot.started = true;
    commands.write(MeshCommand::StartGame { force: false }.into());
}

/// Notes the screen, the model's stage and the skeletons played with.
fn keep_report(
    screen: Res<State<Screen>>,
    model: Option<Res<ModelStatus>>,
    pose: Option<Res<PlayerPose>>,
    mut feed: MessageReader<GameFeed>,
    mut report: ResMut<BotReport>,
) {
    for ev in feed.read() {
        if let GameFeed::Rush(RushEvent::Hit { pose, .. }) = ev {
            report.hits.push(*pose);
        }
    }
    let screen = *screen.get();
    if report.screen() != Some(screen) {
        info!(?screen, "bot screen");
        report.screens.push(screen);
    }
    if let Some(model) = model
        && report.model_stages.last() != Some(&model.stage)
    {
        report.model_stages.push(model.stage);
    }
    if screen != Screen::Game {
        return;
    }
    report.game_updates += 1;
    if let Some(pose) = pose.filter(|p| p.is_changed()) {
        match &pose.skeleton {
            Some(s) if s.score >= CONFIDENT_POSE => report.confident_poses += 1,
            _ => report.weak_poses += 1,
        }
    }
}

/// Ends the bot with an error when it cannot play: the model or the camera failed, or it
/// lost its room before the results.
fn give_up(
    bot: Res<Bot>,
    mut report: ResMut<BotReport>,
    model: Option<Res<ModelStatus>>,
    camera: Option<Res<CameraStatus>>,
    session: Res<Session>,
    mut exit: MessageWriter<AppExit>,
) {
    if report.failure.is_some() || bot.left_at.is_some() {
        return;
    }
    let failure = if let Some(model) = model.filter(|m| m.stage == LoadingStage::Failed) {
        Some(format!("the pose model did not load: {}", model.detail))
    } else if let Some(error) = camera.and_then(|c| c.error.clone()) {
        Some(format!("no pictures from the frame source: {error}"))
    } else if report.screen() == Some(Screen::Menu) && report.screens.contains(&Screen::Lobby) {
        let why = session.notice.clone().unwrap_or_else(|| "no reason given".into());
        Some(format!("back on the menu before the results ({why})"))
    } else {
        None
    };
    if let Some(failure) = failure {
        error!("bot gives up: {failure}");
        report.failure = Some(failure);
        exit.write(AppExit::error());
    }
}

/// On the results: wait for the server's verdict (or a timeout), leave, then exit.
fn leave_after_results(
    mut bot: ResMut<Bot>,
    report: Res<BotReport>,
    screen: Res<State<Screen>>,
    session: Res<Session>,
    time: Res<Time>,
    mut commands: MessageWriter<NetCommand>,
    mut exit: MessageWriter<AppExit>,
) {
    let now = time.elapsed_secs_f64();
    if report.failure.is_some() {
        return;
    }
    if let Some(left_at) = bot.left_at {
        if now - left_at > 0.5 {
            info!("bot done: {}", *report);
            exit.write(AppExit::Success);
        }
        return;
    }
    if *screen.get() != Screen::Results {
        return;
    }
    let since = *bot.results_since.get_or_insert(now);
    if session.recorded.is_some() || now - since > bot.config.results_timeout_s {
        info!(recorded = ?session.recorded, "bot leaves the room");
        commands.write(MeshCommand::LeaveRoom.into());
        commands.write(MeshCommand::Shutdown.into());
        bot.left_at = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    use crate::app::headless_bot_app;
    use crate::cli::SourceSpec;
    use crate::game::FinalBoard;
    use crate::state::JoinIntent;

    fn test_bot(url: &str, name: &str, script: Script, dir: &std::path::Path) -> App {
        headless_bot_app(
            url,
            name,
            JoinIntent::Quick,
            SourceSpec::Script(script),
            &dir.join(name),
            BotPlugin { min_players: 2, round_secs: Some(10), ..BotPlugin::default() },
        )
    }

    #[test]
    fn report_follows_the_screens_in_order() {
        let report = BotReport {
            screens: vec![Screen::Menu, Screen::Lobby, Screen::Loading, Screen::Game, Screen::Results, Screen::Menu],
            model_stages: vec![LoadingStage::ReadingModel, LoadingStage::Done],
            game_updates: 10,
            confident_poses: 4,
            weak_poses: 1,
            hits: vec![],
            failure: None,
        };
        assert!(report.passed_through(&[Screen::Lobby, Screen::Game, Screen::Results]));
        assert!(!report.passed_through(&[Screen::Game, Screen::Loading]), "order matters");
        assert!(!report.passed_through(&[Screen::History]));
        assert_eq!(report.screen(), Some(Screen::Menu));
        let text = report.to_string();
        assert!(text.contains("Lobby → Loading → Game") && text.contains("4 confident / 1 weak"), "{text}");
        let failed = BotReport { failure: Some("the pose model did not load: x".into()), ..report };
        assert!(failed.to_string().ends_with("FAILED: the pose model did not load: x"));
    }

    /// A picture folder that does not exist: the bot says so and exits with an error instead
    /// of waiting for a model that has nothing to look at.
    #[test]
    fn a_bot_without_pictures_gives_up_with_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-such-folder");
        let source = SourceSpec::Pictures(vision::SourceConfig::Folder { path: missing, fps: 5.0 });
        // Nothing listens on port 9: the network is down too, which must not hide the cause.
        let mut app = headless_bot_app("ws://127.0.0.1:9/ws", "lost", JoinIntent::Create, source, dir.path(), BotPlugin::default());
        let deadline = Instant::now() + Duration::from_secs(30);
        while app.should_exit().is_none() {
            app.update();
            std::thread::sleep(Duration::from_millis(10));
            assert!(Instant::now() < deadline, "the bot did not give up: {}", app.world().resource::<BotReport>());
        }
        assert!(matches!(app.should_exit(), Some(AppExit::Error(_))));
        let report = app.world().resource::<BotReport>();
        let failure = report.failure.as_deref().unwrap_or_default();
        assert!(failure.starts_with("no pictures from the frame source") && failure.contains("no-such-folder"), "{report}");
    }

    #[test]
    fn scripts_parse() {
        assert_eq!("hit".parse(), Ok(Script::Hit));
        assert_eq!(" MISS ".parse(), Ok(Script::Miss));
        let e = "dance".parse::<Script>().unwrap_err();
        assert!(e.contains("script:hit"), "{e}");
    }

    /// Two bots meet on a real server (quick match), play a 10 s Pose Rush round — one shows
    /// every target, one stands still — agree on the scoreboard, and leave.
    #[test]
    fn two_bots_play_a_round_and_agree() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let server = rt.block_on(server::spawn(server::Config::ephemeral())).unwrap();
        let url = server.ws_url();
        let dir = std::env::temp_dir().join(format!("poseparty-bot-test-{}", std::process::id()));
        let mut apps = [test_bot(&url, "hitter", Script::Hit, &dir), test_bot(&url, "idler", Script::Miss, &dir)];
        let deadline = Instant::now() + Duration::from_secs(90);
        let mut done = [false, false];
        while done != [true, true] {
            for (app, done) in apps.iter_mut().zip(done.iter_mut()) {
                if !*done {
                    app.update();
                    *done = app.should_exit().is_some();
                }
            }
            std::thread::sleep(Duration::from_millis(15));
            assert!(Instant::now() < deadline, "the bots did not finish a round in time");
        }
        let reports: Vec<_> = apps.iter().map(|a| a.world().resource::<FinalBoard>().report.clone()).collect();
        let report = reports[0].clone().expect("the hitter has a final scoreboard");
        assert_eq!(reports[1].as_ref(), Some(&report), "the two bots disagree on the scoreboard");
        let line = |name: &str| report.scores.iter().find(|l| l.name == name).cloned().unwrap();
        assert!(line("hitter").hits > 0 && line("hitter").points > 0, "{report:?}");
        assert_eq!(line("idler").hits, 0, "{report:?}");
        for app in &apps {
            assert_eq!(
                app.world().resource::<Session>().recorded.map(|(_, agreed)| agreed),
                Some(true),
                "the server did not record an agreed match"
            );
        }
        drop(apps);
        rt.block_on(server.shutdown());
        let _ = std::fs::remove_dir_all(dir);
    }
}
