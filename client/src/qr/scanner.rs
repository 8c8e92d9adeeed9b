//! The live scanner: frames from a [`FrameSource`] become small JPEG previews
//! at the camera's pace, while a second thread decodes the newest frame.
//!
//! Owns the two-thread pipeline and its hand-over. Capture never waits for
//! decoding: a 720p frame without a code costs ~80 ms to decode (every
//! variant of [`super::decode`]) while a webcam delivers one every 33 ms, so
//! the decoder takes whichever frame is newest when it is free and the frames
//! in between are only previewed. That keeps the preview at the camera's
//! frame rate and the decode rate at what the CPU allows, with no queue to
//! grow.
//!
//! Must never hold the source after [`run`] returns (the caller drops it,
//! which releases the camera), and never block longer than one frame interval
//! plus one decode after `stop` is set.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Condvar, Mutex,
    },
    time::{Duration, Instant},
};

use image::{
    codecs::jpeg::JpegEncoder,
    imageops::{self, FilterType},
    EncodableLayout, GenericImageView, ImageBuffer, PixelWithColorType, Rgb,
};

use super::{
    decode::{locate_frame, Frame, Located, PixelFormat},
    source::FrameSource,
    QrPayload,
};

/// Widest preview sent to a window: enough for a scanner panel, small enough
/// to encode in a few milliseconds and to cross an IPC channel at 30 fps.
pub const PREVIEW_WIDTH: u32 = 480;
/// JPEG quality of previews.
const PREVIEW_QUALITY: u8 = 70;
/// How long a source may fail frame after frame (each failure "transient":
/// a bad frame) before the scan stops and says so: a webcam that wakes from
/// a laptop's sleep broken would otherwise spin here with a frozen preview.
const STALLED_AFTER: Duration = if cfg!(test) {
    Duration::from_millis(300)
} else {
    Duration::from_secs(10)
};
/// The pause after a failed frame, so failing does not spin a core.
const AFTER_A_BAD_FRAME: Duration = Duration::from_millis(20);

/// What the scanner reports, in order: `Started`, then `Preview`s (with
/// `Ignored` when a code of another kind is seen), then exactly one of
/// `Found` or `Stopped`, unless the caller stops it first.
#[derive(Clone)]
pub enum ScannerEvent {
    /// Scanning started from this source ("camera 0: Integrated Webcam").
    Started { source: String },
    /// A JPEG preview of a frame.
    Preview {
        jpeg: Vec<u8>,
        width: u32,
        height: u32,
    },
    /// A code of the wanted kind: the scan has stopped. `preview` is a JPEG
    /// of the very frame it was read in (the live previews have moved on by
    /// then), for the highlight.
    Found {
        located: Located,
        preview: Option<Vec<u8>>,
    },
    /// A Parley code of another kind: scanning goes on.
    Ignored(QrPayload),
    /// The source failed or ended: the scan has stopped.
    Stopped { reason: String },
}

impl std::fmt::Debug for ScannerEvent {
    // A preview's bytes would drown every assertion message.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScannerEvent::Started { source } => write!(f, "Started({source})"),
            ScannerEvent::Preview {
                jpeg,
                width,
                height,
            } => {
                write!(f, "Preview({width}x{height}, {} bytes)", jpeg.len())
            }
            ScannerEvent::Found { located, .. } => {
                write!(f, "Found({} at {:?})", located.payload, located.corners)
            }
            ScannerEvent::Ignored(p) => write!(f, "Ignored({p})"),
            ScannerEvent::Stopped { reason } => write!(f, "Stopped({reason})"),
        }
    }
}

/// What one run did, for logs and the benchmark.
#[derive(Debug, Clone, Default)]
pub struct ScanStats {
    /// Frames read from the source (each previewed).
    pub frames: u64,
    /// Frames decoded (at most `frames`; fewer when decoding is slower than
    /// the source).
    pub decodes: u64,
    /// Time spent decoding.
    pub decode_time: Duration,
    /// Time spent making previews.
    pub preview_time: Duration,
    /// Wall time of the run.
    pub elapsed: Duration,
}

impl ScanStats {
    /// Frames decoded per second of the run.
    pub fn decode_rate(&self) -> f64 {
        per_second(self.decodes, self.elapsed)
    }

    /// Frames previewed per second of the run.
    pub fn frame_rate(&self) -> f64 {
        per_second(self.frames, self.elapsed)
    }
}

fn per_second(n: u64, d: Duration) -> f64 {
    if d.is_zero() {
        0.0
    } else {
        n as f64 / d.as_secs_f64()
    }
}

/// The hand-over between the capture and the decoder thread: at most one
/// frame waits, and a newer one replaces it.
#[derive(Default)]
struct Slot {
    frame: Mutex<SlotState>,
    ready: Condvar,
}

#[derive(Default)]
struct SlotState {
    frame: Option<Frame>,
    closed: bool,
}

impl Slot {
    fn put(&self, frame: Frame) {
        let mut s = self.frame.lock().unwrap_or_else(|p| p.into_inner());
        s.frame = Some(frame);
        self.ready.notify_one();
    }

    fn close(&self) {
        let mut s = self.frame.lock().unwrap_or_else(|p| p.into_inner());
        s.closed = true;
        self.ready.notify_one();
    }

    /// The newest frame, waiting for one; `None` once closed and empty (a
    /// source's last frame is still decoded after it ends).
    fn take(&self) -> Option<Frame> {
        let mut s = self.frame.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(f) = s.frame.take() {
                return Some(f);
            }
            if s.closed {
                return None;
            }
            s = self.ready.wait(s).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// Scans until a code `wants` accepts is found, the source ends or fails, or
/// `stop` is set. Previews are made on the calling thread (which owns the
/// source), decoding on a scoped second thread. `send` is called from both.
pub fn run(
    source: &mut dyn FrameSource,
    wants: &(dyn Fn(&QrPayload) -> bool + Sync),
    stop: &AtomicBool,
    send: &(dyn Fn(ScannerEvent) + Sync),
) -> ScanStats {
    let started = Instant::now();
    send(ScannerEvent::Started {
        source: source.describe(),
    });
    let slot = Slot::default();
    // Set by the decoder when it found the code: capture ends too.
    let done = AtomicBool::new(false);
    let finished = |done: &AtomicBool| stop.load(Ordering::SeqCst) || done.load(Ordering::SeqCst);

    let (mut frames, mut preview_time) = (0u64, Duration::ZERO);
    // Why capture ended, told after the decoder has had the last frame.
    let mut ended: Option<String> = None;
    let (decodes, decode_time) = std::thread::scope(|scope| {
        let decoder = std::thread::Builder::new()
            .name("parley-qr-decode".into())
            .spawn_scoped(scope, || {
                let (mut n, mut spent) = (0u64, Duration::ZERO);
                while let Some(frame) = slot.take() {
                    if finished(&done) {
                        break;
                    }
                    let t = Instant::now();
                    let found = locate_frame(&frame).unwrap_or_default();
                    spent += t.elapsed();
                    n += 1;
                    for located in found {
                        if finished(&done) {
                            break;
                        }
                        if wants(&located.payload) {
                            done.store(true, Ordering::SeqCst);
                            let preview = preview_jpeg(&frame, PREVIEW_WIDTH).map(|(j, ..)| j);
                            send(ScannerEvent::Found { located, preview });
                            break;
                        }
                        send(ScannerEvent::Ignored(located.payload));
                    }
                }
                (n, spent)
            });
        let decoder = match decoder {
            Ok(d) => d,
            Err(e) => {
                send(ScannerEvent::Stopped {
                    reason: format!("cannot start the decoder: {e}"),
                });
                return (0, Duration::ZERO);
            }
        };
        let mut last_good = Instant::now();
        while !finished(&done) {
            let frame = match source.next_frame() {
                Ok(Some(f)) => f,
                Ok(None) => {
                    ended = Some("The source has no more frames".into());
                    break;
                }
                Err(e) if e.is_transient() => {
                    if last_good.elapsed() > STALLED_AFTER {
                        ended = Some(format!("The camera stopped giving pictures ({e})"));
                        break;
                    }
                    // The capture thread of its own, not a runtime's.
                    #[allow(clippy::disallowed_methods)]
                    std::thread::sleep(AFTER_A_BAD_FRAME);
                    continue;
                }
                Err(e) => {
                    ended = Some(e.to_string());
                    break;
                }
            };
            if finished(&done) {
                break;
            }
            last_good = Instant::now();
            frames += 1;
            let t = Instant::now();
            let preview = preview_jpeg(&frame, PREVIEW_WIDTH);
            preview_time += t.elapsed();
            if let Some((jpeg, width, height)) = preview {
                send(ScannerEvent::Preview {
                    jpeg,
                    width,
                    height,
                });
            }
            slot.put(frame);
        }
        slot.close();
        decoder.join().unwrap_or_else(|_| {
            tracing::warn!("the QR decoder thread panicked");
            (0, Duration::ZERO)
        })
    });
    if let Some(reason) = ended {
        if !done.load(Ordering::SeqCst) {
            send(ScannerEvent::Stopped { reason });
        }
    }
    ScanStats {
        frames,
        decodes,
        decode_time,
        preview_time,
        elapsed: started.elapsed(),
    }
}

/// A JPEG of `frame` at most `max_width` wide (colour when the frame has
/// colour), with its size; `None` for a frame whose data does not match its
/// size.
pub fn preview_jpeg(frame: &Frame, max_width: u32) -> Option<(Vec<u8>, u32, u32)> {
    match frame.format {
        // A view of the frame's own bytes: no copy of a whole camera frame
        // on this per-frame path.
        PixelFormat::Rgb8 => {
            let view = ImageBuffer::<Rgb<u8>, &[u8]>::from_raw(
                frame.width,
                frame.height,
                &frame.data[..],
            )?;
            scaled_jpeg(&view, max_width)
        }
        _ => scaled_jpeg(&frame.to_luma().ok()?, max_width),
    }
}

/// `img` scaled down to at most `max_width` (aspect kept) as a JPEG.
fn scaled_jpeg<I>(img: &I, max_width: u32) -> Option<(Vec<u8>, u32, u32)>
where
    I: GenericImageView,
    I::Pixel: PixelWithColorType + 'static,
    [<I::Pixel as image::Pixel>::Subpixel]: EncodableLayout,
{
    let (w, h) = (img.width().max(1), img.height().max(1));
    let width = w.min(max_width.max(1));
    let height = ((u64::from(h) * u64::from(width)) / u64::from(w)).max(1) as u32;
    let small = imageops::resize(img, width, height, FilterType::Triangle);
    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(&mut jpeg, PREVIEW_QUALITY)
        .encode_image(&small)
        .ok()?;
    Some((jpeg, width, height))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qr::{FolderSource, QrMatrix};
    use image::{DynamicImage, RgbImage};
    use std::sync::Arc;

    const URI: &str =
        "parley://contact?server=https%3A%2F%2Fchat.example&code=ABCDEFGHJKMNPQRSTVWXYZ0123";

    fn frames_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let blank = image::GrayImage::from_pixel(320, 240, image::Luma([200]));
        blank.save(dir.path().join("a-blank.png")).unwrap();
        // The code in the right half of a larger frame, so its corners say where.
        let code = QrMatrix::encode(URI).unwrap().to_luma(4).unwrap();
        let mut frame = image::GrayImage::from_pixel(800, 400, image::Luma([255]));
        image::imageops::overlay(&mut frame, &code, 500, 50);
        frame.save(dir.path().join("b-code.png")).unwrap();
        dir
    }

    fn collect(
        source: &mut dyn FrameSource,
        wants: &(dyn Fn(&QrPayload) -> bool + Sync),
        stop: &AtomicBool,
    ) -> (Vec<ScannerEvent>, ScanStats) {
        let events = Mutex::new(Vec::new());
        let stats = run(source, wants, stop, &|e| events.lock().unwrap().push(e));
        (events.into_inner().unwrap(), stats)
    }

    #[test]
    fn previews_frames_then_finds_the_code_with_its_corners() {
        let dir = frames_dir();
        let mut source = FolderSource::open(dir.path()).unwrap().looping(true);
        let (events, stats) = collect(&mut source, &|_| true, &AtomicBool::new(false));
        assert!(matches!(events.first(), Some(ScannerEvent::Started { .. })));
        let previews: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                ScannerEvent::Preview { jpeg, width, .. } => Some((jpeg.clone(), *width)),
                _ => None,
            })
            .collect();
        assert!(previews.len() >= 2, "{events:?}");
        assert!(previews
            .iter()
            .all(|(j, w)| j.starts_with(&[0xFF, 0xD8]) && *w <= PREVIEW_WIDTH));
        let found = events
            .iter()
            .find_map(|e| match e {
                ScannerEvent::Found { located, preview } => {
                    assert!(preview
                        .as_ref()
                        .is_some_and(|j| j.starts_with(&[0xFF, 0xD8])));
                    Some(located.clone())
                }
                _ => None,
            })
            .expect("found");
        assert_eq!(found.payload.to_string(), URI);
        // The code spans x 500.. of 800 and y 50.. of 400: every corner is in
        // the right part of the frame.
        for [x, y] in found.corners {
            assert!(x > 0.6 && x <= 1.0, "{:?}", found.corners);
            assert!((0.1..=1.0).contains(&y), "{:?}", found.corners);
        }
        assert!(
            stats.decodes >= 1 && stats.decodes <= stats.frames,
            "{stats:?}"
        );
    }

    #[test]
    fn codes_of_another_kind_are_reported_and_skipped() {
        let dir = frames_dir();
        let mut source = FolderSource::open(dir.path()).unwrap();
        let (events, _) = collect(
            &mut source,
            &|p| matches!(p, QrPayload::DeviceLink(_)),
            &AtomicBool::new(false),
        );
        assert!(
            events.iter().any(|e| matches!(e, ScannerEvent::Ignored(_))),
            "{events:?}"
        );
        assert!(
            matches!(events.last(), Some(ScannerEvent::Stopped { .. })),
            "{events:?}"
        );
    }

    #[test]
    fn a_stopped_scan_reads_no_frame() {
        let dir = frames_dir();
        let mut source = FolderSource::open(dir.path()).unwrap();
        let (events, stats) = collect(&mut source, &|_| true, &AtomicBool::new(true));
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(stats.frames, 0);
    }

    /// A camera that only fails (each failure a bad frame, "transient").
    struct Broken;
    impl FrameSource for Broken {
        fn next_frame(&mut self) -> Result<Option<Frame>, crate::qr::CameraError> {
            Err(crate::qr::CameraError::Frame("no picture".into()))
        }
        fn describe(&self) -> String {
            "broken".into()
        }
    }

    #[test]
    fn a_source_failing_frame_after_frame_stops_the_scan_and_says_so() {
        let (events, stats) = collect(&mut Broken, &|_| true, &AtomicBool::new(false));
        assert_eq!(stats.frames, 0);
        let Some(ScannerEvent::Stopped { reason }) = events.last() else {
            panic!("{events:?}");
        };
        assert!(reason.contains("stopped giving pictures"), "{reason}");
        assert!(reason.contains("no picture"), "{reason}");
    }

    /// A source that never ends and counts frames, to prove `stop` from
    /// another thread ends the run.
    struct Endless(Arc<std::sync::atomic::AtomicU64>);
    impl FrameSource for Endless {
        fn next_frame(&mut self) -> Result<Option<Frame>, crate::qr::CameraError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(Some(Frame::from_luma(image::GrayImage::from_pixel(
                64,
                48,
                image::Luma([128]),
            ))))
        }
        fn describe(&self) -> String {
            "endless".into()
        }
    }

    #[test]
    fn stop_from_another_thread_ends_the_run() {
        let count = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (c, s) = (count.clone(), stop.clone());
        let t = std::thread::spawn(move || {
            let mut source = Endless(c);
            run(&mut source, &|_| true, &s, &|_| {})
        });
        while count.load(Ordering::SeqCst) < 20 {
            std::thread::yield_now();
        }
        stop.store(true, Ordering::SeqCst);
        let stats = t.join().unwrap();
        // The run ended; the frame being read when `stop` was set is dropped
        // uncounted.
        assert!(stats.frames >= 19, "{stats:?}");
    }

    #[test]
    fn previews_keep_colour_and_aspect() {
        let rgb = RgbImage::from_pixel(960, 540, image::Rgb([200, 30, 30]));
        let frame = Frame::from_image(&DynamicImage::ImageRgb8(rgb));
        let (jpeg, w, h) = preview_jpeg(&frame, 480).unwrap();
        assert_eq!((w, h), (480, 270));
        let back = image::load_from_memory(&jpeg).unwrap().to_rgb8();
        let p = back.get_pixel(10, 10);
        assert!(p[0] > 150 && p[1] < 80, "{p:?}");
        let bad = Frame {
            width: 10,
            height: 10,
            format: PixelFormat::Rgb8,
            data: vec![0; 5],
        };
        assert!(preview_jpeg(&bad, 480).is_none());
    }
}
