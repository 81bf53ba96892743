-- Accounts and login sessions. Never edit a landed migration: add a new numbered file.

CREATE TABLE users (
    username      TEXT PRIMARY KEY NOT NULL,
    display_name  TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('office', 'department', 'unit', 'viewer')),
    unit_id       TEXT,
    password_hash TEXT NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at_ms BIGINT NOT NULL
);

-- Bearer tokens are stored only as their SHA-256, so a copy of the database logs nobody in.
CREATE TABLE sessions (
    token_hash    TEXT PRIMARY KEY NOT NULL,
    username      TEXT NOT NULL REFERENCES users (username),
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    revoked       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX sessions_by_user ON sessions (username);

CREATE TABLE units (
    id   TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('school', 'kindergarten', 'department', 'other'))
);
