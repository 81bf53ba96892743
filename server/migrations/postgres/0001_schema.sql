-- The whole schema of Rectify's PostgreSQL backend: the same tables, columns and rules as the
-- SQLite migrations 0001–0005 (see there for what each table is for), in PostgreSQL's types.
-- Never edit a landed migration: add a new numbered file.
--
-- Text that is compared or sorted is COLLATE "C" (byte order, as SQLite and Rust sort), so
-- the lists come back in the same order whatever the database's own collation is.

-- Accounts and login sessions.
CREATE TABLE users (
    username      TEXT COLLATE "C" PRIMARY KEY,
    display_name  TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('office', 'department', 'unit', 'viewer')),
    unit_id       TEXT,
    password_hash TEXT NOT NULL,
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at_ms BIGINT NOT NULL
);

-- Bearer tokens are stored only as their SHA-256, so a copy of the database logs nobody in.
CREATE TABLE sessions (
    token_hash    TEXT COLLATE "C" PRIMARY KEY,
    username      TEXT COLLATE "C" NOT NULL REFERENCES users (username),
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    revoked       BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX sessions_by_user ON sessions (username);

CREATE TABLE units (
    id   TEXT COLLATE "C" PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('school', 'kindergarten', 'department', 'other'))
);

-- Automerge documents, kept as chunks: a snapshot (a full save) followed by incremental
-- saves. Loading concatenates them in id order; compaction replaces them with one snapshot.
CREATE TABLE documents (
    id            TEXT COLLATE "C" PRIMARY KEY,  -- bs58check document id
    kind          TEXT NOT NULL,                 -- 'campaign' | 'item'
    created_at_ms BIGINT NOT NULL
);

CREATE TABLE document_chunks (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    document_id   TEXT COLLATE "C" NOT NULL REFERENCES documents (id),
    data          BYTEA NOT NULL,
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX document_chunks_by_document ON document_chunks (document_id, id);

-- An index of the documents' contents, for listing, filtering and access checks without
-- loading every document.
CREATE TABLE campaigns (
    id            TEXT COLLATE "C" PRIMARY KEY REFERENCES documents (id),
    natural_key   TEXT COLLATE "C" NOT NULL UNIQUE,  -- inspector|inspected|feedback date
    name          TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);

CREATE TABLE items (
    id              TEXT COLLATE "C" PRIMARY KEY REFERENCES documents (id),
    campaign_id     TEXT COLLATE "C" NOT NULL REFERENCES campaigns (id),
    item_key        TEXT COLLATE "C" NOT NULL,  -- area.problem[.sub]
    title           TEXT NOT NULL,
    status          TEXT NOT NULL,              -- done | done_long_term | in_progress
    units           TEXT NOT NULL,              -- JSON array of unit ids
    department      TEXT,
    deadline        TEXT,
    updated_at_ms   BIGINT NOT NULL,
    UNIQUE (campaign_id, item_key)
);

-- The sync server's identity (peer id, storage id: made once and kept).
CREATE TABLE server_meta (
    key   TEXT COLLATE "C" PRIMARY KEY,
    value TEXT NOT NULL
);

-- Changes the policy refused.
CREATE TABLE quarantine (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    document_id    TEXT COLLATE "C" NOT NULL,
    username       TEXT NOT NULL,
    reason         TEXT NOT NULL,
    change_bytes   BYTEA NOT NULL,
    received_at_ms BIGINT NOT NULL
);
CREATE INDEX quarantine_by_document ON quarantine (document_id, id);

-- Evidence files (the bytes live in the blob store, DIR/blobs).
CREATE TABLE blobs (
    sha256          TEXT COLLATE "C" PRIMARY KEY,  -- lowercase hex
    size            BIGINT NOT NULL,
    kind            TEXT NOT NULL,                 -- shared::evidence::FileKind, snake_case
    name            TEXT NOT NULL,                 -- the first uploader's (safe) file name
    uploaded_by     TEXT COLLATE "C" NOT NULL,     -- counts against this user's quota
    has_thumbnail   BOOLEAN NOT NULL DEFAULT FALSE,
    created_at_ms   BIGINT NOT NULL,
    orphaned_at_ms  BIGINT                         -- first seen unreferenced; NULL when referenced
);
CREATE INDEX blobs_by_uploader ON blobs (uploaded_by);

-- Unfinished uploads: one per user and file (bytes so far in DIR/uploads/<id>).
CREATE TABLE uploads (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username        TEXT COLLATE "C" NOT NULL,
    sha256          TEXT COLLATE "C" NOT NULL,
    size            BIGINT NOT NULL,
    name            TEXT NOT NULL,
    created_at_ms   BIGINT NOT NULL,
    touched_at_ms   BIGINT NOT NULL,
    UNIQUE (username, sha256)
);

-- Which items reference which files: rewritten with the item's index row.
CREATE TABLE item_evidence (
    item_id         TEXT COLLATE "C" NOT NULL REFERENCES items (id),
    sha256          TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (item_id, sha256)
);
CREATE INDEX item_evidence_by_file ON item_evidence (sha256);

-- When the server first stored each Automerge change (written with the chunk that carries
-- it; compaction never touches this table).
CREATE TABLE change_arrivals (
    document_id    TEXT COLLATE "C" NOT NULL REFERENCES documents (id),
    change_hash    TEXT COLLATE "C" NOT NULL,  -- lowercase hex
    received_at_ms BIGINT NOT NULL,
    PRIMARY KEY (document_id, change_hash)
);
