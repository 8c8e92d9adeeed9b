//! Prometheus metrics: off by default, served on their own listen address
//! (`--metrics-listen`) so they never share a port with the public API.
//!
//! Counters and histograms live in one process-wide registry that the HTTP
//! layer, the message service and the database writer update as they go;
//! gauges that are cheaper to read than to track (connected sockets, event-log
//! rows) are read from the server's state at scrape time.

use crate::{error::Error, state::AppState, store};
use axum::{
    extract::{Request, State},
    http::header,
    middleware::Next,
    response::{IntoResponse, Response},
    Router,
};
use prometheus_client::{
    encoding::text::encode,
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{exponential_buckets, Histogram},
    },
    registry::{Registry, Unit},
};
use std::{
    sync::{LazyLock, Mutex},
    time::Duration,
};
use tokio::net::TcpListener;

/// The content type of the OpenMetrics text format Prometheus scrapes.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

type Labels = Vec<(String, String)>;

/// Every metric the server exports.
pub struct Metrics {
    /// Messages created (not counting idempotent retries); `rate()` of it is
    /// messages per second.
    pub messages_sent: Counter,
    /// HTTP responses by status code (a WebSocket upgrade counts as 101).
    pub http_responses: Family<Labels, Counter>,
    /// Jobs per group commit of the database writer.
    pub writer_batch_jobs: Histogram,
    /// Time from BEGIN to the end of COMMIT per batch (the fsync that makes
    /// it durable follows, on the syncer's thread).
    pub writer_commit_seconds: Seconds,
    /// Time of one fsync of the WAL; every write's caller waits for one.
    pub wal_sync_seconds: Seconds,
    /// Time a write job waited in the writer's queue before it ran.
    pub writer_wait_seconds: Seconds,
    /// Time from queueing a write to answering it, durable: the wait, its
    /// batch, and the fsync after it.
    pub write_seconds: Seconds,
    /// Time the writer spent between batches copying the WAL's last frames
    /// back so that the WAL can start over; queued writes wait for it.
    pub wal_catch_up_seconds: Seconds,
    /// Times a session got an event from the hub with earlier ones missing
    /// and read them back from the log. Events are published in log order, so
    /// this stays at zero; anything else means they were not.
    pub ws_gap_fills: Counter,
    /// Changes refused for now, by problem code (`storage_full`,
    /// `write_rolled_back`, `storage_failed`), over REST and the WebSocket
    /// alike.
    pub writes_refused: Family<Labels, Counter>,
    connected_sockets: Gauge,
    event_log_rows: Gauge,
    /// Held only while encoding (never across an `.await`).
    registry: Mutex<Registry>,
}

/// A histogram of durations, 0.1 ms to ~3 s in doubling buckets, observed
/// as `Duration`s.
#[derive(Clone)]
pub struct Seconds(Histogram);

impl Seconds {
    fn new() -> Seconds {
        Seconds(Histogram::new(exponential_buckets(0.0001, 2.0, 16)))
    }

    pub fn observe(&self, took: Duration) {
        self.0.observe(took.as_secs_f64());
    }

    /// Observations so far.
    #[cfg(test)]
    pub fn count(&self) -> u64 {
        self.0.count()
    }
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The process-wide metrics.
pub fn get() -> &'static Metrics {
    &METRICS
}

impl Metrics {
    fn new() -> Metrics {
        let m = Metrics {
            messages_sent: Counter::default(),
            http_responses: Family::default(),
            // 1, 2, 4, ... 512: the writer's MAX_BATCH is 512.
            writer_batch_jobs: Histogram::new(exponential_buckets(1.0, 2.0, 10)),
            writer_commit_seconds: Seconds::new(),
            wal_sync_seconds: Seconds::new(),
            writer_wait_seconds: Seconds::new(),
            write_seconds: Seconds::new(),
            wal_catch_up_seconds: Seconds::new(),
            ws_gap_fills: Counter::default(),
            writes_refused: Family::default(),
            connected_sockets: Gauge::default(),
            event_log_rows: Gauge::default(),
            registry: Mutex::new(Registry::with_prefix("parley")),
        };
        {
            let mut r = m.registry.lock().unwrap_or_else(|p| p.into_inner());
            r.register("messages_sent", "Messages created", m.messages_sent.clone());
            r.register(
                "http_responses",
                "HTTP responses by status code",
                m.http_responses.clone(),
            );
            r.register(
                "writer_batch_jobs",
                "Write jobs per group commit",
                m.writer_batch_jobs.clone(),
            );
            for (name, help, h) in [
                (
                    "writer_commit",
                    "Duration of one group commit, BEGIN to COMMIT (its fsync follows: wal_sync)",
                    &m.writer_commit_seconds,
                ),
                (
                    "wal_sync",
                    "Duration of one fsync of the WAL, which answers the group commits before it",
                    &m.wal_sync_seconds,
                ),
                (
                    "writer_wait",
                    "Time a write waited in the writer's queue before it ran",
                    &m.writer_wait_seconds,
                ),
                (
                    "write",
                    "Time from queueing a write to answering it, on disk",
                    &m.write_seconds,
                ),
                (
                    "wal_catch_up",
                    "Time the writer spent letting the WAL start over; queued writes wait for it",
                    &m.wal_catch_up_seconds,
                ),
            ] {
                r.register_with_unit(name, help, Unit::Seconds, h.0.clone());
            }
            r.register(
                "ws_gap_fills",
                "Live events that arrived with earlier ones missing, filled from the log",
                m.ws_gap_fills.clone(),
            );
            r.register(
                "writes_refused",
                "Changes refused for now (nothing saved; the client retries), by problem code",
                m.writes_refused.clone(),
            );
            r.register(
                "connected_sockets",
                "WebSocket sessions connected now",
                m.connected_sockets.clone(),
            );
            r.register(
                "event_log_rows",
                "Rows in the per-user event log (from its ids: an upper bound)",
                m.event_log_rows.clone(),
            );
        }
        m
    }

    /// Counts one change refused for now with problem `code`.
    pub fn refused(&self, code: &str) {
        self.writes_refused
            .get_or_create(&vec![("code".to_owned(), code.to_owned())])
            .inc();
    }

    /// Records one group commit of `jobs` jobs that took `took`.
    pub fn observe_commit(&self, jobs: usize, took: Duration) {
        self.writer_batch_jobs.observe(jobs as f64);
        self.writer_commit_seconds.observe(took);
    }

    fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        let r = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        encode(&mut out, &r)?;
        Ok(out)
    }
}

/// Counts every HTTP response by status (a middleware for `http::app`).
pub async fn count_responses(req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    get()
        .http_responses
        .get_or_create(&vec![(
            "code".to_owned(),
            res.status().as_u16().to_string(),
        )])
        .inc();
    res
}

/// The metrics text, with the scrape-time gauges read from `state`.
pub async fn render(state: &AppState) -> Result<String, Error> {
    let m = get();
    m.connected_sockets.set(state.hub.session_count() as i64);
    let rows = state
        .store
        .read(|conn| store::admin::event_rows(conn).map_err(Error::from))
        .await?;
    m.event_log_rows.set(rows);
    m.encode().map_err(Error::internal)
}

async fn metrics_handler(State(state): State<AppState>) -> Result<Response, Error> {
    let body = render(&state).await?;
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response())
}

/// The metrics application: `GET /metrics` only.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", axum::routing::get(metrics_handler))
        .with_state(state)
}

/// Serves the metrics application on `listener` until the task is aborted.
pub async fn serve(listener: TcpListener, state: AppState) {
    if let Err(e) = axum::serve(listener, router(state)).await {
        tracing::error!(error = %e, "metrics listener failed");
    }
}
