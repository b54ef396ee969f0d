//! Camera plugin: runs the chosen frame source on its own thread ([`vision::RunningSource`]),
//! puts the newest frame into [`LatestFrame`] each frame, and uploads it into the Bevy image
//! of [`CameraPicture`] for the UI to show.
//!
//! The source is the plugin's `source` (from `--source`), else the menu's camera setting,
//! else the first webcam. A source that cannot be opened (or a camera setting that does not
//! parse) leaves a clear message in [`CameraStatus`] (and the log) and the game goes on
//! without a picture.
//!
//! Opening the source (a webcam, or listing a folder and decoding its first picture) runs on
//! the source's own thread; the frame loop only polls for the result, so it never stalls.

use bevy::asset::RenderAssetUsages;
use bevy::prelude::*;
use bevy::render::render_resource::{Extent3d, TextureDimension, TextureFormat};
use vision::source::list_cameras;
use vision::{PendingSource, RunningSource, SourceConfig};

use crate::settings::Settings;
use crate::state::{CameraPicture, ClientSet, LatestFrame};

/// Which source runs, or why none does.
#[derive(Debug, Clone, Default, Resource)]
pub struct CameraStatus {
    /// The source is still being opened.
    pub opening: bool,
    /// Description of the running source.
    pub source: Option<String>,
    /// Why there is no picture (opening failed or the source stopped).
    pub error: Option<String>,
}

/// The frame source: being opened, or running (dropping it stops its thread).
#[derive(Default, Resource)]
pub enum ActiveSource {
    #[default]
    None,
    Opening(PendingSource),
    Running(RunningSource),
}

/// Starts the frame source and keeps [`LatestFrame`] and [`CameraPicture`] current.
#[derive(Debug, Clone, Default)]
pub struct CameraPlugin {
    /// The source to open; `None`: the camera setting, else the first webcam.
    pub source: Option<SourceConfig>,
}

impl Plugin for CameraPlugin {
    fn build(&self, app: &mut App) {
        let chosen = self.source.clone();
        app.init_resource::<CameraStatus>()
            .init_resource::<ActiveSource>()
            .add_systems(Startup, move |settings: Option<Res<Settings>>, active: ResMut<ActiveSource>, status: ResMut<CameraStatus>| {
                start_source(chosen.clone(), settings.as_deref(), active, status)
            })
            .add_systems(Update, take_newest_frame.in_set(ClientSet::Input))
            .add_systems(Update, upload_picture.in_set(ClientSet::Ui).run_if(resource_exists::<Assets<Image>>));
    }
}

/// The source to open: the chosen one, else the camera setting, else the first webcam.
pub fn effective_source(chosen: Option<SourceConfig>, settings: Option<&Settings>) -> Result<SourceConfig, String> {
    match (chosen, settings) {
        (Some(source), _) => Ok(source),
        (None, Some(s)) => s.camera.parse().map_err(|e: vision::SourceError| {
            format!("the camera setting {:?} is not valid ({e}) — pick a camera in the menu", s.camera)
        }),
        (None, None) => Ok(SourceConfig::Camera(vision::source::CameraSelector::First)),
    }
}

/// The text `--list-cameras` prints.
pub fn list_cameras_text() -> String {
    match list_cameras() {
        Ok(cams) if cams.is_empty() => {
            "No camera found. Use --source frames:DIR (a folder of PNG/JPEG pictures) or --source synthetic.".to_string()
        }
        Ok(cams) => {
            let mut s = String::from("Cameras (use --source webcam:INDEX or webcam:NAME):\n");
            for c in cams {
                s.push_str(&format!("  {c}\n"));
            }
            s
        }
        Err(e) => e.to_string(),
    }
}

fn start_source(
    chosen: Option<SourceConfig>,
    settings: Option<&Settings>,
    mut active: ResMut<ActiveSource>,
    mut status: ResMut<CameraStatus>,
) {
    match effective_source(chosen, settings) {
        Ok(source) => {
            *status = CameraStatus { opening: true, ..Default::default() };
            *active = ActiveSource::Opening(RunningSource::start_opening(source));
        }
        Err(e) => {
            error!("{e}");
            *status = CameraStatus { error: Some(e), ..Default::default() };
        }
    }
}

/// Takes the opened source (or the reason it failed) once its thread has opened it.
fn poll_opening(active: &mut ActiveSource, status: &mut CameraStatus) {
    let ActiveSource::Opening(pending) = active else { return };
    let Some(result) = pending.poll() else { return };
    status.opening = false;
    match result {
        Ok(running) => {
            status.source = Some(running.name().to_string());
            status.error = None;
            *active = ActiveSource::Running(running);
        }
        Err(e) => {
            error!("{e}");
            status.error = Some(e.to_string());
            *active = ActiveSource::None;
        }
    }
}

fn take_newest_frame(mut active: ResMut<ActiveSource>, mut latest: ResMut<LatestFrame>, mut status: ResMut<CameraStatus>) {
    poll_opening(&mut active, &mut status);
    let ActiveSource::Running(source) = &*active else {
        latest.fresh = false;
        return;
    };
    match source.latest() {
        Some(frame) => {
            latest.frame = Some(frame);
            latest.fresh = true;
        }
        None => {
            latest.fresh = false;
            if status.error.is_none()
                && let Some(e) = source.error()
            {
                error!("camera stopped: {e}");
                status.error = Some(e);
            }
        }
    }
}

/// RGB8 → RGBA8 into `out` (resized as needed; its allocation is reused). Fixed-size chunks
/// on both sides, so the copy compiles without per-byte bounds checks.
fn rgb_to_rgba(rgb: &[u8], out: &mut Vec<u8>) {
    out.resize(rgb.len() / 3 * 4, 255);
    for (o, p) in out.chunks_exact_mut(4).zip(rgb.chunks_exact(3)) {
        o[..3].copy_from_slice(p);
        o[3] = 255;
    }
}

fn upload_picture(latest: Res<LatestFrame>, mut picture: ResMut<CameraPicture>, mut images: ResMut<Assets<Image>>) {
    let (true, Some(frame)) = (latest.fresh, &latest.frame) else { return };
    let size = UVec2::new(frame.width, frame.height);
    // Reuse the image while the size stays the same; otherwise make a new one.
    if picture.size == size
        && let Some(handle) = &picture.image
        && let Some(mut image) = images.get_mut(handle)
    {
        let mut data = image.data.take().unwrap_or_default();
        rgb_to_rgba(&frame.data, &mut data);
        image.data = Some(data);
        return;
    }
    let mut data = Vec::new();
    rgb_to_rgba(&frame.data, &mut data);
    let image = Image::new(
        Extent3d { width: frame.width, height: frame.height, depth_or_array_layers: 1 },
        TextureDimension::D2,
        data,
        TextureFormat::Rgba8UnormSrgb,
        RenderAssetUsages::RENDER_WORLD | RenderAssetUsages::MAIN_WORLD,
    );
    picture.image = Some(images.add(image));
    picture.size = size;
}

#[cfg(test)]
mod tests {
    use super::*;
    use bevy::state::app::StatesPlugin;
    use std::time::{Duration, Instant};

    use crate::state::StatePlugin;

    fn synthetic() -> SourceConfig {
        "synthetic".parse().expect("a valid spec")
    }

    #[test]
    fn rgb_becomes_opaque_rgba_reusing_the_buffer() {
        let mut out = vec![7u8; 3]; // stale contents of another size
        rgb_to_rgba(&[1, 2, 3, 4, 5, 6], &mut out);
        assert_eq!(out, [1, 2, 3, 255, 4, 5, 6, 255]);
        rgb_to_rgba(&[9, 8, 7], &mut out);
        assert_eq!(out, [9, 8, 7, 255]);
    }

    #[test]
    fn the_chosen_source_wins_over_the_setting() {
        use vision::source::CameraSelector;
        let folder = SourceConfig::Folder { path: "/x".into(), fps: 12.0 };
        let settings = Settings { camera: "synthetic".into(), ..Default::default() };
        assert_eq!(effective_source(Some(folder.clone()), Some(&settings)), Ok(folder));
        assert!(matches!(effective_source(None, Some(&settings)), Ok(SourceConfig::Synthetic { .. })));
        assert_eq!(effective_source(None, None), Ok(SourceConfig::Camera(CameraSelector::First)));
        let typo = Settings { camera: "webcma".into(), ..Default::default() };
        let e = effective_source(None, Some(&typo)).unwrap_err();
        assert!(e.contains("webcma") && e.contains("menu"), "{e}");
    }

    #[test]
    fn headless_app_receives_synthetic_frames_and_uploads_a_picture() {
        let mut app = App::new();
        app.add_plugins((MinimalPlugins, StatesPlugin, AssetPlugin::default(), StatePlugin))
            .init_asset::<Image>()
            .add_plugins(CameraPlugin { source: Some(synthetic()) });
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut seqs = Vec::new();
        while seqs.len() < 3 && Instant::now() < deadline {
            app.update();
            let latest = app.world().resource::<LatestFrame>();
            if latest.fresh {
                seqs.push(latest.frame.as_ref().map(|f| f.seq));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(seqs.len(), 3, "no frames arrived: {:?}", app.world().resource::<CameraStatus>());
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
        let picture = app.world().resource::<CameraPicture>();
        assert_eq!(picture.size, UVec2::new(640, 480));
        let handle = picture.image.clone().unwrap();
        let images = app.world().resource::<Assets<Image>>();
        let image = images.get(&handle).unwrap();
        assert_eq!(image.data.as_ref().map(Vec::len), Some(640 * 480 * 4));
    }

    #[test]
    fn startup_leaves_the_opening_to_the_source_thread() {
        // The startup system must not wait for the source: it leaves it opening, and a later
        // update takes it over once its thread has opened it.
        let mut app = App::new();
        app.add_plugins((MinimalPlugins, StatesPlugin, StatePlugin))
            .add_plugins(CameraPlugin { source: Some(synthetic()) });
        app.world_mut().run_schedule(Startup);
        assert!(matches!(app.world().resource::<ActiveSource>(), ActiveSource::Opening(_)));
        assert!(app.world().resource::<CameraStatus>().opening);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !matches!(app.world().resource::<ActiveSource>(), ActiveSource::Running(_)) {
            assert!(Instant::now() < deadline, "never opened: {:?}", app.world().resource::<CameraStatus>());
            std::thread::sleep(Duration::from_millis(5));
            app.update();
        }
        let status = app.world().resource::<CameraStatus>();
        assert!(!status.opening && status.error.is_none(), "{status:?}");
        assert!(status.source.as_deref().is_some_and(|s| s.contains("synthetic")), "{status:?}");
    }

    #[test]
    fn missing_folder_is_reported_not_fatal() {
        let mut app = App::new();
        app.add_plugins((MinimalPlugins, StatesPlugin, StatePlugin))
            .add_plugins(CameraPlugin { source: Some(SourceConfig::Folder { path: "/nonexistent/poseparty".into(), fps: 10.0 }) });
        // The folder is opened on the source's thread; the error arrives within a few updates.
        let deadline = Instant::now() + Duration::from_secs(10);
        app.update();
        while app.world().resource::<CameraStatus>().opening && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
            app.update();
        }
        let status = app.world().resource::<CameraStatus>();
        assert!(status.error.as_deref().is_some_and(|e| e.contains("/nonexistent/poseparty")), "{status:?}");
        assert!(status.source.is_none() && !status.opening, "{status:?}");
        assert!(matches!(app.world().resource::<ActiveSource>(), ActiveSource::None));
        assert!(app.world().resource::<LatestFrame>().frame.is_none());
    }
}
