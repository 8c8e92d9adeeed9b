//! Carrying out, in a running server, what an operator did with
//! `parley-server admin` from another process: that process cannot reach the
//! hub, so it records the action in the database and [`watch`] polls for it.

use crate::{error::Error, state::AppState, store};
use parley_protocol::close;
use std::time::Duration;

/// How often the server looks for new admin actions: "at once" for an operator.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Actions are pruned once this old (long since noticed).
const KEEP_MS: i64 = 86_400_000;

/// Polls `admin_actions` and closes the sockets of disabled accounts and
/// revoked devices. Runs for the life of the server.
pub async fn watch(state: AppState) {
    let mut last = match state
        .store
        .read(|conn| store::admin::last_action_id(conn).map_err(Error::from))
        .await
    {
        Ok(id) => id,
        Err(e) => {
            tracing::warn!(error = %e, "admin watch: cannot read admin actions; disabled");
            return;
        }
    };
    let mut tick = tokio::time::interval(POLL_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut polls: u64 = 0;
    loop {
        tick.tick().await;
        polls += 1;
        let after = last;
        let actions = match state
            .store
            .read(move |conn| store::admin::actions_after(conn, after).map_err(Error::from))
            .await
        {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "admin watch: reading admin actions failed");
                continue;
            }
        };
        for a in actions {
            last = last.max(a.id);
            match a.action.as_str() {
                store::admin::ACTION_DISABLE_USER => {
                    tracing::info!(user_id = %a.target, "account disabled by the operator; closing its sockets");
                    state.hub.close_user(&a.target, close::TOKEN_INVALID);
                }
                store::admin::ACTION_REVOKE_DEVICE => {
                    tracing::info!(device_id = %a.target, "device revoked by the operator; closing its sockets");
                    state.hub.close_device(&a.target, close::TOKEN_INVALID);
                    // The command appended `device.revoked` to the owner's log;
                    // their other devices read it now rather than on reconnect.
                    let device = a.target.clone();
                    match state
                        .store
                        .read(move |conn| {
                            store::auth::device_state(conn, &device).map_err(Error::from)
                        })
                        .await
                    {
                        Ok(Some(d)) => state.hub.catch_up(&d.user_id),
                        Ok(None) => {}
                        Err(e) => {
                            tracing::warn!(error = %e, "admin watch: looking up a revoked device failed")
                        }
                    }
                }
                _ => {}
            }
        }
        if polls.is_multiple_of(3600) {
            let cutoff = store::now_ms() - KEEP_MS;
            if let Err(e) = state
                .store
                .write(move |conn| store::admin::prune_actions(conn, cutoff).map_err(Error::from))
                .await
            {
                tracing::warn!(error = %e, "admin watch: pruning admin actions failed");
            }
        }
    }
}
