#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Live events reach every session in log order, without the session reading
//! back from the log, however many writes commit together. Its own test binary:
//! the gap counter is process-wide.

mod common;

use common::*;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_sends_arrive_in_log_order_without_gap_fills() {
    let ts = TestServer::start().await;
    let (a, b, chat) = ts.pair().await;
    let mut wa = ts.ws(&a).await;
    let mut wb = ts.ws(&b).await;
    let start_a = wa.hello(0).await.last().unwrap()["seq"].as_u64().unwrap();
    let start_b = wb.hello(0).await.last().unwrap()["seq"].as_u64().unwrap();
    let gaps_before = parley_server::metrics::get().ws_gap_fills.get();
    // Many writers at once, so that group commits hold many jobs whose callers
    // wake in any order.
    const SENDERS: usize = 16;
    const EACH: usize = 20;
    let mut tasks = Vec::new();
    for t in 0..SENDERS {
        let (ts_url, http) = (ts.url(""), ts.http.clone());
        let (s, chat) = (if t % 2 == 0 { a.clone() } else { b.clone() }, chat.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..EACH {
                let r = http
                    .post(format!("{ts_url}/v1/chats/{chat}/messages"))
                    .bearer_auth(&s.tokens.access_token)
                    .json(&serde_json::json!({"client_id": format!("t{t}-{i}"), "body": "x"}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 201);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    for (ws, start) in [(&mut wa, start_a), (&mut wb, start_b)] {
        let mut seqs = Vec::new();
        while seqs.len() < SENDERS * EACH {
            let f: Value = ws.next_of("event").await;
            seqs.push(f["seq"].as_u64().unwrap());
        }
        let expected: Vec<u64> = (start + 1..=start + (SENDERS * EACH) as u64).collect();
        assert_eq!(seqs, expected, "events out of log order");
    }
    assert_eq!(
        parley_server::metrics::get().ws_gap_fills.get(),
        gaps_before,
        "a session had to fill a gap from the log"
    );
}
