//! `/v1/me`, `/v1/users/*`, `/v1/usernames/*`.

use super::extract::{body_read_error, body_rejection, ClientIp, Json, Path};
use crate::{error::Error, error::Result, service, service::Caller, state::AppState};
use axum::{
    extract::State,
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, put},
    Router,
};
use parley_protocol::{limits, DeleteAccount, Me, Problem, UpdateMe, User, UsernameAvailability};

/// The longest an avatar's body may take to arrive.
const AVATAR_READ_TIME: std::time::Duration = std::time::Duration::from_secs(60);

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/me", get(get_me).patch(patch_me).delete(delete_me))
        .route("/v1/me/avatar", put(put_avatar))
        .route("/v1/users/{id}", get(get_user))
        .route("/v1/users/{id}/avatar", get(get_avatar))
        .route("/v1/usernames/{username}", get(username_available))
}

/// Delete my account, for good: every device signed out, every contact
/// removed (they keep our chats' history, with me shown as "Deleted
/// account"), pending requests declined, profile and photo erased; my
/// identifier can sign up afresh. Needs a sign-in code asked for my own
/// identifier just before (`POST /v1/auth/otp/request`), checked like a
/// sign-in's. Not in PROTOCOL.md.
#[utoipa::path(delete, path = "/v1/me", tag = "profile", security(("bearer" = [])), request_body = DeleteAccount,
    responses(
        (status = 204, description = "deleted; this token and every other of the account no longer work"),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthorized`: the token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`invalid_code`, `code_expired` (403, not a sign-in's 401: the token is fine)", body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_field`: not 6 digits", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`too_many_attempts`: the code is burnt; `rate_limited`: too many tries from this address", body = Problem, content_type = "application/problem+json"),
    ))]
async fn delete_me(
    State(state): State<AppState>,
    caller: Caller,
    ClientIp(ip): ClientIp,
    Json(body): Json<DeleteAccount>,
) -> Result<StatusCode> {
    service::account::delete(&state, &caller, &body.code, ip).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Own profile and settings.
#[utoipa::path(get, path = "/v1/me", tag = "profile", security(("bearer" = [])),
    responses(
        (status = 200, body = Me),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_me(State(state): State<AppState>, caller: Caller) -> Result<Json<Me>> {
    Ok(Json(service::profile::me(&state, &caller).await?))
}

/// Update own profile and settings; absent fields are unchanged.
#[utoipa::path(patch, path = "/v1/me", tag = "profile", security(("bearer" = [])), request_body = UpdateMe,
    responses(
        (status = 200, body = Me),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`username_taken`", body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_field`, `invalid_body`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: more than 30 profile changes (fields or photo) a minute", body = Problem, content_type = "application/problem+json"),
    ))]
async fn patch_me(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<UpdateMe>,
) -> Result<Json<Me>> {
    state.profile_limiter.check(caller.user_id.clone())?;
    Ok(Json(
        service::profile::update_me(&state, &caller, body).await?,
    ))
}

/// Upload an avatar: a raw PNG, JPEG or WebP body of at most 5 MiB and at
/// most 6144 pixels a side (422 `invalid_image` beyond). It is decoded,
/// fitted into 512x512 and stored as PNG.
#[utoipa::path(put, path = "/v1/me/avatar", tag = "profile", security(("bearer" = [])),
    request_body(content(
        (Vec<u8> = "image/png"),
        (Vec<u8> = "image/jpeg"),
        (Vec<u8> = "image/webp"),
    )),
    responses(
        (status = 200, body = Me),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_image`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: more than 30 profile changes (fields or photo) a minute", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`busy`: too many photos arriving at once; try again in a moment", body = Problem, content_type = "application/problem+json"),
    ))]
async fn put_avatar(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Json<Me>> {
    // Before a byte of the body is read.
    state.profile_limiter.check(caller.user_id.clone())?;
    let _reading = state
        .avatar_reads
        .try_acquire()
        .map_err(|_| Error::Unavailable {
            code: "busy",
            detail: "too many photos are arriving at once; try again in a moment".into(),
        })?;
    // One byte over the limit is enough to tell "too large" apart.
    let read = axum::body::to_bytes(body, limits::AVATAR_MAX_BYTES + 1);
    let body = tokio::time::timeout(AVATAR_READ_TIME, read)
        .await
        .map_err(|_| Error::bad_request("bad_request", "the photo took too long to arrive"))?
        .map_err(|e| {
            body_read_error(&e, || {
                body_rejection(axum::http::StatusCode::PAYLOAD_TOO_LARGE, e.to_string())
            })
        })?;
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    Ok(Json(
        service::profile::set_avatar(&state, &caller, ct, body).await?,
    ))
}

/// A user's public profile: only yourself and your connections.
#[utoipa::path(get, path = "/v1/users/{id}", tag = "profile", security(("bearer" = [])),
    params(("id" = String, Path, description = "user id")),
    responses(
        (status = 200, body = User),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`user_not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<User>> {
    Ok(Json(service::profile::user(&state, &caller, &id).await?))
}

/// A user's avatar image (PNG).
#[utoipa::path(get, path = "/v1/users/{id}/avatar", tag = "profile", security(("bearer" = [])),
    params(("id" = String, Path, description = "user id")),
    responses(
        (status = 200, content_type = "image/png", body = Vec<u8>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`avatar_not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_avatar(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response> {
    let (mime, data) = service::profile::avatar(&state, &caller, &id).await?;
    let mime = HeaderValue::from_str(&mime).map_err(Error::internal)?;
    Ok((
        [
            (header::CONTENT_TYPE, mime),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, max-age=86400"),
            ),
        ],
        data,
    )
        .into_response())
}

/// Whether a username is free (for a live check while typing).
#[utoipa::path(get, path = "/v1/usernames/{username}", tag = "profile", security(("bearer" = [])),
    params(("username" = String, Path, description = "candidate username")),
    responses(
        (status = 200, body = UsernameAvailability),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_field`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: more than 5 lookups a second (bursts of 20; shared with searches)", body = Problem, content_type = "application/problem+json"),
    ))]
async fn username_available(
    State(state): State<AppState>,
    caller: Caller,
    Path(username): Path<String>,
) -> Result<Json<UsernameAvailability>> {
    // Enough for a check while typing, not for listing who is taken.
    state.search_limiter.check(caller.user_id.clone())?;
    let available = service::profile::username_available(&state, &caller, &username).await?;
    Ok(Json(UsernameAvailability {
        username: username.trim().to_lowercase(),
        available,
    }))
}
