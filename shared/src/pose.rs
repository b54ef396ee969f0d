//! Pose types: BlazePose's 33 landmarks, a [`Skeleton`] per frame, joint angles.
//!
//! Coordinates are normalised to the camera image: `x` grows to the right, `y` grows
//! downwards, both in `[0, 1]` for points inside the picture (points outside are allowed,
//! BlazePose predicts hidden limbs). `z` is depth relative to the hips in roughly the same
//! scale as `x` (smaller = closer to the camera). "Left" and "right" are the *person's*
//! anatomical sides, as in MediaPipe: on an unmirrored camera image the person's left arm
//! appears on the right-hand side of the picture.

use serde::{Deserialize, Serialize};

/// Number of body landmarks in a BlazePose skeleton.
pub const LANDMARK_COUNT: usize = 33;

/// One landmark: position plus the model's confidence that it is visible / present.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Landmark {
    pub x: f32,
    pub y: f32,
    pub z: f32,
    /// Probability (0–1) that the point is visible (not occluded) in the picture.
    pub visibility: f32,
    /// Probability (0–1) that the point is inside the picture at all.
    pub presence: f32,
}

impl Landmark {
    pub const fn new(x: f32, y: f32) -> Self {
        Self { x, y, z: 0.0, visibility: 1.0, presence: 1.0 }
    }

    /// 2-D position (normalised image coordinates).
    pub fn xy(&self) -> [f32; 2] {
        [self.x, self.y]
    }

    /// Euclidean distance in the image plane.
    pub fn dist(&self, other: &Landmark) -> f32 {
        (self.x - other.x).hypot(self.y - other.y)
    }
}

/// The 33 BlazePose landmarks, in model output order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[repr(u8)]
pub enum Joint {
    Nose = 0,
    LeftEyeInner,
    LeftEye,
    LeftEyeOuter,
    RightEyeInner,
    RightEye,
    RightEyeOuter,
    LeftEar,
    RightEar,
    MouthLeft,
    MouthRight,
    LeftShoulder,
    RightShoulder,
    LeftElbow,
    RightElbow,
    LeftWrist,
    RightWrist,
    LeftPinky,
    RightPinky,
    LeftIndex,
    RightIndex,
    LeftThumb,
    RightThumb,
    LeftHip,
    RightHip,
    LeftKnee,
    RightKnee,
    LeftAnkle,
    RightAnkle,
    LeftHeel,
    RightHeel,
    LeftFootIndex,
    RightFootIndex,
}

impl Joint {
    /// Every joint, in model output order (`ALL[i] as usize == i`).
    pub const ALL: [Joint; LANDMARK_COUNT] = [
        Joint::Nose,
        Joint::LeftEyeInner,
        Joint::LeftEye,
        Joint::LeftEyeOuter,
        Joint::RightEyeInner,
        Joint::RightEye,
        Joint::RightEyeOuter,
        Joint::LeftEar,
        Joint::RightEar,
        Joint::MouthLeft,
        Joint::MouthRight,
        Joint::LeftShoulder,
        Joint::RightShoulder,
        Joint::LeftElbow,
        Joint::RightElbow,
        Joint::LeftWrist,
        Joint::RightWrist,
        Joint::LeftPinky,
        Joint::RightPinky,
        Joint::LeftIndex,
        Joint::RightIndex,
        Joint::LeftThumb,
        Joint::RightThumb,
        Joint::LeftHip,
        Joint::RightHip,
        Joint::LeftKnee,
        Joint::RightKnee,
        Joint::LeftAnkle,
        Joint::RightAnkle,
        Joint::LeftHeel,
        Joint::RightHeel,
        Joint::LeftFootIndex,
        Joint::RightFootIndex,
    ];

    pub const fn index(self) -> usize {
        self as usize
    }

    /// The joint with this model output index, if any.
    pub fn from_index(i: usize) -> Option<Joint> {
        Self::ALL.get(i).copied()
    }

    /// The same joint on the other side of the body (the nose maps to itself).
    pub fn mirrored(self) -> Joint {
        use Joint::*;
        match self {
            Nose => Nose,
            LeftEyeInner => RightEyeInner,
            LeftEye => RightEye,
            LeftEyeOuter => RightEyeOuter,
            RightEyeInner => LeftEyeInner,
            RightEye => LeftEye,
            RightEyeOuter => LeftEyeOuter,
            LeftEar => RightEar,
            RightEar => LeftEar,
            MouthLeft => MouthRight,
            MouthRight => MouthLeft,
            LeftShoulder => RightShoulder,
            RightShoulder => LeftShoulder,
            LeftElbow => RightElbow,
            RightElbow => LeftElbow,
            LeftWrist => RightWrist,
            RightWrist => LeftWrist,
            LeftPinky => RightPinky,
            RightPinky => LeftPinky,
            LeftIndex => RightIndex,
            RightIndex => LeftIndex,
            LeftThumb => RightThumb,
            RightThumb => LeftThumb,
            LeftHip => RightHip,
            RightHip => LeftHip,
            LeftKnee => RightKnee,
            RightKnee => LeftKnee,
            LeftAnkle => RightAnkle,
            RightAnkle => LeftAnkle,
            LeftHeel => RightHeel,
            RightHeel => LeftHeel,
            LeftFootIndex => RightFootIndex,
            RightFootIndex => LeftFootIndex,
        }
    }
}

/// Bones to draw: pairs of joints, as in MediaPipe's pose connections.
pub const CONNECTIONS: &[(Joint, Joint)] = {
    use Joint::*;
    &[
        (Nose, LeftEyeInner),
        (LeftEyeInner, LeftEye),
        (LeftEye, LeftEyeOuter),
        (LeftEyeOuter, LeftEar),
        (Nose, RightEyeInner),
        (RightEyeInner, RightEye),
        (RightEye, RightEyeOuter),
        (RightEyeOuter, RightEar),
        (MouthLeft, MouthRight),
        (LeftShoulder, RightShoulder),
        (LeftShoulder, LeftElbow),
        (LeftElbow, LeftWrist),
        (LeftWrist, LeftPinky),
        (LeftWrist, LeftIndex),
        (LeftWrist, LeftThumb),
        (LeftPinky, LeftIndex),
        (RightShoulder, RightElbow),
        (RightElbow, RightWrist),
        (RightWrist, RightPinky),
        (RightWrist, RightIndex),
        (RightWrist, RightThumb),
        (RightPinky, RightIndex),
        (LeftShoulder, LeftHip),
        (RightShoulder, RightHip),
        (LeftHip, RightHip),
        (LeftHip, LeftKnee),
        (LeftKnee, LeftAnkle),
        (LeftAnkle, LeftHeel),
        (LeftHeel, LeftFootIndex),
        (LeftAnkle, LeftFootIndex),
        (RightHip, RightKnee),
        (RightKnee, RightAnkle),
        (RightAnkle, RightHeel),
        (RightHeel, RightFootIndex),
        (RightAnkle, RightFootIndex),
    ]
};

/// One person's pose in one frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Skeleton {
    /// Landmarks in [`Joint`] order.
    #[serde(with = "serde_big_array::BigArray")]
    pub landmarks: [Landmark; LANDMARK_COUNT],
    /// The landmark model's probability that a person is in the region (0–1).
    pub score: f32,
}

impl Default for Skeleton {
    fn default() -> Self {
        Self { landmarks: [Landmark::default(); LANDMARK_COUNT], score: 0.0 }
    }
}

impl Skeleton {
    pub fn new(landmarks: [Landmark; LANDMARK_COUNT], score: f32) -> Self {
        Self { landmarks, score }
    }

    pub fn get(&self, joint: Joint) -> &Landmark {
        &self.landmarks[joint.index()]
    }

    pub fn get_mut(&mut self, joint: Joint) -> &mut Landmark {
        &mut self.landmarks[joint.index()]
    }

    /// Midpoint of two joints (e.g. the hip centre).
    pub fn midpoint(&self, a: Joint, b: Joint) -> Landmark {
        let (p, q) = (self.get(a), self.get(b));
        Landmark {
            x: (p.x + q.x) * 0.5,
            y: (p.y + q.y) * 0.5,
            z: (p.z + q.z) * 0.5,
            visibility: p.visibility.min(q.visibility),
            presence: p.presence.min(q.presence),
        }
    }

    /// The angle at `vertex` between the segments to `a` and `b`, in degrees (0–180),
    /// measured in the image plane.
    pub fn angle(&self, a: Joint, vertex: Joint, b: Joint) -> f32 {
        angle_deg(self.get(a), self.get(vertex), self.get(b))
    }

    /// Direction of the segment `from → to` in degrees, image plane, measured
    /// counter-clockwise from the +x axis with y pointing *up* (so 90° = straight up).
    pub fn direction(&self, from: Joint, to: Joint) -> f32 {
        let (p, q) = (self.get(from), self.get(to));
        (-(q.y - p.y)).atan2(q.x - p.x).to_degrees()
    }

    /// Shoulder width, a scale reference for distances (never below a small epsilon).
    pub fn shoulder_width(&self) -> f32 {
        self.get(Joint::LeftShoulder).dist(self.get(Joint::RightShoulder)).max(1e-4)
    }

    /// Torso length (shoulder centre to hip centre), a scale reference for distances.
    pub fn torso_length(&self) -> f32 {
        let s = self.midpoint(Joint::LeftShoulder, Joint::RightShoulder);
        let h = self.midpoint(Joint::LeftHip, Joint::RightHip);
        s.dist(&h).max(1e-4)
    }

    /// The same pose seen in a mirror: x flipped around 0.5 and sides swapped, so that the
    /// person's left is still called left.
    pub fn mirrored(&self) -> Skeleton {
        let mut out = self.clone();
        for j in Joint::ALL {
            let mut lm = *self.get(j.mirrored());
            lm.x = 1.0 - lm.x;
            out.landmarks[j.index()] = lm;
        }
        out
    }

    /// Lowest visibility among the given joints (0 when the list is empty).
    pub fn min_visibility(&self, joints: &[Joint]) -> f32 {
        joints.iter().map(|j| self.get(*j).visibility).reduce(f32::min).unwrap_or(0.0)
    }
}

/// The angle at `v` between `v→a` and `v→b`, in degrees (0–180). Degenerate input
/// (a zero-length segment) gives 0.
pub fn angle_deg(a: &Landmark, v: &Landmark, b: &Landmark) -> f32 {
    let (ax, ay) = (a.x - v.x, a.y - v.y);
    let (bx, by) = (b.x - v.x, b.y - v.y);
    let na = ax.hypot(ay);
    let nb = bx.hypot(by);
    if na < 1e-9 || nb < 1e-9 {
        return 0.0;
    }
    let cos = ((ax * bx + ay * by) / (na * nb)).clamp(-1.0, 1.0);
    cos.acos().to_degrees()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joint_order_matches_indices() {
        for (i, j) in Joint::ALL.iter().enumerate() {
            assert_eq!(j.index(), i);
            assert_eq!(Joint::from_index(i), Some(*j));
            assert_eq!(j.mirrored().mirrored(), *j);
        }
        assert_eq!(Joint::from_index(LANDMARK_COUNT), None);
        assert_eq!(Joint::RightFootIndex.index(), 32);
    }

    #[test]
    fn right_angle_and_straight_line() {
        let a = Landmark::new(1.0, 0.0);
        let v = Landmark::new(0.0, 0.0);
        let b = Landmark::new(0.0, 1.0);
        assert!((angle_deg(&a, &v, &b) - 90.0).abs() < 1e-4);
        let c = Landmark::new(-1.0, 0.0);
        assert!((angle_deg(&a, &v, &c) - 180.0).abs() < 1e-3);
        assert_eq!(angle_deg(&v, &v, &b), 0.0);
    }

    #[test]
    fn direction_points_up_at_90() {
        let mut s = Skeleton::default();
        *s.get_mut(Joint::LeftShoulder) = Landmark::new(0.5, 0.5);
        *s.get_mut(Joint::LeftWrist) = Landmark::new(0.5, 0.2);
        assert!((s.direction(Joint::LeftShoulder, Joint::LeftWrist) - 90.0).abs() < 1e-3);
    }

    #[test]
    fn mirroring_swaps_sides_and_flips_x() {
        let mut s = Skeleton::default();
        *s.get_mut(Joint::LeftWrist) = Landmark::new(0.8, 0.3);
        *s.get_mut(Joint::RightWrist) = Landmark::new(0.3, 0.6);
        let m = s.mirrored();
        assert!((m.get(Joint::LeftWrist).x - 0.7).abs() < 1e-6);
        assert!((m.get(Joint::LeftWrist).y - 0.6).abs() < 1e-6);
        assert!((m.get(Joint::RightWrist).x - 0.2).abs() < 1e-6);
        assert_eq!(m.mirrored(), s);
    }
}
