//! `/v1/chats`, `/v1/messages`, `/v1/search`.

use super::extract::{Json, Path, Query};
use crate::{error::Error, error::Result, service, service::Caller, state::AppState};
use axum::{
    extract::State,
    http::StatusCode,
    routing::{get, patch, post, put},
    Router,
};
use parley_protocol::{
    limits, Chat, ClearUpTo, EditMessage, Message, Mute, OpenChat, Problem, ReadUpTo, SendMessage,
};
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/chats", get(list).post(open))
        .route("/v1/chats/{id}", get(one))
        .route("/v1/chats/{id}/messages", get(history).post(send))
        .route("/v1/chats/{id}/read", post(read))
        .route("/v1/chats/{id}/mute", put(mute).delete(unmute))
        .route("/v1/chats/{id}/pin", put(pin).delete(unpin))
        .route("/v1/chats/{id}/clear", post(clear))
        .route("/v1/messages/{id}", patch(edit).delete(delete))
        .route(
            "/v1/messages/{id}/reactions/{emoji}",
            put(react).delete(unreact),
        )
        .route("/v1/search", get(search))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct ChatsQuery {
    /// Page size, 1..=500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    /// RFC 3339 time: only chats last active before it (the `updated_at` of the
    /// last chat of the previous page).
    before: Option<chrono::DateTime<chrono::Utc>>,
    /// With `before`: the `id` of the last chat of the previous page. Chats
    /// last active in the same millisecond as it then come after it (by id,
    /// descending) instead of being skipped. Not in PROTOCOL.md, which only
    /// has `before`.
    before_id: Option<String>,
}

/// My chats by last activity.
#[utoipa::path(get, path = "/v1/chats", tag = "chats", security(("bearer" = [])),
    params(ChatsQuery),
    responses(
        (status = 200, body = Vec<Chat>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ChatsQuery>,
) -> Result<Json<Vec<Chat>>> {
    let limit = q.limit.unwrap_or(limits::CHATS_LIMIT_DEFAULT);
    if limit == 0 || limit > limits::CHATS_LIMIT_MAX {
        return Err(Error::unprocessable(
            "invalid_query",
            format!("limit: must be 1 to {}", limits::CHATS_LIMIT_MAX),
        ));
    }
    if q.before_id.is_some() && q.before.is_none() {
        return Err(Error::unprocessable(
            "invalid_query",
            "before_id: only with before",
        ));
    }
    let before = q
        .before
        .map(|t| (t.timestamp_millis(), q.before_id.unwrap_or_default()));
    Ok(Json(
        service::chats::list(&state, &caller, before, limit).await?,
    ))
}

/// One of my chats, as the list shows it; also one with someone no longer
/// a contact (its history stays readable, while `POST /v1/chats` refuses
/// them). Not in PROTOCOL.md.
#[utoipa::path(get, path = "/v1/chats/{id}", tag = "chats", security(("bearer" = [])),
    params(("id" = String, Path, description = "chat id")),
    responses(
        (status = 200, body = Chat),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`chat_not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Chat>> {
    Ok(Json(service::chats::get(&state, &caller, &id).await?))
}

/// Get or create the 1:1 chat with a connection (201 when created).
#[utoipa::path(post, path = "/v1/chats", tag = "chats", security(("bearer" = [])), request_body = OpenChat,
    responses(
        (status = 201, body = Chat),
        (status = 200, description = "already existed", body = Chat),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`not_connected`", body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn open(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<OpenChat>,
) -> Result<(StatusCode, Json<Chat>)> {
    let (chat, created) = service::chats::open(&state, &caller, &body.peer_id).await?;
    Ok((
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        Json(chat),
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct HistoryQuery {
    /// Messages with seq below this (older page).
    before_seq: Option<u64>,
    /// Messages with seq above this (newer page; wins over `before_seq`).
    after_seq: Option<u64>,
    /// Page size, 1..=200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

/// A page of a chat's history, in seq order.
#[utoipa::path(get, path = "/v1/chats/{id}/messages", tag = "chats", security(("bearer" = [])),
    params(("id" = String, Path, description = "chat id"), HistoryQuery),
    responses(
        (status = 200, body = Vec<Message>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`chat_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn history(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<HistoryQuery>,
) -> Result<Json<Vec<Message>>> {
    Ok(Json(
        service::chats::history(&state, &caller, &id, q.before_seq, q.after_seq, q.limit).await?,
    ))
}

/// Send a message. The same `client_id` again returns the original (200).
#[utoipa::path(post, path = "/v1/chats/{id}/messages", tag = "chats", security(("bearer" = [])),
    params(("id" = String, Path, description = "chat id")),
    request_body = SendMessage,
    responses(
        (status = 201, body = Message),
        (status = 200, description = "same client_id sent before", body = Message),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`not_connected`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`chat_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`client_id_conflict`", body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_field`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: more sends a second than a WebSocket may make (`--ws-rate`, bursts of twice that)", body = Problem, content_type = "application/problem+json"),
    ))]
async fn send(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<SendMessage>,
) -> Result<(StatusCode, Json<Message>)> {
    state.rest_send_limiter.check(caller.user_id.clone())?;
    let (m, created) = service::messages::send(&state, &caller, &id, body).await?;
    Ok((
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        Json(m),
    ))
}

/// Move my read watermark (resets unread up to it).
#[utoipa::path(post, path = "/v1/chats/{id}/read", tag = "chats", security(("bearer" = [])),
    params(("id" = String, Path, description = "chat id")),
    request_body = ReadUpTo,
    responses(
        (status = 204, description = "stored"),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`chat_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<ReadUpTo>,
) -> Result<StatusCode> {
    service::chats::read(&state, &caller, &id, body.up_to_seq).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Clear my history of a chat up to `up_to_seq` ("Clear chat"): those
/// messages are gone from my history, list, search and unread count on all
/// my devices, which hear of it as `chat.cleared`; no event about them
/// reaches me afterwards. My peer's history is untouched and they are not
/// told. A `up_to_seq` past the newest message counts as the newest; one
/// at or below an earlier clear changes nothing. Not in PROTOCOL.md.
#[utoipa::path(post, path = "/v1/chats/{id}/clear", tag = "chats", security(("bearer" = [])),
    params(("id" = String, Path, description = "chat id")),
    request_body = ClearUpTo,
    responses(
        (status = 204, description = "cleared (also when it was already)"),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`chat_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn clear(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<ClearUpTo>,
) -> Result<StatusCode> {
    service::chats::clear(&state, &caller, &id, body.up_to_seq).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Mute a chat: no notifications from it on my devices until `until`, or
/// until I unmute it (`until: null`). Messages still arrive and count as
/// unread; my devices hear of it as `chat.muted`, my peer never does. Not in
/// PROTOCOL.md.
#[utoipa::path(put, path = "/v1/chats/{id}/mute", tag = "chats", security(("bearer" = [])),
    params(("id" = String, Path, description = "chat id")),
    request_body = Mute,
    responses(
        (status = 204, description = "stored (also when it was muted so already)"),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`chat_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_field`: `until` not in the future, or more than 366 days ahead", body = Problem, content_type = "application/problem+json"),
    ))]
async fn mute(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<Mute>,
) -> Result<StatusCode> {
    service::chats::mute(&state, &caller, &id, Some(body)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Unmute a chat: its notifications are back on (a no-op when not muted).
#[utoipa::path(delete, path = "/v1/chats/{id}/mute", tag = "chats", security(("bearer" = [])),
    params(("id" = String, Path, description = "chat id")),
    responses(
        (status = 204, description = "notifications are on"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`chat_not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn unmute(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    service::chats::mute(&state, &caller, &id, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Pin a chat to the top of my list (at most 3). The chat list stays
/// ordered by activity: clients show pinned chats first, by `pinned_at`,
/// latest on top. My devices hear of it as `chat.pinned`; my peer never
/// does. Not in PROTOCOL.md.
#[utoipa::path(put, path = "/v1/chats/{id}/pin", tag = "chats", security(("bearer" = [])),
    params(("id" = String, Path, description = "chat id")),
    responses(
        (status = 204, description = "pinned (also when it was already)"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`chat_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`too_many_pinned`: 3 chats are pinned already", body = Problem, content_type = "application/problem+json"),
    ))]
async fn pin(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    service::chats::pin(&state, &caller, &id, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Unpin a chat (a no-op when it is not pinned).
#[utoipa::path(delete, path = "/v1/chats/{id}/pin", tag = "chats", security(("bearer" = [])),
    params(("id" = String, Path, description = "chat id")),
    responses(
        (status = 204, description = "not pinned"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`chat_not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn unpin(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    service::chats::pin(&state, &caller, &id, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Edit my message (within 24 hours).
#[utoipa::path(patch, path = "/v1/messages/{id}", tag = "chats", security(("bearer" = [])),
    params(("id" = String, Path, description = "message id")),
    request_body = EditMessage,
    responses(
        (status = 429, description = "`rate_limited`: more message changes a second than the send limit allows (`--ws-rate`)", body = Problem, content_type = "application/problem+json"),
        (status = 200, body = Message),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`not_sender`, `edit_window_passed`, `not_connected`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`message_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "`message_deleted`", body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn edit(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<EditMessage>,
) -> Result<Json<Message>> {
    state.rest_send_limiter.check(caller.user_id.clone())?;
    Ok(Json(
        service::messages::edit(&state, &caller, &id, body.body).await?,
    ))
}

/// Delete my message; a tombstone stays in history.
#[utoipa::path(delete, path = "/v1/messages/{id}", tag = "chats", security(("bearer" = [])),
    params(("id" = String, Path, description = "message id")),
    responses(
        (status = 429, description = "`rate_limited`: more message changes a second than the send limit allows (`--ws-rate`)", body = Problem, content_type = "application/problem+json"),
        (status = 204, description = "deleted"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`not_sender`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`message_not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    state.rest_send_limiter.check(caller.user_id.clone())?;
    service::messages::delete(&state, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// React to a message (one reaction per user per emoji, at most 10
/// different ones per user per message).
#[utoipa::path(put, path = "/v1/messages/{id}/reactions/{emoji}", tag = "chats", security(("bearer" = [])),
    params(("id" = String, Path, description = "message id"), ("emoji" = String, Path, description = "the emoji, URL-encoded")),
    responses(
        (status = 429, description = "`rate_limited`: more message changes a second than the send limit allows (`--ws-rate`)", body = Problem, content_type = "application/problem+json"),
        (status = 204, description = "stored"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`not_connected`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`message_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`too_many_reactions`: 10 different ones already", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "`message_deleted`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_field`: plain ASCII text, more than one character (grapheme cluster: an emoji with skin tones, joiners or a flag is one), or over 64 bytes", body = Problem, content_type = "application/problem+json"),
    ))]
async fn react(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, emoji)): Path<(String, String)>,
) -> Result<StatusCode> {
    state.rest_send_limiter.check(caller.user_id.clone())?;
    service::messages::react(&state, &caller, &id, &emoji, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Remove my reaction.
#[utoipa::path(delete, path = "/v1/messages/{id}/reactions/{emoji}", tag = "chats", security(("bearer" = [])),
    params(("id" = String, Path, description = "message id"), ("emoji" = String, Path, description = "the emoji, URL-encoded")),
    responses(
        (status = 429, description = "`rate_limited`: more message changes a second than the send limit allows (`--ws-rate`)", body = Problem, content_type = "application/problem+json"),
        (status = 204, description = "removed"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`not_connected`: no longer connected to the chat's other member", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`message_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "`message_deleted`", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn unreact(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, emoji)): Path<(String, String)>,
) -> Result<StatusCode> {
    state.rest_send_limiter.check(caller.user_id.clone())?;
    service::messages::react(&state, &caller, &id, &emoji, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct SearchQuery {
    /// Words to find (each matches as a prefix); 1..=256 characters.
    q: String,
    /// Only in this chat of mine (404 `chat_not_found` otherwise).
    chat_id: Option<String>,
    /// The next page: only messages older than this one (the last result
    /// of the previous page).
    before: Option<String>,
}

/// Search my chats' messages (newest first, at most 100 a page; `chat_id`
/// and `before` are not in PROTOCOL.md).
#[utoipa::path(get, path = "/v1/search", tag = "chats", security(("bearer" = [])),
    params(SearchQuery),
    responses(
        (status = 200, body = Vec<Message>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`chat_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_query`: no word, too long, too many words, or `before` not a message of mine", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: more than 5 searches a second (bursts of 20)", body = Problem, content_type = "application/problem+json"),
    ))]
async fn search(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<SearchQuery>,
) -> Result<Json<Vec<Message>>> {
    state.search_limiter.check(caller.user_id.clone())?;
    Ok(Json(
        service::messages::search(&state, &caller, &q.q, q.chat_id, q.before).await?,
    ))
}
