//! Webcams on Linux through V4L2 directly (the `v4l` crate for the mapped buffers, a few
//! ioctls of our own for the rest): we choose the format, keep the buffer queue as short as
//! the driver allows and take each frame's time from the driver's timestamp.
//!
//! The ioctls that read what the driver reports are our own (not `v4l`'s helpers), because
//! those unwrap on driver data (a card name that is not UTF-8, an unknown colorspace).

pub mod clock;
pub mod convert;
pub mod format;

use std::io;
use std::mem::ManuallyDrop;
use std::os::raw::{c_int, c_void};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use v4l::buffer::Type as BufType;
use v4l::device::Handle;
use v4l::io::mmap::Stream as MmapStream;
use v4l::io::traits::{CaptureStream, Stream as _};
use v4l::v4l_sys::{
    v4l2_buffer, v4l2_capability, v4l2_fmtdesc, v4l2_format, v4l2_frmivalenum, v4l2_frmsizeenum, v4l2_streamparm,
};
use v4l::v4l2::vidioc;

use self::clock::Stamp;
use self::format::{Choice, Offer, Pixel, Wanted, fourcc_text};
use super::webcam::CameraInfo;
use crate::{Frame, SourceError};

/// The number of capture buffers we ask the driver for.
///
/// Two, not the usual four: a buffer the driver has filled waits in the queue until we take
/// it, so every extra buffer is a frame of possible lag (33 ms at 30 fps) whenever we fall
/// behind. Not one: `v4l`'s stream hands us a buffer and gives it back only at the next
/// dequeue, so with one buffer the driver has nowhere to write while we convert a frame; it
/// drops the frame in progress and we wait for the next one to start, which can halve the
/// rate once conversion takes a noticeable part of a frame (an MJPEG decode does). (Reasoned
/// from how V4L2 queues buffers, not measured on a camera.) With two,
/// the driver always has a buffer to fill, and we never take an old one when a newer one is
/// ready (see [`V4l2Camera::next_frame`]). Drivers may raise the count to their minimum; the
/// count they give is logged.
pub const REQUESTED_BUFFERS: u32 = 2;

/// How long to wait for a frame before saying the camera stopped.
const FRAME_TIMEOUT: Duration = Duration::from_secs(5);

/// Frames in a row the driver may mark as damaged (or empty) before we give up.
const MAX_BAD_FRAMES: u32 = 60;

const BUF_FLAG_ERROR: u32 = 0x0000_0040;
const CAP_VIDEO_CAPTURE: u32 = 0x0000_0001;
const CAP_DEVICE_CAPS: u32 = 0x8000_0000;
const CAP_TIMEPERFRAME: u32 = 0x0000_1000;
const BUF_TYPE_VIDEO_CAPTURE: u32 = 1;
const MEMORY_MMAP: u32 = 1;
const FRMSIZE_DISCRETE: u32 = 1;
const FRMIVAL_DISCRETE: u32 = 1;
const FIELD_ANY: u32 = 0;

/// What the driver's buffer count means for us: `Ok(note)` to log, `Err` when capture cannot
/// work with it.
pub fn judge_buffer_count(granted: u32) -> Result<&'static str, String> {
    match granted {
        0 => Err("the driver gave no capture buffers".into()),
        1 => Ok("one buffer: the driver drops frames while one is being converted"),
        n if n == REQUESTED_BUFFERS => Ok("as requested"),
        n if n < REQUESTED_BUFFERS => Ok("fewer than requested"),
        _ => Ok("the driver's minimum is above the request"),
    }
}

/// A camera's `/dev/videoN` path from its index.
pub fn device_path(index: u32) -> PathBuf {
    PathBuf::from(format!("/dev/video{index}"))
}

/// Turns an error of `what` on the camera `name` at `path` into a message saying what to do.
pub fn map_error(name: &str, path: &Path, what: &str, e: &io::Error) -> SourceError {
    let name = name.to_string();
    match e.raw_os_error() {
        Some(libc::EACCES | libc::EPERM) => SourceError::CameraPermission { name, path: path.to_path_buf() },
        Some(libc::EBUSY) => SourceError::CameraBusy { name },
        Some(libc::ENOENT | libc::ENODEV | libc::ENXIO) => SourceError::CameraMissing { name, path: path.to_path_buf() },
        _ if e.kind() == io::ErrorKind::TimedOut => SourceError::Camera {
            name,
            reason: format!("no picture for {} s (unplugged, or taken by another program?)", FRAME_TIMEOUT.as_secs()),
        },
        _ => SourceError::Camera { name, reason: format!("{what}: {e}") },
    }
}

/// `ioctl` on `fd` with a zero-initialised argument of type `T` that `init` fills in.
///
/// # Safety
/// `request` must be an ioctl whose argument is a `T`.
unsafe fn ioctl<T>(fd: c_int, request: vidioc::_IOC_TYPE, arg: &mut T) -> io::Result<()> {
    // SAFETY: the caller guarantees `request` takes a `T`; `arg` is valid and writable.
    unsafe { v4l::v4l2::ioctl(fd, request, arg as *mut T as *mut c_void) }
}

/// A C char array up to its first NUL, lossily as text.
fn c_text(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).trim().to_string()
}

/// What VIDIOC_QUERYCAP says.
struct Caps {
    card: String,
    driver: String,
    bus: String,
    caps: u32,
}

fn query_caps(fd: c_int) -> io::Result<Caps> {
    // SAFETY: v4l2_capability is plain data; QUERYCAP takes one.
    let mut cap: v4l2_capability = unsafe { std::mem::zeroed() };
    unsafe { ioctl(fd, vidioc::VIDIOC_QUERYCAP, &mut cap)? };
    let caps = if cap.capabilities & CAP_DEVICE_CAPS != 0 { cap.device_caps } else { cap.capabilities };
    Ok(Caps { card: c_text(&cap.card), driver: c_text(&cap.driver), bus: c_text(&cap.bus_info), caps })
}

/// Every format × size × interval the camera offers for capture.
fn enumerate_offers(fd: c_int, want: Wanted) -> Vec<Offer> {
    let mut offers = Vec::new();
    for index in 0..64 {
        // SAFETY: plain data; ENUM_FMT takes a v4l2_fmtdesc.
        let mut desc: v4l2_fmtdesc = unsafe { std::mem::zeroed() };
        desc.index = index;
        desc.type_ = BUF_TYPE_VIDEO_CAPTURE;
        if unsafe { ioctl(fd, vidioc::VIDIOC_ENUM_FMT, &mut desc) }.is_err() {
            break;
        }
        let fourcc = desc.pixelformat.to_le_bytes();
        let sizes = enumerate_sizes(fd, desc.pixelformat, want);
        if sizes.is_empty() {
            // Drivers without size enumeration: offer the wanted size, S_FMT adjusts it.
            offers.push(Offer { fourcc, width: want.width, height: want.height, interval: None });
        }
        for (width, height) in sizes {
            let intervals = enumerate_intervals(fd, desc.pixelformat, width, height, want);
            if intervals.is_empty() {
                offers.push(Offer { fourcc, width, height, interval: None });
            }
            offers.extend(intervals.into_iter().map(|i| Offer { fourcc, width, height, interval: Some(i) }));
        }
    }
    offers
}

fn enumerate_sizes(fd: c_int, pixelformat: u32, want: Wanted) -> Vec<(u32, u32)> {
    let mut sizes = Vec::new();
    for index in 0..256 {
        // SAFETY: plain data; ENUM_FRAMESIZES takes a v4l2_frmsizeenum.
        let mut e: v4l2_frmsizeenum = unsafe { std::mem::zeroed() };
        e.index = index;
        e.pixel_format = pixelformat;
        if unsafe { ioctl(fd, vidioc::VIDIOC_ENUM_FRAMESIZES, &mut e) }.is_err() {
            break;
        }
        // SAFETY: the driver sets `type_` to say which union member it filled.
        if e.type_ == FRMSIZE_DISCRETE {
            let d = unsafe { e.__bindgen_anon_1.discrete };
            sizes.push((d.width, d.height));
        } else {
            let s = unsafe { e.__bindgen_anon_1.stepwise };
            sizes.push((
                format::nearest_in_range(want.width, s.min_width, s.max_width, s.step_width),
                format::nearest_in_range(want.height, s.min_height, s.max_height, s.step_height),
            ));
            break; // A range is the only entry.
        }
    }
    sizes
}

fn enumerate_intervals(fd: c_int, pixelformat: u32, width: u32, height: u32, want: Wanted) -> Vec<(u32, u32)> {
    let mut intervals = Vec::new();
    for index in 0..256 {
        // SAFETY: plain data; ENUM_FRAMEINTERVALS takes a v4l2_frmivalenum.
        let mut e: v4l2_frmivalenum = unsafe { std::mem::zeroed() };
        e.index = index;
        e.pixel_format = pixelformat;
        e.width = width;
        e.height = height;
        if unsafe { ioctl(fd, vidioc::VIDIOC_ENUM_FRAMEINTERVALS, &mut e) }.is_err() {
            break;
        }
        // SAFETY: the driver sets `type_` to say which union member it filled.
        if e.type_ == FRMIVAL_DISCRETE {
            let d = unsafe { e.__bindgen_anon_1.discrete };
            intervals.push((d.numerator, d.denominator));
        } else {
            let s = unsafe { e.__bindgen_anon_1.stepwise };
            intervals.extend(format::nearest_interval(
                want.fps,
                (s.min.numerator, s.min.denominator),
                (s.max.numerator, s.max.denominator),
            ));
            break;
        }
    }
    intervals
}

/// The format the driver settled on.
#[derive(Debug, Clone, Copy)]
struct Negotiated {
    pixel: Pixel,
    fourcc: [u8; 4],
    width: u32,
    height: u32,
    stride: u32,
}

fn set_format(fd: c_int, choice: Choice) -> io::Result<(u32, [u8; 4], u32, u32, u32)> {
    // SAFETY: plain data; S_FMT takes a v4l2_format, whose `pix` member is the one for
    // single-planar capture.
    let mut f: v4l2_format = unsafe { std::mem::zeroed() };
    f.type_ = BUF_TYPE_VIDEO_CAPTURE;
    unsafe {
        f.fmt.pix.width = choice.offer.width;
        f.fmt.pix.height = choice.offer.height;
        f.fmt.pix.pixelformat = u32::from_le_bytes(choice.offer.fourcc);
        f.fmt.pix.field = FIELD_ANY;
        ioctl(fd, vidioc::VIDIOC_S_FMT, &mut f)?;
        let p = f.fmt.pix;
        Ok((p.pixelformat, p.pixelformat.to_le_bytes(), p.width, p.height, p.bytesperline))
    }
}

/// Asks for the chosen frame interval; returns the rate the driver reports, if any.
fn set_rate(fd: c_int, interval: Option<(u32, u32)>) -> Option<f64> {
    // SAFETY: plain data; G_PARM/S_PARM take a v4l2_streamparm, `capture` for capture.
    let mut p: v4l2_streamparm = unsafe { std::mem::zeroed() };
    p.type_ = BUF_TYPE_VIDEO_CAPTURE;
    unsafe { ioctl(fd, vidioc::VIDIOC_G_PARM, &mut p) }.ok()?;
    let cap = unsafe { p.parm.capture };
    if cap.capability & CAP_TIMEPERFRAME != 0
        && let Some((n, d)) = interval
    {
        p.parm.capture.timeperframe.numerator = n;
        p.parm.capture.timeperframe.denominator = d;
        if let Err(e) = unsafe { ioctl(fd, vidioc::VIDIOC_S_PARM, &mut p) } {
            tracing::debug!(error = %e, "setting the camera's frame rate");
        }
    }
    let t = unsafe { p.parm.capture.timeperframe };
    (t.numerator > 0 && t.denominator > 0).then(|| f64::from(t.denominator) / f64::from(t.numerator))
}

/// How many buffers the driver allocated: QUERYBUF succeeds for each index below the count
/// (the `v4l` stream does not say how many it got).
fn count_buffers(fd: c_int) -> u32 {
    let mut n = 0;
    while n < 64 {
        // SAFETY: plain data; QUERYBUF takes a v4l2_buffer.
        let mut b: v4l2_buffer = unsafe { std::mem::zeroed() };
        b.index = n;
        b.type_ = BUF_TYPE_VIDEO_CAPTURE;
        b.memory = MEMORY_MMAP;
        if unsafe { ioctl(fd, vidioc::VIDIOC_QUERYBUF, &mut b) }.is_err() {
            break;
        }
        n += 1;
    }
    n
}

/// The capture devices among `/dev/video*`, by index. A node we may not open is listed
/// (opening it then says why), nodes that are not capture devices (a UVC camera's metadata
/// node) are not.
pub fn list() -> Vec<CameraInfo> {
    let Ok(entries) = std::fs::read_dir("/dev") else { return Vec::new() };
    let names: Vec<String> = entries.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect();
    video_indices(names.iter().map(String::as_str))
        .into_iter()
        .filter_map(|i| {
            let path = device_path(i);
            match v4l::Device::with_path(&path) {
                Ok(dev) => {
                    let caps = query_caps(dev.handle().fd()).ok()?;
                    (caps.caps & CAP_VIDEO_CAPTURE != 0).then(|| CameraInfo {
                        index: i.to_string(),
                        name: if caps.card.is_empty() { path.display().to_string() } else { caps.card },
                        description: format!("{} ({}, {})", path.display(), caps.driver, caps.bus),
                    })
                }
                Err(e) if matches!(e.raw_os_error(), Some(libc::EACCES | libc::EPERM | libc::EBUSY)) => Some(CameraInfo {
                    index: i.to_string(),
                    name: path.display().to_string(),
                    description: format!("{} (cannot open: {e})", path.display()),
                }),
                Err(_) => None,
            }
        })
        .collect()
}

/// The `N` of each `videoN` among device names, in numeric order (video2 before video10).
fn video_indices<'a>(names: impl Iterator<Item = &'a str>) -> Vec<u32> {
    // Only the canonical spelling: "video02" is not /dev/video2.
    let mut indices: Vec<u32> = names
        .filter_map(|n| {
            let digits = n.strip_prefix("video")?;
            digits.parse::<u32>().ok().filter(|i| i.to_string() == digits)
        })
        .collect();
    indices.sort_unstable();
    indices.dedup();
    indices
}

/// A streaming V4L2 camera.
pub struct V4l2Camera {
    /// Stopped and dropped by hand (see `Drop`): `v4l` panics when stopping fails.
    stream: ManuallyDrop<MmapStream<'static>>,
    handle: Arc<Handle>,
    path: PathBuf,
    name: String,
    format: Negotiated,
    buffers: u32,
    seq: u64,
    /// Where the last frame's time came from (logged when it changes).
    stamp: Option<Stamp>,
}

impl V4l2Camera {
    /// Opens the camera at `path` (shown as `name`), chooses a format near `want`, and starts
    /// streaming with [`REQUESTED_BUFFERS`] buffers; the first frame has arrived when this
    /// returns, so a camera that cannot stream fails here.
    pub fn open(path: &Path, name: &str, want: Wanted) -> Result<V4l2Camera, SourceError> {
        let err = |what: &str, e: &io::Error| map_error(name, path, what, e);
        let dev = v4l::Device::with_path(path).map_err(|e| err("opening", &e))?;
        let handle = dev.handle();
        let fd = handle.fd();
        let caps = query_caps(fd).map_err(|e| match e.raw_os_error() {
            Some(libc::ENOTTY | libc::EINVAL) => SourceError::NotACamera { path: path.to_path_buf(), reason: e.to_string() },
            _ => err("reading its capabilities", &e),
        })?;
        if caps.caps & CAP_VIDEO_CAPTURE == 0 {
            return Err(SourceError::NotACamera {
                path: path.to_path_buf(),
                reason: format!("\"{}\" ({}) cannot capture video", caps.card, caps.driver),
            });
        }
        let offers = enumerate_offers(fd, want);
        let unsupported = |offers: &[Offer]| {
            let mut codes: Vec<String> = offers.iter().map(|o| fourcc_text(o.fourcc)).collect();
            codes.dedup();
            SourceError::CameraFormat { name: name.to_string(), offered: if codes.is_empty() { "none".into() } else { codes.join(", ") } }
        };
        let choice = format::choose(&offers, want).ok_or_else(|| unsupported(&offers))?;
        let (code, fourcc, width, height, stride) = set_format(fd, choice).map_err(|e| err("setting the format", &e))?;
        let pixel = Pixel::from_fourcc(fourcc).filter(|_| width > 0 && height > 0).ok_or_else(|| SourceError::CameraFormat {
            name: name.to_string(),
            offered: format!(
                "{} at {width}×{height} when asked for {} (code {code:#010x})",
                fourcc_text(fourcc),
                fourcc_text(choice.offer.fourcc)
            ),
        })?;
        let fps = set_rate(fd, choice.offer.interval);
        let mut stream = MmapStream::with_buffers(&dev, BufType::VideoCapture, REQUESTED_BUFFERS)
            .map_err(|e| err("allocating capture buffers", &e))?;
        let buffers = count_buffers(fd);
        match judge_buffer_count(buffers) {
            Ok(note) => tracing::info!(
                camera = %name,
                format = %fourcc_text(fourcc),
                width,
                height,
                fps = fps.map(|f| format!("{f:.2}")).unwrap_or_else(|| "unknown".into()),
                requested_buffers = REQUESTED_BUFFERS,
                buffers,
                "camera opened with {buffers} capture buffers ({note})"
            ),
            Err(e) => return Err(SourceError::Camera { name: name.to_string(), reason: e }),
        }
        stream.set_timeout(FRAME_TIMEOUT);
        let mut cam = V4l2Camera {
            stream: ManuallyDrop::new(stream),
            handle,
            path: path.to_path_buf(),
            name: name.to_string(),
            format: Negotiated { pixel, fourcc, width, height, stride },
            buffers,
            seq: 0,
            stamp: None,
        };
        // The first dequeue starts streaming: a busy camera or one that sends nothing fails
        // here, while the caller still shows "opening".
        cam.next_frame()?;
        cam.seq = 0;
        Ok(cam)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Waits for the next frame; when more than one is ready, takes the newest (the older
    /// ones go straight back to the driver).
    pub fn next_frame(&mut self) -> Result<Frame, SourceError> {
        let mut bad = 0;
        let mut skipped = 0;
        loop {
            // `next` gives the previous buffer back to the driver, waits (poll, up to
            // FRAME_TIMEOUT) and dequeues the next one. No retry after an error: the buffer given
            // back is queued already, so a second `next` would fail on it anyway.
            let (data, meta) = self.stream.next().map_err(|e| map_error(&self.name, &self.path, "reading a frame", &e))?;
            let (mono_now, now) = (clock::monotonic_now(), Instant::now());
            let meta = *meta;
            // A newer frame is already waiting: give this one back and take that one.
            if skipped < self.buffers && matches!(self.handle.poll(libc::POLLIN, 0), Ok(1)) {
                skipped += 1;
                continue;
            }
            let used = (meta.bytesused as usize).min(data.len());
            let bytes = if used == 0 && self.format.pixel != Pixel::Mjpeg { data } else { &data[..used] };
            let u32_flags: u32 = meta.flags.into();
            let decoded = if u32_flags & BUF_FLAG_ERROR != 0 || bytes.is_empty() {
                Err("the driver marked the frame as damaged".to_string())
            } else {
                decode(self.format, bytes)
            };
            let (width, height, rgb) = match decoded {
                Ok(x) => x,
                Err(reason) => {
                    bad += 1;
                    if bad >= MAX_BAD_FRAMES {
                        return Err(SourceError::Camera {
                            name: self.name.clone(),
                            reason: format!("{bad} damaged frames in a row ({reason})"),
                        });
                    }
                    tracing::debug!(camera = %self.name, %reason, "skipping a damaged frame");
                    continue;
                }
            };
            // `time_t` is i32 on 32-bit Linux (a Raspberry Pi OS), i64 elsewhere.
            #[allow(clippy::useless_conversion)]
            let (captured, stamp) = clock::capture_instant(
                u32_flags,
                i64::from(meta.timestamp.sec),
                i64::from(meta.timestamp.usec),
                mono_now,
                now,
            );
            match self.stamp {
                None => tracing::info!(camera = %self.name, "frame times: {}", stamp.describe()),
                Some(s) if s != stamp => tracing::debug!(camera = %self.name, "frame times now: {}", stamp.describe()),
                _ => {}
            }
            self.stamp = Some(stamp);
            let frame = Frame::from_rgb(width, height, rgb, self.seq, captured).ok_or_else(|| SourceError::Camera {
                name: self.name.clone(),
                reason: "a decoded frame has the wrong size".into(),
            })?;
            self.seq += 1;
            return Ok(frame);
        }
    }
}

impl Drop for V4l2Camera {
    fn drop(&mut self) {
        // Stop streaming ourselves: `v4l`'s stream panics in its own drop when stopping fails
        // for another reason than an unplugged device. Stopping twice is harmless, so after a
        // clean stop (or an unplug) its drop runs normally; otherwise its buffers are leaked
        // rather than the thread panicking.
        match self.stream.stop() {
            Err(e) if e.raw_os_error() != Some(libc::ENODEV) => {
                tracing::warn!(camera = %self.name, error = %e, "stopping the camera stream failed; its buffers stay mapped");
            }
            _ => {
                // SAFETY: `stream` is not used after this (we are in drop).
                unsafe { ManuallyDrop::drop(&mut self.stream) };
            }
        }
    }
}

/// One buffer of the negotiated format to RGB8.
fn decode(f: Negotiated, bytes: &[u8]) -> Result<(u32, u32, Vec<u8>), String> {
    let short = || format!("a {} frame of {} bytes is too short for {}×{}", fourcc_text(f.fourcc), bytes.len(), f.width, f.height);
    match f.pixel {
        Pixel::Yuyv => convert::yuyv_to_rgb(bytes, f.width, f.height, f.stride).map(|p| (f.width, f.height, p)).ok_or_else(short),
        Pixel::Rgb3 => convert::rgb3_to_rgb(bytes, f.width, f.height, f.stride).map(|p| (f.width, f.height, p)).ok_or_else(short),
        Pixel::Mjpeg => convert::decode_mjpeg(bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffer_count_choice() {
        assert_eq!(REQUESTED_BUFFERS, 2, "two buffers: see the constant's reasoning");
        assert!(judge_buffer_count(0).is_err());
        assert!(judge_buffer_count(1).unwrap().contains("drops frames"));
        assert_eq!(judge_buffer_count(2), Ok("as requested"));
        assert!(judge_buffer_count(4).unwrap().contains("minimum"));
    }

    #[test]
    fn opening_something_that_is_not_a_camera_says_so() {
        let err = V4l2Camera::open(Path::new("/dev/video-posparty-none"), "test cam", Wanted::default()).err().unwrap();
        assert!(matches!(err, SourceError::CameraMissing { .. }), "{err}");
        assert!(err.to_string().contains("plugged in"), "{err}");

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("video0");
        std::fs::write(&file, b"just a file").unwrap();
        let err = V4l2Camera::open(&file, "test cam", Wanted::default()).err().unwrap();
        assert!(matches!(err, SourceError::NotACamera { .. }), "{err}");
        assert!(err.to_string().contains("is not a V4L2 camera"), "{err}");

        // /dev/null opens, but answers no V4L2 ioctl.
        let err = V4l2Camera::open(Path::new("/dev/null"), "null", Wanted::default()).err().unwrap();
        assert!(matches!(err, SourceError::NotACamera { .. }), "{err}");
    }

    #[test]
    fn os_errors_map_to_advice() {
        let p = Path::new("/dev/video7");
        let e = |code| map_error("HD Cam", p, "opening", &io::Error::from_raw_os_error(code));
        let busy = e(libc::EBUSY);
        assert!(matches!(busy, SourceError::CameraBusy { .. }));
        assert!(busy.to_string().contains("another program is using the camera — close it"), "{busy}");
        let denied = e(libc::EACCES);
        assert!(matches!(denied, SourceError::CameraPermission { .. }));
        assert!(denied.to_string().contains("video"), "{denied}");
        assert!(matches!(e(libc::ENODEV), SourceError::CameraMissing { .. }));
        let other = e(libc::EIO);
        assert!(matches!(other, SourceError::Camera { .. }));
        assert!(other.to_string().contains("opening"), "{other}");
        let stopped = map_error("HD Cam", p, "reading a frame", &io::Error::new(io::ErrorKind::TimedOut, "VIDIOC_DQBUF"));
        assert!(stopped.to_string().contains("no picture for 5 s"), "{stopped}");
    }

    #[test]
    fn frames_decode_per_format() {
        let yuyv = Negotiated { pixel: Pixel::Yuyv, fourcc: *b"YUYV", width: 2, height: 1, stride: 4 };
        assert_eq!(decode(yuyv, &[235, 128, 16, 128]).unwrap(), (2, 1, vec![255, 255, 255, 0, 0, 0]));
        assert!(decode(yuyv, &[235, 128]).unwrap_err().contains("too short"));
        let rgb = Negotiated { pixel: Pixel::Rgb3, fourcc: *b"RGB3", width: 1, height: 1, stride: 0 };
        assert_eq!(decode(rgb, &[1, 2, 3]).unwrap(), (1, 1, vec![1, 2, 3]));
        let mjpg = Negotiated { pixel: Pixel::Mjpeg, fourcc: *b"MJPG", width: 640, height: 480, stride: 0 };
        assert!(decode(mjpg, &[0xFF, 0xD8, 0xFF]).is_err());
    }

    #[test]
    fn device_nodes_in_numeric_order() {
        let names = ["video10", "null", "video2", "video0", "videoX", "video-1", "vide0", "video02"];
        assert_eq!(video_indices(names.into_iter()), vec![0, 2, 10]);
        assert_eq!(device_path(3), PathBuf::from("/dev/video3"));
    }

    #[test]
    fn listing_without_cameras_is_empty_not_an_error() {
        // No /dev/video* here (nor in CI); where a camera exists this only checks it does not panic.
        let cams = list();
        if !Path::new("/dev/video0").exists() {
            assert!(cams.is_empty(), "{cams:?}");
        }
    }
}
