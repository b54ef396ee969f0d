//! Decks from paragraph lines: `Q.` / choices / `Answer:` blocks.

use super::*;

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
    if deck.questions.is_empty() && deck.routines.is_empty() {
        return Err(DeckError::Empty);
    }
    Ok(deck)
}
