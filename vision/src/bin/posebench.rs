//! Pose pipeline benchmark: loads lite and full side by side and prints one table.
//!
//! `cargo run --release -p vision --bin posebench [-- --frames 200]`
//!
//! Lite and full are measured in alternating rounds in the same run, so a noisy shared
//! machine affects both alike; compare the columns, not absolute numbers across runs.
//! Two more columns run the same models whole (not pruned to the outputs the pipeline
//! reads), to show what pruning saves; `--no-whole-graph` leaves them out.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use vision::loader::{LoadStage, load_blocking};
use vision::pipeline::PipelineOptions;
use vision::{Frame, LandmarkModel, ModelConfig, PosePipeline};

#[derive(Parser, Debug)]
#[command(about = "Benchmark the BlazePose pipeline (lite vs full) without a window")]
struct Args {
    /// Picture to run on (must contain a person).
    #[arg(long, env = "POSEBENCH_IMAGE", default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/testdata/images/astronaut.png"))]
    image: PathBuf,
    /// Frames per measurement (tracked and with-detector each).
    #[arg(long, env = "POSEBENCH_FRAMES", default_value_t = 200)]
    frames: usize,
    /// Alternating rounds (frames are split across them).
    #[arg(long, default_value_t = 4)]
    rounds: usize,
    /// Folder with the ONNX models (default: the project's assets/models).
    #[arg(long, env = "POSEPARTY_MODELS")]
    models: Option<PathBuf>,
    /// Times each column's loading this many times (rotating the order); the table shows medians.
    #[arg(long, default_value_t = 3)]
    load_rounds: usize,
    /// Leave out the comparison columns with the whole (unpruned) landmark models.
    #[arg(long)]
    no_whole_graph: bool,
}

/// One column of the table: a landmark model, pruned or whole.
#[derive(Debug, Clone, Copy)]
struct Variant {
    model: LandmarkModel,
    pruned: bool,
}

impl Variant {
    fn label(&self) -> String {
        if self.pruned { self.model.name().to_string() } else { format!("{} (whole graph)", self.model) }
    }
}

#[derive(Default)]
struct Row {
    // One entry per load round.
    read: Vec<Duration>,
    build: Vec<Duration>,
    first_inference: Vec<Duration>,
    first_result: Vec<Duration>,
    tracked: Vec<Duration>,
    detector: Vec<Duration>,
    tracked_cpu: Option<Duration>,
    detector_cpu: Option<Duration>,
    landmark_only: Vec<Duration>,
    warp: Vec<Duration>,
    rest: Vec<Duration>,
    detector_only: Vec<Duration>,
}

/// CPU time this thread has run so far (Linux: /proc/thread-self/schedstat), so the
/// per-frame CPU cost can be told apart from waiting for a core on a loaded machine.
fn thread_cpu() -> Option<Duration> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse::<u64>().ok().map(Duration::from_nanos)
}

/// Adds the CPU time spent since `before` (divided over `n` frames) to `acc`.
fn add_cpu(acc: &mut Option<Duration>, before: Option<Duration>, n: usize) {
    if let (Some(b), Some(a)) = (before, thread_cpu()) {
        *acc = Some(acc.unwrap_or_default() + a.saturating_sub(b) / n.max(1) as u32);
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn pct(samples: &[Duration], p: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    let mut v: Vec<f64> = samples.iter().map(|d| ms(*d)).collect();
    v.sort_by(f64::total_cmp);
    let i = ((v.len() - 1) as f64 * p).round() as usize;
    v[i.min(v.len() - 1)]
}

/// Loads a pipeline timing each stage; the first-result delay ends at the first skeleton.
fn load_timed(config: &ModelConfig, options: PipelineOptions, frame: &Frame, row: &mut Row) -> Result<PosePipeline> {
    let start = Instant::now();
    let mut marks: Vec<(LoadStage, f32, Instant)> = Vec::new();
    let mut p = load_blocking(config, options, &AtomicBool::new(false), &mut |s, f| {
        marks.push((s, f, Instant::now()))
    })
    .with_context(|| format!("loading the {} model", config.landmark))?;
    let at = |stage: LoadStage, f: f32| marks.iter().find(|m| m.0 == stage && m.1 == f).map(|m| m.2);
    let (Some(r0), Some(b0), Some(w0), Some(w1)) = (
        at(LoadStage::ReadingFiles, 0.0),
        at(LoadStage::BuildingSession, 0.0),
        at(LoadStage::WarmingUp, 0.0),
        at(LoadStage::WarmingUp, 1.0),
    ) else {
        bail!("the loader did not report every stage");
    };
    row.read.push(b0 - r0);
    row.build.push(w0 - b0);
    row.first_inference.push(w1 - w0);
    if p.process(frame)?.is_none() {
        bail!("no person found in the benchmark picture");
    }
    row.first_result.push(start.elapsed());
    Ok(p)
}

fn main() -> Result<()> {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    let args = Args::parse();
    // The ONNX Runtime library is loaded once per process: before the columns, so that the
    // first one does not pay for it alone.
    let t = Instant::now();
    vision::runtime::environment().context("loading ONNX Runtime")?;
    let runtime_load = t.elapsed();
    let frame = Frame::load(&args.image).with_context(|| format!("reading {}", args.image.display()))?;
    let mut variants = vec![Variant { model: LandmarkModel::Lite, pruned: true }, Variant { model: LandmarkModel::Full, pruned: true }];
    if !args.no_whole_graph {
        variants.extend([Variant { model: LandmarkModel::Lite, pruned: false }, Variant { model: LandmarkModel::Full, pruned: false }]);
    }
    let mut rows: Vec<Row> = variants.iter().map(|_| Row::default()).collect();
    // Loading is timed over several rounds, in a rotated order each round, so that no column
    // always pays for what a process does only once (allocator growth, first kernels).
    let load_rounds = args.load_rounds.max(1);
    let mut pipelines: Vec<Option<PosePipeline>> = variants.iter().map(|_| None).collect();
    for round in 0..load_rounds {
        for k in 0..variants.len() {
            let i = (k + round) % variants.len();
            let v = variants[i];
            let mut config = ModelConfig::with_landmark(v.model);
            if let Some(dir) = &args.models {
                config.dir = dir.clone();
            }
            let options = PipelineOptions { prune_landmark_model: v.pruned, ..PipelineOptions::default() };
            pipelines[i] = None;
            pipelines[i] = Some(load_timed(&config, options, &frame, &mut rows[i]).with_context(|| v.label())?);
        }
    }
    let mut pipelines: Vec<PosePipeline> = pipelines.into_iter().collect::<Option<_>>().context("a column was never loaded")?;
    let per_round = (args.frames / args.rounds.max(1)).max(1);
    let mut seq = 1u64;
    for _ in 0..args.rounds.max(1) {
        for (p, row) in pipelines.iter_mut().zip(rows.iter_mut()) {
            // Tracked frames: the region comes from the previous landmarks.
            p.reset_tracking();
            p.process(&frame.restamped(seq, Instant::now()))?;
            let cpu = thread_cpu();
            for _ in 0..per_round {
                seq += 1;
                let f = frame.restamped(seq, Instant::now());
                let t = Instant::now();
                p.process(&f)?.context("tracking lost on a still picture")?;
                row.tracked.push(t.elapsed());
                if p.stats().last_used_detector {
                    bail!("the detector ran on a tracked frame");
                }
                let stats = p.stats();
                row.landmark_only.push(stats.last_landmark);
                row.warp.push(stats.last_landmark_warp);
                row.rest.push(stats.last_total.saturating_sub(stats.last_landmark + stats.last_landmark_warp));
            }
            add_cpu(&mut row.tracked_cpu, cpu, per_round);
            let cpu = thread_cpu();
            // Frames with the detector: tracking reset before each.
            for _ in 0..per_round {
                seq += 1;
                p.reset_tracking();
                let f = frame.restamped(seq, Instant::now());
                let t = Instant::now();
                p.process(&f)?.context("no person found")?;
                row.detector.push(t.elapsed());
                row.detector_only.push(p.stats().last_detector);
            }
            add_cpu(&mut row.detector_cpu, cpu, per_round);
        }
    }

    println!("\nPose pipeline, {}×{} picture, {} frames per measurement, one intra-op thread", frame.width, frame.height, per_round * args.rounds.max(1));
    println!(
        "(ms; p50/p95 over frames, wall time unless marked CPU; all columns measured in alternating rounds; {load_rounds} timed loads per column)\n"
    );
    println!("| measure | {} |", variants.iter().map(Variant::label).collect::<Vec<_>>().join(" | "));
    println!("|---|{}", "---:|".repeat(variants.len()));
    let line = |name: &str, f: &dyn Fn(&Row) -> String| {
        println!("| {name} | {} |", rows.iter().map(f).collect::<Vec<_>>().join(" | "));
    };
    line("read model files (median of loads)", &|r| format!("{:.1}", pct(&r.read, 0.5)));
    line("session build, detector + landmark (median)", &|r| format!("{:.1}", pct(&r.build, 0.5)));
    line("first inference, warm-up of both models (median)", &|r| format!("{:.1}", pct(&r.first_inference, 0.5)));
    line("first-result delay, load start → first skeleton (median)", &|r| format!("{:.1}", pct(&r.first_result, 0.5)));
    line("tracked frame p50 / p95", &|r| format!("{:.2} / {:.2}", pct(&r.tracked, 0.5), pct(&r.tracked, 0.95)));
    line("  of which crop (warp into the model input) p50", &|r| format!("{:.3}", pct(&r.warp, 0.5)));
    line("  of which landmark model (ONNX Runtime) p50", &|r| format!("{:.2}", pct(&r.landmark_only, 0.5)));
    line("  of which the rest (decode, smoothing) p50", &|r| format!("{:.3}", pct(&r.rest, 0.5)));
    let rounds = args.rounds.max(1) as u32;
    let cpu = |c: Option<Duration>| c.map_or("n/a".to_string(), |c| format!("{:.2}", ms(c / rounds)));
    line("tracked frame CPU time (mean)", &|r| cpu(r.tracked_cpu));
    line("frame with detector p50 / p95", &|r| format!("{:.2} / {:.2}", pct(&r.detector, 0.5), pct(&r.detector, 0.95)));
    line("  of which detector model p50", &|r| format!("{:.2}", pct(&r.detector_only, 0.5)));
    line("frame with detector CPU time (mean)", &|r| cpu(r.detector_cpu));
    println!("\nloading the ONNX Runtime library: {:.1} ms (once per process, before the columns)", ms(runtime_load));
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("machine load average (1/5/15 min): {}", load.split_whitespace().take(3).collect::<Vec<_>>().join(" "));
    let lite = pct(&rows[0].tracked, 0.5);
    let lite_cpu = rows[0].tracked_cpu.map_or(f64::NAN, |c| ms(c / rounds));
    println!(
        "\ngoal: tracked frame p50 ≤ 12 ms with lite — {} (wall p50 {lite:.2} ms, CPU mean {lite_cpu:.2} ms)",
        if lite <= 12.0 && lite_cpu <= 12.0 { "met" } else { "NOT met" }
    );
    Ok(())
}
