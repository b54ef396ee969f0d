//! `framebench --import 8,16,32`: the headless frame loop with pose inference (lite, in the
//! frame) on the image-folder source, paced like a display, while N documents of the test
//! corpus import three ways — through the `doctext` pool as the game does it, on Bevy's task
//! pool, and parsed inside a frame-loop system (the thing not to do) — next to a run that
//! imports nothing. One table: frame times, frames over 16.7 / 33 ms, inferences per second,
//! import wall time.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bevy::prelude::*;
use bevy::tasks::{AsyncComputeTaskPool, Task, block_on, poll_once};
use client::state::{ClientSet, InferencePlacement, ModelChoice};

use crate::{Args, FrameStats, pose_app, wait_for_first_skeleton};

/// The corpus folder beside the repository.
const DOCS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/testdata/docs");
/// The password of the corpus's encrypted files.
const PASSWORD: &str = "Secret123";

/// How a batch of documents is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// No import: the reference.
    None,
    /// A `doctext::Pool` with one worker, polled each frame (what the game's deck import does).
    Pool,
    /// One task per file on Bevy's `AsyncComputeTaskPool`, polled each frame.
    TaskPool,
    /// One file parsed per frame inside a frame-loop system.
    InFrame,
}

impl Method {
    fn label(self) -> &'static str {
        match self {
            Method::None => "none",
            Method::Pool => "doctext pool (as the game)",
            Method::TaskPool => "Bevy task pool",
            Method::InFrame => "in a frame system",
        }
    }
}

/// The documents of a batch of `n`: the corpus's mixed formats (the encrypted ones with their
/// password, PDFs included), repeated in order until there are `n`.
pub fn batch(n: usize) -> Result<Vec<(PathBuf, doctext::Options)>> {
    let names = [
        "base/quiz_ko.docx",
        "base/quiz_ko.xlsx",
        "base/quiz_ko.pptx",
        "base/quiz_ko.pdf",
        "base/quiz_ko.hwp",
        "base/quiz_ko.doc",
        "base/quiz_ko.xls",
        "base/quiz_ko.ppt",
        "encrypted/quiz_ko_agile_pw-Secret123.docx",
        "base/plain_en.docx",
        "realworld/crazyones.pdf",
        "archives/bundle_ko.zip",
        "encrypted/quiz_ko_agile_pw-Secret123.xlsx",
        "base/plain_en.pptx",
        "base/plain_en.xlsx",
        "base/plain_en.hwp",
    ];
    let root = Path::new(DOCS);
    let mut files = Vec::new();
    for name in names {
        let path = root.join(name);
        if !path.is_file() {
            bail!("corpus file missing: {}", path.display());
        }
        let mut opts = doctext::Options::default();
        if name.starts_with("encrypted/") {
            opts = opts.with_password(PASSWORD);
        }
        files.push((path, opts));
    }
    Ok(files.iter().cycle().take(n).cloned().collect())
}

/// The batch being read and how far it got.
#[derive(Resource)]
struct ImportJob {
    method: Method,
    files: Vec<(PathBuf, doctext::Options)>,
    started: Option<Instant>,
    finished: Option<Instant>,
    done: usize,
    failed: usize,
    pool: Option<doctext::Pool>,
    tasks: Vec<Task<bool>>,
}

impl ImportJob {
    fn finish_one(&mut self, ok: bool) {
        self.done += 1;
        if !ok {
            self.failed += 1;
        }
        if self.done == self.files.len() {
            self.finished = Some(Instant::now());
        }
    }
}

/// Starts the batch on its first run, then takes what finished without waiting (or, in
/// `InFrame`, reads the next file right here).
fn drive_import(mut job: ResMut<ImportJob>) {
    let job = &mut *job;
    if job.method == Method::None || job.finished.is_some() {
        return;
    }
    if job.started.is_none() {
        job.started = Some(Instant::now());
        match job.method {
            Method::Pool => {
                let mut pool = doctext::Pool::new(1);
                for (path, opts) in &job.files {
                    pool.submit_file(path.clone(), opts.clone());
                }
                job.pool = Some(pool);
            }
            Method::TaskPool => {
                let tasks = AsyncComputeTaskPool::get();
                job.tasks = job
                    .files
                    .iter()
                    .cloned()
                    .map(|(path, opts)| tasks.spawn(async move { doctext::extract_file(&path, &opts).is_ok() }))
                    .collect();
            }
            Method::InFrame | Method::None => {}
        }
    }
    match job.method {
        Method::Pool => {
            let mut finished = Vec::new();
            if let Some(pool) = job.pool.as_mut() {
                while let Some(event) = pool.try_recv() {
                    if let doctext::PoolEvent::Done { result, .. } = event {
                        finished.push(result.is_ok());
                    }
                }
            }
            for ok in finished {
                job.finish_one(ok);
            }
        }
        Method::TaskPool => {
            let mut finished = Vec::new();
            job.tasks.retain_mut(|task| match block_on(poll_once(task)) {
                Some(ok) => {
                    finished.push(ok);
                    false
                }
                None => true,
            });
            for ok in finished {
                job.finish_one(ok);
            }
        }
        Method::InFrame => {
            if let Some((path, opts)) = job.files.get(job.done).cloned() {
                let ok = doctext::extract_file(&path, &opts).is_ok();
                job.finish_one(ok);
            }
        }
        Method::None => {}
    }
}

/// One row of the table.
pub struct ImportOutcome {
    pub method: Method,
    pub files: usize,
    pub frames: FrameStats,
    pub import_wall: Option<Duration>,
    pub failed: usize,
}

/// Runs the loop with `method` importing `n` files; measures from the import's start for at
/// least `args.seconds` and until the import is done.
pub fn run(dir: &Path, method: Method, n: usize, args: &Args) -> Result<ImportOutcome> {
    let files = if method == Method::None { Vec::new() } else { batch(n)? };
    let mut app = pose_app(dir, 30.0, ModelChoice::Lite, InferencePlacement::Frame);
    wait_for_first_skeleton(&mut app, args)?;
    // A second of steady frames before measuring.
    crate::paced(&mut app, args, Duration::from_secs(1), |_| true);
    app.insert_resource(ImportJob {
        method,
        files,
        started: None,
        finished: None,
        done: 0,
        failed: 0,
        pool: None,
        tasks: Vec::new(),
    })
    .add_systems(Update, drive_import.in_set(ClientSet::Input));
    let deadline = Instant::now() + Duration::from_secs(300);
    let window = Duration::from_secs_f64(args.seconds);
    let frames = crate::measure(&mut app, args, |app, elapsed| {
        let job = app.world().resource::<ImportJob>();
        let done = method == Method::None || job.finished.is_some();
        (elapsed < window || !done) && Instant::now() < deadline
    });
    let job = app.world().resource::<ImportJob>();
    if method != Method::None && job.finished.is_none() {
        bail!("{}: the import of {n} files did not finish within 300 s", method.label());
    }
    let import_wall = job.started.zip(job.finished).map(|(s, f)| f - s);
    Ok(ImportOutcome { method, files: n, frames, import_wall, failed: job.failed })
}

/// Runs the reference and every method for each batch size; prints the table.
pub fn bench(dir: &Path, sizes: &[usize], args: &Args) -> Result<()> {
    let mut rows = vec![run(dir, Method::None, 0, args).context("the run without import")?];
    for &n in sizes {
        for method in [Method::Pool, Method::TaskPool, Method::InFrame] {
            rows.push(run(dir, method, n, args).with_context(|| format!("{} with {n} files", method.label()))?);
        }
    }
    let ms = |d: Duration| format!("{:.1}", d.as_secs_f64() * 1000.0);
    println!(
        "\nFrame loop (camera + lite pose model in the frame, source 30 fps) paced at {} Hz while documents import; at least {} s per row\n",
        args.fps, args.seconds
    );
    println!("| import | files | frame p50 / p95 / max (ms) | frames > 16.7 ms | frames > 33 ms | inferences/s | import wall time | p95 vs none |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let base_p95 = rows[0].frames.p95.as_secs_f64();
    for r in &rows {
        let f = &r.frames;
        let wall = r.import_wall.map_or("—".to_string(), |d| format!("{} ms", ms(d)));
        let failed = if r.failed > 0 { format!(" ({} failed)", r.failed) } else { String::new() };
        println!(
            "| {} | {}{failed} | {} / {} / {} | {} | {} | {:.1} | {wall} | {:.2}× |",
            r.method.label(),
            r.files,
            ms(f.p50),
            ms(f.p95),
            ms(f.max),
            f.over(Duration::from_micros(16_700)),
            f.over(Duration::from_millis(33)),
            f.inferences_per_s,
            f.p95.as_secs_f64() / base_p95.max(1e-9),
        );
    }
    Ok(())
}
