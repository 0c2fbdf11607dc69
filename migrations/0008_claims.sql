-- Limits are claims: taken through the writer, in one transaction with the check, before the
-- expensive or outside action (SECURITY.md, "Limits"). Counting afterwards let requests that
-- arrived together all pass the check before any of them was recorded.

-- A sign-in (or password change) takes a row before its password is checked: 'checking' while
-- the hash is computed, then 'failed', or deleted when the password was right. Rows in
-- 'checking' count against the limit like failures, so a burst can't outrun the count.
CREATE TABLE sign_in_attempts (
    id        INTEGER PRIMARY KEY,
    username  TEXT NOT NULL COLLATE NOCASE,
    client_ip TEXT NOT NULL,
    at        TEXT NOT NULL,
    state     TEXT NOT NULL CHECK (state IN ('checking', 'failed'))
) STRICT;
CREATE INDEX sign_in_attempts_by_username ON sign_in_attempts (username, at);
CREATE INDEX sign_in_attempts_by_ip ON sign_in_attempts (client_ip, at);

INSERT INTO sign_in_attempts (username, client_ip, at, state)
    SELECT username, client_ip, at, 'failed' FROM sign_in_failures;
DROP TABLE sign_in_failures;

-- When a submitted code started being checked at Plivo; NULL when none is. At most one code per
-- verification is in flight: the claim sets this only while it is NULL.
ALTER TABLE verifications ADD COLUMN code_checking_since TEXT;

-- The audit page's person filter goes by user id: a name can be reused, or be one of the names
-- the log gives to actors that are not people. Each index holds the rowid (the event id), so a
-- filtered page walks it newest first without sorting; the name index now serves only the
-- actors that are not people.
CREATE INDEX audit_events_by_actor_id ON audit_events (actor_id);
CREATE INDEX audit_events_not_people ON audit_events (actor_name) WHERE actor_id IS NULL;
DROP INDEX audit_events_by_actor;
