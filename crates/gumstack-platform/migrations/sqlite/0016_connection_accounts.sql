-- Several accounts of one provider per user and server (SPEC §3): a connection is now one
-- account, told apart from the user's other accounts of that provider by its nickname (the
-- provider's `get_nickname`). Reconnecting the same account replaces that row; one account of
-- each (user, server, provider) is the default, the one a tool gets unless it names another.
-- The user may give an account a label of their own.
--
-- SQLite cannot drop a UNIQUE constraint in place: the table is rebuilt with the same columns
-- and rows, every existing connection becoming its provider's default.
CREATE TABLE connections_next (
    id                    TEXT PRIMARY KEY NOT NULL,
    user_id               TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    server_id             TEXT NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
    provider              TEXT NOT NULL,
    nickname              TEXT NOT NULL,
    -- The user's own name for the account (NULL: the nickname is shown).
    label                 TEXT,
    is_default            INTEGER NOT NULL DEFAULT 0 CHECK (is_default IN (0, 1)),
    access_ciphertext     BLOB NOT NULL,
    access_hash           BLOB NOT NULL,
    refresh_ciphertext    BLOB,
    expires_at            INTEGER,
    scope                 TEXT,
    status                TEXT NOT NULL CHECK (status IN ('active', 'needs_reauth')),
    failure_kind          TEXT CHECK (failure_kind IN ('transient', 'integration')),
    failure_message       TEXT,
    failures              INTEGER NOT NULL DEFAULT 0,
    retry_at              INTEGER,
    version               INTEGER NOT NULL DEFAULT 0,
    lease_holder          TEXT,
    lease_until           INTEGER,
    lease_instance        TEXT,
    obtained_at           INTEGER NOT NULL,
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL,
    UNIQUE (user_id, server_id, provider, nickname)
);
INSERT INTO connections_next (id, user_id, server_id, provider, nickname, label, is_default,
                              access_ciphertext, access_hash, refresh_ciphertext, expires_at,
                              scope, status, failure_kind, failure_message, failures, retry_at,
                              version, lease_holder, lease_until, lease_instance, obtained_at,
                              created_at, updated_at)
    SELECT id, user_id, server_id, provider, nickname, NULL, 1,
           access_ciphertext, access_hash, refresh_ciphertext, expires_at,
           scope, status, failure_kind, failure_message, failures, retry_at,
           version, lease_holder, lease_until, lease_instance, obtained_at,
           created_at, updated_at
    FROM connections;
DROP TABLE connections;
ALTER TABLE connections_next RENAME TO connections;

CREATE INDEX connections_by_expiry ON connections (status, expires_at);
-- At most one default account per (user, server, provider).
CREATE UNIQUE INDEX connections_one_default ON connections (user_id, server_id, provider)
    WHERE is_default = 1;
