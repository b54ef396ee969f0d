//! `framebench --people 2`: the frame loop with several people in front of the camera
//! (couch play). The image-folder source plays `two_people.png` (the astronaut twice, one
//! mirrored); the pose plugin tracks everyone and the couch plugin seats them, as the game
//! does with `--couch`. Printed beside the same loop tracking one person on `astronaut.png`,
//! in one run: frame-loop FPS, frame times, inference time per frame (all people), and the
//! share of frames where every seat has a skeleton.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bevy::prelude::*;
use client::couch::{Couch, CouchPlugin};
use client::pose::{PosePlugin, PoseStats};
use client::state::{InferencePlacement, ModelChoice, ModelStatus, PlayerPose, SeatPoses, StatePlugin};

use crate::{Args, FrameStats, measure, pace_from};

/// One column: how many people, on which picture, which model and placement.
struct Column {
    people: usize,
    picture: &'static str,
    model: ModelChoice,
    placement: InferencePlacement,
}

struct Outcome {
    stats: FrameStats,
    all_seated: f64,
    detector_runs_per_100: f64,
}

const IMAGES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/testdata/images");

fn app(dir: &Path, c: &Column) -> App {
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, bevy::state::app::StatesPlugin, StatePlugin)).add_plugins((
        client::camera::CameraPlugin { source: Some(vision::SourceConfig::Folder { path: dir.to_path_buf(), fps: 30.0 }) },
        PosePlugin { model: Some(c.model), placement: c.placement },
    ));
    if c.people > 1 {
        let names = (2..=c.people).map(|i| format!("seat {i}")).collect();
        app.add_plugins(CouchPlugin { names });
    }
    app
}

/// Every seat has a skeleton this update.
fn all_seated(app: &App) -> bool {
    let world = app.world();
    world.resource::<PlayerPose>().skeleton.is_some()
        && world.get_resource::<Couch>().is_none_or(|_| world.resource::<SeatPoses>().0.iter().all(Option::is_some))
}

fn run(c: &Column, args: &Args) -> Result<Outcome> {
    let dir = std::env::temp_dir().join(format!("poseparty-framebench-couch-{}-{}", std::process::id(), c.people));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let picture = Path::new(IMAGES).join(c.picture);
    std::fs::copy(&picture, dir.join("0001.png")).with_context(|| format!("copying {}", picture.display()))?;
    let mut app = app(&dir, c);
    let start = Instant::now();
    // Until every seat has been seen once.
    loop {
        let t = Instant::now();
        app.update();
        if let Some(e) = app.world().resource::<ModelStatus>().error() {
            bail!("the pose model did not load: {e}");
        }
        if all_seated(&app) {
            break;
        }
        if start.elapsed() > Duration::from_secs(120) {
            bail!("{} people: not everyone seen after 120 s", c.people);
        }
        pace_from(t, args);
    }
    let detector0 = app.world().resource::<PoseStats>().detector_runs;
    // Seated: counted on the state each update starts from (the first is the all-seated
    // frame above), so every measured frame counts once.
    let (mut seated, mut checked) = (0usize, 0usize);
    let stats = measure(&mut app, args, |app, elapsed| {
        let more = elapsed.as_secs_f64() < args.seconds;
        if more {
            seated += usize::from(all_seated(app));
            checked += 1;
        }
        more
    });
    let detector_runs = app.world().resource::<PoseStats>().detector_runs - detector0;
    drop(app);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(Outcome {
        all_seated: seated as f64 / checked.max(1) as f64,
        detector_runs_per_100: detector_runs as f64 * 100.0 / stats.inferences.max(1) as f64,
        stats,
    })
}

pub fn bench(people: &[usize], args: &Args) -> Result<()> {
    let mut columns = Vec::new();
    for &n in people {
        let picture = if n > 1 { "two_people.png" } else { "astronaut.png" };
        for placement in [InferencePlacement::Frame, InferencePlacement::Pool] {
            columns.push(Column { people: n, picture, model: ModelChoice::Lite, placement });
        }
    }
    let mut results = Vec::new();
    for c in &columns {
        results.push(run(c, args)?);
    }
    let ms = |d: Duration| format!("{:.1}", d.as_secs_f64() * 1000.0);
    println!(
        "\nCouch play: the frame loop tracking several people (lite model), paced at {} Hz, source 30 fps, {} s per column\n",
        args.fps, args.seconds
    );
    let head: Vec<String> = columns
        .iter()
        .map(|c| format!("{} on {} / {:?}", c.people, c.picture, c.placement).to_lowercase())
        .collect();
    println!("| measure | {} |", head.join(" | "));
    println!("|---|{}", "---:|".repeat(columns.len()));
    let line = |name: &str, f: &dyn Fn(&Outcome) -> String| {
        println!("| {name} | {} |", results.iter().map(f).collect::<Vec<_>>().join(" | "));
    };
    line("frame-loop FPS", &|o| format!("{:.1}", o.stats.fps));
    line("frame time p50 / p95 (ms)", &|o| format!("{} / {}", ms(o.stats.p50), ms(o.stats.p95)));
    line("inference per frame p50 (ms, everyone)", &|o| ms(o.stats.inference_p50));
    line("inferences per second", &|o| format!("{:.1}", o.stats.inferences_per_s));
    line("detector runs per 100 inferences", &|o| format!("{:.1}", o.detector_runs_per_100));
    line("frames with every seat seen", &|o| format!("{:.0} %", o.all_seated * 100.0));
    Ok(())
}
