-- Signed checkpoints of the audit chain's head (audit::checkpoints). The copy that counts is the
-- checkpoint file on other storage; this one lets the audit page compare the log with the
-- latest checkpoint without reading that file.
CREATE TABLE audit_checkpoints (
    id          INTEGER PRIMARY KEY,
    event_id    INTEGER NOT NULL,
    event_hash  TEXT    NOT NULL,
    events      INTEGER NOT NULL,
    made_at     TEXT    NOT NULL,
    key         TEXT    NOT NULL,
    signature   TEXT    NOT NULL
);
