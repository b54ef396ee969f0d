//! Everything the game plays, in one place: the other players' voices, the music and the
//! effects, mixed into one 48 kHz mono stream. The same samples that go to the speaker are
//! kept as the echo canceller's far-end reference, so whatever the game plays — music
//! included — is taken back out of the microphone before it goes to the others.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use media::{VoiceReceiver, VoiceStats};
use shared::protocol::signal::PeerId;

/// The mixer's rate (Opus's and the echo canceller's).
pub const RATE: u32 = media::SAMPLE_RATE;
/// The far-end reference kept at most (1 s): the capture side takes it as it goes.
const FAR_KEPT: usize = RATE as usize;
/// What is kept of each voice for [`Mixer::heard`] (2 s).
const HEARD_KEPT: usize = 2 * RATE as usize;

/// A sound to play: mono samples at [`RATE`], −1…1.
pub type Clip = Arc<[f32]>;

/// Which volume a sound follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bus {
    Music,
    Effects,
}

struct Playing {
    id: u64,
    clip: Clip,
    at: usize,
    bus: Bus,
    looped: bool,
}

struct PeerVoice {
    receiver: VoiceReceiver,
    /// The last samples played of this voice (for level meters and tests).
    heard: VecDeque<i16>,
    /// Peak of the last rendered block (0–1).
    level: f32,
}

/// The game's output mix (see the module docs).
pub struct Mixer {
    voices: BTreeMap<PeerId, PeerVoice>,
    playing: Vec<Playing>,
    next_id: u64,
    pub music_gain: f32,
    pub effects_gain: f32,
    pub voice_gain: f32,
    far: VecDeque<i16>,
    scratch: Vec<i16>,
    /// Voice packets refused because a decoder could not be made.
    pub voice_errors: u64,
}

impl Default for Mixer {
    fn default() -> Self {
        Self {
            voices: BTreeMap::new(),
            playing: Vec::new(),
            next_id: 1,
            music_gain: 0.6,
            effects_gain: 0.8,
            voice_gain: 1.0,
            far: VecDeque::with_capacity(FAR_KEPT),
            scratch: Vec::new(),
            voice_errors: 0,
        }
    }
}

impl std::fmt::Debug for Mixer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mixer")
            .field("voices", &self.voices.keys().collect::<Vec<_>>())
            .field("playing", &self.playing.len())
            .finish_non_exhaustive()
    }
}

impl Mixer {
    /// Starts a sound; returns its id (for [`Mixer::stop`]).
    pub fn play(&mut self, clip: Clip, bus: Bus, looped: bool) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.playing.push(Playing { id, clip, at: 0, bus, looped });
        id
    }

    pub fn stop(&mut self, id: u64) {
        self.playing.retain(|p| p.id != id);
    }

    pub fn is_playing(&self, id: u64) -> bool {
        self.playing.iter().any(|p| p.id == id)
    }

    /// A voice packet from `peer` (its voice starts on the first one).
    pub fn push_voice(&mut self, peer: PeerId, sequence: u16, payload: Vec<u8>) {
        let voice = match self.voices.entry(peer) {
            std::collections::btree_map::Entry::Occupied(v) => v.into_mut(),
            std::collections::btree_map::Entry::Vacant(slot) => match VoiceReceiver::new() {
                Ok(receiver) => slot.insert(PeerVoice { receiver, heard: VecDeque::new(), level: 0.0 }),
                Err(e) => {
                    self.voice_errors += 1;
                    tracing::warn!(peer, "no voice decoder: {e}");
                    return;
                }
            },
        };
        voice.receiver.push(sequence, payload);
    }

    /// Forgets the voices of peers not in `keep`.
    pub fn retain_voices(&mut self, keep: impl Fn(PeerId) -> bool) {
        self.voices.retain(|&p, _| keep(p));
    }

    /// The last samples played of `peer`'s voice (up to 2 s).
    pub fn heard(&self, peer: PeerId) -> Vec<i16> {
        self.voices.get(&peer).map(|v| v.heard.iter().copied().collect()).unwrap_or_default()
    }

    /// The peak level (0–1) of `peer`'s voice in the last block, for a speaking indicator.
    pub fn level(&self, peer: PeerId) -> f32 {
        self.voices.get(&peer).map_or(0.0, |v| v.level)
    }

    pub fn voice_stats(&self) -> BTreeMap<PeerId, VoiceStats> {
        self.voices.iter().map(|(&p, v)| (p, v.receiver.stats())).collect()
    }

    /// Mixes the next `out.len()` samples: voices, music, effects (soft-limited), and keeps
    /// them as the far-end reference.
    pub fn render(&mut self, out: &mut [f32]) {
        out.fill(0.0);
        self.scratch.resize(out.len(), 0);
        for v in self.voices.values_mut() {
            v.receiver.pull(&mut self.scratch);
            let mut peak = 0f32;
            for (o, &s) in out.iter_mut().zip(&self.scratch) {
                let x = f32::from(s) / 32768.0;
                peak = peak.max(x.abs());
                *o += x * self.voice_gain;
            }
            v.level = peak;
            v.heard.extend(&self.scratch);
            let extra = v.heard.len().saturating_sub(HEARD_KEPT);
            v.heard.drain(..extra);
        }
        for p in &mut self.playing {
            let gain = match p.bus {
                Bus::Music => self.music_gain,
                Bus::Effects => self.effects_gain,
            };
            for o in out.iter_mut() {
                if p.at >= p.clip.len() {
                    if !p.looped || p.clip.is_empty() {
                        break;
                    }
                    p.at = 0;
                }
                *o += p.clip[p.at] * gain;
                p.at += 1;
            }
        }
        self.playing.retain(|p| p.looped || p.at < p.clip.len());
        for o in out.iter_mut() {
            // A soft limit instead of hard clipping when everything plays at once.
            *o = o.tanh();
        }
        self.far.extend(out.iter().map(|&x| (x * 32767.0) as i16));
        let extra = self.far.len().saturating_sub(FAR_KEPT);
        self.far.drain(..extra);
    }

    /// The next `n` samples of what was played (zeros where nothing was), for the echo
    /// canceller.
    pub fn take_far(&mut self, n: usize) -> Vec<i16> {
        let mut out: Vec<i16> = self.far.drain(..n.min(self.far.len())).collect();
        out.resize(n, 0);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clips_mix_loop_and_end_and_the_output_is_kept_as_the_far_reference() {
        let mut m = Mixer { music_gain: 1.0, effects_gain: 1.0, ..Mixer::default() };
        let music = m.play(Arc::from(vec![0.1f32; 4]), Bus::Music, true);
        let beep = m.play(Arc::from(vec![0.2f32; 3]), Bus::Effects, false);
        let mut out = vec![0f32; 6];
        m.render(&mut out);
        assert!((out[0] - 0.3f32.tanh()).abs() < 1e-6);
        assert!((out[5] - 0.1f32.tanh()).abs() < 1e-6, "the loop goes on after the effect ended");
        assert!(m.is_playing(music) && !m.is_playing(beep));
        let far = m.take_far(8);
        assert_eq!(far.len(), 8);
        assert_eq!(far[0], (0.3f32.tanh() * 32767.0) as i16);
        assert_eq!(&far[6..], &[0, 0], "nothing played beyond: zeros");
        m.stop(music);
        m.render(&mut out);
        assert!(out.iter().all(|&x| x == 0.0));
    }

    #[test]
    fn a_peers_voice_is_decoded_into_the_mix_and_forgotten_when_they_leave() {
        let mut enc = media::OpusEncoder::new(32_000).unwrap_or_else(|e| panic!("{e}"));
        let tone = media::tone(500.0, RATE, media::FRAME_SAMPLES * 30, 0.4);
        let mut m = Mixer::default();
        let mut out = vec![0f32; media::FRAME_SAMPLES];
        for (i, frame) in tone.chunks(media::FRAME_SAMPLES).enumerate() {
            let packet = enc.encode(frame).unwrap_or_else(|e| panic!("{e}"));
            m.push_voice(7, i as u16, packet);
            m.render(&mut out);
        }
        let heard = m.heard(7);
        let f = media::dominant_frequency(&heard[heard.len() / 2..], RATE);
        assert!((f - 500.0).abs() < 10.0, "{f} Hz");
        assert!(m.level(7) > 0.1);
        m.retain_voices(|p| p != 7);
        assert!(m.heard(7).is_empty());
    }
}
