//! Headless frame-loop benchmark of the camera + pose plugins: frame vs pool inference
//! placement, lite vs full model, side by side in one run, one table.
//!
//! `cargo run --release -p client --bin framebench [-- --seconds 8]`
//!
//! Two more modes, each printing its own table:
//! - `--import 8,16,32`: the frame loop while documents import (see `import.rs`);
//! - `--latency`: camera → skeleton → rules → hit, per hit (see `latency.rs`);
//! - `--people 1,2`: the loop tracking several people for couch play (see `couch.rs`);
//! - `--video 3`: the loop with the video call and 3 incoming streams (see `call.rs`).
//!
//! Each configuration runs a headless Bevy app (MinimalPlugins + StatesPlugin + the camera and
//! pose plugins) on the image-folder source (astronaut.png at 30 fps), paced at 60 Hz like a
//! display would. It measures the longest frame while the model loads (target: none over
//! 50 ms), the first-result delay, and then the achieved FPS and frame times.

mod call;
mod couch;
mod import;
mod latency;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bevy::prelude::*;
use bevy::state::app::StatesPlugin;
use clap::Parser;
use client::camera::CameraPlugin;
use client::pose::{PosePlugin, PoseStats};
use client::state::{InferencePlacement, ModelChoice, ModelStatus, PlayerPose, StatePlugin};

#[derive(Parser, Debug)]
#[command(about = "Headless frame-loop benchmark: pose inference in the frame vs on a pool task")]
pub struct Args {
    /// Seconds to measure after the first skeleton, per configuration.
    #[arg(long, default_value_t = 8.0)]
    seconds: f64,
    /// Target frame rate of the paced loop.
    #[arg(long, default_value_t = 60.0)]
    fps: f64,
    /// Picture played by the image-folder source (must show a person).
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/testdata/images/astronaut.png"))]
    image: PathBuf,
    /// Instead of the placement table: the frame loop while this many documents import
    /// (comma-separated batch sizes), three ways, beside a run without import.
    #[arg(long, value_delimiter = ',', conflicts_with = "latency")]
    import: Option<Vec<usize>>,
    /// Instead of the placement table: latency from capture to hit at 15, 30 and 60 fps.
    #[arg(long)]
    latency: bool,
    /// Instead of the placement table: the frame loop tracking this many people (couch
    /// play; comma-separated counts, e.g. `1,2`: 1 plays astronaut.png, more two_people.png).
    #[arg(long, value_delimiter = ',', conflicts_with_all = ["latency", "import"])]
    people: Option<Vec<usize>>,
    /// Instead of the placement table: the frame loop with the video call and this many
    /// peers' pictures arriving, beside the same loop without the call.
    #[arg(long, value_name = "PEERS", conflicts_with_all = ["latency", "import", "people"])]
    video: Option<usize>,
    /// `--latency`: a folder of pictures of a person going into a pose and holding it,
    /// played in a loop (default: the rendered sequence in assets/testdata/rendered).
    #[arg(long, value_name = "DIR")]
    latency_frames: Option<PathBuf>,
    /// `--latency`: the pose the pictures show (a pose key, e.g. hands_up).
    #[arg(long, value_name = "POSE")]
    latency_pose: Option<String>,
}

/// Frame times of a measured stretch of the loop.
pub struct FrameStats {
    frames: Vec<Duration>,
    fps: f64,
    p50: Duration,
    p95: Duration,
    max: Duration,
    /// Inferences finished in the stretch, and per second.
    inferences: u64,
    inferences_per_s: f64,
    skeleton_share: f64,
    /// Pose inference time (all people), median over the inferences of the stretch.
    inference_p50: Duration,
}

impl FrameStats {
    /// Frames longer than `limit`.
    fn over(&self, limit: Duration) -> usize {
        self.frames.iter().filter(|f| **f > limit).count()
    }
}

/// A headless app with the shared state, the camera on `dir` at `fps` and the pose model.
pub fn pose_app(dir: &Path, fps: f32, model: ModelChoice, placement: InferencePlacement) -> App {
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, StatesPlugin, StatePlugin)).add_plugins((
        CameraPlugin { source: Some(vision::SourceConfig::Folder { path: dir.to_path_buf(), fps }) },
        PosePlugin { model: Some(model), placement },
    ));
    app
}

/// Sleeps out the rest of a frame started at `t`, like a display's refresh.
pub fn pace_from(t: Instant, args: &Args) {
    let budget = Duration::from_secs_f64(1.0 / args.fps);
    let spent = t.elapsed();
    if spent < budget {
        std::thread::sleep(budget - spent);
    }
}

/// Steps the app paced for `duration` (no measurement), while `more` holds.
pub fn paced(app: &mut App, args: &Args, duration: Duration, mut more: impl FnMut(&App) -> bool) {
    let start = Instant::now();
    while start.elapsed() < duration && more(app) {
        let t = Instant::now();
        app.update();
        pace_from(t, args);
    }
}

/// Steps the app paced while `more(app, elapsed)` holds (it may also feed the app before
/// each update); the frame and inference times of that stretch.
pub fn measure(app: &mut App, args: &Args, mut more: impl FnMut(&mut App, Duration) -> bool) -> FrameStats {
    let inferences_before = app.world().resource::<PoseStats>().inferences;
    let start = Instant::now();
    let mut frames = Vec::new();
    let mut inference_times = Vec::new();
    let mut last_count = inferences_before;
    let mut with_skeleton = 0usize;
    while more(app, start.elapsed()) {
        let t = Instant::now();
        app.update();
        frames.push(t.elapsed());
        with_skeleton += usize::from(app.world().resource::<PlayerPose>().skeleton.is_some());
        let stats = app.world().resource::<PoseStats>();
        if stats.inferences > last_count {
            last_count = stats.inferences;
            inference_times.push(stats.last_inference);
        }
        pace_from(t, args);
    }
    let elapsed = start.elapsed().as_secs_f64().max(1e-9);
    let inferences = app.world().resource::<PoseStats>().inferences - inferences_before;
    let n = frames.len();
    let mut sorted = frames.clone();
    FrameStats {
        fps: n as f64 / elapsed,
        p50: pct(&mut sorted, 0.5),
        p95: pct(&mut sorted, 0.95),
        max: frames.iter().copied().max().unwrap_or_default(),
        inferences,
        inferences_per_s: inferences as f64 / elapsed,
        skeleton_share: with_skeleton as f64 / n.max(1) as f64,
        inference_p50: pct(&mut inference_times, 0.5),
        frames,
    }
}

/// Steps the app (paced) until the model has found a first skeleton.
pub fn wait_for_first_skeleton(app: &mut App, args: &Args) -> Result<()> {
    let start = Instant::now();
    loop {
        let t = Instant::now();
        app.update();
        let status = app.world().resource::<ModelStatus>();
        if let Some(e) = status.error() {
            bail!("the pose model did not load: {e}");
        }
        if status.first_skeleton_after.is_some() {
            return Ok(());
        }
        if start.elapsed() > Duration::from_secs(120) {
            bail!("no skeleton after 120 s");
        }
        pace_from(t, args);
    }
}

struct Outcome {
    first_update: Duration,
    loading_updates: usize,
    longest_loading_frame: Duration,
    /// Which update (1 = the first, with the startup systems) was the longest while loading.
    longest_loading_update: usize,
    /// The main thread's CPU time and time waiting for a core in that update (Linux only).
    longest_loading_sched: Option<(Duration, Duration)>,
    loading_frames_over_50ms: usize,
    first_result: Duration,
    /// The loop once the model runs.
    stats: FrameStats,
}

/// CPU time this thread has run and time it has waited for a core so far (Linux:
/// /proc/thread-self/schedstat), to tell work done in a frame from waiting on a busy machine.
fn thread_sched() -> Option<(Duration, Duration)> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let mut f = s.split_whitespace().map(|v| v.parse::<u64>().ok().map(Duration::from_nanos));
    Some((f.next()??, f.next()??))
}

pub fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v.get(((v.len().saturating_sub(1)) as f64 * p).round() as usize).copied().unwrap_or_default()
}

fn run(dir: &std::path::Path, model: ModelChoice, placement: InferencePlacement, args: &Args) -> Result<Outcome> {
    let mut app = pose_app(dir, 30.0, model, placement);
    let pace = |t: Instant| pace_from(t, args);
    // Loading: until the first skeleton.
    let start = Instant::now();
    let mut loading_frames = Vec::new();
    loop {
        let t = Instant::now();
        let before = thread_sched();
        app.update();
        let sched = before.zip(thread_sched()).map(|((c0, w0), (c1, w1))| (c1.saturating_sub(c0), w1.saturating_sub(w0)));
        loading_frames.push((t.elapsed(), sched));
        let status = app.world().resource::<ModelStatus>();
        if let Some(e) = status.error() {
            bail!("{model:?}: {e}");
        }
        if status.first_skeleton_after.is_some() {
            break;
        }
        if start.elapsed() > Duration::from_secs(120) {
            bail!("{model:?}/{placement:?}: no skeleton after 120 s");
        }
        pace(t);
    }
    let first_result = app.world().resource::<ModelStatus>().first_skeleton_after.unwrap_or_default();
    // The frame that produced the first skeleton already ran inference; count loading frames before it.
    loading_frames.pop();
    let first_update = loading_frames.first().map(|f| f.0).unwrap_or_default();
    let (longest_index, (longest_loading_frame, longest_loading_sched)) =
        loading_frames.iter().copied().enumerate().max_by_key(|(_, f)| f.0).unwrap_or_default();
    let loading_frames_over_50ms = loading_frames.iter().filter(|f| f.0 > Duration::from_millis(50)).count();

    let stats = measure(&mut app, args, |_, elapsed| elapsed.as_secs_f64() < args.seconds);
    Ok(Outcome {
        first_update,
        loading_updates: loading_frames.len(),
        longest_loading_frame,
        longest_loading_update: longest_index + 1,
        longest_loading_sched,
        loading_frames_over_50ms,
        first_result,
        stats,
    })
}

fn main() -> Result<()> {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::new("warn")).init();
    let args = Args::parse();
    let dir = std::env::temp_dir().join(format!("poseparty-framebench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::copy(&args.image, dir.join("0001.png")).with_context(|| format!("copying {}", args.image.display()))?;
    // The ONNX Runtime library is loaded once per process: load it before the columns so that
    // the first one does not pay for it alone.
    let t = Instant::now();
    vision::runtime::environment().context("loading ONNX Runtime")?;
    let runtime_ms = t.elapsed().as_secs_f64() * 1000.0;
    // What the camera plugin's startup used to do in the first update: open the source
    // (list the folder, decode its first picture). It now runs on the source's thread.
    let t = Instant::now();
    let opened = vision::RunningSource::start(vision::SourceConfig::Folder { path: dir.clone(), fps: 30.0 });
    let open_ms = t.elapsed().as_secs_f64() * 1000.0;
    drop(opened.with_context(|| format!("opening {}", dir.display()))?);
    let load = || {
        let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        println!("\nmachine load average (1/5/15 min): {}", load.split_whitespace().take(3).collect::<Vec<_>>().join(" "));
    };
    if let Some(sizes) = &args.import {
        let result = import::bench(&dir, sizes, &args);
        let _ = std::fs::remove_dir_all(&dir);
        load();
        return result;
    }
    if let Some(peers) = args.video {
        let result = call::bench(&dir, peers, &args);
        let _ = std::fs::remove_dir_all(&dir);
        load();
        return result;
    }
    if let Some(people) = &args.people {
        let _ = std::fs::remove_dir_all(&dir);
        let result = couch::bench(people, &args);
        load();
        return result;
    }
    if args.latency {
        let _ = std::fs::remove_dir_all(&dir);
        let result = latency::bench(&args);
        load();
        return result;
    }
    let configs = [
        (ModelChoice::Lite, InferencePlacement::Frame),
        (ModelChoice::Lite, InferencePlacement::Pool),
        (ModelChoice::Full, InferencePlacement::Frame),
        (ModelChoice::Full, InferencePlacement::Pool),
    ];
    let mut results = Vec::new();
    for (m, p) in configs {
        results.push(run(&dir, m, p, &args));
    }
    let _ = std::fs::remove_dir_all(&dir);
    let results: Vec<Outcome> = results.into_iter().collect::<Result<_>>()?;
    let ms = |d: Duration| format!("{:.1}", d.as_secs_f64() * 1000.0);
    println!("\nHeadless frame loop (camera + pose plugins), paced at {} Hz, source 30 fps, {} s per column\n", args.fps, args.seconds);
    println!("| measure | lite / frame | lite / pool | full / frame | full / pool |");
    println!("|---|---:|---:|---:|---:|");
    let line = |name: &str, f: &dyn Fn(&Outcome) -> String| {
        println!("| {name} | {} |", results.iter().map(f).collect::<Vec<_>>().join(" | "));
    };
    line("first update (startup systems, ms)", &|o| ms(o.first_update));
    line("updates while loading", &|o| o.loading_updates.to_string());
    line("longest frame while loading (ms, which update)", &|o| {
        format!("{} (#{})", ms(o.longest_loading_frame), o.longest_loading_update)
    });
    line("  its main-thread CPU / wait for a core (ms)", &|o| {
        o.longest_loading_sched.map_or("n/a".into(), |(cpu, wait)| format!("{} / {}", ms(cpu), ms(wait)))
    });
    line("loading frames over 50 ms", &|o| o.loading_frames_over_50ms.to_string());
    line("first-result delay (ms)", &|o| ms(o.first_result));
    line("frame-loop FPS", &|o| format!("{:.1}", o.stats.fps));
    line("frame time p50 / p95 (ms)", &|o| format!("{} / {}", ms(o.stats.p50), ms(o.stats.p95)));
    line("longest frame (ms)", &|o| ms(o.stats.max));
    line("inferences per second", &|o| format!("{:.1}", o.stats.inferences_per_s));
    line("frames with a skeleton", &|o| format!("{:.0} %", o.stats.skeleton_share * 100.0));
    println!("\nLoading the ONNX Runtime library took {runtime_ms:.1} ms (once per process, before the columns).");
    println!(
        "Opening the image-folder source (listing, decoding the first picture) took {open_ms:.1} ms; it used to run inside the first update, now it runs on the source's thread."
    );
    load();
    Ok(())
}
