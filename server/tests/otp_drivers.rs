#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // test code: sync sleeps in #[test] fns only
//! The real `webhook` and `smtp` drivers against real peers on loopback.

mod common;

use common::*;
use parley_server::config::OtpDriverKind;
use serde_json::{json, Value};
use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

#[tokio::test]
async fn webhook_driver_posts_the_code() {
    /// (Authorization header, JSON body) of each webhook call.
    type Calls = Arc<Mutex<Vec<(Option<String>, Value)>>>;
    let seen: Calls = Arc::default();
    let sink = seen.clone();
    let app = axum::Router::new().route(
        "/sms",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, axum::Json(v): axum::Json<Value>| {
                let sink = sink.clone();
                async move {
                    let auth = headers
                        .get("authorization")
                        .map(|h| h.to_str().unwrap().to_owned());
                    sink.lock().unwrap().push((auth, v));
                    "ok"
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let ts = TestServer::start_with(|c| {
        c.otp_driver = OtpDriverKind::Webhook;
        c.webhook_url = Some(format!("http://{addr}/sms").parse().unwrap());
        c.webhook_token = Some("s3cret".into());
    })
    .await;
    let r = ts
        .post_json(
            "/v1/auth/otp/request",
            json!({"identifier": "+44 20 7946 0958"}),
        )
        .await;
    assert_eq!(r.status(), 202);
    let (auth, body) = seen.lock().unwrap().pop().expect("webhook called");
    assert_eq!(auth.as_deref(), Some("Bearer s3cret"));
    assert_eq!(body["identifier"], "+442079460958");
    let code = body["code"].as_str().unwrap().to_owned();
    assert!(body["expires_at"].is_string());
    let r = ts
        .post_json(
            "/v1/auth/otp/verify",
            json!({"identifier": "+442079460958", "code": code, "device_name": "phone", "platform": "android"}),
        )
        .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn webhook_failure_is_503_and_retry_is_allowed() {
    let ts = TestServer::start_with(|c| {
        c.otp_driver = OtpDriverKind::Webhook;
        // Nothing listens on port 9 of loopback.
        c.webhook_url = Some("http://127.0.0.1:9/sms".parse().unwrap());
        c.otp_resend_interval = 30;
    })
    .await;
    for _ in 0..2 {
        let r = ts
            .post_json("/v1/auth/otp/request", json!({"identifier": ana()}))
            .await;
        problem(r, 503, "delivery_failed").await;
    }
}

/// Starts Python's aiosmtpd on a free loopback port, delivering into a Maildir.
struct SmtpSink {
    child: std::process::Child,
    port: u16,
    maildir: tempfile::TempDir,
}

impl SmtpSink {
    fn start() -> SmtpSink {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let maildir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("python3")
            .args([
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
                "-c",
                "aiosmtpd.handlers.Mailbox",
            ])
            .arg(maildir.path().join("box"))
            .spawn()
            .expect("python3 is required for the SMTP test");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return SmtpSink {
                    child,
                    port,
                    maildir,
                };
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "aiosmtpd did not start: install it with `pip install aiosmtpd` (./scripts/test does)"
        );
    }

    fn messages(&self) -> Vec<String> {
        let dir = self.maildir.path().join("box").join("new");
        std::fs::read_dir(dir)
            .map(|rd| {
                rd.filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn smtp_driver_sends_an_email() {
    let sink = SmtpSink::start();
    let port = sink.port;
    let ts = TestServer::start_with(|c| {
        c.otp_driver = OtpDriverKind::Smtp;
        c.smtp_url = Some(format!("smtp://127.0.0.1:{port}"));
        c.smtp_from = "Parley <noreply@parley.test>".into();
    })
    .await;
    let r = ts
        .post_json(
            "/v1/auth/otp/request",
            json!({"identifier": "Ana@Example.org"}),
        )
        .await;
    assert_eq!(r.status(), 202);
    let mail = sink.messages().pop().expect("one email delivered");
    assert!(mail.contains("To: ana@example.org"), "{mail}");
    assert!(
        mail.contains("From: Parley <noreply@parley.test>"),
        "{mail}"
    );
    let code: String = mail
        .split("sign-in code is ")
        .nth(1)
        .unwrap()
        .chars()
        .take(6)
        .collect();
    let r = ts
        .post_json(
            "/v1/auth/otp/verify",
            json!({"identifier": ana(), "code": code, "device_name": "laptop", "platform": "linux"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    // The smtp driver takes email addresses only.
    let r = ts
        .post_json(
            "/v1/auth/otp/request",
            json!({"identifier": "+15551234567"}),
        )
        .await;
    problem(r, 422, "invalid_identifier").await;
}

/// A delivery that fails slowly, after a newer code was asked for and
/// delivered meanwhile, forgets only its own code: the newer one still
/// signs in.
#[tokio::test]
async fn a_slow_failed_delivery_keeps_the_newer_code() {
    let calls = Arc::new(Mutex::new(Vec::<Value>::new()));
    let sink = calls.clone();
    let app = axum::Router::new().route(
        "/sms",
        axum::routing::post(move |axum::Json(v): axum::Json<Value>| {
            let sink = sink.clone();
            async move {
                let first = {
                    let mut c = sink.lock().unwrap();
                    c.push(v);
                    c.len() == 1
                };
                if first {
                    // The first delivery hangs, then fails.
                    tokio::time::sleep(Duration::from_millis(800)).await;
                    (axum::http::StatusCode::BAD_GATEWAY, "gateway down")
                } else {
                    (axum::http::StatusCode::OK, "ok")
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let ts = TestServer::start_with(|c| {
        c.otp_driver = OtpDriverKind::Webhook;
        c.webhook_url = Some(format!("http://{addr}/sms").parse().unwrap());
        c.otp_resend_interval = 0;
    })
    .await;
    let ask = || ts.post_json("/v1/auth/otp/request", json!({"identifier": ana()}));
    let (slow, fast) = tokio::join!(ask(), async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        ask().await
    });
    assert_eq!(fast.status(), 202);
    problem(slow, 503, "delivery_failed").await;
    let code = calls.lock().unwrap()[1]["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = ts
        .post_json(
            "/v1/auth/otp/verify",
            json!({"identifier": ana(), "code": code, "device_name": "phone", "platform": "android"}),
        )
        .await;
    assert_eq!(r.status(), 200);
}
