-- The uid each server's processes run under when the platform runs as root (docs/ARCHITECTURE.md
-- "What a server process can reach"): the lowest free one of --server-uid-range, given at the
-- server's first launch as root and kept, so a restarted platform gives every server the uid it
-- had, never another server's. NULL until then. Unique (NULLs are distinct): no two servers
-- share a uid.
ALTER TABLE servers ADD COLUMN uid INTEGER;
CREATE UNIQUE INDEX servers_uid ON servers (uid);
