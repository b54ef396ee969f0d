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

fn deck_codec() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<{ crate::protocol::peer::MAX_DECK_BYTES }>()
}

impl Deck {
    /// The deck as bytes for sharing with the other players.
    pub fn to_bytes(&self) -> Result<Vec<u8>, DeckBytesError> {
        bincode::serde::encode_to_vec(self, deck_codec()).map_err(|e| DeckBytesError::Encode(e.to_string()))
    }

    /// A deck from bytes another player sent: decoded within the size limit and checked
    /// with [`Deck::validate`], so a bad deck never reaches the game.
    pub fn from_bytes(bytes: &[u8]) -> Result<Deck, DeckBytesError> {
        let (deck, used): (Deck, usize) = bincode::serde::decode_from_slice(bytes, deck_codec())
            .map_err(|e| DeckBytesError::Decode(e.to_string()))?;
        if used != bytes.len() {
            return Err(DeckBytesError::TrailingBytes(bytes.len() - used));
        }
        deck.validate().map_err(DeckBytesError::Invalid)?;
        Ok(deck)
    }

    /// Checks what the parser guarantees: 1–[`MAX_QUESTIONS`] questions of 2–4 choices with
    /// the right one among them, texts within [`MAX_TEXT_CHARS`], bounded routines.
    pub fn validate(&self) -> Result<(), String> {
        let long = |s: &str| s.chars().count() > MAX_TEXT_CHARS;
        if long(&self.title) {
            return Err("the title is too long".into());
        }
        if self.questions.is_empty() || self.questions.len() > MAX_QUESTIONS {
            return Err(format!("{} questions (1 to {MAX_QUESTIONS} allowed)", self.questions.len()));
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
        }
        Ok(())
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

/// What a header cell names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// A question number ("번호", "No."): ignored.
    Number,
    Prompt,
    Answer,
    /// A wrong answer ("오답1", "Wrong 2"): the answer-first layout.
    Wrong,
    /// Anything else (choice columns, notes).
    Other,
}

const NUMBER_WORDS: &[&str] = &["번호", "순번", "no", "no.", "#", "number", "num"];
const ANSWER_WORDS: &[&str] = &["정답", "답", "answer", "correct", "right answer"];
const WRONG_PREFIXES: &[&str] = &["오답", "wrong", "incorrect", "distractor"];

/// The role of a header cell; bilingual cells ("질문 / Question") are read part by part.
fn role(cell: &str) -> Role {
    let c = clean(cell).to_lowercase();
    for part in c.split('/').map(|p| p.trim().trim_end_matches(':').trim()) {
        let named = |words: &[&str]| {
            words.contains(&part) || words.iter().any(|w| w.chars().count() > 1 && part.contains(w))
        };
        if NUMBER_WORDS.contains(&part) {
            return Role::Number;
        }
        if WRONG_PREFIXES.iter().any(|w| part.starts_with(w)) {
            return Role::Wrong;
        }
        if named(HEADER_WORDS) {
            return Role::Prompt;
        }
        if named(ANSWER_WORDS) {
            return Role::Answer;
        }
    }
    Role::Other
}

/// Columns named by a header row: a header has a question column.
#[derive(Debug)]
struct Header {
    roles: Vec<Role>,
}

impl Header {
    fn read(row: &[String]) -> Option<Self> {
        let roles: Vec<Role> = row.iter().map(|c| role(c)).collect();
        roles.contains(&Role::Prompt).then_some(Self { roles })
    }

    fn column(&self, role: Role) -> Option<usize> {
        self.roles.iter().position(|r| *r == role)
    }

    /// Question, right answer and wrong answers in columns of their own
    /// (`번호 | 문제 | 정답 | 오답1 | 오답2`): (prompt, answer, wrong columns).
    fn answer_first(&self) -> Option<(usize, usize, Vec<usize>)> {
        let wrong: Vec<usize> =
            self.roles.iter().enumerate().filter(|(_, r)| **r == Role::Wrong).map(|(i, _)| i).collect();
        if wrong.is_empty() {
            return None;
        }
        Some((self.column(Role::Prompt)?, self.column(Role::Answer)?, wrong))
    }
}

/// Rows searched for a header below titles and notes (a sheet often starts with a title).
const HEADER_SEARCH_ROWS: usize = 10;

/// The header row and its index: the first row naming a question column, or a later row
/// (within [`HEADER_SEARCH_ROWS`]) that names a question column and an answer, wrong-answer
/// or number column. Rows above it are titles and notes.
fn find_header(rows: &[Vec<String>]) -> Option<(usize, Header)> {
    rows.iter().take(HEADER_SEARCH_ROWS).enumerate().find_map(|(i, row)| {
        let header = Header::read(row)?;
        let strong = header.roles.iter().any(|r| matches!(r, Role::Answer | Role::Wrong | Role::Number));
        (i == 0 || strong).then_some((i, header))
    })
}

/// A table whose cells came out one per line (some readers flatten tables into
/// paragraphs): a run of header cells on consecutive lines (question column and at least
/// one more named column), then rows of as many lines. With a number column the numbers
/// must count up by one; the table ends at the first group that breaks the count, and a
/// missing cell — which shifts the next number into the row before — drops that row too,
/// so a gap never yields questions with the wrong answer.
fn table_from_cell_lines(lines: &[String]) -> Option<Vec<Vec<String>>> {
    let named = |l: &String| role(l) != Role::Other && l.chars().count() <= 20;
    let start = lines.iter().position(named)?;
    let width = lines.get(start..)?.iter().take_while(|l| named(l)).count();
    let header = lines.get(start..start + width)?;
    let roles: Vec<Role> = header.iter().map(|l| role(l)).collect();
    if width < 2 || !roles.contains(&Role::Prompt) {
        // Not this run; a later one may be the table.
        return table_from_cell_lines(lines.get(start + width.max(1)..)?);
    }
    let number_col = roles.iter().position(|r| *r == Role::Number);
    let number_of = |row: &[String]| -> Option<u64> { row.get(number_col?)?.trim().parse().ok() };
    let mut rows = vec![header.to_vec()];
    let mut next: Option<u64> = None;
    let mut pos = start + width;
    while let Some(group) = lines.get(pos..pos + width) {
        if number_col.is_some() {
            match (number_of(group), next) {
                (Some(n), Some(expected)) if n == expected => {}
                (Some(n), None) => next = Some(n),
                _ => break,
            }
            next = next.map(|n| n + 1);
        }
        rows.push(group.to_vec());
        pos += width;
    }
    if let (Some(col), Some(expected)) = (number_col, next)
        && rows.len() > 1
        && rows.last().is_some_and(|last| {
            last.iter().enumerate().any(|(c, cell)| c != col && cell.trim() == expected.to_string())
        })
    {
        rows.pop();
    }
    (rows.len() > 1).then_some(rows)
}

/// Where the right answer goes among `n` choices: spread by the question's text, the same
/// on every machine, so the right answer is not always on the same side.
fn answer_slot(prompt: &str, n: usize) -> usize {
    let h = prompt.bytes().fold(0x811c_9dc5_u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193));
    h as usize % n.max(1)
}

/// One data row of the answer-first layout.
fn answer_first_row(at: Place, row: &[String], prompt: usize, answer: usize, wrong: &[usize]) -> Result<Question, DeckError> {
    let cell = |i: usize| row.get(i).map_or("", |c| clean(c));
    let prompt = checked_text(at, cell(prompt))?;
    let answer = cell(answer);
    if answer.is_empty() {
        return Err(bad(at, Problem::NoAnswer));
    }
    let wrong: Vec<&str> = wrong.iter().map(|&i| cell(i)).filter(|c| !c.is_empty()).collect();
    if wrong.is_empty() {
        // Only the answer: a true/false question.
        let draft = Draft { prompt, answer: Some(answer.to_string()), ..Draft::default() };
        return draft.finish(at);
    }
    let n = wrong.len() + 1;
    if n > 4 {
        return Err(bad(at, Problem::ChoiceCount(n)));
    }
    let slot = answer_slot(&prompt, n);
    let mut choices = Vec::with_capacity(n);
    for w in wrong {
        choices.push(checked_text(at, w)?);
    }
    choices.insert(slot, checked_text(at, answer)?);
    Ok(Question { prompt, choices, correct: slot, time_secs: DEFAULT_TIME_SECS })
}

/// One data row in the positional layout: `question | choices… | answer`, or a routine.
fn positional_row(deck: &mut Deck, at: Place, cells: &[&str]) -> Result<(), DeckError> {
    let Some((first, rest)) = cells.split_first() else { return Ok(()) };
    if is_one_of(first, ROUTINE_WORDS) {
        deck.routines.push(parse_routine(at, rest)?);
        return Ok(());
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
    push_question(deck, draft.finish(at)?)
}

/// Reads a deck from table rows.
///
/// A first row naming its columns is a header. With wrong-answer columns
/// (`번호 | 문제 | 정답 | 오답1 | 오답2`) each row gives the question, the right answer and
/// the wrong ones, and the right answer is placed among them by the question's text;
/// otherwise the rows are positional (`question | choices… | answer`) and number columns
/// are left out.
pub fn parse_rows(title: &str, rows: &[Vec<String>]) -> Result<Deck, DeckError> {
    let mut deck = Deck { title: title.trim().to_string(), questions: vec![], routines: vec![] };
    let (skip, header) = match find_header(rows) {
        Some((at, header)) => (at + 1, Some(header)),
        None => (0, None),
    };
    let layout = header.as_ref().and_then(Header::answer_first);
    for (i, row) in rows.iter().enumerate().skip(skip) {
        let at = Place::Row(i + 1);
        let is_number = |c: usize| header.as_ref().is_some_and(|h| h.roles.get(c) == Some(&Role::Number));
        let cells: Vec<&str> = row
            .iter()
            .enumerate()
            .filter(|(c, _)| !is_number(*c))
            .map(|(_, cell)| clean(cell))
            .filter(|c| !c.is_empty())
            .collect();
        if cells.is_empty() {
            continue;
        }
        match &layout {
            Some(_) if cells.first().is_some_and(|c| is_one_of(c, ROUTINE_WORDS)) => {
                positional_row(&mut deck, at, &cells)?;
            }
            Some((prompt, answer, wrong)) => {
                push_question(&mut deck, answer_first_row(at, row, *prompt, *answer, wrong)?)?;
            }
            None => positional_row(&mut deck, at, &cells)?,
        }
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
                steps: vec![PoseId::HandsUp, PoseId::TPose, PoseId::Squat]
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
