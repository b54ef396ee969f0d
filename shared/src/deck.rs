//! Quiz decks and pose routines, parsed from the text of an imported document.
//!
//! The parser takes plain text so this crate stays free of the document reader: table rows
//! (`&[Vec<String>]`, one string per cell) or paragraph lines (`&[String]`).
//!
//! **Tables** — one question per row: `question | choice 1 | choice 2 | [choice 3] |
//! [choice 4] | answer`. Empty cells are ignored; a first row whose first cell is a header
//! ("question", "질문", "문제", …) is skipped. A row of just `question | O` (or `X`) is a
//! true/false question. A row starting with `routine` / `루틴` is a pose routine:
//! `routine | name | pose | pose | …` (pose keys, English or Korean names).
//!
//! **Lines** — `Q. question` (also `Q:`, `1.`, `문제:`), then choices `A) …`, `1) …`,
//! `- …` or `① …`, then `Answer: B` (also `정답:`, `답:`). Without choices and with an
//! answer of O or X, the question is true/false.
//!
//! An answer is a choice number (1–4), a letter (A–D), the choice's text, O / X, or a
//! choice marked with a leading `*`.

use serde::{Deserialize, Serialize};

use crate::rules::{AnswerLayout, PoseId, QuizItem};

/// Most questions a deck may hold.
pub const MAX_QUESTIONS: usize = 200;
/// Longest question or choice text, in characters.
pub const MAX_TEXT_CHARS: usize = 300;
/// Time to answer a question unless the deck says otherwise.
pub const DEFAULT_TIME_SECS: u16 = 10;

/// A quiz deck.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deck {
    pub title: String,
    pub questions: Vec<Question>,
    pub routines: Vec<Routine>,
}

/// One question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Question {
    pub prompt: String,
    /// 2–4 choices, or `["O", "X"]` for a true/false question.
    pub choices: Vec<String>,
    /// Index of the right choice.
    pub correct: usize,
    pub time_secs: u16,
}

impl Question {
    pub fn is_true_false(&self) -> bool {
        self.choices.len() == 2 && self.choices[0] == "O" && self.choices[1] == "X"
    }

    /// How players answer it with their body.
    pub fn layout(&self) -> AnswerLayout {
        if self.is_true_false() {
            AnswerLayout::TrueFalse
        } else {
            AnswerLayout::Choices(u8::try_from(self.choices.len()).unwrap_or(4))
        }
    }

    /// The question as the quiz rules see it.
    pub fn to_item(&self) -> QuizItem {
        QuizItem {
            layout: self.layout(),
            correct: self.correct,
            time_ms: u32::from(self.time_secs) * 1000,
        }
    }
}

/// A named sequence of poses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Routine {
    pub name: String,
    pub steps: Vec<PoseId>,
}

/// Why a deck could not be read. Row and line numbers count from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeckError {
    #[error("the document has no questions — write one question per table row or use `Q.` / `Answer:` lines")]
    Empty,
    #[error("the deck has more than {MAX_QUESTIONS} questions — split it into smaller decks")]
    TooManyQuestions,
    #[error("{at}: {problem}")]
    Bad { at: Place, problem: Problem },
}

/// Where in the document a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Row(usize),
    Line(usize),
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Place::Row(n) => write!(f, "table row {n}"),
            Place::Line(n) => write!(f, "line {n}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("the question has {0} choices — give 2 to 4 (or just O / X as the answer)")]
    ChoiceCount(usize),
    #[error("the answer {0:?} is not one of the choices — write its number, letter or text")]
    UnknownAnswer(String),
    #[error("the question has no answer — add an answer cell or an `Answer:` line")]
    NoAnswer,
    #[error("a text is longer than {MAX_TEXT_CHARS} characters — shorten it")]
    TooLong,
    #[error("unknown pose {0:?} in the routine — use names like hands_up, t_pose, squat, 만세")]
    UnknownPose(String),
    #[error("the routine has no poses")]
    EmptyRoutine,
    #[error("a choice comes before any question")]
    ChoiceWithoutQuestion,
}

fn bad(at: Place, problem: Problem) -> DeckError {
    DeckError::Bad { at, problem }
}

const HEADER_WORDS: &[&str] = &["question", "questions", "질문", "문제", "q"];
const ROUTINE_WORDS: &[&str] = &["routine", "루틴"];

fn clean(s: &str) -> &str {
    s.trim()
}

fn checked_text(at: Place, s: &str) -> Result<String, DeckError> {
    let s = clean(s);
    if s.chars().count() > MAX_TEXT_CHARS {
        return Err(bad(at, Problem::TooLong));
    }
    Ok(s.to_string())
}

/// A draft question, completed into a [`Question`] once its answer is known.
#[derive(Default)]
struct Draft {
    prompt: String,
    choices: Vec<String>,
    marked: Option<usize>,
    answer: Option<String>,
}

impl Draft {
    fn add_choice(&mut self, at: Place, text: &str) -> Result<(), DeckError> {
        let text = clean(text);
        let (text, marked) = match text.strip_prefix('*') {
            Some(rest) => (rest, true),
            None => (text, false),
        };
        if marked {
            self.marked = Some(self.choices.len());
        }
        self.choices.push(checked_text(at, text)?);
        Ok(())
    }

    fn finish(self, at: Place) -> Result<Question, DeckError> {
        let answer = self.answer.as_deref().map(clean).filter(|a| !a.is_empty());
        if self.choices.is_empty() {
            let correct = match answer {
                Some("O" | "o" | "○") => 0,
                Some("X" | "x" | "×") => 1,
                Some(other) => return Err(bad(at, Problem::UnknownAnswer(other.to_string()))),
                None => return Err(bad(at, Problem::NoAnswer)),
            };
            return Ok(Question {
                prompt: self.prompt,
                choices: vec!["O".into(), "X".into()],
                correct,
                time_secs: DEFAULT_TIME_SECS,
            });
        }
        if !(2..=4).contains(&self.choices.len()) {
            return Err(bad(at, Problem::ChoiceCount(self.choices.len())));
        }
        let correct = match (answer, self.marked) {
            (Some(a), _) => resolve_answer(a, &self.choices)
                .ok_or_else(|| bad(at, Problem::UnknownAnswer(a.to_string())))?,
            (None, Some(m)) => m,
            (None, None) => return Err(bad(at, Problem::NoAnswer)),
        };
        Ok(Question { prompt: self.prompt, choices: self.choices, correct, time_secs: DEFAULT_TIME_SECS })
    }
}

/// Resolves an answer given as a number, letter, O/X or the choice's text.
fn resolve_answer(answer: &str, choices: &[String]) -> Option<usize> {
    let a = answer.trim().trim_end_matches(['.', ')']);
    let n = choices.len();
    if let Ok(k) = a.parse::<usize>() {
        return (1..=n).contains(&k).then(|| k - 1);
    }
    let circled = ['①', '②', '③', '④'];
    if let Some(k) = circled.iter().position(|c| a == c.to_string()) {
        return (k < n).then_some(k);
    }
    let mut chars = a.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        let upper = c.to_ascii_uppercase();
        if ('A'..='D').contains(&upper) {
            let k = (upper as u8 - b'A') as usize;
            if k < n {
                return Some(k);
            }
        }
    }
    choices.iter().position(|c| c.trim().eq_ignore_ascii_case(a))
}

fn is_one_of(cell: &str, words: &[&str]) -> bool {
    let c = clean(cell).trim_end_matches(':').to_lowercase();
    words.iter().any(|w| c == *w)
}

/// A header cell: "question", "질문 / Question", "Q", …
fn is_header(cell: &str) -> bool {
    let c = clean(cell).to_lowercase();
    is_one_of(&c, HEADER_WORDS) || HEADER_WORDS.iter().any(|w| w.chars().count() > 1 && c.contains(w))
}

fn parse_routine(at: Place, cells: &[&str]) -> Result<Routine, DeckError> {
    let name = checked_text(at, cells.first().copied().unwrap_or("routine"))?;
    let steps = cells
        .iter()
        .skip(1)
        .map(|c| PoseId::from_name(c).ok_or_else(|| bad(at, Problem::UnknownPose(c.to_string()))))
        .collect::<Result<Vec<_>, _>>()?;
    if steps.is_empty() {
        return Err(bad(at, Problem::EmptyRoutine));
    }
    Ok(Routine { name, steps })
}

fn push_question(deck: &mut Deck, q: Question) -> Result<(), DeckError> {
    if deck.questions.len() >= MAX_QUESTIONS {
        return Err(DeckError::TooManyQuestions);
    }
    deck.questions.push(q);
    Ok(())
}

/// Reads a deck from table rows.
pub fn parse_rows(title: &str, rows: &[Vec<String>]) -> Result<Deck, DeckError> {
    let mut deck = Deck { title: title.trim().to_string(), questions: vec![], routines: vec![] };
    for (i, row) in rows.iter().enumerate() {
        let at = Place::Row(i + 1);
        let cells: Vec<&str> = row.iter().map(|c| clean(c)).filter(|c| !c.is_empty()).collect();
        let Some((first, rest)) = cells.split_first() else { continue };
        if i == 0 && is_header(first) {
            continue;
        }
        if is_one_of(first, ROUTINE_WORDS) {
            deck.routines.push(parse_routine(at, rest)?);
            continue;
        }
        let mut draft = Draft { prompt: checked_text(at, first)?, ..Draft::default() };
        match rest {
            [] => return Err(bad(at, Problem::NoAnswer)),
            [answer] => draft.answer = Some(answer.to_string()),
            [choices @ .., answer] => {
                for c in choices {
                    draft.add_choice(at, c)?;
                }
                // A marked choice with no answer column: the last cell is a choice too.
                if draft.marked.is_some() && resolve_answer(answer, &draft.choices).is_none() {
                    draft.add_choice(at, answer)?;
                } else {
                    draft.answer = Some(answer.to_string());
                }
            }
        }
        push_question(&mut deck, draft.finish(at)?)?;
    }
    if deck.questions.is_empty() {
        return Err(DeckError::Empty);
    }
    Ok(deck)
}

fn strip_any<'a>(line: &'a str, prefixes: &[&str]) -> Option<&'a str> {
    prefixes.iter().find_map(|p| {
        let head = line.get(..p.len())?;
        head.eq_ignore_ascii_case(p).then(|| line.get(p.len()..)).flatten()
    })
}

/// `1.` / `12.` question numbering.
fn strip_number(line: &str) -> Option<&str> {
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    line.get(digits..)?.strip_prefix('.')
}

/// `A)`, `1)`, `①`, `-` choice markers.
fn strip_choice(line: &str) -> Option<&str> {
    for c in ['①', '②', '③', '④'] {
        if let Some(rest) = line.strip_prefix(c) {
            return Some(rest);
        }
    }
    if let Some(rest) = line.strip_prefix("- ") {
        return Some(rest);
    }
    let mut chars = line.chars();
    let (Some(a), Some(b)) = (chars.next(), chars.next()) else { return None };
    let marker = a.is_ascii_alphabetic() && ('A'..='D').contains(&a.to_ascii_uppercase())
        || ('1'..='4').contains(&a);
    (marker && b == ')').then_some(chars.as_str())
}

/// Reads a deck from paragraph lines.
pub fn parse_lines(title: &str, lines: &[String]) -> Result<Deck, DeckError> {
    let mut deck = Deck { title: title.trim().to_string(), questions: vec![], routines: vec![] };
    let mut draft: Option<(Place, Draft)> = None;
    let finish = |deck: &mut Deck, d: Option<(Place, Draft)>| -> Result<(), DeckError> {
        match d {
            Some((at, d)) => push_question(deck, d.finish(at)?),
            None => Ok(()),
        }
    };
    for (i, raw) in lines.iter().enumerate() {
        let at = Place::Line(i + 1);
        let line = clean(raw);
        if line.is_empty() {
            continue;
        }
        if let Some(answer) = strip_any(line, &["answer:", "정답:", "답:"]) {
            match draft.as_mut() {
                Some((_, d)) => d.answer = Some(answer.to_string()),
                None => return Err(bad(at, Problem::ChoiceWithoutQuestion)),
            }
        } else if let Some(rest) = strip_any(line, &["routine:", "루틴:"]) {
            let cells: Vec<&str> =
                rest.split([',', '|']).map(clean).filter(|c| !c.is_empty()).collect();
            deck.routines.push(parse_routine(at, &cells)?);
        } else if let Some(q) = strip_any(line, &["q.", "q:", "문제:", "질문:"]).or_else(|| strip_number(line)) {
            finish(&mut deck, draft.take())?;
            draft = Some((at, Draft { prompt: checked_text(at, q)?, ..Draft::default() }));
        } else if let Some(choice) = strip_choice(line) {
            match draft.as_mut() {
                Some((_, d)) => d.add_choice(at, choice)?,
                None => return Err(bad(at, Problem::ChoiceWithoutQuestion)),
            }
        } else if let Some((_, d)) = draft.as_mut().filter(|(_, d)| d.choices.is_empty() && d.answer.is_none()) {
            // A question running over several lines.
            d.prompt.push(' ');
            d.prompt.push_str(line);
            if d.prompt.chars().count() > MAX_TEXT_CHARS {
                return Err(bad(at, Problem::TooLong));
            }
        }
        // Anything else (titles, notes) is not part of a question.
    }
    finish(&mut deck, draft)?;
    if deck.questions.is_empty() {
        return Err(DeckError::Empty);
    }
    Ok(deck)
}

/// Reads a deck from a document: its tables when any has questions, else its lines.
pub fn parse_document(
    title: &str,
    tables: &[Vec<Vec<String>>],
    lines: &[String],
) -> Result<Deck, DeckError> {
    let mut first_error = None;
    for table in tables {
        match parse_rows(title, table) {
            Ok(deck) => return Ok(deck),
            Err(DeckError::Empty) => {}
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match parse_lines(title, lines) {
        Err(DeckError::Empty) => Err(first_error.unwrap_or(DeckError::Empty)),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(r: &[&[&str]]) -> Vec<Vec<String>> {
        r.iter().map(|row| row.iter().map(|c| c.to_string()).collect()).collect()
    }

    fn lines(l: &[&str]) -> Vec<String> {
        l.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn table_rows_become_questions() {
        let deck = parse_rows(
            "수도 퀴즈",
            &rows(&[
                &["질문 / Question", "보기1", "보기2", "보기3", "정답"],
                &["한국의 수도는?", "부산", "서울", "대구", "2"],
                &["Capital of France?", "Paris", "Rome", "", "A"],
                &["지구는 둥글다", "O"],
                &["Pick the fruit", "Car", "*Apple", "Chair", "Lamp"],
                &["", "", ""],
                &["루틴", "Warm-up", "만세", "t_pose", "Squat"],
            ]),
        )
        .expect("valid deck");
        assert_eq!(deck.title, "수도 퀴즈");
        assert_eq!(deck.questions.len(), 4);
        assert_eq!(deck.questions[0].choices, vec!["부산", "서울", "대구"]);
        assert_eq!(deck.questions[0].correct, 1);
        assert_eq!(deck.questions[0].layout(), AnswerLayout::Choices(3));
        assert_eq!(deck.questions[1].correct, 0);
        assert_eq!(deck.questions[1].choices.len(), 2);
        assert!(deck.questions[2].is_true_false());
        assert_eq!(deck.questions[2].layout(), AnswerLayout::TrueFalse);
        assert_eq!(deck.questions[3].choices, vec!["Car", "Apple", "Chair", "Lamp"]);
        assert_eq!(deck.questions[3].correct, 1);
        assert_eq!(
            deck.routines,
            vec![Routine {
                name: "Warm-up".into(),
                steps: vec![PoseId::HandsUp, PoseId::TPose, PoseId::Squat]
            }]
        );
        let item = deck.questions[0].to_item();
        assert_eq!((item.correct, item.time_ms), (1, 10_000));
    }

    #[test]
    fn bad_rows_say_where_and_what() {
        let e = parse_rows("t", &rows(&[&["Q1", "a", "b", "7"]])).unwrap_err();
        assert_eq!(e, bad(Place::Row(1), Problem::UnknownAnswer("7".into())));
        assert!(e.to_string().starts_with("table row 1: the answer \"7\""));
        let e = parse_rows("t", &rows(&[&["ok", "O"], &["Q", "a", "b", "c", "d", "e", "1"]]))
            .unwrap_err();
        assert_eq!(e, bad(Place::Row(2), Problem::ChoiceCount(5)));
        let e = parse_rows("t", &rows(&[&["Why?"]])).unwrap_err();
        assert_eq!(e, bad(Place::Row(1), Problem::NoAnswer));
        let e = parse_rows("t", &rows(&[&["routine", "r", "moonwalk"]])).unwrap_err();
        assert_eq!(e, bad(Place::Row(1), Problem::UnknownPose("moonwalk".into())));
        let long = "가".repeat(MAX_TEXT_CHARS + 1);
        let e = parse_rows("t", &rows(&[&[long.as_str(), "O"]])).unwrap_err();
        assert_eq!(e, bad(Place::Row(1), Problem::TooLong));
        assert_eq!(parse_rows("t", &rows(&[&["질문", "정답"]])), Err(DeckError::Empty));
        let many: Vec<Vec<String>> = (0..=MAX_QUESTIONS).map(|i| vec![format!("q{i}"), "O".into()]).collect();
        assert_eq!(parse_rows("t", &many), Err(DeckError::TooManyQuestions));
    }

    #[test]
    fn lines_become_questions() {
        let deck = parse_lines(
            "Lines",
            &lines(&[
                "My quiz",
                "Q. Which is a fruit?",
                "A) Car",
                "B) Apple",
                "Answer: B",
                "",
                "2. 고양이는",
                "포유류이다",
                "정답: O",
                "문제: 가장 큰 행성은?",
                "① 화성",
                "② 목성",
                "③ 금성",
                "답: 목성",
                "Routine: Finale, star, heart",
            ]),
        )
        .expect("valid deck");
        assert_eq!(deck.questions.len(), 3);
        assert_eq!(deck.questions[0].prompt, "Which is a fruit?");
        assert_eq!(deck.questions[0].correct, 1);
        assert_eq!(deck.questions[1].prompt, "고양이는 포유류이다");
        assert!(deck.questions[1].is_true_false());
        assert_eq!(deck.questions[1].correct, 0);
        assert_eq!(deck.questions[2].choices, vec!["화성", "목성", "금성"]);
        assert_eq!(deck.questions[2].correct, 1);
        assert_eq!(deck.routines[0].steps, vec![PoseId::Star, PoseId::HeartOverHead]);
    }

    #[test]
    fn bad_lines_say_where_and_what() {
        let e = parse_lines("t", &lines(&["A) orphan"])).unwrap_err();
        assert_eq!(e, bad(Place::Line(1), Problem::ChoiceWithoutQuestion));
        let e = parse_lines("t", &lines(&["Q. x", "A) a", "B) b"])).unwrap_err();
        assert_eq!(e, bad(Place::Line(1), Problem::NoAnswer));
        let e = parse_lines("t", &lines(&["Q. x", "Answer: maybe"])).unwrap_err();
        assert_eq!(e, bad(Place::Line(1), Problem::UnknownAnswer("maybe".into())));
        assert_eq!(parse_lines("t", &lines(&["just a title"])), Err(DeckError::Empty));
    }

    #[test]
    fn documents_prefer_tables_and_fall_back_to_lines() {
        let table = rows(&[&["Round?", "O"]]);
        let l = lines(&["Q. other", "Answer: X"]);
        let d = parse_document("d", &[vec![], table], &l).expect("table deck");
        assert_eq!(d.questions[0].prompt, "Round?");
        let d = parse_document("d", &[], &l).expect("line deck");
        assert_eq!(d.questions[0].correct, 1);
        let broken = rows(&[&["Which?", "a", "b", "9"]]);
        let e = parse_document("d", &[broken], &lines(&["no questions"])).unwrap_err();
        assert_eq!(e, bad(Place::Row(1), Problem::UnknownAnswer("9".into())));
    }
}
