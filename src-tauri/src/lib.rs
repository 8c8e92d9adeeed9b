//! parley-desktop: the Tauri 2 shell of Parley. Thin by design: commands
//! (`commands/<feature>.rs`) call parley-client, and parley-client's events go
//! to the window through one typed channel the UI registers at start.
//!
//! Never: keep business rules or chat state here (parley-client and its cache
//! own them), or talk to the server other than through parley-client.

pub mod bindings;
pub mod commands;
pub mod error;
pub mod leave;
pub mod notify;
pub mod state;
pub mod tray;

use leave::LeaveState;
use state::{EventsState, ProfileState, SessionState};
use std::path::PathBuf;
use tauri::Manager;

/// Where this app keeps its profile: `PARLEY_PROFILE` (tests, several
/// accounts side by side), else the OS data dir of the app.
fn profile_dir(app: &tauri::App) -> Result<PathBuf, Box<dyn std::error::Error>> {
    if let Some(dir) = std::env::var_os("PARLEY_PROFILE") {
        return Ok(PathBuf::from(dir));
    }
    Ok(app.path().app_data_dir()?.join("profile"))
}

/// Builds and runs the app until its last window closes.
pub fn run() {
    // parley-client reports the OS as this device's platform (not `cli`) when
    // this is set; set before any thread starts.
    std::env::set_var("PARLEY_PLATFORM", "desktop");
    tracing_subscriber::fmt()
        .with_env_filter(
            // PARLEY_LOG as for the server and the CLI (RUST_LOG also works).
            tracing_subscriber::EnvFilter::try_from_env("PARLEY_LOG")
                .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
                .unwrap_or_else(|_| "info,tao=warn,wry=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = tauri::Builder::default()
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_clipboard_manager::init())
        // Web links from messages, opened from Rust (`open_link`); the
        // window has no opener permission of its own.
        .plugin(tauri_plugin_opener::init())
        .plugin(
            tauri::plugin::Builder::<tauri::Wry>::new("navigation-guard")
                .on_navigation(|_, url| {
                    let stays = commands::browser::stays_in_app(url);
                    if !stays {
                        tracing::warn!(%url, "the window may not leave the app; refused");
                    }
                    stays
                })
                .build(),
        )
        // Remembers the main window's size, position and maximised state
        // (saved on close, restored before it first shows).
        .plugin(tauri_plugin_window_state::Builder::default().build())
        .manage(SessionState::default())
        .manage(EventsState::default())
        .manage(LeaveState::default())
        .manage(commands::scan::ScanState::default())
        .manage(commands::devices::LinkingState::default())
        .setup(|app| {
            let dir = profile_dir(app)?;
            tracing::info!(profile = %dir.display(), "opening profile");
            app.manage(ProfileState::open(dir)?);
            // A tray icon is a nicety: a desktop without a tray (or a test
            // under Xvfb) still gets the app.
            if let Err(e) = tray::create(app.handle()) {
                tracing::warn!(error = %e, "no tray icon");
            }
            Ok(())
        })
        .on_window_event(|window, event| {
            // Closing waits for the page to write its drafts (`leave`); a
            // second close while it waits goes through.
            if let tauri::WindowEvent::CloseRequested { api, .. } = event {
                let state = window.app_handle().state::<LeaveState>();
                if !state
                    .closing
                    .swap(true, std::sync::atomic::Ordering::AcqRel)
                {
                    api.prevent_close();
                    let w = window.clone();
                    leave::flush_drafts_then(window.app_handle(), move || {
                        let leave = w.app_handle().state::<LeaveState>();
                        leave
                            .flushed
                            .store(true, std::sync::atomic::Ordering::Release);
                        if let Err(e) = w.destroy() {
                            tracing::warn!(error = %e, "the window did not close");
                            leave
                                .closing
                                .store(false, std::sync::atomic::Ordering::Release);
                        }
                    });
                }
            }
            // The camera goes off when the window hides, minimises or closes.
            let hidden = match event {
                tauri::WindowEvent::CloseRequested { .. } | tauri::WindowEvent::Destroyed => true,
                tauri::WindowEvent::Resized(_) | tauri::WindowEvent::Focused(false) => {
                    window.is_minimized().unwrap_or(false) || !window.is_visible().unwrap_or(true)
                }
                _ => false,
            };
            if hidden {
                let app = window.app_handle().clone();
                tauri::async_runtime::spawn_blocking(move || {
                    app.state::<commands::scan::ScanState>().pause();
                });
            }
        })
        .invoke_handler(commands::handler())
        .build(tauri::generate_context!());
    match result {
        Ok(app) => app.run(|app, event| {
            if let tauri::RunEvent::ExitRequested { api, code, .. } = &event {
                app.state::<LeaveState>().exit_requested(app, api, *code);
            }
        }),
        Err(e) => {
            tracing::error!(error = %e, "the app could not start");
            std::process::exit(1);
        }
    }
}
