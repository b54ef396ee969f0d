//! `--screenshot PATH`: save a screenshot of the window after N frames, then exit.
//!
//! The picture is written as a PNG of at most 256 colours (median cut, no dithering): the
//! interface's flat colours and anti-aliased text keep their own palette entries, and a
//! camera picture — which no lossless filter compresses well — costs a third of its
//! true-colour size (the game screen went from ~620 KB to ~250 KB).

use std::collections::HashMap;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured};

/// Takes the screenshot and quits once the file is written.
pub struct ScreenshotPlugin {
    pub path: PathBuf,
    pub after_frames: u32,
}

#[derive(Debug, Resource)]
struct ScreenshotJob {
    path: PathBuf,
    after_frames: u32,
    frame: u32,
    requested: bool,
}

/// Frames to wait for the file after requesting it before giving up.
const WRITE_TIMEOUT_FRAMES: u32 = 600;

impl Plugin for ScreenshotPlugin {
    fn build(&self, app: &mut App) {
        app.insert_resource(ScreenshotJob {
            path: self.path.clone(),
            after_frames: self.after_frames,
            frame: 0,
            requested: false,
        })
        .add_systems(Last, take_screenshot);
    }
}

fn take_screenshot(mut commands: Commands, mut job: ResMut<ScreenshotJob>, mut exit: MessageWriter<AppExit>) {
    job.frame += 1;
    if !job.requested {
        if job.frame >= job.after_frames {
            // Remove an old file so its presence means this run wrote it.
            let _ = std::fs::remove_file(&job.path);
            commands.spawn(Screenshot::primary_window()).observe(save_png(job.path.clone()));
            job.requested = true;
            info!("screenshot requested: {}", job.path.display());
        }
        return;
    }
    let written = std::fs::metadata(&job.path).is_ok_and(|m| m.len() > 0);
    if written {
        info!("screenshot saved: {}", job.path.display());
        exit.write(AppExit::Success);
    } else if job.frame > job.after_frames + WRITE_TIMEOUT_FRAMES {
        error!("the screenshot {} was not written in time", job.path.display());
        exit.write(AppExit::error());
    }
}

/// Why a screenshot could not be saved.
#[derive(Debug, thiserror::Error)]
pub enum ScreenshotError {
    #[error("the captured picture has an unusable format: {0}")]
    Format(String),
    #[error("the picture is {width}×{height} but holds {len} bytes of RGB")]
    Size { width: u32, height: u32, len: usize },
    #[error("could not write the file: {0}")]
    Io(#[from] std::io::Error),
    #[error("could not encode the PNG: {0}")]
    Png(#[from] png::EncodingError),
}

/// Observer: writes the captured window to `path`.
fn save_png(path: PathBuf) -> impl FnMut(On<ScreenshotCaptured>) {
    move |captured: On<ScreenshotCaptured>| {
        let result = captured
            .image
            .clone()
            .try_into_dynamic()
            .map_err(|e| ScreenshotError::Format(e.to_string()))
            .and_then(|img| {
                let rgb = img.to_rgb8();
                write_palette_png(&path, rgb.width(), rgb.height(), rgb.as_raw())
            });
        if let Err(e) = result {
            error!("could not save the screenshot {}: {e}", path.display());
        }
    }
}

/// Writes `rgb` (row-major, 3 bytes per pixel) as a PNG of at most 256 colours. The file
/// appears complete or not at all (written beside it, then renamed).
pub fn write_palette_png(path: &Path, width: u32, height: u32, rgb: &[u8]) -> Result<(), ScreenshotError> {
    if rgb.len() != width as usize * height as usize * 3 {
        return Err(ScreenshotError::Size { width, height, len: rgb.len() });
    }
    let (palette, indices) = quantize(rgb, 256);
    let partial = path.with_extension("png.part");
    {
        let file = BufWriter::new(std::fs::File::create(&partial)?);
        let mut encoder = png::Encoder::new(file, width, height);
        encoder.set_color(png::ColorType::Indexed);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_palette(palette.concat());
        encoder.set_compression(png::Compression::High);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&indices)?;
        writer.finish()?;
    }
    std::fs::rename(&partial, path)?;
    Ok(())
}

/// A box of the colour cube in the median cut: distinct colours with their pixel counts.
struct ColourBox {
    colours: Vec<([u8; 3], u32)>,
    pixels: u64,
    /// Channel with the widest spread, and that spread.
    axis: usize,
    spread: u8,
}

impl ColourBox {
    fn new(colours: Vec<([u8; 3], u32)>) -> Self {
        let pixels = colours.iter().map(|(_, n)| u64::from(*n)).sum();
        let spread_of = |k: usize| {
            let (lo, hi) = colours.iter().fold((u8::MAX, 0u8), |(lo, hi), (c, _)| (lo.min(c[k]), hi.max(c[k])));
            hi.saturating_sub(lo)
        };
        let (axis, spread) = (0..3).map(|k| (k, spread_of(k))).max_by_key(|&(_, s)| s).unwrap_or((0, 0));
        Self { colours, pixels, axis, spread }
    }

    /// How much splitting this box helps: wide boxes covering many pixels first.
    fn priority(&self) -> u64 {
        if self.colours.len() < 2 { 0 } else { u64::from(self.spread) * (self.pixels as f64).sqrt() as u64 + 1 }
    }

    /// The pixel-weighted mean colour.
    fn mean(&self) -> [u8; 3] {
        let total = self.pixels.max(1);
        let channel = |k: usize| {
            let sum: u64 = self.colours.iter().map(|(c, n)| u64::from(c[k]) * u64::from(*n)).sum();
            ((sum + total / 2) / total) as u8
        };
        [channel(0), channel(1), channel(2)]
    }

    /// Splits at the pixel median along the widest channel.
    fn split(mut self) -> (Self, Self) {
        let axis = self.axis;
        self.colours.sort_unstable_by_key(|(c, _)| (c[axis], *c));
        let half = self.pixels / 2;
        let mut seen = 0u64;
        let mut at = self.colours.len() / 2;
        for (i, (_, n)) in self.colours.iter().enumerate() {
            seen += u64::from(*n);
            if seen >= half {
                at = i + 1;
                break;
            }
        }
        let at = at.clamp(1, self.colours.len() - 1);
        let upper = self.colours.split_off(at);
        (Self::new(self.colours), Self::new(upper))
    }
}

/// Median-cut colour quantization: a palette of at most `max` colours (exact when the
/// picture has no more) and each pixel's palette index. Deterministic.
pub fn quantize(rgb: &[u8], max: usize) -> (Vec<[u8; 3]>, Vec<u8>) {
    let max = max.clamp(1, 256);
    let mut counts: HashMap<[u8; 3], u32> = HashMap::new();
    for px in rgb.chunks_exact(3) {
        *counts.entry([px[0], px[1], px[2]]).or_default() += 1;
    }
    let mut colours: Vec<([u8; 3], u32)> = counts.into_iter().collect();
    colours.sort_unstable();
    let mut boxes = vec![ColourBox::new(colours)];
    while boxes.len() < max {
        let Some((i, _)) = boxes.iter().enumerate().filter(|(_, b)| b.priority() > 0).max_by_key(|(_, b)| b.priority())
        else {
            break;
        };
        let (a, b) = boxes.swap_remove(i).split();
        boxes.push(a);
        boxes.push(b);
    }
    let mut lookup: HashMap<[u8; 3], u8> = HashMap::new();
    let mut palette = Vec::with_capacity(boxes.len());
    for (i, b) in boxes.iter().enumerate() {
        // `boxes` never exceeds 256 entries, so the index fits a byte.
        let index = u8::try_from(i).unwrap_or(u8::MAX);
        palette.push(if b.colours.len() == 1 { b.colours[0].0 } else { b.mean() });
        for (c, _) in &b.colours {
            lookup.insert(*c, index);
        }
    }
    let indices = rgb.chunks_exact(3).map(|px| lookup.get(&[px[0], px[1], px[2]]).copied().unwrap_or(0)).collect();
    (palette, indices)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A picture of a flat interface (few colours) beside a smooth "photo" (thousands).
    fn picture(w: usize, h: usize) -> Vec<u8> {
        let mut rgb = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            for x in 0..w {
                let px = if x < w / 2 {
                    if (x / 8 + y / 8) % 2 == 0 { [30, 32, 40] } else { [255, 176, 59] }
                } else {
                    [(x * 255 / w) as u8, (y * 255 / h) as u8, ((x + y) % 256) as u8]
                };
                rgb.extend_from_slice(&px);
            }
        }
        rgb
    }

    #[test]
    fn few_colours_stay_exact_and_many_are_close() {
        let (w, h) = (160, 90);
        let rgb = picture(w, h);
        let (palette, indices) = quantize(&rgb, 256);
        assert!(palette.len() <= 256);
        assert_eq!(indices.len(), w * h);
        let mut worst_photo = 0i32;
        for (i, px) in rgb.chunks_exact(3).enumerate() {
            let got = palette[indices[i] as usize];
            let err = (0..3).map(|k| (i32::from(got[k]) - i32::from(px[k])).abs()).max().unwrap_or(0);
            if i % w < w / 2 {
                assert_eq!(err, 0, "interface colours are kept exactly");
            } else {
                worst_photo = worst_photo.max(err);
            }
        }
        assert!(worst_photo <= 40, "photo colours within {worst_photo}");
        // Deterministic.
        assert_eq!(quantize(&rgb, 256), (palette, indices));
    }

    #[test]
    fn palette_png_is_written_whole_and_decodes() {
        let (w, h) = (64u32, 48u32);
        let rgb = picture(w as usize, h as usize);
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("shot.png");
        write_palette_png(&path, w, h, &rgb).expect("written");
        assert!(!path.with_extension("png.part").exists());
        let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&path).expect("open")));
        let reader = decoder.read_info().expect("a PNG");
        let info = reader.info();
        assert_eq!((info.width, info.height, info.color_type), (w, h, png::ColorType::Indexed));
        assert!(matches!(
            write_palette_png(&path, w, h, &rgb[3..]),
            Err(ScreenshotError::Size { .. })
        ));
    }
}
