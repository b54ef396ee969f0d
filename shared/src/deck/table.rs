//! Decks from table rows: one question per row, in a positional layout or with named
//! columns (question / answer / wrong answers).

use super::*;


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
pub(super) fn table_from_cell_lines(lines: &[String]) -> Option<Vec<Vec<String>>> {
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
    if deck.questions.is_empty() && deck.routines.is_empty() {
        return Err(DeckError::Empty);
    }
    Ok(deck)
}
