//! The tray icon: the unread count next to it (where the desktop shows tray
//! titles, as GNOME/KDE appindicators and the macOS menu bar do; elsewhere
//! in its tooltip), a click to bring the window back, and Quit.

use tauri::{
    menu::{Menu, MenuItem},
    tray::{MouseButton, MouseButtonState, TrayIconBuilder, TrayIconEvent},
    AppHandle, Manager, Runtime,
};

/// The id of Parley's one tray icon.
const TRAY_ID: &str = "parley";

/// Shows the main window, unminimised and focused.
fn show_main<R: Runtime>(app: &AppHandle<R>) {
    if let Some(w) = app.get_webview_window("main") {
        let _ = w.unminimize();
        let _ = w.show();
        let _ = w.set_focus();
    }
}

/// Creates the tray icon with its menu.
pub fn create<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<()> {
    let open = MenuItem::with_id(app, "open", "Open Parley", true, None::<&str>)?;
    let quit = MenuItem::with_id(app, "quit", "Quit", true, None::<&str>)?;
    let menu = Menu::with_items(app, &[&open, &quit])?;
    let mut builder = TrayIconBuilder::with_id(TRAY_ID)
        .tooltip("Parley")
        .menu(&menu)
        .show_menu_on_left_click(false)
        .on_menu_event(|app, event| match event.id().as_ref() {
            "open" => show_main(app),
            // The drafts are written first (`leave`, on the exit request).
            "quit" => app.exit(0),
            _ => {}
        })
        .on_tray_icon_event(|tray, event| {
            if let TrayIconEvent::Click {
                button: MouseButton::Left,
                button_state: MouseButtonState::Up,
                ..
            } = event
            {
                show_main(tray.app_handle());
            }
        });
    if let Some(icon) = app.default_window_icon() {
        builder = builder.icon(icon.clone());
    }
    builder.build(app)?;
    Ok(())
}

/// What the tray says for an unread count: nothing, or the count.
pub fn badge_for(count: u32) -> Option<String> {
    match count {
        0 => None,
        1..=99 => Some(count.to_string()),
        _ => Some("99+".to_owned()),
    }
}

/// Puts the unread count on the tray icon (a no-op without one).
pub fn set_unread<R: Runtime>(app: &AppHandle<R>, count: u32) -> tauri::Result<()> {
    let Some(tray) = app.tray_by_id(TRAY_ID) else {
        return Ok(());
    };
    let badge = badge_for(count);
    tray.set_title(badge.as_deref())?;
    let tooltip = match &badge {
        None => "Parley".to_owned(),
        Some(b) => format!("Parley: {b} unread"),
    };
    tray.set_tooltip(Some(tooltip))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_badge_is_the_count_capped_at_99() {
        assert_eq!(badge_for(0), None);
        assert_eq!(badge_for(7).as_deref(), Some("7"));
        assert_eq!(badge_for(99).as_deref(), Some("99"));
        assert_eq!(badge_for(100).as_deref(), Some("99+"));
    }
}
