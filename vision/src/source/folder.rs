//! A folder of images played in file-name order at a set rate, looped.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::{FrameSource, check_fps, pace};
use crate::{Frame, SourceError};

/// Decoded frames are kept in memory up to this many bytes; beyond it they are decoded again.
const CACHE_BYTES: usize = 256 << 20;

pub struct FolderSource {
    dir: PathBuf,
    files: Vec<PathBuf>,
    cache: Vec<Option<Frame>>,
    cached_bytes: usize,
    fps: f32,
    seq: u64,
    start: Instant,
}

fn is_image(p: &Path) -> bool {
    p.extension().and_then(|e| e.to_str()).is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg"))
}

impl FolderSource {
    /// Lists the folder's .png/.jpg files; the first one is decoded now so a bad file is
    /// reported at once.
    pub fn open(dir: &Path, fps: f32) -> Result<FolderSource, SourceError> {
        let fps = check_fps(fps)?;
        let read_err = |source| SourceError::FolderRead { path: dir.to_path_buf(), source };
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(read_err)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && is_image(p))
            .collect();
        if files.is_empty() {
            return Err(SourceError::FolderEmpty { path: dir.to_path_buf() });
        }
        files.sort();
        let mut src = FolderSource {
            dir: dir.to_path_buf(),
            cache: vec![None; files.len()],
            files,
            cached_bytes: 0,
            fps,
            seq: 0,
            start: Instant::now(),
        };
        src.frame_at(0)?;
        Ok(src)
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    fn frame_at(&mut self, i: usize) -> Result<Frame, SourceError> {
        if let Some(Some(f)) = self.cache.get(i) {
            return Ok(f.clone());
        }
        let path = self.files.get(i).ok_or_else(|| SourceError::Config("frame index out of range".into()))?;
        let frame = Frame::load(path)?;
        if self.cached_bytes + frame.data.len() <= CACHE_BYTES
            && let Some(slot) = self.cache.get_mut(i)
        {
            self.cached_bytes += frame.data.len();
            *slot = Some(frame.clone());
        }
        Ok(frame)
    }
}

impl FrameSource for FolderSource {
    fn name(&self) -> String {
        format!("frames: {} ({} images @ {} fps)", self.dir.display(), self.files.len(), self.fps)
    }

    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        pace(self.start, self.seq, self.fps);
        let i = (self.seq % self.files.len() as u64) as usize;
        let frame = self.frame_at(i)?.restamped(self.seq, Instant::now());
        self.seq += 1;
        Ok(Some(frame))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plays_in_name_order_and_loops() {
        let dir = tempfile::tempdir().unwrap();
        for (name, shade) in [("b.png", 20u8), ("a.png", 10), ("c.jpg", 200)] {
            let img = image::RgbImage::from_pixel(8, 6, image::Rgb([shade; 3]));
            img.save(dir.path().join(name)).unwrap();
        }
        std::fs::write(dir.path().join("notes.txt"), "not a frame").unwrap();
        let mut src = FolderSource::open(dir.path(), 1000.0).unwrap();
        assert_eq!(src.len(), 3);
        let shades: Vec<u8> = (0..4).map(|_| src.next_frame().unwrap().unwrap().data[0]).collect();
        assert_eq!(shades[0], 10);
        assert_eq!(shades[1], 20);
        assert!((shades[2] as i32 - 200).abs() < 8, "jpeg shade {}", shades[2]);
        assert_eq!(shades[3], 10);
    }

    #[test]
    fn empty_folder_and_bad_image_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let err = FolderSource::open(dir.path(), 30.0).err().unwrap();
        assert!(matches!(err, SourceError::FolderEmpty { .. }), "{err}");
        std::fs::write(dir.path().join("broken.png"), b"garbage").unwrap();
        let err = FolderSource::open(dir.path(), 30.0).err().unwrap();
        assert!(matches!(err, SourceError::ImageDecode { .. }), "{err}");
        assert!(err.to_string().contains("broken.png"));
    }
}
