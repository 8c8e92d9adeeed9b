//! Deleting one's own account (`DELETE /v1/me`).

use super::{auth, connections, events::Emitted, Caller};
use crate::{
    error::{Error, Result},
    state::AppState,
    store::{self, now_ms},
};
use parley_protocol::{close, limits, Event, RequestStatus, DELETED_ACCOUNT_NAME};
use std::net::IpAddr;

/// Refuses a change by `user_id` once their account is disabled or deleted.
/// The caller was checked when the request came in, but a request already
/// past that check when the account was deleted must not write after the
/// erase (a username taken back, a photo, a live contact code).
pub fn ensure_live(conn: &rusqlite::Connection, user_id: &str) -> Result<()> {
    match store::users::by_id(conn, user_id)? {
        Some(u) if !u.disabled => Ok(()),
        _ => Err(Error::unauthorized(
            "account_disabled",
            "this account is disabled or deleted",
        )),
    }
}

/// Refuses a change that brings a device in (approving a link, making an
/// invite) from a device signed out, or an account disabled, since the
/// request was authenticated: a stolen device revoked by its owner must not
/// leave another one behind.
pub fn ensure_device_live(conn: &rusqlite::Connection, caller: &super::Caller) -> Result<()> {
    match store::auth::device_state(conn, &caller.device_id)? {
        Some(d) if !d.revoked && !d.user_disabled && !d.user_deleted => Ok(()),
        _ => Err(Error::unauthorized(
            "unauthorized",
            "this device was signed out",
        )),
    }
}

/// Deletes the caller's account, for good, once `code` (a sign-in code
/// asked for their own identifier) checks out; see
/// [`parley_protocol::DeleteAccount`] for what goes. One writer job: either
/// all of it happens or none. Sockets of the account are closed after it.
pub async fn delete(state: &AppState, caller: &Caller, code: &str, ip: IpAddr) -> Result<()> {
    // Code guesses count against the same per-IP budget as sign-ins.
    state.auth_limiter.check(ip)?;
    if code.len() != limits::OTP_DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::unprocessable(
            "invalid_field",
            format!("code: must be {} digits", limits::OTP_DIGITS),
        ));
    }
    let (uid, code) = (caller.user_id.clone(), code.to_owned());
    let keys = state.keys.clone();
    let resend_ms = (state.config.otp_resend_interval * 1000) as i64;
    let now = now_ms();
    let refused = super::events::write(state, move |conn| -> Result<Outcome> {
        let me = store::users::by_id(conn, &uid)?
            .ok_or_else(|| Error::unauthorized("unauthorized", "account not found"))?;
        let presented = keys.otp_hash(&me.identifier, &code);
        let check = auth::check_code(conn, &me.identifier, &presented, now, resend_ms)?;
        if check.error().is_some() {
            return Ok(Outcome::Refused(check));
        }
        let mut emitted = Emitted::default();
        let mut peers = Vec::new();
        store::users::erase(conn, &uid, DELETED_ACCOUNT_NAME, now)?;
        let erased = store::users::by_id(conn, &uid)?
            .ok_or_else(|| Error::internal("erased user vanished"))?;
        // Those I chatted with see the erased profile in their chat, and I
        // am no longer among their contacts.
        for (peer, _) in store::contacts::connections_of(conn, &uid)? {
            store::contacts::disconnect(conn, &uid, &peer)?;
            let user = connections::limited(&erased);
            emitted.emit(conn, &peer, &Event::ProfileUpdated { user }, now)?;
            connections::tell_removed(conn, &mut emitted, &peer, &uid, now)?;
            peers.push(peer);
        }
        // Pending requests either way are declined, and the other side's
        // lists drop them (nobody can accept a request from a deleted account).
        for incoming in [true, false] {
            for row in store::contacts::pending_for(conn, &uid, incoming, now)? {
                store::contacts::resolve_request(
                    conn,
                    &row.id,
                    RequestStatus::Declined.as_str(),
                    now,
                )?;
                let row = store::contacts::request_by_id(conn, &row.id)?
                    .ok_or_else(|| Error::internal("declined request vanished"))?;
                let other = if incoming {
                    &row.from_user
                } else {
                    &row.to_user
                };
                let request = connections::request_view(conn, &row)?;
                emitted.emit(conn, other, &Event::ConnectionRequested { request }, now)?;
            }
        }
        Ok(Outcome::Deleted { emitted, peers })
    })
    .await?;
    let peers = match refused {
        Outcome::Refused(check) => return Err(refusal(&check)),
        Outcome::Deleted { peers, .. } => peers,
    };
    // Those who saw me online stop seeing me so (they are no longer my
    // contacts, so my sockets closing below tells them nothing).
    super::presence::gone(state, &caller.user_id, &peers);
    state.hub.close_user(&caller.user_id, close::TOKEN_INVALID);
    tracing::info!(user_id = %caller.user_id, "account deleted by its owner");
    Ok(())
}

/// The job's answer: a refused code must still commit its attempt count,
/// so it is an outcome, not an error (a failing job rolls back).
enum Outcome {
    Refused(auth::CodeCheck),
    /// Done; `peers` were my contacts.
    Deleted {
        emitted: Emitted,
        peers: Vec<String>,
    },
}

impl super::events::Emits for Outcome {
    fn emitted(&self) -> Option<&Emitted> {
        match self {
            Outcome::Deleted { emitted, .. } => Some(emitted),
            Outcome::Refused(_) => None,
        }
    }
}

/// A wrong, expired or burnt code: as a sign-in answers it, but 403 where
/// sign-in says 401. The caller's token is fine, and a client that took a
/// 401 for an expired token would refresh and present the code again,
/// spending two attempts per typo.
fn refusal(check: &auth::CodeCheck) -> Error {
    match check.error() {
        Some(Error::Unauthorized { code, detail }) => Error::Forbidden { code, detail },
        Some(other) => other,
        None => Error::internal("a right code refused"),
    }
}
