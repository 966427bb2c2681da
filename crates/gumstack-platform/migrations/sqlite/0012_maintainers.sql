-- Maintainers (SPEC §8): developers other than a server's owner who may manage it (settings,
-- env vars, deployments, disable, delete), added by the owner or an admin. The owner stays in
-- `servers.owner_id`; admins manage every server without a row here.
--
-- A row goes with its server and with its user (ON DELETE CASCADE: deleting an account leaves
-- no grant behind); the account that added it may be deleted and the row kept.
CREATE TABLE server_maintainers (
    server_id  TEXT NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    added_by   TEXT REFERENCES users(id) ON DELETE SET NULL,
    added_at   INTEGER NOT NULL,
    PRIMARY KEY (server_id, user_id)
);

-- "Which servers does this user maintain?" (the servers list, the activity log's read side).
CREATE INDEX server_maintainers_by_user ON server_maintainers (user_id);
