//! Error types of the vision crate.

use std::path::PathBuf;

/// Errors of the pose pipeline: finding the runtime, loading models, running inference.
#[derive(Debug, thiserror::Error)]
pub enum VisionError {
    #[error("the ONNX Runtime library was not found (looked at: {searched}) — run scripts/setup.sh")]
    RuntimeMissing { searched: String },

    #[error("ORT_DYLIB_PATH points to {path}, which does not exist — fix the variable, or unset it and run scripts/setup.sh")]
    RuntimeEnvPathMissing { path: PathBuf },

    #[error("could not load the ONNX Runtime library {path}: {reason} — run scripts/setup.sh")]
    RuntimeLoad { path: PathBuf, reason: String },

    #[error("model file {path} is missing — run scripts/setup.sh (the models live in assets/models/; `git checkout -- assets/models` restores them)")]
    ModelMissing { path: PathBuf },

    #[error("could not read model file {path}: {source} — check the file's permissions, or run scripts/setup.sh")]
    ModelRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("model file {path} is corrupt (sha256 {actual}, expected {expected}) — run scripts/setup.sh (`git checkout -- assets/models` restores the files)")]
    ModelCorrupt { path: PathBuf, expected: String, actual: String },

    #[error("could not build an inference session for {model}: {reason} — the file may be damaged; run scripts/setup.sh")]
    Session { model: String, reason: String },

    #[error("inference failed in {model}: {reason}")]
    Inference { model: &'static str, reason: String },

    #[error("{model} returned an unexpected output: {what}")]
    BadOutput { model: &'static str, what: String },

    #[error("frame is {width}×{height} with {len} bytes, expected {expected} bytes of RGB8")]
    BadFrame { width: u32, height: u32, len: usize, expected: usize },

    #[error("model loading was cancelled")]
    Cancelled,

    #[error("the model loading thread stopped unexpectedly: {0}")]
    LoaderDied(String),
}

/// Errors of frame sources.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("no camera found{detail} — use another source instead: `--source frames:<folder of png/jpg>` or `--source synthetic`")]
    NoCamera { detail: String },

    #[error("no camera matches \"{wanted}\" (available: {available}) — pick one from `--list-cameras`, or use `--source frames:<folder>` / `--source synthetic`")]
    CameraNotFound { wanted: String, available: String },

    #[error("no permission to open camera \"{name}\" ({path}) — add yourself to the `video` group (`sudo usermod -aG video $USER`, then log out and back in), or use `--source frames:<folder>` / `--source synthetic`")]
    CameraPermission { name: String, path: PathBuf },

    #[error("camera \"{name}\" is busy: another program is using the camera — close it (a video call, a browser tab, another PoseParty) and try again")]
    CameraBusy { name: String },

    #[error("camera \"{name}\" ({path}) is not there — is it plugged in? Pick one from `--list-cameras`, or use `--source frames:<folder>` / `--source synthetic`")]
    CameraMissing { name: String, path: PathBuf },

    #[error("{path} is not a V4L2 camera ({reason}) — pick a camera from `--list-cameras`")]
    NotACamera { path: PathBuf, reason: String },

    #[error("camera \"{name}\" offers no picture format PoseParty reads (it offers: {offered}; PoseParty reads YUYV, MJPEG and RGB3) — use another camera, or `--source frames:<folder>` / `--source synthetic`")]
    CameraFormat { name: String, offered: String },

    #[error("camera \"{name}\" failed: {reason} — close other programs using it, or use `--source frames:<folder>` / `--source synthetic`")]
    Camera { name: String, reason: String },

    #[error("could not read the image folder {path}: {source}")]
    FolderRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("the image folder {path} has no .png or .jpg files — put some frames there")]
    FolderEmpty { path: PathBuf },

    #[error("could not decode image {path}: {reason} — remove or replace the file")]
    ImageDecode { path: PathBuf, reason: String },

    #[error("invalid source settings: {0}")]
    Config(String),

    #[error("the frame source thread stopped unexpectedly: {0}")]
    ThreadDied(String),
}
