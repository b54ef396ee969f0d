//! Pose plugin: loads the BlazePose pipeline in stages off the frame loop, then runs it on
//! the newest camera frame and writes the player's skeleton into [`PlayerPose`].
//!
//! - Loading: a [`vision::LoadHandle`] thread reads the model files, builds the sessions and
//!   warms up; its progress goes to [`PoseLoading`] (and the lobby-facing [`ModelStatus`]).
//!   The ready pipeline is then moved into this plugin's runner.
//! - Inference placement ([`PosePlacement`], from `--inference`):
//!   `Frame` runs the pipeline inside an `Update` system of the app's frame schedule, on the
//!   frame that arrived this update; `Pool` moves the pipeline into a task on Bevy's
//!   `AsyncComputeTaskPool`, and the frame loop takes the result when it is ready (one task in
//!   flight; the newest frame waits, older ones are dropped).
//! - `script:` sources have no pictures and feed [`PlayerPose`] themselves: the plugin then
//!   loads nothing.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use bevy::prelude::*;
use bevy::tasks::{AsyncComputeTaskPool, Task, block_on, poll_once};
use shared::pose::Skeleton;
use shared::protocol::signal::LoadingStage;
use vision::pipeline::PipelineOptions;
use vision::{Frame, LandmarkModel, LoadEvent, LoadHandle, LoadStage, ModelConfig, PosePipeline, VisionError};

use crate::camera::{LatestFrame, effective_source};
use crate::cli::{ClientConfig, InferencePlacement, ModelChoice, SourceSpec};
use crate::game::{ModelStatus, PlayerPose};
use crate::settings::Settings;

/// Where inference runs; set from `--inference`, may be changed while running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Resource)]
pub struct PosePlacement(pub InferencePlacement);

/// Progress of loading the pose model.
#[derive(Debug, Clone, Default, Resource)]
pub struct PoseLoading {
    /// The stage in progress (`None` before loading starts or when nothing is loaded).
    pub stage: Option<LoadStage>,
    /// Progress of `stage`, 0–1.
    pub progress: f32,
    /// What went wrong (the message says what to do).
    pub error: Option<String>,
    pub model: Option<LandmarkModel>,
    /// When loading started.
    pub started: Option<Instant>,
    /// The pipeline is loaded and running.
    pub ready: bool,
    /// Start of loading → first skeleton.
    pub first_skeleton_after: Option<Duration>,
}

/// Inference counters (for the HUD's debug line and benchmarks).
#[derive(Debug, Clone, Default, Resource)]
pub struct PoseStats {
    pub inferences: u64,
    pub detector_runs: u64,
    pub last_inference: Duration,
    pub longest_inference: Duration,
    pub errors: u64,
}

type PoolResult = (Box<PosePipeline>, Result<Option<Skeleton>, VisionError>, Duration);

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
}

impl Default for PoseRunner {
    fn default() -> Self {
        PoseRunner { stage: Mutex::new(Stage::Idle), pending: None }
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

/// Loads the model off the frame loop and runs it every frame.
pub struct PosePlugin;

impl Plugin for PosePlugin {
    fn build(&self, app: &mut App) {
        let placement = app.world().get_resource::<ClientConfig>().map(|c| c.inference).unwrap_or_default();
        app.insert_resource(PosePlacement(placement))
            .init_resource::<PoseLoading>()
            .init_resource::<PoseStats>()
            .init_resource::<PoseRunner>()
            .init_resource::<PlayerPose>()
            .init_resource::<ModelStatus>()
            .init_resource::<LatestFrame>()
            .add_systems(Startup, start_loading)
            .add_systems(Update, (poll_loading, run_inference).chain());
    }
}

fn landmark_model(choice: ModelChoice) -> LandmarkModel {
    match choice {
        ModelChoice::Lite => LandmarkModel::Lite,
        ModelChoice::Full => LandmarkModel::Full,
    }
}

fn lobby_stage(stage: LoadStage) -> LoadingStage {
    match stage {
        LoadStage::ReadingFiles => LoadingStage::ReadingModel,
        LoadStage::BuildingSession => LoadingStage::BuildingSession,
        LoadStage::WarmingUp => LoadingStage::WarmingUp,
    }
}

fn start_loading(
    config: Option<Res<ClientConfig>>,
    settings: Option<Res<Settings>>,
    mut runner: ResMut<PoseRunner>,
    mut loading: ResMut<PoseLoading>,
    mut status: ResMut<ModelStatus>,
) {
    if let SourceSpec::Script(_) = effective_source(config.as_deref(), settings.as_deref()) {
        info!("scripted source: no pose model needed");
        return;
    }
    let choice = config.as_ref().and_then(|c| c.model).or(settings.map(|s| s.model)).unwrap_or_default();
    let model = landmark_model(choice);
    let models = ModelConfig::with_landmark(model);
    info!(model = %model, dir = %models.dir.display(), "loading the pose model");
    *loading = PoseLoading { model: Some(model), started: Some(Instant::now()), ..Default::default() };
    *status = ModelStatus { stage: LoadingStage::ReadingModel, progress: 0.0, detail: format!("{model} model") };
    *runner.stage.get_mut().unwrap_or_else(|p| p.into_inner()) =
        Stage::Loading(LoadHandle::spawn(models, PipelineOptions::default()));
}

fn poll_loading(mut runner: ResMut<PoseRunner>, mut loading: ResMut<PoseLoading>, mut status: ResMut<ModelStatus>) {
    let stage = runner.stage.get_mut().unwrap_or_else(|p| p.into_inner());
    let Stage::Loading(handle) = stage else { return };
    // Drain what arrived since the last frame; never wait.
    let mut next = None;
    while let Some(event) = handle.poll() {
        match event {
            LoadEvent::Progress { stage, fraction } => {
                loading.stage = Some(stage);
                loading.progress = fraction;
                status.stage = lobby_stage(stage);
                status.progress = fraction;
            }
            LoadEvent::Ready(pipeline) => {
                info!(model = %pipeline.model(), "pose model ready");
                loading.ready = true;
                loading.progress = 1.0;
                status.stage = LoadingStage::Done;
                status.progress = 1.0;
                next = Some(Stage::Ready(pipeline));
            }
            LoadEvent::Failed(e) => {
                error!("pose model: {e}");
                loading.error = Some(e.to_string());
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

/// Records one inference's outcome.
fn publish(
    result: Result<Option<Skeleton>, VisionError>,
    took: Duration,
    detector_runs: u64,
    pose: &mut PlayerPose,
    stats: &mut PoseStats,
    loading: &mut PoseLoading,
) {
    stats.inferences += 1;
    stats.detector_runs = detector_runs;
    stats.last_inference = took;
    stats.longest_inference = stats.longest_inference.max(took);
    match result {
        Ok(skeleton) => {
            if skeleton.is_some() && loading.first_skeleton_after.is_none() {
                loading.first_skeleton_after = loading.started.map(|s| s.elapsed());
            }
            pose.skeleton = skeleton;
        }
        Err(e) => {
            stats.errors += 1;
            if stats.errors == 1 || stats.errors.is_power_of_two() {
                warn!("pose inference failed ({} times so far): {e}", stats.errors);
            }
            pose.skeleton = None;
        }
    }
}

fn run_inference(
    latest: Res<LatestFrame>,
    placement: Res<PosePlacement>,
    mut runner: ResMut<PoseRunner>,
    mut pose: ResMut<PlayerPose>,
    mut stats: ResMut<PoseStats>,
    mut loading: ResMut<PoseLoading>,
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
        let Some((pipeline, result, took)) = block_on(poll_once(task)) else { return };
        publish(result, took, pipeline.stats().detector_runs, &mut pose, &mut stats, &mut loading);
        *stage = Stage::Ready(pipeline);
    }
    let Stage::Ready(_) = stage else { return };
    let Some(frame) = runner.pending.take() else { return };
    match placement.0 {
        InferencePlacement::Frame => {
            let Stage::Ready(pipeline) = stage else { return };
            let t = Instant::now();
            let result = pipeline.process(&frame);
            publish(result, t.elapsed(), pipeline.stats().detector_runs, &mut pose, &mut stats, &mut loading);
        }
        InferencePlacement::Pool => {
            let Stage::Ready(mut pipeline) = std::mem::replace(stage, Stage::Failed) else { return };
            let task = AsyncComputeTaskPool::get().spawn(async move {
                let t = Instant::now();
                let result = pipeline.process(&frame);
                (pipeline, result, t.elapsed())
            });
            *stage = Stage::InPool(task);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::camera::CameraPlugin;
    use bevy::state::app::StatesPlugin;
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
        app.add_plugins((MinimalPlugins, StatesPlugin))
            .insert_resource(ClientConfig {
                source: Some(SourceSpec::Frames { dir: dir.path().to_path_buf(), fps: 30.0 }),
                inference: placement,
                ..Default::default()
            })
            .add_plugins((CameraPlugin, PosePlugin));
        for n in 1..=max_updates {
            app.update();
            if let Some(s) = &app.world().resource::<PlayerPose>().skeleton {
                let loading = app.world().resource::<PoseLoading>();
                assert!(loading.ready && loading.first_skeleton_after.is_some());
                assert_eq!(app.world().resource::<ModelStatus>().stage, LoadingStage::Done);
                return (s.clone(), n, app.world().resource::<PoseStats>().clone());
            }
            let loading = app.world().resource::<PoseLoading>();
            assert!(loading.error.is_none(), "{:?}", loading.error);
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("no skeleton within {max_updates} updates: {:?}", app.world().resource::<PoseLoading>());
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
}
