-- Our record of each verification. Plivo keeps no pending state, so who started it, when it
-- expires and how many wrong codes were tried live here. Codes are never stored.
CREATE TABLE verifications (
    id                TEXT PRIMARY KEY,                 -- ours, used in URLs; never Plivo's uuid
    phone_number      TEXT NOT NULL,
    alias             TEXT NOT NULL DEFAULT '',
    channel           TEXT NOT NULL CHECK (channel IN ('sms', 'call')),
    subaccount        TEXT NOT NULL DEFAULT '',
    plivo_uuid        TEXT,                             -- Plivo's verification_uuid, once it answered
    started_by_id     INTEGER NOT NULL,
    started_by_name   TEXT NOT NULL,
    started_at        TEXT NOT NULL,
    expires_at        TEXT NOT NULL,
    last_sent_at      TEXT,                             -- when Plivo last accepted a send
    wrong_attempts    INTEGER NOT NULL DEFAULT 0,
    status            TEXT NOT NULL CHECK (status IN ('pending', 'verified', 'expired', 'cancelled', 'failed')),
    failure           TEXT,                             -- why it failed, in plain words
    completed_by_id   INTEGER,
    completed_by_name TEXT,
    completed_at      TEXT
) STRICT;
CREATE INDEX verifications_pending ON verifications (status, expires_at);

-- Every request to Plivo to send a code (first send and each resend), for the limits per
-- number per day and per person per hour.
CREATE TABLE verification_sends (
    id              INTEGER PRIMARY KEY,
    verification_id TEXT NOT NULL REFERENCES verifications (id),
    phone_number    TEXT NOT NULL,
    user_id         INTEGER NOT NULL,
    channel         TEXT NOT NULL,
    sent_at         TEXT NOT NULL
) STRICT;
CREATE INDEX verification_sends_by_number ON verification_sends (phone_number, sent_at);
CREATE INDEX verification_sends_by_user ON verification_sends (user_id, sent_at);
