-- Who sent each change (issue #20): the username of the authenticated account whose sync
-- connection delivered it, or that called the API for changes the server made itself (an
-- import, an item added or re-planned). A change's commit message names a user too, but the
-- sending client chooses that; this is the server's own record. Written with the arrival, in
-- the same transaction as the chunk. Changes stored before this column have none (NULL).
ALTER TABLE change_arrivals ADD COLUMN sent_by TEXT COLLATE "C";
