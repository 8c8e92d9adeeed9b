//! parley-server as a library: `main.rs` only parses flags and calls [`run`];
//! tests call [`Server::start`] with their own listener and data directory.

pub mod config;
pub mod error;
pub mod http;
pub mod hub;
pub mod keys;
pub mod log_every;
pub mod metrics;
pub mod ops;
pub mod otp_driver;
pub mod ratelimit;
pub mod service;
pub mod state;
pub mod store;
pub mod tokens;
pub mod ws;

use config::Config;
use state::{AppState, Inner};
use std::{future::Future, net::SocketAddr, path::Path, sync::Arc, time::Duration};
use tokio::net::TcpListener;

/// Why the server could not start; each variant is one clear line for the operator.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("data directory {path} is not usable: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot read or create the server secret in {path}: {source}")]
    Secret {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] store::OpenError),
    #[error("cannot cap the database size: {0}")]
    Cap(#[from] store::StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("OTP driver: {0}")]
    Driver(#[from] otp_driver::DriverError),
    #[error("data directory {path} is in use by another parley-server; stop it first")]
    InUse { path: String },
    #[error("server failed: {0}")]
    Serve(std::io::Error),
    #[error("stopped because the disk failed to save a change; check it, then start again")]
    DiskFailed,
}

/// Avatar bodies read at once (see `Inner::avatar_reads`).
const AVATAR_READS_AT_ONCE: usize = 4;

/// Events the janitor deletes per writer job (see `store::events::prune`).
const PRUNE_BATCH: i64 = 20_000;

/// New contact codes and device invites a user may create per minute.
pub const CODES_PER_MINUTE: u32 = 30;

/// Profile changes (fields, photo) a user may make per minute: each one
/// is an event in every contact's log, so a loop of them would fill
/// everyone's. Far more than anyone editing a profile by hand needs.
pub const PROFILE_CHANGES_PER_MINUTE: u32 = 30;

/// Prepares the data directory, database, keys and drivers. Blocking work runs on
/// the blocking pool.
pub async fn build_state(config: Config, bound: SocketAddr) -> Result<AppState, StartError> {
    let dir = config.data_dir.clone();
    let readers = config.read_connections as usize;
    let (store, keys, lock) = tokio::task::spawn_blocking(move || prepare_data_dir(&dir, readers))
        .await
        .map_err(|e| StartError::Serve(std::io::Error::other(e)))??;
    if config.max_database_mib > 0 {
        let cap = store.cap_size(config.max_database_mib << 20).await?;
        tracing::info!(mib = cap >> 20, "database size capped");
    }
    let otp = otp_driver::OtpDriver::from_config(&config)?;
    let public_url = config.public_url(bound);
    let auth_limiter = ratelimit::IpLimiter::per_minute(config.auth_rate_per_ip);
    let refresh_limiter = ratelimit::IpLimiter::per_minute(config.refresh_rate_per_ip);
    let short_code_limiter = ratelimit::KeyedLimiter::per_minute(config.short_code_attempts);
    let code_limiter = ratelimit::KeyedLimiter::per_minute(CODES_PER_MINUTE);
    let profile_limiter = ratelimit::KeyedLimiter::per_minute(PROFILE_CHANGES_PER_MINUTE);
    let search_limiter = ratelimit::KeyedLimiter::per_second(5, 20);
    let rest_send_limiter =
        ratelimit::KeyedLimiter::per_second(config.ws_rate, config.ws_rate.saturating_mul(2));
    let hub = Arc::new(hub::Hub::new(config.ws_queue as usize));
    Ok(AppState(Arc::new(Inner {
        store,
        data_lock: std::sync::Mutex::new(Some(lock)),
        avatar_reads: tokio::sync::Semaphore::new(AVATAR_READS_AT_ONCE),
        config,
        keys,
        otp,
        auth_limiter,
        refresh_limiter,
        short_code_limiter,
        code_limiter,
        profile_limiter,
        search_limiter,
        rest_send_limiter,
        public_url,
        hub,
        link_waiters: Default::default(),
    })))
}

fn prepare_data_dir(
    dir: &Path,
    readers: usize,
) -> Result<(store::Store, keys::Keys, std::fs::File), StartError> {
    let shown = dir.display().to_string();
    std::fs::create_dir_all(dir).map_err(|source| StartError::DataDir {
        path: shown.clone(),
        source,
    })?;
    let lock = lock_data_dir(dir).map_err(|e| match e {
        std::fs::TryLockError::WouldBlock => StartError::InUse {
            path: shown.clone(),
        },
        std::fs::TryLockError::Error(source) => StartError::DataDir {
            path: shown.clone(),
            source,
        },
    })?;
    // Probe writability up front: SQLite's own error for this is obscure.
    let probe = dir.join(".write-test");
    std::fs::write(&probe, b"").map_err(|source| StartError::DataDir {
        path: shown.clone(),
        source,
    })?;
    let _ = std::fs::remove_file(&probe);
    let keys = keys::Keys::load_or_create(dir).map_err(|source| StartError::Secret {
        path: shown.clone(),
        source,
    })?;
    let store = store::Store::open(&dir.join("parley.db"), readers)?;
    Ok((store, keys, lock))
}

/// The file a serving parley-server holds locked in its data directory, so
/// that a second one, or a `restore`, refuses to touch the directory.
pub const LOCK_FILE: &str = "server.lock";

/// Takes the data directory's lock (released when the file is closed, also
/// if the process dies).
pub fn lock_data_dir(dir: &Path) -> Result<std::fs::File, std::fs::TryLockError> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(LOCK_FILE))
        .map_err(std::fs::TryLockError::Error)?;
    file.try_lock()?;
    Ok(file)
}

/// A running server: its address and a handle to stop it.
pub struct Server {
    pub addr: SocketAddr,
    /// Where `GET /metrics` is served, when `--metrics-listen` is set.
    pub metrics_addr: Option<SocketAddr>,
    pub state: AppState,
    metrics: Option<tokio::task::JoinHandle<()>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), StartError>>,
}

impl Server {
    /// Binds nothing itself: serves on `listener` until `stop` is called.
    pub async fn start(config: Config, listener: TcpListener) -> Result<Server, StartError> {
        let addr = listener.local_addr().map_err(StartError::Serve)?;
        let state = build_state(config, addr).await?;
        let (metrics_addr, metrics) = start_metrics(&state).await?.unzip();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, state.clone(), async move {
            let _ = rx.await;
        }));
        Ok(Server {
            addr,
            metrics_addr,
            metrics,
            state,
            shutdown: Some(tx),
            task,
        })
    }

    /// True once serving ended without `stop` (its disk failed).
    pub fn has_stopped(&self) -> bool {
        self.task.is_finished()
    }

    /// Graceful stop: in-flight requests finish, the writer flushes.
    pub async fn stop(mut self) -> Result<(), StartError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(m) = self.metrics.take() {
            m.abort();
        }
        self.task
            .await
            .map_err(|e| StartError::Serve(std::io::Error::other(e)))?
    }
}

/// Binds `--metrics-listen`, if set, and serves `GET /metrics` there.
async fn start_metrics(
    state: &AppState,
) -> Result<Option<(SocketAddr, tokio::task::JoinHandle<()>)>, StartError> {
    let Some(addr) = state.config.metrics_listen else {
        return Ok(None);
    };
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Listen { addr, source })?;
    let bound = listener.local_addr().map_err(StartError::Serve)?;
    Ok(Some((
        bound,
        tokio::spawn(metrics::serve(listener, state.clone())),
    )))
}

/// Serves `state` on `listener` until `shutdown` resolves, then drains requests
/// and flushes the database writer. Stops by itself with
/// [`StartError::DiskFailed`] once the disk failed an fsync: the process
/// saves nothing more, so it exits non-zero and its supervisor (systemd's
/// `Restart=on-failure`) starts it again, and SQLite recovers from what is on
/// disk.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    // Held while serving, let go when this returns (the store closed):
    // another server, or a restore, may then have the directory.
    let _lock = state
        .data_lock
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    let janitor = tokio::spawn(janitor(state.clone()));
    let admin_watch = tokio::spawn(service::admin::watch(state.clone()));
    let app = http::app(state.clone());
    let send_buffer = state.config.tcp_send_buffer;
    let listener =
        axum::serve::ListenerExt::tap_io(listener, move |tcp: &mut tokio::net::TcpStream| {
            // Small frames must not wait for Nagle's algorithm.
            let _ = tcp.set_nodelay(true);
            if send_buffer > 0 {
                let _ = socket2::SockRef::from(&*tcp).set_send_buffer_size(send_buffer as usize);
            }
        });
    let result = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown({
        // Upgraded WebSockets are not part of the HTTP drain: tell them to go
        // (1001) so clients reconnect and resume instead of hanging on.
        let hub = state.hub.clone();
        let store = state.store.clone();
        async move {
            tokio::select! {
                _ = shutdown => {},
                _ = store.writer.disk_failure() => {
                    tracing::error!("the disk failed to save a change: shutting down so that a restart recovers");
                }
            }
            hub.close_all(1001);
        }
    })
    .await;
    janitor.abort();
    admin_watch.abort();
    state.store.close().await;
    result.map_err(StartError::Serve)?;
    if state.store.writer.disk_failed() {
        return Err(StartError::DiskFailed);
    }
    Ok(())
}

/// Periodic housekeeping: expired codes, requests, links; rate-limiter memory;
/// the event log's retention; once an hour, attachments no one can reach.
async fn janitor(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    let mut minutes: u64 = 0;
    loop {
        tick.tick().await;
        minutes += 1;
        if minutes % 60 == 1 {
            match service::attachments::collect_garbage(&state, service::attachments::UNSENT_KEPT)
                .await
            {
                Ok(c) if c != service::attachments::Collected::default() => tracing::info!(
                    attachments = c.attachments,
                    files_set_aside = c.files_moved,
                    files_deleted = c.files_deleted,
                    files_without_rows_set_aside = c.strays,
                    "collected attachments no one can reach"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "janitor: collecting attachments failed"),
            }
        }
        state.auth_limiter.prune();
        state.refresh_limiter.prune();
        state.short_code_limiter.prune();
        state.code_limiter.prune();
        state.profile_limiter.prune();
        state.search_limiter.prune();
        state.rest_send_limiter.prune();
        if let Err(e) = service::auth::purge_expired(&state).await {
            tracing::warn!(error = %e, "janitor: purging sign-in codes failed");
        }
        if let Err(e) = service::connections::purge_expired(&state).await {
            tracing::warn!(error = %e, "janitor: purging contact codes and requests failed");
        }
        if let Err(e) = service::links::purge_expired(&state).await {
            tracing::warn!(error = %e, "janitor: purging device links failed");
        }
        let cutoff = store::now_ms() - (state.config.event_retention_days * 86_400_000) as i64;
        // In batches, each its own writer job: sends go in between.
        loop {
            match state
                .store
                .write(move |conn| store::events::prune(conn, cutoff, PRUNE_BATCH))
                .await
            {
                Ok((_, true)) => tokio::task::yield_now().await,
                Ok((_, false)) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "janitor: pruning the event log failed");
                    break;
                }
            }
        }
    }
}

/// Runs the server with `config` until SIGINT/SIGTERM: the `main` of the binary.
pub async fn run(config: Config) -> Result<(), StartError> {
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| StartError::Listen {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(StartError::Serve)?;
    let state = build_state(config, addr).await?;
    let driver = match &state.config.otp_driver {
        config::OtpDriverKind::Log => "log (codes appear in this log)".to_owned(),
        config::OtpDriverKind::File(p) => format!("file ({})", p.display()),
        config::OtpDriverKind::Smtp => "smtp".to_owned(),
        config::OtpDriverKind::Webhook => "webhook".to_owned(),
    };
    tracing::info!(
        "parley-server {} listening on http://{addr} (public URL {}), data in {}, OTP driver: {driver}",
        env!("CARGO_PKG_VERSION"),
        state.public_url,
        state.config.data_dir.display(),
    );
    let metrics = start_metrics(&state).await?;
    if let Some((addr, _)) = &metrics {
        tracing::info!("metrics at http://{addr}/metrics");
    }
    tracing::info!(
        "sign in: curl -X POST http://{addr}/v1/auth/otp/request -H 'content-type: application/json' -d '{{\"identifier\":\"you@example.org\"}}'"
    );
    let served = serve(listener, state, shutdown_signal()).await;
    if let Some((_, task)) = metrics {
        task.abort();
    }
    served?;
    tracing::info!("stopped cleanly");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: draining requests");
}
