//! Motion Quiz: questions answered with the body, as a pure state machine.
//!
//! Choices are laid out left / centre / right (the picture is shown mirrored, so the
//! choice on the left of the screen is the player's left arm): two choices are answered
//! with the left or right arm, three add both arms up in the centre, a fourth is arms
//! crossed (X). True/false questions are answered with O (arms circled over the head) or X.

use serde::{Deserialize, Serialize};

use crate::pose::Skeleton;

use super::poses::{PoseId, best_match};
use super::scoring::{Hold, Scoring, Tally};

/// A body answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Answer {
    LeftArm,
    BothArms,
    RightArm,
    O,
    X,
}

impl Answer {
    /// The pose that gives this answer.
    pub fn pose(self) -> PoseId {
        match self {
            Answer::LeftArm => PoseId::LeftArmUp,
            Answer::BothArms => PoseId::HandsUp,
            Answer::RightArm => PoseId::RightArmUp,
            Answer::O => PoseId::CircleO,
            Answer::X => PoseId::ArmsCrossedX,
        }
    }

    /// Short label for the answer's slot on screen.
    pub fn label(self) -> &'static str {
        match self {
            Answer::LeftArm => "왼팔 / Left arm",
            Answer::BothArms => "양팔 / Both arms",
            Answer::RightArm => "오른팔 / Right arm",
            Answer::O => "O",
            Answer::X => "X",
        }
    }
}

/// How a question is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AnswerLayout {
    /// 2–4 choices on left / centre / right (+ X for a fourth).
    Choices(u8),
    /// O (true) or X (false).
    TrueFalse,
}

impl AnswerLayout {
    /// The answer of each choice, in choice order. `Choices(n)` outside 2–4 is clamped.
    pub fn slots(self) -> &'static [Answer] {
        match self {
            AnswerLayout::TrueFalse => &[Answer::O, Answer::X],
            AnswerLayout::Choices(0..=2) => &[Answer::LeftArm, Answer::RightArm],
            AnswerLayout::Choices(3) => &[Answer::LeftArm, Answer::BothArms, Answer::RightArm],
            AnswerLayout::Choices(_) => {
                &[Answer::LeftArm, Answer::BothArms, Answer::RightArm, Answer::X]
            }
        }
    }
}

/// The answer the skeleton shows among `layout`'s slots, if any: the best-matching slot
/// pose above the match threshold, as a choice index.
pub fn read_answer(skeleton: &Skeleton, layout: AnswerLayout) -> Option<usize> {
    let slots = layout.slots();
    let poses: Vec<PoseId> = slots.iter().map(|a| a.pose()).collect();
    let (pose, _) = best_match(skeleton, &poses)?;
    poses.iter().position(|p| *p == pose)
}

/// One question as the rules see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuizItem {
    pub layout: AnswerLayout,
    /// Index of the right choice.
    pub correct: usize,
    pub time_ms: u32,
}

/// Timing of a quiz round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuizConfig {
    pub hold_ms: u32,
    /// Pause showing the right answer before the next question.
    pub reveal_ms: u32,
    pub release_threshold: f32,
    pub scoring: Scoring,
}

impl Default for QuizConfig {
    fn default() -> Self {
        Self { hold_ms: 600, reveal_ms: 2_000, release_threshold: 0.55, scoring: Scoring::default() }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum QuizEvent {
    Question { index: u32, deadline_ms: i64 },
    /// The player's answer was locked in.
    Answered { index: u32, choice: usize, correct: bool, points: u32 },
    /// Time ran out without an answer.
    TimeUp { index: u32 },
    Finished { tally: Tally },
}

/// One player's quiz round, time in ms from the round start.
#[derive(Debug, Clone)]
pub struct QuizRound {
    cfg: QuizConfig,
    items: Vec<QuizItem>,
    /// Index of the current question and when it was shown.
    current: Option<(usize, i64)>,
    next_at_ms: i64,
    next_index: usize,
    pending: Option<usize>,
    hold: Hold,
    tally: Tally,
    now_ms: i64,
    finished: bool,
}

impl QuizRound {
    pub fn new(items: Vec<QuizItem>, cfg: QuizConfig) -> Self {
        Self {
            hold: Hold::new(cfg.release_threshold),
            cfg,
            items,
            current: None,
            next_at_ms: 0,
            next_index: 0,
            pending: None,
            tally: Tally::default(),
            now_ms: i64::MIN,
            finished: false,
        }
    }

    pub fn tally(&self) -> Tally {
        self.tally
    }

    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// The question on screen (index into the items).
    pub fn current(&self) -> Option<usize> {
        self.current.map(|(i, _)| i)
    }

    /// Advances to `t_ms` and reads the skeleton's answer.
    pub fn update(&mut self, t_ms: i64, skeleton: Option<&Skeleton>) -> Vec<QuizEvent> {
        let t = t_ms.max(self.now_ms);
        self.now_ms = t;
        let mut events = Vec::new();
        self.advance_clock(t, &mut events);
        let Some((index, shown)) = self.current else { return events };
        let Some(item) = self.items.get(index) else { return events };
        let seen = skeleton.and_then(|s| read_answer(s, item.layout));
        if seen != self.pending {
            self.pending = seen;
            self.hold.reset();
        }
        let score = if seen.is_some() { 1.0 } else { 0.0 };
        if let (Some(choice), Some(since)) = (seen, self.hold.observe(t, score))
            && t - since >= i64::from(self.cfg.hold_ms)
        {
            let correct = choice == item.correct;
            let points = if correct {
                let reaction = u32::try_from((since - shown).max(0)).unwrap_or(u32::MAX);
                self.tally.hit(&self.cfg.scoring, reaction, item.time_ms).points
            } else {
                self.tally.miss();
                0
            };
            events.push(QuizEvent::Answered { index: index as u32, choice, correct, points });
            self.close_question(t + i64::from(self.cfg.reveal_ms));
            self.advance_clock(t, &mut events);
        }
        events
    }

    fn close_question(&mut self, next_at: i64) {
        self.current = None;
        self.pending = None;
        self.hold.reset();
        self.next_at_ms = next_at;
    }

    fn advance_clock(&mut self, t: i64, events: &mut Vec<QuizEvent>) {
        loop {
            if self.finished {
                return;
            }
            match self.current {
                Some((index, shown)) => {
                    let time = self.items.get(index).map_or(0, |i| i.time_ms);
                    let deadline = shown + i64::from(time);
                    if t < deadline {
                        return;
                    }
                    self.tally.miss();
                    events.push(QuizEvent::TimeUp { index: index as u32 });
                    self.close_question(deadline + i64::from(self.cfg.reveal_ms));
                }
                None => {
                    if t < self.next_at_ms {
                        return;
                    }
                    if self.next_index >= self.items.len() {
                        self.finished = true;
                        events.push(QuizEvent::Finished { tally: self.tally });
                        return;
                    }
                    let index = self.next_index;
                    self.next_index += 1;
                    let shown = self.next_at_ms;
                    self.current = Some((index, shown));
                    let time = self.items.get(index).map_or(0, |i| i.time_ms);
                    events.push(QuizEvent::Question {
                        index: index as u32,
                        deadline_ms: shown + i64::from(time),
                    });
                }
            }
        }
    }
}
