//! The one place where `Error` becomes an HTTP response.

use crate::error::Error;
use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use parley_protocol::{Problem, PROBLEM_CONTENT_TYPE};

impl Error {
    /// Status, stable code and title of this error.
    pub fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            Error::BadRequest { code, .. } => (StatusCode::BAD_REQUEST, code, "Bad request"),
            Error::Unauthorized { code, .. } => (StatusCode::UNAUTHORIZED, code, "Unauthorized"),
            Error::Forbidden { code, .. } => (StatusCode::FORBIDDEN, code, "Forbidden"),
            Error::NotFound { code, .. } => (StatusCode::NOT_FOUND, code, "Not found"),
            Error::MethodNotAllowed { .. } => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "Method not allowed",
            ),
            Error::Conflict { code, .. } => (StatusCode::CONFLICT, code, "Conflict"),
            Error::Gone { code, .. } => (StatusCode::GONE, code, "Gone"),
            Error::PayloadTooLarge { .. } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "Payload too large",
            ),
            Error::UnsupportedMediaType { .. } => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Unsupported media type",
            ),
            Error::Unprocessable { code, .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, code, "Invalid request")
            }
            Error::TooManyRequests { code, .. } => {
                (StatusCode::TOO_MANY_REQUESTS, code, "Too many requests")
            }
            Error::Unavailable { code, .. } => {
                (StatusCode::SERVICE_UNAVAILABLE, code, "Service unavailable")
            }
            Error::Internal(_) | Error::Store(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal server error",
            ),
        }
    }

    /// The problem document for this error; internal details never leave.
    pub fn to_problem(&self) -> Problem {
        let (status, code, title) = self.parts();
        let detail = match self {
            Error::Internal(_) | Error::Store(_) => {
                "something went wrong on the server; it has been logged".to_owned()
            }
            other => other.to_string(),
        };
        let mut problem = Problem::new(status.as_u16(), code, title, detail);
        if let Error::TooManyRequests { retry_after, .. } = self {
            problem.retry_after = Some(*retry_after);
        }
        problem
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        if matches!(self, Error::Internal(_) | Error::Store(_)) {
            tracing::error!(error = %self, "internal error");
        }
        let (status, _, _) = self.parts();
        let body = serde_json::to_vec(&self.to_problem()).unwrap_or_default();
        let mut resp = (status, body).into_response();
        let headers = resp.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
        );
        if let Error::TooManyRequests { retry_after, .. } = self {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        }
        resp
    }
}
