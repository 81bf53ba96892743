-- Unfinished uploads are staged in the database, not on one replica's disk: a resumable
-- upload's next PATCH may reach another replica, which must find the bytes received so far.
-- Uploads staged in DIR/uploads/ before this migration start again from byte 0.
--
-- `writer` is the generation of the request allowed to append (a newer PATCH takes over an
-- older one whose connection may be dead): bumped by each PATCH, checked by each append.
ALTER TABLE uploads ADD COLUMN writer BIGINT NOT NULL DEFAULT 0;

-- The bytes received so far, in parts that follow each other without gaps: a part starts
-- where the ones before it end (the sum of their sizes), which the append checks in the
-- same statement; the key refuses a second part at one offset, so two appends racing from
-- one offset store one part.
CREATE TABLE upload_parts (
    upload_id       BIGINT NOT NULL REFERENCES uploads (id) ON DELETE CASCADE,
    start_offset    BIGINT NOT NULL,
    size            BIGINT NOT NULL,
    bytes           BYTEA NOT NULL,
    PRIMARY KEY (upload_id, start_offset)
);
-- Evidence is mostly JPEG and PDF, already compressed: don't spend CPU trying again.
ALTER TABLE upload_parts ALTER COLUMN bytes SET STORAGE EXTERNAL;
