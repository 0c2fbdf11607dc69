-- The account's subaccounts as Plivo last listed them, so pages can show a name instead of an
-- SA… id and forms can offer a list. Refreshed by each sync; never holds a subaccount's auth
-- token (Plivo's answer carries it; it is not read).
CREATE TABLE subaccounts (
    auth_id    TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL,
    enabled    INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    listed_at  TEXT NOT NULL
) STRICT;
