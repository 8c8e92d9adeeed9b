#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Contacts by QR: codes, requests, connections, every error path, events.

mod common;

use common::*;
use parley_protocol::{ContactCode, Session};
use reqwest::Method;
use serde_json::{json, Value};

async fn new_code(ts: &TestServer, s: &Session) -> ContactCode {
    let r = ts.call(Method::POST, "/v1/contact-codes", s).await;
    assert_eq!(r.status(), 201);
    r.json().await.unwrap()
}

async fn scan(ts: &TestServer, s: &Session, code: &str) -> reqwest::Response {
    ts.call_json(
        Method::POST,
        "/v1/connection-requests",
        s,
        json!({ "code": code }),
    )
    .await
}

async fn get_json(ts: &TestServer, s: &Session, path: &str) -> Value {
    let r = ts.call(Method::GET, path, s).await;
    assert_eq!(r.status(), 200, "{path}");
    r.json().await.unwrap()
}

/// The kinds of the events in a user's log, in order.
fn event_kinds(ts: &TestServer, user_id: &str) -> Vec<String> {
    let db = ts.db();
    let mut stmt = db
        .prepare("SELECT payload FROM events WHERE user_id = ?1 ORDER BY seq")
        .unwrap();
    stmt.query_map([user_id], |r| r.get::<_, String>(0))
        .unwrap()
        .map(|p| {
            serde_json::from_str::<Value>(&p.unwrap()).unwrap()["kind"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn ana_shows_ben_scans_ana_accepts() {
    let ts = TestServer::start_with(|c| {
        c.public_url = Some("https://chat.example.org/".parse().unwrap())
    })
    .await;
    let ana_s = ts.login(ana()).await;
    let ben_s = ts.login(ben()).await;
    let code = new_code(&ts, &ana_s).await;
    assert!(code
        .uri
        .starts_with("parley://contact?server=https%3A%2F%2Fchat.example.org&code="));
    assert!(code.code.len() >= 26);
    assert_eq!(code.short_code.len(), 11);
    let parsed: parley_protocol::qr::ContactQr = code.uri.parse().unwrap();
    assert_eq!(parsed.code, code.code);
    // Five minutes by default (PROTOCOL.md).
    let ttl = (code.expires_at - chrono::Utc::now()).num_seconds();
    assert!((280..=300).contains(&ttl), "{ttl}");

    // Ben scans the URI: he sees Ana's name, and nothing more.
    let r = scan(&ts, &ben_s, &code.uri).await;
    assert_eq!(r.status(), 201);
    let req: Value = r.json().await.unwrap();
    assert_eq!(req["to"]["display_name"], "ana");
    assert_eq!(req["to"]["bio"], "");
    assert_eq!(req["status"], "pending");
    let req_id = req["id"].as_str().unwrap().to_owned();

    // Repeating it is a safe retry (200, same request).
    let r = scan(&ts, &ben_s, &code.uri).await;
    assert_eq!(r.status(), 200);
    let again: Value = r.json().await.unwrap();
    assert_eq!(again["id"], req_id.as_str());

    // Ana sees it incoming, Ben outgoing.
    let incoming = get_json(&ts, &ana_s, "/v1/connection-requests?direction=incoming").await;
    assert_eq!(incoming.as_array().unwrap().len(), 1);
    assert_eq!(incoming[0]["from"]["display_name"], "ben");
    let incoming_default = get_json(&ts, &ana_s, "/v1/connection-requests").await;
    assert_eq!(incoming_default, incoming);
    let outgoing = get_json(&ts, &ben_s, "/v1/connection-requests?direction=outgoing").await;
    assert_eq!(outgoing[0]["id"], req_id.as_str());
    assert_eq!(
        get_json(&ts, &ben_s, "/v1/connection-requests").await,
        json!([])
    );

    // Before accepting, Ben cannot see Ana's profile.
    let r = ts
        .call(
            Method::GET,
            &format!("/v1/users/{}", ana_s.user.user.id),
            &ben_s,
        )
        .await;
    problem(r, 404, "user_not_found").await;

    // Only Ana may accept.
    let r = ts
        .call(
            Method::POST,
            &format!("/v1/connection-requests/{req_id}/accept"),
            &ben_s,
        )
        .await;
    problem(r, 404, "request_not_found").await;
    let r = ts
        .call(
            Method::POST,
            &format!("/v1/connection-requests/{req_id}/accept"),
            &ana_s,
        )
        .await;
    assert_eq!(r.status(), 201);
    let conn: Value = r.json().await.unwrap();
    assert_eq!(conn["user"]["id"], ben_s.user.user.id.as_str());
    assert!(conn["online"].is_boolean());
    // Ben's request again, now that it went through: already connected.
    problem(scan(&ts, &ben_s, &code.uri).await, 409, "already_connected").await;

    // Both list each other, and can see each other's profile now.
    let a_list = get_json(&ts, &ana_s, "/v1/connections").await;
    let b_list = get_json(&ts, &ben_s, "/v1/connections").await;
    assert_eq!(a_list[0]["user"]["id"], ben_s.user.user.id.as_str());
    assert_eq!(b_list[0]["user"]["id"], ana_s.user.user.id.as_str());
    assert!(b_list[0]["last_seen_at"].is_string());
    get_json(&ts, &ben_s, &format!("/v1/users/{}", ana_s.user.user.id)).await;
    assert_eq!(
        get_json(&ts, &ana_s, "/v1/connection-requests").await,
        json!([])
    );

    // The events are in both logs.
    assert_eq!(
        event_kinds(&ts, ana_s.user.user.id.as_str()),
        [
            "connection.requested",
            "contact_code.consumed",
            "connection.created"
        ]
    );
    assert_eq!(
        event_kinds(&ts, ben_s.user.user.id.as_str()),
        ["connection.requested", "connection.created"]
    );

    // Scanning a fresh code of a contact: 409.
    let code2 = new_code(&ts, &ana_s).await;
    problem(
        scan(&ts, &ben_s, &code2.code).await,
        409,
        "already_connected",
    )
    .await;

    // Removing: both sides get the event, profiles disappear.
    let r = ts.disconnect(&ben_s, &ana_s).await;
    assert_eq!(r.status(), 204);
    assert_eq!(get_json(&ts, &ana_s, "/v1/connections").await, json!([]));
    assert_eq!(
        event_kinds(&ts, ana_s.user.user.id.as_str())
            .last()
            .unwrap(),
        "connection.removed"
    );
    let r = ts.disconnect(&ben_s, &ana_s).await;
    problem(r, 404, "not_connected").await;
}

#[tokio::test]
async fn code_error_paths() {
    let ts = TestServer::start_with(|c| c.contact_code_ttl = 10).await;
    let a = ts.login(ana()).await;
    let b = ts.login(ben()).await;
    let c = ts.login("cleo@example.org").await;

    // Own code.
    let code = new_code(&ts, &a).await;
    problem(scan(&ts, &a, &code.code).await, 422, "own_code").await;
    // Unknown code (well-formed).
    problem(scan(&ts, &b, &"A".repeat(32)).await, 404, "code_not_found").await;
    // Malformed input.
    problem(scan(&ts, &b, "hello!").await, 422, "invalid_field").await;
    problem(
        scan(
            &ts,
            &b,
            "parley://join?server=http%3A%2F%2Fx&code=0123456789ABCDEFGHJKMNPQRS",
        )
        .await,
        422,
        "invalid_field",
    )
    .await;
    // A new code revokes the old one.
    let code2 = new_code(&ts, &a).await;
    problem(scan(&ts, &b, &code.code).await, 404, "code_not_found").await;
    // The code is single-use: Ben consumes it, Cleo then gets 404.
    assert_eq!(scan(&ts, &b, &code2.code).await.status(), 201);
    problem(scan(&ts, &c, &code2.code).await, 404, "code_not_found").await;
    // Expired: wait past the 10 s TTL.
    let code3 = new_code(&ts, &a).await;
    tokio::time::sleep(std::time::Duration::from_millis(10_500)).await;
    problem(scan(&ts, &c, &code3.code).await, 410, "code_expired").await;
}

#[tokio::test]
async fn short_codes_work_and_are_rate_limited() {
    let ts = TestServer::start_with(|c| c.short_code_attempts = 4).await;
    let a = ts.login(ana()).await;
    let b = ts.login(ben()).await;
    let carol = ts.login("carol@example.org").await;
    let code = new_code(&ts, &a).await;
    // Typed in lowercase, without the dash: accepted.
    let typed = code.short_code.replace('-', "").to_lowercase();
    let r = scan(&ts, &b, &typed).await;
    assert_eq!(r.status(), 201);
    let first: Value = r.json().await.unwrap();
    // Typed again (the answer was lost): the same request, as with the full
    // code; anyone else typing it gets nothing.
    let r = scan(&ts, &b, &code.short_code).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["id"], first["id"]);
    problem(
        scan(&ts, &carol, &code.short_code).await,
        404,
        "code_not_found",
    )
    .await;
    // Wrong short codes count against the limit: 2 more allowed, then 429.
    problem(scan(&ts, &b, "ZZZZZ-ZZZZZ").await, 404, "code_not_found").await;
    problem(scan(&ts, &b, "ZZZZZ-ZZZZY").await, 404, "code_not_found").await;
    let r = scan(&ts, &b, "ZZZZZ-ZZZZX").await;
    assert!(r.headers().contains_key("retry-after"));
    problem(r, 429, "rate_limited").await;
    // Full codes are not limited this way.
    problem(scan(&ts, &b, &"B".repeat(32)).await, 404, "code_not_found").await;
}

#[tokio::test]
async fn decline_and_request_visibility() {
    let ts = TestServer::start().await;
    let a = ts.login(ana()).await;
    let b = ts.login(ben()).await;
    let code = new_code(&ts, &a).await;
    let req: Value = scan(&ts, &b, &code.code).await.json().await.unwrap();
    let id = req["id"].as_str().unwrap();
    // Ben can see Ana's avatar route while the request is pending (404 only
    // because she has none).
    let r = ts
        .call(
            Method::POST,
            &format!("/v1/connection-requests/{id}/decline"),
            &b,
        )
        .await;
    problem(r, 404, "request_not_found").await;
    let r = ts
        .call(
            Method::POST,
            &format!("/v1/connection-requests/{id}/decline"),
            &a,
        )
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(
        get_json(&ts, &a, "/v1/connection-requests").await,
        json!([])
    );
    // Ana's other devices hear of it (the request, now declined); Ben's
    // only ever heard of his request going out.
    let requested = |user: &str| -> Vec<String> {
        let db = ts.db();
        let mut stmt = db
            .prepare(
                "SELECT json_extract(payload, '$.request.status') FROM events \
                 WHERE user_id = ?1 AND json_extract(payload, '$.kind') = 'connection.requested' \
                 ORDER BY seq",
            )
            .unwrap();
        stmt.query_map([user], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    assert_eq!(requested(a.user.user.id.as_str()), ["pending", "declined"]);
    assert_eq!(requested(b.user.user.id.as_str()), ["pending"]);
    let r = ts
        .call(
            Method::POST,
            &format!("/v1/connection-requests/{id}/accept"),
            &a,
        )
        .await;
    problem(r, 404, "request_not_found").await;
    // After a decline, a fresh code can be scanned again.
    let code = new_code(&ts, &a).await;
    assert_eq!(scan(&ts, &b, &code.code).await.status(), 201);
}

/// Disables or enables `s`'s account in the database, as the admin does.
fn set_disabled(ts: &TestServer, s: &Session, disabled: bool) {
    let db = rusqlite::Connection::open(ts.db_path()).unwrap();
    db.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
    db.execute(
        "UPDATE users SET disabled_at = CASE WHEN ?2 THEN 1 END WHERE id = ?1",
        rusqlite::params![s.user.user.id.as_str(), disabled],
    )
    .unwrap();
}

/// A request from an account disabled since it was sent cannot be
/// accepted (it would connect me to an account no one can use).
#[tokio::test]
async fn a_request_from_a_disabled_account_cannot_be_accepted() {
    let ts = TestServer::start().await;
    let a = ts.login(ana()).await;
    let b = ts.login(ben()).await;
    let code = new_code(&ts, &a).await;
    let req: Value = scan(&ts, &b, &code.code).await.json().await.unwrap();
    let id = req["id"].as_str().unwrap();
    set_disabled(&ts, &b, true);
    let accept = format!("/v1/connection-requests/{id}/accept");
    problem(
        ts.call(Method::POST, &accept, &a).await,
        404,
        "request_not_found",
    )
    .await;
    assert!(get_json(&ts, &a, "/v1/connections")
        .await
        .as_array()
        .unwrap()
        .is_empty());
    // Enabled again: the request can be accepted.
    set_disabled(&ts, &b, false);
    assert_eq!(ts.call(Method::POST, &accept, &a).await.status(), 201);
}

#[tokio::test]
async fn requests_expire_after_seven_days() {
    let ts = TestServer::start().await;
    let a = ts.login(ana()).await;
    let b = ts.login(ben()).await;
    let code = new_code(&ts, &a).await;
    let req: Value = scan(&ts, &b, &code.code).await.json().await.unwrap();
    let id = req["id"].as_str().unwrap().to_owned();
    let created =
        chrono::DateTime::parse_from_rfc3339(req["created_at"].as_str().unwrap()).unwrap();
    let expires =
        chrono::DateTime::parse_from_rfc3339(req["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!((expires - created).num_seconds(), 7 * 24 * 3600);
    // Move the request's expiry into the past in the real database, as seven
    // days would.
    {
        let db = rusqlite::Connection::open(ts.db_path()).unwrap();
        db.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
        db.execute(
            "UPDATE connection_requests SET expires_at = 0 WHERE id = ?1",
            [&id],
        )
        .unwrap();
    }
    let r = ts
        .call(
            Method::POST,
            &format!("/v1/connection-requests/{id}/accept"),
            &a,
        )
        .await;
    problem(r, 410, "request_expired").await;
    assert_eq!(
        get_json(&ts, &a, "/v1/connection-requests").await,
        json!([])
    );
}

#[tokio::test]
async fn profile_updates_reach_connections_logs() {
    let ts = TestServer::start().await;
    let a = ts.login(ana()).await;
    let b = ts.login(ben()).await;
    let code = new_code(&ts, &a).await;
    let req: Value = scan(&ts, &b, &code.code).await.json().await.unwrap();
    ts.req(
        Method::POST,
        &format!(
            "/v1/connection-requests/{}/accept",
            req["id"].as_str().unwrap()
        ),
    )
    .auth(&a)
    .send()
    .await
    .unwrap();
    let r = ts
        .call_json(
            Method::PATCH,
            "/v1/me",
            &a,
            json!({"status_text": "at lunch"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let kinds = event_kinds(&ts, b.user.user.id.as_str());
    assert_eq!(kinds.last().unwrap(), "profile.updated");
    let u = get_json(&ts, &b, &format!("/v1/users/{}", a.user.user.id)).await;
    assert_eq!(u["status_text"], "at lunch");
    // Turning read receipts off alone is Ana's business: her own log hears
    // of it, Ben's does not.
    let (ben_before, ana_before) = (
        event_kinds(&ts, b.user.user.id.as_str()).len(),
        event_kinds(&ts, a.user.user.id.as_str()).len(),
    );
    let r = ts.set_read_receipts(&a, false).await;
    assert_eq!(r.status(), 200);
    assert_eq!(event_kinds(&ts, b.user.user.id.as_str()).len(), ben_before);
    assert_eq!(
        event_kinds(&ts, a.user.user.id.as_str()).len(),
        ana_before + 1
    );
}

/// Contact codes and device invites are rows kept for their lifetime: a
/// user may create 30 a minute (together), then gets 429 with Retry-After.
#[tokio::test]
async fn codes_and_invites_are_rate_limited_per_user() {
    let ts = TestServer::start().await;
    let ana_s = ts.login(ana()).await;
    let ben_s = ts.login(ben()).await;
    for i in 0..parley_server::CODES_PER_MINUTE {
        let path = if i % 2 == 0 {
            "/v1/contact-codes"
        } else {
            "/v1/device-invites"
        };
        let r = ts.call(Method::POST, path, &ana_s).await;
        assert_eq!(r.status(), 201, "code {i}");
    }
    let r = ts.call(Method::POST, "/v1/contact-codes", &ana_s).await;
    assert!(r.headers().contains_key("retry-after"));
    problem(r, 429, "rate_limited").await;
    let r = ts.call(Method::POST, "/v1/device-invites", &ana_s).await;
    problem(r, 429, "rate_limited").await;
    // Someone else is not held back.
    new_code(&ts, &ben_s).await;
}
