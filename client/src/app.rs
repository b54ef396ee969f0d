//! The app builder used by the binary, tests, benchmarks and bots.

use bevy::prelude::*;
use bevy::state::app::StatesPlugin;

use crate::audio::GameAudioPlugin;
use crate::bot::BotPlugin;
use crate::camera::CameraPlugin;
use crate::cli::{ClientConfig, SourceSpec};
use crate::deck::DeckPlugin;
use crate::demo::DemoPlugin;
use crate::flow::FlowPlugin;
use crate::game::GamePlugin;
use crate::net::NetPlugin;
use crate::pose::PosePlugin;
use crate::screenshot::ScreenshotPlugin;
use crate::session::SessionPlugin;
use crate::settings::SettingsPlugin;
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
    /// the pose model only on a picture folder (so the game screen shows a real skeleton).
    pub fn for_config(config: &ClientConfig) -> Io {
        match (&config.screen, &config.source) {
            (None, _) => Io::ALL,
            (Some(_), Some(SourceSpec::Frames { .. })) => Io { network: false, vision: true },
            (Some(_), _) => Io::NONE,
        }
    }
}

/// Builds the client app with [`Io::for_config`], and the bot with `--bot`. The caller runs
/// it (`app.run()`) or steps it (`app.update()`).
pub fn build_app(config: ClientConfig, mode: AppMode) -> App {
    let io = Io::for_config(&config);
    let bot = config.bot.then(|| BotPlugin::from_config(&config));
    let mut app = build_app_with(config, mode, io);
    if let Some(bot) = bot {
        app.add_plugins(bot);
    }
    app
}

/// Builds the client app with the chosen outside-world plugins.
pub fn build_app_with(config: ClientConfig, mode: AppMode, io: Io) -> App {
    let mut app = App::new();
    match mode {
        AppMode::Windowed => {
            app.add_plugins(DefaultPlugins.set(WindowPlugin {
                primary_window: Some(Window {
                    title: "PoseParty 포즈파티".into(),
                    resolution: (1280u32, 720u32).into(),
                    ..default()
                }),
                ..default()
            }))
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
    let screenshot = config.screenshot.clone().map(|path| ScreenshotPlugin {
        path,
        after_frames: config.screenshot_frames,
    });
    let demo = config.screen.is_some();
    let mute = config.mute;
    app.insert_resource(config)
        .add_plugins((SettingsPlugin, SessionPlugin, DeckPlugin, FlowPlugin, GamePlugin));
    if mode == AppMode::Windowed {
        app.add_plugins(UiPlugin);
        if !mute {
            app.add_plugins(GameAudioPlugin);
        }
        if let Some(plugin) = screenshot {
            app.add_plugins(plugin);
        }
    }
    if io.network {
        app.add_plugins(NetPlugin);
    }
    if io.vision {
        app.add_plugins((CameraPlugin, PosePlugin));
    }
    if demo {
        app.add_plugins(DemoPlugin { script_player: !io.vision });
    }
    app
}

fn spawn_camera(mut commands: Commands) {
    commands.spawn(Camera2d);
}
