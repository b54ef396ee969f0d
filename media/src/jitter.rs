//! Receiving voice: a jitter buffer that puts Opus packets back in order and hands one 20 ms
//! frame per playout tick, and [`VoiceReceiver`], which decodes them — with in-band FEC or
//! packet-loss concealment where a packet is missing — into a stream of samples the output
//! pulls at its own pace.
//!
//! The buffer holds [`JitterBuffer::target`] frames before it starts playing (40 ms at first).
//! An underrun (nothing to play while playing) conceals the frame and raises the target by
//! one frame, up to [`MAX_TARGET_FRAMES`]; ten seconds without one lowers it again. When
//! more than the target plus [`SLACK_FRAMES`] is waiting (a burst after a stall), the
//! oldest frames are dropped to bring the delay back down. After [`STOP_AFTER_LOST`]
//! missing frames in a row the sender is taken to have stopped: playout goes silent and
//! buffers again on the next packet.

use std::collections::{BTreeMap, VecDeque};

use crate::audio::{FRAME_SAMPLES, OpusDecoder};
use crate::error::MediaError;

/// The least and most frames the buffer aims to hold before playing one (20 ms each).
pub const MIN_TARGET_FRAMES: usize = 2;
pub const MAX_TARGET_FRAMES: usize = 10;
/// Frames beyond the target that may wait before the oldest are dropped.
pub const SLACK_FRAMES: usize = 4;
/// Missing frames in a row after which playout stops and buffers again.
pub const STOP_AFTER_LOST: u32 = 5;
/// Frames without an underrun after which the target is lowered by one (10 s).
const CALM_FRAMES: u32 = 500;
/// Packets held at most (a sender far ahead is cut back to this).
const MAX_HELD: usize = 64;

/// What to play for one 20 ms tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Playout {
    /// The packet for this tick.
    Packet(Vec<u8>),
    /// This tick's packet is missing; the next one (for FEC) if it is here.
    Lost { next: Option<Vec<u8>> },
    /// Nothing is playing (not started, or the sender stopped).
    Silence,
}

/// Counters of a jitter buffer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JitterStats {
    /// Packets pushed / played as they came.
    pub received: u64,
    pub played: u64,
    /// Ticks with the packet missing (concealed: FEC or PLC).
    pub concealed: u64,
    /// Of those, ticks where nothing at all was waiting (the buffer ran dry).
    pub underruns: u64,
    /// Packets that came after their tick, or twice.
    pub late: u64,
    /// Packets dropped to bring the delay down.
    pub dropped: u64,
}

/// Opus packets in order of their RTP sequence numbers, one per tick (see the module docs).
#[derive(Debug, Clone)]
pub struct JitterBuffer {
    held: BTreeMap<u64, Vec<u8>>,
    highest: Option<u64>,
    /// The sequence number of the next tick while playing.
    next: Option<u64>,
    target: usize,
    lost_in_row: u32,
    calm: u32,
    stats: JitterStats,
}

impl Default for JitterBuffer {
    fn default() -> Self {
        Self {
            held: BTreeMap::new(),
            highest: None,
            next: None,
            target: MIN_TARGET_FRAMES,
            lost_in_row: 0,
            calm: 0,
            stats: JitterStats::default(),
        }
    }
}

impl JitterBuffer {
    /// Frames held before playing (the buffer's delay, in 20 ms frames).
    pub fn target(&self) -> usize {
        self.target
    }

    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    /// Packets waiting.
    pub fn len(&self) -> usize {
        self.held.len()
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// The 16-bit sequence number extended by the wraps seen so far.
    fn extend(&self, seq: u16) -> u64 {
        let Some(highest) = self.highest else { return (1 << 32) | u64::from(seq) };
        let base = highest & !0xffff;
        [base.wrapping_sub(0x1_0000), base, base + 0x1_0000]
            .map(|b| b | u64::from(seq))
            .into_iter()
            .min_by_key(|c| c.abs_diff(highest))
            .unwrap_or(base | u64::from(seq))
    }

    /// Takes a packet as it arrived.
    pub fn push(&mut self, sequence: u16, payload: Vec<u8>) {
        let ext = self.extend(sequence);
        self.stats.received += 1;
        if self.next.is_some_and(|next| ext < next) || self.held.contains_key(&ext) {
            self.stats.late += 1;
            return;
        }
        self.held.insert(ext, payload);
        self.highest = Some(self.highest.map_or(ext, |h| h.max(ext)));
        while self.held.len() > MAX_HELD {
            self.held.pop_first();
            self.stats.dropped += 1;
        }
    }

    /// What to play for the next 20 ms tick.
    pub fn pop(&mut self) -> Playout {
        let Some(next) = self.next else {
            if self.held.len() < self.target {
                return Playout::Silence;
            }
            // Start with the oldest packet waiting.
            let Some((seq, payload)) = self.held.pop_first() else { return Playout::Silence };
            self.next = Some(seq + 1);
            self.lost_in_row = 0;
            self.stats.played += 1;
            return Playout::Packet(payload);
        };
        // Too much waiting: drop the oldest to bring the delay back to the target, and play
        // on from the oldest kept.
        let mut next = next;
        if self.held.len() > self.target + SLACK_FRAMES {
            while self.held.len() > self.target {
                if self.held.pop_first().is_some() {
                    self.stats.dropped += 1;
                }
            }
            if let Some((&first, _)) = self.held.first_key_value() {
                next = next.max(first);
            }
        }
        self.next = Some(next + 1);
        self.calm += 1;
        if self.calm >= CALM_FRAMES && self.target > MIN_TARGET_FRAMES {
            self.target -= 1;
            self.calm = 0;
        }
        if let Some(payload) = self.held.remove(&next) {
            self.lost_in_row = 0;
            self.stats.played += 1;
            return Playout::Packet(payload);
        }
        self.lost_in_row += 1;
        if self.lost_in_row > STOP_AFTER_LOST {
            // The sender stopped (or a long outage): silence, then buffer again.
            self.next = None;
            self.lost_in_row = 0;
            self.held.retain(|&k, _| k > next);
            return Playout::Silence;
        }
        self.stats.concealed += 1;
        if self.held.is_empty() {
            self.stats.underruns += 1;
            self.calm = 0;
            if self.lost_in_row == 1 {
                // Once per dry spell: the delay grows by a frame each time the buffer runs dry.
                self.target = (self.target + 1).min(MAX_TARGET_FRAMES);
            }
        }
        Playout::Lost { next: self.held.get(&(next + 1)).cloned() }
    }
}

/// Counters of a [`VoiceReceiver`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VoiceStats {
    pub jitter: JitterStats,
    /// Frames rebuilt from the next packet's FEC / by packet-loss concealment.
    pub fec_frames: u64,
    pub plc_frames: u64,
    /// Packets the decoder refused (corrupt).
    pub corrupt: u64,
    /// Buffer delay now, in ms (target frames × 20).
    pub delay_ms: u32,
}

/// One peer's voice: packets in, samples (48 kHz mono) out at the output's pace.
pub struct VoiceReceiver {
    buffer: JitterBuffer,
    decoder: OpusDecoder,
    samples: VecDeque<i16>,
    fec_frames: u64,
    plc_frames: u64,
    corrupt: u64,
    /// Whether the last tick played sound (concealment only follows sound).
    sounding: bool,
}

impl VoiceReceiver {
    pub fn new() -> Result<Self, MediaError> {
        Ok(Self {
            buffer: JitterBuffer::default(),
            decoder: OpusDecoder::new()?,
            samples: VecDeque::with_capacity(FRAME_SAMPLES * 2),
            fec_frames: 0,
            plc_frames: 0,
            corrupt: 0,
            sounding: false,
        })
    }

    /// Takes a packet as it arrived from the network.
    pub fn push(&mut self, sequence: u16, payload: Vec<u8>) {
        self.buffer.push(sequence, payload);
    }

    /// Fills `out` with the next samples (silence where nothing is playing).
    pub fn pull(&mut self, out: &mut [i16]) {
        while self.samples.len() < out.len() {
            let frame = self.tick();
            self.samples.extend(frame);
        }
        let n = out.len();
        for (o, s) in out.iter_mut().zip(self.samples.drain(..n)) {
            *o = s;
        }
    }

    /// One 20 ms frame of samples.
    fn tick(&mut self) -> Vec<i16> {
        let decoded = match self.buffer.pop() {
            Playout::Packet(p) => match self.decoder.decode(&p) {
                Ok(pcm) => Ok(pcm),
                Err(_) => {
                    self.corrupt += 1;
                    self.conceal()
                }
            },
            Playout::Lost { next: Some(next) } if self.sounding => {
                self.fec_frames += 1;
                self.decoder.decode_fec(&next).or_else(|_| self.conceal())
            }
            Playout::Lost { .. } if self.sounding => self.conceal(),
            Playout::Lost { .. } | Playout::Silence => {
                self.sounding = false;
                return vec![0; FRAME_SAMPLES];
            }
        };
        match decoded {
            Ok(pcm) if !pcm.is_empty() => {
                self.sounding = true;
                pcm
            }
            _ => {
                self.sounding = false;
                vec![0; FRAME_SAMPLES]
            }
        }
    }

    fn conceal(&mut self) -> Result<Vec<i16>, MediaError> {
        self.plc_frames += 1;
        self.decoder.decode_lost()
    }

    pub fn stats(&self) -> VoiceStats {
        VoiceStats {
            jitter: self.buffer.stats(),
            fec_frames: self.fec_frames,
            plc_frames: self.plc_frames,
            corrupt: self.corrupt,
            delay_ms: (self.buffer.target() * 20) as u32,
        }
    }
}

impl std::fmt::Debug for VoiceReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VoiceReceiver").field("stats", &self.stats()).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(n: u8) -> Vec<u8> {
        vec![n]
    }

    #[test]
    fn playout_waits_for_the_target_then_plays_in_order_across_a_wrap() {
        let mut jb = JitterBuffer::default();
        jb.push(65_535, p(1));
        assert_eq!(jb.pop(), Playout::Silence, "one packet is below the 2-frame target");
        jb.push(1, p(3));
        jb.push(0, p(2));
        assert_eq!(jb.pop(), Playout::Packet(p(1)));
        assert_eq!(jb.pop(), Playout::Packet(p(2)));
        assert_eq!(jb.pop(), Playout::Packet(p(3)));
        assert_eq!(jb.stats().played, 3);
    }

    #[test]
    fn a_missing_packet_is_concealed_with_the_next_for_fec_and_a_late_one_dropped() {
        let mut jb = JitterBuffer::default();
        for s in [10, 11, 13, 14] {
            jb.push(s, p(s as u8));
        }
        assert_eq!(jb.pop(), Playout::Packet(p(10)));
        assert_eq!(jb.pop(), Playout::Packet(p(11)));
        assert_eq!(jb.pop(), Playout::Lost { next: Some(p(13)) });
        jb.push(12, p(12)); // too late now
        assert_eq!(jb.pop(), Playout::Packet(p(13)));
        let s = jb.stats();
        assert_eq!((s.concealed, s.late, s.underruns), (1, 1, 0));
    }

    #[test]
    fn underruns_raise_the_target_and_a_stopped_sender_goes_silent() {
        let mut jb = JitterBuffer::default();
        jb.push(0, p(0));
        jb.push(1, p(1));
        jb.pop();
        jb.pop();
        assert!(matches!(jb.pop(), Playout::Lost { next: None }));
        assert_eq!(jb.target(), MIN_TARGET_FRAMES + 1);
        for _ in 1..STOP_AFTER_LOST {
            assert!(matches!(jb.pop(), Playout::Lost { .. }));
        }
        assert_eq!(jb.pop(), Playout::Silence);
        assert_eq!(jb.pop(), Playout::Silence);
        // A new talk spurt buffers to the (raised) target again.
        for s in 50..53 {
            jb.push(s, p(s as u8));
        }
        assert_eq!(jb.pop(), Playout::Packet(p(50)));
    }

    #[test]
    fn a_burst_after_a_stall_is_cut_back_to_the_target() {
        let mut jb = JitterBuffer::default();
        jb.push(0, p(0));
        jb.push(1, p(1));
        jb.pop();
        for s in 1..20u16 {
            jb.push(s, p(s as u8));
        }
        let Playout::Packet(first) = jb.pop() else { panic!("a packet") };
        assert!(first[0] > 10, "old frames dropped, played {}", first[0]);
        assert!(jb.len() <= jb.target() + SLACK_FRAMES);
        assert!(jb.stats().dropped > 0);
    }

    #[test]
    fn a_receiver_decodes_a_tone_and_conceals_a_lost_packet() {
        let mut enc = crate::audio::OpusEncoder::new(32_000).unwrap_or_else(|e| panic!("{e}"));
        let tone = crate::quality::tone(600.0, crate::audio::SAMPLE_RATE, FRAME_SAMPLES * 50, 0.3);
        let mut rx = VoiceReceiver::new().unwrap_or_else(|e| panic!("{e}"));
        let mut out = Vec::new();
        for (i, frame) in tone.chunks(FRAME_SAMPLES).enumerate() {
            let packet = enc.encode(frame).unwrap_or_else(|e| panic!("{e}"));
            if i != 20 {
                rx.push(i as u16, packet);
            }
            let mut tick = vec![0i16; FRAME_SAMPLES];
            rx.pull(&mut tick);
            out.extend(tick);
        }
        let f = crate::quality::dominant_frequency(&out[FRAME_SAMPLES * 4..], crate::audio::SAMPLE_RATE);
        assert!((f - 600.0).abs() < 10.0, "dominant {f} Hz");
        let s = rx.stats();
        assert_eq!(s.jitter.concealed, 1, "{s:?}");
        assert_eq!(s.fec_frames + s.plc_frames, 1, "{s:?}");
        // Corrupt bytes are counted and concealed, not fatal.
        rx.push(50, vec![0xff; 3]);
        for _ in 0..4 {
            let mut tick = vec![0i16; FRAME_SAMPLES];
            rx.pull(&mut tick);
        }
        assert_eq!(rx.stats().corrupt, 1, "{:?}", rx.stats());
    }
}
