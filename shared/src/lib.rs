//! Types and pure functions shared by the PoseParty server and client.
//!
//! Nothing here does I/O: the crate is the vocabulary both sides speak.
//! - [`protocol`]: server⇄client signaling messages and peer⇄peer messages, with the
//!   bincode 2 codec and its size limit.
//! - [`pose`]: landmarks, skeletons and named joints (BlazePose's 33-point topology).
//! - [`rules`]: the game rules and scoring, pure and deterministic.
//! - [`deck`]: quiz decks and pose routines.

pub mod deck;
pub mod pose;
pub mod protocol;
pub mod rules;
