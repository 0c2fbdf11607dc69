-- The Plivo sandbox's verified caller IDs, so they survive restarts. Only the sandbox touches
-- this table; the app's own cache of caller IDs is separate. Pending verifications and the
-- outbox of sent codes are held in memory only: codes never reach the database.
CREATE TABLE sandbox_caller_ids (
    id                INTEGER PRIMARY KEY,
    phone_number      TEXT NOT NULL UNIQUE,
    alias             TEXT NOT NULL DEFAULT '',
    country           TEXT NOT NULL DEFAULT '',
    subaccount        TEXT NOT NULL DEFAULT '',
    verification_uuid TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    modified_at       TEXT NOT NULL
) STRICT;
CREATE INDEX sandbox_caller_ids_by_country ON sandbox_caller_ids (country);
