-- Automerge documents, kept as chunks: a snapshot (a full save) followed by incremental
-- saves. Loading concatenates them in id order; compaction replaces them with one snapshot.

CREATE TABLE documents (
    id            TEXT PRIMARY KEY NOT NULL,  -- bs58check document id
    kind          TEXT NOT NULL,              -- 'campaign' | 'item'
    created_at_ms BIGINT NOT NULL
);

CREATE TABLE document_chunks (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    document_id   TEXT NOT NULL REFERENCES documents (id),
    data          BLOB NOT NULL,
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX document_chunks_by_document ON document_chunks (document_id, id);

-- An index of the documents' contents, for listing, filtering and access checks without
-- loading every document. Rebuilt from the documents when they change.
CREATE TABLE campaigns (
    id            TEXT PRIMARY KEY NOT NULL REFERENCES documents (id),
    natural_key   TEXT NOT NULL UNIQUE,  -- inspector|inspected|feedback date
    name          TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);

CREATE TABLE items (
    id              TEXT PRIMARY KEY NOT NULL REFERENCES documents (id),
    campaign_id     TEXT NOT NULL REFERENCES campaigns (id),
    item_key        TEXT NOT NULL,       -- area.problem[.sub]
    title           TEXT NOT NULL,
    status          TEXT NOT NULL,       -- done | done_long_term | in_progress
    units           TEXT NOT NULL,       -- JSON array of unit ids
    department      TEXT,
    deadline        TEXT,
    updated_at_ms   BIGINT NOT NULL,
    UNIQUE (campaign_id, item_key)
);
