//! QR decode cost per camera-sized frame, against the cost of only converting
//! the frame to grey (the floor any decoder pays), and the decode rate on the
//! committed corpus.

use crate::table;
use anyhow::Result;
use parley_client::qr::{self, Frame, QrMatrix};
use serde_json::{json, Value};
use std::{path::PathBuf, time::Instant};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Decodes per frame size.
    #[arg(long, default_value_t = 30)]
    pub iterations: usize,
    /// The corpus folder (with manifest.json).
    #[arg(long, default_value = "client/tests/fixtures/qr")]
    pub corpus: PathBuf,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            iterations: 30,
            corpus: PathBuf::from("client/tests/fixtures/qr"),
        }
    }
}

impl Args {
    pub fn sized(mut self, tiny: bool) -> Self {
        if tiny {
            self.iterations = 2;
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
