//! `/v1/device-links` and `/v1/device-invites`.

use super::extract::{ClientIp, Json, Path, Query};
use crate::{error::Result, service, service::Caller, state::AppState};
use axum::{
    extract::State,
    http::StatusCode,
    routing::{get, post},
    Router,
};
use parley_protocol::{
    limits, ApproveDeviceLink, DeviceInvite, DeviceLink, DeviceLinkInfo, LinkStatus, LinkedSession,
    NewDeviceLink, Problem, RedeemDeviceInvite,
};
use serde::Deserialize;
use std::time::Duration;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/device-links", post(create_link))
        .route("/v1/device-links/{id}", get(poll))
        .route("/v1/device-links/{id}/info", get(info))
        .route("/v1/device-links/{id}/approve", post(approve))
        .route("/v1/device-invites", post(create_invite))
        .route("/v1/device-invites/redeem", post(redeem))
}

/// Start linking this (signed-out) device: show `uri` as a QR and `check_code`.
#[utoipa::path(post, path = "/v1/device-links", tag = "devices", request_body = NewDeviceLink,
    responses(
        (status = 201, body = DeviceLink),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_link(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(body): Json<NewDeviceLink>,
) -> Result<(StatusCode, Json<DeviceLink>)> {
    Ok((
        StatusCode::CREATED,
        Json(service::links::create_link(&state, body, ip).await?),
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct PollQuery {
    /// The link's secret.
    secret: String,
    /// The second secret from the create answer (never in the QR): with it,
    /// a retry after a lost answer gets the session again (see below).
    #[serde(default)]
    poll_secret: Option<String>,
    /// Seconds to wait for approval, 0..=30 (default 30).
    #[serde(default)]
    #[param(maximum = 30)]
    wait: Option<u64>,
}

/// Wait for approval (long poll). Returns the session exactly once; again
/// only to a poll that carries `poll_secret`, within 60 s of the first,
/// while that session's refresh token is unused (a retry after a lost
/// answer: a new refresh token, the first one withdrawn).
#[utoipa::path(get, path = "/v1/device-links/{id}", tag = "devices",
    params(("id" = String, Path, description = "link id"), PollQuery),
    responses(
        (status = 200, body = LinkStatus),
        (status = 401, description = "`account_deleted`: the approving account was deleted since", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`account_disabled`: the approving account was disabled since", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`link_not_found` (also for a wrong secret)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`link_used`", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "`link_expired`", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn poll(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<PollQuery>,
) -> Result<Json<LinkStatus>> {
    let wait = Duration::from_secs(q.wait.unwrap_or(limits::LINK_POLL_MAX_SECS));
    Ok(Json(
        service::links::poll(&state, &id, &q.secret, q.poll_secret.as_deref(), wait).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct SecretQuery {
    /// The link's secret (from the QR).
    secret: String,
}

/// What the approving device shows before approving: the new device's name,
/// platform and check code.
#[utoipa::path(get, path = "/v1/device-links/{id}/info", tag = "devices", security(("bearer" = [])),
    params(("id" = String, Path, description = "link id"), SecretQuery),
    responses(
        (status = 200, body = DeviceLinkInfo),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`link_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`link_used`", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "`link_expired`", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn info(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<SecretQuery>,
) -> Result<Json<DeviceLinkInfo>> {
    Ok(Json(
        service::links::info(&state, &caller, &id, &q.secret).await?,
    ))
}

/// Approve the link: the new device joins my account.
#[utoipa::path(post, path = "/v1/device-links/{id}/approve", tag = "devices", security(("bearer" = [])),
    params(("id" = String, Path, description = "link id")),
    request_body = ApproveDeviceLink,
    responses(
        (status = 204, description = "approved"),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`link_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`link_used`", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "`link_expired`", body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<ApproveDeviceLink>,
) -> Result<StatusCode> {
    service::links::approve(&state, &caller, &id, &body.secret).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Make a code a new device scans to join my account (reverse linking).
#[utoipa::path(post, path = "/v1/device-invites", tag = "devices", security(("bearer" = [])),
    responses(
        (status = 201, body = DeviceInvite),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: more than 30 new codes and invites a minute", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_invite(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<(StatusCode, Json<DeviceInvite>)> {
    Ok((
        StatusCode::CREATED,
        Json(service::links::create_invite(&state, &caller).await?),
    ))
}

/// Redeem an invite on the new device. Once; again only with the same
/// `retry_key`, within 60 s, while that session's refresh token is unused
/// (a retry after a lost answer: the same device, a new refresh token).
#[utoipa::path(post, path = "/v1/device-invites/redeem", tag = "devices", request_body = RedeemDeviceInvite,
    responses(
        (status = 200, body = LinkedSession),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`account_disabled`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`invite_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invite_used`", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "`invite_expired`", body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    ))]
async fn redeem(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(body): Json<RedeemDeviceInvite>,
) -> Result<Json<LinkedSession>> {
    Ok(Json(service::links::redeem(&state, body, ip).await?))
}
