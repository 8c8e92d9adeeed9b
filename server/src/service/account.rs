//! Deleting one's own account (`DELETE /v1/me`).

use super::{auth, connections, events::Emitted, Caller};
use crate::{
    error::{Error, Result},
    state::AppState,
    store::{self, now_ms},
};
use parley_protocol::{close, limits, Event, RequestStatus, DELETED_ACCOUNT_NAME};

/// Deletes the caller's account, for good, once `code` (a sign-in code
/// asked for their own identifier) checks out; see
/// [`parley_protocol::DeleteAccount`] for what goes. One writer job: either
/// all of it happens or none. Sockets of the account are closed after it.
pub async fn delete(state: &AppState, caller: &Caller, code: &str) -> Result<()> {
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
        store::users::erase(conn, &uid, DELETED_ACCOUNT_NAME, now)?;
        let erased = store::users::by_id(conn, &uid)?
            .ok_or_else(|| Error::internal("erased user vanished"))?;
        // Those I chatted with see the erased profile in their chat, and I
        // am no longer among their contacts.
        for (peer, _) in store::contacts::connections_of(conn, &uid)? {
            store::contacts::disconnect(conn, &uid, &peer)?;
            let user = connections::limited(&erased);
            emitted.emit(conn, &peer, &Event::ProfileUpdated { user }, now)?;
            emitted.emit(
                conn,
                &peer,
                &Event::ConnectionRemoved {
                    user_id: uid.clone().into(),
                },
                now,
            )?;
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
        Ok(Outcome::Deleted(emitted))
    })
    .await?;
    if let Outcome::Refused(check) = refused {
        return Err(check
            .error()
            .unwrap_or_else(|| Error::internal("a right code refused")));
    }
    state.hub.close_user(&caller.user_id, close::TOKEN_INVALID);
    tracing::info!(user_id = %caller.user_id, "account deleted by its owner");
    Ok(())
}

/// The job's answer: a refused code must still commit its attempt count,
/// so it is an outcome, not an error (a failing job rolls back).
enum Outcome {
    Refused(auth::CodeCheck),
    Deleted(Emitted),
}

impl super::events::Emits for Outcome {
    fn emitted(&self) -> Option<&Emitted> {
        match self {
            Outcome::Deleted(emitted) => Some(emitted),
            Outcome::Refused(_) => None,
        }
    }
}
