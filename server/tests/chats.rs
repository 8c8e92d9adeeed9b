#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Chats and messages over REST: send, idempotency, replies, limits, history,
//! edit, delete, reactions, unread and read, search, attachments, and who may
//! see what.

mod common;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};

async fn get(ts: &TestServer, s: &parley_protocol::Session, path: &str) -> reqwest::Response {
    ts.call(Method::GET, path, s).await
}

async fn post_msg(
    ts: &TestServer,
    s: &parley_protocol::Session,
    chat: &str,
    body: Value,
) -> reqwest::Response {
    ts.call_json(Method::POST, &format!("/v1/chats/{chat}/messages"), s, body)
        .await
}

/// `PATCH /v1/messages/{id}` with `body`.
async fn edit_msg(
    ts: &TestServer,
    s: &parley_protocol::Session,
    id: &str,
    body: Value,
) -> reqwest::Response {
    ts.call_json(Method::PATCH, &format!("/v1/messages/{id}"), s, body)
        .await
}

/// `POST /v1/chats/{chat}/read` up to `up_to_seq`.
async fn mark_read(
    ts: &TestServer,
    s: &parley_protocol::Session,
    chat: &str,
    up_to_seq: u64,
) -> reqwest::Response {
    ts.call_json(
        Method::POST,
        &format!("/v1/chats/{chat}/read"),
        s,
        json!({ "up_to_seq": up_to_seq }),
    )
    .await
}

/// A send that must be refused with 422 `code`.
async fn refused(
    ts: &TestServer,
    s: &parley_protocol::Session,
    chat: &str,
    body: Value,
    code: &str,
) {
    problem(post_msg(ts, s, chat, body).await, 422, code).await;
}

#[tokio::test]
async fn chats_are_only_between_connections() {
    let ts = TestServer::start().await;
    let a = ts.login(ana()).await;
    let b = ts.login(ben()).await;
    let r = ts
        .call_json(
            Method::POST,
            "/v1/chats",
            &a,
            json!({"peer_id": b.user.user.id}),
        )
        .await;
    problem(r, 403, "not_connected").await;
    let r = ts
        .call_json(
            Method::POST,
            "/v1/chats",
            &a,
            json!({"peer_id": a.user.user.id}),
        )
        .await;
    problem(r, 403, "not_connected").await;
    ts.connect_users(&a, &b).await;
    let r = ts
        .call_json(
            Method::POST,
            "/v1/chats",
            &a,
            json!({"peer_id": b.user.user.id}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let chat: Value = r.json().await.unwrap();
    let r = ts
        .call_json(
            Method::POST,
            "/v1/chats",
            &b,
            json!({"peer_id": a.user.user.id}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let same: Value = r.json().await.unwrap();
    assert_eq!(chat["id"], same["id"]);
    assert_eq!(same["peer"]["id"], a.user.user.id.as_str());
}

#[tokio::test]
async fn send_reply_idempotency_and_limits() {
    let ts = TestServer::start().await;
    let (a, b, chat) = ts.pair().await;
    let m1 = ts.send_text(&a, &chat, "c1", "hello Ben").await;
    assert_eq!(m1["seq"], 1);
    assert_eq!(m1["status"], "sent");
    assert_eq!(m1["sender_id"], a.user.user.id.as_str());
    assert_eq!(m1["forwarded"], false);
    // Same client_id: 200 with the original, nothing duplicated.
    let r = post_msg(
        &ts,
        &a,
        &chat,
        json!({"client_id": "c1", "body": "hello again"}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let again: Value = r.json().await.unwrap();
    assert_eq!(again["id"], m1["id"]);
    assert_eq!(again["body"], "hello Ben");
    // The same client_id from another user is a different message.
    let r = post_msg(
        &ts,
        &b,
        &chat,
        json!({"client_id": "c1", "body": "hi Ana", "reply_to": m1["id"]}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let m2: Value = r.json().await.unwrap();
    assert_eq!(m2["seq"], 2);
    assert_eq!(m2["reply_to"], m1["id"]);
    // Limits: 16 KiB body exactly is fine, one byte more is not.
    let r = post_msg(
        &ts,
        &a,
        &chat,
        json!({"client_id": "c2", "body": "x".repeat(16 * 1024)}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let r = post_msg(
        &ts,
        &a,
        &chat,
        json!({"client_id": "c3", "body": "x".repeat(16 * 1024 + 1)}),
    )
    .await;
    problem(r, 422, "invalid_field").await;
    refused(
        &ts,
        &a,
        &chat,
        json!({"client_id": "c4", "body": "  "}),
        "invalid_field",
    )
    .await;
    refused(
        &ts,
        &a,
        &chat,
        json!({"client_id": "", "body": "x"}),
        "invalid_field",
    )
    .await;
    refused(
        &ts,
        &a,
        &chat,
        json!({"client_id": "k".repeat(65), "body": "x"}),
        "invalid_field",
    )
    .await;
    assert_eq!(
        post_msg(
            &ts,
            &a,
            &chat,
            json!({"client_id": "k".repeat(64), "body": "x"})
        )
        .await
        .status(),
        201
    );
    refused(
        &ts,
        &a,
        &chat,
        json!({"client_id": "c5", "body": "x", "reply_to": "nope"}),
        "invalid_field",
    )
    .await;
    refused(
        &ts,
        &a,
        &chat,
        json!({"client_id": "c6", "body": "x", "attachment_ids": ["nope"]}),
        "invalid_field",
    )
    .await;
    refused(&ts, &a, &chat, json!({"body": "x"}), "invalid_body").await;
    // Control characters other than newlines and tabs (a terminal escape).
    refused(
        &ts,
        &a,
        &chat,
        json!({"client_id": "c7", "body": "\u{1b}[2Jgone"}),
        "invalid_field",
    )
    .await;
    // Nothing else was stored.
    let n: i64 = ts
        .db()
        .query_row("SELECT COUNT(*) FROM messages", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 4);
}

#[tokio::test]
async fn history_pages_by_seq() {
    let ts = TestServer::start().await;
    let (a, b, chat) = ts.pair().await;
    for i in 1..=7 {
        let who = if i % 2 == 0 { &b } else { &a };
        ts.send_text(who, &chat, &format!("m{i}"), &format!("message {i}"))
            .await;
    }
    let page: Vec<Value> = get(&ts, &a, &format!("/v1/chats/{chat}/messages?limit=3"))
        .await
        .json()
        .await
        .unwrap();
    let seqs: Vec<u64> = page.iter().map(|m| m["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, [5, 6, 7]);
    let page: Vec<Value> = get(
        &ts,
        &a,
        &format!("/v1/chats/{chat}/messages?limit=3&before_seq=5"),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        page.iter()
            .map(|m| m["seq"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [2, 3, 4]
    );
    let page: Vec<Value> = get(&ts, &a, &format!("/v1/chats/{chat}/messages?after_seq=5"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        page.iter()
            .map(|m| m["seq"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [6, 7]
    );
    problem(
        get(&ts, &a, &format!("/v1/chats/{chat}/messages?limit=201")).await,
        422,
        "invalid_query",
    )
    .await;
    problem(
        get(&ts, &a, &format!("/v1/chats/{chat}/messages?limit=0")).await,
        422,
        "invalid_query",
    )
    .await;
    assert_eq!(
        get(&ts, &a, &format!("/v1/chats/{chat}/messages?limit=200"))
            .await
            .status(),
        200
    );
    problem(
        get(&ts, &a, &format!("/v1/chats/{chat}/messages?limit=abc")).await,
        422,
        "invalid_query",
    )
    .await;
    // The chat list: last message, unread counts.
    let chats: Vec<Value> = get(&ts, &a, "/v1/chats").await.json().await.unwrap();
    assert_eq!(chats.len(), 1);
    assert_eq!(chats[0]["last_message"]["seq"], 7);
    assert_eq!(chats[0]["unread_count"], 3);
    let chats: Vec<Value> = get(&ts, &b, "/v1/chats").await.json().await.unwrap();
    assert_eq!(chats[0]["unread_count"], 4);
    // Reading resets unread; read status shows to the sender.
    let r = mark_read(&ts, &b, &chat, 5).await;
    assert_eq!(r.status(), 204);
    let chats: Vec<Value> = get(&ts, &b, "/v1/chats").await.json().await.unwrap();
    assert_eq!(chats[0]["unread_count"], 1);
    assert_eq!(chats[0]["read_up_to_seq"], 5);
    let page: Vec<Value> = get(&ts, &a, &format!("/v1/chats/{chat}/messages"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page[4]["status"], "read"); // seq 5, Ana's
    assert_eq!(page[6]["status"], "sent"); // seq 7, not read yet
                                           // Reading past the end clamps.
    ts.call_json(
        Method::POST,
        &format!("/v1/chats/{chat}/read"),
        &b,
        json!({"up_to_seq": 1000}),
    )
    .await;
    let chats: Vec<Value> = get(&ts, &b, "/v1/chats").await.json().await.unwrap();
    assert_eq!(chats[0]["read_up_to_seq"], 7);
    assert_eq!(chats[0]["unread_count"], 0);
    // Seqs past any real one mean "past everything", not a wrapped negative.
    let huge = u64::MAX;
    let newer: Vec<Value> = get(
        &ts,
        &a,
        &format!("/v1/chats/{chat}/messages?after_seq={huge}"),
    )
    .await
    .json()
    .await
    .unwrap();
    assert!(newer.is_empty(), "{newer:?}");
    let older: Vec<Value> = get(
        &ts,
        &a,
        &format!("/v1/chats/{chat}/messages?before_seq={huge}"),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(older.last().unwrap()["seq"], 7, "the newest page");
    // Path bytes that are not UTF-8: a problem document, not plain text.
    problem(
        get(&ts, &a, "/v1/chats/%FF/messages").await,
        400,
        "invalid_path",
    )
    .await;
    // The chat list's limit, on both sides of its bounds.
    for (q, status) in [("0", 422), ("1", 200), ("500", 200), ("501", 422)] {
        let r = get(&ts, &a, &format!("/v1/chats?limit={q}")).await;
        assert_eq!(r.status(), status, "limit={q}");
    }
    // Without a limit, a page is the newest 50 messages.
    for i in 8..=51 {
        ts.send_text(&a, &chat, &format!("d{i}"), &format!("m{i}"))
            .await;
    }
    let page: Vec<Value> = get(&ts, &a, &format!("/v1/chats/{chat}/messages"))
        .await
        .json()
        .await
        .unwrap();
    let seqs: Vec<u64> = page.iter().map(|m| m["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (2..=51).collect::<Vec<_>>());
}

/// Unread counts are kept incrementally (bumped on send, decremented on read
/// and on deleting an unread message), so they are checked here against a
/// recount straight from the database file after every step.
#[tokio::test]
async fn unread_counts_follow_reads_and_deletes() {
    let ts = TestServer::start().await;
    let (a, b, chat) = ts.pair().await;
    let mut ids = Vec::new();
    for i in 1..=6 {
        let m = ts
            .send_text(&a, &chat, &format!("u{i}"), &format!("m{i}"))
            .await;
        ids.push(m["id"].as_str().unwrap().to_owned());
    }
    ts.send_text(&b, &chat, "b1", "from ben").await; // seq 7: Ben's own
    let unread = |expected: u64| {
        let db = ts.db();
        let (stored, recount): (i64, i64) = db
            .query_row(
                "SELECT cm.unread_count, (SELECT COUNT(*) FROM messages m WHERE m.chat_id = cm.chat_id \
                 AND m.seq > MAX(cm.read_up_to_seq, cm.cleared_up_to_seq) \
                 AND m.sender_id != cm.user_id AND m.deleted_at IS NULL) \
                 FROM chat_members cm WHERE cm.chat_id = ?1 AND cm.user_id = ?2",
                rusqlite::params![chat, b.user.user.id.0],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(
            stored, recount,
            "stored unread count drifted from a recount"
        );
        assert_eq!(stored as u64, expected);
    };
    unread(6);
    let delete = async |id: &str| {
        ts.call(Method::DELETE, &format!("/v1/messages/{id}"), &a)
            .await
            .status()
    };
    // Deleting an unread message takes it off the count, once.
    assert_eq!(delete(&ids[4]).await, 204);
    unread(5);
    assert_eq!(delete(&ids[4]).await, 204);
    unread(5);
    // Ben's `POST /v1/chats/{chat}/read` or `/clear` with `up_to_seq`.
    let up_to = async |what: &str, up_to: u64| {
        ts.call_json(
            Method::POST,
            &format!("/v1/chats/{chat}/{what}"),
            &b,
            json!({ "up_to_seq": up_to }),
        )
        .await
        .status()
    };
    let read = async |n: u64| up_to("read", n).await;
    assert_eq!(read(3).await, 204);
    unread(2); // seq 4 and 6 left (5 deleted, 7 is Ben's)
               // Deleting a message Ben already read changes nothing.
    assert_eq!(delete(&ids[0]).await, 204);
    unread(2);
    // Reading backwards changes nothing; reading past the deleted one counts it once.
    assert_eq!(read(2).await, 204);
    unread(2);
    assert_eq!(read(5).await, 204);
    unread(1);
    // Acks (delivered) never touch the unread count.
    ts.send_text(&a, &chat, "u7", "m7").await; // seq 8
    unread(2);
    let mut wa = ts.ws(&a).await;
    wa.hello(0).await;
    let mut wb = ts.ws(&b).await;
    let events = wb.hello(0).await;
    let last = events.last().unwrap()["seq"].as_u64().unwrap();
    wb.send_json(json!({"type": "ack", "up_to": last})).await;
    let rec = wa.next_event("receipt.updated").await;
    assert_eq!(rec["event"]["delivered_up_to_seq"], 8);
    unread(2);
    // Clearing takes what it covers off the count, whatever was read.
    for i in 9..=11 {
        ts.send_text(&a, &chat, &format!("u{i}"), &format!("m{i}"))
            .await; // seq 9..=11
    }
    unread(5);
    let clear = async |n: u64| up_to("clear", n).await;
    assert_eq!(clear(9).await, 204);
    unread(2);
    // Deleting a message cleared but not read (seq 6; read up to 5) takes
    // nothing off: the clear already did.
    assert_eq!(delete(&ids[5]).await, 204);
    unread(2);
    // Reading over what was cleared counts only what was not.
    assert_eq!(read(10).await, 204);
    unread(1);
    assert_eq!(clear(11).await, 204);
    unread(0);
    assert_eq!(read(100).await, 204);
    unread(0);
}

#[tokio::test]
async fn read_receipts_privacy_is_reciprocal() {
    let ts = TestServer::start().await;
    let (a, b, chat) = ts.pair().await;
    ts.send_text(&a, &chat, "m1", "hi").await;
    ts.set_read_receipts(&b, false).await;
    ts.call_json(
        Method::POST,
        &format!("/v1/chats/{chat}/read"),
        &b,
        json!({"up_to_seq": 1}),
    )
    .await;
    let page: Vec<Value> = get(&ts, &a, &format!("/v1/chats/{chat}/messages"))
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(page[0]["status"], "read");
    // And Ben does not see Ana's reads either.
    ts.send_text(&b, &chat, "m2", "yo").await;
    ts.call_json(
        Method::POST,
        &format!("/v1/chats/{chat}/read"),
        &a,
        json!({"up_to_seq": 2}),
    )
    .await;
    let page: Vec<Value> = get(&ts, &b, &format!("/v1/chats/{chat}/messages"))
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(page[1]["status"], "read");
}

/// The newest `receipt.updated` about `about` in `user_id`'s log: its read
/// watermark.
fn last_read_receipt(ts: &TestServer, user_id: &str, about: &str) -> Option<u64> {
    ts.db()
        .query_row(
            "SELECT json_extract(payload, '$.read_up_to_seq') FROM events WHERE user_id = ?1 \
             AND json_extract(payload, '$.kind') = 'receipt.updated' \
             AND json_extract(payload, '$.user_id') = ?2 ORDER BY seq DESC LIMIT 1",
            rusqlite::params![user_id, about],
            |r| r.get::<_, i64>(0),
        )
        .ok()
        .map(|n| n as u64)
}

/// Turning read receipts back on shows both sides what was read while they
/// were off, at once (no read announces it): Ana hears Ben's watermark and
/// Ben, who turned them on, hears Ana's.
#[tokio::test]
async fn turning_read_receipts_on_sends_both_sides_the_hidden_watermarks() {
    let ts = TestServer::start().await;
    let (a, b, chat) = ts.pair().await;
    let (ana_id, ben_id) = (a.user.user.id.as_str(), b.user.user.id.as_str());
    let receipts = |on: bool| ts.set_read_receipts(&b, on);
    assert_eq!(receipts(false).await.status(), 200);
    ts.send_text(&a, &chat, "m1", "one").await;
    assert_eq!(mark_read(&ts, &b, &chat, 1).await.status(), 204);
    ts.send_text(&b, &chat, "m2", "two").await;
    assert_eq!(mark_read(&ts, &a, &chat, 2).await.status(), 204);
    assert_eq!(last_read_receipt(&ts, ana_id, ben_id).unwrap_or(0), 0);
    assert_eq!(last_read_receipt(&ts, ben_id, ana_id).unwrap_or(0), 0);
    // Off again is no change: nothing.
    let before = ts.events_of(ana_id, Some("receipt.updated"));
    assert_eq!(receipts(false).await.status(), 200);
    assert_eq!(ts.events_of(ana_id, Some("receipt.updated")), before);

    assert_eq!(receipts(true).await.status(), 200);
    assert_eq!(last_read_receipt(&ts, ana_id, ben_id), Some(1));
    assert_eq!(last_read_receipt(&ts, ben_id, ana_id), Some(2));
    // What a client reading the history sees agrees.
    let page: Vec<Value> = get(&ts, &a, &format!("/v1/chats/{chat}/messages"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page[0]["status"], "read");
    // On while already on: no more receipts.
    let before = ts.events_of(ana_id, Some("receipt.updated"));
    assert_eq!(receipts(true).await.status(), 200);
    assert_eq!(ts.events_of(ana_id, Some("receipt.updated")), before);
    // With Ana's off, Ben's turning on again shows neither side anything;
    // nor once they are no longer contacts.
    let ana_off = ts.set_read_receipts(&a, false).await;
    assert_eq!(ana_off.status(), 200);
    let count = || {
        ts.events_of(ana_id, Some("receipt.updated"))
            + ts.events_of(ben_id, Some("receipt.updated"))
    };
    let before = count();
    assert_eq!(receipts(false).await.status(), 200);
    assert_eq!(receipts(true).await.status(), 200);
    assert_eq!(count(), before, "Ana shows none");
    let ana_on = ts.set_read_receipts(&a, true).await;
    assert_eq!(ana_on.status(), 200);
    let before = count();
    assert_eq!(ts.disconnect(&a, &b).await.status(), 204);
    assert_eq!(receipts(false).await.status(), 200);
    assert_eq!(receipts(true).await.status(), 200);
    assert_eq!(count(), before, "no longer contacts");
}

/// With read receipts off, reading what was already delivered tells the
/// sender nothing: no receipt event at all.
#[tokio::test]
async fn a_hidden_read_sends_the_sender_nothing() {
    let ts = TestServer::start().await;
    let (a, b, chat) = ts.pair().await;
    ts.set_read_receipts(&b, false).await;
    ts.send_text(&a, &chat, "m1", "one").await;
    ts.send_text(&a, &chat, "m2", "two").await;
    let receipts = || ts.events_of(a.user.user.id.as_str(), Some("receipt.updated"));
    // Ben's device receives and acknowledges both: delivered, which Ana sees.
    let mut ws = ts.ws(&b).await;
    let events = ws.hello(0).await;
    let last = events.last().unwrap()["seq"].as_u64().unwrap();
    ws.send_json(json!({"type": "ack", "up_to": last})).await;
    let start = std::time::Instant::now();
    while receipts() == 0 {
        assert!(start.elapsed().as_secs() < 10, "no delivered receipt");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let before = receipts();
    let r = mark_read(&ts, &b, &chat, 2).await;
    assert_eq!(r.status(), 204);
    assert_eq!(receipts(), before, "the read reached Ana's log");
}

#[tokio::test]
async fn edit_delete_react_search() {
    let ts = TestServer::start().await;
    let (a, b, chat) = ts.pair().await;
    let m = ts.send_text(&a, &chat, "m1", "the quick brown fox").await;
    let id = m["id"].as_str().unwrap();
    // Only the sender edits.
    let r = edit_msg(&ts, &b, id, json!({"body": "hacked"})).await;
    problem(r, 403, "not_sender").await;
    let r = edit_msg(&ts, &a, id, json!({"body": "the quick red fox"})).await;
    assert_eq!(r.status(), 200);
    let edited: Value = r.json().await.unwrap();
    assert!(edited["edited_at"].is_string());
    // The 24 h window: age the message in the database, to just inside the
    // window (a few seconds of slack for a slow machine), then past it.
    let age = |ms: i64| {
        let db = rusqlite::Connection::open(ts.db_path()).unwrap();
        db.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
        db.execute(
            "UPDATE messages SET created_at = created_at - ?2 WHERE id = ?1",
            rusqlite::params![id, ms],
        )
        .unwrap();
    };
    age(86_400_000 - 5_000);
    let r = edit_msg(&ts, &a, id, json!({"body": "the quick red fox"})).await;
    assert_eq!(r.status(), 200, "inside the 24 h window");
    age(10_000);
    let r = edit_msg(&ts, &a, id, json!({"body": "too late"})).await;
    problem(r, 403, "edit_window_passed").await;
    // Reactions: one per user per emoji.
    for s in [&a, &b, &b] {
        let r = ts
            .call(
                Method::PUT,
                &format!("/v1/messages/{id}/reactions/%F0%9F%91%8D"),
                s,
            )
            .await;
        assert_eq!(r.status(), 204);
    }
    let page: Vec<Value> = get(&ts, &a, &format!("/v1/chats/{chat}/messages"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page[0]["reactions"]["👍"].as_array().unwrap().len(), 2);
    let r = ts
        .call(
            Method::DELETE,
            &format!("/v1/messages/{id}/reactions/%F0%9F%91%8D"),
            &b,
        )
        .await;
    assert_eq!(r.status(), 204);
    // One emoji (a grapheme cluster: joiners, skin tones and flags are one)
    // of at most 64 bytes; text is not a reaction.
    let kiss = "👩🏻\u{200d}❤\u{fe0f}\u{200d}💋\u{200d}👨🏼";
    assert_eq!(kiss.len(), 35);
    let at_most = format!("👍{}", "\u{fe0f}".repeat(20));
    assert_eq!(at_most.len(), parley_protocol::limits::REACTION_MAX_BYTES);
    for (emoji, status) in [
        (kiss.to_owned(), 204),
        ("🇺🇸".to_owned(), 204),
        (at_most.clone(), 204),
        (format!("{at_most}\u{fe0f}"), 422),
        ("👍👍".to_owned(), 422),
        ("👍x".to_owned(), 422),
        ("hello".to_owned(), 422),
    ] {
        let len = emoji.len();
        let r = ts
            .req(Method::PUT, &format!("/v1/messages/{id}/reactions/{emoji}"))
            .auth(&b)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "a reaction of {len} bytes");
        if status == 422 {
            problem(r, 422, "invalid_field").await;
        }
    }
    for emoji in [kiss, "🇺🇸"] {
        let r = ts
            .req(
                Method::DELETE,
                &format!("/v1/messages/{id}/reactions/{emoji}"),
            )
            .auth(&b)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
    }
    // A text reaction stored before they had to be emoji can still be taken back.
    {
        let db = rusqlite::Connection::open(ts.db_path()).unwrap();
        db.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
        db.execute(
            "INSERT INTO reactions (message_id, user_id, emoji, created_at) VALUES (?1, ?2, 'ok', 0)",
            rusqlite::params![id, b.user.user.id.0],
        )
        .unwrap();
    }
    let r = ts
        .call(
            Method::DELETE,
            &format!("/v1/messages/{id}/reactions/ok"),
            &b,
        )
        .await;
    assert_eq!(r.status(), 204);
    // At most 10 different reactions per user per message (Ben has one,
    // "👍" with its 20 selectors): the tenth goes in, an eleventh does not; the same one again
    // is fine, and removing one makes room.
    let nth = |i: u32| char::from_u32(0x1F600 + i).unwrap().to_string();
    let react = async |method: Method, emoji: &str| {
        ts.call(method, &format!("/v1/messages/{id}/reactions/{emoji}"), &b)
            .await
    };
    for i in 2..=10 {
        assert_eq!(
            react(Method::PUT, &nth(i)).await.status(),
            204,
            "reaction {i}"
        );
    }
    problem(
        react(Method::PUT, &nth(11)).await,
        409,
        "too_many_reactions",
    )
    .await;
    assert_eq!(react(Method::PUT, &nth(10)).await.status(), 204, "again");
    assert_eq!(react(Method::DELETE, &nth(10)).await.status(), 204);
    assert_eq!(react(Method::PUT, &nth(11)).await.status(), 204);
    let page: Vec<Value> = get(&ts, &a, &format!("/v1/chats/{chat}/messages"))
        .await
        .json()
        .await
        .unwrap();
    let of_ben = page[0]["reactions"]
        .as_object()
        .unwrap()
        .values()
        .filter(|who| {
            who.as_array()
                .unwrap()
                .iter()
                .any(|u| u == b.user.user.id.as_str())
        })
        .count();
    assert_eq!(of_ben, 10);
    for i in [2, 3, 4, 5, 6, 7, 8, 9, 11] {
        assert_eq!(react(Method::DELETE, &nth(i)).await.status(), 204);
    }
    // Search finds the edited text, case-insensitively, by prefix.
    let found: Vec<Value> = get(&ts, &b, "/v1/search?q=QUICK%20re")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["id"], id);
    let found: Vec<Value> = get(&ts, &b, "/v1/search?q=brown")
        .await
        .json()
        .await
        .unwrap();
    assert!(found.is_empty());
    // Odd input is text, not FTS syntax.
    assert_eq!(
        get(&ts, &b, "/v1/search?q=%22NEAR(%20OR").await.status(),
        200
    );
    // A NUL (which ends an FTS5 query early) is no 500.
    assert_eq!(get(&ts, &b, "/v1/search?q=bro%00wn").await.status(), 200);
    problem(get(&ts, &b, "/v1/search?q=%20").await, 422, "invalid_query").await;
    // At most eight words.
    assert_eq!(
        get(
            &ts,
            &b,
            "/v1/search?q=qu%20qu%20qu%20qu%20qu%20qu%20qu%20qu"
        )
        .await
        .status(),
        200
    );
    problem(
        get(
            &ts,
            &b,
            "/v1/search?q=qu%20qu%20qu%20qu%20qu%20qu%20qu%20qu%20qu",
        )
        .await,
        422,
        "invalid_query",
    )
    .await;
    assert_eq!(
        get(&ts, &b, &format!("/v1/search?q={}", "a".repeat(256)))
            .await
            .status(),
        200
    );
    problem(
        get(&ts, &b, &format!("/v1/search?q={}", "a".repeat(257))).await,
        422,
        "invalid_query",
    )
    .await;
    // Delete leaves a tombstone, not searchable, no reactions.
    problem(
        ts.call(Method::DELETE, &format!("/v1/messages/{id}"), &b)
            .await,
        403,
        "not_sender",
    )
    .await;
    let r = ts
        .call(Method::DELETE, &format!("/v1/messages/{id}"), &a)
        .await;
    assert_eq!(r.status(), 204);
    let page: Vec<Value> = get(&ts, &b, &format!("/v1/chats/{chat}/messages"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page[0]["deleted"], true);
    assert_eq!(page[0]["body"], "");
    assert_eq!(page[0]["reactions"], json!({}));
    let found: Vec<Value> = get(&ts, &b, "/v1/search?q=quick")
        .await
        .json()
        .await
        .unwrap();
    assert!(found.is_empty());
    let r = ts
        .call(Method::PUT, &format!("/v1/messages/{id}/reactions/👍"), &b)
        .await;
    problem(r, 410, "message_deleted").await;
}

#[tokio::test]
async fn removed_contacts_keep_history_but_cannot_send() {
    let ts = TestServer::start().await;
    let (a, b, chat) = ts.pair().await;
    let m = ts.send_text(&a, &chat, "m1", "before").await;
    let id = m["id"].as_str().unwrap();
    let r = ts
        .call_json(
            Method::PATCH,
            "/v1/me",
            &a,
            json!({"username": "ana", "bio": "for contacts only"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = ts
        .req(Method::PUT, "/v1/me/avatar")
        .auth(&a)
        .header("content-type", "image/png")
        .body(png(16, 16))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let chats: Vec<Value> = get(&ts, &b, "/v1/chats").await.json().await.unwrap();
    assert_eq!(chats[0]["peer"]["bio"], "for contacts only");
    ts.disconnect(&a, &b).await;
    // Ben's chat list now shows Ana as to a stranger.
    let chats: Vec<Value> = get(&ts, &b, "/v1/chats").await.json().await.unwrap();
    assert_eq!(chats[0]["peer"]["bio"], "", "{chats:?}");
    assert_eq!(chats[0]["peer"]["username"], Value::Null);
    // ...with name and photo: the photo it links to is still Ben's to see.
    let avatar = chats[0]["peer"]["avatar_url"].as_str().unwrap().to_owned();
    assert_eq!(get(&ts, &b, &avatar).await.status(), 200);
    problem(
        post_msg(&ts, &b, &chat, json!({"client_id": "x", "body": "after"})).await,
        403,
        "not_connected",
    )
    .await;
    // Opening the chat by peer is refused as PROTOCOL.md says; reading it
    // by id still works, as the list shows it.
    let open = ts
        .call_json(
            Method::POST,
            "/v1/chats",
            &b,
            json!({"peer_id": a.user.user.id}),
        )
        .await;
    problem(open, 403, "not_connected").await;
    let one = get(&ts, &b, &format!("/v1/chats/{chat}")).await;
    assert_eq!(one.status(), 200);
    let one: Value = one.json().await.unwrap();
    assert_eq!(one, chats[0]);
    let carol = ts.login("carol@example.org").await;
    problem(
        get(&ts, &carol, &format!("/v1/chats/{chat}")).await,
        404,
        "chat_not_found",
    )
    .await;
    problem(get(&ts, &carol, &avatar).await, 404, "avatar_not_found").await;
    // Nor can either side edit or react any more: that would still reach
    // the other's log.
    let a_events = |ts: &TestServer| ts.events_of(a.user.user.id.as_str(), None);
    let before = a_events(&ts);
    let r = edit_msg(&ts, &a, id, json!({"body": "edited after"})).await;
    problem(r, 403, "not_connected").await;
    let r = ts
        .call(
            Method::PUT,
            &format!("/v1/messages/{id}/reactions/%F0%9F%91%8D"),
            &b,
        )
        .await;
    problem(r, 403, "not_connected").await;
    // Reading is fine, but sends the other side no receipt.
    let r = mark_read(&ts, &b, &chat, 1).await;
    assert_eq!(r.status(), 204);
    assert_eq!(a_events(&ts), before, "nothing reached Ana's log");
    // Deleting one's own message still works.
    let r = ts
        .call(Method::DELETE, &format!("/v1/messages/{id}"), &a)
        .await;
    assert_eq!(r.status(), 204);
    let page: Vec<Value> = get(&ts, &b, &format!("/v1/chats/{chat}/messages"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page.len(), 1);
}

#[tokio::test]
async fn attachments_upload_limits_and_access() {
    let ts = TestServer::start_with(|c| c.max_attachment_bytes = 1000).await;
    let (a, b, chat) = ts.pair().await;
    let cleo = ts.login("cleo@example.org").await;
    let upload = |s: &parley_protocol::Session, ct: &str, body: Vec<u8>| {
        ts.req(Method::POST, "/v1/attachments?name=notes.txt")
            .auth(s)
            .header("content-type", ct)
            .body(body)
            .send()
    };
    let r = upload(&a, "text/plain", vec![b'a'; 1000]).await.unwrap();
    assert_eq!(r.status(), 201);
    let att: Value = r.json().await.unwrap();
    assert_eq!(att["size"], 1000);
    assert_eq!(att["name"], "notes.txt");
    assert_eq!(att["sha256"].as_str().unwrap().len(), 64);
    problem(
        upload(&a, "text/plain", vec![b'a'; 1001]).await.unwrap(),
        413,
        "payload_too_large",
    )
    .await;
    problem(
        upload(&a, "not a type", vec![b'a'; 10]).await.unwrap(),
        415,
        "unsupported_media_type",
    )
    .await;
    problem(
        upload(&a, "text/plain", vec![]).await.unwrap(),
        422,
        "invalid_field",
    )
    .await;
    let id = att["id"].as_str().unwrap();
    // Before it is sent, only Ana can fetch it.
    assert_eq!(
        get(&ts, &a, &format!("/v1/attachments/{id}"))
            .await
            .status(),
        200
    );
    problem(
        get(&ts, &b, &format!("/v1/attachments/{id}")).await,
        404,
        "attachment_not_found",
    )
    .await;
    // Ben cannot attach Ana's upload to his own message.
    refused(
        &ts,
        &b,
        &chat,
        json!({"client_id": "b1", "attachment_ids": [id]}),
        "invalid_field",
    )
    .await;
    // Sent with an empty body: Ben can fetch it now, Cleo never.
    let r = post_msg(
        &ts,
        &a,
        &chat,
        json!({"client_id": "a1", "attachment_ids": [id]}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let m: Value = r.json().await.unwrap();
    assert_eq!(m["attachments"][0]["id"], id);
    // At most ten attachments per message, each once.
    let mut ids = Vec::new();
    for i in 0..11u8 {
        let r = upload(&a, "text/plain", vec![b'0' + i; 10]).await.unwrap();
        let att: Value = r.json().await.unwrap();
        ids.push(att["id"].as_str().unwrap().to_owned());
    }
    refused(
        &ts,
        &a,
        &chat,
        json!({"client_id": "a11", "attachment_ids": ids}),
        "invalid_field",
    )
    .await;
    refused(
        &ts,
        &a,
        &chat,
        json!({"client_id": "a2x", "attachment_ids": [&ids[0], &ids[0]]}),
        "invalid_field",
    )
    .await;
    let r = post_msg(
        &ts,
        &a,
        &chat,
        json!({"client_id": "a10", "attachment_ids": &ids[..10]}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let m10: Value = r.json().await.unwrap();
    assert_eq!(m10["attachments"].as_array().unwrap().len(), 10);
    let r = get(&ts, &b, &format!("/v1/attachments/{id}")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/plain");
    assert_eq!(r.bytes().await.unwrap().len(), 1000);
    problem(
        get(&ts, &cleo, &format!("/v1/attachments/{id}")).await,
        404,
        "attachment_not_found",
    )
    .await;
    // Stored content-addressed on disk.
    let sha = att["sha256"].as_str().unwrap();
    assert!(ts
        .config
        .data_dir
        .join("attachments")
        .join(&sha[..2])
        .join(sha)
        .exists());
    // An image gets its dimensions.
    let mut png = Vec::new();
    image::DynamicImage::ImageRgb8(image::RgbImage::new(12, 7))
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let img: Value = upload(&a, "image/png", png)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (img["width"].as_u64(), img["height"].as_u64()),
        (Some(12), Some(7))
    );
    // A photo stored sideways, with an EXIF orientation that turns it (6:
    // 90° clockwise): the size it is shown at. (A 40×30 JPEG with that tag;
    // the desktop's avatar test opens the same file.)
    let jpeg = include_bytes!("fixtures/sideways-exif6.jpg").to_vec();
    let photo: Value = upload(&a, "image/jpeg", jpeg)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (photo["width"].as_u64(), photo["height"].as_u64()),
        (Some(30), Some(40))
    );
}

#[tokio::test]
async fn outsiders_see_nothing() {
    let ts = TestServer::start().await;
    let (a, _b, chat) = ts.pair().await;
    let m = ts.send_text(&a, &chat, "m1", "secret plans").await;
    let id = m["id"].as_str().unwrap();
    let eve = ts.login("eve@example.org").await;
    problem(
        get(&ts, &eve, &format!("/v1/chats/{chat}/messages")).await,
        404,
        "chat_not_found",
    )
    .await;
    problem(
        post_msg(&ts, &eve, &chat, json!({"client_id": "e", "body": "x"})).await,
        404,
        "chat_not_found",
    )
    .await;
    let r = mark_read(&ts, &eve, &chat, 1).await;
    problem(r, 404, "chat_not_found").await;
    let r = edit_msg(&ts, &eve, id, json!({"body": "x"})).await;
    problem(r, 404, "message_not_found").await;
    problem(
        ts.call(Method::DELETE, &format!("/v1/messages/{id}"), &eve)
            .await,
        404,
        "message_not_found",
    )
    .await;
    let r = ts
        .call(
            Method::PUT,
            &format!("/v1/messages/{id}/reactions/👍"),
            &eve,
        )
        .await;
    problem(r, 404, "message_not_found").await;
    let found: Vec<Value> = get(&ts, &eve, "/v1/search?q=secret")
        .await
        .json()
        .await
        .unwrap();
    assert!(found.is_empty());
    let chats: Vec<Value> = get(&ts, &eve, "/v1/chats").await.json().await.unwrap();
    assert!(chats.is_empty());
    problem(
        get(&ts, &eve, &format!("/v1/users/{}", a.user.user.id)).await,
        404,
        "user_not_found",
    )
    .await;
    let conns: Vec<Value> = get(&ts, &eve, "/v1/connections")
        .await
        .json()
        .await
        .unwrap();
    assert!(conns.is_empty());
}

/// Paging the chat list with `before` and `before_id` returns every chat
/// once, even chats last active in the same millisecond; `before` alone
/// skips the rest of that millisecond (what it means), and `before_id`
/// without `before` is refused.
#[tokio::test]
async fn chat_list_pages_keep_chats_of_the_same_millisecond() {
    let ts = TestServer::start().await;
    let ana = ts.login("ana@example.org").await;
    let mut ids = Vec::new();
    for who in ["ben", "cleo", "dan"] {
        let peer = ts.login(&format!("{who}@example.org")).await;
        ts.connect_users(&ana, &peer).await;
        ids.push(ts.open_chat(&ana, &peer).await);
    }
    let db = rusqlite::Connection::open(ts.db_path()).unwrap();
    db.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
    db.execute("UPDATE chats SET updated_at = 1767225600123", [])
        .unwrap();
    ids.sort();
    ids.reverse();
    let page = |q: String| {
        let (ts, ana) = (&ts, &ana);
        async move {
            let list: Vec<Value> = get(ts, ana, &format!("/v1/chats?limit=1{q}"))
                .await
                .json()
                .await
                .unwrap();
            list
        }
    };
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let list = page(cursor.clone()).await;
        let Some(c) = list.first() else { break };
        assert_eq!(c["updated_at"], "2026-01-01T00:00:00.123Z");
        seen.push(c["id"].as_str().unwrap().to_owned());
        cursor = format!(
            "&before={}&before_id={}",
            c["updated_at"].as_str().unwrap(),
            c["id"].as_str().unwrap()
        );
    }
    assert_eq!(seen, ids, "each chat once, by id within the millisecond");
    let skipped = page("&before=2026-01-01T00:00:00.123Z".into()).await;
    assert!(skipped.is_empty(), "{skipped:?}");
    problem(
        get(&ts, &ana, &format!("/v1/chats?before_id={}", ids[0])).await,
        422,
        "invalid_query",
    )
    .await;
}

/// Uploads `bytes` as `f.txt`; the new attachment.
async fn upload_text(ts: &TestServer, s: &parley_protocol::Session, bytes: &'static str) -> Value {
    let r = ts
        .req(Method::POST, "/v1/attachments?name=f.txt")
        .auth(s)
        .header("content-type", "text/plain")
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    r.json().await.unwrap()
}

/// Uploads never sent (past a week) and the files of deleted messages are
/// collected: their rows at once, their files set aside and deleted on the
/// next run. Bytes another attachment shares stay; recent uploads stay; a
/// file set aside whose rows came back (a rolled-back batch) is put back.
#[tokio::test]
async fn attachments_no_one_can_reach_are_collected() {
    use parley_server::service::attachments::{blob_path, collect_garbage, Collected, UNSENT_KEPT};
    let ts = TestServer::start().await;
    let (a, b, chat) = ts.pair().await;
    let upload = |bytes: &'static str| upload_text(&ts, &a, bytes);
    let unsent = upload("shared bytes").await;
    let deleted = upload("deleted bytes").await;
    let kept = upload("kept bytes").await;
    let shared = upload("shared bytes").await;
    for (cid, att) in [("g1", &deleted), ("g2", &kept), ("g3", &shared)] {
        let r = post_msg(
            &ts,
            &a,
            &chat,
            json!({"client_id": cid, "attachment_ids": [att["id"]]}),
        )
        .await;
        assert_eq!(r.status(), 201);
        if cid == "g1" {
            let m: Value = r.json().await.unwrap();
            let r = ts
                .call(
                    Method::DELETE,
                    &format!("/v1/messages/{}", m["id"].as_str().unwrap()),
                    &a,
                )
                .await;
            assert_eq!(r.status(), 204);
        }
    }
    {
        let db = rusqlite::Connection::open(ts.db_path()).unwrap();
        db.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
        db.execute(
            "UPDATE attachments SET created_at = created_at - 8 * 86400000",
            [],
        )
        .unwrap();
    }
    let fresh = upload("fresh bytes").await;
    let data = &ts.config.data_dir;
    let file = |att: &Value| blob_path(data, att["sha256"].as_str().unwrap());
    let trash = data.join("attachments").join("trash");

    let c = collect_garbage(ts.state(), UNSENT_KEPT).await.unwrap();
    assert_eq!(
        c,
        Collected {
            files_deleted: 0,
            attachments: 2,
            files_moved: 1,
            strays: 0,
        },
        "the unsent one and the deleted message's; only the latter's bytes are unshared"
    );
    for (att, who, status) in [
        (&unsent, &a, 404),
        (&deleted, &a, 404),
        (&kept, &b, 200),
        (&shared, &b, 200),
        (&fresh, &a, 200),
    ] {
        let r = get(
            &ts,
            who,
            &format!("/v1/attachments/{}", att["id"].as_str().unwrap()),
        )
        .await;
        assert_eq!(r.status(), status, "{att}");
    }
    assert!(file(&unsent).exists(), "shared with a sent attachment");
    assert!(!file(&deleted).exists());
    assert!(trash.join(deleted["sha256"].as_str().unwrap()).exists());

    let c = collect_garbage(ts.state(), UNSENT_KEPT).await.unwrap();
    assert_eq!(
        c,
        Collected {
            files_deleted: 1,
            attachments: 0,
            files_moved: 0,
            strays: 0,
        }
    );
    assert_eq!(std::fs::read_dir(&trash).unwrap().count(), 0);

    // A file set aside whose rows are back goes back where it was.
    let sha = kept["sha256"].as_str().unwrap();
    std::fs::rename(file(&kept), trash.join(sha)).unwrap();
    let c = collect_garbage(ts.state(), UNSENT_KEPT).await.unwrap();
    assert_eq!(c, Collected::default());
    let r = get(
        &ts,
        &b,
        &format!("/v1/attachments/{}", kept["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"kept bytes");
}

/// A file under `attachments/` that no row refers to (its upload's batch
/// rolled back after the file took its place, or a restored older database)
/// is set aside once it is an hour old, then deleted by the next run. Files
/// with rows, young strays and names the server never writes stay.
#[tokio::test]
async fn files_without_rows_are_collected_once_an_hour_old() {
    use parley_server::service::attachments::{blob_path, collect_garbage, UNSENT_KEPT};
    let ts = TestServer::start().await;
    let a = ts.login("ana@example.org").await;
    let mut uploaded = Vec::new();
    for bytes in ["orphan bytes", "young orphan", "kept bytes"] {
        let v = upload_text(&ts, &a, bytes).await;
        uploaded.push(v["sha256"].as_str().unwrap().to_owned());
    }
    let data = &ts.config.data_dir;
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 3600);
    let age = |sha: &str| {
        std::fs::File::options()
            .write(true)
            .open(blob_path(data, sha))
            .unwrap()
            .set_modified(old)
            .unwrap();
    };
    {
        let db = rusqlite::Connection::open(ts.db_path()).unwrap();
        db.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
        for sha in &uploaded[..2] {
            db.execute("DELETE FROM attachments WHERE sha256 = ?1", [sha])
                .unwrap();
        }
    }
    age(&uploaded[0]);
    age(&uploaded[2]);
    // Not a name the server writes: left alone, however old.
    let stranger = blob_path(data, &uploaded[0]).with_file_name("notes.txt");
    std::fs::write(&stranger, "mine").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&stranger)
        .unwrap()
        .set_modified(old)
        .unwrap();
    let trash = data.join("attachments").join("trash");

    let c = collect_garbage(ts.state(), UNSENT_KEPT).await.unwrap();
    assert_eq!(c.strays, 1, "{c:?}");
    assert!(!blob_path(data, &uploaded[0]).exists());
    assert!(trash.join(&uploaded[0]).exists());
    assert!(
        blob_path(data, &uploaded[1]).exists(),
        "younger than an hour"
    );
    assert!(blob_path(data, &uploaded[2]).exists(), "it has a row");
    assert!(stranger.exists());

    let c = collect_garbage(ts.state(), UNSENT_KEPT).await.unwrap();
    assert_eq!((c.files_deleted, c.strays), (1, 0), "{c:?}");
    assert!(!trash.join(&uploaded[0]).exists());
}

/// An upload cut off mid-stream (the client went away) leaves no partial
/// file behind.
#[tokio::test]
async fn an_upload_cut_off_leaves_no_partial_file() {
    use tokio::io::AsyncWriteExt;
    let ts = TestServer::start().await;
    let a = ts.login("ana@example.org").await;
    let tmp = ts.config.data_dir.join("attachments").join("tmp");
    let partials = || std::fs::read_dir(&tmp).map_or(0, |d| d.count());
    let mut sock = tokio::net::TcpStream::connect(ts.base.trim_start_matches("http://"))
        .await
        .unwrap();
    let head = format!(
        "POST /v1/attachments?name=big.bin HTTP/1.1\r\nHost: parley\r\n\
         Authorization: Bearer {}\r\nContent-Type: application/octet-stream\r\n\
         Content-Length: 100000\r\n\r\n",
        a.tokens.access_token
    );
    sock.write_all(head.as_bytes()).await.unwrap();
    sock.write_all(&[7u8; 50_000]).await.unwrap();
    let started = std::time::Instant::now();
    while partials() == 0 {
        assert!(started.elapsed().as_secs() < 10, "the upload never started");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    drop(sock);
    let cut = std::time::Instant::now();
    while partials() > 0 {
        assert!(cut.elapsed().as_secs() < 10, "the partial file stayed");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Sends over REST are limited like a WebSocket's (`--ws-rate` a second,
/// bursts of twice that), per user, so the socket's limit is not one REST
/// loop away.
#[tokio::test]
async fn rest_sends_are_rate_limited_per_user() {
    let ts = TestServer::start_with(|c| c.ws_rate = 2).await;
    let (a, b, chat) = ts.pair().await;
    for i in 0..4 {
        let r = post_msg(
            &ts,
            &a,
            &chat,
            json!({"client_id": format!("r{i}"), "body": "hi"}),
        )
        .await;
        assert_eq!(r.status(), 201, "send {i} of the burst");
    }
    let r = post_msg(&ts, &a, &chat, json!({"client_id": "r4", "body": "hi"})).await;
    assert!(r.headers().contains_key("retry-after"));
    problem(r, 429, "rate_limited").await;
    // Ben has his own budget, which edits, deletions and reactions draw on
    // too (each is an event in both logs, like a send).
    let r = post_msg(&ts, &b, &chat, json!({"client_id": "b0", "body": "hi"})).await;
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // However slow this machine, twenty at once overrun a budget of two a
    // second with bursts of four.
    let mut reactions = Vec::new();
    for i in 0..20 {
        let r = ts
            .call(
                Method::PUT,
                &format!(
                    "/v1/messages/{id}/reactions/{}",
                    char::from_u32(0x1F600 + i % 5).unwrap()
                ),
                &b,
            )
            .await;
        reactions.push(r.status().as_u16());
    }
    assert!(reactions.contains(&429), "{reactions:?}");
    let mut edits = Vec::new();
    for i in 0..20 {
        let r = edit_msg(&ts, &b, &id, json!({"body": format!("edit {i}")})).await;
        if r.status() == 429 {
            problem(r, 429, "rate_limited").await;
            edits.push(429);
        } else {
            edits.push(r.status().as_u16());
        }
    }
    assert!(edits.contains(&429), "{edits:?}");
}

/// Muting is the member's own: Ana's chat list shows her mute (for a while
/// or until unmuted), Ben's does not, her devices hear `chat.muted` once per
/// change, and the end time is checked on both sides of its limits.
#[tokio::test]
async fn a_mute_is_the_members_own_and_checked() {
    let ts = TestServer::start().await;
    let (a, b, chat) = ts.pair().await;
    let path = format!("/v1/chats/{chat}/mute");
    let mute_of = |s: &parley_protocol::Session| {
        let (ts, s, chat) = (&ts, s.clone(), chat.clone());
        async move {
            let chats: Vec<Value> = get(ts, &s, "/v1/chats").await.json().await.unwrap();
            chats
                .into_iter()
                .find(|c| c["id"] == chat.as_str())
                .unwrap()["mute"]
                .clone()
        }
    };
    let muted = |ts: &TestServer| ts.events_of(a.user.user.id.as_str(), Some("chat.muted"));
    assert_eq!(mute_of(&a).await, Value::Null);

    let now = chrono::Utc::now();
    let eight_hours = now + chrono::Duration::hours(8);
    let put = |until: Value| {
        let (ts, a, path) = (&ts, &a, path.clone());
        async move {
            ts.call_json(Method::PUT, &path, a, json!({ "until": until }))
                .await
        }
    };
    let r = put(json!(eight_hours.to_rfc3339())).await;
    assert_eq!(r.status(), 204);
    let shown = mute_of(&a).await;
    let until: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(shown["until"].clone()).unwrap();
    assert_eq!(until.timestamp_millis(), eight_hours.timestamp_millis());
    assert_eq!(mute_of(&b).await, Value::Null, "the peer never sees it");
    assert_eq!(muted(&ts), 1);
    assert_eq!(ts.events_of(b.user.user.id.as_str(), Some("chat.muted")), 0);
    // The same mute again changes nothing and says nothing.
    assert_eq!(put(json!(eight_hours.to_rfc3339())).await.status(), 204);
    assert_eq!(muted(&ts), 1);

    // Until unmuted.
    assert_eq!(put(Value::Null).await.status(), 204);
    assert_eq!(mute_of(&a).await, json!({ "until": null }));
    assert_eq!(muted(&ts), 2);
    let stored: Option<i64> = ts
        .db()
        .query_row(
            "SELECT muted_until FROM chat_members WHERE chat_id = ?1 AND user_id = ?2",
            rusqlite::params![chat, a.user.user.id.as_str()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(stored, Some(i64::MAX));

    // The end time: in the future, at most 366 days ahead.
    let now = chrono::Utc::now();
    for (until, ok) in [
        (now - chrono::Duration::seconds(1), false),
        (
            now + chrono::Duration::days(366) - chrono::Duration::minutes(1),
            true,
        ),
        (
            now + chrono::Duration::days(366) + chrono::Duration::minutes(1),
            false,
        ),
    ] {
        let r = put(json!(until.to_rfc3339())).await;
        if ok {
            assert_eq!(r.status(), 204, "{until}");
        } else {
            let p = problem(r, 422, "invalid_field").await;
            assert!(p["detail"].as_str().unwrap().contains("until"), "{p}");
        }
    }
    problem(
        ts.call_json(Method::PUT, &path, &a, json!({ "until": "tomorrow" }))
            .await,
        422,
        "invalid_body",
    )
    .await;

    // Unmuted: the event says so; a second unmute is a no-op.
    for _ in 0..2 {
        let r = ts.call(Method::DELETE, &path, &a).await;
        assert_eq!(r.status(), 204);
    }
    assert_eq!(mute_of(&a).await, Value::Null);
    assert_eq!(muted(&ts), 4);

    // Someone else's chat does not exist for me.
    let c = ts.login("cleo@example.org").await;
    problem(
        ts.call_json(Method::PUT, &path, &c, json!({ "until": null }))
            .await,
        404,
        "chat_not_found",
    )
    .await;
    problem(
        ts.call(Method::DELETE, &path, &c).await,
        404,
        "chat_not_found",
    )
    .await;
}

/// A mute whose end has passed shows as none, without anyone unmuting.
#[tokio::test]
async fn a_mute_that_ended_shows_as_none() {
    let ts = TestServer::start().await;
    let (a, _b, chat) = ts.pair().await;
    let until = chrono::Utc::now() + chrono::Duration::seconds(2);
    let r = ts
        .call_json(
            Method::PUT,
            &format!("/v1/chats/{chat}/mute"),
            &a,
            json!({ "until": until.to_rfc3339() }),
        )
        .await;
    assert_eq!(r.status(), 204);
    let mute = || async {
        let chats: Vec<Value> = get(&ts, &a, "/v1/chats").await.json().await.unwrap();
        chats[0]["mute"].clone()
    };
    assert!(mute().await["until"].is_string());
    let left = until - chrono::Utc::now();
    tokio::time::sleep(left.to_std().unwrap_or_default() + std::time::Duration::from_millis(50))
        .await;
    assert_eq!(mute().await, Value::Null);
}

/// Pins are the member's own and at most three: a fourth is refused with
/// 409 until one is unpinned; the same pin twice says nothing more; the
/// peer never sees it.
#[tokio::test]
async fn pins_are_the_members_own_and_at_most_three() {
    let ts = TestServer::start().await;
    let a = ts.login(ana()).await;
    let mut chats = Vec::new();
    for who in [
        "b@example.org",
        "c@example.org",
        "d@example.org",
        "e@example.org",
    ] {
        let peer = ts.login(who).await;
        ts.connect_users(&a, &peer).await;
        chats.push((ts.open_chat(&a, &peer).await, peer));
    }
    let path = |chat: &str| format!("/v1/chats/{chat}/pin");
    let pinned_at = |s: &parley_protocol::Session, chat: &str| {
        let (ts, s, chat) = (&ts, s.clone(), chat.to_owned());
        async move {
            let list: Vec<Value> = get(ts, &s, "/v1/chats").await.json().await.unwrap();
            list.into_iter().find(|c| c["id"] == chat.as_str()).unwrap()["pinned_at"].clone()
        }
    };
    let events = |ts: &TestServer| ts.events_of(a.user.user.id.as_str(), Some("chat.pinned"));
    for (chat, _) in &chats[..3] {
        assert_eq!(ts.call(Method::PUT, &path(chat), &a).await.status(), 204);
        assert!(pinned_at(&a, chat).await.is_string());
    }
    assert_eq!(events(&ts), 3);
    let (fourth, peer) = &chats[3];
    let p = problem(
        ts.call(Method::PUT, &path(fourth), &a).await,
        409,
        "too_many_pinned",
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("at most 3"), "{p}");
    assert_eq!(pinned_at(&a, fourth).await, Value::Null);
    assert_eq!(pinned_at(peer, fourth).await, Value::Null);
    // Already pinned: nothing changes, nothing is said.
    let first = pinned_at(&a, &chats[0].0).await;
    assert_eq!(
        ts.call(Method::PUT, &path(&chats[0].0), &a).await.status(),
        204
    );
    assert_eq!(pinned_at(&a, &chats[0].0).await, first);
    assert_eq!(events(&ts), 3);
    assert_eq!(
        pinned_at(&chats[0].1, &chats[0].0).await,
        Value::Null,
        "the peer's own view"
    );

    for _ in 0..2 {
        assert_eq!(
            ts.call(Method::DELETE, &path(&chats[0].0), &a)
                .await
                .status(),
            204
        );
    }
    assert_eq!(events(&ts), 4);
    assert_eq!(ts.call(Method::PUT, &path(fourth), &a).await.status(), 204);
    assert!(pinned_at(&a, fourth).await.is_string());

    problem(
        ts.call(Method::PUT, &path(fourth), &chats[0].1).await,
        404,
        "chat_not_found",
    )
    .await;
    problem(
        ts.call(Method::DELETE, &path(fourth), &chats[0].1).await,
        404,
        "chat_not_found",
    )
    .await;
}

#[tokio::test]
async fn clearing_a_chat_hides_its_history_from_that_member_only() {
    let ts = TestServer::start().await;
    let (a, b, chat) = ts.pair().await;
    let (aid, bid) = (a.user.user.id.0.clone(), b.user.user.id.0.clone());
    let m1 = ts.send_text(&a, &chat, "a1", "apples one").await;
    let m2 = ts.send_text(&a, &chat, "a2", "apples two").await;
    ts.send_text(&a, &chat, "a3", "apples three").await;
    ts.send_text(&b, &chat, "b1", "bananas").await; // seq 4
    let (m1, m2) = (m1["id"].as_str().unwrap(), m2["id"].as_str().unwrap());
    let clear = async |s: &parley_protocol::Session, up_to: Value| {
        ts.call_json(
            Method::POST,
            &format!("/v1/chats/{chat}/clear"),
            s,
            json!({ "up_to_seq": up_to }),
        )
        .await
    };
    let seqs = async |s: &parley_protocol::Session, query: &str| -> Vec<u64> {
        let r = get(&ts, s, &format!("/v1/chats/{chat}/messages{query}")).await;
        assert_eq!(r.status(), 200);
        let page: Vec<Value> = r.json().await.unwrap();
        page.iter().map(|m| m["seq"].as_u64().unwrap()).collect()
    };
    let listed = async |s: &parley_protocol::Session| -> Value {
        let list: Vec<Value> = get(&ts, s, "/v1/chats").await.json().await.unwrap();
        list.into_iter().find(|c| c["id"] == chat.as_str()).unwrap()
    };
    let found = async |s: &parley_protocol::Session| -> usize {
        let r: Vec<Value> = get(&ts, s, "/v1/search?q=apples")
            .await
            .json()
            .await
            .unwrap();
        r.len()
    };

    assert_eq!(clear(&b, json!(2)).await.status(), 204);
    assert_eq!(seqs(&b, "").await, [3, 4]);
    assert_eq!(
        seqs(&b, "?after_seq=0").await,
        [3, 4],
        "after a cleared seq"
    );
    assert_eq!(seqs(&b, "?before_seq=4").await, [3]);
    assert_eq!(seqs(&a, "").await, [1, 2, 3, 4], "the peer keeps theirs");
    let mine = listed(&b).await;
    assert_eq!(mine["cleared_up_to_seq"], 2);
    assert_eq!(mine["unread_count"], 1, "only seq 3 is left unread");
    assert_eq!(mine["last_message"]["seq"], 4);
    assert_eq!(listed(&a).await["cleared_up_to_seq"], 0);
    assert_eq!(found(&b).await, 1);
    assert_eq!(found(&a).await, 3);
    assert_eq!(ts.events_of(&bid, Some("chat.cleared")), 1);
    assert_eq!(
        ts.events_of(&aid, Some("chat.cleared")),
        0,
        "the peer is not told"
    );

    // Ben can no longer act on what he cleared, and hears nothing more of it.
    let before = ts.events_of(&bid, None);
    let edit = ts
        .call_json(
            Method::PATCH,
            &format!("/v1/messages/{m1}"),
            &a,
            json!({"body": "apples one, edited"}),
        )
        .await;
    assert_eq!(edit.status(), 200);
    let put = async |s: &parley_protocol::Session, id: &str| {
        ts.call(Method::PUT, &format!("/v1/messages/{id}/reactions/👍"), s)
            .await
    };
    assert_eq!(put(&a, m2).await.status(), 204);
    assert_eq!(
        ts.call(Method::DELETE, &format!("/v1/messages/{m2}"), &a)
            .await
            .status(),
        204
    );
    assert_eq!(
        ts.events_of(&bid, None),
        before,
        "no events about cleared messages"
    );
    assert_eq!(ts.events_of(&aid, Some("message.updated")), 1);
    problem(put(&b, m1).await, 404, "message_not_found").await;
    let reply = ts
        .call_json(
            Method::POST,
            &format!("/v1/chats/{chat}/messages"),
            &b,
            json!({"client_id": "b2", "body": "re", "reply_to": m1}),
        )
        .await;
    problem(reply, 422, "invalid_field").await;

    // At or below the last clear: nothing changes, nothing is said. Past the
    // newest message: up to the newest.
    assert_eq!(clear(&b, json!(1)).await.status(), 204);
    assert_eq!(ts.events_of(&bid, Some("chat.cleared")), 1);
    assert_eq!(clear(&b, json!(u64::MAX)).await.status(), 204);
    let mine = listed(&b).await;
    assert_eq!(mine["cleared_up_to_seq"], 4);
    assert_eq!(mine["last_message"], Value::Null);
    assert_eq!(mine["unread_count"], 0);
    assert!(seqs(&b, "").await.is_empty());
    assert_eq!(found(&b).await, 0);
    // What comes after shows as usual.
    ts.send_text(&a, &chat, "a4", "apples four").await;
    assert_eq!(seqs(&b, "").await, [5]);
    assert_eq!(listed(&b).await["unread_count"], 1);
    assert_eq!(found(&b).await, 1);
    // Ana's own search: newest first (the deleted one left out).
    let hits: Vec<Value> = get(&ts, &a, "/v1/search?q=apples")
        .await
        .json()
        .await
        .unwrap();
    let bodies: Vec<&str> = hits.iter().map(|m| m["body"].as_str().unwrap()).collect();
    assert_eq!(
        bodies,
        ["apples four", "apples three", "apples one, edited"]
    );

    // The clear event tells my devices my unread count after it.
    let unread_in_event: i64 = ts
        .db()
        .query_row(
            "SELECT json_extract(payload, '$.unread_count') FROM events WHERE user_id = ?1 \
             AND json_extract(payload, '$.kind') = 'chat.cleared' ORDER BY seq DESC LIMIT 1",
            [&bid],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(unread_in_event, 0);

    // A file in a cleared message is no longer Ben's to download.
    let up = ts
        .req(Method::POST, "/v1/attachments")
        .auth(&a)
        .header("content-type", "text/plain")
        .body("a file")
        .send()
        .await
        .unwrap();
    assert_eq!(up.status(), 201);
    let att: Value = up.json().await.unwrap();
    let with_file = ts
        .call_json(
            Method::POST,
            &format!("/v1/chats/{chat}/messages"),
            &a,
            json!({"client_id": "a5", "body": "", "attachment_ids": [att["id"]]}),
        )
        .await;
    assert_eq!(with_file.status(), 201);
    let seq = with_file.json::<Value>().await.unwrap()["seq"]
        .as_u64()
        .unwrap();
    let download = async || {
        get(
            &ts,
            &b,
            &format!("/v1/attachments/{}", att["id"].as_str().unwrap()),
        )
        .await
        .status()
    };
    assert_eq!(download().await, 200);
    assert_eq!(clear(&b, json!(seq)).await.status(), 204);
    assert_eq!(download().await, 404);

    // Not a member, not a number.
    let c = ts.login("carol@example.org").await;
    problem(clear(&c, json!(1)).await, 404, "chat_not_found").await;
    let bad = clear(&b, json!("all")).await;
    assert!(
        matches!(bad.status().as_u16(), 400 | 422),
        "{}",
        bad.status()
    );
    let bad = clear(&b, json!(-1)).await;
    assert!(
        matches!(bad.status().as_u16(), 400 | 422),
        "{}",
        bad.status()
    );
}

/// A forwarded copy (`forwarded: true` in the send) says so to both sides,
/// live and in history.
#[tokio::test]
async fn a_forwarded_message_is_marked() {
    let ts = TestServer::start().await;
    let (a, b, chat) = ts.pair().await;
    let mut wb = ts.ws(&b).await;
    wb.hello(0).await;
    let fwd = post_msg(
        &ts,
        &a,
        &chat,
        json!({"client_id": "f1", "body": "from elsewhere", "forwarded": true}),
    )
    .await;
    assert_eq!(fwd.status(), 201);
    let fwd: Value = fwd.json().await.unwrap();
    assert_eq!(fwd["forwarded"], true);
    let live = wb.next_event("message.created").await;
    assert_eq!(live["event"]["message"]["forwarded"], true);
    let page: Vec<Value> = get(&ts, &b, &format!("/v1/chats/{chat}/messages"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page.last().unwrap()["forwarded"], true);
}

/// Search in one chat, and page by page: `chat_id` keeps to that chat,
/// `before` (the last result of a page) gives the next, newest first, with
/// nothing skipped or repeated; a chat or message not the caller's is
/// refused.
#[tokio::test]
async fn search_in_one_chat_and_page_by_page() {
    let ts = TestServer::start().await;
    let (a, b, with_ben) = ts.pair().await;
    let carol = ts.login("carol@example.org").await;
    ts.connect_users(&a, &carol).await;
    let with_carol = ts.open_chat(&a, &carol).await;
    for i in 0..110 {
        ts.send_text(&b, &with_ben, &format!("b{i}"), &format!("apple {i}"))
            .await;
    }
    ts.send_text(&carol, &with_carol, "c0", "apple from carol")
        .await;
    let search = async |query: &str| -> Vec<Value> {
        let r = get(&ts, &a, &format!("/v1/search?q=apple{query}")).await;
        assert_eq!(r.status(), 200, "{query}");
        r.json().await.unwrap()
    };
    let everywhere = search("").await;
    assert_eq!(everywhere.len(), 100);
    assert_eq!(everywhere[0]["body"], "apple from carol", "newest first");
    let first = search(&format!("&chat_id={with_ben}")).await;
    assert_eq!(first.len(), 100);
    assert!(first.iter().all(|m| m["chat_id"] == with_ben.as_str()));
    assert_eq!(first[0]["body"], "apple 109");
    let last = first.last().unwrap()["id"].as_str().unwrap().to_owned();
    let next = search(&format!("&chat_id={with_ben}&before={last}")).await;
    let bodies: Vec<&str> = next.iter().map(|m| m["body"].as_str().unwrap()).collect();
    let expected: Vec<String> = (0..10).rev().map(|i| format!("apple {i}")).collect();
    assert_eq!(bodies, expected);

    // Another's chat, or a message not mine, is refused.
    let dan = ts.login("dan@example.org").await;
    let r = get(&ts, &dan, &format!("/v1/search?q=apple&chat_id={with_ben}")).await;
    problem(r, 404, "chat_not_found").await;
    let r = get(&ts, &dan, &format!("/v1/search?q=apple&before={last}")).await;
    problem(r, 422, "invalid_query").await;
}

/// Searches are limited per user: a burst of 20, then 5 a second.
#[tokio::test]
async fn searches_are_rate_limited_per_user() {
    let ts = TestServer::start().await;
    let (a, b, _) = ts.pair().await;
    let mut statuses = Vec::new();
    for _ in 0..200 {
        let status = get(&ts, &a, "/v1/search?q=hello").await.status().as_u16();
        statuses.push(status);
        if status == 429 && statuses.len() > 20 {
            break;
        }
    }
    assert!(statuses[..20].iter().all(|&s| s == 200), "{statuses:?}");
    assert!(statuses.contains(&429), "{statuses:?}");
    let r = get(&ts, &a, "/v1/search?q=hello").await;
    if r.status() == 429 {
        assert!(r.headers().contains_key("retry-after"));
    }
    // Ben has his own.
    assert_eq!(get(&ts, &b, "/v1/search?q=hello").await.status(), 200);
    // Username lookups draw on the same budget (they could list who is
    // taken).
    let mut lookups = Vec::new();
    for _ in 0..100 {
        let status = get(&ts, &a, "/v1/usernames/someone")
            .await
            .status()
            .as_u16();
        lookups.push(status);
        if status == 429 {
            break;
        }
    }
    assert_eq!(lookups.last(), Some(&429), "{lookups:?}");
}

/// What one user uploaded and has not sent counts against a cap: one more
/// byte is refused (429 upload_quota) until a message takes some of it.
#[tokio::test]
async fn unsent_uploads_are_capped_per_user() {
    let ts = TestServer::start_with(|c| c.max_unsent_upload_mib = 1).await;
    let (a, b, chat) = ts.pair().await;
    let upload = |s: &parley_protocol::Session, fill: u8, len: usize| {
        ts.req(Method::POST, "/v1/attachments?name=blob.bin")
            .auth(s)
            .header("content-type", "application/octet-stream")
            .body(vec![fill; len])
            .send()
    };
    let half = 512 * 1024;
    let first: Value = upload(&a, 1, half).await.unwrap().json().await.unwrap();
    assert_eq!(
        upload(&a, 2, half).await.unwrap().status(),
        201,
        "exactly the cap"
    );
    let r = upload(&a, 3, 1).await.unwrap();
    assert!(r.headers().contains_key("retry-after"));
    problem(r, 429, "upload_quota").await;
    // Ben's uploads are his own.
    assert_eq!(upload(&b, 3, 1).await.unwrap().status(), 201);
    // Sent, the first no longer counts.
    let r = post_msg(
        &ts,
        &a,
        &chat,
        json!({"client_id": "q1", "body": "", "attachment_ids": [first["id"]]}),
    )
    .await;
    assert_eq!(r.status(), 201);
    assert_eq!(upload(&a, 3, 1).await.unwrap().status(), 201);
}

/// The files left in the upload folder's `tmp` (partial uploads).
fn partial_uploads(ts: &TestServer) -> usize {
    std::fs::read_dir(ts.config.data_dir.join("attachments/tmp"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// `len` bytes as a body without a Content-Length (chunked), as a proxy that
/// streams requests sends it.
fn chunked(len: usize) -> reqwest::Body {
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..len)
        .step_by(64 * 1024)
        .map(|at| Ok(vec![7u8; (len - at).min(64 * 1024)]))
        .collect();
    reqwest::Body::wrap_stream(futures_util::stream::iter(chunks))
}

/// The unsent-upload cap is applied before the body is read when its
/// length is declared, and as soon as a chunked body passes the room left;
/// a file larger than the whole cap is 413 (it never fits), not "try again
/// in an hour". Nothing partial stays behind.
#[tokio::test]
async fn uploads_over_the_unsent_cap_are_refused_early() {
    let ts = TestServer::start_with(|c| {
        c.max_unsent_upload_mib = 1;
        c.max_attachment_bytes = 2 << 20;
    })
    .await;
    let a = ts.login(ana()).await;
    let post = |body: reqwest::Body| {
        ts.req(Method::POST, "/v1/attachments")
            .auth(&a)
            .header("content-type", "application/octet-stream")
            .body(body)
            .send()
    };
    let mib = 1 << 20;
    // Larger than the cap: never fits.
    let r = post(vec![1u8; mib + 1].into()).await.unwrap();
    let body = problem(r, 413, "payload_too_large").await;
    assert!(body["detail"].as_str().unwrap().contains("1 MiB"), "{body}");
    problem(
        post(chunked(mib + 1)).await.unwrap(),
        413,
        "payload_too_large",
    )
    .await;
    // Exactly the cap, chunked: taken.
    assert_eq!(post(chunked(mib)).await.unwrap().status(), 201);
    // Full: one byte more is refused for now, either way.
    problem(
        post(vec![2u8; 1].into()).await.unwrap(),
        429,
        "upload_quota",
    )
    .await;
    problem(post(chunked(1)).await.unwrap(), 429, "upload_quota").await;
    assert_eq!(partial_uploads(&ts), 0);
}

/// A chunked body (no Content-Length: nothing to refuse up front) is held
/// to the size limit as it streams: the limit itself is taken, one byte
/// more is 413 and leaves nothing behind.
#[tokio::test]
async fn a_chunked_upload_is_held_to_the_size_limit() {
    let ts = TestServer::start_with(|c| c.max_attachment_bytes = 100_000).await;
    let a = ts.login(ana()).await;
    let post = |len: usize| {
        ts.req(Method::POST, "/v1/attachments")
            .auth(&a)
            .header("content-type", "application/octet-stream")
            .body(chunked(len))
            .send()
    };
    let r = post(100_000).await.unwrap();
    assert_eq!(r.status(), 201);
    let r = post(100_001).await.unwrap();
    problem(r, 413, "payload_too_large").await;
    assert_eq!(partial_uploads(&ts), 0);
}
