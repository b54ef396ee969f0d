//! The BlazePose model files: where they are, their checksums, reading them with progress.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use sha2::{Digest, Sha256};

use crate::VisionError;

/// A model file the pipeline knows: name and sha256 (see assets/models/NOTICE.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelFile {
    pub file_name: &'static str,
    pub sha256: &'static str,
}

pub const DETECTOR: ModelFile = ModelFile {
    file_name: "pose_detection.onnx",
    sha256: "150c6674bd0c93ce992dc77f48833df264ade73c53513e8da8a85129ecca29c9",
};
pub const LANDMARK_LITE: ModelFile = ModelFile {
    file_name: "pose_landmark_lite.onnx",
    sha256: "bc9b0d30c9831903d54d0b8818589904729f4c29abc1ef5db863f48593bfcda6",
};
pub const LANDMARK_FULL: ModelFile = ModelFile {
    file_name: "pose_landmark_full.onnx",
    sha256: "216d3fc0c92552b150252cb3f1db024fcaa351bc43443b464dd87f35a90373f4",
};

/// Which landmark model to use: lite is faster, full more precise.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum LandmarkModel {
    #[default]
    Lite,
    Full,
}

impl LandmarkModel {
    pub fn file(self) -> ModelFile {
        match self {
            LandmarkModel::Lite => LANDMARK_LITE,
            LandmarkModel::Full => LANDMARK_FULL,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            LandmarkModel::Lite => "lite",
            LandmarkModel::Full => "full",
        }
    }
}

impl std::str::FromStr for LandmarkModel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "lite" => Ok(LandmarkModel::Lite),
            "full" => Ok(LandmarkModel::Full),
            other => Err(format!("unknown pose model \"{other}\" — use lite or full")),
        }
    }
}

impl std::fmt::Display for LandmarkModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Where the models are and which landmark model to load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelConfig {
    pub dir: PathBuf,
    pub landmark: LandmarkModel,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig { dir: default_model_dir(), landmark: LandmarkModel::Lite }
    }
}

impl ModelConfig {
    pub fn with_landmark(landmark: LandmarkModel) -> ModelConfig {
        ModelConfig { landmark, ..ModelConfig::default() }
    }
}

/// The first `assets/models` folder holding the detector: beside the executable, in the
/// current directory or one of its ancestors, else the project's (known at compile time).
pub fn default_model_dir() -> PathBuf {
    let rel = Path::new("assets").join("models");
    let mut candidates = Vec::new();
    if let Some(dir) = std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf)) {
        candidates.push(dir.join(&rel));
    }
    if let Ok(cwd) = std::env::current_dir() {
        candidates.extend(cwd.ancestors().map(|d| d.join(&rel)));
    }
    let compiled = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(&rel);
    candidates.into_iter().find(|d| d.join(DETECTOR.file_name).is_file()).unwrap_or(compiled)
}

const CHUNK: usize = 1 << 18;

/// Reads a model file in chunks, checking its sha256 and reporting bytes read through
/// `progress`. Stops with [`VisionError::Cancelled`] as soon as `cancel` is set.
pub fn read_model(
    dir: &Path,
    file: ModelFile,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(u64),
) -> Result<Vec<u8>, VisionError> {
    let path = dir.join(file.file_name);
    let read_err = |source: std::io::Error| VisionError::ModelRead { path: path.clone(), source };
    let mut f = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(VisionError::ModelMissing { path }),
        Err(e) => return Err(read_err(e)),
    };
    let len = f.metadata().map_err(read_err)?.len();
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(VisionError::Cancelled);
        }
        let n = f.read(&mut buf).map_err(read_err)?;
        if n == 0 {
            break;
        }
        let chunk = buf.get(..n).unwrap_or_default();
        hasher.update(chunk);
        bytes.extend_from_slice(chunk);
        progress(n as u64);
    }
    let actual = hex(&hasher.finalize());
    if actual != file.sha256 {
        return Err(VisionError::ModelCorrupt { path, expected: file.sha256.to_string(), actual });
    }
    Ok(bytes)
}

/// Total size of the given model files (0 for missing ones; reading reports those).
pub fn total_size(dir: &Path, files: &[ModelFile]) -> u64 {
    files.iter().filter_map(|f| std::fs::metadata(dir.join(f.file_name)).ok()).map(|m| m.len()).sum()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_real_model_with_progress_and_checksum() {
        let dir = default_model_dir();
        let mut seen = 0u64;
        let bytes = read_model(&dir, LANDMARK_LITE, &AtomicBool::new(false), &mut |n| seen += n).unwrap();
        assert_eq!(seen, bytes.len() as u64);
        assert_eq!(seen, total_size(&dir, &[LANDMARK_LITE]));
        assert!(seen > 1_000_000);
    }

    #[test]
    fn missing_and_corrupt_models_say_run_setup() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_model(dir.path(), DETECTOR, &AtomicBool::new(false), &mut |_| {}).unwrap_err();
        assert!(matches!(err, VisionError::ModelMissing { .. }), "{err}");
        assert!(err.to_string().contains("run scripts/setup.sh"), "{err}");

        std::fs::write(dir.path().join(DETECTOR.file_name), b"not a model").unwrap();
        let err = read_model(dir.path(), DETECTOR, &AtomicBool::new(false), &mut |_| {}).unwrap_err();
        assert!(matches!(err, VisionError::ModelCorrupt { .. }), "{err}");
        assert!(err.to_string().contains("run scripts/setup.sh"), "{err}");
    }

    #[test]
    fn cancel_stops_reading() {
        let err = read_model(&default_model_dir(), DETECTOR, &AtomicBool::new(true), &mut |_| {}).unwrap_err();
        assert!(matches!(err, VisionError::Cancelled));
    }

    #[test]
    fn model_names_parse() {
        assert_eq!("Full".parse::<LandmarkModel>().unwrap(), LandmarkModel::Full);
        assert!("huge".parse::<LandmarkModel>().unwrap_err().contains("lite or full"));
    }
}
