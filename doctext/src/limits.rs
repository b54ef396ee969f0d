//! Resource limits, enforced while streaming.

use crate::error::{Error, LimitKind, Result};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Bounds on what one file may cost. The defaults fit quiz decks and routines with a
/// wide margin and stop decompression bombs early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Bytes one archive entry or container stream may inflate to.
    pub max_entry_bytes: u64,
    /// Bytes everything inflated from one top-level file may add up to.
    pub max_total_bytes: u64,
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
            max_total_bytes: 256 << 20,
            max_entries: 10_000,
            max_depth: 4,
            max_time: Duration::from_secs(30),
        }
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

    /// Bytes inflated so far.
    pub fn inflated(&self) -> u64 {
        self.inflated
    }
}
