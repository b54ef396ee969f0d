//! The state the client's plugins share, and the order their systems run in.
//!
//! This module imports nothing from the rest of the crate: every plugin depends on it, it
//! depends on no plugin. It holds
//! - [`Screen`], the screens as Bevy states;
//! - the values one plugin produces and others read each frame: [`LatestFrame`] (camera →
//!   pose, UI), [`CameraPicture`] (camera → UI), [`ModelStatus`] (pose → flow, loading screen,
//!   bots), [`PlayerPose`] (pose or a script → game, UI), and for couch play [`SeenPeople`]
//!   (pose → couch, loading screen) and [`SeatPoses`] (couch → game, UI);
//! - the player's choices that several plugins take as settings: [`ModelChoice`],
//!   [`InferencePlacement`], [`JoinIntent`];
//! - [`ClientSet`], one system set per stage of a frame, ordered once by [`StatePlugin`]:
//!   input → pose → game → net → ui. A plugin places its `Update` systems in the stage they
//!   belong to; so the game scores the pose produced in the same update, and what the game
//!   decided is sent in that update.

use std::time::{Duration, Instant};

use bevy::prelude::*;
use shared::pose::Skeleton;
use shared::protocol::signal::LoadingStage;
use vision::Frame;

/// The screen on show (also the values of `--screen`).
#[derive(States, Debug, Clone, Copy, PartialEq, Eq, Hash, Default, clap::ValueEnum)]
pub enum Screen {
    #[default]
    Menu,
    Lobby,
    Loading,
    Game,
    Results,
    History,
    /// The camera latency test (`crate::flash`).
    LatencyTest,
}

/// The stages of a frame, run in this order in `Update`.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientSet {
    /// What came in: the newest camera frame, the server's and peers' messages, the player's
    /// clicks and the screen moves they cause, finished imports.
    Input,
    /// The player's skeleton from this frame (pose model, or a scripted source).
    Pose,
    /// The round: rules applied to this frame's skeleton, scores, the round's end.
    Game,
    /// What goes out to the server and the peers (written as commands; the net plugin sends
    /// them in `PostUpdate`).
    Net,
    /// What the player sees and hears of it: picture upload, sounds, reports.
    Ui,
}

/// Puts the shared state in the app and orders the [`ClientSet`]s. Every client app has it;
/// the app builder adds it first.
pub struct StatePlugin;

impl Plugin for StatePlugin {
    fn build(&self, app: &mut App) {
        app.init_state::<Screen>()
            .init_resource::<LatestFrame>()
            .init_resource::<CameraPicture>()
            .init_resource::<ModelStatus>()
            .init_resource::<PlayerPose>()
            .init_resource::<SeenPeople>()
            .init_resource::<SeatPoses>()
            .init_resource::<PeopleWanted>()
            .configure_sets(
                Update,
                (ClientSet::Input, ClientSet::Pose, ClientSet::Game, ClientSet::Net, ClientSet::Ui).chain(),
            );
    }
}

/// The newest camera frame. `fresh` is true in the update where it arrived.
#[derive(Debug, Clone, Default, Resource)]
pub struct LatestFrame {
    pub frame: Option<Frame>,
    pub fresh: bool,
}

/// The camera picture to show behind the player's skeleton: a Bevy image kept up to date by
/// the camera plugin (`None`: no picture yet).
#[derive(Debug, Clone, Default, Resource)]
pub struct CameraPicture {
    pub image: Option<Handle<Image>>,
    /// Picture size in pixels (for the aspect ratio).
    pub size: UVec2,
}

/// The local pose model: its loading as the loading screen shows it and the server is told,
/// then how it went. Set by the pose plugin (or a bot's script).
#[derive(Debug, Clone, Resource)]
pub struct ModelStatus {
    pub stage: LoadingStage,
    /// Progress of `stage`, 0–1.
    pub progress: f32,
    /// A line for the player ("lite model", or what went wrong and what to do).
    pub detail: String,
    /// When loading started (`None`: nothing is loaded, e.g. a scripted source).
    pub started: Option<Instant>,
    /// Start of loading → the first skeleton.
    pub first_skeleton_after: Option<Duration>,
}

impl ModelStatus {
    /// The model is loaded and running.
    pub fn is_ready(&self) -> bool {
        self.stage == LoadingStage::Done
    }

    /// What went wrong, if loading failed.
    pub fn error(&self) -> Option<&str> {
        (self.stage == LoadingStage::Failed).then_some(self.detail.as_str())
    }
}

impl Default for ModelStatus {
    fn default() -> Self {
        Self { stage: LoadingStage::Idle, progress: 0.0, detail: String::new(), started: None, first_skeleton_after: None }
    }
}

/// The player's newest skeleton (`None`: nobody in the picture). Set in [`ClientSet::Pose`]
/// by the pose plugin, or by a scripted source.
#[derive(Debug, Clone, Default, Resource)]
pub struct PlayerPose {
    pub skeleton: Option<Skeleton>,
    /// The camera frame the skeleton was found in (`None` for scripted skeletons).
    pub frame_seq: Option<u64>,
    /// When that frame was captured (the camera's timestamp where the driver gives one).
    pub captured: Option<Instant>,
    /// When the model finished with it (the skeleton existed from then on).
    pub inferred_at: Option<Instant>,
}

/// Everyone the model tracks in front of the camera, when it tracks several people (couch
/// play): set in [`ClientSet::Pose`] with every inference; `people` is empty otherwise.
#[derive(Debug, Clone, Default, Resource)]
pub struct SeenPeople {
    pub people: Vec<vision::people::TrackedPerson>,
    /// The frame they were found in, and its size in pixels.
    pub frame_seq: Option<u64>,
    pub frame_size: (u32, u32),
}

/// How many people the pose model should track (1–4): the couch's seats. Set by the couch
/// plugin, followed by the pose plugin (which changes its pipeline's options between frames).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Resource)]
pub struct PeopleWanted(pub usize);

impl Default for PeopleWanted {
    fn default() -> Self {
        PeopleWanted(1)
    }
}

/// The skeletons of this device's local seats 1, 2, 3 (index 0 is seat 1; `None`: nobody
/// in that seat's spot). Seat 0, the device's own player, is [`PlayerPose`].
#[derive(Debug, Clone, Default, Resource)]
pub struct SeatPoses(pub Vec<Option<Skeleton>>);

/// Pose landmark model size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
pub enum ModelChoice {
    /// Faster, a little less precise (default).
    #[default]
    Lite,
    /// Slower, more precise.
    Full,
}

impl From<ModelChoice> for vision::LandmarkModel {
    fn from(choice: ModelChoice) -> Self {
        match choice {
            ModelChoice::Lite => vision::LandmarkModel::Lite,
            ModelChoice::Full => vision::LandmarkModel::Full,
        }
    }
}

/// Where pose inference runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum InferencePlacement {
    /// In the app's frame schedule, on the newest frame.
    #[default]
    Frame,
    /// On a background task; the frame loop takes the latest result.
    Pool,
}

/// What the player asked to do right after start.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum JoinIntent {
    #[default]
    None,
    Create,
    Code(String),
    Quick,
}
