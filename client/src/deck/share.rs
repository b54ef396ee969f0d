//! Sharing the host's deck: the host sends it in `PeerMsg::DeckChunk`s on the reliable channel to
//! every linked player who does not have it yet (late joiners and relinked players too);
//! every player reassembles it (checked against the total length, the size cap and the
//! digest), switches to it and confirms it with [`PeerMsg::DeckHave`].

use std::collections::HashMap;

use bevy::prelude::*;
use shared::deck::Deck;
use shared::protocol::peer::{Channel, DeckAssembler, PeerMsg, deck_chunks};
use shared::protocol::signal::PeerId;

use super::{ActiveDeck, DeckOrigin};
use crate::session::{LinkState, MeshCommand, NetCommand, NetEvent, Session};

/// Deck transfers between the players.
#[derive(Debug, Default, Resource)]
pub struct DeckShare {
    next_transfer: u32,
    /// Digest of the deck each peer was last sent (host only).
    sent: HashMap<PeerId, u64>,
    /// Digest of the deck each peer says it plays ([`PeerMsg::DeckHave`]; host only).
    holding: HashMap<PeerId, u64>,
    assemblers: HashMap<PeerId, DeckAssembler>,
    /// Decks this player sent and received whole.
    pub transfers_sent: u64,
    pub decks_received: u64,
    /// Chunks dropped: not from the host, malformed, out of order, or completing a deck that
    /// failed its checks.
    pub bad_chunks: u64,
}

impl DeckShare {
    /// The connected players (other than this one, the host) who have not confirmed the
    /// `active` deck yet.
    pub fn missing(&self, session: &Session, active: &ActiveDeck) -> Vec<PeerId> {
        let Some(room) = session.room.as_ref() else { return Vec::new() };
        let me = session.my_id();
        room.players
            .iter()
            // Local seats play on their device's deck (theirs or ours).
            .filter(|p| Some(p.id) != me && p.device.is_none() && p.connected && !self.has_deck(p.id, active.digest()))
            .map(|p| p.id)
            .collect()
    }

    /// `peer` told the host it plays the deck with `digest`.
    pub fn has_deck(&self, peer: PeerId, digest: u64) -> bool {
        self.holding.get(&peer) == Some(&digest)
    }
}

/// Every player: reassembles the host's deck from its chunks, switches to it and tells the
/// host. The host: notes who has which deck.
pub(super) fn receive_chunks(
    mut events: MessageReader<NetEvent>,
    session: Res<Session>,
    mut share: ResMut<DeckShare>,
    mut active: ResMut<ActiveDeck>,
    mut net: MessageWriter<NetCommand>,
) {
    let host = session.room.as_ref().map(|r| r.host);
    for ev in events.read() {
        let (from, chunk) = match ev {
            NetEvent::Peer { from, msg: PeerMsg::DeckChunk(chunk) } => (from, chunk),
            NetEvent::Peer { from, msg: PeerMsg::DeckHave { digest } } => {
                share.holding.insert(*from, *digest);
                continue;
            }
            _ => continue,
        };
        if host != Some(*from) || session.my_id() == Some(*from) {
            share.bad_chunks += 1;
            warn!("deck chunk from player {from}, who is not the host: dropped");
            continue;
        }
        let bytes = match share.assemblers.entry(*from).or_default().push(chunk.clone()) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => continue,
            Err(e) => {
                share.bad_chunks += 1;
                warn!("deck chunk from player {from} dropped: {e}");
                continue;
            }
        };
        match Deck::from_bytes(&bytes) {
            Ok(deck) => {
                share.decks_received += 1;
                let incoming = ActiveDeck::new(deck, DeckOrigin::Host { from: *from });
                if incoming.digest() != active.digest() || active.origin == DeckOrigin::Sample {
                    info!(
                        "the host shared the deck “{}” ({} questions)",
                        incoming.deck.title,
                        incoming.deck.questions.len()
                    );
                    *active = incoming;
                }
                let have = PeerMsg::DeckHave { digest: active.digest() };
                net.write(MeshCommand::SendTo { to: *from, channel: Channel::Reliable, msg: have }.into());
            }
            Err(e) => {
                share.bad_chunks += 1;
                warn!("the deck from player {from} was refused: {e}");
            }
        }
    }
}

/// The host: sends the active deck to every linked player who does not have it yet (after
/// an import, and to players who join or relink later).
pub(super) fn share_deck(
    session: Res<Session>,
    active: Res<ActiveDeck>,
    mut share: ResMut<DeckShare>,
    mut net: MessageWriter<NetCommand>,
) {
    let Some(room) = session.room.as_ref().filter(|_| session.is_host()) else {
        if !share.sent.is_empty() {
            share.sent.clear();
        }
        return;
    };
    if active.bytes.is_empty() {
        return;
    }
    let me = session.my_id();
    // Players no longer linked get the deck again when their link is back.
    let linked = |id: &PeerId| session.links.get(id).is_some_and(|l| l.state == LinkState::Open);
    share.sent.retain(|id, _| linked(id));
    share.holding.retain(|id, _| linked(id));
    for p in room.players.iter().filter(|p| Some(p.id) != me && p.device.is_none() && p.connected && linked(&p.id)) {
        if share.sent.get(&p.id) == Some(&active.digest) {
            continue;
        }
        share.next_transfer = share.next_transfer.wrapping_add(1);
        let chunks = deck_chunks(share.next_transfer, &active.bytes);
        debug!("sending the deck to player {} in {} chunks", p.id, chunks.len());
        for chunk in chunks {
            net.write(
                MeshCommand::SendTo { to: p.id, channel: Channel::Reliable, msg: PeerMsg::DeckChunk(chunk) }.into(),
            );
        }
        share.sent.insert(p.id, active.digest);
        share.transfers_sent += 1;
    }
}


#[cfg(test)]
mod tests {
    use super::*;
    use crate::deck::start_blocked;
    use crate::session::Connection;
    use shared::protocol::signal::{GameMode, LoadingStage, PlayerInfo, RoomPhase, RoomSettings, RoomSnapshot};

    fn session(settings: RoomSettings) -> Session {
        let player = |id, name: &str| PlayerInfo {
            id,
            name: name.into(),
            connected: true,
            stage: LoadingStage::Idle,
            progress: 0.0,
            ready: false,
            device: None,
        };
        Session {
            connection: Connection::Online { my_id: 1 },
            room: Some(RoomSnapshot {
                code: "ACDEFG".into(),
                host: 1,
                settings,
                phase: RoomPhase::Lobby,
                players: vec![player(1, "민수"), player(2, "지은"), player(3, "하늘")],
                cap: 8,
                visibility: shared::protocol::signal::RoomVisibility::Private,
            }),
            ..Session::default()
        }
    }

    /// A quiz or a routine waits for every player's confirmation of the deck; random Pose
    /// Rush does not; a routine the deck lacks, or a quiz without questions, never starts.
    #[test]
    fn a_round_that_plays_the_deck_waits_for_every_player() {
        let active = ActiveDeck::default();
        let mut share = DeckShare::default();
        let quiz = session(RoomSettings { mode: GameMode::MotionQuiz, ..RoomSettings::default() });
        let why = start_blocked(&quiz, &share, &active).expect("blocked");
        assert!(why.contains("지은") && why.contains("하늘") && why.contains("2명"), "{why}");
        share.holding.insert(2, active.digest());
        let why = start_blocked(&quiz, &share, &active).expect("still blocked");
        assert!(!why.contains("지은") && why.contains("하늘"), "{why}");
        share.holding.insert(3, active.digest() ^ 1); // an older deck
        assert!(start_blocked(&quiz, &share, &active).is_some());
        share.holding.insert(3, active.digest());
        assert_eq!(start_blocked(&quiz, &share, &active), None);

        let random = session(RoomSettings::default());
        assert_eq!(start_blocked(&random, &DeckShare::default(), &active), None, "random targets need no deck");
        let routine = session(RoomSettings { routine: Some(0), ..RoomSettings::default() });
        let why = start_blocked(&routine, &DeckShare::default(), &active).expect("the sample deck has no routine");
        assert!(why.contains("no such routine"), "{why}");
    }
}
