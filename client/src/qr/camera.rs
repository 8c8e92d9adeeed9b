//! The webcam as a [`FrameSource`], through nokhwa (only with the `camera`
//! feature, which needs libclang and libv4l on Linux to build).
//!
//! Owns: listing cameras, opening one at about 1280x720, turning its buffers
//! (MJPEG, YUYV, ...) into RGB [`Frame`]s, mapping nokhwa's stringly errors to
//! [`CameraError`]'s variants, and releasing the device on drop.
//!
//! Must never decode QR codes, never hold the camera after the source is
//! dropped (the LED stays on and other apps get "busy"), and never let a
//! backend panic escape.
//!
//! macOS asks the user before an app may use the camera: [`request_access`]
//! shows that prompt (a no-op elsewhere) and is called by the desktop app
//! before it opens a camera.

use std::panic::{self, AssertUnwindSafe};

use nokhwa::{
    pixel_format::RgbFormat,
    utils::{
        ApiBackend, CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType,
        Resolution,
    },
    Camera, NokhwaError,
};

use super::{
    decode::{Frame, PixelFormat},
    source::{CameraError, FrameSource},
};

/// The resolution asked for: enough pixels per module for a phone screen held
/// at arm's length, little enough to decode every frame in real time.
pub const PREFERRED_RESOLUTION: (u32, u32) = (1280, 720);

/// A camera the OS reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraInfo {
    /// What [`WebcamSource::open`] takes (on Linux, N in `/dev/videoN`).
    pub index: u32,
    /// The device's human-readable name.
    pub name: String,
}

/// The cameras the OS reports, in its order. An empty list is not an error.
pub fn list_cameras() -> Result<Vec<CameraInfo>, CameraError> {
    let infos = guard(|| nokhwa::query(ApiBackend::Auto))?.map_err(map_error)?;
    Ok(infos
        .into_iter()
        .filter_map(|info| {
            let index = info.index().as_index().ok()?;
            Some(CameraInfo {
                index,
                name: info.human_name(),
            })
        })
        .collect())
}

/// How long [`request_access`] waits for the user to answer the OS prompt.
pub const ACCESS_PROMPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// Makes sure the OS lets this app use the camera, prompting the user where
/// the OS does that (macOS: the first time, with the app's
/// `NSCameraUsageDescription`). Blocks until answered; `PermissionDenied`
/// when refused or not answered within [`ACCESS_PROMPT_TIMEOUT`]. Elsewhere
/// access is decided when the device is opened, so this returns at once.
pub fn request_access() -> Result<(), CameraError> {
    if nokhwa::nokhwa_check() {
        return Ok(());
    }
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    guard(move || {
        nokhwa::nokhwa_initialize(move |granted| {
            let _ = tx.try_send(granted);
        })
    })?;
    match rx.recv_timeout(ACCESS_PROMPT_TIMEOUT) {
        Ok(true) => Ok(()),
        _ => Err(CameraError::PermissionDenied),
    }
}

/// A streaming webcam. The stream is stopped and the device closed on drop.
pub struct WebcamSource {
    camera: Camera,
    description: String,
}

impl WebcamSource {
    /// Opens camera `index` at about [`PREFERRED_RESOLUTION`] and starts
    /// streaming.
    ///
    /// Formats are tried in order: 1280x720 in any pixel format, the closest to
    /// 1280x720 in MJPEG, then in YUYV, then the highest resolution offered.
    pub fn open(index: u32) -> Result<Self, CameraError> {
        let (w, h) = PREFERRED_RESOLUTION;
        let wanted = [
            RequestedFormatType::HighestResolution(Resolution::new(w, h)),
            RequestedFormatType::Closest(CameraFormat::new_from(w, h, FrameFormat::MJPEG, 30)),
            RequestedFormatType::Closest(CameraFormat::new_from(w, h, FrameFormat::YUYV, 30)),
            RequestedFormatType::AbsoluteHighestResolution,
        ];
        let mut last_error = CameraError::NoCamera;
        for request in wanted {
            let format = RequestedFormat::new::<RgbFormat>(request);
            let opened = guard(|| Camera::new(CameraIndex::Index(index), format))
                .and_then(|r| r.map_err(map_error));
            let mut camera = match opened {
                Ok(camera) => camera,
                // Not a format problem: trying other formats will not help.
                Err(
                    e @ (CameraError::NoCamera | CameraError::PermissionDenied | CameraError::Busy),
                ) => return Err(e),
                Err(e) => {
                    tracing::debug!(?request, error = %e, "camera format not available");
                    last_error = e;
                    continue;
                }
            };
            guard(|| camera.open_stream())?.map_err(map_error)?;
            let fmt = camera.camera_format();
            let description = format!(
                "camera {index}: {} ({}x{} {} @ {} fps)",
                camera.info().human_name(),
                fmt.width(),
                fmt.height(),
                fmt.format(),
                fmt.frame_rate()
            );
            tracing::info!(camera = %description, "camera opened");
            return Ok(Self {
                camera,
                description,
            });
        }
        Err(last_error)
    }
}

impl std::fmt::Debug for WebcamSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebcamSource")
            .field("description", &self.description)
            .finish()
    }
}

impl FrameSource for WebcamSource {
    fn next_frame(&mut self) -> Result<Option<Frame>, CameraError> {
        let camera = &mut self.camera;
        let buffer = guard(|| camera.frame())?.map_err(map_error)?;
        let rgb = guard(|| buffer.decode_image::<RgbFormat>())?.map_err(map_error)?;
        let (width, height) = rgb.dimensions();
        Ok(Some(Frame {
            width,
            height,
            format: PixelFormat::Rgb8,
            data: rgb.into_raw(),
        }))
    }

    fn describe(&self) -> String {
        self.description.clone()
    }
}

impl Drop for WebcamSource {
    fn drop(&mut self) {
        // nokhwa's own Drop also stops the stream but unwraps the result;
        // stopping here first, and logging, keeps an error from becoming a
        // panic inside a destructor on backends where stopping can fail.
        let camera = &mut self.camera;
        match guard(|| camera.stop_stream()) {
            Ok(Ok(())) => tracing::debug!(camera = %self.description, "camera released"),
            Ok(Err(e)) => tracing::warn!(error = %e, "stopping the camera failed"),
            Err(e) => tracing::warn!(error = %e, "stopping the camera panicked"),
        }
    }
}

/// Runs a nokhwa call, turning a panic (some backends `unwrap`/`assert!`
/// internally) into [`CameraError::Other`].
fn guard<T>(f: impl FnOnce() -> T) -> Result<T, CameraError> {
    panic::catch_unwind(AssertUnwindSafe(f))
        .map_err(|_| CameraError::Other("camera backend panicked".into()))
}

/// nokhwa reports most failures as strings from the OS; the OS error texts
/// are what tell "no such device", "permission denied" and "busy" apart.
fn map_error(e: NokhwaError) -> CameraError {
    let text = e.to_string();
    let lower = text.to_ascii_lowercase();
    let has = |needles: &[&str]| needles.iter().any(|n| lower.contains(n));
    if has(&[
        "permission denied",
        "os error 13",
        "access denied",
        "not authorized",
        "e_accessdenied",
    ]) {
        CameraError::PermissionDenied
    } else if has(&["busy", "os error 16", "in use"]) {
        CameraError::Busy
    } else if has(&[
        "no such file",
        "os error 2)",
        "no such device",
        "os error 19",
        "not found",
    ]) {
        CameraError::NoCamera
    } else if matches!(
        e,
        NokhwaError::ReadFrameError(_) | NokhwaError::ProcessFrameError { .. }
    ) {
        CameraError::Frame(text)
    } else {
        CameraError::Other(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_errors_map_to_variants() {
        let open =
            |msg: &str| NokhwaError::OpenDeviceError("0".into(), format!("V4L2 Error: {msg}"));
        assert!(matches!(
            map_error(open("Permission denied (os error 13)")),
            CameraError::PermissionDenied
        ));
        assert!(matches!(
            map_error(open("Device or resource busy (os error 16)")),
            CameraError::Busy
        ));
        assert!(matches!(
            map_error(open("No such file or directory (os error 2)")),
            CameraError::NoCamera
        ));
        assert!(matches!(
            map_error(NokhwaError::ReadFrameError("timeout".into())),
            CameraError::Frame(_)
        ));
        assert!(matches!(
            map_error(NokhwaError::GeneralError("odd".into())),
            CameraError::Other(_)
        ));
    }

    #[test]
    fn access_needs_no_prompt_off_macos() {
        // Linux and Windows decide at open time: nothing to ask, no wait.
        #[cfg(not(target_os = "macos"))]
        assert!(request_access().is_ok());
    }

    #[test]
    fn listing_and_opening_without_a_camera_do_not_panic() {
        // CI machines have no camera: both must return, whatever they return.
        let cameras = list_cameras();
        if let Ok(list) = &cameras {
            if list.is_empty() {
                let opened = WebcamSource::open(0);
                assert!(
                    matches!(opened, Err(CameraError::NoCamera)),
                    "{:?}",
                    opened.err()
                );
            }
        }
        let _ = WebcamSource::open(999);
    }
}
