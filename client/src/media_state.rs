//! What each player's camera and microphone are doing in the call ([`MediaState`]: on,
//! turned off, missing) goes to every peer on each change and to each new link
//! ([`PeerMedia`]), so a tile can say "camera off" or "no microphone" instead of just going
//! still. Added (by `app`) with the video or the voice call.

use std::collections::BTreeMap;

use bevy::prelude::*;
use shared::protocol::peer::{DeviceState, MediaState, PeerMsg};
use shared::protocol::signal::PeerId;

use crate::call::Call;
use crate::camera::CameraStatus;
use crate::session::{MeshCommand, NetCommand, NetEvent, Session};
use crate::state::ClientSet;
use crate::voice::Sound;

/// This player's and the peers' [`MediaState`] (added by the video and the voice call).
#[derive(Resource, Debug, Default)]
pub struct PeerMedia {
    pub mine: MediaState,
    pub peers: BTreeMap<PeerId, MediaState>,
    /// The open links the current state went to.
    told: Vec<PeerId>,
}

/// Shares [`PeerMedia`].
#[derive(Debug, Clone, Copy, Default)]
pub struct MediaStatePlugin;

impl Plugin for MediaStatePlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<PeerMedia>().add_systems(Update, share_media_state.in_set(ClientSet::Net));
    }
}

/// This player's camera and microphone as the others should see them.
pub fn media_state(call: Option<&Call>, camera: Option<&CameraStatus>, sound: Option<&Sound>) -> MediaState {
    let camera = match (call, camera) {
        (_, Some(status)) if status.error.is_some() => DeviceState::Missing,
        (None, _) | (_, None) => DeviceState::Missing,
        (Some(call), Some(_)) if !call.camera_on => DeviceState::Off,
        _ => DeviceState::On,
    };
    let microphone = match sound {
        Some(s) if s.has_microphone() && s.mic_on() => DeviceState::On,
        Some(s) if s.has_microphone() => DeviceState::Off,
        _ => DeviceState::Missing,
    };
    MediaState { camera, microphone }
}

/// Peers' states in; ours out on a change, and to links that opened since.
fn share_media_state(
    mut events: MessageReader<NetEvent>,
    session: Res<Session>,
    call: Option<Res<Call>>,
    camera: Option<Res<CameraStatus>>,
    sound: Option<Res<Sound>>,
    mut media: ResMut<PeerMedia>,
    mut net: MessageWriter<NetCommand>,
) {
    for event in events.read() {
        if let NetEvent::Peer { from, msg: PeerMsg::Media(state) } = event {
            media.peers.insert(*from, *state);
        }
    }
    let mine = media_state(call.as_deref(), camera.as_deref(), sound.as_deref());
    let open: Vec<PeerId> = session
        .links
        .iter()
        .filter(|(_, l)| l.state == mesh::LinkState::Open)
        .map(|(&p, _)| p)
        .collect();
    if mine != media.mine {
        media.mine = mine;
        media.told.clear();
    }
    for &peer in open.iter().filter(|p| !media.told.contains(p)) {
        net.write(MeshCommand::SendTo { to: peer, channel: mesh::Channel::Reliable, msg: PeerMsg::Media(mine) }.into());
    }
    media.told = open;
    if session.is_changed() && let Some(room) = &session.room {
        media.peers.retain(|p, _| room.players.iter().any(|pl| pl.id == *p));
    }
}

