#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Sign-in, tokens, refresh rotation, reuse detection, logout: over real HTTP.

mod common;

use common::*;
use reqwest::Method;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn login_me_refresh_reuse_logout() {
    let ts = TestServer::start().await;
    let s = ts.login("  Ana@Example.ORG ").await;
    assert!(s.new_user);
    assert_eq!(s.user.identifier, ana());
    assert_eq!(s.user.user.display_name, "ana");
    assert_eq!(s.tokens.expires_in, 900);

    // A second sign-in of the same identifier is the same user on a new device.
    let s2 = ts.login(ana()).await;
    assert!(!s2.new_user);
    assert_eq!(s2.user.user.id, s.user.user.id);
    assert_ne!(s2.tokens.device_id, s.tokens.device_id);

    let me = ts.call(Method::GET, "/v1/me", &s).await;
    assert_eq!(me.status(), 200);

    // Refresh rotates.
    let r = ts
        .post_json(
            "/v1/auth/refresh",
            json!({"refresh_token": s.tokens.refresh_token}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let t2: parley_protocol::Tokens = r.json().await.unwrap();
    assert_ne!(t2.refresh_token, s.tokens.refresh_token);
    assert_eq!(t2.device_id, s.tokens.device_id);

    // The stored form is a hash, never the token.
    let db = ts.db();
    let n: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM refresh_tokens WHERE token_hash = ?1",
            [t2.refresh_token.as_bytes()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 0);

    // The new refresh token works once more.
    let r = ts
        .post_json(
            "/v1/auth/refresh",
            json!({"refresh_token": t2.refresh_token}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let t3: parley_protocol::Tokens = r.json().await.unwrap();

    // Reusing a rotated token revokes the device: theft detection.
    let r = ts
        .post_json(
            "/v1/auth/refresh",
            json!({"refresh_token": s.tokens.refresh_token}),
        )
        .await;
    problem(r, 401, "token_reused").await;
    let r = ts
        .post_json(
            "/v1/auth/refresh",
            json!({"refresh_token": t3.refresh_token}),
        )
        .await;
    problem(r, 401, "invalid_token").await;
    let r = ts
        .req(Method::GET, "/v1/me")
        .bearer_auth(&t3.access_token)
        .send()
        .await
        .unwrap();
    problem(r, 401, "unauthorized").await;
    let revoked: Option<i64> = db
        .query_row(
            "SELECT revoked_at FROM devices WHERE id = ?1",
            [s.tokens.device_id.as_str()],
            |r| r.get(0),
        )
        .unwrap();
    assert!(revoked.is_some());

    // The other device is unaffected; logging it out revokes it.
    let r = ts.call(Method::GET, "/v1/me", &s2).await;
    assert_eq!(r.status(), 200);
    let r = ts.call(Method::POST, "/v1/auth/logout", &s2).await;
    assert_eq!(r.status(), 204);
    let r = ts.call(Method::GET, "/v1/me", &s2).await;
    problem(r, 401, "unauthorized").await;
    let r = ts
        .post_json(
            "/v1/auth/refresh",
            json!({"refresh_token": s2.tokens.refresh_token}),
        )
        .await;
    problem(r, 401, "invalid_token").await;
}

/// A refresh whose answer never arrived (the connection dropped, the client
/// died before saving it) is retried with the same token: that gets a new
/// pair instead of signing the device out, within a minute and only while
/// the lost successor is unused. The lost one is withdrawn: whoever presents
/// it later is not the client that retried, and revokes the device.
#[tokio::test]
async fn a_refresh_retried_after_a_lost_answer_gets_a_new_pair() {
    let ts = TestServer::start().await;
    let s = ts.login(ana()).await;
    let lost: parley_protocol::Tokens = ts
        .refresh(&s.tokens.refresh_token)
        .await
        .json()
        .await
        .unwrap();
    // The retry, twice (two answers lost in a row).
    let r = ts.refresh(&s.tokens.refresh_token).await;
    assert_eq!(r.status(), 200);
    let lost_again: parley_protocol::Tokens = r.json().await.unwrap();
    let r = ts.refresh(&s.tokens.refresh_token).await;
    assert_eq!(r.status(), 200);
    let kept: parley_protocol::Tokens = r.json().await.unwrap();
    assert_ne!(kept.refresh_token, lost.refresh_token);
    assert_ne!(kept.refresh_token, lost_again.refresh_token);
    assert_eq!(kept.device_id, s.tokens.device_id);
    let me = ts
        .req(Method::GET, "/v1/me")
        .bearer_auth(&kept.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    // The kept successor works and moves the chain on; from then on the
    // first token is no retry any more: its successor was used.
    let r = ts.refresh(&kept.refresh_token).await;
    assert_eq!(r.status(), 200);
    let next: parley_protocol::Tokens = r.json().await.unwrap();
    let r = ts.refresh(&s.tokens.refresh_token).await;
    problem(r, 401, "token_reused").await;
    let r = ts.refresh(&next.refresh_token).await;
    problem(r, 401, "invalid_token").await;
}

/// Rotated refresh tokens are kept 30 days (to catch one presented again),
/// then the janitor deletes them; a device's current token stays however
/// old it is (a computer left off for months still signs in).
#[tokio::test]
async fn the_janitor_forgets_long_rotated_refresh_tokens_only() {
    let mut ts = TestServer::start().await;
    let s = ts.login(ana()).await;
    let old = ts.login(ben()).await;
    let t2: parley_protocol::Tokens = ts
        .refresh(&s.tokens.refresh_token)
        .await
        .json()
        .await
        .unwrap();
    let day = 86_400_000_i64;
    let db = ts.db_mut();
    // Ana's first token rotated 31 days ago; Carla's 29 days ago, which
    // stays; Ben's current token was made 200 days ago and never rotated.
    db.execute(
        "UPDATE refresh_tokens SET rotated_at = rotated_at - ?1 WHERE rotated_at IS NOT NULL",
        [31 * day],
    )
    .unwrap();
    let c = ts.login("carla@example.org").await;
    assert_eq!(ts.refresh(&c.tokens.refresh_token).await.status(), 200);
    let db = ts.db_mut();
    db.execute(
        "UPDATE refresh_tokens SET rotated_at = rotated_at - ?1 WHERE device_id = ?2 \
         AND rotated_at IS NOT NULL",
        rusqlite::params![29 * day, c.tokens.device_id.as_str()],
    )
    .unwrap();
    db.execute(
        "UPDATE refresh_tokens SET created_at = created_at - ?1 WHERE device_id = ?2",
        rusqlite::params![200 * day, old.tokens.device_id.as_str()],
    )
    .unwrap();
    let rows = |ts: &TestServer| -> i64 {
        ts.db()
            .query_row("SELECT COUNT(*) FROM refresh_tokens", [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(rows(&ts), 5);
    ts.restart().await; // the janitor runs at start
    let mut left = rows(&ts);
    for _ in 0..50 {
        if left == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        left = rows(&ts);
    }
    assert_eq!(left, 4, "the long-rotated token is gone, the others stay");
    // Presented now it is merely unknown: Ana's device stays signed in.
    let r = ts.refresh(&s.tokens.refresh_token).await;
    problem(r, 401, "invalid_token").await;
    assert_eq!(ts.refresh(&t2.refresh_token).await.status(), 200);
    assert_eq!(ts.refresh(&old.tokens.refresh_token).await.status(), 200);
    // Carla's, rotated 29 days ago, still catches a thief.
    problem(
        ts.refresh(&c.tokens.refresh_token).await,
        401,
        "token_reused",
    )
    .await;
}

/// An exchange that came with a retry key takes a retry only with that key:
/// someone who stole the token cannot pass for the client that retries.
#[tokio::test]
async fn a_refresh_retry_must_bring_the_first_exchanges_key() {
    for other in [None, Some("x".repeat(32))] {
        let ts = TestServer::start().await;
        let s = ts.login(ana()).await;
        let key = "k".repeat(32);
        let with =
            |key: Option<&str>| json!({"refresh_token": s.tokens.refresh_token, "retry_key": key});
        let r = ts.post_json("/v1/auth/refresh", with(Some(&key))).await;
        assert_eq!(r.status(), 200);
        let r = ts.post_json("/v1/auth/refresh", with(Some(&key))).await;
        assert_eq!(r.status(), 200, "the client's own retry");
        let r = ts
            .post_json("/v1/auth/refresh", with(other.as_deref()))
            .await;
        problem(r, 401, "token_reused").await;
    }
    // A first exchange without a key binds its retries to none: a keyed
    // retry does not set one (any later retry is still taken).
    let ts = TestServer::start().await;
    let s = ts.login(ana()).await;
    let with =
        |key: Option<&str>| json!({"refresh_token": s.tokens.refresh_token, "retry_key": key});
    assert_eq!(
        ts.post_json("/v1/auth/refresh", with(None)).await.status(),
        200
    );
    let k1 = "a".repeat(32);
    assert_eq!(
        ts.post_json("/v1/auth/refresh", with(Some(&k1)))
            .await
            .status(),
        200
    );
    let k2 = "b".repeat(32);
    assert_eq!(
        ts.post_json("/v1/auth/refresh", with(Some(&k2)))
            .await
            .status(),
        200
    );
    // A key out of bounds, on both sides (characters).
    let ts = TestServer::start().await;
    let s = ts.login(ana()).await;
    for (key, ok) in [
        ("k".repeat(15), false),
        ("é".repeat(129), false),
        ("é".repeat(128), true),
    ] {
        let r = ts
            .post_json(
                "/v1/auth/refresh",
                json!({"refresh_token": s.tokens.refresh_token, "retry_key": key}),
            )
            .await;
        if ok {
            assert_eq!(r.status(), 200);
        } else {
            problem(r, 422, "invalid_field").await;
        }
    }
}

/// Someone else presents a lost (withdrawn) successor: theft, whenever.
#[tokio::test]
async fn a_withdrawn_successor_presented_later_revokes_the_device() {
    let ts = TestServer::start().await;
    let s = ts.login(ana()).await;
    let lost: parley_protocol::Tokens = ts
        .refresh(&s.tokens.refresh_token)
        .await
        .json()
        .await
        .unwrap();
    let kept: parley_protocol::Tokens = ts
        .refresh(&s.tokens.refresh_token)
        .await
        .json()
        .await
        .unwrap();
    let r = ts.refresh(&lost.refresh_token).await;
    problem(r, 401, "token_reused").await;
    let r = ts.refresh(&kept.refresh_token).await;
    problem(r, 401, "invalid_token").await;
}

/// The retry window, on both sides of its edge: the exchange is aged in
/// the database (a few seconds of slack for a slow machine).
#[tokio::test]
async fn a_refresh_retried_after_the_window_revokes_the_device() {
    let window = parley_protocol::limits::REFRESH_RETRY_SECS * 1000;
    for (age_ms, retried) in [(window - 5_000, true), (window + 1_000, false)] {
        let ts = TestServer::start().await;
        let s = ts.login(ana()).await;
        let first = ts
            .post_json(
                "/v1/auth/refresh",
                json!({"refresh_token": s.tokens.refresh_token}),
            )
            .await;
        assert_eq!(first.status(), 200);
        let db = ts.db_mut();
        db.execute(
            "UPDATE refresh_tokens SET rotated_at = rotated_at - ?1 WHERE rotated_at IS NOT NULL",
            [age_ms],
        )
        .unwrap();
        let r = ts
            .post_json(
                "/v1/auth/refresh",
                json!({"refresh_token": s.tokens.refresh_token}),
            )
            .await;
        if retried {
            assert_eq!(r.status(), 200, "{age_ms} ms after the exchange");
        } else {
            problem(r, 401, "token_reused").await;
        }
    }
}

#[tokio::test]
async fn wrong_codes_count_and_the_sixth_attempt_burns_the_code() {
    let ts = TestServer::start().await;
    let r = ts
        .post_json("/v1/auth/otp/request", json!({"identifier": ana()}))
        .await;
    assert_eq!(r.status(), 202);
    let code = ts.last_code(ana());
    let wrong = if code == "000000" { "000001" } else { "000000" };
    let verify = |c: &str| {
        ts.post_json(
            "/v1/auth/otp/verify",
            json!({"identifier": ana(), "code": c, "device_name": "d", "platform": "linux"}),
        )
    };
    for left in (0..5).rev() {
        let body = problem(verify(wrong).await, 401, "invalid_code").await;
        assert!(body["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("{left} attempt")));
    }
    // The 6th attempt, even with the right code, is refused: the code is
    // burnt, and stays so (its row kept, counted as burnt).
    let r = verify(&code).await;
    assert!(r.headers().contains_key("retry-after"));
    problem(r, 429, "too_many_attempts").await;
    problem(verify(&code).await, 429, "too_many_attempts").await;
    let (n, burnt): (i64, i64) = ts
        .db()
        .query_row("SELECT COUNT(*), MAX(burnt) FROM otp_codes", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!((n, burnt), (1, 1));
}

/// Burning a code and asking for the next is no faster way to guess: each
/// code burnt in a row doubles the wait before the next may be sent, and a
/// right code starts the count again. (Read from `Retry-After`, not timed
/// with sleeps: a loaded machine must not make it fail.)
#[tokio::test]
async fn each_burnt_code_doubles_the_wait_for_the_next() {
    let ts = TestServer::start_with(|c| c.otp_resend_interval = 1).await;
    let request = || ts.post_json("/v1/auth/otp/request", json!({"identifier": ana()}));
    let verify = |c: String| {
        ts.post_json(
            "/v1/auth/otp/verify",
            json!({"identifier": ana(), "code": c, "device_name": "d", "platform": "linux"}),
        )
    };
    let burn = || async {
        let code = ts.last_code(ana());
        let wrong = if code == "000000" { "000001" } else { "000000" };
        for _ in 0..5 {
            problem(verify(wrong.to_owned()).await, 401, "invalid_code").await;
        }
    };
    let burnt = || -> i64 {
        ts.db()
            .query_row("SELECT burnt FROM otp_codes", [], |r| r.get(0))
            .unwrap()
    };
    // Asks until a new code is sent; returns the longest wait it was told.
    let request_when_allowed = || async {
        let mut told = 0;
        for _ in 0..10 {
            let r = request().await;
            if r.status() == 202 {
                return told;
            }
            let secs: u64 = r.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            problem(r, 429, "rate_limited").await;
            told = told.max(secs);
            tokio::time::sleep(std::time::Duration::from_secs(secs)).await;
        }
        panic!("no new code after ten waits");
    };
    assert_eq!(request().await.status(), 202);
    burn().await;
    assert_eq!(burnt(), 1);
    // 1 s doubled: told to wait up to 2 s.
    let first = request_when_allowed().await;
    assert!((1..=2).contains(&first), "{first}");
    burn().await;
    assert_eq!(burnt(), 2);
    // Doubled again: up to 4 s (more than 2 unless burning took a second).
    let second = request_when_allowed().await;
    assert!((3..=4).contains(&second), "{second}");
    assert_eq!(verify(ts.last_code(ana())).await.status(), 200);
    let left: i64 = ts
        .db()
        .query_row("SELECT COUNT(*) FROM otp_codes", [], |r| r.get(0))
        .unwrap();
    assert_eq!(left, 0, "a right code starts the count again");
}

#[tokio::test]
async fn fifth_attempt_may_still_succeed() {
    let ts = TestServer::start().await;
    ts.post_json("/v1/auth/otp/request", json!({"identifier": ben()}))
        .await;
    let code = ts.last_code(ben());
    let wrong = if code == "999999" { "999998" } else { "999999" };
    for _ in 0..4 {
        let r = ts
            .post_json(
                "/v1/auth/otp/verify",
                json!({"identifier": ben(), "code": wrong, "device_name": "d", "platform": "cli"}),
            )
            .await;
        problem(r, 401, "invalid_code").await;
    }
    let r = ts
        .post_json(
            "/v1/auth/otp/verify",
            json!({"identifier": ben(), "code": code, "device_name": "d", "platform": "cli"}),
        )
        .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn expired_code_is_refused() {
    let ts = TestServer::start_with(|c| c.otp_ttl = 1).await;
    ts.post_json("/v1/auth/otp/request", json!({"identifier": ana()}))
        .await;
    let code = ts.last_code(ana());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = ts
        .post_json(
            "/v1/auth/otp/verify",
            json!({"identifier": ana(), "code": code, "device_name": "d", "platform": "linux"}),
        )
        .await;
    problem(r, 401, "code_expired").await;
}

#[tokio::test]
async fn codes_are_stored_only_as_keyed_hashes() {
    let ts = TestServer::start().await;
    ts.post_json("/v1/auth/otp/request", json!({"identifier": ana()}))
        .await;
    let code = ts.last_code(ana());
    let (hash, ttl): (Vec<u8>, i64) = ts
        .db()
        .query_row(
            "SELECT code_hash, expires_at - created_at FROM otp_codes WHERE identifier = ?1",
            [ana()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(hash.len(), 32);
    assert!(!hash.windows(6).any(|w| w == code.as_bytes()));
    assert_eq!(ttl, 300_000);
}

#[tokio::test]
async fn identifiers_are_validated_and_answers_do_not_enumerate() {
    let ts = TestServer::start().await;
    for bad in [
        "",
        "not-an-email",
        "ana@",
        "12345",
        "+1 555",
        &"a".repeat(300),
    ] {
        let r = ts
            .post_json("/v1/auth/otp/request", json!({"identifier": bad}))
            .await;
        problem(r, 422, "invalid_identifier").await;
    }
    // Existing and unknown accounts get byte-identical answers.
    ts.login(ana()).await;
    let a = ts
        .post_json("/v1/auth/otp/request", json!({"identifier": ana()}))
        .await;
    let b = ts
        .post_json(
            "/v1/auth/otp/request",
            json!({"identifier": "nobody@example.org"}),
        )
        .await;
    assert_eq!(a.status(), 202);
    assert_eq!(b.status(), 202);
    assert_eq!(a.text().await.unwrap(), b.text().await.unwrap());
    // Phones are normalised to E.164.
    let r = ts
        .post_json(
            "/v1/auth/otp/request",
            json!({"identifier": "+1 (555) 123-4567"}),
        )
        .await;
    assert_eq!(r.status(), 202);
    assert_eq!(ts.last_code("+15551234567").len(), 6);
}

#[tokio::test]
async fn resend_interval_per_identifier() {
    let ts = TestServer::start_with(|c| c.otp_resend_interval = 30).await;
    let r = ts
        .post_json("/v1/auth/otp/request", json!({"identifier": ana()}))
        .await;
    assert_eq!(r.status(), 202);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body, json!({"expires_in": 300, "retry_after": 30}));
    let r = ts
        .post_json("/v1/auth/otp/request", json!({"identifier": ana()}))
        .await;
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry));
    problem(r, 429, "rate_limited").await;
    // Another identifier is not affected.
    let r = ts
        .post_json("/v1/auth/otp/request", json!({"identifier": ben()}))
        .await;
    assert_eq!(r.status(), 202);
}

#[tokio::test]
async fn per_ip_limit() {
    let ts = TestServer::start_with(|c| c.auth_rate_per_ip = 3).await;
    for i in 0..3 {
        let r = ts
            .post_json(
                "/v1/auth/otp/request",
                json!({"identifier": format!("u{i}@example.org")}),
            )
            .await;
        assert_eq!(r.status(), 202);
    }
    let r = ts
        .post_json(
            "/v1/auth/otp/request",
            json!({"identifier": "u9@example.org"}),
        )
        .await;
    let header: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(header >= 1);
    // The body says it too (WebSocket results carry problems without
    // headers, and clients read one field for both).
    let body = problem(r, 429, "rate_limited").await;
    assert_eq!(body["retry_after"], header);
}

/// Refreshes and sign-ins are counted apart: devices refreshing behind one
/// address never lock out a sign-in there, nor the other way round.
#[tokio::test]
async fn refreshes_and_sign_ins_are_limited_apart() {
    let ts = TestServer::start_with(|c| {
        c.auth_rate_per_ip = 2;
        c.refresh_rate_per_ip = 3;
    })
    .await;
    // One sign-in's two calls use the sign-in allowance up ...
    let mut refresh = ts.login(ana()).await.tokens.refresh_token;
    let r = ts
        .post_json("/v1/auth/otp/request", json!({"identifier": ben()}))
        .await;
    problem(r, 429, "rate_limited").await;
    // ... and refreshes still go, up to their own limit.
    for _ in 0..3 {
        let r = ts.refresh(&refresh).await;
        assert_eq!(r.status(), 200);
        refresh = r
            .json::<parley_protocol::Tokens>()
            .await
            .unwrap()
            .refresh_token;
    }
    let r = ts.refresh(&refresh).await;
    let body = problem(r, 429, "rate_limited").await;
    assert!(body["retry_after"].as_u64().unwrap() >= 1, "{body}");
}

#[tokio::test]
async fn malformed_requests_get_problems_naming_the_field() {
    let ts = TestServer::start().await;
    let r = ts
        .post_json(
            "/v1/auth/otp/verify",
            json!({"identifier": ana(), "code": "123456"}),
        )
        .await;
    let body = problem(r, 422, "invalid_body").await;
    assert!(body["detail"].as_str().unwrap().contains("device_name"));
    let r = ts
        .post_json("/v1/auth/otp/request", json!({"identifier": 5}))
        .await;
    let body = problem(r, 422, "invalid_body").await;
    assert!(body["detail"].as_str().unwrap().contains("identifier"));
    let r = ts
        .req(Method::POST, "/v1/auth/otp/request")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    problem(r, 400, "malformed_json").await;
    let r = ts
        .req(Method::POST, "/v1/auth/otp/request")
        .body("identifier=x")
        .send()
        .await
        .unwrap();
    problem(r, 415, "unsupported_media_type").await;
    // Unknown fields are ignored.
    let r = ts
        .post_json(
            "/v1/auth/otp/request",
            json!({"identifier": ana(), "extra": true}),
        )
        .await;
    assert_eq!(r.status(), 202);
    // Code shape and device name limits.
    let verify = |code: &str, name: &str, platform: &str| {
        ts.post_json(
            "/v1/auth/otp/verify",
            json!({"identifier": ana(), "code": code, "device_name": name, "platform": platform}),
        )
    };
    problem(verify("12345", "d", "linux").await, 422, "invalid_field").await;
    problem(verify("12345a", "d", "linux").await, 422, "invalid_field").await;
    problem(verify("123456", "", "linux").await, 422, "invalid_field").await;
    problem(
        verify("123456", &"d".repeat(65), "linux").await,
        422,
        "invalid_field",
    )
    .await;
    problem(verify("123456", "d", "plan9").await, 422, "invalid_body").await;
    // 64 characters is fine (the code is wrong, but the name passed validation).
    problem(
        verify("000000", &"d".repeat(64), "linux").await,
        401,
        "invalid_code",
    )
    .await;
    // A body over 64 KiB is refused.
    let big = "x".repeat(65 * 1024);
    let r = ts
        .post_json("/v1/auth/otp/request", json!({"identifier": big}))
        .await;
    problem(r, 413, "payload_too_large").await;
}

#[tokio::test]
async fn bearer_tokens_are_checked() {
    let ts = TestServer::start().await;
    let r = ts.req(Method::GET, "/v1/me").send().await.unwrap();
    problem(r, 401, "unauthorized").await;
    let r = ts
        .req(Method::GET, "/v1/me")
        .bearer_auth("garbage")
        .send()
        .await
        .unwrap();
    problem(r, 401, "unauthorized").await;
    let r = ts
        .req(Method::GET, "/v1/me")
        .header("authorization", "Basic abc")
        .send()
        .await
        .unwrap();
    problem(r, 401, "unauthorized").await;
    let r = ts.req(Method::GET, "/v1/nope").send().await.unwrap();
    problem(r, 404, "not_found").await;
    // A path that exists with a method it lacks: 405, saying which it has.
    let r = ts
        .req(Method::DELETE, "/v1/auth/otp/verify")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["allow"], "POST");
    problem(r, 405, "method_not_allowed").await;
}

#[tokio::test]
async fn access_tokens_expire() {
    let ts = TestServer::start_with(|c| c.access_token_ttl = 10).await;
    let s = ts.login(ana()).await;
    assert_eq!(s.tokens.expires_in, 10);
    // Leeway is 5 s past `exp`.
    tokio::time::sleep(Duration::from_secs(16)).await;
    let r = ts.call(Method::GET, "/v1/me", &s).await;
    let body = problem(r, 401, "unauthorized").await;
    assert!(body["detail"].as_str().unwrap().contains("expired"));
}
