//! HTTP: routes and extractors only. Handlers parse, authorize (the `Caller`
//! extractor), call a service and return; errors become problem+json in
//! `problem`. No business rule and no SQL lives here.

mod attachments;
mod auth;
mod chats;
mod connections;
mod devices;
pub mod extract;
mod links;
mod meta;
mod openapi;
mod problem;
mod profile;

use crate::{error::Error, state::AppState};
use axum::{extract::DefaultBodyLimit, http::Request, Router};
use parley_protocol::limits;
use std::time::Duration;
use tower_http::{catch_panic::CatchPanicLayer, trace::TraceLayer};

pub use openapi::ApiDoc;

/// The whole HTTP application, without a socket, so tests can drive it directly.
pub fn app(state: AppState) -> Router {
    Router::new()
        .merge(meta::router())
        .merge(auth::router())
        .merge(profile::router())
        .merge(devices::router())
        .merge(connections::router())
        .merge(links::router())
        .merge(chats::router())
        .merge(attachments::router())
        .merge(crate::ws::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limits::JSON_BODY_MAX_BYTES))
        .layer(CatchPanicLayer::custom(|_| {
            axum::response::IntoResponse::into_response(Error::internal("handler panicked"))
        }))
        .layer(axum::middleware::from_fn(crate::metrics::count_responses))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request<_>| {
                    tracing::info_span!("http", method = %req.method(), path = %req.uri().path())
                })
                .on_response(
                    |res: &axum::http::Response<_>, latency: Duration, _span: &tracing::Span| {
                        tracing::debug!(status = res.status().as_u16(), ?latency, "response");
                    },
                ),
        )
        .with_state(state)
}

async fn not_found() -> Error {
    Error::not_found("not_found", "no such endpoint")
}

async fn method_not_allowed() -> Error {
    Error::MethodNotAllowed {
        detail: "method not allowed on this endpoint".into(),
    }
}
