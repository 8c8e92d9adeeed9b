//! Appending events inside write jobs and handing them to the hub after commit.

use crate::{error::Result, hub, state::AppState, store};
use parley_protocol::Event;
use rusqlite::Connection;

/// Collects the events a write job appends, so the caller can publish them once
/// the job's batch has committed (never before: a published event must exist in
/// the log).
#[derive(Default)]
#[must_use = "publish the emitted events after the write commits"]
pub struct Emitted {
    notes: Vec<hub::Note>,
}

impl Emitted {
    /// Appends `event` to `user_id`'s log in the current transaction.
    pub fn emit(
        &mut self,
        conn: &Connection,
        user_id: &str,
        event: &Event,
        now: i64,
    ) -> Result<u64> {
        let json = serde_json::to_string(event).map_err(crate::error::Error::internal)?;
        let seq = store::events::append(conn, user_id, &json, now)?;
        self.notes.push(hub::Note {
            user_id: user_id.to_owned(),
            seq,
            frame: hub::event_frame(seq, &json),
        });
        Ok(seq)
    }

    /// Appends the same event to several users' logs, serialising it once.
    pub fn emit_all(
        &mut self,
        conn: &Connection,
        user_ids: &[&str],
        event: &Event,
        now: i64,
    ) -> Result<()> {
        let json = serde_json::to_string(event).map_err(crate::error::Error::internal)?;
        for user_id in user_ids {
            let seq = store::events::append(conn, user_id, &json, now)?;
            self.notes.push(hub::Note {
                user_id: (*user_id).to_owned(),
                seq,
                frame: hub::event_frame(seq, &json),
            });
        }
        Ok(())
    }

    /// Hands the committed events to the hub.
    pub fn publish(self, state: &AppState) {
        state.hub.publish(&self.notes);
    }
}
