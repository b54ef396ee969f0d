//! Several people in front of one camera ("couch" play): up to `max_people` tracked
//! regions, each with its own landmark inference and smoothing, and ids that stay with
//! the person.
//!
//! Per frame ([`crate::PosePipeline::process_people`]):
//! 1. Every tracked region goes through the landmark model, as in the single-person path
//!    (all crops first, then the model on each). A face that moved further than the body's
//!    motion allows (6 % of the region plus that motion) means the region slid onto someone
//!    else (a partly hidden person drifting onto the one in front): the region is lost.
//! 2. Two regions that ended up on the same person (it happens when people pass each other
//!    and one hides the other) are merged: the track whose own prediction (last position +
//!    velocity) is closer keeps the person, the other is marked lost. So ids never swap
//!    silently: the hidden person's track waits instead of taking the visible person.
//! 3. The detector runs when a region was lost this frame, nobody is tracked, every
//!    `detect_every` frames while fewer than `max_people` are tracked, or always with
//!    `detect_always`. Detections on someone already tracked are skipped; each new one gets
//!    a landmark inference, and its id: a lost track's if one was near where the person now
//!    is (position predicted from its last velocity), else a new id.
//!    On a wide frame the detector looks at the whole frame and at square tiles in turn,
//!    one per run, so people far away in a wide picture are found too.
//! 4. Lost tracks are remembered `keep_lost_frames` frames.

use std::time::Instant;

use shared::pose::{LANDMARK_COUNT, Landmark, Skeleton};

use crate::filter::LandmarkSmoother;
use crate::geometry::Roi;
use super::{LandmarkResult, PosePipeline, to_skeleton};
use crate::{Frame, VisionError};

/// Largest `max_people` honoured.
pub const MAX_PEOPLE: usize = 4;

/// A tracked person's id: 1, 2, 3, … in the order people were first seen; an id is never
/// reused by the same pipeline until [`PosePipeline::reset_people`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PersonId(pub u32);

impl std::fmt::Display for PersonId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// One person in this frame.
#[derive(Debug, Clone)]
pub struct TrackedPerson {
    pub id: PersonId,
    /// Landmarks normalised to the frame, as [`PosePipeline::process`] gives them.
    pub skeleton: Skeleton,
    /// Hip centre in image pixels (the region's centre; below the picture for an upper-body shot).
    pub center: (f32, f32),
    /// The region the landmarks were found in, image pixels.
    pub roi: Roi,
    /// Found by the detector on this frame (new, or back after being lost) rather than tracked.
    pub detected: bool,
}

#[derive(Debug, Clone)]
struct Track {
    id: PersonId,
    /// The region for the next frame while the person is tracked.
    roi: Option<Roi>,
    /// Last hip centre and body-circle point (image pixels).
    center: (f32, f32),
    top: (f32, f32),
    /// Region side when last seen.
    size: f32,
    /// Hip centre motion, pixels per frame (smoothed).
    velocity: (f32, f32),
    /// Nose position when last seen (image pixels).
    face: (f32, f32),
    /// Frames since last seen (0 = seen on the last processed frame).
    missing: u32,
    smoother: LandmarkSmoother,
    last_time: Option<Instant>,
}

/// How far a face may move from where the body's motion puts it, as a share of the region
/// side, before the region counts as lost.
const FACE_GATE: f32 = 0.06;

impl Track {
    /// The face on `result` is far from where this track's last face, moved like the body,
    /// would be.
    fn face_jumped(&self, result: &LandmarkResult) -> bool {
        let nose = &result.landmarks[0];
        let expected = (self.face.0 + self.velocity.0, self.face.1 + self.velocity.1);
        let moved = self.velocity.0.hypot(self.velocity.1);
        dist((nose.x, nose.y), expected) > FACE_GATE * self.size + moved
    }

    /// Where the person is expected on the next frame (a lost person keeps moving a little).
    fn predicted(&self) -> (f32, f32) {
        let steps = (self.missing + 1).min(10) as f32;
        (self.center.0 + self.velocity.0 * steps, self.center.1 + self.velocity.1 * steps)
    }
}

/// The multi-person tracking state of a pipeline.
#[derive(Debug, Clone, Default)]
pub(crate) struct People {
    tracks: Vec<Track>,
    /// Last id handed out.
    last_id: u32,
    /// Frames since the detector last ran.
    since_detect: u32,
    /// Which detector pass runs next (see [`PosePipeline::detect_all_in`]).
    detector_pass: usize,
}

/// An observation: a landmark result and whose it is (`None` = not yet assigned).
struct Seen {
    track: Option<usize>,
    result: LandmarkResult,
    roi: Roi,
    detected: bool,
}

fn dist(a: (f32, f32), b: (f32, f32)) -> f32 {
    (a.0 - b.0).hypot(a.1 - b.1)
}

/// Whether two landmark results (alignment points) are the same person: hip centres and
/// body-circle points both within a fifth of the body circle's radius.
fn same_person(a: &[(f32, f32); 2], b: &[(f32, f32); 2]) -> bool {
    let radius = dist(a[0], a[1]).min(dist(b[0], b[1])).max(1.0);
    dist(a[0], b[0]) < 0.35 * radius && dist(a[1], b[1]) < 0.35 * radius
}

/// Whether two landmark results are the same person: their alignment points coincide, or
/// their face and shoulder landmarks do (two regions that slid onto one body can disagree
/// on the alignment points but not on where the face is).
fn same_body(a: &LandmarkResult, b: &LandmarkResult) -> bool {
    if same_person(&a.alignment, &b.alignment) {
        return true;
    }
    let radius = dist(a.alignment[0], a.alignment[1]).min(dist(b.alignment[0], b.alignment[1])).max(1.0);
    let mut d: Vec<f32> = a.landmarks.iter().zip(b.landmarks.iter()).take(13).map(|(p, q)| dist((p.x, p.y), (q.x, q.y))).collect();
    d.sort_by(f32::total_cmp);
    d.get(d.len() / 2).is_some_and(|m| *m < 0.15 * radius)
}

impl People {
    pub(crate) fn regions(&self) -> Vec<(PersonId, Roi)> {
        self.tracks.iter().filter_map(|t| t.roi.map(|r| (t.id, r))).collect()
    }

    pub(crate) fn step(&mut self, p: &mut PosePipeline, frame: &Frame) -> Result<Vec<TrackedPerson>, VisionError> {
        let opt = *p.options();
        let max = opt.max_people.clamp(1, MAX_PEOPLE);
        // 1. Tracked regions.
        let mut seen: Vec<Seen> = Vec::new();
        let mut lost_now = false;
        let tracked: Vec<(usize, Roi)> =
            self.tracks.iter_mut().enumerate().filter_map(|(i, t)| t.roi.take().map(|roi| (i, roi))).collect();
        let rois: Vec<Roi> = tracked.iter().map(|(_, roi)| *roi).collect();
        for ((i, roi), result) in tracked.into_iter().zip(p.landmarks_in_all(frame, &rois)?) {
            match result {
                // A face that jumps further than the body moved slid onto someone else
                // (a partly hidden person's region drifting onto the one in front): lost.
                Some(result) if self.tracks.get(i).is_some_and(|t| t.face_jumped(&result)) => lost_now = true,
                Some(result) => seen.push(Seen { track: Some(i), result, roi, detected: false }),
                None => lost_now = true,
            }
        }
        // 2. Two regions on one person: the track that expected the person there keeps them.
        let mut k = 0;
        while k < seen.len() {
            let dup = (0..seen.len()).find(|&j| j != k && same_body(&seen[j].result, &seen[k].result));
            if let Some(j) = dup {
                let miss = |s: &Seen| {
                    s.track.and_then(|i| self.tracks.get(i)).map_or(f32::MAX, |t| {
                        dist(t.predicted(), s.result.alignment[0]) / t.size.max(1.0)
                    })
                };
                let drop = if miss(&seen[j]) > miss(&seen[k]) { j } else { k };
                seen.remove(drop);
                lost_now = true;
                k = 0;
                continue;
            }
            k += 1;
        }
        // 3. The detector, when someone may be missing.
        self.since_detect = self.since_detect.saturating_add(1);
        let every = opt.detect_every;
        let want_detector = opt.detect_always
            || (seen.len() < max && (lost_now || seen.is_empty() || (every > 0 && self.since_detect >= every)));
        if want_detector {
            self.since_detect = 0;
            // Whole frame and (wide frames) square tiles in turn, one pass per run.
            let detections = p.detect_all_in(frame, self.detector_pass)?;
            self.detector_pass = (self.detector_pass + 1) % PosePipeline::detector_passes(frame.width, frame.height);
            let mut fresh: Vec<Seen> = Vec::new();
            for det in detections {
                if seen.len() + fresh.len() >= max {
                    break;
                }
                let roi = det.roi(opt.roi_expand);
                let kp = [det.keypoints[0], det.keypoints[1]];
                let known = |s: &Seen| same_person(&s.result.alignment, &kp);
                if !roi.is_valid() || seen.iter().chain(fresh.iter()).any(known) {
                    continue;
                }
                let Some(result) = p.landmarks_in(frame, &roi)? else { continue };
                let known = |s: &Seen| same_body(&s.result, &result);
                if seen.iter().chain(fresh.iter()).any(known) {
                    continue;
                }
                fresh.push(Seen { track: None, result, roi, detected: true });
            }
            self.assign_lost(&mut fresh, &seen);
            seen.extend(fresh);
        }
        // 4. Commit.
        let mut out = Vec::with_capacity(seen.len());
        let observed: Vec<usize> = seen.iter().filter_map(|s| s.track).collect();
        for (i, t) in self.tracks.iter_mut().enumerate() {
            if !observed.contains(&i) {
                t.roi = None;
                t.missing = t.missing.saturating_add(1);
                t.smoother.reset();
                t.last_time = None;
            }
        }
        for s in seen {
            let i = match s.track {
                Some(i) => i,
                None => {
                    self.last_id += 1;
                    let [c, top] = s.result.alignment;
                    self.tracks.push(Track {
                        id: PersonId(self.last_id),
                        roi: None,
                        center: c,
                        top,
                        size: s.roi.size,
                        velocity: (0.0, 0.0),
                        face: (s.result.landmarks[0].x, s.result.landmarks[0].y),
                        missing: 0,
                        smoother: LandmarkSmoother::new(opt.smoothing.unwrap_or_default()),
                        last_time: None,
                    });
                    self.tracks.len() - 1
                }
            };
            let Some(t) = self.tracks.get_mut(i) else { continue };
            let mut r = s.result;
            let [c, top] = r.alignment;
            let steps = (t.missing + 1) as f32;
            let v = ((c.0 - t.center.0) / steps, (c.1 - t.center.1) / steps);
            t.velocity = if t.missing == 0 { (0.5 * (t.velocity.0 + v.0), 0.5 * (t.velocity.1 + v.1)) } else { v };
            t.center = c;
            t.face = (r.landmarks[0].x, r.landmarks[0].y);
            t.top = top;
            t.size = s.roi.size;
            t.missing = 0;
            let next = Roi::from_alignment(c, top, opt.roi_expand);
            t.roi = next.is_valid().then_some(next);
            if opt.smoothing.is_some() {
                smooth(t, &mut r.landmarks, frame.captured);
            }
            out.push(TrackedPerson {
                id: t.id,
                skeleton: to_skeleton(&r, frame.width, frame.height),
                center: c,
                roi: s.roi,
                detected: s.detected,
            });
        }
        // 5. Forget people gone too long.
        let keep = opt.keep_lost_frames;
        self.tracks.retain(|t| t.missing <= keep);
        out.sort_by_key(|p| p.id);
        Ok(out)
    }

    /// Gives the people the detector found back the ids of lost tracks near where those
    /// were expected (closest pairs first); the rest stay new.
    fn assign_lost(&self, fresh: &mut [Seen], seen: &[Seen]) {
        let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
        for (i, t) in self.tracks.iter().enumerate() {
            if seen.iter().any(|s| s.track == Some(i)) {
                continue;
            }
            for (f, s) in fresh.iter().enumerate() {
                let c = s.result.alignment[0];
                // Where they were expected, or where they were last seen, whichever is closer.
                let d = dist(t.predicted(), c).min(dist(t.center, c)) / t.size.max(1.0);
                if d < 0.75 {
                    pairs.push((d, i, f));
                }
            }
        }
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut used_tracks = Vec::new();
        for (_, i, f) in pairs {
            if used_tracks.contains(&i) {
                continue;
            }
            if let Some(s) = fresh.get_mut(f)
                && s.track.is_none()
            {
                s.track = Some(i);
                used_tracks.push(i);
            }
        }
    }
}

fn smooth(t: &mut Track, landmarks: &mut [Landmark; LANDMARK_COUNT], at: Instant) {
    let dt = t.last_time.map_or(0.0, |l| at.saturating_duration_since(l).as_secs_f32());
    t.last_time = Some(at);
    let (mut lo, mut hi) = ((f32::MAX, f32::MAX), (f32::MIN, f32::MIN));
    for lm in landmarks.iter() {
        lo = (lo.0.min(lm.x), lo.1.min(lm.y));
        hi = (hi.0.max(lm.x), hi.1.max(lm.y));
    }
    let scale = ((hi.0 - lo.0) + (hi.1 - lo.1)) / 2.0;
    t.smoother.apply(landmarks, dt, scale);
}
