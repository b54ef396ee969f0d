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

use crate::protocol::CodecError;
pub use crate::rules::Step;
use crate::rules::{AnswerLayout, PoseId, QuizItem};

mod lines;
mod table;

pub use lines::parse_lines;
pub use table::parse_rows;
use table::table_from_cell_lines;

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

/// Most pose routines a deck may hold, and most poses in one routine.
pub const MAX_ROUTINES: usize = 50;
pub const MAX_ROUTINE_STEPS: usize = 64;
/// Longest time a question may give, seconds.
pub const MAX_TIME_SECS: u16 = 600;

/// Why deck bytes could not be written or read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeckBytesError {
    #[error("the deck could not be encoded: {0}")]
    Encode(String),
    #[error("the deck data is damaged ({0}) — ask the host to share it again")]
    Decode(String),
    #[error("the deck data has {0} bytes too many — ask the host to share it again")]
    TrailingBytes(usize),
    #[error("the shared deck is not valid: {0}")]
    Invalid(String),
}

/// The deck's codec: the wire codec with the shared-deck size limit.
type DeckCodec = crate::protocol::Codec<{ crate::protocol::peer::MAX_DECK_BYTES }>;

impl From<CodecError> for DeckBytesError {
    fn from(e: CodecError) -> Self {
        match e {
            CodecError::Encode(m) => DeckBytesError::Encode(m),
            CodecError::TooLarge { len, max } => {
                DeckBytesError::Decode(format!("{len} bytes, more than the {max}-byte limit"))
            }
            CodecError::Decode(m) => DeckBytesError::Decode(m),
            CodecError::TrailingBytes(n) => DeckBytesError::TrailingBytes(n),
        }
    }
}

impl Deck {
    /// The deck as bytes for sharing with the other players.
    pub fn to_bytes(&self) -> Result<Vec<u8>, DeckBytesError> {
        DeckCodec::encode(self).map_err(|e| match e {
            CodecError::TooLarge { len, max } => {
                DeckBytesError::Encode(format!("{len} bytes, more than the {max}-byte limit"))
            }
            other => other.into(),
        })
    }

    /// A deck from bytes another player sent: decoded within the size limit and checked
    /// with [`Deck::validate`], so a bad deck never reaches the game.
    pub fn from_bytes(bytes: &[u8]) -> Result<Deck, DeckBytesError> {
        let deck: Deck = DeckCodec::decode(bytes)?;
        deck.validate().map_err(DeckBytesError::Invalid)?;
        Ok(deck)
    }

    /// Checks what the parser guarantees: a question or a routine, at most [`MAX_QUESTIONS`]
    /// questions of 2–4 choices with the right one among them, texts within
    /// [`MAX_TEXT_CHARS`], bounded routines.
    pub fn validate(&self) -> Result<(), String> {
        let long = |s: &str| s.chars().count() > MAX_TEXT_CHARS;
        if long(&self.title) {
            return Err("the title is too long".into());
        }
        if (self.questions.is_empty() && self.routines.is_empty()) || self.questions.len() > MAX_QUESTIONS {
            return Err(format!(
                "{} questions and {} routines (a question or a routine, at most {MAX_QUESTIONS} questions)",
                self.questions.len(),
                self.routines.len()
            ));
        }
        for (i, q) in self.questions.iter().enumerate() {
            let n = i + 1;
            if !(2..=4).contains(&q.choices.len()) {
                return Err(format!("question {n} has {} choices", q.choices.len()));
            }
            if q.correct >= q.choices.len() {
                return Err(format!("question {n} marks a choice that does not exist"));
            }
            if long(&q.prompt) || q.choices.iter().any(|c| long(c)) {
                return Err(format!("question {n} has a text longer than {MAX_TEXT_CHARS} characters"));
            }
            if q.time_secs == 0 || q.time_secs > MAX_TIME_SECS {
                return Err(format!("question {n} gives {} s to answer", q.time_secs));
            }
        }
        if self.routines.len() > MAX_ROUTINES {
            return Err(format!("{} routines (at most {MAX_ROUTINES})", self.routines.len()));
        }
        for r in &self.routines {
            if long(&r.name) || r.steps.is_empty() || r.steps.len() > MAX_ROUTINE_STEPS {
                return Err(format!("routine {:?} is empty, too long or badly named", r.name));
            }
            let secs_range = (STEP_SECS.start() * 1000)..=(STEP_SECS.end() * 1000);
            if r.steps.iter().any(|s| s.time_ms.is_some_and(|ms| !secs_range.contains(&ms))) {
                return Err(format!("routine {:?} has a step time outside {}–{} s", r.name, STEP_SECS.start(), STEP_SECS.end()));
            }
        }
        Ok(())
    }
}

/// A named sequence of poses, each with its own time to hit (else the round's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Routine {
    pub name: String,
    pub steps: Vec<Step>,
}

/// Shortest and longest time a routine step may give, in seconds.
pub const STEP_SECS: std::ops::RangeInclusive<u32> = 1..=60;

/// Why a deck could not be read. Row and line numbers count from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeckError {
    #[error("the document has no questions or routines — write one question per table row or use `Q.` / `Answer:` lines (a routine: `routine | name | pose | pose …`)")]
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
    #[error("a routine step of {0} s — give each pose 1 to 60 seconds")]
    StepTime(u32),
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

/// A routine step: a pose name, optionally followed by its time in seconds (`squat 4s`,
/// `만세 3초`, `t_pose:5`).
fn parse_step(at: Place, cell: &str) -> Result<Step, DeckError> {
    let cell = clean(cell);
    let unknown = || bad(at, Problem::UnknownPose(cell.to_string()));
    if let Some(pose) = PoseId::from_name(cell) {
        return Ok(Step { pose, time_ms: None });
    }
    let (name, time) = cell
        .rsplit_once(':')
        .or_else(|| cell.rsplit_once(char::is_whitespace))
        .ok_or_else(unknown)?;
    let pose = PoseId::from_name(name).ok_or_else(unknown)?;
    let digits = time.trim().trim_end_matches(['s', 'S', '초']).trim();
    let secs: u32 = digits.parse().map_err(|_| unknown())?;
    if !STEP_SECS.contains(&secs) {
        return Err(bad(at, Problem::StepTime(secs)));
    }
    Ok(Step { pose, time_ms: Some(secs * 1000) })
}

fn parse_routine(at: Place, cells: &[&str]) -> Result<Routine, DeckError> {
    let name = checked_text(at, cells.first().copied().unwrap_or("routine"))?;
    let steps = cells.iter().skip(1).map(|c| parse_step(at, c)).collect::<Result<Vec<_>, _>>()?;
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

/// Reads a deck from a document: its tables when any has questions, else a table whose
/// cells came out one per line, else its lines.
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
    if first_error.is_none()
        && let Some(rows) = table_from_cell_lines(lines)
    {
        match parse_rows(title, &rows) {
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
                steps: [PoseId::HandsUp, PoseId::TPose, PoseId::Squat]
                    .map(|pose| Step { pose, time_ms: None })
                    .to_vec()
            }]
        );
        let item = deck.questions[0].to_item();
        assert_eq!((item.correct, item.time_ms), (1, 10_000));
    }

    #[test]
    fn answer_first_tables_spread_the_right_answer() {
        let table = rows(&[
            &["번호", "문제", "정답", "오답1", "오답2"],
            &["1", "대한민국의 수도는?", "서울", "부산", "인천"],
            &["2", "물의 화학식은?", "H2O", "CO2", ""],
            &["3", "고래는 포유류다", "O", "", ""],
            &["", "", "", "", ""],
            &["4", "한글을 창제한 왕은?", "세종대왕", "태조", "정조"],
        ]);
        let deck = parse_rows("상식", &table).expect("valid deck");
        assert_eq!(deck.questions.len(), 4);
        for (q, right) in deck.questions.iter().zip(["서울", "H2O", "O", "세종대왕"]) {
            assert_eq!(q.choices[q.correct], right, "{}", q.prompt);
        }
        assert_eq!(deck.questions[0].choices.len(), 3);
        assert_eq!(deck.questions[1].choices.len(), 2);
        assert!(deck.questions[2].is_true_false());
        // Same deck on every machine, and not every answer on the same side.
        assert_eq!(parse_rows("상식", &table), Ok(deck.clone()));
        let many: Vec<Vec<String>> = std::iter::once(vec!["Question".into(), "Answer".into(), "Wrong".into()])
            .chain((0..20).map(|i| vec![format!("question {i}"), "yes".into(), "no".into()]))
            .collect();
        let slots: std::collections::BTreeSet<usize> =
            parse_rows("t", &many).expect("deck").questions.iter().map(|q| q.correct).collect();
        assert_eq!(slots.len(), 2, "answers spread over both sides");
        // Numbers are not choices in the positional layout either.
        let numbered = rows(&[&["No.", "Question", "1", "2", "Answer"], &["7", "Pick B", "A", "B", "2"]]);
        let d = parse_rows("t", &numbered).expect("deck");
        assert_eq!((d.questions[0].choices.clone(), d.questions[0].correct), (vec!["A".to_string(), "B".into()], 1));
        let e = parse_rows("t", &rows(&[&["문제", "정답", "오답"], &["빈 답", "", "x"]])).unwrap_err();
        assert_eq!(e, bad(Place::Row(2), Problem::NoAnswer));
    }

    #[test]
    fn headers_below_a_title_and_tables_flattened_into_lines() {
        // A sheet: a title row, then the header, then the questions.
        let sheet = rows(&[
            &["한국 상식 퀴즈", "", ""],
            &["문제", "정답", "오답1"],
            &["물의 화학식은?", "H2O", "CO2"],
        ]);
        let deck = parse_rows("t", &sheet).expect("deck");
        assert_eq!(deck.questions.len(), 1);
        assert_eq!(deck.questions[0].choices[deck.questions[0].correct], "H2O");
        // A reader that gives table cells as paragraphs.
        let flat = lines(&[
            "제목", "번호", "문제", "정답", "오답1", "오답2", "1", "대한민국의 수도는?", "서울", "부산", "인천", "2",
            "한글을 창제한 왕은?", "세종대왕", "태조", "정조", "끝. 수고하셨습니다.",
        ]);
        let deck = parse_document("t", &[], &flat).expect("deck from cell lines");
        assert_eq!(deck.questions.len(), 2);
        assert_eq!(deck.questions[1].choices[deck.questions[1].correct], "세종대왕");
        // A missing cell ends the table at the row it breaks, it does not shift later rows.
        let broken = lines(&["번호", "문제", "정답", "오답", "1", "Q1", "a", "b", "2", "Q2", "a", "3", "Q3", "a", "b"]);
        let deck = parse_document("t", &[], &broken).expect("first row");
        assert_eq!(deck.questions.len(), 1);
    }

    #[test]
    fn decks_round_trip_as_bytes_and_bad_bytes_are_refused() {
        let deck = parse_rows("퀴즈", &rows(&[&["하늘은 파랗다", "O"], &["Pick", "a", "b", "2"]])).expect("deck");
        let bytes = deck.to_bytes().expect("encode");
        assert_eq!(Deck::from_bytes(&bytes), Ok(deck.clone()));
        for cut in 0..bytes.len() {
            assert!(Deck::from_bytes(&bytes[..cut]).is_err(), "prefix of {cut} bytes accepted");
        }
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert_eq!(Deck::from_bytes(&trailing), Err(DeckBytesError::TrailingBytes(1)));
        let mut broken = deck.clone();
        broken.questions[1].correct = 2;
        let e = Deck::from_bytes(&broken.to_bytes().expect("encode")).unwrap_err();
        assert!(matches!(e, DeckBytesError::Invalid(ref m) if m.contains("question 2")), "{e}");
        let mut empty = deck.clone();
        empty.questions.clear();
        assert!(matches!(Deck::from_bytes(&empty.to_bytes().expect("encode")), Err(DeckBytesError::Invalid(_))));
        // A length prefix claiming gigabytes is refused without allocating it.
        assert!(matches!(Deck::from_bytes(&[0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]), Err(DeckBytesError::Decode(_))));
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
        let poses: Vec<PoseId> = deck.routines[0].steps.iter().map(|s| s.pose).collect();
        assert_eq!(poses, vec![PoseId::Star, PoseId::HeartOverHead]);
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

    #[test]
    fn routine_steps_carry_their_own_times() {
        let deck = parse_rows(
            "루틴 덱",
            &rows(&[
                &["질문", "1", "2", "정답"],
                &["2 + 2?", "3", "4", "2"],
                &["루틴", "아침 체조", "만세 3초", "t_pose:5", "Squat 10s", "star"],
            ]),
        )
        .expect("valid deck");
        let steps: Vec<(PoseId, Option<u32>)> = deck.routines[0].steps.iter().map(|s| (s.pose, s.time_ms)).collect();
        assert_eq!(
            steps,
            vec![
                (PoseId::HandsUp, Some(3_000)),
                (PoseId::TPose, Some(5_000)),
                (PoseId::Squat, Some(10_000)),
                (PoseId::Star, None)
            ]
        );
        assert_eq!(deck.routines[0].name, "아침 체조");
        // Shared between machines, checked on arrival.
        assert_eq!(Deck::from_bytes(&deck.to_bytes().expect("encode")).expect("decode"), deck);
        for (cell, why) in [("squat 0s", "0 s"), ("squat 99초", "99 s"), ("dance 3s", "dance"), ("squat fast", "fast")] {
            let e = parse_rows("x", &rows(&[&["2 + 2?", "3", "4", "2"], &["routine", "r", cell]])).unwrap_err();
            assert!(e.to_string().contains(why), "{cell}: {e}");
        }
    }
}
