-- When the server first stored each Automerge change, for the item history (the device's own
-- timestamp in a change may be wrong, or days old when the device was offline). Written in
-- the same transaction as the chunk that carries the changes; compaction rewrites chunks and
-- never touches this table. Changes stored before this table existed have no row.

CREATE TABLE change_arrivals (
    document_id    TEXT NOT NULL REFERENCES documents (id),
    change_hash    TEXT NOT NULL,   -- lowercase hex, as automerge prints a ChangeHash
    received_at_ms BIGINT NOT NULL,
    PRIMARY KEY (document_id, change_hash)
) WITHOUT ROWID;
