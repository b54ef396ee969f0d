//! Resource limits, enforced while streaming.

use crate::error::{Error, LimitKind, Result};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Bounds on what one file may cost. The defaults fit quiz decks and routines with a
/// wide margin and stop decompression bombs early.
///
/// What tells a large file from a bomb is the ratio of inflated to compressed bytes and
/// the time: a 300 MB deck with a video, or a sheet of 250 000 rows, inflates a few times
/// its compressed size; a bomb inflates a thousand times. Parts that carry no text
/// (media, fonts, embedded binaries) are never inflated, and sheet and document XML is
/// parsed as it streams out of the zip, so only what is held in memory at once (a buffered
/// part, a PDF stream) is bounded by `max_entry_bytes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Bytes one entry, container stream or PDF stream may inflate to when it is held in
    /// memory whole (parts parsed as a stream are bounded by the total and the ratio).
    pub max_entry_bytes: u64,
    /// Bytes everything inflated from one top-level file may add up to.
    pub max_total_bytes: u64,
    /// Size of a file read into memory whole (PDF, OLE compound files, archive entries).
    /// A zip read from disk is not held in memory and is not bounded by this.
    pub max_file_bytes: u64,
    /// Inflated bytes per compressed byte one entry or stream may reach, once it is past
    /// `ratio_floor` bytes (small parts legitimately compress very well).
    pub max_ratio: u64,
    /// Inflated bytes below which the ratio is not checked.
    pub ratio_floor: u64,
    /// Archive entries (or container streams) one file may hold.
    pub max_entries: usize,
    /// How deep archives may nest (a document inside a zip is depth 1).
    pub max_depth: u32,
    /// Time one top-level file may take.
    pub max_time: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_entry_bytes: 64 << 20,
            max_total_bytes: 1 << 30,
            max_file_bytes: 256 << 20,
            max_ratio: 200,
            ratio_floor: 8 << 20,
            max_entries: 10_000,
            max_depth: 4,
            max_time: Duration::from_secs(30),
        }
    }
}

impl Limits {
    /// The ratio error when `inflated` bytes from `compressed` ones is past the ratio.
    pub(crate) fn check_ratio(&self, inflated: u64, compressed: u64) -> Result<()> {
        if inflated > self.ratio_floor && inflated / compressed.max(1) > self.max_ratio {
            return Err(Error::Limit(LimitKind::Ratio { max: self.max_ratio }));
        }
        Ok(())
    }
}

/// The running budget of one top-level extraction: limits, the inflated bytes so far,
/// the deadline, the nesting depth, the password and the cancellation flag.
pub struct Ctx<'a> {
    pub limits: &'a Limits,
    pub password: Option<&'a str>,
    cancel: Option<&'a AtomicBool>,
    deadline: Instant,
    inflated: u64,
    /// Current archive nesting depth (0 = top-level file).
    pub depth: u32,
    progress: Option<&'a (dyn Fn(u64) + Sync)>,
    next_report: u64,
}

/// Inflated bytes between two progress reports.
const PROGRESS_STEP: u64 = 256 * 1024;

impl std::fmt::Debug for Ctx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("limits", &self.limits)
            .field("password", &self.password.map(|_| "***"))
            .field("inflated", &self.inflated)
            .field("depth", &self.depth)
            .finish_non_exhaustive()
    }
}

impl<'a> Ctx<'a> {
    pub fn new(limits: &'a Limits, password: Option<&'a str>, cancel: Option<&'a AtomicBool>) -> Self {
        Self {
            limits,
            password,
            cancel,
            deadline: Instant::now() + limits.max_time,
            inflated: 0,
            depth: 0,
            progress: None,
            next_report: PROGRESS_STEP,
        }
    }

    /// Reports progress (bytes inflated so far) to `f` about every 256 KiB.
    pub fn with_progress(mut self, f: &'a (dyn Fn(u64) + Sync)) -> Self {
        self.progress = Some(f);
        self
    }

    /// Fails when the file was cancelled or its time is up. Call it in every loop that
    /// can run long.
    pub fn check(&self) -> Result<()> {
        if self.cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            return Err(Error::Cancelled);
        }
        if Instant::now() > self.deadline {
            return Err(Error::Limit(LimitKind::Time { max: self.limits.max_time }));
        }
        Ok(())
    }

    /// Counts `n` more inflated bytes against the per-file total.
    pub fn charge(&mut self, n: u64) -> Result<()> {
        self.inflated = self.inflated.saturating_add(n);
        if self.inflated > self.limits.max_total_bytes {
            return Err(Error::Limit(LimitKind::TotalBytes { max: self.limits.max_total_bytes }));
        }
        if self.inflated >= self.next_report {
            self.next_report = self.inflated.saturating_add(PROGRESS_STEP);
            if let Some(report) = self.progress {
                report(self.inflated);
            }
        }
        Ok(())
    }

    /// The progress callback, for readers that count inflated bytes themselves (parts
    /// streamed out of a zip).
    pub(crate) fn progress_hook(&self) -> Option<&'a (dyn Fn(u64) + Sync)> {
        self.progress
    }

    /// Bytes inflated so far.
    pub fn inflated(&self) -> u64 {
        self.inflated
    }
}

/// A limit reached while a part streams out of its entry, carried through `io::Error`
/// to the XML reader, which turns it back into [`Error::Limit`].
#[derive(Debug)]
pub(crate) struct LimitHit(pub LimitKind);

impl std::fmt::Display for LimitHit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for LimitHit {}

impl LimitHit {
    pub(crate) fn to_error(&self) -> Error {
        Error::Limit(self.0.clone())
    }
}
