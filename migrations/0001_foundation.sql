-- Foundation: staff accounts, sessions, sign-in throttling and the audit log.
-- Times are UTC RFC 3339 text with microseconds ("2026-11-26T00:26:36.123456Z"), so they sort as text.

CREATE TABLE users (
    id                   INTEGER PRIMARY KEY,
    username             TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    password_hash        TEXT    NOT NULL,
    role                 TEXT    NOT NULL CHECK (role IN ('admin', 'operator', 'auditor')),
    disabled             INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    must_change_password INTEGER NOT NULL DEFAULT 0 CHECK (must_change_password IN (0, 1)),
    -- Bumped to end every session of the user (disable, password reset or change).
    session_epoch        INTEGER NOT NULL DEFAULT 0,
    created_at           TEXT    NOT NULL,
    last_sign_in_at      TEXT
) STRICT;

-- The session store's table, as tower-sessions-sqlx-store defines it.
CREATE TABLE tower_sessions (
    id          TEXT PRIMARY KEY NOT NULL,
    data        BLOB NOT NULL,
    expiry_date INTEGER NOT NULL
);

-- Recent failed sign-ins, for throttling. Not an audit record (that is audit_events): rows older
-- than the throttling window are deleted.
CREATE TABLE sign_in_failures (
    id        INTEGER PRIMARY KEY,
    username  TEXT NOT NULL COLLATE NOCASE,
    client_ip TEXT NOT NULL,
    at        TEXT NOT NULL
) STRICT;
CREATE INDEX sign_in_failures_by_username ON sign_in_failures (username, at);
CREATE INDEX sign_in_failures_by_ip ON sign_in_failures (client_ip, at);

-- The audit log: append-only and hash-chained. docs/audit-log.md defines the hash.
CREATE TABLE audit_events (
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
    hash            TEXT    NOT NULL UNIQUE
) STRICT;

CREATE TRIGGER audit_events_are_never_updated BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only: events cannot be changed');
END;

CREATE TRIGGER audit_events_are_never_deleted BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only: events cannot be deleted');
END;
