//! Rendering: text (usually a `parley://` URI) to a QR module matrix, and that
//! matrix to SVG, PNG, a greyscale image or terminal text.
//!
//! Owns the choices that make a code easy to scan: error correction level M, a
//! quiet zone of 4 modules on every output, whole pixels per module. Must never
//! decide what the text is: callers pass `QrPayload` (whose `Display` is the URI)
//! or any string.

use std::{fmt::Write as _, io::Cursor};

use image::{GrayImage, ImageFormat, Luma};
use parley_protocol::qr::QrPayload;
use qrcode::{Color, EcLevel, QrCode};

/// Modules of light margin around the code on every output. ISO/IEC 18004
/// requires 4; scanners find the finder patterns by the contrast against it.
pub const QUIET_ZONE: usize = 4;

/// Largest PNG side we agree to draw, pixels. Anything bigger is a caller's bug
/// (a scale meant for an SVG viewBox, say), not a request worth 100 MB of RAM.
pub const MAX_IMAGE_SIDE: u32 = 8192;

/// Why a code could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The text does not fit the largest QR code at level M (2,331 bytes).
    #[error("text of {len} bytes does not fit in a QR code")]
    TooLong { len: usize },
    /// `qrcode` refused the text for another reason.
    #[error("cannot encode QR code: {0}")]
    Encode(String),
    /// A scale of 0, or one that would exceed [`MAX_IMAGE_SIDE`].
    #[error("scale {scale} gives an unusable image size (1..={MAX_IMAGE_SIDE} px per side)")]
    BadScale { scale: u32 },
    /// PNG encoding failed (in practice only on out-of-memory).
    #[error("cannot encode PNG: {0}")]
    Png(#[from] image::ImageError),
}

/// How the terminal that will show [`QrMatrix::to_terminal`] is coloured.
///
/// Text can only paint glyphs in the terminal's foreground colour on its
/// background colour, and scanners want dark modules on a light background
/// (many phone scanners do not try inverted codes). So the glyphs paint the
/// *light* modules on a dark terminal and the *dark* modules on a light one;
/// either way the result on screen is dark-on-light.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TerminalTheme {
    /// Light text on a dark background: the default of most terminals, and
    /// therefore ours.
    #[default]
    Dark,
    /// Dark text on a light background.
    Light,
}

/// An encoded QR code: a square of dark/light modules, without quiet zone.
///
/// Encode once, then render as many ways as needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrMatrix {
    /// Modules per side, without the quiet zone.
    width: usize,
    /// Row-major, `true` = dark.
    dark: Vec<bool>,
}

impl QrMatrix {
    /// Encodes any text at error correction level M.
    ///
    /// Why M: Parley URIs are 100-200 bytes; at M they fit versions 6-9 (41-53
    /// modules), so modules stay big on a phone screen or a laptop panel, and
    /// 15% recovery covers glare and moiré. Codes shown on screens are not
    /// scratched or folded, which is what H/Q's extra redundancy is for.
    pub fn encode(text: &str) -> Result<Self, RenderError> {
        let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M).map_err(
            |e| match e {
                qrcode::types::QrError::DataTooLong => RenderError::TooLong { len: text.len() },
                other => RenderError::Encode(other.to_string()),
            },
        )?;
        let width = code.width();
        let dark = code
            .to_colors()
            .into_iter()
            .map(|c| c == Color::Dark)
            .collect();
        Ok(Self { width, dark })
    }

    /// Encodes a Parley payload as its `parley://` URI.
    pub fn from_payload(payload: &QrPayload) -> Result<Self, RenderError> {
        Self::encode(&payload.to_string())
    }

    /// Modules per side, without the quiet zone.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Modules per side including the quiet zone on both sides.
    pub fn full_width(&self) -> usize {
        self.width + 2 * QUIET_ZONE
    }

    /// Whether the module at (`x`, `y`) is dark; coordinates include the quiet
    /// zone, and anything outside the code (quiet zone, out of range) is light.
    pub fn is_dark(&self, x: usize, y: usize) -> bool {
        let (Some(x), Some(y)) = (x.checked_sub(QUIET_ZONE), y.checked_sub(QUIET_ZONE)) else {
            return false;
        };
        x < self.width && y < self.width && self.dark.get(y * self.width + x) == Some(&true)
    }

    /// SVG with one unit per module (`viewBox` includes the quiet zone), drawn
    /// at 8 px per module by default; it scales cleanly to any size.
    ///
    /// Dark modules are one `<path>` of horizontal runs, so the file stays
    /// small (~3 KB for a Parley URI) and renderers do not leave hairline gaps
    /// between adjacent modules.
    pub fn to_svg(&self) -> String {
        let n = self.full_width();
        let mut svg = String::with_capacity(64 * n);
        // `write!` to a String cannot fail; the results are ignored on purpose.
        let _ = write!(
            svg,
            r##"<svg xmlns="http://www.w3.org/2000/svg" version="1.1" viewBox="0 0 {n} {n}" width="{px}" height="{px}" shape-rendering="crispEdges"><rect width="{n}" height="{n}" fill="#ffffff"/><path fill="#000000" d=""##,
            px = n * 8
        );
        for y in 0..n {
            let mut x = 0;
            while x < n {
                if !self.is_dark(x, y) {
                    x += 1;
                    continue;
                }
                let start = x;
                while x < n && self.is_dark(x, y) {
                    x += 1;
                }
                let _ = write!(svg, "M{start} {y}h{}v1H{start}z", x - start);
            }
        }
        svg.push_str(r#""/></svg>"#);
        svg
    }

    /// A greyscale image, `scale` pixels per module, quiet zone included,
    /// black (0) on white (255).
    pub fn to_luma(&self, scale: u32) -> Result<GrayImage, RenderError> {
        let n = u32::try_from(self.full_width()).map_err(|_| RenderError::BadScale { scale })?;
        let side = n
            .checked_mul(scale)
            .filter(|side| (1..=MAX_IMAGE_SIDE).contains(side))
            .ok_or(RenderError::BadScale { scale })?;
        Ok(GrayImage::from_fn(side, side, |px, py| {
            let dark = self.is_dark((px / scale) as usize, (py / scale) as usize);
            Luma([if dark { 0 } else { 255 }])
        }))
    }

    /// PNG bytes (8-bit greyscale), `scale` pixels per module, quiet zone
    /// included. Integer scales only, so every module has crisp edges.
    pub fn to_png(&self, scale: u32) -> Result<Vec<u8>, RenderError> {
        let img = self.to_luma(scale)?;
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Png)?;
        Ok(out.into_inner())
    }

    /// Text for a terminal: Unicode half blocks (`▀`, `▄`, `█` and space), two
    /// module rows per line, quiet zone included, one `\n` after each line.
    ///
    /// A character cell is about twice as tall as wide, so two rows per cell
    /// keep modules square and the code half as tall as a one-row-per-line
    /// rendering. See [`TerminalTheme`] for which modules the glyphs paint; an
    /// odd last row is padded with quiet zone.
    pub fn to_terminal(&self, theme: TerminalTheme) -> String {
        let n = self.full_width();
        let ink = |x: usize, y: usize| {
            // Rows past the end are more quiet zone (light).
            let dark = y < n && self.is_dark(x, y);
            match theme {
                TerminalTheme::Dark => !dark,
                TerminalTheme::Light => dark,
            }
        };
        let mut out = String::with_capacity((n + 1) * n.div_ceil(2) * 3);
        for y in (0..n).step_by(2) {
            for x in 0..n {
                out.push(match (ink(x, y), ink(x, y + 1)) {
                    (true, true) => '█',
                    (true, false) => '▀',
                    (false, true) => '▄',
                    (false, false) => ' ',
                });
            }
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URI: &str =
        "parley://contact?server=https%3A%2F%2Fchat.example.org&code=0123456789ABCDEFGHJKMNPQRS";

    #[test]
    fn quiet_zone_and_scale_give_the_expected_size() {
        let m = QrMatrix::encode(URI).unwrap();
        assert_eq!(m.width() % 4, 1, "QR sides are 17 + 4 * version");
        let img = m.to_luma(3).unwrap();
        assert_eq!(img.width() as usize, (m.width() + 8) * 3);
        // The quiet zone is light, the top-left finder corner is dark.
        assert_eq!(img.get_pixel(11, 11).0[0], 255);
        assert_eq!(img.get_pixel(12, 12).0[0], 0);
    }

    #[test]
    fn bad_scales_are_errors_not_panics() {
        let m = QrMatrix::encode(URI).unwrap();
        assert!(matches!(
            m.to_png(0),
            Err(RenderError::BadScale { scale: 0 })
        ));
        assert!(matches!(
            m.to_png(u32::MAX),
            Err(RenderError::BadScale { .. })
        ));
        assert!(matches!(
            m.to_png(10_000),
            Err(RenderError::BadScale { .. })
        ));
    }

    #[test]
    fn too_long_text_is_a_typed_error() {
        let long = "x".repeat(3000);
        assert!(matches!(
            QrMatrix::encode(&long),
            Err(RenderError::TooLong { len: 3000 })
        ));
    }

    #[test]
    fn svg_paths_cover_exactly_the_dark_modules() {
        let m = QrMatrix::encode(URI).unwrap();
        let svg = m.to_svg();
        let n = m.full_width();
        assert!(svg.contains(&format!(r#"viewBox="0 0 {n} {n}""#)));
        let d = svg
            .split(r#" d=""#)
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let mut grid = vec![false; n * n];
        for run in d.split('M').filter(|r| !r.is_empty()) {
            // "x yhLENv1Hxz"
            let (xy, rest) = run.split_once('h').unwrap();
            let (x, y) = xy.split_once(' ').unwrap();
            let len = rest.split_once('v').unwrap().0;
            let (x, y, len): (usize, usize, usize) =
                (x.parse().unwrap(), y.parse().unwrap(), len.parse().unwrap());
            for i in x..x + len {
                assert!(!grid[y * n + i], "overlapping runs");
                grid[y * n + i] = true;
            }
        }
        for y in 0..n {
            for x in 0..n {
                assert_eq!(grid[y * n + x], m.is_dark(x, y), "module ({x}, {y})");
            }
        }
    }

    #[test]
    fn terminal_text_maps_two_rows_per_line() {
        let m = QrMatrix::encode(URI).unwrap();
        let n = m.full_width();
        for theme in [TerminalTheme::Dark, TerminalTheme::Light] {
            let text = m.to_terminal(theme);
            let lines: Vec<&str> = text.lines().collect();
            assert_eq!(lines.len(), n.div_ceil(2));
            for (row, line) in lines.iter().enumerate() {
                let chars: Vec<char> = line.chars().collect();
                assert_eq!(chars.len(), n);
                for (x, c) in chars.into_iter().enumerate() {
                    let (top, bottom) = match c {
                        '█' => (true, true),
                        '▀' => (true, false),
                        '▄' => (false, true),
                        ' ' => (false, false),
                        other => panic!("unexpected {other:?}"),
                    };
                    let dark_top = m.is_dark(x, 2 * row);
                    let dark_bottom = m.is_dark(x, 2 * row + 1);
                    let want = match theme {
                        TerminalTheme::Dark => (!dark_top, !dark_bottom),
                        TerminalTheme::Light => (dark_top, dark_bottom),
                    };
                    assert_eq!((top, bottom), want, "line {row} column {x}");
                }
            }
        }
        // On a dark terminal the quiet zone is painted, so the first line is
        // all full blocks.
        let first = m
            .to_terminal(TerminalTheme::Dark)
            .lines()
            .next()
            .unwrap()
            .to_owned();
        assert!(first.chars().all(|c| c == '█'));
    }
}
