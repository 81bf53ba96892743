-- Schema version 2 (issue #21): each unit's work on an item is a document of its own. Its
-- index row says whose work it is and who may read it (the unit while `assigned`, the
-- item's `department`, the office and viewers), so listing and access need no document
-- read. Written in the batch that writes the document.
CREATE TABLE unit_work (
    id         TEXT COLLATE "C" PRIMARY KEY REFERENCES documents (id),
    item_id    TEXT COLLATE "C" NOT NULL,
    unit       TEXT COLLATE "C" NOT NULL,
    assigned   BOOLEAN NOT NULL,
    department TEXT COLLATE "C",
    UNIQUE (item_id, unit)
);
CREATE INDEX unit_work_by_unit ON unit_work (unit);
CREATE INDEX unit_work_by_department ON unit_work (department);
