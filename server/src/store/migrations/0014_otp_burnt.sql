-- Codes of an identifier burnt in a row (too many wrong tries), until a
-- right one: each doubles the wait before the next code may be sent, so
-- guessing cannot go on at the pace of burning a code and asking again.
-- A burnt code's row now stays until it expires (and a day more when
-- anything was burnt), so the count and the wait survive it.
ALTER TABLE otp_codes ADD COLUMN burnt INTEGER NOT NULL DEFAULT 0;
