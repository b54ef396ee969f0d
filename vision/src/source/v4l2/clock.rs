//! A V4L2 buffer's timestamp as a [`std::time::Instant`].
//!
//! Drivers stamp each buffer with a `timeval`; the buffer flags say on which clock
//! (`V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC`: CLOCK_MONOTONIC, the clock Rust's `Instant` reads on
//! Linux; `..._COPY`: copied from elsewhere, meaningless here; `..._UNKNOWN`: anything). uvcvideo
//! stamps the start of exposure (or the first USB packet) on CLOCK_MONOTONIC. We map the
//! stamp by reading CLOCK_MONOTONIC and `Instant::now()` together right after the dequeue and
//! subtracting the stamp's age; when the stamp cannot be trusted, the frame's time is when it
//! was dequeued.

use std::time::{Duration, Instant};

pub const TIMESTAMP_MASK: u32 = 0x0000_e000;
pub const TIMESTAMP_MONOTONIC: u32 = 0x0000_2000;

/// A stamp older than this at dequeue is taken for a clock mismatch (or a driver bug), not for
/// a frame that really waited that long in a two-buffer queue.
pub const MAX_AGE: Duration = Duration::from_secs(5);

/// Where a frame's capture time came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stamp {
    /// The driver's own timestamp.
    Driver,
    /// The dequeue time, because the driver's clock is not CLOCK_MONOTONIC (flag unknown or copy).
    NotMonotonic,
    /// The dequeue time, because the driver left the timestamp at zero.
    Zero,
    /// The dequeue time, because the timestamp is invalid (microseconds out of range) or after it.
    Invalid,
    /// The dequeue time, because the timestamp is more than [`MAX_AGE`] old.
    TooOld,
}

impl Stamp {
    pub fn describe(self) -> &'static str {
        match self {
            Stamp::Driver => "the camera driver's timestamps (CLOCK_MONOTONIC)",
            Stamp::NotMonotonic => "dequeue times (the driver's timestamps are not on CLOCK_MONOTONIC)",
            Stamp::Zero => "dequeue times (the driver gives no timestamps)",
            Stamp::Invalid => "dequeue times (the driver's timestamps are invalid or in the future)",
            Stamp::TooOld => "dequeue times (the driver's timestamps are implausibly old)",
        }
    }
}

/// The capture time of a buffer with `flags` and timestamp `sec`.`usec`, given CLOCK_MONOTONIC
/// (`mono_now`) and `Instant::now()` (`now`) read together right after it was dequeued.
pub fn capture_instant(flags: u32, sec: i64, usec: i64, mono_now: Duration, now: Instant) -> (Instant, Stamp) {
    if flags & TIMESTAMP_MASK != TIMESTAMP_MONOTONIC {
        return (now, Stamp::NotMonotonic);
    }
    if sec == 0 && usec == 0 {
        return (now, Stamp::Zero);
    }
    let (Ok(sec), Ok(usec)) = (u64::try_from(sec), u32::try_from(usec)) else {
        return (now, Stamp::Invalid);
    };
    if usec >= 1_000_000 {
        return (now, Stamp::Invalid);
    }
    let stamp = Duration::new(sec, usec * 1000);
    let Some(age) = mono_now.checked_sub(stamp) else {
        return (now, Stamp::Invalid);
    };
    if age > MAX_AGE {
        return (now, Stamp::TooOld);
    }
    match now.checked_sub(age) {
        Some(t) => (t, Stamp::Driver),
        None => (now, Stamp::Invalid),
    }
}

/// CLOCK_MONOTONIC now.
pub fn monotonic_now() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(u64::try_from(ts.tv_sec).unwrap_or(0), u32::try_from(ts.tv_nsec).unwrap_or(0).min(999_999_999))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MONO: u32 = TIMESTAMP_MONOTONIC;
    // V4L2_BUF_FLAG_TSTAMP_SRC_SOE and V4L2_BUF_FLAG_DONE set alongside must not matter.
    const MONO_SOE: u32 = TIMESTAMP_MONOTONIC | 0x0001_0000 | 0x4;
    const COPY: u32 = 0x0000_4000;

    #[test]
    fn driver_timestamps_map_onto_instants() {
        let now = Instant::now();
        let mono = Duration::new(1000, 500_000_000);
        // Captured 40 ms before the dequeue.
        let (t, s) = capture_instant(MONO_SOE, 1000, 460_000, mono, now);
        assert_eq!(s, Stamp::Driver);
        assert_eq!(now - t, Duration::from_millis(40));
        let (t, s) = capture_instant(MONO, 1000, 500_000, mono, now);
        assert_eq!((t, s), (now, Stamp::Driver));
    }

    #[test]
    fn untrusted_timestamps_fall_back_to_the_dequeue_time() {
        let now = Instant::now();
        let mono = Duration::new(1000, 0);
        assert_eq!(capture_instant(0, 999, 0, mono, now), (now, Stamp::NotMonotonic));
        assert_eq!(capture_instant(COPY, 999, 0, mono, now), (now, Stamp::NotMonotonic));
        assert_eq!(capture_instant(MONO, 0, 0, mono, now), (now, Stamp::Zero));
        assert_eq!(capture_instant(MONO, 1000, 1, mono, now), (now, Stamp::Invalid), "in the future");
        // A wall-clock stamp (uvcvideo's clock=realtime) lies decades in CLOCK_MONOTONIC's future.
        assert_eq!(capture_instant(MONO, 1_790_000_000, 0, mono, now), (now, Stamp::Invalid));
        assert_eq!(capture_instant(MONO, 999, 1_000_000, mono, now), (now, Stamp::Invalid));
        assert_eq!(capture_instant(MONO, -1, 0, mono, now), (now, Stamp::Invalid));
        assert_eq!(capture_instant(MONO, 999, -5, mono, now), (now, Stamp::Invalid));
        assert_eq!(capture_instant(MONO, 994, 999_999, mono, now), (now, Stamp::TooOld));
        assert_eq!(capture_instant(MONO, 995, 0, mono, now).1, Stamp::Driver, "exactly MAX_AGE is kept");
    }

    #[test]
    fn the_monotonic_clock_is_the_instant_clock() {
        // Rust's Instant reads CLOCK_MONOTONIC on Linux: a stamp taken now maps to about now.
        let stamp = monotonic_now();
        std::thread::sleep(Duration::from_millis(20));
        let (mono, now) = (monotonic_now(), Instant::now());
        let (t, s) = capture_instant(MONO, stamp.as_secs() as i64, i64::from(stamp.subsec_micros()), mono, now);
        assert_eq!(s, Stamp::Driver);
        let age = now - t;
        assert!(age >= Duration::from_millis(19) && age < Duration::from_secs(2), "{age:?}");
    }
}
