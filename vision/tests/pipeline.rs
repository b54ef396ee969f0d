//! The BlazePose pipeline on real pictures with the real models and ONNX Runtime.
//!
//! Reference points: recorded from a first run of this pipeline on astronaut.png (512×512),
//! then checked by eye: the landmarks were drawn as coloured 3×3 dots onto the picture
//! (nose red, eyes green, ears/mouth blue, shoulders yellow), saved as PNG and inspected.
//! Both models put the nose on the nose, the eye points on the eyes and the shoulder points
//! at the outer edges of the suit's neck ring. The lite model, on the detector's first region
//! (which is large: the detector's body circle reaches far below the picture), sits ~8 px
//! right of the full model on the face; both are within 15 px of the by-eye positions below.

use std::path::Path;
use std::time::{Duration, Instant};

use shared::pose::{Joint, Skeleton};
use vision::loader::{LoadEvent, LoadHandle, LoadStage};
use vision::pipeline::PipelineOptions;
use vision::source::{Pattern, synthetic};
use vision::{Frame, LandmarkModel, ModelConfig, PosePipeline, VisionError};

fn astronaut() -> Frame {
    Frame::load(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/testdata/images/astronaut.png"))).unwrap()
}

fn px(s: &Skeleton, j: Joint) -> (f32, f32) {
    let l = s.get(j);
    (l.x * 512.0, l.y * 512.0)
}

/// Points judged by eye on the picture (pixels): nose tip, eye centres, shoulder ring edges.
const BY_EYE: [(Joint, (f32, f32)); 5] = [
    (Joint::Nose, (222.0, 127.0)),
    (Joint::LeftEye, (246.0, 106.0)),
    (Joint::RightEye, (204.0, 105.0)),
    (Joint::LeftShoulder, (306.0, 243.0)),
    (Joint::RightShoulder, (113.0, 225.0)),
];

/// First-frame output recorded per model (pixels).
fn recorded(model: LandmarkModel) -> [(Joint, (f32, f32)); 5] {
    match model {
        LandmarkModel::Lite => [
            (Joint::Nose, (234.0, 133.5)),
            (Joint::LeftEye, (255.5, 113.9)),
            (Joint::RightEye, (213.5, 107.8)),
            (Joint::LeftShoulder, (303.4, 243.0)),
            (Joint::RightShoulder, (112.2, 224.2)),
        ],
        LandmarkModel::Full => [
            (Joint::Nose, (217.7, 124.4)),
            (Joint::LeftEye, (240.7, 104.0)),
            (Joint::RightEye, (196.3, 102.7)),
            (Joint::LeftShoulder, (309.2, 242.9)),
            (Joint::RightShoulder, (115.4, 225.0)),
        ],
    }
}

fn assert_near(s: &Skeleton, points: &[(Joint, (f32, f32))], tol: f32, what: &str) {
    for (j, (x, y)) in points {
        let (ax, ay) = px(s, *j);
        let d = (ax - x).hypot(ay - y);
        assert!(d <= tol, "{what}: {j:?} at ({ax:.1}, {ay:.1}), expected ({x}, {y}) ± {tol} px (off by {d:.1})");
    }
}

#[test]
fn astronaut_landmarks_land_on_the_face_and_shoulders() {
    let frame = astronaut();
    for model in [LandmarkModel::Lite, LandmarkModel::Full] {
        let mut p = PosePipeline::load(&ModelConfig::with_landmark(model)).unwrap();
        let s = p.process(&frame).unwrap().unwrap_or_else(|| panic!("{model}: no skeleton"));
        assert!(s.score > 0.5, "{model}: presence {}", s.score);
        assert_near(&s, &recorded(model), 3.0, &format!("{model} vs recorded"));
        assert_near(&s, &BY_EYE, 15.0, &format!("{model} vs by-eye"));
        // Legs are outside the picture: the model must say so.
        assert!(s.get(Joint::LeftAnkle).presence < 0.2 && s.get(Joint::LeftAnkle).y > 1.0);
        assert!(s.get(Joint::Nose).visibility > 0.9);
        assert_eq!(p.stats().detector_runs, 1);
    }
}

#[test]
fn detector_finds_the_astronaut() {
    let mut p = PosePipeline::load(&ModelConfig::default()).unwrap();
    let det = p.detect(&astronaut()).unwrap().expect("a person");
    assert!(det.score > 0.7, "score {}", det.score);
    // Hip centre below the picture (upper-body shot), body-circle point above the head.
    let (hip, top) = (det.keypoints[0], det.keypoints[1]);
    assert!(hip.1 > 450.0 && (100.0..300.0).contains(&hip.0), "{hip:?}");
    assert!(top.1 < 60.0, "{top:?}");
    // The box is around the head and neck (the detector's box is face-sized).
    let [x0, y0, x1, y1] = det.bbox;
    assert!(x0 < 222.0 && x1 > 222.0 && y0 < 160.0 && y1 > 160.0 && x1 - x0 > 50.0, "{:?}", det.bbox);
}

#[test]
fn noise_gives_no_skeleton() {
    let mut p = PosePipeline::load(&ModelConfig::default()).unwrap();
    for seq in 0..3 {
        let frame = Frame::from_rgb(320, 240, synthetic::draw(320, 240, Pattern::Noise, seq), seq, Instant::now()).unwrap();
        assert!(p.process(&frame).unwrap().is_none(), "noise frame {seq} gave a skeleton");
    }
    assert!(p.tracked_roi().is_none());
}

#[test]
fn tracking_keeps_the_detector_off_on_a_still_sequence() {
    let frame = astronaut();
    let mut p = PosePipeline::load(&ModelConfig::default()).unwrap();
    let start = Instant::now();
    let mut last = None;
    for seq in 0..8u64 {
        let f = frame.restamped(seq, start + Duration::from_millis(33 * seq));
        let s = p.process(&f).unwrap().expect("tracked skeleton");
        assert_eq!(p.stats().last_used_detector, seq == 0, "frame {seq}");
        last = Some(s);
    }
    let stats = p.stats();
    assert_eq!(stats.detector_runs, 1, "{stats:?}");
    assert_eq!(stats.landmark_runs, 8);
    // Still tracking the face after the region has been refined from landmarks.
    assert_near(&last.unwrap(), &BY_EYE, 15.0, "tracked lite");
    // A frame without the person loses tracking; the next real frame runs the detector again.
    let noise = Frame::from_rgb(512, 512, synthetic::draw(512, 512, Pattern::Noise, 1), 9, start + Duration::from_secs(1)).unwrap();
    assert!(p.process(&noise).unwrap().is_none());
    assert!(p.process(&frame.restamped(10, start + Duration::from_secs(2))).unwrap().is_some());
    assert!(p.stats().last_used_detector);
}

#[test]
fn wrong_frame_size_is_an_error_not_a_panic() {
    let mut p = PosePipeline::load(&ModelConfig::default()).unwrap();
    let bad = Frame { width: 10, height: 10, data: vec![0u8; 7].into(), seq: 0, captured: Instant::now() };
    assert!(matches!(p.process(&bad), Err(VisionError::BadFrame { .. })));
}

#[test]
fn missing_model_says_run_setup() {
    let dir = tempfile::tempdir().unwrap();
    let config = ModelConfig { dir: dir.path().to_path_buf(), landmark: LandmarkModel::Lite };
    let err = PosePipeline::load(&config).err().unwrap();
    assert!(matches!(err, VisionError::ModelMissing { .. }), "{err}");
    assert!(err.to_string().contains("run scripts/setup.sh"), "{err}");
}

#[test]
fn staged_loader_reports_progress_in_order_then_hands_over_the_pipeline() {
    let mut handle = LoadHandle::spawn(ModelConfig::default(), PipelineOptions::default());
    let mut seen: Vec<(LoadStage, f32)> = Vec::new();
    let mut pipeline = loop {
        match handle.wait(Duration::from_secs(60)) {
            Some(LoadEvent::Progress { stage, fraction }) => seen.push((stage, fraction)),
            Some(LoadEvent::Ready(p)) => break p,
            Some(LoadEvent::Failed(e)) => panic!("load failed: {e}"),
            None => panic!("no event within 60 s"),
        }
    };
    // Stages in order, fractions never going back within a stage, each stage reaching 1.
    for w in seen.windows(2) {
        assert!(w[0].0 < w[1].0 || (w[0].0 == w[1].0 && w[0].1 <= w[1].1), "{seen:?}");
    }
    for stage in LoadStage::ALL {
        assert!(seen.contains(&(stage, 1.0)), "{stage:?} never finished: {seen:?}");
    }
    // Reading reported intermediate byte progress (the files are read in chunks).
    assert!(seen.iter().filter(|(s, f)| *s == LoadStage::ReadingFiles && *f > 0.0 && *f < 1.0).count() > 5);
    assert!(handle.poll().is_none());
    // The handed-over pipeline works on this thread; warm-up is not counted.
    assert_eq!(pipeline.stats().detector_runs, 0);
    assert!(pipeline.process(&astronaut()).unwrap().is_some());
}

#[test]
fn cancelled_loader_reports_cancelled() {
    let handle = LoadHandle::spawn(ModelConfig::default(), PipelineOptions::default());
    handle.cancel();
    match handle.wait_ready() {
        Err(VisionError::Cancelled) => {}
        Err(e) => panic!("expected Cancelled, got {e}"),
        Ok(_) => panic!("expected Cancelled, got a pipeline"),
    }
}

#[test]
fn pruned_landmark_models_keep_their_results_and_lose_the_unused_heads() {
    use std::sync::atomic::AtomicBool;
    use vision::loader::load_blocking;
    use vision::model::{self, read_model};
    use vision::pipeline::LANDMARK_OUTPUTS;
    use vision::prune::prune_outputs;

    let frame = astronaut();
    let no_cancel = AtomicBool::new(false);
    for lm in [LandmarkModel::Lite, LandmarkModel::Full] {
        let config = ModelConfig::with_landmark(lm);
        // The segmentation, heatmap and world-landmark heads go: a third of the nodes.
        let bytes = read_model(&model::default_model_dir(), lm.file(), &no_cancel, &mut |_| {}).unwrap();
        let (pruned, stats) = prune_outputs(&bytes, &LANDMARK_OUTPUTS).unwrap();
        assert_eq!(stats.outputs_removed, 3, "{lm}: {stats:?}");
        assert!(stats.nodes_after * 10 < stats.nodes_before * 8 && stats.nodes_after > 100, "{lm}: {stats:?}");
        assert!(stats.initializers_removed > 0 && pruned.len() < bytes.len(), "{lm}: {stats:?}");

        // The same region through the pruned and the whole model gives the same landmarks.
        let load = |prune: bool| {
            let options = PipelineOptions { prune_landmark_model: prune, ..PipelineOptions::default() };
            load_blocking(&config, options, &no_cancel, &mut |_, _| {}).unwrap()
        };
        let (mut pruned_p, mut whole_p) = (load(true), load(false));
        let roi = pruned_p.detect(&frame).unwrap().expect("a person").roi(1.25);
        let a = pruned_p.landmarks_in(&frame, &roi).unwrap().expect("pruned: landmarks");
        let b = whole_p.landmarks_in(&frame, &roi).unwrap().expect("whole: landmarks");
        assert!((a.presence - b.presence).abs() < 1e-4, "{lm}: presence {} vs {}", a.presence, b.presence);
        for (i, (p, q)) in a.landmarks.iter().zip(b.landmarks.iter()).enumerate() {
            let d = (p.x - q.x).hypot(p.y - q.y);
            assert!(d < 0.05 && (p.visibility - q.visibility).abs() < 1e-3, "{lm}: landmark {i} {p:?} vs {q:?}");
        }
    }
}
