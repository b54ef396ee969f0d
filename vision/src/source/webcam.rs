//! A webcam: on Linux through V4L2 directly (see `source::v4l2`: the format, a two-buffer
//! queue, the driver's frame timestamps), elsewhere through nokhwa.

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

/// The camera `selector` means among `cams`, or why there is none.
fn select<'a>(cams: &'a [CameraInfo], selector: &CameraSelector) -> Result<&'a CameraInfo, SourceError> {
    if cams.is_empty() {
        return Err(SourceError::NoCamera { detail: String::new() });
    }
    let found = match selector {
        CameraSelector::First => cams.first(),
        CameraSelector::Index(i) => cams.iter().find(|c| c.index == i.to_string()),
        CameraSelector::Name(n) => {
            let n = n.to_lowercase();
            cams.iter().find(|c| c.name.to_lowercase().contains(&n))
        }
    };
    found.ok_or_else(|| SourceError::CameraNotFound {
        wanted: match selector {
            CameraSelector::First => "any".to_string(),
            CameraSelector::Index(i) => i.to_string(),
            CameraSelector::Name(n) => n.clone(),
        },
        available: cams.iter().map(|c| format!("{}: {}", c.index, c.name)).collect::<Vec<_>>().join(", "),
    })
}

#[cfg(target_os = "linux")]
mod imp {
    use super::super::v4l2::{self, V4l2Camera, format::Wanted};
    use super::*;

    pub fn list_cameras() -> Result<Vec<CameraInfo>, SourceError> {
        Ok(v4l2::list())
    }

    pub struct Camera(V4l2Camera);

    impl Camera {
        pub fn open(selector: &CameraSelector) -> Result<(Camera, String), SourceError> {
            let cams = list_cameras()?;
            let info = select(&cams, selector)?;
            let index: u32 = info.index.parse().map_err(|_| SourceError::Config(format!("bad camera index {}", info.index)))?;
            let name = format!("camera {}: {}", info.index, info.name);
            let cam = V4l2Camera::open(&v4l2::device_path(index), &name, Wanted::default())?;
            Ok((Camera(cam), name))
        }

        pub fn frame(&mut self) -> Result<Frame, SourceError> {
            self.0.next_frame()
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use std::time::Instant;

    use nokhwa::pixel_format::RgbFormat;
    use nokhwa::utils::{ApiBackend, CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType};

    use super::*;

    fn query() -> Result<Vec<nokhwa::utils::CameraInfo>, SourceError> {
        nokhwa::query(ApiBackend::Auto).map_err(|e| SourceError::NoCamera { detail: format!(" (the camera list failed: {e})") })
    }

    pub fn list_cameras() -> Result<Vec<CameraInfo>, SourceError> {
        Ok(query()?
            .into_iter()
            .map(|c| CameraInfo { index: c.index().to_string(), name: c.human_name(), description: c.description().to_string() })
            .collect())
    }

    pub struct Camera {
        camera: nokhwa::Camera,
        name: String,
        seq: u64,
    }

    impl Camera {
        pub fn open(selector: &CameraSelector) -> Result<(Camera, String), SourceError> {
            let cams = query()?;
            let infos: Vec<CameraInfo> = cams
                .iter()
                .map(|c| CameraInfo { index: c.index().to_string(), name: c.human_name(), description: c.description().to_string() })
                .collect();
            let chosen = select(&infos, selector)?;
            let Some(info) = cams.iter().find(|c| c.index().to_string() == chosen.index) else {
                return Err(SourceError::NoCamera { detail: String::new() });
            };
            let name = format!("camera {}: {}", info.index(), info.human_name());
            let cam_err = |e: nokhwa::NokhwaError| SourceError::Camera { name: name.clone(), reason: e.to_string() };
            let wanted = CameraFormat::new_from(640, 480, FrameFormat::MJPEG, 30);
            let format = RequestedFormat::new::<RgbFormat>(RequestedFormatType::Closest(wanted));
            let index: CameraIndex = info.index().clone();
            let mut camera = nokhwa::Camera::new(index, format).map_err(cam_err)?;
            camera.open_stream().map_err(cam_err)?;
            Ok((Camera { camera, name: name.clone(), seq: 0 }, name))
        }

        pub fn frame(&mut self) -> Result<Frame, SourceError> {
            let cam_err = |e: nokhwa::NokhwaError| SourceError::Camera { name: self.name.clone(), reason: e.to_string() };
            let buffer = self.camera.frame().map_err(cam_err)?;
            // nokhwa gives no capture time: the time the frame was read.
            let captured = Instant::now();
            let image = buffer.decode_image::<RgbFormat>().map_err(cam_err)?;
            let (w, h) = image.dimensions();
            let frame = Frame::from_rgb(w, h, image.into_raw(), self.seq, captured)
                .ok_or_else(|| SourceError::Camera { name: self.name.clone(), reason: "decoded frame has the wrong size".into() })?;
            self.seq += 1;
            Ok(frame)
        }
    }

    impl Drop for Camera {
        fn drop(&mut self) {
            if let Err(e) = self.camera.stop_stream() {
                tracing::debug!(error = %e, "stopping the camera stream");
            }
        }
    }
}

/// The cameras the system offers (possibly none).
pub fn list_cameras() -> Result<Vec<CameraInfo>, SourceError> {
    imp::list_cameras()
}

/// A streaming webcam. Must be used on the thread that opened it.
///
/// Its frames' [`Frame::captured`] is the camera driver's timestamp where the driver gives a
/// usable one (V4L2 on Linux, see `source::v4l2::clock`), else the time the frame was taken
/// from the driver.
pub struct WebcamSource {
    camera: imp::Camera,
    name: String,
}

impl WebcamSource {
    pub fn open(selector: &CameraSelector) -> Result<WebcamSource, SourceError> {
        let (camera, name) = imp::Camera::open(selector)?;
        Ok(WebcamSource { camera, name })
    }
}

impl FrameSource for WebcamSource {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        self.camera.frame().map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cam(index: &str, name: &str) -> CameraInfo {
        CameraInfo { index: index.into(), name: name.into(), description: String::new() }
    }

    #[test]
    fn selecting_a_camera() {
        let cams = [cam("0", "Integrated Camera"), cam("2", "HD Pro Webcam C920")];
        assert_eq!(select(&cams, &CameraSelector::First).unwrap().index, "0");
        assert_eq!(select(&cams, &CameraSelector::Index(2)).unwrap().name, "HD Pro Webcam C920");
        assert_eq!(select(&cams, &CameraSelector::Name("c920".into())).unwrap().index, "2");
        let err = select(&cams, &CameraSelector::Index(1)).unwrap_err();
        assert!(matches!(err, SourceError::CameraNotFound { .. }), "{err}");
        assert!(err.to_string().contains("2: HD Pro Webcam C920"), "{err}");
        assert!(matches!(select(&[], &CameraSelector::First), Err(SourceError::NoCamera { .. })));
    }

    #[test]
    fn opening_without_a_camera_is_a_clear_error() {
        if list_cameras().is_ok_and(|c| c.is_empty()) {
            let err = WebcamSource::open(&CameraSelector::First).err().unwrap();
            assert!(matches!(err, SourceError::NoCamera { .. }), "{err}");
            assert!(err.to_string().contains("--source frames:"), "{err}");
        }
    }
}
