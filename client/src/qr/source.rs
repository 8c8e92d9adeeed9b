//! Frame sources and the scan loop: where frames come from, and pulling them
//! until one holds a Parley code.
//!
//! Owns the [`FrameSource`] trait (a webcam is one implementation, behind the
//! `camera` feature; a folder of images is another, so the whole scan path is
//! tested on machines without a camera), [`FolderSource`], and [`scan`].
//!
//! Must never decode QR codes itself (that is [`super::decode`]) and never
//! block forever on its own: [`scan`] always has a frame count or a deadline
//! unless the caller explicitly asks for neither.

use std::{
    fs,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use parley_protocol::qr::QrPayload;

use super::decode::{decode_frame, DecodeError, Frame};

/// Why a source could not deliver frames.
#[derive(Debug, thiserror::Error)]
pub enum CameraError {
    /// There is no camera (or none at the requested index).
    #[error("no camera found")]
    NoCamera,
    /// The OS refused access (Linux: not in the `video` group; macOS/Windows:
    /// the privacy setting for this app is off).
    #[error("permission to use the camera was denied")]
    PermissionDenied,
    /// Another program holds the camera.
    #[error("the camera is in use by another program")]
    Busy,
    /// One frame could not be captured or converted; the next one may work.
    #[error("could not read a frame: {0}")]
    Frame(String),
    /// A folder source's directory could not be listed or a file read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A folder source's file is not a decodable image; the next one may be.
    #[error("cannot decode {}: {source}", path.display())]
    Image {
        path: PathBuf,
        #[source]
        source: image::ImageError,
    },
    /// A folder source's directory holds no image files.
    #[error("no image files in {}", path.display())]
    Empty { path: PathBuf },
    /// Anything else the camera backend reported.
    #[error("camera error: {0}")]
    Other(String),
}

impl CameraError {
    /// Whether the source may still deliver frames after this error: true for
    /// a single bad frame, false for errors that will repeat on every call.
    pub fn is_transient(&self) -> bool {
        matches!(self, CameraError::Frame(_) | CameraError::Image { .. })
    }
}

/// Something that yields frames, one blocking call at a time.
///
/// Object-safe, so the scanner UI can hold a `Box<dyn FrameSource>` and swap
/// a webcam for a folder replay in tests and demos.
pub trait FrameSource {
    /// The next frame; blocks until it is available (a camera's frame
    /// interval). `Ok(None)` means the source has ended for good.
    fn next_frame(&mut self) -> Result<Option<Frame>, CameraError>;

    /// A short description for logs and the UI ("folder ./frames (12 images)",
    /// "camera 0: Integrated Webcam").
    fn describe(&self) -> String;
}

impl<S: FrameSource + ?Sized> FrameSource for Box<S> {
    fn next_frame(&mut self) -> Result<Option<Frame>, CameraError> {
        (**self).next_frame()
    }

    fn describe(&self) -> String {
        (**self).describe()
    }
}

/// File extensions a [`FolderSource`] replays (case-insensitive).
pub const FOLDER_EXTENSIONS: [&str; 5] = ["png", "jpg", "jpeg", "webp", "bmp"];

/// Replays the image files of a directory as frames, sorted by file name.
///
/// Stands in for a camera in tests, demos and bug reports ("here are the
/// frames that did not scan"). Files are read one per frame, never all held
/// in memory.
#[derive(Debug)]
pub struct FolderSource {
    dir: PathBuf,
    files: Vec<PathBuf>,
    /// Index of the next file in `files`.
    next: usize,
    /// Start again from the first file after the last, like a camera that
    /// keeps seeing the same scene.
    looping: bool,
    /// Minimum time between frames, to mimic a camera's frame rate.
    interval: Option<Duration>,
    last_frame_at: Option<Instant>,
    /// Frames delivered per file (see [`Self::holding`]).
    hold: u32,
    /// The current file's frame and how many more times to deliver it.
    held: Option<(Frame, u32)>,
}

impl FolderSource {
    /// Lists `dir`'s image files (by extension, see [`FOLDER_EXTENSIONS`]);
    /// not recursive. Plays once, unpaced, until changed with [`Self::looping`]
    /// and [`Self::paced`].
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, CameraError> {
        let dir = dir.as_ref().to_owned();
        let io_error = |source| CameraError::Io {
            path: dir.clone(),
            source,
        };
        let mut files = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io_error)? {
            let path = entry.map_err(io_error)?.path();
            let is_image = path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| FOLDER_EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)));
            if is_image && path.is_file() {
                files.push(path);
            }
        }
        if files.is_empty() {
            return Err(CameraError::Empty { path: dir });
        }
        files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
        Ok(Self {
            dir,
            files,
            next: 0,
            looping: false,
            interval: None,
            last_frame_at: None,
            hold: 1,
            held: None,
        })
    }

    /// Deliver each file `frames` times in a row (decoded once), like a
    /// camera that sees each scene for a while. A live scanner decodes only
    /// the newest frame; with one frame per file it could skip the same file
    /// on every loop when the decode time lines up with the loop's period.
    pub fn holding(mut self, frames: u32) -> Self {
        self.hold = frames.max(1);
        self
    }

    /// Whether to start over after the last file instead of ending.
    pub fn looping(mut self, looping: bool) -> Self {
        self.looping = looping;
        self
    }

    /// Deliver at most `fps` frames per second (blocking in `next_frame`);
    /// `None` or a non-positive rate delivers as fast as files decode.
    pub fn paced(mut self, fps: Option<f64>) -> Self {
        self.interval = fps
            .filter(|f| f.is_finite() && *f > 0.0)
            .map(|f| Duration::from_secs_f64(1.0 / f));
        self
    }

    /// The files replayed, in order.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    fn wait_for_pace(&mut self) {
        if let (Some(interval), Some(last)) = (self.interval, self.last_frame_at) {
            let due = last + interval;
            let now = Instant::now();
            if due > now {
                // A FrameSource is blocking by contract, like a camera read
                // that waits for the sensor; it never runs on a tokio worker.
                #[allow(clippy::disallowed_methods)]
                std::thread::sleep(due - now);
            }
        }
        self.last_frame_at = Some(Instant::now());
    }
}

impl FrameSource for FolderSource {
    fn next_frame(&mut self) -> Result<Option<Frame>, CameraError> {
        if let Some((frame, left)) = self.held.as_mut() {
            if *left > 0 {
                *left -= 1;
                let frame = frame.clone();
                self.wait_for_pace();
                return Ok(Some(frame));
            }
            self.held = None;
        }
        if self.next >= self.files.len() {
            if !self.looping {
                return Ok(None);
            }
            self.next = 0;
        }
        let Some(path) = self.files.get(self.next).cloned() else {
            return Ok(None);
        };
        self.next += 1;
        self.wait_for_pace();
        let img = image::ImageReader::open(&path)
            .and_then(|r| r.with_guessed_format())
            .map_err(|source| CameraError::Io {
                path: path.clone(),
                source,
            })?
            .decode()
            .map_err(|source| CameraError::Image {
                path: path.clone(),
                source,
            })?;
        let frame = Frame::from_image(&img);
        if self.hold > 1 {
            self.held = Some((frame.clone(), self.hold - 1));
        }
        Ok(Some(frame))
    }

    fn describe(&self) -> String {
        format!(
            "folder {} ({} images)",
            self.dir.display(),
            self.files.len()
        )
    }
}

/// When [`scan`] gives up. The deadline is checked between frames: a source
/// blocked in `next_frame` is not interrupted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanLimit {
    /// Stop after this many frames (including frames that failed to read).
    pub max_frames: Option<usize>,
    /// Stop once this instant has passed.
    pub deadline: Option<Instant>,
}

impl ScanLimit {
    /// At most `n` frames.
    pub fn frames(n: usize) -> Self {
        Self {
            max_frames: Some(n),
            deadline: None,
        }
    }

    /// Until `timeout` from now.
    pub fn timeout(timeout: Duration) -> Self {
        Self {
            max_frames: None,
            deadline: Instant::now().checked_add(timeout),
        }
    }

    /// Until the source ends: only for sources that do end (a non-looping
    /// folder), or a caller that stops the source from elsewhere.
    pub fn until_source_ends() -> Self {
        Self::default()
    }

    fn reached(&self, frames: usize) -> bool {
        self.max_frames.is_some_and(|max| frames >= max)
            || self.deadline.is_some_and(|d| Instant::now() >= d)
    }
}

/// Why [`scan`] returned without a payload.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// The source failed in a way that will not get better by retrying.
    #[error(transparent)]
    Camera(#[from] CameraError),
    /// The limit was reached, or the source ended, without a Parley code.
    #[error("no Parley code found in {frames} frames{}", seen.as_ref().map(|e| format!(" ({e})")).unwrap_or_default())]
    NotFound {
        /// Frames pulled from the source.
        frames: usize,
        /// True if the source ended, false if the limit was reached.
        ended: bool,
        /// The last "almost" seen: a non-Parley or invalid Parley code, so the
        /// UI can say "that is not a Parley code" instead of "nothing found".
        seen: Option<DecodeError>,
    },
}

/// Pulls frames from `source` and decodes each until one holds a Parley
/// payload, which is returned (the first, if a frame holds several).
///
/// Transient source errors (one bad frame) are skipped and counted as frames;
/// others end the scan.
pub fn scan(source: &mut dyn FrameSource, limit: ScanLimit) -> Result<QrPayload, ScanError> {
    let mut frames = 0;
    let mut seen = None;
    loop {
        if limit.reached(frames) {
            return Err(ScanError::NotFound {
                frames,
                ended: false,
                seen,
            });
        }
        let next = source.next_frame();
        frames += 1;
        let frame = match next {
            Ok(Some(frame)) => frame,
            Ok(None) => {
                return Err(ScanError::NotFound {
                    frames: frames - 1,
                    ended: true,
                    seen,
                });
            }
            Err(e) if e.is_transient() => {
                tracing::debug!(error = %e, "skipping frame");
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        match decode_frame(&frame) {
            Ok(mut payloads) if !payloads.is_empty() => return Ok(payloads.swap_remove(0)),
            Ok(_) | Err(DecodeError::NoCode) => {}
            Err(e @ (DecodeError::NotParley { .. } | DecodeError::Invalid(_))) => seen = Some(e),
            Err(e) => tracing::debug!(error = %e, "undecodable frame"),
        }
    }
}
