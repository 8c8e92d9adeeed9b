//! The scanner: frames from a [`FrameSource`] (the webcam through nokhwa,
//! or the images of `PARLEY_CAMERA_FRAMES=DIR` replayed through
//! [`FolderSource`]) run through parley-client's two-thread scanner (previews
//! at the camera's rate, decoding of the newest frame on its own thread);
//! JPEG previews go to the window over a Tauri channel. The source is dropped
//! (the camera released) when the scan stops: on a found code of the wanted
//! kind, on `scan_stop`, on a new scan, or when the window hides or closes
//! (lib.rs).

use crate::error::{CmdResult, CommandError};
use parley_client::qr::{
    scanner::{self, ScanStats, ScannerEvent},
    CameraError, FolderSource, FrameSource, QrPayload,
};
use serde::{Deserialize, Serialize};
use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    thread::JoinHandle,
};
use tauri::{ipc::Channel, State};

/// The env var naming a folder of images to replay as camera frames.
pub const FRAMES_ENV: &str = "PARLEY_CAMERA_FRAMES";
/// Frames per second a folder is replayed at: a webcam's usual rate.
const FPS: f64 = 30.0;
/// Frames each image of a folder is shown for (half a second), as a camera
/// sees a code held up to it for a while; the decoder, which takes only the
/// newest frame, then sees every image.
const HOLD_FRAMES: u32 = 15;

/// Which kind of Parley code a scan looks for; other codes are ignored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum ScanKind {
    /// A contact code (`parley://contact`), the default.
    #[default]
    Contact,
    /// A device link shown by a new device (`parley://link`).
    Link,
    /// A device invite shown by a signed-in device (`parley://join`).
    Join,
}

impl ScanKind {
    fn wants(self, p: &QrPayload) -> bool {
        ScanKind::of(p) == self
    }

    /// The kind of a code read.
    fn of(payload: &QrPayload) -> ScanKind {
        match payload {
            QrPayload::Contact(_) => ScanKind::Contact,
            QrPayload::DeviceLink(_) => ScanKind::Link,
            QrPayload::DeviceInvite(_) => ScanKind::Join,
        }
    }

    fn label(self) -> &'static str {
        match self {
            ScanKind::Contact => "contact",
            ScanKind::Link => "device link",
            ScanKind::Join => "device invite",
        }
    }
}

/// What the scanner tells the window.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ScanEvent {
    /// Scanning started from this source ("camera 0: Integrated Webcam").
    Started { source: String },
    /// A preview: a `data:image/jpeg;base64,...` URL.
    Frame { data_url: String },
    /// A code of the wanted kind was found (the scan stops; nothing is sent
    /// yet). `corners`: the code's four corners as fractions (0..1) of the
    /// frame's width and height; `data_url`: a preview of the frame the code
    /// was read in (a JPEG data URL), to freeze on with the highlight.
    Found {
        uri: String,
        corners: Vec<[f32; 2]>,
        data_url: Option<String>,
    },
    /// A Parley code of another kind (ignored; scanning goes on).
    Ignored { what: String },
    /// The source failed or ended; the scan has stopped.
    Stopped { reason: String },
    /// The window was hidden: the scan stopped and the camera is off. The
    /// window starts a new scan when it shows again.
    Paused,
}

struct Running {
    id: u64,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
    /// The window's channel, to tell it the scan was paused.
    notify: Arc<dyn Fn(ScanEvent) + Send + Sync>,
}

/// The one running scan, if any.
#[derive(Default)]
pub struct ScanState {
    running: Mutex<Option<Running>>,
    next_id: std::sync::atomic::AtomicU64,
    /// Held for a whole `start`: two starts at once (a camera switch while
    /// the first camera is still opening) would each find nothing to stop,
    /// and the one registered first would be forgotten with its camera on.
    starting: Mutex<()>,
    /// Bumped by every `pause`: a scan whose camera was still opening when
    /// the window hid stops as soon as it is open (`pause` found nothing
    /// registered yet to stop).
    pauses: std::sync::atomic::AtomicU64,
}

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct ScanStopArgs {
    /// The scan to stop (as `scan_start` returned it): a late stop from a
    /// closed screen does not end a newer scan. `null`: whatever runs.
    pub id: Option<u64>,
}

/// A camera to offer in the picker.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct CameraInfo {
    /// What `scan_start` takes as `camera`.
    pub index: u32,
    pub name: String,
}

impl ScanState {
    /// Asks the running scan (`id`, or any when `None`) to stop and waits for
    /// its thread: the source (the camera) is dropped when the thread ends.
    /// Blocking (at most one frame interval plus one decode): call it off the
    /// main thread. True when a scan was stopped.
    pub fn stop(&self, id: Option<u64>) -> bool {
        let running = {
            let mut guard = self.running.lock().unwrap_or_else(|p| p.into_inner());
            match (id, guard.as_ref()) {
                (Some(id), Some(r)) if r.id != id => None,
                _ => guard.take(),
            }
        };
        let Some(r) = running else { return false };
        r.stop.store(true, Ordering::SeqCst);
        if r.thread.join().is_err() {
            tracing::warn!("the scanner thread panicked");
        }
        true
    }

    /// Stops the running scan because the window was hidden or minimised
    /// (the camera must not stay on behind the user's back) and tells the
    /// window, which starts a new scan when it shows again.
    pub fn pause(&self) {
        self.pauses.fetch_add(1, Ordering::SeqCst);
        let running = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(r) = running {
            r.stop.store(true, Ordering::SeqCst);
            if r.thread.is_finished() {
                return;
            }
            if r.thread.join().is_err() {
                tracing::warn!("the scanner thread panicked");
            }
            tracing::info!("window hidden: scan paused, camera released");
            (r.notify)(ScanEvent::Paused);
        }
    }

    /// Whether a scan is running (its thread may be finishing).
    pub fn is_running(&self) -> bool {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .is_some_and(|r| !r.thread.is_finished())
    }

    /// Opens a source with `open` on a new scanner thread (stopping any
    /// running scan first) and scans from it there. Opening, reading and
    /// dropping the camera all happen on that one thread, as some camera
    /// backends require; the source is dropped, releasing the camera, when
    /// the thread ends. Blocks until the source is open (call it off the
    /// main thread); returns the scan's id, or why the source did not open.
    pub fn start<F>(
        &self,
        open: F,
        kind: ScanKind,
        send: impl Fn(ScanEvent) + Send + Sync + 'static,
    ) -> CmdResult<u64>
    where
        F: FnOnce() -> CmdResult<Box<dyn FrameSource>> + Send + 'static,
    {
        let _one_at_a_time = self.starting.lock().unwrap_or_else(|p| p.into_inner());
        self.stop(None);
        let pauses = self.pauses.load(Ordering::SeqCst);
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let send: Arc<dyn Fn(ScanEvent) + Send + Sync> = Arc::new(send);
        let notify = send.clone();
        let (opened_tx, opened_rx) = std::sync::mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("parley-scanner".into())
            .spawn(move || {
                let mut source = match open() {
                    Ok(s) => {
                        let _ = opened_tx.send(Ok(()));
                        s
                    }
                    Err(e) => {
                        let _ = opened_tx.send(Err(e));
                        return;
                    }
                };
                let stats = run_scanner(&mut *source, kind, &flag, &*send);
                drop(source);
                tracing::debug!(
                    frames = stats.frames,
                    decodes = stats.decodes,
                    fps = stats.frame_rate(),
                    decode_rate = stats.decode_rate(),
                    "scan ended, source released"
                );
            })
            .map_err(|e| CommandError::new("local", format!("cannot start the scanner: {e}")))?;
        let opened = opened_rx
            .recv()
            .unwrap_or_else(|_| Err(CommandError::new("local", "the scanner thread ended")));
        if let Err(e) = opened {
            let _ = thread.join();
            return Err(e);
        }
        let id = self.next_id.fetch_add(1, Ordering::SeqCst) + 1;
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if self.pauses.load(Ordering::SeqCst) != pauses {
            // Hidden while the camera opened: release it at once, and say
            // "paused" as a pause would (the window scans again when shown).
            drop(running);
            stop.store(true, Ordering::SeqCst);
            if thread.join().is_err() {
                tracing::warn!("the scanner thread panicked");
            }
            notify(ScanEvent::Paused);
            return Ok(id);
        }
        *running = Some(Running {
            id,
            stop,
            thread,
            notify,
        });
        Ok(id)
    }
}

/// Runs a scan until a code of `kind` is found, the source ends or `stop` is
/// set, turning the pipeline's events into [`ScanEvent`]s for the window.
pub fn run_scanner(
    source: &mut dyn FrameSource,
    kind: ScanKind,
    stop: &AtomicBool,
    send: &(dyn Fn(ScanEvent) + Sync),
) -> ScanStats {
    scanner::run(source, &|p| kind.wants(p), stop, &|ev| {
        send(match ev {
            ScannerEvent::Started { source } => ScanEvent::Started { source },
            ScannerEvent::Preview { jpeg, .. } => ScanEvent::Frame {
                data_url: format!("data:image/jpeg;base64,{}", base64(&jpeg)),
            },
            ScannerEvent::Found { located, preview } => ScanEvent::Found {
                uri: located.payload.to_string(),
                corners: located.corners.to_vec(),
                data_url: preview.map(|j| format!("data:image/jpeg;base64,{}", base64(&j))),
            },
            // Its kind only: the code itself (an invite's or a link's
            // secret) is not repeated where anything may show or log it.
            ScannerEvent::Ignored(p) => ScanEvent::Ignored {
                what: format!(
                    "Not a {} code: that is a {} code",
                    kind.label(),
                    ScanKind::of(&p).label()
                ),
            },
            ScannerEvent::Stopped { reason } => ScanEvent::Stopped { reason },
        })
    })
}

/// Standard base64 with padding.
pub(crate) fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A camera error as the window sees it: a stable code and a way forward.
fn camera_error(e: CameraError) -> CommandError {
    const FALLBACK: &str =
        "You can still open an image of the code, paste a link or type the code.";
    match e {
        CameraError::NoCamera => CommandError::new(
            "no_camera",
            format!("No camera found. {FALLBACK}"),
        ),
        // A frames folder (PARLEY_CAMERA_FRAMES) with nothing in it yet.
        e @ CameraError::Empty { .. } => {
            CommandError::new("no_camera", format!("No camera: {e}. {FALLBACK}"))
        }
        CameraError::PermissionDenied => CommandError::new(
            "camera_denied",
            format!(
                "Parley is not allowed to use the camera. Allow it in the system's privacy settings (Linux: add yourself to the video group), then try again. {FALLBACK}"
            ),
        ),
        CameraError::Busy => CommandError::new(
            "camera_busy",
            format!("The camera is in use by another program. Close it and try again. {FALLBACK}"),
        ),
        other => CommandError::new("camera_failed", format!("The camera failed: {other}. {FALLBACK}")),
    }
}

/// The frame source a scan reads: the folder of `PARLEY_CAMERA_FRAMES` when
/// set (tests, demos), else webcam `camera` (the first when `None`).
fn open_source(camera: Option<u32>) -> CmdResult<Box<dyn FrameSource>> {
    if let Some(dir) = std::env::var_os(FRAMES_ENV) {
        let source = FolderSource::open(&dir)
            .map_err(camera_error)?
            .looping(true)
            .paced(Some(FPS))
            .holding(HOLD_FRAMES);
        return Ok(Box::new(source));
    }
    open_webcam(camera)
}

#[cfg(feature = "camera")]
fn open_webcam(camera: Option<u32>) -> CmdResult<Box<dyn FrameSource>> {
    // macOS: the permission prompt, once (runs on the scanner thread, so the
    // window stays responsive while the user decides).
    parley_client::qr::camera::request_access().map_err(camera_error)?;
    let index = match camera {
        Some(i) => i,
        None => parley_client::qr::camera::list_cameras()
            .map_err(camera_error)?
            .first()
            .map(|c| c.index)
            .ok_or_else(|| camera_error(CameraError::NoCamera))?,
    };
    let source = parley_client::qr::camera::WebcamSource::open(index).map_err(camera_error)?;
    Ok(Box::new(source))
}

#[cfg(not(feature = "camera"))]
fn open_webcam(_camera: Option<u32>) -> CmdResult<Box<dyn FrameSource>> {
    Err(CommandError::new(
        "no_camera",
        "This build of Parley has no webcam support. You can still open an image of the code, paste a link or type the code.",
    ))
}

/// The cameras to offer (the folder replay counts as one when set).
#[tauri::command]
pub async fn list_cameras() -> CmdResult<Vec<CameraInfo>> {
    if let Some(dir) = std::env::var_os(FRAMES_ENV) {
        return Ok(vec![CameraInfo {
            index: 0,
            name: format!("Frames from {}", std::path::Path::new(&dir).display()),
        }]);
    }
    list_webcams().await
}

#[cfg(feature = "camera")]
async fn list_webcams() -> CmdResult<Vec<CameraInfo>> {
    let cams = tokio::task::spawn_blocking(parley_client::qr::camera::list_cameras)
        .await
        .map_err(|e| CommandError::new("local", e.to_string()))?
        .map_err(camera_error)?;
    Ok(cams
        .into_iter()
        .map(|c| CameraInfo {
            index: c.index,
            name: c.name,
        })
        .collect())
}

#[cfg(not(feature = "camera"))]
async fn list_webcams() -> CmdResult<Vec<CameraInfo>> {
    Ok(Vec::new())
}

/// Starts scanning from `camera` (the first when `null`), stopping any
/// previous scan. Fails with `no_camera`, `camera_busy`, `camera_denied` or
/// `camera_failed`, each with a way forward in its message. Returns the id
/// of the scan, for `scan_stop`.
#[tauri::command]
pub async fn scan_start(
    scans: State<'_, ScanState>,
    on_event: Channel<ScanEvent>,
    kind: Option<ScanKind>,
    camera: Option<u32>,
) -> CmdResult<u64> {
    let kind = kind.unwrap_or_default();
    tokio::task::block_in_place(|| {
        scans.start(
            move || open_source(camera),
            kind,
            move |ev| {
                if let Err(e) = on_event.send(ev) {
                    tracing::debug!(error = %e, "the window did not take a scan event");
                }
            },
        )
    })
}

/// Stops the scan and releases its source.
#[tauri::command]
pub async fn scan_stop(scans: State<'_, ScanState>, args: ScanStopArgs) -> CmdResult<()> {
    tokio::task::block_in_place(|| scans.stop(args.id));
    Ok(())
}

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct ClipboardArgs {
    /// The kind of code wanted (contact when `null`).
    pub kind: Option<ScanKind>,
}

/// A Parley link of `kind` from the clipboard: the text it holds, or a code
/// in the image it holds (a screenshot of someone's code). Fails with
/// `no_code` when it holds neither, `wrong_kind` for a code of another kind.
#[tauri::command]
pub async fn scan_clipboard(app: tauri::AppHandle, args: ClipboardArgs) -> CmdResult<String> {
    let kind = args.kind.unwrap_or_default();
    // Reading the X11/Wayland clipboard waits for its owner to answer, and
    // decoding a screenshot is CPU work: neither belongs on the async runtime.
    tokio::task::spawn_blocking(move || {
        use tauri_plugin_clipboard_manager::ClipboardExt;
        if let Ok(text) = app.clipboard().read_text() {
            if let Some(found) = link_in_text(&text, kind) {
                return found;
            }
        }
        let img = app
            .clipboard()
            .read_image()
            .map_err(|_| no_code_on_clipboard())?;
        link_in_rgba(img.width(), img.height(), img.rgba().to_vec(), kind)
    })
    .await
    .map_err(|e| CommandError::new("local", e.to_string()))?
}

fn no_code_on_clipboard() -> CommandError {
    CommandError::new(
        "no_code",
        "The clipboard holds neither a Parley link nor an image of a code. Copy the link or a screenshot of the code, or type the short code.",
    )
}

fn wrong_kind(kind: ScanKind, p: &QrPayload) -> CommandError {
    CommandError::new(
        "wrong_kind",
        format!("That is not a {} code: {p}", kind.label()),
    )
}

/// The clipboard's text as a link of `kind`; `None` when the text holds no
/// Parley link at all (the image may still hold a code).
fn link_in_text(text: &str, kind: ScanKind) -> Option<CmdResult<String>> {
    let payload: QrPayload = text.trim().parse().ok()?;
    Some(code_of_kind(&[payload], kind, no_code_on_clipboard))
}

/// The first code of `kind` among `found`; otherwise a wrong-kind error for
/// the first code there is, or `none()` when there is no code at all.
fn code_of_kind(
    found: &[QrPayload],
    kind: ScanKind,
    none: impl FnOnce() -> CommandError,
) -> CmdResult<String> {
    match found.iter().find(|p| kind.wants(p)) {
        Some(p) => Ok(p.to_string()),
        None => Err(found.first().map_or_else(none, |p| wrong_kind(kind, p))),
    }
}

/// The first code of `kind` in an image file.
pub fn code_in_image(path: &std::path::Path, kind: ScanKind) -> CmdResult<String> {
    let found = parley_client::qr::decode_file(path)
        .map_err(|e| CommandError::new("invalid", e.to_string()))?;
    code_of_kind(&found, kind, || {
        CommandError::new(
            "invalid",
            format!("The image has no Parley {} code", kind.label()),
        )
    })
}

/// The first code of `kind` in an RGBA image (the clipboard's pixels).
fn link_in_rgba(width: u32, height: u32, rgba: Vec<u8>, kind: ScanKind) -> CmdResult<String> {
    let frame = parley_client::qr::Frame {
        width,
        height,
        format: parley_client::qr::PixelFormat::Rgba8,
        data: rgba,
    };
    let found = parley_client::qr::decode_frame(&frame).map_err(|_| no_code_on_clipboard())?;
    code_of_kind(&found, kind, no_code_on_clipboard)
}

#[cfg(test)]
mod tests {
    use super::*;
    use parley_client::qr::{Frame, QrMatrix};
    use std::sync::mpsc;

    const URI: &str =
        "parley://contact?server=https%3A%2F%2Fchat.example&code=ABCDEFGHJKMNPQRSTVWXYZ0123";

    fn frames_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let blank = image::GrayImage::from_pixel(320, 240, image::Luma([200]));
        blank.save(dir.path().join("a-blank.png")).unwrap();
        let png = QrMatrix::encode(URI).unwrap().to_png(6).unwrap();
        std::fs::write(dir.path().join("b-code.png"), png).unwrap();
        dir
    }

    fn collect(source: &mut dyn FrameSource, kind: ScanKind) -> Vec<ScanEvent> {
        let events = Mutex::new(Vec::new());
        run_scanner(source, kind, &AtomicBool::new(false), &|e| {
            events.lock().unwrap().push(e)
        });
        events.into_inner().unwrap()
    }

    #[test]
    fn previews_then_finds_the_contact_code_with_its_corners() {
        let dir = frames_dir();
        let mut source = FolderSource::open(dir.path()).unwrap().looping(true);
        let events = collect(&mut source, ScanKind::Contact);
        assert!(matches!(events.first(), Some(ScanEvent::Started { .. })));
        let frame = events
            .iter()
            .find_map(|e| match e {
                ScanEvent::Frame { data_url } => Some(data_url),
                _ => None,
            })
            .expect("a preview");
        assert!(frame.starts_with("data:image/jpeg;base64,/9j/"));
        let found = events.iter().find_map(|e| match e {
            ScanEvent::Found { uri, corners, .. } => Some((uri, corners)),
            _ => None,
        });
        let (uri, corners) = found.expect("found");
        assert!(uri.contains("ABCDEFGHJKMNPQRSTVWXYZ0123"));
        assert_eq!(corners.len(), 4);
        assert!(corners.iter().flatten().all(|v| (0.0..=1.0).contains(v)));
    }

    #[test]
    fn a_link_scan_ignores_contact_codes_and_finds_the_link() {
        // The contact code is the folder's last frame, which is always decoded.
        let dir = frames_dir();
        let mut source = FolderSource::open(dir.path()).unwrap();
        let mut events = collect(&mut source, ScanKind::Link);
        let link = "parley://link?server=http%3A%2F%2Fh&id=abc&secret=0123456789ABCDEFGHJKMNPQRS";
        let png = QrMatrix::encode(link).unwrap().to_png(6).unwrap();
        std::fs::write(dir.path().join("c-link.png"), png).unwrap();
        let mut source = FolderSource::open(dir.path()).unwrap().looping(true);
        events.extend(collect(&mut source, ScanKind::Link));
        assert!(
            events
                .iter()
                .any(|e| matches!(e, ScanEvent::Ignored { what } if what.starts_with("Not a device link code"))),
            "{events:?}"
        );
        assert!(
            events.iter().any(
                |e| matches!(e, ScanEvent::Found { uri, .. } if uri.starts_with("parley://link?"))
            ),
            "{events:?}"
        );
    }

    /// A camera stand-in that never ends and says when it is dropped.
    struct FakeCamera {
        released: mpsc::Sender<()>,
    }
    impl FrameSource for FakeCamera {
        fn next_frame(&mut self) -> Result<Option<Frame>, CameraError> {
            std::thread::yield_now();
            Ok(Some(Frame::from_luma(image::GrayImage::from_pixel(
                64,
                48,
                image::Luma([90]),
            ))))
        }
        fn describe(&self) -> String {
            "fake camera".into()
        }
    }
    impl Drop for FakeCamera {
        fn drop(&mut self) {
            let _ = self.released.send(());
        }
    }

    /// Starts a scan of a [`FakeCamera`] that reports its release on
    /// `released` and its events on `events`.
    fn start_fake(
        scans: &ScanState,
        released: mpsc::Sender<()>,
        events: mpsc::Sender<ScanEvent>,
    ) -> u64 {
        scans
            .start(
                move || Ok(Box::new(FakeCamera { released }) as Box<dyn FrameSource>),
                ScanKind::Contact,
                move |e| {
                    let _ = events.send(e);
                },
            )
            .unwrap()
    }

    #[test]
    fn stopping_a_scan_releases_the_camera_and_a_new_scan_replaces_the_old() {
        let scans = ScanState::default();
        let (tx, released) = mpsc::channel();
        let (events_tx, events) = mpsc::channel();
        let first = start_fake(&scans, tx.clone(), events_tx);
        // Frames flow.
        loop {
            if let ScanEvent::Frame { .. } = events.recv().unwrap() {
                break;
            }
        }
        assert!(scans.is_running());
        assert!(released.try_recv().is_err(), "released while scanning");
        // A new scan stops the first: its camera is released before the
        // second opens.
        let second = start_fake(&scans, tx.clone(), mpsc::channel().0);
        assert_ne!(first, second);
        released.try_recv().expect("the first camera was released");
        // A late stop for the first scan leaves the second running.
        assert!(!scans.stop(Some(first)));
        assert!(scans.is_running());
        assert!(scans.stop(Some(second)));
        released.try_recv().expect("the second camera was released");
        assert!(!scans.is_running());
    }

    /// Two scans started at once (the second while the first camera is
    /// still opening): one stops the other, so one camera is on at the end
    /// and stopping it leaves none.
    #[test]
    // The "camera" opens on the scanner's own thread, not a tokio worker.
    #[allow(clippy::disallowed_methods)]
    fn scans_started_at_once_leave_one_camera_on() {
        let scans = std::sync::Arc::new(ScanState::default());
        let (tx, released) = mpsc::channel();
        let starts: Vec<_> = (0..2)
            .map(|_| {
                let (scans, tx) = (scans.clone(), tx.clone());
                std::thread::spawn(move || {
                    scans
                        .start(
                            move || {
                                // A camera that takes a moment to open.
                                std::thread::sleep(std::time::Duration::from_millis(200));
                                Ok(Box::new(FakeCamera { released: tx }) as Box<dyn FrameSource>)
                            },
                            ScanKind::Contact,
                            |_| {},
                        )
                        .unwrap()
                })
            })
            .collect();
        for s in starts {
            s.join().unwrap();
        }
        released.try_recv().expect("the first camera was released");
        assert!(scans.stop(None));
        released
            .recv_timeout(std::time::Duration::from_secs(5))
            .expect("the second camera was released");
        assert!(!scans.is_running());
    }

    /// The window hides while the camera is still opening: once open, it is
    /// released at once and the window told "paused", not left on.
    #[test]
    // The "camera" opens on the scanner's own thread, not a tokio worker.
    #[allow(clippy::disallowed_methods)]
    fn hiding_while_the_camera_opens_releases_it() {
        let scans = std::sync::Arc::new(ScanState::default());
        let (tx, released) = mpsc::channel();
        let (events_tx, events) = mpsc::channel();
        let s2 = scans.clone();
        let start = std::thread::spawn(move || {
            s2.start(
                move || {
                    std::thread::sleep(std::time::Duration::from_millis(300));
                    Ok(Box::new(FakeCamera { released: tx }) as Box<dyn FrameSource>)
                },
                ScanKind::Contact,
                move |e| {
                    let _ = events_tx.send(e);
                },
            )
        });
        std::thread::sleep(std::time::Duration::from_millis(100));
        scans.pause();
        start.join().unwrap().unwrap();
        released
            .recv_timeout(std::time::Duration::from_secs(5))
            .expect("the camera was released");
        assert!(!scans.is_running());
        assert!(
            events.try_iter().any(|e| matches!(e, ScanEvent::Paused)),
            "the window was told"
        );
    }

    #[test]
    fn a_source_that_does_not_open_reports_why_and_leaves_nothing_running() {
        let scans = ScanState::default();
        let err = scans
            .start(
                || Err(camera_error(CameraError::Busy)),
                ScanKind::Contact,
                |_| {},
            )
            .unwrap_err();
        assert_eq!(err.code, "camera_busy");
        assert!(err.message.contains("open an image"), "{}", err.message);
        assert!(!scans.is_running());
        assert_eq!(
            camera_error(CameraError::PermissionDenied).code,
            "camera_denied"
        );
        assert_eq!(camera_error(CameraError::NoCamera).code, "no_camera");
        let empty = tempfile::tempdir().unwrap();
        let e = FolderSource::open(empty.path()).unwrap_err();
        assert_eq!(camera_error(e).code, "no_camera");
    }

    #[test]
    fn base64_matches_the_standard() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn clipboard_text_and_images_yield_links_of_the_wanted_kind() {
        let text = format!("  {URI}\n");
        assert_eq!(
            link_in_text(&text, ScanKind::Contact).unwrap().unwrap(),
            URI
        );
        let e = link_in_text(URI, ScanKind::Link).unwrap().unwrap_err();
        assert_eq!(e.code, "wrong_kind");
        assert!(link_in_text("hello", ScanKind::Contact).is_none());

        let code = QrMatrix::encode(URI).unwrap().to_luma(4).unwrap();
        let rgba = image::DynamicImage::ImageLuma8(code).to_rgba8();
        let (w, h) = rgba.dimensions();
        let raw = rgba.into_raw();
        assert_eq!(
            link_in_rgba(w, h, raw.clone(), ScanKind::Contact).unwrap(),
            URI
        );
        assert_eq!(
            link_in_rgba(w, h, raw, ScanKind::Join).unwrap_err().code,
            "wrong_kind"
        );
        let blank = vec![255u8; 100 * 80 * 4];
        assert_eq!(
            link_in_rgba(100, 80, blank, ScanKind::Contact)
                .unwrap_err()
                .code,
            "no_code"
        );
        // Pixels that do not match the size: no panic, no code.
        assert_eq!(
            link_in_rgba(100, 80, vec![0; 7], ScanKind::Contact)
                .unwrap_err()
                .code,
            "no_code"
        );
    }

    #[test]
    fn hiding_the_window_pauses_the_scan_and_releases_the_camera() {
        let scans = ScanState::default();
        let (tx, released) = mpsc::channel();
        let (events_tx, events) = mpsc::channel();
        start_fake(&scans, tx, events_tx);
        scans.pause();
        released.try_recv().expect("the camera was released");
        assert!(!scans.is_running());
        assert!(
            events.try_iter().any(|e| matches!(e, ScanEvent::Paused)),
            "the window was told"
        );
        // Nothing running: pausing again is a no-op.
        scans.pause();
    }
}
