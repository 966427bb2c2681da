-- The audit trail of admin and developer actions (SPEC §9, issue 12 item 4): who changed what,
-- when, from where. Append-only and tamper-evident: each record carries the hash of the one
-- before it, and its own hash is HMAC-SHA256(key, prev_hash || the record's canonical
-- encoding) under a key sealed in the vault (`audit_head.key_ciphertext`), so someone who can
-- write the database cannot recompute the chain. `gumstackd audit verify` walks it.

CREATE TABLE audit_log (
    -- 1, 2, 3… with no gap: the position in the chain.
    seq          INTEGER PRIMARY KEY,
    at           INTEGER NOT NULL,
    -- The acting user's id; no foreign key: records outlive the account (they keep its email in
    -- actor_label). NULL for the CLI, whose label is "cli (operator)".
    actor_id     TEXT,
    actor_label  TEXT NOT NULL,
    action       TEXT NOT NULL,
    target_kind  TEXT NOT NULL,
    target_id    TEXT,
    target_label TEXT NOT NULL,
    -- A JSON object of names and flags, never a secret value (env var NAMES only).
    details      TEXT NOT NULL,
    -- The client's address (after trusted proxies); NULL for the CLI.
    source       TEXT,
    prev_hash    TEXT NOT NULL,
    hash         TEXT NOT NULL
);

CREATE INDEX audit_log_at ON audit_log (at, seq);
CREATE INDEX audit_log_actor_id ON audit_log (actor_id, seq);
CREATE INDEX audit_log_actor_label ON audit_log (actor_label, seq);
CREATE INDEX audit_log_action ON audit_log (action, seq);
CREATE INDEX audit_log_target ON audit_log (target_kind, seq);

-- A guard, not the protection: whoever can write the file can drop these. The chain is what
-- detects a change.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

-- The chain's head, one row: how many records there are and the last one's hash (so records
-- cut off the end are detected), a MAC over both, and the chain's key sealed in the vault
-- (re-sealed by `gumstackd key rotate`). Every append updates this row first, inside its
-- write transaction, which serialises appends across processes.
CREATE TABLE audit_head (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    count          INTEGER NOT NULL,
    last_hash      TEXT NOT NULL,
    head_mac       TEXT,
    key_id         TEXT UNIQUE,
    key_ciphertext BLOB
);

INSERT INTO audit_head (id, count, last_hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
