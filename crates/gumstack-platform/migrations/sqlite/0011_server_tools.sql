-- The tools of each server as the platform found them (SPEC §8, §10): at every deployment
-- that passes its health check the platform asks the new process `tools/list` with an
-- identity of its own (docs/PROTOCOL.md §2.1). A successful discovery replaces the server's
-- rows; a failed one leaves them as they were and is recorded on the deployment. The tools
-- config.yaml names are not copied here: they are read from the server's config.yaml, which
-- may change between deployments, and joined with these rows where tools are listed.
CREATE TABLE server_tools (
    server_id      TEXT NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    description    TEXT,
    -- The deployment whose `tools/list` answered it, and when.
    deployment_id  TEXT NOT NULL,
    discovered_at  INTEGER NOT NULL,
    PRIMARY KEY (server_id, name)
);

-- What each deployment's discovery found: the number of tools (NULL: not tried, or failed),
-- or why it failed (redacted). A failure never fails the deployment.
ALTER TABLE deployments ADD COLUMN tools_found INTEGER;
ALTER TABLE deployments ADD COLUMN discovery_error TEXT;
-- The last output (stdout and stderr interleaved) of the deployment's process, redacted of
-- the server's env values and bounded (the last 16 KiB): written when it goes live, when it
-- fails to start and when it is stopped.
ALTER TABLE deployments ADD COLUMN output TEXT;
