//! The per-user event log.

use super::StoreError;
use rusqlite::{params, Connection, OptionalExtension};

/// Appends `event` to `user_id`'s log; returns its seq. Must run in the same
/// transaction as the change it describes. `delivers` is the chat and the
/// message seq of a `message.created` sent to `user_id` by someone else: an
/// ack past this event makes that message delivered.
pub fn append(
    conn: &Connection,
    user_id: &str,
    event_json: &str,
    now: i64,
    delivers: Option<(&str, u64)>,
) -> Result<u64, StoreError> {
    // Only the writer thread (or an admin command's immediate transaction)
    // appends, so nothing moves between this read and the insert; the unique
    // (user_id, seq) index would refuse a duplicate anyway.
    let seq = current_seq(conn, user_id)? as i64 + 1;
    let (chat_id, chat_seq) = delivers.map_or((None, None), |(c, s)| (Some(c), Some(s as i64)));
    conn.prepare_cached(
        "INSERT INTO events (user_id, seq, payload, created_at, chat_id, chat_seq) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![user_id, seq, event_json, now, chat_id, chat_seq])?;
    Ok(seq as u64)
}

/// The user's last seq: the newest event's (one descent of the
/// `(user_id, seq)` index, whose leaf the next append touches anyway), or,
/// once retention has pruned all of them, the floor `prune` leaves in
/// `users.event_seq`. Keeping a counter in `users` instead cost an update of
/// the user's row on every append.
pub fn current_seq(conn: &Connection, user_id: &str) -> Result<u64, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT COALESCE((SELECT MAX(seq) FROM events WHERE user_id = ?1), \
                             (SELECT event_seq FROM users WHERE id = ?1), 0)",
        )?
        .query_row([user_id], |r| r.get::<_, i64>(0))? as u64)
}

/// The oldest seq still retained, if any event is.
pub fn oldest_seq(conn: &Connection, user_id: &str) -> Result<Option<u64>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT MIN(seq) FROM events WHERE user_id = ?1")?
        .query_row([user_id], |r| r.get::<_, Option<i64>>(0))?
        .map(|s| s as u64))
}

/// Events with `seq > after`, oldest first, at most `limit`; payloads as stored
/// JSON so replay does not re-serialise.
pub fn after(
    conn: &Connection,
    user_id: &str,
    after: u64,
    limit: u32,
) -> Result<Vec<(u64, String)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, payload FROM events WHERE user_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![user_id, super::sql_seq(after), limit], |r| {
        Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Records a device's acknowledged cursor (never moves backwards).
pub fn ack(conn: &Connection, device_id: &str, up_to: u64) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE devices SET acked_seq = MAX(acked_seq, ?2) WHERE id = ?1")?
        .execute(params![device_id, super::sql_seq(up_to)])?;
    Ok(())
}

/// Deletes events older than `cutoff` ms; returns how many.
///
/// The log is appended in commit order, so the old events are a prefix of the
/// table: find the first one young enough to keep (scanning only the ones
/// about to go) and delete everything before it. Times are taken just before
/// a write is queued, so neighbours can be a few milliseconds out of order;
/// against a retention of days that is noise.
///
/// At most `batch` events go in one call (one writer job, whose undo is held
/// in memory and which every send waits behind: a retention lowered from 30
/// days to 7 must not delete millions of rows at once); returns how many
/// went and whether more are due.
pub fn prune(conn: &Connection, cutoff: i64, batch: i64) -> Result<(usize, bool), StoreError> {
    let oldest: Option<i64> = conn
        .prepare_cached("SELECT MIN(id) FROM events")?
        .query_row([], |r| r.get(0))?;
    let Some(oldest) = oldest else {
        return Ok((0, false));
    };
    // The first event young enough to keep, looked for only within this
    // batch (the log has no index by time: a search from the start would
    // read the whole expired part again for every batch).
    let end = oldest.saturating_add(batch.max(1));
    let young: Option<i64> = conn
        .prepare_cached(
            "SELECT id FROM events WHERE id >= ?1 AND id < ?2 AND created_at >= ?3 \
             ORDER BY id LIMIT 1",
        )?
        .query_row(params![oldest, end, cutoff], |r| r.get(0))
        .optional()?;
    let until = young.unwrap_or(end);
    // Seqs never go back: whoever loses events keeps their last seq as a floor.
    conn.prepare_cached(
        "UPDATE users SET event_seq = (SELECT MAX(seq) FROM events WHERE user_id = users.id) \
         WHERE id IN (SELECT DISTINCT user_id FROM events WHERE id < ?1)",
    )?
    .execute([until])?;
    let deleted = conn
        .prepare_cached("DELETE FROM events WHERE id < ?1")?
        .execute([until])?;
    // More when this batch found nothing young and the next event is old
    // too (one row read, not a scan).
    let next: Option<i64> = if young.is_some() {
        None
    } else {
        conn.prepare_cached("SELECT created_at FROM events WHERE id >= ?1 ORDER BY id LIMIT 1")?
            .query_row([until], |r| r.get(0))
            .optional()?
    };
    Ok((deleted, next.is_some_and(|t| t < cutoff)))
}

#[cfg(test)]
mod tests {
    use super::super::{users, Store, StoreError};
    use super::*;

    /// Retention deletes the old prefix of the log and nothing younger, and a
    /// user's seq keeps counting from where it was (cursors never go back).
    #[tokio::test]
    async fn prune_deletes_only_what_is_older_than_the_cutoff() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("parley.db"), 1).unwrap();
        let (left, seq) = store
            .write(|c| -> Result<_, StoreError> {
                users::insert(c, "u1", "ana@example.org", "Ana", 0)?;
                users::insert(c, "u2", "ben@example.org", "Ben", 0)?;
                for t in [100, 200, 300, 400] {
                    append(c, "u1", "{}", t, None)?;
                    append(c, "u2", "{}", t, None)?;
                }
                assert_eq!(prune(c, 50, 100)?, (0, false), "nothing is that old");
                // The events at 100 and 200, three at a time.
                assert_eq!(prune(c, 300, 3)?, (3, true));
                assert_eq!(prune(c, 300, 3)?, (1, false));
                assert_eq!(prune(c, 300, 3)?, (0, false), "pruning twice is a no-op");
                let left = after(c, "u1", 0, 10)?;
                Ok((left, append(c, "u1", "{}", 500, None)?))
            })
            .await
            .unwrap();
        assert_eq!(left.iter().map(|e| e.0).collect::<Vec<_>>(), [3, 4]);
        assert_eq!(seq, 5);
        let all = store
            .write(|c| -> Result<_, StoreError> {
                let (n, more) = prune(c, i64::MAX, 1000)?;
                assert!(!more);
                let left = (n, oldest_seq(c, "u1")?, current_seq(c, "u1")?);
                Ok((
                    left,
                    append(c, "u1", "{}", 600, None)?,
                    current_seq(c, "u2")?,
                ))
            })
            .await
            .unwrap();
        assert_eq!(all.0, (5, None, 5), "everything pruned; the seq stays");
        assert_eq!(all.1, 6, "and the next event follows it");
        assert_eq!(all.2, 4, "for every user who lost events");
    }
}
