-- Failed logins counted per account and per client address (issue #18): in the database, so
-- that several servers on one database share the counts (a guesser spreading attempts over
-- the replicas meets the same limit). `key` is `account:NAME` or `address:IP`; `count`
-- attempts since `since_ms`, the start of the window. An attempt is counted before its
-- password is checked and given back when it was not a wrong guess. Rows whose window has
-- passed are deleted by the housekeeping.
CREATE TABLE login_attempts (
    key      TEXT PRIMARY KEY NOT NULL,
    count    INTEGER NOT NULL,
    since_ms BIGINT NOT NULL
);
CREATE INDEX login_attempts_by_since ON login_attempts (since_ms);
