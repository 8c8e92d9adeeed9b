//! `/v1/attachments`.

use super::extract::{Json, Path, Query};
use crate::{error::Error, error::Result, service, service::Caller, state::AppState};
use axum::{
    body::Body,
    extract::{DefaultBodyLimit, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Router,
};
use parley_protocol::{Attachment, Problem};
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        // The size limit is enforced while streaming (configurable), not here.
        .route(
            "/v1/attachments",
            post(upload).layer(DefaultBodyLimit::disable()),
        )
        .route("/v1/attachments/{id}", get(download))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct UploadQuery {
    /// The file's name as shown to people (optional).
    name: Option<String>,
}

/// Upload a file (raw body with its Content-Type; <= 25 MiB by default).
///
/// Send it in a message within 7 days: an upload in no message after that,
/// like the file of a deleted message, is deleted (PROTOCOL.md is silent).
#[utoipa::path(post, path = "/v1/attachments", tag = "chats", security(("bearer" = [])),
    params(UploadQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses(
        (status = 201, body = Attachment),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`: over the size limit, or larger than the unsent uploads a user may keep", body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`upload_quota`: more uploaded and not sent yet than the server keeps per user (`--max-unsent-upload-mib`)", body = Problem, content_type = "application/problem+json"),
    ))]
async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Query(q): Query<UploadQuery>,
    body: Body,
) -> Result<(StatusCode, Json<Attachment>)> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(len) = declared {
        if len > state.config.max_attachment_bytes {
            return Err(Error::PayloadTooLarge {
                detail: format!(
                    "attachments are limited to {} bytes",
                    state.config.max_attachment_bytes
                ),
            });
        }
    }
    let a = service::attachments::upload(
        &state,
        &caller,
        ct,
        q.name,
        declared,
        body.into_data_stream(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(a)))
}

/// Download a file: only its uploader and members of chats that reference it.
#[utoipa::path(get, path = "/v1/attachments/{id}", tag = "chats", security(("bearer" = [])),
    params(("id" = String, Path, description = "attachment id")),
    responses(
        (status = 200, content_type = "application/octet-stream", body = Vec<u8>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`attachment_not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn download(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response> {
    let (a, path) = service::attachments::open(&state, &caller, &id).await?;
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(Error::internal)?;
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file));
    let mime = HeaderValue::from_str(&a.mime)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, mime);
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(a.size));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=31536000, immutable"),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    // Never rendered inline by a browser: attachments are untrusted content.
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment"),
    );
    Ok(resp)
}
