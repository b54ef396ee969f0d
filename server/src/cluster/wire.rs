//! What nodes say to each other over Redis (pub/sub payloads) and what they keep there
//! (reconnect tokens, room records), bincode-encoded. Only nodes of one build share a
//! cluster: the records carry [`RECORD_VERSION`] and a node refuses others.

use serde::{Deserialize, Serialize};
use shared::protocol::signal::{ClientMsg, LoadingStage, PeerId, RoomPhase, RoomSettings, RoomVisibility};

/// Bumped whenever a record's layout changes.
pub const RECORD_VERSION: u16 = 1;

/// A node's id: `n<sequence>`, unique in the cluster for its lifetime.
pub type NodeId = String;

/// A message to one node (published on its channel).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum NodeMsg {
    /// To a room's home: a message of `peer`, connected at `gateway`, about its room (or a
    /// join to a room homed there). `name` is the player's name; `ip` its address key.
    /// `quick`: a join quick match chose (its attempt): a refusal sends the player back to
    /// pick another room ([`NodeMsg::QuickRetry`]) instead of an error.
    Op { peer: PeerId, gateway: NodeId, name: String, ip: String, msg: ClientMsg, quick: Option<u8> },
    /// To a room's home (or to the node that held the player's session, when the room is
    /// not known): `peer` is connected again, now at `gateway`; `room` is the room its token
    /// named.
    Reattach { peer: PeerId, gateway: NodeId, name: String, room: Option<String> },
    /// To a room's home: `peer`'s connection at its gateway is gone (its seat waits for the
    /// reconnect grace).
    Gone { peer: PeerId, gateway: NodeId },
    /// To a gateway: an encoded `ServerMsg` frame for its connection `peer`.
    Deliver { peer: PeerId, frame: Vec<u8> },
    /// To a gateway: `peer` is now in room `code` homed at `home` (or in no room).
    InRoom { peer: PeerId, room: Option<(String, NodeId)> },
    /// To a gateway: close `peer`'s connection (it is too slow, or its seat was taken over).
    Kick { peer: PeerId },
    /// To a gateway: the room quick match picked for `peer` filled up meanwhile; pick again
    /// (`attempt` counts the tries).
    QuickRetry { peer: PeerId, attempt: u8 },
}

/// What a reconnect token stands for (key `pp:token:<token>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub version: u16,
    pub peer: PeerId,
    pub name: String,
    /// The player's room when the token was last written.
    pub room: Option<String>,
    /// The node that held the session then.
    pub node: NodeId,
}

/// A room as its home node mirrors it (key `pp:room:<code>`, field `rec`), enough for
/// another node to take the room over when the home is gone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoomRecord {
    pub version: u16,
    pub code: String,
    pub host: PeerId,
    pub settings: RoomSettings,
    pub phase: RoomPhase,
    pub cap: u8,
    pub visibility: RoomVisibility,
    pub loading_gen: u64,
    pub seats: Vec<SeatRecord>,
    pub round: Option<crate::round::Round>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeatRecord {
    pub id: PeerId,
    pub name: String,
    pub stage: LoadingStage,
    pub progress: f32,
    pub ready: bool,
    /// Where the member is connected (`None`: disconnected).
    pub gateway: Option<NodeId>,
    pub locals: Vec<(PeerId, String)>,
}

/// Records and messages between nodes may be larger than a client frame (a room's reports).
type NodeCodec = shared::protocol::Codec<{ 4 << 20 }>;

/// Encodes a node message or record.
pub fn encode<T: Serialize>(value: &T) -> Option<Vec<u8>> {
    match NodeCodec::encode(value) {
        Ok(bytes) => Some(bytes),
        Err(e) => {
            tracing::error!("cluster: cannot encode: {e}");
            None
        }
    }
}

/// Decodes what another node wrote; `None` (logged) for anything malformed.
pub fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    match NodeCodec::decode(bytes) {
        Ok(value) => Some(value),
        Err(e) => {
            tracing::warn!("cluster: malformed record or message ({e}); ignored");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_records_round_trip_and_garbage_is_refused() {
        let msg = NodeMsg::Op { peer: 7, gateway: "n2".into(), name: "민수".into(), ip: "127.0.0.1".into(), msg: ClientMsg::SetReady { ready: true }, quick: None };
        let bytes = encode(&msg).unwrap_or_default();
        assert_eq!(decode::<NodeMsg>(&bytes), Some(msg));
        let token = TokenRecord { version: RECORD_VERSION, peer: 9, name: "Bo".into(), room: Some("ABCDEF".into()), node: "n1-00ff".into() };
        assert_eq!(decode::<TokenRecord>(&encode(&token).unwrap_or_default()), Some(token));
        assert_eq!(decode::<NodeMsg>(&[0xff; 7]), None);
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert_eq!(decode::<NodeMsg>(&trailing), None);
    }
}
