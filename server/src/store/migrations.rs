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
    #[test]
    fn migrations_are_valid() {
        super::Migrations::from_slice(super::MIGRATIONS)
            .validate()
            .expect("migrations validate");
    }
}
