//! The own profile: read, edit (name, username, bio, privacy), username check.

use crate::{
    error::{CmdResult, CommandError},
    state::SessionState,
};
use parley_protocol::{validate_username, Me, UpdateMe, UsernameAvailability};
use serde::Deserialize;
use tauri::State;

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct AvatarFileArgs {
    /// Path of an image file (PNG, JPEG, WebP or GIF).
    pub path: String,
}

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct AvatarUrlArgs {
    /// A user's `avatar_url` (a path on the server, with its version query).
    pub url: String,
}

/// Sets my avatar from an image file.
#[tauri::command]
pub async fn set_avatar(session: State<'_, SessionState>, args: AvatarFileArgs) -> CmdResult<Me> {
    let path = std::path::PathBuf::from(args.path.trim());
    Ok(session.client()?.set_avatar(&path).await?)
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
}
