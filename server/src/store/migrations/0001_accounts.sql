-- Accounts, devices, sign-in codes and refresh tokens.
-- Timestamps are unix milliseconds (INTEGER); ids are UUIDv7 strings.

CREATE TABLE users (
    id                TEXT    NOT NULL PRIMARY KEY,
    identifier        TEXT    NOT NULL UNIQUE,
    display_name      TEXT    NOT NULL,
    username          TEXT    UNIQUE COLLATE NOCASE,
    bio               TEXT    NOT NULL DEFAULT '',
    status_text       TEXT    NOT NULL DEFAULT '',
    read_receipts     INTEGER NOT NULL DEFAULT 1,
    last_seen_visible INTEGER NOT NULL DEFAULT 1,
    avatar_version    INTEGER,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    disabled_at       INTEGER
) STRICT;

CREATE TABLE avatars (
    user_id TEXT NOT NULL PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    mime    TEXT NOT NULL,
    data    BLOB NOT NULL
) STRICT;

CREATE TABLE devices (
    id           TEXT    NOT NULL PRIMARY KEY,
    user_id      TEXT    NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    platform     TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    revoked_at   INTEGER
) STRICT;
CREATE INDEX devices_by_user ON devices(user_id);

-- One row per refresh token ever issued to a live device. `rotated_at` set means
-- the token was exchanged; presenting it again is theft and revokes the device.
CREATE TABLE refresh_tokens (
    token_hash BLOB    NOT NULL PRIMARY KEY,
    device_id  TEXT    NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    rotated_at INTEGER
) STRICT;
CREATE INDEX refresh_tokens_by_device ON refresh_tokens(device_id);

-- At most one live code per identifier; only its keyed hash is stored.
CREATE TABLE otp_codes (
    identifier TEXT    NOT NULL PRIMARY KEY,
    code_hash  BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0
) STRICT;
