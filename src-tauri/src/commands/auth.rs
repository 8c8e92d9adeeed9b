//! Sign-in with a one-time code, session restore at start, sign-out, and
//! deleting the account.

use crate::{
    error::{CmdResult, CommandError},
    state::{EventsState, ProfileState, SessionState},
};
use parley_client::{cache, Client, ClientError};
use parley_protocol::{OtpRequested, User};
use serde::{Deserialize, Serialize};
use tauri::{AppHandle, State};

/// The server used when none was remembered and `PARLEY_SERVER` is unset.
const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

/// What the sign-in form starts with.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct SignInDefaults {
    /// The last server signed in to, else `PARLEY_SERVER`, else the local one.
    pub server: String,
}

/// The signed-in account, as the shell needs it.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct SessionInfo {
    pub user: User,
    pub server: String,
    /// True for a new account or one without a username: show onboarding.
    pub needs_onboarding: bool,
}

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct RequestCodeArgs {
    pub server: String,
    /// An email address or a phone number.
    pub identifier: String,
}

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct VerifyCodeArgs {
    pub server: String,
    pub identifier: String,
    pub code: String,
}

pub(crate) fn normalise_server(server: &str) -> CmdResult<String> {
    let s = server.trim().trim_end_matches('/');
    if s.is_empty() {
        return Err(CommandError::new(
            "invalid_server",
            "Enter the server address",
        ));
    }
    let s = if s.contains("://") {
        s.to_owned()
    } else {
        format!("http://{s}")
    };
    if !(s.starts_with("http://") || s.starts_with("https://")) {
        return Err(CommandError::new(
            "invalid_server",
            "The server address must start with http:// or https://",
        ));
    }
    Ok(s)
}

/// This computer's name for the device list, e.g. "Parley desktop (linux)".
pub(crate) fn device_name() -> String {
    let host = std::env::var("HOSTNAME")
        .or_else(|_| std::env::var("COMPUTERNAME"))
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty());
    let name = match host {
        Some(h) => format!("Parley desktop on {h}"),
        None => format!("Parley desktop ({})", std::env::consts::OS),
    };
    name.chars().take(64).collect()
}

#[tauri::command]
pub fn sign_in_defaults(profile: State<'_, ProfileState>) -> SignInDefaults {
    let server = profile
        .last_server()
        .or_else(|| std::env::var("PARLEY_SERVER").ok())
        .unwrap_or_else(|| DEFAULT_SERVER.to_owned());
    SignInDefaults { server }
}

pub(crate) async fn session_info(client: &Client, new_user: bool) -> CmdResult<SessionInfo> {
    let user = match client.me().await {
        Ok(me) => me.user,
        // Offline: the account as cached at sign-in or by the last event.
        Err(e) if e.is_transient() => cached_user(client).await?.ok_or(CommandError::from(e))?,
        Err(e) => return Err(e.into()),
    };
    Ok(describe(client, user, new_user))
}

/// The account as cached at sign-in or by the last event, if it is.
async fn cached_user(client: &Client) -> CmdResult<Option<User>> {
    let Some(json) = client.cache().run(|c| cache::get_kv(c, "me_user")).await? else {
        return Ok(None);
    };
    serde_json::from_str(&json)
        .map(Some)
        .map_err(|e| CommandError::new("local", e.to_string()))
}

fn describe(client: &Client, user: User, new_user: bool) -> SessionInfo {
    SessionInfo {
        needs_onboarding: new_user || user.username.is_none(),
        server: client.server().to_owned(),
        user,
    }
}

/// Describes a freshly signed-in client for the window and starts its
/// realtime loop (every way of signing in ends here).
pub(crate) async fn go_online(
    client: Client,
    new_user: bool,
    session: &SessionState,
    events: &EventsState,
    app: AppHandle,
) -> CmdResult<SessionInfo> {
    let info = session_info(&client, new_user).await?;
    session.start(client, events, app);
    Ok(info)
}

/// Opens the session stored in the profile, if any, and goes online.
#[tauri::command]
pub async fn restore_session(
    app: AppHandle,
    profile: State<'_, ProfileState>,
    session: State<'_, SessionState>,
    events: State<'_, EventsState>,
) -> CmdResult<Option<SessionInfo>> {
    if let Ok(client) = session.client() {
        return session_info(&client, false).await.map(Some);
    }
    let client = match Client::open(profile.profile.clone()).await {
        Ok(c) => c,
        Err(ClientError::NotSignedIn) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    // At start the window opens on the account as cached, without waiting
    // for the server (a server that does not answer would hold "Opening…"
    // up to a minute); the realtime loop brings what changed, and signs out
    // if the session ended meanwhile.
    let info = match cached_user(&client).await {
        Ok(Some(user)) => describe(&client, user, false),
        _ => match session_info(&client, false).await {
            Ok(info) => info,
            Err(e) if e.code == "signed_out" => return Ok(None),
            Err(e) => return Err(e),
        },
    };
    session.start(client, &events, app);
    Ok(Some(info))
}

/// Asks the server to send a sign-in code.
#[tauri::command]
pub async fn request_code(
    profile: State<'_, ProfileState>,
    args: RequestCodeArgs,
) -> CmdResult<OtpRequested> {
    let server = normalise_server(&args.server)?;
    let r = parley_client::request_code(&server, args.identifier.trim()).await?;
    profile.remember_server(&server).await;
    Ok(r)
}

/// Signs in with the code and goes online.
#[tauri::command]
pub async fn verify_code(
    app: AppHandle,
    profile: State<'_, ProfileState>,
    session: State<'_, SessionState>,
    events: State<'_, EventsState>,
    args: VerifyCodeArgs,
) -> CmdResult<SessionInfo> {
    let server = normalise_server(&args.server)?;
    session.stop_and_close().await;
    let (client, new_user, store) = Client::login(
        profile.profile.clone(),
        &server,
        args.identifier.trim(),
        &args.code,
        &device_name(),
    )
    .await?;
    if store == parley_client::SecretStore::File {
        tracing::warn!("no OS keyring: the session is in a 0600 file in the profile directory");
    }
    go_online(client, new_user, &session, &events, app).await
}

/// How many of my messages never reached the server (queued, or refused):
/// signing out deletes them with this computer's copy of the chats.
#[tauri::command]
pub async fn unsent_count(session: State<'_, SessionState>) -> CmdResult<u64> {
    Ok(session.client()?.unsent_count().await?)
}

/// Signs this device out (on the server when reachable) and forgets the session.
#[tauri::command]
pub async fn sign_out(session: State<'_, SessionState>) -> CmdResult<()> {
    let Some(client) = session.stop() else {
        return Ok(());
    };
    match client.logout().await {
        // The local session is gone either way; the server forgets the
        // device when its refresh token expires.
        Err(e) if e.is_transient() => Ok(()),
        other => Ok(other?),
    }
}

/// Where a code to delete the account went.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct DeletionCode {
    /// My email address or phone number.
    pub sent_to: String,
    /// Seconds the code stays valid.
    pub expires_in: u64,
}

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct DeleteAccountArgs {
    pub code: String,
}

/// Sends a sign-in code to my own address or number: deleting the account
/// asks for it.
#[tauri::command]
pub async fn ask_deletion_code(session: State<'_, SessionState>) -> CmdResult<DeletionCode> {
    let (sent_to, sent) = session.client()?.ask_deletion_code().await?;
    Ok(DeletionCode {
        sent_to,
        expires_in: sent.expires_in,
    })
}

/// Deletes my account for good with that code; then this device is signed
/// out, as after `sign_out`. A wrong code changes nothing.
#[tauri::command]
pub async fn delete_account(
    session: State<'_, SessionState>,
    args: DeleteAccountArgs,
) -> CmdResult<()> {
    session.client()?.delete_account(&args.code).await?;
    session.stop();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses_are_normalised() {
        assert_eq!(
            normalise_server(" 127.0.0.1:8080/ ").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            normalise_server("https://chat.example.org").unwrap(),
            "https://chat.example.org"
        );
        assert_eq!(normalise_server("").unwrap_err().code, "invalid_server");
        assert_eq!(
            normalise_server("ftp://x").unwrap_err().code,
            "invalid_server"
        );
    }

    #[test]
    fn device_names_fit_the_limit() {
        let n = device_name();
        assert!(!n.is_empty() && n.chars().count() <= 64);
    }
}
