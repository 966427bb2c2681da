-- Per-user credentials of `cred` servers (SPEC §4): the form's values, sealed together in one
-- vault ciphertext bound to (credentials, values, user, server, row). `hints_json` keeps what
-- may be shown after saving: which fields are set and the last two characters of secrets.
CREATE TABLE credentials (
    id                 TEXT PRIMARY KEY NOT NULL,
    user_id            TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    server_id          TEXT NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
    values_ciphertext  BLOB NOT NULL,
    hints_json         TEXT NOT NULL,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    UNIQUE (user_id, server_id)
);

CREATE INDEX deployments_by_token ON deployments (server_token_hash);
