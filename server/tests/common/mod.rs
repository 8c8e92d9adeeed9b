//! A real parley-server on 127.0.0.1:0 with a temporary data directory and the
//! `file:` OTP driver, driven over real HTTP. Cleaned up on drop.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

#[allow(unused_imports)]
use futures_util as _;
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
        config.refresh_rate_per_ip = 100_000;
        // Tests send over REST as fast as they can; the limit's own tests
        // set it low.
        config.ws_rate = 100_000;
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

    /// Stops the server, keeping the data directory.
    pub async fn shutdown(&mut self) {
        if let Some(s) = self.server.take() {
            s.stop().await.unwrap();
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The running server's state (its store, for the fault seams).
    pub fn state(&self) -> &parley_server::state::AppState {
        &self.server.as_ref().expect("running").state
    }

    /// Waits (up to 10 s) for the server to stop by itself; its outcome.
    pub async fn stopped_by_itself(&mut self) -> Result<(), parley_server::StartError> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !self.server.as_ref().expect("running").has_stopped() {
            assert!(
                std::time::Instant::now() < deadline,
                "the server kept running"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        self.server.take().unwrap().stop().await
    }

    /// Where `/metrics` is served, when the config set `metrics_listen`.
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.server.as_ref().and_then(|s| s.metrics_addr)
    }

    pub fn otp_file(&self) -> PathBuf {
        self.dir.path().join("otp.jsonl")
    }

    pub fn db_path(&self) -> PathBuf {
        self.config.data_dir.join("parley.db")
    }

    /// How many events `user_id`'s log holds, of `kind` if given (read from
    /// the database file).
    pub fn events_of(&self, user_id: &str, kind: Option<&str>) -> i64 {
        self.db()
            .query_row(
                "SELECT COUNT(*) FROM events WHERE user_id = ?1 \
                 AND (?2 IS NULL OR json_extract(payload, '$.kind') = ?2)",
                rusqlite::params![user_id, kind],
                |r| r.get(0),
            )
            .unwrap()
    }

    /// A writing connection to the server's database, to change what a test
    /// cannot reach through the API (age a row, disable an account); it
    /// waits for the server's writer.
    pub fn db_mut(&self) -> rusqlite::Connection {
        let db = rusqlite::Connection::open(self.db_path()).unwrap();
        db.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
        db
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

    /// An authenticated request without a body.
    pub async fn call(&self, method: Method, path: &str, s: &Session) -> Response {
        self.req(method, path).auth(s).send().await.unwrap()
    }

    /// An authenticated GET's JSON answer (whatever its status).
    pub async fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str, s: &Session) -> T {
        self.call(Method::GET, path, s).await.json().await.unwrap()
    }

    /// An authenticated request with a JSON body.
    pub async fn call_json(
        &self,
        method: Method,
        path: &str,
        s: &Session,
        body: impl serde::Serialize,
    ) -> Response {
        self.req(method, path)
            .auth(s)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_json(&self, path: &str, body: Value) -> Response {
        self.req(Method::POST, path)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// `POST /v1/auth/refresh` with `token`.
    pub async fn refresh(&self, token: &str) -> Response {
        self.post_json("/v1/auth/refresh", json!({ "refresh_token": token }))
            .await
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

/// A WebSocket client speaking the Parley protocol, for tests.
pub struct Ws {
    pub stream: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

pub type WsMsg = tokio_tungstenite::tungstenite::Message;

impl TestServer {
    /// Opens `/v1/ws` as `s`'s device (no hello sent yet).
    pub async fn ws(&self, s: &Session) -> Ws {
        self.ws_with_token(&s.tokens.access_token).await
    }

    pub async fn ws_with_token(&self, token: &str) -> Ws {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let url = format!("{}/v1/ws", self.base.replacen("http", "ws", 1));
        let mut req = url.into_client_request().unwrap();
        req.headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        let (stream, _) = tokio_tungstenite::connect_async(req).await.unwrap();
        Ws { stream }
    }

    /// Ana and Ben, signed in and connected to each other, with their chat.
    pub async fn pair(&self) -> (Session, Session, String) {
        let a = self.login(ana()).await;
        let b = self.login(ben()).await;
        self.connect_users(&a, &b).await;
        let chat = self.open_chat(&a, &b).await;
        (a, b, chat)
    }

    /// Makes `a` and `b` connections through the real QR-code flow.
    pub async fn connect_users(&self, a: &Session, b: &Session) {
        let code: Value = self
            .req(Method::POST, "/v1/contact-codes")
            .auth(a)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let req: Value = self
            .req(Method::POST, "/v1/connection-requests")
            .auth(b)
            .json(&json!({"code": code["code"]}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let r = self
            .req(
                Method::POST,
                &format!(
                    "/v1/connection-requests/{}/accept",
                    req["id"].as_str().unwrap()
                ),
            )
            .auth(a)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }

    /// `PATCH /v1/me` turning `who`'s read receipts on or off.
    pub async fn set_read_receipts(&self, who: &Session, on: bool) -> Response {
        self.call_json(
            Method::PATCH,
            "/v1/me",
            who,
            json!({"settings": {"read_receipts": on}}),
        )
        .await
    }

    /// `DELETE /v1/connections/{peer}` by `who`: they are no longer contacts.
    pub async fn disconnect(&self, who: &Session, peer: &Session) -> Response {
        self.call(
            Method::DELETE,
            &format!("/v1/connections/{}", peer.user.user.id),
            who,
        )
        .await
    }

    pub async fn open_chat(&self, a: &Session, b: &Session) -> String {
        let r = self
            .req(Method::POST, "/v1/chats")
            .auth(a)
            .json(&json!({"peer_id": b.user.user.id}))
            .send()
            .await
            .unwrap();
        assert!(r.status() == 201 || r.status() == 200);
        let chat: Value = r.json().await.unwrap();
        chat["id"].as_str().unwrap().to_owned()
    }

    /// The chat's newest 200 messages as `s` reads them over REST.
    pub async fn newest_messages(&self, s: &Session, chat: &str) -> Vec<Value> {
        let r = self
            .req(Method::GET, &format!("/v1/chats/{chat}/messages?limit=200"))
            .auth(s)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    /// Sends a text over REST; returns the message.
    pub async fn send_text(&self, s: &Session, chat: &str, client_id: &str, body: &str) -> Value {
        let r = self
            .req(Method::POST, &format!("/v1/chats/{chat}/messages"))
            .auth(s)
            .json(&json!({"client_id": client_id, "body": body}))
            .send()
            .await
            .unwrap();
        assert!(r.status() == 201 || r.status() == 200, "{}", r.status());
        r.json().await.unwrap()
    }
}

impl Ws {
    pub async fn send_json(&mut self, v: Value) {
        use futures_util::SinkExt;
        self.stream
            .send(WsMsg::Text(v.to_string().into()))
            .await
            .unwrap();
    }

    /// The next text frame as JSON (pings skipped); panics after 10 s.
    pub async fn next(&mut self) -> Value {
        self.try_next(std::time::Duration::from_secs(10))
            .await
            .expect("a frame within 10 s")
    }

    /// The next text frame, or None on timeout. Panics if the socket closes.
    pub async fn try_next(&mut self, wait: std::time::Duration) -> Option<Value> {
        use futures_util::StreamExt;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .ok()?;
            match msg {
                Some(Ok(WsMsg::Text(t))) => return Some(serde_json::from_str(&t).unwrap()),
                Some(Ok(WsMsg::Close(f))) => panic!("socket closed: {f:?}"),
                Some(Ok(_)) => continue,
                other => panic!("socket ended: {other:?}"),
            }
        }
    }

    /// Waits for the close frame; returns its code. Skips other frames.
    pub async fn closed_with(&mut self) -> u16 {
        use futures_util::StreamExt;
        loop {
            match tokio::time::timeout(std::time::Duration::from_secs(30), self.stream.next())
                .await
                .expect("close within 30 s")
            {
                Some(Ok(WsMsg::Close(Some(f)))) => return f.code.into(),
                Some(Ok(WsMsg::Close(None))) | None => return 1005,
                Some(Ok(_)) => continue,
                Some(Err(e)) => panic!("socket error before close: {e}"),
            }
        }
    }

    /// Says hello and collects the replay up to `live`: returns the events.
    pub async fn hello(&mut self, since: u64) -> Vec<Value> {
        self.send_json(json!({"type": "hello", "since": since}))
            .await;
        let mut events = Vec::new();
        loop {
            let f = self.next().await;
            match f["type"].as_str().unwrap() {
                "live" => return events,
                "event" => events.push(f),
                "presence" | "typing" => {}
                other => panic!("unexpected frame during replay: {other}: {f}"),
            }
        }
    }

    /// The next frame of type `ty`, skipping others (presence etc.).
    pub async fn next_of(&mut self, ty: &str) -> Value {
        loop {
            let f = self.next().await;
            if f["type"] == ty {
                return f;
            }
        }
    }

    /// The next event of kind `kind`, skipping others.
    pub async fn next_event(&mut self, kind: &str) -> Value {
        loop {
            let f = self.next_of("event").await;
            if f["event"]["kind"] == kind {
                return f;
            }
        }
    }
}

/// A `w`×`h` PNG with a gradient (so it is not all one colour).
pub fn png(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 99])
    });
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}
