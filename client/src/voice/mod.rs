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

/// The sound and camera devices found, for the settings' lists (read when the menu opens,
/// and on "refresh").
#[derive(Resource, Debug, Default, Clone)]
pub struct Devices {
    pub cameras: Vec<vision::source::CameraInfo>,
    pub microphones: Vec<String>,
    pub speakers: Vec<String>,
    /// Why the cameras could not be listed.
    pub camera_error: Option<String>,
}

impl Devices {
    pub fn scan() -> Devices {
        let (cameras, camera_error) = match vision::source::list_cameras() {
            Ok(c) => (c, None),
            Err(e) => (Vec::new(), Some(e.to_string())),
        };
        Devices { cameras, microphones: list_microphones(), speakers: list_speakers(), camera_error }
    }
}

/// The plugin's choice of devices, to start the engine again with the settings' names.
#[derive(Resource, Debug, Clone)]
struct Chosen {
    speaker: SpeakerSink,
    mic: MicSource,
}

impl Plugin for VoicePlugin {
    fn build(&self, app: &mut App) {
        let mic = if self.voice { self.mic.clone() } else { MicSource::Off };
        let engine = AudioEngine::start(self.speaker.clone(), mic.clone());
        app.insert_resource(Sound(engine))
            .insert_resource(Chosen { speaker: self.speaker.clone(), mic })
            .add_systems(
                Update,
                restart_on_device_change
                    .run_if(resource_exists::<crate::settings::Settings>.and_then(resource_changed::<crate::settings::Settings>)),
            );
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
}

/// A microphone or speaker picked in the settings restarts the engine with it (sound-card
/// devices only; a synthetic microphone or a clock stays).
fn restart_on_device_change(settings: Res<crate::settings::Settings>, mut chosen: ResMut<Chosen>, mut sound: ResMut<Sound>) {
    let mut changed = false;
    if let MicSource::Device(current) = &chosen.mic
        && *current != settings.microphone_device()
    {
        chosen.mic = MicSource::Device(settings.microphone_device());
        changed = true;
    }
    if let SpeakerSink::Device(current) = &chosen.speaker
        && *current != settings.speaker_device()
    {
        chosen.speaker = SpeakerSink::Device(settings.speaker_device());
        changed = true;
    }
    if changed {
        info!(mic = ?chosen.mic, speaker = ?chosen.speaker, "sound devices changed");
        let mic_on = sound.mic_on();
        // The old engine (and its devices) stops first: a device opens for one stream.
        sound.0.stop();
        sound.0 = AudioEngine::start(chosen.speaker.clone(), chosen.mic.clone());
        sound.set_mic_on(mic_on);
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
    let others = session.has_other_devices();
    sound.sending.store(others, Ordering::Relaxed);
    while let Ok(packet) = sound.packets.try_recv() {
        if others {
            voice.sent += 1;
            net.write(MeshCommand::SendVoice { packet, duration: PACKET_DURATION }.into());
        }
    }
}
