//! QR codes: showing Parley payloads as QR codes and finding them in images and
//! camera frames.
//!
//! Owns: rendering text (a `parley://` URI) to SVG, PNG and terminal text
//! ([`render`]), the decode pipeline from files, images and raw frames
//! ([`decode`]), the [`FrameSource`] abstraction with a folder replay and, behind
//! the `camera` feature, a webcam ([`source`], `camera`), and [`scan`], which ties
//! a source to the decoder.
//!
//! Must never: define what a payload means (that is `parley_protocol::qr`, the
//! one place that formats and parses the URIs), talk to the network or the
//! server, or panic on any input: images and frames come from the outside
//! world, and a panic in a user's scanner window is a crash we cannot debug.
//!
//! Everything here is blocking and CPU-bound. Async callers run it on a blocking
//! thread (`tokio::task::spawn_blocking`); a Tauri front end runs the camera loop
//! on its own thread.

pub mod decode;
pub mod render;
pub mod scanner;
pub mod source;

#[cfg(feature = "camera")]
pub mod camera;

pub use decode::{
    decode_bytes, decode_file, decode_frame, decode_image, decode_luma, locate_frame, locate_luma,
    DecodeError, Frame, Located, PixelFormat,
};
pub use parley_protocol::qr::{ContactQr, DeviceInviteQr, DeviceLinkQr, QrError, QrPayload};
pub use render::{QrMatrix, RenderError, TerminalTheme};
pub use source::{scan, CameraError, FolderSource, FrameSource, ScanError, ScanLimit};
