-- A message its sender forwarded from another chat (1), or not (0).
ALTER TABLE messages ADD COLUMN forwarded INTEGER NOT NULL DEFAULT 0;
