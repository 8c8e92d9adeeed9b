#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The WebSocket: live delivery to every device, replay without gaps or
//! duplicates, receipts, typing, presence, limits, lagging, revocation.

mod common;

use common::*;
use parley_protocol::limits;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

fn seqs(events: &[Value]) -> Vec<u64> {
    events.iter().map(|e| e["seq"].as_u64().unwrap()).collect()
}

#[tokio::test]
async fn live_delivery_to_every_device_and_receipts() {
    let ts = TestServer::start().await;
    let (a1, b, chat) = ts.pair().await;
    let a2 = ts.login_device(ana(), "second").await;
    let mut wa1 = ts.ws(&a1).await;
    let mut wa2 = ts.ws(&a2).await;
    let mut wb = ts.ws(&b).await;
    let replay_a = wa1.hello(0).await;
    assert_eq!(
        seqs(&replay_a),
        (1..=replay_a.len() as u64).collect::<Vec<_>>()
    );
    let a_cursor = replay_a.last().unwrap()["seq"].as_u64().unwrap();
    wa2.hello(a_cursor).await;
    let replay_b = wb.hello(0).await;
    let b_cursor = replay_b.last().unwrap()["seq"].as_u64().unwrap();

    // Ben sends over the socket; the result arrives after commit.
    wb.send_json(
        json!({"type": "send", "req": "r1", "chat_id": chat, "client_id": "k1", "body": "hi Ana"}),
    )
    .await;
    // Ben's socket gets the result and his own message.created, in either
    // order (the event is published at commit, before the sender is answered).
    let (mut result, mut own) = (None, None);
    while result.is_none() || own.is_none() {
        let f = wb.next().await;
        match f["type"].as_str().unwrap() {
            "result" => result = Some(f),
            "event" if f["event"]["kind"] == "message.created" => own = Some(f),
            _ => {}
        }
    }
    let result = result.unwrap();
    assert_eq!(result["req"], "r1");
    assert_eq!(result["ok"], true);
    let msg_id = result["message"]["id"].as_str().unwrap().to_owned();
    assert_eq!(own.unwrap()["event"]["message"]["id"], msg_id.as_str());
    let n: i64 = ts
        .db()
        .query_row(
            "SELECT COUNT(*) FROM messages WHERE id = ?1",
            [&msg_id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 1);
    // Every device of both users gets message.created.
    for ws in [&mut wa1, &mut wa2] {
        let ev = ws.next_event("message.created").await;
        assert_eq!(ev["event"]["message"]["id"], msg_id.as_str());
    }
    // Ana's device acks: Ben sees delivered.
    let ev_seq = a_cursor + 1;
    wa1.send_json(json!({"type": "ack", "up_to": ev_seq})).await;
    let rec = wb.next_event("receipt.updated").await;
    assert_eq!(rec["event"]["user_id"], a1.user.user.id.as_str());
    assert_eq!(rec["event"]["delivered_up_to_seq"], 1);
    assert_eq!(rec["event"]["read_up_to_seq"], 0);
    assert_eq!(acked_seq(&ts, a1.tokens.device_id.as_str()), ev_seq);
    // Ana reads on device 1: device 2 gets chat.read, Ben gets read receipt.
    wa1.send_json(json!({"type": "read", "chat_id": chat, "up_to_seq": 1}))
        .await;
    let cr = wa2.next_event("chat.read").await;
    assert_eq!(cr["event"]["up_to_seq"], 1);
    let rec = wb.next_event("receipt.updated").await;
    assert_eq!(rec["event"]["read_up_to_seq"], 1);
    // Typing is relayed to Ben, not echoed to Ana's other device.
    wa1.send_json(json!({"type": "typing", "chat_id": chat, "active": true}))
        .await;
    let t = wb.next_of("typing").await;
    assert_eq!(
        t,
        json!({"type": "typing", "chat_id": chat, "user_id": a1.user.user.id, "active": true})
    );
    assert!(wa2.try_next(Duration::from_millis(300)).await.is_none());
    // A failed send is a result with a problem; the connection stays.
    wb.send_json(
        json!({"type": "send", "req": "r2", "chat_id": "nope", "client_id": "k2", "body": "x"}),
    )
    .await;
    let r = wb.next_of("result").await;
    assert_eq!(r["ok"], false);
    assert_eq!(r["error"]["code"], "chat_not_found");
    // Idempotent over the socket too.
    wb.send_json(
        json!({"type": "send", "req": "r3", "chat_id": chat, "client_id": "k1", "body": "dup"}),
    )
    .await;
    let r = wb.next_of("result").await;
    assert_eq!(r["message"]["id"], msg_id.as_str());
    let _ = b_cursor;
}

#[tokio::test]
async fn offline_device_gets_everything_in_order_on_reconnect() {
    let ts = TestServer::start().await;
    let (a, b, chat) = ts.pair().await;
    let mut wa = ts.ws(&a).await;
    let first = wa.hello(0).await;
    let cursor = first.last().unwrap()["seq"].as_u64().unwrap();
    wa.send_json(json!({"type": "ack", "up_to": cursor})).await;
    drop(wa);
    // While Ana is away: messages, an edit, a reaction.
    let mut ids = Vec::new();
    for i in 0..30 {
        let m = ts
            .send_text(&b, &chat, &format!("k{i}"), &format!("msg {i}"))
            .await;
        ids.push(m["id"].as_str().unwrap().to_owned());
    }
    ts.call(
        Method::PUT,
        &format!("/v1/messages/{}/reactions/👌", ids[3]),
        &b,
    )
    .await;
    // Reconnect from the acknowledged cursor.
    let mut wa = ts.ws(&a).await;
    let replay = wa.hello(cursor).await;
    assert_eq!(
        seqs(&replay),
        ((cursor + 1)..=(cursor + 31)).collect::<Vec<_>>()
    );
    let bodies: Vec<&str> = replay
        .iter()
        .filter(|e| e["event"]["kind"] == "message.created")
        .map(|e| e["event"]["message"]["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies.len(), 30);
    assert_eq!(bodies[0], "msg 0");
    assert_eq!(bodies[29], "msg 29");
    assert_eq!(replay.last().unwrap()["event"]["kind"], "reaction.changed");
    // Then live, continuing the same sequence.
    ts.send_text(&b, &chat, "k-live", "live one").await;
    let ev = wa.next_event("message.created").await;
    assert_eq!(ev["seq"].as_u64().unwrap(), cursor + 32);
}

#[tokio::test]
async fn replay_interleaved_with_live_traffic_has_no_gaps_or_duplicates() {
    let ts = TestServer::start().await;
    let (a, b, chat) = ts.pair().await;
    for i in 0..600 {
        ts.send_text(&b, &chat, &format!("pre{i}"), "x").await;
    }
    // Ben keeps sending while Ana replays a long backlog.
    let sender = {
        let (http, url, token, chat) = (
            ts.http.clone(),
            ts.url(&format!("/v1/chats/{chat}/messages")),
            b.tokens.access_token.clone(),
            chat.clone(),
        );
        tokio::spawn(async move {
            for i in 0..100 {
                let r = http
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&json!({"client_id": format!("live{i}"), "body": "y"}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 201);
            }
            chat
        })
    };
    let mut wa = ts.ws(&a).await;
    let mut got = wa.hello(0).await;
    sender.await.unwrap();
    // Collect the rest live until we have every event of Ana's log.
    let total: i64 = ts
        .db()
        .query_row(
            "SELECT MAX(seq) FROM events WHERE user_id = ?1",
            [a.user.user.id.as_str()],
            |r| r.get(0),
        )
        .unwrap();
    while (got.len() as i64) < total {
        got.push(wa.next_of("event").await);
    }
    assert_eq!(seqs(&got), (1..=total as u64).collect::<Vec<_>>());
    assert!(wa.try_next(Duration::from_millis(300)).await.is_none());
}

#[tokio::test]
async fn presence_goes_to_connections_only() {
    let ts = TestServer::start().await;
    let (a, b, _chat) = ts.pair().await;
    let eve = ts.login("eve@example.org").await;
    let mut wb = ts.ws(&b).await;
    wb.hello(0).await;
    let mut we = ts.ws(&eve).await;
    we.hello(0).await;
    // A socket opened and silent is not Ana being there: no presence, and
    // her contact list entry says offline, until her hello.
    let mut wa = ts.ws(&a).await;
    assert!(wb.try_next(Duration::from_millis(300)).await.is_none());
    let conns: Vec<Value> = ts.get_json("/v1/connections", &b).await;
    assert_eq!(conns[0]["online"], false);
    wa.hello(0).await;
    let p = wb.next_of("presence").await;
    assert_eq!(p["user_id"], a.user.user.id.as_str());
    assert_eq!(p["online"], true);
    let conns: Vec<Value> = ts.get_json("/v1/connections", &b).await;
    assert_eq!(conns[0]["online"], true);
    drop(wa);
    let p = wb.next_of("presence").await;
    assert_eq!(p["online"], false);
    assert!(p["last_seen_at"].is_string());
    assert!(
        we.try_next(Duration::from_millis(300)).await.is_none(),
        "Eve must learn nothing"
    );
    // Hidden last seen: shown as offline without a last seen at once, then
    // no presence at all.
    ts.call_json(
        Method::PATCH,
        "/v1/me",
        &a,
        json!({"settings": {"last_seen_visible": false}}),
    )
    .await;
    let _ = wb.next_event("profile.updated").await;
    let p = wb.next_of("presence").await;
    assert_eq!(
        (&p["online"], &p["last_seen_at"]),
        (&json!(false), &Value::Null)
    );
    let mut wa = ts.ws(&a).await;
    wa.hello(0).await;
    assert!(wb.try_next(Duration::from_millis(300)).await.is_none());
    let conns: Vec<Value> = ts.get_json("/v1/connections", &b).await;
    assert_eq!(conns[0]["online"], false);
    assert!(conns[0]["last_seen_at"].is_null());
    // Shown again while online: online at once. Hidden while online: offline
    // at once (contacts were left showing "online" until the next disconnect).
    for (visible, online) in [(true, true), (false, false)] {
        ts.call_json(
            Method::PATCH,
            "/v1/me",
            &a,
            json!({"settings": {"last_seen_visible": visible}}),
        )
        .await;
        let p = wb.next_of("presence").await;
        assert_eq!(p["user_id"], a.user.user.id.as_str());
        assert_eq!(p["online"], online, "last seen visible: {visible}");
        assert!(p["last_seen_at"].is_null());
    }
    assert!(
        we.try_next(Duration::from_millis(300)).await.is_none(),
        "Eve must learn nothing"
    );
}

#[tokio::test]
async fn protocol_violations_close_with_4009() {
    let ts = TestServer::start().await;
    let a = ts.login(ana()).await;
    let mut ws = ts.ws(&a).await;
    ws.send_json(json!({"type": "ack", "up_to": 1})).await;
    assert_eq!(ws.closed_with().await, 4009);
    let mut ws = ts.ws(&a).await;
    ws.hello(0).await;
    ws.send_json(json!({"type": "bogus"})).await;
    assert_eq!(ws.closed_with().await, 4009);
    // Frames of exactly 64 KiB and one byte more: the first is a normal frame
    // (answered with an error, the socket kept open), the second closes it.
    let frame = |len: usize| {
        let pad = len
            - json!({"type": "read", "chat_id": "", "up_to_seq": 1})
                .to_string()
                .len();
        let v = json!({"type": "read", "chat_id": "x".repeat(pad), "up_to_seq": 1});
        assert_eq!(v.to_string().len(), len);
        v
    };
    let mut ws = ts.ws(&a).await;
    ws.hello(0).await;
    ws.send_json(frame(limits::WS_FRAME_MAX_BYTES)).await;
    let e = ws.next_of("error").await;
    assert_eq!(e["error"]["code"], "chat_not_found");
    let mut ws = ts.ws(&a).await;
    ws.hello(0).await;
    ws.send_json(frame(limits::WS_FRAME_MAX_BYTES + 1)).await;
    assert_eq!(ws.closed_with().await, 4009);
    // Unauthenticated upgrade: 401 before any socket.
    let r = ts.req(Method::GET, "/v1/ws").send().await.unwrap();
    problem(r, 401, "unauthorized").await;
}

/// A `send`, `read` or `typing` frame with a wrong or missing field is
/// refused like a REST body (422 `invalid_body` naming the field): a send
/// in its `result`, the others in an `error` frame; the socket stays open
/// and goes on. Frames that cannot be answered so (no `type`, a `send`
/// without a `req`) still close it.
#[tokio::test]
async fn frames_with_a_bad_field_are_refused_and_the_socket_kept() {
    let ts = TestServer::start().await;
    let (a, _b, chat) = ts.pair().await;
    let mut ws = ts.ws(&a).await;
    ws.hello(0).await;
    ws.send_json(
        json!({"type": "send", "req": "r1", "chat_id": chat, "client_id": 5, "body": "x"}),
    )
    .await;
    let r = ws.next_of("result").await;
    assert_eq!(
        (r["req"].as_str(), r["ok"].as_bool()),
        (Some("r1"), Some(false)),
        "{r}"
    );
    assert_eq!(r["error"]["code"], "invalid_body", "{r}");
    assert_eq!(r["error"]["status"], 422, "{r}");
    let detail = r["error"]["detail"].as_str().unwrap();
    assert!(
        detail.contains("send frame") && detail.contains("expected a string"),
        "{r}"
    );
    ws.send_json(json!({"type": "send", "req": "r2", "chat_id": chat, "body": "x"}))
        .await;
    let r = ws.next_of("result").await;
    assert_eq!(r["req"], "r2");
    assert!(
        r["error"]["detail"].as_str().unwrap().contains("client_id"),
        "{r}"
    );
    ws.send_json(json!({"type": "read", "chat_id": chat, "up_to_seq": "one"}))
        .await;
    let e = ws.next_of("error").await;
    assert_eq!(e["error"]["code"], "invalid_body", "{e}");
    let detail = e["error"]["detail"].as_str().unwrap();
    assert!(
        detail.contains("read frame") && detail.contains("u64"),
        "{e}"
    );
    ws.send_json(json!({"type": "typing", "chat_id": chat}))
        .await;
    let e = ws.next_of("error").await;
    assert!(
        e["error"]["detail"].as_str().unwrap().contains("active"),
        "{e}"
    );
    // The same socket still sends.
    ws.send_json(json!({"type": "send", "req": "r3", "chat_id": chat, "client_id": "c3", "body": "still here"}))
        .await;
    let r = ws.next_of("result").await;
    assert_eq!(
        (r["req"].as_str(), r["ok"].as_bool()),
        (Some("r3"), Some(true)),
        "{r}"
    );
    // Nothing to answer: closed.
    ws.send_json(json!({"type": "send", "chat_id": chat, "client_id": "c4", "body": "x"}))
        .await;
    assert_eq!(ws.closed_with().await, 4009);
    // Before hello, only a hello will do.
    let mut ws = ts.ws(&a).await;
    ws.send_json(json!({"type": "read", "chat_id": chat})).await;
    assert_eq!(ws.closed_with().await, 4009);
}

#[tokio::test]
async fn logout_and_revocation_close_sockets_with_4001() {
    let ts = TestServer::start().await;
    let a1 = ts.login(ana()).await;
    let a2 = ts.login(ana()).await;
    let mut w2 = ts.ws(&a2).await;
    w2.hello(0).await;
    let r = ts
        .call(
            Method::DELETE,
            &format!("/v1/devices/{}", a2.tokens.device_id),
            &a1,
        )
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(w2.closed_with().await, 4001);
    let mut w1 = ts.ws(&a1).await;
    w1.hello(0).await;
    ts.call(Method::POST, "/v1/auth/logout", &a1).await;
    assert_eq!(w1.closed_with().await, 4001);
}

/// A device revoked while its socket has not said hello yet (pinging to
/// keep it open) gets nothing of the log: the hello is answered with 4001,
/// not with a replay of what came after the revocation.
#[tokio::test]
async fn a_device_revoked_before_its_hello_gets_no_events() {
    let ts = TestServer::start().await;
    let (a, b, chat) = ts.pair().await;
    let a2 = ts.login(ana()).await;
    let mut w2 = ts.ws(&a2).await;
    {
        use futures_util::SinkExt;
        w2.stream.send(WsMsg::Ping(vec![1].into())).await.unwrap();
    }
    let r = ts
        .call(
            Method::DELETE,
            &format!("/v1/devices/{}", a2.tokens.device_id),
            &a,
        )
        .await;
    assert_eq!(r.status(), 204);
    ts.send_text(&b, &chat, "after", "sent after the revocation")
        .await;
    w2.send_json(json!({"type": "hello", "since": 0})).await;
    // The very next frame is the close: no event, no `live` before it.
    let first = loop {
        use futures_util::StreamExt;
        match tokio::time::timeout(Duration::from_secs(10), w2.stream.next())
            .await
            .expect("a frame within 10 s")
        {
            Some(Ok(WsMsg::Ping(_) | WsMsg::Pong(_))) => continue,
            other => break other,
        }
    };
    match first {
        Some(Ok(WsMsg::Close(Some(f)))) => assert_eq!(u16::from(f.code), 4001),
        other => panic!("expected a 4001 close first, got {other:?}"),
    }
}

#[tokio::test]
async fn resync_required_beyond_the_retained_log() {
    let ts = TestServer::start().await;
    let (a, b, chat) = ts.pair().await;
    for i in 0..3 {
        ts.send_text(&b, &chat, &format!("k{i}"), "x").await;
    }
    // Prune Ana's oldest events, as the retention window would.
    {
        let db = rusqlite::Connection::open(ts.db_path()).unwrap();
        db.busy_timeout(Duration::from_secs(5)).unwrap();
        db.execute(
            "DELETE FROM events WHERE user_id = ?1 AND seq <= 2",
            [a.user.user.id.as_str()],
        )
        .unwrap();
    }
    let current: i64 = ts
        .db()
        .query_row(
            "SELECT MAX(seq) FROM events WHERE user_id = ?1",
            [a.user.user.id.as_str()],
            |r| r.get(0),
        )
        .unwrap();
    let mut wa = ts.ws(&a).await;
    wa.send_json(json!({"type": "hello", "since": 0})).await;
    let f = wa.next().await;
    assert_eq!(
        f,
        json!({"type": "resync_required", "current_seq": current})
    );
    // since = 2 is still fine (3 is retained).
    let events = wa.hello(2).await;
    assert_eq!(events.first().unwrap()["seq"], 3);
    // After a REST reload, hello with the current seq goes straight to live.
    let mut wa = ts.ws(&a).await;
    assert!(wa.hello(current as u64).await.is_empty());
    // A cursor from the future also needs a resync.
    let mut wa = ts.ws(&a).await;
    wa.send_json(json!({"type": "hello", "since": current + 100}))
        .await;
    assert_eq!(wa.next().await["type"], "resync_required");
}

#[tokio::test]
async fn per_connection_send_rate_limit_keeps_the_connection() {
    let ts = TestServer::start_with(|c| c.ws_rate = 2).await;
    let (_a, b, chat) = ts.pair().await;
    let mut wb = ts.ws(&b).await;
    wb.hello(0).await;
    for i in 0..6 {
        wb.send_json(json!({"type": "send", "req": format!("r{i}"), "chat_id": chat, "client_id": format!("c{i}"), "body": "x"}))
            .await;
    }
    let mut limited = 0;
    for _ in 0..6 {
        let r = wb.next_of("result").await;
        if r["ok"] == false {
            assert_eq!(r["error"]["code"], "rate_limited");
            limited += 1;
        }
    }
    assert!(limited >= 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    wb.send_json(
        json!({"type": "send", "req": "later", "chat_id": chat, "client_id": "later", "body": "x"}),
    )
    .await;
    assert_eq!(wb.next_of("result").await["ok"], true);
}

#[tokio::test]
async fn graceful_stop_closes_sockets_with_1001() {
    let mut ts = TestServer::start().await;
    let a = ts.login(ana()).await;
    let mut wa = ts.ws(&a).await;
    wa.hello(0).await;
    let stop = tokio::spawn(async move {
        ts.shutdown().await;
        ts
    });
    assert_eq!(wa.closed_with().await, 1001);
    stop.await.unwrap();
}

/// The device's stored ack, from the server's database file.
fn acked_seq(ts: &TestServer, device_id: &str) -> u64 {
    ts.db()
        .query_row(
            "SELECT acked_seq FROM devices WHERE id = ?1",
            [device_id],
            |r| r.get::<_, i64>(0),
        )
        .unwrap() as u64
}

#[tokio::test]
async fn acks_are_stored_off_the_loop_even_when_the_socket_closes_right_after() {
    let ts = TestServer::start().await;
    let (a, b, chat) = ts.pair().await;
    for i in 0..5 {
        ts.send_text(&b, &chat, &format!("k{i}"), "m").await;
    }
    let mut wa = ts.ws(&a).await;
    let replay = wa.hello(0).await;
    let last = replay.last().unwrap()["seq"].as_u64().unwrap();
    // A burst of acks (one is stored while the others wait, coalesced), then
    // the socket is gone at once: the newest ack still lands.
    for up_to in 1..=last {
        wa.send_json(json!({"type": "ack", "up_to": up_to})).await;
    }
    drop(wa);
    let acked = || acked_seq(&ts, a.tokens.device_id.as_str());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while acked() != last {
        assert!(
            std::time::Instant::now() < deadline,
            "acked_seq stayed at {}, not {last}",
            acked()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A refused typing frame is answered with an `error` frame and the socket
/// kept: a chat that is not mine, and one with someone no longer a contact
/// (who sees nothing of it).
#[tokio::test]
async fn refused_typing_frames_are_answered_and_relay_nothing() {
    let ts = TestServer::start().await;
    let (a, b, chat) = ts.pair().await;
    let mut wa = ts.ws(&a).await;
    wa.hello(0).await;
    let mut wb = ts.ws(&b).await;
    wb.hello(0).await;
    wa.send_json(json!({"type": "typing", "chat_id": "not-mine", "active": true}))
        .await;
    let e = wa.next_of("error").await;
    assert_eq!(e["error"]["code"], "chat_not_found", "{e}");
    let r = ts.disconnect(&a, &b).await;
    assert_eq!(r.status(), 204);
    // Past the spacing that drops extra typing frames unanswered.
    tokio::time::sleep(Duration::from_millis(600)).await;
    wa.send_json(json!({"type": "typing", "chat_id": chat, "active": true}))
        .await;
    let e = wa.next_of("error").await;
    assert_eq!(e["error"]["code"], "not_connected", "{e}");
    while let Some(f) = wb.try_next(Duration::from_millis(300)).await {
        assert_ne!(f["type"], "typing", "{f}");
    }
}

/// Someone no longer a contact hears nothing more of this side: a device
/// acking messages that came before the removal still moves its delivered
/// watermark, but the sender gets no receipt (as with reads).
#[tokio::test]
async fn an_ex_contact_gets_no_delivered_receipt() {
    let ts = TestServer::start().await;
    let (a, b, chat) = ts.pair().await;
    ts.send_text(&b, &chat, "k1", "before the end").await;
    let receipts = || ts.events_of(b.user.user.id.as_str(), Some("receipt.updated"));
    let before = receipts();
    let r = ts.disconnect(&a, &b).await;
    assert_eq!(r.status(), 204);
    let mut wa = ts.ws(&a).await;
    let replay = wa.hello(0).await;
    let last = replay.last().unwrap()["seq"].as_u64().unwrap();
    wa.send_json(json!({"type": "ack", "up_to": last})).await;
    let delivered = || -> i64 {
        ts.db()
            .query_row(
                "SELECT delivered_up_to_seq FROM chat_members WHERE chat_id = ?1 AND user_id = ?2",
                rusqlite::params![chat, a.user.user.id.0],
                |r| r.get(0),
            )
            .unwrap()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while delivered() < 1 {
        assert!(std::time::Instant::now() < deadline, "the ack never landed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        receipts(),
        before,
        "Ben heard of Ana's device after the removal"
    );
}

/// A client acks as events arrive; stored one by one, a busy chat cost a write
/// and a `receipt.updated` for the sender per ack. Acks closer together than
/// the server's spacing (50 ms) are coalesced into the newest, and the last
/// one always lands.
#[tokio::test]
async fn a_stream_of_acks_is_coalesced_into_few_receipts() {
    let ts = TestServer::start().await;
    let (a, b, chat) = ts.pair().await;
    for i in 0..20 {
        ts.send_text(&b, &chat, &format!("k{i}"), "m").await;
    }
    let mut wb = ts.ws(&b).await;
    let b_cursor = wb.hello(0).await.last().unwrap()["seq"].as_u64().unwrap();
    let mut wa = ts.ws(&a).await;
    let replay = wa.hello(0).await;
    // One ack per message.created, 10 ms apart: 200 ms in all.
    let created: Vec<u64> = replay
        .iter()
        .filter(|e| e["event"]["kind"] == "message.created")
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(created.len(), 20);
    for seq in &created {
        wa.send_json(json!({"type": "ack", "up_to": seq})).await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Ben's receipts: the last says all 20 are delivered, and there are far
    // fewer than 20 (one per 50 ms at most, plus the first).
    let mut receipts = Vec::new();
    loop {
        let rec = wb.next_event("receipt.updated").await;
        let delivered = rec["event"]["delivered_up_to_seq"].as_u64().unwrap();
        receipts.push(delivered);
        if delivered == 20 {
            break;
        }
    }
    assert!(
        receipts.len() <= 8,
        "{} receipts: {receipts:?}",
        receipts.len()
    );
    assert!(receipts.windows(2).all(|w| w[0] < w[1]), "{receipts:?}");
    let stored: i64 = ts
        .db()
        .query_row(
            "SELECT COUNT(*) FROM events WHERE user_id = ?1 AND seq > ?2",
            rusqlite::params![b.user.user.id.0, b_cursor as i64],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(stored as usize, receipts.len(), "one event per receipt");
}

/// A socket that answers pings stays open however long it has nothing to
/// say; one that is silent for the idle timeout (here 3 s) is closed with
/// 1000.
#[tokio::test]
async fn a_silent_socket_is_closed_and_a_quiet_live_one_is_not() {
    let ts = TestServer::start_with(|c| c.ws_idle_timeout = 3).await;
    let a = ts.login(ana()).await;
    let mut live = ts.ws(&a).await;
    live.hello(0).await;
    let mut silent = ts.ws(&a).await;
    silent.hello(0).await;
    // Reading answers the server's pings (every second here) with pongs.
    let kept = tokio::time::timeout(Duration::from_secs(7), live.closed_with()).await;
    assert!(kept.is_err(), "a socket that answers pings was closed");
    // The other one read nothing meanwhile. Its close frame is waiting for it,
    // unless reading first tries to answer the pings it missed, on the socket
    // the server has already shut: a broken pipe, which says the same.
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message as M;
    let end = loop {
        let next = tokio::time::timeout(Duration::from_secs(10), silent.stream.next())
            .await
            .expect("closed by the server");
        if !matches!(next, Some(Ok(M::Ping(_) | M::Pong(_)))) {
            break next;
        }
    };
    match end {
        Some(Ok(M::Close(Some(f)))) => assert_eq!(u16::from(f.code), 1000, "{f:?}"),
        Some(Err(e)) => assert!(e.to_string().contains("Broken pipe"), "{e}"),
        other => panic!("still open or closed without a frame: {other:?}"),
    }
}

/// Signing in with a code on a new device tells the account's other devices
/// (their device lists, and a sign-in their owner may not expect); the
/// first device of a new account has nobody to tell.
#[tokio::test]
async fn a_new_sign_in_is_announced_to_the_other_devices() {
    let ts = TestServer::start().await;
    let first = ts.login(ana()).await;
    let mut ws = ts.ws(&first).await;
    let replay = ws.hello(0).await;
    assert!(
        replay.iter().all(|e| e["event"]["kind"] != "device.added"),
        "{replay:?}"
    );
    let second = ts.login_device(ana(), "new laptop").await;
    let ev = ws.next_event("device.added").await;
    assert_eq!(
        ev["event"]["device"]["id"],
        second.tokens.device_id.0.as_str()
    );
    assert_eq!(ev["event"]["device"]["name"], "new laptop");
}

/// One device may hold `--ws-per-device` sockets; one more is refused at
/// the upgrade (429), and once one closes there is room again. Other
/// devices of the same user are not counted against it.
#[tokio::test]
async fn a_device_may_open_only_so_many_websockets() {
    let ts = TestServer::start().await;
    assert_eq!(ts.config.ws_per_device, 8, "the default");
    let a = ts.login(ana()).await;
    let mut open = Vec::new();
    for _ in 0..ts.config.ws_per_device {
        let mut ws = ts.ws(&a).await;
        ws.hello(0).await; // registered once it answers
        open.push(ws);
    }
    let upgrade = || {
        ts.req(Method::GET, "/v1/ws")
            .auth(&a)
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .send()
    };
    let r = upgrade().await.unwrap();
    assert!(r.headers().contains_key("retry-after"));
    problem(r, 429, "too_many_connections").await;
    let other_device = ts.login(ana()).await;
    ts.ws(&other_device).await.hello(0).await;
    let mut first = open.remove(0);
    first.stream.close(None).await.unwrap();
    drop(first);
    let mut status = 0;
    for _ in 0..100 {
        status = upgrade().await.unwrap().status().as_u16();
        if status == 101 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(status, 101, "room again once one closed");
}
