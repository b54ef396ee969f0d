//! The app builder used by the binary, tests, benchmarks and bots: the one place where the
//! command line ([`ClientConfig`]) becomes plugins and their fields.

use std::path::{Path, PathBuf};

use bevy::prelude::*;
use bevy::state::app::StatesPlugin;

use crate::audio::GameAudioPlugin;
use crate::voice::{MicSource, SpeakerSink, VoicePlugin};
use crate::bot::BotPlugin;
use crate::call::CallPlugin;
use crate::camera::CameraPlugin;
use crate::cli::{ClientConfig, SourceSpec};
use crate::couch::CouchPlugin;
use crate::deck::DeckPlugin;
use crate::demo::DemoPlugin;
use crate::flow::FlowPlugin;
use crate::game::GamePlugin;
use crate::net::NetPlugin;
use crate::pose::PosePlugin;
use crate::screenshot::ScreenshotPlugin;
use crate::session::SessionPlugin;
use crate::settings::{SettingsPlugin, settings_path};
use crate::flash::FlashTestPlugin;
use crate::state::{JoinIntent, Screen, StatePlugin};
use crate::ui::UiPlugin;

/// With or without a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppMode {
    /// A window, egui screens and sound.
    Windowed,
    /// No window, no egui, no audio output: the same game plugins for bots, tests and
    /// benchmarks.
    Headless,
}

/// Which plugins talking to the outside world are added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Io {
    /// `NetPlugin`: the server websocket and the WebRTC mesh.
    pub network: bool,
    /// `CameraPlugin` + `PosePlugin`: frames and the pose model.
    pub vision: bool,
}

impl Io {
    /// Everything real.
    pub const ALL: Io = Io { network: true, vision: true };
    /// Nothing: the caller plays the network (writes `NetEvent`s, reads `NetCommand`s) and
    /// the pose source (writes `PlayerPose` and `ModelStatus`), as the flow test does.
    pub const NONE: Io = Io { network: false, vision: false };

    /// What a configuration calls for: demo screens (`--screen`) have no network, and run
    /// the pose model only on a picture folder (so the game screen shows a real skeleton); a
    /// scripted source (`script:`) has no pictures and no model.
    pub fn for_config(config: &ClientConfig) -> Io {
        let pictures = match &config.source {
            Some(SourceSpec::Script(_)) => false,
            Some(SourceSpec::Pictures(vision::SourceConfig::Folder { .. })) => true,
            _ => config.screen.is_none(),
        };
        Io { network: config.screen.is_none(), vision: pictures }
    }
}

/// Builds the client app with [`Io::for_config`]. The caller runs it (`app.run()`) or steps
/// it (`app.update()`).
pub fn build_app(config: ClientConfig, mode: AppMode) -> App {
    let io = Io::for_config(&config);
    build_app_with(config, mode, io)
}

/// Builds the client app with the chosen outside-world plugins: every flag becomes a field
/// of the plugin it concerns, here and nowhere else.
pub fn build_app_with(config: ClientConfig, mode: AppMode, io: Io) -> App {
    let mut app = App::new();
    match mode {
        AppMode::Windowed => {
            app.add_plugins(
                DefaultPlugins
                    .set(WindowPlugin {
                        primary_window: Some(Window {
                            title: "PoseParty 포즈파티".into(),
                            resolution: (1280u32, 720u32).into(),
                            ..default()
                        }),
                        ..default()
                    })
                    .set(bevy::log::LogPlugin { filter: crate::LOG_FILTER.to_string(), ..default() }),
            )
            .add_plugins(bevy_egui::EguiPlugin::default())
            .insert_resource(ClearColor(Color::srgb(0.07, 0.07, 0.09)))
            .add_systems(Startup, spawn_camera);
        }
        AppMode::Headless => {
            // `app.run()` paces updates like a 60 Hz display instead of spinning a core (tests
            // that step with `app.update()` are unaffected).
            let pace = bevy::app::ScheduleRunnerPlugin::run_loop(std::time::Duration::from_secs_f64(1.0 / 60.0));
            app.add_plugins((MinimalPlugins.set(pace), StatesPlugin));
        }
    }
    // Demo screens (`--screen`) play no network: they ignore the join intent.
    let join = if config.screen.is_some() { JoinIntent::None } else { config.join.clone() };
    let (pictures, script) = match config.source.clone() {
        Some(SourceSpec::Pictures(source)) => (Some(source), None),
        Some(SourceSpec::Script(script)) => (None, Some(script)),
        None => (None, None),
    };
    app.add_plugins(StatePlugin)
        .add_plugins((
            SettingsPlugin {
                path: settings_path(config.config_dir.as_deref()),
                name: config.name.clone(),
                server: config.server.clone(),
                model: config.model,
                couch: (!config.couch.is_empty()).then(|| config.couch.clone()),
            },
            SessionPlugin,
            DeckPlugin { file: config.deck.clone(), password: config.deck_password.clone() },
            FlowPlugin { start: if config.latency_test { Some(Screen::LatencyTest) } else { config.screen }, join },
            GamePlugin,
            FlashTestPlugin,
        ));
    // The sound engine: the speaker (a clock headless), and the microphone with the voice.
    let windowed = mode == AppMode::Windowed;
    if (windowed && !config.mute) || config.voice {
        let (mic, speaker) = {
            let settings = app.world().get_resource::<crate::settings::Settings>();
            (
                match config.mic_tone {
                    Some(hz) => MicSource::Tone(hz),
                    None => MicSource::Device(settings.and_then(crate::settings::Settings::microphone_device)),
                },
                if windowed {
                    SpeakerSink::Device(settings.and_then(crate::settings::Settings::speaker_device))
                } else {
                    SpeakerSink::Clock
                },
            )
        };
        app.add_plugins(VoicePlugin { speaker, mic, voice: config.voice });
    }
    if windowed {
        app.add_plugins(UiPlugin);
        if !config.mute {
            app.add_plugins(GameAudioPlugin);
        }
        if let Some(path) = config.screenshot.clone() {
            app.add_plugins(ScreenshotPlugin { path, after_frames: config.screenshot_frames });
        }
    }
    if io.network {
        app.add_plugins(NetPlugin { local: config.local });
        app.insert_resource(crate::net::NetOptions {
            ice_relay_only: config.ice_relay_only,
            ca_cert: config.ca_cert.clone(),
            video: config.video,
            voice: config.voice,
        });
    }
    if config.video {
        app.add_plugins(CallPlugin { watch_frame_time: mode == AppMode::Windowed });
    }
    if config.video || config.voice {
        app.add_plugins(crate::media_state::MediaStatePlugin);
    }
    if io.vision {
        app.add_plugins((
            CameraPlugin { source: pictures },
            PosePlugin { model: config.model, placement: config.inference },
        ));
    }
    if io.vision {
        app.add_plugins(CouchPlugin { names: config.couch.clone() });
    }
    if let Some(screen) = config.screen {
        app.add_plugins(DemoPlugin { screen, deck: config.deck.clone(), script_player: !io.vision });
    }
    if config.bot {
        app.add_plugins(BotPlugin {
            script,
            min_players: config.bot_players.max(1),
            round_secs: config.round_secs,
            routine: config.bot_routine,
            ..BotPlugin::default()
        });
    }
    app
}

/// A headless bot app, as `client --headless --bot` builds it (the same plugins: network,
/// camera and pose model, unless `source` is a script), going to a room on `server` as `name`
/// (`join`: create, a code, or quick match) with frames from `source`; settings are kept in
/// `config_dir`. `bot` sets the bot's own fields (its script comes from `source`). Step it
/// with `app.update()` until `app.should_exit()` (tests, load runs); its
/// [`crate::bot::BotReport`] says what it went through.
pub fn headless_bot_app(
    server: &str,
    name: &str,
    join: JoinIntent,
    source: SourceSpec,
    config_dir: &Path,
    bot: BotPlugin,
) -> App {
    headless_couch_bot_app(server, name, join, source, config_dir, bot, &[])
}

/// [`headless_bot_app`] with local seats: `couch` names the other people in front of the
/// bot's camera (`--couch`), each seated and scored on their own.
pub fn headless_couch_bot_app(
    server: &str,
    name: &str,
    join: JoinIntent,
    source: SourceSpec,
    config_dir: &Path,
    bot: BotPlugin,
    couch: &[&str],
) -> App {
    let config = ClientConfig {
        couch: couch.iter().map(|n| (*n).to_owned()).collect(),
        ..bot_config(server, name, join, source, config_dir)
    };
    bot_app(config, bot)
}

/// The config of a headless bot (as `client --headless --bot` makes it), for callers that
/// change a field before [`bot_app`] builds it — e.g. the call: `video`, `voice` and a
/// synthetic microphone (`mic_tone`).
pub fn bot_config(server: &str, name: &str, join: JoinIntent, source: SourceSpec, config_dir: &Path) -> ClientConfig {
    ClientConfig {
        name: Some(name.into()),
        server: Some(server.into()),
        headless: true,
        join,
        source: Some(source),
        config_dir: Some(PathBuf::from(config_dir)),
        mute: true,
        ..Default::default()
    }
}

/// Builds a headless bot app from a [`bot_config`].
pub fn bot_app(config: ClientConfig, bot: BotPlugin) -> App {
    let script = match &config.source {
        Some(SourceSpec::Script(script)) => Some(*script),
        _ => None,
    };
    let io = Io::for_config(&config);
    let mut app = build_app_with(config, AppMode::Headless, io);
    app.add_plugins(BotPlugin { script, ..bot });
    app
}

fn spawn_camera(mut commands: Commands) {
    commands.spawn(Camera2d);
}
