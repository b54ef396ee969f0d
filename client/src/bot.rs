//! Headless bot mode (`--headless --bot`): joins or creates a room (through the usual
//! `--create` / `--room` / `--quick` flags and the screen flow), readies up once its model is
//! loaded, plays one round and leaves.
//!
//! The host bot sets the round length and starts the game once `min_players` are in the room.
//! With a `script:SPEC` source no model is loaded; the bot feeds the player's skeleton itself
//! from the pose library, with a little noise, so a test can make a bot hit or miss on
//! purpose:
//! - `script:hit` — shows the current target pose (every target is hit);
//! - `script:miss` — stands still in a neutral pose (every target is missed).

use std::str::FromStr;

use bevy::app::AppExit;
use bevy::prelude::*;
use shared::protocol::signal::{LoadingStage, RoomPhase, RoomSettings};
use shared::rules::fixtures::{pose_skeleton, with_noise};

use crate::cli::{ClientConfig, SourceSpec};
use crate::flow::Screen;
use crate::game::{ModelStatus, Play, PlayerPose, Round};
use crate::session::{MeshCommand, NetCommand, Session};

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

/// Plays one round automatically; add it only with `--bot`.
#[derive(Debug, Clone)]
pub struct BotPlugin {
    /// The host starts once this many players are in the room.
    pub min_players: usize,
    /// Round length the host sets before starting (seconds; the server's limits apply).
    pub round_secs: Option<u16>,
    /// Seconds to wait on the results for the server's verdict before leaving anyway.
    pub results_timeout_s: f64,
}

impl Default for BotPlugin {
    fn default() -> Self {
        Self { min_players: 2, round_secs: None, results_timeout_s: 10.0 }
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
        let source = app.world().get_resource::<ClientConfig>().and_then(|c| c.source.clone());
        let script = match &source {
            Some(SourceSpec::Script(spec)) => match spec.parse::<Script>() {
                Ok(script) => Some(script),
                Err(e) => {
                    error!("{e}");
                    app.world_mut().write_message(AppExit::error());
                    None
                }
            },
            _ => None,
        };
        app.insert_resource(Bot {
            config: self.clone(),
            script,
            started: false,
            results_since: None,
            left_at: None,
            frame: 0,
        })
        .add_systems(
            Update,
            (
                scripted_model.run_if(is_scripted),
                scripted_pose.run_if(is_scripted.and_then(in_state(Screen::Game))),
                host_starts.run_if(in_state(Screen::Lobby)),
                leave_after_results,
            ),
        );
    }
}

fn is_scripted(bot: Res<Bot>) -> bool {
    bot.script.is_some()
}

/// A scripted source has no model to load: report it loaded at once.
fn scripted_model(mut model: ResMut<ModelStatus>) {
    if model.stage != LoadingStage::Done {
        *model = ModelStatus { stage: LoadingStage::Done, progress: 1.0, detail: "scripted skeletons".into() };
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

/// The host sets the round length and starts once enough players are in the lobby.
fn host_starts(mut bot: ResMut<Bot>, session: Res<Session>, mut commands: MessageWriter<NetCommand>) {
    let Some(room) = session.room.as_ref() else { return };
    if bot.started || !session.is_host() || room.phase != RoomPhase::Lobby {
        return;
    }
    let present = room.players.iter().filter(|p| p.connected).count();
    if present < bot.config.min_players {
        return;
    }
    if let Some(secs) = bot.config.round_secs {
        if room.settings.duration_secs != secs {
            commands.write(MeshCommand::UpdateSettings(RoomSettings { duration_secs: secs, ..room.settings.clone() }).into());
            return; // start once the snapshot shows the new length
        }
    }
    info!(players = present, "bot host starts the game");
    bot.started = true;
    commands.write(MeshCommand::StartGame { force: false }.into());
}

/// On the results: wait for the server's verdict (or a timeout), leave, then exit.
fn leave_after_results(
    mut bot: ResMut<Bot>,
    screen: Res<State<Screen>>,
    session: Res<Session>,
    time: Res<Time>,
    mut commands: MessageWriter<NetCommand>,
    mut exit: MessageWriter<AppExit>,
) {
    let now = time.elapsed_secs_f64();
    if let Some(left_at) = bot.left_at {
        if now - left_at > 0.5 {
            info!("bot done");
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

/// A headless app with the game plugins, the network and a bot that quick-matches on
/// `server` as `name` with frames from `source`; settings are kept in `config_dir`. Step it
/// with `app.update()` until `app.should_exit()` (tests, load runs).
pub fn headless_bot_app(
    server: &str,
    name: &str,
    source: SourceSpec,
    config_dir: &std::path::Path,
    bot: BotPlugin,
) -> App {
    use crate::cli::JoinIntent;
    let config = ClientConfig {
        name: Some(name.into()),
        server: Some(server.into()),
        headless: true,
        bot: true,
        join: JoinIntent::Quick,
        source: Some(source),
        config_dir: Some(config_dir.to_path_buf()),
        mute: true,
        ..Default::default()
    };
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, bevy::state::app::StatesPlugin))
        .insert_resource(config)
        .add_plugins((
            crate::settings::SettingsPlugin,
            crate::session::SessionPlugin,
            crate::deck::DeckPlugin,
            crate::flow::FlowPlugin,
            crate::game::GamePlugin,
            crate::net::NetPlugin,
        ))
        .add_plugins(bot);
    app
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    use crate::game::FinalBoard;

    fn test_bot(url: &str, name: &str, script: &str, dir: &std::path::Path) -> App {
        headless_bot_app(
            url,
            name,
            SourceSpec::Script(script.into()),
            &dir.join(name),
            BotPlugin { min_players: 2, round_secs: Some(10), results_timeout_s: 10.0 },
        )
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
        let mut apps = [test_bot(&url, "hitter", "hit", &dir), test_bot(&url, "idler", "miss", &dir)];
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
