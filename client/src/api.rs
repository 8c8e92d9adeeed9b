//! REST: one typed method per endpoint of PROTOCOL.md. Stateless about tokens:
//! callers pass the access token (see `auth` for refresh).

use crate::error::{ClientError, Result};
use parley_protocol::*;
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::{de::DeserializeOwned, Serialize};
use std::time::Duration;

/// How long a call whose answer carries a new session (a token refresh, an
/// invite's redeem) may take before it counts as lost and is tried again:
/// the server takes the retry only for `limits::REFRESH_RETRY_SECS`.
pub const SESSION_TIMEOUT: Duration = Duration::from_secs(15);
/// Every other call's (and a session call's last try: a slow server that
/// answers is better than none).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// A REST client for one server.
#[derive(Clone)]
pub struct Api {
    base: url::Url,
    http: reqwest::Client,
}

impl Api {
    pub fn new(server: &str) -> Result<Api> {
        let mut base = url::Url::parse(server.trim())
            .map_err(|e| ClientError::Invalid(format!("server URL {server:?}: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(ClientError::Invalid(format!(
                "server URL {server:?}: use http:// or https://"
            )));
        }
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(CALL_TIMEOUT)
            .user_agent(concat!("parley-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Network(e.to_string()))?;
        Ok(Api { base, http })
    }

    /// The server's base URL without a trailing slash.
    pub fn server(&self) -> String {
        self.base.as_str().trim_end_matches('/').to_owned()
    }

    /// The WebSocket URL.
    pub fn ws_url(&self) -> String {
        let http = format!("{}/v1/ws", self.server());
        http.replacen("http", "ws", 1)
    }

    fn url(&self, path: &str) -> Result<url::Url> {
        self.base
            .join(path.trim_start_matches('/'))
            .map_err(|e| ClientError::Invalid(e.to_string()))
    }

    pub fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
    ) -> Result<RequestBuilder> {
        let mut r = self.http.request(method, self.url(path)?);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        Ok(r)
    }

    /// Sends and maps non-2xx answers to `ClientError::Api`.
    pub async fn send(&self, req: RequestBuilder) -> Result<Response> {
        let resp = req.send().await?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        Err(refusal(resp).await)
    }

    async fn json<T: DeserializeOwned>(&self, req: RequestBuilder) -> Result<T> {
        let body = body(self.send(req).await?).await?;
        serde_json::from_slice(&body).map_err(|e| ClientError::Protocol(e.to_string()))
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: &B,
    ) -> Result<T> {
        self.json(self.request(method, path, token)?.json(body))
            .await
    }

    async fn get<T: DeserializeOwned>(&self, path: &str, token: &str) -> Result<T> {
        self.json(self.request(Method::GET, path, Some(token))?)
            .await
    }

    async fn empty(&self, req: RequestBuilder) -> Result<()> {
        self.send(req).await.map(|_| ())
    }

    // --- service ---------------------------------------------------------
    pub async fn health(&self) -> Result<Health> {
        self.json(self.request(Method::GET, "/healthz", None)?)
            .await
    }

    // --- auth --------------------------------------------------------------
    pub async fn request_otp(&self, identifier: &str) -> Result<OtpRequested> {
        self.call(
            Method::POST,
            "/v1/auth/otp/request",
            None,
            &OtpRequest {
                identifier: identifier.into(),
            },
        )
        .await
    }

    pub async fn verify_otp(&self, req: &OtpVerify) -> Result<Session> {
        self.call(Method::POST, "/v1/auth/otp/verify", None, req)
            .await
    }

    /// Rotates the refresh token, within `SESSION_TIMEOUT`.
    pub async fn refresh(&self, refresh_token: &str) -> Result<Tokens> {
        self.refresh_within(refresh_token, None, SESSION_TIMEOUT)
            .await
    }

    /// Rotates the refresh token, within `timeout`; `retry_key` is the same
    /// for every try of one exchange.
    pub async fn refresh_within(
        &self,
        refresh_token: &str,
        retry_key: Option<&str>,
        timeout: Duration,
    ) -> Result<Tokens> {
        let req = self
            .request(Method::POST, "/v1/auth/refresh", None)?
            .timeout(timeout)
            .json(&RefreshRequest {
                refresh_token: refresh_token.into(),
                retry_key: retry_key.map(str::to_owned),
            });
        self.json(req).await
    }

    pub async fn logout(&self, token: &str) -> Result<()> {
        self.empty(self.request(Method::POST, "/v1/auth/logout", Some(token))?)
            .await
    }

    // --- profile -----------------------------------------------------------
    pub async fn me(&self, token: &str) -> Result<Me> {
        self.get("/v1/me", token).await
    }

    /// `DELETE /v1/me`.
    pub async fn delete_me(&self, token: &str, code: &str) -> Result<()> {
        let req = self
            .request(Method::DELETE, "/v1/me", Some(token))?
            .json(&DeleteAccount { code: code.into() });
        self.empty(req).await
    }

    pub async fn update_me(&self, token: &str, patch: &UpdateMe) -> Result<Me> {
        self.call(Method::PATCH, "/v1/me", Some(token), patch).await
    }

    pub async fn set_avatar(&self, token: &str, mime: &str, bytes: Vec<u8>) -> Result<Me> {
        let req = self
            .request(Method::PUT, "/v1/me/avatar", Some(token))?
            .header("content-type", mime)
            .body(bytes);
        self.json(req).await
    }

    pub async fn user(&self, token: &str, id: &str) -> Result<User> {
        self.get(&format!("/v1/users/{}", enc(id)), token).await
    }

    pub async fn avatar(&self, token: &str, path: &str) -> Result<Vec<u8>> {
        let resp = self
            .send(self.request(Method::GET, path, Some(token))?)
            .await?;
        Ok(body(resp).await?.to_vec())
    }

    pub async fn username_available(
        &self,
        token: &str,
        name: &str,
    ) -> Result<UsernameAvailability> {
        self.get(&format!("/v1/usernames/{}", enc(name)), token)
            .await
    }

    pub async fn devices(&self, token: &str) -> Result<Vec<Device>> {
        self.get("/v1/devices", token).await
    }

    pub async fn revoke_device(&self, token: &str, id: &str) -> Result<()> {
        self.empty(self.request(
            Method::DELETE,
            &format!("/v1/devices/{}", enc(id)),
            Some(token),
        )?)
        .await
    }

    // --- contacts ----------------------------------------------------------
    pub async fn contact_code(&self, token: &str) -> Result<ContactCode> {
        self.json(self.request(Method::POST, "/v1/contact-codes", Some(token))?)
            .await
    }

    pub async fn request_connection(&self, token: &str, code: &str) -> Result<ConnectionRequest> {
        self.call(
            Method::POST,
            "/v1/connection-requests",
            Some(token),
            &NewConnectionRequest { code: code.into() },
        )
        .await
    }

    pub async fn requests(
        &self,
        token: &str,
        direction: Direction,
    ) -> Result<Vec<ConnectionRequest>> {
        let d = match direction {
            Direction::Incoming => "incoming",
            Direction::Outgoing => "outgoing",
        };
        self.get(&format!("/v1/connection-requests?direction={d}"), token)
            .await
    }

    pub async fn accept(&self, token: &str, id: &str) -> Result<Connection> {
        self.json(self.request(
            Method::POST,
            &format!("/v1/connection-requests/{}/accept", enc(id)),
            Some(token),
        )?)
        .await
    }

    pub async fn decline(&self, token: &str, id: &str) -> Result<()> {
        self.empty(self.request(
            Method::POST,
            &format!("/v1/connection-requests/{}/decline", enc(id)),
            Some(token),
        )?)
        .await
    }

    pub async fn connections(&self, token: &str) -> Result<Vec<Connection>> {
        self.get("/v1/connections", token).await
    }

    pub async fn remove_connection(&self, token: &str, user_id: &str) -> Result<()> {
        self.empty(self.request(
            Method::DELETE,
            &format!("/v1/connections/{}", enc(user_id)),
            Some(token),
        )?)
        .await
    }

    // --- device linking ----------------------------------------------------
    pub async fn create_link(&self, req: &NewDeviceLink) -> Result<DeviceLink> {
        self.call(Method::POST, "/v1/device-links", None, req).await
    }

    /// Polls with both secrets of the link, so a poll retried after its
    /// answer was lost still gets the session.
    pub async fn poll_link(&self, link: &DeviceLink, wait_secs: u64) -> Result<LinkStatus> {
        let mut path = format!(
            "/v1/device-links/{}?secret={}&wait={wait_secs}",
            enc(&link.link_id),
            enc(&link.secret)
        );
        if !link.poll_secret.is_empty() {
            path.push_str(&format!("&poll_secret={}", enc(&link.poll_secret)));
        }
        let req = self
            .request(Method::GET, &path, None)?
            .timeout(Duration::from_secs(wait_secs + 15));
        self.json(req).await
    }

    pub async fn link_info(
        &self,
        token: &str,
        link_id: &str,
        secret: &str,
    ) -> Result<DeviceLinkInfo> {
        self.get(
            &format!(
                "/v1/device-links/{}/info?secret={}",
                enc(link_id),
                enc(secret)
            ),
            token,
        )
        .await
    }

    pub async fn approve_link(&self, token: &str, link_id: &str, secret: &str) -> Result<()> {
        let req = self
            .request(
                Method::POST,
                &format!("/v1/device-links/{}/approve", enc(link_id)),
                Some(token),
            )?
            .json(&ApproveDeviceLink {
                secret: secret.into(),
            });
        self.empty(req).await
    }

    pub async fn create_invite(&self, token: &str) -> Result<DeviceInvite> {
        self.json(self.request(Method::POST, "/v1/device-invites", Some(token))?)
            .await
    }

    /// Redeems an invite, within `timeout`.
    pub async fn redeem_invite(
        &self,
        req: &RedeemDeviceInvite,
        timeout: Duration,
    ) -> Result<LinkedSession> {
        let req = self
            .request(Method::POST, "/v1/device-invites/redeem", None)?
            .timeout(timeout)
            .json(req);
        self.json(req).await
    }

    // --- chats -------------------------------------------------------------
    /// A page of chats by last activity; `after`: the previous page's last
    /// chat (the next page starts past it).
    pub async fn chats(&self, token: &str, limit: u32, after: Option<&Chat>) -> Result<Vec<Chat>> {
        let cursor = after.map_or_else(String::new, |c| {
            format!(
                "&before={}&before_id={}",
                enc(&c
                    .updated_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
                enc(&c.id)
            )
        });
        self.get(&format!("/v1/chats?limit={limit}{cursor}"), token)
            .await
    }

    /// `GET /v1/chats/{id}`: one of my chats (also with an ex-contact).
    pub async fn chat(&self, token: &str, chat_id: &str) -> Result<Chat> {
        self.get(&format!("/v1/chats/{}", enc(chat_id)), token)
            .await
    }

    pub async fn open_chat(&self, token: &str, peer: &UserId) -> Result<Chat> {
        self.call(
            Method::POST,
            "/v1/chats",
            Some(token),
            &OpenChat {
                peer_id: peer.clone(),
            },
        )
        .await
    }

    pub async fn history(
        &self,
        token: &str,
        chat_id: &str,
        before: Option<u64>,
        after: Option<u64>,
        limit: u32,
    ) -> Result<Vec<Message>> {
        let mut path = format!("/v1/chats/{}/messages?limit={limit}", enc(chat_id));
        if let Some(b) = before {
            path.push_str(&format!("&before_seq={b}"));
        }
        if let Some(a) = after {
            path.push_str(&format!("&after_seq={a}"));
        }
        self.get(&path, token).await
    }

    pub async fn send_message(
        &self,
        token: &str,
        chat_id: &str,
        msg: &SendMessage,
    ) -> Result<Message> {
        self.call(
            Method::POST,
            &format!("/v1/chats/{}/messages", enc(chat_id)),
            Some(token),
            msg,
        )
        .await
    }

    pub async fn read(&self, token: &str, chat_id: &str, up_to_seq: u64) -> Result<()> {
        let req = self
            .request(
                Method::POST,
                &format!("/v1/chats/{}/read", enc(chat_id)),
                Some(token),
            )?
            .json(&ReadUpTo { up_to_seq });
        self.empty(req).await
    }

    /// `PUT /v1/chats/{id}/mute` with `Some`, `DELETE` with `None`.
    pub async fn mute(&self, token: &str, chat_id: &str, mute: Option<Mute>) -> Result<()> {
        let path = format!("/v1/chats/{}/mute", enc(chat_id));
        let req = match mute {
            Some(m) => self.request(Method::PUT, &path, Some(token))?.json(&m),
            None => self.request(Method::DELETE, &path, Some(token))?,
        };
        self.empty(req).await
    }

    /// `PUT /v1/chats/{id}/pin` to pin, `DELETE` to unpin.
    pub async fn pin(&self, token: &str, chat_id: &str, pinned: bool) -> Result<()> {
        let path = format!("/v1/chats/{}/pin", enc(chat_id));
        let method = if pinned { Method::PUT } else { Method::DELETE };
        self.empty(self.request(method, &path, Some(token))?).await
    }

    /// `POST /v1/chats/{id}/clear`.
    pub async fn clear_chat(&self, token: &str, chat_id: &str, up_to_seq: u64) -> Result<()> {
        let path = format!("/v1/chats/{}/clear", enc(chat_id));
        let req = self
            .request(Method::POST, &path, Some(token))?
            .json(&ClearUpTo { up_to_seq });
        self.empty(req).await
    }

    pub async fn edit_message(&self, token: &str, id: &str, body: &str) -> Result<Message> {
        self.call(
            Method::PATCH,
            &format!("/v1/messages/{}", enc(id)),
            Some(token),
            &EditMessage { body: body.into() },
        )
        .await
    }

    pub async fn delete_message(&self, token: &str, id: &str) -> Result<()> {
        self.empty(self.request(
            Method::DELETE,
            &format!("/v1/messages/{}", enc(id)),
            Some(token),
        )?)
        .await
    }

    pub async fn react(&self, token: &str, id: &str, emoji: &str, add: bool) -> Result<()> {
        let method = if add { Method::PUT } else { Method::DELETE };
        let path = format!("/v1/messages/{}/reactions/{}", enc(id), enc(emoji));
        self.empty(self.request(method, &path, Some(token))?).await
    }

    /// `GET /v1/search`, in one chat or all, before a message or from the newest.
    pub async fn search(
        &self,
        token: &str,
        q: &str,
        chat_id: Option<&str>,
        before: Option<&str>,
    ) -> Result<Vec<Message>> {
        let mut path = format!("/v1/search?q={}", enc(q));
        if let Some(c) = chat_id {
            path.push_str(&format!("&chat_id={}", enc(c)));
        }
        if let Some(b) = before {
            path.push_str(&format!("&before={}", enc(b)));
        }
        self.get(&path, token).await
    }

    /// Uploads a file, streaming it; `progress` is told the bytes sent so far.
    pub async fn upload(
        &self,
        token: &str,
        path: &std::path::Path,
        mime: &str,
        progress: impl Fn(u64) + Send + Sync + 'static,
    ) -> Result<Attachment> {
        use futures_util::StreamExt;
        let file = tokio::fs::File::open(path).await?;
        let len = file.metadata().await?.len();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("file")
            .to_owned();
        let mut sent = 0u64;
        // When a chunk last went out (see `stalled`), in ms since `start`.
        let start = std::time::Instant::now();
        let moved = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let all_out = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(len == 0));
        let (moved2, all_out2) = (moved.clone(), all_out.clone());
        let stream = tokio_util::io::ReaderStream::new(file).map(move |chunk| {
            if let Ok(c) = &chunk {
                sent += c.len() as u64;
                progress(sent);
                let ms = start.elapsed().as_millis() as u64;
                moved2.store(ms, std::sync::atomic::Ordering::Relaxed);
                if sent >= len {
                    all_out2.store(true, std::sync::atomic::Ordering::Relaxed);
                }
            }
            chunk
        });
        // The whole upload may take long (an hour at most), but a connection
        // that stops taking bytes (a laptop's sleep, a NAT that forgot it)
        // would otherwise hang there for the hour: it is given up after
        // `TRANSFER_IDLE` without a byte going out.
        let stalled = async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                if all_out.load(std::sync::atomic::Ordering::Relaxed) {
                    return std::future::pending::<()>().await;
                }
                let last = moved.load(std::sync::atomic::Ordering::Relaxed);
                let idle = start.elapsed().saturating_sub(Duration::from_millis(last));
                if idle > TRANSFER_IDLE {
                    return;
                }
            }
        };
        let req = self
            .request(
                Method::POST,
                &format!("/v1/attachments?name={}", enc(&name)),
                Some(token),
            )?
            .header("content-type", mime)
            .header("content-length", len)
            .timeout(Duration::from_secs(3600))
            .body(reqwest::Body::wrap_stream(stream));
        let answer = tokio::select! {
            answer = self.json(req) => answer,
            () = stalled => Err(ClientError::Network(format!(
                "the upload of {name} stalled: nothing went out for {} s",
                TRANSFER_IDLE.as_secs()
            ))),
        };
        match answer {
            // A server answers a file over its limit with 413 at once and
            // closes the connection while the body is still going out, so
            // the client often sees only the broken connection.
            Err(ClientError::Network(e)) if len > limits::ATTACHMENT_MAX_BYTES as u64 => {
                Err(ClientError::Network(format!(
                    "the upload of {name} ({:.1} MiB) was cut off, so it may be over the \
                     server's limit (usually {} MiB): {e}",
                    len as f64 / (1024.0 * 1024.0),
                    limits::ATTACHMENT_MAX_BYTES / (1024 * 1024)
                )))
            }
            other => other,
        }
    }

    pub async fn download(&self, token: &str, id: &str) -> Result<Vec<u8>> {
        let resp = self.download_response(token, id).await?;
        Ok(body(resp).await?.to_vec())
    }

    /// The answer to a download, its body not read yet (to stream it to a
    /// file); the timeout covers the whole body, so it is long.
    pub async fn download_response(&self, token: &str, id: &str) -> Result<Response> {
        self.send(
            self.request(
                Method::GET,
                &format!("/v1/attachments/{}", enc(id)),
                Some(token),
            )?
            .timeout(Duration::from_secs(3600)),
        )
        .await
    }
}

/// How long an upload or a download may go without a byte moving before it
/// is given up (their whole time is allowed to be long).
pub const TRANSFER_IDLE: Duration = Duration::from_secs(30);

/// Percent-encodes a path segment or query value.
pub fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// True for a 401 answer.
pub fn is_unauthorized(e: &ClientError) -> bool {
    matches!(e, ClientError::Api(p) if p.status == StatusCode::UNAUTHORIZED.as_u16())
}

/// A refusal as a problem: the server's document, or one made from what a
/// proxy answered; with `Retry-After` when the body does not say it.
async fn refusal(resp: Response) -> ClientError {
    let status = resp.status();
    // Whole seconds (an HTTP date is not worth parsing: the server never
    // sends one, and a proxy that does is rare).
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let text = resp.text().await.unwrap_or_default();
    let mut problem = serde_json::from_str::<Problem>(&text).unwrap_or_else(|_| {
        Problem::new(
            status.as_u16(),
            "http_error",
            status.canonical_reason().unwrap_or("error"),
            text.chars().take(200).collect::<String>(),
        )
    });
    problem.retry_after = problem.retry_after.or(retry_after);
    ClientError::Api(problem)
}

/// The whole body of an answer. An answer cut off halfway (the connection
/// dropped, a proxy gave up) is a network failure, worth retrying, not an
/// answer this client does not understand: reqwest calls it a decode error.
async fn body(resp: Response) -> Result<bytes::Bytes> {
    resp.bytes()
        .await
        .map_err(|e| ClientError::Network(format!("the answer was cut off: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, retry_after: Option<&str>, body: &str) -> Response {
        let mut b = http::Response::builder().status(status);
        if let Some(r) = retry_after {
            b = b.header("retry-after", r);
        }
        Response::from(b.body(body.to_owned()).unwrap())
    }

    async fn problem(resp: Response) -> Problem {
        match refusal(resp).await {
            ClientError::Api(p) => p,
            other => panic!("{other:?}"),
        }
    }

    /// A proxy's 429 (HTML, no problem document) still says when to retry;
    /// the server's own document wins over a header a proxy rewrote.
    #[tokio::test]
    async fn refusals_keep_when_to_retry() {
        let p = problem(answer(429, Some(" 7 "), "<html>slow down</html>")).await;
        assert_eq!(
            (p.code.as_str(), p.status, p.retry_after),
            ("http_error", 429, Some(7))
        );
        assert_eq!(p.detail, "<html>slow down</html>");
        let doc = r#"{"type":"t","title":"x","status":429,"detail":"d","code":"rate_limited","retry_after":3}"#;
        let p = problem(answer(429, Some("7"), doc)).await;
        assert_eq!((p.code.as_str(), p.retry_after), ("rate_limited", Some(3)));
        let doc = r#"{"type":"t","title":"x","status":429,"detail":"d","code":"rate_limited"}"#;
        assert_eq!(
            problem(answer(429, Some("7"), doc)).await.retry_after,
            Some(7)
        );
        // A date, or nothing: not known.
        let date = "Wed, 21 Oct 2026 07:28:00 GMT";
        assert_eq!(
            problem(answer(429, Some(date), doc)).await.retry_after,
            None
        );
        assert_eq!(problem(answer(503, None, "")).await.retry_after, None);
    }
}
