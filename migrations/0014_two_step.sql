-- Two-step sign-in for password accounts: an authenticator app's seed and recovery codes.

-- One row per account that has started or finished setting up an authenticator app. The seed
-- is sealed (ChaCha20-Poly1305, key in CALLERDESK_SECRET_KEY's file, never in this database);
-- `confirmed_at` is set once a code from the app was entered. `last_step` is the latest
-- 30-second step whose code was accepted: a code is claimed by raising it, so no code counts
-- twice.
CREATE TABLE two_step (
    user_id      INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    sealed_seed  BLOB    NOT NULL,
    created_at   TEXT    NOT NULL,
    confirmed_at TEXT,
    last_step    INTEGER NOT NULL DEFAULT 0
) STRICT;

-- Single-use recovery codes, stored only as SHA-256 (each has 80 random bits).
CREATE TABLE recovery_codes (
    id        INTEGER PRIMARY KEY,
    user_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT    NOT NULL,
    used_at   TEXT,
    UNIQUE (user_id, code_hash)
) STRICT;
