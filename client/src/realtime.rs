//! The realtime loop: one WebSocket, reconnect with exponential backoff and
//! jitter, resume from the cache's cursor, apply events to the cache before
//! acknowledging them, flush the outbox over the socket, and handle 4001
//! (refresh, or signed out), 4008 (resume at once) and `resync_required`.

use crate::{
    cache,
    client::Client,
    error::{refused_for_now, ClientError, Result},
    events::{ClientEvent, LinkState},
};
use futures_util::{SinkExt, StreamExt};
use parley_protocol::{close, ClientFrame, ServerFrame};
use rand::Rng;
use std::{collections::HashSet, future::Future, time::Duration};
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message as WsMessage};

const BACKOFF_START: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// Acknowledge at most this often (acks are writes on the server).
const ACK_EVERY: Duration = Duration::from_millis(200);
const RETRY_START: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(30);

/// When to send again what the server refused for now (a 5xx such as
/// `storage_full`, or `rate_limited`) while the socket stays up: nothing else
/// would wake the outbox until the next message or reconnect. After 1 s,
/// doubling to 30 s while refusals go on; back to 1 s once a send goes through.
struct Retry {
    at: Option<tokio::time::Instant>,
    delay: Duration,
}

impl Retry {
    fn new() -> Retry {
        Retry {
            at: None,
            delay: RETRY_START,
        }
    }

    fn refused(&mut self) {
        if self.at.is_none() {
            self.at = Some(tokio::time::Instant::now() + self.delay);
            self.delay = (self.delay * 2).min(RETRY_MAX);
        }
    }

    fn accepted(&mut self) {
        self.delay = RETRY_START;
    }

    async fn due(&self) {
        match self.at {
            Some(at) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    }
}

/// Why one connection ended.
enum Ended {
    /// Asked to stop.
    Shutdown,
    /// Reconnect at once (4008, or after a refresh).
    Now,
    /// Reconnect after backoff.
    Later(String),
}

impl Client {
    /// Runs until `shutdown` resolves (then closes cleanly) or the session is
    /// signed out. Emits events on `subscribe()`.
    pub async fn run_realtime(&self, shutdown: impl Future<Output = ()>) -> Result<()> {
        tokio::pin!(shutdown);
        let mut backoff = BACKOFF_START;
        loop {
            self.link_state(LinkState::Connecting, None);
            let ended = tokio::select! {
                _ = &mut shutdown => Ended::Shutdown,
                r = self.connect_once(&mut backoff) => match r {
                    Ok(e) => e,
                    Err(ClientError::SignedOut(reason)) => return Err(ClientError::SignedOut(reason)),
                    Err(e) => Ended::Later(e.to_string()),
                },
            };
            match ended {
                Ended::Shutdown => return Ok(()),
                Ended::Now => continue,
                Ended::Later(why) => {
                    let jitter = rand::thread_rng().gen_range(0.5..1.5);
                    let wait = backoff.mul_f64(jitter);
                    tracing::info!(%why, ?wait, "realtime link down; retrying");
                    self.link_state(LinkState::Offline, Some(wait));
                    tokio::select! {
                        _ = &mut shutdown => return Ok(()),
                        _ = tokio::time::sleep(wait) => {}
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
    }

    async fn connect_once(&self, backoff: &mut Duration) -> Result<Ended> {
        let token = self.token().await?;
        let mut req = self
            .api()
            .ws_url()
            .into_client_request()
            .map_err(|e| ClientError::Invalid(e.to_string()))?;
        req.headers_mut().insert(
            "authorization",
            format!("Bearer {token}")
                .parse()
                .map_err(|_| ClientError::Invalid("bad token".into()))?,
        );
        let (mut ws, _) = match tokio_tungstenite::connect_async(req).await {
            Ok(ok) => ok,
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) if resp.status() == 401 => {
                self.force_refresh().await?;
                return Ok(Ended::Now);
            }
            Err(e) => return Ok(Ended::Later(e.to_string())),
        };
        let since = self.cache().run(|c| cache::cursor(c)).await?;
        send(&mut ws, &ClientFrame::Hello { since }).await?;
        let mut applied = since;
        let mut acked = since;
        let mut live = false;
        let mut in_flight: HashSet<String> = HashSet::new();
        let mut ack_tick = tokio::time::interval(ACK_EVERY);
        let mut retry = Retry::new();
        let mut frames = self.frames().lock().await;
        // Drop typing frames queued while offline: they are stale now.
        while frames.try_recv().is_ok() {}
        loop {
            tokio::select! {
                _ = ack_tick.tick() => {
                    if applied > acked {
                        send(&mut ws, &ClientFrame::Ack { up_to: applied }).await?;
                        acked = applied;
                    }
                }
                _ = self.outbox_kick().notified(), if live => {
                    self.flush_ws(&mut ws, &mut in_flight).await?;
                }
                () = retry.due(), if live && retry.at.is_some() => {
                    retry.at = None;
                    self.flush_ws(&mut ws, &mut in_flight).await?;
                }
                frame = frames.recv(), if live => {
                    if let Some(f) = frame {
                        send(&mut ws, &f).await?;
                    }
                }
                msg = ws.next() => {
                    let msg = match msg {
                        None => return Ok(Ended::Later("connection closed".into())),
                        Some(Err(e)) => return Ok(Ended::Later(e.to_string())),
                        Some(Ok(m)) => m,
                    };
                    let text = match msg {
                        WsMessage::Text(t) => t,
                        WsMessage::Close(frame) => {
                            let code = frame.as_ref().map(|f| u16::from(f.code)).unwrap_or(1005);
                            return match code {
                                close::TOKEN_INVALID => {
                                    self.force_refresh().await?;
                                    Ok(Ended::Now)
                                }
                                close::LAGGING => Ok(Ended::Now),
                                other => Ok(Ended::Later(format!("closed by server ({other})"))),
                            };
                        }
                        _ => continue,
                    };
                    let frame: ServerFrame = match serde_json::from_str(&text) {
                        Ok(f) => f,
                        Err(e) => {
                            // A newer server may send kinds this client does not know.
                            tracing::debug!(error = %e, "skipping an unknown frame");
                            if let Some(seq) = unknown_event_seq(&text) {
                                let c = self.cache().clone();
                                c.run(move |db| cache::set_cursor(db, seq)).await?;
                                applied = applied.max(seq);
                            }
                            continue;
                        }
                    };
                    match frame {
                        ServerFrame::Event { seq, event } => {
                            let ev = (*event).clone();
                            self.cache().run(move |c| cache::apply(c, seq, &ev)).await?;
                            applied = applied.max(seq);
                            self.emit_event(ClientEvent::Event { seq, event });
                        }
                        ServerFrame::Live => {
                            live = true;
                            *backoff = Duration::from_millis(500);
                            self.link_state(LinkState::Online, None);
                            self.flush_ws(&mut ws, &mut in_flight).await?;
                        }
                        ServerFrame::ResyncRequired { current_seq } => {
                            self.resync().await?;
                            self.cache().run(move |c| cache::set_cursor(c, current_seq)).await?;
                            applied = current_seq;
                            acked = current_seq;
                            send(&mut ws, &ClientFrame::Hello { since: current_seq }).await?;
                        }
                        ServerFrame::Result(r) => {
                            in_flight.remove(&r.req);
                            match (r.ok, r.message, r.error) {
                                (true, Some(m), _) => {
                                    retry.accepted();
                                    self.sent_over_ws(m).await?
                                }
                                (_, _, Some(p)) => {
                                    if refused_for_now(&p) {
                                        retry.refused();
                                    }
                                    self.failed_over_ws(&r.req, p).await?
                                }
                                _ => {}
                            }
                        }
                        ServerFrame::Presence { user_id, online, last_seen_at } => {
                            self.emit_event(ClientEvent::Presence { user_id, online, last_seen_at });
                        }
                        ServerFrame::Typing { chat_id, user_id, active } => {
                            self.emit_event(ClientEvent::Typing { chat_id, user_id, active });
                        }
                        ServerFrame::Error { error } => {
                            tracing::warn!(%error, "server reported a frame error");
                        }
                    }
                }
            }
        }
    }

    /// Sends queued messages over the socket (`req` = `client_id`).
    async fn flush_ws<S>(&self, ws: &mut S, in_flight: &mut HashSet<String>) -> Result<()>
    where
        S: SinkExt<WsMessage> + Unpin,
        S::Error: std::fmt::Display,
    {
        let items = self.cache().run(|c| cache::outbox(c)).await?;
        for item in items {
            if !in_flight.insert(item.client_id.clone()) {
                continue;
            }
            let frame = ClientFrame::Send {
                req: item.client_id.clone(),
                chat_id: item.chat_id,
                client_id: item.client_id,
                body: item.body,
                reply_to: item.reply_to,
                attachment_ids: item.attachment_ids,
            };
            send(ws, &frame).await?;
        }
        Ok(())
    }
}

async fn send<S>(ws: &mut S, frame: &ClientFrame) -> Result<()>
where
    S: SinkExt<WsMessage> + Unpin,
    S::Error: std::fmt::Display,
{
    let text = serde_json::to_string(frame).map_err(|e| ClientError::Invalid(e.to_string()))?;
    ws.send(WsMessage::Text(text.into()))
        .await
        .map_err(|e| ClientError::Network(e.to_string()))
}

/// The seq of an `event` frame whose event kind this client does not know.
fn unknown_event_seq(text: &str) -> Option<u64> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    (v["type"] == "event").then(|| v["seq"].as_u64()).flatten()
}
