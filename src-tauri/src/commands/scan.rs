//! The scanner: frames from a [`FrameSource`] (today the images of
//! `PARLEY_CAMERA_FRAMES=DIR`, replayed through [`FolderSource`]) are decoded
//! in Rust on a dedicated thread; small JPEG previews go to the window over
//! a Tauri channel. The source is dropped (the camera released) when the
//! scan stops: on a found code of the wanted kind, on `scan_stop`, or on a new
//! scan.

use crate::error::{CmdResult, CommandError};
use image::{codecs::jpeg::JpegEncoder, imageops::FilterType};
use parley_client::qr::{decode::Frame, decode_frame, FolderSource, FrameSource, QrPayload};
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
/// Frames per second the folder is replayed at (and previews sent at).
const FPS: f64 = 8.0;
/// Width of the preview images, in pixels.
const PREVIEW_WIDTH: u32 = 480;

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
        matches!(
            (self, p),
            (ScanKind::Contact, QrPayload::Contact(_))
                | (ScanKind::Link, QrPayload::DeviceLink(_))
                | (ScanKind::Join, QrPayload::DeviceInvite(_))
        )
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
    /// Scanning started from this source ("folder ./frames (3 images)").
    Started { source: String },
    /// A preview: a `data:image/jpeg;base64,...` URL.
    Frame { data_url: String },
    /// A code of the wanted kind was found (the scan stops; nothing is sent yet).
    Found { uri: String },
    /// A Parley code of another kind (ignored; scanning goes on).
    Ignored { what: String },
    /// The source failed or ended; the scan has stopped.
    Stopped { reason: String },
}

struct Running {
    id: u64,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

/// The one running scan, if any.
#[derive(Default)]
pub struct ScanState {
    running: Mutex<Option<Running>>,
    next_id: std::sync::atomic::AtomicU64,
}

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct ScanStopArgs {
    /// The scan to stop (as `scan_start` returned it): a late stop from a
    /// closed screen does not end a newer scan. `null`: whatever runs.
    pub id: Option<u64>,
}

impl ScanState {
    /// Asks the running scan (`id`, or any when `None`) to stop and waits for
    /// its thread: the source is dropped when the thread ends. Blocking (at
    /// most one frame interval plus one decode): call it off the main thread.
    pub fn stop(&self, id: Option<u64>) {
        let running = {
            let mut guard = self.running.lock().unwrap_or_else(|p| p.into_inner());
            match (id, guard.as_ref()) {
                (Some(id), Some(r)) if r.id != id => None,
                _ => guard.take(),
            }
        };
        if let Some(r) = running {
            r.stop.store(true, Ordering::SeqCst);
            if r.thread.join().is_err() {
                tracing::warn!("the scanner thread panicked");
            }
        }
    }
}

/// Runs a scan until a code of `kind` is found, the source ends or `stop` is
/// set, sending previews and results through `send`. The caller drops the
/// source afterwards.
pub fn run_scanner(
    source: &mut dyn FrameSource,
    kind: ScanKind,
    stop: &AtomicBool,
    send: &mut dyn FnMut(ScanEvent),
) {
    send(ScanEvent::Started {
        source: source.describe(),
    });
    while !stop.load(Ordering::SeqCst) {
        let frame = match source.next_frame() {
            Ok(Some(f)) => f,
            Ok(None) => {
                send(ScanEvent::Stopped {
                    reason: "The source has no more frames".into(),
                });
                return;
            }
            Err(e) if e.is_transient() => continue,
            Err(e) => {
                send(ScanEvent::Stopped {
                    reason: e.to_string(),
                });
                return;
            }
        };
        if stop.load(Ordering::SeqCst) {
            return;
        }
        if let Some(data_url) = preview(&frame) {
            send(ScanEvent::Frame { data_url });
        }
        for payload in decode_frame(&frame).unwrap_or_default() {
            if kind.wants(&payload) {
                send(ScanEvent::Found {
                    uri: payload.to_string(),
                });
                return;
            }
            send(ScanEvent::Ignored {
                what: format!("Not a {} code: {payload}", kind.label()),
            });
        }
    }
}

/// A small greyscale JPEG of a frame, as a data URL.
fn preview(frame: &Frame) -> Option<String> {
    let luma = frame.to_luma().ok()?;
    let (w, h) = (luma.width().max(1), luma.height().max(1));
    let width = w.min(PREVIEW_WIDTH);
    let height = ((u64::from(h) * u64::from(width)) / u64::from(w)).max(1) as u32;
    let small = image::imageops::resize(&luma, width, height, FilterType::Triangle);
    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(&mut jpeg, 70)
        .encode_image(&small)
        .ok()?;
    Some(format!("data:image/jpeg;base64,{}", base64(&jpeg)))
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

/// Starts scanning (stopping any previous scan). Fails with `no_camera` when
/// there is no frame source: `PARLEY_CAMERA_FRAMES` unset (this build has no
/// webcam support). Returns the id of the scan, for `scan_stop`.
#[tauri::command]
pub async fn scan_start(
    scans: State<'_, ScanState>,
    on_event: Channel<ScanEvent>,
    kind: Option<ScanKind>,
) -> CmdResult<u64> {
    let kind = kind.unwrap_or_default();
    tokio::task::block_in_place(|| scans.stop(None));
    let Some(dir) = std::env::var_os(FRAMES_ENV) else {
        return Err(CommandError::new(
            "no_camera",
            "No camera: this build has no webcam support. Paste a link, type the code or open an image file instead.",
        ));
    };
    let mut source = FolderSource::open(&dir)
        .map_err(|e| CommandError::new("no_camera", e.to_string()))?
        .looping(true)
        .paced(Some(FPS));
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let thread = std::thread::Builder::new()
        .name("parley-scanner".into())
        .spawn(move || {
            let mut send = |ev: ScanEvent| {
                if let Err(e) = on_event.send(ev) {
                    tracing::debug!(error = %e, "the window did not take a scan event");
                }
            };
            run_scanner(&mut source, kind, &flag, &mut send);
            drop(source);
        })
        .map_err(|e| CommandError::new("local", format!("cannot start the scanner: {e}")))?;
    let id = scans.next_id.fetch_add(1, Ordering::SeqCst) + 1;
    *scans.running.lock().unwrap_or_else(|p| p.into_inner()) = Some(Running { id, stop, thread });
    Ok(id)
}

/// Stops the scan and releases its source.
#[tauri::command]
pub async fn scan_stop(scans: State<'_, ScanState>, args: ScanStopArgs) -> CmdResult<()> {
    tokio::task::block_in_place(|| scans.stop(args.id));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use parley_client::qr::QrMatrix;

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

    #[test]
    fn previews_then_finds_the_contact_code_and_stops() {
        let dir = frames_dir();
        let mut source = FolderSource::open(dir.path()).unwrap().looping(true);
        let mut events = Vec::new();
        run_scanner(
            &mut source,
            ScanKind::Contact,
            &AtomicBool::new(false),
            &mut |e| events.push(e),
        );
        assert!(matches!(events.first(), Some(ScanEvent::Started { .. })));
        let frames = events
            .iter()
            .filter(|e| matches!(e, ScanEvent::Frame { .. }))
            .count();
        assert_eq!(frames, 2, "{events:?}");
        match events.last() {
            Some(ScanEvent::Found { uri }) => assert!(uri.contains("ABCDEFGHJKMNPQRSTVWXYZ0123")),
            other => panic!("{other:?}"),
        }
        if let Some(ScanEvent::Frame { data_url }) = events.get(1) {
            assert!(data_url.starts_with("data:image/jpeg;base64,/9j/"));
        }
    }

    #[test]
    fn a_link_scan_ignores_contact_codes_and_finds_the_link() {
        let dir = frames_dir();
        let link = "parley://link?server=http%3A%2F%2Fh&id=abc&secret=0123456789ABCDEFGHJKMNPQRS";
        let png = QrMatrix::encode(link).unwrap().to_png(6).unwrap();
        std::fs::write(dir.path().join("c-link.png"), png).unwrap();
        let mut source = FolderSource::open(dir.path()).unwrap();
        let mut events = Vec::new();
        run_scanner(
            &mut source,
            ScanKind::Link,
            &AtomicBool::new(false),
            &mut |e| events.push(e),
        );
        assert!(
            events
                .iter()
                .any(|e| matches!(e, ScanEvent::Ignored { what } if what.starts_with("Not a device link code"))),
            "{events:?}"
        );
        match events.last() {
            Some(ScanEvent::Found { uri }) => assert!(uri.starts_with("parley://link?"), "{uri}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_stopped_scan_reads_no_frame() {
        let dir = frames_dir();
        let mut source = FolderSource::open(dir.path()).unwrap();
        let mut events = Vec::new();
        run_scanner(
            &mut source,
            ScanKind::Contact,
            &AtomicBool::new(true),
            &mut |e| events.push(e),
        );
        assert_eq!(events.len(), 1, "{events:?}");
    }

    #[test]
    fn base64_matches_the_standard() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }
}
