//! K idle authenticated WebSockets: server RSS growth per connection, time to
//! open them, and a reconnect storm with resume; the same K idle sockets on the
//! bare relay as the baseline.

use crate::{
    relay,
    server::{rss_of, ServerProc},
    table,
};
use anyhow::{anyhow, Result};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::{
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Idle sockets to open.
    #[arg(long, default_value_t = 5000)]
    pub k: usize,
    /// Users the sockets are spread over.
    #[arg(long, default_value_t = 50)]
    pub users: usize,
}

impl Default for Args {
    fn default() -> Self {
        Args { k: 5000, users: 50 }
    }
}

impl Args {
    pub fn sized(mut self, tiny: bool) -> Self {
        if tiny {
            self.k = 40;
            self.users = 4;
        }
        self
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open_one(url: String, auth: Option<String>, hello: bool) -> Result<Ws> {
    let mut req = url.as_str().into_client_request()?;
    if let Some(a) = auth {
        req.headers_mut().insert("authorization", a.parse()?);
    }
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await?;
    if hello {
        ws.send(Message::Text(
            json!({"type": "hello", "since": 0}).to_string().into(),
        ))
        .await?;
        loop {
            match ws
                .next()
                .await
                .ok_or_else(|| anyhow!("closed before live"))??
            {
                Message::Text(t) if t.contains(r#""type":"live""#) => break,
                _ => {}
            }
        }
    }
    Ok(ws)
}

async fn open_all(
    targets: Vec<(String, Option<String>)>,
    hello: bool,
) -> Result<(Vec<Ws>, Duration)> {
    let sem = Arc::new(Semaphore::new(256));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(targets.len());
    for (url, auth) in targets {
        let sem = sem.clone();
        tasks.push(tokio::spawn(async move {
            let _p = sem.acquire().await?;
            open_one(url, auth, hello).await
        }));
    }
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        out.push(t.await??);
    }
    Ok((out, start.elapsed()))
}

async fn settle() {
    tokio::time::sleep(Duration::from_secs(2)).await;
}

pub async fn run(args: Args, server_bin: &Path) -> Result<Value> {
    // Each side of every socket lives in one of our processes (the bench and
    // the server child inherits the limit), so each needs K plus some.
    let want = (args.k as u64) + 4096;
    // Raising the hard limit needs privilege; where it is refused, go as high
    // as the hard limit allows.
    let _ = rlimit::Resource::NOFILE.set(want, want);
    let limit = rlimit::increase_nofile_limit(want).unwrap_or(0);
    if limit < want {
        println!("note: open-file limit is {limit}, below the {want} this run needs");
    }
    let srv = ServerProc::start(server_bin, &[])?;
    let mut tokens = Vec::new();
    for u in 0..args.users.max(1) {
        let s = srv.login(&format!("c{u}@bench.test")).await?;
        tokens.push(format!("Bearer {}", s.tokens.access_token));
    }
    settle().await;
    let before = srv.rss_kib()?;
    let targets: Vec<_> = (0..args.k)
        .map(|i| (srv.ws_url(), Some(tokens[i % tokens.len()].clone())))
        .collect();
    let (socks, open_time) = open_all(targets.clone(), true).await?;
    settle().await;
    let after = srv.rss_kib()?;
    let per_conn = (after.saturating_sub(before)) as f64 / args.k as f64;
    // Reconnect storm: everyone drops and comes back with hello/resume.
    drop(socks);
    settle().await;
    let (socks, storm_time) = open_all(targets, true).await?;
    let after_storm = srv.rss_kib()?;
    drop(socks);
    drop(srv);

    // Baseline: the bare relay holding the same number of idle sockets.
    let (mut child, url) = relay::spawn_process()?;
    settle().await;
    let r_before = rss_of(child.id())?;
    let targets: Vec<_> = (0..args.k)
        .map(|i| {
            (
                format!("{url}/p/{}/{}", i / 2, if i % 2 == 0 { "a" } else { "b" }),
                None,
            )
        })
        .collect();
    let (socks, r_open) = open_all(targets, false).await?;
    settle().await;
    let r_after = rss_of(child.id())?;
    drop(socks);
    let _ = child.kill();
    let _ = child.wait();
    let r_per = (r_after.saturating_sub(r_before)) as f64 / args.k as f64;
    table(
        &format!("connections: {} idle sockets", args.k),
        &[
            (
                "parley RSS per socket".into(),
                format!("{per_conn:.1} KiB ({before} -> {after} KiB)"),
            ),
            (
                "bare relay RSS per socket".into(),
                format!("{r_per:.1} KiB"),
            ),
            (
                "ratio".into(),
                format!("{:.2}x", per_conn / r_per.max(0.01)),
            ),
            (
                "time to open (parley, with hello+live)".into(),
                format!("{:.2} s", open_time.as_secs_f64()),
            ),
            (
                "time to open (relay)".into(),
                format!("{:.2} s", r_open.as_secs_f64()),
            ),
            (
                "reconnect storm with resume".into(),
                format!("{:.2} s (RSS {after_storm} KiB)", storm_time.as_secs_f64()),
            ),
        ],
    );
    Ok(json!({
        "args": {"k": args.k, "users": args.users},
        "parley": {"rss_before_kib": before, "rss_after_kib": after, "rss_per_socket_kib": per_conn,
                   "open_secs": open_time.as_secs_f64(), "storm_secs": storm_time.as_secs_f64(), "rss_after_storm_kib": after_storm},
        "bare_relay": {"rss_before_kib": r_before, "rss_after_kib": r_after, "rss_per_socket_kib": r_per, "open_secs": r_open.as_secs_f64()},
    }))
}
