-- Per-user event log, contact codes, connection requests, connections, device
-- links and invites.

-- Last seq appended to each user's event log.
ALTER TABLE users ADD COLUMN event_seq INTEGER NOT NULL DEFAULT 0;
-- Highest seq each device acknowledged as durably stored.
ALTER TABLE devices ADD COLUMN acked_seq INTEGER NOT NULL DEFAULT 0;

CREATE TABLE events (
    user_id    TEXT    NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    payload    TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, seq)
) STRICT, WITHOUT ROWID;
CREATE INDEX events_by_time ON events(created_at);

-- Codes and short codes are stored as SHA-256 hashes: a database leak does not
-- hand out live codes.
CREATE TABLE contact_codes (
    id          TEXT    NOT NULL PRIMARY KEY,
    user_id     TEXT    NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_hash   BLOB    NOT NULL UNIQUE,
    short_hash  BLOB    NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    revoked_at  INTEGER,
    consumed_at INTEGER,
    consumed_by TEXT
) STRICT;
CREATE INDEX contact_codes_by_user ON contact_codes(user_id);
CREATE INDEX contact_codes_by_short ON contact_codes(short_hash);
CREATE INDEX contact_codes_by_expiry ON contact_codes(expires_at);

CREATE TABLE connection_requests (
    id          TEXT    NOT NULL PRIMARY KEY,
    from_user   TEXT    NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    to_user     TEXT    NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    status      TEXT    NOT NULL DEFAULT 'pending',
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    resolved_at INTEGER
) STRICT;
CREATE INDEX connection_requests_to ON connection_requests(to_user, status);
CREATE INDEX connection_requests_from ON connection_requests(from_user, status);

-- Both directions are stored so "my contacts" is one index range.
CREATE TABLE connections (
    user_id    TEXT    NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    peer_id    TEXT    NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, peer_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE device_links (
    id           TEXT    NOT NULL PRIMARY KEY,
    secret_hash  BLOB    NOT NULL,
    device_name  TEXT    NOT NULL,
    platform     TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    approved_by  TEXT REFERENCES users(id) ON DELETE CASCADE,
    approved_at  INTEGER,
    collected_at INTEGER
) STRICT;
CREATE INDEX device_links_by_expiry ON device_links(expires_at);

CREATE TABLE device_invites (
    id          TEXT    NOT NULL PRIMARY KEY,
    code_hash   BLOB    NOT NULL UNIQUE,
    user_id     TEXT    NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    redeemed_at INTEGER
) STRICT;
CREATE INDEX device_invites_by_expiry ON device_invites(expires_at);
