//! Managed state, one type per concern:
//! - [`ProfileState`]: where this app keeps its profile (session, cache);
//! - [`SessionState`]: the signed-in `Client` and its realtime tasks;
//! - [`EventsState`]: the one channel to the window, registered by the UI.
//!
//! Never: hold chat data here. The client's cache is the source of truth.

use crate::error::{CmdResult, CommandError};
use parley_client::{Client, ClientEvent, LinkState, Profile};
use std::{path::PathBuf, sync::Mutex};
use tauri::{async_runtime::JoinHandle, ipc::Channel};
use tokio::sync::oneshot;

/// Locks a std mutex, taking the value even if a panicking thread poisoned it
/// (every value here stays consistent on its own).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The profile directory: the OS data dir of the app, or `PARLEY_PROFILE`.
pub struct ProfileState {
    pub profile: Profile,
}

const LAST_SERVER_FILE: &str = "last-server";

impl ProfileState {
    pub fn open(dir: PathBuf) -> parley_client::Result<ProfileState> {
        Ok(ProfileState {
            profile: Profile::open(dir)?,
        })
    }

    /// The server URL last used to sign in, so the sign-in form remembers it.
    pub fn last_server(&self) -> Option<String> {
        std::fs::read_to_string(self.profile.dir().join(LAST_SERVER_FILE))
            .ok()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    }

    /// Remembers the server for the next sign-in form. Only a convenience:
    /// a failure is logged, never turned into an error of the step that
    /// worked.
    pub async fn remember_server(&self, server: &str) {
        let path = self.profile.dir().join(LAST_SERVER_FILE);
        if let Err(e) = tokio::fs::write(path, server.trim()).await {
            tracing::warn!(error = %e, "could not remember the server address");
        }
    }
}

/// A signed-in session: the client and the tasks that run for it.
struct Active {
    client: Client,
    /// Ends the realtime loop (it closes the socket cleanly).
    stop: Option<oneshot::Sender<()>>,
    forwarder: JoinHandle<()>,
}

/// The signed-in client, if any.
#[derive(Default)]
pub struct SessionState {
    active: Mutex<Option<Active>>,
    /// The closing of a signed-out session's cache, still on its way:
    /// the next sign-in waits for it (see `stop_and_close`).
    closing: Mutex<Option<JoinHandle<()>>>,
}

/// How long after a failed realtime loop it starts again.
const REALTIME_RESTART: std::time::Duration = std::time::Duration::from_secs(5);

impl SessionState {
    /// The signed-in client, or `not_signed_in`.
    pub fn client(&self) -> CmdResult<Client> {
        lock(&self.active)
            .as_ref()
            .map(|a| a.client.clone())
            .ok_or_else(|| CommandError::new("not_signed_in", "Not signed in"))
    }

    /// Adopts a client: starts its realtime loop and forwards its events to
    /// the window. Replaces (and stops) any previous session.
    pub fn start(&self, client: Client, events: &EventsState, app: tauri::AppHandle) {
        self.stop();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let mut rx = client.subscribe();
        let me = client.user_id().to_owned();
        let device_id = client.device_id().to_owned();
        let cached = client.clone();
        let app2 = app.clone();
        let forwarder = tauri::async_runtime::spawn(async move {
            use tauri::Manager;
            let mut notifier = crate::notify::Notifier::new(&device_id);
            loop {
                let ev = match rx.recv().await {
                    Ok(ev) => ev,
                    // The window fell behind: tell it to reload everything.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        ClientEvent::Resynced
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                };
                let events = app.state::<EventsState>();
                events.send(&ev);
                let chat = crate::notify::chat_of(&cached, &ev).await;
                crate::notify::maybe_notify(&app, &mut notifier, &ev, &me, chat.as_ref());
                if let ClientEvent::SignedOut { .. } = ev {
                    // This session only: another may have started since.
                    let session = app.state::<SessionState>();
                    if let Some(client) = session.stop_if(&device_id) {
                        session.close_later(client);
                    }
                    break;
                }
            }
        });
        let runner = client.clone();
        tauri::async_runtime::spawn(async move {
            use tauri::Manager;
            let mut stop_rx = stop_rx;
            // The loop ends on its own only when signed out (said on the
            // event channel) or on an error of this device (its cache):
            // then the window is told, and the loop starts again after a
            // while, instead of leaving the app silently offline.
            loop {
                let stopped = async {
                    let _ = (&mut stop_rx).await;
                };
                match runner.run_realtime(stopped).await {
                    Ok(()) | Err(parley_client::ClientError::SignedOut(_)) => break,
                    Err(e) => {
                        tracing::error!(error = %e, "realtime loop failed; starting it again");
                        app2.state::<EventsState>().send(&ClientEvent::Link {
                            state: LinkState::Offline,
                            retry_in_ms: Some(REALTIME_RESTART.as_millis() as u64),
                            reason: Some(e.to_string()),
                            code: e.code().map(str::to_owned),
                        });
                        tokio::select! {
                            _ = &mut stop_rx => break,
                            _ = tokio::time::sleep(REALTIME_RESTART) => {}
                        }
                    }
                }
            }
        });
        events.reset_link();
        *lock(&self.active) = Some(Active {
            client,
            stop: Some(stop_tx),
            forwarder,
        });
    }

    /// Stops the realtime loop and forgets the client (not the stored session).
    pub fn stop(&self) -> Option<Client> {
        let active = lock(&self.active).take()?;
        let Active {
            client,
            stop,
            forwarder,
        } = active;
        if let Some(s) = stop {
            let _ = s.send(());
        }
        forwarder.abort();
        Some(client)
    }

    /// [`SessionState::stop`] if the active session is device `device_id`'s.
    fn stop_if(&self, device_id: &str) -> Option<Client> {
        let ours = lock(&self.active)
            .as_ref()
            .is_some_and(|a| a.client.device_id() == device_id);
        if ours {
            self.stop()
        } else {
            None
        }
    }

    /// Closes `client`'s cache on the blocking pool (its copies still held
    /// by a command on its way write nowhere after); the next
    /// [`SessionState::stop_and_close`] waits for it.
    fn close_later(&self, client: Client) {
        let cache = client.cache().clone();
        let closing = tauri::async_runtime::spawn(async move {
            match tauri::async_runtime::spawn_blocking(move || cache.close()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "closing the cache of the last session"),
                Err(e) => tracing::warn!(error = %e, "closing the cache of the last session"),
            }
        });
        if let Some(earlier) = lock(&self.closing).replace(closing) {
            // Still running: let it finish, unwatched.
            drop(earlier);
        }
    }

    /// [`SessionState::stop`], then closes the stopped client's cache, and
    /// waits for any such close still on its way: the next account signing
    /// in on this profile sets that file aside or deletes it, which
    /// parley-client refuses while a connection has it open.
    pub async fn stop_and_close(&self) {
        if let Some(client) = self.stop() {
            self.close_later(client);
        }
        let closing = lock(&self.closing).take();
        if let Some(c) = closing {
            if let Err(e) = c.await {
                tracing::warn!(error = %e, "closing the cache of the last session");
            }
        }
    }
}

/// The one typed channel to the window. The UI registers it at start (and
/// again after a reload); events before that are not lost for the UI, which
/// reads everything from the cache when it registers.
#[derive(Default)]
pub struct EventsState {
    channel: Mutex<Option<Channel<ClientEvent>>>,
    /// The last link state, replayed to a newly registered channel so the
    /// banner is right after a reload.
    link: Mutex<Option<ClientEvent>>,
}

impl EventsState {
    pub fn register(&self, channel: Channel<ClientEvent>) {
        if let Some(link) = lock(&self.link).clone() {
            let _ = channel.send(link);
        }
        *lock(&self.channel) = Some(channel);
    }

    pub fn send(&self, ev: &ClientEvent) {
        if let ClientEvent::Link { .. } = ev {
            *lock(&self.link) = Some(ev.clone());
        }
        if let Some(ch) = lock(&self.channel).as_ref() {
            if let Err(e) = ch.send(ev.clone()) {
                tracing::debug!(error = %e, "the window did not take an event");
            }
        }
    }

    fn reset_link(&self) {
        self.send(&ClientEvent::Link {
            state: LinkState::Connecting,
            retry_in_ms: None,
            reason: None,
            code: None,
        });
    }
}
