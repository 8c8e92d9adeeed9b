//! Extractors whose rejections are problem+json with stable codes.

use crate::{error::Error, service::Caller, state::AppState};
use axum::{
    extract::{
        rejection::{JsonRejection, QueryRejection},
        ConnectInfo, FromRequest, FromRequestParts, Request,
    },
    http::{header, request::Parts},
    response::{IntoResponse, Response},
};
use serde::{de::DeserializeOwned, Serialize};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// JSON body in, JSON body out. A wrong type or missing field is 422 naming the
/// field; bad syntax is 400; a wrong content type 415; an oversized body 413.
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Json(v)),
            Err(rej) => Err(json_rejection(rej)),
        }
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

fn json_rejection(rej: JsonRejection) -> Error {
    match rej {
        JsonRejection::JsonDataError(e) => {
            Error::unprocessable("invalid_body", describe_serde(&e.body_text()))
        }
        JsonRejection::JsonSyntaxError(e) => {
            Error::bad_request("malformed_json", describe_serde(&e.body_text()))
        }
        JsonRejection::MissingJsonContentType(_) => Error::UnsupportedMediaType {
            detail: "expected Content-Type: application/json".into(),
        },
        JsonRejection::BytesRejection(e) => body_rejection(e.status(), e.body_text()),
        other => Error::bad_request("bad_request", other.body_text()),
    }
}

/// Turns a failed body read into 413 or 400.
pub fn body_rejection(status: axum::http::StatusCode, text: String) -> Error {
    if status == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        Error::PayloadTooLarge {
            detail: "request body is too large".into(),
        }
    } else {
        Error::bad_request("bad_request", text)
    }
}

/// A streamed body that failed to arrive: over the limit the stream was
/// capped at (`too_large`), or cut off.
pub fn body_read_error(e: impl std::fmt::Display, too_large: impl FnOnce() -> Error) -> Error {
    let text = e.to_string();
    if text.contains("length limit") {
        too_large()
    } else {
        Error::bad_request("bad_request", format!("upload interrupted: {text}"))
    }
}

/// axum's serde messages start with "Failed to deserialize the JSON body into the
/// target type: "; keep the part that names the field.
fn describe_serde(text: &str) -> String {
    text.rsplit_once("target type: ")
        .map(|(_, rest)| rest.to_owned())
        .unwrap_or_else(|| text.to_owned())
}

/// Query string, with a 422 naming the bad parameter.
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Query(q.0))
            .map_err(|e: QueryRejection| Error::unprocessable("invalid_query", e.body_text()))
    }
}

/// Path parameters, with a 400 problem (`invalid_path`) instead of axum's
/// plain-text rejection (e.g. percent-encoded bytes that are not UTF-8).
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Path(p.0))
            .map_err(|e| Error::bad_request("invalid_path", e.body_text()))
    }
}

/// The authenticated caller. Missing or bad credentials are 401 `unauthorized`.
impl FromRequestParts<AppState> for Caller {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or_else(|| {
            Error::unauthorized(
                "unauthorized",
                "missing Authorization: Bearer <access_token>",
            )
        })?;
        crate::service::auth::authenticate(state, token).await
    }
}

fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// The client's IP: the peer address, or the last X-Forwarded-For hop when the
/// operator said a trusted proxy sits in front.
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if state.config.trust_forwarded_for {
            let forwarded = parts
                .headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit(',').next())
                .and_then(|v| v.trim().parse::<IpAddr>().ok());
            if let Some(ip) = forwarded {
                return Ok(ClientIp(ip));
            }
        }
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        Ok(ClientIp(peer))
    }
}
