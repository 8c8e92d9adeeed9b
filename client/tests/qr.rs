//! The QR module at its boundaries: render -> decode round trips, an
//! independent reader (zbarimg) on our PNGs, the segno-generated corpus in
//! tests/fixtures/qr, frame sources and scanning, pixel formats, and garbage.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use image::{GrayImage, Luma};
use parley_client::qr::{
    decode_bytes, decode_file, decode_frame, decode_image, decode_luma, scan, CameraError,
    ContactQr, DecodeError, DeviceInviteQr, DeviceLinkQr, FolderSource, Frame, FrameSource,
    PixelFormat, QrMatrix, QrPayload, ScanError, ScanLimit, TerminalTheme,
};

/// Minimum share of corpus positives that must decode. Measured 98% (42/43)
/// when this was set; the margin allows one or two regressions from a
/// dependency update to be looked at rather than block everything.
const MIN_CORPUS_RATE: f64 = 0.95;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/qr")
}

fn contact() -> QrPayload {
    QrPayload::Contact(ContactQr {
        server: "https://chat.example.org".into(),
        code: "0123456789ABCDEFGHJKMNPQRS".into(),
    })
}

fn link() -> QrPayload {
    QrPayload::DeviceLink(DeviceLinkQr {
        server: "https://parley.example.net:8443/team".into(),
        link_id: "0190e4c2-7f7a-7b3c-9a55-3f2e1d0c9b8a".into(),
        secret: "7ZQ4M1KX9D2W8R5T0V3N6P8HJ4C2B1AEYF".into(),
    })
}

fn join() -> QrPayload {
    QrPayload::DeviceInvite(DeviceInviteQr {
        server: "http://192.168.1.20:8080".into(),
        code: "ABCDEFGHJKMNPQRSTVWXYZ0123".into(),
    })
}

fn all_kinds() -> [QrPayload; 3] {
    [contact(), link(), join()]
}

/// A small deterministic PRNG (xorshift64*), so fuzz-ish tests repeat exactly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// `code` pasted at (`x`, `y`) onto a `w`x`h` frame of mid-grey noise.
fn noisy_frame_with(code: Option<&GrayImage>, w: u32, h: u32, seed: u64) -> GrayImage {
    let mut rng = Rng(seed);
    let mut frame = GrayImage::from_fn(w, h, |_, _| Luma([90 + rng.below(80) as u8]));
    if let Some(code) = code {
        let x = (w - code.width()) / 3;
        let y = (h - code.height()) / 2;
        image::imageops::replace(&mut frame, code, i64::from(x), i64::from(y));
    }
    frame
}

#[test]
fn png_round_trip_for_each_kind() {
    for payload in all_kinds() {
        for scale in [1, 3, 8] {
            let png = QrMatrix::from_payload(&payload)
                .unwrap()
                .to_png(scale)
                .unwrap();
            assert_eq!(&png[..4], b"\x89PNG");
            assert_eq!(
                decode_bytes(&png).unwrap(),
                vec![payload.clone()],
                "scale {scale}"
            );
        }
    }
}

#[test]
fn terminal_text_round_trips_through_the_decoder() {
    for payload in all_kinds() {
        let m = QrMatrix::from_payload(&payload).unwrap();
        for theme in [TerminalTheme::Dark, TerminalTheme::Light] {
            let text = m.to_terminal(theme);
            // Rebuild the picture the terminal shows: each character is two
            // modules stacked; "ink" is the foreground colour.
            let lines: Vec<Vec<char>> = text.lines().map(|l| l.chars().collect()).collect();
            let n = lines[0].len();
            let scale = 4;
            let img = GrayImage::from_fn(
                (n * scale) as u32,
                (lines.len() * 2 * scale) as u32,
                |x, y| {
                    let (col, row) = (x as usize / scale, y as usize / scale);
                    let c = lines[row / 2][col];
                    let ink = matches!((c, row % 2), ('█', _) | ('▀', 0) | ('▄', 1));
                    // Dark terminal: light ink on black; light terminal: black ink on white.
                    let light = match theme {
                        TerminalTheme::Dark => ink,
                        TerminalTheme::Light => !ink,
                    };
                    Luma([if light { 230 } else { 20 }])
                },
            );
            assert_eq!(
                decode_luma(&img).unwrap(),
                vec![payload.clone()],
                "{theme:?}"
            );
        }
    }
}

#[test]
fn svg_is_well_formed_and_sized_in_modules() {
    let m = QrMatrix::from_payload(&contact()).unwrap();
    let svg = m.to_svg();
    let n = m.width() + 8;
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(svg.ends_with("</svg>"));
    assert!(svg.contains(&format!("viewBox=\"0 0 {n} {n}\"")));
    assert!(svg.len() < 8_000, "{} bytes", svg.len());
}

#[test]
fn zbarimg_reads_our_pngs() {
    let dir = tempfile::tempdir().unwrap();
    for (i, payload) in all_kinds().into_iter().enumerate() {
        let path = dir.path().join(format!("code{i}.png"));
        std::fs::write(
            &path,
            QrMatrix::from_payload(&payload).unwrap().to_png(4).unwrap(),
        )
        .unwrap();
        let out = match Command::new("zbarimg")
            .arg("--quiet")
            .arg("--raw")
            .arg(&path)
            .output()
        {
            Ok(out) => out,
            Err(e) => panic!(
                "zbarimg is needed to check our PNGs with an independent reader, \
                 but running it failed ({e}); install it with `apt-get install zbar-tools` \
                 (scripts/test does this)"
            ),
        };
        assert!(
            out.status.success(),
            "zbarimg failed on {}: {out:?}",
            path.display()
        );
        let text = String::from_utf8(out.stdout).unwrap();
        assert_eq!(text.trim_end(), payload.to_string());
    }
}

/// One manifest entry of tests/fixtures/qr/manifest.json.
struct Entry {
    file: String,
    kind: String,
    uris: Vec<String>,
    text: Option<String>,
}

fn manifest() -> Vec<Entry> {
    let raw = std::fs::read_to_string(fixtures().join("manifest.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&raw).unwrap();
    json["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let mut uris: Vec<String> = e["uri"].as_str().map(str::to_owned).into_iter().collect();
            if let Some(also) = e["also"].as_array() {
                uris.extend(also.iter().map(|u| u.as_str().unwrap().to_owned()));
            }
            Entry {
                file: e["file"].as_str().unwrap().to_owned(),
                kind: e["kind"].as_str().unwrap().to_owned(),
                uris,
                text: e["text"].as_str().map(str::to_owned),
            }
        })
        .collect()
}

#[test]
fn corpus_decodes_at_the_expected_rate_and_never_wrongly() {
    let entries = manifest();
    assert!(entries.len() >= 40, "corpus has {} images", entries.len());
    let (mut positives, mut decoded, mut missed) = (0, 0, Vec::new());
    for e in &entries {
        let started = Instant::now();
        let result = decode_file(fixtures().join(&e.file));
        let ms = started.elapsed().as_millis();
        match e.kind.as_str() {
            "parley" => {
                positives += 1;
                let want: Vec<QrPayload> = e.uris.iter().map(|u| u.parse().unwrap()).collect();
                match result {
                    Ok(mut got) => {
                        decoded += 1;
                        got.sort_by_key(|p| p.to_string());
                        let mut want = want;
                        want.sort_by_key(|p| p.to_string());
                        assert_eq!(got, want, "{}: wrong payloads", e.file);
                        println!("  ok      {} ({ms} ms)", e.file);
                    }
                    Err(err) => {
                        println!("  MISSED  {} ({ms} ms): {err}", e.file);
                        missed.push(e.file.clone());
                    }
                }
            }
            "no_code" => {
                assert!(
                    matches!(result, Err(DecodeError::NoCode)),
                    "{}: {result:?}",
                    e.file
                );
            }
            "not_parley" => match result {
                Err(DecodeError::NotParley { text }) => {
                    assert_eq!(Some(&text), e.text.as_ref(), "{}", e.file)
                }
                other => panic!("{}: expected NotParley, got {other:?}", e.file),
            },
            "invalid" => {
                assert!(
                    matches!(result, Err(DecodeError::Invalid(_))),
                    "{}: {result:?}",
                    e.file
                )
            }
            other => panic!("{}: unknown kind {other}", e.file),
        }
    }
    let rate = f64::from(decoded) / f64::from(positives);
    println!(
        "decoded {decoded}/{positives} positives ({:.0}%); missed: {missed:?}",
        rate * 100.0
    );
    assert!(
        rate >= MIN_CORPUS_RATE,
        "decode rate {rate:.2} below {MIN_CORPUS_RATE}"
    );
}

#[test]
fn folder_source_replays_the_corpus_in_name_order() {
    let entries = manifest();
    let mut source = FolderSource::open(fixtures()).unwrap();
    assert!(source
        .describe()
        .contains(&format!("({} images)", entries.len())));
    let names: Vec<String> = source
        .files()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let mut want: Vec<String> = entries.iter().map(|e| e.file.clone()).collect();
    want.sort();
    assert_eq!(names, want);
    let mut frames = 0;
    while let Some(frame) = source.next_frame().unwrap() {
        let img = image::open(fixtures().join(&names[frames])).unwrap();
        assert_eq!((frame.width, frame.height), (img.width(), img.height()));
        assert_eq!(Some(frame.data.len()), frame.expected_len());
        frames += 1;
    }
    assert_eq!(frames, entries.len());
    assert!(
        source.next_frame().unwrap().is_none(),
        "ended sources stay ended"
    );
}

/// A folder whose first frames hold no code (and one a non-Parley code), then
/// a Parley code.
fn scan_folder(with_code: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (i, f) in [
        "n01_gradient.png",
        "n02_busy.jpg",
        "n07_not_parley.png",
        "n05_camera_1280x720.jpg",
    ]
    .iter()
    .enumerate()
    {
        let ext = Path::new(f).extension().unwrap().to_str().unwrap();
        std::fs::copy(fixtures().join(f), dir.path().join(format!("{i:02}.{ext}"))).unwrap();
    }
    std::fs::write(dir.path().join("notes.txt"), "not an image, skipped").unwrap();
    if with_code {
        let png = QrMatrix::from_payload(&link()).unwrap().to_png(4).unwrap();
        std::fs::write(dir.path().join("10.png"), png).unwrap();
    }
    dir
}

/// Counts the frames `scan` pulls.
struct Counting<S>(S, usize);

impl<S: FrameSource> FrameSource for Counting<S> {
    fn next_frame(&mut self) -> Result<Option<Frame>, CameraError> {
        self.1 += 1;
        self.0.next_frame()
    }
    fn describe(&self) -> String {
        self.0.describe()
    }
}

#[test]
fn scan_finds_the_code_after_frames_without_one() {
    let dir = scan_folder(true);
    let mut source = Counting(FolderSource::open(dir.path()).unwrap(), 0);
    assert_eq!(scan(&mut source, ScanLimit::frames(20)).unwrap(), link());
    assert_eq!(source.1, 5, "four frames without a code, then the code");

    // Works through a boxed trait object too.
    let mut boxed: Box<dyn FrameSource> = Box::new(FolderSource::open(dir.path()).unwrap());
    assert_eq!(
        scan(&mut boxed, ScanLimit::until_source_ends()).unwrap(),
        link()
    );
}

#[test]
fn a_holding_folder_source_repeats_each_file_then_moves_on() {
    let dir = scan_folder(true);
    let mut source = FolderSource::open(dir.path()).unwrap().holding(3);
    let mut sizes = Vec::new();
    while let Some(f) = source.next_frame().unwrap() {
        sizes.push((f.width, f.height));
    }
    assert_eq!(sizes.len(), 5 * 3, "five images, three frames each");
    for chunk in sizes.chunks(3) {
        assert!(chunk.iter().all(|s| *s == chunk[0]), "{sizes:?}");
    }
    // Held frames are the same image: the code is found on each of them.
    let mut source = FolderSource::open(dir.path()).unwrap().holding(2);
    let frames: Vec<_> = std::iter::from_fn(|| source.next_frame().unwrap()).collect();
    assert_eq!(frames[8], frames[9]);
    assert_eq!(decode_frame(&frames[9]).unwrap(), vec![link()]);
}

#[test]
fn scan_gives_up_with_what_it_saw() {
    let dir = scan_folder(false);
    // A looping source stops at the frame limit...
    let mut looping = FolderSource::open(dir.path()).unwrap().looping(true);
    match scan(&mut looping, ScanLimit::frames(9)) {
        Err(ScanError::NotFound {
            frames: 9,
            ended: false,
            seen: Some(DecodeError::NotParley { text }),
        }) => {
            assert_eq!(text, "https://example.org/not-parley")
        }
        other => panic!("{other:?}"),
    }
    // ...or at the deadline...
    let mut looping = FolderSource::open(dir.path()).unwrap().looping(true);
    let started = Instant::now();
    let result = scan(&mut looping, ScanLimit::timeout(Duration::from_millis(300)));
    assert!(
        matches!(result, Err(ScanError::NotFound { ended: false, .. })),
        "{result:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    // ...and a one-shot source at its end.
    let mut once = FolderSource::open(dir.path()).unwrap();
    let result = scan(&mut once, ScanLimit::until_source_ends());
    assert!(
        matches!(
            result,
            Err(ScanError::NotFound {
                frames: 4,
                ended: true,
                ..
            })
        ),
        "{result:?}"
    );
}

#[test]
fn scan_skips_undecodable_files_and_stops_on_fatal_errors() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("0.png"), b"not really a png").unwrap();
    std::fs::write(
        dir.path().join("1.png"),
        QrMatrix::from_payload(&join()).unwrap().to_png(3).unwrap(),
    )
    .unwrap();
    let mut source = FolderSource::open(dir.path()).unwrap();
    assert_eq!(scan(&mut source, ScanLimit::frames(5)).unwrap(), join());

    struct Broken;
    impl FrameSource for Broken {
        fn next_frame(&mut self) -> Result<Option<Frame>, CameraError> {
            Err(CameraError::Busy)
        }
        fn describe(&self) -> String {
            "broken".into()
        }
    }
    let result = scan(&mut Broken, ScanLimit::frames(5));
    assert!(
        matches!(result, Err(ScanError::Camera(CameraError::Busy))),
        "{result:?}"
    );
}

#[test]
fn folder_source_errors_and_pacing() {
    let missing = FolderSource::open("/definitely/not/here");
    assert!(
        matches!(missing, Err(CameraError::Io { .. })),
        "{missing:?}"
    );
    let empty = tempfile::tempdir().unwrap();
    assert!(matches!(
        FolderSource::open(empty.path()),
        Err(CameraError::Empty { .. })
    ));

    let dir = scan_folder(true);
    let mut paced = FolderSource::open(dir.path()).unwrap().paced(Some(25.0));
    let started = Instant::now();
    for _ in 0..3 {
        paced.next_frame().unwrap().unwrap();
    }
    // Three frames at 25 fps: at least two intervals of 40 ms.
    assert!(
        started.elapsed() >= Duration::from_millis(80),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn every_pixel_format_decodes() {
    let payload = contact();
    let code = QrMatrix::from_payload(&payload)
        .unwrap()
        .to_luma(4)
        .unwrap();
    let luma = noisy_frame_with(Some(&code), 640, 480, 7);
    let (w, h) = luma.dimensions();
    let px = luma.as_raw();
    let frames = [
        Frame {
            width: w,
            height: h,
            format: PixelFormat::Luma8,
            data: px.clone(),
        },
        Frame {
            width: w,
            height: h,
            format: PixelFormat::Rgb8,
            data: px.iter().flat_map(|&v| [v, v, v]).collect(),
        },
        Frame {
            width: w,
            height: h,
            format: PixelFormat::Rgba8,
            data: px.iter().flat_map(|&v| [v, v, v, 255]).collect(),
        },
        Frame {
            width: w,
            height: h,
            format: PixelFormat::Yuyv,
            // Y0 U Y1 V: luma in even bytes, neutral chroma in odd ones.
            data: px
                .iter()
                .enumerate()
                .flat_map(|(i, &v)| [v, if i % 2 == 0 { 100 } else { 160 }])
                .collect(),
        },
    ];
    for frame in &frames {
        assert_eq!(
            decode_frame(frame).unwrap(),
            vec![payload.clone()],
            "{:?}",
            frame.format
        );
    }

    // A transparent-background code (black modules, alpha 0 elsewhere, RGB 0
    // everywhere) decodes because transparency is composited over white.
    let side = code.width();
    let transparent = Frame {
        width: side,
        height: side,
        format: PixelFormat::Rgba8,
        data: code
            .as_raw()
            .iter()
            .flat_map(|&v| [0, 0, 0, 255 - v])
            .collect(),
    };
    assert_eq!(decode_frame(&transparent).unwrap(), vec![payload.clone()]);
    let img = image::DynamicImage::ImageRgba8(
        image::RgbaImage::from_raw(side, side, transparent.data.clone()).unwrap(),
    );
    assert_eq!(decode_image(&img).unwrap(), vec![payload.clone()]);
    assert_eq!(Frame::from_image(&img).format, PixelFormat::Rgba8);
}

#[test]
fn inverted_and_rotated_rendered_codes_decode() {
    let payload = join();
    let code = QrMatrix::from_payload(&payload)
        .unwrap()
        .to_luma(5)
        .unwrap();
    let mut inverted = code.clone();
    image::imageops::invert(&mut inverted);
    assert_eq!(decode_luma(&inverted).unwrap(), vec![payload.clone()]);
    for rotated in [
        image::imageops::rotate90(&code),
        image::imageops::rotate180(&code),
        image::imageops::rotate270(&code),
    ] {
        assert_eq!(decode_luma(&rotated).unwrap(), vec![payload.clone()]);
    }
}

#[test]
fn file_errors_name_the_file() {
    let err = decode_file("/no/such/file.png").unwrap_err();
    assert!(
        matches!(&err, DecodeError::Image { path: Some(_), .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("/no/such/file.png"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("code.png");
    std::fs::write(&text, "parley://contact?server=x").unwrap();
    assert!(matches!(decode_file(&text), Err(DecodeError::Image { .. })));
}

#[test]
fn garbage_never_panics() {
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let valid_png = QrMatrix::from_payload(&contact())
        .unwrap()
        .to_png(2)
        .unwrap();
    for round in 0..150 {
        // Random bytes, random bytes behind real image headers, and a valid
        // PNG with flipped bits or cut short.
        let len = rng.below(4096) as usize;
        let _ = decode_bytes(&rng.bytes(len));
        for header in [
            &b"\x89PNG\r\n\x1a\n"[..],
            b"\xff\xd8\xff\xe0",
            b"RIFF\x00\x00\x00\x00WEBPVP8 ",
            b"BM",
        ] {
            let mut bytes = header.to_vec();
            let n = rng.below(2048) as usize;
            bytes.extend(rng.bytes(n));
            let _ = decode_bytes(&bytes);
        }
        let mut flipped = valid_png.clone();
        for _ in 0..=rng.below(8) {
            let i = rng.below(flipped.len() as u64) as usize;
            flipped[i] ^= 1 << rng.below(8);
        }
        let _ = decode_bytes(&flipped);
        let _ = decode_bytes(&valid_png[..rng.below(valid_png.len() as u64) as usize]);

        // Frames of random sizes and formats, with right and wrong lengths.
        let format = [
            PixelFormat::Rgb8,
            PixelFormat::Rgba8,
            PixelFormat::Yuyv,
            PixelFormat::Luma8,
        ][round % 4];
        let (w, h) = (rng.below(200) as u32, rng.below(200) as u32);
        let right = w as usize * h as usize * format.bytes_per_pixel();
        for len in [right, right.saturating_sub(1), right + 3, 0] {
            let frame = Frame {
                width: w,
                height: h,
                format,
                data: rng.bytes(len),
            };
            let result = decode_frame(&frame);
            if len != right {
                assert!(
                    matches!(result, Err(DecodeError::BadFrame(_))),
                    "{frame:?}: {result:?}"
                );
            }
        }
    }
    // Structured noise: blocks and stripes that look a little like finder
    // patterns, the kind of input that exercises rqrr's geometry code.
    for seed in 0..12 {
        let mut rng = Rng(seed + 1);
        let block = 1 + rng.below(6) as u32;
        let img = GrayImage::from_fn(320, 240, |x, y| {
            let v = (x / block).wrapping_mul(2654435761)
                ^ (y / block).wrapping_mul(40503)
                ^ seed as u32;
            Luma([if v.is_multiple_of(3) { 0 } else { 255 }])
        });
        let _ = decode_luma(&img);
        let _ = decode_luma(&noisy_frame_with(None, 320, 240, seed));
    }
}

#[test]
fn decoding_a_frame_without_a_code_is_bounded_in_time() {
    // Every variant runs on a frame without a code: make sure that stays
    // interactive even in a debug build.
    let frame = noisy_frame_with(None, 1280, 720, 3);
    let started = Instant::now();
    assert!(matches!(decode_luma(&frame), Err(DecodeError::NoCode)));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}
