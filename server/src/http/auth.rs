//! `/v1/auth/*`.

use super::extract::{ClientIp, Json};
use crate::{error::Result, service, service::Caller, state::AppState};
use axum::{extract::State, http::StatusCode, routing::post, Router};
use parley_protocol::{
    OtpRequest, OtpRequested, OtpVerify, Problem, RefreshRequest, Session, Tokens,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/auth/otp/request", post(request_otp))
        .route("/v1/auth/otp/verify", post(verify_otp))
        .route("/v1/auth/refresh", post(refresh))
        .route("/v1/auth/logout", post(logout))
}

/// Ask for a sign-in code.
///
/// The answer is the same whether or not an account exists for the identifier.
#[utoipa::path(post, path = "/v1/auth/otp/request", tag = "auth", request_body = OtpRequest,
    responses(
        (status = 202, body = OtpRequested),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_identifier`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`delivery_failed`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn request_otp(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(body): Json<OtpRequest>,
) -> Result<(StatusCode, Json<OtpRequested>)> {
    let out = service::auth::request_otp(&state, &body.identifier, ip).await?;
    Ok((StatusCode::ACCEPTED, Json(out)))
}

/// Exchange a sign-in code for tokens; creates the account on first sign-in.
#[utoipa::path(post, path = "/v1/auth/otp/verify", tag = "auth", request_body = OtpVerify,
    responses(
        (status = 200, body = Session),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`invalid_code`, `code_expired`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`account_disabled`", body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_identifier`, `invalid_field`, `invalid_body`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`too_many_attempts`, `rate_limited`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn verify_otp(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(body): Json<OtpVerify>,
) -> Result<Json<Session>> {
    Ok(Json(service::auth::verify_otp(&state, body, ip).await?))
}

/// Rotate a refresh token. Presenting an already-rotated token revokes the
/// device (`token_reused`), except as a retry after a lost answer: within
/// 60 s of the first exchange, while its successor was never presented, and
/// with the first exchange's `retry_key` if it came with one, it gets a new
/// pair and that successor is withdrawn.
#[utoipa::path(post, path = "/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses(
        (status = 200, body = Tokens),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`invalid_token`, `token_reused`; `account_disabled`, `account_deleted` for a token of such an account", body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    ))]
async fn refresh(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(body): Json<RefreshRequest>,
) -> Result<Json<Tokens>> {
    Ok(Json(
        service::auth::refresh(&state, &body.refresh_token, body.retry_key.as_deref(), ip).await?,
    ))
}

/// Sign out this device: revokes it and closes its sockets.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 204, description = "signed out"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ))]
async fn logout(State(state): State<AppState>, caller: Caller) -> Result<StatusCode> {
    service::auth::logout(&state, &caller).await?;
    Ok(StatusCode::NO_CONTENT)
}
