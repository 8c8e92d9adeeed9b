//! `/v1/contact-codes`, `/v1/connection-requests`, `/v1/connections`.

use super::extract::{Json, Path, Query};
use crate::{error::Result, service, service::Caller, state::AppState};
use axum::{
    extract::State,
    http::StatusCode,
    routing::{delete, get, post},
    Router,
};
use parley_protocol::{
    Connection, ConnectionRequest, ContactCode, Direction, NewConnectionRequest, Problem,
};
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/contact-codes", post(create_code))
        .route(
            "/v1/connection-requests",
            post(create_request).get(list_requests),
        )
        .route("/v1/connection-requests/{id}/accept", post(accept))
        .route("/v1/connection-requests/{id}/decline", post(decline))
        .route("/v1/connections", get(list))
        .route("/v1/connections/{user_id}", delete(remove))
}

/// Make a contact code (QR) for others to scan. Revokes the previous one.
#[utoipa::path(post, path = "/v1/contact-codes", tag = "contacts", security(("bearer" = [])),
    responses(
        (status = 201, body = ContactCode),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: more than 30 new codes and invites a minute", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_code(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<(StatusCode, Json<ContactCode>)> {
    Ok((
        StatusCode::CREATED,
        Json(service::connections::create_code(&state, &caller).await?),
    ))
}

/// Ask the owner of a contact code to connect (the scanner's side).
///
/// 201 when created; 200 with the existing request when one is already
/// pending between the two (a safe retry).
#[utoipa::path(post, path = "/v1/connection-requests", tag = "contacts", security(("bearer" = [])),
    request_body = NewConnectionRequest,
    responses(
        (status = 201, body = ConnectionRequest),
        (status = 200, description = "already pending", body = ConnectionRequest),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`code_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`already_connected`", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "`code_expired`", body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`own_code`, `invalid_field`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited` (typed short codes)", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_request(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<NewConnectionRequest>,
) -> Result<(StatusCode, Json<ConnectionRequest>)> {
    let (req, created) = service::connections::request(&state, &caller, &body.code).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(req)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct DirectionQuery {
    /// `incoming` (default) or `outgoing`.
    #[serde(default)]
    direction: Direction,
}

/// Pending connection requests to me (incoming) or from me (outgoing).
#[utoipa::path(get, path = "/v1/connection-requests", tag = "contacts", security(("bearer" = [])),
    params(DirectionQuery),
    responses(
        (status = 200, body = Vec<ConnectionRequest>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_requests(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<DirectionQuery>,
) -> Result<Json<Vec<ConnectionRequest>>> {
    Ok(Json(
        service::connections::list_requests(&state, &caller, q.direction).await?,
    ))
}

/// Accept a request made with my code.
#[utoipa::path(post, path = "/v1/connection-requests/{id}/accept", tag = "contacts", security(("bearer" = [])),
    params(("id" = String, Path, description = "request id")),
    responses(
        (status = 201, body = Connection),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`request_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "`request_expired`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn accept(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Connection>)> {
    Ok((
        StatusCode::CREATED,
        Json(service::connections::accept(&state, &caller, &id).await?),
    ))
}

/// Decline a request made with my code.
#[utoipa::path(post, path = "/v1/connection-requests/{id}/decline", tag = "contacts", security(("bearer" = [])),
    params(("id" = String, Path, description = "request id")),
    responses(
        (status = 204, description = "declined"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`request_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "`request_expired`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn decline(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    service::connections::decline(&state, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// My contacts, with presence.
#[utoipa::path(get, path = "/v1/connections", tag = "contacts", security(("bearer" = [])),
    responses(
        (status = 200, body = Vec<Connection>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ))]
async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<Vec<Connection>>> {
    Ok(Json(service::connections::list(&state, &caller).await?))
}

/// Remove a contact. History stays readable; new messages are refused.
#[utoipa::path(delete, path = "/v1/connections/{user_id}", tag = "contacts", security(("bearer" = [])),
    params(("user_id" = String, Path, description = "the contact's user id")),
    responses(
        (status = 204, description = "removed"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_connected`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<String>,
) -> Result<StatusCode> {
    service::connections::remove(&state, &caller, &user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
