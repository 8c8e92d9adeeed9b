//! Appending events inside write jobs and handing them to the hub after commit.

use crate::{error::Result, hub, state::AppState, store};
use parley_protocol::Event;
use rusqlite::Connection;

/// Collects the events a write job appends, published once the job's batch
/// has committed (never before: a published event must exist in the log) by
/// `write`.
#[derive(Default)]
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
}

/// What a write job that emits events hands back: its result and the events.
pub trait Emits {
    fn emitted(&self) -> Option<&Emitted>;
}

impl Emits for Emitted {
    fn emitted(&self) -> Option<&Emitted> {
        Some(self)
    }
}

impl<A> Emits for (A, Emitted) {
    fn emitted(&self) -> Option<&Emitted> {
        Some(&self.1)
    }
}

impl<A, B> Emits for (A, B, Emitted) {
    fn emitted(&self) -> Option<&Emitted> {
        Some(&self.2)
    }
}

/// Runs a write job that appends events, and hands them to the hub as soon as
/// they are committed, from the writer thread. Events therefore reach the hub
/// in log order: published from the callers' tasks (woken in any order), a
/// user's events often arrived out of order, and each session then filled the
/// apparent gap from the database.
pub async fn write<T, F>(state: &AppState, f: F) -> Result<T>
where
    F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    T: Emits + Send + 'static,
{
    let hub = state.hub.clone();
    state
        .store
        .write_then(f, move |out: &T| {
            if let Some(e) = out.emitted() {
                hub.publish(&e.notes);
            }
        })
        .await
}
