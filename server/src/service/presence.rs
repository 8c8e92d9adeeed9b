//! Presence (online while any device has a socket; last seen on the last
//! disconnect) and typing. Both are ephemeral: sent only to connections'
//! live sessions, never logged.

use super::{chats::membership, Caller};
use crate::{
    error::{Error, Result},
    state::AppState,
    store::{self, ms_to_ts, now_ms},
};
use parley_protocol::{ServerFrame, UserId};
use std::sync::Arc;

fn frame(f: &ServerFrame) -> Option<Arc<str>> {
    serde_json::to_string(f).ok().map(Arc::from)
}

/// Tells `user_id`'s connections that it came online or went offline, unless
/// the user hides their last-seen state.
async fn broadcast(
    state: &AppState,
    user_id: &str,
    online: bool,
    last_seen: Option<i64>,
) -> Result<()> {
    let uid = user_id.to_owned();
    let (visible, peers) = state
        .store
        .read(move |conn| -> Result<(bool, Vec<String>)> {
            let visible =
                store::users::by_id(conn, &uid)?.is_some_and(|u| u.settings.last_seen_visible);
            let peers = store::contacts::connections_of(conn, &uid)?
                .into_iter()
                .map(|(p, _)| p)
                .collect();
            Ok((visible, peers))
        })
        .await?;
    // Still so after the read: a socket that opened (or the last one that
    // closed) meanwhile has sent, or will send, the newer state, and this
    // older one arriving after it would leave contacts seeing it wrong.
    if visible && state.hub.is_online(user_id) == online {
        send(state, user_id, &peers, online, last_seen);
    }
    Ok(())
}

fn send(state: &AppState, user_id: &str, peers: &[String], online: bool, last_seen: Option<i64>) {
    let Some(f) = frame(&ServerFrame::Presence {
        user_id: UserId(user_id.to_owned()),
        online,
        last_seen_at: last_seen.map(ms_to_ts),
    }) else {
        return;
    };
    for p in peers {
        state.hub.send_ephemeral(p, f.clone());
    }
}

/// The user deleted their account: those who were their contacts see them
/// offline, with no last seen.
pub fn gone(state: &AppState, user_id: &str, peers: &[String]) {
    send(state, user_id, peers, false, None);
}

/// The user hid or showed their last seen: their connections' view changes
/// now, not at their next connect or disconnect. Hidden shows as offline
/// with no last seen (as `GET /v1/connections` shows it), which before this
/// left contacts showing them online; shown, as they are.
pub async fn visibility_changed(state: &AppState, user_id: &str, visible: bool) {
    let uid = user_id.to_owned();
    let read = state
        .store
        .read(move |conn| -> Result<(Option<i64>, Vec<String>)> {
            let peers = store::contacts::connections_of(conn, &uid)?
                .into_iter()
                .map(|(p, _)| p)
                .collect();
            Ok((store::contacts::last_seen(conn, &uid)?, peers))
        })
        .await;
    let (last_seen, peers) = match read {
        Ok(r) => r,
        Err(e) => return tracing::warn!(error = %e, "presence broadcast failed"),
    };
    let online = visible && state.hub.is_online(user_id);
    let last_seen = if visible && !online { last_seen } else { None };
    send(state, user_id, &peers, online, last_seen);
}

/// The user's first socket opened.
pub async fn went_online(state: &AppState, user_id: &str) {
    if let Err(e) = broadcast(state, user_id, true, None).await {
        tracing::warn!(error = %e, "presence broadcast failed");
    }
}

/// The user's last socket closed: record last seen, tell connections.
pub async fn went_offline(state: &AppState, caller: &Caller) {
    let now = now_ms();
    let did = caller.device_id.clone();
    if let Err(e) = state
        .store
        .write(move |conn| store::auth::touch_device(conn, &did, now).map_err(Error::from))
        .await
    {
        tracing::warn!(error = %e, "recording last seen failed");
    }
    // Another socket may have opened meanwhile.
    if state.hub.is_online(&caller.user_id) {
        return;
    }
    if let Err(e) = broadcast(state, &caller.user_id, false, Some(now)).await {
        tracing::warn!(error = %e, "presence broadcast failed");
    }
}

/// Relays a typing indicator to the chat's peer; refused, as a send there
/// would be, once they are no longer a contact (`not_connected`).
pub async fn typing(state: &AppState, caller: &Caller, chat_id: &str, active: bool) -> Result<()> {
    let (uid, cid) = (caller.user_id.clone(), chat_id.to_owned());
    let peer = state
        .store
        .read(move |conn| -> Result<String> {
            let me = membership(conn, &cid, &uid)?;
            super::chats::ensure_connected(conn, &uid, &me.peer_id)?;
            Ok(me.peer_id)
        })
        .await?;
    if let Some(f) = frame(&ServerFrame::Typing {
        chat_id: chat_id.to_owned(),
        user_id: UserId(caller.user_id.clone()),
        active,
    }) {
        state.hub.send_ephemeral(&peer, f);
    }
    Ok(())
}
