//! Pose Rush: a round as a pure state machine over `(time, skeleton)` observations.
//!
//! Time is milliseconds relative to the round start (negative during the countdown), on the
//! shared server clock, so every player's machine sees the same targets at the same instants.
//! Feed [`PoseRush::update`] every frame; it returns what happened since the last call.

use serde::{Deserialize, Serialize};

use crate::pose::Skeleton;

use super::poses::{PoseId, match_score};
use super::rng::SplitMix64;
use super::scoring::{Hold, Scoring, Tally};

/// Timing and scoring of a Pose Rush round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RushConfig {
    pub duration_ms: u32,
    /// How long a pose must be held to count.
    pub hold_ms: u32,
    /// A target not hit within this time is a miss.
    pub target_timeout_ms: u32,
    /// Pause between one target and the next.
    pub gap_ms: u32,
    /// Seconds of countdown before the round (ticks at −3 s, −2 s, −1 s for 3).
    pub countdown_secs: u32,
    /// A hold survives match-score dips down to this.
    pub release_threshold: f32,
    pub scoring: Scoring,
}

impl Default for RushConfig {
    fn default() -> Self {
        Self {
            duration_ms: 60_000,
            hold_ms: 500,
            target_timeout_ms: 6_000,
            gap_ms: 700,
            countdown_secs: 3,
            release_threshold: 0.55,
            scoring: Scoring::default(),
        }
    }
}

impl RushConfig {
    /// The default timing with a round of `secs` seconds.
    pub fn with_duration_secs(secs: u16) -> Self {
        Self { duration_ms: u32::from(secs) * 1000, ..Self::default() }
    }
}

/// The endless target sequence of a round seed; every player derives the same one. No pose
/// comes twice in a row.
#[derive(Debug, Clone)]
pub struct Targets {
    rng: SplitMix64,
    last: Option<PoseId>,
}

impl Targets {
    pub fn new(seed: u64) -> Self {
        Self { rng: SplitMix64::new(seed), last: None }
    }
}

impl Iterator for Targets {
    type Item = PoseId;

    fn next(&mut self) -> Option<PoseId> {
        let n = PoseId::ALL.len() as u32;
        let pick = match self.last {
            // Draw among the n − 1 others: skip over the last one.
            Some(last) => {
                let last_i = PoseId::ALL.iter().position(|p| *p == last).unwrap_or(0) as u32;
                let i = self.rng.below(n - 1);
                if i >= last_i { i + 1 } else { i }
            }
            None => self.rng.below(n),
        };
        let pose = PoseId::ALL[pick as usize % PoseId::ALL.len()];
        self.last = Some(pose);
        Some(pose)
    }
}

/// The first `n` targets of a round seed.
pub fn target_sequence(seed: u64, n: usize) -> Vec<PoseId> {
    Targets::new(seed).take(n).collect()
}

/// One step of a routine: the pose and how long the player has to hit it (`None`: the
/// round's `target_timeout_ms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub pose: PoseId,
    pub time_ms: Option<u32>,
}

/// Where a round's targets come from.
#[derive(Debug, Clone)]
enum Source {
    /// Random poses from the round seed.
    Random(Targets),
    /// A routine's steps in order, from the start again after the last one.
    Routine { steps: Vec<Step>, next: usize },
}

impl Source {
    /// The next pose and its time to hit.
    fn next(&mut self, default_timeout_ms: u32) -> (PoseId, u32) {
        match self {
            Source::Random(targets) => (targets.next().unwrap_or(PoseId::HandsUp), default_timeout_ms),
            Source::Routine { steps, next } => {
                let step = steps.get(*next % steps.len().max(1)).copied();
                *next += 1;
                step.map_or((PoseId::HandsUp, default_timeout_ms), |s| (s.pose, s.time_ms.unwrap_or(default_timeout_ms)))
            }
        }
    }
}

/// Something that happened in the round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum RushEvent {
    /// Countdown tick: this many seconds until the start.
    Countdown { seconds_left: u32 },
    /// The round starts.
    Go,
    /// A new target is shown; it must be hit before `deadline_ms`.
    Target { index: u32, pose: PoseId, deadline_ms: i64 },
    /// The target was held long enough; `held_from_ms` is the round time of the first
    /// observation of the hold that counted (latency bookkeeping).
    Hit { index: u32, pose: PoseId, points: u32, streak: u32, multiplier_pct: u32, reaction_ms: u32, held_from_ms: i64 },
    Miss { index: u32, pose: PoseId },
    Finished { tally: Tally },
}

impl RushEvent {
    /// A hit that reaches a streak of 3, 6, 9, … (worth a fanfare).
    pub fn is_streak_milestone(&self) -> bool {
        matches!(self, RushEvent::Hit { streak, .. } if *streak >= 3 && streak % 3 == 0)
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Phase {
    Countdown,
    Gap { until_ms: i64 },
    Target { index: u32, pose: PoseId, shown_ms: i64, timeout_ms: u32 },
    Finished,
}

/// One player's Pose Rush round.
#[derive(Debug, Clone)]
pub struct PoseRush {
    cfg: RushConfig,
    targets: Source,
    next_index: u32,
    phase: Phase,
    hold: Hold,
    tally: Tally,
    /// The next countdown tick, in ms (−3000, −2000, −1000, then 0 = Go).
    next_tick_ms: i64,
    now_ms: i64,
    last_score: f32,
}

impl PoseRush {
    pub fn new(seed: u64, cfg: RushConfig) -> Self {
        Self::with_source(Source::Random(Targets::new(seed)), cfg)
    }

    /// A round whose targets are a routine's steps, in order (and again from the first after
    /// the last), each with its own time to hit. The same on every machine: it does not
    /// depend on the seed. An empty routine plays random targets of seed 0.
    pub fn with_routine(steps: Vec<Step>, cfg: RushConfig) -> Self {
        if steps.is_empty() {
            return Self::new(0, cfg);
        }
        Self::with_source(Source::Routine { steps, next: 0 }, cfg)
    }

    fn with_source(targets: Source, cfg: RushConfig) -> Self {
        let first_tick = -i64::from(cfg.countdown_secs) * 1000;
        Self {
            hold: Hold::new(cfg.release_threshold),
            cfg,
            targets,
            next_index: 0,
            phase: Phase::Countdown,
            tally: Tally::default(),
            next_tick_ms: first_tick,
            now_ms: i64::MIN,
            last_score: 0.0,
        }
    }

    pub fn config(&self) -> &RushConfig {
        &self.cfg
    }

    pub fn tally(&self) -> Tally {
        self.tally
    }

    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Finished
    }

    /// The target on screen, its index and deadline.
    pub fn current_target(&self) -> Option<(u32, PoseId, i64)> {
        match self.phase {
            Phase::Target { index, pose, shown_ms, timeout_ms } => {
                Some((index, pose, shown_ms + i64::from(timeout_ms)))
            }
            _ => None,
        }
    }

    /// Match score of the last skeleton against the current target (0–1).
    pub fn last_match_score(&self) -> f32 {
        self.last_score
    }

    /// Progress 0–1 of holding the current target.
    /// The time the current target gives to hit it (a routine step's own time, else the
    /// round's `target_timeout_ms`).
    pub fn target_time_ms(&self) -> u32 {
        match self.phase {
            Phase::Target { timeout_ms, .. } => timeout_ms,
            _ => self.cfg.target_timeout_ms,
        }
    }

    pub fn hold_progress(&self) -> f32 {
        self.hold.progress(self.now_ms, self.cfg.hold_ms)
    }

    /// Milliseconds left in the round (the full length during the countdown).
    pub fn remaining_ms(&self) -> u32 {
        let elapsed = self.now_ms.max(0);
        u32::try_from((i64::from(self.cfg.duration_ms) - elapsed).max(0)).unwrap_or(0)
    }

    /// Advances the round to `t_ms` and applies the skeleton seen then (`None` = nobody in
    /// the picture). Time never runs backwards: an older `t_ms` counts as the last one.
    pub fn update(&mut self, t_ms: i64, skeleton: Option<&Skeleton>) -> Vec<RushEvent> {
        let t = t_ms.max(self.now_ms);
        self.now_ms = t;
        let mut events = Vec::new();
        self.advance_clock(t, &mut events);
        if let Phase::Target { index, pose, shown_ms, timeout_ms } = self.phase {
            let score = skeleton.map_or(0.0, |s| match_score(s, pose));
            self.last_score = score;
            if let Some(since) = self.hold.observe(t, score)
                && t - since >= i64::from(self.cfg.hold_ms)
            {
                let reaction = u32::try_from((since - shown_ms).max(0)).unwrap_or(u32::MAX);
                let award = self.tally.hit(&self.cfg.scoring, reaction, timeout_ms);
                events.push(RushEvent::Hit {
                    index,
                    pose,
                    points: award.points,
                    streak: self.tally.streak,
                    multiplier_pct: award.multiplier_pct,
                    reaction_ms: reaction,
                    held_from_ms: since,
                });
                self.end_target(t, &mut events);
            }
        }
        events
    }

    fn end_target(&mut self, t: i64, events: &mut Vec<RushEvent>) {
        self.hold.reset();
        self.last_score = 0.0;
        self.phase = Phase::Gap { until_ms: t + i64::from(self.cfg.gap_ms) };
        self.advance_clock(t, events);
    }

    /// Moves through every timed transition up to `t`, in order; the round ends at its
    /// duration, cutting the target on screen then (neither hit nor miss).
    fn advance_clock(&mut self, t: i64, events: &mut Vec<RushEvent>) {
        let end = i64::from(self.cfg.duration_ms);
        loop {
            let next_at = match self.phase {
                Phase::Finished => return,
                Phase::Countdown => self.next_tick_ms,
                Phase::Gap { until_ms } => until_ms,
                Phase::Target { shown_ms, timeout_ms, .. } => shown_ms + i64::from(timeout_ms),
            };
            if next_at >= end && t >= end {
                self.hold.reset();
                self.phase = Phase::Finished;
                events.push(RushEvent::Finished { tally: self.tally });
                return;
            }
            if t < next_at {
                return;
            }
            match self.phase.clone() {
                Phase::Finished => return,
                Phase::Countdown => {
                    if t < self.next_tick_ms {
                        return;
                    }
                    if self.next_tick_ms < 0 {
                        let seconds_left = u32::try_from(-self.next_tick_ms / 1000).unwrap_or(0);
                        events.push(RushEvent::Countdown { seconds_left });
                        self.next_tick_ms += 1000;
                    } else {
                        events.push(RushEvent::Go);
                        self.phase = Phase::Gap { until_ms: 0 };
                    }
                }
                Phase::Gap { until_ms } => {
                    if t < until_ms {
                        return;
                    }
                    let (pose, timeout_ms) = self.targets.next(self.cfg.target_timeout_ms);
                    let index = self.next_index;
                    self.next_index += 1;
                    self.phase = Phase::Target { index, pose, shown_ms: until_ms, timeout_ms };
                    events.push(RushEvent::Target { index, pose, deadline_ms: until_ms + i64::from(timeout_ms) });
                }
                Phase::Target { index, pose, shown_ms, timeout_ms } => {
                    let deadline = shown_ms + i64::from(timeout_ms);
                    if t < deadline {
                        return;
                    }
                    self.tally.miss();
                    events.push(RushEvent::Miss { index, pose });
                    self.hold.reset();
                    self.last_score = 0.0;
                    self.phase = Phase::Gap { until_ms: deadline + i64::from(self.cfg.gap_ms) };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_routine_plays_its_steps_in_order_with_their_times() {
        let steps = vec![
            Step { pose: PoseId::HandsUp, time_ms: None },
            Step { pose: PoseId::TPose, time_ms: Some(2_000) },
            Step { pose: PoseId::Squat, time_ms: Some(9_000) },
        ];
        let cfg = RushConfig { duration_ms: 60_000, countdown_secs: 0, ..RushConfig::default() };
        let mut a = PoseRush::with_routine(steps.clone(), cfg.clone());
        let mut b = PoseRush::with_routine(steps, cfg.clone());
        let mut shown = Vec::new();
        // Nobody in the picture: every step times out, so the targets follow the routine's
        // own timing, again from the first step after the last.
        let mut t = 0;
        while shown.len() < 5 {
            let ev_a = a.update(t, None);
            assert_eq!(ev_a, b.update(t, None), "two machines play the same routine alike");
            for ev in ev_a {
                if let RushEvent::Target { pose, deadline_ms, .. } = ev {
                    shown.push((pose, deadline_ms - t));
                }
            }
            t += 10;
        }
        let default = i64::from(cfg.target_timeout_ms);
        assert_eq!(
            shown,
            vec![
                (PoseId::HandsUp, default),
                (PoseId::TPose, 2_000),
                (PoseId::Squat, 9_000),
                (PoseId::HandsUp, default),
                (PoseId::TPose, 2_000)
            ]
        );
    }

    #[test]
    fn a_routine_target_is_hit_like_a_random_one() {
        use crate::rules::fixtures::pose_skeleton;
        let steps = vec![Step { pose: PoseId::Star, time_ms: Some(3_000) }, Step { pose: PoseId::Squat, time_ms: None }];
        let cfg = RushConfig { duration_ms: 20_000, countdown_secs: 0, ..RushConfig::default() };
        let mut rush = PoseRush::with_routine(steps, cfg);
        let mut hits = Vec::new();
        let mut t = 0;
        while !rush.is_finished() && t < 30_000 {
            let target = rush.current_target().map(|(_, p, _)| p);
            for ev in rush.update(t, Some(&pose_skeleton(target))) {
                if let RushEvent::Hit { pose, .. } = ev {
                    hits.push(pose);
                }
            }
            t += 33;
        }
        assert!(hits.len() >= 4, "{hits:?}");
        assert!(hits.chunks(2).all(|c| c[0] == PoseId::Star && c.get(1).is_none_or(|p| *p == PoseId::Squat)), "{hits:?}");
    }
}
