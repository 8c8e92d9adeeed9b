//! OS notifications (tauri-plugin-notification, called from Rust): a new
//! message from someone else while the main window is not focused, and one
//! summary for what came in while the app was catching up.

use parley_client::ClientEvent;
use parley_protocol::{events::Event, Chat};
use tauri::Manager;
use tauri_plugin_notification::NotificationExt;

/// The longest notification body, in characters.
const BODY_MAX: usize = 120;

/// Title and body of the notification an event deserves, if any: messages
/// created by someone other than `me`, titled with the sender's name when
/// `chat` (the message's chat, as cached) knows it.
pub fn notification_for(
    ev: &ClientEvent,
    me: &str,
    chat: Option<&Chat>,
) -> Option<(String, String)> {
    let ClientEvent::Event { event, .. } = ev else {
        return None;
    };
    let Event::MessageCreated { message } = event.as_ref() else {
        return None;
    };
    if message.sender_id.as_str() == me {
        return None;
    }
    let mut body: String = message.body.chars().take(BODY_MAX).collect();
    if message.body.chars().count() > BODY_MAX {
        body.push('…');
    }
    if body.trim().is_empty() {
        body = match message.attachments.len() {
            0 => "New message".to_owned(),
            1 => "📎 1 attachment".to_owned(),
            n => format!("📎 {n} attachments"),
        };
    }
    let title = chat
        .filter(|c| c.peer.id == message.sender_id && !c.peer.display_name.trim().is_empty())
        .map_or_else(|| "New message".to_owned(), |c| c.peer.display_name.clone());
    Some((title, body))
}

/// Decides which events become notifications. Messages that arrive while
/// the link catches up (the replay after a night offline can be hundreds)
/// are held and become one summary once it is live; those read meanwhile
/// on another device are dropped from it.
#[derive(Debug, Default)]
pub struct Notifier {
    /// This device's id: a `device.added` for any other is a new sign-in.
    device_id: String,
    live: bool,
    /// Held during catch-up: chat id, seq in the chat, the notification.
    held: Vec<(String, u64, (String, String))>,
}

impl Notifier {
    /// A notifier for the device `device_id`.
    pub fn new(device_id: &str) -> Notifier {
        Notifier {
            device_id: device_id.to_owned(),
            ..Notifier::default()
        }
    }

    /// The notification `ev` calls for now, if any. `chat`: the chat of a
    /// message, as cached; a message in a chat I muted notifies neither now
    /// nor in a summary.
    pub fn on_event(
        &mut self,
        ev: &ClientEvent,
        me: &str,
        chat: Option<&Chat>,
    ) -> Option<(String, String)> {
        use parley_client::LinkState;
        match ev {
            ClientEvent::Link { state, .. } => {
                let was_live = std::mem::replace(&mut self.live, *state == LinkState::Online);
                if !self.live || was_live {
                    return None;
                }
                let held = std::mem::take(&mut self.held);
                match held.len() {
                    0 => None,
                    1 => held.into_iter().next().map(|(_, _, n)| n),
                    n => {
                        let mut chats: Vec<&str> = held.iter().map(|h| h.0.as_str()).collect();
                        chats.sort_unstable();
                        chats.dedup();
                        let body = match chats.len() {
                            1 => format!("{n} new messages"),
                            k => format!("{n} new messages in {k} chats"),
                        };
                        Some(("New messages".to_owned(), body))
                    }
                }
            }
            ClientEvent::Event { event, .. } => {
                // Someone signed in to my account somewhere else: said at
                // once, never folded into a summary.
                if let Event::DeviceAdded { device } = event.as_ref() {
                    if device.id.0 == self.device_id {
                        return None;
                    }
                    return Some((
                        "New sign-in to your account".to_owned(),
                        format!(
                            "{} ({}). Not you? Revoke it in Settings → Devices.",
                            device.name,
                            device.platform.as_str()
                        ),
                    ));
                }
                // Read or cleared on another device while this one caught up:
                // nothing to say about those any more.
                if let Event::ChatRead { chat_id, up_to_seq }
                | Event::ChatCleared {
                    chat_id, up_to_seq, ..
                } = event.as_ref()
                {
                    self.held
                        .retain(|(c, seq, _)| c != chat_id || seq > up_to_seq);
                    return None;
                }
                // Muted on another device while this one caught up: what
                // was held for that chat is not summed up after all.
                if let Event::ChatMuted { chat_id, mute } = event.as_ref() {
                    if mute.is_some_and(|m| m.silences_at(chrono::Utc::now())) {
                        self.held.retain(|(c, _, _)| c != chat_id);
                    }
                    return None;
                }
                // A message I had cleared (the cache skipped it).
                if let (Event::MessageCreated { message }, Some(c)) = (event.as_ref(), chat) {
                    if message.seq <= c.cleared_up_to_seq {
                        return None;
                    }
                }
                let muted = chat
                    .and_then(|c| c.mute)
                    .is_some_and(|m| m.silences_at(chrono::Utc::now()));
                if muted {
                    return None;
                }
                let n = notification_for(ev, me, chat)?;
                if self.live {
                    return Some(n);
                }
                if let Event::MessageCreated { message } = event.as_ref() {
                    self.held.push((message.chat_id.clone(), message.seq, n));
                }
                None
            }
            _ => None,
        }
    }
}

/// The chat of a `message.created` event, as this profile's cache has it
/// (the cache applied the event, and any `chat.muted` before it, before it
/// was broadcast).
pub async fn chat_of(client: &parley_client::Client, ev: &ClientEvent) -> Option<Chat> {
    let ClientEvent::Event { event, .. } = ev else {
        return None;
    };
    let Event::MessageCreated { message } = event.as_ref() else {
        return None;
    };
    let id = message.chat_id.clone();
    client
        .cache()
        .run(move |c| parley_client::cache::chat(c, &id))
        .await
        .ok()
        .flatten()
}

/// Shows the notification `notifier` decides on for `ev`, when the main
/// window is not focused.
pub fn maybe_notify(
    app: &tauri::AppHandle,
    notifier: &mut Notifier,
    ev: &ClientEvent,
    me: &str,
    chat: Option<&Chat>,
) {
    let Some((title, body)) = notifier.on_event(ev, me, chat) else {
        return;
    };
    let focused = app
        .get_webview_window("main")
        .and_then(|w| w.is_focused().ok())
        .unwrap_or(false);
    // A sign-in to my account elsewhere is said even to someone looking at
    // the app: nothing in the window says it.
    let sign_in = matches!(ev, ClientEvent::Event { event, .. }
        if matches!(event.as_ref(), Event::DeviceAdded { .. }));
    if focused && !sign_in {
        return;
    }
    if let Err(e) = app.notification().builder().title(title).body(body).show() {
        tracing::debug!(error = %e, "no notification");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parley_protocol::Message;

    fn created(sender: &str, body: &str, attachments: usize) -> ClientEvent {
        let atts: Vec<serde_json::Value> = (0..attachments)
            .map(|i| serde_json::json!({"id": format!("a{i}"), "mime": "image/png", "size": 3, "sha256": "00"}))
            .collect();
        let message: Message = serde_json::from_value(serde_json::json!({
            "id": "m1", "chat_id": "c1", "seq": 1, "sender_id": sender, "client_id": "x",
            "body": body, "reply_to": null, "attachments": atts, "reactions": {},
            "created_at": "2026-01-01T00:00:00Z", "edited_at": null, "deleted": false,
            "status": "sent"
        }))
        .unwrap();
        ClientEvent::Event {
            seq: 1,
            event: Box::new(Event::MessageCreated { message }),
        }
    }

    fn chat(id: &str, peer_name: &str) -> Chat {
        serde_json::from_value(serde_json::json!({
            "id": id, "last_message": null, "unread_count": 0, "read_up_to_seq": 0,
            "updated_at": "2026-01-01T00:00:00Z", "mute": null,
            "peer": {"id": "ben", "display_name": peer_name, "username": null, "bio": "",
                     "status_text": "", "avatar_url": null, "created_at": "2026-01-01T00:00:00Z"}
        }))
        .unwrap()
    }

    /// The title is who wrote, as the chat list names them; without the
    /// chat (not cached yet) or a name, a plain "New message".
    #[test]
    fn the_title_names_the_sender() {
        let ben = chat("c1", "Ben Ortiz");
        assert_eq!(
            notification_for(&created("ben", "Lunch?", 0), "ana", Some(&ben)),
            Some(("Ben Ortiz".into(), "Lunch?".into()))
        );
        let blank = chat("c1", "  ");
        assert_eq!(
            notification_for(&created("ben", "Lunch?", 0), "ana", Some(&blank))
                .unwrap()
                .0,
            "New message"
        );
        // In a chat with someone else (never in a 1:1 chat): not their name.
        assert_eq!(
            notification_for(&created("cleo", "Hi", 0), "ana", Some(&ben))
                .unwrap()
                .0,
            "New message"
        );
    }

    #[test]
    fn notifies_of_messages_from_others_only() {
        assert_eq!(
            notification_for(&created("ben", "Lunch?", 0), "ana", None),
            Some(("New message".into(), "Lunch?".into()))
        );
        assert_eq!(
            notification_for(&created("ana", "Lunch?", 0), "ana", None),
            None
        );
        assert_eq!(notification_for(&ClientEvent::Resynced, "ana", None), None);
    }

    fn link(state: parley_client::LinkState) -> ClientEvent {
        ClientEvent::Link {
            state,
            retry_in_ms: None,
            reason: None,
            code: None,
        }
    }

    fn created_in(chat: &str, seq: u64) -> ClientEvent {
        let ClientEvent::Event { event, .. } = created("ben", "hi", 0) else {
            unreachable!()
        };
        let Event::MessageCreated { mut message } = *event else {
            unreachable!()
        };
        message.chat_id = chat.into();
        message.seq = seq;
        ClientEvent::Event {
            seq,
            event: Box::new(Event::MessageCreated { message }),
        }
    }

    /// A catch-up of many messages is one notification, not one each; what
    /// was read meanwhile on another device is left out; live messages
    /// notify one by one.
    #[test]
    fn a_catch_up_is_summed_up_once_it_is_live() {
        use parley_client::LinkState::{Connecting, Offline, Online};
        let mut n = Notifier::default();
        assert_eq!(n.on_event(&link(Connecting), "ana", None), None);
        for (chat, seq) in [("c1", 1), ("c1", 2), ("c2", 1), ("c3", 1)] {
            assert_eq!(n.on_event(&created_in(chat, seq), "ana", None), None);
        }
        let read = ClientEvent::Event {
            seq: 9,
            event: Box::new(Event::ChatRead {
                chat_id: "c3".into(),
                up_to_seq: 1,
            }),
        };
        assert_eq!(n.on_event(&read, "ana", None), None);
        let cleared = ClientEvent::Event {
            seq: 10,
            event: Box::new(Event::ChatCleared {
                chat_id: "c2".into(),
                up_to_seq: 1,
                unread_count: 0,
            }),
        };
        assert_eq!(n.on_event(&cleared, "ana", None), None);
        assert_eq!(
            n.on_event(&link(Online), "ana", None),
            Some(("New messages".into(), "2 new messages".into()))
        );
        assert_eq!(n.on_event(&link(Online), "ana", None), None, "said once");
        assert_eq!(
            n.on_event(&created_in("c1", 3), "ana", None),
            Some(("New message".into(), "hi".into()))
        );
        let mut c1 = chat("c1", "Ben");
        c1.cleared_up_to_seq = 5;
        assert_eq!(
            n.on_event(&created_in("c1", 5), "ana", Some(&c1)),
            None,
            "a message I cleared (replayed from before the clear)"
        );
        n.on_event(&link(Offline), "ana", None);
        n.on_event(&created_in("c2", 2), "ana", None);
        assert_eq!(
            n.on_event(&link(Online), "ana", None),
            Some(("New message".into(), "hi".into())),
            "one held message is shown as itself"
        );
    }

    /// Messages in a muted chat notify neither live nor in a catch-up's
    /// summary; others still do.
    #[test]
    fn a_muted_chat_stays_quiet() {
        use parley_client::LinkState::{Connecting, Online};
        let mut quiet = chat("quiet", "Ben");
        quiet.mute = Some(parley_protocol::Mute { until: None });
        let mut n = Notifier::default();
        n.on_event(&link(Connecting), "ana", None);
        for seq in 1..=3 {
            assert_eq!(
                n.on_event(&created_in("quiet", seq), "ana", Some(&quiet)),
                None
            );
        }
        n.on_event(&created_in("c1", 1), "ana", None);
        assert_eq!(
            n.on_event(&link(Online), "ana", None),
            Some(("New message".into(), "hi".into())),
            "the summary counts only the chat that is not muted"
        );
        assert_eq!(
            n.on_event(&created_in("quiet", 4), "ana", Some(&quiet)),
            None
        );
        assert_eq!(
            n.on_event(&created_in("c1", 2), "ana", None),
            Some(("New message".into(), "hi".into()))
        );
    }

    /// Muted on another device during a catch-up (the messages before the
    /// mute came first): what was held for it is left out of the summary.
    #[test]
    fn a_chat_muted_during_a_catch_up_is_left_out() {
        use parley_client::LinkState::{Connecting, Online};
        let mut n = Notifier::default();
        n.on_event(&link(Connecting), "ana", None);
        for seq in 1..=3 {
            n.on_event(&created_in("quiet", seq), "ana", None);
        }
        n.on_event(&created_in("c1", 1), "ana", None);
        let muted = |mute| ClientEvent::Event {
            seq: 20,
            event: Box::new(Event::ChatMuted {
                chat_id: "quiet".into(),
                mute,
            }),
        };
        // An unmute (or a mute already over) changes nothing.
        let over = parley_protocol::Mute {
            until: Some(chrono::Utc::now() - chrono::Duration::hours(1)),
        };
        assert_eq!(n.on_event(&muted(Some(over)), "ana", None), None);
        assert_eq!(n.on_event(&muted(None), "ana", None), None);
        assert_eq!(
            n.on_event(
                &muted(Some(parley_protocol::Mute { until: None })),
                "ana",
                None
            ),
            None
        );
        assert_eq!(
            n.on_event(&link(Online), "ana", None),
            Some(("New message".into(), "hi".into()))
        );
    }

    /// A sign-in on another device is said, even while catching up; this
    /// device's own is not.
    #[test]
    fn a_new_sign_in_elsewhere_is_said() {
        let device = |id: &str| -> ClientEvent {
            let device = serde_json::from_value(serde_json::json!({
                "id": id, "name": "Work laptop", "platform": "linux",
                "created_at": "2026-01-01T00:00:00Z", "last_seen_at": "2026-01-01T00:00:00Z",
                "current": false
            }))
            .unwrap();
            ClientEvent::Event {
                seq: 3,
                event: Box::new(Event::DeviceAdded { device }),
            }
        };
        let mut n = Notifier::new("d1");
        assert_eq!(n.on_event(&device("d1"), "ana", None), None);
        let (title, body) = n.on_event(&device("d2"), "ana", None).unwrap();
        assert_eq!(title, "New sign-in to your account");
        assert!(body.starts_with("Work laptop (linux)."), "{body}");
    }

    #[test]
    fn shortens_long_bodies_and_names_attachments() {
        let long = "x".repeat(500);
        let (_, body) = notification_for(&created("ben", &long, 0), "ana", None).unwrap();
        assert_eq!(body.chars().count(), BODY_MAX + 1);
        let (_, body) = notification_for(&created("ben", "", 2), "ana", None).unwrap();
        assert_eq!(body, "📎 2 attachments");
    }
}
