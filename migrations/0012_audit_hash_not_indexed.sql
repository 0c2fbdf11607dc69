-- The audit table without the unique index on `hash`. The index guarded nothing the chain does
-- not (an event's hash covers its id, so two events can't share one, and `audit verify` reads by
-- id), while every event's random hash landed on a leaf page of its own: a commit of eight
-- events wrote about twice the pages of a commit of one (BENCHMARKS.md, "Appends").
--
-- SQLite can't drop a column's UNIQUE, so the table is rebuilt: the rows are copied as they are
-- (hashes and all, so the chain is unchanged), then its indexes and the triggers that keep it
-- append-only are made again. Dropping a table fires no DELETE trigger.
CREATE TABLE audit_events_rebuilt (
    id              INTEGER PRIMARY KEY,
    occurred_at     TEXT    NOT NULL,
    actor_id        INTEGER,
    actor_name      TEXT    NOT NULL,
    client_ip       TEXT,
    user_agent      TEXT,
    request_id      TEXT,
    action          TEXT    NOT NULL,
    phone_number    TEXT,
    verification_id TEXT,
    outcome         TEXT    NOT NULL CHECK (outcome IN ('requested', 'succeeded', 'failed')),
    plivo_api_id    TEXT,
    plivo_status    INTEGER,
    details         TEXT,
    prev_hash       TEXT    NOT NULL,
    hash            TEXT    NOT NULL
) STRICT;

INSERT INTO audit_events_rebuilt
    (id, occurred_at, actor_id, actor_name, client_ip, user_agent, request_id, action,
     phone_number, verification_id, outcome, plivo_api_id, plivo_status, details, prev_hash, hash)
SELECT id, occurred_at, actor_id, actor_name, client_ip, user_agent, request_id, action,
       phone_number, verification_id, outcome, plivo_api_id, plivo_status, details, prev_hash, hash
FROM audit_events ORDER BY id;

DROP TABLE audit_events;
ALTER TABLE audit_events_rebuilt RENAME TO audit_events;

CREATE INDEX audit_events_by_number ON audit_events (phone_number, id) WHERE phone_number IS NOT NULL;
CREATE INDEX audit_events_by_action ON audit_events (action);
CREATE INDEX audit_events_by_outcome ON audit_events (outcome);
-- Date ranges are turned into id ranges through this index (ids grow with time).
CREATE INDEX audit_events_by_time ON audit_events (occurred_at);
-- Outcome events name the requested event they answer; finding a request's outcome.
CREATE INDEX audit_events_by_request ON audit_events (json_extract(details, '$.request'))
    WHERE json_extract(details, '$.request') IS NOT NULL;
CREATE INDEX audit_events_by_actor_id ON audit_events (actor_id);
CREATE INDEX audit_events_not_people ON audit_events (actor_name) WHERE actor_id IS NULL;

CREATE TRIGGER audit_events_are_never_updated BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only: events cannot be changed');
END;

CREATE TRIGGER audit_events_are_never_deleted BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only: events cannot be deleted');
END;
