//! The quiz deck of the room: a built-in sample deck, replaced by an imported one.

use bevy::prelude::*;
use shared::deck::{Deck, DeckError, parse_rows};

/// The deck Motion Quiz plays.
#[derive(Debug, Clone, Resource)]
pub struct ActiveDeck(pub Deck);

impl Default for ActiveDeck {
    fn default() -> Self {
        // The sample is static text known to parse (a unit test checks it); should it ever
        // fail, an empty deck is played rather than crashing.
        Self(sample_deck().unwrap_or_else(|e| {
            error!("the built-in sample deck does not parse: {e}");
            Deck { title: "—".into(), questions: vec![], routines: vec![] }
        }))
    }
}

const SAMPLE: &[&[&str]] = &[
    &["질문 / Question", "1", "2", "3", "정답 / Answer"],
    &["한국의 수도는? / Capital of Korea?", "부산 Busan", "서울 Seoul", "대구 Daegu", "2"],
    &["김치는 발효 음식이다 / Kimchi is fermented", "O"],
    &["가장 큰 행성은? / Largest planet?", "목성 Jupiter", "화성 Mars", "1"],
    &["고래는 물고기다 / A whale is a fish", "X"],
    &["무지개 색은 몇 가지? / Colours of a rainbow?", "5", "6", "7", "3"],
];

/// The deck played when none was imported.
pub fn sample_deck() -> Result<Deck, DeckError> {
    let rows: Vec<Vec<String>> =
        SAMPLE.iter().map(|r| r.iter().map(|c| c.to_string()).collect()).collect();
    parse_rows("샘플 퀴즈 / Sample quiz", &rows)
}

/// Holds the room's deck.
pub struct DeckPlugin;

impl Plugin for DeckPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<ActiveDeck>();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sample_deck_parses() {
        let deck = super::sample_deck().expect("sample deck");
        assert_eq!(deck.questions.len(), 5);
        assert!(deck.questions[1].is_true_false());
    }
}
