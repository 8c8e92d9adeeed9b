//! Decode time per camera frame, with and without a code, against two
//! baselines measured in the same run so results can be read as ratios:
//! the RGB-to-grey conversion alone, and one plain rqrr pass on the full frame
//! (what a decoder without our variants would cost).
//!
//! Frames are built in the bench: a gradient with noise and blocky clutter
//! (like a desk behind a phone), with a rendered Parley code pasted in.
//!
//!     cargo bench -p parley-client --bench qr_decode -- --quick
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use image::{GrayImage, Luma};
use parley_client::qr::{
    decode_frame, ContactQr, DecodeError, Frame, PixelFormat, QrMatrix, QrPayload,
};

fn payload() -> QrPayload {
    QrPayload::Contact(ContactQr {
        server: "https://chat.example.org".into(),
        code: "0123456789ABCDEFGHJKMNPQRS".into(),
    })
}

/// A `w`x`h` RGB frame of gradient + noise + clutter, with the code (about
/// 45% of the frame height) pasted left of centre when `with_code`.
fn frame(w: u32, h: u32, with_code: bool) -> Frame {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64 ^ u64::from(w);
    let mut rand = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut grey = GrayImage::from_fn(w, h, |x, y| {
        let base = 60 + (140 * (x + y) / (w + h)) as u64;
        let blocky = if (x / 37 + y / 23) % 5 == 0 { 50 } else { 0 };
        Luma([(base + blocky + rand() % 30).min(255) as u8])
    });
    if with_code {
        let matrix = QrMatrix::from_payload(&payload()).unwrap();
        let scale = (h * 45 / 100) / matrix.full_width() as u32;
        let code = matrix.to_luma(scale.max(1)).unwrap();
        let (x, y) = ((w - code.width()) / 3, (h - code.height()) / 2);
        image::imageops::replace(&mut grey, &code, i64::from(x), i64::from(y));
    }
    let data = grey
        .as_raw()
        .iter()
        .flat_map(|&v| [v, v.saturating_add(5), v])
        .collect();
    Frame {
        width: w,
        height: h,
        format: PixelFormat::Rgb8,
        data,
    }
}

/// One plain rqrr pass: prepare, detect, decode every grid.
fn rqrr_once(grey: &GrayImage) -> usize {
    let mut prepared = rqrr::PreparedImage::prepare(grey.clone());
    prepared
        .detect_grids()
        .iter()
        .filter(|g| g.decode().is_ok())
        .count()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("qr");
    for (w, h) in [(640, 480), (1280, 720)] {
        let with = frame(w, h, true);
        let without = frame(w, h, false);
        // Sanity: the frames are what the names say.
        assert_eq!(decode_frame(&with).unwrap(), vec![payload()]);
        assert!(matches!(decode_frame(&without), Err(DecodeError::NoCode)));
        let grey_with = with.to_luma().unwrap();
        let grey_without = without.to_luma().unwrap();
        assert_eq!(rqrr_once(&grey_with), 1);

        let size = format!("{w}x{h}");
        group.bench_function(format!("baseline_luma/{size}"), |b| {
            b.iter(|| black_box(&with).to_luma().unwrap())
        });
        group.bench_function(format!("baseline_rqrr_full/{size}/code"), |b| {
            b.iter(|| rqrr_once(black_box(&grey_with)))
        });
        group.bench_function(format!("baseline_rqrr_full/{size}/no_code"), |b| {
            b.iter(|| rqrr_once(black_box(&grey_without)))
        });
        group.bench_function(format!("decode_frame/{size}/code"), |b| {
            b.iter(|| decode_frame(black_box(&with)))
        });
        group.bench_function(format!("decode_frame/{size}/no_code"), |b| {
            b.iter(|| decode_frame(black_box(&without)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
