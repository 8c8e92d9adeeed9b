//! Linking a device to an account by QR: links (the new device shows a code and
//! waits) and invites (a signed-in device shows a code the new one redeems).

use super::{auth, events::Emitted, Caller};
use crate::{
    error::{Error, Result},
    keys::token_hash,
    state::AppState,
    store::{self, ms_to_ts, now_ms},
    tokens,
};
use parley_protocol::{
    limits,
    qr::{normalize_base32, DeviceInviteQr, DeviceLinkQr, QrPayload},
    validate_device_name, DeviceInvite, DeviceLink, DeviceLinkInfo, Event, LinkStatus,
    LinkedSession, NewDeviceLink, Platform, RedeemDeviceInvite,
};
use sha2::{Digest, Sha256};
use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex},
    time::Duration,
};
use subtle::ConstantTimeEq;
use tokio::sync::Notify;

/// Link secrets and invite codes carry 160 bits.
const SECRET_BYTES: usize = 20;

/// Wakes long polls when their link is approved. In-memory: with several
/// server nodes, a poll on another node still sees the approval within its
/// next database check (it re-reads on every wake or timeout).
#[derive(Default)]
pub struct LinkWaiters(Mutex<HashMap<String, Arc<Notify>>>);

impl LinkWaiters {
    fn get(&self, id: &str) -> Arc<Notify> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(id.to_owned()).or_default().clone()
    }

    fn wake(&self, id: &str) {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = map.get(id) {
            n.notify_waiters();
        }
    }

    /// Forgets entries nobody waits on.
    pub fn prune(&self) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, n| Arc::strong_count(n) > 1);
    }
}

/// The two digits both screens show: derived from the secret so a swapped QR
/// (someone else's link) shows different digits.
pub fn check_code(secret: &str) -> String {
    let d = Sha256::digest(format!("parley/check/{secret}").as_bytes());
    format!("{:02}", u16::from_be_bytes([d[0], d[1]]) % 100)
}

fn ttl_ms() -> i64 {
    (limits::DEVICE_LINK_TTL_SECS * 1000) as i64
}

/// `POST /v1/device-links`.
pub async fn create_link(state: &AppState, req: NewDeviceLink, ip: IpAddr) -> Result<DeviceLink> {
    state.auth_limiter.check(ip)?;
    let name = validate_device_name(&req.device_name)?;
    let (id, secret) = (tokens::new_id(), tokens::random_secret(SECRET_BYTES));
    let poll_secret = tokens::random_secret(SECRET_BYTES);
    let (hash, poll_hash) = (token_hash(&secret), token_hash(&poll_secret));
    let now = now_ms();
    let expires_at = now + ttl_ms();
    let lid = id.clone();
    state
        .store
        .write(move |conn| {
            let link = store::links::NewLink {
                id: &lid,
                secret_hash: &hash,
                poll_secret_hash: &poll_hash,
                poll_secret_only: req.poll_secret_only,
                device_name: &name,
                platform: req.platform,
                now,
                expires_at,
            };
            store::links::insert_link(conn, &link).map_err(Error::from)
        })
        .await?;
    let uri = QrPayload::DeviceLink(DeviceLinkQr {
        server: state.public_base(),
        link_id: id.clone(),
        secret: secret.clone(),
    })
    .to_string();
    Ok(DeviceLink {
        check_code: check_code(&secret),
        link_id: id,
        secret,
        poll_secret,
        uri,
        expires_at: ms_to_ts(expires_at),
    })
}

fn link_not_found() -> Error {
    Error::not_found("link_not_found", "no such device link")
}

/// Loads a link and checks the presented secret in constant time.
fn load_link(conn: &rusqlite::Connection, id: &str, secret: &str) -> Result<store::links::LinkRow> {
    let link = store::links::link_by_id(conn, id)?.ok_or_else(link_not_found)?;
    let presented = token_hash(&normalize_base32(secret).unwrap_or_default());
    if bool::from(link.secret_hash.ct_eq(&presented)) {
        Ok(link)
    } else {
        Err(link_not_found())
    }
}

/// Whether the poller is the device that made the link (it presents the
/// second secret, which the QR does not carry); checked in constant time.
fn made_by_poller(link: &store::links::LinkRow, poll_secret: Option<&str>) -> bool {
    match (&link.poll_secret_hash, poll_secret) {
        (Some(stored), Some(presented)) => bool::from(stored.ct_eq(&token_hash(presented))),
        _ => false,
    }
}

/// Whether this poll may take the link's session: any poll with the QR's
/// secret, unless its maker asked for the poll secret too.
fn may_collect(link: &store::links::LinkRow, poll_secret: Option<&str>) -> bool {
    !link.poll_secret_only || made_by_poller(link, poll_secret)
}

fn link_used() -> Error {
    Error::conflict("link_used", "this link was already used")
}

fn link_expired() -> Error {
    Error::Gone {
        code: "link_expired",
        detail: "this link has expired; show a new code".into(),
    }
}

enum Poll {
    Pending,
    Approved(Box<LinkStatus>, Emitted),
}

impl super::events::Emits for Poll {
    fn emitted(&self) -> Option<&Emitted> {
        match self {
            Poll::Approved(_, e) => Some(e),
            Poll::Pending => None,
        }
    }
}

/// `GET /v1/device-links/{id}?secret=&poll_secret=`: waits up to `wait` for
/// approval. The session is handed out once, and again only to the device
/// that made the link (`poll_secret`) as a retry after a lost answer.
pub async fn poll(
    state: &AppState,
    id: &str,
    secret: &str,
    poll_secret: Option<&str>,
    wait: Duration,
) -> Result<LinkStatus> {
    let wait = wait.min(Duration::from_secs(limits::LINK_POLL_MAX_SECS));
    let deadline = tokio::time::Instant::now() + wait;
    // Anyone may poll: a link that does not exist (or a wrong secret) is
    // refused from a reader before it gets a waiter or a writer job.
    pending(state, id, secret, poll_secret).await?;
    let notify = state.link_waiters.get(id);
    loop {
        // Register interest before checking, so an approval in between wakes us.
        let notified = notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        // Most polls find it still waiting: a read says so, and only an
        // approved link takes a writer job (to collect it).
        if pending(state, id, secret, poll_secret).await? {
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Ok(LinkStatus::Pending);
            }
            continue;
        }
        let (lid, sec) = (id.to_owned(), secret.to_owned());
        let poller = poll_secret.map(str::to_owned);
        let st = state.clone();
        let now = now_ms();
        let outcome = super::events::write(state, move |conn| -> Result<Poll> {
            let link = load_link(conn, &lid, &sec)?;
            if let Some(collected) = &link.collected {
                if !made_by_poller(&link, poller.as_deref()) {
                    return Err(link_used());
                }
                return collect_again(&st, conn, &link, collected, now);
            }
            let Some(user_id) = link.approved_by.clone() else {
                if now >= link.expires_at {
                    return Err(link_expired());
                }
                return Ok(Poll::Pending);
            };
            if !may_collect(&link, poller.as_deref()) {
                return Ok(Poll::Pending);
            }
            let me = session_owner(conn, &user_id)?.to_me();
            let (device_id, refresh) =
                auth::create_device(conn, &user_id, &link.device_name, link.platform, now)?;
            store::links::collect_link(conn, &link.id, &device_id, &token_hash(&refresh), now)?;
            let mut emitted = Emitted::default();
            if let Some(device) = store::links::device(conn, &device_id)? {
                emitted.emit(conn, &user_id, &Event::DeviceAdded { device }, now)?;
            }
            let tokens = auth::issue_tokens(&st, &user_id, device_id, refresh)?;
            Ok(Poll::Approved(
                Box::new(LinkStatus::Approved {
                    tokens,
                    user: Box::new(me),
                }),
                emitted,
            ))
        })
        .await?;
        match outcome {
            Poll::Approved(status, _) => {
                return Ok(*status);
            }
            Poll::Pending => {
                if tokio::time::timeout_at(deadline, notified).await.is_err() {
                    return Ok(LinkStatus::Pending);
                }
            }
        }
    }
}

fn invite_used() -> Error {
    Error::conflict("invite_used", "this invite was already used")
}

/// A redeemed invite's session, handed out again to the redeemer that
/// presents the same retry key (its answer was lost).
fn redeem_again(
    state: &AppState,
    conn: &rusqlite::Connection,
    invite: &store::links::InviteRow,
    redeemed: &store::links::Redeemed,
    key_hash: Option<&[u8]>,
    now: i64,
) -> Result<(LinkedSession, Emitted)> {
    let same_redeemer = match (&redeemed.key_hash, key_hash) {
        (Some(stored), Some(presented)) => bool::from(stored.ct_eq(presented)),
        _ => false,
    };
    if !same_redeemer {
        return Err(invite_used());
    }
    let (user, device_id, refresh) = hand_out_again(
        conn,
        &invite.user_id,
        redeemed.device_id.as_deref(),
        redeemed.refresh_hash.as_deref(),
        redeemed.at,
        now,
        invite_used,
    )?;
    let refresh_hash = token_hash(&refresh);
    store::links::redeem_invite(conn, &invite.id, &device_id, &refresh_hash, key_hash, now)?;
    let tokens = auth::issue_tokens(state, &invite.user_id, device_id, refresh)?;
    Ok((
        LinkedSession {
            tokens,
            user: user.to_me(),
        },
        Emitted::default(),
    ))
}

/// A session a link or an invite handed out `at` (device `device_id`,
/// first refresh token hashed as `first`), handed out again: only within a
/// minute of that and while that token is unused, to a live device of an
/// account that may still sign in. The first token is withdrawn (whoever
/// holds it is the one left out, and presenting it revokes the device); no
/// second `device.added`: it is the same device. Returns the account, the
/// device and its new refresh token; `used` when it may not be handed out.
fn hand_out_again(
    conn: &rusqlite::Connection,
    user_id: &str,
    device_id: Option<&str>,
    first: Option<&[u8]>,
    at: i64,
    now: i64,
    used: fn() -> Error,
) -> Result<(store::users::UserRow, String, String)> {
    let (Some(device_id), Some(first)) = (device_id, first) else {
        return Err(used());
    };
    let user = session_owner(conn, user_id)?;
    let device_live = store::auth::device_state(conn, device_id)?.is_some_and(|d| !d.revoked);
    if !device_live || !auth::may_hand_out_again(conn, first, at, now)? {
        return Err(used());
    }
    store::auth::refresh_withdraw(conn, first, now)?;
    let refresh = auth::new_refresh(conn, device_id, now)?;
    Ok((user, device_id.to_owned(), refresh))
}

/// The account a link's or invite's session is for, if it may still have
/// one: deleted since (401 `account_deleted`, as every call of its devices
/// hears) or disabled (403 `account_disabled`, as a sign-in hears).
fn session_owner(conn: &rusqlite::Connection, user_id: &str) -> Result<store::users::UserRow> {
    // Accounts are marked deleted, never removed, and links and invites
    // refer to them.
    let user = store::users::by_id(conn, user_id)?
        .ok_or_else(|| Error::internal("a link's or invite's account is missing"))?;
    if user.deleted {
        return Err(auth::account_deleted());
    }
    if user.disabled {
        return Err(Error::Forbidden {
            code: "account_disabled",
            detail: "this account is disabled".into(),
        });
    }
    Ok(user)
}

/// The session of a collected link, handed out again to the device that
/// made it: its answer was lost (a dropped connection, a timeout; the poll
/// secret lives in the linking process's memory, so not a process killed).
fn collect_again(
    state: &AppState,
    conn: &rusqlite::Connection,
    link: &store::links::LinkRow,
    collected: &store::links::Collected,
    now: i64,
) -> Result<Poll> {
    let Some(user_id) = &link.approved_by else {
        return Err(link_used());
    };
    let (user, device_id, refresh) = hand_out_again(
        conn,
        user_id,
        collected.device_id.as_deref(),
        collected.refresh_hash.as_deref(),
        collected.at,
        now,
        link_used,
    )?;
    store::links::collect_link(conn, &link.id, &device_id, &token_hash(&refresh), now)?;
    let tokens = auth::issue_tokens(state, user_id, device_id, refresh)?;
    Ok(Poll::Approved(
        Box::new(LinkStatus::Approved {
            tokens,
            user: Box::new(user.to_me()),
        }),
        Emitted::default(),
    ))
}

/// Whether the link is still waiting for approval (`false`: approved, to
/// collect, or collected and polled by its maker, for the writer to judge),
/// read without the writer; its errors are the poll's.
async fn pending(
    state: &AppState,
    id: &str,
    secret: &str,
    poll_secret: Option<&str>,
) -> Result<bool> {
    let (lid, sec) = (id.to_owned(), secret.to_owned());
    let poller = poll_secret.map(str::to_owned);
    let now = now_ms();
    state
        .store
        .read(move |conn| -> Result<bool> {
            let link = load_link(conn, &lid, &sec)?;
            if link.collected.is_some() {
                if made_by_poller(&link, poller.as_deref()) {
                    return Ok(false);
                }
                return Err(link_used());
            }
            if link.approved_by.is_some() && may_collect(&link, poller.as_deref()) {
                return Ok(false);
            }
            if now >= link.expires_at {
                return Err(link_expired());
            }
            Ok(true)
        })
        .await
}

/// `GET /v1/device-links/{id}/info?secret=` for the approving device.
pub async fn info(
    state: &AppState,
    _caller: &Caller,
    id: &str,
    secret: &str,
) -> Result<DeviceLinkInfo> {
    let (lid, sec) = (id.to_owned(), secret.to_owned());
    let now = now_ms();
    let link = state
        .store
        .read(move |conn| {
            let link = load_link(conn, &lid, &sec)?;
            if link.collected.is_some() || link.approved_by.is_some() {
                return Err(link_used());
            }
            if now >= link.expires_at {
                return Err(link_expired());
            }
            Ok(link)
        })
        .await?;
    Ok(DeviceLinkInfo {
        check_code: check_code(&normalize_base32(secret).unwrap_or_default()),
        link_id: link.id,
        device_name: link.device_name,
        platform: link.platform,
        created_at: ms_to_ts(link.created_at),
        expires_at: ms_to_ts(link.expires_at),
    })
}

/// `POST /v1/device-links/{id}/approve`: the new device joins the caller's account.
pub async fn approve(state: &AppState, caller: &Caller, id: &str, secret: &str) -> Result<()> {
    let (lid, sec, uid) = (id.to_owned(), secret.to_owned(), caller.user_id.clone());
    let now = now_ms();
    let who = caller.clone();
    state
        .store
        .write(move |conn| {
            super::account::ensure_device_live(conn, &who)?;
            let link = load_link(conn, &lid, &sec)?;
            if link.collected.is_some() || link.approved_by.is_some() {
                return Err(link_used());
            }
            if now >= link.expires_at {
                return Err(link_expired());
            }
            store::links::approve_link(conn, &lid, &uid, &who.device_id, now)?;
            Ok(())
        })
        .await?;
    state.link_waiters.wake(id);
    Ok(())
}

/// `POST /v1/device-invites`.
pub async fn create_invite(state: &AppState, caller: &Caller) -> Result<DeviceInvite> {
    state.code_limiter.check(caller.user_id.clone())?;
    let code = tokens::random_secret(SECRET_BYTES);
    let hash = token_hash(&code);
    let now = now_ms();
    let expires_at = now + ttl_ms();
    let who = caller.clone();
    state
        .store
        .write(move |conn| {
            super::account::ensure_device_live(conn, &who)?;
            let invite = store::links::NewInvite {
                id: &tokens::new_id(),
                code_hash: &hash,
                user_id: &who.user_id,
                device_id: &who.device_id,
                created_at: now,
                expires_at,
            };
            store::links::insert_invite(conn, &invite).map_err(Error::from)
        })
        .await?;
    let uri = QrPayload::DeviceInvite(DeviceInviteQr {
        server: state.public_base(),
        code: code.clone(),
    })
    .to_string();
    Ok(DeviceInvite {
        code,
        uri,
        expires_at: ms_to_ts(expires_at),
    })
}

/// `POST /v1/device-invites/redeem`.
pub async fn redeem(
    state: &AppState,
    req: RedeemDeviceInvite,
    ip: IpAddr,
) -> Result<LinkedSession> {
    state.auth_limiter.check(ip)?;
    let name = validate_device_name(&req.device_name)?;
    let code = match (&req.uri, &req.code) {
        (Some(uri), _) => {
            let qr: DeviceInviteQr = uri
                .parse()
                .map_err(|e| Error::unprocessable("invalid_field", format!("uri: {e}")))?;
            qr.code
        }
        (None, Some(code)) => normalize_base32(code)
            .filter(|c| {
                (parley_protocol::qr::MIN_SECRET_CHARS..=parley_protocol::qr::MAX_SECRET_CHARS)
                    .contains(&c.len())
            })
            .ok_or_else(|| Error::unprocessable("invalid_field", "code: not an invite code"))?,
        (None, None) => {
            return Err(Error::unprocessable(
                "invalid_field",
                "uri: give `uri` or `code`",
            ))
        }
    };
    let key_hash = auth::retry_key_hash(req.retry_key.as_deref())?;
    let hash = token_hash(&code);
    let platform: Platform = req.platform;
    let now = now_ms();
    let st = state.clone();
    let (session, _) =
        super::events::write(state, move |conn| -> Result<(LinkedSession, Emitted)> {
            let invite = store::links::invite_by_hash(conn, &hash)?
                .ok_or_else(|| Error::not_found("invite_not_found", "no such invite"))?;
            if let Some(redeemed) = &invite.redeemed {
                return redeem_again(&st, conn, &invite, redeemed, key_hash.as_deref(), now);
            }
            if now >= invite.expires_at {
                return Err(Error::Gone {
                    code: "invite_expired",
                    detail: "this invite has expired; show a new code".into(),
                });
            }
            let user = session_owner(conn, &invite.user_id)?;
            let (device_id, refresh) =
                auth::create_device(conn, &invite.user_id, &name, platform, now)?;
            let refresh_hash = token_hash(&refresh);
            store::links::redeem_invite(
                conn,
                &invite.id,
                &device_id,
                &refresh_hash,
                key_hash.as_deref(),
                now,
            )?;
            let mut emitted = Emitted::default();
            if let Some(device) = store::links::device(conn, &device_id)? {
                emitted.emit(conn, &invite.user_id, &Event::DeviceAdded { device }, now)?;
            }
            let tokens = auth::issue_tokens(&st, &invite.user_id, device_id, refresh)?;
            Ok((
                LinkedSession {
                    tokens,
                    user: user.to_me(),
                },
                emitted,
            ))
        })
        .await?;
    Ok(session)
}

/// Deletes links and invites a day past expiry. Called by the janitor.
pub async fn purge_expired(state: &AppState) -> Result<usize> {
    state.link_waiters.prune();
    let cutoff = now_ms() - 24 * 3600 * 1000;
    state
        .store
        .write(move |conn| store::links::delete_expired(conn, cutoff).map_err(Error::from))
        .await
}
