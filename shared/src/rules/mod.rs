//! Game rules and scoring: pure, deterministic functions over [`crate::pose::Skeleton`]s.
//!
//! - [`poses`]: the pose library (named poses as joint-angle constraints) and the 0–1
//!   match score.
//! - [`scoring`]: points for speed, streak multiplier, the hold detector.
//! - [`rush`]: the Pose Rush round as a state machine over `(time, skeleton)`, and the
//!   target sequence derived from the round seed.
//! - [`quiz`]: Motion Quiz body answers and the quiz round.
//! - [`fixtures`]: synthetic skeletons of every pose (tests, demo screens, scripted bots).
//! - [`rng`]: SplitMix64, the seed → sequence generator.
//! - [`limits`]: the most hits, points and streak a round makes possible (report checks).

pub mod fixtures;
pub mod limits;
pub mod poses;
pub mod quiz;
pub mod rng;
pub mod rush;
pub mod scoring;

pub use poses::{MATCH_THRESHOLD, PoseId, best_match, match_score, matches};
pub use quiz::{Answer, AnswerLayout, QuizConfig, QuizEvent, QuizItem, QuizRound, read_answer};
pub use rush::{PoseRush, RushConfig, RushEvent, Step, Targets, target_sequence};
pub use scoring::{Scoring, Tally};

#[cfg(test)]
mod tests {
    use super::fixtures::{
        arms_skeleton, leaning_skeleton, legs_skeleton, pose_skeleton, with_noise,
    };
    use super::*;
    use crate::pose::{Joint, Skeleton};

    fn noisy_seeds() -> impl Iterator<Item = u64> {
        0..30u64
    }

    #[test]
    fn library_has_at_least_ten_distinct_poses() {
        assert!(PoseId::ALL.len() >= 10);
        for p in PoseId::ALL {
            assert_eq!(PoseId::from_name(p.key()), Some(p));
            assert_eq!(PoseId::from_name(p.name_en()), Some(p));
            assert_eq!(PoseId::from_name(p.name_ko()), Some(p));
            assert!(!p.constraints().is_empty());
        }
        assert_eq!(PoseId::from_name("T pose"), Some(PoseId::TPose));
        assert_eq!(PoseId::from_name("moonwalk"), None);
        assert_eq!(PoseId::from_name(""), None);
    }

    #[test]
    fn every_pose_is_recognised_from_a_clean_skeleton() {
        for p in PoseId::ALL {
            let s = pose_skeleton(Some(p));
            let score = match_score(&s, p);
            assert!(score > 0.99, "{p:?} scored {score} on its own clean fixture");
            // Seen in a mirror, the person does the mirrored pose (left arm ↔ right arm).
            let m = match_score(&s.mirrored(), p.mirrored());
            assert!(m > 0.99, "{p:?} scored {m} mirrored");
            // Flipping the picture without relabelling sides changes nothing: measures are
            // taken in the person's own frame.
            let mut flipped = s.clone();
            flipped.landmarks.iter_mut().for_each(|l| l.x = 1.0 - l.x);
            let f = match_score(&flipped, p);
            assert!(f > 0.99, "{p:?} scored {f} flipped");
        }
    }

    #[test]
    fn every_pose_is_recognised_with_noise() {
        for p in PoseId::ALL {
            let clean = pose_skeleton(Some(p));
            for seed in noisy_seeds() {
                let noisy = with_noise(&clean, seed, 0.008);
                let score = match_score(&noisy, p);
                assert!(matches(&noisy, p), "{p:?} with noise seed {seed} scored {score}");
            }
        }
    }

    #[test]
    fn standing_still_matches_nothing() {
        let s = pose_skeleton(None);
        for p in PoseId::ALL {
            assert!(!matches(&s, p), "standing matched {p:?} ({})", match_score(&s, p));
        }
    }

    #[test]
    fn near_misses_are_not_recognised() {
        let cases: Vec<(&str, Skeleton, PoseId)> = vec![
            ("arms only half raised", arms_skeleton((45.0, 45.0), (45.0, 45.0)), PoseId::HandsUp),
            ("arms bent over the head", pose_skeleton(Some(PoseId::CircleO)), PoseId::HandsUp),
            ("arms sagging", arms_skeleton((-40.0, -40.0), (-40.0, -40.0)), PoseId::TPose),
            ("both arms up", pose_skeleton(Some(PoseId::HandsUp)), PoseId::LeftArmUp),
            ("the other arm up", pose_skeleton(Some(PoseId::LeftArmUp)), PoseId::RightArmUp),
            ("the other arm up", pose_skeleton(Some(PoseId::RightArmUp)), PoseId::LeftArmUp),
            ("knees barely bent", legs_skeleton(-80.0, -100.0), PoseId::Squat),
            ("star arms, feet together", arms_skeleton((42.0, 42.0), (42.0, 42.0)), PoseId::Star),
            ("straight arms up", pose_skeleton(Some(PoseId::HandsUp)), PoseId::HeartOverHead),
            ("arms circled, not a heart", pose_skeleton(Some(PoseId::CircleO)), PoseId::HeartOverHead),
            ("hands together, not crossed", arms_skeleton((-120.0, 100.0), (-120.0, 100.0)), PoseId::ArmsCrossedX),
            ("hands on the hips", arms_skeleton((-70.0, -120.0), (-70.0, -120.0)), PoseId::ArmsCrossedX),
            ("hands joined high, elbows opened", placed((0.6, 1.0), (0.45, 2.0), 0.5), PoseId::HandsUp),
            ("straight arms up", pose_skeleton(Some(PoseId::HandsUp)), PoseId::CircleO),
            ("a heart, not an O", pose_skeleton(Some(PoseId::HeartOverHead)), PoseId::CircleO),
            ("a slight lean", leaning_skeleton(6.0), PoseId::LeanLeft),
            ("leaning the other way", leaning_skeleton(-25.0), PoseId::LeanLeft),
            ("a slight lean", leaning_skeleton(-6.0), PoseId::LeanRight),
            ("arms straight out", pose_skeleton(Some(PoseId::TPose)), PoseId::Muscle),
            ("forearms down", arms_skeleton((0.0, -90.0), (0.0, -90.0)), PoseId::Muscle),
        ];
        for (what, s, p) in cases {
            let score = match_score(&s, p);
            assert!(score < MATCH_THRESHOLD, "{what}: {p:?} scored {score}");
        }
    }

    /// A standing fixture with the elbows, wrists and nose placed by hand, both sides alike:
    /// `(outward, up)` from the shoulder centre in shoulder widths. It shows arms as the
    /// model's landmarks put them, longer against the shoulders than the fixtures' own.
    fn placed(elbow: (f32, f32), wrist: (f32, f32), nose_up: f32) -> Skeleton {
        let mut s = pose_skeleton(None);
        let centre = s.midpoint(Joint::LeftShoulder, Joint::RightShoulder);
        let sw = s.shoulder_width();
        let mut put = |j: Joint, outward: f32, up: f32| {
            let l = s.get_mut(j);
            (l.x, l.y) = (centre.x + outward * sw, centre.y - up * sw);
        };
        // Unmirrored: the person's left is +x.
        for (sign, e, w) in [(1.0, Joint::LeftElbow, Joint::LeftWrist), (-1.0, Joint::RightElbow, Joint::RightWrist)] {
            put(e, sign * elbow.0, elbow.1);
            put(w, sign * wrist.0, wrist.1);
        }
        put(Joint::Nose, 0.0, nose_up);
        s
    }

    #[test]
    fn crossed_forearms_read_as_x_whichever_wrist_is_which() {
        use super::poses::{Feature, Side};
        // Elbows below and a little inside the shoulders, forearms across the chest: each
        // wrist crossed over to the other side, the two swapped (each on its own side, as
        // the model often puts them when the forearms hide each other), or both at the
        // crossing.
        for (what, wrist_outward) in [("crossed", -0.2), ("swapped", 0.2), ("at the crossing", 0.0)] {
            let s = placed((0.45, -0.6), (wrist_outward, -0.25), 0.5);
            assert!(matches!(best_match(&s, &PoseId::ALL), Some((PoseId::ArmsCrossedX, _))), "{what}: {}", match_score(&s, PoseId::ArmsCrossedX));
            assert_eq!(read_answer(&s, AnswerLayout::TrueFalse), Some(1), "{what}");
        }
        let swapped = placed((0.45, -0.6), (0.2, -0.25), 0.5);
        assert!(Feature::WristOutward(Side::Left).measure(&swapped) > 0.0, "the swapped wrists are on their own sides");
        // One wrist hidden behind the other forearm: the X needs only one of them seen.
        let mut s = pose_skeleton(Some(PoseId::ArmsCrossedX));
        s.get_mut(Joint::RightWrist).visibility = 0.3;
        assert!(matches(&s, PoseId::ArmsCrossedX), "one wrist hidden: {}", match_score(&s, PoseId::ArmsCrossedX));
        s.get_mut(Joint::LeftWrist).visibility = 0.3;
        assert_eq!(match_score(&s, PoseId::ArmsCrossedX), 0.0, "both wrists hidden");
        // Poses whose hands do not meet still need both wrists.
        let mut s = pose_skeleton(Some(PoseId::TPose));
        s.get_mut(Joint::RightWrist).visibility = 0.3;
        assert_eq!(match_score(&s, PoseId::TPose), 0.0);
    }

    #[test]
    fn heart_and_o_are_told_apart_by_how_high_the_hands_rise() {
        use super::poses::Feature;
        // A heart as the full model reads it: hands on the head a little above elbows far out
        // to the sides, the elbows opened past 105° (into the O's elbow range).
        let heart = placed((1.0, 0.9), (0.45, 1.59), 0.77);
        assert!(Feature::Elbow(super::poses::Side::Left).measure(&heart) > 105.0);
        assert!(matches!(best_match(&heart, &PoseId::ALL), Some((PoseId::HeartOverHead, _))), "heart: {}", match_score(&heart, PoseId::HeartOverHead));
        // An O with the same upper arms and elbow angles, but the hands high above elbows
        // that come in closer: a steep arch, not a heart.
        let o = placed((0.8, 0.5), (0.25, 1.3), 0.5);
        let elbow = Feature::Elbow(super::poses::Side::Left).measure(&o);
        assert!((105.0..=125.0).contains(&elbow), "elbow {elbow}");
        assert!(match_score(&o, PoseId::HeartOverHead) < MATCH_THRESHOLD, "O as heart: {}", match_score(&o, PoseId::HeartOverHead));
        assert!(matches!(best_match(&o, &PoseId::ALL), Some((PoseId::CircleO, _))), "O: {}", match_score(&o, PoseId::CircleO));
        // Hands joined on the head with one wrist hidden behind the other hand.
        let mut s = pose_skeleton(Some(PoseId::HeartOverHead));
        s.get_mut(Joint::RightWrist).visibility = 0.4;
        assert!(matches(&s, PoseId::HeartOverHead), "one wrist hidden: {}", match_score(&s, PoseId::HeartOverHead));
    }

    #[test]
    fn one_arm_up_with_a_lifted_shoulder_is_not_a_lean() {
        // The model lifts the shoulder of a raised arm: the shoulder line tilts, the trunk
        // does not (seen on the rendered set, where left arm up read as lean right).
        for (pose, shoulder) in [(PoseId::LeftArmUp, Joint::LeftShoulder), (PoseId::RightArmUp, Joint::RightShoulder)] {
            let mut s = pose_skeleton(Some(pose));
            s.get_mut(shoulder).y -= 0.05;
            assert!(matches(&s, pose), "{pose:?} with a lifted shoulder: {}", match_score(&s, pose));
            for lean in [PoseId::LeanLeft, PoseId::LeanRight] {
                assert!(!matches(&s, lean), "{pose:?} read as {lean:?} ({})", match_score(&s, lean));
            }
        }
    }

    #[test]
    fn hidden_joints_or_no_person_score_zero() {
        let mut s = pose_skeleton(Some(PoseId::HandsUp));
        s.get_mut(Joint::LeftWrist).visibility = 0.1;
        assert_eq!(match_score(&s, PoseId::HandsUp), 0.0);
        let mut s = pose_skeleton(Some(PoseId::HandsUp));
        s.score = 0.2;
        assert_eq!(match_score(&s, PoseId::HandsUp), 0.0);
        // Hidden legs do not matter for an arm pose.
        let mut s = pose_skeleton(Some(PoseId::TPose));
        s.get_mut(Joint::LeftAnkle).visibility = 0.0;
        assert!(matches(&s, PoseId::TPose));
        assert!(!matches(&s, PoseId::Squat));
    }

    #[test]
    fn same_seed_gives_same_targets() {
        assert_eq!(target_sequence(42, 50), target_sequence(42, 50));
        assert_ne!(target_sequence(42, 50), target_sequence(43, 50));
        // Regression guard: the sequence of a seed must never change between versions,
        // or players on different builds would see different targets.
        assert_eq!(
            target_sequence(42, 6),
            GOLDEN_SEED_42.to_vec(),
        );
    }

    /// Recorded from the first implementation (SplitMix64, widening-multiply reduction).
    const GOLDEN_SEED_42: [PoseId; 6] = [
        PoseId::LeftArmUp,
        PoseId::CircleO,
        PoseId::HandsUp,
        PoseId::TPose,
        PoseId::LeftArmUp,
        PoseId::RightArmUp,
    ];

    #[test]
    fn targets_never_repeat_back_to_back_and_cover_the_library() {
        let seq = target_sequence(7, 400);
        for w in seq.windows(2) {
            assert_ne!(w[0], w[1]);
        }
        for p in PoseId::ALL {
            assert!(seq.contains(&p), "{p:?} never drawn");
        }
    }

    /// Plays a round at 30 fps, showing each target's pose `react_ms` after it appears
    /// (or never, when `None`). Returns every event.
    fn play(seed: u64, cfg: RushConfig, react_ms: Option<i64>) -> (Vec<RushEvent>, PoseRush) {
        let mut game = PoseRush::new(seed, cfg.clone());
        let mut events = Vec::new();
        let mut shown_at = None;
        let mut t = -3500i64;
        while !game.is_finished() {
            let target = game.current_target().map(|(_, p, _)| p);
            let skeleton = match (target, react_ms, shown_at) {
                (Some(p), Some(r), Some(at)) if t - at >= r => Some(pose_skeleton(Some(p))),
                _ => Some(pose_skeleton(None)),
            };
            let new = game.update(t, skeleton.as_ref());
            for e in &new {
                if let RushEvent::Target { .. } = e {
                    shown_at = Some(t);
                }
            }
            events.extend(new);
            t += 33;
        }
        (events, game)
    }

    #[test]
    fn a_quick_player_hits_every_target_with_growing_streaks() {
        let cfg = RushConfig::with_duration_secs(20);
        let (events, game) = play(9, cfg.clone(), Some(300));
        let countdown: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                RushEvent::Countdown { seconds_left } => Some(*seconds_left),
                _ => None,
            })
            .collect();
        assert_eq!(countdown, vec![3, 2, 1]);
        assert_eq!(events.iter().filter(|e| **e == RushEvent::Go).count(), 1);
        let targets: Vec<PoseId> = events
            .iter()
            .filter_map(|e| match e {
                RushEvent::Target { pose, .. } => Some(*pose),
                _ => None,
            })
            .collect();
        assert_eq!(targets, target_sequence(9, targets.len()));
        let hits: Vec<_> = events.iter().filter(|e| matches!(e, RushEvent::Hit { .. })).collect();
        assert!(hits.len() >= 10, "only {} hits in 20 s", hits.len());
        assert!(!events.iter().any(|e| matches!(e, RushEvent::Miss { .. })));
        let tally = game.tally();
        assert_eq!(tally.hits as usize, hits.len());
        assert_eq!(tally.best_streak, tally.hits);
        // The streak multiplier makes later hits worth more than earlier equally fast ones.
        let points: Vec<u32> = hits
            .iter()
            .filter_map(|e| match e {
                RushEvent::Hit { points, .. } => Some(*points),
                _ => None,
            })
            .collect();
        assert!(points[4] > points[0]);
        assert_eq!(points.iter().sum::<u32>(), tally.points);
        assert!(hits.iter().filter(|e| e.is_streak_milestone()).count() >= 3);
        assert!(matches!(events.last(), Some(RushEvent::Finished { .. })));
    }

    #[test]
    fn slower_players_score_less_and_absent_ones_miss_everything() {
        let cfg = RushConfig::with_duration_secs(20);
        let (_, fast) = play(9, cfg.clone(), Some(200));
        let (_, slow) = play(9, cfg.clone(), Some(2500));
        assert!(fast.tally().points > slow.tally().points);
        let (events, idle) = play(9, cfg.clone(), None);
        assert_eq!(idle.tally().points, 0);
        assert_eq!(idle.tally().hits, 0);
        let misses = events.iter().filter(|e| matches!(e, RushEvent::Miss { .. })).count();
        // Targets at 0, 6.7 and 13.4 s time out at 6, 12.7 and 19.4 s; the fourth (20.1 s)
        // would come after the end.
        assert_eq!(misses, 3);
        assert_eq!(idle.tally().misses, 3);
    }

    #[test]
    fn a_round_is_a_pure_function_of_its_inputs() {
        let cfg = RushConfig::with_duration_secs(15);
        let (a, ga) = play(77, cfg.clone(), Some(400));
        let (b, gb) = play(77, cfg, Some(400));
        assert_eq!(a, b);
        assert_eq!(ga.tally(), gb.tally());
    }

    #[test]
    fn a_time_jump_replays_every_timeout_in_order() {
        let mut game = PoseRush::new(1, RushConfig::with_duration_secs(30));
        let events = game.update(31_000, None);
        let misses = events.iter().filter(|e| matches!(e, RushEvent::Miss { .. })).count();
        // Timeouts at 6, 12.7, 19.4 and 26.1 s; the fifth target (26.8 s) is cut at 30 s.
        assert_eq!(misses, 4);
        let targets = events.iter().filter(|e| matches!(e, RushEvent::Target { .. })).count();
        assert_eq!(targets, 5);
        assert!(matches!(events.last(), Some(RushEvent::Finished { .. })));
        // Time running backwards is ignored.
        assert!(game.update(10, None).is_empty());
    }

    #[test]
    fn a_short_flicker_is_not_a_hit() {
        let mut game = PoseRush::new(5, RushConfig::default());
        game.update(0, None);
        let (_, pose, _) = game.current_target().expect("a target at the start");
        let hit_skel = pose_skeleton(Some(pose));
        let idle = pose_skeleton(None);
        let mut hits = 0;
        for k in 0..40 {
            let t = 33 * k;
            // Matches in one frame out of four: never held for 500 ms.
            let s = if k % 4 == 0 { &hit_skel } else { &idle };
            hits += game.update(t, Some(s)).iter().filter(|e| matches!(e, RushEvent::Hit { .. })).count();
        }
        assert_eq!(hits, 0);
    }

    #[test]
    fn quiz_answers_are_read_from_the_body() {
        let three = AnswerLayout::Choices(3);
        assert_eq!(read_answer(&pose_skeleton(Some(PoseId::LeftArmUp)), three), Some(0));
        assert_eq!(read_answer(&pose_skeleton(Some(PoseId::HandsUp)), three), Some(1));
        assert_eq!(read_answer(&pose_skeleton(Some(PoseId::RightArmUp)), three), Some(2));
        assert_eq!(read_answer(&pose_skeleton(None), three), None);
        let two = AnswerLayout::Choices(2);
        assert_eq!(read_answer(&pose_skeleton(Some(PoseId::HandsUp)), two), None);
        assert_eq!(read_answer(&pose_skeleton(Some(PoseId::RightArmUp)), two), Some(1));
        let four = AnswerLayout::Choices(4);
        assert_eq!(read_answer(&pose_skeleton(Some(PoseId::ArmsCrossedX)), four), Some(3));
        let ox = AnswerLayout::TrueFalse;
        assert_eq!(read_answer(&pose_skeleton(Some(PoseId::CircleO)), ox), Some(0));
        assert_eq!(read_answer(&pose_skeleton(Some(PoseId::ArmsCrossedX)), ox), Some(1));
        for seed in noisy_seeds() {
            let noisy = with_noise(&pose_skeleton(Some(PoseId::CircleO)), seed, 0.008);
            assert_eq!(read_answer(&noisy, ox), Some(0), "noise seed {seed}");
        }
    }

    #[test]
    fn quiz_round_scores_right_fast_answers() {
        let items = vec![
            QuizItem { layout: AnswerLayout::Choices(3), correct: 2, time_ms: 5000 },
            QuizItem { layout: AnswerLayout::TrueFalse, correct: 0, time_ms: 5000 },
            QuizItem { layout: AnswerLayout::Choices(2), correct: 0, time_ms: 5000 },
        ];
        let mut q = QuizRound::new(items, QuizConfig::default());
        // Right answer to question 0, wrong (X) to question 1, nothing for question 2.
        let mut events = Vec::new();
        let mut t = 0;
        while !q.is_finished() && t < 60_000 {
            let skel = match q.current() {
                Some(0) => pose_skeleton(Some(PoseId::RightArmUp)),
                Some(1) => pose_skeleton(Some(PoseId::ArmsCrossedX)),
                _ => pose_skeleton(None),
            };
            events.extend(q.update(t, Some(&skel)));
            t += 33;
        }
        assert!(q.is_finished());
        let answered: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                QuizEvent::Answered { index, choice, correct, points } => {
                    Some((*index, *choice, *correct, *points))
                }
                _ => None,
            })
            .collect();
        assert_eq!(answered.len(), 2);
        assert_eq!((answered[0].0, answered[0].1, answered[0].2), (0, 2, true));
        assert!(answered[0].3 > 100);
        assert_eq!(answered[1], (1, 1, false, 0));
        assert!(events.contains(&QuizEvent::TimeUp { index: 2 }));
        let tally = q.tally();
        assert_eq!((tally.hits, tally.misses), (1, 2));
        assert_eq!(tally.points, answered[0].3);
    }
}
