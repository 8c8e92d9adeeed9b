//! QR decode cost per camera-sized frame, against the cost of only converting
//! the frame to grey (the floor any decoder pays); the live scanner's
//! preview and decode rates on webcam-sized colour frames (what the desktop
//! Scan screen runs), against the frame rate of the camera feeding it; and
//! the decode rate on the committed corpus.

use crate::table;
use anyhow::Result;
use parley_client::qr::{
    self,
    scanner::{self, ScanStats},
    CameraError, Frame, FrameSource, QrMatrix,
};
use serde_json::{json, Value};
use std::{
    path::PathBuf,
    sync::atomic::AtomicBool,
    time::{Duration, Instant},
};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Decodes per frame size.
    #[arg(long, default_value_t = 30)]
    pub iterations: usize,
    /// Frames fed through the live scanner per configuration.
    #[arg(long, default_value_t = 150)]
    pub scanner_frames: u64,
    /// The corpus folder (with manifest.json).
    #[arg(long, default_value = "client/tests/fixtures/qr")]
    pub corpus: PathBuf,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            iterations: 30,
            scanner_frames: 150,
            corpus: PathBuf::from("client/tests/fixtures/qr"),
        }
    }
}

impl Args {
    pub fn sized(mut self, tiny: bool) -> Self {
        if tiny {
            self.iterations = 2;
            self.scanner_frames = 6;
        }
        self
    }
}

/// A noisy grey frame with a contact QR pasted in the middle.
fn frame(w: u32, h: u32, with_code: bool) -> Result<Frame> {
    let mut img = image::GrayImage::from_fn(w, h, |x, y| {
        let n = (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503)) % 97;
        image::Luma([110 + n as u8])
    });
    if with_code {
        let uri = "parley://contact?server=https%3A%2F%2Fchat.example.org&code=0123456789ABCDEFGHJKMNPQRSTVWXYZ";
        let qr = QrMatrix::encode(uri)?.to_luma(4)?;
        let (ox, oy) = ((w - qr.width()) / 2, (h - qr.height()) / 2);
        image::imageops::overlay(&mut img, &qr, ox as i64, oy as i64);
    }
    Ok(Frame::from_luma(img))
}

/// A webcam stand-in: the same 1280x720 colour frame `left` times, at most
/// `fps` a second (`None`: as fast as asked).
struct Replay {
    frame: Frame,
    left: u64,
    interval: Option<Duration>,
    next_at: Option<Instant>,
}

impl FrameSource for Replay {
    fn next_frame(&mut self) -> Result<Option<Frame>, CameraError> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        if let Some(interval) = self.interval {
            let now = Instant::now();
            let due = self.next_at.unwrap_or(now);
            if due > now {
                // Blocking by contract, like a camera read (never on tokio).
                #[allow(clippy::disallowed_methods)]
                std::thread::sleep(due - now);
            }
            self.next_at = Some(due.max(now) + interval);
        }
        Ok(Some(self.frame.clone()))
    }

    fn describe(&self) -> String {
        "replay".into()
    }
}

/// A webcam-like colour frame: the grey test frame, tinted.
fn colour_frame(w: u32, h: u32, with_code: bool) -> Result<Frame> {
    let grey = frame(w, h, with_code)?;
    let data = grey
        .data
        .iter()
        .flat_map(|&l| [l, l.saturating_sub(10), l.saturating_add(10)])
        .collect();
    Ok(Frame {
        width: w,
        height: h,
        format: qr::PixelFormat::Rgb8,
        data,
    })
}

/// Runs the live scanner over `frames` copies of `frame` without ever
/// accepting a code (so it does not stop early).
fn scan(frame: Frame, frames: u64, fps: Option<f64>) -> ScanStats {
    let mut source = Replay {
        frame,
        left: frames,
        interval: fps.map(|f| Duration::from_secs_f64(1.0 / f)),
        next_at: None,
    };
    scanner::run(&mut source, &|_| false, &AtomicBool::new(false), &|_| {})
}

fn per_frame_ms(total: Duration, n: u64) -> f64 {
    total.as_secs_f64() * 1000.0 / n.max(1) as f64
}

fn time_ms(iterations: usize, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..iterations {
        f();
    }
    start.elapsed().as_secs_f64() * 1000.0 / iterations.max(1) as f64
}

pub fn run(args: Args) -> Result<Value> {
    let mut rows = Vec::new();
    let mut out = serde_json::Map::new();
    for (w, h) in [(640u32, 480u32), (1280, 720)] {
        let code = frame(w, h, true)?;
        let empty = frame(w, h, false)?;
        let floor = time_ms(args.iterations, || {
            let _ = code.to_luma();
        });
        let with = time_ms(args.iterations, || {
            let _ = qr::decode_frame(&code);
        });
        let without = time_ms(args.iterations, || {
            let _ = qr::decode_frame(&empty);
        });
        rows.push((
            format!("{w}x{h} with a code"),
            format!(
                "{with:.2} ms ({:.0}x the grey conversion)",
                with / floor.max(1e-6)
            ),
        ));
        rows.push((
            format!("{w}x{h} without a code"),
            format!("{without:.2} ms"),
        ));
        out.insert(
            format!("{w}x{h}"),
            json!({"with_code_ms": with, "without_code_ms": without, "grey_conversion_ms": floor}),
        );
    }
    // The live scanner on 720p colour frames: unpaced (what the CPU allows)
    // and fed by a 30 fps camera (what a user sees).
    for (label, with_code, fps) in [
        ("scanner 1280x720, code in view, unpaced", true, None),
        ("scanner 1280x720, no code, unpaced", false, None),
        (
            "scanner 1280x720, code in view, 30 fps camera",
            true,
            Some(30.0),
        ),
    ] {
        let stats = scan(
            colour_frame(1280, 720, with_code)?,
            args.scanner_frames,
            fps,
        );
        let preview_ms = per_frame_ms(stats.preview_time, stats.frames);
        let decode_ms = per_frame_ms(stats.decode_time, stats.decodes);
        let camera = fps.map_or(String::new(), |f| format!(" of {f:.0} from the camera"));
        rows.push((
            label.to_owned(),
            format!(
                "{:.1} previews/s{camera}, {:.1} decodes/s; per frame: preview {preview_ms:.1} ms, decode {decode_ms:.1} ms",
                stats.frame_rate(),
                stats.decode_rate()
            ),
        ));
        out.insert(
            label.replace([' ', ','], "_"),
            json!({
                "frames": stats.frames,
                "decodes": stats.decodes,
                "previews_per_s": stats.frame_rate(),
                "decodes_per_s": stats.decode_rate(),
                "preview_ms_per_frame": preview_ms,
                "decode_ms_per_frame": decode_ms,
                "camera_fps": fps,
            }),
        );
    }
    // Corpus rate.
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(args.corpus.join("manifest.json"))?)?;
    let (mut pos, mut hit, mut false_pos) = (0, 0, 0);
    if let Some(entries) = manifest["images"]
        .as_array()
        .or_else(|| manifest.as_array())
    {
        for e in entries {
            let file = e["file"].as_str().unwrap_or_default();
            let expected = e["expected"].as_str().or_else(|| e["uri"].as_str());
            let found = qr::decode_file(args.corpus.join(file))
                .ok()
                .and_then(|v| v.into_iter().next());
            match expected {
                Some(uri) => {
                    pos += 1;
                    if found.is_some_and(|p| Some(p) == uri.parse().ok()) {
                        hit += 1;
                    }
                }
                None => {
                    if found.is_some() {
                        false_pos += 1;
                    }
                }
            }
        }
    }
    rows.push((
        "corpus decode rate".into(),
        format!("{hit}/{pos} positives, {false_pos} false positives"),
    ));
    table("qr decode", &rows);
    out.insert(
        "corpus".into(),
        json!({"positives": pos, "decoded": hit, "false_positives": false_pos}),
    );
    Ok(Value::Object(out))
}
