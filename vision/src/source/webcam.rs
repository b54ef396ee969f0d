//! A webcam through nokhwa (V4L2 on Linux, the native API elsewhere).

use std::time::Instant;

use nokhwa::Camera;
use nokhwa::pixel_format::RgbFormat;
use nokhwa::utils::{ApiBackend, CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType};

use super::FrameSource;
use crate::{Frame, SourceError};

/// Which camera to open.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum CameraSelector {
    /// The first camera found.
    #[default]
    First,
    /// By index (as shown by `--list-cameras`).
    Index(u32),
    /// The first camera whose name contains this text (case-insensitive).
    Name(String),
}

/// A camera the system offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraInfo {
    pub index: String,
    pub name: String,
    pub description: String,
}

impl std::fmt::Display for CameraInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} ({})", self.index, self.name, self.description)
    }
}

fn query() -> Result<Vec<nokhwa::utils::CameraInfo>, SourceError> {
    nokhwa::query(ApiBackend::Auto).map_err(|e| SourceError::NoCamera { detail: format!(" (the camera list failed: {e})") })
}

/// The cameras the system offers (possibly none).
pub fn list_cameras() -> Result<Vec<CameraInfo>, SourceError> {
    Ok(query()?
        .into_iter()
        .map(|c| CameraInfo { index: c.index().to_string(), name: c.human_name(), description: c.description().to_string() })
        .collect())
}

/// A streaming webcam. Must be used on the thread that opened it.
pub struct WebcamSource {
    camera: Camera,
    name: String,
    seq: u64,
}

impl WebcamSource {
    pub fn open(selector: &CameraSelector) -> Result<WebcamSource, SourceError> {
        let cams = query()?;
        if cams.is_empty() {
            return Err(SourceError::NoCamera { detail: String::new() });
        }
        let available = || cams.iter().map(|c| format!("{}: {}", c.index(), c.human_name())).collect::<Vec<_>>().join(", ");
        let info = match selector {
            CameraSelector::First => cams.first(),
            CameraSelector::Index(i) => cams.iter().find(|c| c.index().as_index().ok() == Some(*i)),
            CameraSelector::Name(n) => {
                let n = n.to_lowercase();
                cams.iter().find(|c| c.human_name().to_lowercase().contains(&n))
            }
        };
        let Some(info) = info else {
            let wanted = match selector {
                CameraSelector::First => "any".to_string(),
                CameraSelector::Index(i) => i.to_string(),
                CameraSelector::Name(n) => n.clone(),
            };
            return Err(SourceError::CameraNotFound { wanted, available: available() });
        };
        let name = format!("camera {}: {}", info.index(), info.human_name());
        let cam_err = |e: nokhwa::NokhwaError| SourceError::Camera { name: name.clone(), reason: e.to_string() };
        let wanted = CameraFormat::new_from(640, 480, FrameFormat::MJPEG, 30);
        let format = RequestedFormat::new::<RgbFormat>(RequestedFormatType::Closest(wanted));
        let index: CameraIndex = info.index().clone();
        let mut camera = Camera::new(index, format).map_err(cam_err)?;
        camera.open_stream().map_err(cam_err)?;
        Ok(WebcamSource { camera, name, seq: 0 })
    }
}

impl FrameSource for WebcamSource {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        let cam_err = |e: nokhwa::NokhwaError| SourceError::Camera { name: self.name.clone(), reason: e.to_string() };
        let buffer = self.camera.frame().map_err(cam_err)?;
        let captured = Instant::now();
        let image = buffer.decode_image::<RgbFormat>().map_err(cam_err)?;
        let (w, h) = image.dimensions();
        let frame = Frame::from_rgb(w, h, image.into_raw(), self.seq, captured)
            .ok_or_else(|| SourceError::Camera { name: self.name.clone(), reason: "decoded frame has the wrong size".into() })?;
        self.seq += 1;
        Ok(Some(frame))
    }
}

impl Drop for WebcamSource {
    fn drop(&mut self) {
        if let Err(e) = self.camera.stop_stream() {
            tracing::debug!(error = %e, "stopping the camera stream");
        }
    }
}
