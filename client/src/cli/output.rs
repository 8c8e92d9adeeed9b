//! Printing: human text or JSON.

use parley_client::{cache::CachedMessage, ClientError};
use parley_protocol::{Chat, Connection, ConnectionRequest, Device, Message};
use serde::Serialize;

/// Prints `value` as one JSON document.
pub fn json<T: Serialize>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(s) => out!("{s}"),
        Err(e) => eprintln!("parley: cannot print JSON: {e}"),
    }
}

/// A list: as JSON with `--json`, else `empty` when there is nothing, else
/// each item through `each`.
pub fn list<T: Serialize>(json: bool, items: &[T], empty: &str, each: impl FnMut(&T)) {
    if json {
        self::json(&items);
    } else if items.is_empty() {
        out!("{empty}");
    } else {
        items.iter().for_each(each);
    }
}

/// One JSON line (for streams). False when stdout is gone (a closed pipe):
/// the stream should end quietly.
pub fn json_line<T: Serialize>(value: &T) -> bool {
    match serde_json::to_string(value) {
        Ok(s) => line(&s),
        Err(_) => true,
    }
}

/// Writes one line to stdout (see `out!`): on a closed pipe the program
/// ends quietly, as `head` and `less` expect of a command in front of them;
/// any other failure to write ends it with an error.
pub fn out_line(args: std::fmt::Arguments<'_>) {
    if let Err(e) = write_line(args) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("parley: error: cannot write the output: {e}");
        std::process::exit(1);
    }
}

/// Writes one line to stdout and flushes; false when stdout is gone.
pub fn line(text: &str) -> bool {
    write_line(format_args!("{text}")).is_ok()
}

fn write_line(args: std::fmt::Arguments<'_>) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{args}").and_then(|_| out.flush())
}

/// The error on stderr: words, or with --json `{"error": {...}}`: the
/// server's problem document, or `code` and `detail`; either way with a
/// stable `code` (see `ClientError::stable_code`) and `transient` (worth
/// trying again later: exit 75).
pub fn error(as_json: bool, e: &ClientError) {
    if as_json {
        let why = match e {
            ClientError::StillQueued(why) => why.as_ref(),
            other => other,
        };
        let mut v = match why {
            ClientError::Api(p) => serde_json::to_value(p).unwrap_or_default(),
            other => serde_json::json!({"detail": other.to_string()}),
        };
        v["code"] = e.stable_code().into();
        v["transient"] = e.is_transient().into();
        eprintln!("{}", serde_json::json!({ "error": v }));
    } else {
        eprintln!("parley: error: {e}");
    }
}

/// Text from other people made safe for a terminal: control characters but
/// newlines and tabs are shown as symbols (ESC as `␛`), so a message cannot
/// move the cursor, recolour or retitle the terminal. The server refuses them
/// in new messages; this also covers older ones and other servers.
pub fn printable(s: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() && c != '\n' && c != '\t';
    if !s.chars().any(unsafe_char) {
        return s.into();
    }
    s.chars()
        .map(|c| match c {
            c if !unsafe_char(c) => c,
            '\u{7f}' => '\u{2421}',
            c if (c as u32) < 0x20 => char::from_u32(0x2400 + c as u32).unwrap_or('\u{fffd}'),
            _ => '\u{fffd}',
        })
        .collect::<String>()
        .into()
}

/// Someone's text on one line (a name, a preview): as `printable`, and line
/// breaks and tabs shown as symbols, so a name cannot start a line of its own.
pub fn name(s: &str) -> std::borrow::Cow<'_, str> {
    let p = printable(s);
    if !p.contains(['\n', '\t']) {
        return p;
    }
    p.replace('\n', "\u{2424}").replace('\t', " ").into()
}

/// A message body under its header line: as `printable`, each further line
/// indented past where a history line starts, so a body cannot pass for
/// another message (or for one of mine).
pub fn body(s: &str) -> String {
    printable(s).replace('\n', "\n      \u{2502} ")
}

/// A time as the CLI shows it: local, to the minute.
pub fn time(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.with_timezone(&chrono::Local)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

pub fn request(r: &ConnectionRequest, incoming: bool) {
    let who = if incoming { &r.from } else { &r.to };
    out!(
        "{}  {}  {} (expires {})",
        r.id,
        if incoming { "from" } else { "to  " },
        name(&who.display_name),
        time(&r.expires_at)
    );
}

pub fn contact(c: &Connection) {
    let presence = if c.online {
        "online".to_owned()
    } else {
        c.last_seen_at
            .map(|t| format!("last seen {}", time(&t)))
            .unwrap_or_else(|| "offline".into())
    };
    out!(
        "{}  {}{}  ({presence})",
        c.user.id,
        name(&c.user.display_name),
        c.user
            .username
            .as_ref()
            .map(|u| format!(" @{u}"))
            .unwrap_or_default()
    );
}

pub fn device(d: &Device) {
    out!(
        "{}  {} [{}]{}  last seen {}",
        d.id,
        name(&d.name),
        d.platform,
        if d.current { " (this device)" } else { "" },
        time(&d.last_seen_at)
    );
}

pub fn chat(c: &Chat) {
    let last = c
        .last_message
        .as_ref()
        .map(preview)
        .unwrap_or_else(|| "(no messages)".into());
    let unread = if c.unread_count > 0 {
        format!(" [{} unread]", c.unread_count)
    } else {
        String::new()
    };
    let muted = match &c.mute {
        Some(m) if m.silences_at(chrono::Utc::now()) => match &m.until {
            Some(until) => format!(" [muted until {}]", time(until)),
            None => " [muted]".to_owned(),
        },
        _ => String::new(),
    };
    out!(
        "{}{}{}{}  {}  {}",
        if c.pinned_at.is_some() { "📌 " } else { "" },
        name(&c.peer.display_name),
        unread,
        muted,
        time(&c.updated_at),
        last
    );
}

fn preview(m: &Message) -> String {
    if m.deleted {
        return "(deleted)".into();
    }
    let mut s: String = printable(&m.body)
        .lines()
        .next()
        .unwrap_or("")
        .chars()
        .take(60)
        .collect();
    if !m.attachments.is_empty() {
        s.push_str(&format!(" [{} attachment(s)]", m.attachments.len()));
    }
    s
}

/// One history line. `seq_of` finds a replied-to message's seq among those
/// printed, so a reply reads `↪#12` rather than an id.
pub fn message(
    m: &CachedMessage,
    me: &str,
    names: &dyn Fn(&str) -> String,
    seq_of: &dyn Fn(&str) -> Option<u64>,
) {
    let msg = &m.message;
    let who = if msg.sender_id.as_str() == me {
        "me".to_owned()
    } else {
        name(&names(msg.sender_id.as_str())).into_owned()
    };
    let ticks = if msg.sender_id.as_str() == me {
        match m.state {
            parley_client::cache::LocalState::Pending => " (pending)",
            parley_client::cache::LocalState::Failed => " (failed)",
            parley_client::cache::LocalState::Sent => " ✓",
            parley_client::cache::LocalState::Delivered => " ✓✓",
            parley_client::cache::LocalState::Read => " ✓✓ read",
        }
    } else {
        ""
    };
    let reply = msg
        .reply_to
        .as_ref()
        .map(|r| match seq_of(r) {
            Some(seq) => format!(" ↪#{seq}"),
            None => format!(" ↪{r}"),
        })
        .unwrap_or_default();
    let reactions: String = msg
        .reactions
        .iter()
        .map(|(e, users)| format!(" {e}{}", users.len()))
        .collect();
    let body = if msg.deleted {
        "(deleted)".to_owned()
    } else if msg.forwarded {
        format!("(forwarded) {}", body(&msg.body))
    } else {
        body(&msg.body)
    };
    let atts: String = msg
        .attachments
        .iter()
        .map(|a| {
            format!(
                " [{} {} {}B]",
                a.id,
                name(a.name.as_deref().unwrap_or(&a.mime)),
                a.size
            )
        })
        .collect();
    // A queued message has no seq or id from the server yet.
    let seq = if msg.seq == 0 {
        "-".to_owned()
    } else {
        msg.seq.to_string()
    };
    // A message refused for good has no id; its client id is what
    // `parley retry` and `parley discard` take.
    let id = match &m.failure {
        Some(p) => format!(
            "  ({}; `parley retry {}` or `parley discard {}`)",
            printable(&p.detail),
            msg.client_id,
            msg.client_id
        ),
        None if msg.id.is_empty() => String::new(),
        None => format!("  ({})", msg.id),
    };
    out!(
        "#{:<4} {} {}{}: {}{}{}{}{}",
        seq,
        time(&msg.created_at),
        who,
        reply,
        body,
        atts,
        reactions,
        ticks,
        id
    );
}

#[cfg(test)]
mod tests {
    use super::{body, name, printable};

    #[test]
    fn a_message_cannot_pass_for_another_line() {
        // A body's further lines are indented under it; a name stays on one.
        assert_eq!(
            body("ok\n#42   2026-01-01 10:00 me: I agree"),
            "ok\n      \u{2502} #42   2026-01-01 10:00 me: I agree"
        );
        assert_eq!(name("Ben\n#1 me: hi\tthere"), "Ben\u{2424}#1 me: hi there");
        assert_eq!(name("Ana"), "Ana");
        assert_eq!(name("\u{1b}[2J"), "\u{241b}[2J");
    }

    #[test]
    fn control_characters_from_others_cannot_drive_the_terminal() {
        assert_eq!(printable("plain\ttext\nline"), "plain\ttext\nline");
        assert_eq!(
            printable("\u{1b}]0;owned\u{7}red"),
            "\u{241b}]0;owned\u{2407}red"
        );
        assert_eq!(
            printable("a\rb\u{7f}\u{9b}c"),
            "a\u{240d}b\u{2421}\u{fffd}c"
        );
    }
}
