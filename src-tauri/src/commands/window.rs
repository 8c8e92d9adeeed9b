//! Desktop manners of the main window: the unread count in its title and on
//! the tray icon.

use crate::error::{CmdResult, CommandError};
use serde::Deserialize;
use tauri::Manager;

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct UnreadArgs {
    /// Unread messages over all chats.
    pub count: u32,
}

/// The window title for an unread count: "Parley", or "Parley (3)".
pub fn title_for(count: u32) -> String {
    if count == 0 {
        "Parley".to_owned()
    } else {
        format!("Parley ({count})")
    }
}

/// Shows the unread count in the main window's title and on the tray icon; returns the title
/// (the UI sets it as the document title too).
#[tauri::command]
pub fn set_unread(app: tauri::AppHandle, args: UnreadArgs) -> CmdResult<String> {
    let title = title_for(args.count);
    if let Some(w) = app.get_webview_window("main") {
        w.set_title(&title)
            .map_err(|e| CommandError::new("local", e.to_string()))?;
    }
    if let Err(e) = crate::tray::set_unread(&app, args.count) {
        tracing::debug!(error = %e, "tray badge not updated");
    }
    Ok(title)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_shows_the_unread_count() {
        assert_eq!(title_for(0), "Parley");
        assert_eq!(title_for(3), "Parley (3)");
    }
}
