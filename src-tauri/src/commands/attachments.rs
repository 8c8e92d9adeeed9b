//! Attachments: upload a file from a path and save a received one to a file
//! (progress on their own channels), and fetch an attachment's bytes as a data
//! URL (the UI never talks to the server).

use crate::{
    error::{CmdResult, CommandError},
    state::SessionState,
};
use parley_protocol::Attachment;
use serde::{Deserialize, Serialize};
use tauri::{ipc::Channel, State};

/// Transfer progress: bytes sent (or received) so far of the file's size.
#[derive(Debug, Clone, Copy, Serialize, ts_rs::TS)]
pub struct UploadProgress {
    pub sent: u64,
    pub total: u64,
}

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct AttachmentArgs {
    /// The whole attachment: its size and SHA-256 check (and name) the copy
    /// kept on this device, its mime type makes the data URL.
    pub attachment: Attachment,
}

/// Uploads the file at `path`; progress goes to `on_progress`. Resolves to
/// the attachment, whose id `send_message` takes. Not in the generated map:
/// `ui/src/ipc.ts` calls it with its channel.
#[tauri::command]
pub async fn upload_attachment(
    session: State<'_, SessionState>,
    path: String,
    on_progress: Channel<UploadProgress>,
) -> CmdResult<Attachment> {
    let path = std::path::PathBuf::from(path.trim());
    let total = tokio::fs::metadata(&path)
        .await
        .map_err(|e| CommandError::new("invalid", format!("{}: {e}", path.display())))?
        .len();
    let client = session.client()?;
    let _ = on_progress.send(UploadProgress { sent: 0, total });
    let ch = on_progress.clone();
    let att = client
        .upload(&path, move |sent| {
            let _ = ch.send(UploadProgress { sent, total });
        })
        .await?;
    let _ = on_progress.send(UploadProgress { sent: total, total });
    Ok(att)
}

/// Saves a received attachment: into the Downloads folder under a free name
/// (`path` absent), or to the file the user picked in a save dialog. Progress
/// (bytes received of the size) goes to `on_progress`; resolves to the path
/// written. The bytes are checked against the attachment's SHA-256 first (see
/// `parley_client::download`). Not in the generated map: `ui/src/ipc.ts`
/// calls it with its channel.
#[tauri::command]
pub async fn save_attachment(
    session: State<'_, SessionState>,
    attachment: Attachment,
    path: Option<String>,
    on_progress: Channel<UploadProgress>,
) -> CmdResult<String> {
    use parley_client::download::{default_folder, Destination};
    let dest = match path.as_deref().map(str::trim) {
        Some(p) if !p.is_empty() => Destination::File(p.into()),
        _ => Destination::Folder(default_folder()),
    };
    let total = attachment.size;
    let ch = on_progress.clone();
    let saved = session
        .client()?
        .save_attachment(&attachment, dest, move |sent| {
            let _ = ch.send(UploadProgress { sent, total });
        })
        .await?;
    Ok(saved.display().to_string())
}

/// Pasted images wait here (in the profile) until they are uploaded; the
/// next paste clears what is older than [`PASTED_KEPT`].
const PASTED_DIR: &str = "pasted";
const PASTED_KEPT: std::time::Duration = std::time::Duration::from_secs(3600);

/// The image on the clipboard (a screenshot, a copied picture) as a PNG
/// file in the profile, named for when it was pasted; its path goes to
/// `upload_attachment` like a chosen file. Fails with `no_image` when the
/// clipboard holds none.
#[tauri::command]
pub async fn paste_image(
    app: tauri::AppHandle,
    profile: State<'_, crate::state::ProfileState>,
) -> CmdResult<String> {
    let dir = profile.profile.dir().join(PASTED_DIR);
    // The clipboard's owner answers in its own time, and encoding is CPU
    // work: neither belongs on the async runtime.
    tokio::task::spawn_blocking(move || {
        use tauri_plugin_clipboard_manager::ClipboardExt;
        let img = app.clipboard().read_image().map_err(|_| {
            CommandError::new("no_image", "The clipboard holds no image to attach.")
        })?;
        let rgba = image::RgbaImage::from_raw(img.width(), img.height(), img.rgba().to_vec())
            .ok_or_else(|| {
                CommandError::new("no_image", "The clipboard's image could not be read.")
            })?;
        let local = |e: &dyn std::fmt::Display| {
            CommandError::new("local", format!("cannot keep the pasted image: {e}"))
        };
        std::fs::create_dir_all(&dir).map_err(|e| local(&e))?;
        parley_client::download::clear_stale(&dir, PASTED_KEPT);
        let name = chrono::Local::now().format("pasted-%Y%m%d-%H%M%S%.3f.png");
        let path = dir.join(name.to_string());
        rgba.save_with_format(&path, image::ImageFormat::Png)
            .map_err(|e| local(&e))?;
        Ok(path.display().to_string())
    })
    .await
    .map_err(|e| CommandError::new("local", e.to_string()))?
}

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct FileNameArgs {
    pub attachment: Attachment,
}

/// The name to offer in the "Save as" dialog: the sender's, made safe as a
/// save into Downloads makes it (no path, no invisible characters such as a
/// right-to-left override, U+202E, that makes an `.exe` read as a PDF, no leading
/// dot that would hide it, no reserved names).
#[tauri::command]
pub fn attachment_file_name(args: FileNameArgs) -> CmdResult<String> {
    Ok(parley_client::download::safe_file_name(&args.attachment))
}

/// An attachment's bytes as a `data:<mime>;base64,...` URL: this device's
/// copy once it was shown (so offline too), else downloaded and kept.
#[tauri::command]
pub async fn attachment_data_url(
    session: State<'_, SessionState>,
    args: AttachmentArgs,
) -> CmdResult<String> {
    let bytes = session.client()?.attachment_bytes(&args.attachment).await?;
    Ok(data_url(&args.attachment.mime, &bytes))
}

/// A data URL of some bytes; a mime with anything but `type/subtype`
/// characters becomes `application/octet-stream`.
pub fn data_url(mime: &str, bytes: &[u8]) -> String {
    let ok = !mime.is_empty()
        && mime
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/+-.".contains(c));
    let mime = if ok { mime } else { "application/octet-stream" };
    format!("data:{mime};base64,{}", super::scan::base64(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// "Save as" offers the name a save into Downloads would use.
    #[test]
    fn save_as_offers_a_safe_name() {
        let att = |name: &str| FileNameArgs {
            attachment: Attachment {
                id: "a1".into(),
                mime: "application/octet-stream".into(),
                size: 1,
                sha256: String::new(),
                name: Some(name.into()),
                width: None,
                height: None,
            },
        };
        let offered = |name: &str| attachment_file_name(att(name)).unwrap();
        assert_eq!(offered("invoice\u{202e}fdp.exe"), "invoicefdp.exe");
        assert_eq!(offered(".bashrc"), "bashrc");
        assert_eq!(offered("../../notes.txt"), "notes.txt");
        assert_eq!(offered("plain.pdf"), "plain.pdf");
    }

    #[test]
    fn data_url_encodes_and_guards_the_mime() {
        assert_eq!(data_url("image/png", b"foo"), "data:image/png;base64,Zm9v");
        assert_eq!(
            data_url("text/html;x", b"f"),
            "data:application/octet-stream;base64,Zg=="
        );
        assert_eq!(data_url("", b""), "data:application/octet-stream;base64,");
    }
}
