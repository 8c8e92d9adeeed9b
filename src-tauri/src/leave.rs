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
/// [`WAIT`] passed. `then` always runs on a thread of its own: the answer
/// arrives through the event loop, which must not be blocked meanwhile, and
/// `AppHandle::exit` may not be called from the event loop's handler.
pub fn flush_drafts_then<R: Runtime>(app: &AppHandle<R>, then: impl FnOnce() + Send + 'static) {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let id = app.once_any(DRAFTS_FLUSHED, move |_| {
        let _ = tx.send(());
    });
    let asked = match app.emit(FLUSH_DRAFTS, ()) {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, "cannot ask the page to write its drafts");
            false
        }
    };
    let app = app.clone();
    let waited = std::thread::Builder::new()
        .name("parley-leave".into())
        .spawn(move || {
            if !asked || rx.recv_timeout(WAIT).is_err() {
                if asked {
                    tracing::warn!("the page did not say its drafts were written; leaving anyway");
                }
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

/// How far leaving has got.
#[derive(Default)]
pub struct LeaveState {
    /// The main window is closing (waiting for the drafts).
    pub closing: std::sync::atomic::AtomicBool,
    /// The drafts were written (or the page had its second): exiting goes
    /// ahead without asking again.
    pub flushed: std::sync::atomic::AtomicBool,
}

impl LeaveState {
    /// `RunEvent::ExitRequested` (the tray's Quit, the app menu's, the
    /// session ending): the first one is held until the page wrote its
    /// drafts, then the exit is asked for again (with the same code) and
    /// goes ahead.
    pub fn exit_requested<R: Runtime>(
        &self,
        app: &AppHandle<R>,
        api: &tauri::ExitRequestApi,
        code: Option<i32>,
    ) {
        use std::sync::atomic::Ordering;
        if self.flushed.swap(true, Ordering::AcqRel) {
            return;
        }
        api.prevent_exit();
        let handle = app.clone();
        flush_drafts_then(app, move || handle.exit(code.unwrap_or(0)));
    }
}
