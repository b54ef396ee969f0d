//! The rendered truth set (assets/testdata/rendered/, made by scripts/rendered/generate.py):
//! rendered people in every pose of the library, through the real pipeline (lite and full
//! models) and the pose rules.
//!
//! - `rendered_stills_are_recognised_*`: every still (or every `RENDERED_STEP`-th, see
//!   below) is processed with fresh tracking, the best-matching library pose is taken as
//!   what was recognised ("none" below the match threshold), and a confusion matrix is
//!   printed (`cargo test -p vision --test rendered -- --nocapture`). Each pose must be
//!   recognised on ≥ 80 % of its variants and never read as another pose on > 5 %.
//! - `rendered_quiz_answers_*`: stills of the Motion Quiz answer poses read as the right
//!   choice (left arm / both arms / right arm among three choices, O / X for true/false).
//! - `rendered_sequences_*`: each pose's 15 fps sequence through the pipeline with tracking;
//!   the pose rules' hold detector gives a hit, and the first-held-frame → hit latency is
//!   printed in frames and ms at 15 and 30 fps, with the rule decisions per second.
//!
//! Runtime: in the dev profile a frame costs ~50–100 ms per model. `RENDERED_STEP=n` keeps
//! every n-th still (default 1: all of them); `RENDERED_DUMP=dir` writes our landmarks per
//! still as TSV (for scripts/rendered/compare_mediapipe.py).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use shared::pose::Skeleton;
use shared::rules::{AnswerLayout, PoseId, best_match, read_answer};
use vision::{Frame, LandmarkModel, ModelConfig, PosePipeline};

fn set_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/testdata/rendered")
}

/// One row of manifest.tsv: the file and the pose the picture shows.
struct Still {
    file: String,
    pose: PoseId,
    /// "body/background/mirror" for the failure listing.
    what: String,
}

fn stills() -> Vec<Still> {
    let text = std::fs::read_to_string(set_dir().join("manifest.tsv")).expect("manifest.tsv");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split('\t').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap_or_else(|| panic!("no column {name}"));
    let (file, pose, body, bg, mirror) = (col("file"), col("pose"), col("body"), col("background"), col("mirror"));
    let step: usize = std::env::var("RENDERED_STEP").ok().and_then(|s| s.parse().ok()).unwrap_or(1).max(1);
    lines
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .filter(|(i, _)| i % step == 0)
        .map(|(_, l)| {
            let f: Vec<&str> = l.split('\t').collect();
            Still {
                file: f[file].to_string(),
                pose: PoseId::from_name(f[pose]).unwrap_or_else(|| panic!("unknown pose {}", f[pose])),
                what: format!("{} {} mirror {}", f[body], f[bg], f[mirror]),
            }
        })
        .collect()
}

/// The pose recognised on one picture, fresh tracking (the detector runs).
fn skeleton_of(p: &mut PosePipeline, path: &Path) -> Option<Skeleton> {
    p.reset_tracking();
    let frame = Frame::load(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    p.process(&frame).unwrap()
}

fn recognised(s: Option<&Skeleton>) -> Option<PoseId> {
    s.and_then(|s| best_match(s, &PoseId::ALL)).map(|(p, _)| p)
}

fn key(p: Option<PoseId>) -> &'static str {
    p.map(PoseId::key).unwrap_or("none")
}

fn dump(model: LandmarkModel, file: &str, s: Option<&Skeleton>, out: &mut String) {
    let Some(s) = s else { return };
    for (i, l) in s.landmarks.iter().enumerate() {
        out.push_str(&format!("{model}\t{file}\t{i}\t{:.5}\t{:.5}\t{:.3}\n", l.x, l.y, l.visibility));
    }
}

/// The target pose's features on the skeleton (value and range), for the failure listing.
fn explain(s: Option<&Skeleton>, pose: PoseId) -> String {
    let Some(s) = s else { return "no person".into() };
    let mut out = format!("score {:.2}, match {:.2}:", s.score, shared::rules::match_score(s, pose));
    for c in pose.constraints() {
        let vis = s.min_visibility(&c.feature.joints());
        out.push_str(&format!(" {:?}={:.2} ({}..{}, vis {vis:.2})", c.feature, c.feature.measure(s), c.lo, c.hi));
    }
    out
}

fn confusion(model: LandmarkModel) {
    let stills = stills();
    let mut p = PosePipeline::load(&ModelConfig::with_landmark(model)).unwrap();
    // target → recognised → count
    let mut m: BTreeMap<PoseId, BTreeMap<&'static str, usize>> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut dumped = String::new();
    let start = Instant::now();
    for st in &stills {
        let s = skeleton_of(&mut p, &set_dir().join(&st.file));
        dump(model, &st.file, s.as_ref(), &mut dumped);
        let r = recognised(s.as_ref());
        *m.entry(st.pose).or_default().entry(key(r)).or_default() += 1;
        if r != Some(st.pose) {
            failures.push(format!("{} ({}): {} read as {} [{}]", st.file, st.what, st.pose.key(), key(r), explain(s.as_ref(), st.pose)));
        }
    }
    if let Ok(dir) = std::env::var("RENDERED_DUMP") {
        std::fs::write(Path::new(&dir).join(format!("landmarks_{model}.tsv")), dumped).unwrap();
    }
    let cols: Vec<&str> = PoseId::ALL.iter().map(|p| p.key()).chain(["none"]).collect();
    println!("\n{model}: {} stills in {:.1} s; rows = pose shown, columns = pose recognised", stills.len(), start.elapsed().as_secs_f32());
    println!("{:>13} {}", "", cols.iter().map(|c| format!("{:>6}", &c[..c.len().min(6)])).collect::<String>());
    let mut bad = Vec::new();
    for (pose, row) in &m {
        let total: usize = row.values().sum();
        println!("{:>13} {}", pose.key(), cols.iter().map(|c| format!("{:>6}", row.get(c).copied().unwrap_or(0))).collect::<String>());
        let hits = row.get(pose.key()).copied().unwrap_or(0);
        if hits * 100 < total * 80 {
            bad.push(format!("{} recognised on {hits}/{total}", pose.key()));
        }
        for (other, n) in row {
            if *other != pose.key() && *other != "none" && n * 100 > total * 5 {
                bad.push(format!("{} read as {other} on {n}/{total}", pose.key()));
            }
        }
    }
    for f in &failures {
        println!("  miss: {f}");
    }
    assert!(bad.is_empty(), "{model}: {}", bad.join("; "));
}

#[test]
fn rendered_stills_are_recognised_lite() {
    confusion(LandmarkModel::Lite);
}

#[test]
fn rendered_stills_are_recognised_full() {
    confusion(LandmarkModel::Full);
}

fn quiz(model: LandmarkModel) {
    let mut p = PosePipeline::load(&ModelConfig::with_landmark(model)).unwrap();
    let three = AnswerLayout::Choices(3);
    let ox = AnswerLayout::TrueFalse;
    let mut checked = 0;
    let mut misread = 0;
    let mut wrong = Vec::new();
    for st in stills() {
        let (layout, want) = match st.pose {
            PoseId::LeftArmUp => (three, 0),
            PoseId::HandsUp => (three, 1),
            PoseId::RightArmUp => (three, 2),
            PoseId::CircleO => (ox, 0),
            PoseId::ArmsCrossedX => (ox, 1),
            _ => continue,
        };
        let s = skeleton_of(&mut p, &set_dir().join(&st.file));
        let got = s.as_ref().and_then(|s| read_answer(s, layout));
        if got.is_some_and(|g| g != want) {
            misread += 1;
        }
        checked += 1;
        if got != Some(want) {
            wrong.push(format!("{} ({}): {:?} read as choice {got:?}, want {want}", st.file, st.what, st.pose));
        }
    }
    println!("{model}: {} of {checked} quiz answers read right", checked - wrong.len());
    for w in &wrong {
        println!("  {w}");
    }
    assert!(checked >= 20, "only {checked} quiz stills");
    // The same bar as the confusion matrix: ≥ 80 % right, and wrong choices (not "no
    // answer") on ≤ 5 %.
    assert!(wrong.len() * 100 <= checked * 20, "{model}: {}", wrong.join("; "));
    assert!(misread * 100 <= checked * 5, "{model}: {misread} wrong choices: {}", wrong.join("; "));
}

#[test]
fn rendered_quiz_answers_lite() {
    quiz(LandmarkModel::Lite);
}

#[test]
fn rendered_quiz_answers_full() {
    quiz(LandmarkModel::Full);
}

/// Frame files of one pose's sequence, in play order.
fn sequence(pose: PoseId) -> Vec<PathBuf> {
    let dir = set_dir().join("sequences").join(pose.key());
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .collect();
    files.sort();
    files
}

/// Frames of `sequence` at `fps`, stretched or thinned from the 15 fps render (at 30 fps
/// each rendered frame is shown twice), then the last frame held for `hold` more frames.
fn played(files: &[PathBuf], fps: u32, hold: usize) -> Vec<PathBuf> {
    let rep = (fps / 15).max(1) as usize;
    let mut out: Vec<PathBuf> = files.iter().flat_map(|f| std::iter::repeat_n(f.clone(), rep)).collect();
    if let Some(last) = files.last() {
        out.extend(std::iter::repeat_n(last.clone(), hold * rep));
    }
    out
}

/// Plays each pose's sequence through the pipeline (tracking on) and the hold detector of
/// the Pose Rush rules; prints the latency from the first frame the rules see the pose to
/// the hit.
fn sequences(model: LandmarkModel) {
    use shared::rules::scoring::Hold;
    let cfg = shared::rules::RushConfig::default();
    let mut p = PosePipeline::load(&ModelConfig::with_landmark(model)).unwrap();
    let mut decisions = 0u64;
    let mut decide_time = Duration::ZERO;
    let mut missing = Vec::new();
    println!("\n{model}: pose, first held frame, hit frame, latency (frames, ms) at 15 and 30 fps");
    for pose in PoseId::ALL {
        let files = sequence(pose);
        for fps in [15u32, 30] {
            p.reset_tracking();
            let mut hold = Hold::new(cfg.release_threshold);
            let (mut first, mut hit) = (None, None);
            let mut last = None;
            let start = Instant::now();
            for (n, f) in played(&files, fps, 10).iter().enumerate() {
                let t_ms = (n as i64 * 1000) / fps as i64;
                let frame = Frame::load(f).unwrap().restamped(n as u64, start + Duration::from_millis(t_ms as u64));
                let s = p.process(&frame).unwrap();
                last = s.clone();
                let t0 = Instant::now();
                // The rush round's rule: held (with hysteresis) for hold_ms is a hit.
                let score = s.as_ref().map_or(0.0, |s| shared::rules::match_score(s, pose));
                decisions += 1;
                let since = hold.observe(t_ms, score);
                if since.is_some() && first.is_none() {
                    first = Some((n, t_ms));
                }
                if since.is_none() {
                    first = None;
                }
                if since.is_some_and(|since| t_ms - since >= i64::from(cfg.hold_ms)) && hit.is_none() {
                    hit = Some((n, t_ms));
                }
                decide_time += t0.elapsed();
                if hit.is_some() {
                    break;
                }
            }
            match (first, hit) {
                (Some((f, ft)), Some((h, ht))) => println!(
                    "  {:>13} @{fps}: first held frame {f}, hit at frame {h}: {} frames, {} ms",
                    pose.key(),
                    h - f,
                    ht - ft
                ),
                _ => {
                    println!("  {:>13} @{fps}: no hit; last frame: {}", pose.key(), explain(last.as_ref(), pose));
                    missing.push(format!("{}@{fps}", pose.key()));
                }
            }
        }
    }
    println!(
        "{model}: {decisions} hold decisions (one pose's match score + hold), {:.0} per second (rules only, excluding the model)",
        decisions as f64 / decide_time.as_secs_f64().max(1e-9)
    );
    // A full decision as the quiz and the confusion matrix make it: the best of all 12 poses.
    if let Some(s) = skeleton_of(&mut p, &sequence(PoseId::Star)[16]) {
        let n = 20_000;
        let t0 = Instant::now();
        let mut found = 0;
        for _ in 0..n {
            found += usize::from(std::hint::black_box(best_match(std::hint::black_box(&s), &PoseId::ALL)).is_some());
        }
        let dt = t0.elapsed().as_secs_f64();
        println!("{model}: best-of-12 decisions: {:.0} per second ({found} of {n} matched)", n as f64 / dt);
    }
    assert!(missing.is_empty(), "{model}: no hit for {}", missing.join(", "));
}

#[test]
fn rendered_sequences_hit_lite() {
    sequences(LandmarkModel::Lite);
}

#[test]
fn rendered_sequences_hit_full() {
    sequences(LandmarkModel::Full);
}
