-- Session management (issue #20): each session gets a public id (random, never the token
-- or its hash, so a list of sessions holds nothing that logs anyone in), the device it was
-- opened on (a short label made from the login's User-Agent; '' = unknown, as for every
-- session opened before this migration) and when it was last used (0 = never recorded:
-- the session's creation time stands in).
ALTER TABLE sessions ADD COLUMN public_id TEXT;
ALTER TABLE sessions ADD COLUMN device TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN last_seen_ms BIGINT NOT NULL DEFAULT 0;
UPDATE sessions SET public_id = lower(hex(randomblob(12))), last_seen_ms = created_at_ms;
CREATE UNIQUE INDEX sessions_by_public_id ON sessions (public_id);
