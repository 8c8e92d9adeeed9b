//! Leaving the app: the page writes its drafts a moment after typing stops
//! (`ui/src/drafts.ts`), and neither `AppHandle::exit` (the tray's Quit) nor
//! a window being destroyed runs the page's own handlers first. So before
//! either, the page is asked to write them at once, and says when it has
//! (`ui/src/saveOnLeave.ts`); a page that does not answer gets a second.

use std::time::Duration;
use tauri::{AppHandle, Emitter, Listener, Runtime};

/// Asks the page to write the drafts still waiting (`saveOnLeave.ts`).
pub const FLUSH_DRAFTS: &str = "parley://flush-drafts";
/// The page's answer: they are in storage.
pub const DRAFTS_FLUSHED: &str = "parley://drafts-flushed";
/// How long leaving waits for that answer.
const WAIT: Duration = Duration::from_secs(1);

/// Asks the page to write its drafts, then runs `then` once it answered or
/// [`WAIT`] passed. Waits on a thread of its own: the answer arrives through
/// the event loop, which must not be blocked meanwhile.
pub fn flush_drafts_then<R: Runtime>(app: &AppHandle<R>, then: impl FnOnce() + Send + 'static) {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let id = app.once_any(DRAFTS_FLUSHED, move |_| {
        let _ = tx.send(());
    });
    if let Err(e) = app.emit(FLUSH_DRAFTS, ()) {
        tracing::warn!(error = %e, "cannot ask the page to write its drafts");
        app.unlisten(id);
        then();
        return;
    }
    let app = app.clone();
    let waited = std::thread::Builder::new()
        .name("parley-leave".into())
        .spawn(move || {
            if rx.recv_timeout(WAIT).is_err() {
                tracing::warn!("the page did not say its drafts were written; leaving anyway");
                app.unlisten(id);
            }
            then();
        });
    if let Err(e) = waited {
        // `then` went with the closure that could not start.
        tracing::error!(error = %e, "cannot wait for the drafts; quitting now");
        std::process::exit(0);
    }
}

/// Whether the main window is already closing (waiting for the drafts).
#[derive(Default)]
pub struct LeaveState {
    pub closing: std::sync::atomic::AtomicBool,
}
