//! The two-stage BlazePose pipeline with region tracking and smoothing.
//!
//! Per frame: if no region is tracked, the detector finds the person (letterboxed 224×224
//! input, SSD anchors, weighted NMS) and its hip centre + body-circle keypoints give a
//! rotated square region. The region is cropped to 256×256 and the landmark model predicts
//! 33 landmarks plus two alignment points, which are mapped back to the image. The alignment
//! points (hip centre and a point on the body circle, outputs 33 and 34) give the next
//! frame's region, so the detector only runs when the person is lost (presence < 0.5).

pub mod people;

use std::time::{Duration, Instant};

use ort::session::{HasSelectedOutputs, OutputSelector, RunOptions, Session};
use ort::session::builder::GraphOptimizationLevel;
use ort::value::TensorRef;
use shared::pose::{LANDMARK_COUNT, Landmark, Skeleton};

use crate::anchors::{self, ANCHOR_COUNT, Anchor, DETECTOR_INPUT};
use crate::filter::{LandmarkSmoother, OneEuroParams};
use crate::geometry::{Affine, Normalize, Roi, letterbox, warp_rgb};
use crate::model::LandmarkModel;
use crate::{Frame, VisionError};

/// Landmark model input side in pixels.
pub const LANDMARK_INPUT: u32 = 256;
/// Values per detector row: box (cx, cy, w, h) + 4 keypoints × (x, y).
const DETECTOR_COORDS: usize = 12;
/// Landmark model rows: 33 body landmarks + 6 auxiliary points.
const LANDMARK_ROWS: usize = 39;
const LANDMARK_VALUES: usize = 5;
const AUX_CENTER: usize = 33;
const AUX_SCALE: usize = 34;

/// Tuning of the pipeline; defaults are MediaPipe's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PipelineOptions {
    /// Minimum detector score (after sigmoid).
    pub detection_threshold: f32,
    /// Minimum pose presence from the landmark model; below it there is no skeleton.
    pub presence_threshold: f32,
    /// IoU above which detections are merged by weighted NMS.
    pub nms_iou: f32,
    /// Region side = 2 × alignment distance × this.
    pub roi_expand: f32,
    /// Landmark smoothing; `None` turns it off.
    pub smoothing: Option<OneEuroParams>,
    /// Prune the landmark model to the outputs the pipeline reads when loading it (see
    /// [`crate::prune`]); `false` runs the whole graph (only for comparisons).
    pub prune_landmark_model: bool,
    /// How many people [`PosePipeline::process_people`] tracks at most (1–4; other values
    /// are clamped). [`PosePipeline::process`] always tracks one.
    pub max_people: usize,
    /// With fewer than `max_people` tracked, [`PosePipeline::process_people`] also runs the
    /// detector every this many frames, to find someone who walks in (0 = only when a
    /// tracked region is lost or nobody is tracked).
    pub detect_every: u32,
    /// Run the detector on every frame of [`PosePipeline::process_people`] (for comparisons).
    pub detect_always: bool,
    /// How many frames a person who left the picture is remembered, so that they get their
    /// id back when they return near where they were.
    pub keep_lost_frames: u32,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        PipelineOptions {
            detection_threshold: 0.5,
            presence_threshold: 0.5,
            nms_iou: 0.3,
            roi_expand: 1.25,
            smoothing: Some(OneEuroParams::default()),
            prune_landmark_model: true,
            max_people: 1,
            detect_every: 10,
            detect_always: false,
            keep_lost_frames: 60,
        }
    }
}

/// Counters and timings, for tests and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PipelineStats {
    pub frames: u64,
    pub detector_runs: u64,
    pub landmark_runs: u64,
    /// Whether the detector ran for the last processed frame.
    pub last_used_detector: bool,
    /// Detector run (ONNX Runtime, with output copy) of the last frame that ran it.
    pub last_detector: Duration,
    /// Cropping the region into the landmark model's input, last landmark run.
    pub last_landmark_warp: Duration,
    /// Landmark model run (ONNX Runtime, with output copy), last landmark run.
    pub last_landmark: Duration,
    /// The whole `process` call of the last frame.
    pub last_total: Duration,
    /// Sums over all runs (wall time): landmark model runs and their crops, detector runs.
    pub landmark_total: Duration,
    pub landmark_warp_total: Duration,
    pub detector_total: Duration,
}

/// A person found by the detector, in image pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    pub score: f32,
    /// `[xmin, ymin, xmax, ymax]`.
    pub bbox: [f32; 4],
    /// Keypoint 0 = hip centre, 1 = point on the full-body circle, 2–3 = upper body.
    pub keypoints: [(f32, f32); 4],
}

impl Detection {
    pub fn roi(&self, expand: f32) -> Roi {
        Roi::from_alignment(self.keypoints[0], self.keypoints[1], expand)
    }
}

/// Raw landmark model result, mapped to image pixels.
#[derive(Debug, Clone)]
pub struct LandmarkResult {
    /// Pose presence probability.
    pub presence: f32,
    /// x, y in image pixels; z in image pixels (depth); visibility and presence as probabilities.
    pub landmarks: [Landmark; LANDMARK_COUNT],
    /// Hip centre and body-circle point, image pixels: the next region's alignment points.
    pub alignment: [(f32, f32); 2],
}

/// The loaded BlazePose pipeline. Move it to the thread that runs it; it is `Send`.
pub struct PosePipeline {
    detector: Session,
    landmark: Session,
    model: LandmarkModel,
    options: PipelineOptions,
    anchors: Vec<Anchor>,
    det_input: Vec<f32>,
    lm_input: Vec<f32>,
    /// Crops of several regions of one frame ([`Self::landmarks_in_all`]).
    lm_crops: Vec<f32>,
    /// Asks only for the outputs used, so ONNX Runtime can skip the segmentation and heatmap heads.
    lm_run: RunOptions<HasSelectedOutputs>,
    tracked: Option<Roi>,
    last_time: Option<Instant>,
    smoother: LandmarkSmoother,
    stats: PipelineStats,
    /// Tracking state of [`PosePipeline::process_people`] (separate from `process`'s).
    people: people::People,
}

/// The landmark model outputs the pipeline reads: landmarks and pose presence.
pub const LANDMARK_OUTPUTS: [&str; 2] = ["Identity", "Identity_1"];

/// Builds one inference session with the settings this pipeline needs on a small machine:
/// one intra-op thread (spinning on 2 shared cores doubled latency), full graph optimisation.
///
/// With `keep_outputs`, the graph is first pruned to those outputs ([`crate::prune`]): ONNX
/// Runtime would otherwise compute every head of the model on each run. A model that cannot
/// be pruned is used whole, with a warning.
pub fn build_session(bytes: &[u8], name: &str, keep_outputs: Option<&[&str]>) -> Result<Session, VisionError> {
    let started = Instant::now();
    let pruned = match keep_outputs.map(|keep| crate::prune::prune_outputs(bytes, keep)) {
        None => None,
        Some(Ok((pruned, stats))) => {
            tracing::debug!(model = name, ?stats, took = ?started.elapsed(), "pruned unused model outputs");
            Some(pruned)
        }
        Some(Err(e)) => {
            tracing::warn!(model = name, error = %e, "could not prune the model; running it whole (slower)");
            None
        }
    };
    let env = crate::runtime::environment()?;
    let err = |reason: String| VisionError::Session { model: name.to_string(), reason };
    Session::builder(&env)
        .map_err(|e| err(e.to_string()))?
        .with_optimization_level(GraphOptimizationLevel::All)
        .map_err(|e| err(e.to_string()))?
        .with_intra_threads(1)
        .map_err(|e| err(e.to_string()))?
        .with_inter_threads(1)
        .map_err(|e| err(e.to_string()))?
        .with_intra_op_spinning(false)
        .map_err(|e| err(e.to_string()))?
        .commit_from_memory(pruned.as_deref().unwrap_or(bytes))
        .map_err(|e| err(e.to_string()))
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x.clamp(-100.0, 100.0)).exp())
}

fn run_err(model: &'static str) -> impl Fn(ort::Error) -> VisionError {
    move |e| VisionError::Inference { model, reason: e.to_string() }
}

/// The named output of a session run as a flat f32 slice of at least `min_len` values.
fn output<'a>(
    outputs: &'a ort::session::SessionOutputs<'_>,
    name: &str,
    min_len: usize,
    model: &'static str,
) -> Result<&'a [f32], VisionError> {
    let value = outputs.get(name).ok_or_else(|| VisionError::BadOutput { model, what: format!("no output named {name}") })?;
    let (_, data) = value.try_extract_tensor::<f32>().map_err(run_err(model))?;
    if data.len() < min_len {
        return Err(VisionError::BadOutput { model, what: format!("{name} has {} values, expected {min_len}", data.len()) });
    }
    Ok(data)
}

impl PosePipeline {
    /// Wraps built sessions (see [`build_session`] and [`crate::loader`]).
    pub fn from_sessions(
        detector: Session,
        landmark: Session,
        model: LandmarkModel,
        options: PipelineOptions,
    ) -> Result<Self, VisionError> {
        let selector = LANDMARK_OUTPUTS.iter().fold(OutputSelector::no_default(), |s, o| s.with(*o));
        let lm_run = RunOptions::new().map_err(run_err("pose_landmark"))?.with_outputs(selector);
        let n_det = (DETECTOR_INPUT * DETECTOR_INPUT * 3) as usize;
        let n_lm = (LANDMARK_INPUT * LANDMARK_INPUT * 3) as usize;
        Ok(PosePipeline {
            detector,
            landmark,
            model,
            lm_run,
            smoother: LandmarkSmoother::new(options.smoothing.unwrap_or_default()),
            options,
            anchors: anchors::generate(),
            det_input: vec![0.0; n_det],
            lm_input: vec![0.0; n_lm],
            lm_crops: Vec::new(),
            tracked: None,
            last_time: None,
            stats: PipelineStats::default(),
            people: people::People::default(),
        })
    }

    pub fn model(&self) -> LandmarkModel {
        self.model
    }

    pub fn options(&self) -> &PipelineOptions {
        &self.options
    }

    /// Changes the options without reloading (e.g. `max_people` from the settings). Tracking
    /// starts over; `prune_landmark_model` only takes effect at loading.
    pub fn set_options(&mut self, options: PipelineOptions) {
        self.options = options;
        self.smoother = LandmarkSmoother::new(options.smoothing.unwrap_or_default());
        self.reset_tracking();
        self.reset_people();
    }

    pub fn stats(&self) -> PipelineStats {
        self.stats
    }

    /// The region that will be used for the next frame, if a person is being tracked.
    pub fn tracked_roi(&self) -> Option<Roi> {
        self.tracked
    }

    /// Forgets the tracked person: the next frame runs the detector.
    pub fn reset_tracking(&mut self) {
        self.tracked = None;
        self.last_time = None;
        self.smoother.reset();
    }

    /// Runs both models once on a blank input so that the first real frame is not slow.
    pub fn warm_up(&mut self) -> Result<(), VisionError> {
        self.det_input.fill(0.0);
        self.run_detector_raw()?;
        self.lm_input.fill(0.5);
        self.run_landmark_raw()?;
        self.stats = PipelineStats::default();
        Ok(())
    }

    /// The pose in `frame`, or `None` when no person is there.
    pub fn process(&mut self, frame: &Frame) -> Result<Option<Skeleton>, VisionError> {
        check_frame(frame)?;
        let start = Instant::now();
        self.stats.frames += 1;
        self.stats.last_used_detector = false;
        let result = match self.tracked.take() {
            Some(roi) => match self.landmarks_in(frame, &roi)? {
                Some(r) => Some(r),
                // Lost the person: look for them again in this same frame.
                None => self.detect_and_track(frame)?,
            },
            None => self.detect_and_track(frame)?,
        };
        let skeleton = match result {
            Some(mut r) => {
                let next = Roi::from_alignment(r.alignment[0], r.alignment[1], self.options.roi_expand);
                self.tracked = next.is_valid().then_some(next);
                self.smooth(&mut r.landmarks, frame.captured);
                Some(to_skeleton(&r, frame.width, frame.height))
            }
            None => {
                self.reset_tracking();
                None
            }
        };
        self.stats.last_total = start.elapsed();
        Ok(skeleton)
    }

    fn detect_and_track(&mut self, frame: &Frame) -> Result<Option<LandmarkResult>, VisionError> {
        self.smoother.reset();
        self.last_time = None;
        let Some(det) = self.detect(frame)? else { return Ok(None) };
        let roi = det.roi(self.options.roi_expand);
        if !roi.is_valid() {
            return Ok(None);
        }
        self.landmarks_in(frame, &roi)
    }

    fn smooth(&mut self, landmarks: &mut [Landmark; LANDMARK_COUNT], at: Instant) {
        if self.options.smoothing.is_none() {
            return;
        }
        let dt = self.last_time.map_or(0.0, |t| at.saturating_duration_since(t).as_secs_f32());
        self.last_time = Some(at);
        let (mut lo, mut hi) = ((f32::MAX, f32::MAX), (f32::MIN, f32::MIN));
        for lm in landmarks.iter() {
            lo = (lo.0.min(lm.x), lo.1.min(lm.y));
            hi = (hi.0.max(lm.x), hi.1.max(lm.y));
        }
        let scale = ((hi.0 - lo.0) + (hi.1 - lo.1)) / 2.0;
        self.smoother.apply(landmarks, dt, scale);
    }

    /// Everyone in `frame`, up to `options.max_people` (see [`crate::people`]): each with a
    /// stable id, their own tracked region and smoothing. The detector runs only when a
    /// region is lost, nobody is tracked, or every `detect_every` frames while fewer than
    /// `max_people` are tracked. People are returned in id order. With `max_people = 1` this
    /// tracks like [`Self::process`] (and costs the same) but also gives the id.
    pub fn process_people(&mut self, frame: &Frame) -> Result<Vec<people::TrackedPerson>, VisionError> {
        check_frame(frame)?;
        let start = Instant::now();
        self.stats.frames += 1;
        self.stats.last_used_detector = false;
        let mut people = std::mem::take(&mut self.people);
        let result = people.step(self, frame);
        self.people = people;
        self.stats.last_total = start.elapsed();
        result
    }

    /// Forgets everyone [`Self::process_people`] tracks or remembers; ids start again at 1.
    pub fn reset_people(&mut self) {
        self.people = people::People::default();
    }

    /// The regions [`Self::process_people`] will use on the next frame, with the ids.
    pub fn tracked_people(&self) -> Vec<(people::PersonId, Roi)> {
        self.people.regions()
    }

    /// Runs the detector on the whole frame: every person scoring above threshold (weighted
    /// non-maximum suppression over all anchors), best first, in image pixels.
    pub fn detect_all(&mut self, frame: &Frame) -> Result<Vec<Detection>, VisionError> {
        self.detect_all_in(frame, 0)
    }

    /// How many detector passes [`Self::detect_all_in`] has for this frame size: the whole
    /// frame, then, for a frame wider than 1.2 × its height, `ceil(width / height)` squares
    /// of the frame's height spread from left to right (people far away in a wide picture
    /// are too small for the detector's 224-pixel input when it sees the whole width).
    pub fn detector_passes(width: u32, height: u32) -> usize {
        if u64::from(width) * 5 > u64::from(height) * 6 { 1 + width.div_ceil(height.max(1)) as usize } else { 1 }
    }

    /// [`Self::detect_all`] on pass `pass` (modulo [`Self::detector_passes`]): 0 = the whole
    /// frame, `k` = the `k`-th square tile. Detections are in whole-image pixels.
    pub fn detect_all_in(&mut self, frame: &Frame, pass: usize) -> Result<Vec<Detection>, VisionError> {
        check_frame(frame)?;
        let passes = Self::detector_passes(frame.width, frame.height);
        let map = match pass % passes {
            0 => letterbox(frame.width, frame.height, DETECTOR_INPUT),
            k => {
                let tiles = (passes - 1) as f32;
                let side = frame.height as f32;
                let x0 = if tiles > 1.0 { (frame.width as f32 - side) * (k - 1) as f32 / (tiles - 1.0) } else { 0.0 };
                let s = side / DETECTOR_INPUT as f32;
                Affine { m: [s, 0.0, 0.0, s], t: [x0, 0.0] }
            }
        };
        warp_rgb(&frame.data, frame.width, frame.height, &map, &mut self.det_input, DETECTOR_INPUT, Normalize::SIGNED);
        let (boxes, scores) = self.run_detector_raw()?;
        Ok(decode_all_detections(&boxes, &scores, &self.anchors, &self.options).into_iter().map(|d| d.mapped(&map)).collect())
    }

    /// Runs the detector on the whole frame; the best person, if any scores above threshold.
    pub fn detect(&mut self, frame: &Frame) -> Result<Option<Detection>, VisionError> {
        check_frame(frame)?;
        let map = letterbox(frame.width, frame.height, DETECTOR_INPUT);
        warp_rgb(&frame.data, frame.width, frame.height, &map, &mut self.det_input, DETECTOR_INPUT, Normalize::SIGNED);
        let (boxes, scores) = self.run_detector_raw()?;
        Ok(decode_detections(&boxes, &scores, &self.anchors, &self.options).map(|d| d.mapped(&map)))
    }

    fn run_detector_raw(&mut self) -> Result<(Vec<f32>, Vec<f32>), VisionError> {
        const M: &str = "pose_detection";
        let t = Instant::now();
        let n = DETECTOR_INPUT as usize;
        let input = TensorRef::from_array_view(([1usize, n, n, 3], self.det_input.as_slice())).map_err(run_err(M))?;
        let outputs = self.detector.run(ort::inputs!["input_1" => input]).map_err(run_err(M))?;
        let boxes = output(&outputs, "Identity", ANCHOR_COUNT * DETECTOR_COORDS, M)?.to_vec();
        let scores = output(&outputs, "Identity_1", ANCHOR_COUNT, M)?.to_vec();
        self.stats.detector_runs += 1;
        self.stats.last_used_detector = true;
        self.stats.last_detector = t.elapsed();
        self.stats.detector_total += self.stats.last_detector;
        Ok((boxes, scores))
    }

    /// Runs the landmark model on `roi`; `None` when the pose presence is below threshold.
    pub fn landmarks_in(&mut self, frame: &Frame, roi: &Roi) -> Result<Option<LandmarkResult>, VisionError> {
        check_frame(frame)?;
        let t = Instant::now();
        let map = roi.crop_to_image(LANDMARK_INPUT);
        warp_rgb(&frame.data, frame.width, frame.height, &map, &mut self.lm_input, LANDMARK_INPUT, Normalize::UNIT);
        self.stats.last_landmark_warp = t.elapsed();
        self.stats.landmark_warp_total += self.stats.last_landmark_warp;
        let (raw, presence) = self.run_landmark_raw()?;
        if presence < self.options.presence_threshold {
            return Ok(None);
        }
        Ok(Some(decode_landmarks(&raw, presence, &map)))
    }

    /// [`Self::landmarks_in`] for several regions of one frame: every crop first, while the
    /// frame's pixels are in the cache, then the model on each crop (two people on a
    /// 1024×512 frame: 1.17 → 1.00 ms per crop, `posebench --people 2`).
    pub fn landmarks_in_all(&mut self, frame: &Frame, rois: &[Roi]) -> Result<Vec<Option<LandmarkResult>>, VisionError> {
        check_frame(frame)?;
        let t = Instant::now();
        let size = self.lm_input.len();
        let mut crops = std::mem::take(&mut self.lm_crops);
        crops.resize(size * rois.len(), 0.0);
        let maps: Vec<Affine> = rois.iter().map(|roi| roi.crop_to_image(LANDMARK_INPUT)).collect();
        for (map, crop) in maps.iter().zip(crops.chunks_exact_mut(size)) {
            warp_rgb(&frame.data, frame.width, frame.height, map, crop, LANDMARK_INPUT, Normalize::UNIT);
        }
        let warp = t.elapsed();
        self.stats.last_landmark_warp = warp / u32::try_from(rois.len().max(1)).unwrap_or(1);
        self.stats.landmark_warp_total += warp;
        let mut results = Vec::with_capacity(rois.len());
        let mut failed = None;
        for (map, crop) in maps.iter().zip(crops.chunks_exact(size)) {
            match self.run_landmark_on(crop) {
                Ok((raw, presence)) => results.push(
                    (presence >= self.options.presence_threshold).then(|| decode_landmarks(&raw, presence, map)),
                ),
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        self.lm_crops = crops;
        match failed {
            Some(e) => Err(e),
            None => Ok(results),
        }
    }

    fn run_landmark_raw(&mut self) -> Result<(Vec<f32>, f32), VisionError> {
        let input = std::mem::take(&mut self.lm_input);
        let result = self.run_landmark_on(&input);
        self.lm_input = input;
        result
    }

    /// Runs the landmark model on one prepared crop (`LANDMARK_INPUT`² × 3 values).
    fn run_landmark_on(&mut self, crop: &[f32]) -> Result<(Vec<f32>, f32), VisionError> {
        const M: &str = "pose_landmark";
        let t = Instant::now();
        let n = LANDMARK_INPUT as usize;
        let input = TensorRef::from_array_view(([1usize, n, n, 3], crop)).map_err(run_err(M))?;
        let outputs =
            self.landmark.run_with_options(ort::inputs!["input_1" => input], &self.lm_run).map_err(run_err(M))?;
        let raw = output(&outputs, "Identity", LANDMARK_ROWS * LANDMARK_VALUES, M)?.to_vec();
        let presence = output(&outputs, "Identity_1", 1, M)?.first().copied().unwrap_or(0.0);
        self.stats.landmark_runs += 1;
        self.stats.last_landmark = t.elapsed();
        self.stats.landmark_total += self.stats.last_landmark;
        Ok((raw, if presence.is_finite() { presence.clamp(0.0, 1.0) } else { 0.0 }))
    }
}

fn check_frame(frame: &Frame) -> Result<(), VisionError> {
    let expected = crate::frame::rgb_len(frame.width, frame.height).unwrap_or(usize::MAX);
    if frame.width == 0 || frame.height == 0 || frame.data.len() != expected {
        return Err(VisionError::BadFrame { width: frame.width, height: frame.height, len: frame.data.len(), expected });
    }
    Ok(())
}

/// A detector candidate in normalised detector-input coordinates.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    score: f32,
    bbox: [f32; 4],
    keypoints: [(f32, f32); 4],
}

impl Detection {
    /// Maps a detection from normalised detector-input coordinates to image pixels.
    fn mapped(self, map: &Affine) -> Detection {
        let s = DETECTOR_INPUT as f32;
        let p = |(x, y): (f32, f32)| map.apply(x * s, y * s);
        let (x0, y0) = p((self.bbox[0], self.bbox[1]));
        let (x1, y1) = p((self.bbox[2], self.bbox[3]));
        Detection { score: self.score, bbox: [x0, y0, x1, y1], keypoints: self.keypoints.map(p) }
    }
}

fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    if union > 0.0 { inter / union } else { 0.0 }
}

/// Decodes the detector outputs into every person: weighted NMS over all candidates above
/// threshold (best candidate first; everything overlapping it by more than `nms_iou` is
/// merged into it, weighted by score, and removed; repeat). The first entry equals
/// [`decode_detections`]'s result.
fn decode_all_detections(boxes: &[f32], scores: &[f32], anchors: &[Anchor], opt: &PipelineOptions) -> Vec<Detection> {
    let mut candidates = decode_candidates(boxes, scores, anchors, opt);
    let mut people = Vec::new();
    // Same order of candidates and of the sums as `decode_detections`, so that the first
    // person is exactly the single-person result.
    while let Some((i, best)) = candidates.iter().copied().enumerate().max_by(|a, b| a.1.score.total_cmp(&b.1.score)) {
        let mut cluster = Vec::new();
        let mut rest = Vec::with_capacity(candidates.len());
        for (j, c) in candidates.into_iter().enumerate() {
            if j == i || iou(&c.bbox, &best.bbox) > opt.nms_iou { cluster.push(c) } else { rest.push(c) }
        }
        candidates = rest;
        people.push(merge(&best, cluster.iter()));
    }
    people
}

/// Score-weighted mean of a cluster, with the best candidate's score.
fn merge<'a>(best: &Candidate, cluster: impl Iterator<Item = &'a Candidate>) -> Detection {
    let mut total = 0.0;
    let mut bbox = [0.0f32; 4];
    let mut kps = [(0.0f32, 0.0f32); 4];
    for c in cluster {
        total += c.score;
        for (b, v) in bbox.iter_mut().zip(c.bbox) {
            *b += v * c.score;
        }
        for (k, v) in kps.iter_mut().zip(c.keypoints) {
            *k = (k.0 + v.0 * c.score, k.1 + v.1 * c.score);
        }
    }
    if total <= 0.0 {
        return Detection { score: best.score, bbox: best.bbox, keypoints: best.keypoints };
    }
    Detection { score: best.score, bbox: bbox.map(|v| v / total), keypoints: kps.map(|(x, y)| (x / total, y / total)) }
}

fn decode_candidates(boxes: &[f32], scores: &[f32], anchors: &[Anchor], opt: &PipelineOptions) -> Vec<Candidate> {
    let s = DETECTOR_INPUT as f32;
    anchors
        .iter()
        .zip(scores.iter())
        .zip(boxes.chunks_exact(DETECTOR_COORDS))
        .filter_map(|((a, &logit), r)| {
            let score = sigmoid(logit);
            if score.is_nan() || score < opt.detection_threshold {
                return None;
            }
            let (cx, cy, w, h) = (r[0] / s + a.x, r[1] / s + a.y, r[2] / s, r[3] / s);
            let kp = |k: usize| (r[4 + 2 * k] / s + a.x, r[5 + 2 * k] / s + a.y);
            let c = Candidate {
                score,
                bbox: [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0],
                keypoints: [kp(0), kp(1), kp(2), kp(3)],
            };
            (c.bbox.iter().all(|v| v.is_finite()) && w > 0.0 && h > 0.0).then_some(c)
        })
        .collect()
}

/// Decodes the detector outputs and merges the best person's overlapping candidates
/// (weighted NMS, as MediaPipe does). Coordinates stay normalised to the detector input.
fn decode_detections(boxes: &[f32], scores: &[f32], anchors: &[Anchor], opt: &PipelineOptions) -> Option<Detection> {
    let candidates = decode_candidates(boxes, scores, anchors, opt);
    let best = candidates.iter().max_by(|a, b| a.score.total_cmp(&b.score))?;
    let mut total = 0.0;
    let mut bbox = [0.0f32; 4];
    let mut kps = [(0.0f32, 0.0f32); 4];
    for c in candidates.iter().filter(|c| iou(&c.bbox, &best.bbox) > opt.nms_iou) {
        total += c.score;
        for (b, v) in bbox.iter_mut().zip(c.bbox) {
            *b += v * c.score;
        }
        for (k, v) in kps.iter_mut().zip(c.keypoints) {
            *k = (k.0 + v.0 * c.score, k.1 + v.1 * c.score);
        }
    }
    if total <= 0.0 {
        return Some(Detection { score: best.score, bbox: best.bbox, keypoints: best.keypoints });
    }
    Some(Detection { score: best.score, bbox: bbox.map(|v| v / total), keypoints: kps.map(|(x, y)| (x / total, y / total)) })
}

/// Maps the landmark model's raw rows (crop pixels, logits) to image pixels and probabilities.
fn decode_landmarks(raw: &[f32], presence: f32, map: &Affine) -> LandmarkResult {
    let depth_scale = map.scale();
    let row = |i: usize| raw.get(i * LANDMARK_VALUES..(i + 1) * LANDMARK_VALUES).unwrap_or(&[0.0; LANDMARK_VALUES]);
    let mut landmarks = [Landmark::default(); LANDMARK_COUNT];
    for (i, lm) in landmarks.iter_mut().enumerate() {
        let r = row(i);
        let (x, y) = map.apply(r[0], r[1]);
        *lm = Landmark { x, y, z: r[2] * depth_scale, visibility: sigmoid(r[3]), presence: sigmoid(r[4]) };
    }
    let point = |i: usize| {
        let r = row(i);
        map.apply(r[0], r[1])
    };
    LandmarkResult { presence, landmarks, alignment: [point(AUX_CENTER), point(AUX_SCALE)] }
}

/// Pixel landmarks to a normalised skeleton (`z` normalised by the width, like `x`).
pub(crate) fn to_skeleton(r: &LandmarkResult, width: u32, height: u32) -> Skeleton {
    let (w, h) = (width as f32, height as f32);
    Skeleton::new(r.landmarks.map(|lm| Landmark { x: lm.x / w, y: lm.y / h, z: lm.z / w, ..lm }), r.presence)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Detector outputs with the given anchors scoring `logit` and the box (in detector-input
    /// pixels, relative to the anchor) `(0, 0, w, w)`; every other anchor scores −10.
    fn outputs(anchors: &[Anchor], hits: &[(usize, f32, f32)]) -> (Vec<f32>, Vec<f32>) {
        let mut boxes = vec![0.0f32; anchors.len() * DETECTOR_COORDS];
        let mut scores = vec![-10.0f32; anchors.len()];
        for &(i, logit, w) in hits {
            scores[i] = logit;
            let r = &mut boxes[i * DETECTOR_COORDS..(i + 1) * DETECTOR_COORDS];
            r[2] = w;
            r[3] = w;
            r[4..].copy_from_slice(&[0.0, 20.0, 0.0, -20.0, 1.0, 1.0, 2.0, 2.0]);
        }
        (boxes, scores)
    }

    #[test]
    fn weighted_nms_keeps_every_person_best_first() {
        let anchors = anchors::generate();
        let opt = PipelineOptions::default();
        // 28×28 grid, two anchors per cell: cell (x, y) starts at 2·(28·y + x).
        let cell = |x: usize, y: usize| 2 * (28 * y + x);
        // Person A around cell (5, 10): three overlapping candidates; person B around (20, 10): two.
        let (boxes, scores) = outputs(
            &anchors,
            &[(cell(5, 10), 2.0, 40.0), (cell(6, 10), 1.0, 40.0), (cell(5, 11), 0.5, 40.0), (cell(20, 10), 3.0, 40.0), (cell(21, 10), 0.2, 40.0)],
        );
        let all = decode_all_detections(&boxes, &scores, &anchors, &opt);
        assert_eq!(all.len(), 2, "{all:?}");
        // B scores best, so it comes first, and it is exactly the single-person result.
        assert!((all[0].score - sigmoid(3.0)).abs() < 1e-6 && (all[1].score - sigmoid(2.0)).abs() < 1e-6);
        assert_eq!(Some(all[0]), decode_detections(&boxes, &scores, &anchors, &opt));
        // Merged by score: A's centre lies between its candidates, pulled toward the best.
        let a = all[1];
        let cx = (a.bbox[0] + a.bbox[2]) / 2.0 * 28.0;
        assert!(cx > 5.5 && cx < 6.0, "{cx}");
        // Below threshold nobody; non-overlapping candidates stay apart.
        let (boxes, scores) = outputs(&anchors, &[(cell(5, 10), -1.0, 40.0)]);
        assert!(decode_all_detections(&boxes, &scores, &anchors, &opt).is_empty());
        let (boxes, scores) = outputs(&anchors, &[(cell(2, 2), 1.0, 8.0), (cell(9, 2), 1.0, 8.0), (cell(16, 2), 1.0, 8.0)]);
        assert_eq!(decode_all_detections(&boxes, &scores, &anchors, &opt).len(), 3);
    }

    #[test]
    fn detector_passes_add_square_tiles_for_wide_frames() {
        assert_eq!(PosePipeline::detector_passes(512, 512), 1);
        assert_eq!(PosePipeline::detector_passes(600, 512), 1);
        assert_eq!(PosePipeline::detector_passes(1280, 720), 3);
        assert_eq!(PosePipeline::detector_passes(2048, 512), 5);
        assert_eq!(PosePipeline::detector_passes(u32::MAX, 1), 1 + u32::MAX as usize);
    }
}
