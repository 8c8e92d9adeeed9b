//! `GET /v1/ws`: the WebSocket session loop.
//!
//! A session says `hello{since}`, gets every event of its user's log after
//! `since` (replay, read from the database), then `live`, then events as they
//! commit (from the hub). The hub queue is only an optimisation: a gap in live
//! delivery is filled from the log, a lagging session is closed with 4008 and
//! resumes from its cursor. Memory per session is bounded by the queue and the
//! frame size whatever the client does.

use crate::{
    error::Error,
    hub::{event_frame, Outbound, Session},
    service::{self, Caller},
    state::AppState,
    store,
};
use axum::{
    extract::{
        ws::rejection::WebSocketUpgradeRejection,
        ws::{CloseFrame, Message as WsMessage, Utf8Bytes, WebSocket},
        State, WebSocketUpgrade,
    },
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use futures_util::{
    stream::{FuturesUnordered, SplitSink, SplitStream},
    FutureExt, SinkExt, StreamExt,
};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use parley_protocol::{close, limits, ClientFrame, SendMessage, SendResult, ServerFrame};
use std::{future::Future, pin::Pin};
use std::{num::NonZeroU32, sync::Arc, time::Duration};
use tokio::{sync::mpsc, time::Instant};

/// Time allowed for the first `hello`.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// A write blocked this long means the client stopped reading: drop it.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Events read from the log per replay query.
const REPLAY_BATCH: u32 = 500;
/// Shortest spacing of typing relays per session.
const TYPING_SPACING: Duration = Duration::from_millis(500);
/// `send` frames one socket may have waiting for their commit; past this the
/// session stops reading (TCP backpressure) until results go out.
const SENDS_IN_FLIGHT: usize = 64;
/// `req` of a `send`: 1..=64 characters.
const REQ_MAX: usize = 64;
/// Shortest spacing of one session's stored acks. A client acks as events
/// arrive; in a busy chat, storing each one meant a write job and a
/// `receipt.updated` event for the sender per batch of messages. Acks that
/// come closer together are coalesced into the newest (the first one after a
/// quiet moment is stored at once), so delivered ticks lag by at most this.
const ACK_SPACING: Duration = Duration::from_millis(50);
/// Frames already waiting (events, results) written with one flush at most:
/// one `send` system call per frame was a sixth of the server's time under
/// load.
const FLUSH_BATCH: usize = 64;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/ws", get(upgrade))
}

async fn upgrade(
    State(state): State<AppState>,
    caller: Caller,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let ws = match ws {
        Ok(ws) => ws,
        Err(e) => return Error::bad_request("not_websocket", e.body_text()).into_response(),
    };
    // Each socket holds buffers and a queue, and its hello may replay the
    // whole retained log: one token may not open them without end. Refused
    // rather than closing an older one, so that two processes of one
    // device never take turns knocking each other off.
    let most = state.config.ws_per_device as usize;
    if state.hub.device_sockets(&caller.user_id, &caller.device_id) >= most {
        return Error::TooManyRequests {
            code: "too_many_connections",
            detail: format!("this device has {most} WebSockets open already; close one"),
            retry_after: 60,
        }
        .into_response();
    }
    ws.max_message_size(limits::WS_FRAME_MAX_BYTES)
        .max_frame_size(limits::WS_FRAME_MAX_BYTES)
        // tungstenite's defaults (128 KiB each) dominate idle-socket memory;
        // frames are small, buffers grow on demand.
        .read_buffer_size(4 * 1024)
        .write_buffer_size(4 * 1024)
        .max_write_buffer_size(limits::WS_FRAME_MAX_BYTES * 4)
        .on_upgrade(move |socket| session(state, caller, socket))
}

type Sink = SplitSink<WebSocket, WsMessage>;
type Stream = SplitStream<WebSocket>;

/// How a session ended.
enum End {
    /// The client went away (or closed); nothing to send.
    Gone,
    /// Close with this code and reason.
    Close(u16, &'static str),
}

async fn session(state: AppState, caller: Caller, socket: WebSocket) {
    let (mut sink, mut stream) = socket.split();
    let most = state.config.ws_per_device as usize;
    // The upgrade checked the cap already; this is the check that holds
    // when many sockets are opened at once (1013: try again later).
    let Some((sess, mut rx)) = state
        .hub
        .register_within(&caller.user_id, &caller.device_id, most)
    else {
        let frame = CloseFrame {
            code: close::TRY_AGAIN_LATER,
            reason: Utf8Bytes::from_static("too many connections for this device"),
        };
        let _ = tokio::time::timeout(
            Duration::from_secs(2),
            sink.send(WsMessage::Close(Some(frame))),
        )
        .await;
        return;
    };
    let end = run(&state, &caller, &sess, &mut rx, &mut sink, &mut stream).await;
    if let End::Close(code, reason) = end {
        let frame = CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        };
        let _ = tokio::time::timeout(
            Duration::from_secs(2),
            sink.send(WsMessage::Close(Some(frame))),
        )
        .await;
    }
    let t = state.hub.unregister(&sess);
    if t.changed {
        service::presence::went_offline(&state, &caller).await;
    }
}

/// Stores a device's ack (and the delivered receipts it implies) on its own
/// task, so it completes even if the session ends first; the returned future
/// resolves when it is stored and at least [`ACK_SPACING`] after it started,
/// which spaces the session's next ack.
fn store_ack(
    state: &AppState,
    caller: &Caller,
    up_to: u64,
) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    let (state, caller) = (state.clone(), caller.clone());
    let task = tokio::spawn(async move {
        if let Err(e) = service::chats::ack(&state, &caller, up_to).await {
            tracing::warn!(error = %e, "storing ack failed");
        }
    });
    let spacing = tokio::time::sleep(ACK_SPACING);
    Box::pin(async move {
        let _ = task.await;
        spacing.await;
    })
}

/// The ack waiting behind the one being stored; stored even when the session
/// ends before its turn (a client that acks and closes loses nothing).
struct WaitingAck<'a> {
    state: &'a AppState,
    caller: &'a Caller,
    up_to: Option<u64>,
}

impl Drop for WaitingAck<'_> {
    fn drop(&mut self) {
        if let Some(up_to) = self.up_to.take() {
            drop(store_ack(self.state, self.caller, up_to));
        }
    }
}

/// Sends one text frame, giving up if the client does not read.
async fn send_text(sink: &mut Sink, text: &str) -> Result<(), End> {
    feed_text(sink, text).await?;
    flush(sink).await
}

/// Queues one text frame without flushing (it is written once the write
/// buffer fills, or by `flush`), giving up if the client does not read.
async fn feed_text(sink: &mut Sink, text: &str) -> Result<(), End> {
    within_send_timeout(sink.feed(WsMessage::Text(Utf8Bytes::from(text)))).await
}

async fn flush(sink: &mut Sink) -> Result<(), End> {
    within_send_timeout(sink.flush()).await
}

async fn within_send_timeout<E>(write: impl Future<Output = Result<(), E>>) -> Result<(), End> {
    match tokio::time::timeout(SEND_TIMEOUT, write).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(End::Gone),
        Err(_) => Err(End::Close(close::LAGGING, "lagging")),
    }
}

async fn feed_frame(sink: &mut Sink, frame: &ServerFrame) -> Result<(), End> {
    let text = serde_json::to_string(frame).map_err(|_| End::Close(1011, "internal error"))?;
    feed_text(sink, &text).await
}

async fn send_frame(sink: &mut Sink, frame: &ServerFrame) -> Result<(), End> {
    feed_frame(sink, frame).await?;
    flush(sink).await
}

/// What a text frame held.
enum Incoming {
    Frame(ClientFrame),
    /// JSON of an answerable kind (`send`, with its `req`; `read`; `typing`)
    /// that is not a valid frame of it: a wrong type, a missing field. It is
    /// refused with a problem naming the field, as a REST body would be,
    /// and the connection is kept: closing it would cost the client the
    /// results of every other send on their way for one bad frame.
    Unfit {
        /// The `send`'s `req` (a `result` answers it), or none (an `error`
        /// frame does).
        req: Option<String>,
        error: Error,
    },
}

/// What `text`, which is not a valid frame, was: [`Incoming::Unfit`] if it
/// can be answered, else `None` (the session closes with 4009).
fn unfit(text: &str, e: &serde_json::Error) -> Option<Incoming> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let kind = v.get("type")?.as_str()?;
    let req = match kind {
        "send" => Some(v.get("req")?.as_str()?.to_owned()),
        "read" | "typing" => None,
        _ => return None,
    };
    Some(Incoming::Unfit {
        req,
        error: Error::unprocessable("invalid_body", format!("{kind} frame: {e}")),
    })
}

/// Reads the next client frame, or says how the session ends.
async fn next_frame(stream: &mut Stream) -> Result<Option<Incoming>, End> {
    match stream.next().await {
        None | Some(Ok(WsMessage::Close(_))) => Err(End::Gone),
        Some(Err(e)) => {
            let text = e.to_string();
            if text.contains("too long") || text.contains("Space limit") || text.contains("size") {
                Err(End::Close(close::PROTOCOL_VIOLATION, "frame too large"))
            } else {
                Err(End::Gone)
            }
        }
        Some(Ok(WsMessage::Text(t))) => match serde_json::from_str::<ClientFrame>(t.as_str()) {
            Ok(f) => Ok(Some(Incoming::Frame(f))),
            Err(e) => unfit(t.as_str(), &e)
                .map(Some)
                .ok_or(End::Close(close::PROTOCOL_VIOLATION, "malformed frame")),
        },
        Some(Ok(WsMessage::Binary(_))) => Err(End::Close(
            close::PROTOCOL_VIOLATION,
            "binary frames are not used",
        )),
        Some(Ok(_)) => Ok(None), // ping/pong: liveness only
    }
}

async fn run(
    state: &AppState,
    caller: &Caller,
    sess: &Arc<Session>,
    rx: &mut mpsc::Receiver<Outbound>,
    sink: &mut Sink,
    stream: &mut Stream,
) -> End {
    match serve(state, caller, sess, rx, sink, stream).await {
        Ok(()) => End::Gone,
        Err(end) => end,
    }
}

async fn serve(
    state: &AppState,
    caller: &Caller,
    sess: &Arc<Session>,
    rx: &mut mpsc::Receiver<Outbound>,
    sink: &mut Sink,
    stream: &mut Stream,
) -> Result<(), End> {
    let mut cursor = hello(state, caller, sink, stream).await?;
    // Online from the hello on, not from the upgrade: a socket opened and
    // left silent is nobody being there (see `Hub::greet`).
    if state.hub.greet(sess).changed {
        service::presence::went_online(state, &caller.user_id).await;
    }
    // A revocation (or sign-out, or a disabled account) that came while the
    // socket waited for its hello or replays is honoured before any event
    // goes out, not only once live.
    closing(sess)?;
    // Replay from the log until caught up, then go live and read once more to
    // cover events committed while switching.
    catch_up(state, caller, sess, sink, &mut cursor).await?;
    sess.go_live();
    catch_up(state, caller, sess, sink, &mut cursor).await?;
    send_frame(sink, &ServerFrame::Live).await?;

    let quota = Quota::per_second(NonZeroU32::new(state.config.ws_rate).unwrap_or(NonZeroU32::MIN))
        .allow_burst(
            NonZeroU32::new(state.config.ws_rate.saturating_mul(2)).unwrap_or(NonZeroU32::MIN),
        );
    let limiter: DefaultDirectRateLimiter = RateLimiter::direct(quota);
    // A socket that sent nothing (not even a pong) for `idle_limit` is
    // closed; pings every third of it keep a live one from going silent.
    let idle_limit = Duration::from_secs(state.config.ws_idle_timeout);
    let ping_every = idle_limit / 3;
    let mut ping = tokio::time::interval_at(Instant::now() + ping_every, ping_every);
    let mut last_heard = Instant::now();
    // Fires when the socket may have been silent for `idle_limit`; it is moved
    // on (not closed) if something was heard meanwhile. Checking only at the
    // pings closed a silent socket up to a ping interval late, and resetting
    // a timer on every frame would cost the hot path.
    let idle = tokio::time::sleep(idle_limit);
    tokio::pin!(idle);
    let mut last_typing = Instant::now() - TYPING_SPACING;
    // The chat whose "typing" was relayed last (a stop there goes at once).
    let mut typing_in: Option<String> = None;
    let mut acked: u64 = 0;
    let mut sends: FuturesUnordered<Pin<Box<dyn Future<Output = SendResult> + Send>>> =
        FuturesUnordered::new();
    // Acks are stored off the loop (a write waits for a group commit, and
    // events must keep flowing meanwhile), one at a time: a newer ack that
    // arrives while one is being stored replaces any other waiting one.
    let mut ack_storing: Option<Pin<Box<dyn Future<Output = ()> + Send>>> = None;
    let mut ack_waiting = WaitingAck {
        state,
        caller,
        up_to: None,
    };
    loop {
        tokio::select! {
            biased;
            _ = sess.wake.notified() => closing(sess)?,
            out = rx.recv() => {
                let Some(out) = out else { return Ok(()) };
                forward(state, caller, sess, sink, &mut cursor, out).await?;
                // Whatever else is already queued goes out with one flush.
                for _ in 1..FLUSH_BATCH {
                    let Ok(out) = rx.try_recv() else { break };
                    forward(state, caller, sess, sink, &mut cursor, out).await?;
                }
                flush(sink).await?;
            }
            () = async { if let Some(f) = ack_storing.as_mut() { f.await } }, if ack_storing.is_some() => {
                ack_storing = ack_waiting.up_to.take().map(|up_to| store_ack(state, caller, up_to));
            }
            Some(result) = sends.next(), if !sends.is_empty() => {
                feed_frame(sink, &ServerFrame::Result(Box::new(result))).await?;
                for _ in 1..FLUSH_BATCH {
                    let Some(Some(result)) = sends.next().now_or_never() else { break };
                    feed_frame(sink, &ServerFrame::Result(Box::new(result))).await?;
                }
                flush(sink).await?;
            }
            frame = next_frame(stream), if sends.len() < SENDS_IN_FLIGHT => {
                last_heard = Instant::now();
                let frame = match frame? {
                    None => continue,
                    Some(Incoming::Frame(f)) => f,
                    Some(Incoming::Unfit { req, error }) => {
                        let problem = error.to_problem();
                        let frame = match req {
                            Some(req) => ServerFrame::Result(Box::new(SendResult { req, ok: false, message: None, error: Some(problem) })),
                            None => ServerFrame::Error { error: problem },
                        };
                        send_frame(sink, &frame).await?;
                        continue;
                    }
                };
                match frame {
                    ClientFrame::Hello { .. } => {
                        return Err(End::Close(close::PROTOCOL_VIOLATION, "hello sent twice"));
                    }
                    ClientFrame::Ack { up_to } => {
                        if up_to > acked && up_to <= cursor {
                            acked = up_to;
                            if ack_storing.is_none() {
                                ack_storing = Some(store_ack(state, caller, up_to));
                            } else {
                                ack_waiting.up_to = Some(up_to);
                            }
                        }
                    }
                    ClientFrame::Send { req, chat_id, client_id, body, reply_to, attachment_ids, forwarded } => {
                        let early = if req.is_empty() || req.chars().count() > REQ_MAX {
                            Some(Error::unprocessable("invalid_field", "req: must be 1 to 64 characters"))
                        } else if limiter.check().is_err() {
                            Some(Error::TooManyRequests {
                                code: "rate_limited",
                                detail: "sending too fast; slow down".into(),
                                retry_after: 1,
                            })
                        } else {
                            None
                        };
                        match early {
                            Some(e) => {
                                let frame = SendResult { req, ok: false, message: None, error: Some(e.to_problem()) };
                                send_frame(sink, &ServerFrame::Result(Box::new(frame))).await?;
                            }
                            None => {
                                // Sends run concurrently (up to SENDS_IN_FLIGHT
                                // per socket) so one client's messages share
                                // group commits instead of waiting in line.
                                let (state, caller) = (state.clone(), caller.clone());
                                let msg = SendMessage { client_id, body, reply_to, attachment_ids, forwarded };
                                sends.push(Box::pin(async move {
                                    let result = service::messages::send(&state, &caller, &chat_id, msg).await;
                                    match result {
                                        Ok((message, _)) => SendResult { req, ok: true, message: Some(message), error: None },
                                        Err(e) => {
                                            log_internal(&e);
                                            SendResult { req, ok: false, message: None, error: Some(e.to_problem()) }
                                        }
                                    }
                                }));
                            }
                        }
                    }
                    ClientFrame::Read { chat_id, up_to_seq } => {
                        let result = if limiter.check().is_err() {
                            Err(Error::TooManyRequests {
                                code: "rate_limited",
                                detail: "too many frames; slow down".into(),
                                retry_after: 1,
                            })
                        } else {
                            service::chats::read(state, caller, &chat_id, up_to_seq).await
                        };
                        if let Err(e) = result {
                            log_internal(&e);
                            send_frame(sink, &ServerFrame::Error { error: e.to_problem() }).await?;
                        }
                    }
                    ClientFrame::Typing { chat_id, active } => {
                        // Extra typing frames are dropped silently: they carry
                        // no information a receiver needs. A stop right after
                        // a start is relayed at once; a flood of either is not.
                        let stops_shown = !active && typing_in.as_deref() == Some(chat_id.as_str());
                        if last_typing.elapsed() >= TYPING_SPACING || stops_shown {
                            last_typing = Instant::now();
                            typing_in = active.then(|| chat_id.clone());
                            if let Err(e) = service::presence::typing(state, caller, &chat_id, active).await {
                                send_frame(sink, &ServerFrame::Error { error: e.to_problem() }).await?;
                            }
                        }
                    }
                }
            }
            () = &mut idle => {
                if last_heard.elapsed() >= idle_limit {
                    return Err(End::Close(1000, "idle"));
                }
                idle.as_mut().reset(last_heard + idle_limit);
            }
            _ = ping.tick() => {
                let sent = tokio::time::timeout(SEND_TIMEOUT, sink.send(WsMessage::Ping(Default::default()))).await;
                if !matches!(sent, Ok(Ok(()))) {
                    return Err(End::Gone);
                }
            }
        }
    }
}

/// Queues one frame from the hub (unflushed). An event is sent once, in log
/// order: one already sent is skipped, and a gap before it is filled from the
/// log first.
async fn forward(
    state: &AppState,
    caller: &Caller,
    sess: &Session,
    sink: &mut Sink,
    cursor: &mut u64,
    out: Outbound,
) -> Result<(), End> {
    match out {
        Outbound::Event { seq, frame } => {
            if seq <= *cursor {
                return Ok(());
            }
            if seq > *cursor + 1 {
                crate::metrics::get().ws_gap_fills.inc();
            }
            while seq > *cursor + 1 {
                if replay(state, caller, sink, cursor, seq - 1).await? == 0 {
                    break;
                }
            }
            feed_text(sink, &frame).await?;
            *cursor = seq;
        }
        Outbound::Ephemeral(frame) => feed_text(sink, &frame).await?,
        Outbound::CatchUp => catch_up(state, caller, sess, sink, cursor).await?,
    }
    Ok(())
}

fn log_internal(e: &Error) {
    if matches!(e, Error::Internal(_) | Error::Store(_)) {
        tracing::error!(error = %e, "internal error in WebSocket frame");
    }
}

/// The session's end, if the hub asked for one (lagging, revoked, shutdown).
fn closing(sess: &Session) -> Result<(), End> {
    match sess.close_requested() {
        None => Ok(()),
        Some(code) => Err(End::Close(
            code,
            match code {
                close::LAGGING => "lagging",
                close::TOKEN_INVALID => "revoked",
                _ => "server shutting down",
            },
        )),
    }
}

/// Waits for `hello{since}`; answers `resync_required` while `since` is outside
/// the retained log, and waits for the next hello. Returns the cursor.
///
/// Each hello has [`HELLO_TIMEOUT`] from the start of the wait: pings do
/// not extend it (they did, so a socket could sit before its hello for
/// hours). The device is checked again here: it was checked at the
/// upgrade, but a revocation that landed before the socket joined the hub
/// was never told to it.
async fn hello(
    state: &AppState,
    caller: &Caller,
    sink: &mut Sink,
    stream: &mut Stream,
) -> Result<u64, End> {
    for _ in 0..3 {
        let deadline = tokio::time::Instant::now() + HELLO_TIMEOUT;
        let frame = loop {
            match tokio::time::timeout_at(deadline, next_frame(stream)).await {
                Err(_) => return Err(End::Close(close::PROTOCOL_VIOLATION, "no hello")),
                Ok(r) => match r? {
                    Some(Incoming::Frame(f)) => break f,
                    Some(Incoming::Unfit { .. }) => {
                        return Err(End::Close(close::PROTOCOL_VIOLATION, "expected hello"))
                    }
                    None => {}
                },
            }
        };
        let ClientFrame::Hello { since } = frame else {
            return Err(End::Close(close::PROTOCOL_VIOLATION, "expected hello"));
        };
        let (uid, did) = (caller.user_id.clone(), caller.device_id.clone());
        let (live, current, oldest) = state
            .store
            .read(move |conn| -> Result<(bool, u64, Option<u64>), Error> {
                let live = store::auth::device_state(conn, &did)?
                    .is_some_and(|d| !d.revoked && !d.user_disabled);
                Ok((
                    live,
                    store::events::current_seq(conn, &uid)?,
                    store::events::oldest_seq(conn, &uid)?,
                ))
            })
            .await
            .map_err(|_| End::Close(1011, "internal error"))?;
        if !live {
            return Err(End::Close(close::TOKEN_INVALID, "revoked"));
        }
        let retained =
            since == current || (since < current && oldest.is_some_and(|o| o <= since + 1));
        if retained {
            return Ok(since);
        }
        send_frame(
            sink,
            &ServerFrame::ResyncRequired {
                current_seq: current,
            },
        )
        .await?;
    }
    Err(End::Close(close::PROTOCOL_VIOLATION, "too many resyncs"))
}

/// Sends every log event after `cursor`, batch by batch.
async fn catch_up(
    state: &AppState,
    caller: &Caller,
    sess: &Session,
    sink: &mut Sink,
    cursor: &mut u64,
) -> Result<(), End> {
    while replay(state, caller, sink, cursor, u64::MAX).await? == REPLAY_BATCH as usize {
        closing(sess)?;
    }
    closing(sess)
}

/// Sends log events after `cursor` up to `until`, one batch; returns how many.
async fn replay(
    state: &AppState,
    caller: &Caller,
    sink: &mut Sink,
    cursor: &mut u64,
    until: u64,
) -> Result<usize, End> {
    let (uid, after) = (caller.user_id.clone(), *cursor);
    let batch = state
        .store
        .read(move |conn| {
            store::events::after(conn, &uid, after, REPLAY_BATCH).map_err(Error::from)
        })
        .await
        .map_err(|_| End::Close(1011, "internal error"))?;
    let n = batch.len();
    for (seq, payload) in batch {
        if seq > until {
            break;
        }
        send_text(sink, &event_frame(seq, &payload)).await?;
        *cursor = seq;
    }
    Ok(n)
}
