//! `/healthz` and `/openapi.json`.

use super::extract::Json;
use crate::{error::Error, error::Result, state::AppState};
use axum::{extract::State, routing::get, Router};
use parley_protocol::{Health, Problem};
use utoipa::OpenApi;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/openapi.json", get(openapi))
}

/// Liveness: 200 while the server runs and can save changes; 503
/// `storage_failed` once its disk failed to confirm a write, after which
/// only a restart helps (a supervisor watching this restarts it).
#[utoipa::path(get, path = "/healthz", tag = "service", responses(
    (status = 200, body = Health),
    (status = 503, body = Problem, content_type = "application/problem+json",
     description = "`storage_failed`: the disk failed; restart the server"),
))]
async fn healthz(State(state): State<AppState>) -> Result<Json<Health>> {
    if state.store.writer.disk_failed() {
        // Not through `From<StoreError>`: a health probe is not a refused change.
        return Err(Error::storage_failed());
    }
    Ok(Json(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    }))
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "service",
    responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json")))]
async fn openapi() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(super::ApiDoc::openapi())
}
