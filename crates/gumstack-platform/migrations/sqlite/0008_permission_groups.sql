-- Permission groups (SPEC §8): what each group may do with each server. Every user is in
-- exactly one group (`users.group_id`); without a row here a group may use the server and
-- call every tool (today's behaviour, and the default group's).

-- Per group × server: may the group use the server at all, and what a tool without its own
-- row gets (new tools follow it).
CREATE TABLE group_servers (
    group_id       TEXT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    server_id      TEXT NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
    enabled        INTEGER NOT NULL,
    default_allow  INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    PRIMARY KEY (group_id, server_id)
);

-- Per group × server × tool: allow or deny, overriding the group's default for the server.
CREATE TABLE group_tools (
    group_id    TEXT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    server_id   TEXT NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
    tool        TEXT NOT NULL,
    allowed     INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (group_id, server_id, tool)
);

CREATE INDEX users_by_group ON users (group_id);
