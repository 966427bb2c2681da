-- Foundation: organisations, groups, users, sessions, API tokens, servers, env vars, deployments.
-- Ids are UUIDs stored as text; times are Unix seconds. Secrets are vault ciphertexts (BLOB),
-- platform-issued tokens are SHA-256 hashes (BLOB).

CREATE TABLE orgs (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE groups (
    id          TEXT PRIMARY KEY NOT NULL,
    org_id      TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    is_default  INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    UNIQUE (org_id, name)
);

CREATE TABLE users (
    id             TEXT PRIMARY KEY NOT NULL,
    org_id         TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    group_id       TEXT NOT NULL REFERENCES groups(id),
    email          TEXT NOT NULL UNIQUE,
    password_hash  TEXT NOT NULL,
    role           TEXT NOT NULL CHECK (role IN ('admin', 'developer', 'member')),
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);

CREATE TABLE sessions (
    id          TEXT PRIMARY KEY NOT NULL,
    token_hash  BLOB NOT NULL UNIQUE,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);

CREATE TABLE api_tokens (
    id            TEXT PRIMARY KEY NOT NULL,
    user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    token_hash    BLOB NOT NULL UNIQUE,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER
);

CREATE TABLE servers (
    id                 TEXT PRIMARY KEY NOT NULL,
    slug               TEXT NOT NULL UNIQUE,
    name               TEXT NOT NULL,
    description        TEXT NOT NULL,
    icon               TEXT,
    auth_type          TEXT NOT NULL CHECK (auth_type IN ('oauth', 'cred', 'none')),
    config_yaml        TEXT NOT NULL,
    command            TEXT,
    args_json          TEXT NOT NULL DEFAULT '[]',
    working_dir        TEXT,
    enabled            INTEGER NOT NULL DEFAULT 1,
    owner_id           TEXT REFERENCES users(id) ON DELETE SET NULL,
    deploy_generation  INTEGER NOT NULL DEFAULT 1,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
);

-- The auth type never changes after creation (SPEC §2); the API refuses with 409 first, this
-- trigger is the last line of defence for anything that writes the table directly.
CREATE TRIGGER servers_auth_type_immutable
BEFORE UPDATE OF auth_type ON servers
WHEN NEW.auth_type <> OLD.auth_type
BEGIN
    SELECT RAISE(ABORT, 'auth_type_immutable');
END;

CREATE TABLE env_vars (
    id                TEXT PRIMARY KEY NOT NULL,
    server_id         TEXT NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
    name              TEXT NOT NULL,
    value_ciphertext  BLOB NOT NULL,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    UNIQUE (server_id, name)
);

CREATE TABLE deployments (
    id                 TEXT PRIMARY KEY NOT NULL,
    server_id          TEXT NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
    generation         INTEGER NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('deploying', 'live', 'failed', 'stopped')),
    address            TEXT,
    server_token_hash  BLOB,
    error              TEXT,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
);
CREATE INDEX deployments_by_server ON deployments (server_id, created_at);
