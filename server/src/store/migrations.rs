//! Embedded, numbered migrations. Never edit one that has shipped: add a new one.

use super::OpenError;
use rusqlite::Connection;
use rusqlite_migration::{Migrations, M};

const MIGRATIONS: &[M<'static>] = &[
    M::up(include_str!("migrations/0001_accounts.sql")),
    M::up(include_str!("migrations/0002_contacts_links_events.sql")),
    M::up(include_str!("migrations/0003_chats_messages.sql")),
    M::up(include_str!("migrations/0004_admin_actions.sql")),
    M::up(include_str!("migrations/0005_fts_per_batch.sql")),
    M::up(include_str!("migrations/0006_events_append_only.sql")),
];

/// The schema version this binary migrates to (`PRAGMA user_version`).
pub fn known_version() -> usize {
    MIGRATIONS.len()
}

pub fn apply(conn: &mut Connection, path: &str) -> Result<(), OpenError> {
    let found: usize = conn
        .query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))
        .map(|v| usize::try_from(v).unwrap_or(0))
        .map_err(|e| OpenError::Corrupt {
            path: path.to_owned(),
            detail: e.to_string(),
        })?;
    if found > known_version() {
        return Err(OpenError::TooNew {
            path: path.to_owned(),
            found,
            known: known_version(),
        });
    }
    Migrations::from_slice(MIGRATIONS)
        .to_latest(conn)
        .map_err(|e| OpenError::Corrupt {
            path: path.to_owned(),
            detail: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_valid() {
        Migrations::from_slice(MIGRATIONS)
            .validate()
            .expect("migrations validate");
    }

    /// 0006 rebuilds the event log: every event of a database written by an
    /// older binary is still there, replayable per user in seq order.
    #[test]
    fn the_event_log_survives_its_rebuild() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("parley.db")).unwrap();
        conn.pragma_update(None, "foreign_keys", true).unwrap();
        Migrations::from_slice(MIGRATIONS)
            .to_version(&mut conn, 5)
            .unwrap();
        conn.execute_batch(
            "INSERT INTO users (id, identifier, display_name, created_at, updated_at) VALUES \
                ('u1', 'ana@example.org', 'Ana', 0, 0), ('u2', 'ben@example.org', 'Ben', 0, 0); \
             INSERT INTO events (user_id, seq, payload, created_at) VALUES \
                ('u2', 1, '{\"n\":1}', 10), ('u1', 1, '{\"n\":2}', 10), \
                ('u1', 2, '{\"n\":3}', 20), ('u2', 2, '{\"n\":4}', 30);",
        )
        .unwrap();
        apply(&mut conn, "parley.db").unwrap();
        let replay = |user: &str| -> Vec<(i64, String)> {
            conn.prepare("SELECT seq, payload FROM events WHERE user_id = ?1 ORDER BY seq")
                .unwrap()
                .query_map([user], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        };
        assert_eq!(
            replay("u1"),
            [(1, r#"{"n":2}"#.into()), (2, r#"{"n":3}"#.into())]
        );
        assert_eq!(
            replay("u2"),
            [(1, r#"{"n":1}"#.into()), (2, r#"{"n":4}"#.into())]
        );
        // The table is in time order, which retention relies on.
        let times: Vec<i64> = conn
            .prepare("SELECT created_at FROM events ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(times, [10, 10, 20, 30]);
        // A message.created in its recipient's log names the chat and seq for
        // delivered receipts; the sender's copy and other events do not.
        let created =
            r#"{"kind":"message.created","message":{"chat_id":"c1","seq":7,"sender_id":"u2"}}"#;
        let mut old = Connection::open_in_memory().unwrap();
        Migrations::from_slice(MIGRATIONS)
            .to_version(&mut old, 5)
            .unwrap();
        old.execute_batch(&format!(
            "INSERT INTO users (id, identifier, display_name, created_at, updated_at) VALUES \
                ('u1', 'a', 'Ana', 0, 0), ('u2', 'b', 'Ben', 0, 0); \
             INSERT INTO events (user_id, seq, payload, created_at) VALUES \
                ('u1', 1, '{created}', 10), ('u2', 1, '{created}', 10), ('u1', 2, '{{}}', 20);"
        ))
        .unwrap();
        apply(&mut old, ":memory:").unwrap();
        let cols: Vec<(String, Option<String>, Option<i64>)> = old
            .prepare("SELECT user_id, chat_id, chat_seq FROM events ORDER BY user_id, seq")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            cols,
            [
                ("u1".into(), Some("c1".into()), Some(7)),
                ("u1".into(), None, None),
                ("u2".into(), None, None),
            ]
        );
        // Seqs stay unique per user.
        let dup = conn.execute(
            "INSERT INTO events (user_id, seq, payload, created_at) VALUES ('u1', 2, '{}', 40)",
            [],
        );
        assert!(dup.is_err());
    }
}
