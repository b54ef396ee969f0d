//! The quiz deck of the room.
//!
//! A built-in sample deck is active until the host imports one:
//! deck file ─► [`doctext::Pool`] (a worker thread, polled each frame, never blocking)
//! ─► `Document` ─► [`shared::deck`] ─► [`Deck`] ─► the other players, in
//! [`DeckChunk`]s on the reliable channel (late joiners included). A failed import (wrong
//! password, no questions, damaged file) is shown in the lobby and the previous deck stays
//! active.
//!
//! - [`ActiveDeck`]: the deck Motion Quiz plays, with where it came from (this module).
//! - [`import`]: reading a file ([`DeckRequest`] from the lobby or `--deck`,
//!   [`ImportStatus`] for the lobby).
//! - [`share`]: the host's transfers and every player's reassembly ([`DeckShare`]).

mod import;
mod share;

use std::path::PathBuf;

use bevy::prelude::*;
use shared::deck::{Deck, DeckError, parse_rows};
use shared::protocol::peer::deck_digest;
use shared::protocol::signal::{GameMode, PeerId, RoomSettings};

pub use import::{DeckRequest, ImportStatus, Importer, Outcome, deck_from_document, outcome, password_message};
pub use share::DeckShare;

use crate::session::{NetCommand, NetEvent};
use crate::state::ClientSet;

/// Where the active deck came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeckOrigin {
    /// The built-in sample.
    Sample,
    /// Imported on this machine from `file`.
    Imported { file: String },
    /// Received from the room's host.
    Host { from: PeerId },
}

/// The deck Motion Quiz plays.
#[derive(Debug, Clone, Resource)]
pub struct ActiveDeck {
    pub deck: Deck,
    pub origin: DeckOrigin,
    /// The deck as shared on the wire, and its digest (empty / 0 if it could not be encoded).
    bytes: Vec<u8>,
    digest: u64,
}

impl ActiveDeck {
    pub fn new(deck: Deck, origin: DeckOrigin) -> Self {
        let bytes = deck.to_bytes().unwrap_or_else(|e| {
            error!("the deck {:?} cannot be shared: {e}", deck.title);
            Vec::new()
        });
        let digest = if bytes.is_empty() { 0 } else { deck_digest(&bytes) };
        Self { deck, origin, bytes, digest }
    }

    /// Identifies the deck's content: equal digests, same deck.
    pub fn digest(&self) -> u64 {
        self.digest
    }
}

impl Default for ActiveDeck {
    fn default() -> Self {
        // The sample is static text known to parse (a unit test checks it); should it ever
        // fail, an empty deck is played rather than crashing.
        let deck = sample_deck().unwrap_or_else(|e| {
            error!("the built-in sample deck does not parse: {e}");
            Deck { title: "—".into(), questions: vec![], routines: vec![] }
        });
        Self::new(deck, DeckOrigin::Sample)
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

/// Whether a round with `settings` plays the room's deck: Motion Quiz, or Pose Rush with a
/// routine. Such a round starts only once every player has confirmed the deck.
pub fn plays_deck(settings: &RoomSettings) -> bool {
    settings.mode == GameMode::MotionQuiz || (settings.mode == GameMode::PoseRush && settings.routine.is_some())
}

/// Why the host cannot start yet, for the lobby (`None`: it can). A round that plays the deck
/// waits for every player to confirm it; a routine must exist in the deck.
pub fn start_blocked(session: &crate::session::Session, share: &DeckShare, active: &ActiveDeck) -> Option<String> {
    let settings = &session.room.as_ref()?.settings;
    if let Some(i) = settings.routine
        && settings.mode == GameMode::PoseRush
        && active.deck.routines.get(usize::from(i)).is_none()
    {
        return Some("덱에 그 루틴이 없어요 / The deck has no such routine — pick another".into());
    }
    if settings.mode == GameMode::MotionQuiz && active.deck.questions.is_empty() {
        return Some("이 덱에는 문제가 없어요 / This deck has no questions — import a quiz or play Pose Rush".into());
    }
    if !plays_deck(settings) {
        return None;
    }
    let missing = share.missing(session, active);
    (!missing.is_empty()).then(|| {
        let names: Vec<String> = missing.iter().map(|&id| session.player_name(id)).collect();
        format!(
            "{}명이 아직 덱을 받는 중 / still receiving the deck: {}",
            missing.len(),
            names.join(", ")
        )
    })
}

/// The deck played when none was imported.
pub fn sample_deck() -> Result<Deck, DeckError> {
    let rows: Vec<Vec<String>> =
        SAMPLE.iter().map(|r| r.iter().map(|c| c.to_string()).collect()).collect();
    parse_rows("샘플 퀴즈 / Sample quiz", &rows)
}

/// Holds the room's deck: imports, shares and receives it.
#[derive(Debug, Clone, Default)]
pub struct DeckPlugin {
    /// A deck file to import at start (`--deck`).
    pub file: Option<PathBuf>,
    /// The password of an encrypted `file`.
    pub password: Option<String>,
}

impl Plugin for DeckPlugin {
    fn build(&self, app: &mut App) {
        let at_start = self.file.clone().map(|path| DeckRequest::Import { path, password: self.password.clone() });
        app.init_resource::<ActiveDeck>()
            .init_resource::<ImportStatus>()
            .init_resource::<Importer>()
            .init_resource::<DeckShare>()
            .add_message::<DeckRequest>()
            .add_message::<NetCommand>()
            .add_message::<NetEvent>()
            .add_systems(Startup, move |mut requests: MessageWriter<DeckRequest>| {
                if let Some(request) = at_start.clone() {
                    requests.write(request);
                }
            })
            .add_systems(
                Update,
                (
                    import::start_imports.run_if(on_message::<DeckRequest>),
                    import::poll_import.run_if(|i: Res<Importer>| i.busy()),
                    share::receive_chunks.run_if(on_message::<NetEvent>),
                )
                    .chain()
                    .in_set(ClientSet::Input),
            )
            .add_systems(Update, share::share_deck.in_set(ClientSet::Net));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_deck_parses() {
        let deck = sample_deck().expect("sample deck");
        assert_eq!(deck.questions.len(), 5);
        assert!(deck.questions[1].is_true_false());
        assert_ne!(ActiveDeck::default().digest(), 0);
    }
}
