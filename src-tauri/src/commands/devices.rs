//! Devices: the list of this account's devices and revocation, and linking
//! a new device both ways (a link QR shown by the signed-out device and
//! approved here, or an invite QR shown here and redeemed by the new one).

use crate::{
    commands::{
        auth::{device_name, go_online, normalise_server, SessionInfo},
        contacts::qr_svg,
    },
    error::{CmdResult, CommandError},
    state::{EventsState, ProfileState, SessionState},
};
use chrono::{DateTime, Utc};
use parley_client::{client::PlatformExt, Client, ClientError};
use parley_protocol::qr::{DeviceInviteQr, DeviceLinkQr, QrPayload};
use parley_protocol::{Device, DeviceInvite, DeviceLink, DeviceLinkInfo, Platform};
use serde::{Deserialize, Serialize};
use std::sync::Mutex;
use tauri::{AppHandle, State};
use tokio::sync::watch;

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct DeviceArgs {
    pub device_id: String,
}

/// What revoking did.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct Revoked {
    /// True when the revoked device was this one: it is now signed out.
    pub signed_out: bool,
}

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct StartLinkArgs {
    pub server: String,
}

/// A link QR for this signed-out device, to show until it is approved.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct LinkCode {
    pub link_id: String,
    pub uri: String,
    /// Two digits the approving device must show too.
    pub check_code: String,
    pub expires_at: DateTime<Utc>,
    /// The QR of `uri` as a standalone SVG.
    pub svg: String,
}

/// How waiting for approval ended.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum LinkWait {
    /// Approved: signed in, continue like a normal sign-in.
    Approved { session: SessionInfo },
    /// The code expired before approval: start a new one.
    Expired,
    /// The screen closed (`cancel_link`) or another link replaced this one.
    Cancelled,
}

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct LinkUriArgs {
    /// A `parley://link` URI (from the new device's screen).
    pub uri: String,
}

/// Which link to wait for or to cancel (as `start_link` returned it): a late
/// call from a closed screen does not touch a newer link.
#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct LinkIdArgs {
    pub link_id: String,
}

/// An invite for a new device: its QR and code.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct InviteCode {
    pub invite: DeviceInvite,
    pub svg: String,
}

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct JoinArgs {
    /// The server, used when `code` is a bare invite code.
    pub server: String,
    /// A `parley://join` URI or the invite code.
    pub code: String,
}

/// The pending link of the signed-out device: its secret never leaves Rust.
#[derive(Default)]
pub struct LinkingState {
    pending: Mutex<Option<(String, DeviceLink)>>,
    /// Links asked for so far: a `start_link` answered after a newer one
    /// was asked for (a screen closed and opened again on a slow network)
    /// must not replace that one as the pending link.
    started: std::sync::atomic::AtomicU64,
    /// Bumped to cancel a waiting `wait_link`.
    cancel: Mutex<Option<watch::Sender<u64>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl LinkingState {
    /// Cancels the pending link if it is `link_id`.
    fn cancel(&self, link_id: &str) {
        let pending = lock(&self.pending).as_ref().map(|(_, l)| l.link_id.clone());
        if pending.as_deref() == Some(link_id) {
            self.cancel_all();
        }
    }

    fn cancel_all(&self) {
        if let Some(tx) = lock(&self.cancel).take() {
            tx.send_modify(|n| *n += 1);
        }
        *lock(&self.pending) = None;
    }
}

/// Parses a `parley://link` URI (whitespace and a pasted line break allowed).
pub fn parse_link(uri: &str) -> CmdResult<DeviceLinkQr> {
    match uri.trim().parse::<QrPayload>() {
        Ok(QrPayload::DeviceLink(l)) => Ok(l),
        Ok(p) => Err(CommandError::new(
            "invalid",
            format!("This is a Parley {} code, not a device link code", p.kind()),
        )),
        Err(e) => Err(CommandError::new("invalid", e.to_string())),
    }
}

/// The server of a `parley://join` URI, else the given server.
pub fn join_server(code: &str, server: &str) -> CmdResult<String> {
    let code = code.trim();
    if code.is_empty() {
        return Err(CommandError::new(
            "invalid",
            "Paste a link or type the code",
        ));
    }
    if code.starts_with("parley://") {
        return match code.parse::<QrPayload>() {
            Ok(QrPayload::DeviceInvite(DeviceInviteQr { server, .. })) => Ok(server),
            Ok(p) => Err(CommandError::new(
                "invalid",
                format!("This is a Parley {} code, not a device invite", p.kind()),
            )),
            Err(e) => Err(CommandError::new("invalid", e.to_string())),
        };
    }
    normalise_server(server)
}

#[tauri::command]
pub async fn list_devices(session: State<'_, SessionState>) -> CmdResult<Vec<Device>> {
    Ok(session.client()?.devices().await?)
}

/// Revokes a device; revoking this one signs it out.
#[tauri::command]
pub async fn revoke_device(
    session: State<'_, SessionState>,
    args: DeviceArgs,
) -> CmdResult<Revoked> {
    let client = session.client()?;
    if args.device_id == client.device_id() {
        session.stop();
        // Signed out here whatever the server answered: `logout` forgets
        // the session locally either way, and a window left on the signed-in
        // screens would fail every call after.
        if let Err(e) = client.logout().await {
            tracing::warn!(error = %e, "the server was not told of this sign-out");
        }
        return Ok(Revoked { signed_out: true });
    }
    client.revoke_device(&args.device_id).await?;
    Ok(Revoked { signed_out: false })
}

/// Creates a link QR for this signed-out device (replacing any earlier one).
#[tauri::command]
pub async fn start_link(
    profile: State<'_, ProfileState>,
    linking: State<'_, LinkingState>,
    args: StartLinkArgs,
) -> CmdResult<LinkCode> {
    let server = normalise_server(&args.server)?;
    let this = linking
        .started
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        + 1;
    linking.cancel_all();
    let link =
        parley_client::start_link(&server, &device_name(), Platform::current_or_cli()).await?;
    if linking.started.load(std::sync::atomic::Ordering::SeqCst) != this {
        return Err(CommandError::new(
            "cancelled",
            "a newer link code was asked for meanwhile",
        ));
    }
    profile.remember_server(&server).await;
    let code = LinkCode {
        link_id: link.link_id.clone(),
        uri: link.uri.clone(),
        check_code: link.check_code.clone(),
        expires_at: link.expires_at,
        svg: qr_svg(&link.uri)?,
    };
    *lock(&linking.pending) = Some((server, link));
    Ok(code)
}

/// Waits (long polls) until the pending link is approved, expires or is
/// cancelled. Approved: this device is signed in.
#[tauri::command]
pub async fn wait_link(
    app: AppHandle,
    profile: State<'_, ProfileState>,
    session: State<'_, SessionState>,
    events: State<'_, EventsState>,
    linking: State<'_, LinkingState>,
    args: LinkIdArgs,
) -> CmdResult<LinkWait> {
    let Some((server, link)) = lock(&linking.pending).clone() else {
        return Ok(LinkWait::Cancelled);
    };
    if link.link_id != args.link_id {
        return Ok(LinkWait::Cancelled);
    }
    let (tx, mut rx) = watch::channel(0u64);
    if let Some(old) = lock(&linking.cancel).replace(tx) {
        old.send_modify(|n| *n += 1);
    }
    // By this computer's clock, unless it is far off the server's (which
    // says when the link really expired).
    let left = parley_client::client::link_time_left(link.expires_at, Utc::now());
    // Signed in as whoever approves: the last session's cache is let go.
    session.stop_and_close().await;
    let finish = Client::finish_link(profile.profile.clone(), &server, &link, left, || {});
    let result = tokio::select! {
        r = finish => r,
        _ = rx.changed() => return Ok(LinkWait::Cancelled),
    };
    let client = match result {
        Ok((client, _store)) => client,
        // Timed out locally or the server says the link is gone.
        Err(ClientError::Api(p)) if p.status == 404 || p.status == 410 => {
            return Ok(LinkWait::Expired)
        }
        Err(ClientError::LinkNotApproved) => return Ok(LinkWait::Expired),
        Err(e) => return Err(e.into()),
    };
    *lock(&linking.pending) = None;
    let info = go_online(client, false, &session, &events, app).await?;
    Ok(LinkWait::Approved { session: info })
}

/// Stops waiting for a link (the screen closed).
#[tauri::command]
pub fn cancel_link(linking: State<'_, LinkingState>, args: LinkIdArgs) {
    linking.cancel(&args.link_id);
}

/// Who asks to be linked: name, platform and check code, to confirm.
#[tauri::command]
pub async fn link_info(
    session: State<'_, SessionState>,
    args: LinkUriArgs,
) -> CmdResult<DeviceLinkInfo> {
    let link = parse_link(&args.uri)?;
    Ok(session.client()?.link_info(&link).await?)
}

/// Approves a link (after the person confirmed the check code).
#[tauri::command]
pub async fn approve_link(session: State<'_, SessionState>, args: LinkUriArgs) -> CmdResult<()> {
    let link = parse_link(&args.uri)?;
    Ok(session.client()?.approve_link(&link).await?)
}

/// A new invite for a new device, with its QR.
#[tauri::command]
pub async fn invite_device(session: State<'_, SessionState>) -> CmdResult<InviteCode> {
    let invite = session.client()?.invite_device().await?;
    let svg = qr_svg(&invite.uri)?;
    Ok(InviteCode { invite, svg })
}

/// Signs this device in with an invite from another device.
#[tauri::command]
pub async fn join_device(
    app: AppHandle,
    profile: State<'_, ProfileState>,
    session: State<'_, SessionState>,
    events: State<'_, EventsState>,
    args: JoinArgs,
) -> CmdResult<SessionInfo> {
    let server = join_server(&args.code, &args.server)?;
    session.stop_and_close().await;
    let (client, _store) = Client::join(
        profile.profile.clone(),
        &server,
        args.code.trim(),
        &device_name(),
    )
    .await?;
    profile.remember_server(&server).await;
    go_online(client, false, &session, &events, app).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_uris_parse_and_other_codes_are_refused() {
        let l = parse_link(
            " parley://link?server=http%3A%2F%2Fh&id=abc&secret=0123456789ABCDEFGHJKMNPQRS \n",
        )
        .unwrap();
        assert_eq!((l.server.as_str(), l.link_id.as_str()), ("http://h", "abc"));
        assert_eq!(parse_link("hello").unwrap_err().code, "invalid");
        let contact =
            "parley://contact?server=https%3A%2F%2Fchat.example&code=ABCDEFGHJKMNPQRSTVWXYZ0123";
        let e = parse_link(contact).unwrap_err();
        assert!(e.message.contains("contact"), "{}", e.message);
    }

    #[test]
    fn closing_the_screen_cancels_only_its_own_link() {
        let state = LinkingState::default();
        let link = DeviceLink {
            link_id: "new".into(),
            secret: "s".into(),
            poll_secret: "p".into(),
            uri: "parley://link".into(),
            check_code: "42".into(),
            expires_at: Utc::now(),
        };
        *lock(&state.pending) = Some(("http://h".into(), link));
        let (tx, rx) = watch::channel(0u64);
        *lock(&state.cancel) = Some(tx);
        state.cancel("old");
        assert!(
            lock(&state.pending).is_some(),
            "a stale cancel kept the new link"
        );
        assert_eq!(*rx.borrow(), 0);
        state.cancel("new");
        assert_eq!(*rx.borrow(), 1);
        assert!(lock(&state.pending).is_none() && lock(&state.cancel).is_none());
    }

    #[test]
    fn join_takes_the_server_of_the_uri_or_the_given_one() {
        assert_eq!(
            join_server("ABCD-EFGH", "127.0.0.1:8080").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(join_server("", "x").unwrap_err().code, "invalid");
        assert_eq!(
            join_server("parley://nope", "x").unwrap_err().code,
            "invalid"
        );
    }
}
