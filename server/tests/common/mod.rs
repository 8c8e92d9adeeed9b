//! A real parley-server on 127.0.0.1:0 with a temporary data directory and the
//! `file:` OTP driver, driven over real HTTP. Cleaned up on drop.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use parley_protocol::{Platform, Session};
use parley_server::{
    config::{Config, OtpDriverKind},
    Server,
};
use reqwest::{Method, RequestBuilder, Response};
use serde_json::{json, Value};
use std::path::PathBuf;
use tempfile::TempDir;

pub struct TestServer {
    server: Option<Server>,
    pub base: String,
    pub dir: TempDir,
    pub config: Config,
    pub http: reqwest::Client,
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    /// Starts with the test defaults (no per-IP limit to speak of, no resend
    /// spacing), adjusted by `tweak`.
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::for_data_dir(dir.path().join("data"));
        config.otp_driver = OtpDriverKind::File(dir.path().join("otp.jsonl"));
        config.auth_rate_per_ip = 100_000;
        config.otp_resend_interval = 0;
        tweak(&mut config);
        let mut ts = TestServer {
            server: None,
            base: String::new(),
            dir,
            config,
            http: reqwest::Client::new(),
        };
        ts.boot().await;
        ts
    }

    async fn boot(&mut self) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = Server::start(self.config.clone(), listener).await.unwrap();
        self.base = format!("http://{}", server.addr);
        self.server = Some(server);
    }

    /// Graceful stop and start on the same data directory (new port).
    pub async fn restart(&mut self) {
        if let Some(s) = self.server.take() {
            s.stop().await.unwrap();
        }
        self.boot().await;
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn otp_file(&self) -> PathBuf {
        self.dir.path().join("otp.jsonl")
    }

    pub fn db_path(&self) -> PathBuf {
        self.config.data_dir.join("parley.db")
    }

    /// Opens the real SQLite file read-only, as an operator would.
    pub fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open_with_flags(
            self.db_path(),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap()
    }

    /// The most recent code the `file:` driver wrote for `identifier`.
    pub fn last_code(&self, identifier: &str) -> String {
        let text = std::fs::read_to_string(self.otp_file()).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .collect::<Vec<_>>()
            .into_iter()
            .rfind(|v| v["identifier"] == identifier)
            .map(|v| v["code"].as_str().unwrap().to_owned())
            .unwrap_or_else(|| panic!("no code for {identifier}"))
    }

    pub fn req(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, self.url(path))
    }

    pub async fn post_json(&self, path: &str, body: Value) -> Response {
        self.req(Method::POST, path)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Full sign-in through the real OTP flow.
    pub async fn login(&self, identifier: &str) -> Session {
        self.login_device(identifier, "test device").await
    }

    pub async fn login_device(&self, identifier: &str, device: &str) -> Session {
        let r = self
            .post_json("/v1/auth/otp/request", json!({ "identifier": identifier }))
            .await;
        assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
        let normal = parley_protocol::Identifier::parse(identifier).unwrap();
        let code = self.last_code(normal.as_str());
        let r = self
            .post_json(
                "/v1/auth/otp/verify",
                json!({"identifier": identifier, "code": code, "device_name": device, "platform": Platform::Linux}),
            )
            .await;
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        r.json().await.unwrap()
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.server.take() {
            s.stop().await.unwrap();
        }
    }
}

/// A signed-in user for tests.
pub struct User {
    pub session: Session,
}

pub fn ana() -> &'static str {
    "ana@example.org"
}

pub fn ben() -> &'static str {
    "ben@example.org"
}

/// Asserts a problem+json response and returns its body.
pub async fn problem(resp: Response, status: u16, code: &str) -> Value {
    assert_eq!(resp.status().as_u16(), status, "status");
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(ct, "application/problem+json", "content type of {body}");
    assert_eq!(body["code"], code, "code in {body}");
    assert_eq!(body["status"], status);
    assert!(body["title"].is_string() && body["type"].is_string());
    body
}

pub trait Authed {
    fn auth(self, s: &Session) -> Self;
}

impl Authed for RequestBuilder {
    fn auth(self, s: &Session) -> Self {
        self.bearer_auth(&s.tokens.access_token)
    }
}
