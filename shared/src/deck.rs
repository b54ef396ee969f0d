//! Quiz decks and pose routines (filled in by the game work, issue 5).
