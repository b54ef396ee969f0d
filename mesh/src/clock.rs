//! Server clock estimate from ping/pong samples.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How many recent samples are kept; the one with the smallest round trip wins.
const WINDOW: usize = 16;

/// Estimates the offset between the local monotonic clock and the server clock.
///
/// Local times are milliseconds since [`ClockSync::epoch`] (monotonic, so wall-clock jumps
/// on this machine do not matter). For each ping/pong the server time is assumed to be read
/// halfway through the round trip; the error of a sample is at most half its round trip, so
/// the sample with the smallest round trip among the last [`WINDOW`] is used.
#[derive(Debug, Clone)]
pub struct ClockSync {
    epoch: Instant,
    samples: VecDeque<Sample>,
    /// Rough offset from the `Welcome`, used until the first pong.
    coarse_offset_ms: Option<i64>,
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    rtt_ms: u64,
    offset_ms: i64,
}

impl Default for ClockSync {
    fn default() -> Self {
        Self::new(Instant::now())
    }
}

impl ClockSync {
    pub fn new(epoch: Instant) -> Self {
        Self { epoch, samples: VecDeque::with_capacity(WINDOW), coarse_offset_ms: None }
    }

    /// The instant local times are measured from.
    pub fn epoch(&self) -> Instant {
        self.epoch
    }

    /// Milliseconds since the epoch at `at`.
    pub fn local_ms(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.epoch).as_millis() as u64
    }

    /// A server time seen without a round trip (e.g. in `Welcome`), received at `received`.
    pub fn add_coarse(&mut self, server_ms: u64, received: Instant) {
        self.coarse_offset_ms = Some(server_ms as i64 - self.local_ms(received) as i64);
    }

    /// One ping/pong: sent at local ms `sent_ms`, answered with `server_ms`, received at
    /// local ms `received_ms`. Samples with a negative round trip are ignored.
    pub fn add_sample(&mut self, sent_ms: u64, server_ms: u64, received_ms: u64) {
        let Some(rtt_ms) = received_ms.checked_sub(sent_ms) else { return };
        let midpoint = sent_ms + rtt_ms / 2;
        let offset_ms = server_ms as i64 - midpoint as i64;
        if self.samples.len() == WINDOW {
            self.samples.pop_front();
        }
        self.samples.push_back(Sample { rtt_ms, offset_ms });
    }

    fn best(&self) -> Option<Sample> {
        self.samples.iter().copied().min_by_key(|s| s.rtt_ms)
    }

    /// Server ms minus local ms; `None` before any estimate.
    pub fn offset_ms(&self) -> Option<i64> {
        self.best().map(|s| s.offset_ms).or(self.coarse_offset_ms)
    }

    /// Round trip of the sample in use.
    pub fn best_rtt(&self) -> Option<Duration> {
        self.best().map(|s| Duration::from_millis(s.rtt_ms))
    }

    /// Number of ping/pong samples held.
    pub fn sample_count(&self) -> usize {
        self.samples.len()
    }

    /// The server clock at local instant `at`.
    pub fn server_ms_at(&self, at: Instant) -> Option<u64> {
        let offset = self.offset_ms()?;
        u64::try_from(self.local_ms(at) as i64 + offset).ok()
    }

    /// The server clock now.
    pub fn server_now_ms(&self) -> Option<u64> {
        self.server_ms_at(Instant::now())
    }

    /// The local instant when the server clock reads `server_ms` (clamped to the epoch).
    pub fn to_local(&self, server_ms: u64) -> Option<Instant> {
        let offset = self.offset_ms()?;
        let local_ms = (server_ms as i64 - offset).max(0) as u64;
        Some(self.epoch + Duration::from_millis(local_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smallest_round_trip_sample_wins() {
        let mut c = ClockSync::new(Instant::now());
        // True offset 1_000_000. A slow sample with an asymmetric delay is off by 40 ms…
        c.add_sample(100, 1_000_100 + 80, 200);
        assert_eq!(c.offset_ms(), Some(1_000_030));
        // …a fast symmetric one replaces it.
        c.add_sample(300, 1_000_302, 304);
        assert_eq!(c.offset_ms(), Some(1_000_000));
        assert_eq!(c.best_rtt(), Some(Duration::from_millis(4)));
        // Later slow samples do not disturb it.
        c.add_sample(400, 1_000_500, 600);
        assert_eq!(c.offset_ms(), Some(1_000_000));
    }

    #[test]
    fn old_samples_leave_the_window() {
        let mut c = ClockSync::new(Instant::now());
        c.add_sample(0, 5_000, 2);
        for i in 0..WINDOW as u64 {
            c.add_sample(100 + i * 10, 9_000 + 100 + i * 10 + 5, 100 + i * 10 + 10);
        }
        assert_eq!(c.sample_count(), WINDOW);
        assert_eq!(c.offset_ms(), Some(9_000));
    }

    #[test]
    fn coarse_estimate_until_first_sample_and_conversions_agree() {
        let epoch = Instant::now();
        let mut c = ClockSync::new(epoch);
        assert_eq!(c.offset_ms(), None);
        assert_eq!(c.to_local(5), None);
        c.add_coarse(10_000, epoch + Duration::from_millis(50));
        assert_eq!(c.offset_ms(), Some(9_950));
        c.add_sample(100, 20_000, 110);
        assert_eq!(c.offset_ms(), Some(20_000 - 105));
        let at = epoch + Duration::from_millis(1_000);
        let server = c.server_ms_at(at).unwrap();
        assert_eq!(server, 1_000 + 20_000 - 105);
        assert_eq!(c.to_local(server), Some(at));
    }

    #[test]
    fn negative_round_trip_is_ignored() {
        let mut c = ClockSync::new(Instant::now());
        c.add_sample(100, 1, 50);
        assert_eq!(c.sample_count(), 0);
    }
}
