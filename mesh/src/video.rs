//! Receiving video (with [`crate::Config::video`]; the tracks themselves are in
//! [`crate::track`]):
//!
//! - The remote track's RTP packets go through [`Vp8Assembler`], which puts them back in
//!   order, waits a little for retransmissions (the default interceptors' NACK generator asks
//!   for lost packets), strips the VP8 payload descriptor (RFC 7741) and hands out whole
//!   frames — only decodable ones: from a keyframe on, with no frame missing.
//! - Keyframe requests: when a frame is lost for good, or the stream starts without a
//!   keyframe, the assembler asks for a keyframe and the reader sends an RTCP PLI (at most
//!   every [`PLI_INTERVAL`]); the sender's side sees it through [`crate::track::RtcpForwarder`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

/// Least time between two keyframe requests from one receiver.
pub(crate) const PLI_INTERVAL: Duration = Duration::from_millis(300);

/// How long the assembler waits for a missing packet (a NACK retransmission) before it gives
/// the frame up and asks for a keyframe.
pub(crate) const MAX_PACKET_WAIT: Duration = Duration::from_millis(250);

/// Packets held waiting for a missing one, at most (beyond this the gap is given up at once).
const MAX_HELD_PACKETS: usize = 1024;

/// What the remote track's reader reports.
pub(crate) enum VideoIn {
    Frame { data: Vec<u8>, keyframe: bool },
}

/// Reads a remote video track until it ends: whole frames go to `emit`, keyframe requests go
/// back to the sender as PLI.
pub(crate) fn spawn_reader(track: Arc<dyn TrackRemote>, emit: impl Fn(VideoIn) + Send + 'static) {
    tokio::spawn(async move {
        let mut assembler = Vp8Assembler::default();
        while let Some(event) = track.poll().await {
            match event {
                TrackRemoteEvent::OnRtpPacket(packet) => {
                    let now = Instant::now();
                    let h = &packet.header;
                    for frame in assembler.push(now, h.sequence_number, h.timestamp, h.marker, &packet.payload) {
                        emit(VideoIn::Frame { data: frame.data, keyframe: frame.keyframe });
                    }
                    if assembler.wants_keyframe(now) {
                        let pli = PictureLossIndication { sender_ssrc: 0, media_ssrc: h.ssrc };
                        tracing::debug!(ssrc = h.ssrc, "asking for a keyframe");
                        if let Err(e) = track.write_rtcp(vec![Box::new(pli)]).await {
                            tracing::debug!("sending a PLI: {e}");
                        }
                    }
                }
                TrackRemoteEvent::OnEnded | TrackRemoteEvent::OnError => break,
                _ => {}
            }
        }
    });
}

/// True when a VP8 frame (RFC 6386 §9.1) is a keyframe: the inverse key-frame bit clear and
/// the start code after the 3-byte tag.
pub fn is_keyframe(frame: &[u8]) -> bool {
    frame.len() >= 10 && frame[0] & 1 == 0 && frame[3..6] == [0x9d, 0x01, 0x2a]
}

/// A VP8 payload descriptor (RFC 7741 §4.2): whether the packet starts a frame (S = 1 and
/// partition 0) and where the VP8 data begins. `None` for a malformed descriptor.
fn parse_descriptor(payload: &[u8]) -> Option<(bool, usize)> {
    let first = *payload.first()?;
    let start = first & 0x10 != 0 && first & 0x07 == 0;
    let mut at = 1;
    if first & 0x80 != 0 {
        let ext = *payload.get(at)?;
        at += 1;
        if ext & 0x80 != 0 {
            // PictureID, 7 or 15 bits (M bit).
            at += if *payload.get(at)? & 0x80 != 0 { 2 } else { 1 };
        }
        if ext & 0x40 != 0 {
            at += 1; // TL0PICIDX
        }
        if ext & 0x30 != 0 {
            at += 1; // TID/Y/KEYIDX
        }
    }
    (at < payload.len()).then_some((start, at))
}

struct Held {
    timestamp: u32,
    marker: bool,
    start: bool,
    data: Bytes,
}

/// A whole VP8 frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Frame {
    pub data: Vec<u8>,
    pub keyframe: bool,
}

/// Puts VP8 RTP packets back into whole, decodable frames (see the module docs).
#[derive(Default)]
pub(crate) struct Vp8Assembler {
    /// Packets not consumed yet, by extended sequence number.
    held: BTreeMap<u64, Held>,
    highest: Option<u64>,
    /// The first sequence number not consumed.
    next: Option<u64>,
    /// Frames since the last keyframe are all here: the decoder can follow.
    synced: bool,
    /// Since when `next` (or a packet of its frame) has been missing.
    waiting_since: Option<Instant>,
    need_keyframe: bool,
    last_request: Option<Instant>,
    /// Frames handed out / dropped (undecodable), keyframe requests, malformed packets.
    pub frames: u64,
    pub dropped_frames: u64,
    pub requests: u64,
    pub malformed: u64,
}

impl Vp8Assembler {
    fn extend(&self, seq: u16) -> u64 {
        let Some(highest) = self.highest else { return (1 << 32) | u64::from(seq) };
        let base = highest & !0xffff;
        let candidates = [base.wrapping_sub(0x1_0000), base, base + 0x1_0000].map(|b| b | u64::from(seq));
        candidates.into_iter().min_by_key(|c| c.abs_diff(highest)).unwrap_or(base | u64::from(seq))
    }

    /// Takes one RTP packet; returns the frames it completed, in order.
    pub(crate) fn push(&mut self, now: Instant, seq: u16, timestamp: u32, marker: bool, payload: &Bytes) -> Vec<Frame> {
        let Some((start, at)) = parse_descriptor(payload) else {
            self.malformed += 1;
            return Vec::new();
        };
        let ext = self.extend(seq);
        if self.next.is_some_and(|next| ext < next) {
            return Vec::new(); // late (already given up) or duplicate
        }
        self.held.insert(ext, Held { timestamp, marker, start, data: payload.slice(at..) });
        self.highest = Some(self.highest.map_or(ext, |h| h.max(ext)));
        let mut next = *self.next.get_or_insert(ext);
        let mut out = Vec::new();
        loop {
            match self.take_frame(next) {
                Taken::Frame(end, frame) => {
                    next = end + 1;
                    self.waiting_since = None;
                    if frame.keyframe {
                        self.synced = true;
                        self.need_keyframe = false;
                    }
                    if self.synced {
                        self.frames += 1;
                        out.push(frame);
                    } else {
                        self.dropped_frames += 1;
                        self.need_keyframe = true;
                    }
                }
                Taken::NotAStart => {
                    // The middle of a frame whose start was given up: useless.
                    self.held.remove(&next);
                    next += 1;
                    self.lost();
                }
                Taken::Incomplete => {
                    if self.held.is_empty() {
                        self.waiting_since = None; // nothing in flight: no gap
                        break;
                    }
                    let since = *self.waiting_since.get_or_insert(now);
                    if now.duration_since(since) < MAX_PACKET_WAIT && self.held.len() < MAX_HELD_PACKETS {
                        break;
                    }
                    // Give the gap up: resume at the next frame start after it.
                    self.waiting_since = None;
                    self.lost();
                    let resume = self.held.iter().find(|(s, h)| **s > next && h.start).map(|(s, _)| *s);
                    match resume {
                        Some(s) => {
                            self.held.retain(|k, _| *k >= s);
                            next = s;
                        }
                        None => {
                            next = self.highest.map_or(next, |h| h + 1);
                            self.held.clear();
                            break;
                        }
                    }
                }
            }
        }
        self.next = Some(next);
        out
    }

    fn lost(&mut self) {
        if self.synced {
            self.dropped_frames += 1;
        }
        self.synced = false;
        self.need_keyframe = true;
    }

    fn take_frame(&mut self, next: u64) -> Taken {
        let Some(first) = self.held.get(&next) else { return Taken::Incomplete };
        if !first.start {
            return Taken::NotAStart;
        }
        let timestamp = first.timestamp;
        let mut end = next;
        loop {
            let Some(p) = self.held.get(&end) else { return Taken::Incomplete };
            if p.timestamp != timestamp {
                // The previous packet ended the frame without a marker.
                end -= 1;
                break;
            }
            if p.marker {
                break;
            }
            end += 1;
        }
        let mut data = Vec::new();
        for s in next..=end {
            if let Some(p) = self.held.remove(&s) {
                data.extend_from_slice(&p.data);
            }
        }
        let keyframe = is_keyframe(&data);
        Taken::Frame(end, Frame { data, keyframe })
    }

    /// True when a keyframe should be asked for now (rate-limited to [`PLI_INTERVAL`]).
    pub(crate) fn wants_keyframe(&mut self, now: Instant) -> bool {
        if !self.need_keyframe || self.last_request.is_some_and(|t| now.duration_since(t) < PLI_INTERVAL) {
            return false;
        }
        self.last_request = Some(now);
        self.requests += 1;
        true
    }
}

enum Taken {
    Frame(u64, Frame),
    NotAStart,
    Incomplete,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake keyframe / delta frame of `len` bytes.
    fn frame(key: bool, len: usize, fill: u8) -> Vec<u8> {
        let mut f = vec![fill; len.max(10)];
        f[0] = if key { 0x10 } else { 0x11 };
        f[3..6].copy_from_slice(&[0x9d, 0x01, 0x2a]);
        f
    }

    /// Packetizes like the stack: 1-byte descriptor (S on the first), marker on the last.
    fn packets(f: &[u8], mtu: usize) -> Vec<(bool, Bytes)> {
        let chunks: Vec<&[u8]> = f.chunks(mtu).collect();
        let n = chunks.len();
        chunks
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                let mut p = vec![if i == 0 { 0x10 } else { 0x00 }];
                p.extend_from_slice(c);
                (i + 1 == n, Bytes::from(p))
            })
            .collect()
    }

    struct Stream {
        seq: u16,
        ts: u32,
        pending: Vec<(u16, u32, bool, Bytes)>,
    }

    impl Stream {
        fn frame(&mut self, f: &[u8]) {
            for (marker, p) in packets(f, 100) {
                self.pending.push((self.seq, self.ts, marker, p));
                self.seq = self.seq.wrapping_add(1);
            }
            self.ts = self.ts.wrapping_add(3000);
        }
    }

    #[test]
    fn frames_reassemble_in_order_across_a_sequence_wrap_and_reordering() {
        let mut s = Stream { seq: 65_530, ts: 7, pending: Vec::new() };
        let frames = [frame(true, 350, 1), frame(false, 120, 2), frame(false, 5, 3), frame(false, 260, 4)];
        for f in &frames {
            s.frame(f);
        }
        s.pending.swap(1, 3); // reordered within the keyframe
        let mut a = Vp8Assembler::default();
        let now = Instant::now();
        let mut got = Vec::new();
        for (seq, ts, m, p) in s.pending {
            got.extend(a.push(now, seq, ts, m, &p));
        }
        assert_eq!(got.iter().map(|f| f.data.clone()).collect::<Vec<_>>(), frames.to_vec());
        assert!(got[0].keyframe && !got[1].keyframe);
        assert!(!a.wants_keyframe(now));
    }

    #[test]
    fn a_lost_packet_waits_for_a_retransmission_then_gives_up_and_asks_for_a_keyframe() {
        let mut s = Stream { seq: 100, ts: 0, pending: Vec::new() };
        s.frame(&frame(true, 300, 1));
        s.frame(&frame(false, 300, 2)); // packets 104..=107
        s.frame(&frame(false, 300, 3));
        let lost = s.pending.remove(5);
        let mut a = Vp8Assembler::default();
        let t0 = Instant::now();
        let mut got = Vec::new();
        for (seq, ts, m, p) in s.pending.clone() {
            got.extend(a.push(t0, seq, ts, m, &p));
        }
        assert_eq!(got.len(), 1, "only the keyframe so far");
        // The retransmission arrives in time: everything comes out.
        let mut b = Vp8Assembler::default();
        let mut all = Vec::new();
        for (seq, ts, m, p) in s.pending.iter().cloned().chain([lost]) {
            all.extend(b.push(t0, seq, ts, m, &p));
        }
        assert_eq!(all.len(), 3);
        // It does not: after MAX_PACKET_WAIT the frames are dropped and a keyframe asked for.
        let later = t0 + MAX_PACKET_WAIT + Duration::from_millis(1);
        s.frame(&frame(false, 50, 4));
        let (seq, ts, m, p) = s.pending.last().cloned().unwrap_or_else(|| unreachable!());
        assert!(a.push(later, seq, ts, m, &p).is_empty());
        assert!(a.wants_keyframe(later));
        assert!(!a.wants_keyframe(later), "rate-limited");
        s.pending.clear();
        s.frame(&frame(true, 200, 5));
        let mut after = Vec::new();
        for (seq, ts, m, p) in s.pending.clone() {
            after.extend(a.push(later, seq, ts, m, &p));
        }
        assert_eq!(after.len(), 1);
        assert!(after[0].keyframe);
        assert!(!a.wants_keyframe(later + PLI_INTERVAL));
    }

    #[test]
    fn a_stream_joined_mid_way_asks_for_a_keyframe_and_drops_deltas() {
        let mut s = Stream { seq: 1, ts: 0, pending: Vec::new() };
        s.frame(&frame(false, 150, 1));
        s.frame(&frame(false, 150, 2));
        let mut a = Vp8Assembler::default();
        let now = Instant::now();
        for (seq, ts, m, p) in s.pending.clone() {
            assert!(a.push(now, seq, ts, m, &p).is_empty());
        }
        assert!(a.wants_keyframe(now));
        assert_eq!(a.dropped_frames, 2);
    }

    #[test]
    fn descriptors_with_extensions_parse() {
        // X, I with a 15-bit picture id, L, T: 1 + 1 + 2 + 1 + 1 bytes of descriptor.
        let p = [0x90, 0xe0, 0x80, 0x01, 0x05, 0x20, 0xaa];
        assert_eq!(parse_descriptor(&p), Some((true, 6)));
        assert_eq!(parse_descriptor(&[0x10]), None);
        assert_eq!(parse_descriptor(&[0x00, 0x42]), Some((false, 1)));
        assert_eq!(parse_descriptor(&[0x90, 0x80]), None);
    }
}
