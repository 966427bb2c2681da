-- A call the gateway answered by asking the client for input (docs/PROTOCOL.md §5: connect an
-- account or enter credentials inside the call) is logged with a status of its own. SQLite
-- cannot change a CHECK constraint in place: the table is rebuilt with the same columns, rows
-- and indexes.
CREATE TABLE activity_next (
    id                INTEGER PRIMARY KEY,
    server_id         TEXT NOT NULL,
    user_id           TEXT NOT NULL,
    client_id         TEXT,
    tool              TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('success', 'error', 'denied', 'input_required')),
    started_at        INTEGER NOT NULL,
    duration_us       INTEGER NOT NULL,
    input             TEXT,
    input_truncated   INTEGER NOT NULL DEFAULT 0,
    output            TEXT,
    output_truncated  INTEGER NOT NULL DEFAULT 0,
    error             TEXT
);
INSERT INTO activity_next (id, server_id, user_id, client_id, tool, status, started_at,
                           duration_us, input, input_truncated, output, output_truncated, error)
    SELECT id, server_id, user_id, client_id, tool, status, started_at,
           duration_us, input, input_truncated, output, output_truncated, error
    FROM activity;
DROP TABLE activity;
ALTER TABLE activity_next RENAME TO activity;

CREATE INDEX activity_by_time ON activity (started_at, id, status, user_id, duration_us);
CREATE INDEX activity_by_server ON activity (server_id, started_at, id, status, user_id, duration_us);
CREATE INDEX activity_by_user ON activity (user_id, started_at, id, status, duration_us);
CREATE INDEX activity_by_tool ON activity (tool, started_at);
