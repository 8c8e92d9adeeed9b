//! Sign-in (OTP), tokens, refresh with rotation and reuse detection, logout.

use super::{events::Emitted, Caller};
use crate::{
    error::{Error, Result},
    otp_driver::OtpMessage,
    state::AppState,
    store::{self, now_ms},
    tokens,
};
use parley_protocol::{
    limits, validate_device_name, DeviceId, Event, Identifier, OtpRequested, OtpVerify, Platform,
    Session, Tokens,
};
use std::net::IpAddr;
use subtle::ConstantTimeEq;

/// How often a device's `last_seen_at` is refreshed by ordinary requests.
const TOUCH_INTERVAL_MS: i64 = 60_000;
/// Refresh tokens are 256-bit random secrets.
const REFRESH_TOKEN_BYTES: usize = 32;

fn parse_identifier(raw: &str) -> Result<Identifier> {
    Identifier::parse(raw)
        .map_err(|e| Error::unprocessable("invalid_identifier", format!("identifier: {e}")))
}

/// `POST /v1/auth/otp/request`. Answers the same whether or not the account
/// exists; only the rate limits can refuse.
pub async fn request_otp(
    state: &AppState,
    raw_identifier: &str,
    ip: IpAddr,
) -> Result<OtpRequested> {
    state.auth_limiter.check(ip)?;
    let identifier = parse_identifier(raw_identifier)?;
    if matches!(state.otp, crate::otp_driver::OtpDriver::Smtp { .. }) && !identifier.is_email() {
        return Err(Error::unprocessable(
            "invalid_identifier",
            "identifier: this server sends codes by email only; use an email address",
        ));
    }
    let code = tokens::random_digits(limits::OTP_DIGITS);
    let hash = state.keys.otp_hash(identifier.as_str(), &code);
    let ttl_ms = (state.config.otp_ttl * 1000) as i64;
    let resend_ms = (state.config.otp_resend_interval * 1000) as i64;
    let now = now_ms();
    let id = identifier.as_str().to_owned();
    let stored = hash.clone();
    state
        .store
        .write(move |conn| {
            if let Some(prev) = store::auth::otp_get(conn, &id)? {
                let wait = prev.created_at + resend_wait_ms(resend_ms, prev.burnt) - now;
                if wait > 0 {
                    let secs = crate::ratelimit::retry_after_secs(
                        std::time::Duration::from_millis(wait as u64),
                    );
                    return Err(Error::TooManyRequests {
                        code: "rate_limited",
                        detail: format!(
                            "a code was sent moments ago and still works; a new one can be \
                             sent in {secs} s"
                        ),
                        retry_after: secs,
                    });
                }
            }
            store::auth::otp_put(conn, &id, &stored, now, now + ttl_ms)?;
            Ok(())
        })
        .await?;
    let msg = OtpMessage {
        identifier: identifier.as_str().to_owned(),
        code,
        expires_at: store::ms_to_ts(now + ttl_ms),
    };
    if let Err(e) = state.otp.deliver(&msg).await {
        tracing::error!(error = %e, "sign-in code delivery failed");
        // Forget the undeliverable code so the person can retry at once;
        // only this one (a slow delivery may fail after a newer code,
        // asked for meanwhile, was delivered).
        let id = identifier.as_str().to_owned();
        state
            .store
            .write(move |conn| store::auth::otp_delete_code(conn, &id, &hash))
            .await?;
        return Err(Error::Unavailable {
            code: "delivery_failed",
            detail: "the sign-in code could not be delivered; try again later".into(),
        });
    }
    Ok(OtpRequested {
        expires_in: state.config.otp_ttl,
        retry_after: state.config.otp_resend_interval,
    })
}

/// The wait before another code may be sent for an identifier with `burnt`
/// codes burnt in a row: the resend interval, doubled for each, so a
/// guesser cannot burn a code and ask for the next one at the pace of the
/// resend interval. At most 32 times (30 s become 16 minutes): anyone who
/// knows an address can burn its codes, and the owner must not be locked
/// out for hours by it; five guesses per 16 minutes still take years.
fn resend_wait_ms(resend_ms: i64, burnt: u32) -> i64 {
    resend_ms.saturating_mul(1 << burnt.min(5))
}

/// What presenting a code did to the stored one. The attempt counter must
/// be committed even when the answer is an error, so the job returns this
/// instead of failing (a failing job rolls back).
pub(super) enum CodeCheck {
    /// Right: the code is used up.
    Right,
    NoCode,
    Expired,
    Burnt {
        retry_after: u64,
    },
    Wrong {
        left: u32,
    },
}

/// Checks `presented` (the keyed hash of a typed code) against the live code
/// of `identifier`, counting the attempt; shared by sign-in and account
/// deletion, so both burn a code after the same number of wrong tries.
pub(super) fn check_code(
    conn: &rusqlite::Connection,
    identifier: &str,
    presented: &[u8],
    now: i64,
    resend_ms: i64,
) -> Result<CodeCheck> {
    let Some(row) = store::auth::otp_get(conn, identifier)? else {
        return Ok(CodeCheck::NoCode);
    };
    // An expired or burnt code's row stays (until the clean-up): deleting
    // it would forget the burnt count and let a new code be sent at once.
    if now >= row.expires_at {
        return Ok(CodeCheck::Expired);
    }
    if row.attempts >= limits::OTP_MAX_ATTEMPTS {
        let wait = (row.created_at + resend_wait_ms(resend_ms, row.burnt) - now).max(0);
        return Ok(CodeCheck::Burnt {
            retry_after: crate::ratelimit::retry_after_secs(std::time::Duration::from_millis(
                wait as u64,
            )),
        });
    }
    if !bool::from(row.code_hash.ct_eq(presented)) {
        let attempts = row.attempts + 1;
        if attempts >= limits::OTP_MAX_ATTEMPTS {
            store::auth::otp_burn(conn, identifier, attempts)?;
        } else {
            store::auth::otp_set_attempts(conn, identifier, attempts)?;
        }
        return Ok(CodeCheck::Wrong {
            left: limits::OTP_MAX_ATTEMPTS - attempts,
        });
    }
    store::auth::otp_delete(conn, identifier)?;
    Ok(CodeCheck::Right)
}

impl CodeCheck {
    /// The error a wrong, expired or burnt code answers (`None`: right).
    pub(super) fn error(&self) -> Option<Error> {
        Some(match self {
            CodeCheck::Right => return None,
            CodeCheck::NoCode => {
                Error::unauthorized("invalid_code", "wrong code; request a new one if needed")
            }
            CodeCheck::Expired => {
                Error::unauthorized("code_expired", "this code has expired; request a new one")
            }
            CodeCheck::Burnt { retry_after } => Error::TooManyRequests {
                code: "too_many_attempts",
                detail: "too many wrong attempts; this code is no longer valid, request a new one"
                    .into(),
                retry_after: *retry_after,
            },
            CodeCheck::Wrong { left } => Error::unauthorized(
                "invalid_code",
                format!("wrong code; {left} attempt(s) left"),
            ),
        })
    }
}

/// A sign-in attempt: the code was not right, or the signed-in device.
enum Attempt {
    Refused(CodeCheck),
    Ok {
        user: Box<store::users::UserRow>,
        new_user: bool,
        device_id: String,
        refresh: String,
        /// `device.added` for the account's other devices.
        emitted: Emitted,
    },
}

impl super::events::Emits for Attempt {
    fn emitted(&self) -> Option<&Emitted> {
        match self {
            Attempt::Ok { emitted, .. } => Some(emitted),
            Attempt::Refused(_) => None,
        }
    }
}

/// `POST /v1/auth/otp/verify`.
pub async fn verify_otp(state: &AppState, req: OtpVerify, ip: IpAddr) -> Result<Session> {
    state.auth_limiter.check(ip)?;
    let identifier = parse_identifier(&req.identifier)?;
    if req.code.len() != limits::OTP_DIGITS || !req.code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::unprocessable(
            "invalid_field",
            format!("code: must be {} digits", limits::OTP_DIGITS),
        ));
    }
    let device_name = validate_device_name(&req.device_name)?;
    let platform = req.platform;
    let presented = state.keys.otp_hash(identifier.as_str(), &req.code);
    let resend_ms = (state.config.otp_resend_interval * 1000) as i64;
    let now = now_ms();
    let id = identifier.as_str().to_owned();
    let default_name = default_display_name(&identifier);
    let attempt = super::events::write(state, move |conn| -> Result<Attempt> {
        let check = check_code(conn, &id, &presented, now, resend_ms)?;
        if check.error().is_some() {
            return Ok(Attempt::Refused(check));
        }
        let (user, new_user) = match store::users::by_identifier(conn, &id)? {
            Some(u) => (u, false),
            None => {
                let uid = tokens::new_id();
                store::users::insert(conn, &uid, &id, &default_name, now)?;
                let u = store::users::by_id(conn, &uid)?
                    .ok_or_else(|| Error::internal("inserted user vanished"))?;
                (u, true)
            }
        };
        if user.disabled {
            return Err(Error::Forbidden {
                code: "account_disabled",
                detail: "this account is disabled; contact the server operator".into(),
            });
        }
        let (device_id, refresh) = create_device(conn, &user.id, &device_name, platform, now)?;
        // The account's other devices learn of a new sign-in (their
        // device lists, and a sign-in someone did not expect).
        let mut emitted = Emitted::default();
        if !new_user {
            if let Some(device) = store::links::device(conn, &device_id)? {
                emitted.emit(conn, &user.id, &Event::DeviceAdded { device }, now)?;
            }
        }
        Ok(Attempt::Ok {
            user: Box::new(user),
            new_user,
            device_id,
            refresh,
            emitted,
        })
    })
    .await?;
    match attempt {
        Attempt::Refused(check) => Err(check
            .error()
            .unwrap_or_else(|| Error::internal("a right code refused"))),
        Attempt::Ok {
            user,
            new_user,
            device_id,
            refresh,
            ..
        } => {
            let tokens = issue_tokens(state, &user.id, device_id, refresh)?;
            Ok(Session {
                tokens,
                user: user.to_me(),
                new_user,
            })
        }
    }
}

fn default_display_name(identifier: &Identifier) -> String {
    match identifier {
        Identifier::Email(e) => e
            .split('@')
            .next()
            .unwrap_or("")
            .chars()
            .take(limits::DISPLAY_NAME_MAX)
            .collect(),
        Identifier::Phone(_) => "Parley user".to_owned(),
    }
}

/// Wraps a freshly stored refresh token and a new access token.
pub fn issue_tokens(
    state: &AppState,
    user_id: &str,
    device_id: String,
    refresh: String,
) -> Result<Tokens> {
    let access = tokens::issue_access(
        &state.keys.jwt,
        user_id,
        &device_id,
        state.config.access_token_ttl,
    )?;
    Ok(Tokens {
        access_token: access,
        refresh_token: refresh,
        expires_in: state.config.access_token_ttl,
        device_id: DeviceId(device_id),
    })
}

/// Mints a new device with its first refresh token for `user_id`, inside a
/// write job. Used by sign-in and by device linking.
pub fn create_device(
    conn: &rusqlite::Connection,
    user_id: &str,
    name: &str,
    platform: Platform,
    now: i64,
) -> Result<(String, String)> {
    let device_id = tokens::new_id();
    store::auth::insert_device(conn, &device_id, user_id, name, platform, now)?;
    let refresh = new_refresh(conn, &device_id, now)?;
    Ok((device_id, refresh))
}

/// A new refresh token for `device_id`, stored hashed.
pub fn new_refresh(conn: &rusqlite::Connection, device_id: &str, now: i64) -> Result<String> {
    let refresh = tokens::random_secret(REFRESH_TOKEN_BYTES);
    store::auth::insert_refresh(conn, &crate::keys::token_hash(&refresh), device_id, now)?;
    Ok(refresh)
}

/// The hash of a client's retry key, checked for length (characters).
pub fn retry_key_hash(key: Option<&str>) -> Result<Option<Vec<u8>>> {
    use parley_protocol::limits::{RETRY_KEY_MAX_CHARS, RETRY_KEY_MIN_CHARS};
    match key {
        Some(k) if (RETRY_KEY_MIN_CHARS..=RETRY_KEY_MAX_CHARS).contains(&k.chars().count()) => {
            Ok(Some(crate::keys::token_hash(k)))
        }
        Some(_) => Err(Error::unprocessable(
            "invalid_field",
            format!("retry_key: {RETRY_KEY_MIN_CHARS} to {RETRY_KEY_MAX_CHARS} characters"),
        )),
        None => Ok(None),
    }
}

/// Whether a session handed out `at` may be handed out again now: a retry
/// after its answer was lost (see `REFRESH_RETRY_MS`), its refresh token
/// (`first`, hashed) never used.
pub fn may_hand_out_again(
    conn: &rusqlite::Connection,
    first: &[u8],
    at: i64,
    now: i64,
) -> Result<bool> {
    Ok(now - at <= REFRESH_RETRY_MS && store::auth::refresh_unused(conn, first)?)
}

enum Refreshed {
    Unknown,
    /// The device's account was deleted by its owner.
    Deleted,
    /// The device's account is disabled by an admin (its tokens work again
    /// once enabled: said, so the client can tell its user why).
    Disabled,
    Reused(String, Emitted),
    Ok {
        user_id: String,
        device_id: String,
    },
}

impl super::events::Emits for Refreshed {
    fn emitted(&self) -> Option<&Emitted> {
        match self {
            Refreshed::Reused(_, e) => Some(e),
            _ => None,
        }
    }
}

/// How long after its exchange a refresh token may be presented again while
/// its successor is unused: a client whose answer was lost retries within
/// seconds (its next try at the latest when the request times out).
const REFRESH_RETRY_MS: i64 = parley_protocol::limits::REFRESH_RETRY_SECS * 1000;

/// `POST /v1/auth/refresh`: one use per refresh token. Presenting a rotated one
/// means two parties hold it, so the device is revoked; except as a retry
/// (`REFRESH_RETRY_MS`), which withdraws the successor no one used and hands
/// out a new one. A thief who gets in that way makes the real client's
/// successor a withdrawn one, so its next refresh revokes the device anyway.
pub async fn refresh(
    state: &AppState,
    presented: &str,
    retry_key: Option<&str>,
    ip: IpAddr,
) -> Result<Tokens> {
    state.refresh_limiter.check(ip)?;
    let key_hash = retry_key_hash(retry_key)?;
    let hash = crate::keys::token_hash(presented);
    let next = tokens::random_secret(REFRESH_TOKEN_BYTES);
    let next_hash = crate::keys::token_hash(&next);
    let now = now_ms();
    let outcome = super::events::write(state, move |conn| -> Result<Refreshed> {
        let Some(row) = store::auth::refresh_lookup(conn, &hash)? else {
            return Ok(Refreshed::Unknown);
        };
        let Some(dev) = store::auth::device_state(conn, &row.device_id)? else {
            return Ok(Refreshed::Unknown);
        };
        if dev.user_deleted {
            return Ok(Refreshed::Deleted);
        }
        if dev.revoked {
            return Ok(Refreshed::Unknown);
        }
        if dev.user_disabled {
            return Ok(Refreshed::Disabled);
        }
        if let Some(rotated_at) = row.rotated_at {
            // A retry after a lost answer, or a second holder of the token.
            // Only from the client of the first exchange, when it came with
            // a key.
            let same_client = match (&row.retry_key_hash, &key_hash) {
                (Some(stored), Some(presented)) => bool::from(stored.ct_eq(presented)),
                (Some(_), None) => false,
                (None, _) => true,
            };
            let unused_successor = match &row.replaced_by {
                Some(successor) if same_client => {
                    may_hand_out_again(conn, successor, rotated_at, now)?.then_some(successor)
                }
                _ => None,
            };
            if let Some(successor) = unused_successor {
                tracing::info!(device_id = %row.device_id, "refresh retried; answer was lost");
                store::auth::refresh_withdraw(conn, successor, now)?;
            } else {
                return reused(conn, row.device_id, &dev.user_id, now);
            }
        }
        store::auth::refresh_mark_rotated(conn, &hash, &next_hash, key_hash.as_deref(), now)?;
        store::auth::insert_refresh(conn, &next_hash, &row.device_id, now)?;
        store::auth::touch_device(conn, &row.device_id, now)?;
        Ok(Refreshed::Ok {
            user_id: dev.user_id,
            device_id: row.device_id,
        })
    })
    .await?;
    match outcome {
        Refreshed::Unknown => Err(Error::unauthorized(
            "invalid_token",
            "refresh token is invalid or revoked; sign in again",
        )),
        Refreshed::Deleted => Err(account_deleted()),
        Refreshed::Disabled => Err(Error::unauthorized(
            "account_disabled",
            "this account is disabled",
        )),
        Refreshed::Reused(device_id, _) => {
            state
                .hub
                .close_device(&device_id, parley_protocol::close::TOKEN_INVALID);
            Err(Error::unauthorized(
                "token_reused",
                "refresh token was already used; this device is signed out for safety",
            ))
        }
        Refreshed::Ok { user_id, device_id } => issue_tokens(state, &user_id, device_id, next),
    }
}

/// A rotated refresh token presented again: two parties hold it, so the
/// device is revoked and everything it holds goes with it.
fn reused(
    conn: &rusqlite::Connection,
    device_id: String,
    user_id: &str,
    now: i64,
) -> Result<Refreshed> {
    tracing::warn!(device_id = %device_id, "refresh token reused; revoking device");
    store::auth::revoke_device(conn, user_id, &device_id, now)?;
    store::links::cancel_made_by(conn, &device_id)?;
    let mut emitted = Emitted::default();
    let ev = Event::DeviceRevoked {
        device_id: device_id.clone(),
    };
    emitted.emit(conn, user_id, &ev, now)?;
    Ok(Refreshed::Reused(device_id, emitted))
}

/// What every device of a deleted account hears, on a call or a refresh:
/// its clients wipe what they keep of it (a device that was offline, or
/// whose own deletion request lost its answer, learns it here).
pub fn account_deleted() -> Error {
    Error::unauthorized("account_deleted", "this account was deleted")
}

/// Checks a bearer access token and that its device is still live.
pub async fn authenticate(state: &AppState, bearer: &str) -> Result<Caller> {
    let claims = tokens::verify_access(&state.keys.jwt, bearer)?;
    let did = claims.did.clone();
    let dev = state
        .store
        .read(move |conn| store::auth::device_state(conn, &did).map_err(Error::from))
        .await?;
    let Some(dev) = dev else {
        return Err(Error::unauthorized("unauthorized", "device not found"));
    };
    if dev.user_deleted {
        return Err(account_deleted());
    }
    if dev.revoked || dev.user_id != claims.sub {
        return Err(Error::unauthorized(
            "unauthorized",
            "this device was signed out",
        ));
    }
    if dev.user_disabled {
        return Err(Error::unauthorized(
            "account_disabled",
            "this account is disabled",
        ));
    }
    let now = now_ms();
    if now - dev.last_seen_at > TOUCH_INTERVAL_MS {
        // Best effort and off the request path: a lost touch only makes
        // "last seen" a minute staler.
        let store = state.store.clone();
        let did = claims.did.clone();
        tokio::spawn(async move {
            let _ = store
                .write(move |conn| store::auth::touch_device(conn, &did, now))
                .await;
        });
    }
    Ok(Caller {
        user_id: claims.sub,
        device_id: claims.did,
    })
}

/// `POST /v1/auth/logout`: revokes the calling device.
pub async fn logout(state: &AppState, caller: &Caller) -> Result<()> {
    super::devices::revoke(state, caller, &caller.device_id).await
}

/// How long after its code expired an identifier's burnt count is kept.
const BURNT_KEPT_MS: i64 = 24 * 3600 * 1000;

/// How long a rotated refresh token is kept to catch it presented again
/// (theft). A device refreshes every 15 minutes while in use, so each adds
/// ~100 rows a day; one presented after this is merely unknown (401
/// `invalid_token`, which does not revoke the device).
const ROTATED_KEPT_MS: i64 = 30 * 24 * 3600 * 1000;

/// Rotated refresh tokens deleted per writer job: the first run after an
/// upgrade may find millions, and sends wait behind each job.
const ROTATED_PURGE_BATCH: usize = 20_000;

/// Deletes expired sign-in codes and long-rotated refresh tokens (in
/// batches, each its own writer job). Called by the janitor task.
pub async fn purge_expired(state: &AppState) -> Result<usize> {
    let now = now_ms();
    let mut purged = state
        .store
        .write(move |conn| {
            store::auth::otp_delete_expired(conn, now, BURNT_KEPT_MS).map_err(Error::from)
        })
        .await?;
    loop {
        let n = state
            .store
            .write(move |conn| {
                store::auth::refresh_delete_rotated(
                    conn,
                    now - ROTATED_KEPT_MS,
                    ROTATED_PURGE_BATCH,
                )
                .map_err(Error::from)
            })
            .await?;
        purged += n;
        if n < ROTATED_PURGE_BATCH {
            return Ok(purged);
        }
        tokio::task::yield_now().await;
    }
}
