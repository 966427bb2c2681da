-- Master-key and signing-key rotation (SPEC §11).

-- Which master keys each platform instance holds, reported with its heartbeat: `gumstackd key
-- rotate` re-seals only once every live instance seals with the new key, and `key retire`
-- refuses while one still does with the old. Key ids are visible ASCII without spaces; the
-- list is space-separated. NULL: the instance did not report (an older version).
ALTER TABLE platform_instances ADD COLUMN master_key_ids TEXT;
ALTER TABLE platform_instances ADD COLUMN active_master_key TEXT;

-- When a signing key starts signing (NULL: when it was created). A new key is published in
-- the JWKS at once and signs only from here, so every instance accepts its tokens first; the
-- key it replaces keeps verifying until every token it signed has expired, then is removed.
ALTER TABLE signing_keys ADD COLUMN activates_at INTEGER;
