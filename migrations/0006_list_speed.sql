-- The list page's queries answered from indexes instead of a scan and a sort of every row
-- (measured by scripts/bench: GET / with 10,000 caller IDs).

-- The default order (named ones first, by name, then by number), current rows only. It also
-- holds the searched columns, so a search reads this index rather than every row.
CREATE INDEX caller_ids_current_by_alias
    ON caller_ids (alias_folded = '', alias_folded, phone_number, digits, national_digits)
    WHERE removed_at IS NULL;
-- "Recently verified first".
CREATE INDEX caller_ids_current_by_verified
    ON caller_ids (COALESCE(verified_at, plivo_created_at, first_seen_at) DESC, phone_number)
    WHERE removed_at IS NULL;
-- The country and subaccount filters and their choices, and the count of current rows. Partial,
-- like the two above: an index on removed_at itself would look more selective to SQLite's
-- planner than the ordered index, and bring back the sort.
CREATE INDEX caller_ids_current_by_country ON caller_ids (country) WHERE removed_at IS NULL;
CREATE INDEX caller_ids_current_by_subaccount ON caller_ids (subaccount) WHERE removed_at IS NULL;

-- The number as people read it ("+1 202-555-0143"), written with the row so that showing a
-- page of 50 does not parse 50 numbers. Empty for rows written before this column; the page
-- formats those itself until the next sync writes them again.
ALTER TABLE caller_ids ADD COLUMN display TEXT NOT NULL DEFAULT '';

-- How many current caller IDs each country and subaccount pair has, kept by triggers: the list
-- page's total and its filter choices come from here instead of counting every row each time.
CREATE TABLE caller_id_groups (
    country    TEXT NOT NULL,
    subaccount TEXT NOT NULL,
    current    INTEGER NOT NULL,
    PRIMARY KEY (country, subaccount)
) WITHOUT ROWID;

INSERT INTO caller_id_groups (country, subaccount, current)
    SELECT country, subaccount, COUNT(*) FROM caller_ids WHERE removed_at IS NULL
    GROUP BY country, subaccount;

CREATE TRIGGER caller_id_groups_insert AFTER INSERT ON caller_ids
WHEN NEW.removed_at IS NULL
BEGIN
    INSERT INTO caller_id_groups (country, subaccount, current) VALUES (NEW.country, NEW.subaccount, 1)
        ON CONFLICT (country, subaccount) DO UPDATE SET current = current + 1;
END;

CREATE TRIGGER caller_id_groups_delete AFTER DELETE ON caller_ids
WHEN OLD.removed_at IS NULL
BEGIN
    UPDATE caller_id_groups SET current = current - 1
        WHERE country = OLD.country AND subaccount = OLD.subaccount;
END;

CREATE TRIGGER caller_id_groups_update AFTER UPDATE OF country, subaccount, removed_at ON caller_ids
BEGIN
    UPDATE caller_id_groups SET current = current - 1
        WHERE OLD.removed_at IS NULL AND country = OLD.country AND subaccount = OLD.subaccount;
    INSERT INTO caller_id_groups (country, subaccount, current)
        SELECT NEW.country, NEW.subaccount, 1 WHERE NEW.removed_at IS NULL
        ON CONFLICT (country, subaccount) DO UPDATE SET current = current + 1;
END;
