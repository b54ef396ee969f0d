//! The sound engine's threads: the speaker (a sound-card stream, or a clock that plays to
//! nowhere at the same pace), the microphone (a sound-card stream, or a synthetic one for
//! bots and tests) and the uplink that cleans the microphone with the echo canceller and
//! encodes it as Opus. No Bevy here; [`super::VoicePlugin`] wires it to the game.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, bounded};
use media::{EchoCanceller, EchoConfig, FRAME_SAMPLES, OpusEncoder};

use super::mixer::{Mixer, RATE};

/// The echo canceller's block (10 ms).
const BLOCK: usize = RATE as usize / 100;
/// Voice bitrate (Opus, mono).
pub const VOICE_BPS: i32 = 32_000;
/// Encoded packets waiting for the game to send them, at most.
const PACKET_QUEUE: usize = 50;

/// Where the microphone signal comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum MicSource {
    /// A sound card input: `None` for the system's default, else a device name from
    /// [`list_microphones`].
    Device(Option<String>),
    /// A synthetic microphone: a steady tone (Hz), for bots and tests.
    Tone(f32),
    /// Speech-like noise (syllable-rate bursts), for bots and benchmarks.
    Speech,
    /// No microphone.
    Off,
}

/// Where the mix goes.
#[derive(Debug, Clone, PartialEq)]
pub enum SpeakerSink {
    /// A sound card output (`None`: the default device).
    Device(Option<String>),
    /// Nowhere, at the sound card's pace (headless; and the fallback without a device).
    Clock,
}

/// A sound device that could not be used, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceProblem {
    NoMicrophone,
    Microphone(String),
    NoSpeaker,
    Speaker(String),
}

impl DeviceProblem {
    /// The message for the menu and lobby (Korean / English), with what to do.
    pub fn message(&self) -> String {
        match self {
            DeviceProblem::NoMicrophone => {
                "마이크가 없습니다 — 다른 사람들이 내 목소리를 들을 수 없어요. 마이크를 연결하고 설정에서 고르세요. / \
                 No microphone found: the others cannot hear you. Plug one in and pick it in the settings."
                    .to_owned()
            }
            DeviceProblem::Microphone(why) => format!(
                "마이크를 열 수 없습니다 ({why}) — 다른 앱이 쓰고 있거나 권한이 없을 수 있어요. 설정에서 다른 마이크를 고르세요. / \
                 The microphone could not be opened ({why}): another app may hold it, or access is denied \
                 (on Linux, is your user in the `audio` group?). Pick another in the settings."
            ),
            DeviceProblem::NoSpeaker => {
                "스피커가 없습니다 — 소리 없이 진행합니다. / No speaker or headphones found: the game plays without sound.".to_owned()
            }
            DeviceProblem::Speaker(why) => format!(
                "스피커를 열 수 없습니다 ({why}) — 소리 없이 진행합니다. 설정에서 다른 출력을 고르세요. / \
                 The speaker could not be opened ({why}): playing without sound. Pick another output in the settings."
            ),
        }
    }

    /// One line for a crowded screen (the full [`DeviceProblem::message`] on hover).
    pub fn short(&self) -> &'static str {
        match self {
            DeviceProblem::NoMicrophone => "🎤 마이크 없음 — 다른 사람들이 내 목소리를 못 들어요 / No microphone: the others cannot hear you",
            DeviceProblem::Microphone(_) => "🎤 마이크를 열 수 없어요 — 설정에서 고르세요 / Microphone unavailable: pick one in the settings",
            DeviceProblem::NoSpeaker => "🔈 스피커 없음 — 소리 없이 진행 / No speaker: playing without sound",
            DeviceProblem::Speaker(_) => "🔈 스피커를 열 수 없어요 — 소리 없이 진행 / Speaker unavailable: playing without sound",
        }
    }

    pub fn is_microphone(&self) -> bool {
        matches!(self, DeviceProblem::NoMicrophone | DeviceProblem::Microphone(_))
    }
}

/// The names of the sound inputs found (for the settings' list).
pub fn list_microphones() -> Vec<String> {
    let host = cpal::default_host();
    match host.input_devices() {
        Ok(devices) => devices.filter_map(|d| d.description().ok().map(|d| d.name().to_owned())).collect(),
        Err(e) => {
            tracing::debug!("listing microphones: {e}");
            Vec::new()
        }
    }
}

/// The names of the sound outputs found.
pub fn list_speakers() -> Vec<String> {
    let host = cpal::default_host();
    match host.output_devices() {
        Ok(devices) => devices.filter_map(|d| d.description().ok().map(|d| d.name().to_owned())).collect(),
        Err(e) => {
            tracing::debug!("listing speakers: {e}");
            Vec::new()
        }
    }
}

/// Counters of the uplink.
#[derive(Debug, Default)]
pub struct UplinkStats {
    /// Opus packets encoded and handed to the game / dropped because it did not take them.
    pub packets: AtomicU32,
    pub dropped: AtomicU32,
    /// Microphone blocks (10 ms) through the echo canceller.
    pub blocks: AtomicU32,
    /// Peak level of the last 20 ms after echo cancellation (f32 bits).
    pub level: AtomicU32,
}

/// The running sound engine.
pub struct AudioEngine {
    pub mixer: Arc<Mutex<Mixer>>,
    /// Send the microphone (the mute button).
    pub mic_on: Arc<AtomicBool>,
    /// Someone to send to (set by the game: other devices in the room).
    pub sending: Arc<AtomicBool>,
    pub uplink: Arc<UplinkStats>,
    /// Encoded 20 ms Opus packets for the voice track.
    pub packets: Receiver<Vec<u8>>,
    /// What could not be opened.
    pub problems: Vec<DeviceProblem>,
    /// What the microphone is.
    pub mic: MicSource,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    // The cpal streams play while they exist.
    _streams: Vec<cpal::Stream>,
}

impl std::fmt::Debug for AudioEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AudioEngine").field("mic", &self.mic).field("problems", &self.problems).finish_non_exhaustive()
    }
}

impl Drop for AudioEngine {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Locks the mixer; a thread that panicked while holding it leaves a usable mix.
pub fn lock(mixer: &Mutex<Mixer>) -> MutexGuard<'_, Mixer> {
    mixer.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl AudioEngine {
    /// Starts the speaker and, unless `mic` is [`MicSource::Off`], the microphone and the
    /// uplink. Devices that fail are listed in [`AudioEngine::problems`]; the engine runs
    /// without them (a speaker that fails becomes a clock).
    pub fn start(speaker: SpeakerSink, mic: MicSource) -> AudioEngine {
        let mixer = Arc::new(Mutex::new(Mixer::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let mut problems = Vec::new();
        let mut threads = Vec::new();
        let mut streams = Vec::new();
        match speaker {
            SpeakerSink::Device(name) => match open_speaker(name.as_deref(), mixer.clone()) {
                Ok(stream) => streams.push(stream),
                Err(problem) => {
                    tracing::warn!("{}", problem.message());
                    problems.push(problem);
                    threads.extend(spawn_clock(mixer.clone(), stop.clone()));
                }
            },
            SpeakerSink::Clock => threads.extend(spawn_clock(mixer.clone(), stop.clone())),
        }
        let (mic_tx, mic_rx) = bounded::<Vec<i16>>(100);
        let mut mic = mic;
        match &mic {
            MicSource::Device(name) => match open_microphone(name.as_deref(), mic_tx) {
                Ok(stream) => streams.push(stream),
                Err(problem) => {
                    tracing::warn!("{}", problem.message());
                    problems.push(problem);
                    mic = MicSource::Off;
                }
            },
            MicSource::Tone(_) | MicSource::Speech => {
                threads.extend(spawn_synthetic_mic(mic.clone(), mic_tx, stop.clone()));
            }
            MicSource::Off => {}
        }
        let mic_on = Arc::new(AtomicBool::new(true));
        let sending = Arc::new(AtomicBool::new(false));
        let uplink = Arc::new(UplinkStats::default());
        let (packet_tx, packets) = bounded(PACKET_QUEUE);
        if mic != MicSource::Off {
            let work = Uplink {
                mixer: mixer.clone(),
                mic: mic_rx,
                packets: packet_tx,
                mic_on: mic_on.clone(),
                sending: sending.clone(),
                stats: uplink.clone(),
                stop: stop.clone(),
            };
            match std::thread::Builder::new().name("voice-uplink".into()).spawn(move || work.run()) {
                Ok(t) => threads.push(t),
                Err(e) => problems.push(DeviceProblem::Microphone(format!("no uplink thread: {e}"))),
            }
        }
        AudioEngine { mixer, mic_on, sending, uplink, packets, problems, mic, stop, threads, _streams: streams }
    }

    /// Closes the devices and ends the engine's threads (dropping it does the same).
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self._streams.clear();
        for t in self.threads.drain(..) {
            if t.join().is_err() {
                tracing::error!("a sound thread panicked");
            }
        }
    }

    pub fn mixer(&self) -> MutexGuard<'_, Mixer> {
        lock(&self.mixer)
    }

    /// Peak level (0–1) of the cleaned microphone in the last 20 ms.
    pub fn mic_level(&self) -> f32 {
        f32::from_bits(self.uplink.level.load(Ordering::Relaxed))
    }

    pub fn has_microphone(&self) -> bool {
        self.mic != MicSource::Off
    }
}

/// Finds a device by name, or the default.
fn find_device(devices: Result<impl Iterator<Item = cpal::Device>, cpal::DevicesError>, name: &str) -> Option<cpal::Device> {
    devices.ok()?.find(|d| d.description().is_ok_and(|desc| desc.name() == name))
}

/// The device's stream config: 48 kHz if it takes it, else its rate nearest to 48 kHz
/// (the sound is then resampled); 16-bit or float samples, the fewest channels.
fn pick_config(ranges: Vec<cpal::SupportedStreamConfigRange>) -> Result<cpal::SupportedStreamConfig, String> {
    let mut usable: Vec<_> = ranges
        .into_iter()
        .filter(|r| matches!(r.sample_format(), cpal::SampleFormat::F32 | cpal::SampleFormat::I16))
        .map(|r| {
            let rate = RATE.clamp(r.min_sample_rate(), r.max_sample_rate());
            (rate.abs_diff(RATE), r.channels(), r.sample_format() != cpal::SampleFormat::F32, r.with_sample_rate(rate))
        })
        .collect();
    usable.sort_by_key(|(off, channels, not_f32, _)| (*off, *channels, *not_f32));
    usable
        .into_iter()
        .next()
        .map(|(_, _, _, config)| config)
        .ok_or_else(|| "it takes neither 16-bit nor float samples".to_owned())
}

/// Linear resampling of a stream, block by block (for a device that does not run at 48 kHz).
#[derive(Debug, Clone)]
pub struct Resampler {
    /// Input samples per output sample.
    step: f64,
    /// Where the next output sample falls, in input samples after `prev`.
    pos: f64,
    prev: f32,
}

impl Resampler {
    pub fn new(from_rate: u32, to_rate: u32) -> Self {
        Resampler { step: f64::from(from_rate.max(1)) / f64::from(to_rate.max(1)), pos: 1.0, prev: 0.0 }
    }

    /// Appends the resampled `input` to `out`.
    pub fn process(&mut self, input: &[f32], out: &mut Vec<f32>) {
        let n = input.len();
        if n == 0 {
            return;
        }
        // The signal is prev, input[0], …, input[n-1] at positions 0, 1, …, n.
        let at = |i: usize| if i == 0 { self.prev } else { input[i - 1] };
        while self.pos < n as f64 {
            let i = self.pos.floor() as usize;
            let frac = (self.pos - i as f64) as f32;
            let (a, b) = (at(i), at(i + 1));
            out.push(a + (b - a) * frac);
            self.pos += self.step;
        }
        self.pos -= n as f64;
        self.prev = input[n - 1];
    }
}

/// What the speaker's callback plays: the mix, resampled to the device's rate if needed.
struct SpeakerFeed {
    mixer: Arc<Mutex<Mixer>>,
    resampler: Option<Resampler>,
    ready: std::collections::VecDeque<f32>,
    block: Vec<f32>,
    resampled: Vec<f32>,
}

impl SpeakerFeed {
    fn new(mixer: Arc<Mutex<Mixer>>, device_rate: u32) -> Self {
        let resampler = (device_rate != RATE).then(|| Resampler::new(RATE, device_rate));
        SpeakerFeed { mixer, resampler, ready: Default::default(), block: vec![0.0; BLOCK], resampled: Vec::new() }
    }

    fn fill(&mut self, mono: &mut [f32]) {
        let Some(resampler) = self.resampler.as_mut() else {
            lock(&self.mixer).render(mono);
            return;
        };
        while self.ready.len() < mono.len() {
            lock(&self.mixer).render(&mut self.block);
            self.resampled.clear();
            resampler.process(&self.block, &mut self.resampled);
            self.ready.extend(&self.resampled);
        }
        let n = mono.len();
        for (o, s) in mono.iter_mut().zip(self.ready.drain(..n)) {
            *o = s;
        }
    }
}

fn output_stream<T>(device: &cpal::Device, config: &cpal::StreamConfig, mut feed: SpeakerFeed) -> Result<cpal::Stream, cpal::BuildStreamError>
where
    T: cpal::SizedSample + cpal::FromSample<f32>,
{
    let channels = usize::from(config.channels.max(1));
    let mut mono = Vec::new();
    device.build_output_stream(
        config,
        move |data: &mut [T], _: &cpal::OutputCallbackInfo| {
            mono.resize(data.len() / channels, 0.0);
            feed.fill(&mut mono);
            for (frame, &s) in data.chunks_mut(channels).zip(&mono) {
                frame.fill(T::from_sample(s));
            }
        },
        |e| tracing::warn!("speaker: {e}"),
        None,
    )
}

fn input_stream<T>(device: &cpal::Device, config: &cpal::StreamConfig, out: Sender<Vec<i16>>) -> Result<cpal::Stream, cpal::BuildStreamError>
where
    T: cpal::SizedSample,
    f32: cpal::FromSample<T>,
{
    let channels = usize::from(config.channels.max(1));
    let mut resampler = (config.sample_rate != RATE).then(|| Resampler::new(config.sample_rate, RATE));
    let mut at_48k = Vec::new();
    device.build_input_stream(
        config,
        move |data: &[T], _: &cpal::InputCallbackInfo| {
            let mono: Vec<f32> = data.chunks(channels).map(|f| f.iter().map(|s| s.to_sample::<f32>()).sum::<f32>() / f.len() as f32).collect();
            let samples = match resampler.as_mut() {
                Some(r) => {
                    at_48k.clear();
                    r.process(&mono, &mut at_48k);
                    &at_48k
                }
                None => &mono,
            };
            let _ = out.try_send(samples.iter().map(|&s| (s * 32767.0).clamp(-32768.0, 32767.0) as i16).collect());
        },
        |e| tracing::warn!("microphone: {e}"),
        None,
    )
}

fn open_speaker(name: Option<&str>, mixer: Arc<Mutex<Mixer>>) -> Result<cpal::Stream, DeviceProblem> {
    let host = cpal::default_host();
    let device = match name {
        Some(n) => find_device(host.output_devices(), n).ok_or_else(|| DeviceProblem::Speaker(format!("{n:?} is not connected")))?,
        None => host.default_output_device().ok_or(DeviceProblem::NoSpeaker)?,
    };
    let ranges = device.supported_output_configs().map_err(|e| DeviceProblem::Speaker(e.to_string()))?;
    let config = pick_config(ranges.collect()).map_err(DeviceProblem::Speaker)?;
    let format = config.sample_format();
    let stream_config: cpal::StreamConfig = config.into();
    let feed = SpeakerFeed::new(mixer, stream_config.sample_rate);
    let stream = match format {
        cpal::SampleFormat::F32 => output_stream::<f32>(&device, &stream_config, feed),
        _ => output_stream::<i16>(&device, &stream_config, feed),
    }
    .map_err(|e| DeviceProblem::Speaker(e.to_string()))?;
    stream.play().map_err(|e| DeviceProblem::Speaker(e.to_string()))?;
    tracing::info!(rate = stream_config.sample_rate, channels = stream_config.channels, "speaker open");
    Ok(stream)
}

fn open_microphone(name: Option<&str>, out: Sender<Vec<i16>>) -> Result<cpal::Stream, DeviceProblem> {
    let host = cpal::default_host();
    let device = match name {
        Some(n) => find_device(host.input_devices(), n).ok_or_else(|| DeviceProblem::Microphone(format!("{n:?} is not connected")))?,
        None => host.default_input_device().ok_or(DeviceProblem::NoMicrophone)?,
    };
    let ranges = device.supported_input_configs().map_err(|e| DeviceProblem::Microphone(e.to_string()))?;
    let config = pick_config(ranges.collect()).map_err(DeviceProblem::Microphone)?;
    let format = config.sample_format();
    let stream_config: cpal::StreamConfig = config.into();
    let stream = match format {
        cpal::SampleFormat::F32 => input_stream::<f32>(&device, &stream_config, out),
        _ => input_stream::<i16>(&device, &stream_config, out),
    }
    .map_err(|e| DeviceProblem::Microphone(e.to_string()))?;
    stream.play().map_err(|e| DeviceProblem::Microphone(e.to_string()))?;
    tracing::info!(rate = stream_config.sample_rate, channels = stream_config.channels, "microphone open");
    Ok(stream)
}

/// Runs `tick` every 10 ms on an absolute schedule (catching up at most 100 ms) until `stop`.
fn paced(name: &str, stop: Arc<AtomicBool>, mut tick: impl FnMut() + Send + 'static) -> Option<JoinHandle<()>> {
    let period = Duration::from_millis(10);
    let spawned = std::thread::Builder::new().name(name.into()).spawn(move || {
        let mut next = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            tick();
            next += period;
            let now = Instant::now();
            if next > now {
                std::thread::sleep(next - now);
            } else if now - next > 10 * period {
                next = now; // fell far behind (a stalled machine): start the schedule over
            }
        }
    });
    match spawned {
        Ok(t) => Some(t),
        Err(e) => {
            tracing::error!("could not start the {name} thread: {e}");
            None
        }
    }
}

/// The speaker without a device: renders the mix at the sound card's pace.
fn spawn_clock(mixer: Arc<Mutex<Mixer>>, stop: Arc<AtomicBool>) -> Option<JoinHandle<()>> {
    let mut block = vec![0f32; BLOCK];
    paced("sound-clock", stop, move || lock(&mixer).render(&mut block))
}

/// A synthetic microphone: 10 ms blocks at the sound card's pace.
fn spawn_synthetic_mic(source: MicSource, out: Sender<Vec<i16>>, stop: Arc<AtomicBool>) -> Option<JoinHandle<()>> {
    // One second of signal, looped (a whole number of periods for tones that divide 48 kHz
    // evenly; otherwise the seam is one sample's phase step, inaudible for a test tone).
    let signal = match source {
        MicSource::Tone(hz) => media::tone(hz, RATE, RATE as usize, 0.3),
        _ => media::speech_like_noise(RATE, RATE as usize * 4, 7),
    };
    let mut at = 0;
    paced("synthetic-mic", stop, move || {
        let block: Vec<i16> = (0..BLOCK).map(|i| signal[(at + i) % signal.len()]).collect();
        at = (at + BLOCK) % signal.len();
        let _ = out.try_send(block);
    })
}

struct Uplink {
    mixer: Arc<Mutex<Mixer>>,
    mic: Receiver<Vec<i16>>,
    packets: Sender<Vec<u8>>,
    mic_on: Arc<AtomicBool>,
    sending: Arc<AtomicBool>,
    stats: Arc<UplinkStats>,
    stop: Arc<AtomicBool>,
}

impl Uplink {
    fn run(self) {
        let mut echo = match EchoCanceller::new(EchoConfig::default()) {
            Ok(e) => Some(e),
            Err(e) => {
                tracing::warn!("no echo cancellation: {e}");
                None
            }
        };
        let mut encoder = match OpusEncoder::new(VOICE_BPS) {
            Ok(e) => e,
            Err(e) => {
                tracing::error!("no voice encoder: {e}");
                return;
            }
        };
        let mut pending: Vec<i16> = Vec::with_capacity(BLOCK * 4);
        let mut frame: Vec<i16> = Vec::with_capacity(FRAME_SAMPLES);
        while !self.stop.load(Ordering::Relaxed) {
            match self.mic.recv_timeout(Duration::from_millis(100)) {
                Ok(samples) => pending.extend(samples),
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return,
            }
            while pending.len() >= BLOCK {
                let mut block: Vec<i16> = pending.drain(..BLOCK).collect();
                if let Some(aec) = echo.as_mut() {
                    let far = lock(&self.mixer).take_far(BLOCK);
                    if let Err(e) = aec.render(&far).and_then(|()| aec.capture(&mut block)) {
                        tracing::warn!("echo cancellation off: {e}");
                        echo = None;
                    }
                }
                self.stats.blocks.fetch_add(1, Ordering::Relaxed);
                frame.extend(block);
                if frame.len() < FRAME_SAMPLES {
                    continue;
                }
                let peak = frame.iter().map(|&s| i32::from(s).unsigned_abs()).max().unwrap_or(0) as f32 / 32768.0;
                self.stats.level.store(peak.to_bits(), Ordering::Relaxed);
                if self.mic_on.load(Ordering::Relaxed) && self.sending.load(Ordering::Relaxed) {
                    match encoder.encode(&frame) {
                        Ok(packet) => {
                            if self.packets.try_send(packet).is_ok() {
                                self.stats.packets.fetch_add(1, Ordering::Relaxed);
                            } else {
                                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        Err(e) => tracing::warn!("voice encoding: {e}"),
                    }
                }
                frame.clear();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 1 kHz tone resampled 44.1 → 48 kHz (and 48 → 16 kHz) in uneven blocks keeps its pitch
    /// and the length ratio, without a click at the block seams.
    #[test]
    fn resampling_keeps_pitch_length_and_continuity() {
        for (from, to) in [(44_100u32, RATE), (RATE, 16_000), (RATE, 44_100)] {
            let tone: Vec<f32> = media::tone(1_000.0, from, from as usize, 0.5).iter().map(|&s| f32::from(s) / 32768.0).collect();
            let mut r = Resampler::new(from, to);
            let mut out = Vec::new();
            for block in tone.chunks(441) {
                r.process(block, &mut out);
            }
            let expected = f64::from(to);
            assert!((out.len() as f64 - expected).abs() <= 2.0, "{from}→{to}: {} samples", out.len());
            let pcm: Vec<i16> = out.iter().map(|&s| (s * 32767.0) as i16).collect();
            let f = media::dominant_frequency(&pcm, to);
            assert!((f - 1_000.0).abs() < 10.0, "{from}→{to}: {f} Hz");
            // Neighbouring samples of a 1 kHz sine at ≥ 16 kHz never jump by more than this.
            let step = 2.0 * std::f32::consts::PI * 1_000.0 / to as f32 * 0.5 * 1.05;
            assert!(out.windows(2).all(|w| (w[1] - w[0]).abs() <= step), "{from}→{to}: a discontinuity");
        }
    }
}
