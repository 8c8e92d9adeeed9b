//! The event channel: parley-client's `ClientEvent`s, forwarded as they come.

use crate::state::EventsState;
use parley_client::ClientEvent;
use tauri::{ipc::Channel, State};

/// Registers the window's event channel (called once at UI start, and after
/// a reload). Replaces the previous one.
#[tauri::command]
pub fn subscribe_events(events: State<'_, EventsState>, on_event: Channel<ClientEvent>) {
    events.register(on_event);
}
