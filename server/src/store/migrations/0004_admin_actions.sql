-- Operator actions taken with `parley-server admin` from another process. The
-- running server polls this table (by id) to close the sockets of a disabled
-- account or a revoked device at once. AUTOINCREMENT: ids are never reused
-- after old rows are pruned, so the poll cursor never skips an action.

CREATE TABLE admin_actions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    action     TEXT    NOT NULL,
    target     TEXT    NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX admin_actions_by_time ON admin_actions(created_at);
