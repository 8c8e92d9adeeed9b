//! The event channel: parley-client's `ClientEvent`s, forwarded as they come.

use crate::{commands::scan::ScanState, error::CmdResult, state::EventsState};
use parley_client::ClientEvent;
use tauri::{ipc::Channel, State};

/// Registers the window's event channel (called once at UI start, and after
/// a reload). Replaces the previous one. A scan left running by the page
/// before a reload is stopped: nothing shows it any more, and the camera
/// would stay on.
#[tauri::command]
pub async fn subscribe_events(
    events: State<'_, EventsState>,
    scans: State<'_, ScanState>,
    on_event: Channel<ClientEvent>,
) -> CmdResult<()> {
    events.register(on_event);
    tokio::task::block_in_place(|| scans.stop(None));
    Ok(())
}
