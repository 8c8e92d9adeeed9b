//! Appending events inside write jobs and handing them to the hub after commit.

use crate::{
    error::Result,
    hub,
    state::AppState,
    store::{self, Guard},
};
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
        self.append(conn, user_id, event, &json, now)
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
            self.append(conn, user_id, event, &json, now)?;
        }
        Ok(())
    }

    fn append(
        &mut self,
        conn: &Connection,
        user_id: &str,
        event: &Event,
        json: &str,
        now: i64,
    ) -> Result<u64> {
        let delivers = match event {
            Event::MessageCreated { message } if message.sender_id.as_str() != user_id => {
                Some((message.chat_id.as_str(), message.seq))
            }
            _ => None,
        };
        let seq = store::events::append(conn, user_id, json, now, delivers)?;
        self.notes.push(hub::Note {
            user_id: user_id.to_owned(),
            seq,
            frame: hub::event_frame(seq, json),
        });
        Ok(seq)
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
    write_guarded(state, Guard::Savepoint, f).await
}

/// `write` for a job that returns every error before its first write (the
/// hot paths: a send, an ack), which then needs no savepoint of its own; see
/// `store::Guard::ChecksFirst`.
pub async fn write_checks_first<T, F>(state: &AppState, f: F) -> Result<T>
where
    F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    T: Emits + Send + 'static,
{
    write_guarded(state, Guard::ChecksFirst, f).await
}

async fn write_guarded<T, F>(state: &AppState, guard: Guard, f: F) -> Result<T>
where
    F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    T: Emits + Send + 'static,
{
    let hub = state.hub.clone();
    state
        .store
        .writer
        .write_then(guard, f, move |out: &T| {
            if let Some(e) = out.emitted() {
                hub.publish(&e.notes);
            }
        })
        .await
}
