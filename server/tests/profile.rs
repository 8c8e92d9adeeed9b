#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Profiles, settings, avatars and who can see whom.

mod common;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};

async fn patch(ts: &TestServer, s: &parley_protocol::Session, body: Value) -> reqwest::Response {
    ts.call_json(Method::PATCH, "/v1/me", s, body).await
}

#[tokio::test]
async fn patch_me_applies_every_field() {
    let ts = TestServer::start().await;
    let s = ts.login(ana()).await;
    let r = patch(
        &ts,
        &s,
        json!({"display_name": " Ana Lima ", "username": "Ana.Lima", "bio": "hi\nthere",
               "status_text": "busy", "settings": {"read_receipts": false}}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let me: Value = r.json().await.unwrap();
    assert_eq!(me["display_name"], "Ana Lima");
    assert_eq!(me["username"], "ana.lima");
    assert_eq!(me["bio"], "hi\nthere");
    assert_eq!(me["status_text"], "busy");
    assert_eq!(
        me["settings"],
        json!({"read_receipts": false, "last_seen_visible": true})
    );
    // Absent fields are unchanged; "" clears bio.
    let r = patch(&ts, &s, json!({"bio": ""})).await;
    let me: Value = r.json().await.unwrap();
    assert_eq!(me["bio"], "");
    assert_eq!(me["display_name"], "Ana Lima");
    assert_eq!(me["settings"]["read_receipts"], false);
    // The real database holds it.
    let name: String = ts
        .db()
        .query_row(
            "SELECT username FROM users WHERE identifier = ?1",
            [ana()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(name, "ana.lima");
}

#[tokio::test]
async fn every_profile_limit_on_both_sides() {
    let ts = TestServer::start().await;
    let s = ts.login(ana()).await;
    let cases: Vec<(Value, bool)> = vec![
        (json!({"display_name": ""}), false),
        (json!({"display_name": "A"}), true),
        (json!({"display_name": "x".repeat(64)}), true),
        (json!({"display_name": "x".repeat(65)}), false),
        (json!({"username": "ab"}), false),
        (json!({"username": "abc"}), true),
        (json!({"username": "a".repeat(32)}), true),
        (json!({"username": "a".repeat(33)}), false),
        (json!({"username": "ana-lima"}), false),
        (json!({"username": "ana lima"}), false),
        (json!({"bio": "b".repeat(280)}), true),
        (json!({"bio": "b".repeat(281)}), false),
        (json!({"status_text": "s".repeat(140)}), true),
        (json!({"status_text": "s".repeat(141)}), false),
    ];
    for (body, ok) in cases {
        let r = patch(&ts, &s, body.clone()).await;
        if ok {
            assert_eq!(r.status(), 200, "{body}");
        } else {
            let p = problem(r, 422, "invalid_field").await;
            let field = body.as_object().unwrap().keys().next().unwrap().clone();
            assert!(p["detail"].as_str().unwrap().starts_with(&field), "{p}");
        }
    }
    let r = patch(&ts, &s, json!({"settings": {"read_receipts": "yes"}})).await;
    problem(r, 422, "invalid_body").await;
}

#[tokio::test]
async fn usernames_are_unique_case_insensitively() {
    let ts = TestServer::start().await;
    let a = ts.login(ana()).await;
    let b = ts.login(ben()).await;
    assert_eq!(
        patch(&ts, &a, json!({"username": "sunny"})).await.status(),
        200
    );
    problem(
        patch(&ts, &b, json!({"username": "SUNNY"})).await,
        409,
        "username_taken",
    )
    .await;
    // Setting your own username again is fine.
    assert_eq!(
        patch(&ts, &a, json!({"username": "Sunny"})).await.status(),
        200
    );
    let avail: Value = ts.get_json("/v1/usernames/Sunny", &b).await;
    assert_eq!(avail, json!({"username": "sunny", "available": false}));
    let avail: Value = ts.get_json("/v1/usernames/sunny", &a).await;
    assert_eq!(avail["available"], true);
    let r = ts.call(Method::GET, "/v1/usernames/no", &a).await;
    problem(r, 422, "invalid_field").await;
}

async fn put_avatar(
    ts: &TestServer,
    s: &parley_protocol::Session,
    ct: &str,
    body: Vec<u8>,
) -> reqwest::Response {
    ts.req(Method::PUT, "/v1/me/avatar")
        .auth(s)
        .header("content-type", ct)
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn avatars_are_reencoded_and_limited() {
    let ts = TestServer::start().await;
    let a = ts.login(ana()).await;
    let b = ts.login(ben()).await;
    let r = put_avatar(&ts, &a, "image/png", png(1024, 600)).await;
    assert_eq!(r.status(), 200);
    let me: Value = r.json().await.unwrap();
    let url = me["avatar_url"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&format!("/v1/users/{}/avatar", a.user.user.id)));
    let r = ts.call(Method::GET, &url, &a).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/png");
    let img = image::load_from_memory(&r.bytes().await.unwrap()).unwrap();
    assert_eq!((img.width(), img.height()), (512, 300));
    // Others cannot see it (not connected).
    problem(
        ts.call(Method::GET, &url, &b).await,
        404,
        "avatar_not_found",
    )
    .await;
    // Wrong media type, undecodable bytes, oversize.
    problem(
        put_avatar(&ts, &a, "image/gif", png(8, 8)).await,
        415,
        "unsupported_media_type",
    )
    .await;
    problem(
        put_avatar(&ts, &a, "image/png", b"not an image".to_vec()).await,
        422,
        "invalid_image",
    )
    .await;
    let mut big = png(8, 8);
    big.resize(5 * 1024 * 1024 + 1, 0);
    problem(
        put_avatar(&ts, &a, "image/png", big).await,
        413,
        "payload_too_large",
    )
    .await;
    // Exactly 5 MiB passes the size gate (a PNG with trailing bytes still decodes).
    let mut max = png(8, 8);
    max.resize(5 * 1024 * 1024, 0);
    assert_eq!(put_avatar(&ts, &a, "image/png", max).await.status(), 200);
    // A canvas of at most 6144 pixels a side is decoded; a larger one is
    // refused from its header (a few bytes can claim gigabytes).
    let side = parley_server::service::profile::AVATAR_DECODE_MAX_SIDE;
    assert_eq!(
        put_avatar(&ts, &a, "image/png", png(side, 1))
            .await
            .status(),
        200
    );
    problem(
        put_avatar(&ts, &a, "image/png", png(side + 1, 1)).await,
        422,
        "invalid_image",
    )
    .await;
    // JPEG is accepted and served as PNG.
    let mut jpeg = Vec::new();
    image::DynamicImage::ImageRgb8(image::RgbImage::new(40, 40))
        .write_to(
            &mut std::io::Cursor::new(&mut jpeg),
            image::ImageFormat::Jpeg,
        )
        .unwrap();
    assert_eq!(put_avatar(&ts, &a, "image/jpeg", jpeg).await.status(), 200);
    // No avatar yet for Ben.
    let r = ts
        .call(
            Method::GET,
            &format!("/v1/users/{}/avatar", b.user.user.id),
            &b,
        )
        .await;
    problem(r, 404, "avatar_not_found").await;
}

#[tokio::test]
async fn users_are_visible_only_to_themselves() {
    let ts = TestServer::start().await;
    let a = ts.login(ana()).await;
    let b = ts.login(ben()).await;
    let r = ts
        .call(Method::GET, &format!("/v1/users/{}", a.user.user.id), &a)
        .await;
    assert_eq!(r.status(), 200);
    let u: Value = r.json().await.unwrap();
    assert!(
        u.get("identifier").is_none(),
        "public profile must not leak the identifier"
    );
    assert!(u.get("settings").is_none());
    let r = ts
        .call(Method::GET, &format!("/v1/users/{}", a.user.user.id), &b)
        .await;
    problem(r, 404, "user_not_found").await;
}

#[tokio::test]
async fn devices_list_and_revoke() {
    let ts = TestServer::start().await;
    let a1 = ts.login_device(ana(), "laptop").await;
    let a2 = ts.login_device(ana(), "desktop").await;
    let b = ts.login(ben()).await;
    let list: Vec<parley_protocol::Device> = ts.get_json("/v1/devices", &a1).await;
    assert_eq!(list.len(), 2);
    assert_eq!(list.iter().filter(|d| d.current).count(), 1);
    let cur = list.iter().find(|d| d.current).unwrap();
    assert_eq!(cur.id, a1.tokens.device_id);
    assert_eq!(cur.name, "laptop");
    // Ben cannot revoke Ana's device.
    let r = ts
        .call(
            Method::DELETE,
            &format!("/v1/devices/{}", a2.tokens.device_id),
            &b,
        )
        .await;
    problem(r, 404, "device_not_found").await;
    let r = ts
        .call(
            Method::DELETE,
            &format!("/v1/devices/{}", a2.tokens.device_id),
            &a1,
        )
        .await;
    assert_eq!(r.status(), 204);
    problem(
        ts.call(Method::GET, "/v1/me", &a2).await,
        401,
        "unauthorized",
    )
    .await;
    let r = ts
        .call(
            Method::DELETE,
            &format!("/v1/devices/{}", a2.tokens.device_id),
            &a1,
        )
        .await;
    problem(r, 404, "device_not_found").await;
    let list: Vec<Value> = ts.get_json("/v1/devices", &a1).await;
    assert_eq!(list.len(), 1);
}

/// Deleting my account takes a sign-in code asked just before (a wrong one
/// counts as an attempt, none asked is refused); then every token and socket
/// of the account is dead, my contact loses me but keeps our history (with
/// me as "Deleted account"), a pending request is declined on both sides,
/// and my identifier signs up as a new account.
#[tokio::test]
async fn an_account_is_deleted_with_a_fresh_code_for_good() {
    let ts = TestServer::start().await;
    let (a, b, chat) = ts.pair().await;
    ts.send_text(&a, &chat, "a1", "hello from ana").await;
    let from_ben = ts.send_text(&b, &chat, "b1", "hello from ben").await;
    let r = ts
        .call_json(
            Method::PATCH,
            "/v1/me",
            &a,
            json!({"username": "ana", "bio": "hi there", "status_text": "busy"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        put_avatar(&ts, &a, "image/png", png(64, 64)).await.status(),
        200
    );
    let phone = ts.login(ana()).await;
    let mut ws_phone = ts.ws(&phone).await;
    ws_phone.hello(0).await;
    let mut ws_ben = ts.ws(&b).await;
    ws_ben.hello(0).await;
    // Carol asked to connect with Ana (pending).
    let carol = ts.login("carol@example.org").await;
    let code: Value = ts
        .call(Method::POST, "/v1/contact-codes", &a)
        .await
        .json()
        .await
        .unwrap();
    let r = ts
        .call_json(
            Method::POST,
            "/v1/connection-requests",
            &carol,
            json!({"code": code["code"]}),
        )
        .await;
    assert_eq!(r.status(), 201);

    let delete = async |code: &str| {
        ts.call_json(Method::DELETE, "/v1/me", &a, json!({ "code": code }))
            .await
    };
    // A code error is 403, not 401: the token is fine (a client that took
    // 401 for an expired token would present the code twice).
    problem(delete("123456").await, 403, "invalid_code").await;
    problem(delete("12345").await, 422, "invalid_field").await;
    let r = ts
        .post_json("/v1/auth/otp/request", json!({ "identifier": ana() }))
        .await;
    assert_eq!(r.status(), 202);
    let right = ts.last_code(ana());
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    let p = problem(delete(wrong).await, 403, "invalid_code").await;
    assert!(
        p["detail"].as_str().unwrap().contains("4 attempt(s) left"),
        "{p}"
    );
    assert_eq!(ts.call(Method::GET, "/v1/me", &a).await.status(), 200);
    assert_eq!(delete(&right).await.status(), 204);

    // Every device of the account is signed out, and told why.
    for s in [&a, &phone] {
        let r = ts.call(Method::GET, "/v1/me", s).await;
        problem(r, 401, "account_deleted").await;
        let r = ts
            .post_json(
                "/v1/auth/refresh",
                json!({"refresh_token": s.tokens.refresh_token}),
            )
            .await;
        problem(r, 401, "account_deleted").await;
    }
    assert_eq!(ws_phone.closed_with().await, 4001);
    // Ben: no longer a contact (and no longer sees Ana online), our history
    // kept, Ana erased in it.
    ws_ben.next_event("connection.removed").await;
    let gone = ws_ben.next_of("presence").await;
    assert_eq!(
        (&gone["online"], &gone["last_seen_at"]),
        (&json!(false), &Value::Null)
    );
    let conns: Vec<Value> = ts.get_json("/v1/connections", &b).await;
    assert!(conns.is_empty(), "{conns:?}");
    let chats: Vec<Value> = ts.get_json("/v1/chats", &b).await;
    let peer = &chats[0]["peer"];
    assert_eq!(peer["display_name"], "Deleted account", "{peer}");
    assert_eq!(
        (&peer["username"], &peer["avatar_url"]),
        (&Value::Null, &Value::Null)
    );
    let history: Vec<Value> = ts.get_json(&format!("/v1/chats/{chat}/messages"), &b).await;
    assert_eq!(history[0]["body"], "hello from ana");
    // Carol's request is gone from her outgoing list.
    let outgoing: Vec<Value> = ts
        .call(
            Method::GET,
            "/v1/connection-requests?direction=outgoing",
            &carol,
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(outgoing.is_empty(), "{outgoing:?}");

    // In the database: identifier freed, profile and log gone.
    let old_id = a.user.user.id.0.clone();
    let (identifier, deleted): (String, Option<i64>) = ts
        .db()
        .query_row(
            "SELECT identifier, deleted_at FROM users WHERE id = ?1",
            [&old_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(identifier, format!("deleted:{old_id}"));
    assert!(deleted.is_some());
    let (username, bio, status, avatars, named): (Option<String>, String, String, i64, i64) = ts
        .db()
        .query_row(
            "SELECT username, bio, status_text, \
             (SELECT COUNT(*) FROM avatars WHERE user_id = ?1), \
             (SELECT COUNT(*) FROM devices WHERE user_id = ?1 AND name != '') \
             FROM users WHERE id = ?1",
            [&old_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap();
    assert_eq!((username, bio.as_str(), status.as_str()), (None, "", ""));
    assert_eq!((avatars, named), (0, 0), "photo and device names erased");
    let r = ts
        .call(Method::GET, &format!("/v1/users/{old_id}/avatar"), &b)
        .await;
    assert_eq!(r.status(), 404);
    assert_eq!(ts.events_of(&old_id, None), 0);
    // Ben deleting his own message tells the erased log nothing.
    let r = ts
        .call(
            Method::DELETE,
            &format!("/v1/messages/{}", from_ben["id"].as_str().unwrap()),
            &b,
        )
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(ts.events_of(&old_id, None), 0);
    // Ana's contact code from before leads nowhere.
    let dan = ts.login("dan@example.org").await;
    let r = ts
        .call_json(
            Method::POST,
            "/v1/connection-requests",
            &dan,
            json!({"code": code["code"]}),
        )
        .await;
    problem(r, 404, "code_not_found").await;

    // The same address signs up afresh: a new, empty account.
    let again = ts.login(ana()).await;
    assert!(again.new_user);
    assert_ne!(again.user.user.id.0, old_id);
    let conns: Vec<Value> = ts.get_json("/v1/connections", &again).await;
    assert!(conns.is_empty());
}

#[tokio::test]
async fn profile_changes_are_rate_limited_per_user() {
    let ts = TestServer::start().await;
    let a = ts.login(ana()).await;
    let b = ts.login(ben()).await;
    async fn set_status(
        ts: &TestServer,
        s: &parley_protocol::Session,
        n: u32,
    ) -> reqwest::Response {
        patch(ts, s, json!({ "status_text": format!("status {n}") })).await
    }
    for n in 0..parley_server::PROFILE_CHANGES_PER_MINUTE {
        assert_eq!(set_status(&ts, &a, n).await.status(), 200, "change {n}");
    }
    // Then refused (a slow machine may have earned a token back meanwhile:
    // one every 2 s).
    let mut refused = None;
    for n in 0..10 {
        let r = set_status(&ts, &a, 100 + n).await;
        if r.status() == 429 {
            refused = Some(r);
            break;
        }
    }
    let r = refused.expect("a change past the limit refused");
    assert!(r.headers().contains_key("retry-after"));
    problem(r, 429, "rate_limited").await;
    // The photo draws on the same budget; other users have their own.
    problem(
        put_avatar(&ts, &a, "image/png", png(8, 8)).await,
        429,
        "rate_limited",
    )
    .await;
    assert_eq!(set_status(&ts, &b, 0).await.status(), 200);
}
