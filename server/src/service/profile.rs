//! Profiles: own profile and settings, avatars, and who may see whom.

use super::{events::Emitted, Caller};
use crate::{
    error::{Error, Result},
    state::AppState,
    store::{self, now_ms, users::ProfileChanges},
};
use parley_protocol::{
    limits, validate_bio, validate_display_name, validate_status_text, validate_username, Event,
    Me, UpdateMe, User,
};
use rusqlite::Connection;

/// Media types accepted for avatar uploads.
pub const AVATAR_TYPES: [&str; 3] = ["image/png", "image/jpeg", "image/webp"];

/// Whether `viewer` may see `target`'s profile: themselves and their
/// connections.
pub fn can_see(conn: &Connection, viewer: &str, target: &str) -> Result<bool> {
    Ok(viewer == target || store::contacts::are_connected(conn, viewer, target)?)
}

/// Whether `viewer` may see `target`'s avatar: as the profile, plus both sides
/// of a pending connection request (the scanner is shown who the code belongs
/// to before the owner accepts), plus a former contact whose chat remains
/// (shown there, as to a stranger, with name and photo).
pub fn can_see_avatar(conn: &Connection, viewer: &str, target: &str, now: i64) -> Result<bool> {
    Ok(can_see(conn, viewer, target)?
        || store::contacts::pending_between(conn, viewer, target, now)?.is_some()
        || store::chats::chat_between(conn, viewer, target)?.is_some())
}

pub async fn me(state: &AppState, caller: &Caller) -> Result<Me> {
    let uid = caller.user_id.clone();
    state
        .store
        .read(move |conn| {
            store::users::by_id(conn, &uid)?
                .map(|u| u.to_me())
                .ok_or_else(|| Error::unauthorized("unauthorized", "account not found"))
        })
        .await
}

pub async fn update_me(state: &AppState, caller: &Caller, patch: UpdateMe) -> Result<Me> {
    let changes = ProfileChanges {
        display_name: patch
            .display_name
            .as_deref()
            .map(validate_display_name)
            .transpose()?,
        username: patch
            .username
            .as_deref()
            .map(validate_username)
            .transpose()?,
        bio: patch.bio.as_deref().map(validate_bio).transpose()?,
        status_text: patch
            .status_text
            .as_deref()
            .map(validate_status_text)
            .transpose()?,
        read_receipts: patch.settings.and_then(|s| s.read_receipts),
        last_seen_visible: patch.settings.and_then(|s| s.last_seen_visible),
    };
    // A change of read receipts alone is no profile news to contacts (turned
    // on, the read watermarks it shows go out as receipts, see
    // `receipts_shown`); hiding or showing my last seen is, since their
    // clients show it.
    let public = changes.display_name.is_some()
        || changes.username.is_some()
        || changes.bio.is_some()
        || changes.status_text.is_some()
        || changes.last_seen_visible.is_some();
    let uid = caller.user_id.clone();
    let now = now_ms();
    let last_seen_visible = changes.last_seen_visible;
    let (me, _) = super::events::write(state, move |conn| {
        super::account::ensure_live(conn, &uid)?;
        let receipts_were =
            store::users::by_id(conn, &uid)?.is_some_and(|u| u.settings.read_receipts);
        if let Some(name) = &changes.username {
            if let Some(other) = store::users::by_username(conn, name)? {
                if other.id != uid {
                    return Err(Error::conflict("username_taken", "username: already taken"));
                }
            }
        }
        store::users::update_profile(conn, &uid, &changes, now).map_err(|e| {
            if e.is_unique_violation() {
                Error::conflict("username_taken", "username: already taken")
            } else {
                Error::from(e)
            }
        })?;
        let (me, mut emitted) = announce(conn, &uid, now, public)?;
        if changes.read_receipts == Some(true) && !receipts_were {
            super::chats::receipts_shown(conn, &mut emitted, &uid, now)?;
        }
        Ok((me, emitted))
    })
    .await?;
    if let Some(visible) = last_seen_visible {
        super::presence::visibility_changed(state, &caller.user_id, visible).await;
    }
    Ok(me)
}

/// Reads the profile back and appends `profile.updated` to the owner's log
/// (their other devices) and, when `to_contacts`, to every connection's.
fn announce(conn: &Connection, uid: &str, now: i64, to_contacts: bool) -> Result<(Me, Emitted)> {
    let row = store::users::by_id(conn, uid)?
        .ok_or_else(|| Error::unauthorized("unauthorized", "account not found"))?;
    let event = Event::ProfileUpdated {
        user: row.to_user(),
    };
    let mut emitted = Emitted::default();
    emitted.emit(conn, uid, &event, now)?;
    if to_contacts {
        for (peer, _) in store::contacts::connections_of(conn, uid)? {
            emitted.emit(conn, &peer, &event, now)?;
        }
    }
    Ok((row.to_me(), emitted))
}

/// Whether a username is free for the caller (the onboarding screen checks as
/// the person types).
pub async fn username_available(state: &AppState, caller: &Caller, raw: &str) -> Result<bool> {
    let name = validate_username(raw)?;
    let uid = caller.user_id.clone();
    state
        .store
        .read(move |conn| Ok(store::users::by_username(conn, &name)?.is_none_or(|u| u.id == uid)))
        .await
}

/// The largest side of an avatar upload, in pixels (it is scaled down to
/// [`limits::AVATAR_MAX_SIDE`]; a 12 MP phone photo is 4032 wide).
pub const AVATAR_DECODE_MAX_SIDE: u32 = 6144;

/// Avatar decodes at once: each may take a core and up to 144 MiB, so a
/// burst of uploads waits its turn instead of exhausting memory.
static AVATAR_DECODES: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// Decodes an uploaded image, fits it into 512x512 and re-encodes it as PNG, so
/// nothing a client uploads is ever served back byte for byte.
pub fn reencode_avatar(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|_| Error::unprocessable("invalid_image", "the image could not be read"))?;
    // A few KiB of PNG can claim a huge canvas: the sides are checked from
    // the header before anything is decoded, and a decode may allocate at
    // most one RGBA canvas of that size.
    let mut lim = image::Limits::default();
    lim.max_image_width = Some(AVATAR_DECODE_MAX_SIDE);
    lim.max_image_height = Some(AVATAR_DECODE_MAX_SIDE);
    lim.max_alloc = Some(u64::from(AVATAR_DECODE_MAX_SIDE).pow(2) * 4);
    reader.limits(lim);
    let img = reader.decode().map_err(|e| {
        Error::unprocessable(
            "invalid_image",
            format!("the image could not be decoded: {e}"),
        )
    })?;
    let side = limits::AVATAR_MAX_SIDE;
    let img = if img.width() > side || img.height() > side {
        img.resize(side, side, image::imageops::FilterType::Triangle)
    } else {
        img
    };
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .map_err(Error::internal)?;
    Ok(out)
}

pub async fn set_avatar(
    state: &AppState,
    caller: &Caller,
    content_type: Option<&str>,
    body: bytes::Bytes,
) -> Result<Me> {
    let mime = content_type
        .map(|c| {
            c.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    if !AVATAR_TYPES.contains(&mime.as_str()) {
        return Err(Error::UnsupportedMediaType {
            detail: format!("avatar must be one of {}", AVATAR_TYPES.join(", ")),
        });
    }
    if body.len() > limits::AVATAR_MAX_BYTES {
        return Err(Error::PayloadTooLarge {
            detail: format!("avatar must be at most {} bytes", limits::AVATAR_MAX_BYTES),
        });
    }
    // The turn goes with the decode, not with this request: a client that
    // hangs up must not free it while its decode still runs.
    let turn = AVATAR_DECODES.acquire().await.map_err(Error::internal)?;
    let png = tokio::task::spawn_blocking(move || {
        let _turn = turn;
        reencode_avatar(&body)
    })
    .await
    .map_err(Error::internal)??;
    let uid = caller.user_id.clone();
    let now = now_ms();
    super::events::write(state, move |conn| {
        super::account::ensure_live(conn, &uid)?;
        store::users::set_avatar(conn, &uid, "image/png", &png, now)?;
        announce(conn, &uid, now, true)
    })
    .await
    .map(|(me, _)| me)
}

pub async fn avatar(state: &AppState, caller: &Caller, user_id: &str) -> Result<(String, Vec<u8>)> {
    let (viewer, target) = (caller.user_id.clone(), user_id.to_owned());
    state
        .store
        .read(move |conn| {
            if !can_see_avatar(conn, &viewer, &target, now_ms())? {
                return Err(Error::not_found("avatar_not_found", "no such avatar"));
            }
            store::users::avatar(conn, &target)?
                .ok_or_else(|| Error::not_found("avatar_not_found", "no such avatar"))
        })
        .await
}

pub async fn user(state: &AppState, caller: &Caller, user_id: &str) -> Result<User> {
    let (viewer, target) = (caller.user_id.clone(), user_id.to_owned());
    state
        .store
        .read(move |conn| {
            if !can_see(conn, &viewer, &target)? {
                return Err(Error::not_found("user_not_found", "no such user"));
            }
            store::users::by_id(conn, &target)?
                .map(|u| u.to_user())
                .ok_or_else(|| Error::not_found("user_not_found", "no such user"))
        })
        .await
}
