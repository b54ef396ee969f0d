//! Peer⇄peer messages over the WebRTC data channels.
//!
//! Every link between two players carries two pre-negotiated data channels:
//! - [`Channel::Reliable`] (SCTP stream 0, reliable + ordered): game events, final scores,
//!   deck transfer.
//! - [`Channel::Unreliable`] (SCTP stream 1, unordered, no retransmission): live poses at
//!   ~30 Hz, live scores and link probes. A lost message is simply superseded by the next.
//!
//! Each data-channel message is one [`PeerMsg`] encoded with the shared codec
//! ([`super::encode`] / [`super::decode`]); a message that fails to decode is counted and
//! dropped by the receiver, never trusted.
//!
//! Live poses are quantized ([`QuantizedSkeleton`]): 16 bits per coordinate and 8 bits of
//! visibility per landmark, about 5× smaller than `f32`s, with a resolution far below what
//! a pose model can distinguish.

use serde::{Deserialize, Serialize};
use serde_big_array::BigArray;

use super::signal::{MatchReport, PeerId};
use crate::pose::{LANDMARK_COUNT, Landmark, Skeleton};

/// Which data channel of a link a message travels on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Channel {
    /// Stream 0: reliable and ordered.
    Reliable,
    /// Stream 1: unordered, `maxRetransmits = 0`.
    Unreliable,
}

impl Channel {
    /// The SCTP stream id both peers pre-negotiate for this channel.
    pub const fn stream_id(self) -> u16 {
        match self {
            Channel::Reliable => 0,
            Channel::Unreliable => 1,
        }
    }
}

/// One message between two players.
// The pose variant is ~270 bytes; messages are short-lived values, boxing it would only add
// an allocation per pose.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PeerMsg {
    /// Link probe (unreliable channel), answered with [`PeerMsg::Pong`] echoing the fields.
    /// `sent_us` is the sender's own monotonic clock; only the sender interprets it.
    Ping { nonce: u32, sent_us: u64 },
    /// Link handshake on the reliable channel, sent when both channels of a new link are open
    /// on the sender's side. Neither side sends on the unreliable channel before it has the
    /// other's `LinkUp`: a message arriving on a stream the receiver has not configured yet
    /// would make its SCTP stack create that stream with default (reliable) settings and
    /// drop the message. `open: false` is repeated until the peer's `LinkUp` arrives and is
    /// answered once with `open: true`.
    LinkUp { open: bool },
    Pong { nonce: u32, sent_us: u64 },
    /// The sender's current skeleton (unreliable, ~30 Hz).
    Pose(LivePose),
    /// The sender's running score (unreliable; the authoritative stream is [`PeerMsg::Game`]).
    Score(LiveScore),
    /// Something that changed the sender's score (reliable).
    Game(GameEvent),
    /// The sender's final scoreboard of a round (reliable).
    Final(MatchReport),
    /// One piece of a deck the host shares with the room (reliable).
    DeckChunk(DeckChunk),
    /// Free-form application data on either channel (e.g. UI hints between clients of the
    /// same version). At most [`MAX_APP_BYTES`].
    App { kind: u16, bytes: Vec<u8> },
    /// The sender now plays the deck with this [`deck_digest`] (reliable, to the host after a
    /// transfer), so the host can tell who has the room's deck.
    DeckHave { digest: u64 },
    /// The sender's camera picture and microphone in the call (reliable; on every change and
    /// to every new link), so the others can label its tile.
    Media(MediaState),
}

/// One device of the call, as the others should label it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum DeviceState {
    /// Working and sent.
    #[default]
    On,
    /// Turned off by the player (the camera button, the mute button).
    Off,
    /// Not there, or it could not be opened.
    Missing,
}

/// What a player's call sends: [`PeerMsg::Media`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub struct MediaState {
    pub camera: DeviceState,
    pub microphone: DeviceState,
}

/// Largest payload of [`PeerMsg::App`].
pub const MAX_APP_BYTES: usize = 16 * 1024;

/// A skeleton sent live to the other players.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LivePose {
    /// Whose pose: 0 for the sender's own player, n for its local seat n
    /// ([`super::signal::RoomSnapshot::seat_player`]).
    pub seat: u8,
    /// Increases with every pose the sender sends for this seat; receivers drop older ones
    /// (unordered).
    pub seq: u32,
    /// Milliseconds since the round started on the server clock (0 outside a round).
    pub round_ms: u32,
    /// `None` when the sender's model currently sees nobody.
    pub skeleton: Option<QuantizedSkeleton>,
}

/// The sender's running score, for the HUD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveScore {
    /// Whose score (see [`LivePose::seat`]).
    pub seat: u8,
    pub seq: u32,
    pub totals: ScoreTotals,
}

/// A player's score so far in a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ScoreTotals {
    pub points: u32,
    pub hits: u32,
    pub streak: u32,
    pub best_streak: u32,
}

/// A scoring event of the sender, on the reliable channel. Every event carries the sender's
/// totals after it, so a receiver's view of the sender is simply the totals of the last event
/// it saw: all players end the round with the same scoreboard without replaying rules for
/// other players.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GameEvent {
    /// The round this event belongs to (the seed from `GameStarting`).
    pub round_seed: u64,
    /// Whose event (see [`LivePose::seat`]).
    pub seat: u8,
    /// Increases with every event of this seat in a round, starting at 1.
    pub seq: u32,
    /// Milliseconds since the round started.
    pub round_ms: u32,
    pub kind: GameEventKind,
    /// The seat's totals after this event.
    pub totals: ScoreTotals,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GameEventKind {
    /// Target pose `target` (index in the round's sequence) matched and held.
    Hit { target: u16, points: u32 },
    /// Target pose `target` ran out of time.
    Miss { target: u16 },
    /// Quiz answer for question `question`: the choice made (`None`: no answer in time).
    Answer { question: u16, choice: Option<u8>, correct: bool, points: u32 },
    /// The sender finished the round (its last event).
    Finished,
}

/// One piece of a serialized deck. Chunks travel in order on the reliable channel; each
/// carries the length and digest of the whole deck so the receiver can check the result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeckChunk {
    /// Identifies one transfer; a new transfer replaces an unfinished one.
    pub transfer: u32,
    pub index: u32,
    pub total: u32,
    /// Bytes of the whole deck.
    pub len: u32,
    /// [`deck_digest`] of the whole deck.
    pub digest: u64,
    pub bytes: Vec<u8>,
}

/// Bytes of deck data per [`DeckChunk`], well below the frame limit.
pub const DECK_CHUNK_BYTES: usize = 16 * 1024;
/// Largest deck accepted by [`DeckAssembler`].
pub const MAX_DECK_BYTES: usize = 8 * 1024 * 1024;

/// 64-bit FNV-1a of the deck bytes: catches a transfer that lost or mixed up pieces (it is
/// not a defence against a malicious host, who chooses the deck anyway).
pub fn deck_digest(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// How many chunks a deck of `len` bytes travels in.
fn chunk_count(len: usize) -> usize {
    len.div_ceil(DECK_CHUNK_BYTES).max(1)
}

/// Splits `bytes` into chunks of [`DECK_CHUNK_BYTES`] for transfer `transfer`.
pub fn deck_chunks(transfer: u32, bytes: &[u8]) -> Vec<DeckChunk> {
    let pieces: Vec<&[u8]> = if bytes.is_empty() {
        vec![&[][..]]
    } else {
        bytes.chunks(DECK_CHUNK_BYTES).collect()
    };
    let total = pieces.len() as u32;
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    let digest = deck_digest(bytes);
    pieces
        .into_iter()
        .enumerate()
        .map(|(i, piece)| DeckChunk { transfer, index: i as u32, total, len, digest, bytes: piece.to_vec() })
        .collect()
}

/// Why a deck transfer was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeckTransferError {
    #[error("deck chunk {index} of {total} arrived out of order (expected {expected}) — ask the host to send the deck again")]
    OutOfOrder { index: u32, total: u32, expected: u32 },
    #[error("deck transfer would exceed {max} bytes — the deck is too large to share")]
    TooLarge { max: usize },
    #[error("deck chunk claims {total} chunks, which is not a valid transfer")]
    BadTotal { total: u32 },
    #[error("deck chunk {index} carries {len} bytes, more than a chunk may — dropped")]
    OversizedChunk { index: u32, len: usize },
    #[error("deck chunk {index} disagrees with the transfer's length or digest — ask the host to send the deck again")]
    Inconsistent { index: u32 },
    #[error("the received deck does not match its length or digest — ask the host to send the deck again")]
    Corrupt,
}

/// Reassembles one peer's deck transfer from its chunks.
#[derive(Debug, Default)]
pub struct DeckAssembler {
    transfer: Option<u32>,
    expected: u32,
    total: u32,
    len: u32,
    digest: u64,
    bytes: Vec<u8>,
}

impl DeckAssembler {
    /// Feeds one chunk. Returns the whole deck once its last chunk arrived and the result has
    /// the announced length and digest. Any error drops the transfer in progress.
    pub fn push(&mut self, chunk: DeckChunk) -> Result<Option<Vec<u8>>, DeckTransferError> {
        let result = self.accept(chunk);
        if result.is_err() {
            *self = Self::default();
        }
        result
    }

    fn accept(&mut self, chunk: DeckChunk) -> Result<Option<Vec<u8>>, DeckTransferError> {
        let max_chunks = chunk_count(MAX_DECK_BYTES) as u32;
        if chunk.total == 0 || chunk.total > max_chunks {
            return Err(DeckTransferError::BadTotal { total: chunk.total });
        }
        if chunk.len as usize > MAX_DECK_BYTES {
            return Err(DeckTransferError::TooLarge { max: MAX_DECK_BYTES });
        }
        if chunk_count(chunk.len as usize) != chunk.total as usize {
            return Err(DeckTransferError::BadTotal { total: chunk.total });
        }
        if chunk.bytes.len() > DECK_CHUNK_BYTES {
            return Err(DeckTransferError::OversizedChunk { index: chunk.index, len: chunk.bytes.len() });
        }
        if self.transfer != Some(chunk.transfer) || chunk.index == 0 {
            // A new transfer (or a restart of this one) replaces whatever was in progress.
            *self = Self {
                transfer: Some(chunk.transfer),
                expected: 0,
                total: chunk.total,
                len: chunk.len,
                digest: chunk.digest,
                bytes: Vec::new(),
            };
        }
        if chunk.index != self.expected || chunk.total != self.total {
            return Err(DeckTransferError::OutOfOrder { index: chunk.index, total: chunk.total, expected: self.expected });
        }
        if chunk.len != self.len || chunk.digest != self.digest {
            return Err(DeckTransferError::Inconsistent { index: chunk.index });
        }
        if self.bytes.len() + chunk.bytes.len() > self.len as usize {
            return Err(DeckTransferError::Corrupt);
        }
        self.bytes.extend_from_slice(&chunk.bytes);
        self.expected += 1;
        if self.expected < self.total {
            return Ok(None);
        }
        let done = std::mem::take(&mut self.bytes);
        *self = Self::default();
        if done.len() != chunk.len as usize || deck_digest(&done) != chunk.digest {
            return Err(DeckTransferError::Corrupt);
        }
        Ok(Some(done))
    }
}

/// One landmark quantized for the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct QuantizedLandmark {
    pub x: u16,
    pub y: u16,
    pub z: u16,
    /// Visibility 0–1 in 1/255 steps.
    pub visibility: u8,
}

/// A skeleton quantized for the wire: 33 landmarks plus the detection score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuantizedSkeleton {
    #[serde(with = "BigArray")]
    pub landmarks: [QuantizedLandmark; LANDMARK_COUNT],
    /// Detection score 0–1 in 1/255 steps.
    pub score: u8,
}

/// Range of `x` and `y` on the wire: normalised image coordinates with a margin for limbs
/// the model places outside the picture. Values outside are clamped.
pub const XY_RANGE: (f32, f32) = (-1.0, 2.0);
/// Range of `z` on the wire (depth relative to the hips, image-width scale).
pub const Z_RANGE: (f32, f32) = (-2.0, 2.0);

fn quantize16(v: f32, (lo, hi): (f32, f32)) -> u16 {
    if !v.is_finite() {
        // NaN from a broken model output becomes the centre of the range, never a panic.
        return quantize16((lo + hi) / 2.0, (lo, hi));
    }
    let t = ((v - lo) / (hi - lo)).clamp(0.0, 1.0);
    (t * f32::from(u16::MAX)).round() as u16
}

fn dequantize16(q: u16, (lo, hi): (f32, f32)) -> f32 {
    lo + (f32::from(q) / f32::from(u16::MAX)) * (hi - lo)
}

fn quantize8(v: f32) -> u8 {
    if !v.is_finite() {
        return 0;
    }
    (v.clamp(0.0, 1.0) * 255.0).round() as u8
}

fn dequantize8(q: u8) -> f32 {
    f32::from(q) / 255.0
}

/// Largest error of a quantized `x`/`y` coordinate inside [`XY_RANGE`].
pub const XY_STEP: f32 = (XY_RANGE.1 - XY_RANGE.0) / u16::MAX as f32;

impl QuantizedSkeleton {
    /// Quantizes a skeleton. `presence` is not sent (receivers only draw and score
    /// visibility); it comes back as equal to visibility.
    pub fn from_skeleton(skeleton: &Skeleton) -> Self {
        let landmarks = skeleton.landmarks.map(|l| QuantizedLandmark {
            x: quantize16(l.x, XY_RANGE),
            y: quantize16(l.y, XY_RANGE),
            z: quantize16(l.z, Z_RANGE),
            visibility: quantize8(l.visibility),
        });
        Self { landmarks, score: quantize8(skeleton.score) }
    }

    /// The skeleton back, within half a quantization step of the original (clamped to the
    /// wire ranges).
    pub fn to_skeleton(&self) -> Skeleton {
        let landmarks = self.landmarks.map(|q| {
            let visibility = dequantize8(q.visibility);
            Landmark {
                x: dequantize16(q.x, XY_RANGE),
                y: dequantize16(q.y, XY_RANGE),
                z: dequantize16(q.z, Z_RANGE),
                visibility,
                presence: visibility,
            }
        });
        Skeleton::new(landmarks, dequantize8(self.score))
    }
}

/// Counts of what a receiver dropped, per remote peer or in total.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DropCounts {
    /// Messages that failed to decode.
    pub undecodable: u64,
    /// Live messages older than one already received (unordered channel).
    pub stale: u64,
}

/// Keeps the newest sequence number per sender so late unordered messages are dropped.
#[derive(Debug, Clone, Default)]
pub struct NewestSeq {
    newest: std::collections::HashMap<PeerId, u32>,
}

impl NewestSeq {
    /// True when `seq` from `from` is newer than everything seen so far (and records it).
    pub fn accept(&mut self, from: PeerId, seq: u32) -> bool {
        match self.newest.get(&from) {
            Some(&newest) if seq <= newest => false,
            _ => {
                self.newest.insert(from, seq);
                true
            }
        }
    }

    /// Forgets a sender (it left, or a new round starts).
    pub fn forget(&mut self, from: PeerId) {
        self.newest.remove(&from);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{decode, encode};
    use crate::protocol::signal::ScoreLine;

    fn sample_skeleton() -> Skeleton {
        let mut landmarks = [Landmark::default(); LANDMARK_COUNT];
        for (i, l) in landmarks.iter_mut().enumerate() {
            let f = i as f32 / LANDMARK_COUNT as f32;
            *l = Landmark { x: 0.1 + 0.8 * f, y: 0.9 - 0.7 * f, z: -0.5 + f, visibility: f, presence: f };
        }
        Skeleton::new(landmarks, 0.87)
    }

    #[test]
    fn quantization_round_trip_is_within_half_a_step() {
        let s = sample_skeleton();
        let back = QuantizedSkeleton::from_skeleton(&s).to_skeleton();
        let z_step = (Z_RANGE.1 - Z_RANGE.0) / f32::from(u16::MAX);
        for (a, b) in s.landmarks.iter().zip(back.landmarks.iter()) {
            assert!((a.x - b.x).abs() <= XY_STEP / 2.0 + 1e-6, "x {} vs {}", a.x, b.x);
            assert!((a.y - b.y).abs() <= XY_STEP / 2.0 + 1e-6, "y {} vs {}", a.y, b.y);
            assert!((a.z - b.z).abs() <= z_step / 2.0 + 1e-6, "z {} vs {}", a.z, b.z);
            assert!((a.visibility - b.visibility).abs() <= 0.5 / 255.0 + 1e-6);
        }
        assert!((s.score - back.score).abs() <= 0.5 / 255.0 + 1e-6);
    }

    #[test]
    fn quantization_clamps_out_of_range_and_nan() {
        let mut s = sample_skeleton();
        s.landmarks[0].x = 57.0;
        s.landmarks[1].y = -30.0;
        s.landmarks[2].z = f32::NAN;
        s.landmarks[3].visibility = f32::INFINITY;
        let back = QuantizedSkeleton::from_skeleton(&s).to_skeleton();
        assert_eq!(back.landmarks[0].x, XY_RANGE.1);
        assert_eq!(back.landmarks[1].y, XY_RANGE.0);
        assert!(back.landmarks[2].z.abs() < 1e-3, "NaN becomes the middle of the range");
        assert_eq!(back.landmarks[3].visibility, 0.0);
    }

    #[test]
    fn live_pose_is_small_on_the_wire() {
        let msg = PeerMsg::Pose(LivePose {
            seat: 2,
            seq: 1234,
            round_ms: 30_000,
            skeleton: Some(QuantizedSkeleton::from_skeleton(&sample_skeleton())),
        });
        let bytes = encode(&msg).unwrap();
        // 33 × (3 × ≤3 + 1) varint bytes plus a few header bytes; f32s would be 33 × 20.
        assert!(bytes.len() <= 33 * 10 + 16, "{} bytes", bytes.len());
        assert_eq!(decode::<PeerMsg>(&bytes).unwrap(), msg);
    }

    #[test]
    fn every_message_kind_round_trips_through_the_codec() {
        let totals = ScoreTotals { points: 1200, hits: 4, streak: 2, best_streak: 3 };
        let msgs = vec![
            PeerMsg::Ping { nonce: 7, sent_us: 123_456_789 },
            PeerMsg::LinkUp { open: true },
            PeerMsg::Pong { nonce: 7, sent_us: 123_456_789 },
            PeerMsg::Pose(LivePose { seat: 0, seq: 0, round_ms: 0, skeleton: None }),
            PeerMsg::Score(LiveScore { seat: 0, seq: 9, totals }),
            PeerMsg::Game(GameEvent {
                round_seed: u64::MAX,
                seat: 0,
                seq: 1,
                round_ms: 4_200,
                kind: GameEventKind::Hit { target: 3, points: 300 },
                totals,
            }),
            PeerMsg::Game(GameEvent {
                round_seed: 1,
                seat: 3,
                seq: 2,
                round_ms: 9_000,
                kind: GameEventKind::Answer { question: 1, choice: None, correct: false, points: 0 },
                totals,
            }),
            PeerMsg::Final(MatchReport {
                round_seed: 42,
                scores: vec![ScoreLine {
                    player: 3,
                    name: "민수".into(),
                    points: 1200,
                    hits: 4,
                    best_streak: 3,
                    dropped: false,
                }],
            }),
            PeerMsg::DeckChunk(deck_chunks(1, &[1, 2, 3]).remove(0)),
            PeerMsg::App { kind: 2, bytes: vec![0; 100] },
            PeerMsg::DeckHave { digest: u64::MAX },
            PeerMsg::Media(MediaState { camera: DeviceState::Missing, microphone: DeviceState::Off }),
        ];
        for msg in msgs {
            let bytes = encode(&msg).unwrap();
            assert_eq!(decode::<PeerMsg>(&bytes).unwrap(), msg);
        }
    }

    #[test]
    fn garbage_and_truncated_frames_are_errors() {
        let msg = PeerMsg::Score(LiveScore { seat: 0, seq: 9, totals: ScoreTotals::default() });
        let bytes = encode(&msg).unwrap();
        for cut in 0..bytes.len() {
            assert!(decode::<PeerMsg>(&bytes[..cut]).is_err(), "prefix of {cut} bytes decoded");
        }
        assert!(decode::<PeerMsg>(&[0xff; 40]).is_err());
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(decode::<PeerMsg>(&trailing).is_err());
    }

    #[test]
    fn deck_chunks_reassemble() {
        let deck: Vec<u8> = (0..(DECK_CHUNK_BYTES * 2 + 17)).map(|i| (i % 251) as u8).collect();
        let chunks = deck_chunks(5, &deck);
        assert_eq!(chunks.len(), 3);
        let mut asm = DeckAssembler::default();
        assert_eq!(asm.push(chunks[0].clone()), Ok(None));
        assert_eq!(asm.push(chunks[1].clone()), Ok(None));
        assert_eq!(asm.push(chunks[2].clone()), Ok(Some(deck)));
        // Empty decks are one empty chunk.
        let empty = deck_chunks(6, &[]);
        assert_eq!(DeckAssembler::default().push(empty[0].clone()), Ok(Some(vec![])));
    }

    #[test]
    fn deck_assembler_refuses_gaps_and_bad_totals() {
        let deck = vec![7u8; DECK_CHUNK_BYTES * 3];
        let chunks = deck_chunks(1, &deck);
        let mut asm = DeckAssembler::default();
        asm.push(chunks[0].clone()).unwrap();
        assert!(matches!(asm.push(chunks[2].clone()), Err(DeckTransferError::OutOfOrder { .. })));
        let huge = DeckChunk { transfer: 2, index: 0, total: u32::MAX, len: 0, digest: 0, bytes: vec![] };
        assert!(matches!(asm.push(huge), Err(DeckTransferError::BadTotal { .. })));
        // A total that does not fit the announced length.
        let mut wrong_total = chunks[0].clone();
        wrong_total.total = 2;
        assert!(matches!(asm.push(wrong_total), Err(DeckTransferError::BadTotal { .. })));
        let mut too_long = chunks[0].clone();
        too_long.len = (MAX_DECK_BYTES + 1) as u32;
        too_long.total = chunk_count(MAX_DECK_BYTES + 1) as u32;
        assert!(matches!(asm.push(too_long), Err(DeckTransferError::BadTotal { .. } | DeckTransferError::TooLarge { .. })));
        let mut fat = chunks[0].clone();
        fat.bytes.push(0);
        assert!(matches!(asm.push(fat), Err(DeckTransferError::OversizedChunk { .. })));
    }

    #[test]
    fn deck_assembler_checks_length_and_digest() {
        let deck: Vec<u8> = (0..(DECK_CHUNK_BYTES + 100)).map(|i| (i % 7) as u8).collect();
        let chunks = deck_chunks(3, &deck);
        // A flipped byte: every chunk arrives, the digest catches it.
        let mut asm = DeckAssembler::default();
        let mut flipped = chunks[1].clone();
        flipped.bytes[0] ^= 1;
        assert_eq!(asm.push(chunks[0].clone()), Ok(None));
        assert_eq!(asm.push(flipped), Err(DeckTransferError::Corrupt));
        // A chunk from the same transfer announcing another digest.
        let mut other = chunks[1].clone();
        other.digest ^= 1;
        asm.push(chunks[0].clone()).unwrap();
        assert_eq!(asm.push(other), Err(DeckTransferError::Inconsistent { index: 1 }));
        // A short last chunk: the length check catches it.
        let mut short = chunks[1].clone();
        short.bytes.pop();
        asm.push(chunks[0].clone()).unwrap();
        assert_eq!(asm.push(short), Err(DeckTransferError::Corrupt));
        // After all those errors the assembler still takes a clean transfer.
        asm.push(chunks[0].clone()).unwrap();
        assert_eq!(asm.push(chunks[1].clone()), Ok(Some(deck)));
    }

    #[test]
    fn newest_seq_drops_late_messages() {
        let mut newest = NewestSeq::default();
        assert!(newest.accept(1, 5));
        assert!(!newest.accept(1, 5));
        assert!(!newest.accept(1, 3));
        assert!(newest.accept(2, 1));
        assert!(newest.accept(1, 6));
        newest.forget(1);
        assert!(newest.accept(1, 0));
    }
}
