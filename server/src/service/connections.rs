//! Contacts by QR: contact codes, connection requests and connections.

use super::{events::Emitted, Caller};
use crate::{
    error::{Error, Result},
    keys::token_hash,
    state::AppState,
    store::{self, contacts::RequestRow, ms_to_ts, now_ms, users::UserRow},
    tokens,
};
use parley_protocol::{
    group_short_code, limits,
    qr::{normalize_base32, ContactQr, QrPayload},
    Connection, ConnectionRequest, ContactCode, Direction, Event, RequestStatus, User,
};
use rusqlite::Connection as Db;

/// Contact codes carry 160 bits (32 base32 characters).
const CODE_BYTES: usize = 20;
/// Resolved requests are kept this long (for idempotent retries), then deleted.
const FORGET_RESOLVED_MS: i64 = 30 * 24 * 3600 * 1000;

/// What was typed or scanned.
enum CodeInput {
    Full(String),
    Short(String),
}

fn parse_code_input(raw: &str) -> Result<CodeInput> {
    let raw = raw.trim();
    if raw.len() > parley_protocol::qr::MAX_URI_LEN {
        return Err(Error::unprocessable("invalid_field", "code: too long"));
    }
    if raw.to_ascii_lowercase().starts_with("parley://") {
        let qr: ContactQr = raw
            .parse()
            .map_err(|e| Error::unprocessable("invalid_field", format!("code: {e}")))?;
        return Ok(CodeInput::Full(qr.code));
    }
    let norm = normalize_base32(raw).ok_or_else(|| {
        Error::unprocessable(
            "invalid_field",
            "code: not a contact code (letters and digits only)",
        )
    })?;
    match norm.len() {
        limits::SHORT_CODE_LEN => Ok(CodeInput::Short(norm)),
        n if n >= parley_protocol::qr::MIN_SECRET_CHARS => Ok(CodeInput::Full(norm)),
        _ => Err(Error::unprocessable(
            "invalid_field",
            "code: a contact code is a parley:// link, a long code, or 10 characters XXXXX-XXXXX",
        )),
    }
}

/// The profile shown before a connection exists: display name and avatar only.
pub fn limited(u: &UserRow) -> User {
    let full = u.to_user();
    User {
        username: None,
        bio: String::new(),
        status_text: String::new(),
        ..full
    }
}

pub(super) fn request_view(conn: &Db, row: &RequestRow) -> Result<ConnectionRequest> {
    let from = store::users::by_id(conn, &row.from_user)?
        .ok_or_else(|| Error::internal("request without sender"))?;
    let to = store::users::by_id(conn, &row.to_user)?
        .ok_or_else(|| Error::internal("request without owner"))?;
    Ok(ConnectionRequest {
        id: row.id.clone(),
        from: limited(&from),
        to: limited(&to),
        status: RequestStatus::from_str_lossy(&row.status),
        created_at: ms_to_ts(row.created_at),
        expires_at: ms_to_ts(row.expires_at),
    })
}

/// `viewer`'s view of contact `peer`: presence respects `last_seen_visible`.
pub fn connection_view(
    state: &AppState,
    conn: &Db,
    peer: &UserRow,
    created_at: i64,
) -> Result<Connection> {
    let visible = peer.settings.last_seen_visible;
    let last_seen = if visible {
        store::contacts::last_seen(conn, &peer.id)?.map(ms_to_ts)
    } else {
        None
    };
    Ok(Connection {
        user: peer.to_user(),
        created_at: ms_to_ts(created_at),
        online: visible && state.hub.is_online(&peer.id),
        last_seen_at: last_seen,
    })
}

/// `POST /v1/contact-codes`.
pub async fn create_code(state: &AppState, caller: &Caller) -> Result<ContactCode> {
    state.code_limiter.check(caller.user_id.clone())?;
    let code = tokens::random_secret(CODE_BYTES);
    let short = tokens::random_secret(8)[..limits::SHORT_CODE_LEN].to_owned();
    let (code_hash, short_hash) = (token_hash(&code), token_hash(&short));
    let now = now_ms();
    let expires_at = now + (state.config.contact_code_ttl * 1000) as i64;
    let uid = caller.user_id.clone();
    state
        .store
        .write(move |conn| {
            super::account::ensure_live(conn, &uid)?;
            store::contacts::replace_code(
                conn,
                &tokens::new_id(),
                &uid,
                &code_hash,
                &short_hash,
                now,
                expires_at,
            )
            .map_err(Error::from)
        })
        .await?;
    let uri = QrPayload::Contact(ContactQr {
        server: state.public_base(),
        code: code.clone(),
    })
    .to_string();
    Ok(ContactCode {
        code,
        uri,
        short_code: group_short_code(&short),
        expires_at: ms_to_ts(expires_at),
    })
}

enum Scanned {
    Created(ConnectionRequest),
    Existing(ConnectionRequest),
}

/// `POST /v1/connection-requests`: the scanner asks the code's owner to connect.
/// Returns the request and whether it was created now (201) or already pending
/// (200).
pub async fn request(
    state: &AppState,
    caller: &Caller,
    raw: &str,
) -> Result<(ConnectionRequest, bool)> {
    let input = parse_code_input(raw)?;
    if matches!(input, CodeInput::Short(_)) {
        state
            .short_code_limiter
            .check(caller.user_id.clone())
            .map_err(|e| match e {
                Error::TooManyRequests { retry_after, .. } => Error::TooManyRequests {
                    code: "rate_limited",
                    detail: "too many typed codes; wait, or scan the QR code instead".into(),
                    retry_after,
                },
                other => other,
            })?;
    }
    let uid = caller.user_id.clone();
    let now = now_ms();
    let ttl = (limits::CONNECTION_REQUEST_TTL_SECS * 1000) as i64;
    let (scanned, _) = super::events::write(state, move |conn| -> Result<(Scanned, Emitted)> {
        // Checked at the request's start, but an account deleted while this
        // waited for the writer must not leave a request behind it.
        super::account::ensure_live(conn, &uid)?;
        let code = match &input {
            CodeInput::Full(c) => store::contacts::code_by_hash(conn, &token_hash(c))?,
            CodeInput::Short(s) => {
                store::contacts::live_code_by_short(conn, &token_hash(s), &uid, now)?
            }
        };
        let not_found =
            || Error::not_found("code_not_found", "this code is unknown or no longer valid");
        let code = code.ok_or_else(not_found)?;
        if code.user_id == uid {
            return Err(Error::unprocessable("own_code", "this is your own code"));
        }
        // A code of an account disabled or deleted since leads nowhere.
        if code.revoked || super::account::ensure_live(conn, &code.user_id).is_err() {
            return Err(not_found());
        }
        if let Some(by) = &code.consumed_by {
            // Only the scanner who consumed it may repeat the request: the
            // same answer as its first time (or, accepted meanwhile, 409).
            if *by == uid {
                if store::contacts::are_connected(conn, &uid, &code.user_id)? {
                    return Err(Error::conflict(
                        "already_connected",
                        "you are already connected",
                    ));
                }
                if let Some(row) = store::contacts::pending_between(conn, &uid, &code.user_id, now)?
                {
                    return Ok((
                        Scanned::Existing(request_view(conn, &row)?),
                        Emitted::default(),
                    ));
                }
            }
            return Err(not_found());
        }
        if now >= code.expires_at {
            return Err(Error::Gone {
                code: "code_expired",
                detail: "this code has expired; ask for a fresh one".into(),
            });
        }
        if store::contacts::are_connected(conn, &uid, &code.user_id)? {
            return Err(Error::conflict(
                "already_connected",
                "you are already connected",
            ));
        }
        let mut emitted = Emitted::default();
        let request_id = match store::contacts::pending_between(conn, &uid, &code.user_id, now)? {
            Some(row) => {
                store::contacts::consume_code(conn, &code.id, &uid, now)?;
                emitted.emit(
                    conn,
                    &code.user_id,
                    &Event::ContactCodeConsumed {
                        request_id: row.id.clone(),
                    },
                    now,
                )?;
                return Ok((Scanned::Existing(request_view(conn, &row)?), emitted));
            }
            None => tokens::new_id(),
        };
        store::contacts::insert_request(conn, &request_id, &uid, &code.user_id, now, now + ttl)?;
        store::contacts::consume_code(conn, &code.id, &uid, now)?;
        let row = store::contacts::request_by_id(conn, &request_id)?
            .ok_or_else(|| Error::internal("inserted request vanished"))?;
        let view = request_view(conn, &row)?;
        let ev = Event::ConnectionRequested {
            request: view.clone(),
        };
        emitted.emit(conn, &code.user_id, &ev, now)?;
        emitted.emit(conn, &uid, &ev, now)?;
        emitted.emit(
            conn,
            &code.user_id,
            &Event::ContactCodeConsumed { request_id },
            now,
        )?;
        Ok((Scanned::Created(view), emitted))
    })
    .await?;
    Ok(match scanned {
        Scanned::Created(r) => (r, true),
        Scanned::Existing(r) => (r, false),
    })
}

/// `GET /v1/connection-requests?direction=`.
pub async fn list_requests(
    state: &AppState,
    caller: &Caller,
    direction: Direction,
) -> Result<Vec<ConnectionRequest>> {
    let uid = caller.user_id.clone();
    let now = now_ms();
    state
        .store
        .read(move |conn| {
            store::contacts::pending_for(conn, &uid, direction == Direction::Incoming, now)?
                .iter()
                .map(|r| request_view(conn, r))
                .collect()
        })
        .await
}

/// Loads a pending request addressed to `uid`, or the right error.
fn pending_to(conn: &Db, id: &str, uid: &str, now: i64) -> Result<RequestRow> {
    let row = store::contacts::request_by_id(conn, id)?
        .filter(|r| r.to_user == uid && r.status == "pending")
        .ok_or_else(|| Error::not_found("request_not_found", "no such pending request"))?;
    if now >= row.expires_at {
        return Err(Error::Gone {
            code: "request_expired",
            detail: "this request has expired".into(),
        });
    }
    Ok(row)
}

/// `POST /v1/connection-requests/{id}/accept`.
pub async fn accept(state: &AppState, caller: &Caller, id: &str) -> Result<Connection> {
    let (uid, id) = (caller.user_id.clone(), id.to_owned());
    let now = now_ms();
    let st = state.clone();
    let (connection, _) =
        super::events::write(state, move |conn| -> Result<(Connection, Emitted)> {
            super::account::ensure_live(conn, &uid)?;
            let row = pending_to(conn, &id, &uid, now)?;
            // From an account disabled (or deleted) since it was sent: it
            // leads nowhere, as that account's contact codes do.
            if super::account::ensure_live(conn, &row.from_user).is_err() {
                return Err(Error::not_found(
                    "request_not_found",
                    "no such pending request",
                ));
            }
            store::contacts::resolve_request(conn, &row.id, RequestStatus::Accepted.as_str(), now)?;
            store::contacts::connect(conn, &row.from_user, &row.to_user, now)?;
            let me = store::users::by_id(conn, &uid)?
                .ok_or_else(|| Error::internal("caller vanished"))?;
            let them = store::users::by_id(conn, &row.from_user)?
                .ok_or_else(|| Error::internal("peer vanished"))?;
            let mine = connection_view(&st, conn, &them, now)?;
            let theirs = connection_view(&st, conn, &me, now)?;
            let mut emitted = Emitted::default();
            emitted.emit(
                conn,
                &uid,
                &Event::ConnectionCreated {
                    connection: mine.clone(),
                },
                now,
            )?;
            emitted.emit(
                conn,
                &them.id,
                &Event::ConnectionCreated { connection: theirs },
                now,
            )?;
            Ok((mine, emitted))
        })
        .await?;
    Ok(connection)
}

/// `POST /v1/connection-requests/{id}/decline`.
pub async fn decline(state: &AppState, caller: &Caller, id: &str) -> Result<()> {
    let (uid, id) = (caller.user_id.clone(), id.to_owned());
    let now = now_ms();
    super::events::write(state, move |conn| -> Result<Emitted> {
        let row = pending_to(conn, &id, &uid, now)?;
        store::contacts::resolve_request(conn, &row.id, RequestStatus::Declined.as_str(), now)?;
        // My other devices stop offering Accept: the request as it is now
        // (declined) reaches my log. The sender is not told.
        let row = store::contacts::request_by_id(conn, &row.id)?
            .ok_or_else(|| Error::internal("declined request vanished"))?;
        let mut emitted = Emitted::default();
        emitted.emit(
            conn,
            &uid,
            &Event::ConnectionRequested {
                request: request_view(conn, &row)?,
            },
            now,
        )?;
        Ok(emitted)
    })
    .await?;
    Ok(())
}

/// `GET /v1/connections`.
pub async fn list(state: &AppState, caller: &Caller) -> Result<Vec<Connection>> {
    let uid = caller.user_id.clone();
    let st = state.clone();
    state
        .store
        .read(move |conn| {
            let mut out = Vec::new();
            for (peer, at) in store::contacts::connections_of(conn, &uid)? {
                if let Some(u) = store::users::by_id(conn, &peer)? {
                    out.push(connection_view(&st, conn, &u, at)?);
                }
            }
            Ok(out)
        })
        .await
}

/// `DELETE /v1/connections/{user_id}`.
pub async fn remove(state: &AppState, caller: &Caller, peer: &str) -> Result<()> {
    let (uid, peer) = (caller.user_id.clone(), peer.to_owned());
    let now = now_ms();
    super::events::write(state, move |conn| -> Result<Emitted> {
        if !store::contacts::disconnect(conn, &uid, &peer)? {
            return Err(Error::not_found(
                "not_connected",
                "you are not connected to this user",
            ));
        }
        let mut emitted = Emitted::default();
        tell_removed(conn, &mut emitted, &uid, &peer, now)?;
        tell_removed(conn, &mut emitted, &peer, &uid, now)?;
        Ok(emitted)
    })
    .await?;
    Ok(())
}

/// Appends `connection.removed` (`removed` is no longer a contact) to `to`'s log.
pub(super) fn tell_removed(
    conn: &Db,
    emitted: &mut Emitted,
    to: &str,
    removed: &str,
    now: i64,
) -> Result<()> {
    emitted.emit(
        conn,
        to,
        &Event::ConnectionRemoved {
            user_id: removed.to_owned().into(),
        },
        now,
    )?;
    Ok(())
}

/// Expires old requests and deletes dead codes. Called by the janitor.
pub async fn purge_expired(state: &AppState) -> Result<usize> {
    let now = now_ms();
    state
        .store
        .write(move |conn| {
            let a = store::contacts::expire_requests(conn, now, now - FORGET_RESOLVED_MS)?;
            // Keep expired codes a day so late scanners get 410, not 404.
            let b = store::contacts::delete_expired_codes(conn, now - 24 * 3600 * 1000)?;
            Ok(a + b)
        })
        .await
}
