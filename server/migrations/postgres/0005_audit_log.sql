-- The audit log (issue #20): every office action with the authenticated account that did it
-- and the server's time. Append-only: the server only inserts, and the trigger refuses any
-- change or removal of an entry.
CREATE TABLE audit_log (
    id      BIGSERIAL PRIMARY KEY,
    at_ms   BIGINT NOT NULL,
    account TEXT COLLATE "C" NOT NULL,
    action  TEXT COLLATE "C" NOT NULL,
    target  TEXT COLLATE "C" NOT NULL,
    detail  TEXT NOT NULL
);
CREATE INDEX audit_log_by_account ON audit_log (account, id);
CREATE INDEX audit_log_by_time ON audit_log (at_ms);

CREATE FUNCTION audit_log_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
