//! In-memory fan-out: user id -> that user's connected device sessions.
//!
//! The hub is the only code that knows which node holds a device; a multi-node
//! deployment replaces it with a pub/sub-backed one behind the same methods.
//! It is notified only after a commit, and it is only an optimisation of reading
//! the event log: a session that misses live events (replaying, or lagging and
//! closed with 4008) reads them from the log. Each session's queue is bounded,
//! so memory per connection stays bounded whatever a client does.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering},
        Arc, Mutex,
    },
};
use tokio::sync::{mpsc, Notify};

/// Frames queued per session before it counts as lagging (default).
pub const SESSION_QUEUE: usize = 256;

/// A committed event for one user, ready to send.
#[derive(Debug, Clone)]
pub struct Note {
    pub user_id: String,
    pub seq: u64,
    /// The whole `{"type":"event",...}` frame.
    pub frame: Arc<str>,
}

/// What a session's writer task receives.
#[derive(Debug)]
pub enum Outbound {
    Event {
        seq: u64,
        frame: Arc<str>,
    },
    /// Presence and typing: no seq, dropped rather than queued when lagging.
    Ephemeral(Arc<str>),
    /// The user's log grew without the events passing through this hub (an
    /// operator's `parley-server admin` command, another process): read it
    /// from the cursor on.
    CatchUp,
}

/// One connected WebSocket of a device.
pub struct Session {
    pub id: u64,
    pub user_id: String,
    pub device_id: String,
    tx: mpsc::Sender<Outbound>,
    /// False while the session replays from the log: live events are not
    /// queued then (the replay reads them), only `wake` is signalled.
    live: AtomicBool,
    /// Close code requested by the server (0 = none).
    close_code: AtomicU16,
    /// Said `hello`: only then does the session make its user online (a
    /// socket opened and left silent is not someone being there).
    greeted: AtomicBool,
    /// Wakes the session loop: new events while replaying, or a close request.
    pub wake: Notify,
}

impl Session {
    /// Switches to live delivery.
    pub fn go_live(&self) {
        self.live.store(true, Ordering::SeqCst);
    }

    /// The close code requested for this session, if any.
    pub fn close_requested(&self) -> Option<u16> {
        match self.close_code.load(Ordering::SeqCst) {
            0 => None,
            c => Some(c),
        }
    }

    pub fn request_close(&self, code: u16) {
        // Keep the first reason.
        let _ = self
            .close_code
            .compare_exchange(0, code, Ordering::SeqCst, Ordering::SeqCst);
        self.wake.notify_one();
    }
}

pub struct Hub {
    /// `std` mutex: held only for map operations, never across `.await`.
    sessions: Mutex<HashMap<String, Vec<Arc<Session>>>>,
    next_id: AtomicU64,
    /// Bound of each session's queue.
    queue: usize,
}

impl Default for Hub {
    fn default() -> Self {
        Hub::new(SESSION_QUEUE)
    }
}

/// Whether registering/unregistering changed the user's online state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub changed: bool,
}

impl Hub {
    pub fn new(queue: usize) -> Hub {
        Hub {
            sessions: Mutex::default(),
            next_id: AtomicU64::new(0),
            queue: queue.max(1),
        }
    }

    /// Registers a session; returns it with its receiving end. It counts for
    /// presence once it says `hello` ([`Hub::greet`]). (The server registers
    /// with its cap: `register_within`.)
    #[cfg(test)]
    pub fn register(
        &self,
        user_id: &str,
        device_id: &str,
    ) -> (Arc<Session>, mpsc::Receiver<Outbound>) {
        self.register_within(user_id, device_id, usize::MAX)
            .unwrap_or_else(|| unreachable!("no device has usize::MAX sessions"))
    }

    /// As [`Hub::register`], unless device `device_id` has `most` sessions
    /// already (`None`): counted and added under one lock, so sockets opened
    /// all at once cannot all slip under the cap.
    pub fn register_within(
        &self,
        user_id: &str,
        device_id: &str,
        most: usize,
    ) -> Option<(Arc<Session>, mpsc::Receiver<Outbound>)> {
        let mut map = self.lock();
        let list = map.entry(user_id.to_owned()).or_default();
        if list.iter().filter(|s| s.device_id == device_id).count() >= most {
            if list.is_empty() {
                map.remove(user_id);
            }
            return None;
        }
        let (tx, rx) = mpsc::channel(self.queue);
        let session = Arc::new(Session {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            user_id: user_id.to_owned(),
            device_id: device_id.to_owned(),
            tx,
            live: AtomicBool::new(false),
            close_code: AtomicU16::new(0),
            greeted: AtomicBool::new(false),
            wake: Notify::new(),
        });
        list.push(session.clone());
        Some((session, rx))
    }

    /// The session said `hello`: it counts for its user's presence from now
    /// on. Returns whether the user just came online (no other session of
    /// theirs had said it).
    pub fn greet(&self, session: &Session) -> Transition {
        let map = self.lock();
        let others = map.get(&session.user_id).is_some_and(|l| {
            l.iter()
                .any(|s| s.id != session.id && s.greeted.load(Ordering::SeqCst))
        });
        let was = session.greeted.swap(true, Ordering::SeqCst);
        Transition {
            changed: !was && !others,
        }
    }

    /// How many sessions device `device_id` of `user_id` has open.
    pub fn device_sockets(&self, user_id: &str, device_id: &str) -> usize {
        self.lock().get(user_id).map_or(0, |list| {
            list.iter().filter(|s| s.device_id == device_id).count()
        })
    }

    /// Removes a session; says whether the user went offline (last session).
    pub fn unregister(&self, session: &Session) -> Transition {
        let mut map = self.lock();
        let Some(list) = map.get_mut(&session.user_id) else {
            return Transition { changed: false };
        };
        list.retain(|s| s.id != session.id);
        // Offline now if this one counted and no other does.
        let changed = session.greeted.load(Ordering::SeqCst)
            && !list.iter().any(|s| s.greeted.load(Ordering::SeqCst));
        if list.is_empty() {
            map.remove(&session.user_id);
        }
        Transition { changed }
    }

    /// Delivers committed events to the sessions of their users.
    pub fn publish(&self, notes: &[Note]) {
        if notes.is_empty() {
            return;
        }
        let map = self.lock();
        for note in notes {
            let Some(list) = map.get(&note.user_id) else {
                continue;
            };
            for s in list {
                if !s.live.load(Ordering::SeqCst) {
                    s.wake.notify_one();
                    continue;
                }
                match s.tx.try_send(Outbound::Event {
                    seq: note.seq,
                    frame: note.frame.clone(),
                }) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        s.request_close(parley_protocol::close::LAGGING)
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => {}
                }
            }
        }
    }

    /// Sends an ephemeral frame (typing, presence) to every live session of
    /// `user_id` whose queue is less than half full: they may be dropped,
    /// and must never fill the room events need (a full queue closes the
    /// session as lagging, so someone's typing could otherwise kick a
    /// contact off).
    pub fn send_ephemeral(&self, user_id: &str, frame: Arc<str>) {
        let map = self.lock();
        if let Some(list) = map.get(user_id) {
            for s in list.iter().filter(|s| s.live.load(Ordering::SeqCst)) {
                if s.tx.capacity() * 2 > s.tx.max_capacity() {
                    let _ = s.tx.try_send(Outbound::Ephemeral(frame.clone()));
                }
            }
        }
    }

    /// Whether a session of `user_id` said `hello` and is still open.
    pub fn is_online(&self, user_id: &str) -> bool {
        self.lock()
            .get(user_id)
            .is_some_and(|l| l.iter().any(|s| s.greeted.load(Ordering::SeqCst)))
    }

    /// Tells every live session of `user_id` to read its log from its cursor:
    /// events were appended by another process. A full queue needs nothing:
    /// that session is closed as lagging and resumes from the log anyway.
    pub fn catch_up(&self, user_id: &str) {
        if let Some(list) = self.lock().get(user_id) {
            for s in list.iter().filter(|s| s.live.load(Ordering::SeqCst)) {
                let _ = s.tx.try_send(Outbound::CatchUp);
            }
        }
    }

    /// Closes every session of a device (revoked, signed out).
    pub fn close_device(&self, device_id: &str, code: u16) {
        for list in self.lock().values() {
            for s in list.iter().filter(|s| s.device_id == device_id) {
                s.request_close(code);
            }
        }
    }

    /// Closes every session of a user (account disabled).
    pub fn close_user(&self, user_id: &str, code: u16) {
        if let Some(list) = self.lock().get(user_id) {
            for s in list {
                s.request_close(code);
            }
        }
    }

    /// Closes every session (server shutting down): clients reconnect and
    /// resume from their cursors, on this server once it is back or another.
    pub fn close_all(&self, code: u16) {
        for list in self.lock().values() {
            for s in list {
                s.request_close(code);
            }
        }
    }

    /// Number of connected sessions.
    pub fn session_count(&self) -> usize {
        self.lock().values().map(Vec::len).sum()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<Arc<Session>>>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Builds the event frame from an event's stored JSON without re-parsing it.
pub fn event_frame(seq: u64, event_json: &str) -> Arc<str> {
    Arc::from(format!(
        r#"{{"type":"event","seq":{seq},"event":{event_json}}}"#
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Events 1..=n of `user_id`'s log, as the writer hands them over.
    fn events_for(user_id: &str, n: u64) -> Vec<Note> {
        (1..=n)
            .map(|seq| Note {
                user_id: user_id.into(),
                seq,
                frame: event_frame(seq, "{}"),
            })
            .collect()
    }

    #[test]
    fn full_queue_requests_lagging_close() {
        let hub = Hub::default();
        let (s, _rx) = hub.register("u", "d");
        assert!(!hub.is_online("u"), "not before its hello");
        assert!(hub.greet(&s).changed);
        assert!(!hub.greet(&s).changed, "once");
        assert!(hub.is_online("u"));
        s.go_live();
        hub.publish(&events_for("u", SESSION_QUEUE as u64 + 1));
        assert_eq!(s.close_requested(), Some(parley_protocol::close::LAGGING));
        assert!(hub.unregister(&s).changed);
        assert!(!hub.is_online("u"));
    }

    /// However many typing frames a contact sends, they take at most half
    /// the queue: the events after them still fit, and nobody is closed.
    #[test]
    fn ephemeral_frames_never_crowd_out_events() {
        let hub = Hub::default();
        let (s, mut rx) = hub.register("u", "d");
        s.go_live();
        for _ in 0..SESSION_QUEUE * 4 {
            hub.send_ephemeral("u", Arc::from("{\"type\":\"typing\"}"));
        }
        hub.publish(&events_for("u", SESSION_QUEUE as u64 / 2 - 1));
        assert_eq!(s.close_requested(), None, "not closed as lagging");
        let mut typing = 0;
        while let Ok(out) = rx.try_recv() {
            if matches!(out, Outbound::Ephemeral(_)) {
                typing += 1;
            }
        }
        assert_eq!(typing, SESSION_QUEUE / 2, "the rest was dropped");
    }

    #[test]
    fn replaying_sessions_are_woken_not_queued() {
        let hub = Hub::default();
        let (s, mut rx) = hub.register("u", "d");
        hub.publish(&[Note {
            user_id: "u".into(),
            seq: 1,
            frame: event_frame(1, "{}"),
        }]);
        assert!(rx.try_recv().is_err());
        let (s2, _rx2) = hub.register("u", "d2");
        assert!(hub.greet(&s).changed);
        assert!(!hub.greet(&s2).changed, "online already");
        assert!(!hub.unregister(&s).changed, "still online on d2");
        // A session that never said hello changes nothing when it goes.
        let (silent, _rx3) = hub.register("u", "d3");
        assert!(!hub.unregister(&silent).changed);
        assert!(hub.unregister(&s2).changed);
        assert!(!hub.is_online("u"));
    }
}
