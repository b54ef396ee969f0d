//! The camera latency test (`--latency-test`, or 📷 in the menu): the window flashes white,
//! and the time until the camera sees the flash is the player's glass-to-glass latency — the
//! display's delay, the camera's exposure and transfer, up to the frame's capture timestamp.
//! Ten flashes, the median is the number to read.
//!
//! [`FlashMeter`] is the logic, pure over the instants it is given (tested with a simulated
//! camera that sees the flash after a known delay); [`FlashTestPlugin`] feeds it the camera's
//! frames on the latency-test screen.

use std::time::{Duration, Instant};

use bevy::prelude::*;
use vision::Frame;

use crate::state::{ClientSet, LatestFrame, Screen};

/// How the test runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FlashConfig {
    /// Flashes measured.
    pub rounds: usize,
    /// Dark time before the first flash, to learn the room's brightness.
    pub settle: Duration,
    /// Least dark time between flashes.
    pub dark: Duration,
    /// A flash the camera has not seen after this long is a miss.
    pub timeout: Duration,
    /// How much brighter than the dark picture (mean luma, 0–255) counts as seeing the flash.
    pub threshold: f32,
}

impl Default for FlashConfig {
    fn default() -> Self {
        Self {
            rounds: 10,
            settle: Duration::from_millis(1500),
            dark: Duration::from_millis(800),
            timeout: Duration::from_secs(2),
            threshold: 18.0,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Phase {
    /// Dark, learning the baseline from the frames captured since `since`.
    Settling { since: Instant, samples: Vec<f32> },
    /// Dark until `until` and until the picture is back near the baseline.
    Dark { until: Instant },
    /// White since `shown_at`.
    Flash { shown_at: Instant },
    Done,
}

/// The test's state: when to flash, what the camera saw, the delays measured.
#[derive(Debug, Clone, PartialEq, Resource)]
pub struct FlashMeter {
    cfg: FlashConfig,
    phase: Phase,
    /// Mean luma of the dark picture.
    baseline: Option<f32>,
    /// Newest frame's luma (for the screen).
    pub last_luma: Option<f32>,
    /// Flash shown → first frame captured with it, one per seen flash.
    pub delays: Vec<Duration>,
    /// Flashes the camera did not see in time.
    pub misses: usize,
}

/// What the test measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FlashResult {
    pub median: Duration,
    pub min: Duration,
    pub max: Duration,
    pub seen: usize,
    pub misses: usize,
}

/// Mean brightness of a frame (Rec. 601 luma, 0–255), from every 7th pixel.
pub fn mean_luma(frame: &Frame) -> f32 {
    let (mut sum, mut n) = (0.0f64, 0u32);
    for px in frame.data.chunks_exact(3).step_by(7) {
        sum += 0.299 * f64::from(px[0]) + 0.587 * f64::from(px[1]) + 0.114 * f64::from(px[2]);
        n += 1;
    }
    if n == 0 { 0.0 } else { (sum / f64::from(n)) as f32 }
}

impl FlashMeter {
    pub fn new(cfg: FlashConfig, now: Instant) -> Self {
        Self {
            cfg,
            phase: Phase::Settling { since: now, samples: Vec::new() },
            baseline: None,
            last_luma: None,
            delays: Vec::new(),
            misses: 0,
        }
    }

    /// The window should be white now.
    pub fn flash_on(&self) -> bool {
        matches!(self.phase, Phase::Flash { .. })
    }

    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// Flashes done so far (seen or missed).
    pub fn rounds_done(&self) -> usize {
        self.delays.len() + self.misses
    }

    /// Advances the phases at `now`: the first flash after settling, the next after the dark
    /// pause, a miss when the camera did not see a flash in time.
    pub fn tick(&mut self, now: Instant) {
        match &self.phase {
            Phase::Settling { since, samples } => {
                if now.saturating_duration_since(*since) >= self.cfg.settle && samples.len() >= 3 {
                    let mut sorted = samples.clone();
                    sorted.sort_by(f32::total_cmp);
                    self.baseline = sorted.get(sorted.len() / 2).copied();
                    self.phase = Phase::Dark { until: now };
                }
            }
            Phase::Dark { until } => {
                let settled = match (self.baseline, self.last_luma) {
                    (Some(b), Some(l)) => l < b + self.cfg.threshold / 2.0,
                    _ => false,
                };
                if now >= *until && settled {
                    self.phase = Phase::Flash { shown_at: now };
                }
            }
            Phase::Flash { shown_at } => {
                if now.saturating_duration_since(*shown_at) >= self.cfg.timeout {
                    self.misses += 1;
                    self.next_round(now);
                }
            }
            Phase::Done => {}
        }
    }

    /// A camera frame: its mean luma and capture time.
    pub fn frame(&mut self, luma: f32, captured: Instant) {
        self.last_luma = Some(luma);
        match &mut self.phase {
            Phase::Settling { since, samples } => {
                if captured >= *since {
                    samples.push(luma);
                }
            }
            Phase::Flash { shown_at } => {
                let shown_at = *shown_at;
                let bright = self.baseline.is_some_and(|b| luma >= b + self.cfg.threshold);
                if bright && captured >= shown_at {
                    self.delays.push(captured - shown_at);
                    self.next_round(captured);
                }
            }
            Phase::Dark { .. } | Phase::Done => {}
        }
    }

    fn next_round(&mut self, now: Instant) {
        self.phase = if self.rounds_done() >= self.cfg.rounds {
            Phase::Done
        } else {
            Phase::Dark { until: now + self.cfg.dark }
        };
    }

    /// The delays measured so far (`None` before the camera saw any flash).
    pub fn result(&self) -> Option<FlashResult> {
        let mut d = self.delays.clone();
        d.sort();
        Some(FlashResult {
            median: *d.get(d.len() / 2)?,
            min: *d.first()?,
            max: *d.last()?,
            seen: d.len(),
            misses: self.misses,
        })
    }
}

/// The latency-test screen's logic: a new meter on entering, the camera's frames fed to it.
/// (The windowed UI draws the flash; `ui::latency`.)
pub struct FlashTestPlugin;

impl Plugin for FlashTestPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(OnEnter(Screen::LatencyTest), start_test)
            .add_systems(
                Update,
                observe.in_set(ClientSet::Input).run_if(in_state(Screen::LatencyTest).and_then(resource_exists::<FlashMeter>)),
            );
    }
}

fn start_test(mut commands: Commands) {
    commands.insert_resource(FlashMeter::new(FlashConfig::default(), Instant::now()));
}

fn observe(latest: Option<Res<LatestFrame>>, mut meter: ResMut<FlashMeter>) {
    if let Some(latest) = latest
        && latest.fresh
        && let Some(frame) = &latest.frame
    {
        meter.frame(mean_luma(frame), frame.captured);
    }
    let was_done = meter.is_done();
    meter.tick(Instant::now());
    if !was_done
        && meter.is_done()
        && let Some(r) = meter.result()
    {
        info!(
            "camera latency: median {:.0} ms (min {:.0}, max {:.0}; {} seen, {} missed)",
            r.median.as_secs_f64() * 1000.0,
            r.min.as_secs_f64() * 1000.0,
            r.max.as_secs_f64() * 1000.0,
            r.seen,
            r.misses
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A simulated camera at `fps` that sees the window's state `delay` after it changes:
    /// a frame captured at `c` is bright when the flash was on at `c − delay`. Steps the meter
    /// in 4 ms updates (the app's frame loop) and delivers each frame `transfer` after its
    /// capture, as a real camera does.
    fn simulate(cfg: FlashConfig, fps: f64, delay: Duration, sees_flash: bool) -> FlashMeter {
        let t0 = Instant::now();
        let mut meter = FlashMeter::new(cfg, t0);
        let frame_every = Duration::from_secs_f64(1.0 / fps);
        let transfer = Duration::from_millis(12);
        // When the window turned white / dark (the simulated display's history).
        let mut flash_log: Vec<(Instant, bool)> = vec![(t0, false)];
        let on_at = |log: &[(Instant, bool)], t: Instant| log.iter().rev().find(|(at, _)| *at <= t).is_some_and(|(_, on)| *on);
        let mut next_capture = t0;
        let mut now = t0;
        while !meter.is_done() && now < t0 + Duration::from_secs(120) {
            now += Duration::from_millis(4);
            // Frames captured by now and delivered by now.
            let before = meter.flash_on();
            while next_capture + transfer <= now {
                let bright = sees_flash && next_capture >= t0 + delay && on_at(&flash_log, next_capture - delay);
                meter.frame(if bright { 190.0 } else { 35.0 }, next_capture);
                next_capture += frame_every;
            }
            meter.tick(now);
            // The window shows the meter's state from this update on.
            if meter.flash_on() != before {
                flash_log.push((now, meter.flash_on()));
            }
        }
        meter
    }

    #[test]
    fn the_median_delay_is_the_cameras_within_a_frame() {
        for (fps, delay_ms) in [(30.0, 120u64), (60.0, 75), (15.0, 200)] {
            let delay = Duration::from_millis(delay_ms);
            let meter = simulate(FlashConfig::default(), fps, delay, true);
            let r = meter.result().expect("flashes seen");
            assert_eq!((r.seen, r.misses), (10, 0), "{fps} fps: {r:?}");
            let frame = Duration::from_secs_f64(1.0 / fps);
            // The first frame captured after the camera sees the flash: at most one frame late,
            // plus the 4 ms update step in which the flash was switched on.
            assert!(r.min >= delay, "{fps} fps: {r:?}");
            assert!(r.max <= delay + frame + Duration::from_millis(4), "{fps} fps: {r:?}");
            assert!(meter.is_done() && !meter.flash_on());
        }
    }

    #[test]
    fn a_camera_that_never_sees_the_flash_gives_misses_not_numbers() {
        let cfg = FlashConfig { rounds: 3, timeout: Duration::from_millis(500), ..FlashConfig::default() };
        let meter = simulate(cfg, 30.0, Duration::from_millis(100), false);
        assert!(meter.is_done());
        assert_eq!((meter.delays.len(), meter.misses), (0, 3));
        assert_eq!(meter.result(), None);
    }

    #[test]
    fn luma_of_plain_pictures() {
        let px = |rgb: [u8; 3]| Frame::from_rgb(4, 4, rgb.repeat(16), 0, Instant::now()).expect("frame");
        assert!((mean_luma(&px([255, 255, 255])) - 255.0).abs() < 0.01);
        assert_eq!(mean_luma(&px([0, 0, 0])), 0.0);
        assert!((mean_luma(&px([0, 255, 0])) - 149.685).abs() < 0.01);
    }
}
