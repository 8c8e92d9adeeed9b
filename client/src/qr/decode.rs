//! Decoding: finding Parley payloads in image files, decoded images and raw
//! camera frames, with `rqrr`.
//!
//! Owns the pixel-format conversions ([`Frame`] to greyscale) and the variant
//! pipeline that makes real photos decode: full frame, downscaled copies, a
//! contrast-stretched, an adaptively thresholded and an inverted copy, stopping
//! at the first that yields a Parley payload.
//!
//! Must never panic, whatever the bytes: `rqrr` and the image decoders are run
//! under `catch_unwind`, sizes are checked with checked arithmetic, and frames
//! whose buffer does not match their declared size are refused. Must never
//! interpret payloads beyond `QrPayload::from_str`.

use std::{
    io::Cursor,
    panic::{self, AssertUnwindSafe},
    path::{Path, PathBuf},
};

use image::{imageops, DynamicImage, GrayImage, ImageReader, Limits, Luma};
use parley_protocol::qr::{QrError, QrPayload};

/// Longest side up to which the frame is first tried at full resolution.
/// A 1080p webcam frame qualifies; a 12 MP photo goes straight to downscales,
/// since rqrr's time grows with pixels and a QR code filling a tenth of such a
/// photo still has several pixels per module at 1600.
pub const MAX_FULL_SIDE: u32 = 1920;

/// Longest sides of the downscaled copies, largest first. Downscaling averages
/// pixels, which removes sensor noise and JPEG ringing, and makes codes that
/// fill the frame look like the small, sharp codes rqrr is best at.
pub const DOWNSCALE_SIDES: [u32; 4] = [1600, 1024, 640, 400];

/// Longest side from which a frame is first tried at half size (see
/// [`locate_luma`]): 720p webcam frames and larger.
pub const HALVE_FIRST_FROM: u32 = 1200;

/// Smallest side in which a QR code could fit (version 1 is 21 modules at one
/// pixel each); anything smaller is reported as [`DecodeError::NoCode`] without
/// running rqrr.
const MIN_SIDE: u32 = 21;

/// Longest side of an image file or byte buffer we agree to decode. A larger
/// "image" is either a hostile file or a scan at absurd DPI; both would cost
/// seconds and hundreds of MB before we downscale them anyway.
pub const MAX_INPUT_SIDE: u32 = 16_384;

/// Characters of a non-Parley QR text kept in [`DecodeError::NotParley`]: enough
/// to show the user what they scanned, not enough to flood a log.
const NOT_PARLEY_TEXT_CHARS: usize = 120;

/// Why no Parley payload came out of an image.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// No QR code could be read at all.
    #[error("no QR code found")]
    NoCode,
    /// QR codes were read, but none holds a `parley://` URI.
    #[error("this QR code is not a Parley code (it says {text:?})")]
    NotParley {
        /// The first code's text, truncated to about 120 characters.
        text: String,
    },
    /// A `parley://` code was read but is malformed (or from a newer app
    /// version with a kind we do not know).
    #[error("this Parley code is not valid: {0}")]
    Invalid(#[source] QrError),
    /// The file or bytes could not be read or decoded as an image.
    #[error("cannot read image{}: {source}", show_path(path.as_deref()))]
    Image {
        /// The file, when reading from one.
        path: Option<PathBuf>,
        #[source]
        source: image::ImageError,
    },
    /// A [`Frame`] whose buffer does not match its size and format.
    #[error("malformed frame: {0}")]
    BadFrame(String),
}

fn show_path(path: Option<&Path>) -> String {
    path.map(|p| format!(" {}", p.display()))
        .unwrap_or_default()
}

/// How the bytes of a [`Frame`] are laid out, row-major without padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PixelFormat {
    /// 3 bytes per pixel: red, green, blue.
    Rgb8,
    /// 4 bytes per pixel: red, green, blue, alpha (not premultiplied).
    Rgba8,
    /// YUV 4:2:2, 2 bytes per pixel as `Y0 U Y1 V` per pixel pair: what most
    /// USB webcams send uncompressed. Only the Y (luma) bytes are used, so no
    /// colour conversion is needed.
    Yuyv,
    /// 1 byte per pixel, greyscale.
    Luma8,
}

impl PixelFormat {
    /// Bytes per pixel.
    pub fn bytes_per_pixel(self) -> usize {
        match self {
            PixelFormat::Rgb8 => 3,
            PixelFormat::Rgba8 => 4,
            PixelFormat::Yuyv => 2,
            PixelFormat::Luma8 => 1,
        }
    }
}

/// One raw image from a [`FrameSource`](super::FrameSource): what cameras
/// produce, before any image-crate type exists.
#[derive(Clone, PartialEq, Eq)]
pub struct Frame {
    pub width: u32,
    pub height: u32,
    pub format: PixelFormat,
    /// Exactly `width * height * format.bytes_per_pixel()` bytes.
    pub data: Vec<u8>,
}

impl std::fmt::Debug for Frame {
    // The pixel data would drown every assertion message.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frame")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("format", &self.format)
            .field("data_len", &self.data.len())
            .finish()
    }
}

impl Frame {
    /// A frame holding a decoded image: greyscale images stay `Luma8`, images
    /// with alpha become `Rgba8`, everything else `Rgb8`.
    pub fn from_image(img: &DynamicImage) -> Frame {
        let (width, height) = (img.width(), img.height());
        let (format, data) = match img {
            DynamicImage::ImageLuma8(g) => (PixelFormat::Luma8, g.as_raw().clone()),
            i if i.color().has_alpha() => (PixelFormat::Rgba8, i.to_rgba8().into_raw()),
            i => (PixelFormat::Rgb8, i.to_rgb8().into_raw()),
        };
        Frame {
            width,
            height,
            format,
            data,
        }
    }

    /// A `Luma8` frame from a greyscale image.
    pub fn from_luma(img: GrayImage) -> Frame {
        Frame {
            width: img.width(),
            height: img.height(),
            format: PixelFormat::Luma8,
            data: img.into_raw(),
        }
    }

    /// The byte length this frame's size and format call for, `None` on
    /// overflow.
    pub fn expected_len(&self) -> Option<usize> {
        (self.width as usize)
            .checked_mul(self.height as usize)?
            .checked_mul(self.format.bytes_per_pixel())
    }

    /// Converts to greyscale, the only thing the QR detector looks at.
    ///
    /// Transparent pixels are composited over white, because QR images with a
    /// transparent background usually have black (0,0,0,0) there.
    pub fn to_luma(&self) -> Result<GrayImage, DecodeError> {
        let expected = self.expected_len().ok_or_else(|| {
            DecodeError::BadFrame(format!("{}x{} overflows", self.width, self.height))
        })?;
        if self.data.len() != expected {
            return Err(DecodeError::BadFrame(format!(
                "{}x{} {:?} needs {expected} bytes, got {}",
                self.width,
                self.height,
                self.format,
                self.data.len()
            )));
        }
        let luma: Vec<u8> = match self.format {
            PixelFormat::Luma8 => self.data.clone(),
            PixelFormat::Yuyv => self.data.iter().step_by(2).copied().collect(),
            PixelFormat::Rgb8 => self
                .data
                .chunks_exact(3)
                .map(|p| luma(p[0], p[1], p[2]))
                .collect(),
            PixelFormat::Rgba8 => self
                .data
                .chunks_exact(4)
                .map(|p| over_white(luma(p[0], p[1], p[2]), p[3]))
                .collect(),
        };
        GrayImage::from_raw(self.width, self.height, luma)
            .ok_or_else(|| DecodeError::BadFrame("size does not match data".into()))
    }
}

/// ITU-R BT.601 luma in integer arithmetic (weights sum to 256).
fn luma(r: u8, g: u8, b: u8) -> u8 {
    ((77 * u32::from(r) + 150 * u32::from(g) + 29 * u32::from(b)) >> 8) as u8
}

/// `l` with opacity `a` over a white background.
fn over_white(l: u8, a: u8) -> u8 {
    let (l, a) = (u32::from(l), u32::from(a));
    ((l * a + 255 * (255 - a) + 127) / 255) as u8
}

/// Decodes an image file (PNG, JPEG, WebP; the format is sniffed from the
/// content, not the extension).
pub fn decode_file(path: impl AsRef<Path>) -> Result<Vec<QrPayload>, DecodeError> {
    let path = path.as_ref();
    let image_error = |source| DecodeError::Image {
        path: Some(path.to_owned()),
        source,
    };
    let reader = ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .map_err(|e| image_error(image::ImageError::IoError(e)))?;
    let img = read_image(reader).map_err(image_error)?;
    decode_image(&img)
}

/// Decodes an encoded image held in memory (a pasted or dropped file).
pub fn decode_bytes(bytes: &[u8]) -> Result<Vec<QrPayload>, DecodeError> {
    let image_error = |source| DecodeError::Image { path: None, source };
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| image_error(image::ImageError::IoError(e)))?;
    let img = read_image(reader).map_err(image_error)?;
    decode_image(&img)
}

/// Decodes with size limits, under `catch_unwind`: image decoders are well
/// fuzzed, but a panic on a user's file must still be an error, not a crash.
fn read_image<R: std::io::BufRead + std::io::Seek>(
    mut reader: ImageReader<R>,
) -> Result<DynamicImage, image::ImageError> {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_INPUT_SIDE);
    limits.max_image_height = Some(MAX_INPUT_SIDE);
    reader.limits(limits);
    panic::catch_unwind(AssertUnwindSafe(|| reader.decode())).unwrap_or_else(|_| {
        Err(image::ImageError::Decoding(
            image::error::DecodingError::from_format_hint(image::error::ImageFormatHint::Unknown),
        ))
    })
}

/// Decodes a decoded image (any colour type; alpha is composited over white).
pub fn decode_image(img: &DynamicImage) -> Result<Vec<QrPayload>, DecodeError> {
    let grey = match img {
        DynamicImage::ImageLuma8(g) => g.clone(),
        i if i.color().has_alpha() => {
            let rgba = i.to_rgba8();
            let (w, h) = rgba.dimensions();
            let data = rgba
                .pixels()
                .map(|p| over_white(luma(p[0], p[1], p[2]), p[3]))
                .collect();
            GrayImage::from_raw(w, h, data)
                .ok_or_else(|| DecodeError::BadFrame("size does not match data".into()))?
        }
        i => i.to_luma8(),
    };
    decode_luma(&grey)
}

/// Decodes a raw camera frame.
pub fn decode_frame(frame: &Frame) -> Result<Vec<QrPayload>, DecodeError> {
    decode_luma(&frame.to_luma()?)
}

/// A payload and where it is in the image, so a scanner can highlight it.
#[derive(Debug, Clone, PartialEq)]
pub struct Located {
    pub payload: QrPayload,
    /// The code's four corners as fractions (0..1) of the image's width and
    /// height, in rqrr's order: the corners of the top-left, top-right,
    /// bottom-right and bottom-left of the code as printed (so a rotated
    /// code has rotated corners). Fractions, not pixels: the variant that
    /// read the code may have been downscaled, and previews are smaller still.
    pub corners: [[f32; 2]; 4],
}

/// Decodes a raw camera frame, with where each code is.
pub fn locate_frame(frame: &Frame) -> Result<Vec<Located>, DecodeError> {
    locate_luma(&frame.to_luma()?)
}

/// Decodes a greyscale image: the pipeline every other entry point ends in.
///
/// Tries, in order, and stops at the first that yields a Parley payload:
/// 1. the full frame (if its longest side is at most [`MAX_FULL_SIDE`]);
/// 2. copies downscaled to each of [`DOWNSCALE_SIDES`] smaller than the frame,
///    or to half size for images smaller than those;
/// 3. on a "working" copy (at most 1024 px): a contrast stretch (1st-99th
///    percentile to 0-255) for washed-out photos, an adaptive threshold (local
///    mean over a window 1/8 of the image wide) for uneven light, and an inversion for
///    light-on-dark codes (dark-mode apps, our own terminal output on a light
///    theme, inverted prints).
///
/// Returns every distinct payload found in that variant, in reading order.
///
/// Cost (release build, 2-core machine, `qr_decode` bench): a 720p frame with
/// a code ~23 ms, about one plain rqrr pass; a 720p frame *without* a code runs
/// every variant, ~83 ms (~4.6 rqrr passes). A camera loop should therefore
/// decode the newest frame and drop the ones that queued meanwhile.
pub fn decode_luma(img: &GrayImage) -> Result<Vec<QrPayload>, DecodeError> {
    Ok(locate_luma(img)?.into_iter().map(|l| l.payload).collect())
}

/// [`decode_luma`], with where each code is.
pub fn locate_luma(img: &GrayImage) -> Result<Vec<Located>, DecodeError> {
    let (w, h) = img.dimensions();
    if w < MIN_SIDE || h < MIN_SIDE {
        return Err(DecodeError::NoCode);
    }
    let longest = w.max(h);
    let mut found = Found::default();

    // Camera frames (720p and up) are first read at half size: a 2x2 box
    // average is nearly free, rqrr's cost follows the pixel count, and a
    // code held up to a webcam keeps 2+ pixels per module at half size.
    // Smaller codes fall through to the full frame.
    if longest >= HALVE_FIRST_FROM && found.try_variant("halved first", &halve(img)) {
        return found.finish();
    }
    if longest <= MAX_FULL_SIDE && found.try_variant("full", img) {
        return found.finish();
    }
    let mut working: Option<GrayImage> = None;
    let mut smallest_tried = longest;
    for side in DOWNSCALE_SIDES {
        // Skip near-duplicates: a copy only 20% smaller rarely reads where the
        // original did not. 1600 is only for frames too big to try in full.
        let useful = longest > side + side / 5 && (side < 1600 || longest > MAX_FULL_SIDE);
        if !useful {
            continue;
        }
        let small = downscale(img, side);
        if found.try_variant("downscaled", &small) {
            return found.finish();
        }
        smallest_tried = side;
        if side == 1024 {
            working = Some(small);
        }
    }
    // Small, noisy images (a cropped code with sensor noise or salt and
    // pepper) get no downscale above; halving averages 2x2 pixels, which
    // removes most of the noise while modules of 3 px or more survive.
    if smallest_tried > longest * 2 / 3 && longest / 2 >= 2 * MIN_SIDE {
        let half = downscale(img, longest / 2);
        if found.try_variant("halved", &half) {
            return found.finish();
        }
    }
    let working = match working {
        Some(w) => w,
        None if longest > 1024 => downscale(img, 1024),
        None => img.clone(),
    };
    if found.try_variant("stretched", &stretch_contrast(&working)) {
        return found.finish();
    }
    if found.try_variant("thresholded", &adaptive_threshold(&working)) {
        return found.finish();
    }
    let mut inverted = working;
    imageops::invert(&mut inverted);
    if found.try_variant("inverted", &inverted) {
        return found.finish();
    }
    // Inverted codes photographed at a distance are also noisy: give them the
    // downscale that helps dark-on-light ones most.
    if inverted.width().max(inverted.height()) > 640 + 640 / 5 {
        let small = downscale(&inverted, 640);
        if found.try_variant("inverted downscaled", &small) {
            return found.finish();
        }
    }
    found.finish()
}

/// What the variants have read so far.
#[derive(Default)]
struct Found {
    payloads: Vec<Located>,
    invalid: Option<QrError>,
    other_text: Option<String>,
}

impl Found {
    /// Reads one variant; true when it yielded a Parley payload.
    fn try_variant(&mut self, name: &'static str, img: &GrayImage) -> bool {
        let texts = read_texts(img);
        tracing::trace!(
            variant = name,
            width = img.width(),
            codes = texts.len(),
            "qr variant"
        );
        let (w, h) = (img.width().max(1) as f32, img.height().max(1) as f32);
        for (text, bounds) in texts {
            let corners = bounds.map(|[x, y]| [(x / w).clamp(0.0, 1.0), (y / h).clamp(0.0, 1.0)]);
            self.add(text, corners);
        }
        if !self.payloads.is_empty() {
            tracing::debug!(variant = name, "decoded Parley QR code");
        }
        !self.payloads.is_empty()
    }

    fn add(&mut self, text: String, corners: [[f32; 2]; 4]) {
        match text.parse::<QrPayload>() {
            Ok(payload) => {
                if !self.payloads.iter().any(|l| l.payload == payload) {
                    self.payloads.push(Located { payload, corners });
                }
            }
            Err(e) if e != QrError::NotParley && has_parley_scheme(&text) => {
                self.invalid.get_or_insert(e);
            }
            Err(_) => {
                self.other_text.get_or_insert_with(|| truncate(&text));
            }
        }
    }

    fn finish(self) -> Result<Vec<Located>, DecodeError> {
        if !self.payloads.is_empty() {
            Ok(self.payloads)
        } else if let Some(e) = self.invalid {
            Err(DecodeError::Invalid(e))
        } else if let Some(text) = self.other_text {
            Err(DecodeError::NotParley { text })
        } else {
            Err(DecodeError::NoCode)
        }
    }
}

fn has_parley_scheme(text: &str) -> bool {
    text.trim_start()
        .get(..9)
        .is_some_and(|head| head.eq_ignore_ascii_case("parley://"))
}

fn truncate(text: &str) -> String {
    let mut chars = text.chars();
    let mut out: String = chars.by_ref().take(NOT_PARLEY_TEXT_CHARS).collect();
    if chars.next().is_some() {
        out.push('…');
    }
    out
}

/// Every QR text rqrr reads in one image, in its order, with the corners of
/// its grid in pixels of `img`. Grids that fail to
/// decode are skipped; invalid UTF-8 is replaced, so a binary code still counts
/// as "a code that is not Parley".
///
/// rqrr panics on some inputs (0.10.1 still asserts in its perspective code
/// on at least one real photo, rqrr issue #54); a panic here means "nothing
/// read", never a crash. This relies on unwinding: a `panic = "abort"`
/// profile would turn it back into a crash.
fn read_texts(img: &GrayImage) -> Vec<(String, [[f32; 2]; 4])> {
    let owned = img.clone();
    let result = panic::catch_unwind(AssertUnwindSafe(move || {
        let mut prepared = rqrr::PreparedImage::prepare(owned);
        let grids = prepared.detect_grids();
        grids
            .iter()
            .filter_map(|grid| {
                let mut bytes = Vec::new();
                let ok = panic::catch_unwind(AssertUnwindSafe(|| grid.decode_to(&mut bytes)));
                let corners = grid.bounds.map(|p| [p.x as f32, p.y as f32]);
                matches!(ok, Ok(Ok(_)))
                    .then(|| (String::from_utf8_lossy(&bytes).into_owned(), corners))
            })
            .collect::<Vec<_>>()
    }));
    result.unwrap_or_else(|_| {
        tracing::warn!(
            "rqrr panicked on a {}x{} image; treated as no code",
            img.width(),
            img.height()
        );
        Vec::new()
    })
}

/// Half size, each pixel the rounded mean of a 2x2 block (an odd last row
/// or column is dropped). Several times cheaper than a general resize.
fn halve(img: &GrayImage) -> GrayImage {
    let (w, h) = (img.width() / 2, img.height() / 2);
    let stride = img.width() as usize;
    let src = img.as_raw();
    let mut out = Vec::with_capacity(w as usize * h as usize);
    for y in 0..h as usize {
        let top = &src[2 * y * stride..][..stride];
        let bottom = &src[(2 * y + 1) * stride..][..stride];
        for x in 0..w as usize {
            let sum = u16::from(top[2 * x])
                + u16::from(top[2 * x + 1])
                + u16::from(bottom[2 * x])
                + u16::from(bottom[2 * x + 1]);
            out.push(((sum + 2) / 4) as u8);
        }
    }
    GrayImage::from_raw(w, h, out).unwrap_or_else(|| GrayImage::new(w, h))
}

/// Area-averaging downscale so the longest side is `side`.
fn downscale(img: &GrayImage, side: u32) -> GrayImage {
    let (w, h) = img.dimensions();
    let longest = w.max(h).max(1);
    let scale = |v: u32| ((u64::from(v) * u64::from(side) / u64::from(longest)) as u32).max(1);
    imageops::thumbnail(img, scale(w), scale(h))
}

/// Maps the 1st..99th percentile of grey levels to 0..255, so a washed-out or
/// underexposed code uses the full range again.
fn stretch_contrast(img: &GrayImage) -> GrayImage {
    let mut hist = [0u64; 256];
    for p in img.as_raw() {
        hist[usize::from(*p)] += 1;
    }
    let total: u64 = hist.iter().sum();
    let cut = total / 100;
    let percentile = |from_top: bool| {
        let mut acc = 0;
        let mut levels: Box<dyn Iterator<Item = usize>> = if from_top {
            Box::new((0..256).rev())
        } else {
            Box::new(0..256)
        };
        levels
            .find(|&v| {
                acc += hist[v];
                acc > cut
            })
            .unwrap_or(if from_top { 255 } else { 0 })
    };
    let (lo, hi) = (percentile(false), percentile(true));
    if hi <= lo + 1 {
        return img.clone();
    }
    let range = (hi - lo) as u32;
    let mut lut = [0u8; 256];
    for (v, out) in lut.iter_mut().enumerate() {
        let stretched = (v.saturating_sub(lo) as u32 * 255 / range).min(255);
        *out = stretched as u8;
    }
    let mut out = img.clone();
    for p in out.pixels_mut() {
        p.0[0] = lut[usize::from(p.0[0])];
    }
    out
}

/// Black where a pixel is darker than the mean of its neighbourhood (a square
/// 1/8 of the longest side wide) by a small margin, white elsewhere. Handles
/// shadows and gradients across the code, which defeat rqrr's row-wise
/// threshold.
fn adaptive_threshold(img: &GrayImage) -> GrayImage {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let radius = (w.max(h) / 16).max(4);
    // Summed-area table with a zero row and column in front.
    let stride = w + 1;
    let mut sat = vec![0u64; stride * (h + 1)];
    let raw = img.as_raw();
    for y in 0..h {
        let mut row_sum = 0u64;
        for x in 0..w {
            row_sum += u64::from(raw[y * w + x]);
            sat[(y + 1) * stride + x + 1] = sat[y * stride + x + 1] + row_sum;
        }
    }
    GrayImage::from_fn(img.width(), img.height(), |x, y| {
        let (x, y) = (x as usize, y as usize);
        let (x0, y0) = (x.saturating_sub(radius), y.saturating_sub(radius));
        let (x1, y1) = ((x + radius + 1).min(w), (y + radius + 1).min(h));
        let area = ((x1 - x0) * (y1 - y0)) as u64;
        let sum = sat[y1 * stride + x1] + sat[y0 * stride + x0]
            - sat[y0 * stride + x1]
            - sat[y1 * stride + x0];
        // Dark if below 93% of the local mean.
        let dark = u64::from(raw[y * w + x]) * 100 * area < sum * 93;
        Luma([if dark { 0 } else { 255 }])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_size_mismatch_and_overflow_are_errors() {
        let frame = Frame {
            width: 10,
            height: 10,
            format: PixelFormat::Rgb8,
            data: vec![0; 299],
        };
        assert!(matches!(frame.to_luma(), Err(DecodeError::BadFrame(_))));
        let frame = Frame {
            width: u32::MAX,
            height: u32::MAX,
            format: PixelFormat::Rgba8,
            data: vec![],
        };
        assert!(matches!(
            decode_frame(&frame),
            Err(DecodeError::BadFrame(_))
        ));
    }

    #[test]
    fn conversions() {
        assert_eq!(luma(255, 255, 255), 255);
        assert_eq!(luma(0, 0, 0), 0);
        assert_eq!(over_white(0, 0), 255);
        assert_eq!(over_white(0, 255), 0);
        assert_eq!(over_white(100, 255), 100);
        let yuyv = Frame {
            width: 2,
            height: 1,
            format: PixelFormat::Yuyv,
            data: vec![10, 1, 20, 2],
        };
        assert_eq!(yuyv.to_luma().unwrap().into_raw(), vec![10, 20]);
    }

    #[test]
    fn found_classifies_texts() {
        const NOWHERE: [[f32; 2]; 4] = [[0.0; 2]; 4];
        let mut f = Found::default();
        f.add("https://example.org/not-parley".into(), NOWHERE);
        assert!(
            matches!(f.finish(), Err(DecodeError::NotParley { text }) if text == "https://example.org/not-parley")
        );

        let mut f = Found::default();
        f.add("x".repeat(500), NOWHERE);
        let Err(DecodeError::NotParley { text }) = f.finish() else {
            panic!()
        };
        assert_eq!(text.chars().count(), NOT_PARLEY_TEXT_CHARS + 1);

        let mut f = Found::default();
        f.add("hello".into(), NOWHERE);
        f.add("parley://pay?x=1".into(), NOWHERE);
        assert!(matches!(
            f.finish(),
            Err(DecodeError::Invalid(QrError::UnknownKind(_)))
        ));

        // A huge text that is not parley:// is "not Parley", not "invalid".
        let mut f = Found::default();
        f.add("y".repeat(2000), NOWHERE);
        assert!(matches!(f.finish(), Err(DecodeError::NotParley { .. })));

        let uri = "parley://join?server=http%3A%2F%2Fh&code=0123456789ABCDEFGHJKMNPQRS";
        let mut f = Found::default();
        f.add("hello".into(), NOWHERE);
        f.add(uri.into(), NOWHERE);
        f.add(uri.into(), NOWHERE);
        let found = f.finish().unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].payload, uri.parse::<QrPayload>().unwrap());
        assert_eq!(
            Found::default().finish().unwrap_err().to_string(),
            "no QR code found"
        );
    }

    #[test]
    fn stretch_and_threshold_keep_size_and_range() {
        let img = GrayImage::from_fn(50, 30, |x, y| Luma([(100 + (x + y) % 40) as u8]));
        let s = stretch_contrast(&img);
        assert_eq!(s.dimensions(), (50, 30));
        assert!(s.pixels().any(|p| p.0[0] < 10) && s.pixels().any(|p| p.0[0] > 245));
        let t = adaptive_threshold(&img);
        assert!(t.pixels().all(|p| p.0[0] == 0 || p.0[0] == 255));
        let flat = GrayImage::from_pixel(30, 30, Luma([7]));
        assert_eq!(stretch_contrast(&flat), flat);
        assert!(adaptive_threshold(&flat).pixels().all(|p| p.0[0] == 255));
    }

    #[test]
    fn halving_averages_two_by_two_blocks() {
        let img = GrayImage::from_raw(
            5,
            3,
            vec![0, 4, 10, 20, 99, 8, 4, 30, 40, 99, 7, 7, 7, 7, 7],
        )
        .unwrap();
        let half = halve(&img);
        assert_eq!(half.dimensions(), (2, 1));
        assert_eq!(half.into_raw(), vec![4, 25]);
        assert_eq!(halve(&GrayImage::new(1, 1)).dimensions(), (0, 0));
    }

    #[test]
    fn tiny_and_empty_images_are_no_code() {
        for (w, h) in [(0, 0), (1, 1), (20, 400), (400, 3)] {
            let img = GrayImage::new(w, h);
            assert!(
                matches!(decode_luma(&img), Err(DecodeError::NoCode)),
                "{w}x{h}"
            );
        }
    }
}
