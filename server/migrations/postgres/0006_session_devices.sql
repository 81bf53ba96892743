-- Session management (issue #20): each session gets a public id (random, never the token
-- or its hash, so a list of sessions holds nothing that logs anyone in), the device it was
-- opened on (a short label made from the login's User-Agent; '' = unknown, as for every
-- session opened before this migration) and when it was last used.
ALTER TABLE sessions ADD COLUMN public_id TEXT COLLATE "C";
ALTER TABLE sessions ADD COLUMN device TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN last_seen_ms BIGINT NOT NULL DEFAULT 0;
UPDATE sessions
SET public_id = substr(md5(random()::text || clock_timestamp()::text || token_hash), 1, 24),
    last_seen_ms = created_at_ms;
CREATE UNIQUE INDEX sessions_by_public_id ON sessions (public_id);
