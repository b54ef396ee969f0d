//! The frame type passed from sources to the pipeline.

use std::sync::Arc;
use std::time::Instant;

/// One RGB8 picture (row-major, 3 bytes per pixel, no padding) from a frame source.
///
/// The pixel buffer is shared (`Arc`), so cloning a frame is cheap.
#[derive(Debug, Clone)]
pub struct Frame {
    pub width: u32,
    pub height: u32,
    pub data: Arc<[u8]>,
    /// Per-source sequence number, starting at 0, increasing by one per produced frame.
    pub seq: u64,
    /// When the picture was taken, as precisely as the source knows it; latency is measured
    /// from here.
    ///
    /// - webcam on Linux (V4L2): the driver's own timestamp of the frame (uvcvideo: the start
    ///   of the frame, on CLOCK_MONOTONIC, which is `Instant`'s clock), mapped to an `Instant`;
    ///   when the driver gives none that can be trusted (not CLOCK_MONOTONIC, zero, in the
    ///   future, or more than 5 s old), the time the frame was taken from the driver;
    /// - webcam elsewhere (nokhwa): the time the frame was read from the camera, before decoding;
    /// - image folder and synthetic: the time the source produced the frame (right after its
    ///   pacing wait), since there is no camera.
    pub captured: Instant,
}

impl Frame {
    /// Wraps an RGB8 buffer; `None` when its length does not match `width × height × 3`.
    pub fn from_rgb(width: u32, height: u32, data: impl Into<Arc<[u8]>>, seq: u64, captured: Instant) -> Option<Frame> {
        let data = data.into();
        (data.len() == rgb_len(width, height)?).then_some(Frame { width, height, data, seq, captured })
    }

    /// The same picture with another sequence number and timestamp (the pixels are shared).
    pub fn restamped(&self, seq: u64, captured: Instant) -> Frame {
        Frame { seq, captured, ..self.clone() }
    }

    /// Decodes a PNG/JPEG file into a frame with sequence number 0.
    pub fn load(path: &std::path::Path) -> Result<Frame, crate::SourceError> {
        let decode_err = |reason: String| crate::SourceError::ImageDecode { path: path.to_path_buf(), reason };
        let img = image::ImageReader::open(path)
            .map_err(|e| decode_err(e.to_string()))?
            .with_guessed_format()
            .map_err(|e| decode_err(e.to_string()))?
            .decode()
            .map_err(|e| decode_err(e.to_string()))?
            .into_rgb8();
        let (w, h) = img.dimensions();
        Frame::from_rgb(w, h, img.into_raw(), 0, Instant::now()).ok_or_else(|| decode_err("decoded size mismatch".into()))
    }
}

/// Byte length of an RGB8 picture, `None` on overflow.
pub(crate) fn rgb_len(width: u32, height: u32) -> Option<usize> {
    (width as usize).checked_mul(height as usize)?.checked_mul(3)
}
