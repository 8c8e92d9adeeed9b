#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Linking a device by QR, both directions.

mod common;

use common::*;
use parley_protocol::{DeviceInvite, DeviceLink, Session};
use reqwest::Method;
use serde_json::{json, Value};

async fn create_link(ts: &TestServer, name: &str) -> DeviceLink {
    let r = ts
        .post_json(
            "/v1/device-links",
            json!({"device_name": name, "platform": "macos"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    r.json().await.unwrap()
}

async fn poll(ts: &TestServer, link: &DeviceLink, wait: u64) -> reqwest::Response {
    ts.req(
        Method::GET,
        &format!(
            "/v1/device-links/{}?secret={}&wait={wait}",
            link.link_id, link.secret
        ),
    )
    .send()
    .await
    .unwrap()
}

/// A poll as the device that made the link sends it: with its second
/// secret, which the QR does not carry.
async fn poll_as_maker(ts: &TestServer, link: &DeviceLink) -> reqwest::Response {
    ts.req(
        Method::GET,
        &format!(
            "/v1/device-links/{}?secret={}&poll_secret={}&wait=0",
            link.link_id, link.secret, link.poll_secret
        ),
    )
    .send()
    .await
    .unwrap()
}

fn device_added_events(ts: &TestServer) -> i64 {
    ts.db()
        .query_row(
            "SELECT COUNT(*) FROM events WHERE payload LIKE '%\"device.added\"%'",
            [],
            |r| r.get(0),
        )
        .unwrap()
}

/// The answer carrying the new device's session is lost (the connection
/// dropped, the poll timed out): its retry, from the
/// device that made the link, gets the same device's session again, with a
/// new refresh token; the lost one is withdrawn. Anyone polling with the QR
/// alone still gets `link_used`.
#[tokio::test]
async fn the_linking_device_collects_its_session_again_after_a_lost_answer() {
    let ts = TestServer::start().await;
    let a = ts.login(ana()).await;
    let link = create_link(&ts, "Ana's Mac").await;
    assert_ne!(link.poll_secret, link.secret);
    assert!(!link.uri.contains(&link.poll_secret), "never in the QR");
    assert_eq!(
        approve(&ts, &a, &link.link_id, &link.secret).await.status(),
        204
    );
    let lost: Value = poll_as_maker(&ts, &link).await.json().await.unwrap();
    assert_eq!(lost["status"], "approved");
    let events = device_added_events(&ts);

    // The QR's secret alone, a wrong second secret, or the QR's secret in
    // its place: the link is spent.
    problem(poll(&ts, &link, 0).await, 409, "link_used").await;
    for wrong in ["AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", link.secret.as_str()] {
        let forged = DeviceLink {
            poll_secret: wrong.to_owned(),
            ..link.clone()
        };
        problem(poll_as_maker(&ts, &forged).await, 409, "link_used").await;
    }
    let r = poll_as_maker(&ts, &link).await;
    assert_eq!(r.status(), 200);
    let again: Value = r.json().await.unwrap();
    assert_eq!(again["status"], "approved");
    assert_eq!(again["tokens"]["device_id"], lost["tokens"]["device_id"]);
    assert_ne!(
        again["tokens"]["refresh_token"],
        lost["tokens"]["refresh_token"]
    );
    assert_eq!(again["user"]["id"], a.user.user.id.as_str());
    assert_eq!(device_added_events(&ts), events, "one device, added once");
    let devices: Vec<Value> = ts.get_json("/v1/devices", &a).await;
    assert_eq!(
        devices.iter().filter(|d| d["name"] == "Ana's Mac").count(),
        1
    );

    // The session works; once its refresh token was used, the link is
    // spent for good.
    let kept = again["tokens"]["refresh_token"].as_str().unwrap();
    assert_eq!(ts.refresh(kept).await.status(), 200);
    problem(poll_as_maker(&ts, &link).await, 409, "link_used").await;
    // Whoever presents the lost session's token is not this device: theft.
    let lost_token = lost["tokens"]["refresh_token"].as_str().unwrap();
    problem(ts.refresh(lost_token).await, 401, "token_reused").await;
}

/// A link whose maker asked for it: someone who saw the QR and polls with
/// its secret only ever hears `pending`, even after the approval, while the
/// maker's poll gets the session. Without the flag (a client polling with
/// the QR's secret alone) the first poll after the approval gets it.
#[tokio::test]
async fn a_link_made_for_its_poll_secret_gives_the_qr_alone_nothing() {
    let ts = TestServer::start().await;
    let a = ts.login(ana()).await;
    let r = ts
        .post_json(
            "/v1/device-links",
            json!({"device_name": "Ana's Mac", "platform": "macos", "poll_secret_only": true}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let link: DeviceLink = r.json().await.unwrap();
    assert_eq!(
        approve(&ts, &a, &link.link_id, &link.secret).await.status(),
        204
    );
    let r = poll(&ts, &link, 1).await;
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"status": "pending"})
    );
    let forged = DeviceLink {
        poll_secret: link.secret.clone(),
        ..link.clone()
    };
    let r = poll_as_maker(&ts, &forged).await;
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"status": "pending"})
    );
    let got: Value = poll_as_maker(&ts, &link).await.json().await.unwrap();
    assert_eq!(got["status"], "approved");
    problem(poll(&ts, &link, 0).await, 409, "link_used").await;

    // An approved link nobody may collect this way still expires for them.
    let r = ts
        .post_json(
            "/v1/device-links",
            json!({"device_name": "Ana's Mac", "platform": "macos", "poll_secret_only": true}),
        )
        .await;
    let link: DeviceLink = r.json().await.unwrap();
    approve(&ts, &a, &link.link_id, &link.secret).await;
    ts.db_mut()
        .execute(
            "UPDATE device_links SET expires_at = 0 WHERE id = ?1",
            [link.link_id.as_str()],
        )
        .unwrap();
    problem(poll(&ts, &link, 0).await, 410, "link_expired").await;

    // Without the flag: the QR's secret alone collects (PROTOCOL.md).
    let link = create_link(&ts, "Ana's Mac").await;
    approve(&ts, &a, &link.link_id, &link.secret).await;
    let got: Value = poll(&ts, &link, 0).await.json().await.unwrap();
    assert_eq!(got["status"], "approved");
}

/// The retry window on both sides of its edge (the collection aged in the
/// database, with a few seconds of slack for a slow machine), and a
/// revoked device's link.
#[tokio::test]
async fn a_link_is_collected_again_only_within_the_window_and_while_the_device_lives() {
    let window = parley_protocol::limits::REFRESH_RETRY_SECS * 1000;
    let ts = TestServer::start().await;
    let a = ts.login(ana()).await;
    for (age_ms, again) in [(window - 5_000, true), (window + 1_000, false)] {
        let link = create_link(&ts, "Ana's Mac").await;
        approve(&ts, &a, &link.link_id, &link.secret).await;
        assert_eq!(poll_as_maker(&ts, &link).await.status(), 200);
        let db = ts.db_mut();
        db.execute(
            "UPDATE device_links SET collected_at = collected_at - ?2 WHERE id = ?1",
            rusqlite::params![link.link_id, age_ms],
        )
        .unwrap();
        let r = poll_as_maker(&ts, &link).await;
        if again {
            assert_eq!(r.status(), 200, "{age_ms} ms after");
        } else {
            problem(r, 409, "link_used").await;
        }
    }
    let link = create_link(&ts, "Ana's Mac").await;
    approve(&ts, &a, &link.link_id, &link.secret).await;
    let got: Value = poll_as_maker(&ts, &link).await.json().await.unwrap();
    let device = got["tokens"]["device_id"].as_str().unwrap();
    let r = ts
        .call(Method::DELETE, &format!("/v1/devices/{device}"), &a)
        .await;
    assert_eq!(r.status(), 204);
    problem(poll_as_maker(&ts, &link).await, 409, "link_used").await;

    // An account disabled since: said, as a refresh would say it.
    let link = create_link(&ts, "Ana's Mac").await;
    approve(&ts, &a, &link.link_id, &link.secret).await;
    assert_eq!(poll_as_maker(&ts, &link).await.status(), 200);
    let db = ts.db_mut();
    db.execute(
        "UPDATE users SET disabled_at = 1 WHERE id = ?1",
        [a.user.user.id.as_str()],
    )
    .unwrap();
    problem(poll_as_maker(&ts, &link).await, 403, "account_disabled").await;
}

async fn approve(ts: &TestServer, s: &Session, id: &str, secret: &str) -> reqwest::Response {
    ts.call_json(
        Method::POST,
        &format!("/v1/device-links/{id}/approve"),
        s,
        json!({ "secret": secret }),
    )
    .await
}

#[tokio::test]
async fn link_a_new_device_by_qr() {
    let ts = TestServer::start().await;
    let a = ts.login(ana()).await;
    let link = create_link(&ts, "Ana's Mac").await;
    assert_eq!(link.check_code.len(), 2);
    let qr: parley_protocol::qr::DeviceLinkQr = link.uri.parse().unwrap();
    assert_eq!(
        (qr.link_id.as_str(), qr.secret.as_str()),
        (link.link_id.as_str(), link.secret.as_str())
    );

    // Pending while nobody approved.
    let r = poll(&ts, &link, 0).await;
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"status": "pending"})
    );

    // The approver sees name, platform and the same check code.
    let info: Value = ts
        .call(
            Method::GET,
            &format!(
                "/v1/device-links/{}/info?secret={}",
                link.link_id, link.secret
            ),
            &a,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(info["device_name"], "Ana's Mac");
    assert_eq!(info["platform"], "macos");
    assert_eq!(info["check_code"], link.check_code.as_str());

    // A long poll waiting while the approval happens returns promptly.
    let waiter = {
        let (url, http) = (
            ts.url(&format!(
                "/v1/device-links/{}?secret={}&wait=30",
                link.link_id, link.secret
            )),
            ts.http.clone(),
        );
        tokio::spawn(async move { http.get(url).send().await.unwrap() })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let started = std::time::Instant::now();
    assert_eq!(
        approve(&ts, &a, &link.link_id, &link.secret).await.status(),
        204
    );
    let r = waiter.await.unwrap();
    assert!(started.elapsed().as_secs() < 10);
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "approved");
    assert_eq!(body["user"]["id"], a.user.user.id.as_str());
    let token = body["tokens"]["access_token"].as_str().unwrap().to_owned();

    // Exactly once.
    problem(poll(&ts, &link, 0).await, 409, "link_used").await;
    problem(
        approve(&ts, &a, &link.link_id, &link.secret).await,
        409,
        "link_used",
    )
    .await;

    // The new device is Ana's.
    let me: Value = ts
        .req(Method::GET, "/v1/me")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["id"], a.user.user.id.as_str());
    let devices: Vec<Value> = ts.get_json("/v1/devices", &a).await;
    assert!(devices
        .iter()
        .any(|d| d["name"] == "Ana's Mac" && d["platform"] == "macos"));
    let kinds: Vec<String> = ts
        .db()
        .prepare("SELECT payload FROM events WHERE user_id = ?1")
        .unwrap()
        .query_map([a.user.user.id.as_str()], |r| r.get::<_, String>(0))
        .unwrap()
        .map(|p| {
            serde_json::from_str::<Value>(&p.unwrap()).unwrap()["kind"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(kinds, ["device.added"]);
}

#[tokio::test]
async fn link_errors() {
    let ts = TestServer::start().await;
    let a = ts.login(ana()).await;
    let link = create_link(&ts, "x").await;
    // Wrong secret -> 404 everywhere.
    let wrong = "A".repeat(32);
    problem(
        approve(&ts, &a, &link.link_id, &wrong).await,
        404,
        "link_not_found",
    )
    .await;
    let r = ts
        .req(
            Method::GET,
            &format!("/v1/device-links/{}?secret={wrong}&wait=0", link.link_id),
        )
        .send()
        .await
        .unwrap();
    problem(r, 404, "link_not_found").await;
    problem(
        approve(&ts, &a, "no-such-link", &link.secret).await,
        404,
        "link_not_found",
    )
    .await;
    // Approving needs to be signed in.
    let r = ts
        .req(
            Method::POST,
            &format!("/v1/device-links/{}/approve", link.link_id),
        )
        .json(&json!({ "secret": link.secret }))
        .send()
        .await
        .unwrap();
    problem(r, 401, "unauthorized").await;
    // Expired: push expiry into the past in the database.
    {
        let db = ts.db_mut();
        db.execute(
            "UPDATE device_links SET expires_at = 0 WHERE id = ?1",
            [&link.link_id],
        )
        .unwrap();
    }
    problem(
        approve(&ts, &a, &link.link_id, &link.secret).await,
        410,
        "link_expired",
    )
    .await;
    problem(poll(&ts, &link, 0).await, 410, "link_expired").await;
    // Device name validation.
    let r = ts
        .post_json(
            "/v1/device-links",
            json!({"device_name": "", "platform": "linux"}),
        )
        .await;
    problem(r, 422, "invalid_field").await;
    let ttl = {
        let l = create_link(&ts, "y").await;
        (l.expires_at - chrono::Utc::now()).num_seconds()
    };
    assert!((100..=120).contains(&ttl), "{ttl}");
}

/// The redeem's answer is lost: the same redeemer (the same `retry_key`)
/// gets the same device's session again, within the window, while its
/// refresh token is unused; anyone else gets `invite_used`.
#[tokio::test]
async fn a_redeem_retried_with_its_key_gets_the_session_again() {
    let window = parley_protocol::limits::REFRESH_RETRY_SECS * 1000;
    let ts = TestServer::start().await;
    let a = ts.login(ana()).await;
    let invite = || async {
        let r = ts.call(Method::POST, "/v1/device-invites", &a).await;
        r.json::<DeviceInvite>().await.unwrap()
    };
    let redeem = |inv: &DeviceInvite, key: Option<&str>| {
        let body = json!({"uri": inv.uri, "device_name": "tablet", "platform": "android", "retry_key": key});
        ts.post_json("/v1/device-invites/redeem", body)
    };
    let key = "k".repeat(32);
    let inv = invite().await;
    let lost: Value = redeem(&inv, Some(&key)).await.json().await.unwrap();
    let events = device_added_events(&ts);
    problem(redeem(&inv, None).await, 409, "invite_used").await;
    let other = "x".repeat(32);
    problem(redeem(&inv, Some(&other)).await, 409, "invite_used").await;
    let r = redeem(&inv, Some(&key)).await;
    assert_eq!(r.status(), 200);
    let again: Value = r.json().await.unwrap();
    assert_eq!(again["device_id"], lost["device_id"]);
    assert_ne!(again["refresh_token"], lost["refresh_token"]);
    assert_eq!(device_added_events(&ts), events, "one device, added once");
    let kept = again["refresh_token"].as_str().unwrap();
    assert_eq!(ts.refresh(kept).await.status(), 200);
    problem(redeem(&inv, Some(&key)).await, 409, "invite_used").await;
    let lost_token = lost["refresh_token"].as_str().unwrap();
    problem(ts.refresh(lost_token).await, 401, "token_reused").await;

    // The window's edge.
    for (age_ms, again) in [(window - 5_000, true), (window + 1_000, false)] {
        let inv = invite().await;
        assert_eq!(redeem(&inv, Some(&key)).await.status(), 200);
        let db = ts.db_mut();
        db.execute(
            "UPDATE device_invites SET redeemed_at = redeemed_at - ?1 WHERE redeemed_at IS NOT NULL",
            [age_ms],
        )
        .unwrap();
        let r = redeem(&inv, Some(&key)).await;
        if again {
            assert_eq!(r.status(), 200, "{age_ms} ms after");
        } else {
            problem(r, 409, "invite_used").await;
        }
    }
    // Retries do not move the window: it runs from the redeem.
    let inv = invite().await;
    assert_eq!(redeem(&inv, Some(&key)).await.status(), 200);
    let age = |ms: i64| {
        let db = ts.db_mut();
        db.execute(
            "UPDATE device_invites SET redeemed_at = redeemed_at - ?1 WHERE redeemed_at IS NOT NULL",
            [ms],
        )
        .unwrap();
    };
    age(window - 10_000);
    assert_eq!(redeem(&inv, Some(&key)).await.status(), 200);
    age(11_000);
    problem(redeem(&inv, Some(&key)).await, 409, "invite_used").await;
    // Redeemed without a key: no retry for anyone.
    let inv = invite().await;
    assert_eq!(redeem(&inv, None).await.status(), 200);
    problem(redeem(&inv, Some(&key)).await, 409, "invite_used").await;
    // A key out of bounds, on both sides (characters, not bytes).
    let inv = invite().await;
    let short = "k".repeat(15);
    problem(redeem(&inv, Some(&short)).await, 422, "invalid_field").await;
    let long = "k".repeat(129);
    problem(redeem(&inv, Some(&long)).await, 422, "invalid_field").await;
    assert_eq!(redeem(&inv, Some(&"é".repeat(128))).await.status(), 200);
    let inv = invite().await;
    assert_eq!(redeem(&inv, Some(&"k".repeat(16))).await.status(), 200);
}

#[tokio::test]
async fn invite_a_new_device() {
    let ts = TestServer::start().await;
    let a = ts.login(ana()).await;
    let r = ts.call(Method::POST, "/v1/device-invites", &a).await;
    assert_eq!(r.status(), 201);
    let inv: DeviceInvite = r.json().await.unwrap();
    assert!(inv.uri.starts_with("parley://join?server="));
    // Two minutes, as a device link.
    let ttl = (inv.expires_at - chrono::Utc::now()).num_seconds();
    assert!((100..=120).contains(&ttl), "{ttl}");
    let redeem = |body: Value| ts.post_json("/v1/device-invites/redeem", body);
    let r = redeem(json!({"uri": inv.uri, "device_name": "tablet", "platform": "android"})).await;
    assert_eq!(r.status(), 200);
    let s: Value = r.json().await.unwrap();
    assert_eq!(s["user"]["id"], a.user.user.id.as_str());
    assert!(s["access_token"].is_string() && s["refresh_token"].is_string());
    // One use.
    let r = redeem(json!({"code": inv.code, "device_name": "t2", "platform": "android"})).await;
    problem(r, 409, "invite_used").await;
    problem(
        redeem(json!({"code": "Z".repeat(32), "device_name": "t", "platform": "linux"})).await,
        404,
        "invite_not_found",
    )
    .await;
    problem(
        redeem(json!({"device_name": "t", "platform": "linux"})).await,
        422,
        "invalid_field",
    )
    .await;
    problem(
        redeem(json!({"uri": "parley://contact?x", "device_name": "t", "platform": "linux"})).await,
        422,
        "invalid_field",
    )
    .await;
    // Expired.
    let inv: DeviceInvite = ts
        .call(Method::POST, "/v1/device-invites", &a)
        .await
        .json()
        .await
        .unwrap();
    {
        let db = ts.db_mut();
        db.execute("UPDATE device_invites SET expires_at = 0", [])
            .unwrap();
    }
    problem(
        redeem(json!({"code": inv.code, "device_name": "t", "platform": "linux"})).await,
        410,
        "invite_expired",
    )
    .await;
}

/// Signing a device out from another one cancels the invites it made and
/// nobody redeemed, and the links it approved that nobody collected (a
/// stolen laptop must not leave a way in behind it); the
/// invites of the account's other devices stay good, and so do those of a
/// device that signs itself out.
#[tokio::test]
async fn revoking_a_device_cancels_its_invites() {
    let ts = TestServer::start().await;
    let phone = ts.login(ana()).await;
    let laptop = ts.login(ana()).await;
    let invite = |s: &Session| {
        let ts = &ts;
        let s = s.clone();
        async move {
            let r = ts.call(Method::POST, "/v1/device-invites", &s).await;
            assert_eq!(r.status(), 201);
            r.json::<DeviceInvite>().await.unwrap()
        }
    };
    let from_laptop = invite(&laptop).await;
    let from_phone = invite(&phone).await;
    // A link the laptop approved and nobody collected yet goes too (the
    // thief need not poll before the owner revokes the laptop).
    let link = create_link(&ts, "thief's box").await;
    let r = approve(&ts, &laptop, &link.link_id, &link.secret).await;
    assert_eq!(r.status(), 204);
    let r = ts
        .call(
            Method::DELETE,
            &format!("/v1/devices/{}", laptop.tokens.device_id),
            &phone,
        )
        .await;
    assert_eq!(r.status(), 204);
    let redeem = |code: &str| {
        ts.post_json(
            "/v1/device-invites/redeem",
            json!({"code": code, "device_name": "tablet", "platform": "linux"}),
        )
    };
    problem(redeem(&from_laptop.code).await, 404, "invite_not_found").await;
    problem(poll(&ts, &link, 0).await, 404, "link_not_found").await;
    assert_eq!(redeem(&from_phone.code).await.status(), 200);
    // And the signed-out laptop can make no more.
    problem(
        ts.call(Method::POST, "/v1/device-invites", &laptop).await,
        401,
        "unauthorized",
    )
    .await;
    // A device that signs itself out may still hand on the invite it shows.
    let last = invite(&phone).await;
    let r = ts.call(Method::POST, "/v1/auth/logout", &phone).await;
    assert_eq!(r.status(), 204);
    assert_eq!(redeem(&last.code).await.status(), 200);
}
