//! The own profile: read, edit (name, username, bio, privacy), username check.

use crate::{
    error::{CmdResult, CommandError},
    state::SessionState,
};
use parley_protocol::{validate_username, Me, UpdateMe, UsernameAvailability};
use serde::Deserialize;
use tauri::State;

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
