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
    // Rebuilds `messages`, which other tables refer to: every reference is
    // checked before it commits (`apply` turns the keys off around it).
    M::up(include_str!(
        "migrations/0007_idempotency_key_by_client_id.sql"
    ))
    .foreign_key_check(),
    M::up(include_str!("migrations/0008_chat_mute.sql")),
    M::up(include_str!("migrations/0009_chat_pin.sql")),
    M::up(include_str!("migrations/0010_chat_clear.sql")),
    M::up(include_str!("migrations/0011_account_deletion.sql")),
    M::up(include_str!("migrations/0012_forwarded.sql")),
    M::up(include_str!("migrations/0013_invite_device.sql")),
    M::up(include_str!("migrations/0014_otp_burnt.sql")),
    M::up(include_str!("migrations/0015_link_approver_device.sql")),
    M::up(include_str!("migrations/0016_attachments_by_uploader.sql")),
    M::up(include_str!("migrations/0017_refresh_successor.sql")),
    M::up(include_str!("migrations/0018_link_collect_retry.sql")),
    M::up(include_str!("migrations/0019_invite_redeem_retry.sql")),
    M::up(include_str!("migrations/0020_link_poll_secret_only.sql")),
    M::up(include_str!("migrations/0021_rotated_refresh_index.sql")),
    M::up(include_str!("migrations/0022_refresh_retry_key.sql")),
];

/// The schema version this binary migrates to (`PRAGMA user_version`).
pub fn known_version() -> usize {
    MIGRATIONS.len()
}

pub fn apply(conn: &mut Connection, path: &str) -> Result<(), OpenError> {
    let corrupt = |detail: String| OpenError::Corrupt {
        path: path.to_owned(),
        detail,
    };
    let found: usize = conn
        .query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))
        .map(|v| usize::try_from(v).unwrap_or(0))
        .map_err(|e| corrupt(e.to_string()))?;
    if found > known_version() {
        return Err(OpenError::TooNew {
            path: path.to_owned(),
            found,
            known: known_version(),
        });
    }
    if found == known_version() {
        return Ok(());
    }
    let started = std::time::Instant::now();
    if found > 0 {
        tracing::info!(
            from = found,
            to = known_version(),
            "migrating the database; a large one can take a while (0007 rebuilds the \
             messages table, about 15 s per million messages)"
        );
    }
    // Some migrations rebuild a table that others refer to (0007): with
    // foreign keys on, dropping the old table would delete the rows that
    // refer to it. SQLite's procedure: keys off (outside any transaction),
    // migrate, check every reference before committing (the migration's
    // `foreign_key_check`), keys back on.
    conn.pragma_update(None, "foreign_keys", false)
        .map_err(|e| corrupt(e.to_string()))?;
    let migrated = Migrations::from_slice(MIGRATIONS)
        .to_latest(conn)
        .map_err(|e| corrupt(e.to_string()));
    conn.pragma_update(None, "foreign_keys", true)
        .map_err(|e| corrupt(e.to_string()))?;
    migrated?;
    if found > 0 {
        tracing::info!(
            seconds = started.elapsed().as_secs_f64(),
            "database migrated"
        );
    }
    Ok(())
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

    /// A database as the binary of schema `version` left it, with two users
    /// (u1, u2), foreign keys on as the server has them.
    fn written_by_version(dir: &tempfile::TempDir, version: usize) -> Connection {
        let mut conn = Connection::open(dir.path().join("parley.db")).unwrap();
        conn.pragma_update(None, "foreign_keys", true).unwrap();
        Migrations::from_slice(MIGRATIONS)
            .to_version(&mut conn, version)
            .unwrap();
        conn.execute_batch(
            "INSERT INTO users (id, identifier, display_name, created_at, updated_at) VALUES \
                ('u1', 'ana@example.org', 'Ana', 0, 0), ('u2', 'ben@example.org', 'Ben', 0, 0);",
        )
        .unwrap();
        conn
    }

    /// 0006 rebuilds the event log: every event of a database written by an
    /// older binary is still there, replayable per user in seq order.
    #[test]
    fn the_event_log_survives_its_rebuild() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = written_by_version(&dir, 5);
        conn.execute_batch(
            "INSERT INTO events (user_id, seq, payload, created_at) VALUES \
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

    /// 0007 rebuilds `messages` (the table other tables refer to): every
    /// message keeps its row and rowid, nothing that refers to one is
    /// deleted, search still finds old messages, edits still reach the
    /// search index, and a client id stays unique per sender only.
    #[test]
    fn messages_survive_their_rebuild() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = written_by_version(&dir, 6);
        conn.execute_batch(
            "INSERT INTO chats (id, user_a, user_b, last_seq, created_at, updated_at) \
                VALUES ('c1', 'u1', 'u2', 3, 0, 0); \
             INSERT INTO messages (rowid, id, chat_id, seq, sender_id, client_id, body, created_at) VALUES \
                (5, 'm1', 'c1', 1, 'u1', 'k1', 'soup at noon', 1), \
                (9, 'm2', 'c1', 2, 'u2', 'k1', 'bread please', 2), \
                (12, 'm3', 'c1', 3, 'u1', 'k2', 'pie later', 3); \
             INSERT INTO messages_fts (rowid, body) SELECT rowid, body FROM messages; \
             UPDATE fts_cursor SET last_rowid = 12; \
             INSERT INTO attachments (id, uploader_id, sha256, mime, size, created_at) \
                VALUES ('a1', 'u1', 'x', 'text/plain', 1, 0); \
             INSERT INTO message_attachments (message_id, attachment_id, position) VALUES ('m1', 'a1', 0); \
             INSERT INTO reactions (message_id, user_id, emoji, created_at) VALUES ('m2', 'u1', '👍', 4);",
        )
        .unwrap();
        apply(&mut conn, "parley.db").unwrap();

        let one = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
        let rows: Vec<(i64, String)> = conn
            .prepare("SELECT rowid, id FROM messages ORDER BY rowid")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            rows,
            [(5, "m1".into()), (9, "m2".into()), (12, "m3".into())]
        );
        assert_eq!(one("SELECT COUNT(*) FROM reactions"), 1);
        assert_eq!(one("SELECT COUNT(*) FROM message_attachments"), 1);
        assert_eq!(
            one("SELECT rowid FROM messages_fts WHERE messages_fts MATCH 'bread'"),
            9
        );
        // The search triggers came back: an edit is searchable.
        conn.execute(
            "UPDATE messages SET body = 'cake later' WHERE id = 'm3'",
            [],
        )
        .unwrap();
        assert_eq!(
            one("SELECT COUNT(*) FROM messages_fts WHERE messages_fts MATCH 'cake'"),
            1
        );
        assert_eq!(
            one("SELECT COUNT(*) FROM messages_fts WHERE messages_fts MATCH 'pie'"),
            0
        );
        // Foreign keys are on again, and still cascade.
        assert_eq!(one("PRAGMA foreign_keys"), 1);
        // Unique per sender: Ana cannot reuse k1, another sender could.
        let reuse = |sender: &str, seq: i64| {
            conn.execute(
                "INSERT INTO messages (id, chat_id, seq, sender_id, client_id, created_at) \
                 VALUES (?1, 'c1', ?2, ?3, 'k1', 5)",
                rusqlite::params![format!("n{seq}"), seq, sender],
            )
        };
        assert!(reuse("u1", 4).is_err());
        conn.execute("DELETE FROM messages WHERE id = 'm2'", [])
            .unwrap();
        assert!(reuse("u2", 5).is_ok());
        assert_eq!(
            one("SELECT COUNT(*) FROM reactions"),
            0,
            "the cascade still works"
        );
        // The idempotency lookup is served by the new index.
        let plan: String = conn
            .query_row(
                "EXPLAIN QUERY PLAN SELECT id FROM messages WHERE sender_id = 'u1' AND client_id = 'k2'",
                [],
                |r| r.get(3),
            )
            .unwrap();
        assert!(plan.contains("USING INDEX"), "{plan}");
    }
}
