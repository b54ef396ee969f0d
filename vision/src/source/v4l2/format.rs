//! Which of the formats a camera offers to ask for.

/// The pixel formats we convert, in order of preference: YUYV is a cheap per-pixel
/// conversion, MJPEG needs a JPEG decode per frame, RGB3 is rarely offered by real cameras
/// (mostly by virtual ones) and twice YUYV's USB bandwidth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pixel {
    Yuyv,
    Mjpeg,
    Rgb3,
}

impl Pixel {
    pub fn from_fourcc(code: [u8; 4]) -> Option<Pixel> {
        match &code {
            b"YUYV" => Some(Pixel::Yuyv),
            b"MJPG" | b"JPEG" => Some(Pixel::Mjpeg),
            b"RGB3" => Some(Pixel::Rgb3),
            _ => None,
        }
    }

    fn rank(self) -> u32 {
        match self {
            Pixel::Yuyv => 0,
            Pixel::Mjpeg => 1,
            Pixel::Rgb3 => 2,
        }
    }
}

/// The text of a fourcc ("YUYV"), with unprintable bytes as '?'.
pub fn fourcc_text(code: [u8; 4]) -> String {
    code.iter().map(|&b| if b.is_ascii_graphic() || b == b' ' { b as char } else { '?' }).collect::<String>().trim_end().to_string()
}

/// One combination the camera offers: a pixel format, a size and (when the driver lists it)
/// a frame interval in seconds as `numerator / denominator`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offer {
    pub fourcc: [u8; 4],
    pub width: u32,
    pub height: u32,
    pub interval: Option<(u32, u32)>,
}

impl Offer {
    /// Frames per second, `None` when the interval is unknown or invalid.
    pub fn fps(&self) -> Option<f64> {
        match self.interval {
            Some((n, d)) if n > 0 && d > 0 => Some(f64::from(d) / f64::from(n)),
            _ => None,
        }
    }
}

/// What the game would like.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Wanted {
    pub width: u32,
    pub height: u32,
    pub fps: f64,
}

impl Default for Wanted {
    fn default() -> Self {
        // The pose models work on 224–256 px crops: 640×480 is plenty, and every webcam has it.
        Wanted { width: 640, height: 480, fps: 30.0 }
    }
}

/// The chosen offer and its pixel format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choice {
    pub pixel: Pixel,
    pub offer: Offer,
}

/// Picks the offer nearest to `want`, among the formats we convert. In order: a frame rate
/// at least (about) the wanted one, else the smallest shortfall (a slow camera adds latency
/// to every frame); then the size nearest by area (within ~5 % counts as equal); then the
/// preferred pixel format (YUYV, MJPEG, RGB3); then the rate nearest the wanted one. An offer
/// with an unknown rate counts as meeting it (the rate is requested separately). `None` when
/// the camera offers none of our formats.
pub fn choose(offers: &[Offer], want: Wanted) -> Option<Choice> {
    let want_area = f64::from(want.width.max(1)) * f64::from(want.height.max(1));
    offers
        .iter()
        .filter(|o| o.width > 0 && o.height > 0)
        .filter_map(|o| Some(Choice { pixel: Pixel::from_fourcc(o.fourcc)?, offer: *o }))
        .min_by_key(|c| {
            let fps = c.offer.fps().unwrap_or(want.fps);
            let shortfall = if fps >= want.fps * 0.95 { 0 } else { (want.fps - fps).round() as u64 + 1 };
            let area = f64::from(c.offer.width) * f64::from(c.offer.height);
            let size = ((area / want_area).ln().abs() * 10.0).round() as u64;
            let excess = (fps - want.fps).abs().round() as u64;
            (shortfall, size, c.pixel.rank(), excess)
        })
}

/// The size within a stepwise range nearest to the wanted one (for drivers that list ranges).
pub fn nearest_in_range(want: u32, min: u32, max: u32, step: u32) -> u32 {
    let (lo, hi) = (min.min(max), max.max(min));
    let clamped = want.clamp(lo, hi);
    if step <= 1 {
        return clamped;
    }
    let k = (clamped - lo + step / 2) / step;
    lo.saturating_add(k.saturating_mul(step)).min(hi)
}

/// The interval (seconds, as `numerator / denominator`) within a stepwise range nearest to
/// the wanted rate.
pub fn nearest_interval(want_fps: f64, min: (u32, u32), max: (u32, u32)) -> Option<(u32, u32)> {
    let secs = |(n, d): (u32, u32)| (n > 0 && d > 0).then(|| f64::from(n) / f64::from(d));
    let (lo, hi) = (secs(min)?, secs(max)?);
    let want = (1.0 / want_fps).clamp(lo.min(hi), hi.max(lo));
    // Microsecond resolution is finer than any camera's.
    Some(((want * 1_000_000.0).round().max(1.0) as u32, 1_000_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(fourcc: &[u8; 4], width: u32, height: u32, fps: u32) -> Offer {
        Offer { fourcc: *fourcc, width, height, interval: Some((1, fps)) }
    }

    #[test]
    fn prefers_yuyv_then_mjpeg_then_rgb3_at_the_same_size_and_rate() {
        let want = Wanted::default();
        let offers = [o(b"RGB3", 640, 480, 30), o(b"MJPG", 640, 480, 30), o(b"YUYV", 640, 480, 30)];
        assert_eq!(choose(&offers, want).unwrap().pixel, Pixel::Yuyv);
        assert_eq!(choose(&offers[..2], want).unwrap().pixel, Pixel::Mjpeg);
        assert_eq!(choose(&offers[..1], want).unwrap().pixel, Pixel::Rgb3);
    }

    #[test]
    fn rate_then_size_beat_the_format_preference() {
        let want = Wanted::default();
        // A typical USB 2 webcam: YUYV is slow at 640×480, MJPEG keeps 30 fps.
        let offers = [o(b"YUYV", 640, 480, 15), o(b"MJPG", 640, 480, 30), o(b"YUYV", 320, 240, 30)];
        let c = choose(&offers, want).unwrap();
        assert_eq!((c.pixel, c.offer.width, c.offer.fps()), (Pixel::Mjpeg, 640, Some(30.0)));
        // Sizes: the nearest wins; a frame rate a little under (29.97) still counts as 30.
        let offers = [o(b"YUYV", 1920, 1080, 30), o(b"YUYV", 160, 120, 30), o(b"MJPG", 640, 360, 30)];
        assert_eq!(choose(&offers, want).unwrap().offer.width, 640);
        let ntsc = Offer { fourcc: *b"MJPG", width: 640, height: 480, interval: Some((1001, 30000)) };
        let offers = [ntsc, o(b"YUYV", 320, 240, 30)];
        assert_eq!(choose(&offers, want).unwrap().offer, ntsc);
        // No offer reaches the rate: the fastest, then the nearest size.
        let offers = [o(b"YUYV", 640, 480, 5), o(b"YUYV", 1280, 720, 10), o(b"MJPG", 640, 480, 10)];
        let c = choose(&offers, want).unwrap();
        assert_eq!((c.pixel, c.offer.width), (Pixel::Mjpeg, 640));
        // Above the wanted rate: the nearest rate among equals.
        let offers = [o(b"YUYV", 640, 480, 60), o(b"YUYV", 640, 480, 30)];
        assert_eq!(choose(&offers, want).unwrap().offer.fps(), Some(30.0));
    }

    #[test]
    fn unknown_rates_and_unsupported_formats() {
        let want = Wanted::default();
        let unknown = Offer { fourcc: *b"YUYV", width: 640, height: 480, interval: None };
        assert_eq!(choose(&[unknown, o(b"MJPG", 640, 480, 30)], want).unwrap().offer, unknown);
        // Formats we cannot convert are never chosen.
        assert_eq!(choose(&[o(b"H264", 640, 480, 30), o(b"NV12", 640, 480, 30)], want), None);
        assert_eq!(choose(&[o(b"YUYV", 0, 0, 30)], want), None);
        assert_eq!(choose(&[], want), None);
        assert_eq!(fourcc_text(*b"H264"), "H264");
        assert_eq!(fourcc_text([b'Y', b'1', b'6', 0]), "Y16?");
    }

    #[test]
    fn stepwise_ranges() {
        assert_eq!(nearest_in_range(640, 160, 1920, 16), 640);
        assert_eq!(nearest_in_range(641, 160, 1920, 16), 640);
        assert_eq!(nearest_in_range(650, 160, 1920, 16), 656);
        assert_eq!(nearest_in_range(100, 160, 1920, 16), 160);
        assert_eq!(nearest_in_range(5000, 160, 1920, 0), 1920);
        assert_eq!(nearest_interval(30.0, (1, 60), (1, 5)), Some((33_333, 1_000_000)));
        assert_eq!(nearest_interval(30.0, (1, 15), (1, 5)), Some((66_667, 1_000_000)));
        assert_eq!(nearest_interval(30.0, (0, 15), (1, 5)), None);
    }
}
