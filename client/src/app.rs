//! The app builder used by the binary, tests, benchmarks and bots.

use bevy::prelude::*;
use bevy::state::app::StatesPlugin;

use crate::audio::GameAudioPlugin;
use crate::cli::ClientConfig;
use crate::deck::DeckPlugin;
use crate::demo::DemoPlugin;
use crate::flow::FlowPlugin;
use crate::game::GamePlugin;
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

/// Builds the client app. The caller runs it (`app.run()`) or steps it (`app.update()`).
pub fn build_app(config: ClientConfig, mode: AppMode) -> App {
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
            app.add_plugins((MinimalPlugins, StatesPlugin));
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
    if demo {
        app.add_plugins(DemoPlugin);
    }
    app
}

fn spawn_camera(mut commands: Commands) {
    commands.spawn(Camera2d);
}
