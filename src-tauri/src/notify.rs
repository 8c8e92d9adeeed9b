//! OS notifications (tauri-plugin-notification, called from Rust): a new
//! message from someone else while the main window is not focused.

use parley_client::ClientEvent;
use parley_protocol::events::Event;
use tauri::Manager;
use tauri_plugin_notification::NotificationExt;

/// The longest notification body, in characters.
const BODY_MAX: usize = 120;

/// Title and body of the notification an event deserves, if any: messages
/// created by someone other than `me`.
pub fn notification_for(ev: &ClientEvent, me: &str) -> Option<(String, String)> {
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
    Some(("New message".to_owned(), body))
}

/// Shows the notification for `ev` when the main window is not focused.
pub fn maybe_notify(app: &tauri::AppHandle, ev: &ClientEvent, me: &str) {
    let Some((title, body)) = notification_for(ev, me) else {
        return;
    };
    let focused = app
        .get_webview_window("main")
        .and_then(|w| w.is_focused().ok())
        .unwrap_or(false);
    if focused {
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

    #[test]
    fn notifies_of_messages_from_others_only() {
        assert_eq!(
            notification_for(&created("ben", "Lunch?", 0), "ana"),
            Some(("New message".into(), "Lunch?".into()))
        );
        assert_eq!(notification_for(&created("ana", "Lunch?", 0), "ana"), None);
        assert_eq!(notification_for(&ClientEvent::Resynced, "ana"), None);
    }

    #[test]
    fn shortens_long_bodies_and_names_attachments() {
        let long = "x".repeat(500);
        let (_, body) = notification_for(&created("ben", &long, 0), "ana").unwrap();
        assert_eq!(body.chars().count(), BODY_MAX + 1);
        let (_, body) = notification_for(&created("ben", "", 2), "ana").unwrap();
        assert_eq!(body, "📎 2 attachments");
    }
}
