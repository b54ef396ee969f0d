//! Settings the player changes in the menu, kept between runs in a JSON file in the user's
//! config directory (`~/.config/poseparty/settings.json` on Linux). A missing file gives the
//! defaults; a corrupt one gives the defaults and a warning, never a crash.

use std::path::{Path, PathBuf};

use bevy::prelude::*;
use serde::{Deserialize, Serialize};
use shared::protocol::signal::{MAX_LOCAL_SEATS, MAX_NAME_CHARS};

use crate::state::ModelChoice;

/// Default server address.
pub const DEFAULT_SERVER: &str = "ws://127.0.0.1:7878/ws";

/// File name inside the config directory.
pub const SETTINGS_FILE: &str = "settings.json";

/// What the player set in the menu.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Resource)]
#[serde(default)]
pub struct Settings {
    pub name: String,
    pub server: String,
    /// Camera choice as typed in the menu (`webcam`, `webcam:1`, `frames:DIR`, …; parsed by
    /// `vision::SourceConfig`).
    pub camera: String,
    pub model: ModelChoice,
    /// Master volume, 0–1.
    pub volume: f32,
    /// Show the camera picture mirrored (like a selfie).
    pub mirror: bool,
    /// Couch play: the other people in front of this camera, by name (at most three).
    #[serde(default)]
    pub couch: Vec<String>,
    /// The microphone by name (from the menu's list of those found); `None`: the default.
    #[serde(default)]
    pub microphone: Option<String>,
    /// The speaker or headphones by name; `None`: the default.
    #[serde(default)]
    pub speaker: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            name: String::new(),
            server: DEFAULT_SERVER.to_string(),
            camera: "webcam".to_string(),
            model: ModelChoice::Lite,
            volume: 0.7,
            mirror: true,
            couch: Vec::new(),
            microphone: None,
            speaker: None,
        }
    }
}

/// Why settings could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("no config directory could be found for this user — pass --config-dir")]
    NoConfigDir,
    #[error("could not read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} is not a valid settings file ({source}) — fix or delete it")]
    Parse { path: PathBuf, source: serde_json::Error },
    #[error("could not save settings to {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

impl Settings {
    /// Clamps values a hand-edited file may have out of range.
    /// The microphone picked (`None`: the system default; an empty name counts as none).
    pub fn microphone_device(&self) -> Option<String> {
        self.microphone.clone().filter(|n| !n.is_empty())
    }

    /// The speaker picked (`None`: the system default).
    pub fn speaker_device(&self) -> Option<String> {
        self.speaker.clone().filter(|n| !n.is_empty())
    }

    pub fn sanitized(mut self) -> Self {
        self.volume = if self.volume.is_finite() { self.volume.clamp(0.0, 1.0) } else { 0.7 };
        self.name = self.name.trim().chars().take(MAX_NAME_CHARS).collect();
        if self.server.trim().is_empty() {
            self.server = DEFAULT_SERVER.to_string();
        }
        self.couch = couch_names(self.couch.iter().map(String::as_str));
        self
    }

    /// Reads the settings file; `Ok(None)` when there is none yet.
    pub fn read(path: &Path) -> Result<Option<Settings>, SettingsError> {
        let text = match std::fs::read(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(SettingsError::Read { path: path.to_path_buf(), source }),
        };
        serde_json::from_slice::<Settings>(&text)
            .map(|s| Some(s.sanitized()))
            .map_err(|source| SettingsError::Parse { path: path.to_path_buf(), source })
    }

    /// Loads the settings, falling back to the defaults (with a warning) on any problem.
    pub fn load_or_default(path: Option<&Path>) -> Settings {
        let Some(path) = path else {
            warn!("{}; using default settings", SettingsError::NoConfigDir);
            return Settings::default();
        };
        match Settings::read(path) {
            Ok(Some(s)) => s,
            Ok(None) => Settings::default(),
            Err(e) => {
                warn!("{e}; using default settings");
                Settings::default()
            }
        }
    }

    /// Writes the settings (atomically: a temporary file renamed over the old one).
    pub fn save(&self, path: &Path) -> Result<(), SettingsError> {
        let write_err = |source| SettingsError::Write { path: path.to_path_buf(), source };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(write_err)?;
        }
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| write_err(std::io::Error::other(e)))?;
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, text).map_err(write_err)?;
        std::fs::rename(&tmp, path).map_err(write_err)
    }
}

/// Couch names as a player types them: trimmed, empty ones dropped, each at most
/// [`MAX_NAME_CHARS`] characters, at most [`MAX_LOCAL_SEATS`] of them.
pub fn couch_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    names
        .into_iter()
        .map(|n| n.trim().chars().take(MAX_NAME_CHARS).collect::<String>())
        .filter(|n| !n.is_empty())
        .take(MAX_LOCAL_SEATS)
        .collect()
}

/// Where the settings file is: in `config_dir` (`--config-dir`), else in the user's config
/// directory.
pub fn settings_path(config_dir: Option<&Path>) -> Option<PathBuf> {
    match config_dir {
        Some(dir) => Some(dir.join(SETTINGS_FILE)),
        None => directories::ProjectDirs::from("org", "PoseParty", "poseparty")
            .map(|d| d.config_dir().join(SETTINGS_FILE)),
    }
}

/// The settings file's path for this run (`None`: nowhere to save).
#[derive(Debug, Clone, Resource)]
pub struct SettingsPath(pub Option<PathBuf>);

/// Asks the settings plugin to write the current [`Settings`] to disk.
#[derive(Debug, Clone, Copy, Message)]
pub struct SaveSettings;

/// Loads the settings file (the flags' values override it for this run) and saves the
/// settings on [`SaveSettings`].
#[derive(Debug, Clone, Default)]
pub struct SettingsPlugin {
    /// The settings file (`None`: nowhere to read or save; the defaults are used).
    pub path: Option<PathBuf>,
    /// Overrides for this run (`--name`, `--server`, `--model`).
    pub name: Option<String>,
    pub server: Option<String>,
    pub model: Option<ModelChoice>,
    /// `--couch`: replaces the saved couch names for this run when given.
    pub couch: Option<Vec<String>>,
}

impl Plugin for SettingsPlugin {
    fn build(&self, app: &mut App) {
        let mut settings = Settings::load_or_default(self.path.as_deref());
        if let Some(name) = &self.name {
            settings.name = name.clone();
        }
        if let Some(server) = &self.server {
            settings.server = server.clone();
        }
        if let Some(model) = self.model {
            settings.model = model;
        }
        if let Some(couch) = &self.couch {
            settings.couch = couch.clone();
        }
        app.insert_resource(settings.sanitized())
            .insert_resource(SettingsPath(self.path.clone()))
            .add_message::<SaveSettings>()
            .add_systems(Last, save_settings.run_if(on_message::<SaveSettings>));
    }
}

fn save_settings(
    mut requests: MessageReader<SaveSettings>,
    settings: Res<Settings>,
    path: Res<SettingsPath>,
) {
    requests.clear();
    let Some(path) = &path.0 else {
        warn!("{}; settings are not saved", SettingsError::NoConfigDir);
        return;
    };
    match settings.save(path) {
        Ok(()) => info!("settings saved to {}", path.display()),
        Err(e) => warn!("{e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("poseparty-settings-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn settings_round_trip_through_the_file() {
        let dir = temp_dir("roundtrip");
        let path = dir.join(SETTINGS_FILE);
        assert_eq!(Settings::read(&path).expect("missing file is fine"), None);
        let s = Settings { name: "민수".into(), volume: 0.3, model: ModelChoice::Full, ..Settings::default() };
        s.save(&path).expect("save");
        assert_eq!(Settings::read(&path).expect("read"), Some(s));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn corrupt_or_odd_files_give_defaults_not_crashes() {
        let dir = temp_dir("corrupt");
        std::fs::create_dir_all(&dir).expect("mkdir");
        let path = dir.join(SETTINGS_FILE);
        std::fs::write(&path, b"{ not json \xff").expect("write");
        assert!(matches!(Settings::read(&path), Err(SettingsError::Parse { .. })));
        assert_eq!(Settings::load_or_default(Some(&path)), Settings::default());
        // Unknown fields are ignored, missing ones defaulted, out-of-range ones clamped.
        std::fs::write(&path, r#"{"volume": 7.5, "extra": 1, "name": "  지은  "}"#).expect("write");
        let s = Settings::read(&path).expect("read").expect("some");
        assert_eq!((s.volume, s.name.as_str(), s.server.as_str()), (1.0, "지은", DEFAULT_SERVER));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
