-- Schema version 2 (issue #21): the evidence files each unit-work document references
-- (version 1's `item_evidence`, whose items no longer hold a unit's files). Rewritten with
-- the unit-work row; read by the file server (who may download a file) and by the
-- collection of unreferenced files (a file referenced here is never collected).
CREATE TABLE unit_work_evidence (
    work_id TEXT NOT NULL REFERENCES unit_work (id),
    sha256  TEXT NOT NULL,
    PRIMARY KEY (work_id, sha256)
);
CREATE INDEX unit_work_evidence_by_file ON unit_work_evidence (sha256);
