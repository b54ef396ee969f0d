//! What the rules make possible in one round: the most hits, points and the longest streak
//! a player can reach, derived from the same configs the round state machines run on.
//!
//! The server uses these to refuse impossible reports; they are upper bounds (a perfect
//! player reaches them or falls just short), never estimates.

use super::quiz::QuizConfig;
use super::rush::RushConfig;
use super::scoring::Scoring;

/// Upper bounds for one player's line in one round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoundLimits {
    pub max_hits: u32,
    /// Most points in total (every hit instant, the multiplier climbing as fast as it can).
    pub max_points: u64,
    /// Fewest points one hit gives (base points, no speed bonus, ×1).
    pub min_points_per_hit: u32,
}

/// Why a line is impossible.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("{hits} hits, but at most {max} are possible in this round")]
    TooManyHits { hits: u32, max: u32 },
    #[error("{points} points, but at most {max} are possible with {hits} hits")]
    TooManyPoints { points: u32, max: u64, hits: u32 },
    #[error("{points} points are too few for {hits} hits (each gives at least {min})")]
    TooFewPoints { points: u32, hits: u32, min: u32 },
    #[error("a best streak of {streak} with only {hits} hits")]
    StreakOverHits { streak: u32, hits: u32 },
    #[error("{hits} hits without any streak")]
    HitsWithoutStreak { hits: u32 },
}

/// Most points of `hits` hits in a row, each instant.
pub fn max_points_for_hits(scoring: &Scoring, hits: u32) -> u64 {
    let best = u64::from(scoring.base_points) + u64::from(scoring.speed_bonus);
    let mut total = 0u64;
    for streak in 1..=hits {
        let pct = u64::from(scoring.multiplier_pct(streak));
        total = total.saturating_add(best * pct / 100);
        // Past the multiplier's ceiling every further hit gives the same.
        if scoring.multiplier_pct(streak) >= scoring.max_multiplier_pct.max(100) {
            let rest = u64::from(hits - streak);
            return total.saturating_add(rest.saturating_mul(best * pct / 100));
        }
    }
    total
}

/// Pose Rush: a hit needs the pose held for `hold_ms` after its target appears, and the next
/// target appears `gap_ms` after a hit; hits only count before `duration_ms`.
pub fn rush_limits(cfg: &RushConfig) -> RoundLimits {
    let per_hit = u64::from(cfg.hold_ms) + u64::from(cfg.gap_ms);
    // Hit k lands at k·hold + (k−1)·gap at the earliest and must be ≤ duration.
    let max_hits = (u64::from(cfg.duration_ms) + u64::from(cfg.gap_ms))
        .checked_div(per_hit)
        .map_or(u32::MAX, |k| u32::try_from(k).unwrap_or(u32::MAX));
    RoundLimits {
        max_hits,
        max_points: max_points_for_hits(&cfg.scoring, max_hits),
        min_points_per_hit: cfg.scoring.base_points,
    }
}

/// Motion Quiz: each question answered takes at least `hold_ms` and is followed by
/// `reveal_ms`, so a round of `elapsed_ms` answers at most `elapsed / (hold + reveal)`
/// questions (+1 for the last, whose reveal may still be running), and never more than
/// `max_questions`.
pub fn quiz_limits(cfg: &QuizConfig, elapsed_ms: u64, max_questions: u32) -> RoundLimits {
    let per = u64::from(cfg.hold_ms) + u64::from(cfg.reveal_ms);
    let by_time = elapsed_ms.checked_div(per).map_or(u64::from(max_questions), |n| n + 1);
    let max_hits = u32::try_from(by_time.min(u64::from(max_questions))).unwrap_or(max_questions);
    RoundLimits {
        max_hits,
        max_points: max_points_for_hits(&cfg.scoring, max_hits),
        min_points_per_hit: cfg.scoring.base_points,
    }
}

/// The shortest possible Motion Quiz round: one question, answered at once, then revealed.
pub fn quiz_min_round_ms(cfg: &QuizConfig) -> u64 {
    u64::from(cfg.hold_ms) + u64::from(cfg.reveal_ms)
}

impl RoundLimits {
    /// Checks one player's totals against the limits.
    pub fn check(&self, points: u32, hits: u32, best_streak: u32, scoring: &Scoring) -> Result<(), LimitError> {
        if hits > self.max_hits {
            return Err(LimitError::TooManyHits { hits, max: self.max_hits });
        }
        if best_streak > hits {
            return Err(LimitError::StreakOverHits { streak: best_streak, hits });
        }
        if hits > 0 && best_streak == 0 {
            return Err(LimitError::HitsWithoutStreak { hits });
        }
        let max = max_points_for_hits(scoring, hits).min(self.max_points);
        if u64::from(points) > max {
            return Err(LimitError::TooManyPoints { points, max, hits });
        }
        let min = u64::from(self.min_points_per_hit) * u64::from(hits);
        if u64::from(points) < min {
            return Err(LimitError::TooFewPoints { points, hits, min: self.min_points_per_hit });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::fixtures::pose_skeleton;
    use crate::rules::rush::PoseRush;

    /// A perfect player: always shows the target pose, every 10 ms.
    fn perfect_rush(seed: u64, cfg: RushConfig) -> crate::rules::Tally {
        let mut round = PoseRush::new(seed, cfg.clone());
        let mut t = -3_000i64;
        while !round.is_finished() && t <= i64::from(cfg.duration_ms) + 10_000 {
            let pose = round.current_target().map(|(_, p, _)| p);
            let s = pose_skeleton(pose);
            let _ = round.update(t, Some(&s));
            t += 10;
        }
        round.tally()
    }

    #[test]
    fn a_perfect_rush_player_stays_within_and_near_the_limits() {
        for secs in [10u16, 60] {
            let cfg = RushConfig::with_duration_secs(secs);
            let limits = rush_limits(&cfg);
            for seed in 0..5 {
                let t = perfect_rush(seed, cfg.clone());
                assert!(limits.check(t.points, t.hits, t.best_streak, &cfg.scoring).is_ok(), "{t:?} vs {limits:?}");
                assert!(t.hits + 2 >= limits.max_hits, "the bound is tight: {} hits of at most {}", t.hits, limits.max_hits);
            }
        }
    }

    #[test]
    fn impossible_lines_are_refused() {
        let cfg = RushConfig::with_duration_secs(60);
        let l = rush_limits(&cfg);
        let s = &cfg.scoring;
        assert_eq!(l.max_hits, 50);
        assert!(l.check(0, 0, 0, s).is_ok());
        assert!(matches!(l.check(u32::MAX, 10, 10, s), Err(LimitError::TooManyPoints { .. })));
        assert!(matches!(l.check(100_000, 1_000, 1_000, s), Err(LimitError::TooManyHits { .. })));
        assert!(matches!(l.check(1_000, 5, 6, s), Err(LimitError::StreakOverHits { .. })));
        assert!(matches!(l.check(10, 5, 5, s), Err(LimitError::TooFewPoints { .. })));
        let q = quiz_limits(&QuizConfig::default(), 26_000, 200);
        assert_eq!(q.max_hits, 11);
        assert_eq!(quiz_limits(&QuizConfig::default(), u64::MAX, 200).max_hits, 200);
    }
}
