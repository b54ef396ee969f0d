//! Staged loading of the pipeline off the caller's thread, with progress and cancellation.
//!
//! Stages: read the model files (progress by bytes, checksums verified), build the two
//! inference sessions, run one warm-up inference. The ready [`PosePipeline`] is then moved
//! to the caller, which runs it wherever it likes (e.g. in its frame loop).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, TryRecvError};

use crate::model::{self, DETECTOR, ModelConfig};
use crate::pipeline::{LANDMARK_OUTPUTS, PipelineOptions, PosePipeline, build_session};
use crate::VisionError;

/// A loading stage, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LoadStage {
    ReadingFiles,
    BuildingSession,
    WarmingUp,
}

impl LoadStage {
    pub const ALL: [LoadStage; 3] = [LoadStage::ReadingFiles, LoadStage::BuildingSession, LoadStage::WarmingUp];

    /// A short description for a progress bar.
    pub fn label(self) -> &'static str {
        match self {
            LoadStage::ReadingFiles => "Reading model files",
            LoadStage::BuildingSession => "Building inference session",
            LoadStage::WarmingUp => "Warm-up inference",
        }
    }
}

/// What the loading thread reports.
pub enum LoadEvent {
    /// `fraction` of `stage` is done (0–1).
    Progress { stage: LoadStage, fraction: f32 },
    /// The pipeline is ready; take it.
    Ready(Box<PosePipeline>),
    Failed(VisionError),
}

impl std::fmt::Debug for LoadEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadEvent::Progress { stage, fraction } => write!(f, "Progress({stage:?}, {fraction:.2})"),
            LoadEvent::Ready(p) => write!(f, "Ready({})", p.model()),
            LoadEvent::Failed(e) => write!(f, "Failed({e})"),
        }
    }
}

/// Loads the pipeline on the calling thread, reporting progress; stops with
/// [`VisionError::Cancelled`] between steps once `cancel` is set.
pub fn load_blocking(
    config: &ModelConfig,
    options: PipelineOptions,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(LoadStage, f32),
) -> Result<PosePipeline, VisionError> {
    let check = || if cancel.load(Ordering::Relaxed) { Err(VisionError::Cancelled) } else { Ok(()) };
    // Find the runtime first: without it nothing else matters, and its error is the clearest.
    crate::runtime::environment()?;
    let landmark_file = config.landmark.file();
    let total = model::total_size(&config.dir, &[DETECTOR, landmark_file]).max(1) as f32;
    progress(LoadStage::ReadingFiles, 0.0);
    let mut done = 0u64;
    let mut on_bytes = |n: u64| {
        done += n;
        progress(LoadStage::ReadingFiles, (done as f32 / total).min(1.0));
    };
    let det_bytes = model::read_model(&config.dir, DETECTOR, cancel, &mut on_bytes)?;
    let lm_bytes = model::read_model(&config.dir, landmark_file, cancel, &mut on_bytes)?;
    progress(LoadStage::ReadingFiles, 1.0);

    check()?;
    progress(LoadStage::BuildingSession, 0.0);
    let share = det_bytes.len() as f32 / (det_bytes.len() + lm_bytes.len()).max(1) as f32;
    let detector = build_session(&det_bytes, DETECTOR.file_name, None)?;
    drop(det_bytes);
    progress(LoadStage::BuildingSession, share);
    check()?;
    let landmark = build_session(&lm_bytes, landmark_file.file_name, options.prune_landmark_model.then_some(&LANDMARK_OUTPUTS[..]))?;
    drop(lm_bytes);
    progress(LoadStage::BuildingSession, 1.0);

    check()?;
    progress(LoadStage::WarmingUp, 0.0);
    let mut pipeline = PosePipeline::from_sessions(detector, landmark, config.landmark, options)?;
    pipeline.warm_up()?;
    progress(LoadStage::WarmingUp, 1.0);
    check()?;
    Ok(pipeline)
}

/// A pipeline loading on its own thread. Poll it (non-blocking) from a frame loop; dropping
/// the handle cancels the load.
pub struct LoadHandle {
    events: Receiver<LoadEvent>,
    cancel: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    finished: bool,
}

impl LoadHandle {
    /// Starts loading on a new thread.
    pub fn spawn(config: ModelConfig, options: PipelineOptions) -> LoadHandle {
        let (tx, events) = crossbeam_channel::unbounded();
        let cancel = Arc::new(AtomicBool::new(false));
        let flag = cancel.clone();
        let thread = std::thread::Builder::new().name("pose-loader".into()).spawn(move || {
            let progress_tx = tx.clone();
            let mut report = move |stage, fraction| {
                let _ = progress_tx.send(LoadEvent::Progress { stage, fraction });
            };
            let event = match load_blocking(&config, options, &flag, &mut report) {
                Ok(p) => LoadEvent::Ready(Box::new(p)),
                Err(e) => LoadEvent::Failed(e),
            };
            let _ = tx.send(event);
        });
        match thread {
            Ok(t) => LoadHandle { events, cancel, thread: Some(t), finished: false },
            Err(e) => {
                let (tx, events) = crossbeam_channel::unbounded();
                let _ = tx.send(LoadEvent::Failed(VisionError::LoaderDied(format!("could not start the thread: {e}"))));
                LoadHandle { events, cancel, thread: None, finished: false }
            }
        }
    }

    /// The next event, if one is waiting. After `Ready` or `Failed` it returns `None`.
    pub fn poll(&mut self) -> Option<LoadEvent> {
        if self.finished {
            return None;
        }
        match self.events.try_recv() {
            Ok(ev) => {
                self.finished = matches!(ev, LoadEvent::Ready(_) | LoadEvent::Failed(_));
                Some(ev)
            }
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => {
                self.finished = true;
                Some(LoadEvent::Failed(VisionError::LoaderDied("it ended without a result".into())))
            }
        }
    }

    /// Waits for the next event (for tests and tools, not for frame loops).
    pub fn wait(&mut self, timeout: std::time::Duration) -> Option<LoadEvent> {
        if self.finished {
            return None;
        }
        match self.events.recv_timeout(timeout) {
            Ok(ev) => {
                self.finished = matches!(ev, LoadEvent::Ready(_) | LoadEvent::Failed(_));
                Some(ev)
            }
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => None,
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                self.finished = true;
                Some(LoadEvent::Failed(VisionError::LoaderDied("it ended without a result".into())))
            }
        }
    }

    /// Waits until the pipeline is ready or loading failed.
    pub fn wait_ready(mut self) -> Result<PosePipeline, VisionError> {
        loop {
            match self.wait(std::time::Duration::from_secs(3600)) {
                Some(LoadEvent::Ready(p)) => return Ok(*p),
                Some(LoadEvent::Failed(e)) => return Err(e),
                Some(LoadEvent::Progress { .. }) | None if !self.finished => continue,
                _ => return Err(VisionError::LoaderDied("no result".into())),
            }
        }
    }

    /// Asks the loading thread to stop at the next step.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }

    pub fn is_finished(&self) -> bool {
        self.finished
    }
}

impl Drop for LoadHandle {
    fn drop(&mut self) {
        self.cancel();
        // The thread notices the flag at its next step; it is not joined so that dropping
        // the handle never blocks a frame loop.
        drop(self.thread.take());
    }
}

impl PosePipeline {
    /// Loads the pipeline on the calling thread (tests, tools).
    pub fn load(config: &ModelConfig) -> Result<PosePipeline, VisionError> {
        load_blocking(config, PipelineOptions::default(), &AtomicBool::new(false), &mut |_, _| {})
    }
}
