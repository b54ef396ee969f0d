//! Sound: a looping background track during rounds and effects for the countdown, hits,
//! misses and streaks, all synthesized here at startup (so their license is this project's).
//! Played through the sound engine's mixer ([`crate::voice`]), with the other players'
//! voices — so the echo canceller knows them and keeps them out of the microphone. Without a
//! sound device the engine runs silently. Not added in headless mode.

use std::f32::consts::TAU;
use std::sync::Arc;

use bevy::prelude::*;
use shared::rules::{QuizEvent, RushEvent};

use crate::game::GameFeed;
use crate::settings::Settings;
use crate::state::{ClientSet, Screen};
use crate::voice::{Bus, Clip, Sound};

/// Sample rate of the generated sounds (the mixer's).
pub const RATE: u32 = crate::voice::mixer::RATE;

/// Frequency of a MIDI note.
fn midi(note: i32) -> f32 {
    440.0 * 2f32.powf((note - 69) as f32 / 12.0)
}

/// A note with a short attack and exponential decay, added into `buf` at `start` seconds.
fn add_note(buf: &mut [f32], start: f32, len: f32, freq: f32, gain: f32, shape: Wave) {
    let first = (start * RATE as f32) as usize;
    let count = (len * RATE as f32) as usize;
    for i in 0..count {
        let Some(slot) = buf.get_mut(first + i) else { break };
        let t = i as f32 / RATE as f32;
        let env = (t / 0.005).min(1.0) * (-t * 6.0 / len).exp();
        let phase = (t * freq).fract();
        let v = match shape {
            Wave::Sine => (phase * TAU).sin(),
            Wave::Square => {
                if phase < 0.5 { 0.6 } else { -0.6 }
            }
            Wave::Triangle => 1.0 - 4.0 * (phase - 0.5).abs(),
        };
        *slot += v * env * gain;
    }
}

#[derive(Debug, Clone, Copy)]
enum Wave {
    Sine,
    Square,
    Triangle,
}

fn silence(secs: f32) -> Vec<f32> {
    vec![0.0; (secs * RATE as f32) as usize]
}

/// Eight bars of a bright loop in C major (I–V–vi–IV), 120 bpm: bass, arpeggio, a soft kick.
pub fn music_loop() -> Vec<f32> {
    let beat = 0.5;
    let bars = 8;
    let mut buf = silence(bars as f32 * 4.0 * beat);
    let chords: [[i32; 3]; 4] = [[60, 64, 67], [55, 59, 62], [57, 60, 64], [53, 57, 60]];
    for bar in 0..bars {
        let chord = chords[bar % 4];
        let t0 = bar as f32 * 4.0 * beat;
        for b in 0..4 {
            let t = t0 + b as f32 * beat;
            add_note(&mut buf, t, beat * 0.9, midi(chord[0] - 24), 0.25, Wave::Triangle);
            // Kick: a fast falling sine.
            add_note(&mut buf, t, 0.12, 55.0, 0.35, Wave::Sine);
            for (k, note) in chord.iter().enumerate() {
                let at = t + k as f32 * beat / 4.0 + if b % 2 == 1 { beat / 8.0 } else { 0.0 };
                add_note(&mut buf, at, beat / 3.0, midi(note + 12), 0.08, Wave::Square);
            }
        }
    }
    normalize(buf, 0.6)
}

fn beep(freq: f32, secs: f32) -> Vec<f32> {
    let mut buf = silence(secs + 0.05);
    add_note(&mut buf, 0.0, secs, freq, 0.8, Wave::Sine);
    normalize(buf, 0.8)
}

fn notes(seq: &[(i32, f32)], shape: Wave) -> Vec<f32> {
    let total: f32 = seq.iter().map(|(_, d)| d).sum::<f32>() + 0.2;
    let mut buf = silence(total);
    let mut t = 0.0;
    for (note, d) in seq {
        add_note(&mut buf, t, d * 1.6, midi(*note), 0.6, shape);
        t += d;
    }
    normalize(buf, 0.8)
}

fn normalize(mut buf: Vec<f32>, peak: f32) -> Vec<f32> {
    let max = buf.iter().fold(0f32, |m, s| m.max(s.abs()));
    if max > 0.0 {
        buf.iter_mut().for_each(|s| *s *= peak / max);
    }
    buf
}

/// Which effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sfx {
    Tick,
    Go,
    Hit,
    Miss,
    Streak,
}

/// The effect a game event calls for, if any.
pub fn sfx_for(feed: &GameFeed) -> Option<Sfx> {
    match feed {
        GameFeed::Rush(ev @ RushEvent::Hit { .. }) if ev.is_streak_milestone() => Some(Sfx::Streak),
        GameFeed::Rush(RushEvent::Hit { .. }) => Some(Sfx::Hit),
        GameFeed::Rush(RushEvent::Miss { .. }) => Some(Sfx::Miss),
        GameFeed::Rush(RushEvent::Countdown { .. }) => Some(Sfx::Tick),
        GameFeed::Rush(RushEvent::Go) => Some(Sfx::Go),
        GameFeed::Quiz(QuizEvent::Answered { correct: true, .. }) => Some(Sfx::Hit),
        GameFeed::Quiz(QuizEvent::Answered { correct: false, .. } | QuizEvent::TimeUp { .. }) => {
            Some(Sfx::Miss)
        }
        GameFeed::Quiz(QuizEvent::Question { .. }) => Some(Sfx::Tick),
        _ => None,
    }
}

/// The generated sounds.
#[derive(Debug, Clone, Resource)]
pub struct Sounds {
    pub music: Clip,
    tick: Clip,
    go: Clip,
    hit: Clip,
    miss: Clip,
    streak: Clip,
}

impl Sounds {
    pub fn new() -> Self {
        let clip = |samples: Vec<f32>| -> Clip { Arc::from(samples) };
        Sounds {
            music: clip(music_loop()),
            tick: clip(beep(880.0, 0.12)),
            go: clip(beep(1320.0, 0.35)),
            hit: clip(notes(&[(76, 0.07), (83, 0.12)], Wave::Square)),
            miss: clip(notes(&[(52, 0.12), (47, 0.25)], Wave::Triangle)),
            streak: clip(notes(&[(72, 0.07), (76, 0.07), (79, 0.07), (84, 0.2)], Wave::Square)),
        }
    }

    fn get(&self, sfx: Sfx) -> Clip {
        match sfx {
            Sfx::Tick => self.tick.clone(),
            Sfx::Go => self.go.clone(),
            Sfx::Hit => self.hit.clone(),
            Sfx::Miss => self.miss.clone(),
            Sfx::Streak => self.streak.clone(),
        }
    }
}

impl Default for Sounds {
    fn default() -> Self {
        Self::new()
    }
}

/// The music playing (its id in the mixer).
#[derive(Debug, Default, Resource)]
struct Music(Option<u64>);

/// Game sound (windowed mode only; needs the sound engine, [`crate::voice::VoicePlugin`]).
pub struct GameAudioPlugin;

impl Plugin for GameAudioPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Sounds>()
            .init_resource::<Music>()
            .add_systems(Startup, apply_volume)
            .add_systems(OnEnter(Screen::Game), start_music)
            .add_systems(OnExit(Screen::Game), stop_music)
            .add_systems(
                Update,
                (
                    play_effects.run_if(on_message::<GameFeed>),
                    apply_volume.run_if(resource_changed::<Settings>),
                )
                    .in_set(ClientSet::Ui),
            );
    }
}

fn start_music(sound: Option<Res<Sound>>, sounds: Res<Sounds>, mut music: ResMut<Music>) {
    let Some(sound) = sound else { return };
    let mut mixer = sound.mixer();
    if let Some(id) = music.0.take() {
        mixer.stop(id);
    }
    music.0 = Some(mixer.play(sounds.music.clone(), Bus::Music, true));
}

fn stop_music(sound: Option<Res<Sound>>, mut music: ResMut<Music>) {
    if let (Some(sound), Some(id)) = (sound, music.0.take()) {
        sound.mixer().stop(id);
    }
}

fn play_effects(mut feed: MessageReader<GameFeed>, sound: Option<Res<Sound>>, sounds: Res<Sounds>) {
    let Some(sound) = sound else {
        feed.clear();
        return;
    };
    let mut mixer = sound.mixer();
    for sfx in feed.read().filter_map(sfx_for) {
        mixer.play(sounds.get(sfx), Bus::Effects, false);
    }
}

/// The settings' volume: effects at it, the music at half of it.
fn apply_volume(settings: Res<Settings>, sound: Option<Res<Sound>>) {
    let Some(sound) = sound else { return };
    let volume = settings.volume.clamp(0.0, 1.0);
    let mut mixer = sound.mixer();
    mixer.effects_gain = volume;
    mixer.music_gain = volume * 0.5;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sounds_are_audible_and_never_clip() {
        let music = music_loop();
        assert_eq!(music.len(), (16.0 * RATE as f32) as usize);
        for s in [music, beep(880.0, 0.12), notes(&[(76, 0.07), (83, 0.12)], Wave::Square)] {
            let peak = s.iter().fold(0f32, |m, v| m.max(v.abs()));
            assert!(peak > 0.5 && peak <= 0.8 + 1e-6, "peak {peak}");
            let rms = (s.iter().map(|v| v * v).sum::<f32>() / s.len() as f32).sqrt();
            assert!(rms > 0.02, "rms {rms}");
        }
    }

    #[test]
    fn events_pick_their_effects() {
        use shared::rules::PoseId;
        let hit = |streak| {
            GameFeed::Rush(RushEvent::Hit {
                index: 0,
                pose: PoseId::TPose,
                points: 100,
                streak,
                multiplier_pct: 100,
                reaction_ms: 0,
                held_from_ms: 0,
            })
        };
        assert_eq!(sfx_for(&hit(1)), Some(Sfx::Hit));
        assert_eq!(sfx_for(&hit(3)), Some(Sfx::Streak));
        assert_eq!(sfx_for(&GameFeed::Rush(RushEvent::Go)), Some(Sfx::Go));
        assert_eq!(
            sfx_for(&GameFeed::Rush(RushEvent::Miss { index: 1, pose: PoseId::Squat })),
            Some(Sfx::Miss)
        );
    }
}
