#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Nothing lost: a slow consumer is cut off with 4008 and resumes; a server
//! killed with SIGKILL mid-traffic keeps every acknowledged message exactly once.

mod common;

use common::*;
use futures_util::{SinkExt, StreamExt};
use reqwest::Method;
use serde_json::{json, Value};
use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::Duration,
};

/// Resident memory of this process (the in-process server), KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn slow_consumer_is_closed_with_4008_and_resumes_with_nothing_lost() {
    let ts = TestServer::start_with(|c| {
        c.ws_queue = 8;
        c.tcp_send_buffer = 16 * 1024;
    })
    .await;
    let (a, b, chat) = ts.pair().await;

    // Ana's socket with a tiny receive buffer: she says hello, then stops reading.
    let url = format!("{}/v1/ws", ts.base.replacen("http", "ws", 1));
    let addr: std::net::SocketAddr = ts.base.trim_start_matches("http://").parse().unwrap();
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let tcp = sock.connect(addr).await.unwrap();
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {}", a.tokens.access_token).parse().unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::client_async(req, tcp).await.unwrap();
    ws.send(WsMsg::Text(
        json!({"type": "hello", "since": 0}).to_string().into(),
    ))
    .await
    .unwrap();

    let rss_before = rss_kib();
    let total = 1500;
    for i in 0..total {
        ts.send_text(
            &b,
            &chat,
            &format!("k{i}"),
            &format!("message number {i} {}", "x".repeat(200)),
        )
        .await;
    }
    let rss_after = rss_kib();
    // The server buffered at most its queue for Ana, not the whole burst.
    assert!(
        rss_after < rss_before + 64 * 1024,
        "RSS grew from {rss_before} KiB to {rss_after} KiB"
    );

    // Now read: buffered frames, then the close with 4008.
    let mut last_seq = 0u64;
    let code = loop {
        let next = tokio::time::timeout(Duration::from_secs(20), ws.next()).await;
        if next.is_err() {
            panic!("no frame for 20 s after seq {last_seq}");
        }
        match next.unwrap() {
            Some(Ok(WsMsg::Text(t))) => {
                let f: Value = serde_json::from_str(&t).unwrap();
                if f["type"] == "event" {
                    let seq = f["seq"].as_u64().unwrap();
                    assert!(seq == last_seq + 1, "gap or duplicate: {last_seq} -> {seq}");
                    last_seq = seq;
                }
            }
            Some(Ok(WsMsg::Close(Some(f)))) => break u16::from(f.code),
            Some(Ok(_)) => {}
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(code, 4008);
    assert!(
        last_seq < 1500,
        "the cut must happen before everything was delivered"
    );

    // Resume from the cursor: the rest arrives, nothing twice, nothing missing.
    let mut wa = ts.ws(&a).await;
    let rest = wa.hello(last_seq).await;
    let mut seq = last_seq;
    for e in &rest {
        seq += 1;
        assert_eq!(e["seq"].as_u64().unwrap(), seq);
    }
    let bodies = rest
        .iter()
        .filter(|e| e["event"]["kind"] == "message.created")
        .count();
    assert!(bodies > 0);
    let current: i64 = ts
        .db()
        .query_row(
            "SELECT MAX(seq) FROM events WHERE user_id = ?1",
            [a.user.user.id.as_str()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(seq, current as u64);
}

/// The real binary on a data dir, with its port read from its log.
struct Proc {
    child: Child,
    base: String,
}

fn spawn_server(data: &std::path::Path, otp: &std::path::Path) -> Proc {
    let mut child = Command::new(env!("CARGO_BIN_EXE_parley-server"))
        .args([
            "--data-dir",
            data.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .arg("--otp-driver")
        .arg(format!("file:{}", otp.display()))
        .args(["--otp-resend-interval", "0", "--auth-rate-per-ip", "100000"])
        .env("PARLEY_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let mut lines = BufReader::new(out).lines();
    let base = loop {
        let line = lines.next().expect("server log").unwrap();
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Proc { child, base }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn sigkill_loses_no_acknowledged_message() {
    let mut ts = TestServer::start().await;
    // Set up users and chat in-process, then switch to the real binary on the
    // same data directory.
    let (a, b, chat) = ts.pair().await;
    ts.shutdown().await;
    let data = ts.config.data_dir.clone();
    let otp = ts.otp_file();

    let mut proc = spawn_server(&data, &otp);
    let ws_url = format!("{}/v1/ws", proc.base.replacen("http", "ws", 1));
    let mut senders = Vec::new();
    for (who, s) in [("a", a.clone()), ("b", b.clone())] {
        for lane in 0..3 {
            let (url, token, chat) = (ws_url.clone(), s.tokens.access_token.clone(), chat.clone());
            senders.push(tokio::spawn(async move {
                use tokio_tungstenite::tungstenite::client::IntoClientRequest;
                let mut req = url.into_client_request().unwrap();
                req.headers_mut()
                    .insert("authorization", format!("Bearer {token}").parse().unwrap());
                let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
                ws.send(WsMsg::Text(json!({"type": "hello", "since": 0}).to_string().into()))
                    .await
                    .unwrap();
                let mut acked: Vec<String> = Vec::new();
                for i in 0.. {
                    let cid = format!("{who}-{lane}-{i}");
                    let frame = json!({"type": "send", "req": cid, "chat_id": chat, "client_id": cid, "body": cid});
                    if ws.send(WsMsg::Text(frame.to_string().into())).await.is_err() {
                        break;
                    }
                    // Wait for this send's result (skipping events).
                    let ok = loop {
                        match ws.next().await {
                            Some(Ok(WsMsg::Text(t))) => {
                                let f: Value = serde_json::from_str(&t).unwrap();
                                if f["type"] == "result" && f["req"] == cid.as_str() {
                                    break f["ok"] == true;
                                }
                            }
                            Some(Ok(_)) => {}
                            _ => return acked,
                        }
                    };
                    if ok {
                        acked.push(cid);
                    }
                }
                acked
            }));
        }
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // SIGKILL: no shutdown, no flush.
    proc.child.kill().unwrap();
    proc.child.wait().unwrap();
    let mut acked = Vec::new();
    for s in senders {
        acked.extend(s.await.unwrap());
    }
    assert!(acked.len() > 20, "only {} sends acknowledged", acked.len());

    let proc2 = spawn_server(&data, &otp);
    let http = reqwest::Client::new();
    let mut history: Vec<Value> = Vec::new();
    let mut after = 0u64;
    loop {
        let page: Vec<Value> = http
            .get(format!(
                "{}/v1/chats/{chat}/messages?after_seq={after}&limit=200",
                proc2.base
            ))
            .bearer_auth(&a.tokens.access_token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        after = page.last().unwrap()["seq"].as_u64().unwrap();
        history.extend(page);
    }
    // Every acknowledged message is there exactly once; seqs have no gaps.
    for cid in &acked {
        let n = history
            .iter()
            .filter(|m| m["client_id"] == cid.as_str())
            .count();
        assert_eq!(n, 1, "{cid} appears {n} times");
    }
    let seqs: Vec<u64> = history.iter().map(|m| m["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());

    // Both of Ana's views (two fresh devices resuming from 0) see the same log.
    let ws_url = format!("{}/v1/ws", proc2.base.replacen("http", "ws", 1));
    let mut logs = Vec::new();
    for _ in 0..2 {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut req = ws_url.clone().into_client_request().unwrap();
        req.headers_mut().insert(
            "authorization",
            format!("Bearer {}", a.tokens.access_token).parse().unwrap(),
        );
        let (stream, _) = tokio_tungstenite::connect_async(req).await.unwrap();
        let mut ws = Ws { stream };
        logs.push(seqs_of(&ws.hello(0).await));
    }
    assert_eq!(logs[0], logs[1]);
    assert_eq!(logs[0], (1..=logs[0].len() as u64).collect::<Vec<_>>());
}

fn seqs_of(events: &[Value]) -> Vec<u64> {
    events.iter().map(|e| e["seq"].as_u64().unwrap()).collect()
}

/// At the operator's cap on the database (`--max-database-mib`, SQLite's
/// SQLITE_FULL, as on a full disk) changes are refused with 503
/// `storage_full` over REST and the WebSocket, nothing half-written is kept,
/// and everything stored before stays readable.
#[tokio::test]
async fn a_full_database_refuses_changes_with_503_and_keeps_what_it_has() {
    let ts = TestServer::start_with(|c| {
        c.max_database_mib = 1;
        c.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let (a, b, chat) = ts.pair().await;
    let body = "x".repeat(parley_protocol::limits::MESSAGE_BODY_MAX_BYTES);
    let mut stored = 0;
    let full = loop {
        let r = ts
            .req(Method::POST, &format!("/v1/chats/{chat}/messages"))
            .auth(&a)
            .json(&json!({"client_id": format!("c{stored}"), "body": body}))
            .send()
            .await
            .unwrap();
        if r.status() != 201 {
            break r;
        }
        stored += 1;
        assert!(
            stored < 500,
            "a 1 MiB database took {stored} messages of 16 KiB"
        );
    };
    assert!(stored > 0, "the cap left no room at all");
    let p = problem(full, 503, "storage_full").await;
    assert!(
        p["detail"].as_str().unwrap().contains("nothing was saved"),
        "{p}"
    );

    // The same over the socket: a failed result, the connection stays.
    let mut ws = ts.ws(&b).await;
    ws.hello(0).await;
    ws.send_json(
        json!({"type": "send", "req": "r1", "chat_id": chat, "client_id": "w1", "body": body}),
    )
    .await;
    let r = ws.next_of("result").await;
    assert_eq!(r["ok"], false, "{r}");
    assert_eq!(r["error"]["code"], "storage_full", "{r}");
    ws.send_json(json!({"type": "typing", "chat_id": chat, "active": true}))
        .await;

    // Everything acknowledged is there, in the file and over the API.
    let rows: i64 = ts
        .db()
        .query_row("SELECT COUNT(*) FROM messages", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, stored);
    let page = ts.newest_messages(&b, &chat).await;
    assert_eq!(page.len() as i64, stored);

    // The operator can alert on it: both refusals are counted.
    let maddr = ts.metrics_addr().unwrap();
    let text = reqwest::get(format!("http://{maddr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let refused: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix(r#"parley_writes_refused_total{code="storage_full"} "#))
        .unwrap_or_else(|| panic!("no storage_full count in:\n{text}"))
        .parse()
        .unwrap();
    assert!(refused >= 2.0, "{refused}");
    ts.stop().await;
}

/// A failed fsync of the WAL (made to fail where the real one is called) is
/// final: the send it covered gets 503 `storage_failed` and so does
/// `/healthz`; the server stops by itself with an error (so systemd restarts
/// it); started again on the same data it has every message it acknowledged,
/// and the refused send, sent again, is stored once.
#[tokio::test]
async fn a_failed_fsync_stops_the_server_and_a_restart_recovers() {
    use tower::ServiceExt;
    let mut ts = TestServer::start().await;
    let (a, b, chat) = ts.pair().await;
    for i in 0..5 {
        ts.send_text(&a, &chat, &format!("ok{i}"), "before").await;
    }
    let state = ts.state().clone();
    state.store.writer.fail_next_fsync();
    let r = ts
        .req(Method::POST, &format!("/v1/chats/{chat}/messages"))
        .auth(&a)
        .json(&json!({"client_id": "lost", "body": "during"}))
        .send()
        .await
        .unwrap();
    problem(r, 503, "storage_failed").await;

    // Asked of the router itself, not over the socket: the server may
    // already be shutting down.
    let mut req = axum::http::Request::get("/healthz")
        .body(axum::body::Body::empty())
        .unwrap();
    req.extensions_mut()
        .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((
            [127, 0, 0, 1],
            9,
        ))));
    let health = parley_server::http::app(state).oneshot(req).await.unwrap();
    assert_eq!(health.status(), 503);
    let body = axum::body::to_bytes(health.into_body(), 1 << 16)
        .await
        .unwrap();
    let p: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(p["code"], "storage_failed", "{p}");

    let outcome = ts.stopped_by_itself().await;
    assert!(
        matches!(outcome, Err(parley_server::StartError::DiskFailed)),
        "{outcome:?}"
    );

    ts.restart().await;
    let r = ts.req(Method::GET, "/healthz").send().await.unwrap();
    assert_eq!(r.status(), 200);
    ts.send_text(&a, &chat, "lost", "during").await;
    let page = ts.newest_messages(&b, &chat).await;
    let ids: Vec<&str> = page
        .iter()
        .map(|m| m["client_id"].as_str().unwrap())
        .collect();
    for i in 0..5 {
        assert!(ids.contains(&format!("ok{i}").as_str()), "{ids:?}");
    }
    assert_eq!(ids.iter().filter(|c| **c == "lost").count(), 1, "{ids:?}");
    ts.stop().await;
}
