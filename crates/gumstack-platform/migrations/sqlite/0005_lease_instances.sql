-- Who holds a connection's refresh lease, recognisably enough that a process which is gone
-- does not block the connection for the lease's whole term (docs/ARCHITECTURE.md,
-- "Connections").
--
-- Every platform process gets a new instance id when it starts and writes its heartbeat here
-- every few seconds. A lease names the instance that took it; a lease whose instance has no
-- row, or a heartbeat older than the staleness bound, may be taken over before `lease_until`.
CREATE TABLE platform_instances (
    id                    TEXT PRIMARY KEY NOT NULL,
    started_at            INTEGER NOT NULL,
    heartbeat_at          INTEGER NOT NULL
);

ALTER TABLE connections ADD COLUMN lease_instance TEXT;
