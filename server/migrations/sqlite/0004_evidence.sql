-- Evidence files. The bytes live in the blob store (DIR/blobs by default), under their
-- SHA-256; these tables say who uploaded what, what is half uploaded, and which items
-- reference which files (for access checks and collection).

CREATE TABLE blobs (
    sha256          TEXT PRIMARY KEY NOT NULL,  -- lowercase hex
    size            BIGINT NOT NULL,
    kind            TEXT NOT NULL,              -- shared::evidence::FileKind, snake_case
    name            TEXT NOT NULL,              -- the first uploader's (safe) file name
    uploaded_by     TEXT NOT NULL,              -- counts against this user's quota
    has_thumbnail   INTEGER NOT NULL DEFAULT 0,
    created_at_ms   BIGINT NOT NULL,
    orphaned_at_ms  BIGINT                      -- first seen unreferenced; NULL when referenced
);
CREATE INDEX blobs_by_uploader ON blobs (uploaded_by);

-- Unfinished uploads: one per user and file. The bytes received so far are in
-- DIR/uploads/<id>; their count is the file's length.
CREATE TABLE uploads (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    username        TEXT NOT NULL,
    sha256          TEXT NOT NULL,
    size            BIGINT NOT NULL,
    name            TEXT NOT NULL,
    created_at_ms   BIGINT NOT NULL,
    touched_at_ms   BIGINT NOT NULL,
    UNIQUE (username, sha256)
);

-- Which items reference which files: rewritten with the item's index row.
CREATE TABLE item_evidence (
    item_id         TEXT NOT NULL REFERENCES items (id),
    sha256          TEXT NOT NULL,
    PRIMARY KEY (item_id, sha256)
);
CREATE INDEX item_evidence_by_file ON item_evidence (sha256);
