-- How far each destination of forwarded audit events has got (audit::forward): the last event
-- it has taken, and when. Events after it wait in audit_events until it takes them.
CREATE TABLE audit_forwarding (
    destination     TEXT    PRIMARY KEY,
    taken_through   INTEGER NOT NULL,
    last_taken_at   TEXT
);
