-- The activity log (SPEC §9): one row per `tools/call` that went through the gateway, written
-- off the request path when the call has ended (a call in progress lives only in the memory
-- of the instance serving it, so a crash never leaves a row "In Progress"). Inputs, outputs
-- and errors are redacted before they are written and capped at 16 KiB each.
--
-- No foreign keys: a record outlives the deletion of its user, client or server until the
-- retention job prunes it; the views join for names and say "deleted" when nothing matches.
CREATE TABLE activity (
    id                INTEGER PRIMARY KEY,
    server_id         TEXT NOT NULL,
    user_id           TEXT NOT NULL,
    -- The OAuth client (MCP client) the call came from.
    client_id         TEXT,
    tool              TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('success', 'error', 'denied')),
    -- Unix milliseconds.
    started_at        INTEGER NOT NULL,
    duration_us       INTEGER NOT NULL,
    input             TEXT,
    input_truncated   INTEGER NOT NULL DEFAULT 0,
    output            TEXT,
    output_truncated  INTEGER NOT NULL DEFAULT 0,
    error             TEXT
);

-- Every view is newest first, filtered by server, user or tool or none of them; pages are keyset
-- (started_at, id), the order of each index, so a deep page costs what the first one does. The
-- columns after id make the seven-day stats of each view an index-only range scan (docs/BENCHMARKS.md).
CREATE INDEX activity_by_time ON activity (started_at, id, status, user_id, duration_us);
CREATE INDEX activity_by_server ON activity (server_id, started_at, id, status, user_id, duration_us);
CREATE INDEX activity_by_user ON activity (user_id, started_at, id, status, duration_us);
CREATE INDEX activity_by_tool ON activity (tool, started_at);

-- Records the writer could not keep (its queue was full for too long): how many, and when.
-- The Activity pages show the total, so a gap in the log is never silent.
CREATE TABLE activity_lost (
    id        INTEGER PRIMARY KEY,
    at        INTEGER NOT NULL,
    records   INTEGER NOT NULL
);
