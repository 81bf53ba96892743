-- Every document has a version, raised by one with each chunk appended; each chunk keeps the
-- version it was appended at (the same schema as PostgreSQL's, where several replicas read
-- the chunks above the version they hold). Existing documents and chunks are at version 0.
ALTER TABLE documents ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE document_chunks ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
CREATE INDEX document_chunks_by_version ON document_chunks (document_id, version);
