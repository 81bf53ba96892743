-- The sync server's identity and the changes it refused.

-- Clients key their saved sync state by the server's storage id, so the server's peer id and
-- storage id are made once and kept.
CREATE TABLE server_meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

-- Changes the policy refused: who sent them, when, for which document, and why. The bytes
-- load on top of the document with load_incremental, for inspection.
CREATE TABLE quarantine (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    document_id    TEXT NOT NULL,
    username       TEXT NOT NULL,
    reason         TEXT NOT NULL,
    change_bytes   BLOB NOT NULL,
    received_at_ms BIGINT NOT NULL
);
CREATE INDEX quarantine_by_document ON quarantine (document_id, id);
