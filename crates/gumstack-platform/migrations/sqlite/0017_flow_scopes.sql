-- The scopes a connect flow asked the provider for (the `scope` parameter of the authorization
-- URL the platform checked), space-separated. When the provider's token response names no
-- scope, it granted these (RFC 6749 §5.1), and the connection records them: a tool that needs
-- more is sent to connect again for them (docs/PROTOCOL.md §3).
ALTER TABLE oauth_flows ADD COLUMN requested_scope TEXT;
