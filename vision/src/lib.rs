//! Camera sources and the BlazePose pose pipeline, usable without a window.
//!
//! - [`source`]: frame sources (webcam, image folder, synthetic) behind [`source::FrameSource`],
//!   each run on its own thread by [`source::RunningSource`], which always hands out the
//!   newest frame (a single-slot mailbox: stale frames are dropped, never queued).
//! - [`runtime`]: finds and loads the ONNX Runtime library without any environment variable.
//! - [`model`]: the model files, their checksums, and reading them with progress.
//! - [`pipeline`]: the two-stage BlazePose pipeline (detector → rotated region → landmarks)
//!   with region tracking and One Euro smoothing, producing [`shared::pose::Skeleton`]s.
//! - [`people`]: up to four people at once ([`PosePipeline::process_people`]), each with a
//!   stable [`PersonId`].
//! - [`loader`]: staged loading (read files, build sessions, warm up) on a background thread
//!   with progress events and cancellation; the ready pipeline is moved to the caller.

pub mod anchors;
pub mod error;
pub mod filter;
pub mod frame;
pub mod geometry;
pub mod loader;
pub mod model;
pub mod pipeline;

/// Several people at once (a module of the pipeline, re-exported here).
pub use pipeline::people;
pub mod prune;
pub mod runtime;
pub mod source;

pub use error::{SourceError, VisionError};
pub use frame::Frame;
pub use loader::{LoadEvent, LoadHandle, LoadStage};
pub use model::{LandmarkModel, ModelConfig};
pub use people::{PersonId, TrackedPerson};
pub use pipeline::{PipelineOptions, PipelineStats, PosePipeline};
pub use source::{FrameSource, PendingSource, RunningSource, SourceConfig};
