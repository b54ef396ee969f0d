//! Points, streaks and the hold detector shared by Pose Rush and Motion Quiz.

use serde::{Deserialize, Serialize};

use super::poses::MATCH_THRESHOLD;

/// How points are given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scoring {
    /// Points for any hit.
    pub base_points: u32,
    /// Extra points for an instant hit, falling linearly to 0 at the end of the window.
    pub speed_bonus: u32,
    /// Multiplier growth per hit in a row after the first, in percent.
    pub streak_step_pct: u32,
    /// Highest multiplier, in percent.
    pub max_multiplier_pct: u32,
}

impl Default for Scoring {
    fn default() -> Self {
        Self { base_points: 100, speed_bonus: 100, streak_step_pct: 25, max_multiplier_pct: 200 }
    }
}

/// Points of one hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Award {
    pub points: u32,
    /// The streak multiplier applied, in percent (100 = ×1).
    pub multiplier_pct: u32,
}

impl Scoring {
    /// Streak multiplier (percent) for the `streak`-th hit in a row (1 = first).
    pub fn multiplier_pct(&self, streak: u32) -> u32 {
        let extra = streak.saturating_sub(1).saturating_mul(self.streak_step_pct);
        100u32.saturating_add(extra).min(self.max_multiplier_pct.max(100))
    }

    /// Points for a hit after `reaction_ms` of a `window_ms` window, as the `streak`-th hit
    /// in a row.
    pub fn award(&self, reaction_ms: u32, window_ms: u32, streak: u32) -> Award {
        let window = u64::from(window_ms.max(1));
        let left = window.saturating_sub(u64::from(reaction_ms));
        let speed = u64::from(self.speed_bonus) * left / window;
        let multiplier_pct = self.multiplier_pct(streak);
        let points = (u64::from(self.base_points) + speed) * u64::from(multiplier_pct) / 100;
        Award { points: u32::try_from(points).unwrap_or(u32::MAX), multiplier_pct }
    }
}

/// A running total of one player's round.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub points: u32,
    pub hits: u32,
    pub misses: u32,
    /// Hits in a row right now.
    pub streak: u32,
    pub best_streak: u32,
}

impl Tally {
    /// Records a hit and returns its award.
    pub fn hit(&mut self, scoring: &Scoring, reaction_ms: u32, window_ms: u32) -> Award {
        self.streak += 1;
        self.best_streak = self.best_streak.max(self.streak);
        self.hits += 1;
        let award = scoring.award(reaction_ms, window_ms, self.streak);
        self.points = self.points.saturating_add(award.points);
        award
    }

    pub fn miss(&mut self) {
        self.misses += 1;
        self.streak = 0;
    }
}

/// Tracks how long a pose has been held, with hysteresis: the hold starts when the match
/// score reaches [`MATCH_THRESHOLD`] and survives dips down to `release_threshold`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Hold {
    pub release_threshold: f32,
    since_ms: Option<i64>,
}

impl Hold {
    pub fn new(release_threshold: f32) -> Self {
        Self { release_threshold, since_ms: None }
    }

    /// Feeds the match score seen at `t_ms`; returns when the hold started, if it is on.
    pub fn observe(&mut self, t_ms: i64, score: f32) -> Option<i64> {
        match self.since_ms {
            None if score >= MATCH_THRESHOLD => self.since_ms = Some(t_ms),
            Some(_) if score < self.release_threshold => self.since_ms = None,
            _ => {}
        }
        self.since_ms
    }

    pub fn reset(&mut self) {
        self.since_ms = None;
    }

    pub fn since_ms(&self) -> Option<i64> {
        self.since_ms
    }

    /// Progress 0–1 of a hold of `hold_ms` at time `t_ms`.
    pub fn progress(&self, t_ms: i64, hold_ms: u32) -> f32 {
        match self.since_ms {
            Some(s) => ((t_ms - s) as f32 / hold_ms.max(1) as f32).clamp(0.0, 1.0),
            None => 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faster_hits_score_more_and_streaks_multiply() {
        let s = Scoring::default();
        assert_eq!(s.award(0, 6000, 1), Award { points: 200, multiplier_pct: 100 });
        assert_eq!(s.award(3000, 6000, 1).points, 150);
        assert_eq!(s.award(6000, 6000, 1).points, 100);
        assert_eq!(s.award(9000, 6000, 1).points, 100);
        assert_eq!(s.award(3000, 6000, 3), Award { points: 225, multiplier_pct: 150 });
        assert_eq!(s.multiplier_pct(5), 200);
        assert_eq!(s.multiplier_pct(50), 200);
    }

    #[test]
    fn tally_tracks_streaks() {
        let s = Scoring::default();
        let mut t = Tally::default();
        t.hit(&s, 0, 1000);
        t.hit(&s, 0, 1000);
        t.miss();
        t.hit(&s, 0, 1000);
        assert_eq!((t.hits, t.misses, t.streak, t.best_streak), (3, 1, 1, 2));
        assert_eq!(t.points, 200 + 250 + 200);
    }

    #[test]
    fn hold_has_hysteresis() {
        let mut h = Hold::new(0.5);
        assert_eq!(h.observe(0, 0.6), None);
        assert_eq!(h.observe(10, 0.8), Some(10));
        assert_eq!(h.observe(20, 0.6), Some(10));
        assert!((h.progress(260, 500) - 0.5).abs() < 1e-6);
        assert_eq!(h.observe(30, 0.4), None);
        assert_eq!(h.progress(30, 500), 0.0);
    }
}
