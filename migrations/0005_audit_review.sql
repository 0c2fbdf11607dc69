-- The audit page's filters, each answered from an index at a million events. Every index also
-- holds the rowid (the event id), so "newest first, before id N" walks the index backwards.
CREATE INDEX audit_events_by_actor ON audit_events (actor_name);
CREATE INDEX audit_events_by_action ON audit_events (action);
CREATE INDEX audit_events_by_outcome ON audit_events (outcome);
-- Date ranges are turned into id ranges through this index (ids grow with time).
CREATE INDEX audit_events_by_time ON audit_events (occurred_at);
-- Outcome events name the requested event they answer; finding a request's outcome.
CREATE INDEX audit_events_by_request ON audit_events (json_extract(details, '$.request'))
    WHERE json_extract(details, '$.request') IS NOT NULL;
