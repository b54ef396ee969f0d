//! Pose plugin: loads the BlazePose pipeline in stages off the frame loop, then runs it on
//! the newest camera frame and writes the player's skeleton into [`PlayerPose`].
//!
//! - Loading: a [`vision::LoadHandle`] thread reads the model files, builds the sessions and
//!   warms up; its progress goes to [`ModelStatus`] (the loading screen, the server). The
//!   ready pipeline is then moved into this plugin's runner.
//! - Inference placement ([`PosePlacement`], from `--inference`): `Frame` runs the pipeline
//!   inside an `Update` system (in `ClientSet::Pose`, so the game scores the skeleton in the
//!   same update), on the frame that arrived this update; `Pool` moves the pipeline into a
//!   task on Bevy's `AsyncComputeTaskPool`, and the frame loop takes the result when it is
//!   ready (one task in flight; the newest frame waits, older ones are dropped).
//!
//! A scripted source (`script:`) has no pictures; the app builder then leaves this plugin out
//! and the bot feeds [`PlayerPose`] itself.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use bevy::prelude::*;
use bevy::tasks::{AsyncComputeTaskPool, Task, block_on, poll_once};
use shared::pose::Skeleton;
use shared::protocol::signal::LoadingStage;
use vision::people::TrackedPerson;
use vision::pipeline::PipelineOptions;
use vision::{Frame, LandmarkModel, LoadEvent, LoadHandle, LoadStage, ModelConfig, PosePipeline, VisionError};

use crate::settings::Settings;
use crate::state::{
    ClientSet, InferencePlacement, LatestFrame, ModelChoice, ModelStatus, PeopleWanted, PlayerPose, SeenPeople,
};

/// Where inference runs; set from the plugin's `placement`, may be changed while running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Resource)]
pub struct PosePlacement(pub InferencePlacement);

/// Inference counters (for the HUD's debug line and benchmarks).
#[derive(Debug, Clone, Default, Resource)]
pub struct PoseStats {
    pub inferences: u64,
    pub detector_runs: u64,
    pub last_inference: Duration,
    pub longest_inference: Duration,
    pub errors: u64,
}

/// A finished pool task: the pipeline back, and the inference.
type PoolResult = (Box<PosePipeline>, Inference);

enum Stage {
    Idle,
    Loading(LoadHandle),
    Ready(Box<PosePipeline>),
    InPool(Task<PoolResult>),
    Failed,
}

/// The pipeline and where it is. (A `Mutex` only to make the resource `Sync`; systems use
/// `get_mut`, which never locks.)
#[derive(Resource)]
pub struct PoseRunner {
    stage: Mutex<Stage>,
    /// The newest frame not yet given to the pipeline.
    pending: Option<Frame>,
    /// People tracked per frame (1: the single-person path).
    people: usize,
}

impl Default for PoseRunner {
    fn default() -> Self {
        PoseRunner { stage: Mutex::new(Stage::Idle), pending: None, people: 1 }
    }
}

impl Drop for PoseRunner {
    /// Waits for an inference still running on the pool (at most one frame's worth), so the
    /// pipeline is never torn down under a running session at exit.
    fn drop(&mut self) {
        let stage = std::mem::replace(self.stage.get_mut().unwrap_or_else(|p| p.into_inner()), Stage::Idle);
        if let Stage::InPool(task) = stage {
            drop(block_on(task));
        }
    }
}

/// Loads the model off the frame loop and runs it every frame, tracking as many people as
/// [`PeopleWanted`] asks (the couch's seats): one into [`PlayerPose`], or everyone into
/// [`SeenPeople`] for the couch plugin to seat.
#[derive(Debug, Clone, Copy, Default)]
pub struct PosePlugin {
    /// The landmark model; `None`: the model setting (else lite).
    pub model: Option<ModelChoice>,
    pub placement: InferencePlacement,
}

/// The pose plugin's `Update` systems: loading, then inference (couch seating runs after).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, SystemSet)]
pub struct PoseSystems;

impl Plugin for PosePlugin {
    fn build(&self, app: &mut App) {
        let chosen = self.model;
        app.insert_resource(PosePlacement(self.placement))
            .init_resource::<PoseStats>()
            .init_resource::<PoseRunner>()
            .add_systems(
                Startup,
                move |settings: Option<Res<Settings>>,
                      wanted: Option<Res<PeopleWanted>>,
                      runner: ResMut<PoseRunner>,
                      status: ResMut<ModelStatus>| {
                    let choice = chosen.or(settings.map(|s| s.model)).unwrap_or_default();
                    let people = wanted.map_or(1, |w| w.0.clamp(1, 4));
                    start_loading(choice.into(), people, runner, status);
                },
            )
            .add_systems(Update, (poll_loading, run_inference).chain().in_set(PoseSystems).in_set(ClientSet::Pose));
    }
}

fn lobby_stage(stage: LoadStage) -> LoadingStage {
    match stage {
        LoadStage::ReadingFiles => LoadingStage::ReadingModel,
        LoadStage::BuildingSession => LoadingStage::BuildingSession,
        LoadStage::WarmingUp => LoadingStage::WarmingUp,
    }
}

fn start_loading(model: LandmarkModel, people: usize, mut runner: ResMut<PoseRunner>, mut status: ResMut<ModelStatus>) {
    let models = ModelConfig::with_landmark(model);
    info!(model = %model, dir = %models.dir.display(), "loading the pose model");
    *status = ModelStatus {
        stage: LoadingStage::ReadingModel,
        progress: 0.0,
        detail: format!("{model} model"),
        started: Some(Instant::now()),
        first_skeleton_after: None,
    };
    let options = PipelineOptions { max_people: people, ..PipelineOptions::default() };
    runner.people = people;
    *runner.stage.get_mut().unwrap_or_else(|p| p.into_inner()) = Stage::Loading(LoadHandle::spawn(models, options));
}

fn poll_loading(mut runner: ResMut<PoseRunner>, mut status: ResMut<ModelStatus>) {
    let stage = runner.stage.get_mut().unwrap_or_else(|p| p.into_inner());
    let Stage::Loading(handle) = stage else { return };
    // Drain what arrived since the last frame; never wait.
    let mut next = None;
    while let Some(event) = handle.poll() {
        match event {
            LoadEvent::Progress { stage, fraction } => {
                status.stage = lobby_stage(stage);
                status.progress = fraction;
            }
            LoadEvent::Ready(pipeline) => {
                info!(model = %pipeline.model(), "pose model ready");
                status.stage = LoadingStage::Done;
                status.progress = 1.0;
                next = Some(Stage::Ready(pipeline));
            }
            LoadEvent::Failed(e) => {
                error!("pose model: {e}");
                status.stage = LoadingStage::Failed;
                status.detail = e.to_string();
                next = Some(Stage::Failed);
            }
        }
    }
    if let Some(next) = next {
        *stage = next;
    }
}

/// What one inference found: one person, or everyone (couch play).
// One value per inference, moved once: boxing the skeleton would only add an allocation.
#[allow(clippy::large_enum_variant)]
enum Found {
    One(Option<Skeleton>),
    People(Vec<TrackedPerson>),
}

/// One inference's outcome.
struct Inference {
    result: Result<Found, VisionError>,
    frame_size: (u32, u32),
    took: Duration,
    detector_runs: u64,
    frame_seq: u64,
    captured: Instant,
    /// When the model finished.
    done: Instant,
}

impl Inference {
    fn run(pipeline: &mut PosePipeline, frame: &Frame, people: usize) -> Inference {
        let t = Instant::now();
        let result = if people > 1 {
            pipeline.process_people(frame).map(Found::People)
        } else {
            pipeline.process(frame).map(Found::One)
        };
        let done = Instant::now();
        Inference {
            result,
            frame_size: (frame.width, frame.height),
            took: done - t,
            detector_runs: pipeline.stats().detector_runs,
            frame_seq: frame.seq,
            captured: frame.captured,
            done,
        }
    }
}

/// Records one inference's outcome.
fn publish(
    inference: Inference,
    pose: &mut PlayerPose,
    seen: &mut SeenPeople,
    stats: &mut PoseStats,
    status: &mut ModelStatus,
) {
    stats.inferences += 1;
    stats.detector_runs = inference.detector_runs;
    stats.last_inference = inference.took;
    stats.longest_inference = stats.longest_inference.max(inference.took);
    pose.frame_seq = Some(inference.frame_seq);
    pose.captured = Some(inference.captured);
    pose.inferred_at = Some(inference.done);
    match inference.result {
        Ok(found) => {
            let anyone = match &found {
                Found::One(skeleton) => skeleton.is_some(),
                Found::People(people) => !people.is_empty(),
            };
            if anyone && status.first_skeleton_after.is_none() {
                status.first_skeleton_after = status.started.map(|s| s.elapsed());
            }
            match found {
                Found::One(skeleton) => pose.skeleton = skeleton,
                // The couch plugin puts each person in their seat (PlayerPose is seat 0).
                Found::People(people) => {
                    seen.people = people;
                    seen.frame_seq = Some(inference.frame_seq);
                    seen.frame_size = inference.frame_size;
                }
            }
        }
        Err(e) => {
            stats.errors += 1;
            if stats.errors == 1 || stats.errors.is_power_of_two() {
                warn!("pose inference failed ({} times so far): {e}", stats.errors);
            }
            pose.skeleton = None;
            seen.people.clear();
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn run_inference(
    latest: Res<LatestFrame>,
    placement: Res<PosePlacement>,
    mut runner: ResMut<PoseRunner>,
    mut pose: ResMut<PlayerPose>,
    mut seen: ResMut<SeenPeople>,
    mut stats: ResMut<PoseStats>,
    mut status: ResMut<ModelStatus>,
    wanted: Option<Res<PeopleWanted>>,
) {
    let runner = &mut *runner;
    if latest.fresh
        && let Some(frame) = &latest.frame
    {
        runner.pending = Some(frame.clone());
    }
    let stage = runner.stage.get_mut().unwrap_or_else(|p| p.into_inner());
    // A finished pool task hands the pipeline back.
    if let Stage::InPool(task) = stage {
        let Some((pipeline, inference)) = block_on(poll_once(task)) else { return };
        publish(inference, &mut pose, &mut seen, &mut stats, &mut status);
        *stage = Stage::Ready(pipeline);
    }
    let Stage::Ready(pipeline) = stage else { return };
    // The couch changed: track that many people from the next frame on.
    let want = wanted.map_or(runner.people, |w| w.0.clamp(1, 4));
    if want != runner.people {
        info!(people = want, "tracking {want} people");
        let options = PipelineOptions { max_people: want, ..*pipeline.options() };
        pipeline.set_options(options);
        runner.people = want;
        // Nobody seen under the old count (and nobody at all with one person tracked).
        *seen = SeenPeople::default();
    }
    let people = runner.people;
    let Some(frame) = runner.pending.take() else { return };
    match placement.0 {
        InferencePlacement::Frame => {
            let Stage::Ready(pipeline) = stage else { return };
            let inference = Inference::run(pipeline, &frame, people);
            publish(inference, &mut pose, &mut seen, &mut stats, &mut status);
        }
        InferencePlacement::Pool => {
            let Stage::Ready(mut pipeline) = std::mem::replace(stage, Stage::Failed) else { return };
            let task = AsyncComputeTaskPool::get().spawn(async move {
                let inference = Inference::run(&mut pipeline, &frame, people);
                (pipeline, inference)
            });
            *stage = Stage::InPool(task);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::camera::CameraPlugin;
    use crate::state::StatePlugin;
    use bevy::state::app::StatesPlugin;
    use vision::SourceConfig;
    use shared::pose::Joint;

    fn astronaut_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let src = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/testdata/images/astronaut.png");
        std::fs::copy(src, dir.path().join("0001.png")).unwrap();
        dir
    }

    /// Runs a headless app on the image-folder source until a skeleton appears.
    fn skeleton_within(placement: InferencePlacement, max_updates: u32) -> (Skeleton, u32, PoseStats) {
        let dir = astronaut_dir();
        let mut app = App::new();
        app.add_plugins((MinimalPlugins, StatesPlugin, StatePlugin)).add_plugins((
            CameraPlugin { source: Some(SourceConfig::Folder { path: dir.path().to_path_buf(), fps: 30.0 }) },
            PosePlugin { model: None, placement },
        ));
        for n in 1..=max_updates {
            app.update();
            if let Some(s) = &app.world().resource::<PlayerPose>().skeleton {
                let status = app.world().resource::<ModelStatus>();
                assert!(status.is_ready() && status.first_skeleton_after.is_some(), "{status:?}");
                return (s.clone(), n, app.world().resource::<PoseStats>().clone());
            }
            let status = app.world().resource::<ModelStatus>();
            assert!(status.error().is_none(), "{status:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("no skeleton within {max_updates} updates: {:?}", app.world().resource::<ModelStatus>());
    }

    fn check(s: &Skeleton) {
        assert!(s.score > 0.5);
        let nose = s.get(Joint::Nose);
        // The astronaut's nose is near (222, 127) px of the 512×512 picture.
        assert!((nose.x * 512.0 - 222.0).abs() < 15.0 && (nose.y * 512.0 - 127.0).abs() < 15.0, "{nose:?}");
    }

    #[test]
    fn frame_placement_loads_the_real_model_and_produces_a_skeleton() {
        let (s, updates, stats) = skeleton_within(InferencePlacement::Frame, 1500);
        check(&s);
        assert!(updates > 1, "loading must not block the first update");
        assert_eq!(stats.detector_runs, 1);
    }

    #[test]
    fn pool_placement_produces_a_skeleton_too() {
        let (s, _, stats) = skeleton_within(InferencePlacement::Pool, 1500);
        check(&s);
        assert!(stats.inferences >= 1);
    }

    /// The stages are ordered input → pose → game: in every update where the model finds a
    /// skeleton, the round's rules see that skeleton, not the one of the update before. (With
    /// the pose and game stages swapped, the round would lag one inference behind.)
    #[test]
    fn game_scores_the_pose_of_the_same_update() {
        use crate::deck::ActiveDeck;
        use crate::game::{GamePlugin, Round};
        use crate::session::{RoundInfo, Session, SessionPlugin};
        use crate::state::Screen;
        use shared::protocol::signal::GameMode;

        let dir = astronaut_dir();
        let mut app = App::new();
        app.add_plugins((MinimalPlugins, StatesPlugin, StatePlugin))
            .add_plugins((
                SessionPlugin,
                GamePlugin,
                CameraPlugin { source: Some(SourceConfig::Folder { path: dir.path().to_path_buf(), fps: 60.0 }) },
                PosePlugin { model: None, placement: InferencePlacement::Frame },
            ))
            .init_resource::<ActiveDeck>()
            .insert_state(Screen::Game);
        app.world_mut().resource_mut::<Session>().round = Some(RoundInfo {
            start_in_ms: 0,
            round_seed: 7,
            mode: GameMode::PoseRush,
            duration_ms: 600_000,
            players: vec![1],
        });
        let deadline = Instant::now() + Duration::from_secs(120);
        let (mut last, mut new_poses) = (None, 0);
        while new_poses < 5 {
            assert!(Instant::now() < deadline, "only {new_poses} inferences: {:?}", app.world().resource::<ModelStatus>());
            app.update();
            let status = app.world().resource::<ModelStatus>();
            assert!(status.error().is_none(), "{status:?}");
            let seen = app.world().resource::<PlayerPose>().frame_seq;
            let round = app.world().get_resource::<Round>().expect("the round started");
            assert_eq!(round.pose_frame, seen, "the round scored another update's pose");
            if seen.is_some() && seen != last {
                new_poses += 1;
                last = seen;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}
