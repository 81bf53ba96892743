-- Several replicas on one database (issue #18): every document has a version, raised by one
-- in the transaction that appends a chunk (gap-free: the row lock orders the appenders), and
-- each chunk keeps the version it was appended at, so a replica holding version V reads only
-- the chunks above V. Documents and chunks stored before this migration are at version 0.
ALTER TABLE documents ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE document_chunks ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
CREATE INDEX document_chunks_by_version ON document_chunks (document_id, version);
