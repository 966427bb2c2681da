-- Per-server resource limits of its processes (docs/ARCHITECTURE.md "What a server process can
-- reach"): JSON {"memory_mib": n, "open_files": n, "processes": n}, each optional; a missing
-- one is the platform's default (the --server-* flags).
ALTER TABLE servers ADD COLUMN limits_json TEXT NOT NULL DEFAULT '{}';
