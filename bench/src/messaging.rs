//! P pairs of users, each with a WebSocket, sending to each other as fast as
//! the in-flight window allows (or at a target rate). Measures delivered
//! messages/s and send->receive latency, through parley-server and through the
//! bare relay, in the same run.

use crate::{relay, server::ServerProc, table};
use anyhow::{anyhow, Result};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use std::{
    path::Path,
    time::{Duration, Instant},
};
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Pairs of users (2 sockets per pair).
    #[arg(long, default_value_t = 50)]
    pub pairs: usize,
    /// Seconds of sending per target.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Sends in flight per user (awaiting their `result`).
    #[arg(long, default_value_t = 8)]
    pub window: usize,
    /// Total messages/s across all senders (default: as fast as results allow).
    #[arg(long)]
    pub rate: Option<u64>,
    /// Repeat the whole comparison this many times and report each run and
    /// the medians: on a shared machine one run's p99 says little.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=50))]
    pub runs: u32,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            pairs: 50,
            seconds: 10,
            window: 8,
            rate: None,
            runs: 1,
        }
    }
}

impl Args {
    pub fn sized(mut self, tiny: bool) -> Self {
        if tiny {
            self.pairs = 2;
            self.seconds = 1;
            self.runs = self.runs.min(2);
        }
        self
    }
}

/// What a target speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// parley-server: `hello`, wait for `live`, `send` answered by `result`,
    /// the partner gets a `message.created` event; acks now and then.
    Parley,
    /// The bench's bare relay: `send` answered by `result`, the frame itself
    /// forwarded to the partner.
    Relay,
    /// wsbroad: every frame goes to the other clients of the same URL, with
    /// no answer to the sender. A send counts as in flight until a frame from
    /// the partner arrives (the pairs' symmetric traffic keeps the window
    /// honest); frames wsbroad drops for slow readers are forgotten after
    /// [`BROADCAST_FORGET`].
    Broadcast,
}

/// How long a broadcast send stays in flight without any frame coming back.
const BROADCAST_FORGET: Duration = Duration::from_millis(200);

/// One side of a pair, as the load generator sees it.
struct Peer {
    url: String,
    auth: Option<String>,
    /// The user this socket signs in as (Parley only): the partner's
    /// messages are the `message.created` events with another sender.
    me: String,
    chat_id: String,
    kind: Kind,
}

#[derive(Default)]
struct Tally {
    sent: u64,
    delivered: u64,
    hist: Option<Histogram<u64>>,
}

async fn drive(
    peer: Peer,
    start: Instant,
    send_until: Instant,
    window: usize,
    interval: Option<Duration>,
) -> Result<Tally> {
    let mut req = peer.url.as_str().into_client_request()?;
    if let Some(a) = &peer.auth {
        req.headers_mut().insert("authorization", a.parse()?);
    }
    let (ws, _) = tokio_tungstenite::connect_async(req).await?;
    let (mut sink, mut stream) = ws.split();
    if peer.kind == Kind::Parley {
        sink.send(Message::Text(
            json!({"type": "hello", "since": 0}).to_string().into(),
        ))
        .await?;
        loop {
            let m = stream
                .next()
                .await
                .ok_or_else(|| anyhow!("closed before live"))??;
            if let Message::Text(t) = m {
                if t.contains(r#""type":"live""#) {
                    break;
                }
            }
        }
    }
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut tally = Tally::default();
    let mut in_flight = 0usize;
    let mut last_seq = 0u64;
    let mut acked = 0u64;
    let mut tick = tokio::time::interval(interval.unwrap_or(Duration::from_millis(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let grace = send_until + Duration::from_secs(3);
    let mut last_frame = Instant::now();
    loop {
        let now = Instant::now();
        let sending = now < send_until;
        if !sending && (in_flight == 0 || now > grace) {
            break;
        }
        if peer.kind == Kind::Broadcast && now.duration_since(last_frame) > BROADCAST_FORGET {
            in_flight = 0;
            last_frame = now;
        }
        tokio::select! {
            biased;
            m = stream.next() => {
                let Some(m) = m else { break };
                let Message::Text(t) = m? else { continue };
                last_frame = Instant::now();
                let v: Value = serde_json::from_str(&t)?;
                match v["type"].as_str() {
                    Some("result") => in_flight = in_flight.saturating_sub(1),
                    Some("event") => {
                        last_seq = v["seq"].as_u64().unwrap_or(last_seq);
                        let ev = &v["event"];
                        if ev["kind"] == "message.created" && ev["message"]["sender_id"].as_str().is_some_and(|s| s != peer.me) {
                            record(&mut hist, &mut tally, ev["message"]["body"].as_str(), start);
                        }
                        if last_seq >= acked + 64 {
                            sink.send(Message::Text(json!({"type": "ack", "up_to": last_seq}).to_string().into())).await?;
                            acked = last_seq;
                        }
                    }
                    Some("send") => {
                        record(&mut hist, &mut tally, v["body"].as_str(), start);
                        if peer.kind == Kind::Broadcast {
                            in_flight = in_flight.saturating_sub(1);
                        }
                    }
                    _ => {}
                }
            }
            _ = next_slot(&mut tick, interval.is_some()), if sending && in_flight < window => {
                let body = start.elapsed().as_nanos().to_string();
                // The ids parley-client sends: UUIDv7, time-ordered, so a
                // sender's idempotency keys append rather than scatter.
                let cid = uuid::Uuid::now_v7().to_string();
                let f = json!({"type": "send", "req": cid, "chat_id": peer.chat_id, "client_id": cid, "body": body});
                sink.send(Message::Text(f.to_string().into())).await?;
                in_flight += 1;
                tally.sent += 1;
            }
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    }
    let _ = sink.close().await;
    tally.hist = Some(hist);
    Ok(tally)
}

/// With a target rate, wait for the pacing tick; otherwise send at once (the
/// window is the only limit).
async fn next_slot(tick: &mut tokio::time::Interval, paced: bool) {
    if paced {
        tick.tick().await;
    }
}

fn record(hist: &mut Histogram<u64>, tally: &mut Tally, body: Option<&str>, start: Instant) {
    if let Some(sent) = body.and_then(|b| b.parse::<u128>().ok()) {
        let us = (start.elapsed().as_nanos().saturating_sub(sent) / 1000) as u64;
        let _ = hist.record(us.max(1));
        tally.delivered += 1;
    }
}

/// Runs the pairs against one target (the process `pid`, whose CPU time and
/// disk writes per delivered message are reported); returns the summary.
async fn run_target(name: &str, pid: u32, peers: Vec<Peer>, args: &Args) -> Result<Value> {
    let users = peers.len();
    let interval = args
        .rate
        .map(|r| Duration::from_secs_f64(users as f64 / r.max(1) as f64));
    let before = crate::server::usage_of(pid)?;
    let start = Instant::now();
    let send_until = start + Duration::from_secs(args.seconds) + Duration::from_millis(500);
    let mut tasks = Vec::new();
    for p in peers {
        tasks.push(tokio::spawn(drive(
            p,
            start,
            send_until,
            args.window,
            interval,
        )));
    }
    let mut total = Tally::default();
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    for t in tasks {
        let r = t.await??;
        total.sent += r.sent;
        total.delivered += r.delivered;
        if let Some(h) = r.hist {
            hist.add(h)?;
        }
    }
    let after = crate::server::usage_of(pid)?;
    let secs = args.seconds as f64 + 0.5;
    let rate = total.delivered as f64 / secs;
    let msgs = total.delivered.max(1) as f64;
    let cpu_us_per_msg = (after.cpu_secs - before.cpu_secs) * 1e6 / msgs;
    let disk_bytes_per_msg = after.write_bytes.saturating_sub(before.write_bytes) as f64 / msgs;
    let summary = json!({
        "target": name,
        "users": users,
        "sent": total.sent,
        "delivered": total.delivered,
        "delivered_per_sec": rate,
        "latency_us": {
            "p50": hist.value_at_quantile(0.5),
            "p99": hist.value_at_quantile(0.99),
            "p999": hist.value_at_quantile(0.999),
            "max": hist.max(),
        },
        "cpu_us_per_msg": cpu_us_per_msg,
        "disk_write_bytes_per_msg": disk_bytes_per_msg,
    });
    table(
        &format!("messaging via {name}"),
        &[
            ("delivered/s".into(), format!("{rate:.0}")),
            (
                "sent / delivered".into(),
                format!("{} / {}", total.sent, total.delivered),
            ),
            (
                "latency p50 / p99 / p99.9".into(),
                format!(
                    "{:.2} / {:.2} / {:.2} ms",
                    hist.value_at_quantile(0.5) as f64 / 1000.0,
                    hist.value_at_quantile(0.99) as f64 / 1000.0,
                    hist.value_at_quantile(0.999) as f64 / 1000.0
                ),
            ),
            (
                "its CPU / disk writes per message".into(),
                format!(
                    "{cpu_us_per_msg:.1} µs / {:.1} KiB",
                    disk_bytes_per_msg / 1024.0
                ),
            ),
        ],
    );
    Ok(summary)
}

/// Runs the comparison `args.runs` times; with more than one, prints each
/// run's figures and their medians, and returns them all.
pub async fn run(args: Args, server_bin: &Path) -> Result<Value> {
    if args.runs <= 1 {
        return run_once(&args, server_bin).await;
    }
    let mut runs = Vec::new();
    for _ in 0..args.runs {
        runs.push(run_once(&args, server_bin).await?);
    }
    let pick = |v: &Value, target: &str, path: &[&str]| -> Option<f64> {
        path.iter()
            .try_fold(&v[target], |v, k| v.get(*k))
            .and_then(Value::as_f64)
    };
    let median = |target: &str, path: &[&str]| -> Option<f64> {
        let mut xs: Vec<f64> = runs.iter().filter_map(|r| pick(r, target, path)).collect();
        xs.sort_by(f64::total_cmp);
        let n = xs.len();
        (n > 0).then(|| (xs[(n - 1) / 2] + xs[n / 2]) / 2.0)
    };
    let ms = |us: Option<f64>| us.map_or("-".to_owned(), |u| format!("{:.2}", u / 1000.0));
    let mut rows: Vec<(String, String)> = runs
        .iter()
        .enumerate()
        .map(|(i, r)| {
            (
                format!("run {}", i + 1),
                format!(
                    "{:.0} msg/s, p99 {} ms (relay {} ms, wsbroad {} ms), {:.1}% of the relay",
                    pick(r, "parley", &["delivered_per_sec"]).unwrap_or(0.0),
                    ms(pick(r, "parley", &["latency_us", "p99"])),
                    ms(pick(r, "bare_relay", &["latency_us", "p99"])),
                    ms(pick(r, "wsbroad", &["latency_us", "p99"])),
                    r["throughput_ratio"].as_f64().unwrap_or(0.0) * 100.0,
                ),
            )
        })
        .collect();
    let medians = json!({
        "delivered_per_sec": median("parley", &["delivered_per_sec"]),
        "p99_us": median("parley", &["latency_us", "p99"]),
        "bare_relay_p99_us": median("bare_relay", &["latency_us", "p99"]),
        "cpu_us_per_msg": median("parley", &["cpu_us_per_msg"]),
    });
    rows.push((
        "median".into(),
        format!(
            "{:.0} msg/s, p99 {} ms (relay {} ms), {:.1} µs CPU per message",
            medians["delivered_per_sec"].as_f64().unwrap_or(0.0),
            ms(medians["p99_us"].as_f64()),
            ms(medians["bare_relay_p99_us"].as_f64()),
            medians["cpu_us_per_msg"].as_f64().unwrap_or(0.0),
        ),
    ));
    table(&format!("messaging: {} runs", runs.len()), &rows);
    Ok(json!({"runs": runs, "median": medians}))
}

async fn run_once(args: &Args, server_bin: &Path) -> Result<Value> {
    // Parley.
    let srv = ServerProc::start(server_bin, &[])?;
    let mut peers = Vec::new();
    for p in 0..args.pairs {
        let a = srv.login(&format!("a{p}@bench.test")).await?;
        let b = srv.login(&format!("b{p}@bench.test")).await?;
        let chat = srv.connect(&a, &b).await?;
        for s in [&a, &b] {
            peers.push(Peer {
                url: srv.ws_url(),
                auth: Some(format!("Bearer {}", s.tokens.access_token)),
                me: s.user.user.id.to_string(),
                chat_id: chat.clone(),
                kind: Kind::Parley,
            });
        }
    }
    let parley = run_target("parley-server", srv.pid(), peers, args).await?;
    drop(srv);

    // The bare relay, same pairs, same pattern.
    let (mut child, url) = relay::spawn_process()?;
    let peers = (0..args.pairs)
        .flat_map(|p| {
            let url = url.clone();
            ["a", "b"].into_iter().map(move |side| Peer {
                url: format!("{url}/p/{p}/{side}"),
                auth: None,
                me: String::new(),
                chat_id: String::new(),
                kind: Kind::Relay,
            })
        })
        .collect();
    let bare = run_target("bare relay", child.id(), peers, args).await;
    let _ = child.kill();
    let _ = child.wait();
    let bare = bare?;
    let ratio = ratio_of(&parley, &bare, "delivered_per_sec");
    // wsbroad, when installed: one room (URL) per pair.
    let wsbroad = match which("wsbroad") {
        Some(bin) => Some(run_wsbroad(&bin, args).await?),
        None => None,
    };
    let wsbroad_ratio = wsbroad
        .as_ref()
        .map(|w| ratio_of(&parley, w, "delivered_per_sec"));
    // CPU per message is steadier than throughput on a shared machine: it
    // does not depend on how much of the cores the other tenants left us.
    let cpu_ratio = ratio_of(&parley, &bare, "cpu_us_per_msg");
    table(
        "messaging: parley-server vs baselines",
        &[
            (
                "throughput ratio to the bare relay".into(),
                format!("{:.1}%", ratio * 100.0),
            ),
            (
                "server CPU per message vs the bare relay".into(),
                format!("{cpu_ratio:.1}x"),
            ),
            (
                "throughput ratio to wsbroad".into(),
                wsbroad_ratio.map_or(
                    "wsbroad not installed (cargo install wsbroad)".into(),
                    |r| format!("{:.1}%", r * 100.0),
                ),
            ),
        ],
    );
    Ok(json!({
        "args": {"pairs": args.pairs, "seconds": args.seconds, "window": args.window, "rate": args.rate},
        "parley": parley,
        "bare_relay": bare,
        "throughput_ratio": ratio,
        "cpu_per_msg_ratio": cpu_ratio,
        "wsbroad": wsbroad,
        "throughput_ratio_wsbroad": wsbroad_ratio,
    }))
}

/// `a[key] / b[key]` of two targets' summaries, never dividing by zero.
fn ratio_of(a: &Value, b: &Value, key: &str) -> f64 {
    a[key].as_f64().unwrap_or(0.0) / b[key].as_f64().unwrap_or(1.0).max(1e-9)
}

/// Starts wsbroad on a free loopback port (rooms for every pair) and drives
/// the same pairs through it.
async fn run_wsbroad(bin: &str, args: &Args) -> Result<Value> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut cmd = std::process::Command::new(bin);
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // wsbroad allows 64 URLs by default.
    if args.pairs > 64 {
        cmd.args(["--max-urls", &(args.pairs + 8).to_string()]);
    }
    cmd.arg(format!("127.0.0.1:{port}"));
    let mut child = cmd.spawn()?;
    let url = format!("ws://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err(anyhow!("wsbroad did not start listening on port {port}"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let peers = (0..args.pairs)
        .flat_map(|p| {
            let url = url.clone();
            (0..2).map(move |_| Peer {
                url: format!("{url}/pair{p}"),
                auth: None,
                me: String::new(),
                chat_id: String::new(),
                kind: Kind::Broadcast,
            })
        })
        .collect();
    let result = run_target("wsbroad", child.id(), peers, args).await;
    let _ = child.kill();
    let _ = child.wait();
    result
}

fn which(bin: &str) -> Option<String> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(bin))
            .find(|p| p.is_file())
            .map(|p| p.display().to_string())
    })
}
