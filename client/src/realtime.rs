//! The realtime loop: one WebSocket, reconnect with exponential backoff and
//! jitter, resume from the cache's cursor, apply events to the cache before
//! acknowledging them, flush the outbox over the socket, and handle 4001
//! (refresh, or signed out), 4008 (resume at once) and `resync_required`.

use crate::{
    cache,
    client::Client,
    error::{fails_only_its_chat, refused_for_now, ClientError, Result},
    events::{ClientEvent, LinkState},
};
use futures_util::{SinkExt, StreamExt};
use parley_protocol::{close, ClientFrame, ServerFrame};
use rand::Rng;
use std::{
    collections::{HashMap, HashSet},
    future::Future,
    time::Duration,
};
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message as WsMessage};

const BACKOFF_START: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// Acknowledge at most this often (acks are writes on the server).
const ACK_EVERY: Duration = Duration::from_millis(200);
const RETRY_START: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(30);
/// Nothing at all heard for this long (not even a pong): the connection is
/// dead though TCP has not noticed (a laptop that slept, a changed network,
/// a NAT that forgot it), so reconnect instead of showing "online" forever.
/// The client pings every third of it, whatever the server's own interval;
/// the server's pongs prove the path is still there.
pub(crate) const SILENCE_LIMIT: Duration = Duration::from_secs(45);
/// Longest wait for the TCP, TLS and WebSocket handshakes.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

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
    /// Reconnect at once (4008, or after a refresh); `live`: whether this
    /// connection got as far as `live` (else the next "at once" waits).
    Now { live: bool },
    /// Reconnect after backoff.
    Later(String),
    /// Reconnect after backoff: the server refused (the upgrade, or the
    /// token refresh it asked for).
    Refused(parley_protocol::Problem),
    /// An event of a kind this client knows could not be read (see
    /// [`Client::run_realtime`]).
    Unreadable { seq: u64, why: String },
}

/// Tries of the same unreadable event before giving up on it.
const UNREADABLE_TRIES: u32 = 3;

impl Client {
    /// Runs until `shutdown` resolves (then closes cleanly) or the session is
    /// signed out. Emits events on `subscribe()`.
    pub async fn run_realtime(&self, shutdown: impl Future<Output = ()>) -> Result<()> {
        tokio::pin!(shutdown);
        let mut backoff = BACKOFF_START;
        let mut quick_retry = false;
        // The event that could not be read, and how many times: never
        // acknowledged (it is not lost), but after a few tries the state is
        // reloaded over REST and the link steps over it, or one bad event
        // would keep the link down for good.
        let mut unreadable: Option<(u64, u32)> = None;
        loop {
            self.link_state(LinkState::Connecting, None, None);
            let ended = tokio::select! {
                _ = &mut shutdown => Ended::Shutdown,
                r = self.connect_once(&mut backoff) => match r {
                    Ok(e) => e,
                    Err(ClientError::SignedOut(reason)) => return Err(ClientError::SignedOut(reason)),
                    Err(ClientError::Api(p)) => Ended::Refused(p),
                    Err(e) => Ended::Later(e.to_string()),
                },
            };
            let mut code = None;
            let why = match ended {
                Ended::Shutdown => return Ok(()),
                // At once, but not twice in a row without going live (a
                // proxy that drops the token, a refresh that does not help):
                // that would spin.
                Ended::Now { live } if live || !quick_retry => {
                    quick_retry = !live;
                    continue;
                }
                Ended::Now { .. } => "reconnecting at once did not help".to_owned(),
                Ended::Later(why) => why,
                Ended::Refused(p) => {
                    code = Some(p.code.clone());
                    ClientError::Api(p).to_string()
                }
                Ended::Unreadable { seq, why } => {
                    let tries = match unreadable {
                        Some((s, n)) if s == seq => n + 1,
                        _ => 1,
                    };
                    unreadable = Some((seq, tries));
                    if tries < UNREADABLE_TRIES {
                        why
                    } else {
                        tracing::error!(seq, %why, "stepping over an event that cannot be read, after a reload");
                        // A reload that fails (offline, a refusal for now) is
                        // tried again after the backoff; only a sign-out ends
                        // the loop.
                        match self.resync().await {
                            Ok(()) => {
                                self.cache()
                                    .run(move |c| cache::advance_cursor(c, seq))
                                    .await?;
                                unreadable = None;
                                continue;
                            }
                            Err(ClientError::SignedOut(reason)) => {
                                return Err(ClientError::SignedOut(reason))
                            }
                            Err(e) => format!("reloading after an unreadable event: {e}"),
                        }
                    }
                }
            };
            quick_retry = false;
            let jitter = rand::thread_rng().gen_range(0.5..1.5);
            let wait = backoff.mul_f64(jitter);
            tracing::info!(%why, ?wait, "realtime link down; retrying");
            self.link_state(LinkState::Offline, Some(wait), Some((why, code)));
            tokio::select! {
                _ = &mut shutdown => return Ok(()),
                _ = tokio::time::sleep(wait) => {}
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
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
        let connected =
            tokio::time::timeout(CONNECT_TIMEOUT, tokio_tungstenite::connect_async(req));
        let (mut ws, _) = match connected.await {
            Err(_) => return Ok(Ended::Later("the server did not answer in time".into())),
            Ok(Ok(ok)) => ok,
            Ok(Err(tokio_tungstenite::tungstenite::Error::Http(resp))) if resp.status() == 401 => {
                self.force_refresh().await?;
                return Ok(Ended::Now { live: false });
            }
            // A refusal of the upgrade says why in a problem document.
            Ok(Err(tokio_tungstenite::tungstenite::Error::Http(resp))) => {
                let problem = resp
                    .body()
                    .as_deref()
                    .and_then(|b| serde_json::from_slice::<parley_protocol::Problem>(b).ok());
                return Ok(match problem {
                    Some(p) => Ended::Refused(p),
                    None => Ended::Later(format!("the server answered {}", resp.status())),
                });
            }
            Ok(Err(e)) => return Ok(Ended::Later(e.to_string())),
        };
        let since = self.cache().run(|c| cache::cursor(c)).await?;
        send(&mut ws, &ClientFrame::Hello { since }).await?;
        let mut applied = since;
        let mut acked = since;
        let mut live = false;
        // The message on its way (`req` -> chat); the chats held back until
        // the retry; and those whose last try failed, which keep the retry's
        // delay growing until one of their messages goes through.
        let mut in_flight: HashMap<String, String> = HashMap::new();
        let mut held = HashSet::new();
        let mut failing = HashSet::new();
        let mut ack_tick = tokio::time::interval(ACK_EVERY);
        let silence_limit = self.link_silence_limit();
        let ping_every = silence_limit / 3;
        let mut ping_tick =
            tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
        let mut last_heard = tokio::time::Instant::now();
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
                _ = ping_tick.tick() => {
                    if last_heard.elapsed() > silence_limit {
                        return Ok(Ended::Later("no answer from the server".into()));
                    }
                    // A dead path can also block the send itself (a full
                    // socket buffer): that is silence too.
                    match tokio::time::timeout(ping_every, ws.send(WsMessage::Ping(Default::default()))).await {
                        Ok(sent) => sent.map_err(|e| ClientError::Network(e.to_string()))?,
                        Err(_) => return Ok(Ended::Later("no answer from the server".into())),
                    }
                }
                _ = self.outbox_kick().notified(), if live => {
                    self.flush_ws(&mut ws, &mut in_flight, &held).await?;
                }
                () = retry.due(), if live && retry.at.is_some() => {
                    retry.at = None;
                    held.clear();
                    self.flush_ws(&mut ws, &mut in_flight, &held).await?;
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
                    last_heard = tokio::time::Instant::now();
                    let text = match msg {
                        WsMessage::Text(t) => t,
                        WsMessage::Close(frame) => {
                            let code = frame.as_ref().map(|f| u16::from(f.code)).unwrap_or(1005);
                            return match code {
                                close::TOKEN_INVALID => {
                                    self.force_refresh().await?;
                                    Ok(Ended::Now { live })
                                }
                                close::LAGGING => Ok(Ended::Now { live }),
                                other => Ok(Ended::Later(format!("closed by server ({other})"))),
                            };
                        }
                        _ => continue,
                    };
                    let frame: ServerFrame = match serde_json::from_str(&text) {
                        Ok(f) => f,
                        Err(e) => match unreadable_event(&text) {
                            // A newer server may send kinds this client does
                            // not know: step over them.
                            Some((seq, false)) => {
                                tracing::debug!(error = %e, seq, "skipping an event of an unknown kind");
                                let c = self.cache().clone();
                                c.run(move |db| cache::advance_cursor(db, seq)).await?;
                                applied = applied.max(seq);
                                continue;
                            }
                            // A kind this client knows that it cannot read:
                            // never acknowledged, so never lost; tried again
                            // after a backoff (and by a fixed client).
                            Some((seq, true)) => {
                                tracing::error!(error = %e, seq, "cannot read an event; not acknowledging it");
                                return Ok(Ended::Unreadable { seq, why: format!("cannot read event {seq}: {e}") });
                            }
                            None => {
                                tracing::debug!(error = %e, "skipping an unknown frame");
                                continue;
                            }
                        },
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
                            self.link_state(LinkState::Online, None, None);
                            self.flush_ws(&mut ws, &mut in_flight, &held).await?;
                        }
                        ServerFrame::ResyncRequired { current_seq } => {
                            self.resync().await?;
                            self.cache().run(move |c| cache::set_cursor(c, current_seq)).await?;
                            applied = current_seq;
                            acked = current_seq;
                            send(&mut ws, &ClientFrame::Hello { since: current_seq }).await?;
                        }
                        ServerFrame::Result(r) => {
                            let Some(chat) = in_flight.remove(&r.req) else {
                                continue;
                            };
                            // The next one goes when this one is settled
                            // (stored, or refused for good); one refused for
                            // now waits for the retry, and the rest with it,
                            // unless the refusal is its own (a server error
                            // on that message): then only its chat waits.
                            let next = match (r.ok, r.message, r.error) {
                                (true, Some(m), _) => {
                                    failing.remove(&chat);
                                    if failing.is_empty() {
                                        retry.accepted();
                                    }
                                    self.sent_over_ws(m).await?;
                                    true
                                }
                                (_, _, Some(p)) => {
                                    let for_now = refused_for_now(&p);
                                    let its_own = fails_only_its_chat(&p);
                                    if for_now {
                                        retry.refused();
                                    }
                                    if its_own {
                                        held.insert(chat.clone());
                                        failing.insert(chat);
                                    }
                                    self.failed_over_ws(&r.req, p).await?;
                                    !for_now || its_own
                                }
                                // Neither a message nor a reason: as if
                                // refused for now (it stays queued).
                                _ => {
                                    retry.refused();
                                    false
                                }
                            };
                            if next {
                                self.flush_ws(&mut ws, &mut in_flight, &held).await?;
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

    /// Sends the oldest queued message over the socket (`req` =
    /// `client_id`), unless one is on its way: one at a time, so they are
    /// stored in the order they were written. Sent all at once, one in the
    /// middle refused for now (the send budget, a full disk) while the ones
    /// after it were stored would reach the peer after them. Messages of
    /// the `held` chats wait (all of each such chat: its order is kept).
    async fn flush_ws<S>(
        &self,
        ws: &mut S,
        in_flight: &mut HashMap<String, String>,
        held: &HashSet<String>,
    ) -> Result<()>
    where
        S: SinkExt<WsMessage> + Unpin,
        S::Error: std::fmt::Display,
    {
        if !in_flight.is_empty() {
            return Ok(());
        }
        let held: Vec<String> = held.iter().cloned().collect();
        let next = self
            .cache()
            .run(move |c| cache::next_outbox(c, &held))
            .await?;
        if let Some(item) = next {
            in_flight.insert(item.client_id.clone(), item.chat_id.clone());
            let frame = ClientFrame::Send {
                req: item.client_id.clone(),
                chat_id: item.chat_id,
                client_id: item.client_id,
                body: item.body,
                reply_to: item.reply_to,
                attachment_ids: item.attachment_ids,
                forwarded: item.forwarded,
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
/// For an event frame that did not decode: its seq, and whether its kind is
/// one this client knows (then the frame is damaged or this client is wrong,
/// and skipping it would lose it).
fn unreadable_event(text: &str) -> Option<(u64, bool)> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    if v["type"] != "event" {
        return None;
    }
    let seq = v["seq"].as_u64()?;
    let known = v["event"]["kind"]
        .as_str()
        .is_some_and(|k| parley_protocol::Event::KINDS.contains(&k));
    Some((seq, known))
}

#[cfg(test)]
mod tests {
    use super::unreadable_event;

    /// An event of a kind this client does not know is stepped over; one of
    /// a kind it knows but cannot read is not (it would be lost).
    #[test]
    fn only_unknown_kinds_are_skipped() {
        let unknown = r#"{"type":"event","seq":7,"event":{"kind":"poll.created","poll":{}}}"#;
        assert_eq!(unreadable_event(unknown), Some((7, false)));
        let broken =
            r#"{"type":"event","seq":8,"event":{"kind":"message.created","message":{"id":1}}}"#;
        assert_eq!(unreadable_event(broken), Some((8, true)));
        assert_eq!(unreadable_event(r#"{"type":"shiny"}"#), None);
        assert_eq!(unreadable_event("not json"), None);
    }
}
