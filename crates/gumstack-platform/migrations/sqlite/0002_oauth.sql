-- The OAuth 2.1 authorization server for MCP clients (SPEC §7) and the platform's signing keys.

-- Ed25519 keys that sign access tokens and the identities the gateway forwards. The private key
-- is a vault ciphertext bound to (signing_keys, private_key, kid).
CREATE TABLE signing_keys (
    kid                 TEXT PRIMARY KEY NOT NULL,
    private_ciphertext  BLOB NOT NULL,
    public_x            TEXT NOT NULL,
    created_at          INTEGER NOT NULL,
    retired_at          INTEGER
);

-- Registered clients: by dynamic registration (client_id generated) or by client ID metadata
-- document (client_id is the document's URL; the row caches the fetched document).
CREATE TABLE oauth_clients (
    client_id                   TEXT PRIMARY KEY NOT NULL,
    kind                        TEXT NOT NULL CHECK (kind IN ('dynamic', 'metadata_document')),
    client_name                 TEXT,
    redirect_uris_json          TEXT NOT NULL,
    token_endpoint_auth_method  TEXT NOT NULL
        CHECK (token_endpoint_auth_method IN ('none', 'client_secret_basic', 'client_secret_post')),
    secret_hash                 BLOB,
    metadata_json               TEXT NOT NULL,
    created_at                  INTEGER NOT NULL,
    expires_at                  INTEGER NOT NULL
);

-- A user's authorization of a client for one server (resource). Revoking it ends every token
-- issued under it.
CREATE TABLE oauth_grants (
    id          TEXT PRIMARY KEY NOT NULL,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    client_id   TEXT NOT NULL,
    server_id   TEXT NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
    resource    TEXT NOT NULL,
    scope       TEXT,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);
CREATE INDEX oauth_grants_by_user ON oauth_grants (user_id);

CREATE TABLE oauth_codes (
    code_hash       BLOB PRIMARY KEY NOT NULL,
    grant_id        TEXT NOT NULL REFERENCES oauth_grants(id) ON DELETE CASCADE,
    client_id       TEXT NOT NULL,
    redirect_uri    TEXT NOT NULL,
    code_challenge  TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    used_at         INTEGER
);

CREATE TABLE oauth_refresh_tokens (
    token_hash  BLOB PRIMARY KEY NOT NULL,
    grant_id    TEXT NOT NULL REFERENCES oauth_grants(id) ON DELETE CASCADE,
    client_id   TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
);
CREATE INDEX oauth_refresh_tokens_by_grant ON oauth_refresh_tokens (grant_id);
