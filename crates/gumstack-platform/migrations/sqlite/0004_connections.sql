-- OAuth connections of `oauth` servers (SPEC §3): a user's account at a provider, connected
-- through the platform's flow, with its tokens sealed in the vault (bound to the row).

-- A connect flow in progress: created when the user presses Connect, consumed (deleted) by
-- the callback. The state itself is never stored, only its SHA-256; the flow is bound to the
-- user, server, provider and the browser session that started it.
CREATE TABLE oauth_flows (
    state_hash            BLOB PRIMARY KEY NOT NULL,
    id                    TEXT NOT NULL UNIQUE,
    user_id               TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    server_id             TEXT NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
    provider              TEXT NOT NULL,
    session_hash          BLOB NOT NULL,
    verifier_ciphertext   BLOB NOT NULL,
    created_at            INTEGER NOT NULL,
    expires_at            INTEGER NOT NULL
);

CREATE INDEX oauth_flows_by_expiry ON oauth_flows (expires_at);

-- One connection per (user, server, provider). `version` grows with every change; a refresh
-- takes a lease (`lease_holder` until `lease_until`) with a compare-and-set on `version`, so one
-- refresh per connection runs at a time across processes without holding a transaction across
-- the provider call.
CREATE TABLE connections (
    id                    TEXT PRIMARY KEY NOT NULL,
    user_id               TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    server_id             TEXT NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
    provider              TEXT NOT NULL,
    nickname              TEXT NOT NULL,
    access_ciphertext     BLOB NOT NULL,
    -- SHA-256 of the access token, to recognise a token a tool reports as rejected.
    access_hash           BLOB NOT NULL,
    refresh_ciphertext    BLOB,
    expires_at            INTEGER,
    scope                 TEXT,
    status                TEXT NOT NULL CHECK (status IN ('active', 'needs_reauth')),
    -- The last refresh failure that kept the tokens: 'transient' or 'integration'.
    failure_kind          TEXT CHECK (failure_kind IN ('transient', 'integration')),
    failure_message       TEXT,
    failures              INTEGER NOT NULL DEFAULT 0,
    retry_at              INTEGER,
    version               INTEGER NOT NULL DEFAULT 0,
    lease_holder          TEXT,
    lease_until           INTEGER,
    obtained_at           INTEGER NOT NULL,
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL,
    UNIQUE (user_id, server_id, provider)
);

CREATE INDEX connections_by_expiry ON connections (status, expires_at);
