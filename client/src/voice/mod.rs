//! Sound and voice: one engine plays the other players' voices mixed with the game's music
//! and effects, and sends this player's microphone — cleaned by the echo canceller, whose
//! far-end reference is that same mix — to every peer's voice track as Opus.
//!
//! - [`mixer`]: the mix (voices through jitter buffers with FEC / concealment, music,
//!   effects) and the far-end reference.
//! - [`engine`]: the speaker and microphone (sound cards through cpal; a clock and a
//!   synthetic microphone for bots and tests), the uplink thread (echo cancellation, Opus).
//! - [`VoicePlugin`]: wires it to the game — packets from and to the mesh, the mute button
//!   (key `M` or the HUD button), who is speaking, device problems for the menu and lobby.

pub mod engine;
pub mod mixer;

use std::sync::atomic::Ordering;
use std::time::Duration;

use bevy::prelude::*;
use shared::protocol::signal::PeerId;

pub use engine::{AudioEngine, DeviceProblem, MicSource, SpeakerSink, list_microphones, list_speakers};
pub use mixer::{Bus, Clip, Mixer};

use crate::session::{MeshCommand, NetCommand, NetEvent, Session};
use crate::state::ClientSet;

/// One Opus packet's audio.
pub const PACKET_DURATION: Duration = Duration::from_millis(20);

/// Starts the sound engine: `speaker` and `mic` say where sound goes and comes from; with
/// `voice` the microphone goes to the other players and theirs is played.
#[derive(Debug, Clone)]
pub struct VoicePlugin {
    pub speaker: SpeakerSink,
    pub mic: MicSource,
    pub voice: bool,
}

/// The running engine (a resource; absent in apps without sound).
#[derive(Resource, Deref)]
pub struct Sound(pub AudioEngine);

/// The voice call's state for the UI.
#[derive(Resource, Debug, Default)]
pub struct Voice {
    /// Voice packets sent / received.
    pub sent: u64,
    pub received: u64,
}

impl Plugin for VoicePlugin {
    fn build(&self, app: &mut App) {
        let mic = if self.voice { self.mic.clone() } else { MicSource::Off };
        let engine = AudioEngine::start(self.speaker.clone(), mic);
        app.insert_resource(Sound(engine));
        if self.voice {
            app.init_resource::<Voice>().add_systems(
                Update,
                (
                    toggle_mic.run_if(resource_exists::<ButtonInput<KeyCode>>).in_set(ClientSet::Input),
                    (receive, send).chain().in_set(ClientSet::Net),
                ),
            );
        }
    }
}

impl Sound {
    /// Whether this player's microphone goes to the others (the mute button).
    pub fn mic_on(&self) -> bool {
        self.mic_on.load(Ordering::Relaxed)
    }

    pub fn set_mic_on(&self, on: bool) {
        self.mic_on.store(on, Ordering::Relaxed);
    }

    /// The microphone problem to show, if any.
    pub fn mic_problem(&self) -> Option<&DeviceProblem> {
        self.problems.iter().find(|p| p.is_microphone())
    }
}

fn toggle_mic(keys: Res<ButtonInput<KeyCode>>, sound: Res<Sound>) {
    if keys.just_pressed(KeyCode::KeyM) {
        sound.set_mic_on(!sound.mic_on());
        info!(mic_on = sound.mic_on(), "microphone to the others");
    }
}

/// Peers' voice packets into the mix; the voices of players who left are dropped.
fn receive(mut events: MessageReader<NetEvent>, sound: Res<Sound>, session: Res<Session>, mut voice: ResMut<Voice>) {
    let mut mixer = sound.mixer();
    for event in events.read() {
        if let NetEvent::VoicePacket { from, sequence, data } = event {
            voice.received += 1;
            mixer.push_voice(*from, *sequence, data.clone());
        }
    }
    if session.is_changed() {
        let room: Vec<PeerId> = session.room.as_ref().map(|r| r.players.iter().map(|p| p.id).collect()).unwrap_or_default();
        mixer.retain_voices(|p| room.contains(&p));
    }
}

/// The microphone's packets to every peer, while another device is in the room.
fn send(sound: Res<Sound>, session: Res<Session>, mut voice: ResMut<Voice>, mut net: MessageWriter<NetCommand>) {
    let others = match (&session.room, session.my_id()) {
        (Some(room), Some(me)) => room.players.iter().any(|p| p.id != me && p.device.is_none()),
        _ => false,
    };
    sound.sending.store(others, Ordering::Relaxed);
    while let Ok(packet) = sound.packets.try_recv() {
        if others {
            voice.sent += 1;
            net.write(MeshCommand::SendVoice { packet, duration: PACKET_DURATION }.into());
        }
    }
}
