//! `/v1/devices`.

use super::extract::{Json, Path};
use crate::{error::Result, service, service::Caller, state::AppState};
use axum::{
    extract::State,
    http::StatusCode,
    routing::{delete, get},
    Router,
};
use parley_protocol::{Device, Problem};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/devices", get(list))
        .route("/v1/devices/{id}", delete(revoke))
}

/// The account's signed-in devices; `current` marks the caller.
#[utoipa::path(get, path = "/v1/devices", tag = "devices", security(("bearer" = [])),
    responses(
        (status = 200, body = Vec<Device>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ))]
async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<Vec<Device>>> {
    Ok(Json(service::devices::list(&state, &caller).await?))
}

/// Sign a device out: revokes its tokens and closes its sockets.
#[utoipa::path(delete, path = "/v1/devices/{id}", tag = "devices", security(("bearer" = [])),
    params(("id" = String, Path, description = "device id")),
    responses(
        (status = 204, description = "revoked: its tokens stop working, its sockets close (4001); revoked from another device, the device invites it made that nobody redeemed are cancelled"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`device_not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    service::devices::revoke(&state, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
