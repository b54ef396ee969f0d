//! A pool of worker threads that read documents off the caller's thread.
//!
//! Jobs go in with [`Pool::submit_file`] / [`Pool::submit_bytes`]; events come out of
//! [`Pool::try_recv`] without blocking (poll it from a Bevy system each frame) or of
//! [`Pool::recv`]. `Started` and `Progress` events arrive as they happen; `Done` events
//! arrive in submission order, each carrying that file's result. A cancelled job ends
//! with [`Error::Cancelled`]; a panic while reading one file becomes that file's
//! [`Error::Panicked`] and the worker carries on.
//!
//! Workers take the largest queued file first (size in bytes; a file on disk is measured
//! when it is submitted). A batch then ends on small files instead of one worker reading a
//! big PDF while the other idles; `Done` events still come in submission order.

use crate::error::{Error, Result};
use crate::model::Document;
use crate::Options;
use crossbeam_channel::{Receiver, Sender, TryRecvError, unbounded};
use std::cmp::{Ordering as CmpOrdering, Reverse};
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

/// Identifies a submitted job; ids grow in submission order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(pub u64);

/// What the pool reports.
#[derive(Debug)]
pub enum PoolEvent {
    /// A worker began reading the file.
    Started { id: JobId, name: String },
    /// Bytes inflated so far (reported about every 256 KiB).
    Progress { id: JobId, inflated: u64 },
    /// The file's result; these come in submission order.
    Done { id: JobId, name: String, result: Result<Document> },
}

enum Source {
    Path(PathBuf),
    Bytes(Vec<u8>),
    /// Test instrumentation: waits for the gate, then panics if asked to.
    #[cfg(test)]
    Gate { open: Receiver<()>, panic: bool },
}

struct Job {
    id: JobId,
    name: String,
    source: Source,
    opts: Options,
    cancel: Arc<AtomicBool>,
    /// Bytes to read, for largest-first scheduling (0 when unknown).
    size: u64,
}

impl Job {
    /// Larger files first; among equal sizes, earlier submissions first.
    fn priority(&self) -> (u64, Reverse<JobId>) {
        (self.size, Reverse(self.id))
    }
}

impl PartialEq for Job {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}
impl Eq for Job {}
impl PartialOrd for Job {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl Ord for Job {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        self.priority().cmp(&other.priority())
    }
}

/// The jobs waiting for a worker, largest first.
#[derive(Default)]
struct Queue {
    jobs: BinaryHeap<Job>,
    /// Set when the pool is dropped: workers finish what is queued, then stop.
    closed: bool,
    /// Workers waiting for a job. Submitting wakes one only when there is one: while all
    /// are busy, the submitting thread makes no wake-up call per job.
    idle: usize,
}

struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
    /// `Done` events the workers have sent so far.
    finished: Mutex<u64>,
    /// Signalled when `finished` reaches `wake_at`.
    all_done: Condvar,
    /// The `finished` count [`Pool::finish`] waits for (`u64::MAX` when nobody waits):
    /// workers wake it once, for the last result, instead of for every event.
    wake_at: AtomicU64,
}

impl Default for Shared {
    fn default() -> Self {
        Self {
            queue: Mutex::default(),
            ready: Condvar::new(),
            finished: Mutex::new(0),
            all_done: Condvar::new(),
            wake_at: AtomicU64::new(u64::MAX),
        }
    }
}

impl Shared {
    /// Nothing panics while the lock is held, so a poisoned lock still holds a sound queue.
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn finished(&self) -> MutexGuard<'_, u64> {
        self.finished.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts a `Done` event just sent, waking `finish` if it was the last one it needs.
    fn count_done(&self) {
        let mut n = self.finished();
        *n += 1;
        if *n >= self.wake_at.load(Ordering::Acquire) {
            self.all_done.notify_one();
        }
    }

    /// The next job, waiting for one; `None` once the pool is closed and drained.
    fn next(&self) -> Option<Job> {
        let mut q = self.lock();
        loop {
            if let Some(job) = q.jobs.pop() {
                return Some(job);
            }
            if q.closed {
                return None;
            }
            q.idle += 1;
            q = self.ready.wait(q).unwrap_or_else(PoisonError::into_inner);
            q.idle -= 1;
        }
    }
}

/// The worker pool. Dropping it cancels what is left and joins the workers.
pub struct Pool {
    shared: Arc<Shared>,
    events: Receiver<PoolEvent>,
    workers: Vec<JoinHandle<()>>,
    next_id: u64,
    /// Id of the next `Done` event to hand out.
    next_done: u64,
    /// `Done` events that finished ahead of an earlier job.
    held: BTreeMap<JobId, PoolEvent>,
    cancels: HashMap<JobId, Arc<AtomicBool>>,
    /// Jobs handed to the workers so far.
    queued: u64,
}

impl Default for Pool {
    fn default() -> Self {
        Self::new(std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2))
    }
}

impl Pool {
    /// A pool of `workers` threads (at least one).
    pub fn new(workers: usize) -> Self {
        let shared = Arc::new(Shared::default());
        let (ev_tx, ev_rx) = unbounded::<PoolEvent>();
        let workers = (0..workers.max(1))
            .filter_map(|i| {
                let shared = Arc::clone(&shared);
                let tx = ev_tx.clone();
                std::thread::Builder::new()
                    .name(format!("doctext-{i}"))
                    .spawn(move || worker(&shared, tx))
                    .map_err(|e| tracing::error!(error = %e, "cannot start a doctext worker"))
                    .ok()
            })
            .collect();
        Self {
            shared,
            events: ev_rx,
            workers,
            next_id: 0,
            next_done: 0,
            held: BTreeMap::new(),
            cancels: HashMap::new(),
            queued: 0,
        }
    }

    /// Number of worker threads.
    pub fn workers(&self) -> usize {
        self.workers.len()
    }

    /// Queues a file on disk.
    pub fn submit_file(&mut self, path: impl Into<PathBuf>, opts: Options) -> JobId {
        let path = path.into();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        self.submit(name, Source::Path(path), opts)
    }

    /// Queues a file held in memory; `name` is for events and logs, and says whether
    /// text (which has no signature) is CSV, TSV, plain text or Markdown.
    pub fn submit_bytes(&mut self, name: impl Into<String>, data: Vec<u8>, opts: Options) -> JobId {
        self.submit(name.into(), Source::Bytes(data), opts)
    }

    fn submit(&mut self, name: String, source: Source, opts: Options) -> JobId {
        let id = JobId(self.next_id);
        self.next_id += 1;
        let cancel = Arc::new(AtomicBool::new(false));
        self.cancels.insert(id, cancel.clone());
        let size = match &source {
            // A stat, not a read: the caller's frame never waits on the file's contents.
            Source::Path(p) => std::fs::metadata(p).map(|m| m.len()).unwrap_or(0),
            Source::Bytes(d) => d.len() as u64,
            #[cfg(test)]
            Source::Gate { .. } => 0,
        };
        let job = Job { id, name, source, opts, cancel, size };
        if self.workers.is_empty() {
            // No worker can take it: finish it here so its Done still comes in order.
            let err = Error::Panicked("the document worker pool has no running worker".into());
            self.held.insert(job.id, PoolEvent::Done { id: job.id, name: job.name, result: Err(err) });
        } else {
            let mut q = self.shared.lock();
            q.jobs.push(job);
            let wake = q.idle > 0;
            drop(q);
            if wake {
                self.shared.ready.notify_one();
            }
            self.queued += 1;
        }
        id
    }

    /// Asks one job to stop; it ends with [`Error::Cancelled`] (unless already done).
    pub fn cancel(&self, id: JobId) {
        if let Some(c) = self.cancels.get(&id) {
            c.store(true, Ordering::Relaxed);
        }
    }

    /// Cancels every job not yet delivered.
    pub fn cancel_all(&self) {
        for c in self.cancels.values() {
            c.store(true, Ordering::Relaxed);
        }
    }

    /// Jobs submitted whose `Done` has not been handed out yet.
    pub fn pending(&self) -> usize {
        (self.next_id - self.next_done) as usize
    }

    /// The next event if one is ready; never blocks.
    pub fn try_recv(&mut self) -> Option<PoolEvent> {
        loop {
            if let Some(ev) = self.take_next_done() {
                return Some(ev);
            }
            match self.events.try_recv() {
                Ok(ev) => {
                    if let Some(ev) = self.order(ev) {
                        return Some(ev);
                    }
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return None,
            }
        }
    }

    /// The next event, waiting for it; `None` once every submitted job was delivered.
    pub fn recv(&mut self) -> Option<PoolEvent> {
        loop {
            if let Some(ev) = self.take_next_done() {
                return Some(ev);
            }
            if self.pending() == 0 {
                return None;
            }
            match self.events.recv() {
                Ok(ev) => {
                    if let Some(ev) = self.order(ev) {
                        return Some(ev);
                    }
                }
                Err(_) => return None,
            }
        }
    }

    /// Waits for every job and returns the results in submission order.
    ///
    /// The calling thread sleeps until the last result is in, rather than waking for
    /// every event: on a machine with as many cores as workers, each wake-up would take a
    /// core from a worker. `Started` and `Progress` events are dropped.
    pub fn finish(&mut self) -> Vec<(JobId, String, Result<Document>)> {
        {
            let mut n = self.shared.finished();
            self.shared.wake_at.store(self.queued, Ordering::Release);
            while *n < self.queued {
                // Also woken now and then to notice workers that are all gone (which
                // only a bug could cause): then whatever results exist are returned.
                let (guard, _) = self
                    .shared
                    .all_done
                    .wait_timeout(n, Duration::from_millis(100))
                    .unwrap_or_else(PoisonError::into_inner);
                n = guard;
                if *n < self.queued && self.workers.iter().all(JoinHandle::is_finished) {
                    break;
                }
            }
            self.shared.wake_at.store(u64::MAX, Ordering::Release);
        }
        let mut out = Vec::new();
        while let Some(ev) = self.recv() {
            if let PoolEvent::Done { id, name, result } = ev {
                out.push((id, name, result));
            }
        }
        out
    }

    /// Passes progress through; holds a `Done` until the jobs before it are delivered.
    fn order(&mut self, ev: PoolEvent) -> Option<PoolEvent> {
        match ev {
            PoolEvent::Done { id, .. } => {
                self.held.insert(id, ev);
                self.take_next_done()
            }
            other => Some(other),
        }
    }

    fn take_next_done(&mut self) -> Option<PoolEvent> {
        let id = JobId(self.next_done);
        let ev = self.held.remove(&id)?;
        self.next_done += 1;
        self.cancels.remove(&id);
        Some(ev)
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.cancel_all();
        self.shared.lock().closed = true;
        self.shared.ready.notify_all();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

/// A worker's file buffer above this size is released after the job instead of kept
/// for the next file.
const KEEP_BUFFER: usize = 16 << 20;

fn worker(shared: &Shared, events: Sender<PoolEvent>) {
    // Files on disk are read into one buffer per worker, reused from file to file: a
    // fresh allocation per file costs page faults and, freed while the other worker runs,
    // unmaps that stall both cores.
    let mut buf: Vec<u8> = Vec::new();
    while let Some(job) = shared.next() {
        let Job { id, name, source, opts, cancel, .. } = job;
        let result = if cancel.load(Ordering::Relaxed) {
            Err(Error::Cancelled)
        } else {
            let _ = events.send(PoolEvent::Started { id, name: name.clone() });
            let tx = events.clone();
            let progress = move |inflated: u64| {
                let _ = tx.send(PoolEvent::Progress { id, inflated });
            };
            // Everything that can panic runs inside the guard, reading the file included.
            catch_unwind(AssertUnwindSafe(|| {
                let data: &[u8] = match &source {
                    Source::Path(p) => return crate::run_path(p, &name, &opts, Some(&cancel), Some(&progress), &mut buf),
                    Source::Bytes(d) => d,
                    #[cfg(test)]
                    Source::Gate { open, panic } => {
                        let _ = open.recv();
                        assert!(!panic, "test panic inside a reader");
                        b"gate"
                    }
                };
                crate::run(data, &name, &opts, Some(&cancel), Some(&progress))
            }))
            .unwrap_or_else(|payload| Err(Error::Panicked(crate::panic_message(payload.as_ref()))))
        };
        if buf.capacity() > KEEP_BUFFER {
            buf = Vec::new();
        }
        let sent = events.send(PoolEvent::Done { id, name, result });
        shared.count_done();
        if sent.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Limits;

    fn zip_of(name: &str, content: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut buf = std::io::Cursor::new(Vec::new());
        let mut w = zip::ZipWriter::new(&mut buf);
        let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        w.start_file(name, opts).unwrap();
        w.write_all(content).unwrap();
        w.finish().unwrap();
        buf.into_inner()
    }

    #[test]
    fn results_come_in_submission_order_and_errors_stay_per_file() {
        let mut pool = Pool::new(3);
        let mut ids = Vec::new();
        for i in 0..12 {
            let data = if i % 3 == 0 { b"garbage".to_vec() } else { zip_of("a.dat", b"x") };
            ids.push(pool.submit_bytes(format!("f{i}"), data, Options::default()));
        }
        let done = pool.finish();
        assert_eq!(done.iter().map(|d| d.0).collect::<Vec<_>>(), ids);
        for (i, (_, name, result)) in done.iter().enumerate() {
            assert_eq!(name, &format!("f{i}"));
            // Both kinds fail (no document inside), each with its own error.
            assert!(matches!(result, Err(Error::UnknownFormat)), "{name}: {result:?}");
        }
        assert_eq!(pool.pending(), 0);
        assert!(pool.try_recv().is_none());
    }

    #[test]
    fn cancelled_jobs_end_cancelled_and_panics_stay_in_their_file() {
        let mut pool = Pool::new(1);
        let (gate_tx, gate_rx) = unbounded();
        // The single worker blocks on the first job until the gate opens.
        let blocker = pool.submit(String::from("gate"), Source::Gate { open: gate_rx, panic: true }, Options::default());
        let a = pool.submit_bytes("a", zip_of("a.dat", b"x"), Options::default());
        let b = pool.submit_bytes("b", b"junk".to_vec(), Options::default());
        pool.cancel(a);
        gate_tx.send(()).unwrap();
        let done = pool.finish();
        assert_eq!(done.iter().map(|d| d.0).collect::<Vec<_>>(), vec![blocker, a, b]);
        assert!(matches!(done[0].2, Err(Error::Panicked(ref m)) if m.contains("test panic")), "{:?}", done[0].2);
        assert!(matches!(done[1].2, Err(Error::Cancelled)), "{:?}", done[1].2);
        assert!(matches!(done[2].2, Err(Error::UnknownFormat)), "{:?}", done[2].2);
    }

    #[test]
    fn the_largest_queued_file_goes_first() {
        let mut pool = Pool::new(1);
        let (gate_tx, gate_rx) = unbounded();
        let gate = pool.submit(String::from("gate"), Source::Gate { open: gate_rx, panic: false }, Options::default());
        // Only once the worker holds the gate do the others queue up behind it.
        assert!(matches!(pool.recv(), Some(PoolEvent::Started { id, .. }) if id == gate));
        let small = pool.submit_bytes("small", zip_of("a.dat", b"x"), Options::default());
        let large = pool.submit_bytes("large", zip_of("a.dat", &[b'y'; 4096]), Options::default());
        let medium = pool.submit_bytes("medium", zip_of("a.dat", &[b'z'; 512]), Options::default());
        gate_tx.send(()).unwrap();
        let mut started = Vec::new();
        let mut done = Vec::new();
        while let Some(ev) = pool.recv() {
            match ev {
                PoolEvent::Started { id, .. } => started.push(id),
                PoolEvent::Done { id, .. } => done.push(id),
                PoolEvent::Progress { .. } => {}
            }
        }
        assert_eq!(started, vec![large, medium, small], "read largest first");
        assert_eq!(done, vec![gate, small, large, medium], "delivered in submission order");
    }

    /// One worker reads a large file, a small one and one over the size limit through its
    /// reused buffer: each gets its own contents, and the limit is still enforced.
    #[test]
    fn files_on_disk_share_a_buffer_but_not_contents() {
        let dir = std::env::temp_dir().join(format!("doctext-pool-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let corpus = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/testdata/docs/base/");
        let large = dir.join("large.zip");
        std::fs::write(&large, zip_of("a.dat", &[b'y'; 100_000])).unwrap();
        let mut pool = Pool::new(1);
        pool.submit_file(&large, Options::default());
        pool.submit_file(format!("{corpus}plain_en.xls"), Options::default());
        pool.submit_file(format!("{corpus}quiz_ko.xls"), Options::default());
        let tight = Limits { max_total_bytes: 1000, ..Limits::default() };
        pool.submit_file(&large, Options { limits: tight, ..Options::default() });
        let done = pool.finish();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(done[0].2, Err(Error::UnknownFormat)), "{:?}", done[0].2);
        for (k, rel) in [(1, "plain_en.xls"), (2, "quiz_ko.xls")] {
            let alone = crate::extract_file(format!("{corpus}{rel}"), &Options::default()).unwrap();
            assert_eq!(done[k].2.as_ref().unwrap(), &alone, "{rel}");
        }
        assert!(
            matches!(done[3].2, Err(Error::Limit(crate::LimitKind::TotalBytes { max: 1000 }))),
            "{:?}",
            done[3].2
        );
    }

    #[test]
    fn pool_can_be_a_bevy_resource() {
        fn send_sync<T: Send + Sync + 'static>() {}
        send_sync::<Pool>();
        send_sync::<PoolEvent>();
    }

    #[test]
    fn try_recv_never_blocks() {
        let mut pool = Pool::new(1);
        assert!(pool.try_recv().is_none());
        pool.submit_bytes("x", b"not a doc".to_vec(), Options::default());
        let mut got_done = false;
        let start = std::time::Instant::now();
        while !got_done && start.elapsed() < std::time::Duration::from_secs(10) {
            match pool.try_recv() {
                Some(PoolEvent::Done { result, .. }) => {
                    assert!(matches!(result, Err(Error::UnknownFormat)));
                    got_done = true;
                }
                Some(_) => {}
                None => std::thread::yield_now(),
            }
        }
        assert!(got_done);
    }
}
