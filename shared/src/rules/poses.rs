//! The pose library: named poses defined by joint angles and body relations with tolerances,
//! and a 0–1 match score of a [`Skeleton`] against each.
//!
//! Every measure is taken in the person's own frame so it works on mirrored and unmirrored
//! pictures alike: "outward" for a side is the direction from the other shoulder to that
//! side's shoulder, "up" is up in the picture, lengths are in shoulder widths. Only the upper
//! body is needed for most poses, which suits a laptop webcam; the leg poses (squat, star)
//! need the legs in view.

use serde::{Deserialize, Serialize};

use crate::pose::{Joint, Skeleton};

/// A skeleton matches a pose when its score reaches this.
pub const MATCH_THRESHOLD: f32 = 0.7;

/// Joints below this visibility count as not seen: a pose needing them scores 0.
pub const MIN_VISIBILITY: f32 = 0.5;

/// A body side, the person's anatomical one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Side {
    Left,
    Right,
}

impl Side {
    fn joints(self) -> SideJoints {
        match self {
            Side::Left => SideJoints {
                shoulder: Joint::LeftShoulder,
                elbow: Joint::LeftElbow,
                wrist: Joint::LeftWrist,
                hip: Joint::LeftHip,
                knee: Joint::LeftKnee,
                ankle: Joint::LeftAnkle,
            },
            Side::Right => SideJoints {
                shoulder: Joint::RightShoulder,
                elbow: Joint::RightElbow,
                wrist: Joint::RightWrist,
                hip: Joint::RightHip,
                knee: Joint::RightKnee,
                ankle: Joint::RightAnkle,
            },
        }
    }
}

struct SideJoints {
    shoulder: Joint,
    elbow: Joint,
    wrist: Joint,
    hip: Joint,
    knee: Joint,
    ankle: Joint,
}

/// One measurable quantity of a skeleton.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Feature {
    /// Direction shoulder → wrist in degrees: 0 = straight out to that side, 90 = up,
    /// −90 = down, ±180 = across the body.
    Arm(Side),
    /// Direction shoulder → elbow, same convention as [`Feature::Arm`].
    UpperArm(Side),
    /// Direction elbow → wrist, same convention as [`Feature::Arm`].
    Forearm(Side),
    /// Direction elbow → wrist seen from the other side: 0 = straight across the body
    /// (towards the other side), 90 = up, −90 = down, ±180 = out to its own side. The
    /// across-the-body directions, which [`Feature::Forearm`] puts at the ±180 seam, are
    /// a plain range here.
    ForearmAcross(Side),
    /// Angle at the elbow, degrees (180 = straight arm).
    Elbow(Side),
    /// Angle at the knee, degrees (180 = straight leg).
    Knee(Side),
    /// Tilt of the shoulder line in degrees, positive when the person leans to their left.
    Lean,
    /// Tilt of the torso (hip centre → shoulder centre) from upright in degrees, positive
    /// when the person leans to their left. Unlike [`Feature::Lean`] it stays near 0 when
    /// one arm goes up (which lifts that shoulder but not the trunk).
    TorsoLean,
    /// Distance between the wrists, in shoulder widths.
    WristGap,
    /// Height of the wrist above the nose, in shoulder widths (negative = below).
    WristAboveNose(Side),
    /// Sideways position of the wrist from the shoulder centre towards its own side, in
    /// shoulder widths (negative = crossed over to the other side).
    WristOutward(Side),
    /// Distance between the ankles, in shoulder widths.
    AnkleGap,
    /// How steeply the hands rise above the elbows, in degrees: the height of the wrists'
    /// midpoint above the elbows' midpoint against half the distance between the elbows,
    /// as an angle (0 = hands level with the elbows, 90 = straight above elbows that meet;
    /// negative = below). Joined hands on top of the head with the elbows out to the sides
    /// make a flat arch, joined hands high over the head with the elbows closer in a steep
    /// one. The wrists are read as a pair, so which wrist is which does not matter.
    HandsArch,
}

impl Feature {
    /// The joints this feature reads (all must be visible).
    pub fn joints(self) -> Vec<Joint> {
        let both = |f: fn(&SideJoints) -> Joint| {
            vec![f(&Side::Left.joints()), f(&Side::Right.joints())]
        };
        let shoulders = both(|j| j.shoulder);
        let mut out = match self {
            Feature::Arm(s) => vec![s.joints().wrist],
            Feature::UpperArm(s) => vec![s.joints().elbow],
            Feature::Forearm(s) | Feature::ForearmAcross(s) | Feature::Elbow(s) => {
                vec![s.joints().elbow, s.joints().wrist]
            }
            Feature::Knee(s) => vec![s.joints().hip, s.joints().knee, s.joints().ankle],
            Feature::Lean => vec![],
            Feature::TorsoLean => both(|j| j.hip),
            Feature::WristGap => both(|j| j.wrist),
            Feature::WristAboveNose(s) => vec![Joint::Nose, s.joints().wrist],
            Feature::WristOutward(s) => vec![s.joints().wrist],
            Feature::AnkleGap => both(|j| j.ankle),
            Feature::HandsArch => [both(|j| j.elbow), both(|j| j.wrist)].concat(),
        };
        out.extend(shoulders);
        out
    }

    /// The feature's value on a skeleton.
    pub fn measure(self, s: &Skeleton) -> f32 {
        let sw = s.shoulder_width();
        match self {
            Feature::Arm(side) => body_direction(s, side, side.joints().shoulder, side.joints().wrist),
            Feature::UpperArm(side) => {
                body_direction(s, side, side.joints().shoulder, side.joints().elbow)
            }
            Feature::Forearm(side) => body_direction(s, side, side.joints().elbow, side.joints().wrist),
            Feature::ForearmAcross(side) => {
                let d = body_direction(s, side, side.joints().elbow, side.joints().wrist);
                // Mirror the direction about the vertical: outward 0° becomes 180°.
                if d >= 0.0 { 180.0 - d } else { -180.0 - d }
            }
            Feature::Elbow(side) => {
                let j = side.joints();
                s.angle(j.shoulder, j.elbow, j.wrist)
            }
            Feature::Knee(side) => {
                let j = side.joints();
                s.angle(j.hip, j.knee, j.ankle)
            }
            Feature::Lean => {
                let (l, r) = (s.get(Joint::LeftShoulder), s.get(Joint::RightShoulder));
                (l.y - r.y).atan2((l.x - r.x).abs()).to_degrees()
            }
            Feature::TorsoLean => {
                let top = s.midpoint(Joint::LeftShoulder, Joint::RightShoulder);
                let hip = s.midpoint(Joint::LeftHip, Joint::RightHip);
                ((top.x - hip.x) * outward_sign(s, Side::Left)).atan2(hip.y - top.y).to_degrees()
            }
            Feature::WristGap => s.get(Joint::LeftWrist).dist(s.get(Joint::RightWrist)) / sw,
            Feature::WristAboveNose(side) => {
                (s.get(Joint::Nose).y - s.get(side.joints().wrist).y) / sw
            }
            Feature::WristOutward(side) => {
                let centre = s.midpoint(Joint::LeftShoulder, Joint::RightShoulder);
                let wrist = s.get(side.joints().wrist);
                (wrist.x - centre.x) * outward_sign(s, side) / sw
            }
            Feature::AnkleGap => s.get(Joint::LeftAnkle).dist(s.get(Joint::RightAnkle)) / sw,
            Feature::HandsArch => {
                let elbows = s.midpoint(Joint::LeftElbow, Joint::RightElbow);
                let hands = s.midpoint(Joint::LeftWrist, Joint::RightWrist);
                let half_span = s.get(Joint::LeftElbow).dist(s.get(Joint::RightElbow)) * 0.5;
                (elbows.y - hands.y).atan2(half_span).to_degrees()
            }
        }
    }
}

/// +1 when the side's outward direction is +x in the picture, −1 when it is −x.
fn outward_sign(s: &Skeleton, side: Side) -> f32 {
    let left_is_plus_x = s.get(Joint::LeftShoulder).x >= s.get(Joint::RightShoulder).x;
    match (side, left_is_plus_x) {
        (Side::Left, true) | (Side::Right, false) => 1.0,
        _ => -1.0,
    }
}

/// Direction `from → to` in degrees in the side's frame (0 = outward, 90 = up).
fn body_direction(s: &Skeleton, side: Side, from: Joint, to: Joint) -> f32 {
    let (p, q) = (s.get(from), s.get(to));
    let dx = (q.x - p.x) * outward_sign(s, side);
    let dy = p.y - q.y;
    dy.atan2(dx).to_degrees()
}

/// A feature must lie in `lo..=hi`; outside, the score falls linearly to 0 over `tolerance`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Constraint {
    pub feature: Feature,
    pub lo: f32,
    pub hi: f32,
    pub tolerance: f32,
}

impl Constraint {
    /// 0–1: 1 inside the range, falling to 0 at `tolerance` outside it.
    pub fn score(&self, s: &Skeleton) -> f32 {
        let v = self.feature.measure(s);
        if !v.is_finite() {
            return 0.0;
        }
        let d = if v < self.lo {
            self.lo - v
        } else if v > self.hi {
            v - self.hi
        } else {
            0.0
        };
        (1.0 - d / self.tolerance.max(f32::EPSILON)).clamp(0.0, 1.0)
    }
}

/// A constraint literal (a plain struct expression, so the tables below are `'static`).
macro_rules! c {
    ($feature:expr, $lo:expr, $hi:expr, $tol:expr) => {
        Constraint { feature: $feature, lo: $lo, hi: $hi, tolerance: $tol }
    };
}

/// The named poses of the game.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PoseId {
    HandsUp,
    TPose,
    LeftArmUp,
    RightArmUp,
    Squat,
    Star,
    HeartOverHead,
    ArmsCrossedX,
    CircleO,
    LeanLeft,
    LeanRight,
    Muscle,
}

impl PoseId {
    pub const ALL: [PoseId; 12] = [
        PoseId::HandsUp,
        PoseId::TPose,
        PoseId::LeftArmUp,
        PoseId::RightArmUp,
        PoseId::Squat,
        PoseId::Star,
        PoseId::HeartOverHead,
        PoseId::ArmsCrossedX,
        PoseId::CircleO,
        PoseId::LeanLeft,
        PoseId::LeanRight,
        PoseId::Muscle,
    ];

    /// The pose a mirror image of this pose shows (left and right swapped).
    pub fn mirrored(self) -> PoseId {
        match self {
            PoseId::LeftArmUp => PoseId::RightArmUp,
            PoseId::RightArmUp => PoseId::LeftArmUp,
            PoseId::LeanLeft => PoseId::LeanRight,
            PoseId::LeanRight => PoseId::LeanLeft,
            other => other,
        }
    }

    /// English name shown on the target card.
    pub fn name_en(self) -> &'static str {
        match self {
            PoseId::HandsUp => "Hands up",
            PoseId::TPose => "T-pose",
            PoseId::LeftArmUp => "Left arm up",
            PoseId::RightArmUp => "Right arm up",
            PoseId::Squat => "Squat",
            PoseId::Star => "Star",
            PoseId::HeartOverHead => "Heart over the head",
            PoseId::ArmsCrossedX => "Arms crossed (X)",
            PoseId::CircleO => "O over the head",
            PoseId::LeanLeft => "Lean left",
            PoseId::LeanRight => "Lean right",
            PoseId::Muscle => "Muscles",
        }
    }

    /// Korean name shown on the target card.
    pub fn name_ko(self) -> &'static str {
        match self {
            PoseId::HandsUp => "만세",
            PoseId::TPose => "T 포즈",
            PoseId::LeftArmUp => "왼팔 들기",
            PoseId::RightArmUp => "오른팔 들기",
            PoseId::Squat => "스쿼트",
            PoseId::Star => "별 모양",
            PoseId::HeartOverHead => "머리 위 하트",
            PoseId::ArmsCrossedX => "팔로 X",
            PoseId::CircleO => "머리 위 O",
            PoseId::LeanLeft => "왼쪽으로 기울이기",
            PoseId::LeanRight => "오른쪽으로 기울이기",
            PoseId::Muscle => "근육 자랑",
        }
    }

    /// A stable machine name (`hands_up`, …), used in decks and scripts.
    pub fn key(self) -> &'static str {
        match self {
            PoseId::HandsUp => "hands_up",
            PoseId::TPose => "t_pose",
            PoseId::LeftArmUp => "left_arm_up",
            PoseId::RightArmUp => "right_arm_up",
            PoseId::Squat => "squat",
            PoseId::Star => "star",
            PoseId::HeartOverHead => "heart",
            PoseId::ArmsCrossedX => "x",
            PoseId::CircleO => "o",
            PoseId::LeanLeft => "lean_left",
            PoseId::LeanRight => "lean_right",
            PoseId::Muscle => "muscle",
        }
    }

    /// Parses a pose name: its key, English or Korean name (case and spaces, `-` and `_`
    /// ignored).
    pub fn from_name(name: &str) -> Option<PoseId> {
        let norm = |s: &str| -> String {
            s.chars()
                .filter(|c| !c.is_whitespace() && *c != '-' && *c != '_')
                .flat_map(char::to_lowercase)
                .collect()
        };
        let wanted = norm(name);
        if wanted.is_empty() {
            return None;
        }
        PoseId::ALL.into_iter().find(|p| {
            [p.key(), p.name_en(), p.name_ko()].iter().any(|n| norm(n) == wanted)
        })
    }

    /// The constraints that define the pose.
    pub fn constraints(self) -> &'static [Constraint] {
        use Feature::*;
        use Side::*;
        const ARM_UP: (f32, f32) = (65.0, 115.0);
        const ARM_DOWN: (f32, f32) = (-130.0, -45.0);
        match self {
            // Both arms straight up, the hands apart (1.3–1.8 shoulder widths on the rendered
            // set): hands joined over the head are the O, whose elbows the model sometimes
            // opens to 145–155°.
            PoseId::HandsUp => &[
                c!(Arm(Left), ARM_UP.0, ARM_UP.1, 10.0),
                c!(Arm(Right), ARM_UP.0, ARM_UP.1, 10.0),
                c!(Elbow(Left), 140.0, 180.0, 15.0),
                c!(Elbow(Right), 140.0, 180.0, 15.0),
                c!(WristGap, 1.1, 10.0, 0.15),
            ],
            PoseId::TPose => &[
                c!(Arm(Left), -20.0, 20.0, 10.0),
                c!(Arm(Right), -20.0, 20.0, 10.0),
                c!(Elbow(Left), 150.0, 180.0, 15.0),
                c!(Elbow(Right), 150.0, 180.0, 15.0),
            ],
            PoseId::LeftArmUp => &[
                c!(Arm(Left), ARM_UP.0, ARM_UP.1, 10.0),
                c!(Elbow(Left), 140.0, 180.0, 15.0),
                c!(Arm(Right), ARM_DOWN.0, ARM_DOWN.1, 15.0),
            ],
            PoseId::RightArmUp => &[
                c!(Arm(Right), ARM_UP.0, ARM_UP.1, 10.0),
                c!(Elbow(Right), 140.0, 180.0, 15.0),
                c!(Arm(Left), ARM_DOWN.0, ARM_DOWN.1, 15.0),
            ],
            PoseId::Squat => &[
                c!(Knee(Left), 40.0, 140.0, 12.0),
                c!(Knee(Right), 40.0, 140.0, 12.0),
            ],
            PoseId::Star => &[
                c!(Arm(Left), 20.0, 65.0, 10.0),
                c!(Arm(Right), 20.0, 65.0, 10.0),
                c!(Elbow(Left), 140.0, 180.0, 15.0),
                c!(Elbow(Right), 140.0, 180.0, 15.0),
                c!(AnkleGap, 1.5, 10.0, 0.3),
            ],
            // Hands joined on top of the head, elbows out to the sides. The full model opens
            // the elbows of some rendered hearts to 100–124° (rendered: 75°), into the O's
            // elbow range; what still tells them apart is the arch: the heart's hands sit
            // a little above the elbows (10–38° measured), the O's high above elbows that
            // come in closer (≥ 39°). The O fixture (upper arms at 88°) is kept off by the
            // upper arms.
            PoseId::HeartOverHead => &[
                c!(UpperArm(Left), 35.0, 75.0, 10.0),
                c!(UpperArm(Right), 35.0, 75.0, 10.0),
                c!(Elbow(Left), 45.0, 125.0, 10.0),
                c!(Elbow(Right), 45.0, 125.0, 10.0),
                c!(HandsArch, 0.0, 37.0, 5.0),
                // Hands on top of the head: the model puts the wrists at the sides of the
                // head (gap ~1 shoulder width on the rendered set where the rendered wrists
                // are 0.6–0.7 apart), and a little higher than the fixture.
                c!(WristAboveNose(Left), 0.1, 0.9, 0.1),
                c!(WristAboveNose(Right), 0.1, 0.9, 0.1),
                c!(WristGap, 0.0, 1.1, 0.2),
            ],
            // Forearms crossed over the chest. The forearms hide each other and the model
            // often swaps the wrists (each put on its own side, or both at the crossing), so
            // the rule does not ask which side a wrist is on: each upper arm hangs down, each
            // forearm points across the body (−32..61° measured: from a little below level
            // to half up; not straight up as hands joined in front of the chest, not down
            // and in as hands on the hips), and the hands are at chest height (not down at
            // the hips).
            PoseId::ArmsCrossedX => &[
                c!(UpperArm(Left), -150.0, -45.0, 15.0),
                c!(UpperArm(Right), -150.0, -45.0, 15.0),
                c!(ForearmAcross(Left), -35.0, 60.0, 10.0),
                c!(ForearmAcross(Right), -35.0, 60.0, 10.0),
                c!(WristAboveNose(Left), -1.6, 0.3, 0.2),
                c!(WristAboveNose(Right), -1.6, 0.3, 0.2),
            ],
            // Upper arms from 55°: with the hands joined over the head the model puts the
            // elbows lower and wider than the body's (57–68° on rendered people whose upper
            // arms are at 88°). The elbow angle keeps it apart from the heart's fixture; the
            // rendered hearts whose elbows the model opens past 105° score at most 0.67 here
            // (their wrists are wider apart), below the heart's own score.
            PoseId::CircleO => &[
                c!(UpperArm(Left), 55.0, 115.0, 10.0),
                c!(UpperArm(Right), 55.0, 115.0, 10.0),
                c!(Elbow(Left), 105.0, 160.0, 10.0),
                c!(Elbow(Right), 105.0, 160.0, 10.0),
                c!(WristAboveNose(Left), 0.35, 3.0, 0.1),
                c!(WristAboveNose(Right), 0.35, 3.0, 0.1),
                c!(WristGap, 0.0, 0.8, 0.2),
            ],
            // The trunk must lean too: raising one arm tilts the shoulder line by 12–20° in
            // the model's landmarks (the shoulder goes up with the arm), which alone read
            // as a lean on the rendered set.
            PoseId::LeanLeft => &[c!(Lean, 12.0, 50.0, 5.0), c!(TorsoLean, 8.0, 50.0, 4.0)],
            PoseId::LeanRight => &[c!(Lean, -50.0, -12.0, 5.0), c!(TorsoLean, -50.0, -8.0, 4.0)],
            PoseId::Muscle => &[
                c!(UpperArm(Left), -25.0, 25.0, 10.0),
                c!(UpperArm(Right), -25.0, 25.0, 10.0),
                c!(Elbow(Left), 55.0, 125.0, 10.0),
                c!(Elbow(Right), 55.0, 125.0, 10.0),
                c!(Forearm(Left), 55.0, 125.0, 10.0),
                c!(Forearm(Right), 55.0, 125.0, 10.0),
            ],
        }
    }

    /// Whether the pose joins or crosses the hands (heart, X, O): one wrist then often hides
    /// behind the other hand or forearm, and the model gives it a low visibility while its
    /// position stays close to the seen one. Such a pose needs only the better-seen of the
    /// two wrists to be visible (see [`match_score`]).
    pub fn hands_meet(self) -> bool {
        matches!(self, PoseId::HeartOverHead | PoseId::ArmsCrossedX | PoseId::CircleO)
    }

    /// Every joint the pose reads.
    pub fn required_joints(self) -> Vec<Joint> {
        let mut joints: Vec<Joint> =
            self.constraints().iter().flat_map(|c| c.feature.joints()).collect();
        joints.sort();
        joints.dedup();
        joints
    }
}

/// How well `skeleton` matches `pose`, 0–1: the weakest constraint decides. A person not
/// found (model score below [`MIN_VISIBILITY`]) or a needed joint out of sight gives 0; for
/// a pose whose hands meet ([`PoseId::hands_meet`]) one seen wrist stands for both.
pub fn match_score(skeleton: &Skeleton, pose: PoseId) -> f32 {
    if skeleton.score < MIN_VISIBILITY || seen(skeleton, pose) < MIN_VISIBILITY {
        return 0.0;
    }
    pose.constraints().iter().map(|c| c.score(skeleton)).fold(1.0, f32::min)
}

/// The lowest visibility among the joints `pose` reads, the two wrists counted as the
/// better-seen one when the pose's hands meet.
fn seen(skeleton: &Skeleton, pose: PoseId) -> f32 {
    let wrists = [Joint::LeftWrist, Joint::RightWrist];
    let mut joints = pose.required_joints();
    let mut least = 1.0f32;
    if pose.hands_meet() && joints.iter().any(|j| wrists.contains(j)) {
        joints.retain(|j| !wrists.contains(j));
        least = wrists.iter().map(|w| skeleton.get(*w).visibility).fold(0.0, f32::max);
    }
    least.min(skeleton.min_visibility(&joints))
}

/// Whether `skeleton` matches `pose` (score ≥ [`MATCH_THRESHOLD`]).
pub fn matches(skeleton: &Skeleton, pose: PoseId) -> bool {
    match_score(skeleton, pose) >= MATCH_THRESHOLD
}

/// The best-matching pose among `candidates` that reaches [`MATCH_THRESHOLD`], with its score.
pub fn best_match(skeleton: &Skeleton, candidates: &[PoseId]) -> Option<(PoseId, f32)> {
    candidates
        .iter()
        .map(|p| (*p, match_score(skeleton, *p)))
        .filter(|(_, s)| *s >= MATCH_THRESHOLD)
        .max_by(|a, b| a.1.total_cmp(&b.1))
}
