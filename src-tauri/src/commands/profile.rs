//! The own profile: read, edit (name, username, bio, privacy), username check.

use crate::{
    error::{CmdResult, CommandError},
    state::SessionState,
};
use image::{
    codecs::jpeg::JpegEncoder, imageops::FilterType, DynamicImage, GenericImageView, ImageFormat,
    ImageReader, Limits,
};
use parley_protocol::{validate_username, Me, UpdateMe, UsernameAvailability};
use serde::{Deserialize, Serialize};
use std::{
    io::Cursor,
    path::{Path, PathBuf},
};
use tauri::State;

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct AvatarFileArgs {
    /// Path of an image file (PNG, JPEG or WebP).
    pub path: String,
    /// The square to keep, in pixels of the image as stored (see
    /// `image_preview`'s `width`/`height`); `null`: the centred square.
    pub crop: Option<CropRect>,
}

/// A square in image pixels: `x`, `y` of its top-left corner and its side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ts_rs::TS)]
pub struct CropRect {
    pub x: u32,
    pub y: u32,
    pub size: u32,
}

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct ImagePathArgs {
    /// Path of a local image file.
    pub path: String,
}

/// A local image, small enough to show, with the size of the original.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct ImagePreview {
    /// A `data:image/jpeg;base64,...` URL at most [`PREVIEW_SIDE`] px a side.
    pub data_url: String,
    /// The original's width and height in pixels: crop rectangles are in these.
    pub width: u32,
    pub height: u32,
}

/// Longest side of an avatar as uploaded: the server keeps avatars small,
/// and a bigger upload would only cost bandwidth.
pub const AVATAR_SIDE: u32 = parley_protocol::limits::AVATAR_MAX_SIDE;
/// Longest side of the preview shown in the cropper.
pub const PREVIEW_SIDE: u32 = 640;
/// Largest image file read for an avatar (the server takes 5 MiB after
/// cropping; a photo straight off a phone may be bigger before).
const MAX_IMAGE_FILE: u64 = 40 * 1024 * 1024;

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct AvatarUrlArgs {
    /// A user's `avatar_url` (a path on the server, with its version query).
    pub url: String,
}

/// Sets my avatar from an image file: the `crop` square (the centred square
/// when `null`), scaled down to at most [`AVATAR_SIDE`], as a PNG.
#[tauri::command]
pub async fn set_avatar(session: State<'_, SessionState>, args: AvatarFileArgs) -> CmdResult<Me> {
    let client = session.client()?;
    let path = PathBuf::from(args.path.trim());
    let png = tokio::task::spawn_blocking(move || {
        let img = open_image(&path)?;
        avatar_png(&img, args.crop)
    })
    .await
    .map_err(|e| CommandError::new("local", e.to_string()))??;
    Ok(client.set_avatar_bytes("image/png", png).await?)
}

/// A preview of a local image for the avatar cropper.
#[tauri::command]
pub async fn image_preview(args: ImagePathArgs) -> CmdResult<ImagePreview> {
    let path = PathBuf::from(args.path.trim());
    tokio::task::spawn_blocking(move || {
        let img = open_image(&path)?;
        let (width, height) = img.dimensions();
        let small = img.thumbnail(PREVIEW_SIDE, PREVIEW_SIDE).to_rgb8();
        let mut jpeg = Vec::new();
        JpegEncoder::new_with_quality(&mut jpeg, 85)
            .encode_image(&small)
            .map_err(|e| CommandError::new("local", e.to_string()))?;
        Ok(ImagePreview {
            data_url: super::attachments::data_url("image/jpeg", &jpeg),
            width,
            height,
        })
    })
    .await
    .map_err(|e| CommandError::new("local", e.to_string()))?
}

/// Reads and decodes a local image, with a clear `invalid` error for what
/// is not one.
fn open_image(path: &Path) -> CmdResult<DynamicImage> {
    let shown = path.display();
    let meta = std::fs::metadata(path)
        .map_err(|e| CommandError::new("invalid", format!("Cannot read {shown}: {e}")))?;
    if !meta.is_file() {
        return Err(CommandError::new(
            "invalid",
            format!("{shown} is not a file"),
        ));
    }
    if meta.len() > MAX_IMAGE_FILE {
        return Err(CommandError::new(
            "invalid",
            format!(
                "{shown} is larger than {} MiB",
                MAX_IMAGE_FILE / 1024 / 1024
            ),
        ));
    }
    let mut reader = ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .map_err(|e| CommandError::new("invalid", format!("Cannot read {shown}: {e}")))?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(16_384);
    limits.max_image_height = Some(16_384);
    reader.limits(limits);
    let unreadable = |e: image::ImageError| {
        CommandError::new(
            "invalid",
            format!("{shown} is not an image Parley can read (PNG, JPEG or WebP): {e}"),
        )
    };
    // A phone's photo is often stored sideways with an EXIF orientation
    // that turns it: shown (and cropped, and uploaded) turned, as every
    // viewer shows it. `decode` alone ignores the tag.
    let mut decoder = reader.into_decoder().map_err(unreadable)?;
    let orientation = image::ImageDecoder::orientation(&mut decoder)
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    // The memory cap `decode` applies (a small file can claim gigabytes):
    // `from_decoder` alone checks only the sides.
    Limits::default()
        .reserve(image::ImageDecoder::total_bytes(&decoder))
        .map_err(unreadable)?;
    let mut img = DynamicImage::from_decoder(decoder).map_err(unreadable)?;
    img.apply_orientation(orientation);
    Ok(img)
}

/// The avatar to upload: the crop (checked against the image), scaled down.
fn avatar_png(img: &DynamicImage, crop: Option<CropRect>) -> CmdResult<Vec<u8>> {
    let (w, h) = img.dimensions();
    let crop = crop.unwrap_or_else(|| {
        let size = w.min(h);
        CropRect {
            x: (w - size) / 2,
            y: (h - size) / 2,
            size,
        }
    });
    let fits = crop.size > 0
        && crop.x.checked_add(crop.size).is_some_and(|r| r <= w)
        && crop.y.checked_add(crop.size).is_some_and(|b| b <= h);
    if !fits {
        return Err(CommandError::new(
            "invalid",
            format!(
                "The crop {}x{} at ({}, {}) is not inside the {w}x{h} image",
                crop.size, crop.size, crop.x, crop.y
            ),
        ));
    }
    let square = img.crop_imm(crop.x, crop.y, crop.size, crop.size);
    let side = crop.size.min(AVATAR_SIDE);
    let square = if side == crop.size {
        square
    } else {
        square.resize_exact(side, side, FilterType::Lanczos3)
    };
    let mut png = Vec::new();
    square
        .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
        .map_err(|e| CommandError::new("local", e.to_string()))?;
    Ok(png)
}

/// An avatar's bytes as a data URL. Only server paths (`/...`) are fetched.
#[tauri::command]
pub async fn avatar_data_url(
    session: State<'_, SessionState>,
    args: AvatarUrlArgs,
) -> CmdResult<String> {
    if !is_server_path(&args.url) {
        return Err(CommandError::new("invalid", "url: not a server path"));
    }
    let bytes = session
        .client()?
        .call(|api, t| {
            let url = args.url.clone();
            async move { api.avatar(&t, &url).await }
        })
        .await?;
    Ok(super::attachments::data_url(sniff_image(&bytes), &bytes))
}

/// Whether `url` is a path on the server (not another host).
fn is_server_path(url: &str) -> bool {
    url.starts_with('/') && !url.starts_with("//") && !url.contains('\\')
}

/// The mime type of image bytes, from their magic number.
fn sniff_image(b: &[u8]) -> &'static str {
    if b.starts_with(b"\x89PNG") {
        "image/png"
    } else if b.starts_with(&[0xff, 0xd8]) {
        "image/jpeg"
    } else if b.starts_with(b"GIF8") {
        "image/gif"
    } else if b.len() >= 12 && &b[..4] == b"RIFF" && &b[8..12] == b"WEBP" {
        "image/webp"
    } else {
        "application/octet-stream"
    }
}

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct UsernameArgs {
    pub username: String,
}

#[tauri::command]
pub async fn get_me(session: State<'_, SessionState>) -> CmdResult<Me> {
    Ok(session.client()?.me().await?)
}

/// Applies a partial update (absent fields are unchanged).
#[tauri::command]
pub async fn update_profile(session: State<'_, SessionState>, args: UpdateMe) -> CmdResult<Me> {
    Ok(session.client()?.update_profile(args).await?)
}

/// Whether a username is free: checked for shape here (the same rules the
/// server applies), then asked of the server.
#[tauri::command]
pub async fn username_available(
    session: State<'_, SessionState>,
    args: UsernameArgs,
) -> CmdResult<UsernameAvailability> {
    let name = validate_username(&args.username)
        .map_err(|e| CommandError::new("invalid_field", e.message))?;
    let client = session.client()?;
    Ok(client
        .call(|api, t| {
            let name = name.clone();
            async move { api.username_available(&t, &name).await }
        })
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avatar_helpers() {
        assert!(is_server_path("/v1/users/u1/avatar?v=2"));
        assert!(!is_server_path("//evil.example/x"));
        assert!(!is_server_path("https://evil.example/x"));
        assert_eq!(sniff_image(b"\x89PNG\r\n"), "image/png");
        assert_eq!(sniff_image(&[0xff, 0xd8, 0xff]), "image/jpeg");
        assert_eq!(sniff_image(b"RIFF0000WEBPVP8 "), "image/webp");
        assert_eq!(sniff_image(b"<svg"), "application/octet-stream");
    }

    /// A phone's photo stored sideways, with an EXIF orientation that turns
    /// it (6: 90° clockwise), opens turned: the cropper shows it as every
    /// viewer does, and the avatar is cut from that.
    #[test]
    fn a_photo_opens_turned_as_its_exif_says() {
        // A 40×30 JPEG with orientation 6 (the server's tests use it too).
        let jpeg = include_bytes!("../../../server/tests/fixtures/sideways-exif6.jpg");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sideways.jpg");
        std::fs::write(&path, jpeg).unwrap();
        let img = open_image(&path).unwrap();
        assert_eq!((img.width(), img.height()), (30, 40));
    }

    fn quadrants(w: u32, h: u32) -> DynamicImage {
        // Left half red, right half blue: a crop shows which half it took.
        DynamicImage::ImageRgb8(image::RgbImage::from_fn(w, h, |x, _| {
            if x < w / 2 {
                image::Rgb([255, 0, 0])
            } else {
                image::Rgb([0, 0, 255])
            }
        }))
    }

    #[test]
    fn the_crop_keeps_the_chosen_square_scaled_down() {
        let img = quadrants(2000, 1000);
        let png = avatar_png(
            &img,
            Some(CropRect {
                x: 1000,
                y: 0,
                size: 1000,
            }),
        )
        .unwrap();
        let out = image::load_from_memory(&png).unwrap().to_rgb8();
        assert_eq!(out.dimensions(), (AVATAR_SIDE, AVATAR_SIDE));
        assert_eq!(
            out.get_pixel(10, 10).0,
            [0, 0, 255],
            "the right (blue) half"
        );
        // No crop: the centred square, half red and half blue.
        let out = image::load_from_memory(&avatar_png(&img, None).unwrap())
            .unwrap()
            .to_rgb8();
        assert_eq!(out.get_pixel(5, 5).0, [255, 0, 0]);
        assert_eq!(out.get_pixel(AVATAR_SIDE - 5, 5).0, [0, 0, 255]);
        // Small images are not scaled up.
        let out = image::load_from_memory(&avatar_png(&quadrants(300, 200), None).unwrap())
            .unwrap()
            .to_rgb8();
        assert_eq!(out.dimensions(), (200, 200));
    }

    #[test]
    fn crops_outside_the_image_are_refused_clearly() {
        let img = quadrants(100, 80);
        for crop in [
            CropRect {
                x: 0,
                y: 0,
                size: 0,
            },
            CropRect {
                x: 0,
                y: 0,
                size: 81,
            },
            CropRect {
                x: 21,
                y: 0,
                size: 80,
            },
            CropRect {
                x: u32::MAX,
                y: 0,
                size: 2,
            },
        ] {
            let e = avatar_png(&img, Some(crop)).unwrap_err();
            assert_eq!(e.code, "invalid", "{crop:?}");
            assert!(e.message.contains("100x80"), "{}", e.message);
        }
        assert!(avatar_png(
            &img,
            Some(CropRect {
                x: 20,
                y: 0,
                size: 80
            })
        )
        .is_ok());
    }

    #[test]
    fn files_that_are_not_images_get_an_invalid_error() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("note.png");
        std::fs::write(&text, b"not an image").unwrap();
        assert_eq!(open_image(&text).unwrap_err().code, "invalid");
        assert_eq!(open_image(dir.path()).unwrap_err().code, "invalid");
        assert_eq!(
            open_image(&dir.path().join("missing.png"))
                .unwrap_err()
                .code,
            "invalid"
        );
        let ok = dir.path().join("ok.png");
        quadrants(40, 30).save(&ok).unwrap();
        assert_eq!(open_image(&ok).unwrap().dimensions(), (40, 30));
    }
}
