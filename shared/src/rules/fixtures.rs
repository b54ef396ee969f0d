//! Synthetic skeletons for each pose of the library: test fixtures, demo screens and the
//! scripted bot source (poses on a timeline, with noise, without a model).
//!
//! The body is built facing the camera in an unmirrored picture (the person's left on the
//! picture's right), limbs given as directions in the side's own frame (0° = outward,
//! 90° = up), as [`super::poses::Feature`] measures them.

use crate::pose::{Joint, LANDMARK_COUNT, Landmark, Skeleton};

use super::poses::PoseId;
use super::rng::SplitMix64;

const SHOULDER_Y: f32 = 0.36;
const HALF_SHOULDER: f32 = 0.1;
const HIP_Y: f32 = 0.62;
const HALF_HIP: f32 = 0.065;
const UPPER_ARM: f32 = 0.13;
const FOREARM: f32 = 0.12;
const THIGH: f32 = 0.17;
const SHIN: f32 = 0.17;

/// Limb directions (degrees, side frame) of one side.
#[derive(Debug, Clone, Copy)]
struct Limbs {
    upper_arm: f32,
    forearm: f32,
    thigh: f32,
    shin: f32,
}

const NEUTRAL: Limbs = Limbs { upper_arm: -80.0, forearm: -85.0, thigh: -90.0, shin: -90.0 };

/// Body description: both sides plus a lean of the upper body (degrees, + = to the left).
struct Body {
    left: Limbs,
    right: Limbs,
    lean: f32,
}

fn arms(upper_arm: f32, forearm: f32) -> Limbs {
    Limbs { upper_arm, forearm, ..NEUTRAL }
}

fn body(pose: Option<PoseId>) -> Body {
    let same = |l: Limbs| Body { left: l, right: l, lean: 0.0 };
    let Some(pose) = pose else { return same(NEUTRAL) };
    match pose {
        PoseId::HandsUp => same(arms(85.0, 88.0)),
        PoseId::TPose => same(arms(0.0, 0.0)),
        PoseId::LeftArmUp => Body { left: arms(85.0, 88.0), right: NEUTRAL, lean: 0.0 },
        PoseId::RightArmUp => Body { left: NEUTRAL, right: arms(85.0, 88.0), lean: 0.0 },
        PoseId::Squat => same(Limbs { thigh: -30.0, shin: -100.0, ..NEUTRAL }),
        PoseId::Star => same(Limbs { upper_arm: 42.0, forearm: 42.0, thigh: -60.0, shin: -60.0 }),
        PoseId::HeartOverHead => same(arms(55.0, 160.0)),
        PoseId::ArmsCrossedX => same(arms(-120.0, 135.0)),
        PoseId::CircleO => same(arms(88.0, 143.0)),
        PoseId::LeanLeft => Body { lean: 25.0, ..same(NEUTRAL) },
        PoseId::LeanRight => Body { lean: -25.0, ..same(NEUTRAL) },
        PoseId::Muscle => same(arms(0.0, 90.0)),
    }
}

/// The limb directions of one side of a posture (degrees, side frame: 0° = outward,
/// 90° = up), as the fixtures build them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SideLimbs {
    pub upper_arm: f32,
    pub forearm: f32,
    pub thigh: f32,
    pub shin: f32,
}

/// The posture a fixture of `pose` is built from (`None` = standing with arms down): both
/// sides' limb directions and the upper-body lean (degrees, + = to the person's left).
/// Exported so renderers can pose a body by the library's own joint angles.
pub fn posture(pose: Option<PoseId>) -> (SideLimbs, SideLimbs, f32) {
    let b = body(pose);
    let side = |l: Limbs| SideLimbs {
        upper_arm: l.upper_arm,
        forearm: l.forearm,
        thigh: l.thigh,
        shin: l.shin,
    };
    (side(b.left), side(b.right), b.lean)
}

/// A clean skeleton standing in `pose` (`None` = standing with arms down).
pub fn pose_skeleton(pose: Option<PoseId>) -> Skeleton {
    build(&body(pose))
}

/// A standing skeleton with arm directions of your choice (degrees, side frame), for
/// near-miss fixtures and scripted bots.
pub fn arms_skeleton(left: (f32, f32), right: (f32, f32)) -> Skeleton {
    build(&Body { left: arms(left.0, left.1), right: arms(right.0, right.1), lean: 0.0 })
}

/// A standing skeleton leaning by `degrees` (+ = to the person's left).
pub fn leaning_skeleton(degrees: f32) -> Skeleton {
    build(&Body { left: NEUTRAL, right: NEUTRAL, lean: degrees })
}

/// A standing skeleton with both knees bent to the given image-plane directions.
pub fn legs_skeleton(thigh: f32, shin: f32) -> Skeleton {
    let l = Limbs { thigh, shin, ..NEUTRAL };
    build(&Body { left: l, right: l, lean: 0.0 })
}

/// `skeleton` with every landmark moved by up to `amplitude` (normalised units) in x and y,
/// deterministically from `seed`.
pub fn with_noise(skeleton: &Skeleton, seed: u64, amplitude: f32) -> Skeleton {
    let mut rng = SplitMix64::new(seed);
    let mut out = skeleton.clone();
    for lm in out.landmarks.iter_mut() {
        lm.x += rng.symmetric(amplitude);
        lm.y += rng.symmetric(amplitude);
    }
    out
}

fn build(b: &Body) -> Skeleton {
    let mut lms = [Landmark::new(0.5, 0.5); LANDMARK_COUNT];
    let hip_centre = (0.5, HIP_Y);
    // Upper body points are placed upright, then rotated around the hip centre by the lean.
    // Leaning to the person's left moves the head towards +x (their left, unmirrored).
    let (sin, cos) = b.lean.to_radians().sin_cos();
    let rotate = |x: f32, y: f32| -> (f32, f32) {
        let (dx, dy) = (x - hip_centre.0, y - hip_centre.1);
        (hip_centre.0 + dx * cos - dy * sin, hip_centre.1 + dx * sin + dy * cos)
    };
    let mut put = |j: Joint, (x, y): (f32, f32)| lms[j.index()] = Landmark::new(x, y);

    // Head.
    let head = [
        (Joint::Nose, 0.0, -0.1),
        (Joint::LeftEyeInner, 0.012, -0.115),
        (Joint::LeftEye, 0.022, -0.117),
        (Joint::LeftEyeOuter, 0.032, -0.116),
        (Joint::RightEyeInner, -0.012, -0.115),
        (Joint::RightEye, -0.022, -0.117),
        (Joint::RightEyeOuter, -0.032, -0.116),
        (Joint::LeftEar, 0.05, -0.105),
        (Joint::RightEar, -0.05, -0.105),
        (Joint::MouthLeft, 0.018, -0.075),
        (Joint::MouthRight, -0.018, -0.075),
    ];
    for (j, dx, dy) in head {
        put(j, rotate(0.5 + dx, SHOULDER_Y + dy));
    }

    for (side, limbs, sign) in [(true, b.left, 1.0f32), (false, b.right, -1.0f32)] {
        let j = |l: Joint, r: Joint| if side { l } else { r };
        let dir = |deg: f32| {
            let (s, c) = deg.to_radians().sin_cos();
            (c * sign, -s)
        };
        // Arm, in the upright frame, then rotated with the upper body.
        let shoulder = (0.5 + sign * HALF_SHOULDER, SHOULDER_Y);
        let (ux, uy) = dir(limbs.upper_arm);
        let elbow = (shoulder.0 + ux * UPPER_ARM, shoulder.1 + uy * UPPER_ARM);
        let (fx, fy) = dir(limbs.forearm);
        let wrist = (elbow.0 + fx * FOREARM, elbow.1 + fy * FOREARM);
        let hand = |d: f32, off: f32| {
            (wrist.0 + fx * d - fy * off * sign, wrist.1 + fy * d + fx * off * sign)
        };
        put(j(Joint::LeftShoulder, Joint::RightShoulder), rotate(shoulder.0, shoulder.1));
        put(j(Joint::LeftElbow, Joint::RightElbow), rotate(elbow.0, elbow.1));
        put(j(Joint::LeftWrist, Joint::RightWrist), rotate(wrist.0, wrist.1));
        let (px, py) = hand(0.03, 0.01);
        put(j(Joint::LeftPinky, Joint::RightPinky), rotate(px, py));
        let (ix, iy) = hand(0.035, 0.0);
        put(j(Joint::LeftIndex, Joint::RightIndex), rotate(ix, iy));
        let (tx, ty) = hand(0.02, -0.015);
        put(j(Joint::LeftThumb, Joint::RightThumb), rotate(tx, ty));

        // Legs stay put; the hips are the pivot of the lean.
        let hip = (0.5 + sign * HALF_HIP, HIP_Y);
        let (tx, ty) = dir(limbs.thigh);
        let knee = (hip.0 + tx * THIGH, hip.1 + ty * THIGH);
        let (sx, sy) = dir(limbs.shin);
        let ankle = (knee.0 + sx * SHIN, knee.1 + sy * SHIN);
        put(j(Joint::LeftHip, Joint::RightHip), hip);
        put(j(Joint::LeftKnee, Joint::RightKnee), knee);
        put(j(Joint::LeftAnkle, Joint::RightAnkle), ankle);
        put(j(Joint::LeftHeel, Joint::RightHeel), (ankle.0 - sign * 0.005, ankle.1 + 0.015));
        put(j(Joint::LeftFootIndex, Joint::RightFootIndex), (ankle.0 + sign * 0.03, ankle.1 + 0.02));
    }
    Skeleton::new(lms, 0.98)
}
