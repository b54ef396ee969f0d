//! A round as the server started it: the part of a room's state every node of a cluster
//! can read back (it is mirrored to Redis as it is).

use serde::{Deserialize, Serialize};
use shared::protocol::signal::{GameMode, MatchReport, PeerId};

/// The round a room is playing or has just played, as the server started it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Round {
    pub seed: u64,
    pub mode: GameMode,
    pub start_at_ms: u64,
    pub duration_ms: u32,
    /// Everyone scored: members and their local seats.
    pub players: Vec<PeerId>,
    /// The members (with a connection) among `players`: they report the round.
    pub reporters: Vec<PeerId>,
    /// Names as the server knows them; they replace whatever names reports carry.
    pub names: Vec<(PeerId, String)>,
    pub reports: Vec<(PeerId, MatchReport)>,
    pub recorded: bool,
}
