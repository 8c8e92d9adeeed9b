//! `/healthz` and `/openapi.json`.

use super::extract::Json;
use crate::state::AppState;
use axum::{routing::get, Router};
use parley_protocol::Health;
use utoipa::OpenApi;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/openapi.json", get(openapi))
}

/// Liveness: answers 200 while the server runs.
#[utoipa::path(get, path = "/healthz", tag = "service", responses((status = 200, body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    })
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "service",
    responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json")))]
async fn openapi() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(super::ApiDoc::openapi())
}
