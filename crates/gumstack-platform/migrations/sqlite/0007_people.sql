-- Keys, tokens and people: API tokens with a lifecycle, and users an admin can disable.

-- A disabled user cannot log in; their sessions, API tokens and MCP-client grants were ended
-- when they were disabled. NULL: enabled.
ALTER TABLE users ADD COLUMN disabled_at INTEGER;

-- Every API token expires. Tokens made before expiry existed get 90 days from their last use
-- (or creation), so an idle old token ends and one a script uses keeps working for a while.
ALTER TABLE api_tokens ADD COLUMN expires_at INTEGER NOT NULL DEFAULT 0;
UPDATE api_tokens SET expires_at = COALESCE(last_used_at, created_at) + 7776000;

-- The role the user had when the token was made: a demotion ends the tokens of a role the
-- user no longer has. (A token acts with its user's current role.)
ALTER TABLE api_tokens ADD COLUMN role TEXT NOT NULL DEFAULT 'member'
    CHECK (role IN ('admin', 'developer', 'member'));
UPDATE api_tokens SET role = (SELECT u.role FROM users u WHERE u.id = api_tokens.user_id);

CREATE INDEX api_tokens_by_user ON api_tokens (user_id);
