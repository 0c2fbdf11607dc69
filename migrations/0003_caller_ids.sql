-- The cache of the account's verified caller IDs, kept in step with Plivo by the sync, and the
-- record of each sync run.

CREATE TABLE caller_ids (
    id                  INTEGER PRIMARY KEY,
    phone_number        TEXT NOT NULL UNIQUE,           -- international format, +12025551234
    digits              TEXT NOT NULL,                  -- 12025551234, for search
    national_digits     TEXT NOT NULL DEFAULT '',       -- 2025551234, for search as typed locally
    alias               TEXT NOT NULL DEFAULT '',
    alias_folded        TEXT NOT NULL DEFAULT '',       -- lower-cased alias, for search
    country             TEXT NOT NULL DEFAULT '',
    subaccount          TEXT NOT NULL DEFAULT '',
    verification_uuid   TEXT,
    plivo_created_at    TEXT,
    plivo_modified_at   TEXT,
    first_seen_at       TEXT,                           -- by a sync
    last_seen_at        TEXT,                           -- by a sync
    removed_at          TEXT,                           -- gone from Plivo (kept for history)
    verified_by_id      INTEGER,                        -- who verified it in callerdesk, if anyone
    verified_by_name    TEXT,
    verified_at         TEXT,
    -- When callerdesk itself last changed the row (verify, edit, delete, sync): a sync leaves
    -- rows changed after it started alone, since its listing may predate the change.
    updated_at          TEXT NOT NULL
) STRICT;
CREATE INDEX caller_ids_by_alias ON caller_ids (alias_folded, phone_number);
CREATE INDEX caller_ids_by_verified ON caller_ids (verified_at, plivo_created_at);

CREATE TABLE sync_runs (
    id            INTEGER PRIMARY KEY,
    trigger       TEXT NOT NULL CHECK (trigger IN ('startup', 'schedule', 'manual', 'command line')),
    started_by    TEXT NOT NULL,
    started_at    TEXT NOT NULL,
    heartbeat_at  TEXT NOT NULL,                         -- a running row not beating is abandoned
    finished_at   TEXT,
    status        TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    pages_done    INTEGER NOT NULL DEFAULT 0,
    pages_total   INTEGER,
    seen          INTEGER,
    added         INTEGER,
    changed       INTEGER,
    removed       INTEGER,
    restored      INTEGER,
    error         TEXT
) STRICT;
CREATE INDEX sync_runs_by_status ON sync_runs (status, id);
-- At most one run at a time, across every process using the file.
CREATE UNIQUE INDEX sync_runs_one_running ON sync_runs (status) WHERE status = 'running';

-- Small facts about this installation.
CREATE TABLE app_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

-- A number's history on its page.
CREATE INDEX audit_events_by_number ON audit_events (phone_number, id) WHERE phone_number IS NOT NULL;
