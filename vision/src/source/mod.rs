//! Frame sources behind one trait, each run on its own thread, the consumer always getting
//! the newest frame: a single-slot mailbox where a new frame replaces an unread one (stale
//! frames are dropped and counted, never queued).

mod folder;
pub mod synthetic;
#[cfg(target_os = "linux")]
pub mod v4l2;
mod webcam;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use folder::FolderSource;
pub use synthetic::{Pattern, SyntheticSource};
pub use webcam::{CameraInfo, CameraSelector, WebcamSource, list_cameras};

use crate::{Frame, SourceError};

/// A producer of frames. `next_frame` blocks until the next frame is due (the source paces
/// itself); `Ok(None)` means the source has ended.
pub trait FrameSource {
    /// A human-readable description ("camera 0: HD Webcam", "frames: ./clip @ 30 fps").
    fn name(&self) -> String;
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError>;
}

/// Which source to open.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceConfig {
    Camera(CameraSelector),
    /// A folder of .png/.jpg files played in name order at `fps`, looped.
    Folder { path: PathBuf, fps: f32 },
    /// Deterministic drawn frames (for tests and demos).
    Synthetic { width: u32, height: u32, fps: f32, pattern: Pattern },
}

impl SourceConfig {
    pub const DEFAULT_FPS: f32 = 30.0;

    /// Opens the source on the calling thread.
    pub fn open(&self) -> Result<Box<dyn FrameSource>, SourceError> {
        match self {
            SourceConfig::Camera(sel) => Ok(Box::new(WebcamSource::open(sel)?)),
            SourceConfig::Folder { path, fps } => Ok(Box::new(FolderSource::open(path, *fps)?)),
            SourceConfig::Synthetic { width, height, fps, pattern } => {
                Ok(Box::new(SyntheticSource::new(*width, *height, *fps, *pattern)?))
            }
        }
    }

    /// The same source at another frame rate (cameras keep their own rate).
    pub fn with_fps(self, new_fps: f32) -> SourceConfig {
        match self {
            SourceConfig::Folder { path, .. } => SourceConfig::Folder { path, fps: new_fps },
            SourceConfig::Synthetic { width, height, pattern, .. } => SourceConfig::Synthetic { width, height, fps: new_fps, pattern },
            cam => cam,
        }
    }
}

/// Parses a source as typed on the command line or in the settings: `webcam` (or `camera`),
/// `webcam:<index>`, `webcam:<name part>`, `frames:<folder>[@<fps>]` (or `folder:`),
/// `synthetic[:figure|noise][@<fps>]`. The frame rate defaults to
/// [`SourceConfig::DEFAULT_FPS`]. This is the one parser of source specs: the game's
/// `--source` flag and its camera setting both use it.
impl std::str::FromStr for SourceConfig {
    type Err = SourceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (kind, arg) = s.split_once(':').map_or((s, None), |(k, a)| (k, Some(a)));
        let kind = kind.to_ascii_lowercase();
        // `@FPS` at the end of a folder or synthetic spec.
        let with_fps = |spec: &str| -> Result<(String, f32), SourceError> {
            match spec.rsplit_once('@') {
                Some((rest, fps)) => {
                    let fps: f32 = fps.trim().parse().map_err(|_| {
                        SourceError::Config(format!("frame rate \"{fps}\" in \"{s}\" is not a number — write e.g. frames:DIR@15"))
                    })?;
                    Ok((rest.to_string(), check_fps(fps)?))
                }
                None => Ok((spec.to_string(), Self::DEFAULT_FPS)),
            }
        };
        match (kind.as_str(), arg) {
            ("camera" | "webcam", None | Some("")) => Ok(SourceConfig::Camera(CameraSelector::First)),
            ("camera" | "webcam", Some(a)) => Ok(SourceConfig::Camera(match a.parse::<u32>() {
                Ok(i) => CameraSelector::Index(i),
                Err(_) => CameraSelector::Name(a.to_string()),
            })),
            ("frames" | "folder", Some(p)) if !with_fps(p)?.0.is_empty() => {
                let (path, fps) = with_fps(p)?;
                Ok(SourceConfig::Folder { path: PathBuf::from(path), fps })
            }
            _ if kind.starts_with("synthetic") => {
                // `synthetic@30` has no colon; `synthetic:noise@30` has one.
                let whole = match arg {
                    Some(a) => a.to_string(),
                    None => kind.strip_prefix("synthetic").unwrap_or_default().to_string(),
                };
                let (pattern, fps) = with_fps(&whole)?;
                let pattern = match pattern.as_str() {
                    "" => Pattern::Figure,
                    p => p.parse().map_err(SourceError::Config)?,
                };
                Ok(SourceConfig::Synthetic { width: 640, height: 480, fps, pattern })
            }
            _ => Err(SourceError::Config(format!(
                "unknown source \"{s}\" — use webcam[:index|name], frames:<folder>[@fps] or synthetic[:figure|noise][@fps]"
            ))),
        }
    }
}

#[derive(Default)]
struct Slot {
    frame: Option<Frame>,
    produced: u64,
    dropped: u64,
    ended: Option<Result<(), String>>,
}

/// The single-slot mailbox between a source thread and its consumer.
#[derive(Default)]
pub struct Mailbox {
    slot: Mutex<Slot>,
    ready: Condvar,
}

impl Mailbox {
    fn lock(&self) -> MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Puts a frame in, replacing (dropping) an unread one.
    pub fn put(&self, frame: Frame) {
        let mut s = self.lock();
        if s.frame.replace(frame).is_some() {
            s.dropped += 1;
        }
        s.produced += 1;
        self.ready.notify_all();
    }

    /// Takes the newest unread frame, if any.
    pub fn take(&self) -> Option<Frame> {
        self.lock().frame.take()
    }

    /// Waits up to `timeout` for an unread frame and takes it.
    pub fn wait_take(&self, timeout: Duration) -> Option<Frame> {
        let deadline = Instant::now() + timeout;
        let mut s = self.lock();
        loop {
            if let Some(f) = s.frame.take() {
                return Some(f);
            }
            if s.ended.is_some() {
                return None;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            s = self.ready.wait_timeout(s, left).map(|(g, _)| g).unwrap_or_else(|p| p.into_inner().0);
        }
    }

    fn end(&self, result: Result<(), String>) {
        self.lock().ended = Some(result);
        self.ready.notify_all();
    }
}

/// Counters of a running source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SourceStats {
    pub produced: u64,
    /// Frames replaced before anyone read them.
    pub dropped: u64,
}

/// A source running on its own thread. Dropping it stops the thread.
pub struct RunningSource {
    name: String,
    mailbox: Arc<Mailbox>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl RunningSource {
    /// Opens the configured source on a new thread (some cameras must stay on the thread
    /// that opened them) and starts producing frames; waits until it is open, so errors
    /// opening it are returned here. Frame loops use [`RunningSource::start_opening`].
    pub fn start(config: SourceConfig) -> Result<RunningSource, SourceError> {
        Self::start_opening(config).wait()
    }

    /// Like [`RunningSource::start`], without waiting: opening a camera or decoding a
    /// folder's first picture can take a while, so a frame loop polls the result.
    pub fn start_opening(config: SourceConfig) -> PendingSource {
        Self::spawn_opening(move || config.open())
    }

    /// Runs the source built by `make` on a new thread, waiting until `make` has finished.
    pub fn spawn<F>(make: F) -> Result<RunningSource, SourceError>
    where
        F: FnOnce() -> Result<Box<dyn FrameSource>, SourceError> + Send + 'static,
    {
        Self::spawn_opening(make).wait()
    }

    /// Runs the source built by `make` on a new thread without waiting for `make`.
    pub fn spawn_opening<F>(make: F) -> PendingSource
    where
        F: FnOnce() -> Result<Box<dyn FrameSource>, SourceError> + Send + 'static,
    {
        let mailbox = Arc::new(Mailbox::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (opened_tx, opened) = crossbeam_channel::bounded::<Result<String, SourceError>>(1);
        let (mb, st) = (mailbox.clone(), stop.clone());
        let thread = std::thread::Builder::new().name("frame-source".into()).spawn(move || {
            let mut source = match make() {
                Ok(s) => s,
                Err(e) => {
                    let _ = opened_tx.send(Err(e));
                    return;
                }
            };
            let _ = opened_tx.send(Ok(source.name()));
            let result = loop {
                if st.load(Ordering::Relaxed) {
                    break Ok(());
                }
                match source.next_frame() {
                    Ok(Some(frame)) => mb.put(frame),
                    Ok(None) => break Ok(()),
                    Err(e) => {
                        tracing::warn!(error = %e, "frame source stopped");
                        break Err(e.to_string());
                    }
                }
            };
            mb.end(result);
        });
        match thread {
            Ok(thread) => PendingSource { opened, parts: Some((mailbox, stop, thread)) },
            Err(e) => {
                let (tx, opened) = crossbeam_channel::bounded(1);
                let _ = tx.send(Err(SourceError::ThreadDied(format!("could not start the thread: {e}"))));
                PendingSource { opened, parts: None }
            }
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The newest frame not read yet, without waiting.
    pub fn latest(&self) -> Option<Frame> {
        self.mailbox.take()
    }

    /// Waits up to `timeout` for a frame not read yet.
    pub fn wait_frame(&self, timeout: Duration) -> Option<Frame> {
        self.mailbox.wait_take(timeout)
    }

    pub fn stats(&self) -> SourceStats {
        let s = self.mailbox.lock();
        SourceStats { produced: s.produced, dropped: s.dropped }
    }

    /// Why the source stopped, if it stopped with an error.
    pub fn error(&self) -> Option<String> {
        match &self.mailbox.lock().ended {
            Some(Err(e)) => Some(e.clone()),
            _ => None,
        }
    }

    /// Whether the source thread has finished (ended, failed or stopped).
    pub fn has_ended(&self) -> bool {
        self.mailbox.lock().ended.is_some()
    }
}

impl Drop for RunningSource {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A source whose thread is still opening it (see [`RunningSource::start_opening`]).
/// Dropping it stops the source as soon as it is open, without waiting for that.
pub struct PendingSource {
    opened: crossbeam_channel::Receiver<Result<String, SourceError>>,
    parts: Option<(Arc<Mailbox>, Arc<AtomicBool>, JoinHandle<()>)>,
}

impl PendingSource {
    /// The opened source or why it could not be opened, once opening has finished; `None`
    /// while it is still opening. Never waits. Gives the result once: afterwards `None`.
    pub fn poll(&mut self) -> Option<Result<RunningSource, SourceError>> {
        match self.opened.try_recv() {
            Ok(result) => Some(self.finish(result)),
            Err(crossbeam_channel::TryRecvError::Empty) => None,
            Err(crossbeam_channel::TryRecvError::Disconnected) => self.parts.is_some().then(|| {
                self.finish(Err(SourceError::ThreadDied("it ended while opening the source".into())))
            }),
        }
    }

    /// Waits until opening has finished.
    pub fn wait(mut self) -> Result<RunningSource, SourceError> {
        let result = self.opened.recv().unwrap_or_else(|_| Err(SourceError::ThreadDied("it ended while opening the source".into())));
        self.finish(result)
    }

    fn finish(&mut self, result: Result<String, SourceError>) -> Result<RunningSource, SourceError> {
        let Some((mailbox, stop, thread)) = self.parts.take() else {
            // No thread could be started; `result` says so.
            return result.and(Err(SourceError::ThreadDied("no source thread".into())));
        };
        match result {
            Ok(name) => {
                tracing::info!(source = %name, "frame source started");
                Ok(RunningSource { name, mailbox, stop, thread: Some(thread) })
            }
            Err(e) => {
                // The thread ends right after reporting the error.
                let _ = thread.join();
                Err(e)
            }
        }
    }
}

impl Drop for PendingSource {
    fn drop(&mut self) {
        if let Some((_, stop, thread)) = self.parts.take() {
            // Opening may still take a while (a camera): do not wait, the thread stops itself.
            stop.store(true, Ordering::Relaxed);
            drop(thread);
        }
    }
}

/// Sleeps until `start + n / fps`, so a paced source keeps its rate without drift.
pub(crate) fn pace(start: Instant, n: u64, fps: f32) {
    let due = start + Duration::from_secs_f64(n as f64 / f64::from(fps));
    let now = Instant::now();
    if due > now {
        std::thread::sleep(due - now);
    }
}

pub(crate) fn check_fps(fps: f32) -> Result<f32, SourceError> {
    if fps.is_finite() && fps > 0.0 && fps <= 1000.0 {
        Ok(fps)
    } else {
        Err(SourceError::Config(format!("frame rate {fps} is out of range — use 1 to 1000 fps")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_source_specs() {
        let p = |s: &str| s.parse::<SourceConfig>();
        assert_eq!(p("camera").unwrap(), SourceConfig::Camera(CameraSelector::First));
        assert_eq!(p("webcam").unwrap(), SourceConfig::Camera(CameraSelector::First));
        assert_eq!(p("webcam:2").unwrap(), SourceConfig::Camera(CameraSelector::Index(2)));
        assert_eq!(p("camera:HD Cam").unwrap(), SourceConfig::Camera(CameraSelector::Name("HD Cam".into())));
        assert_eq!(
            p("frames:/tmp/x").unwrap(),
            SourceConfig::Folder { path: "/tmp/x".into(), fps: SourceConfig::DEFAULT_FPS }
        );
        assert_eq!(p("frames:/tmp/x@15").unwrap(), SourceConfig::Folder { path: "/tmp/x".into(), fps: 15.0 });
        assert_eq!(
            p("synthetic").unwrap(),
            SourceConfig::Synthetic { width: 640, height: 480, fps: SourceConfig::DEFAULT_FPS, pattern: Pattern::Figure }
        );
        assert!(matches!(p("synthetic:noise").unwrap(), SourceConfig::Synthetic { pattern: Pattern::Noise, .. }));
        assert!(matches!(p("synthetic@12").unwrap(), SourceConfig::Synthetic { fps: 12.0, pattern: Pattern::Figure, .. }));
        assert!(matches!(p("synthetic:noise@5").unwrap(), SourceConfig::Synthetic { fps: 5.0, pattern: Pattern::Noise, .. }));
        for bad in ["", "tv", "frames:", "frames:@30", "frames:/x@fast", "frames:/x@0", "synthetic:stars"] {
            let err = p(bad).expect_err(bad).to_string();
            assert!(!err.is_empty(), "{bad}");
        }
        let err = p("tv").unwrap_err().to_string();
        assert!(err.contains("frames:<folder>"), "{err}");
    }

    #[test]
    fn mailbox_keeps_only_the_newest_frame() {
        let mb = Mailbox::default();
        let f = |seq| Frame::from_rgb(1, 1, vec![0u8; 3], seq, Instant::now()).unwrap();
        mb.put(f(0));
        mb.put(f(1));
        mb.put(f(2));
        assert_eq!(mb.take().map(|f| f.seq), Some(2));
        assert!(mb.take().is_none());
        let s = mb.lock();
        assert_eq!((s.produced, s.dropped), (3, 2));
    }

    #[test]
    fn opening_in_the_background_never_waits_for_the_source() {
        // The source's opening blocks until the test lets it go: polling must not wait.
        let (release_tx, release_rx) = crossbeam_channel::bounded::<()>(0);
        let mut pending = RunningSource::spawn_opening(move || {
            release_rx.recv().map_err(|_| SourceError::Config("test ended".into()))?;
            Ok(Box::new(SyntheticSource::new(16, 12, 100.0, Pattern::Noise)?) as Box<dyn FrameSource>)
        });
        for _ in 0..3 {
            assert!(pending.poll().is_none(), "still opening");
        }
        release_tx.send(()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let running = loop {
            if let Some(result) = pending.poll() {
                break result.unwrap();
            }
            assert!(Instant::now() < deadline, "the source never opened");
            std::thread::sleep(Duration::from_millis(1));
        };
        assert!(pending.poll().is_none(), "the result is given once");
        assert!(running.name().contains("synthetic"), "{}", running.name());
        assert_eq!(running.wait_frame(Duration::from_secs(5)).map(|f| (f.width, f.height)), Some((16, 12)));
    }

    #[test]
    fn background_opening_reports_errors_and_can_be_abandoned() {
        let mut pending = RunningSource::start_opening(SourceConfig::Folder { path: "/nonexistent/frames".into(), fps: 30.0 });
        let deadline = Instant::now() + Duration::from_secs(10);
        let err = loop {
            if let Some(result) = pending.poll() {
                break result.err().expect("a missing folder cannot open");
            }
            assert!(Instant::now() < deadline, "no answer");
            std::thread::sleep(Duration::from_millis(1));
        };
        assert!(matches!(err, SourceError::FolderRead { .. }), "{err}");
        // Dropping a source that is still opening returns at once; its thread stops by itself.
        let (_hold_tx, hold_rx) = crossbeam_channel::bounded::<()>(0);
        let stuck = RunningSource::spawn_opening(move || {
            let _ = hold_rx.recv_timeout(Duration::from_secs(30));
            Err(SourceError::Config("released".into()))
        });
        let t = Instant::now();
        drop(stuck);
        assert!(t.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn slow_consumer_gets_newest_frames_and_stale_ones_are_dropped() {
        let src = RunningSource::start(SourceConfig::Synthetic { width: 32, height: 24, fps: 200.0, pattern: Pattern::Noise })
            .unwrap();
        let first = src.wait_frame(Duration::from_secs(5)).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let later = src.wait_frame(Duration::from_secs(5)).unwrap();
        assert!(later.seq > first.seq + 1, "{} then {}", first.seq, later.seq);
        assert!(src.stats().dropped > 0);
        assert_eq!((later.width, later.height), (32, 24));
    }
}
