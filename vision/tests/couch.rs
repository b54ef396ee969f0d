//! Several people in front of one camera: `PosePipeline::process_people` on two_people.png
//! (astronaut.png twice side by side, the right copy mirrored) and on sequences composed from
//! its two halves.

use std::path::Path;
use std::time::{Duration, Instant};

use image::RgbImage;
use shared::pose::{Joint, Skeleton};
use vision::pipeline::PipelineOptions;
use vision::{Frame, ModelConfig, PersonId, PosePipeline, TrackedPerson};

const TWO_PEOPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/testdata/images/two_people.png");

fn two_people() -> Frame {
    Frame::load(Path::new(TWO_PEOPLE)).unwrap()
}

fn image(frame: &Frame) -> RgbImage {
    RgbImage::from_raw(frame.width, frame.height, frame.data.to_vec()).unwrap()
}

/// The left and right 512×512 halves of two_people.png.
fn halves() -> (RgbImage, RgbImage) {
    let img = image(&two_people());
    let left = image::imageops::crop_imm(&img, 0, 0, 512, 512).to_image();
    let right = image::imageops::crop_imm(&img, 512, 0, 512, 512).to_image();
    (left, right)
}

fn frame_of(img: &RgbImage, seq: u64, start: Instant) -> Frame {
    Frame::from_rgb(img.width(), img.height(), img.as_raw().clone(), seq, start + Duration::from_millis(33 * seq)).unwrap()
}

/// A `width × 512` black picture with the given pictures pasted at x offsets, later ones on top.
fn compose(width: u32, parts: &[(&RgbImage, i64)]) -> RgbImage {
    let mut canvas = RgbImage::new(width, 512);
    for (img, x) in parts {
        image::imageops::replace(&mut canvas, *img, *x, 0);
    }
    canvas
}

fn load(options: PipelineOptions) -> PosePipeline {
    let mut p = vision::loader::load_blocking(&ModelConfig::default(), options, &Default::default(), &mut |_, _| {}).unwrap();
    p.reset_people();
    p
}

fn couch_options(max_people: usize) -> PipelineOptions {
    PipelineOptions { max_people, detect_every: 2, ..PipelineOptions::default() }
}

const JOINTS: [Joint; 5] = [Joint::Nose, Joint::LeftEye, Joint::RightEye, Joint::LeftShoulder, Joint::RightShoulder];

fn px(s: &Skeleton, j: Joint, width: f32, height: f32) -> (f32, f32) {
    let l = s.get(j);
    (l.x * width, l.y * height)
}

fn describe(people: &[TrackedPerson]) -> String {
    let nose = |p: &TrackedPerson| p.skeleton.get(Joint::Nose).x * 1024.0;
    people.iter().map(|p| format!("{} hips ({:.0}, {:.0}) nose x {:.0}", p.id, p.center.0, p.center.1, nose(p))).collect::<Vec<_>>().join(", ")
}

#[test]
fn couch_detector_finds_both_people_and_its_best_is_the_single_detection() {
    let frame = two_people();
    let mut p = load(couch_options(2));
    let all = p.detect_all(&frame).unwrap();
    let best = p.detect(&frame).unwrap().expect("a person");
    assert!(all.len() >= 2, "{all:?}");
    assert_eq!(all[0], best);
    // One face box in each half.
    let centre_x = |d: &vision::pipeline::Detection| (d.bbox[0] + d.bbox[2]) / 2.0;
    assert!(all.iter().take(2).any(|d| centre_x(d) < 512.0) && all.iter().take(2).any(|d| centre_x(d) > 512.0), "{all:?}");
}

#[test]
fn couch_two_skeletons_where_the_single_pipeline_puts_each_half() {
    let frame = two_people();
    let (left, right) = halves();
    let options = PipelineOptions { smoothing: None, ..couch_options(2) };
    let start = Instant::now();
    // Landmarks averaged over frames 4–15 of a still sequence, for both pipelines. The lite
    // model's tracked region wanders from frame to frame on this upper-body shot (its hip
    // centre is below the picture), and the region of a person on the whole picture also
    // sees the other person where the half has black; the average takes out the wander.
    const FRAMES: u64 = 16;
    const FROM: u64 = 4;
    let mut multi = load(options);
    let mut sums: [Vec<(f32, f32)>; 2] = [vec![(0.0, 0.0); JOINTS.len()], vec![(0.0, 0.0); JOINTS.len()]];
    for seq in 0..FRAMES {
        let people = multi.process_people(&frame.restamped(seq, start + Duration::from_millis(33 * seq))).unwrap();
        assert_eq!(people.len(), 2, "frame {seq}: {}", describe(&people));
        if seq < FROM {
            continue;
        }
        for q in &people {
            let side = usize::from(q.center.0 >= 512.0);
            for (k, j) in JOINTS.iter().enumerate() {
                let (x, y) = px(&q.skeleton, *j, 1024.0, 512.0);
                sums[side][k] = (sums[side][k].0 + x, sums[side][k].1 + y);
            }
        }
    }
    let n = (FRAMES - FROM) as f32;
    let mut single = load(PipelineOptions { smoothing: None, ..PipelineOptions::default() });
    for (side, (half, img, dx)) in [("left", &left, 0.0), ("right", &right, 512.0)].into_iter().enumerate() {
        single.reset_tracking();
        let mut mean = vec![(0.0f32, 0.0f32); JOINTS.len()];
        for seq in 0..FRAMES {
            let s = single.process(&frame_of(img, seq, start)).unwrap().unwrap_or_else(|| panic!("{half}: the single pipeline found nobody"));
            if seq >= FROM {
                for (k, j) in JOINTS.iter().enumerate() {
                    let (x, y) = px(&s, *j, 512.0, 512.0);
                    mean[k] = (mean[k].0 + (x + dx) / n, mean[k].1 + y / n);
                }
            }
        }
        for (k, j) in JOINTS.iter().enumerate() {
            let (mx, my) = (sums[side][k].0 / n, sums[side][k].1 / n);
            let d = (mx - mean[k].0).hypot(my - mean[k].1);
            eprintln!("{half} {j:?}: multi ({mx:.1}, {my:.1}), single mapped back ({:.1}, {:.1}): {d:.1} px", mean[k].0, mean[k].1);
            // The face is where the model is sure. The shoulders follow the region, and on the
            // whole picture the tracked region settles elsewhere (smaller, hips higher) than
            // on the half with black beside it: the same region on both pictures already gives
            // shoulders 3–19 px apart, and the regions differ. Measured: face ≤ 10 px,
            // shoulders ≤ 55 px; `couch_each_person_gets_exactly_the_single_person_landmarks`
            // shows the pipelines agree exactly on the same picture.
            let tol = if matches!(j, Joint::LeftShoulder | Joint::RightShoulder) { 70.0 } else { 12.0 };
            assert!(d < tol, "{half} {j:?}: {d:.1} px apart (tolerance {tol})");
        }
    }
}

#[test]
fn couch_ids_kept_while_two_people_swap_places() {
    // The right person passes in front, then (another sequence) the left person does.
    swap_places(false, 32);
    swap_places(true, 32);
    // Faster passes keep the ids too.
    swap_places(false, 64);
    swap_places(true, 64);
}

/// A slow pass (16 px a frame): the partly hidden person's region used to drift onto the
/// front person's body over two or three frames before the two regions coincided (frame
/// 12: nose 160 px from her own face, 137 px from the other's). The face gate catches the
/// drift: a face further from where the body's motion puts it than 6 % of the region (plus
/// that motion) marks the region lost, and the person is found again by the detector.
#[test]
fn couch_ids_kept_in_a_slow_pass() {
    swap_places(false, 16);
    swap_places(true, 16);
}

fn swap_places(left_in_front: bool, step: i64) {
    let (left, right) = halves();
    let mut p = load(couch_options(2));
    let start = Instant::now();
    // The left person walks right, the right person walks left, one passing in front of the
    // other, `step` px a frame, with still frames before and after.
    let scene = |a: i64, b: i64| {
        if left_in_front { compose(1024, &[(&right, b), (&left, a)]) } else { compose(1024, &[(&left, a), (&right, b)]) }
    };
    let mut offsets: Vec<(i64, i64)> = vec![(0, 512); 3];
    offsets.extend((1..=512 / step).map(|k| (k * step, 512 - k * step)));
    offsets.extend(vec![(512, 0); 6]);
    // Identity of each id: which picture (0 = left, 1 = right); hip centre relative to its picture.
    let first = p.process_people(&frame_of(&scene(0, 512), 0, start)).unwrap();
    assert_eq!(first.len(), 2, "{}", describe(&first));
    // Told apart by the nose (the hip centre is below the picture, so less precise).
    let nose = |q: &TrackedPerson| q.skeleton.get(Joint::Nose).x * 1024.0;
    let who: Vec<(PersonId, usize, f32)> =
        first.iter().map(|q| if nose(q) < 512.0 { (q.id, 0, nose(q)) } else { (q.id, 1, nose(q) - 512.0) }).collect();
    let mut log = Vec::new();
    for (seq, (a, b)) in offsets.iter().enumerate() {
        let seq = seq as u64 + 1;
        let people = p.process_people(&frame_of(&scene(*a, *b), seq, start)).unwrap();
        log.push(format!("frame {seq} (left at {a}, right at {b}, left in front: {left_in_front}): {}", describe(&people)));
        let expected = |picture: usize| -> f32 {
            let (_, _, rel) = who.iter().find(|w| w.1 == picture).copied().unwrap();
            rel + if picture == 0 { *a } else { *b } as f32
        };
        let (e0, e1) = (expected(0), expected(1));
        for q in &people {
            let Some(&(_, picture, _)) = who.iter().find(|w| w.0 == q.id) else {
                panic!("a new id {} appeared\n{}", q.id, log.join("\n"));
            };
            // Each id is on its own person whenever the two can be told apart.
            let (own, other) = if picture == 0 { (e0, e1) } else { (e1, e0) };
            if (own - other).abs() > 100.0 {
                assert!((nose(q) - own).abs() < (nose(q) - other).abs(), "id {} is on the wrong person\n{}", q.id, log.join("\n"));
            }
        }
    }
    let last = p.process_people(&frame_of(&scene(512, 0), 99, start)).unwrap();
    eprintln!("{}", log.join("\n"));
    assert_eq!(last.len(), 2, "both people tracked again after passing\n{}", log.join("\n"));
    for q in &last {
        let picture = who.iter().find(|w| w.0 == q.id).map(|w| w.1);
        // The left picture is now on the right and the other way round.
        assert_eq!(picture, Some(if nose(q) >= 512.0 { 0 } else { 1 }), "{}", describe(&last));
    }
}

#[test]
fn couch_person_leaving_for_a_few_frames_keeps_their_id() {
    let (left, right) = halves();
    let both = compose(1024, &[(&left, 0), (&right, 512)]);
    let only_right = compose(1024, &[(&right, 512)]);
    let mut p = load(couch_options(2));
    let start = Instant::now();
    let mut seq = 0u64;
    let mut run = |img: &RgbImage, p: &mut PosePipeline| {
        seq += 1;
        p.process_people(&frame_of(img, seq, start)).unwrap()
    };
    let mut before = Vec::new();
    for _ in 0..3 {
        before = run(&both, &mut p);
    }
    assert_eq!(before.len(), 2, "{}", describe(&before));
    let id_at = |people: &[TrackedPerson], right_side: bool| people.iter().find(|q| (q.center.0 >= 512.0) == right_side).map(|q| q.id);
    let (left_id, right_id) = (id_at(&before, false).unwrap(), id_at(&before, true).unwrap());
    for _ in 0..6 {
        let people = run(&only_right, &mut p);
        assert_eq!(people.len(), 1, "{}", describe(&people));
        assert_eq!(people[0].id, right_id);
    }
    let mut after = Vec::new();
    for _ in 0..4 {
        after = run(&both, &mut p);
    }
    assert_eq!(after.len(), 2, "{}", describe(&after));
    assert_eq!(id_at(&after, false), Some(left_id), "{}", describe(&after));
    assert_eq!(id_at(&after, true), Some(right_id), "{}", describe(&after));
}

#[test]
fn couch_one_person_mode_on_two_people_is_one_stable_person() {
    let frame = two_people();
    let mut p = load(PipelineOptions::default());
    let start = Instant::now();
    let mut first_centre = None;
    for seq in 0..10 {
        let people = p.process_people(&frame.restamped(seq, start + Duration::from_millis(33 * seq))).unwrap();
        assert_eq!(people.len(), 1, "frame {seq}: {}", describe(&people));
        assert_eq!(people[0].id, PersonId(1));
        let c = *first_centre.get_or_insert(people[0].center);
        assert!((people[0].center.0 - c.0).abs() < 40.0, "frame {seq}: moved from {c:?} to {:?}", people[0].center);
    }
    // Tracked after the first frame: the detector ran once.
    assert_eq!(p.stats().detector_runs, 1, "{:?}", p.stats());
    assert_eq!(p.stats().landmark_runs, 10);
}

#[test]
fn couch_detector_runs_only_while_someone_is_missing() {
    let frame = two_people();
    let mut p = load(PipelineOptions { max_people: 2, detect_every: 5, ..PipelineOptions::default() });
    let start = Instant::now();
    for seq in 0..10 {
        assert_eq!(p.process_people(&frame.restamped(seq, start + Duration::from_millis(33 * seq))).unwrap().len(), 2);
    }
    // Both found on the first frame, then tracked: one detector run, two landmark runs a frame.
    assert_eq!(p.stats().detector_runs, 1, "{:?}", p.stats());
    assert_eq!(p.stats().landmark_runs, 20);
    // Asking for three with two there: the detector looks again every 5 frames.
    let mut p = load(PipelineOptions { max_people: 3, detect_every: 5, ..PipelineOptions::default() });
    for seq in 0..10 {
        assert_eq!(p.process_people(&frame.restamped(seq, start + Duration::from_millis(33 * seq))).unwrap().len(), 2);
    }
    assert_eq!(p.stats().detector_runs, 2, "{:?}", p.stats());
}

#[test]
fn couch_each_person_gets_exactly_the_single_person_landmarks() {
    // On the same picture, the person the single-person pipeline follows gets the same
    // landmarks from process_people (same region path, same smoothing), to float precision.
    let frame = two_people();
    let start = Instant::now();
    let mut single = load(PipelineOptions::default());
    let mut multi = load(couch_options(2));
    for seq in 0..6 {
        let f = frame.restamped(seq, start + Duration::from_millis(33 * seq));
        let s = single.process(&f).unwrap().expect("single: a person");
        let people = multi.process_people(&f).unwrap();
        assert_eq!(people.len(), 2, "{}", describe(&people));
        let (sx, _) = px(&s, Joint::Nose, 1024.0, 512.0);
        let q = people.iter().min_by(|a, b| {
            let d = |p: &TrackedPerson| (px(&p.skeleton, Joint::Nose, 1024.0, 512.0).0 - sx).abs();
            d(a).total_cmp(&d(b))
        });
        let q = q.unwrap();
        for (a, b) in s.landmarks.iter().zip(q.skeleton.landmarks.iter()) {
            assert!((a.x - b.x).abs() < 1e-5 && (a.y - b.y).abs() < 1e-5, "frame {seq}: {a:?} vs {b:?}");
        }
    }
}

#[test]
fn couch_three_and_four_people_side_by_side_are_found_with_the_tiles() {
    // 512 px astronauts side by side: on a 1536- or 2048-wide picture the whole-frame detector
    // pass sees each too small; the square tiles it looks at in turn find everyone.
    let (left, right) = halves();
    let start = Instant::now();
    for n in [3usize, 4] {
        let parts: Vec<(&RgbImage, i64)> = (0..n).map(|k| (if k % 2 == 0 { &left } else { &right }, 512 * k as i64)).collect();
        let img = compose(512 * n as u32, &parts);
        let mut p = load(PipelineOptions { max_people: n, detect_every: 1, ..PipelineOptions::default() });
        let mut people = Vec::new();
        for seq in 0..12 {
            people = p.process_people(&frame_of(&img, seq, start)).unwrap();
            if people.len() == n {
                break;
            }
        }
        assert_eq!(people.len(), n, "{n} people: {}", describe(&people));
        // One person per copy, ids distinct.
        let mut copies: Vec<i64> = people.iter().map(|q| (q.skeleton.get(Joint::Nose).x * img.width() as f32 / 512.0).floor() as i64).collect();
        copies.sort();
        assert_eq!(copies, (0..n as i64).collect::<Vec<_>>(), "{}", describe(&people));
        // Tracked from then on without the detector.
        let runs = p.stats().detector_runs;
        for seq in 12..15 {
            assert_eq!(p.process_people(&frame_of(&img, seq, start)).unwrap().len(), n);
        }
        assert_eq!(p.stats().detector_runs, runs);
    }
}

/// One person of a rendered scene (assets/testdata/rendered/people/people.tsv): what the
/// picture shows and where Blender projected the hip centre and the nose (pixels).
struct ScenePerson {
    body: String,
    pose: String,
    distance: f32,
    hip: (f32, f32),
    nose: (f32, f32),
}

struct Scene {
    file: String,
    people: Vec<ScenePerson>,
}

fn people_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/testdata/rendered/people")
}

/// The scenes of people.tsv, truth in pixels of a `width × height` picture.
fn rendered_scenes(width: f32, height: f32) -> Vec<Scene> {
    let text = std::fs::read_to_string(people_dir().join("people.tsv")).expect("people.tsv");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("people.tsv header").split('\t').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap_or_else(|| panic!("people.tsv: no column {name}"));
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let num = |name: &str| -> f32 { f[col(name)].parse().unwrap_or_else(|e| panic!("people.tsv {name} {:?}: {e}", f[col(name)])) };
            let count = num("people") as usize;
            let people = (1..=count)
                .map(|k| ScenePerson {
                    body: f[col(&format!("p{k}_body"))].to_string(),
                    pose: f[col(&format!("p{k}_pose"))].to_string(),
                    distance: num(&format!("p{k}_distance")),
                    hip: (num(&format!("p{k}_hip_x")) * width, num(&format!("p{k}_hip_y")) * height),
                    nose: (num(&format!("p{k}_nose_x")) * width, num(&format!("p{k}_nose_y")) * height),
                })
                .collect();
            Scene { file: f[col("file")].to_string(), people }
        })
        .collect()
}

/// The rendered couch scenes (scripts/rendered/people.py: two and three procedural people
/// side by side in one 512×288 room, 2.2–3.6 m from a wide camera, some mirrored, some in
/// poses): each still is fed for `FRAMES` frames to `process_people` with `max_people` = 4
/// on a reset pipeline (the detector runs every second frame and sees the whole picture and
/// each of its two square tiles), and on the last frame everyone must be tracked: as many
/// people as the scene holds, and each true person matched by exactly one tracked person
/// whose nose or hip centre is within 6 % of the picture width (31 px) of the truth, no
/// tracked person matching two. A table is printed (`-- --nocapture`): scene, people, found,
/// the frame from which the count stayed right, how many people the detector's whole-frame
/// pass alone finds (for reference; the tiles find the rest), worst nose and hip errors.
#[test]
fn couch_rendered_scenes_find_everyone() {
    const FRAMES: u64 = 8;
    let start = Instant::now();
    let mut p = load(couch_options(4));
    let mut failures = Vec::new();
    let mut table = String::from("scene         people found settled whole-frame det  worst nose px  worst hip px  (body pose distance: nose / hip error px)\n");
    let probe = Frame::load(&people_dir().join("scene_00.jpg")).expect("scene_00.jpg");
    let (w, h) = (probe.width as f32, probe.height as f32);
    let tol = 0.06 * w;
    let scenes = rendered_scenes(w, h);
    assert!(scenes.len() >= 12, "{} scenes", scenes.len());
    for scene in &scenes {
        let path = people_dir().join(&scene.file);
        let frame = Frame::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!((frame.width as f32, frame.height as f32), (w, h), "{}", scene.file);
        p.reset_people();
        let mut people = Vec::new();
        // The first frame from which the count is right on every frame.
        let mut settled = None;
        for seq in 0..FRAMES {
            people = p.process_people(&frame.restamped(seq, start + Duration::from_millis(33 * seq))).unwrap();
            if people.len() != scene.people.len() {
                settled = None;
            } else if settled.is_none() {
                settled = Some(seq);
            }
        }
        // For the table: how many people the detector's whole-frame pass alone finds.
        let whole = p.detect_all_in(&frame, 0).unwrap().len();
        let tracked: Vec<((f32, f32), (f32, f32))> = people.iter().map(|q| (px(&q.skeleton, Joint::Nose, w, h), q.center)).collect();
        let d = |a: (f32, f32), b: (f32, f32)| (a.0 - b.0).hypot(a.1 - b.1);
        // Who matches whom: nose or hip centre within the tolerance.
        let matches = |t: &ScenePerson, q: &((f32, f32), (f32, f32))| d(q.0, t.nose) <= tol || d(q.1, t.hip) <= tol;
        let (mut worst_nose, mut worst_hip) = (0.0f32, 0.0f32);
        let mut detail = Vec::new();
        let mut ok = people.len() == scene.people.len();
        for t in &scene.people {
            let hits: Vec<_> = tracked.iter().filter(|q| matches(t, q)).collect();
            if hits.len() != 1 {
                ok = false;
            }
            match hits.first() {
                Some(q) => {
                    let (en, eh) = (d(q.0, t.nose), d(q.1, t.hip));
                    worst_nose = worst_nose.max(en);
                    worst_hip = worst_hip.max(eh);
                    detail.push(format!("{} {} {:.1} m: {en:.0}/{eh:.0}", t.body, t.pose, t.distance));
                }
                None => detail.push(format!("{} {} {:.1} m: MISSED", t.body, t.pose, t.distance)),
            }
        }
        if tracked.iter().any(|q| scene.people.iter().filter(|t| matches(t, q)).count() > 1) {
            ok = false;
        }
        table.push_str(&format!(
            "{:<13} {:>6} {:>5} {:>7} {:>15}  {:>13.1}  {:>12.1}  {}{}\n",
            scene.file,
            scene.people.len(),
            people.len(),
            settled.map_or("-".to_string(), |f| format!("#{f}")),
            whole,
            worst_nose,
            worst_hip,
            detail.join(", "),
            if ok { "" } else { "  FAIL" }
        ));
        if !ok {
            let got: Vec<String> = tracked.iter().map(|(n, c)| format!("nose ({:.0}, {:.0}) hips ({:.0}, {:.0})", n.0, n.1, c.0, c.1)).collect();
            let want: Vec<String> = scene.people.iter().map(|t| format!("nose ({:.0}, {:.0}) hips ({:.0}, {:.0})", t.nose.0, t.nose.1, t.hip.0, t.hip.1)).collect();
            failures.push(format!("{}: tracked [{}], truth [{}]", scene.file, got.join("; "), want.join("; ")));
        }
    }
    eprint!("{table}");
    assert!(failures.is_empty(), "tolerance {tol:.0} px:\n{}", failures.join("\n"));
}

/// A person moving into each rendered pose and holding it (15 fps: the biggest steps per
/// frame), tracked by the several-people path: they stay one tracked person with one id
/// on every frame — going into a pose moves the face against the body, which must not read
/// as a region that slid onto someone else.
#[test]
fn couch_one_person_going_into_every_rendered_pose_keeps_one_id() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/testdata/rendered/sequences");
    let mut poses: Vec<_> = std::fs::read_dir(&root).expect("the rendered sequences").flatten().map(|e| e.path()).collect();
    poses.sort();
    assert!(poses.len() >= 12, "rendered sequences missing in {}", root.display());
    let mut p = load(couch_options(2));
    let mut report = Vec::new();
    for dir in &poses {
        p.reset_people();
        let mut files: Vec<_> = std::fs::read_dir(dir).expect("a sequence").flatten().map(|e| e.path()).collect();
        files.sort();
        let start = Instant::now();
        let (mut ids, mut empty) = (std::collections::BTreeSet::new(), 0);
        for (n, f) in files.iter().enumerate() {
            let frame = Frame::load(f).expect("a rendered frame").restamped(n as u64, start + Duration::from_millis(n as u64 * 67));
            let people = p.process_people(&frame).expect("process_people");
            empty += usize::from(people.is_empty());
            ids.extend(people.iter().map(|q| q.id));
            assert!(people.len() <= 1, "{}: frame {n}: {}", dir.display(), describe(&people));
        }
        report.push(format!("{}: {} frames, ids {ids:?}, frames without the person {empty}", dir.display(), files.len()));
        assert_eq!(ids.len(), 1, "{}: the person changed id: {ids:?}", dir.display());
        assert_eq!(empty, 0, "{}: the person was lost on {empty} frames", dir.display());
    }
    eprintln!("{}", report.join("\n"));
}
