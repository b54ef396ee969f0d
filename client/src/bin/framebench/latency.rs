//! `framebench --latency`: how long from the moment a player's body is in the pose to the
//! moment the game counts it. The image-folder source plays a person going into a pose and
//! holding it (the rendered sequence, its pose held 1.5 s), in a loop, at 15, 30 and 60 fps; a Pose Rush round whose routine is that one
//! pose runs on the real model (lite and full, in the frame and on a task). For every hit the
//! game's `LatencyLog` gives capture → skeleton, skeleton → rules decision and capture → hit,
//! and, apart, the hold the rules require.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bevy::prelude::*;
use client::deck::{ActiveDeck, DeckOrigin};
use client::game::{GamePlugin, HitLatency, LatencyLog};
use client::session::{Connection, RoundInfo, Session, SessionPlugin};
use client::state::{InferencePlacement, ModelChoice, Screen};
use shared::deck::{Deck, Routine, Step};
use shared::protocol::signal::{GameMode, RoomPhase, RoomSettings, RoomSnapshot, RoomVisibility};
use shared::rules::{PoseId, RushConfig};

use crate::{Args, pose_app, wait_for_first_skeleton};

/// The rendered sequence played when `--latency-frames` is not given.
const DEFAULT_FRAMES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../assets/testdata/rendered/sequences/hands_up");
const DEFAULT_POSE: &str = "hands_up";
/// Hits collected per configuration.
const HITS: usize = 10;
/// Longest time spent collecting them.
const COLLECT_LIMIT: Duration = Duration::from_secs(60);

/// A headless app playing a Pose Rush round whose one target is `pose`, on the pictures of
/// `dir` at `fps`.
fn round_app(dir: &Path, fps: f32, pose: PoseId, model: ModelChoice, placement: InferencePlacement) -> App {
    let mut app = pose_app(dir, fps, model, placement);
    let deck = Deck {
        title: "latency".into(),
        questions: vec![],
        routines: vec![Routine { name: pose.key().into(), steps: vec![Step { pose, time_ms: None }] }],
    };
    app.add_plugins((SessionPlugin, GamePlugin))
        .insert_resource(ActiveDeck::new(deck, DeckOrigin::Sample))
        .insert_state(Screen::Lobby);
    let mut session = app.world_mut().resource_mut::<Session>();
    session.connection = Connection::Online { my_id: 1 };
    session.room = Some(RoomSnapshot {
        code: "LATNCY".into(),
        host: 1,
        settings: RoomSettings { mode: GameMode::PoseRush, duration_secs: 600, routine: Some(0) },
        phase: RoomPhase::Lobby,
        players: vec![],
        cap: 1,
        visibility: RoomVisibility::Private,
    });
    session.round =
        Some(RoundInfo { start_in_ms: 0, round_seed: 1, mode: GameMode::PoseRush, duration_ms: 600_000, players: vec![1] });
    app
}

/// The hits of one configuration.
fn run(dir: &Path, fps: f32, pose: PoseId, model: ModelChoice, placement: InferencePlacement, args: &Args) -> Result<Vec<HitLatency>> {
    let mut app = round_app(dir, fps, pose, model, placement);
    wait_for_first_skeleton(&mut app, args)?;
    app.world_mut().resource_mut::<NextState<Screen>>().set(Screen::Game);
    let start = Instant::now();
    crate::paced(&mut app, args, COLLECT_LIMIT, |app| {
        app.world().get_resource::<LatencyLog>().is_none_or(|log| log.hits.len() < HITS)
    });
    let hits = app.world().get_resource::<LatencyLog>().map(|l| l.hits.clone()).unwrap_or_default();
    if hits.is_empty() {
        bail!(
            "{model:?}/{placement:?} at {fps} fps: no hit in {:.0} s — do the pictures in {} show {}?",
            start.elapsed().as_secs_f64(),
            dir.display(),
            pose.key()
        );
    }
    Ok(hits)
}

fn pct(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    v.get(((v.len().saturating_sub(1)) as f64 * p).round() as usize).copied().unwrap_or_default()
}

/// The sequence played at `fps` as a person would do it: the pictures in order, the last one
/// (the pose) held for 1.5 s and the first one (neutral) for 0.5 s, so the hold the rules
/// require fits whatever the frame rate. Written as links (or copies) into a temp folder.
fn paced_sequence(src: &Path, fps: f32) -> Result<PathBuf> {
    let mut frames: Vec<PathBuf> = std::fs::read_dir(src)
        .with_context(|| format!("reading {}", src.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x.eq_ignore_ascii_case("jpg") || x.eq_ignore_ascii_case("png")))
        .collect();
    frames.sort();
    let (Some(first), Some(last)) = (frames.first().cloned(), frames.last().cloned()) else {
        bail!("no pictures in {}", src.display());
    };
    let dir = std::env::temp_dir().join(format!("poseparty-latency-{}-{fps}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let hold = (1.5 * fps).ceil() as usize;
    let neutral = (0.5 * fps).ceil() as usize;
    let played = std::iter::repeat_n(&first, neutral).chain(frames.iter()).chain(std::iter::repeat_n(&last, hold));
    for (n, path) in played.enumerate() {
        let ext = path.extension().map_or("jpg".into(), |e| e.to_string_lossy().into_owned());
        let to = dir.join(format!("{n:05}.{ext}"));
        if std::fs::hard_link(path, &to).is_err() {
            std::fs::copy(path, &to).with_context(|| format!("copying {}", path.display()))?;
        }
    }
    Ok(dir)
}

pub fn bench(args: &Args) -> Result<()> {
    let dir = args.latency_frames.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_FRAMES));
    let key = args.latency_pose.as_deref().unwrap_or(DEFAULT_POSE);
    let pose = PoseId::from_name(key).with_context(|| format!("unknown pose {key:?}"))?;
    if !dir.is_dir() {
        bail!("no picture sequence at {} — give one with --latency-frames DIR --latency-pose POSE", dir.display());
    }
    let hold_ms = RushConfig::default().hold_ms;
    println!(
        "\nLatency per hit: {} played in a loop, target {} (hold required: {hold_ms} ms, reported apart); {HITS} hits per row\n",
        dir.display(),
        pose.key()
    );
    println!("| fps | model | inference | hits | capture → skeleton p50 / p95 | skeleton → rules p50 / p95 | capture → hit p50 / p95 | hold p50 (frames) |");
    println!("|---:|---|---|---:|---:|---:|---:|---:|");
    let ms = |d: Duration| format!("{:.1}", d.as_secs_f64() * 1000.0);
    for fps in [15.0f32, 30.0, 60.0] {
        let played = paced_sequence(&dir, fps)?;
        for model in [ModelChoice::Lite, ModelChoice::Full] {
            for placement in [InferencePlacement::Frame, InferencePlacement::Pool] {
                let hits = run(&played, fps, pose, model, placement, args)?;
                let col = |f: fn(&HitLatency) -> Duration| {
                    let v: Vec<Duration> = hits.iter().map(f).collect();
                    format!("{} / {}", ms(pct(v.clone(), 0.5)), ms(pct(v, 0.95)))
                };
                let hold = pct(hits.iter().map(|h| h.hold).collect(), 0.5);
                let mut frames: Vec<u32> = hits.iter().map(|h| h.hold_frames).collect();
                frames.sort_unstable();
                let hold_frames = frames.get(frames.len() / 2).copied().unwrap_or_default();
                println!(
                    "| {fps} | {model:?} | {placement:?} | {} | {} | {} | {} | {} ({hold_frames}) |",
                    hits.len(),
                    col(|h| h.capture_to_skeleton),
                    col(|h| h.skeleton_to_decision),
                    col(|h| h.capture_to_hit),
                    ms(hold),
                );
            }
        }
        let _ = std::fs::remove_dir_all(&played);
    }
    Ok(())
}
