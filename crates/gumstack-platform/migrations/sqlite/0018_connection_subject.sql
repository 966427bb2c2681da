-- The account's stable id at the provider (OpenID `sub`, a user id), when the server's provider
-- code gives one (docs/PROTOCOL.md §4 `nickname`): reconnecting the same account — the same
-- subject, or, without one, the same nickname — replaces that account's tokens, also when its
-- name at the provider changed.
ALTER TABLE connections ADD COLUMN subject TEXT;
CREATE UNIQUE INDEX connections_by_subject ON connections (user_id, server_id, provider, subject)
    WHERE subject IS NOT NULL;
