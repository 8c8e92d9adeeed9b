//! Contacts: my contact code (as a QR rendered here), adding a contact by a
//! pasted link, a typed code or an image file, pending requests, removal.

use crate::{
    error::{CmdResult, CommandError},
    state::SessionState,
};
use parley_client::qr::QrMatrix;
use parley_protocol::{Connection, ConnectionRequest, ContactCode, Direction};
use serde::{Deserialize, Serialize};
use tauri::State;

/// My contact code and its QR, ready to show.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct MyCode {
    pub code: ContactCode,
    /// The QR of `code.uri` as a standalone SVG (dark modules on white, with
    /// the quiet zone), scalable to any size without blur.
    pub svg: String,
}

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct AddContactArgs {
    /// A `parley://contact` link, the full code or the short `XXXXX-XXXXX`.
    pub code: String,
}

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct ImageArgs {
    /// A path to a PNG/JPEG/WebP image containing a Parley QR code.
    pub path: String,
    /// The kind of code wanted (contact when `null`).
    pub kind: Option<super::scan::ScanKind>,
}

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct RequestsArgs {
    pub direction: Direction,
}

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct RequestArgs {
    pub request_id: String,
}

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct UserArgs {
    pub user_id: String,
}

/// The QR of a text as SVG.
pub fn qr_svg(text: &str) -> CmdResult<String> {
    Ok(QrMatrix::encode(text)
        .map_err(|e| CommandError::new("local", format!("cannot draw the QR code: {e}")))?
        .to_svg())
}

/// A new contact code (the server revokes the previous one) and its QR.
#[tauri::command]
pub async fn my_code(session: State<'_, SessionState>) -> CmdResult<MyCode> {
    let code = session.client()?.contact_code().await?;
    let svg = qr_svg(&code.uri)?;
    Ok(MyCode { code, svg })
}

/// Sends a connection request with a link or a code. The server creates the
/// request on this call; the answer names who it went to.
#[tauri::command]
pub async fn add_contact(
    session: State<'_, SessionState>,
    args: AddContactArgs,
) -> CmdResult<ConnectionRequest> {
    let code = args.code.trim();
    if code.is_empty() {
        return Err(CommandError::new("invalid", "Paste a link or type a code"));
    }
    Ok(session.client()?.request_connection(code).await?)
}

/// Reads a QR of `kind` from an image file (decoded here, not in the UI) and
/// returns its link, to confirm before acting on it.
#[tauri::command]
pub async fn decode_image_file(args: ImageArgs) -> CmdResult<String> {
    let path = std::path::PathBuf::from(args.path.trim());
    let kind = args.kind.unwrap_or_default();
    tauri::async_runtime::spawn_blocking(move || super::scan::code_in_image(&path, kind))
        .await
        .map_err(|e| CommandError::new("local", e.to_string()))?
}

/// Pending requests in one direction.
#[tauri::command]
pub async fn list_requests(
    session: State<'_, SessionState>,
    args: RequestsArgs,
) -> CmdResult<Vec<ConnectionRequest>> {
    Ok(session.client()?.requests(args.direction).await?)
}

#[tauri::command]
pub async fn accept_request(
    session: State<'_, SessionState>,
    args: RequestArgs,
) -> CmdResult<Connection> {
    Ok(session.client()?.accept(&args.request_id).await?)
}

#[tauri::command]
pub async fn decline_request(session: State<'_, SessionState>, args: RequestArgs) -> CmdResult<()> {
    Ok(session.client()?.decline(&args.request_id).await?)
}

#[tauri::command]
pub async fn remove_contact(session: State<'_, SessionState>, args: UserArgs) -> CmdResult<()> {
    Ok(session.client()?.remove_contact(&args.user_id).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_svg_decodes_back_to_the_link() {
        let uri =
            "parley://contact?server=https%3A%2F%2Fchat.example&code=ABCDEFGHJKMNPQRSTVWXYZ0123";
        let svg = qr_svg(uri).unwrap();
        assert!(svg.starts_with("<svg") || svg.starts_with("<?xml"));
        let png = QrMatrix::encode(uri).unwrap().to_png(8).unwrap();
        let dir = std::env::temp_dir().join(format!("parley-desktop-qr-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("code.png");
        std::fs::write(&path, png).unwrap();
        use super::super::scan::{code_in_image, ScanKind};
        let found = code_in_image(&path, ScanKind::Contact).unwrap();
        let wrong = code_in_image(&path, ScanKind::Link).unwrap_err();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(wrong.code, "wrong_kind");
        assert!(found.starts_with("parley://contact?"), "{found}");
        assert!(found.contains("ABCDEFGHJKMNPQRSTVWXYZ0123"), "{found}");
    }

    #[test]
    fn an_image_without_a_code_is_invalid() {
        let e = super::super::scan::code_in_image(
            std::path::Path::new("/nonexistent/x.png"),
            super::super::scan::ScanKind::Contact,
        )
        .unwrap_err();
        assert_eq!(e.code, "invalid");
    }
}
